"""Encoder E: one image -> latent f^{*→r} and the identity feature pyramid f^{id}.

Implements: EDTalk §3.1 (f^{i→r} = E(I^i), f^{*→r} = E(I^*)) and A.1 ("several CNNs and
ResBlocks; the outputs of ResBlock serve as the identity feature f^{id}"), the appearance
encoder of LIA. A 1×1 conv lifts RGB to features, then one down-sampling ResBlock per octave
down to 4×4, and a 4×4 conv (no padding) gives the D-dim latent.

The "four MLPs" of A.1 are the model's `fc` (edtalk.py): the official code applies them to
driving latents only, never to the source latent, so they live beside E, not in it.

Sub-module names follow the official checkpoint (`enc.net_app.convs.N`), so EDTalk.pt loads as is.
The configuration is EDTalkConfig (edtalk.py): size, latent_dim, channel_base, channel_max, encoder_norm.

encoder_norm (ours, not in LIA or EDTalk; the tiny preset uses "batch"). LIA's blocks have no
normalisation, and at 64² they learn a mouth of a few pixels far too slowly: E plus a linear head,
trained on SynthTalk's true factors (eval/encoder_readout.py: B = 32, Adam 2e-3, the training
identities + 500 random-frame identities), reads the jaw of unseen identities with R²
    LIA's E ("none")                                 −0.05 at 400 steps (issue 18)
    LIA's layout in plain convs + BatchNorm          0.27 at 400 steps
    "batch": 3×3 stem, conv stride 2 first (below)   0.76 at 200, 0.81 at 300 steps (yaw 0.88, 0.92)
    "group": the same with GroupNorm(8)              −0.17 at 300 steps
"batch" keeps the channel widths, so the latent and f^{id} have LIA's shapes. Its statistics are
the running ones in eval mode (a frame's code does not depend on its batch); training stages
that freeze E keep it in eval mode (train/edtalk_common.py).
"""
import math

import torch.nn as nn

from talkinglib.models.layers.stylegan2 import ConvLayer, EqualConv2d, ResBlock, channels_at

ENCODER_NORMS = ("none", "batch", "group")
GROUPS = 8                        # encoder_norm="group": 8 groups per layer


def _norm(kind, channels):
    return nn.BatchNorm2d(channels) if kind == "batch" else nn.GroupNorm(min(GROUPS, channels), channels)


def _conv_norm_relu(c_in, c_out, norm, stride=1):
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), _norm(norm, c_out), nn.ReLU(inplace=True)]


class NormDownBlock(nn.Sequential):
    """encoder_norm != "none" (ours, not in LIA or EDTalk): one octave down in plain convs, each
    followed by a normalisation, (B, C_in, H, W) -> (B, C_out, H/2, W/2):
        conv3×3 stride 2 -> norm -> ReLU -> conv3×3 -> norm -> ReLU
    the block of the factor probe (models/probe.py), which learns a few-pixel mouth quickly."""

    def __init__(self, in_channels, out_channels, norm):
        super().__init__(*_conv_norm_relu(in_channels, out_channels, norm, stride=2),
                         *_conv_norm_relu(out_channels, out_channels, norm))


class AppearanceEncoder(nn.Module):
    """LIA's EncoderApp: convs[0] 1×1 ConvLayer at full size, convs[1..] ResBlocks (size -> 4),
    convs[-1] the 4×4 conv to the latent. With a norm: a 3×3 conv-norm-ReLU stem and NormDownBlocks."""

    def __init__(self, size, latent_dim, channel_base, channel_max, norm="none"):
        super().__init__()
        if norm not in ENCODER_NORMS:
            raise ValueError(f"encoder norm must be one of {ENCODER_NORMS}, got {norm!r}")
        ch = lambda r: channels_at(r, channel_base, channel_max)            # noqa: E731
        if norm == "none":                                                   # LIA / the official E
            self.convs = nn.ModuleList([ConvLayer(3, ch(size), 1)])
            block = ResBlock
        else:                                                                # the same widths, normalised
            self.convs = nn.ModuleList([nn.Sequential(*_conv_norm_relu(3, ch(size), norm))])   # a 3×3 stem
            block = lambda c_in, c_out: NormDownBlock(c_in, c_out, norm)    # noqa: E731
        for log_res in range(int(math.log2(size)), 2, -1):                   # size, size/2, ..., 8
            self.convs.append(block(ch(2 ** log_res), ch(2 ** (log_res - 1))))
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
    """E: img (B, 3, S, S) in [-1, 1] -> (latent (B, D), f^{id}: list coarse-to-fine, 8² ... S²).
    With pass_image=True (EDTalkConfig.warp_image, ours) f^{id} ends with img itself, for G to warp."""

    def __init__(self, size, latent_dim, channel_base, channel_max, norm="none", pass_image=False):
        super().__init__()
        self.net_app = AppearanceEncoder(size, latent_dim, channel_base, channel_max, norm)
        self.pass_image = pass_image

    def forward(self, img):
        latent, feats = self.net_app(img)
        return latent, (feats + [img]) if self.pass_image else feats
