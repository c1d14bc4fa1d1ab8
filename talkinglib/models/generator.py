"""Generator G: a StyleGAN2 synthesis network that warps the identity features f^{id}.

Implements: EDTalk Eq. 2, Î = G(f^{i→d}, f^{id}, EEM(f^{r→e})), with G the flow-warping
generator of LIA (EDTalk A.1). Every layer is modulated by the same latent f^{i→d} (B, D).
At each resolution r = 8, 16, ..., S:
    x_r            = StyledConv↑, StyledConv (x_{r/2})                        (B, C_r, r, r)
    f^{id}_r       ← EEM_r(f^{id}_r, f^{r→e})       (identity when no expression is given)
    o_r            = ModConv1×1(x_r) + b + up(o_{r/2})                         (B, 3, r, r)
    flow, m        = tanh(o_r[:, :2]), sigmoid(o_r[:, 2:])                     offset and mask
    w_r            = warp(f^{id}_r, flow) · m                                  the skip connection
    x_r            ← w_r + x_r · (1 − m)
    rgb_r          = ToRGB(w_r) + up(rgb_{r/2})
and the image is rgb_S. ToRGB reads the warped features only; `to_rgb1` (the official 4×4
ToRGB) and the noise inputs are never used (kept so official weights load).

warp_image=True (ours, not in LIA or EDTalk; EDTalkConfig.warp_image): f^{id} ends with the source
image I_s itself (B, 3, S, S), and G's last level also warps it with the S² flow:
    Î = m_I · warp(I_s, flow_S) + (1 − m_I) · rgb_S,     m_I = sigmoid(ModConv1×1(x_S) + b_I)
so at zero offset and an open image mask the output is the source, pixel for pixel, and G draws
only what the warp cannot show (the inside of an opening mouth, an eye that closes).

rgb_S itself is made of warped identity features only (LIA's ToRGB reads w_r), so it cannot show
what the source does not have: a closed-mouthed source gives no dark mouth inside or teeth to
warp, and G stretches the lips instead. image_draw=True (ours) adds G's own S² features x_S,
taken *before* the level's blend x_S ← w_S + x_S·(1 − m) (after it, with the level mask m near 1,
x_S is mostly the warped source again and holds no more than rgb_S):
    Î = m_I · warp(I_s, flow_S) + (1 − m_I) · (rgb_S + ModConv1×1'(x_S before the blend))
with ModConv1×1' zero at the start (so the output starts as with image_draw=False).

Measured (issue 18): tiny stage 1 from scratch, 8000 steps of the tiny training preset's aids
(w_mouth, w_factors, same_fraction, no L_per), scored on the 4 test identities of tiny-seed0 with
probe_tiny.pt (n = 192; eval/disentangle.py: self_reconstruction, mouth_swap, copy_error):

    G                                               self jaw R²  self pose R²  swap jaw / pose  copy L1   eyes
    LIA's G (flow_init/grid "identity"/"aligned")      0.42        0.81         0.32 / 0.49     0.023    lost
    + warp_image                                       0.49        0.86         0.50 / 0.78     0.0097   lost
    + warp_image + w_flow_landmarks 0.1                0.58        0.80         0.53 / 0.39     0.0096   kept
      the same at step 5750                            0.44        0.80
    + image_draw reading x_S after the blend, 5750     0.55        0.77           – / –         0.013    kept
      the same at 8000                                 0.57        0.82         0.54 / 0.15     0.012    kept
    + image_draw (x_S before the blend) + lr_decay     0.63        0.89         0.62 / 0.13     0.0080   kept
      0.25 (`runs/wi_g`), 8000 steps                   (at 2000 / 3500 / 5250: jaw 0.09 / 0.26 / 0.47)
    + L_per over the SynthTalk expert (`runs/wi_per20`) 0.62        0.92         0.59 / 0.27     0.0072   kept
    + w_draw over the inner lips, then w_mouth_inside  0.77        0.92         0.77 / 0.08     0.0090   kept
      from step 5250: the tiny preset (`runs/wi_dinmi`; on tiny-seed1 from scratch: 0.80 / 0.91 / 0.77 / 0.30 / 0.0117)

(copy L1: driver = source, mean |Î − I| on [0, 1] images; two random frames of a clip differ by
0.032. Swap pose is stage 1's own navigation, before stage 2 separates mouth from pose.) On the
tiny preset's run the probe's jaw of the output correlates with the driver's true jaw at 0.85 but
with slope 0.50: G opens the mouth about half as far as the driver (the driver frames themselves:
0.98, slope 0.92). That compression, not noise, held the jaw R² at 0.63; the curriculum of the
last row lifts the slope to 0.75 (correlation 0.89), with a dark inside and teeth drawn by G.
Without the landmark term the warp could not place the 3-pixel eyes exactly, and L1 erased them,
even when driver = source. With both, an open-mouthed driver still gets the source's lips
stretched, not a dark mouth with teeth: the inside of the mouth is what image_draw,
EDTalkTrainConfig.w_draw (draw_region "inside") and w_mouth_inside (from mouth_inside_start) are for.

Sub-module names follow the official checkpoint (`dec.convs.N`, `dec.to_flows.N`,
`dec.fineadainresblock.N`, ...). Configuration: EDTalkConfig (edtalk.py).
"""
import math

import torch
import torch.nn as nn

from talkinglib.models.eem import EEM
from talkinglib.models.layers.stylegan2 import (ConstantInput, ModulatedConv2d, StyledConv, ToRGB, Upsample,
                                                channels_at)
from talkinglib.models.layers.warp import warp


FLOW_INITS = ("lia", "identity")
IDENTITY_MASK_BIAS = 3.0            # flow_init="identity": +3 on the mask logit (plus the coarser level's, via the skip)
IMAGE_MASK_BIAS = 2.0               # warp_image=True: the image mask starts at sigmoid(2) = 0.88, not saturated


class ToFlow(nn.Module):
    """LIA's flow head: features (B, C, r, r) -> (warped f^{id}, blended features, raw 3-channel output).

    init="lia" is LIA's random start. init="identity" (not in LIA or EDTalk) zeroes the offset rows
    of the head and opens the mask, so G starts by copying the warped identity features unmoved:
    see EDTalkConfig.flow_init for what that changed in a tiny stage 1."""

    def __init__(self, in_channels, style_dim, upsample=True, blur_kernel=(1, 3, 3, 1), grid="lia", init="lia"):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channels, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.grid = grid
        if init not in FLOW_INITS:
            raise ValueError(f"flow init must be one of {FLOW_INITS}, got {init!r}")
        if init == "identity":
            with torch.no_grad():
                self.conv.weight[:, :2] = 0                            # offset = tanh(0 + 0 + skip 0) = 0
                self.bias[0, 2] = IDENTITY_MASK_BIAS

    def forward(self, x, style, f_id, skip=None):
        out = self.conv(x, style) + self.bias                         # (B, 3, r, r)
        if skip is not None:
            out = out + self.upsample(skip)                            # coarse-to-fine refinement
        offset = torch.tanh(out[:, :2]).permute(0, 2, 3, 1)            # (B, r, r, 2) in [-1, 1] units
        mask = torch.sigmoid(out[:, 2:3])                              # (B, 1, r, r)
        warped = warp(f_id, offset, self.grid) * mask                  # w_r = warp(f^{id}_r, flow) · m
        return warped, warped + x * (1 - mask), out


class Generator(nn.Module):
    """G(latent (B, D), f^{id} list coarse-to-fine, f^{r→e} (B, D) or None) -> image (B, 3, S, S)."""

    def __init__(self, size, latent_dim, channel_base, channel_max, eem_hidden=128, eem_block="official",
                 grid="lia", blur_kernel=(1, 3, 3, 1), eem=True, flow_init="lia", warp_image=False,
                 image_draw=False):
        super().__init__()
        if image_draw and not warp_image:
            raise ValueError("image_draw=True draws what the warped source image leaves out: it needs warp_image=True")
        self.warp_image, self.image_draw, self.grid = warp_image, image_draw, grid
        ch = lambda r: channels_at(r, channel_base, channel_max)      # noqa: E731
        self.size = size
        self.input = ConstantInput(ch(4))
        self.conv1 = StyledConv(ch(4), ch(4), 3, latent_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(ch(4), upsample=False)                   # unused by the forward pass (as in LIA)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.to_flows = nn.ModuleList()
        self.fineadainresblock = nn.ModuleList()                      # the EEM blocks, official name
        c_in = ch(4)
        for log_res in range(3, int(math.log2(size)) + 1):             # r = 8, 16, ..., size
            c = ch(2 ** log_res)
            self.convs.append(StyledConv(c_in, c, 3, latent_dim, upsample=True, blur_kernel=blur_kernel))
            self.convs.append(StyledConv(c, c, 3, latent_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(ToRGB(c, blur_kernel=blur_kernel))
            self.to_flows.append(ToFlow(c, latent_dim, blur_kernel=blur_kernel, grid=grid, init=flow_init))
            if eem:                                                   # RETA's G has none (eem=False)
                self.fineadainresblock.append(EEM(c, latent_dim, eem_hidden, eem_block))
            c_in = c
        if warp_image:                                                # m_I's head at S² (module docstring)
            self.image_mask = ModulatedConv2d(c, 1, 1, latent_dim, demodulate=False)
            self.image_mask_bias = nn.Parameter(torch.full((1, 1, 1, 1), IMAGE_MASK_BIAS))
        if image_draw:                                                # G's own drawing, zero at the start
            self.image_draw_rgb = ModulatedConv2d(c, 3, 1, latent_dim, demodulate=False)   # reads x_S before the blend
            with torch.no_grad():
                self.image_draw_rgb.weight.zero_()

    def unused_parameter_names(self):
        """Parameters that never reach the output (relative names): to_rgb1, noise strengths,
        and the dead half of the official EEM block."""
        names = [n for n, _ in self.named_parameters() if n.startswith("to_rgb1.") or n.endswith("noise.weight")]
        for i, eem in enumerate(self.fineadainresblock):
            dead = eem.dead_parameter_prefixes()
            names += [f"fineadainresblock.{i}.{n}" for n, _ in eem.named_parameters() if n.startswith(dead)]
        return names

    @property
    def num_levels(self):
        """Resolution levels that take a style: 4², 8², ..., S²."""
        return 1 + len(self.to_flows)

    def express(self, feats, f_exp):
        """f^{id}_e = EEM_r(f^{id}_r, f^{r→e}) at every level (EDTalk Eq. 8). It depends on the source and the
        expression only, not on the frame's latent: with one expression for a whole clip it can be
        computed once and passed to forward() as feats (with f_exp=None), with the same result."""
        if not self.fineadainresblock:
            raise ValueError("this generator was built without EEM (eem=False, as RETA's): it takes no "
                             "expression feature f_exp")
        n = len(self.fineadainresblock)
        return [eem(f_id, f_exp) for eem, f_id in zip(self.fineadainresblock, feats)] + list(feats[n:])   # I_s as is

    def forward(self, latent, feats, f_exp=None, return_warp=False):
        """latent: (B, D), the one style of every layer (EDTalk, LIA), or (B, L, D) with one style per
        resolution level 4², 8², ..., S² (L = num_levels; RETA's hierarchical injection, models/reta.py).
        return_warp=True also returns {"offset": the S² level's offsets (B, S, S, 2), normalised units, x
        first; "image_mask": m_I (B, 1, S, S), and "drawing": what m_I blends with the warped image,
        rgb_S (+ the image_draw head) (B, 3, S, S); both None without warp_image}."""
        B = latent.shape[0]
        if len(feats) != len(self.to_flows) + self.warp_image:
            extra = " and the source image (warp_image=True)" if self.warp_image else ""
            raise ValueError(f"G expects {len(self.to_flows)} identity feature levels (8² ... {self.size}²){extra}, "
                             f"got {len(feats)}: pass the feats returned by encode() of a {self.size}² image, "
                             f"from a model with the same warp_image")
        if latent.dim() == 3 and latent.shape[1] != self.num_levels:
            raise ValueError(f"per-level styles must be (B, {self.num_levels}, D) for levels 4² ... {self.size}²; "
                             f"got {tuple(latent.shape)}")
        style = (lambda i: latent[:, i]) if latent.dim() == 3 else (lambda i: latent)   # noqa: E731
        if f_exp is not None:
            feats = self.express(feats, f_exp)                         # f^{id}_e (EDTalk Eq. 8)
        out = self.conv1(self.input(B), style(0))                      # (B, C_4, 4, 4)
        rgb = flow = None
        for i, f_id in enumerate(feats[:len(self.to_flows)]):         # r = 8, 16, ..., S
            w = style(i + 1)
            out = self.convs[2 * i](out, w)                            # ↑2
            out = self.convs[2 * i + 1](out, w)
            drawn = out                                                # x_r before the level's warp blend
            warped, out, flow = self.to_flows[i](out, w, f_id, flow)
            rgb = self.to_rgbs[i](warped, rgb)
        offset = torch.tanh(flow[:, :2]).permute(0, 2, 3, 1)           # (B, S, S, 2), the S² level's offsets
        m_img = drawing = None
        if self.warp_image:                                            # Î = m_I·warp(I_s, flow_S) + (1 − m_I)·rgb_S
            m_img = torch.sigmoid(self.image_mask(out, w) + self.image_mask_bias)   # (B, 1, S, S)
            if self.image_draw:
                rgb = rgb + self.image_draw_rgb(drawn, w)              # G's own S² features, before the blend
            drawing = rgb
            rgb = m_img * warp(feats[-1], offset, self.grid) + (1 - m_img) * drawing
        if return_warp:
            return rgb, {"offset": offset, "image_mask": m_img, "drawing": drawing}
        return rgb                                                     # (B, 3, S, S)
