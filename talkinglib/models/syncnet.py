"""SyncNet: the lip-sync expert of L_sync (EDTalk Eq. 12), in Wav2Lip's colour architecture.

Implements: v = E_face(lower halves of 5 frames), s = E_audio(the mel window of those frames),
both ReLU features L2-normalised, and their cosine S(v, s) ∈ [0, 1] as the probability that
face and audio are in sync (Wav2Lip [41], after Chung & Zisserman [12]). L_sync = −log S(v, s).

    net = SyncNet(PRESETS["tiny"])
    v = net.embed_face(net.face_input(clip[:, t-2:t+3]))     # (B, 5, 3, H, W) -> (B, D)
    s = net.embed_audio(mel[:, t])                           # (B, 1, 80, 16) -> (B, D)
    p = (v * s).sum(-1)                                      # cosine of unit vectors

E_face sees the lower half of each frame resized to (48, 96), the five frames stacked on the
channel axis (15 channels). E_audio is E_a's layout with one more residual block. State-dict
names follow Wav2Lip's `SyncNet_color` (`face_encoder.N.conv_block.*`, `audio_encoder.N...`),
so the official expert (lipsync_expert.pth, key "state_dict") loads into PRESETS["full"];
that network expects BGR frames in [0, 1] (Wav2Lip reads with OpenCV): `official_colours=True`.
The mel window of frame t covers frames t−2 .. t+2 (tl.audio.mel_windows), so the face window
is centred on t too.
"""
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from talkinglib.models.audio2lip import MEL_SHAPE, ConvBlock

# (c_in, c_out, kernel, stride, padding, residual), channels as multiples of the base width c;
# c_in 0 marks the 15 input channels. (48, 96) -> (46, 47) -> (23, 24) -> (12, 12) -> (6, 6) -> (3, 3) -> 1.
FACE_LAYOUT = ((0, 1, 7, 1, 3, False),
               (1, 2, 5, (1, 2), 1, False), (2, 2, 3, 1, 1, True), (2, 2, 3, 1, 1, True),
               (2, 4, 3, 2, 1, False), (4, 4, 3, 1, 1, True), (4, 4, 3, 1, 1, True), (4, 4, 3, 1, 1, True),
               (4, 8, 3, 2, 1, False), (8, 8, 3, 1, 1, True), (8, 8, 3, 1, 1, True),
               (8, 16, 3, 2, 1, False), (16, 16, 3, 1, 1, True), (16, 16, 3, 1, 1, True),
               (16, 16, 3, 2, 1, False), (16, 16, 3, 1, 0, False), (16, 16, 1, 1, 0, False))
AUDIO_LAYOUT = ((0, 1, 3, 1, 1, False), (1, 1, 3, 1, 1, True), (1, 1, 3, 1, 1, True),
                (1, 2, 3, (3, 1), 1, False), (2, 2, 3, 1, 1, True), (2, 2, 3, 1, 1, True),
                (2, 4, 3, 3, 1, False), (4, 4, 3, 1, 1, True), (4, 4, 3, 1, 1, True),
                (4, 8, 3, (3, 2), 1, False), (8, 8, 3, 1, 1, True), (8, 8, 3, 1, 1, True),
                (8, 16, 3, 1, 0, False), (16, 16, 1, 1, 0, False))


@dataclass(frozen=True)
class SyncNetConfig:
    width: int = 32                 # base width c: embeddings have 16c dimensions (512 in full)
    frames: int = 5                 # video frames per face window (0.2 s)
    face_size: tuple = (48, 96)     # lower half of the face, (H, W), as Wav2Lip's 96² crops give


PRESETS = {
    "tiny": SyncNetConfig(width=8),       # 128-d embeddings
    "full": SyncNetConfig(),              # Wav2Lip SyncNet_color (the official expert's shapes)
}


def _stack(layout, width, c_in):
    chans = lambda m: c_in if m == 0 else m * width                  # noqa: E731
    return nn.Sequential(*[ConvBlock(chans(a), chans(b), k, s, p, r) for a, b, k, s, p, r in layout])


class SyncNet(nn.Module):
    def __init__(self, cfg: SyncNetConfig = SyncNetConfig()):
        super().__init__()
        self.cfg = cfg
        self.face_encoder = _stack(FACE_LAYOUT, cfg.width, 3 * cfg.frames)
        self.audio_encoder = _stack(AUDIO_LAYOUT, cfg.width, 1)

    def face_input(self, clip, official_colours=False):
        """Frames (B, F, 3, H, W) in [-1, 1] (RGB) -> (B, 3F, 48, 96): the lower halves, resized,
        stacked on channels. official_colours: BGR in [0, 1], what Wav2Lip's expert was trained on."""
        B, n, C, H, W = clip.shape
        if n != self.cfg.frames or C != 3:
            raise ValueError(f"SyncNet expects (B, {self.cfg.frames}, 3, H, W) face windows; got {tuple(clip.shape)}")
        x = clip[:, :, :, H // 2:].flatten(0, 1)                          # lower half (B*F, 3, H/2, W)
        if tuple(x.shape[-2:]) != tuple(self.cfg.face_size):
            x = F.interpolate(x, size=tuple(self.cfg.face_size), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > self.cfg.face_size[1])
        if official_colours:
            x = (x.flip(1) + 1) / 2
        return x.reshape(B, n * 3, *self.cfg.face_size)

    def embed_face(self, x):
        """(B, 3F, 48, 96) -> unit vectors (B, 16c)."""
        return F.normalize(self.face_encoder(x).flatten(1), dim=1)

    def embed_audio(self, mel):
        """(B, 1, 80, 16) -> unit vectors (B, 16c)."""
        if mel.dim() != 4 or tuple(mel.shape[1:]) != MEL_SHAPE:
            raise ValueError(f"SyncNet expects mel windows (B, 1, 80, 16); got {tuple(mel.shape)}")
        return F.normalize(self.audio_encoder(mel).flatten(1), dim=1)

    def forward(self, mel, face):
        """(audio embedding s, face embedding v), Wav2Lip's order. face: face_input's output."""
        return self.embed_audio(mel), self.embed_face(face)

    def sync_probability(self, mel, clip):
        """S(v, s) = cos(v, s) ∈ [0, 1] for face windows (B, F, 3, H, W) and their mel windows (B, 1, 80, 16)."""
        s, v = self(mel, self.face_input(clip))
        return (s * v).sum(-1)


def sync_loss(prob, eps=1e-7):
    """L_sync = −log S(v, s) (EDTalk Eq. 12): prob (B,) cosine of the unit embeddings, mean over B."""
    return -torch.log(prob.clamp_min(eps)).mean()


def contrastive_sync_loss(prob, in_sync, eps=1e-7):
    """Binary cross-entropy of S(v, s) against in_sync (B,) in {0, 1}: the expert's training loss."""
    return F.binary_cross_entropy(prob.clamp(eps, 1 - eps), in_sync.float())


def info_nce_sync_loss(prob, scale=10.0):
    """−log softmax(scale · S)_0: S (B, 1 + K) of each face window with its own audio (column 0)
    and K shifted windows. The expert's training loss when it learns by picking its own window."""
    return F.cross_entropy(scale * prob, torch.zeros(len(prob), dtype=torch.long, device=prob.device))
