import pytest
import torch
from lvt.models.quantizer import EMAVectorQuantizer
from lvt.models.vqvae import VQVAE


def _quantizer(**kwargs):
    q = EMAVectorQuantizer(1, 2, 2, decay=0.5, epsilon=0.1, **kwargs)
    with torch.no_grad():
        q.embedding.copy_(torch.tensor([[[0.0, 0.0], [10.0, 10.0]]]))
        q.ema_sum.copy_(q.embedding)
        q.ema_count.fill_(1.0)
    return q.train()


def test_ema_update_matches_hand_computation():
    q = _quantizer()
    # three encoder vectors (B=1, D=2, h=1, w=3): [1, 1], [2, 0] go to code 0, [9, 9] to code 1
    z = torch.tensor([[1.0, 2.0, 9.0], [1.0, 0.0, 9.0]]).reshape(1, 2, 1, 3)
    out = q(z)
    assert out.codes.flatten().tolist() == [0, 0, 1]
    # counts [2, 1], sums [[3, 1], [9, 9]]; decay 0.5 from counts [1, 1] and sums equal to the codebook
    count = [0.5 * 1 + 0.5 * 2, 0.5 * 1 + 0.5 * 1]
    sums = [[0.5 * 0 + 0.5 * 3, 0.5 * 0 + 0.5 * 1], [0.5 * 10 + 0.5 * 9, 0.5 * 10 + 0.5 * 9]]
    total = sum(count)
    smoothed = [(c + 0.1) / (total + 2 * 0.1) * total for c in count]
    expected = [[s / smoothed[k] for s in sums[k]] for k in range(2)]
    assert torch.allclose(q.ema_count[0], torch.tensor(count))
    assert torch.allclose(q.embedding[0], torch.tensor(expected))
    # the straight-through output carries the codes chosen before the update
    assert torch.allclose(out.quantized.flatten(), torch.tensor([0.0, 0.0, 10.0, 0.0, 0.0, 10.0]))
    # commitment: mean of (z_e - e)^2 over all 6 elements
    assert out.commitment_loss.item() == pytest.approx((1 + 1 + 4 + 0 + 1 + 1) / 6)


def test_eval_mode_leaves_codebook_unchanged():
    q = _quantizer().eval()
    before = q.embedding.clone()
    q(torch.randn(2, 2, 3, 3))
    assert torch.equal(q.embedding, before)


def test_dead_codes_restart_at_encoder_outputs():
    q = EMAVectorQuantizer(1, 4, 2, decay=0.5, epsilon=1e-5, dead_code_threshold=0.6).train()
    z = torch.tensor([[5.0, 5.0, 5.0, 5.0], [5.0, 5.0, 5.0, 5.0]]).reshape(1, 2, 2, 2)
    q(z)
    # one code took all four vectors (count 0.5 + 0.5 * 4); the three unused ones fell to 0.5 < 0.6 and were
    # restarted at an encoder output [5, 5] with count 1
    used = int(q.ema_count[0].argmax())
    assert q.ema_count[0, used].item() == pytest.approx(2.5)
    restarted = [k for k in range(4) if k != used]
    assert torch.equal(q.embedding[0, restarted], torch.full((3, 2), 5.0))
    assert torch.equal(q.ema_count[0, restarted], torch.ones(3))


def test_shared_codebook_pools_all_parts():
    q = EMAVectorQuantizer(2, 3, 4, shared_codebook=True).train()
    assert q.embedding.shape == (1, 3, 2)
    out = q(torch.randn(2, 4, 2, 2))
    assert out.codes.shape == (2, 2, 2, 2)
    assert torch.allclose(q.ema_count.sum(), torch.tensor(0.99 * 3 + 0.01 * 16))


def test_per_part_codebooks_are_separate():
    q = EMAVectorQuantizer(2, 3, 4).train()
    assert q.embedding.shape == (2, 3, 2)
    q(torch.randn(2, 4, 2, 2))
    assert torch.allclose(q.ema_count.sum(-1), torch.full((2,), 0.99 * 3 + 0.01 * 8))


def test_straight_through_gradient_reaches_encoder():
    q = _quantizer()
    z = torch.tensor([[1.0, 2.0, 9.0], [1.0, 0.0, 9.0]]).reshape(1, 2, 1, 3).requires_grad_()
    weights = torch.randn(1, 2, 1, 3)
    (q(z).quantized * weights).sum().backward()
    assert torch.equal(z.grad, weights)  # d z_q / d z_e = identity

    model = VQVAE(hidden_channels=8, channels=8, res_channels=4, num_parts=2, codebook_size=4, commitment_weight=0.0)
    out = model(torch.rand(2, 3, 16, 16) * 2 - 1)
    out.reconstruction_loss.backward()
    first = model.encoder.net[0].weight.grad
    assert first is not None and first.abs().sum() > 0


def test_codebook_hash_tracks_the_codebook():
    q = _quantizer()
    before = q.codebook_hash()
    assert before == _quantizer().codebook_hash()
    q(torch.randn(1, 2, 2, 2))
    assert q.codebook_hash() != before


def test_encode_decode_round_trip_through_codes():
    model = VQVAE(hidden_channels=8, channels=8, res_channels=4, num_parts=2, codebook_size=4).eval()
    frames = torch.rand(3, 3, 16, 16) * 2 - 1
    codes = model.encode(frames)
    assert codes.shape == (3, 2, 4, 4)
    assert torch.allclose(model.decode(codes), model(frames).reconstruction, atol=1e-6)
