import torch

from npbgpp.models.sampling import sample_bilinear


def test_pixel_centres_return_pixel_values():
    features = torch.randn(4, 6, 7)
    rows, cols = torch.meshgrid(torch.arange(6), torch.arange(7), indexing="ij")
    uv = torch.stack([cols.flatten() + 0.5, rows.flatten() + 0.5], dim=1).float()
    torch.testing.assert_close(sample_bilinear(features, uv), features.flatten(1).T)


def test_between_centres_is_bilinear():
    features = torch.randn(2, 5, 5)
    u, v = 2.5 + 0.3, 1.5 + 0.8  # between columns 2, 3 and rows 1, 2
    expected = ((1 - 0.3) * (1 - 0.8) * features[:, 1, 2] + 0.3 * (1 - 0.8) * features[:, 1, 3]
                + (1 - 0.3) * 0.8 * features[:, 2, 2] + 0.3 * 0.8 * features[:, 2, 3])
    torch.testing.assert_close(sample_bilinear(features, torch.tensor([[u, v]]))[0], expected)
