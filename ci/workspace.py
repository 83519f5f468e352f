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
"""
from __future__ import annotations

import hashlib
import os
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

    @property
    def path(self) -> Path:
        return ROOT / self.folder

    @property
    def built(self) -> bool:
        return (self.path / "pyproject.toml").is_file()


def load_registry() -> tuple[dict, list[Member]]:
    data = tomllib.loads(REGISTRY.read_text())
    members = [
        Member(
            folder=entry["folder"],
            distribution=entry["distribution"],
            package=entry["package"],
            alias=entry["alias"],
            commands={kind: entry[kind] for kind in COMMAND_KINDS if kind in entry},
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
    """open3d links against libusb-1.0, which minimal Debian images lack."""
    found = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    if "libusb-1.0.so.0" in found:
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        check("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libusb-1.0-0")
    else:
        print("warning: open3d needs the system library libusb-1.0: run `sudo apt-get install libusb-1.0-0`",
              file=sys.stderr)


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


def cmd_isolated_test(alias: str) -> int:
    """What a user who clones one method does: shared-utils + that member, non-editable, nothing else."""
    member = member_by_alias(alias)
    require_built(member)
    _, registry = load_registry()
    shared = next(m for m in registry if m.alias == "shared")
    venv = Path(tempfile.mkdtemp(prefix=f"venv-{member.alias}-"))
    try:
        ensure_base(venv)
        targets = [f"{shared.path}[dev]"] if member is shared else [str(shared.path), f"{member.path}[dev]"]
        pip(venv, "--no-build-isolation", *targets)
        # Tests run against the installed package, not the source tree.
        return run(member.commands["test"], env=venv_env(venv))
    finally:
        shutil.rmtree(venv, ignore_errors=True)


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
    except WorkspaceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
