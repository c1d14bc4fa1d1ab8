"""Discriminator D of the adversarial loss: StyleGAN2's residual discriminator, as in LIA/EDTalk.

Implements: D of EDTalk Eq. 6, L_adv = Σ log D(I) + log(1 − D(Î)), with the network of
StyleGAN2 that LIA and the EDTalk training code use: a 1×1 ConvLayer, one down-sampling
ResBlock per octave down to 4×4, the minibatch standard-deviation feature, a 3×3 ConvLayer and
two EqualLinear layers to one logit per image. Names follow the official code
(`convs.N`, `final_conv`, `final_linear`).
"""
import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from talkinglib.models.layers.stylegan2 import ConvLayer, EqualLinear, ResBlock, channels_at


@dataclass(frozen=True)
class DiscriminatorConfig:
    size: int = 256                 # image side S (power of two >= 8); set it to the generator's size
    channel_base: int = 16384       # channels at resolution r: min(channel_max, channel_base // r)
    channel_max: int = 512
    stddev_group: int = 4           # minibatch-stddev group size (largest divisor of the batch <= this)
    stddev_feat: int = 1


PRESETS = {
    "tiny": DiscriminatorConfig(size=64, channel_base=2048, channel_max=128),
    "full": DiscriminatorConfig(),  # LIA / EDTalk: Discriminator(size=256, channel_multiplier=1)
}


def minibatch_stddev(x, group, n_feat=1):
    """Append the std over groups of samples as n_feat extra channels: (B, C, H, W) -> (B, C + n_feat, H, W).
    Sample b belongs to group b mod (B / G), as in StyleGAN2."""
    B, C, H, W = x.shape
    G = max(g for g in range(1, min(group, B) + 1) if B % g == 0)          # any batch size works
    y = x.view(G, -1, n_feat, C // n_feat, H, W)
    y = torch.sqrt(y.var(0, unbiased=False) + 1e-8)                       # std over the group
    y = y.mean([2, 3, 4], keepdim=True).squeeze(2)                         # (B/G, n_feat, 1, 1)
    return torch.cat([x, y.repeat(G, 1, H, W)], dim=1)


class Discriminator(nn.Module):
    """img (B, 3, S, S) in [-1, 1] -> logits (B, 1)."""

    def __init__(self, cfg: DiscriminatorConfig = DiscriminatorConfig()):
        super().__init__()
        if cfg.size < 8 or cfg.size & (cfg.size - 1):
            raise ValueError(f"DiscriminatorConfig.size must be a power of two >= 8, got {cfg.size}")
        self.cfg = cfg
        ch = lambda r: channels_at(r, cfg.channel_base, cfg.channel_max)   # noqa: E731
        convs = [ConvLayer(3, ch(cfg.size), 1)]
        for log_res in range(int(math.log2(cfg.size)), 2, -1):            # S -> 4
            convs.append(ResBlock(ch(2 ** log_res), ch(2 ** (log_res - 1))))
        self.convs = nn.Sequential(*convs)
        self.final_conv = ConvLayer(ch(4) + cfg.stddev_feat, ch(4), 3)
        self.final_linear = nn.Sequential(EqualLinear(ch(4) * 4 * 4, ch(4), activation="fused_lrelu"),
                                          EqualLinear(ch(4), 1))

    def forward(self, img):
        S = self.cfg.size
        if img.dim() != 4 or tuple(img.shape[1:]) != (3, S, S):
            raise ValueError(f"D expects images (B, 3, {S}, {S}); got {tuple(img.shape)} "
                             f"(set DiscriminatorConfig.size to the generator's size)")
        out = self.convs(img)                                              # (B, C_4, 4, 4)
        out = minibatch_stddev(out, self.cfg.stddev_group, self.cfg.stddev_feat)
        out = self.final_conv(out)
        return self.final_linear(out.flatten(1))                           # (B, 1)
