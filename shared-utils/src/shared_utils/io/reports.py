"""Markdown result tables."""

from __future__ import annotations

from .atomic import atomic_write


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers, rows) -> str:
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |", "|" + " --- |" * len(headers)]
    for row in rows:
        row = list(row)
        if len(row) != len(headers):
            raise ValueError(f"table row has {len(row)} cells, expected {len(headers)}")
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_markdown(path, text: str) -> None:
    with atomic_write(path, "w") as f:
        f.write(text)


def replace_generated_block(path, name: str, text: str) -> None:
    """Put ``text`` between ``<!-- name:begin -->`` and ``<!-- name:end -->`` in the Markdown file ``path`` (the
    markers are appended at the end when missing): how a command writes its own figures into a README."""
    import pathlib
    import re

    path = pathlib.Path(path)
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{text.strip()}\n{end}"
    document = path.read_text()
    if begin in document:
        document = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, document, flags=re.S)
    else:
        document = document.rstrip("\n") + "\n\n" + block + "\n"
    write_markdown(path, document)
