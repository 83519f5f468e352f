import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""

import pytest  # noqa: E402
import torch  # noqa: E402
from shared_utils.runtime import seed_everything  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Every test starts seeded, in its own working directory, with its own data root and torch cache."""
    seed_everything(0)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THESIS_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv("NPBGPP_VGG19_WEIGHTS", raising=False)
    monkeypatch.delenv("NPBGPP_EXTRACTOR_WEIGHTS", raising=False)
    yield


@pytest.fixture
def tiny_config():
    from npbgpp.config import load

    return load("tiny")


@pytest.fixture
def tiny_scene(tiny_config):
    from npbgpp.data.synthetic import generate_scene

    return generate_scene("fixture", 3, tiny_config.data.synthetic)
