"""Small HTML building blocks: escaped text, tables, data URIs, the page shell."""

from __future__ import annotations

import base64
import html
import json
import mimetypes
import pathlib

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1em 2em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
.subtitle { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.headline { display: flex; gap: 1.5em; flex-wrap: wrap; }
.headline > div { border: 1px solid #ccc; border-radius: 6px; padding: 0.5em 1em; }
.headline .value { font-size: 1.8em; font-weight: 600; }
.headline .name { color: #555; }
figure { margin: 1em 0; } figcaption { color: #333; max-width: 1100px; margin-top: 0.3em; }
figure img, figure video { max-width: 100%; border: 1px solid #ddd; }
figure .enlarged { image-rendering: pixelated; }
.filename { font-family: monospace; color: #666; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.9em; }
.warning { background: #fff3cd; border: 1px solid #e0c36a; padding: 0.5em 1em; }
.missing { color: #a00; }
/* auto-fill, not auto-fit: plotly sizes a view when its script runs, before the next view exists, so a view must
   not start wider than its final column. */
.views { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 1em; }
.views.single { grid-template-columns: 1fr; }
.views figure { min-width: 0; margin: 0; }
nav a { margin-right: 1em; }
"""


def escape(value) -> str:
    return html.escape(str(value), quote=True)


def format_number(value) -> str:
    if isinstance(value, bool) or value is None:
        return escape(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(value)


def _cell(value) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<td class="number">{format_number(value)}</td>'
    if isinstance(value, (list, dict)):
        text = json.dumps(value)
        # A per-step list of thousands of numbers would swamp the table; the full list stays in metrics.json.
        return f"<td>{escape(text if len(text) <= 300 else text[:300] + ' …')}</td>"
    return f"<td>{escape(value)}</td>"


def table(headers, rows) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def flatten(mapping: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Nested dicts as ``(dotted.key, value)`` rows, in file order."""
    rows = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows.extend(flatten(value, f"{name}."))
        else:
            rows.append((name, value))
    return rows


def data_uri(path: pathlib.Path, mime: str | None = None) -> str:
    mime = mime or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{escape(anchor)}"><h2>{escape(title)}</h2>\n{body}\n</section>'


def page(title: str, subtitle: str, sections: list[tuple[str, str, str]], head_extra: str = "") -> str:
    """``sections`` = [(anchor, title, body html)]; a navigation line links them."""
    nav = "".join(f'<a href="#{escape(a)}">{escape(t)}</a>' for a, t, _ in sections)
    bodies = "\n".join(section(a, t, b) for a, t, b in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{escape(title)}</title>"
        f"<style>{STYLE}</style>{head_extra}</head>\n<body>\n<h1>{escape(title)}</h1>"
        f"<p class=\"subtitle\">{subtitle}</p>\n<nav>{nav}</nav>\n{bodies}\n</body></html>\n"
    )
