"""Temporal Variance Masking (TVM): where a clip moves, as a binary mask, with no parameters.

Implements: RETA Appendix C.3, Algorithm 1, used by the motion term of L_rec (RETA Eq. 3):
    1  V        = Mean_C(Var_T(f))                        temporal variance, channel mean   (H, W)
    2  M_norm   = (V − min V) / (max V − min V)           min-max normalisation
    3  M_coarse = 1[M_norm > τ_init]
    4  M_ref    = Opening(M_coarse, k)                    erosion then dilation, k × k square
    5  M_smooth = GaussianBlur(M_ref, σ_g)
    6  M_res    = Resize(M_smooth, (H_out, W_out), bilinear)
    7  M_motion = 1[M_res > τ_final]                      (1, 1, H_out, W_out) in {0, 1}

Algorithm 1 writes Var_B over "a batch of feature maps": the batch is the clip's frames, so the
variance runs over time. `f` may be frames (T, 3, H, W) or any feature maps (T, C, H, W).
A clip that does not move at all has max V = min V; its mask is all zero (nothing moves),
not a division by zero.

    mask = temporal_variance_mask(frames)                     # frames (T, 3, H, W) -> (1, 1, H, W)
    mask = temporal_variance_mask(frames, TVMConfig(out_size=(256, 256)))
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class TVMConfig:
    tau_init: float = 0.1            # τ_init on the normalised variance (RETA gives no values;
    kernel: int = 3                  # these are ours: a 3×3 opening, σ_g = 1 px at 64²)
    sigma: float = 1.0               # σ_g of the Gaussian blur, in input pixels
    tau_final: float = 0.5           # τ_final after the blur and resize
    out_size: tuple | None = None    # (H_out, W_out); None keeps the input size


def gaussian_kernel1d(sigma, radius=None):
    """Normalised 1-D Gaussian taps (2r + 1,), r = round(3σ) (at least 1)."""
    r = int(radius if radius is not None else max(1, round(3 * sigma)))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(m, sigma):
    """Separable Gaussian blur of (N, 1, H, W), replicate padding (no darkening at the border)."""
    k = gaussian_kernel1d(sigma).to(m)
    r = len(k) // 2
    m = F.conv2d(F.pad(m, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(m, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))


def opening(m, k):
    """Morphological opening of a binary (N, 1, H, W) map with a k × k square: erosion (min) then
    dilation (max). Removes clusters smaller than the square; keeps the shape of larger ones."""
    if k <= 1:
        return m
    pad_lo, pad_hi = (k - 1) // 2, k // 2                     # an even k still gives an H × W output
    eroded = -F.max_pool2d(F.pad(-m, (pad_lo, pad_hi, pad_lo, pad_hi), value=-1.0), k, stride=1)   # outside = 1
    return F.max_pool2d(F.pad(eroded, (pad_hi, pad_lo, pad_hi, pad_lo), value=0.0), k, stride=1)


@torch.no_grad()
def temporal_variance_mask(f, cfg: TVMConfig = TVMConfig()):
    """Algorithm 1: f (T, C, H, W), T >= 2 -> M_motion (1, 1, H_out, W_out) float in {0, 1}."""
    if f.dim() != 4 or f.shape[0] < 2:
        raise ValueError(f"TVM needs a sequence of at least 2 maps (T, C, H, W); got {tuple(f.shape)}")
    if not (0 <= cfg.tau_init <= 1 and 0 <= cfg.tau_final <= 1) or cfg.sigma <= 0:
        raise ValueError(f"TVM thresholds must lie in [0, 1] and σ_g > 0; got {cfg}")
    V = f.float().var(0, unbiased=False).mean(0)                # 1: (H, W)
    span = V.max() - V.min()
    if span <= 0:                                               # a still clip: nothing moves
        size = cfg.out_size or tuple(V.shape)
        return V.new_zeros(1, 1, *size)
    m = ((V - V.min()) / span)[None, None]                      # 2: (1, 1, H, W) in [0, 1]
    m = (m > cfg.tau_init).float()                              # 3
    m = opening(m, cfg.kernel)                                  # 4
    m = gaussian_blur(m, cfg.sigma)                             # 5
    if cfg.out_size is not None and tuple(cfg.out_size) != tuple(m.shape[-2:]):
        m = F.interpolate(m, size=tuple(cfg.out_size), mode="bilinear", align_corners=False)   # 6
    return (m > cfg.tau_final).float()                          # 7


def clip_masks(frames, cfg: TVMConfig = TVMConfig()):
    """One mask per clip of a batch of windows: frames (B, T, C, H, W) -> (B, 1, H_out, W_out)."""
    return torch.cat([temporal_variance_mask(x, cfg) for x in frames])
