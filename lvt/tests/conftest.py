"""CPU only, one thread, fixed seeds, data cached in a temporary folder."""

import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""

import pytest  # noqa: E402
import torch  # noqa: E402
from shared_utils.runtime import seed_everything  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seeded_cpu(tmp_path, monkeypatch):
    seed_everything(0)
    monkeypatch.setenv("THESIS_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.delenv("LVT_I3D_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


def tiny_transformer(**overrides):
    from lvt.models.transformer import LatentVideoTransformer

    kwargs = dict(
        video_shape=(4, 4, 4),
        num_channels=2,
        codebook_size=5,
        subscale=(2, 2, 2),
        embedding_dim=8,
        width=16,
        attention_dim=8,
        ffn_dim=16,
        num_heads=2,
        encoder_layers=1,
        decoder_layers=2,
        encoder_kernel=(1, 3, 3),
        decoder_kernel=(3, 3, 3),
        encoder_blocks=[(2, 2, 2)],
        decoder_blocks=[(1, 2, 2), (2, 2, 2)],
    )
    kwargs.update(overrides)
    model = LatentVideoTransformer(**kwargs).double()
    with torch.no_grad():
        # non-zero relative biases and embeddings everywhere so that every path carries signal
        for parameter in model.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    return model.eval()


@pytest.fixture(scope="session")
def tiny_reference_run(tmp_path_factory):
    """One uninterrupted `lvt pipeline --config tiny` run (in process, one thread): (run folder, its metrics)."""
    import json

    from lvt.cli import main

    folder = tmp_path_factory.mktemp("tiny_reference")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("THESIS_DATA_ROOT", str(folder / "data"))
        patch.setenv("CI", "true")
        seed_everything(0)
        assert main(["pipeline", "--output-dir", str(folder / "run"), "--config", "tiny"]) == 0
    return folder / "run", json.loads((folder / "run" / "metrics.json").read_text())
