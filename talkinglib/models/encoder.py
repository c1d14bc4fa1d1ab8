"""Encoder E: one image -> latent f^{*→r} and the identity feature pyramid f^{id}.

Implements: EDTalk §3.1 (f^{i→r} = E(I^i), f^{*→r} = E(I^*)) and A.1 ("several CNNs and
ResBlocks; the outputs of ResBlock serve as the identity feature f^{id}"), the appearance
encoder of LIA. A 1×1 conv lifts RGB to features, then one down-sampling ResBlock per octave
down to 4×4, and a 4×4 conv (no padding) gives the D-dim latent.

The "four MLPs" of A.1 are the model's `fc` (edtalk.py): the official code applies them to
driving latents only, never to the source latent, so they live beside E, not in it.

Sub-module names follow the official checkpoint (`enc.net_app.convs.N`), so EDTalk.pt loads as is.
The configuration is EDTalkConfig (edtalk.py): size, latent_dim, channel_base, channel_max.
"""
import math

import torch.nn as nn

from talkinglib.models.layers.stylegan2 import ConvLayer, EqualConv2d, ResBlock, channels_at


class AppearanceEncoder(nn.Module):
    """LIA's EncoderApp: convs[0] 1×1 ConvLayer at full size, convs[1..] ResBlocks (size -> 4),
    convs[-1] the 4×4 conv to the latent."""

    def __init__(self, size, latent_dim, channel_base, channel_max):
        super().__init__()
        ch = lambda r: channels_at(r, channel_base, channel_max)            # noqa: E731
        self.convs = nn.ModuleList([ConvLayer(3, ch(size), 1)])
        for log_res in range(int(math.log2(size)), 2, -1):                   # size, size/2, ..., 8
            self.convs.append(ResBlock(ch(2 ** log_res), ch(2 ** (log_res - 1))))
        self.convs.append(EqualConv2d(ch(4), latent_dim, 4, padding=0, bias=False))

    def forward(self, img):
        outs, h = [], img
        for conv in self.convs:
            h = conv(h)
            outs.append(h)
        latent = h.flatten(1)                                                # (B, D): the 1×1 output
        # f^{id}: the ResBlock outputs from 8×8 up to full size (the 4×4 one only feeds the latent)
        feats = outs[::-1][2:]                                               # [(B, C, 8, 8), ..., (B, C, size, size)]
        return latent, feats


class Encoder(nn.Module):
    """E: img (B, 3, S, S) in [-1, 1] -> (latent (B, D), f^{id}: list coarse-to-fine, 8² ... S²)."""

    def __init__(self, size, latent_dim, channel_base, channel_max):
        super().__init__()
        self.net_app = AppearanceEncoder(size, latent_dim, channel_base, channel_max)

    def forward(self, img):
        return self.net_app(img)
