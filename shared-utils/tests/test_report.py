"""report.html of a run folder and the outputs index, checked on a sample run holding every kind of file."""

import base64
import html
import html.parser
import importlib
import json
import os
import pathlib

import numpy as np
import open3d as o3d
import pytest
import trimesh
from shared_utils.errors import InputError, cli_entry
from shared_utils.io import write_image, write_line_set, write_mesh, write_point_cloud, write_video
from shared_utils.report import write_index, write_report
from shared_utils.report.curves import panel_of, read_csv_log
from shared_utils.report.scenes import MAX_POINTS, kind_of, ply_header
from shared_utils.run import RunDir

CAPTIONS = {
    "summary.png": "rows: input, ours, ground truth; columns: test views",
    "samples.gif": "LVT samples (left) beside ground truth (right) <animated>",
    "samples.mp4": "the same samples as a video",
    "shape_0": "points coloured by distance to the nearest sharp edge (blue 0, red 0.1); black: predicted curves",
    "reconstruction.ply": "reconstructed mesh with vertex colours",
    "distance_field.ply": "points coloured by their distance to the nearest sharp curve (shape units)",
}
CLOUD_POINTS = MAX_POINTS + 10_000
# Lightning's CSVLogger: one sparse row per logging call; validation rows carry no training columns.
CSV_LOG = "epoch,lr-Adam,step,train/loss,val/psnr\n" + "".join(
    f"0,{1e-3 * (i + 1) / 20},{i},{10 / (i + 1)},\n" for i in range(20)) + "0,,9,,18.5\n0,,19,,20.5\n"


def build_sample_run(path: pathlib.Path) -> RunDir:
    """A run folder with every file kind a member writes (also used by ci/tests/test_in_browser.py)."""
    rng = np.random.default_rng(0)
    run = RunDir(path).create()
    run.config.write_text("seed: 0\ntrainer:\n  max_steps: 20\n")
    run.write_metrics({"headline": {"PSNR dB": 20.5, "recall %": 56.8}, "psnr": 20.5, "per_scene": {"a": 1.5}},
                      {"seed": 0, "steps": {"train": 20}, "wall_time_s": 12.3, "time_limit_reached": False,
                       "machine": {"cpu_cores": 2}, "git_commit": "0123abc"})
    run.write_results("# Sample results\n\n| metric | ours | thesis |\n| --- | --- | --- |\n"
                      "| PSNR dB | 20.5 | 25.1 |\n")
    write_image(run.pictures / "summary.png", rng.random((24, 40, 3)))
    write_video(run.pictures / "samples.gif", rng.random((3, 16, 16, 3)))
    write_video(run.pictures / "samples.mp4", rng.random((3, 16, 16, 3)))
    write_point_cloud(run.pictures / "shape_0" / "points.ply", rng.random((CLOUD_POINTS, 3)),
                      colors=rng.random((CLOUD_POINTS, 3)))
    write_line_set(run.pictures / "shape_0" / "curves.ply", rng.random((10, 3)), [[i, i + 1] for i in range(9)])
    sphere = trimesh.creation.icosphere(2)
    write_mesh(run.pictures / "reconstruction.ply", sphere.vertices, sphere.faces, (sphere.vertices + 1) / 2)
    field = o3d.t.geometry.PointCloud(o3d.core.Tensor(rng.random((500, 3), dtype=np.float32)))
    field.point["distance_shape_units"] = o3d.core.Tensor(rng.random((500, 1), dtype=np.float32))
    o3d.t.io.write_point_cloud(str(run.pictures / "distance_field.ply"), field)
    for name, text in CAPTIONS.items():
        run.add_caption(name, text)
    (run.logs / "csv" / "version_0").mkdir(parents=True)
    (run.logs / "csv" / "version_0" / "metrics.csv").write_text(CSV_LOG)
    return run


class _Resources(html.parser.HTMLParser):
    """Every (tag, attribute, value) that makes a browser load something."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and tag != "a":
                self.found.append((tag, name, value or ""))


def resources(page: str) -> list[tuple[str, str, str]]:
    parser = _Resources()
    parser.feed(page)
    return parser.found


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    run = build_sample_run(tmp_path_factory.mktemp("outputs") / "def" / "default")
    return run, write_report(run).read_text(encoding="utf-8")


def test_report_is_the_run_folders_report_html(sample):
    run, _ = sample
    assert run.report == run.path / "report.html" and run.report.is_file()


def test_every_caption_and_picture_is_on_the_page(sample):
    run, page = sample
    for text in CAPTIONS.values():
        assert html.escape(text) in page, text
    for name in ("summary.png", "samples.gif", "samples.mp4"):
        inline = base64.b64encode((run.pictures / name).read_bytes()).decode()
        assert inline in page, f"{name} is not inlined"
    tags = {(tag, value.split(";")[0]) for tag, _, value in resources(page)}
    assert {("img", "data:image/png"), ("img", "data:image/gif"), ("video", "data:video/mp4")} <= tags


def test_page_loads_nothing_from_the_network(sample):
    _, page = sample
    loaded = resources(page)
    assert loaded, "the page references no pictures at all"
    assert all(value.startswith("data:") for _, _, value in loaded), loaded
    assert "<script src" not in page


def test_3d_files_become_plotly_views_with_plotly_inlined_once(sample):
    _, page = sample
    from plotly.offline import get_plotlyjs

    assert page.count(get_plotlyjs()[:500]) == 1
    # In file order: distance_field.ply, reconstruction.ply, shape_0 (points + curves in one view).
    views = page.split('<figure class="view">')[1:]
    assert len(views) == 3 and all('class="plotly-graph-div"' in view for view in views)
    assert "reconstruction.ply" in views[1] and "points.ply" in views[2] and "curves.ply" in views[2]
    assert f"{MAX_POINTS:,} of {CLOUD_POINTS:,} points" in page
    assert '"colorbar":{"title":{"text":"distance shape units"}' in views[0]


def test_3d_kinds_are_read_from_the_ply_header(sample):
    run, _ = sample
    assert kind_of(run.pictures / "shape_0" / "points.ply") == "points"
    assert kind_of(run.pictures / "shape_0" / "curves.ply") == "lines"
    assert kind_of(run.pictures / "reconstruction.ply") == "mesh"
    assert kind_of(run.pictures / "distance_field.ply") == "points"
    assert ply_header(run.pictures / "distance_field.ply") == ({"vertex": 500}, ["x", "y", "z", "distance_shape_units"])


def test_metrics_results_config_and_provenance_are_on_the_page(sample):
    _, page = sample
    for text in ("PSNR dB", "56.8", "per_scene.a", "<td>25.1</td>", "<h3>Sample results</h3>", "max_steps: 20",
                 "0123abc", "steps.train", "wall_time_s", "logs/csv/version_0/metrics.csv"):
        assert text in page, text


def test_each_csv_log_is_an_interactive_figure(sample):
    _, page = sample
    curves = page.split('<figure class="curves">')[1:]
    assert len(curves) == 1 and 'class="plotly-graph-div"' in curves[0]
    figure = curves[0].replace("\\u002f", "/")  # plotly escapes "/" inside the page's JSON
    for column in ("train/loss", "val/psnr", "lr-Adam"):
        assert f'"name":"{column}"' in figure, column


def test_csv_log_columns_keep_their_own_steps(tmp_path):
    log = tmp_path / "metrics.csv"
    log.write_text(CSV_LOG)
    series = read_csv_log(log)
    steps, values = series["val/psnr"]
    assert steps.tolist() == [9, 19] and values.tolist() == [18.5, 20.5]
    assert len(series["train/loss"][0]) == 20 and "epoch" not in series and "step" not in series
    assert [panel_of(c) for c in ("train/loss", "val/psnr", "lr-Adam", "val_loss", "train/acc")] == [
        "loss", "validation", "learning rate", "validation", "other"]


def test_a_missing_run_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        write_report(RunDir(tmp_path / "nowhere"))
    assert not (tmp_path / "nowhere").exists()


def test_a_bare_or_broken_run_still_gets_a_report(tmp_path):
    run = RunDir(tmp_path / "run").create()
    run.config.write_text("seed: 0\n")
    assert "metrics.json is missing" in write_report(run).read_text()
    run.metrics.write_text("{broken")
    (run.pictures).mkdir()
    (run.pictures / "cloud.ply").write_text("ply\nformat ascii 1.0\nelement vertex 2\nend_header\n")
    page = write_report(run).read_text()
    assert "is corrupt" in page and "could not be built" in page and "seed: 0" in page


def test_index_writes_missing_and_stale_reports_and_links_them(tmp_path):
    fresh = build_sample_run(tmp_path / "outputs" / "def" / "default")
    old = RunDir(tmp_path / "outputs" / "lvt" / "run1").create()
    old.config.write_text("seed: 1\n")
    old.report.write_text("old page")
    os.utime(old.report, (0, 0))
    index = write_index(tmp_path / "outputs")
    page = index.read_text()
    assert fresh.report.is_file() and old.report.read_text() != "old page"
    assert 'href="def/default/report.html"' in page and 'href="lvt/run1/report.html"' in page
    assert "recall %" in page and "56.8" in page and "not evaluated" in page


def test_module_entry_point_reports_a_missing_folder_in_one_line(tmp_path, capsys):
    entry = importlib.import_module("shared_utils.report.__main__")
    with pytest.raises(SystemExit) as exit_info:
        cli_entry(entry.run)([str(tmp_path / "nowhere")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [f"error: outputs folder '{tmp_path / 'nowhere'}' not found"]


def test_member_cli_writes_the_report_after_pipeline_and_eval(tmp_path, capsys):
    from shared_utils.cli import MemberCLI

    def pipeline(args, cfg):
        run = RunDir(args.output_dir).create()
        run.config.write_text("seed: 0\n")
        run.write_metrics({"headline": {"recall %": 12.5}}, {"seed": 0})

    cli = MemberCLI("demo", None, lambda name, overrides: {"seed": 0})
    cli.add("pipeline", pipeline, "train and evaluate", kind="new", report=True)
    cli.add("eval", lambda args, cfg: None, "evaluate", kind="existing", report=True)
    assert cli.run(["pipeline", "--output-dir", str(tmp_path / "run")]) == 0
    report = tmp_path / "run" / "report.html"
    assert "recall %" in report.read_text() and f"wrote {report}" in capsys.readouterr().out
    report.unlink()
    assert cli.run(["eval", "--run-dir", str(tmp_path / "run")]) == 0 and report.is_file()


def test_captions_file_is_not_shown_as_a_picture(sample):
    run, page = sample
    assert json.loads(run.captions.read_text()) == CAPTIONS
    assert "captions.json" not in page
