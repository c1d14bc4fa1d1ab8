"""RETA's audio encoder E_A: wav2vec 2.0, resampled to the video's frame rate.

Implements: RETA §3.1, f_A = E_A(A_{1:T}) with "the pre-trained Wav2Vec 2.0 model" (D.2):
    wav (B, N) at 16 kHz  --utterance normalisation-->  wav2vec 2.0  -->  (B, N', C_A) at 50 Hz
    --linear interpolation in time-->  f_A (B, T, C_A), one row per video frame (25 fps).
wav2vec 2.0's CNN emits ⌊(N − 400)/320⌋ + 1 frames (one per 20 ms, a 25 ms receptive field), about
two per video frame at 25 fps; linear interpolation (align_corners=False) stretches them over the T
video frames, so the alignment is within a fraction of one feature frame (≤ 20 ms), not exact.
Each input is normalised on its own (zero mean, unit variance), as wav2vec 2.0's feature
extractor does per utterance: training normalises clip segments, inference the whole audio.

- `full`: facebook/wav2vec2-base-960h from the local cache through the registry ("wav2vec2");
  the CNN feature encoder is frozen, the transformer fine-tunes (as wav2vec 2.0 fine-tuning does).
- `tiny`: a small Wav2Vec2Config built offline; nothing is pretrained, so everything trains.
"""
from dataclasses import dataclass

import torch.nn as nn
import torch.nn.functional as F

from talkinglib.audio import SAMPLE_RATE


@dataclass(frozen=True)
class AudioEncoderConfig:
    weights: str | None = "wav2vec2"     # registry entry; None: build from the sizes below (tiny)
    hidden: int = 64
    layers: int = 2
    heads: int = 2
    conv: int = 32                       # channels of every CNN feature-encoder layer
    ffn: int = 128                       # transformer feed-forward width
    pos_conv: int = 16                   # convolutional position embedding: kernel and groups
    pos_groups: int = 4
    freeze_feature_encoder: bool = True
    fps: int = 25


PRESETS = {
    "tiny": AudioEncoderConfig(weights=None, freeze_feature_encoder=False),
    "full": AudioEncoderConfig(),
}
# wav2vec 2.0 Base's architecture, built offline with random weights (for timing and shape tests only)
BASE_ARCHITECTURE = AudioEncoderConfig(weights=None, hidden=768, layers=12, heads=12, conv=512, ffn=3072,
                                       pos_conv=128, pos_groups=16)


def _tiny_wav2vec2(cfg):
    from transformers import Wav2Vec2Config, Wav2Vec2Model
    c = Wav2Vec2Config(hidden_size=cfg.hidden, num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads,
                       intermediate_size=cfg.ffn, conv_dim=(cfg.conv,) * 7, num_conv_pos_embeddings=cfg.pos_conv,
                       num_conv_pos_embedding_groups=cfg.pos_groups, hidden_dropout=0.0, attention_dropout=0.0,
                       activation_dropout=0.0, feat_proj_dropout=0.0, layerdrop=0.0, mask_time_prob=0.0)
    return Wav2Vec2Model(c)


class AudioEncoder(nn.Module):
    """E_A: wav (B, N) 16 kHz -> f_A (B, T, C_A), T video frames."""

    def __init__(self, cfg: AudioEncoderConfig = AudioEncoderConfig()):
        super().__init__()
        self.cfg = cfg
        if cfg.weights:
            from transformers import Wav2Vec2Model
            from talkinglib import weights
            # LayerDrop and SpecAugment time masks off: RETA says nothing of them, and their draws
            # would differ between processes under DDP and break a resumed run's replay
            self.model = Wav2Vec2Model.from_pretrained(weights.resolve(cfg.weights), layerdrop=0.0,
                                                       mask_time_prob=0.0)
        else:
            self.model = _tiny_wav2vec2(cfg)
        if cfg.freeze_feature_encoder:
            self.model.feature_extractor.requires_grad_(False)
        self.dim = self.model.config.hidden_size

    def frames_of(self, num_samples):
        """Video frames covered by num_samples of audio (the clip's own count wins when known)."""
        return int(num_samples * self.cfg.fps // SAMPLE_RATE)

    def forward(self, wav, num_frames=None):
        if wav.dim() != 2:
            raise ValueError(f"E_A expects 16 kHz waveforms (B, N); got {tuple(wav.shape)}")
        if wav.shape[1] < 400:
            raise ValueError(f"E_A needs at least 400 samples (25 ms at 16 kHz); got {wav.shape[1]}")
        T = num_frames or self.frames_of(wav.shape[1])
        x = (wav - wav.mean(1, keepdim=True)) / (wav.std(1, keepdim=True) + 1e-7)    # utterance-normalised
        h = self.model(input_values=x).last_hidden_state                              # (B, N', C_A) at 50 Hz
        return F.interpolate(h.transpose(1, 2), size=T, mode="linear", align_corners=False).transpose(1, 2)
