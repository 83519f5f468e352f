#!/usr/bin/env python3
"""Workspace orchestration driven by workspace.toml (stdlib only: runs before any venv exists).

Verbs (the Makefile and the CI scripts call these):
  list                         members, make aliases and whether each is built
  install [ALIAS ...]          create/refresh the venv: torch pins, tools, shared-utils, members (default: all)
  run {test,train,eval,bench} ALIAS   install what ALIAS needs, then run its registry command
  test-all                     registry check, independence checks, every built member's tests
  check-independence           import-linter contract + deptry per built member
  workflows [--check]          write (or verify) .github/workflows from the registry
  isolated-test ALIAS          fresh throw-away venv with shared-utils + ALIAS alone (non-editable), then its tests
  results [--check] [ALIAS ...]  copy the latest runs (outputs/<alias>/default) into <member>/results/ and docs/,
                               then regenerate the READMEs' generated blocks (--check: only verify them)
  compare ALIAS [RUN_DIR]      how far a run's metrics are from the member's committed reference
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = ROOT / "workspace.toml"
CONSTRAINTS = ROOT / "constraints.txt"
VENV = Path(os.environ.get("VENV", ROOT / ".venv"))
VENDORED_DETECTRON2 = ROOT.parent / "shared" / "vendor" / "detectron2-src.tar.gz"
COMMAND_KINDS = ("test", "train", "eval", "bench")


class WorkspaceError(RuntimeError):
    pass


@dataclass(frozen=True)
class Member:
    folder: str
    distribution: str
    package: str
    alias: str
    commands: dict[str, str]
    # Relative distance of a headline metric from the committed reference that `compare` accepts.
    reference_tolerance: float = 0.0

    @property
    def path(self) -> Path:
        return ROOT / self.folder

    @property
    def built(self) -> bool:
        return (self.path / "pyproject.toml").is_file()

    @property
    def default_run(self) -> Path | None:
        """The run folder that the registry's train command writes (``--output-dir X``)."""
        found = re.search(r"--output-dir\s+(\S+)", self.commands.get("train", ""))
        return ROOT / found.group(1) if found else None

    @property
    def reference(self) -> Path:
        return self.path / "results"


def load_registry() -> tuple[dict, list[Member]]:
    data = tomllib.loads(REGISTRY.read_text())
    members = [
        Member(
            folder=entry["folder"],
            distribution=entry["distribution"],
            package=entry["package"],
            alias=entry["alias"],
            commands={kind: entry[kind] for kind in COMMAND_KINDS if kind in entry},
            reference_tolerance=float(entry.get("reference_tolerance", 0.0)),
        )
        for entry in data["member"]
    ]
    return data["workspace"], members


def member_by_alias(alias: str) -> Member:
    _, members = load_registry()
    for member in members:
        if alias in (member.alias, member.folder):
            return member
    known = ", ".join(m.alias for m in members)
    raise WorkspaceError(f"unknown member '{alias}' (known make aliases: {known})")


def require_built(member: Member) -> None:
    if not member.built:
        raise WorkspaceError(
            f"member '{member.folder}' (make alias '{member.alias}') is not built yet: "
            f"{member.folder}/pyproject.toml does not exist in this checkout"
        )


def run(cmd: list[str] | str, *, env: dict | None = None, cwd: Path = ROOT) -> int:
    shown = cmd if isinstance(cmd, str) else shlex.join(cmd)
    print(f"+ {shown}", flush=True)
    return subprocess.call(cmd, shell=isinstance(cmd, str), env=env, cwd=cwd)


def check(cmd: list[str] | str, **kwargs) -> None:
    if run(cmd, **kwargs) != 0:
        shown = cmd if isinstance(cmd, str) else shlex.join(cmd)
        raise WorkspaceError(f"command failed: {shown}")


def venv_env(venv: Path = VENV) -> dict:
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONHOME", None)
    return env


def ensure_system_libraries() -> None:
    """Debian packages that minimal images lack: libusb-1.0 (open3d links against it) and Chromium (the headless
    browser that ci/tests/test_in_browser.py opens every report.html in; without it that test is skipped)."""
    found = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    missing = {"libusb-1.0-0": "open3d needs the system library libusb-1.0"} if "libusb-1.0.so.0" not in found else {}
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        missing["chromium"] = "the report test needs a headless Chromium"
    if not missing:
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        check("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq " + " ".join(missing))
    else:
        for package, reason in missing.items():
            print(f"warning: {reason}: run `sudo apt-get install {package}`", file=sys.stderr)


def pip(venv: Path, *args: str) -> None:
    check([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-c", str(CONSTRAINTS), *args])


def ensure_base(venv: Path = VENV) -> None:
    workspace, _ = load_registry()
    stamp = venv / ".workspace" / "base.stamp"
    wanted = digest(CONSTRAINTS.read_bytes() + REGISTRY.read_bytes())
    if stamp.is_file() and stamp.read_text() == wanted:
        return
    ensure_system_libraries()
    if not (venv / "bin" / "python").exists():
        check([sys.executable, "-m", "venv", str(venv)])
    pip(venv, *workspace["torch"])
    pip(venv, *workspace["tools"])
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(wanted)


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def ensure_members(members: list[Member], venv: Path = VENV) -> None:
    _, registry = load_registry()
    shared = next(m for m in registry if m.alias == "shared")
    ordered = [shared] + [m for m in members if m.alias != "shared"]
    for member in ordered:
        require_built(member)
    ensure_base(venv)
    for member in ordered:
        stamp = venv / ".workspace" / f"{member.alias}.stamp"
        wanted = digest((member.path / "pyproject.toml").read_bytes())
        if stamp.is_file() and stamp.read_text() == wanted:
            continue
        pip(venv, "--no-build-isolation", "-e", f"{member.path}[dev]")
        stamp.write_text(wanted)
    ensure_detectron2(ordered, venv)


def ensure_detectron2(members: list[Member], venv: Path = VENV) -> None:
    """detectron2 + DensePose for mobile-parsing-rcnn's detectron2 tests when a source is at hand ($DETECTRON2_SRC
    or the vendored archive): built once into the wheel cache ($WHEEL_CACHE, else ~/.cache/thesis-methods/wheels)
    and reused after; nothing is done when these wheels are already installed. Without a source those tests skip."""
    if not any(m.alias == "mprcnn" for m in members):
        return
    if not (os.environ.get("DETECTRON2_SRC") or VENDORED_DETECTRON2.is_file()):
        return
    check([str(venv / "bin" / "python"), "-m", "mobile_parsing_rcnn.detectron2_backend.install"], env=venv_env(venv))


def cmd_list() -> None:
    _, members = load_registry()
    for m in members:
        state = "built" if m.built else "not built yet"
        print(f"  {m.alias:<10} {m.folder:<22} import {m.package:<22} {state}")


def cmd_install(aliases: list[str]) -> None:
    _, members = load_registry()
    chosen = [member_by_alias(a) for a in aliases] if aliases else [m for m in members if m.built]
    ensure_members(chosen)


def cmd_run(kind: str, alias: str) -> int:
    member = member_by_alias(alias)
    require_built(member)
    if kind not in member.commands:
        raise WorkspaceError(f"member '{member.folder}' has no '{kind}' command in workspace.toml")
    ensure_members([member])
    return run(member.commands[kind], env=venv_env())


def independence_config(members: list[Member]) -> str:
    methods = [m.package for m in members if m.alias != "shared"]
    lines = ["[importlinter]", "root_packages =", *[f"    {m.package}" for m in members], ""]
    if len(methods) > 1:
        lines += ["[importlinter:contract:members-independent]", "name = Members never import one another",
                  "type = independence", "modules =", *[f"    {p}" for p in methods], ""]
    if methods:
        lines += ["[importlinter:contract:shared-utils-imports-no-member]", "name = shared-utils imports no member",
                  "type = forbidden", "source_modules =", "    shared_utils", "forbidden_modules =",
                  *[f"    {p}" for p in methods], ""]
    return "\n".join(lines)


def cmd_check_independence() -> int:
    _, members = load_registry()
    built = [m for m in members if m.built]
    ensure_members(built)
    failures = 0
    with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as handle:
        handle.write(independence_config(built))
    try:
        failures += run(["lint-imports", "--config", handle.name, "--no-cache"], env=venv_env()) != 0
    finally:
        os.unlink(handle.name)
    for member in built:
        failures += run(["deptry", "src"], env=venv_env(), cwd=member.path) != 0
    return 1 if failures else 0


def cmd_test_all() -> int:
    _, members = load_registry()
    built = [m for m in members if m.built]
    missing = [m.folder for m in members if not m.built]
    ensure_members(built)
    results: list[tuple[str, int]] = []
    results.append(("registry", run("python -m pytest ci/tests -q", env=venv_env())))
    results.append(("independence", cmd_check_independence()))
    try:
        results.append(("results blocks", cmd_results(["--check"])))
    except WorkspaceError as error:
        print(f"error: {error}", file=sys.stderr)
        results.append(("results blocks", 1))
    for member in built:
        results.append((member.folder, run(member.commands["test"], env=venv_env())))
    print("\nworkspace test summary")
    for name, code in results:
        print(f"  {'ok  ' if code == 0 else 'FAIL'}  {name}")
    for folder in missing:
        print(f"  --    {folder} (not built yet: no tests to run)")
    failed = sum(1 for _, code in results if code)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def install_recipe(member: Member) -> list[str]:
    """Installing one method alone: the lines every member README shows and `make ci-<alias>` runs."""
    workspace, _ = load_registry()
    return [
        "python3 -m venv .venv && . .venv/bin/activate",
        "pip install " + " ".join(workspace["torch"]),
        f'pip install -c constraints.txt ./shared-utils "./{member.folder}[dev]"',
        f'python -m pytest {member.folder}/tests -m "not slow"',
    ]


def cmd_isolated_test(alias: str) -> int:
    """What a user who clones one method does, literally: the README recipe in a throw-away venv."""
    member = member_by_alias(alias)
    require_built(member)
    venv = Path(tempfile.mkdtemp(prefix=f"venv-{member.alias}-"))
    try:
        ensure_system_libraries()
        check([sys.executable, "-m", "venv", str(venv)])
        recipe = install_recipe(member)[1:]
        for line in recipe[:-1]:
            check(line, env=venv_env(venv))
        # Tests run against the installed package, not the source tree.
        return run(recipe[-1], env=venv_env(venv))
    finally:
        shutil.rmtree(venv, ignore_errors=True)


BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
GENERATED_NOTE = "<!-- generated by `make results` from {source}: re-run it, do not edit by hand -->"
ROOT_TABLE_SOURCE = "<member>/results/metrics.json"


def _flat_numbers(tree, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key != "provenance":
                out.update(_flat_numbers(value, f"{prefix}{key}."))
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        out[prefix[:-1]] = float(tree)
    return out


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _minutes(seconds) -> str:
    seconds = int(round(float(seconds)))
    return f"{seconds // 60} min {seconds % 60:02d} s"


def _threads(machine: dict) -> str:
    count = machine.get("torch_threads", "?")
    return f"{count} torch thread{'' if count == 1 else 's'}"


def _provenance_line(metrics: dict) -> str:
    block = metrics.get("provenance", {})
    machine = block.get("machine", {})
    steps = ", ".join(f"{k} {v}" for k, v in block.get("steps", {}).items()) or "n/a"
    line = (f"Reference run: config `{str(block.get('config_sha256', '?'))[:12]}`, seed {block.get('seed', '?')}, "
            f"steps run: {steps}; {_minutes(block.get('wall_time_s', 0))} wall clock on "
            f"{machine.get('cpu_cores', '?')} cores ({_threads(machine)}), "
            f"torch {machine.get('torch', '?')}, "
            f"commit `{str(block.get('git_commit') or 'unknown')[:10]}`.")
    if block.get("time_limit_reached"):
        line += " **Stopped by the opt-in time limit: not a full run.**"
    return line


def member_block(member: Member) -> str:
    metrics_path, results_path = member.reference / "metrics.json", member.reference / "results.md"
    if not metrics_path.is_file() or not results_path.is_file():
        body = (f"No reference run is committed yet: `make train-{member.alias} && make results` writes "
                f"`{member.folder}/results/` and fills this block.")
        source = f"{member.folder}/results/"
    else:
        metrics = json.loads(metrics_path.read_text())
        body = results_path.read_text().strip() + "\n\n" + _provenance_line(metrics)
        source = "results/metrics.json and results/results.md"
    return f"{BEGIN}\n{GENERATED_NOTE.format(source=source)}\n{body}\n{END}"


def root_block(members: list[Member]) -> str:
    rows = ["| member | headline (held-out data of its CPU config) | steps run | wall clock | machine |",
            "|---|---|---|---|---|"]
    for member in members:
        path = member.reference / "metrics.json"
        if not path.is_file():
            rows.append(f"| [{member.folder}]({member.folder}/) | no reference run committed yet | | | |")
            continue
        metrics = json.loads(path.read_text())
        block = metrics.get("provenance", {})
        headline = "; ".join(f"{k} {_number(v)}" for k, v in metrics.get("headline", {}).items()) or "n/a"
        if block.get("time_limit_reached"):
            headline += " (stopped by the time limit)"
        steps = ", ".join(f"{k} {v}" for k, v in block.get("steps", {}).items())
        machine = block.get("machine", {})
        rows.append(f"| [{member.folder}]({member.folder}/) | {headline} | {steps} | "
                    f"{_minutes(block.get('wall_time_s', 0))} | {machine.get('cpu_cores', '?')} cores, "
                    f"{_threads(machine)}, torch {machine.get('torch', '?')} |")
    return f"{BEGIN}\n{GENERATED_NOTE.format(source=ROOT_TABLE_SOURCE)}\n" + "\n".join(rows) + f"\n{END}"


def _replace_block(text: str, block: str, where: Path) -> str:
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise WorkspaceError(f"{where} must hold exactly one '{BEGIN}' ... '{END}' block")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + block + text[end:]


def expected_readmes() -> dict[Path, str]:
    """Every README with a generated results block, as `make results` would write it."""
    _, members = load_registry()
    methods = [m for m in members if m.built and m.alias != "shared"]
    out = {}
    for member, block in [(m, member_block(m)) for m in methods] + [(None, root_block(methods))]:
        path = (member.path if member else ROOT) / "README.md"
        out[path] = _replace_block(path.read_text(), block, path)
    return out


def collect_run(member: Member) -> bool:
    """Copy the member's latest default run into its committed reference; False when there is none."""
    run = member.default_run
    if run is None or not (run / "metrics.json").is_file() or not (run / "results.md").is_file():
        return False
    member.reference.mkdir(exist_ok=True)
    for name in ("metrics.json", "results.md"):
        shutil.copyfile(run / name, member.reference / name)
    picture = run / "pictures" / "summary.png"
    if picture.is_file():
        (member.path / "docs").mkdir(exist_ok=True)
        shutil.copyfile(picture, member.path / "docs" / "result.png")
    return True


def cmd_results(args: list[str]) -> int:
    check_only = "--check" in args
    aliases = [a for a in args if a != "--check"]
    _, members = load_registry()
    if not check_only:
        chosen = [member_by_alias(a) for a in aliases] if aliases else [m for m in members if m.built]
        for member in chosen:
            if member.alias == "shared":
                continue
            state = "copied" if collect_run(member) else f"no finished run in {member.default_run}"
            print(f"  {member.alias:<10} {state}")
    stale = []
    for path, text in expected_readmes().items():
        if path.read_text() == text:
            continue
        stale.append(str(path.relative_to(ROOT)))
        if not check_only:
            path.write_text(text)
    if check_only and stale:
        print("generated results blocks differ from their result files (hand-edited, or the result files changed "
              "without `make results`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


def cmd_compare(alias: str, run_dir: str | None) -> int:
    """Each metric of a run against the committed reference; exit 1 when a headline metric is off by more than
    the member's ``reference_tolerance`` (relative) from workspace.toml."""
    member = member_by_alias(alias)
    run = Path(run_dir) if run_dir else member.default_run
    reference_path, run_path = member.reference / "metrics.json", run / "metrics.json"
    for path in (reference_path, run_path):
        if not path.is_file():
            raise WorkspaceError(f"'{path}' not found")
    reference, new = json.loads(reference_path.read_text()), json.loads(run_path.read_text())
    tolerance = member.reference_tolerance
    ref_flat, new_flat = _flat_numbers(reference), _flat_numbers(new)
    headline = {f"headline.{k}" for k in reference.get("headline", {})}
    failures = 0
    print(f"{'metric':<48} {'reference':>12} {'this run':>12} {'rel. diff':>10}")
    for key in sorted(ref_flat.keys() | new_flat.keys()):
        a, b = ref_flat.get(key), new_flat.get(key)
        if a is None or b is None:
            print(f"{key:<48} {_number(a):>12} {_number(b):>12} {'missing':>10}")
            failures += key in headline
            continue
        rel = abs(b - a) / max(abs(a), 1e-12) if a != b else 0.0
        bad = key in headline and rel > tolerance
        failures += bad
        print(f"{key:<48} {_number(a):>12} {_number(b):>12} {rel:>10.2%}{'  <-- beyond tolerance' if bad else ''}")
    print(f"headline metrics beyond the {tolerance:.0%} tolerance: {failures}")
    return 1 if failures else 0


WORKFLOW_TEMPLATE = """\
# Generated from workspace.toml by `python ci/workspace.py workflows`; do not edit by hand.
name: {folder}
on:
  push:
    branches: [main]
    paths: ["{folder}/**", "shared-utils/**", "constraints.txt", "ci/**", ".github/workflows/{folder}.yml"]
  pull_request:
    paths: ["{folder}/**", "shared-utils/**", "constraints.txt", "ci/**", ".github/workflows/{folder}.yml"]
jobs:
  test:
    uses: ./.github/workflows/member-tests.yml
    with:
      alias: {alias}
"""

REUSABLE_WORKFLOW = """\
# Generated from workspace.toml by `python ci/workspace.py workflows`; do not edit by hand.
name: member-tests
on:
  workflow_call:
    inputs:
      alias:
        required: true
        type: string
jobs:
  test:
    runs-on: ubuntu-latest
    timeout-minutes: 60
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - run: bash ci/test-member.sh ${{ inputs.alias }}
"""

SUMMARY_WORKFLOW = """\
# Generated from workspace.toml by `python ci/workspace.py workflows`; do not edit by hand.
# Always runs (no path filter) so that a required check is never left pending by the member filters.
name: workspace
on:
  push:
    branches: [main]
  pull_request:
jobs:
  workspace:
    runs-on: ubuntu-latest
    timeout-minutes: 90
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - run: make test
"""


def expected_workflows() -> dict[Path, str]:
    _, members = load_registry()
    folder = ROOT / ".github" / "workflows"
    files = {folder / "member-tests.yml": REUSABLE_WORKFLOW, folder / "workspace.yml": SUMMARY_WORKFLOW}
    for m in members:
        files[folder / f"{m.folder}.yml"] = WORKFLOW_TEMPLATE.format(folder=m.folder, alias=m.alias)
    return files


def cmd_workflows(check_only: bool) -> int:
    stale = []
    for path, text in expected_workflows().items():
        if path.is_file() and path.read_text() == text:
            continue
        stale.append(path.relative_to(ROOT))
        if not check_only:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if check_only and stale:
        print("out of date (run `python ci/workspace.py workflows`): " + ", ".join(map(str, stale)))
        return 1
    return 0


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    verb, args = argv[0], argv[1:]
    try:
        if verb == "list":
            cmd_list()
            return 0
        if verb == "install":
            cmd_install(args)
            return 0
        if verb == "run" and len(args) == 2 and args[0] in COMMAND_KINDS:
            return cmd_run(args[0], args[1])
        if verb == "test-all":
            return cmd_test_all()
        if verb == "check-independence":
            return cmd_check_independence()
        if verb == "workflows":
            return cmd_workflows(check_only="--check" in args)
        if verb == "isolated-test" and len(args) == 1:
            return cmd_isolated_test(args[0])
        if verb == "results":
            return cmd_results(args)
        if verb == "compare" and len(args) in (1, 2):
            return cmd_compare(args[0], args[1] if len(args) == 2 else None)
    except WorkspaceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
