import torch
from conftest import tiny_transformer
from lvt.evaluate import fvd_sample_videos, primed_samples
from lvt.models.vqvae import VQVAE


def _tiny_pair():
    vqvae = VQVAE(hidden_channels=8, channels=8, res_channels=4, num_parts=2, codebook_size=5).eval()
    return tiny_transformer().float(), vqvae


def test_fvd_samples_one_video_per_real_one_when_the_count_is_not_a_multiple_of_the_batch():
    model, vqvae = _tiny_pair()
    codes = torch.randint(0, 5, (6, 4, 4, 4, 2))  # more cached test videos than FVD uses
    real = torch.randint(0, 256, (5, 4, 16, 16, 3), dtype=torch.uint8)
    videos = fvd_sample_videos(model, vqvae, codes, real, priming=1, batch_size=2, seed=0)
    assert videos.shape == real.shape
    assert torch.equal(videos[:, :1], real[:, :1])


def test_fvd_batches_are_the_samples_of_their_own_videos():
    model, vqvae = _tiny_pair()
    codes = torch.randint(0, 5, (3, 4, 4, 4, 2))
    real = torch.randint(0, 256, (3, 4, 16, 16, 3), dtype=torch.uint8)
    videos = fvd_sample_videos(model, vqvae, codes, real, priming=1, batch_size=2, seed=7)
    # the second batch (video 2 alone) is sampled with seed + 2 from its own primer
    alone = primed_samples(model, vqvae, codes[2:3], real[2:3], 1, seed=9)
    assert torch.equal(videos[2:], alone)
