import lpips
import pytest
import torch
import torchvision
from shared_utils.metrics import LPIPS, lpips_unavailable_reason
from shared_utils.weights import WeightsNotFoundError


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("LPIPS_BACKBONE_WEIGHTS", raising=False)
    return tmp_path / "torch"


@pytest.fixture(scope="module")
def fake_alexnet_home(tmp_path_factory):
    """A torch cache holding a randomly initialised torchvision AlexNet under torchvision's file name."""
    home = tmp_path_factory.mktemp("torch_home")
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(0)
    model = torchvision.models.alexnet(weights=None)
    torch.save(model.state_dict(), checkpoints / "alexnet-owt-7be5be79.pth")
    return home, model


class TestLPIPS:
    @pytest.mark.parametrize("net, filename", [("vgg", "vgg16-397923af.pth"), ("alex", "alexnet-owt-7be5be79.pth")])
    def test_missing_backbone_raises(self, empty_torch_home, net, filename):
        with pytest.raises(WeightsNotFoundError, match=f"'{filename}' not found: put the file at .*{filename}"):
            LPIPS(net)
        assert filename in lpips_unavailable_reason(net)

    def test_loads_backbone_from_env_var(self, fake_alexnet_home, monkeypatch, tmp_path):
        home, alexnet = fake_alexnet_home
        state = alexnet.state_dict()
        monkeypatch.setenv("TORCH_HOME", str(tmp_path))
        monkeypatch.setenv("LPIPS_BACKBONE_WEIGHTS", str(home / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"))
        assert lpips_unavailable_reason("alex") is None
        metric = LPIPS("alex")
        loaded = metric.model.net.state_dict()
        assert len(loaded) == 10  # the five conv layers of AlexNet's features
        for key, value in loaded.items():
            torch.testing.assert_close(value, state["features." + key.split(".", 1)[1]])
        images = torch.rand(2, 3, 3, 32, 32)
        distance = metric(images, images.flip(-1))
        assert distance.shape == (2, 3)
        assert (distance > 0).all()
        torch.testing.assert_close(metric(images, images), torch.zeros(2, 3))
        assert not metric.train().model.training  # dropout stays off

    def test_vgg_backbone_loaded_from_torch_cache(self, empty_torch_home):
        """The default VGG path: torchvision's file name and key layout in the torch cache."""
        torch.manual_seed(1)
        # torchvision's own VGG16 feature builder; the classifier (90% of the 528 MB file) is never read.
        features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
        state = {f"features.{k}": v for k, v in features.state_dict().items()}
        checkpoints = empty_torch_home / "hub" / "checkpoints"
        checkpoints.mkdir(parents=True)
        torch.save(state, checkpoints / "vgg16-397923af.pth")
        metric = LPIPS()
        for key, value in metric.model.net.state_dict().items():
            torch.testing.assert_close(value, state["features." + key.split(".", 1)[1]])
        pred = torch.rand(1, 3, 16, 16, requires_grad=True)
        metric(pred, torch.rand(1, 3, 16, 16)).sum().backward()
        assert pred.grad is not None

    def test_wrong_file_is_an_error(self, tmp_path):
        torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "alexnet-owt-7be5be79.pth")
        with pytest.raises(ValueError, match="missing keys"):
            LPIPS("alex", weights=tmp_path / "alexnet-owt-7be5be79.pth")

    def test_matches_lpips_package(self, fake_alexnet_home, monkeypatch):
        """Same numbers as the lpips package building its own network around the same torchvision AlexNet."""
        home, alexnet = fake_alexnet_home
        metric = LPIPS("alex", weights=home / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth")
        monkeypatch.setattr(lpips.pretrained_networks.tv, "alexnet", lambda **kwargs: alexnet)
        reference = lpips.LPIPS(net="alex", pretrained=True, verbose=False)
        pred, target = torch.rand(2, 3, 3, 40, 40), torch.rand(2, 3, 3, 40, 40)
        expected = reference(pred.flatten(0, 1), target.flatten(0, 1), normalize=True).reshape(2, 3)
        torch.testing.assert_close(metric(pred, target), expected)
