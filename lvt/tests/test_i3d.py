import pytest
import torch
from lvt.fvd import fvd_unavailable_reason, load_i3d
from lvt.models.i3d import InceptionI3d
from shared_utils.errors import InputError


def test_fvd_is_unavailable_without_weights_or_with_short_clips(tmp_path):
    reason = fvd_unavailable_reason(16)
    assert "i3d_pretrained_400.pt" in reason and "LVT_I3D_WEIGHTS" in reason
    assert "16-frame" in fvd_unavailable_reason(8)
    with pytest.raises(InputError):
        load_i3d()


def test_i3d_weights_round_trip_through_a_local_file(tmp_path, monkeypatch):
    model = InceptionI3d()
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert "Mixed_5c.b3b.conv3d.weight" in state and "logits.conv3d.bias" in state
    torch.save(state, tmp_path / "i3d_pretrained_400.pt")
    monkeypatch.setenv("LVT_I3D_WEIGHTS", str(tmp_path))
    assert fvd_unavailable_reason(16) is None
    loaded = load_i3d()
    assert torch.equal(loaded.Mixed_4f.b1b.conv3d.weight, model.Mixed_4f.b1b.conv3d.weight)
    torch.save({"unexpected": torch.zeros(1)}, tmp_path / "i3d_pretrained_400.pt")
    with pytest.raises(InputError):
        load_i3d()


@pytest.mark.slow
def test_i3d_forward_gives_400_features_per_clip():
    with torch.no_grad():
        out = InceptionI3d().eval()(torch.zeros(1, 3, 16, 224, 224))
    assert out.shape == (1, 400)


@pytest.mark.slow
def test_fvd_of_a_video_set_with_itself_is_zero_and_grows_with_a_shift(tmp_path, monkeypatch):
    from lvt.fvd import fvd

    torch.manual_seed(0)
    model = InceptionI3d()
    torch.save(model.state_dict(), tmp_path / "i3d_pretrained_400.pt")
    monkeypatch.setenv("LVT_I3D_WEIGHTS", str(tmp_path / "i3d_pretrained_400.pt"))
    i3d = load_i3d()
    real = torch.randint(0, 256, (4, 16, 64, 64, 3), dtype=torch.uint8)
    assert fvd(i3d, real, real, batch_size=2) == pytest.approx(0.0, abs=1e-3)
    assert fvd(i3d, real, (real // 2).to(torch.uint8), batch_size=2) > 0.0
