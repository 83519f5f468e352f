import pytest
import torch
from multi_neus.config import load
from multi_neus.lightning import MetaLearner
from multi_neus.models.scene_linear import SceneLinear
from torch.nn import functional as F


def test_rank0_scenes_are_independent_linear_layers():
    layer = SceneLinear(5, 4, num_scenes=3, rank=0)
    with torch.no_grad():
        for w in layer.weights:
            w.normal_()
    x = torch.randn(7, 5)
    for scene in range(3):
        expected = F.linear(x, layer.weights[scene], layer.biases[scene])
        assert torch.allclose(layer(x, scene), expected)
    layer(x, 1).sum().backward()
    assert layer.weights[1].grad is not None and layer.biases[1].grad is not None
    assert all(layer.weights[s].grad is None and layer.biases[s].grad is None for s in (0, 2))
    assert layer.shared_parameters() == []
    before = [w.detach().clone() for w in layer.weights]
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.1)
    optimizer.step()
    assert torch.equal(layer.weights[0], before[0]) and torch.equal(layer.weights[2], before[2])
    assert not torch.equal(layer.weights[1], before[1])


def test_low_rank_weight_is_coefficient_combination_of_basis():
    layer = SceneLinear(6, 3, num_scenes=2, rank=4)
    with torch.no_grad():
        layer.coefficients[1].normal_()
    weight, bias = layer.weight_and_bias(1)
    expected_w = sum(layer.coefficients[1][r] * layer.basis_weight[r] for r in range(4))
    expected_b = sum(layer.coefficients[1][r] * layer.basis_bias[r] for r in range(4))
    assert torch.allclose(weight, expected_w, atol=1e-6) and torch.allclose(bias, expected_b, atol=1e-6)
    assert [p.shape for p in layer.scene_parameters(0)] == [torch.Size([4])]


@pytest.mark.parametrize("rank", [0, 1, 5])
def test_initialisation_reproduces_the_sampled_layer_for_every_scene(rank):
    target_w, target_b = torch.randn(3, 6) + 2.0, torch.randn(3)
    layer = SceneLinear(6, 3, num_scenes=2, rank=rank)
    layer.initialize(lambda: (target_w + 0.1 * torch.randn(3, 6), target_b.clone()) if rank else (target_w, target_b))
    for scene in range(2):
        w, b = layer.weight_and_bias(scene)
        reference = layer.weight_and_bias(0)[0]
        assert torch.allclose(w, reference, atol=1e-5)
        assert torch.allclose(b, target_b, atol=1e-5)


def test_invalid_arguments():
    with pytest.raises(ValueError):
        SceneLinear(2, 2, num_scenes=0, rank=1)
    with pytest.raises(ValueError):
        SceneLinear(2, 2, num_scenes=1, rank=-1)


@pytest.mark.parametrize("rank", [0, 3])
def test_meta_step_touches_only_shared_and_current_scene(rank):
    cfg = load("tiny", [f"multi_scene.rank={rank}"])
    module = MetaLearner(cfg, ["a", "b", "c"])
    optimizer = module.configure_optimizers()["optimizer"]
    n = 32
    c2w = torch.eye(4)
    c2w[2, 3] = -3.0
    batch = {
        "pixels": torch.rand(n, 2) * 32,
        "intrinsics": torch.tensor([[40.0, 0, 16], [0, 40, 16], [0, 0, 1]]).expand(n, 3, 3),
        "c2w": c2w.expand(n, 4, 4),
        "rgb": torch.rand(n, 3), "mask": torch.ones(n, 1), "view": torch.zeros(n, dtype=torch.long),
    }

    def step(scene):
        optimizer.zero_grad(set_to_none=True)
        module.training_step({**batch, "scene": torch.tensor(scene)}, 0).backward()
        optimizer.step()

    step(1)  # creates Adam moments for scene 1
    snapshot = {s: [p.detach().clone() for p in module.model.scene_parameters(s)] for s in range(3)}
    shared = [p.detach().clone() for p in module.model.shared_parameters()]
    step(0)
    def moved(now, before):
        return any(not torch.equal(p, q) for p, q in zip(now, before, strict=True))

    assert {s: moved(module.model.scene_parameters(s), snapshot[s]) for s in range(3)} == {0: True, 1: False, 2: False}
    assert moved(module.model.shared_parameters(), shared)


@pytest.mark.parametrize("rank", [0, 4])
def test_new_scene_initialisation_is_the_weighted_average_of_scene_layers(rank):
    from multi_neus.models.multi_neus import MultiNeuS
    from multi_neus.train import initial_scene_model

    cfg = load("tiny", [f"multi_scene.rank={rank}"])
    meta = MultiNeuS(cfg, 3)
    with torch.no_grad():
        for s in range(3):
            for p in meta.scene_parameters(s):
                p.add_(0.1 * torch.randn_like(p))
    x = torch.rand(20, 3) - 0.5
    one_hot = initial_scene_model(cfg, meta, torch.tensor([0.0, 0.0, 1.0]))
    assert torch.allclose(one_hot.sdf_net.sdf(x, 0), meta.sdf_net.sdf(x, 2), atol=1e-6)
    weights = torch.tensor([0.2, 0.5, 0.3])
    mixed = initial_scene_model(cfg, meta, weights)
    for got, *states in zip(mixed.scene_state(0), *(meta.scene_state(s) for s in range(3)), strict=True):
        assert torch.allclose(got, sum(w * t for w, t in zip(weights, states, strict=True)), atol=1e-6)
