import numpy as np
import pytest
import torch
from shared_utils.errors import InputError
from shared_utils.io import load_arrays, load_checkpoint
from shared_utils.testing import npz_file, pickled_npy, text_as, truncated_copy, with_nan, zero_byte


class TestLoadCheckpoint:
    def test_roundtrip(self, tmp_path):
        torch.save({"state_dict": {"w": torch.ones(2)}, "global_step": 3}, tmp_path / "a.ckpt")
        data = load_checkpoint(tmp_path / "a.ckpt")
        assert data["global_step"] == 3 and torch.equal(data["state_dict"]["w"], torch.ones(2))

    @pytest.mark.parametrize("case", ["missing", "zero", "text", "truncated", "folder", "not-a-dict"])
    def test_exceptions(self, tmp_path, case):
        good = tmp_path / "good.ckpt"
        torch.save({"state_dict": {"w": torch.ones(1000)}}, good)
        path = {
            "missing": lambda: tmp_path / "absent.ckpt",
            "zero": lambda: zero_byte(tmp_path, "z.ckpt"),
            "text": lambda: text_as(tmp_path, "t.ckpt"),
            "truncated": lambda: truncated_copy(good, tmp_path),
            "folder": lambda: tmp_path,
            "not-a-dict": lambda: (torch.save(torch.ones(1), tmp_path / "t.pt"), tmp_path / "t.pt")[1],
        }[case]()
        with pytest.raises(InputError, match=str(path.name)):
            load_checkpoint(path)


class TestLoadArrays:
    def test_npz_and_npy(self, tmp_path):
        arrays = load_arrays(npz_file(tmp_path, "a.npz", depth=np.zeros((2, 3)), c2w=np.eye(4)[None]),
                             required=("depth", "c2w"))
        assert arrays["depth"].shape == (2, 3)
        np.save(tmp_path / "b.npy", np.arange(3.0))
        assert np.array_equal(load_arrays(tmp_path / "b.npy")["array"], np.arange(3.0))

    @pytest.mark.parametrize("case, mention", [
        ("zero", "empty"), ("text", "could not be read"), ("pickled", "pickled"), ("missing-key", "lacks c2w"),
        ("nan", "NaN"),
    ])
    def test_exceptions(self, tmp_path, case, mention):
        path = {
            "zero": lambda: zero_byte(tmp_path, "z.npz"),
            "text": lambda: text_as(tmp_path, "t.npz"),
            "pickled": lambda: pickled_npy(tmp_path),
            "missing-key": lambda: npz_file(tmp_path, "m.npz", depth=np.zeros(2)),
            "nan": lambda: npz_file(tmp_path, "n.npz", depth=with_nan(np.zeros(4)), c2w=np.eye(4)),
        }[case]()
        with pytest.raises(InputError, match=mention):
            load_arrays(path, required=("depth", "c2w") if case == "missing-key" else ())
