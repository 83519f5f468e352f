"""The registry (workspace.toml) against the folders, packaging metadata, READMEs and generated workflows."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("workspace", ROOT / "ci" / "workspace.py")
workspace = importlib.util.module_from_spec(spec)
sys.modules["workspace"] = workspace
spec.loader.exec_module(workspace)

_, MEMBERS = workspace.load_registry()
BUILT = [m for m in MEMBERS if m.built]
METHODS = [m for m in BUILT if m.alias != "shared"]


def pyproject(member) -> dict:
    return tomllib.loads((member.path / "pyproject.toml").read_text())


def test_registry_fields_are_unique():
    for field in ("folder", "distribution", "package", "alias"):
        values = [getattr(m, field) for m in MEMBERS]
        assert len(values) == len(set(values)), f"duplicate {field} in workspace.toml"


def test_every_member_has_a_test_command_and_methods_train_eval_bench():
    for member in MEMBERS:
        assert "test" in member.commands, member.folder
        if member.alias != "shared":
            assert {"train", "eval", "bench"} <= member.commands.keys(), member.folder


def test_every_project_folder_is_registered():
    registered = {m.folder for m in MEMBERS}
    on_disk = {p.parent.name for p in ROOT.glob("*/pyproject.toml")}
    assert on_disk <= registered, f"folders with a pyproject but missing from workspace.toml: {on_disk - registered}"


def test_shared_utils_is_built():
    assert any(m.alias == "shared" for m in BUILT)


@pytest.mark.parametrize("member", BUILT, ids=lambda m: m.folder)
def test_member_packaging_matches_registry(member):
    project = pyproject(member)["project"]
    assert project["name"] == member.distribution
    assert (member.path / "src" / member.package / "__init__.py").is_file()
    assert not (member.path / "src" / "__init__.py").exists(), "no top-level package called src"


@pytest.mark.parametrize("member", METHODS, ids=lambda m: m.folder)
def test_methods_depend_on_shared_utils_and_on_no_other_member(member):
    dependencies = pyproject(member)["project"]["dependencies"]
    names = {re.split(r"[\s<>=!~;\[]", d, maxsplit=1)[0].lower() for d in dependencies}
    assert "shared-utils" in names
    others = {m.distribution for m in MEMBERS if m.alias not in ("shared", member.alias)}
    assert not names & others, f"{member.folder} depends on another member: {names & others}"


@pytest.mark.parametrize("member", METHODS, ids=lambda m: m.folder)
def test_methods_ship_cpu_and_thesis_configs(member):
    configs = member.path / "src" / member.package / "configs"
    assert (configs / "cpu.yaml").is_file() and (configs / "thesis.yaml").is_file()


@pytest.mark.parametrize("member", METHODS, ids=lambda m: m.folder)
def test_console_script_is_the_registry_command(member):
    scripts = pyproject(member)["project"].get("scripts", {})
    for kind in ("train", "eval"):
        assert member.commands[kind].split()[0] in scripts


@pytest.mark.parametrize("member", BUILT, ids=lambda m: m.folder)
def test_badges_in_member_and_root_readme(member):
    badge = f"actions/workflows/{member.folder}.yml/badge.svg"
    assert badge in (member.path / "README.md").read_text()
    assert badge in (ROOT / "README.md").read_text()


def test_workflows_are_generated_from_the_registry():
    assert workspace.cmd_workflows(check_only=True) == 0


def test_ci_run_calls_the_readme_test_command():
    assert "make test" in (ROOT / "README.md").read_text()
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_independence_config_lists_every_method():
    config = workspace.independence_config(MEMBERS)
    for member in METHODS:
        assert f"    {member.package}" in config


def test_target_of_an_unbuilt_member_fails_clearly(tmp_path, monkeypatch):
    ghost = workspace.Member("ghost", "ghost", "ghost", "ghost", {"train": "true"})
    monkeypatch.setattr(workspace, "member_by_alias", lambda alias: ghost)
    assert workspace.main(["run", "train", "ghost"]) == 2


def test_unknown_alias_fails_clearly():
    result = subprocess.run([sys.executable, str(ROOT / "ci" / "workspace.py"), "run", "train", "nope"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown member 'nope'")
