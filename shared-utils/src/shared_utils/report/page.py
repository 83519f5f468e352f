"""``write_report(run)``: the run folder on one self-contained HTML page."""

from __future__ import annotations

import pathlib
import re
from collections.abc import Callable

from ..errors import InputError
from ..io.atomic import atomic_write, load_json
from ..run import PROVENANCE_KEY, RunDir, time_limit_message
from . import curves, scenes
from .markup import data_uri, escape, flatten, format_number, page, table

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"}
VIDEO_SUFFIXES = {".mp4", ".webm"}
# Larger files are linked (relative to the report) instead of inlined, so that a page stays openable in a browser.
INLINE_LIMIT_BYTES = 64 * 1024 * 1024
# The figure the README shows goes first.
LEAD_PICTURE = "summary.png"
MIN_DISPLAY_WIDTH_PX = 384


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

    rendered = markdown.markdown(run.results.read_text(encoding="utf-8"), extensions=["tables", "fenced_code"])
    # results.md is a document of its own: its headings go below the page's section headings.
    return re.sub(r"<(/?)h([1-4])\b", lambda m: f"<{m.group(1)}h{int(m.group(2)) + 2}", rendered)


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


def _display_size(path: pathlib.Path) -> str:
    """A ``style`` attribute enlarging small pictures (tiny runs write 32-pixel renders) by a whole factor, with
    crisp pixels, so that they can be looked at; larger ones keep their size."""
    import imageio.v3 as iio

    try:
        width = iio.improps(path).shape[-2]
    except Exception:  # SVG and files imageio cannot read are shown at their own size
        return ""
    if not width or width >= MIN_DISPLAY_WIDTH_PX:
        return ""
    factor = -(-MIN_DISPLAY_WIDTH_PX // width)
    return f' class="enlarged" style="width: {width * factor}px"'


def _figure(run: RunDir, path: pathlib.Path, caption: str | None) -> str:
    name = path.relative_to(run.pictures).as_posix()
    too_big = path.stat().st_size > INLINE_LIMIT_BYTES
    source = escape(path.relative_to(run.path).as_posix()) if too_big else data_uri(path)
    size = _display_size(path)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        media = f'<video controls loop muted autoplay playsinline{size} src="{source}"></video>'
    else:
        media = f'<img alt="{escape(caption or name)}"{size} src="{source}">'
    note = " (too large to inline: opened from the run folder)" if too_big else ""
    text = escape(caption) if caption else '<span class="missing">no caption</span>'
    label = f'<span class="filename">{escape(name)}</span>{note}'
    return f"<figure>{media}<figcaption>{label}: {text}</figcaption></figure>"


def _pictures(run: RunDir, metrics: dict) -> str:
    captions = _captions(run)
    files = _picture_files(run)
    shown = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES]
    parts = [_figure(run, p, captions.get(p.relative_to(run.pictures).as_posix())) for p in shown]
    if not shown:
        parts.append("<p>The run wrote no pictures or videos.</p>")
    others = [p for p in files if p.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES | scenes.SUFFIXES]
    if others:
        rows = [(p.relative_to(run.path).as_posix(), f"{p.stat().st_size / 1024:.1f} KiB",
                 captions.get(p.relative_to(run.pictures).as_posix(), "")) for p in others]
        parts.append("<p>Other files in pictures/:</p>" + table(["file", "size", "caption"], rows))
    return "\n".join(parts)


def _views(run: RunDir, metrics: dict) -> str:
    found = scenes.find_scenes(run.path, run.pictures)
    if not found:
        return "<p>The run wrote no meshes, point clouds or line sets.</p>"
    captions = _captions(run)
    parts = []
    for scene in found[:scenes.MAX_VIEWS]:
        caption = captions.get(scene.name) or captions.get(_picture_name(run, scene.files[0]), "")
        view = _build(lambda r, m, scene=scene: scenes.scene_html(scene, r.path), run, metrics)
        text = escape(caption) if caption else '<span class="missing">no caption</span>'
        label = f'<span class="filename">{escape(scene.name)}</span>'
        parts.append(f'<figure class="view">{view}<figcaption>{label}: {text}</figcaption></figure>')
    skipped = [scene.name for scene in found[scenes.MAX_VIEWS:]]
    note = f"<p>Not drawn (more than {scenes.MAX_VIEWS} views): {escape(', '.join(skipped))}</p>" if skipped else ""
    hint = "<p>Drag to rotate, scroll to zoom, click a legend entry to hide it.</p>"
    layout = "views single" if len(parts) == 1 else "views"
    return f'{hint}<div class="{layout}">{"".join(parts)}</div>{note}'


def _picture_name(run: RunDir, path: pathlib.Path) -> str:
    return path.relative_to(run.pictures).as_posix() if path.is_relative_to(run.pictures) else ""


def _csv_logs(run: RunDir) -> list[pathlib.Path]:
    # Members with several stages log under <stage>/logs/ as well as under the run's own logs/.
    return sorted(p for p in run.path.rglob("metrics.csv") if "logs" in p.relative_to(run.path).parts[:-1])


def _curves(run: RunDir, metrics: dict) -> str:
    parts = []
    for log in _csv_logs(run):
        name = log.relative_to(run.path).as_posix()
        plot = _build(lambda r, m, log=log, name=name: curves.curves_html(log, name) or "", run, metrics)
        if plot:
            parts.append(f'<figure class="curves">{plot}<figcaption><span class="filename">{escape(name)}</span>: '
                         "logged values against the training step, one panel per kind (loss, validation, learning "
                         "rate, other); click a legend entry to hide it</figcaption></figure>")
    return "\n".join(parts) or "<p>No CSV training logs (**/logs/**/metrics.csv) in this run.</p>"


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
    ("views", "3D views", _views),
    ("curves", "Training curves", _curves),
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
    if not run.path.is_dir():
        raise InputError(f"run folder '{run.path}' not found")
    metrics, metrics_note = read_metrics(run)
    sections = [(anchor, title, _build(build, run, metrics)) for anchor, title, build in SECTIONS]
    anchor, title, body = sections[0]
    sections[0] = (anchor, title, metrics_note + body)
    title = f"{member or run.path.resolve().parent.name}: run {run.path.name}"
    head = scenes.plotly_js() if _csv_logs(run) or scenes.find_scenes(run.path, run.pictures) else ""
    html_text = page(title, f"Run folder <code>{escape(run.path.resolve())}</code>", sections, head)
    with atomic_write(run.report, "w") as f:
        f.write(html_text)
    return run.report
