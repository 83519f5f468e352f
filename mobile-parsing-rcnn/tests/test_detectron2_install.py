"""The detectron2 install step's pieces (no build here) and the member without detectron2."""

import hashlib
import importlib.metadata
import io
import pathlib
import sys
import tarfile
import zipfile

import pytest
from mobile_parsing_rcnn.detectron2_backend import install
from shared_utils.testing import assert_clean_error, run_cli

# a Python that cannot import detectron2 or DensePose, whatever this environment has
WITHOUT_DETECTRON2 = "import sys; sys.modules['detectron2'] = sys.modules['densepose'] = None; "


def _tar_with(path: pathlib.Path, files: dict[str, bytes]) -> pathlib.Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _wheel_with_metadata(path: pathlib.Path, requires: list[str]) -> pathlib.Path:
    metadata = "Metadata-Version: 2.1\nName: detectron2-densepose\nVersion: 0.6\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("detectron2_densepose-0.6.dist-info/METADATA", metadata)
    return path


def test_member_works_and_entry_point_says_how_to_add_detectron2_without_it():
    code = (WITHOUT_DETECTRON2 + "import mobile_parsing_rcnn.cli, mobile_parsing_rcnn.detectron2_backend.install; "
            "from mobile_parsing_rcnn.detectron2_backend.train_net import main; "
            "main(['--config-file', 'mprcnn_B_cpu'])")
    result = run_cli([sys.executable, "-c", code])
    assert_clean_error(result, "detectron2 is not installed",
                       "python -m mobile_parsing_rcnn.detectron2_backend.install")


def test_source_key_is_the_archive_digest_and_changes_with_its_content(tmp_path):
    a = _tar_with(tmp_path / "a.tar.gz", {"detectron2/setup.py": b"one"})
    b = _tar_with(tmp_path / "b.tar.gz", {"detectron2/setup.py": b"two"})
    assert install.source_key(str(a)) == hashlib.sha256(a.read_bytes()).hexdigest()[:16]
    assert install.source_key(str(a)) != install.source_key(str(b))


def test_source_key_of_a_folder_follows_its_files(tmp_path):
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "sub" / "x.py").write_text("x = 1\n")
    first = install.source_key(str(tmp_path / "src"))
    (tmp_path / "src" / "sub" / "x.py").write_text("x = 2\n")
    assert install.source_key(str(tmp_path / "src")) != first


def test_missing_source_is_one_error_line(tmp_path):
    result = run_cli([sys.executable, "-m", "mobile_parsing_rcnn.detectron2_backend.install", "--source",
                      str(tmp_path / "nowhere.tar.gz"), "--cache", str(tmp_path / "cache")])
    assert_clean_error(result, "nowhere.tar.gz")


def test_archive_without_detectron2_tree_is_refused(tmp_path):
    archive = _tar_with(tmp_path / "other.tar.gz", {"project/setup.py": b""})
    with pytest.raises(install.InstallError, match="no detectron2 source tree"):
        install.unpack_source(str(archive), tmp_path / "work")


def test_unpacked_source_root_is_the_folder_with_densepose(tmp_path):
    archive = _tar_with(tmp_path / "d2.tar.gz",
                        {"detectron2/setup.py": b"", "detectron2/projects/DensePose/setup.py": b""})
    root = install.unpack_source(str(archive), tmp_path / "work")
    assert root.name == "detectron2" and (root / "projects" / "DensePose" / "setup.py").is_file()


def test_default_source_order(monkeypatch, tmp_path):
    monkeypatch.setenv("DETECTRON2_SRC", str(tmp_path / "mine.tar.gz"))
    assert install.default_source() == str(tmp_path / "mine.tar.gz")
    monkeypatch.delenv("DETECTRON2_SRC")
    vendored = [root.parent / install.VENDOR_ARCHIVE for root in install._workspace_roots()]
    expected = next((str(p) for p in vendored if p.is_file()), install.OFFICIAL_REPOSITORY)
    assert install.default_source() == expected


def test_cache_folder_names_source_torch_and_python(monkeypatch, tmp_path):
    import torch

    archive = _tar_with(tmp_path / "a.tar.gz", {"detectron2/setup.py": b""})
    key = install.build_key(str(archive))
    assert install.source_key(str(archive)) in key and f"torch{torch.__version__}" in key
    assert sys.implementation.cache_tag in key
    monkeypatch.setenv("WHEEL_CACHE", str(tmp_path / "wheels"))
    assert install.default_cache() == tmp_path / "wheels"


def test_cached_wheels_need_both_wheels_and_the_configs(tmp_path):
    assert install.cached_wheels(tmp_path) is None
    (tmp_path / "detectron2-0.6-cp311-cp311-linux_x86_64.whl").write_bytes(b"")
    (tmp_path / "detectron2_densepose-0.6-py3-none-any.whl").write_bytes(b"")
    assert install.cached_wheels(tmp_path) is None
    (tmp_path / install.DENSEPOSE_CONFIGS).mkdir()
    assert set(install.cached_wheels(tmp_path)) == {"detectron2", "detectron2-densepose"}


def test_wheel_requirements_drop_the_git_url_of_detectron2_and_extras(tmp_path):
    wheel = _wheel_with_metadata(tmp_path / "detectron2_densepose-0.6-py3-none-any.whl", [
        "av>=8.0.3", "detectron2@ git+https://github.com/facebookresearch/detectron2.git",
        "opencv-python-headless>=4.5.3.56", "scipy>=1.5.4", 'fairscale ; extra == "all"'])
    assert install.wheel_requirements(wheel) == ["av>=8.0.3", "opencv-python-headless>=4.5.3.56", "scipy>=1.5.4"]


def test_constraints_pin_the_installed_torch(tmp_path):
    args = install.constraint_args(tmp_path)
    pins = pathlib.Path(args[1]).read_text().split()
    assert f"torch=={importlib.metadata.version('torch')}" in pins
    assert f"torchvision=={importlib.metadata.version('torchvision')}" in pins


def test_build_only_builds_once_then_reuses_the_cached_wheels(tmp_path):
    """A stand-in source with detectron2's layout (two pure-Python projects): built into the cache, then reused."""
    setup = "from setuptools import setup\nsetup(name='{name}', version='0.6', packages=['{package}'])\n"
    archive = _tar_with(tmp_path / "fake-detectron2.tar.gz", {
        "detectron2/setup.py": setup.format(name="detectron2", package="detectron2").encode(),
        "detectron2/detectron2/__init__.py": b"",
        "detectron2/projects/DensePose/setup.py": setup.format(name="detectron2-densepose",
                                                              package="densepose").encode(),
        "detectron2/projects/DensePose/densepose/__init__.py": b"",
        "detectron2/projects/DensePose/configs/Base-DensePose-RCNN-FPN.yaml": b"VERSION: 2\n",
    })
    argv = [sys.executable, "-m", "mobile_parsing_rcnn.detectron2_backend.install", "--source", str(archive),
            "--cache", str(tmp_path / "cache"), "--build-only"]
    first = run_cli(argv)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "built from" in first.stdout
    (wheel_dir,) = (tmp_path / "cache").iterdir()
    assert set(install.cached_wheels(wheel_dir)) == {"detectron2", "detectron2-densepose"}
    assert (wheel_dir / install.DENSEPOSE_CONFIGS / "Base-DensePose-RCNN-FPN.yaml").is_file()
    second = run_cli(argv)
    assert second.returncode == 0 and "reusing the wheels cached in" in second.stdout, second.stdout
    assert "pip" not in second.stdout  # nothing built, nothing installed
