import random

import numpy as np
import pytest
import torch
from shared_utils.errors import InputError
from shared_utils.runtime import seed_everything, select_device


class TestSeedEverything:
    def test_reproducible(self):
        seed_everything(3)
        first = (random.random(), np.random.rand(), torch.rand(1).item())
        seed_everything(3)
        assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


class TestSelectDevice:
    def test_cpu(self):
        assert select_device("cpu") == torch.device("cpu")
        assert select_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")

    @pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
    def test_cuda_without_gpu(self):
        with pytest.raises(InputError, match="no CUDA GPU"):
            select_device("cuda")

    def test_invalid(self):
        with pytest.raises(InputError, match="not a valid torch device"):
            select_device("gpu0")
