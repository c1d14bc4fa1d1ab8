"""VGG19 perceptual loss (EDTalk Eq. 5): hand-computed values, invariants, and the real ImageNet
loading path exercised offline with a torchvision state dict saved under the registry's file name."""
import warnings

import pytest
import torch

from talkinglib import weights as W
from talkinglib.losses.perceptual import (PerceptualConfig, VGGPerceptual, antialias_downsample,
                                          perceptual_loss, vgg19_layer_names)

SMALL = PerceptualConfig(scales=(1.0,))          # 32² images: relu5_1 is 2×2


def images(seed, B=2, size=32):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, 3, size, size, generator=g) * 2 - 1          # (B, 3, H, W) in [-1, 1]


def test_perceptual_loss_by_hand():
    real = [torch.zeros(1, 1, 2, 2), torch.tensor([1.0, -1.0]).view(1, 2, 1, 1)]
    fake = [torch.ones(1, 1, 2, 2), torch.tensor([-2.0, 0.0]).view(1, 2, 1, 1)]
    # l2: 0.5·mean(1²) + 2·mean(3², 1²) = 0.5 + 2·5 = 10.5;  l1: 0.5·1 + 2·mean(3, 1) = 4.5
    assert perceptual_loss(real, fake, (0.5, 2.0)).item() == pytest.approx(10.5)
    assert perceptual_loss(real, fake, (0.5, 2.0), criterion="l1").item() == pytest.approx(4.5)
    with pytest.raises(ValueError, match="one weight per layer"):
        perceptual_loss(real, fake, (1.0,))


def test_layer_names_follow_torchvision():
    names = vgg19_layer_names()
    assert (names[1], names[6], names[11], names[20], names[29]) == ("relu1_1", "relu2_1", "relu3_1",
                                                                      "relu4_1", "relu5_1")
    assert (names[3], names[8], names[17], names[26], names[35], names[36]) == (
        "relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4", "pool5")


def test_zero_for_identical_positive_for_different():
    vgg = VGGPerceptual(SMALL)
    a, b = images(0), images(1)
    assert vgg.loss(a, a.clone()).item() == 0.0
    assert vgg.loss(a, b).item() > 0


def test_gradients_reach_the_fake_image_only():
    vgg = VGGPerceptual(SMALL)
    real, fake = images(0).requires_grad_(), images(1).requires_grad_()
    vgg(real, fake).backward()
    assert real.grad is None
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training                                          # a frozen extractor stays in eval


def test_random_init_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a, b = VGGPerceptual(SMALL), VGGPerceptual(SMALL)
    assert torch.equal(torch.rand(3), before)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert len(a.features) == 30                                     # truncated after relu5_1


def test_pyramid():
    x = torch.full((1, 3, 32, 32), 0.3)
    y = antialias_downsample(x, 0.25)
    assert y.shape == (1, 3, 8, 8)
    torch.testing.assert_close(y[..., 2:-2, 2:-2], x[..., :4, :4])   # blur keeps constants (interior)
    one, two = VGGPerceptual(SMALL), VGGPerceptual(PerceptualConfig(scales=(1.0, 0.5)))
    a, b = images(0), images(1)
    half = one.loss(antialias_downsample(a, 0.5), antialias_downsample(b, 0.5))
    torch.testing.assert_close(two.loss(a, b), one.loss(a, b) + half)   # the loss sums over scales
    with pytest.raises(ValueError, match="needs ≥ 16px"):
        two.loss(images(0, size=16), images(1, size=16))                # 16·0.5 = 8 < 16 for relu5_1


def test_bad_inputs_teach():
    with pytest.raises(ValueError, match="unknown VGG19 layers"):
        VGGPerceptual(PerceptualConfig(layers=("relu6_1",), layer_weights=(1.0,)))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        VGGPerceptual(SMALL).loss(images(0), images(1, size=16))


def test_presets():
    tiny = VGGPerceptual.for_preset("tiny")
    assert tiny.cfg.weights == "random" and tiny.cfg.scales == (1.0,)
    assert tiny.cfg.layers[-1] == "relu3_1" and len(tiny.features) == 12          # cut after relu3_1
    full = VGGPerceptual.for_preset("full", weights="random")
    assert full.cfg.scales == (1.0, 0.5, 0.25, 0.125) and full.cfg.criterion == "l2"


@pytest.fixture
def vgg_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TALKINGLIB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "home"


def test_imagenet_missing_raises_or_falls_back(vgg_home):
    with pytest.raises(W.WeightsNotFoundError, match="talkinglib weights fetch vgg19"):
        VGGPerceptual(PerceptualConfig(weights="imagenet"))
    with pytest.warns(UserWarning, match="random features"):
        vgg = VGGPerceptual.from_registry(SMALL, offline_ok=True)
    assert vgg.cfg.weights == "random"


def test_imagenet_loads_a_torchvision_state_dict_offline(vgg_home):
    """The real loading path: torchvision's vgg19 state dict, saved under the registry's name."""
    import torchvision
    tv = torchvision.models.vgg19(weights=None).eval()
    vgg_home.mkdir(parents=True)
    torch.save(tv.state_dict(), vgg_home / W.REGISTRY["vgg19"].filename)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                # no fallback warning this time
        vgg = VGGPerceptual.from_registry(SMALL)
    assert vgg.cfg.weights == "imagenet"
    x = images(0)
    h, ref = ((x + 1) / 2 - vgg.mean) / vgg.std, []
    with torch.no_grad():
        for i, layer in enumerate(tv.features[:30]):
            h = layer(h)
            if i in (1, 6, 11, 20, 29):
                ref.append(h.clone())
        ours = vgg.vgg_features(x)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b)
