"""One self-contained ``report.html`` per run folder, and an index page over every run under ``outputs/``.

The report reads the run folder only (``shared_utils.run.RunDir``); members contribute through the files they write:

- ``metrics.json``: ``"headline"`` numbers on top, every metric in a table, the ``"provenance"`` block at the end.
- ``results.md``: rendered as is (it holds the thesis table beside the run's numbers).
- ``pictures/``: every image (PNG, JPEG, GIF, WebP, SVG) and video (MP4, WebM) inlined, with the caption given by
  ``RunDir.add_caption(name, text)``. 3D files (PLY/OBJ/OFF/STL meshes, PLY/PCD/XYZ point clouds, PLY line sets)
  anywhere in the run folder outside ``checkpoints/`` and ``logs/`` become interactive plotly views. The 3D files of
  one sub-folder of ``pictures/`` are drawn together in one view (e.g. ``pictures/shape_0/points.ply`` +
  ``pictures/shape_0/curves.ply``, or a point cloud + a line set of camera frustums); its caption key is the folder
  name. A PLY cloud with an extra per-point scalar property (``distance``, written e.g. with open3d's tensor API) is
  coloured by it with a colour bar named after it; otherwise by its RGB colours.
- ``**/logs/**/metrics.csv`` (Lightning's CSVLogger, also under stage folders): training curves, one figure per log.
- ``config.yaml``: printed.

``python -m shared_utils.report OUTPUTS_DIR`` writes every missing or stale report and ``OUTPUTS_DIR/index.html``.
"""

from .index import write_index
from .page import write_report

__all__ = ["write_index", "write_report"]
