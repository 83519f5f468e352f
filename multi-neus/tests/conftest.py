import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """The tiny built-in data set (2 training identities, 1 test identity, 6 views of 32x32), generated once."""
    from multi_neus.config import load
    from multi_neus.data.generate import ensure_synthetic_dataset

    root = tmp_path_factory.mktemp("multineus_data")
    ensure_synthetic_dataset(root, load("tiny").data.synthetic)
    return root


@pytest.fixture(scope="session")
def tiny_run(tiny_dataset, tmp_path_factory):
    """One uninterrupted `multineus pipeline --config tiny` run (seed 0), shared by the smoke, determinism and
    kill -9 tests."""
    from multi_neus.cli import main

    out = tmp_path_factory.mktemp("tiny_run") / "run"
    assert main(["pipeline", "--config", "tiny", "--output-dir", str(out), f"data.root={tiny_dataset}"]) == 0
    return out
