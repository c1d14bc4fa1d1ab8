"""Temporal convolutional network (TCN): residual blocks of dilated 1-D convolutions over time.

RETA's motion decoder D and emotion student S are TCNs (§3.1; the paper gives no sizes).
Each block:  y = x + Conv1d_d(GELU(Conv1d_d(GELU(x)))),  dilation d doubling per block, so a
stack of n blocks with kernel k sees (k − 1)(2^{n+1} − 2) + 1 frames. Padding keeps T
(non-causal: a frame sees the past and the future, as the whole clip's audio is known).

    tcn = TCN(in_dim=64, hidden=128, out_dim=15, blocks=3)       # (B, T, 64) -> (B, T, 15)
"""
import torch.nn as nn
import torch.nn.functional as F


class TemporalBlock(nn.Module):
    def __init__(self, channels, kernel, dilation):
        super().__init__()
        pad = dilation * (kernel - 1) // 2
        self.conv1 = nn.Conv1d(channels, channels, kernel, padding=pad, dilation=dilation)
        self.conv2 = nn.Conv1d(channels, channels, kernel, padding=pad, dilation=dilation)

    def forward(self, x):                                   # (B, C, T)
        return x + self.conv2(F.gelu(self.conv1(F.gelu(x))))


class TCN(nn.Module):
    """(B, T, in_dim) -> (B, T, out_dim). kernel must be odd (so padding keeps T)."""

    def __init__(self, in_dim, hidden, out_dim, blocks=3, kernel=3):
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"TCN kernel must be odd to keep the length; got {kernel}")
        self.inp = nn.Conv1d(in_dim, hidden, 1)
        self.blocks = nn.Sequential(*[TemporalBlock(hidden, kernel, 2 ** i) for i in range(blocks)])
        self.out = nn.Conv1d(hidden, out_dim, 1)
        self.receptive_field = (kernel - 1) * (2 ** (blocks + 1) - 2) + 1

    def forward(self, x):
        if x.dim() != 3:
            raise ValueError(f"TCN expects a sequence (B, T, C); got {tuple(x.shape)}")
        h = self.blocks(self.inp(x.transpose(1, 2)))        # (B, hidden, T)
        return self.out(F.gelu(h)).transpose(1, 2)          # (B, T, out_dim)
