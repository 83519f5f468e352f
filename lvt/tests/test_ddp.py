"""Training under Lightning DDP (2 processes, gloo on CPU): the EMA codebook statistics are all-reduced, so both
ranks end with the same codebook although each saw different frames."""

import subprocess
import sys
import textwrap

import pytest
import torch

SCRIPT = textwrap.dedent(
    """
    import sys

    import lightning
    import torch
    from shared_utils.training import TrainerConfig, build_trainer
    from torch.utils.data import DataLoader

    from lvt.config import VQVAEConfig
    from lvt.lightning import VQVAEModule

    out = sys.argv[1]


    class DumpCodebook(lightning.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            # the frames each rank saw, to show the ranks' data differ
            torch.save(batch, f"{out}/batch_rank{trainer.global_rank}_{batch_idx}.pt")

        def on_train_end(self, trainer, module):
            state = {k: v.clone() for k, v in module.model.quantizer.state_dict().items()}
            state["encoder"] = module.model.encoder.net[0].weight.detach().clone()
            torch.save(state, f"{out}/codebook_rank{trainer.global_rank}.pt")


    lightning.seed_everything(0)
    frames = [torch.rand(3, 16, 16) * 2 - 1 for _ in range(32)]
    module = VQVAEModule(VQVAEConfig(hidden_channels=8, channels=8, res_channels=4, num_parts=2, codebook_size=8,
                                     dead_code_threshold=1.0, lr=1e-3), seed=0)
    cfg = TrainerConfig(max_steps=3, accelerator="cpu", devices=2, strategy="ddp", enable_progress_bar=False)
    trainer = build_trainer(cfg, out, extra_callbacks=[DumpCodebook()])
    trainer.fit(module, DataLoader(frames, batch_size=4, shuffle=True))
    """
)


@pytest.mark.slow
def test_ddp_two_processes_share_one_codebook(tmp_path):
    script = tmp_path / "ddp_vqvae.py"
    script.write_text(SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"codebook_rank{r}.pt") for r in (0, 1)]
    assert not torch.equal(torch.load(tmp_path / "batch_rank0_0.pt"), torch.load(tmp_path / "batch_rank1_0.pt"))
    for key in ("embedding", "ema_sum", "ema_count", "encoder"):
        assert torch.allclose(ranks[0][key], ranks[1][key], atol=1e-6), key
    # the counts saw both ranks' vectors: 3 steps x 2 ranks x 4 frames x 4 x 4 positions per part, minus decay
    assert ranks[0]["ema_count"].sum(-1).max() > 8 * 0.99**3
