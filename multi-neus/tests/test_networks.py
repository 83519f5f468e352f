import pytest
import torch
from multi_neus.config import SDFNetworkConfig, load
from multi_neus.models.embedding import PositionalEncoding
from multi_neus.models.multi_neus import MultiNeuS
from multi_neus.models.networks import SDFNetwork
from shared_utils.errors import InputError


def _zero_crossing_radii(net, directions, scene=0):
    radii = torch.linspace(0.05, 1.0, 400)
    with torch.no_grad():
        values = net.sdf((directions[:, None] * radii[:, None]).reshape(-1, 3), scene).reshape(len(directions), -1)
    first_positive = (values > 0).float().argmax(-1)
    return radii[first_positive]


@pytest.mark.parametrize(
    "hidden, layers, skip, scene_layers, rank, spread",
    [(256, 8, [4], 4, 16, 0.2), (256, 8, [4], 0, 0, 0.2), (64, 5, [3], 3, 8, 0.3), (64, 5, [3], 3, 0, 0.3)],
)
def test_geometric_init_is_a_sphere_of_the_configured_radius(hidden, layers, skip, scene_layers, rank, spread):
    torch.manual_seed(1)
    cfg = SDFNetworkConfig(hidden_dim=hidden, num_hidden_layers=layers, skip_layers=skip, init_radius=0.5)
    net = SDFNetwork(cfg, num_scenes=2, scene_layers=scene_layers, rank=rank)
    directions = torch.nn.functional.normalize(torch.randn(300, 3), dim=-1)
    for scene in (0, 1):
        radii = _zero_crossing_radii(net, directions, scene)
        assert abs(radii.mean().item() - 0.5) < 0.03
        # Finite widths make SAL's sphere bumpy (it is exact only for infinitely wide layers).
        assert (radii.std() / radii.mean()).item() < spread
        with torch.no_grad():
            assert (net.sdf(torch.zeros(1, 3), scene) < 0).all() and (net.sdf(1.5 * directions, scene) > 0).all()


def test_gradient_matches_finite_differences():
    cfg = load("tiny")
    model = MultiNeuS(cfg, 2).double()
    x = torch.rand(5, 3, dtype=torch.float64) - 0.5
    _, _, gradient = model.sdf_net.with_gradient(x.clone(), 1)
    eps = 1e-6
    for axis in range(3):
        step = torch.zeros(3, dtype=torch.float64)
        step[axis] = eps
        numeric = (model.sdf_net.sdf(x + step, 1) - model.sdf_net.sdf(x - step, 1))[:, 0] / (2 * eps)
        assert torch.allclose(gradient[:, axis], numeric, atol=1e-6)


def test_positional_encoding_layout():
    encoding = PositionalEncoding(3, 4)
    x = torch.randn(2, 3)
    out = encoding(x)
    assert out.shape == (2, 27) and encoding.output_dim == 27
    assert torch.allclose(out[:, :3], x)
    assert torch.allclose(out[:, 3:6], torch.sin(x)) and torch.allclose(out[:, 6:9], torch.cos(x))
    assert torch.allclose(out[:, -6:-3], torch.sin(8 * x))


def test_bad_architectures_are_input_errors():
    with pytest.raises(InputError, match="hidden_dim"):
        SDFNetwork(SDFNetworkConfig(hidden_dim=16, skip_layers=[2]), 1, 0, 0)
    with pytest.raises(InputError, match="shared output layer"):
        SDFNetwork(SDFNetworkConfig(num_hidden_layers=2, skip_layers=[]), 1, 3, 2)


def test_scene_state_round_trip_between_models():
    cfg = load("tiny")
    a, b = MultiNeuS(cfg, 3), MultiNeuS(cfg, 1)
    with torch.no_grad():
        for p in a.scene_parameters(2):
            p.normal_()
    b.load_shared_from(a)
    b.load_scene_state(0, a.scene_state(2))
    x = torch.rand(10, 3)
    assert torch.allclose(a.sdf_net.sdf(x, 2), b.sdf_net.sdf(x, 0))
