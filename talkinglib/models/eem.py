"""Emotion Enhancement Module (EEM): AdaIN of the identity features by the expression feature.

Implements: EDTalk §3.2 "Expression Decouple", EDTalk Eq. 8:
    f^{id}_e = EEM(f^{id}) = f^e_s · (f^{id} − μ(f^{id})) / σ(f^{id}) + f^e_b,
with (f^e_s, f^e_b) an affine function of the expression feature f^{r→e} (an MLP), and EDTalk Eq. 2:
EEM is used only for emotional generation; without an expression driver the features pass
through unchanged (the official `EEM.forward(x, None)` returns x).

One EEM block per pyramid level of the generator (official name `dec.fineadainresblock.N`).
The official block is a residual conv + AdaIN:
    out = f^{id} + AdaIN₂(conv₂(f^{id}); f^{r→e})            (block="official")
Its code also computes leaky_relu(AdaIN₁(conv₁(f^{id}))) and then overwrites the result, so
conv₁ and AdaIN₁ never reach the output: the official weights hold them untrained. We keep the
parameters (the checkpoint has them) but skip the dead computation. block="two_conv" is the
evidently intended chain, f^{id} + AdaIN₂(conv₂(lrelu(AdaIN₁(conv₁(f^{id}))))), for our own configs.
The official AdaIN scales by (1 + γ): f^e_s = 1 + γ.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

BLOCKS = ("official", "two_conv")


class AdaIN(nn.Module):
    """Instance-normalise x (B, C, H, W), then scale and shift by an MLP of z (B, D)."""

    def __init__(self, channels, feature_dim, hidden=128):
        super().__init__()
        self.param_free_norm = nn.InstanceNorm2d(channels, affine=False)
        self.mlp_shared = nn.Sequential(nn.Linear(feature_dim, hidden), nn.ReLU())
        self.mlp_gamma = nn.Linear(hidden, channels)
        self.mlp_beta = nn.Linear(hidden, channels)

    def forward(self, x, z):
        h = self.mlp_shared(z)                                      # (B, hidden)
        gamma = self.mlp_gamma(h)[:, :, None, None]                 # (B, C, 1, 1)
        beta = self.mlp_beta(h)[:, :, None, None]
        return self.param_free_norm(x) * (1 + gamma) + beta         # f^e_s (f − μ)/σ + f^e_b   (EDTalk Eq. 8)


class EEM(nn.Module):
    """One pyramid level: f^{id} (B, C, H, W), f^{r→e} (B, D) or None -> f^{id}_e (B, C, H, W)."""

    def __init__(self, channels, feature_dim, hidden=128, block="official"):
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"EEM block must be one of {BLOCKS}, got {block!r}")
        self.block = block
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm1 = AdaIN(channels, feature_dim, hidden)
        self.norm2 = AdaIN(channels, feature_dim, hidden)

    @torch.no_grad()
    def make_identity(self):
        """Start as the identity: AdaIN₂ with γ = −1 and β = 0 outputs 0, so f^{id}_e = f^{id}.
        A trained generator then keeps its reconstructions when stage 3 switches EEM on; the
        gradient reaches γ and β at once (∂out/∂γ = normalised features), the rest one step later."""
        self.norm2.mlp_gamma.weight.zero_()
        self.norm2.mlp_gamma.bias.fill_(-1.0)
        self.norm2.mlp_beta.weight.zero_()
        self.norm2.mlp_beta.bias.zero_()

    def dead_parameter_prefixes(self):
        """Sub-modules whose parameters never reach the output with this block type."""
        return ("conv1.", "norm1.") if self.block == "official" else ()

    def forward(self, f_id, f_exp=None):
        if f_exp is None:                                           # EEM only for emotional generation (EDTalk Eq. 2)
            return f_id
        h = f_id
        if self.block == "two_conv":
            h = F.leaky_relu(self.norm1(self.conv1(h), f_exp), 0.01)
        return f_id + self.norm2(self.conv2(h), f_exp)              # f^{id}_e, residual
