import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from shared_utils.errors import InputError
from shared_utils.runtime import seed_everything, select_device, use_threads


class TestSeedEverything:
    def test_reproducible(self):
        seed_everything(3)
        first = (random.random(), np.random.rand(), torch.rand(1).item())
        seed_everything(3)
        assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


class TestUseThreads:
    @pytest.fixture(autouse=True)
    def restore(self):
        before = torch.get_num_threads()
        yield
        torch.set_num_threads(before)

    def test_values(self):
        use_threads(1)
        assert torch.get_num_threads() == 1
        use_threads(2)
        assert torch.get_num_threads() == 2

    def test_zero_keeps_the_current_count(self):
        use_threads(1)
        use_threads(0)
        assert torch.get_num_threads() == 1

    @pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
    def test_exception(self, bad):
        with pytest.raises(InputError, match="num_threads must be a whole number"):
            use_threads(bad)


class TestSpinPolicy:
    def test_set_before_torch_loads_unless_the_user_chose(self):
        code = "import os, shared_utils, torch; print(os.environ.get('GOMP_SPINCOUNT'))"
        env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "1000"
        out = subprocess.run([sys.executable, "-c", code], env={**env, "OMP_WAIT_POLICY": "ACTIVE"},
                             capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "None"


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
