"""Flow warping with a sampling grid that is built once per (H, W, device, dtype).

Implements: the warping step of LIA's ToFlow (EDTalk A.1, generator G): a feature map is
resampled at  grid + offset,  with offsets in the normalised [-1, 1] coordinates of
`F.grid_sample`. The reference builds the identity grid with numpy on every call and moves
it to the GPU; here it is cached.

Two grid conventions (a string option of the models that use it):
- "lia": grid = linspace(-1, 1, H) sampled with align_corners=False, exactly as LIA and EDTalk
  do. Pixel centres sit at (2i + 1)/H - 1 under that flag, so a zero offset reads pixel
  i·H/(H-1) - 1/2: a slight zoom whose border pixels mix 50 % with the zero padding. Official
  weights were trained with it, so parity needs it.
- "aligned": the same grid with align_corners=True: a zero offset is exactly the identity.
"""
from functools import lru_cache

import torch
import torch.nn.functional as F

GRIDS = ("lia", "aligned")


def _build_grid(h, w, device, dtype):
    ys = torch.linspace(-1.0, 1.0, h, dtype=torch.float64)
    xs = torch.linspace(-1.0, 1.0, w, dtype=torch.float64)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack([gx, gy], dim=-1)                     # (H, W, 2): [..., 0] = x (column), [..., 1] = y (row)
    return grid.to(device=device, dtype=dtype)[None]         # (1, H, W, 2)


@lru_cache(maxsize=64)
def _identity_grid(h, w, device, dtype):
    with torch.inference_mode(False), torch.no_grad():       # a normal tensor even if first built under inference_mode
        return _build_grid(h, w, device, dtype)


def identity_grid(h, w, device=None, dtype=torch.float32):
    """The cached (1, H, W, 2) grid of linspace(-1, 1) coordinates. Do not modify it in place.
    Under torch.compile it is built in the graph (which inductor may fold into a constant), uncached and without
    the inference-mode switch, which would keep AOTAutograd from caching the compiled graph on disk."""
    if torch.compiler.is_compiling():
        return _build_grid(int(h), int(w), torch.device(device or "cpu"), dtype)
    return _identity_grid(int(h), int(w), torch.device(device or "cpu"), dtype)


def grid_cache_info():
    """functools cache statistics of the grid builder (hits, misses, currsize)."""
    return _identity_grid.cache_info()


def clear_grid_cache():
    _identity_grid.cache_clear()


def warp(feat, offset, grid="lia"):
    """Resample feat (B, C, H, W) at identity grid + offset (B, H, W, 2), bilinear, zero padding.

    offset is in normalised coordinates (x first, as grid_sample expects). Returns (B, C, H, W).
    """
    if grid not in GRIDS:
        raise ValueError(f"grid must be one of {GRIDS}, got {grid!r}")
    B, C, H, W = feat.shape
    if offset.shape[-3:] != (H, W, 2):
        raise ValueError(f"offset must be (B, {H}, {W}, 2) for a feature map of {H}x{W}; got {tuple(offset.shape)}")
    base = identity_grid(H, W, feat.device, feat.dtype)
    return F.grid_sample(feat, base + offset.to(feat.dtype), mode="bilinear", padding_mode="zeros",
                         align_corners=(grid == "aligned"))
