"""Temporal Variance Masking (RETA Algorithm 1)."""
import pytest
import torch

from talkinglib.models.tvm import TVMConfig, clip_masks, opening, temporal_variance_mask


def moving_square(T=10, size=64, side=12, step=2, x0=10, y0=26):
    """A bright square moving right by `step` px a frame over a fixed textured background.
    Returns frames (T, 3, H, W) and the swept region (H, W) bool: every pixel the square covers."""
    g = torch.Generator().manual_seed(0)
    background = 0.2 * torch.rand(3, size, size, generator=g) - 0.5        # static texture, in [-0.5, -0.3]
    frames, swept = [], torch.zeros(size, size, dtype=torch.bool)
    for t in range(T):
        x = x0 + step * t
        f = background.clone()
        f[:, y0:y0 + side, x:x + side] = 0.8
        swept[y0:y0 + side, x:x + side] = True
        frames.append(f)
    return torch.stack(frames), swept


def iou(a, b):
    return float((a & b).sum()) / float((a | b).sum())


def test_mask_covers_a_moving_square():
    frames, swept = moving_square()
    mask = temporal_variance_mask(frames)
    assert mask.shape == (1, 1, 64, 64)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert iou(mask[0, 0].bool(), swept) >= 0.8


def test_mask_resized_to_the_target_size():
    frames, swept = moving_square()
    mask = temporal_variance_mask(frames, TVMConfig(out_size=(128, 128)))
    assert mask.shape == (1, 1, 128, 128)
    big = torch.nn.functional.interpolate(swept[None, None].float(), size=(128, 128), mode="nearest")[0, 0].bool()
    assert iou(mask[0, 0].bool(), big) >= 0.8


def test_opening_removes_a_flickering_pixel_but_keeps_the_square():
    frames, swept = moving_square()
    frames[::2, :, 5, 5] = 0.8                      # one pixel flickers as strongly as the square changes
    with_open = temporal_variance_mask(frames, TVMConfig(kernel=3))
    assert with_open[0, 0, 5, 5] == 0               # a 1-pixel cluster does not survive a 3 × 3 opening
    assert iou(with_open[0, 0].bool(), swept) >= 0.8
    m = torch.zeros(1, 1, 9, 9)
    m[0, 0, 2:7, 2:7] = 1                           # a 5 × 5 block survives unchanged
    m[0, 0, 0, 8] = 1                               # a lone pixel does not
    out = opening(m, 3)
    assert torch.equal(out[0, 0, 2:7, 2:7], torch.ones(5, 5)) and out[0, 0, 0, 8] == 0


def test_a_still_clip_gives_an_empty_mask():
    still = torch.rand(1, 3, 32, 32).repeat(6, 1, 1, 1)
    assert temporal_variance_mask(still).sum() == 0


def test_batches_of_windows_get_one_mask_each_and_bad_input_is_refused():
    frames, _ = moving_square()
    out = clip_masks(torch.stack([frames, frames.flip(-1)]))
    assert out.shape == (2, 1, 64, 64)
    assert torch.equal(out[1], out[0].flip(-1))
    with pytest.raises(ValueError, match="at least 2"):
        temporal_variance_mask(frames[:1])
    with pytest.raises(ValueError, match="thresholds"):
        temporal_variance_mask(frames, TVMConfig(tau_init=1.5))
