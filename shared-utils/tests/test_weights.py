import pytest
import torch
from shared_utils.errors import InputError
from shared_utils.weights import (
    WeightsNotFoundError,
    find_weights,
    load_state_dict_file,
    load_weights_strict,
    torch_cache_checkpoints_dir,
)


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


class TestFindWeights:
    def test_cache_dir_honours_torch_home(self, torch_home):
        assert torch_cache_checkpoints_dir() == torch_home / "hub" / "checkpoints"

    def test_search_order(self, torch_home, tmp_path, monkeypatch):
        cache = torch_cache_checkpoints_dir()
        cache.mkdir(parents=True)
        (cache / "w.pth").write_bytes(b"cache")
        assert find_weights("w.pth", env_var="MY_WEIGHTS") == cache / "w.pth"
        env_dir = tmp_path / "env"
        env_dir.mkdir()
        (env_dir / "w.pth").write_bytes(b"env")
        monkeypatch.setenv("MY_WEIGHTS", str(env_dir))
        assert find_weights("w.pth", env_var="MY_WEIGHTS") == env_dir / "w.pth"
        monkeypatch.setenv("MY_WEIGHTS", str(env_dir / "w.pth"))
        assert find_weights("w.pth", env_var="MY_WEIGHTS") == env_dir / "w.pth"
        explicit = tmp_path / "explicit.pth"
        explicit.write_bytes(b"x")
        assert find_weights("w.pth", explicit=explicit, env_var="MY_WEIGHTS") == explicit

    def test_error_sentence(self, torch_home, monkeypatch):
        monkeypatch.delenv("MY_WEIGHTS", raising=False)
        expected = torch_home / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
        with pytest.raises(WeightsNotFoundError) as info:
            find_weights("vgg19-dcbb9e9d.pth", env_var="MY_WEIGHTS")
        assert str(info.value) == (
            f"pretrained weights 'vgg19-dcbb9e9d.pth' not found: put the file at {expected} "
            "(or set $MY_WEIGHTS to its path)"
        )
        with pytest.raises(WeightsNotFoundError, match=r"not found: put the file at .*vgg19-dcbb9e9d.pth$"):
            find_weights("vgg19-dcbb9e9d.pth")

    def test_wrong_explicit_or_env_is_an_error(self, torch_home, tmp_path, monkeypatch):
        with pytest.raises(WeightsNotFoundError, match="given path"):
            find_weights("w.pth", explicit=tmp_path / "nope.pth")
        monkeypatch.setenv("MY_WEIGHTS", str(tmp_path / "nope"))
        with pytest.raises(WeightsNotFoundError, match=r"from \$MY_WEIGHTS"):
            find_weights("w.pth", env_var="MY_WEIGHTS")


class TestLoadStateDict:
    def test_round_trip_and_key(self, tmp_path):
        module = torch.nn.Linear(3, 2)
        torch.save({"state_dict": module.state_dict(), "epoch": 3}, tmp_path / "ckpt.pth")
        state = load_state_dict_file(tmp_path / "ckpt.pth", key="state_dict")
        other = torch.nn.Linear(3, 2)
        load_weights_strict(other, state)
        torch.testing.assert_close(other.weight, module.weight)

    def test_exception(self, tmp_path):
        (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
        with pytest.raises(InputError, match="bad.pth' is corrupt"):
            load_state_dict_file(tmp_path / "bad.pth")
        with pytest.raises(WeightsNotFoundError, match="not found"):
            load_state_dict_file(tmp_path / "missing.pth")
        torch.save({"a": torch.zeros(1)}, tmp_path / "ok.pth")
        with pytest.raises(InputError, match="no entry 'state_dict'"):
            load_state_dict_file(tmp_path / "ok.pth", key="state_dict")
        torch.save([1, 2], tmp_path / "list.pth")
        with pytest.raises(InputError, match="not a state dict"):
            load_state_dict_file(tmp_path / "list.pth")


class TestLoadWeightsStrict:
    def test_strip_prefix(self):
        module = torch.nn.Linear(2, 2)
        state = {f"model.{k}": v for k, v in torch.nn.Linear(2, 2).state_dict().items()}
        load_weights_strict(module, state, strip_prefix="model.")
        torch.testing.assert_close(module.bias, state["model.bias"])

    def test_mismatch_names_keys(self):
        module = torch.nn.Linear(2, 2)
        with pytest.raises(InputError, match=r"1 missing keys \['bias'\], 1 unexpected keys \['extra'\]"):
            load_weights_strict(module, {"weight": torch.zeros(2, 2), "extra": torch.zeros(1)})
        with pytest.raises(InputError, match="size mismatch"):
            load_weights_strict(module, {"weight": torch.zeros(3, 2), "bias": torch.zeros(2)})
