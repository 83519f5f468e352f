import torch
from multi_neus.geometry.se3 import se3_exp, se3_log


def _hat(xi):
    out = torch.zeros(*xi.shape[:-1], 4, 4, dtype=xi.dtype)
    w, v = xi[..., 3:], xi[..., :3]
    out[..., 0, 1], out[..., 0, 2], out[..., 1, 2] = -w[..., 2], w[..., 1], -w[..., 0]
    out[..., 1, 0], out[..., 2, 0], out[..., 2, 1] = w[..., 2], -w[..., 1], w[..., 0]
    out[..., :3, 3] = v
    return out


def test_exp_matches_matrix_exponential():
    xi = torch.randn(64, 6, dtype=torch.float64)
    assert torch.allclose(se3_exp(xi), torch.linalg.matrix_exp(_hat(xi)), atol=1e-10)


def test_exp_log_round_trip_including_tiny_angles():
    xi = torch.randn(64, 6, dtype=torch.float64)
    # The logarithm returns the rotation angle in [0, pi): keep the test twists there.
    xi[:, 3:] *= 3.0 * torch.rand(64, 1, dtype=torch.float64) / xi[:, 3:].norm(dim=-1, keepdim=True)
    xi[:8, 3:] *= 1e-6
    xi[8:16, 3:] = 0.0
    assert torch.allclose(se3_log(se3_exp(xi)), xi, atol=1e-8)
    transforms = se3_exp(torch.randn(16, 6, dtype=torch.float64))
    assert torch.allclose(se3_exp(se3_log(transforms)), transforms, atol=1e-8)


def test_exp_is_rigid_and_differentiable_at_zero():
    xi = torch.zeros(3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(se3_exp, (xi,))
    rotation = se3_exp(torch.randn(10, 6, dtype=torch.float64))[:, :3, :3]
    eye = torch.eye(3, dtype=torch.float64).expand_as(rotation)
    assert torch.allclose(rotation @ rotation.transpose(-1, -2), eye, atol=1e-10)
