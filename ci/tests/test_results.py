"""Generated README blocks (make results), the committed reference runs and the one install recipe."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("workspace", ROOT / "ci" / "workspace.py")
workspace = importlib.util.module_from_spec(spec)
sys.modules["workspace"] = workspace
spec.loader.exec_module(workspace)

_, MEMBERS = workspace.load_registry()
METHODS = [m for m in MEMBERS if m.built and m.alias != "shared"]

METRICS = {
    "def": {"recall": 0.5},
    "headline": {"recall %": 50.0, "FPR %": 0.6},
    "provenance": {"config_sha256": "ab" * 32, "seed": 0, "steps": {"train": 100}, "time_limit_reached": False,
                   "wall_time_s": 125.0, "machine": {"cpu_cores": 2, "torch_threads": 2, "torch": "2.14.1"},
                   "git_commit": "0123456789abcdef"},
}


def fake_member(tmp_path: Path, metrics: dict | None) -> workspace.Member:
    folder = tmp_path / "fake"
    folder.mkdir()
    (folder / "README.md").write_text(f"# fake\n\n{workspace.BEGIN}\nold\n{workspace.END}\n\ntext after\n")
    if metrics is not None:
        (folder / "results").mkdir()
        (folder / "results" / "metrics.json").write_text(json.dumps(metrics))
        (folder / "results" / "results.md").write_text("| | ours | thesis |\n|---|---|---|\n| recall | 50 % | 61 % |\n")
    member = workspace.Member(str(folder), "fake", "fake", "fake", {"train": "fake pipeline --output-dir o/fake"})
    return member


def test_member_block_shows_the_result_files_and_their_provenance(tmp_path):
    block = workspace.member_block(fake_member(tmp_path, METRICS))
    assert block.startswith(workspace.BEGIN) and block.endswith(workspace.END)
    assert "| recall | 50 % | 61 % |" in block
    assert "seed 0" in block and "train 100" in block and "2 min 05 s" in block and "`abababababab`" in block


def test_member_block_without_a_reference_says_so(tmp_path):
    assert "No reference run is committed yet" in workspace.member_block(fake_member(tmp_path, None))


def test_time_limited_run_is_flagged(tmp_path):
    cut = json.loads(json.dumps(METRICS))
    cut["provenance"]["time_limit_reached"] = True
    member = fake_member(tmp_path, cut)
    assert "Stopped by the opt-in time limit" in workspace.member_block(member)
    assert "stopped by the time limit" in workspace.root_block([member])


def test_replace_block_keeps_the_rest_and_refuses_missing_markers(tmp_path):
    readme = tmp_path / "README.md"
    text = f"a\n{workspace.BEGIN}\nold\n{workspace.END}\nb\n"
    assert workspace._replace_block(text, "NEW", readme) == "a\nNEW\nb\n"
    with pytest.raises(workspace.WorkspaceError, match="exactly one"):
        workspace._replace_block("no markers", "NEW", readme)


def test_root_table_reads_the_headline(tmp_path):
    table = workspace.root_block([fake_member(tmp_path, METRICS)])
    assert "recall % 50" in table and "FPR % 0.6" in table and "2 min 05 s" in table


def test_default_run_comes_from_the_train_command():
    for member in METHODS:
        assert member.default_run == ROOT / "outputs" / member.alias / "default"


def test_compare_flags_a_headline_beyond_tolerance(tmp_path, monkeypatch, capsys):
    member = fake_member(tmp_path, METRICS)
    run = tmp_path / "run"
    run.mkdir()
    moved = json.loads(json.dumps(METRICS))
    moved["headline"]["recall %"] = 40.0
    (run / "metrics.json").write_text(json.dumps(moved))
    monkeypatch.setattr(workspace, "member_by_alias", lambda alias: member)
    assert workspace.cmd_compare("fake", str(run)) == 1
    assert "beyond tolerance" in capsys.readouterr().out
    (run / "metrics.json").write_text(json.dumps(METRICS))
    assert workspace.cmd_compare("fake", str(run)) == 0


@pytest.mark.parametrize("member", METHODS, ids=lambda m: m.folder)
def test_readme_shows_the_one_install_recipe(member):
    text = (member.path / "README.md").read_text()
    missing = [line for line in workspace.install_recipe(member) if line not in text]
    assert not missing, f"{member.folder}/README.md lacks the install recipe lines {missing}"


def test_generated_blocks_match_their_result_files():
    """Fails when a README's generated block was edited by hand or is older than the result files it shows."""
    stale = [str(path.relative_to(ROOT)) for path, text in workspace.expected_readmes().items()
             if path.read_text() != text]
    assert not stale, f"run `make results` (or revert the hand edits): {stale}"


def test_readme_counts_the_bad_input_cases():
    """The root README's count of bad-input cases is the number pytest collects from the members' matrices."""
    counts = {}
    for member in METHODS:
        done = subprocess.run([sys.executable, "-m", "pytest", str(member.path / "tests" / "test_bad_inputs.py"),
                               "--collect-only", "-q"], capture_output=True, text=True, cwd=ROOT)
        counts[member.folder] = sum("::" in line for line in done.stdout.splitlines())
    text = (ROOT / "README.md").read_text()
    listed = ", ".join(f"{folder} {n}" for folder, n in counts.items())
    assert f"Bad-input cases: {sum(counts.values())} ({listed};" in text, counts
