"""FID: the Fréchet distance between Inception pool3 features of real and generated frames.

Implements: the FID both papers report (EDTalk Tab. 1; RETA D.4.1, RETA Eq. 11), Heusel et al. 2017:
    FID = ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^{1/2})
with μ, Σ the mean (2048,) and covariance (2048, 2048) of the 2048-d pool3 features.

The feature network is the Inception-v3 of pytorch-fid (the TensorFlow 2015-12-05 graph ported
to torchvision's Inception3 layout, 1008 classes). It differs from torchvision's own network in
its pooling only: the average pools of Mixed_5*, Mixed_6b-e and Mixed_7b exclude the padding
from the mean, and Mixed_7c's pool branch takes the maximum. Inputs are resized to 299² with
bilinear interpolation (no antialias) and stay in [-1, 1], as pytorch-fid feeds them.

    net = fid_inception("random")                  # offline architecture; "pretrained": the registry entry
    fid = frechet_distance(*feature_stats(net, real), *feature_stats(net, fake))
    fid_between(real, fake)                        # the same, with the registry's weights

Weights come only from the registry (`talkinglib weights fetch inception_fid`); numbers computed
with random weights are not FIDs and are only good for tests.
"""
import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models import inception as tv

FEATURE_DIM = 2048


def _avg_pool_excluding_pad(x):
    """Average pool 3×3, stride 1, padding 1, averaging over the real (non-padding) pixels only."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(tv.InceptionA):
    def _forward(self, x):
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return [self.branch1x1(x), b5, b3, self.branch_pool(_avg_pool_excluding_pad(x))]


class FIDInceptionC(tv.InceptionC):
    def _forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for i in range(1, 6):
            d = getattr(self, f"branch7x7dbl_{i}")(d)
        return [self.branch1x1(x), b7, d, self.branch_pool(_avg_pool_excluding_pad(x))]


class FIDInceptionE(tv.InceptionE):
    """Mixed_7b (pool="avg", padding excluded) and Mixed_7c (pool="max")."""

    def __init__(self, in_channels, pool="avg", conv_block=None):
        super().__init__(in_channels, conv_block)
        self.pool = pool

    def _forward(self, x):
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        d = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)
        pooled = (F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.pool == "max"
                  else _avg_pool_excluding_pad(x))
        return [self.branch1x1(x), b3, d, self.branch_pool(pooled)]


class FIDInception(torch.nn.Module):
    """images (N, 3, H, W) in [-1, 1] -> pool3 features (N, 2048)."""

    def __init__(self):
        super().__init__()
        self.net = tv.Inception3(num_classes=1008, aux_logits=False, init_weights=False,
                                 inception_blocks=[tv.BasicConv2d, FIDInceptionA, tv.InceptionB, FIDInceptionC,
                                                   tv.InceptionD, FIDInceptionE, tv.InceptionAux])
        self.net.Mixed_7c = FIDInceptionE(2048, pool="max")

    def load_fid_state_dict(self, state):
        missing, unexpected = self.net.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"not pytorch-fid's Inception weights: {len(missing)} missing keys "
                             f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]}). "
                             "Fetch the right file with `talkinglib weights fetch inception_fid`.")
        return self

    def forward(self, x):
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"images must be (N, 3, H, W) in [-1, 1]; got {tuple(x.shape)}")
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        n = self.net
        for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
                     "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b",
                     "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(n, name)(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)                     # (N, 2048) pool3


def fid_inception(weights="pretrained"):
    """The feature network in eval mode: weights "pretrained" (registry entry inception_fid, local
    file only) or "random" (the architecture, for tests and offline timing)."""
    net = FIDInception()
    if weights == "pretrained":
        from talkinglib import weights as registry
        net.load_fid_state_dict(registry.load("inception_fid"))
    elif weights != "random":
        raise ValueError(f"weights must be 'pretrained' or 'random', got {weights!r}")
    return net.eval()


@torch.no_grad()
def features(net, images, batch_size=50):
    """images (N, 3, H, W) in [-1, 1] -> (N, 2048) float64 numpy."""
    dev = next(net.parameters()).device
    return np.concatenate([net(images[i:i + batch_size].to(dev)).double().cpu().numpy()
                           for i in range(0, len(images), batch_size)])


def feature_stats(net_or_features, images=None):
    """(μ (F,), Σ (F, F)) of features (N, F), or of the network's features of images."""
    f = net_or_features if images is None else features(net_or_features, images)
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"need at least 2 feature vectors (N, F) for a covariance; got shape {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False)


def _sqrtm_psd_product(s1, s2):
    """Tr((Σ1 Σ2)^{1/2}) through the symmetric form (Σ1^{1/2} Σ2 Σ1^{1/2})^{1/2}: the same
    eigenvalues, computed with symmetric eigendecompositions (no complex parts, stable when
    N < F leaves both covariances singular)."""
    w, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T                       # Σ1^{1/2}
    m = r1 @ s2 @ r1
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    return np.sqrt(np.clip(ev, 0, None)).sum()


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """‖μ1 − μ2‖² + Tr(Σ1) + Tr(Σ2) − 2 Tr((Σ1 Σ2)^{1/2})  (a float ≥ 0 up to rounding)."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"shapes do not match: μ {mu1.shape} / {mu2.shape}, Σ {sigma1.shape} / {sigma2.shape}")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * _sqrtm_psd_product(sigma1, sigma2))


def fid_between(real, fake, net=None, batch_size=50):
    """FID of two image sets (N, 3, H, W) in [-1, 1] (with the registry's Inception unless net is given)."""
    net = net or fid_inception("pretrained")
    return frechet_distance(*feature_stats(features(net, real, batch_size)),
                            *feature_stats(features(net, fake, batch_size)))
