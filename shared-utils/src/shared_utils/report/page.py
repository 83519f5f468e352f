"""``write_report(run)``: the run folder on one self-contained HTML page."""

from __future__ import annotations

import pathlib
from collections.abc import Callable

from ..errors import InputError
from ..io.atomic import atomic_write, load_json
from ..run import PROVENANCE_KEY, RunDir, time_limit_message
from .markup import data_uri, escape, flatten, format_number, page, table

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"}
VIDEO_SUFFIXES = {".mp4", ".webm"}
# Larger files are linked (relative to the report) instead of inlined, so that a page stays openable in a browser.
INLINE_LIMIT_BYTES = 64 * 1024 * 1024
# The figure the README shows goes first.
LEAD_PICTURE = "summary.png"


def read_metrics(run: RunDir) -> tuple[dict, str]:
    """metrics.json's content ({} when absent or unreadable) and an HTML note saying why it is unreadable."""
    if not run.metrics.is_file():
        return {}, ""
    try:
        metrics = load_json(run.metrics)
    except InputError as exc:
        return {}, f'<p class="missing">{escape(exc)}</p>'
    if not isinstance(metrics, dict):
        return {}, f'<p class="missing">metrics.json holds a {type(metrics).__name__}, not an object.</p>'
    return metrics, ""


def _captions(run: RunDir) -> dict[str, str]:
    return load_json(run.captions) if run.captions.is_file() else {}


def _summary(run: RunDir, metrics: dict) -> str:
    parts = []
    warning = time_limit_message(metrics)
    if warning:
        parts.append(f'<p class="warning">{escape(warning)}</p>')
    headline = metrics.get("headline") or {}
    if headline:
        cards = "".join(f'<div><div class="value">{format_number(v)}</div><div class="name">{escape(k)}</div></div>'
                        for k, v in headline.items())
        parts.append(f'<div class="headline">{cards}</div>')
    if not run.metrics.is_file():
        parts.append('<p class="missing">metrics.json is missing: the run has not been evaluated.</p>')
    return "\n".join(parts)


def _results(run: RunDir, metrics: dict) -> str:
    if not run.results.is_file():
        return '<p class="missing">results.md is missing.</p>'
    import markdown

    return markdown.markdown(run.results.read_text(encoding="utf-8"), extensions=["tables", "fenced_code"])


def _all_metrics(run: RunDir, metrics: dict) -> str:
    rows = flatten({k: v for k, v in metrics.items() if k not in ("headline", PROVENANCE_KEY)})
    if not rows:
        return "<p>No metrics besides the headline.</p>"
    return table(["metric", "value"], rows)


def _picture_files(run: RunDir) -> list[pathlib.Path]:
    if not run.pictures.is_dir():
        return []
    files = [p for p in run.pictures.rglob("*") if p.is_file() and p != run.captions and not p.name.startswith(".")]
    return sorted(files, key=lambda p: (p.relative_to(run.pictures).as_posix() != LEAD_PICTURE,
                                        p.relative_to(run.pictures).as_posix()))


def _figure(run: RunDir, path: pathlib.Path, caption: str | None) -> str:
    name = path.relative_to(run.pictures).as_posix()
    too_big = path.stat().st_size > INLINE_LIMIT_BYTES
    source = escape(path.relative_to(run.path).as_posix()) if too_big else data_uri(path)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        media = f'<video controls loop muted autoplay playsinline src="{source}"></video>'
    else:
        media = f'<img alt="{escape(caption or name)}" src="{source}">'
    note = " (too large to inline: opened from the run folder)" if too_big else ""
    text = escape(caption) if caption else '<span class="missing">no caption</span>'
    label = f'<span class="filename">{escape(name)}</span>{note}'
    return f"<figure>{media}<figcaption>{label}: {text}</figcaption></figure>"


def _pictures(run: RunDir, metrics: dict) -> str:
    captions = _captions(run)
    files = _picture_files(run)
    shown = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES]
    if not shown:
        return "<p>The run wrote no pictures or videos.</p>"
    return "\n".join(_figure(run, p, captions.get(p.relative_to(run.pictures).as_posix())) for p in shown)


def _config(run: RunDir, metrics: dict) -> str:
    if not run.config.is_file():
        return '<p class="missing">config.yaml is missing.</p>'
    return f"<pre>{escape(run.config.read_text(encoding='utf-8'))}</pre>"


def _provenance(run: RunDir, metrics: dict) -> str:
    block = metrics.get(PROVENANCE_KEY)
    if not block:
        return '<p class="missing">metrics.json has no provenance block.</p>'
    return table(["", "value"], flatten(block))


Section = Callable[[RunDir, dict], str]
SECTIONS: list[tuple[str, str, Section]] = [
    ("summary", "Headline", _summary),
    ("results", "Results beside the thesis", _results),
    ("metrics", "All metrics", _all_metrics),
    ("pictures", "Pictures and videos", _pictures),
    ("config", "Config", _config),
    ("provenance", "Provenance", _provenance),
]


def _build(build: Section, run: RunDir, metrics: dict) -> str:
    try:
        return build(run, metrics)
    except Exception as exc:  # the run itself succeeded: one unreadable file must not fail it or hide the rest
        return f'<p class="missing">This section could not be built: {escape(type(exc).__name__)}: {escape(exc)}</p>'


def write_report(run: RunDir, member: str | None = None) -> pathlib.Path:
    """Write ``run.report`` (report.html) from whatever the run folder holds and return its path. ``member`` names
    the method in the title (default: the name of the folder holding the run, as in ``outputs/<alias>/<run>``)."""
    run = run if isinstance(run, RunDir) else RunDir(run)
    metrics, metrics_note = read_metrics(run)
    sections = [(anchor, title, _build(build, run, metrics)) for anchor, title, build in SECTIONS]
    anchor, title, body = sections[0]
    sections[0] = (anchor, title, metrics_note + body)
    title = f"{member or run.path.resolve().parent.name}: run {run.path.name}"
    html_text = page(title, f"Run folder <code>{escape(run.path.resolve())}</code>", sections)
    with atomic_write(run.report, "w") as f:
        f.write(html_text)
    return run.report
