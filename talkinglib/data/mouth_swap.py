"""Mouth superimposition from landmarks: I^{m_a}_{p_b}, frame b wearing the mouth of frame a.

Implements: EDTalk §3.2 "Mouth-Pose Decouple" (the synthesized images of switched mouths,
Fig. 2 (b) and Fig. A9). Cross-reconstruction feeds I^{m_a}_{p_b} to the encoder so that the
mouth navigation module must read a's mouth and the pose module b's head.

How (batched, differentiable only in the images):
1. Align a's face to b's with a similarity transform fitted on landmarks that a mouth does not
   move (eye corners and the nose), so a's open mouth is not shrunk to fit b's closed one.
2. Warp frame a into b's frame with that transform (grid_sample).
3. Paste with a soft elliptical mask that covers both mouths (b's own, and a's after warping)
   and the chin below them, which a jaw opening moves.

Landmarks are the 68-point layout in pixels of the image (x right, y down, 0 at the left/top
edge, `size` at the right/bottom edge), as SynthTalk's meta.json stores them.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# indices into the 68-point layout
ANCHORS = (27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45)   # nose bridge and base, eye corners
OUTER_LIPS = slice(48, 60)
CHIN = (6, 7, 8, 9, 10)


@dataclass(frozen=True)
class MouthSwapConfig:
    margin: float = 1.35       # the mask's ellipse axes, relative to the lips' half extent
    chin_reach: float = 0.6    # how far the ellipse reaches down toward the chin (0 = lips only)
    feather: float = 0.18      # soft edge width, relative to the ellipse (0 = hard edge)


def similarity_fit(src, dst):
    """Least-squares similarity (rotation, uniform scale, translation) with dst ≈ s R src + t.

    src, dst: (B, N, 2). Returns A (B, 2, 3) such that dst ≈ A @ [src; 1] (Umeyama, no reflection).
    """
    mu_s, mu_d = src.mean(1, keepdim=True), dst.mean(1, keepdim=True)       # (B, 1, 2)
    xs, xd = src - mu_s, dst - mu_d
    # for 2D, the optimal similarity is z_d = c z_s in complex numbers: c = Σ conj(z_s) z_d / Σ |z_s|²
    zs = torch.complex(xs[..., 0], xs[..., 1])                              # (B, N)
    zd = torch.complex(xd[..., 0], xd[..., 1])
    c = (zs.conj() * zd).sum(1) / (zs.abs() ** 2).sum(1).clamp_min(1e-12)   # (B,)
    a, b = c.real, c.imag                                                   # s cosθ, s sinθ
    R = torch.stack([torch.stack([a, -b], -1), torch.stack([b, a], -1)], -2)  # (B, 2, 2)
    t = mu_d.squeeze(1) - (R @ mu_s.transpose(1, 2)).squeeze(-1)           # (B, 2)
    return torch.cat([R, t[..., None]], -1)


def _apply(A, pts):
    """A (B, 2, 3), pts (B, N, 2) -> (B, N, 2)."""
    return pts @ A[:, :, :2].transpose(1, 2) + A[:, None, :, 2]


def mouth_mask(lips, chin, size, cfg: MouthSwapConfig):
    """A soft ellipse (B, 1, size, size) in [0, 1] around lips (B, 12, 2), stretched toward chin (B, 5, 2)."""
    lo, hi = lips.min(1).values, lips.max(1).values                         # (B, 2)
    centre = (lo + hi) / 2
    half = (hi - lo) / 2 * cfg.margin
    # reach down toward the chin: move the centre and grow the vertical axis
    drop = ((chin[..., 1].mean(1) - hi[:, 1]).clamp_min(0) * cfg.chin_reach)  # (B,)
    centre = centre + torch.stack([torch.zeros_like(drop), drop / 2], -1)
    half = half + torch.stack([torch.zeros_like(drop), drop / 2], -1)
    half = half.clamp_min(1.0)
    coords = torch.arange(size, dtype=lips.dtype, device=lips.device) + 0.5  # pixel centres
    dx = (coords[None, None, :] - centre[:, 0, None, None]) / half[:, 0, None, None]
    dy = (coords[None, :, None] - centre[:, 1, None, None]) / half[:, 1, None, None]
    r = torch.sqrt(dx ** 2 + dy ** 2)                                       # (B, H, W), 1 on the ellipse
    if cfg.feather <= 0:
        return (r <= 1).to(lips.dtype)[:, None]
    return ((1 + cfg.feather - r) / (2 * cfg.feather)).clamp(0, 1)[:, None]


def superimpose_mouth(img_a, lm_a, img_b, lm_b, cfg: MouthSwapConfig = MouthSwapConfig()):
    """I^{m_a}_{p_b}: frame b with the mouth region of frame a pasted in.

    img_a, img_b: (B, 3, H, W) in [-1, 1], square; lm_a, lm_b: (B, 68, 2) pixels.
    Returns (image (B, 3, H, W), mask (B, 1, H, W)), the mask being where a's pixels were used.
    """
    if img_a.shape != img_b.shape or img_a.dim() != 4 or img_a.shape[-1] != img_a.shape[-2]:
        raise ValueError(f"expected two (B, 3, S, S) image batches of one shape, got {tuple(img_a.shape)} "
                         f"and {tuple(img_b.shape)}")
    if lm_a.shape != (img_a.shape[0], 68, 2) or lm_b.shape != lm_a.shape:
        raise ValueError(f"expected landmarks (B, 68, 2) in pixels, got {tuple(lm_a.shape)} and {tuple(lm_b.shape)}")
    S = img_a.shape[-1]
    lm_a, lm_b = lm_a.to(img_a.dtype), lm_b.to(img_a.dtype)
    anchors = list(ANCHORS)
    A_ba = similarity_fit(lm_b[:, anchors], lm_a[:, anchors])     # b's pixels -> a's pixels
    A_ab = similarity_fit(lm_a[:, anchors], lm_b[:, anchors])     # a's pixels -> b's pixels
    # grid_sample works in normalised coordinates x_n = 2 x / S - 1 (align_corners=False)
    to_n = torch.tensor([[2 / S, 0, -1], [0, 2 / S, -1], [0, 0, 1]], dtype=img_a.dtype, device=img_a.device)
    from_n = torch.linalg.inv(to_n)
    A3 = torch.cat([A_ba, A_ba.new_tensor([0, 0, 1]).expand(A_ba.shape[0], 1, 3)], 1)
    theta = (to_n @ A3 @ from_n)[:, :2]                                    # (B, 2, 3) normalised b -> a
    grid = F.affine_grid(theta, list(img_a.shape), align_corners=False)
    a_in_b = F.grid_sample(img_a, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # the mask covers both mouths, a's mapped into b's frame
    lips = torch.cat([lm_b[:, OUTER_LIPS], _apply(A_ab, lm_a[:, OUTER_LIPS])], 1)   # (B, 24, 2)
    chin = torch.maximum(lm_b[:, list(CHIN)], _apply(A_ab, lm_a[:, list(CHIN)]))
    mask = mouth_mask(lips, chin, S, cfg)
    return mask * a_in_b + (1 - mask) * img_b, mask
