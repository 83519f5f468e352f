"""Build detectron2 and its DensePose project from source, keep the wheels in a cache, install them here.

    python -m mobile_parsing_rcnn.detectron2_backend.install [--source PATH_OR_URL] [--cache DIR] [--build-only]

detectron2 is not on PyPI: its official install path is a build from source. The source is, first found:
``--source``, ``$DETECTRON2_SRC``, ``../shared/vendor/detectron2-src.tar.gz`` beside the workspace checkout, the
official repository (needs internet and git). A source is a ``.tar.gz`` archive, a source folder or a git URL.

The two wheels (detectron2 with its compiled ``_C``, detectron2-densepose) and DensePose's ``configs/`` folder are
cached in ``<cache>/detectron2-<source>-torch<version>-<python>-<platform>/``, where ``<source>`` is the archive's
or folder's digest or the git commit; the cache is ``--cache``, ``$WHEEL_CACHE`` or
``~/.cache/thesis-methods/wheels``. An install whose key is cached reuses the wheels without building, and one that
finds them already installed changes nothing.

Only the running interpreter's environment changes. torch and torchvision are pinned to the installed versions (and
the workspace's ``constraints.txt`` applies when found), so no install here pulls another torch. Standard library
only: this runs before detectron2 exists.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
import zipfile

OFFICIAL_REPOSITORY = "https://github.com/facebookresearch/detectron2.git"
VENDOR_ARCHIVE = pathlib.Path("shared") / "vendor" / "detectron2-src.tar.gz"
DEFAULT_CACHE = pathlib.Path("~/.cache/thesis-methods/wheels")
DENSEPOSE_CONFIGS = "densepose-configs"
# where the installed DensePose configs live inside the environment (configs are not part of DensePose's wheel)
INSTALLED_CONFIGS = pathlib.Path("share") / "detectron2-densepose" / "configs"
DISTRIBUTIONS = ("detectron2", "detectron2-densepose")


class InstallError(RuntimeError):
    """A problem reported as one line (exit code 2)."""


def _workspace_roots() -> list[pathlib.Path]:
    """Folders holding ``workspace.toml`` above the working directory or above this file (nearest first)."""
    roots = []
    for start in (pathlib.Path.cwd(), pathlib.Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            if (folder / "workspace.toml").is_file() and folder not in roots:
                roots.append(folder)
    return roots


def default_source() -> str:
    if os.environ.get("DETECTRON2_SRC"):
        return os.environ["DETECTRON2_SRC"]
    for root in _workspace_roots():
        archive = root.parent / VENDOR_ARCHIVE
        if archive.is_file():
            return str(archive)
    return OFFICIAL_REPOSITORY


def default_cache() -> pathlib.Path:
    return pathlib.Path(os.environ.get("WHEEL_CACHE") or DEFAULT_CACHE).expanduser()


def is_git_url(source: str) -> bool:
    return source.startswith(("git+", "https://", "http://", "ssh://", "git@"))


def _file_digest(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tree_digest(folder: pathlib.Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".git" not in p.relative_to(folder).parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + _file_digest(path).encode())
    return digest.hexdigest()


def _run(cmd: list[str], **kwargs) -> None:
    print("+ " + " ".join(cmd), flush=True)
    code = subprocess.call(cmd, **kwargs)
    if code != 0:
        raise InstallError(f"command failed with exit code {code}: {' '.join(cmd)}")


def _remote_commit(url: str) -> str:
    try:
        out = subprocess.run(["git", "ls-remote", url, "HEAD"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallError(f"cannot reach {url} with git ({exc}); set DETECTRON2_SRC to a local source") from exc
    if out.returncode != 0 or not out.stdout.strip():
        raise InstallError(f"cannot read the commit of {url} with git; set DETECTRON2_SRC to a local source")
    return out.stdout.split()[0]


def source_key(source: str) -> str:
    """Names the exact source: sha256 of the archive or folder, or the repository's HEAD commit."""
    if is_git_url(source):
        return "git" + _remote_commit(source.removeprefix("git+"))[:16]
    path = pathlib.Path(source).expanduser()
    if path.is_file():
        return _file_digest(path)[:16]
    if path.is_dir():
        return _tree_digest(path)[:16]
    raise InstallError(f"detectron2 source '{source}' is neither a file, a folder nor a git URL (DETECTRON2_SRC)")


def build_key(source: str) -> str:
    """Source, torch build and interpreter: the compiled ``_C`` only loads into the torch it was built against."""
    source = source_key(source)  # first: a missing source is reported before torch loads
    import torch

    cuda = "cuda" if os.environ.get("FORCE_CUDA") == "1" or torch.cuda.is_available() else "cpu"
    return (f"detectron2-{source}-torch{torch.__version__}-{cuda}-"
            f"{sys.implementation.cache_tag}-{sysconfig.get_platform()}")


def _source_root(folder: pathlib.Path) -> pathlib.Path:
    """The folder with detectron2's setup.py and projects/DensePose (the archive's top folder or below)."""
    for candidate in (folder, *sorted(folder.iterdir()), *sorted(folder.glob("*/*"))):
        if (candidate / "setup.py").is_file() and (candidate / "projects" / "DensePose" / "setup.py").is_file():
            return candidate
    raise InstallError(f"no detectron2 source tree (setup.py and projects/DensePose) found in {folder}")


def unpack_source(source: str, workdir: pathlib.Path) -> pathlib.Path:
    target = workdir / "src"
    if is_git_url(source):
        _run(["git", "clone", "--depth", "1", source.removeprefix("git+"), str(target)])
        return _source_root(target)
    path = pathlib.Path(source).expanduser()
    if path.is_dir():
        # a private copy: setuptools writes build/ and *.egg-info into the tree it builds
        shutil.copytree(path, target, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info"))
        return _source_root(target)
    try:
        with tarfile.open(path) as archive:
            archive.extractall(target, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise InstallError(f"cannot unpack detectron2 source archive '{path}': {exc}") from exc
    return _source_root(target)


def constraint_args(folder: pathlib.Path) -> list[str]:
    """``-c`` files: the installed torch/torchvision pinned (written into ``folder``), plus the workspace's
    constraints.txt when found."""
    pins = []
    for name in ("torch", "torchvision"):
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    pinned = folder / "torch-pins.txt"
    pinned.write_text("\n".join(pins) + "\n")
    args = ["-c", str(pinned)]
    for root in _workspace_roots():
        if (root / "constraints.txt").is_file():
            args += ["-c", str(root / "constraints.txt")]
            break
    return args


def _pip(*args: str, env: dict | None = None) -> None:
    _run([sys.executable, "-m", "pip", *args], env=env)


def build_wheels(source: str, wheel_dir: pathlib.Path, constraints: list[str]) -> float:
    """Build both wheels into ``wheel_dir`` (written under a temporary name, then renamed). Returns seconds."""
    start = time.monotonic()
    # setuptools' bdist_wheel needs the `wheel` package; without build isolation it must be in this environment
    _pip("install", "-q", *constraints, "setuptools", "wheel")
    wheel_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="detectron2-build-") as work:
        workdir = pathlib.Path(work)
        root = unpack_source(source, workdir)
        staged = pathlib.Path(tempfile.mkdtemp(prefix=wheel_dir.name + ".", dir=wheel_dir.parent))
        try:
            env = dict(os.environ)
            env.setdefault("MAX_JOBS", str(max(1, min(os.cpu_count() or 1, 4))))
            for project in (root, root / "projects" / "DensePose"):
                _pip("wheel", "--no-build-isolation", "--no-deps", "-w", str(staged), str(project), env=env)
            shutil.copytree(root / "projects" / "DensePose" / "configs", staged / DENSEPOSE_CONFIGS)
            umask = os.umask(0)
            os.umask(umask)
            staged.chmod(0o777 & ~umask)  # mkdtemp makes it private; the cache is shared like any download cache
            staged.rename(wheel_dir)
        except OSError:
            if not wheel_dir.is_dir():
                raise
            # another process cached the same key meanwhile: keep theirs
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    return time.monotonic() - start


def cached_wheels(wheel_dir: pathlib.Path) -> dict[str, pathlib.Path] | None:
    """{distribution: wheel} when both wheels and the configs are in ``wheel_dir``, else None."""
    found = {}
    for dist in DISTRIBUTIONS:
        wheels = sorted(wheel_dir.glob(dist.replace("-", "_") + "-*.whl"))
        if len(wheels) == 1:
            found[dist] = wheels[0]
    complete = len(found) == len(DISTRIBUTIONS) and (wheel_dir / DENSEPOSE_CONFIGS).is_dir()
    return found if complete else None


def wheel_requirements(wheel: pathlib.Path) -> list[str]:
    """A wheel's unconditional ``Requires-Dist`` entries except the two built here.

    DensePose's setup.py names detectron2 by a git URL, which pip would fetch; detectron2 is installed from the
    cache instead.
    """
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        lines = archive.read(metadata).decode().splitlines()
    requirements = []
    for line in lines:
        if not line.startswith("Requires-Dist:"):
            continue
        requirement = line.split(":", 1)[1].strip()
        name = requirement.split(";")[0].split("@")[0].split("[")[0]
        for sep in "<>=!~ (":
            name = name.split(sep)[0]
        if name.strip().lower().replace("_", "-") in DISTRIBUTIONS or "extra ==" in requirement:
            continue
        requirements.append(requirement)
    return requirements


def installed_from(distribution: str) -> str | None:
    """The file URL pip recorded for an installed distribution (PEP 610 direct_url.json), if any."""
    try:
        text = importlib.metadata.distribution(distribution).read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return None
    return json.loads(text).get("url") if text else None


def installed_configs() -> pathlib.Path:
    return pathlib.Path(sys.prefix) / INSTALLED_CONFIGS


def is_installed(wheels: dict[str, pathlib.Path]) -> bool:
    return (all(installed_from(dist) == wheel.resolve().as_uri() for dist, wheel in wheels.items())
            and installed_configs().is_dir())


def install_wheels(wheel_dir: pathlib.Path, wheels: dict[str, pathlib.Path], constraints: list[str]) -> None:
    requirements = sorted({r for wheel in wheels.values() for r in wheel_requirements(wheel)})
    _pip("install", "-q", *constraints, *requirements)
    for dist, wheel in wheels.items():
        if installed_from(dist) != wheel.resolve().as_uri():
            _pip("install", "-q", "--no-deps", "--force-reinstall", str(wheel))
    target = installed_configs()
    staged = target.with_name(target.name + f".{os.getpid()}")
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(wheel_dir / DENSEPOSE_CONFIGS, staged)
    shutil.rmtree(target, ignore_errors=True)
    staged.rename(target)


def ensure_detectron2(source: str, cache: pathlib.Path, install: bool = True) -> pathlib.Path:
    """Build (or reuse) the cached wheels for ``source`` and install them here. Returns the wheel folder."""
    wheel_dir = cache / build_key(source)
    with tempfile.TemporaryDirectory(prefix="detectron2-pins-") as pins:
        return _ensure(source, wheel_dir, constraint_args(pathlib.Path(pins)), install)


def _ensure(source: str, wheel_dir: pathlib.Path, constraints: list[str], install: bool) -> pathlib.Path:
    wheels = cached_wheels(wheel_dir)
    if wheels is None:
        shutil.rmtree(wheel_dir, ignore_errors=True)
        seconds = build_wheels(source, wheel_dir, constraints)
        wheels = cached_wheels(wheel_dir)
        if wheels is None:
            raise InstallError(f"the build finished but {wheel_dir} lacks the wheels or DensePose's configs")
        print(f"detectron2: built from {source} in {seconds:.0f} s; wheels cached in {wheel_dir}", flush=True)
    else:
        print(f"detectron2: reusing the wheels cached in {wheel_dir}", flush=True)
    if install:
        if is_installed(wheels):
            print("detectron2: already installed from these wheels", flush=True)
        else:
            install_wheels(wheel_dir, wheels, constraints)
            print(f"detectron2: installed into {sys.prefix}", flush=True)
    return wheel_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mobile_parsing_rcnn.detectron2_backend.install",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=None, help="archive, folder or git URL (default: $DETECTRON2_SRC, "
                        "../shared/vendor/detectron2-src.tar.gz, the official repository)")
    parser.add_argument("--cache", default=None, help="wheel cache (default: $WHEEL_CACHE or "
                        "~/.cache/thesis-methods/wheels)")
    parser.add_argument("--build-only", action="store_true", help="build or reuse the cached wheels, install nothing")
    args = parser.parse_args(argv)
    try:
        ensure_detectron2(args.source or default_source(), pathlib.Path(args.cache).expanduser() if args.cache
                          else default_cache(), install=not args.build_only)
    except (InstallError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
