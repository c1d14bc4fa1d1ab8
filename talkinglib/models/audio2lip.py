"""Audio2Lip: mel windows -> mouth-bank weights Ŵ^m (EDTalk §3.3, "Audio-Driven Lip Generation").

Implements: f^a = E_a(a_{1:N}) and Ŵ^m = MLP^m_A(f^a). E_a is the Wav2Lip audio encoder (EDTalk
A.1: "a series of convolutional layers"): 13 conv+BatchNorm+ReLU blocks, some residual, that
shrink one (1, 80, 16) mel window to a (C, 1, 1) feature; MLP^m_A is one Linear to the 20 mouth
weights. State-dict names follow the official `Audio2Lip` (`audio_encoder.N.conv_block.{0,1}`,
`mapping`), so `talkinglib.official.load_audio2lip` is a plain load_state_dict.

    a2l = Audio2Lip(PRESETS["tiny"])
    mel = tl.audio.mel_windows(wav_16k)            # (T, 1, 80, 16)
    w_m = a2l(mel, batch=1, frames=T)              # (1, T, 20)

Each frame's window is encoded on its own (no temporal context beyond the window's 0.2 s).
"""
from dataclasses import dataclass

import torch
import torch.nn as nn

# (c_in, c_out, kernel, stride, padding, residual) as multiples of the base width c (32 in full).
# The window (80, 16) shrinks: stride (3, 1) -> (27, 16); 3 -> (9, 6); (3, 2) -> (3, 3); k3 p0 -> (1, 1).
LAYOUT = ((0, 1, 3, 1, 1, False), (1, 1, 3, 1, 1, True), (1, 1, 3, 1, 1, True),
          (1, 2, 3, (3, 1), 1, False), (2, 2, 3, 1, 1, True), (2, 2, 3, 1, 1, True),
          (2, 4, 3, 3, 1, False), (4, 4, 3, 1, 1, True), (4, 4, 3, 1, 1, True),
          (4, 8, 3, (3, 2), 1, False), (8, 8, 3, 1, 1, True),
          (8, 16, 3, 1, 0, False), (16, 16, 1, 1, 0, False))
MEL_SHAPE = (1, 80, 16)


@dataclass(frozen=True)
class Audio2LipConfig:
    width: int = 32                 # base width c; the encoder ends with 16c channels (512 in full)
    mouth_dim: int = 20             # the mouth bank's K (EDTalkConfig.lip_dim)


PRESETS = {
    "tiny": Audio2LipConfig(width=8),     # 128-d f^a, ~180 k parameters
    "full": Audio2LipConfig(),            # official Audio2Lip(): 2,822,932 parameters
}


class ConvBlock(nn.Module):
    """relu(BN(conv(x)) [+ x]) — Wav2Lip's Conv2d block."""

    def __init__(self, c_in, c_out, kernel, stride, padding, residual=False):
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, padding), nn.BatchNorm2d(c_out))
        self.residual = residual

    def forward(self, x):
        out = self.conv_block(x)
        return torch.relu(out + x if self.residual else out)


class AudioEncoder(nn.Sequential):
    """E_a: mel windows (N, 1, 80, 16) -> f^a (N, 16c)."""

    def __init__(self, width=32):
        chans = lambda m: 1 if m == 0 else m * width                      # noqa: E731
        super().__init__(*[ConvBlock(chans(a), chans(b), k, s, p, r) for a, b, k, s, p, r in LAYOUT])
        self.out_dim = 16 * width

    def forward(self, mel):
        if mel.dim() != 4 or tuple(mel.shape[1:]) != MEL_SHAPE:
            raise ValueError(f"E_a expects mel windows (N, 1, 80, 16) from tl.audio.mel_windows; "
                             f"got {tuple(mel.shape)}")
        return super().forward(mel).flatten(1)                           # (N, 16c, 1, 1) -> (N, 16c)


class Audio2Lip(nn.Module):
    """mel windows (B*T, 1, 80, 16) -> mouth weights Ŵ^m (B, T, 20)."""

    def __init__(self, cfg: Audio2LipConfig = Audio2LipConfig()):
        super().__init__()
        self.cfg = cfg
        self.audio_encoder = AudioEncoder(cfg.width)
        self.mapping = nn.Linear(self.audio_encoder.out_dim, cfg.mouth_dim)   # MLP^m_A
        nn.init.zeros_(self.mapping.bias)

    def forward(self, mel, batch=None, frames=None):
        """batch/frames default to (1, N); the official call is forward(mel, batch_size, T)."""
        N = mel.shape[0]
        batch = 1 if batch is None else batch
        frames = N // batch if frames is None else frames
        if batch * frames != N:
            raise ValueError(f"{N} mel windows cannot be viewed as batch={batch} x frames={frames}")
        return self.mapping(self.audio_encoder(mel)).view(batch, frames, -1)   # (B, T, 20)
