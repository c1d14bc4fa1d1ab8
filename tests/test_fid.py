"""FID (eval/fid.py): the Fréchet distance on hand-computed cases, and the Inception feature network."""
import numpy as np
import pytest
import torch

from talkinglib.eval.fid import FIDInception, feature_stats, features, fid_inception, frechet_distance


def test_frechet_distance_of_hand_computed_gaussians():
    # 1-D: N(0, 4) vs N(3, 1): 3² + 4 + 1 − 2·√(4·1) = 10
    assert frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(10.0, abs=1e-12)
    # diagonal covariances: Σ_i (a_i − b_i)² with a = √diag(Σ1), b = √diag(Σ2); means 1 apart in one axis
    s1, s2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 4.0, 1.0])
    assert frechet_distance(np.zeros(3), s1, np.array([1.0, 0, 0]), s2) == pytest.approx(1 + 1 + 0 + 4, abs=1e-12)
    # a shifted copy of a sample: the covariances are equal, so FID = ‖shift‖²
    g = np.random.default_rng(0)
    f = g.normal(size=(200, 8))
    shift = g.normal(size=8)
    assert frechet_distance(*feature_stats(f), *feature_stats(f + shift)) == pytest.approx(shift @ shift, rel=1e-9)
    with pytest.raises(ValueError, match="shapes do not match"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


def test_fid_of_identical_sets_is_zero_and_of_different_sets_is_not():
    torch.manual_seed(0)
    net = fid_inception("random")
    g = torch.Generator().manual_seed(0)
    real = torch.rand(12, 3, 64, 64, generator=g) * 2 - 1
    f_real = features(net, real, batch_size=6)
    assert f_real.shape == (12, 2048)
    same = frechet_distance(*feature_stats(f_real), *feature_stats(features(net, real.clone(), batch_size=4)))
    other = frechet_distance(*feature_stats(f_real), *feature_stats(features(net, real.flip(-1) * 0.5)))
    assert abs(same) < 1e-6 * max(other, 1e-12) and other > 0


def test_the_network_has_pytorch_fids_layout_and_rejects_other_weights():
    """pytorch-fid loads its weights into torchvision's Inception3(num_classes=1008, aux_logits=False):
    the key set and shapes must be exactly that one."""
    from torchvision.models import inception_v3
    ref = inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False).state_dict()
    ours = FIDInception()
    assert {k: v.shape for k, v in ours.net.state_dict().items()} == {k: v.shape for k, v in ref.items()}
    ours.load_fid_state_dict(ref)                                          # loads as is
    bad = {k: v for k, v in ref.items() if not k.startswith("Mixed_7c")}
    with pytest.raises(ValueError, match="weights fetch inception_fid"):
        ours.load_fid_state_dict(bad)


def test_pretrained_weights_are_never_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("TALKINGLIB_HOME", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    from talkinglib.weights import WeightsError
    with pytest.raises(WeightsError, match="talkinglib weights fetch inception_fid"):
        fid_inception("pretrained")
