"""StyleGAN2 building blocks, written once, in pure PyTorch (no custom CUDA ops).

Implements: the layers of StyleGAN2 (Karras et al. 2020) as LIA and EDTalk use them
(EDTalk A.1: "identical structures for Generator G in LIA"): equalized learning rate,
FIR blur / up-sampling (upfirdn2d as pad + depthwise conv), weight (de)modulation, the
fused bias + leaky ReLU, and the down-sampling ResBlock of the encoder and discriminator.

Attribute names (`conv`, `blur`, `modulation`, `activate`, ...) and the order in which
sub-modules are registered follow the published checkpoints, so their state dicts load as
they are. Everything works on CPU and CUDA, under autocast, at any batch size.
"""
import math
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F

SQRT2 = math.sqrt(2.0)


def channels_at(res, base, cap):
    """Feature channels at resolution `res`: min(cap, base // res). StyleGAN2/LIA's table
    {4..32: 512, 64: 256, 128: 128, 256: 64} is base = 16384, cap = 512."""
    return min(cap, base // res)


# -- FIR filtering ----------------------------------------------------------------------------
def make_kernel(k=(1, 3, 3, 1)):
    """Separable FIR kernel k kᵀ normalised to sum 1: (len(k), len(k))."""
    k = torch.tensor(k, dtype=torch.float32)
    k = k[None, :] * k[:, None] if k.ndim == 1 else k
    return k / k.sum()


def upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0)):
    """Upsample by zero insertion, pad, FIR-filter, downsample: (B, C, H, W) -> (B, C, H', W').

    H' = (H * up + pad[0] + pad[1] - kh) // down + 1. Negative pads crop. The filter is applied
    as a true convolution (kernel flipped), one channel at a time (depthwise conv).
    """
    B, C, H, W = x.shape
    if up > 1:                                                  # x[i] -> x[i], 0, ..., 0
        x = F.pad(x.reshape(B, C, H, 1, W, 1), (0, up - 1, 0, 0, 0, up - 1))
        x = x.reshape(B, C, H * up, W * up)
    p0, p1 = pad
    w = torch.flip(kernel, (0, 1)).to(x.dtype)[None, None].expand(C, 1, *kernel.shape)
    if p0 == p1 >= 0:                                           # the conv pads with zeros itself: no padded copy
        return F.conv2d(x, w, stride=down, groups=C, padding=p0)
    x = F.pad(x, (p0, p1, p0, p1))
    return F.conv2d(x, w, stride=down, groups=C)                # stride = keep every down-th sample


class Blur(nn.Module):
    """FIR low-pass (anti-aliasing) filter; scaled by factor² after an up-sampling conv."""

    def __init__(self, kernel, pad, upsample_factor=1):
        super().__init__()
        self.register_buffer("kernel", make_kernel(kernel) * upsample_factor ** 2)
        self.pad = tuple(pad)

    def forward(self, x):
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """×factor up-sampling with the FIR kernel (the skip path of ToRGB / ToFlow)."""

    def __init__(self, kernel=(1, 3, 3, 1), factor=2):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(kernel) * factor ** 2)
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x):
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


# -- equalized learning rate ------------------------------------------------------------------
def fused_leaky_relu(x, bias, negative_slope=0.2, scale=SQRT2):
    """√2 · leaky_relu(x + b): StyleGAN2's 'fused' activation (gain √2 keeps the variance)."""
    if x.dim() > 2 and bias.dim() == 1:
        bias = bias.view(1, -1, *[1] * (x.dim() - 2))
    return F.leaky_relu(x + bias, negative_slope) * scale


class FusedLeakyReLU(nn.Module):
    def __init__(self, channels, negative_slope=0.2, scale=SQRT2):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.negative_slope, self.scale = negative_slope, scale

    def forward(self, x):
        return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)


class ScaledLeakyReLU(nn.Module):
    def __init__(self, negative_slope=0.2):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)


class EqualConv2d(nn.Module):
    """Conv with weights ~ N(0, 1) scaled at run time by 1/√fan_in (equalized learning rate)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.stride, self.padding = stride, padding

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self):
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, {k}, stride={self.stride}, padding={self.padding}"


class EqualLinear(nn.Module):
    """Linear with equalized learning rate; activation None or "fused_lrelu"."""

    def __init__(self, in_dim, out_dim, bias=True, bias_init=0.0, lr_mul=1.0, activation=None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul, self.activation = lr_mul, activation

    def forward(self, x):
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)

    def reset_parameters(self):
        with torch.no_grad():
            self.weight.normal_().div_(self.lr_mul)
            if self.bias is not None:
                self.bias.zero_()

    def extra_repr(self):
        return f"{self.weight.shape[1]}, {self.weight.shape[0]}, activation={self.activation}"


class ConvLayer(nn.Sequential):
    """[Blur] -> EqualConv2d -> [fused leaky ReLU]; stride 2 after the blur when downsampling."""

    def __init__(self, in_channels, out_channels, kernel_size, downsample=False, blur_kernel=(1, 3, 3, 1),
                 bias=True, activate=True):
        layers = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channels) if bias else ScaledLeakyReLU(0.2))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Residual down-sampling block: (B, C_in, H, W) -> (B, C_out, H/2, W/2), output / √2."""

    def __init__(self, in_channels, out_channels, blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3)
        self.conv2 = ConvLayer(in_channels, out_channels, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(in_channels, out_channels, 1, downsample=True, blur_kernel=blur_kernel,
                              activate=False, bias=False)

    def forward(self, x):
        return (self.conv2(self.conv1(x)) + self.skip(x)) / SQRT2


# -- style modulation ---------------------------------------------------------------------------
class ModulatedConv2d(nn.Module):
    """Conv whose weights are scaled per sample by a style s = A(w) and (optionally) demodulated.

    w'_{oik} = s_i w_{oik},   w''_{oik} = w'_{oik} / √(Σ_{ik} w'²_{oik} + ε)     (StyleGAN2 Eqs. 1–3)
    Two forms, equal in exact arithmetic (`form`, set per model with `set_modconv_form`):
    - "fused" (default): one grouped conv over the batch (groups = B), each sample with its own
      weights, StyleGAN2's fused form. It performs the official operations in the official order;
      see tests/test_edtalk_models.py for how close that gets to the reference outputs.
    - "shared": conv(x ⊙ s, w) ⊙ d with d_o = (Σ_i s_i² Σ_k w²_{oik} + ε)^{-1/2}: one ordinary conv
      whose weight is the same for every sample, so a batch is one conv, its weight prepared once per
      clip, and a compiler can fuse the work around it (eval/bench.py measures what that buys).
      Rounding differs from "fused" (~1e-6).
    """
    FORMS = ("fused", "shared")

    def __init__(self, in_channels, out_channels, kernel_size, style_dim, demodulate=True, upsample=False,
                 blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.upsample, self.demodulate = upsample, demodulate
        self.form = "fused"
        self.prepared = None                                    # the shared form's weights, while prepare_shared() holds them
        if upsample:                                            # transposed conv, then the FIR filter
            p = (len(blur_kernel) - 2) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + 1, p // 2 + 1), upsample_factor=2)
        self.scale = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1)

    def forward(self, x, style):
        if self.form == "shared":
            return self._forward_shared(x, style)
        B, C, H, W = x.shape
        O, k = self.out_channels, self.kernel_size
        s = self.modulation(style).view(B, 1, C, 1, 1)          # style scales s_i
        w = self.scale * self.weight * s                        # (B, O, C, k, k)  w'_{oik} = s_i w_{oik}
        if self.demodulate:
            w = w * torch.rsqrt(w.pow(2).sum([2, 3, 4]) + 1e-8).view(B, O, 1, 1, 1)   # w''
        x = x.reshape(1, B * C, H, W)                           # the batch becomes conv groups
        if self.upsample:
            w = w.transpose(1, 2).reshape(B * C, O, k, k)       # conv_transpose2d wants (in, out/groups, k, k)
            out = F.conv_transpose2d(x, w, stride=2, groups=B)
            return self.blur(out.view(B, O, *out.shape[2:]))
        out = F.conv2d(x, w.reshape(B * O, C, k, k), padding=self.padding, groups=B)
        return out.view(B, O, *out.shape[2:])

    def shared_weights(self):
        """The shared form's per-layer constants: (w, Σ_k w²). w = scale · weight is (O, C, k, k), or
        (C, O, k, k) contiguous for the transposed conv; Σ_k w²_{oik} is (C, O), ready for the demodulation's
        matmul. While prepare_shared() holds them they are computed once instead of at every call."""
        if self.prepared is not None:
            return self.prepared
        w = self.scale * self.weight[0]                         # (O, C, k, k), the same for every sample
        w_sq = w.pow(2).sum([2, 3]).T                           # (C, O)
        return (w.transpose(0, 1).contiguous() if self.upsample else w), w_sq

    def _forward_shared(self, x, style):
        s = self.modulation(style)                              # (B, C) style scales s_i
        w, w_sq = self.shared_weights()
        x = x * s[:, :, None, None]                             # conv(x ⊙ s, w) = conv(x, w ⊙ s)
        if self.upsample:
            out = self.blur(F.conv_transpose2d(x, w, stride=2))
        else:
            out = F.conv2d(x, w, padding=self.padding)          # (B, O, H, W)
        if self.demodulate:                                     # d_o = (Σ_i s_i² Σ_k w²_{oik} + ε)^{-1/2}
            d = torch.rsqrt(s.pow(2) @ w_sq + 1e-8)             # (B, O)
            out = out * d[:, :, None, None]                     # the blur is linear: demodulating after it is exact
        return out

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, {self.kernel_size}, upsample={self.upsample}, "
                f"demodulate={self.demodulate}, form={self.form}")


def set_modconv_form(model, form):
    """Switch every ModulatedConv2d of `model` to "fused" or "shared" (see ModulatedConv2d); returns model."""
    if form not in ModulatedConv2d.FORMS:
        raise ValueError(f"form must be one of {ModulatedConv2d.FORMS}, got {form!r}")
    for mod in model.modules():
        if isinstance(mod, ModulatedConv2d):
            mod.form = form
    return model


@contextmanager
def modconv_form(model, form, prepare=False):
    """Within the block every ModulatedConv2d of `model` runs in `form`; on exit each gets its own form back.
    prepare=True (form "shared"): the layers' shared weights are also computed once on entry (prepare_shared),
    for a block that only runs inference with fixed weights, e.g. one clip."""
    mods = [m for m in model.modules() if isinstance(m, ModulatedConv2d)]
    before = [m.form for m in mods]
    set_modconv_form(model, form)
    try:
        if prepare and form == "shared":
            with prepare_shared(model):
                yield model
        else:
            yield model
    finally:
        for m, f in zip(mods, before):
            m.form = f


@contextmanager
def prepare_shared(model):
    """Hold each ModulatedConv2d's shared weights (scale · weight, laid out, and Σ_k w²) for the block instead
    of recomputing them at every call: 3 elementwise passes over every weight per call saved (at 256², batch 1,
    the 512-channel layers' weight scaling and transposed copies took ~11 ms of a ~190 ms G, torch.profiler).
    Inference only: the held tensors neither follow a change of the weights nor carry gradients."""
    mods = [m for m in model.modules() if isinstance(m, ModulatedConv2d)]
    with torch.no_grad():
        for m in mods:
            m.prepared = None
            m.prepared = m.shared_weights()
    try:
        yield model
    finally:
        for m in mods:
            m.prepared = None


class NoiseInjection(nn.Module):
    """x + λ·noise. LIA and EDTalk never pass noise, so λ stays unused (kept for loading)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x, noise=None):
        return x if noise is None else x + self.weight * noise


class ConstantInput(nn.Module):
    """The learned 4×4 input of the synthesis network: (1, C, 4, 4) broadcast to the batch."""

    def __init__(self, channels, size=4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch):
        return self.input.expand(batch, -1, -1, -1)


class StyledConv(nn.Module):
    """ModulatedConv2d -> noise -> fused leaky ReLU."""

    def __init__(self, in_channels, out_channels, kernel_size, style_dim, upsample=False,
                 blur_kernel=(1, 3, 3, 1), demodulate=True):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, kernel_size, style_dim, demodulate=demodulate,
                                    upsample=upsample, blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channels)

    def forward(self, x, style, noise=None):
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Module):
    """LIA's ToRGB: a plain 1×1 ConvLayer (with its activation) + bias, plus the up-sampled
    previous RGB when given. (B, C, H, W) -> (B, 3, H, W)."""

    def __init__(self, in_channels, upsample=True, blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ConvLayer(in_channels, 3, 1)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x, skip=None):
        out = self.conv(x) + self.bias
        return out if skip is None else out + self.upsample(skip)
