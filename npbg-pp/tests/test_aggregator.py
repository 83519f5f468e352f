import itertools

import pytest
import torch

from npbgpp.models.aggregator import AggregationState, HarmonicBasis, evaluate_descriptors


def batch_ridge(basis_rows, samples, alpha):
    """Independent solution of eq. 4-5 for one point: beta0 = mean y; beta from the augmented least-squares system
    [H; sqrt(alpha) I] beta = [y - beta0; 0], whose normal equations are those of
    sum ||H beta - (y - beta0)||^2 + alpha ||beta||^2."""
    beta0 = samples.mean(0)
    m = basis_rows.shape[1]
    design = torch.cat([basis_rows, alpha**0.5 * torch.eye(m, dtype=basis_rows.dtype)])
    rhs = torch.cat([samples - beta0, torch.zeros(m, samples.shape[1], dtype=samples.dtype)])
    beta = torch.linalg.lstsq(design, rhs).solution
    return beta, beta0


def make_observations(num_points=7, num_views=6, m=6, c=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    observations = []  # per view: (point ids, basis rows, samples)
    for _ in range(num_views):
        ids = torch.nonzero(torch.rand(num_points, generator=generator) < 0.7).flatten()
        ids = ids[ids != num_points - 1]  # the last point is never seen
        observations.append((ids, torch.randn(len(ids), m, generator=generator, dtype=torch.float64),
                             torch.randn(len(ids), c, generator=generator, dtype=torch.float64)))
    return observations


def online(observations, num_points, m, c, order, chunk):
    state = AggregationState.zeros(num_points, m, c, dtype=torch.float64)
    for view in order:
        ids, basis, samples = observations[view]
        for start in range(0, len(ids), chunk):
            part = slice(start, start + chunk)
            state = state.update(ids[part], basis[part], samples[part])
    return state.solve(alpha=1.0)


@pytest.mark.parametrize("order,chunk", [((0, 1, 2, 3, 4, 5), 100), ((5, 3, 1, 0, 2, 4), 1), ((2, 4, 0, 5, 1, 3), 2)])
def test_online_equals_batch_ridge(order, chunk):
    num_points, m, c = 7, 6, 4
    observations = make_observations(num_points, 6, m, c)
    beta, beta0, seen = online(observations, num_points, m, c, order, chunk)
    assert not bool(seen[-1]) and int(seen.sum()) == beta.shape[0]
    for row, point in enumerate(torch.nonzero(seen).flatten().tolist()):
        rows, samples = [], []
        for ids, basis, values in observations:
            mask = ids == point
            rows.append(basis[mask])
            samples.append(values[mask])
        expected_beta, expected_beta0 = batch_ridge(torch.cat(rows), torch.cat(samples), 1.0)
        torch.testing.assert_close(beta0[row], expected_beta0)
        torch.testing.assert_close(beta[row], expected_beta, rtol=1e-8, atol=1e-10)


def test_result_is_independent_of_view_order():
    observations = make_observations(seed=3)
    orders = itertools.islice(itertools.permutations(range(6)), 0, 720, 97)
    results = [online(observations, 7, 6, 4, order, 3) for order in orders]
    for beta, beta0, _ in results[1:]:
        torch.testing.assert_close(beta, results[0][0])
        torch.testing.assert_close(beta0, results[0][1])


def test_repeated_point_ids_in_one_update_accumulate():
    state = AggregationState.zeros(2, 2, 1, dtype=torch.float64)
    state = state.update(torch.tensor([0, 0, 1]), torch.ones(3, 2, dtype=torch.float64),
                         torch.tensor([[1.0], [3.0], [5.0]], dtype=torch.float64))
    assert state.count.tolist() == [2.0, 1.0]
    assert state.sum_y[:, 0].tolist() == [4.0, 5.0]


def test_state_size_does_not_grow_with_views():
    state = AggregationState.zeros(5, 6, 3)
    sizes = []
    for _ in range(4):
        state = state.update(torch.arange(5), torch.randn(5, 6), torch.randn(5, 3))
        sizes.append(sum(t.numel() for t in vars(state).values()))
    assert len(set(sizes)) == 1


def test_descriptor_is_linear_in_basis():
    basis = torch.randn(4, 6)
    beta, beta0 = torch.randn(4, 6, 8), torch.randn(4, 8)
    expected = torch.stack([basis[i] @ beta[i] + beta0[i] for i in range(4)])
    torch.testing.assert_close(evaluate_descriptors(basis, beta, beta0), expected)


def test_harmonic_basis_shapes_and_frequencies():
    module = HarmonicBasis(6, (16, 16), 3)
    assert module.mlp[0].in_features == 18 and module.mlp[-1].out_features == 6
    directions = torch.nn.functional.normalize(torch.randn(10, 3), dim=-1)
    embedded = module.embed(directions)
    torch.testing.assert_close(embedded[:, 0:3], torch.sin(torch.pi / 2 * directions))
    torch.testing.assert_close(embedded[:, 3:6], torch.sin(torch.pi * directions))
    torch.testing.assert_close(embedded[:, 9:12], torch.cos(torch.pi / 2 * directions))
    assert module(directions).shape == (10, 6)


def test_solve_is_differentiable():
    def coefficients(samples):
        state = AggregationState.zeros(2, 3, 2, dtype=torch.float64)
        basis = torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(4, 3)
        state = state.update(torch.tensor([0, 0, 1, 1]), basis, samples)
        beta, beta0, _ = state.solve(1.0)
        return beta.sum() + (beta0**2).sum()

    samples = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(coefficients, (samples,))
