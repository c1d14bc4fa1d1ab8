"""Factor probe: a small CNN from one frame to (mouth, pose, expression, emotion).

Implements: SYNTHTALK.md "Expert networks: Factor probe". It stands in for the landmark
detector and Emotion-FAN of the papers' evaluations: it scores generated frames against the
factors that SynthTalk knows.
"""
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from talkinglib.constants import EMOTIONS
from talkinglib.synth.factors import EXPRESSION, MOUTH, POSE


@dataclass(frozen=True)
class ProbeConfig:
    image_size: int = 64                      # frames are resized to this before the CNN
    stem: int = 16                            # a full-resolution conv first: mouths are a few px
    channels: tuple = (16, 32, 64, 128)       # one stride-2 stage each: 64 -> 4
    hidden: int = 256
    dropout: float = 0.1


PRESETS = {"tiny": ProbeConfig(),
           "full": ProbeConfig(image_size=128, stem=32, channels=(32, 64, 128, 192, 256), hidden=512)}

HEADS = {"mouth": len(MOUTH), "pose": len(POSE), "expression": len(EXPRESSION), "emotion": len(EMOTIONS)}
REGRESSED = ("mouth", "pose", "expression")


def _stage(c_in, c_out):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class FactorProbe(nn.Module):
    """image (B, 3, H, W) in [-1, 1] -> {"mouth" (B, 4), "pose" (B, 5), "expression" (B, 10), "emotion" (B, 8) logits}.

    Regression heads predict standardised targets; `forward` undoes the standardisation with
    the training set's statistics (buffers), so outputs are in the factors' own units.
    """

    def __init__(self, cfg: ProbeConfig = ProbeConfig()):
        super().__init__()
        self.cfg = cfg
        chans = (cfg.stem,) + tuple(cfg.channels)
        stem = nn.Sequential(nn.Conv2d(3, cfg.stem, 3, padding=1, bias=False), nn.BatchNorm2d(cfg.stem),
                             nn.ReLU(inplace=True))
        self.features = nn.Sequential(stem, *[_stage(a, b) for a, b in zip(chans[:-1], chans[1:])])
        side = cfg.image_size // 2 ** len(cfg.channels)
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(chans[-1] * side * side, cfg.hidden),
                                   nn.ReLU(inplace=True), nn.Dropout(cfg.dropout))
        self.heads = nn.ModuleDict({k: nn.Linear(cfg.hidden, n) for k, n in HEADS.items()})
        for k in REGRESSED:
            self.register_buffer(f"{k}_mean", torch.zeros(HEADS[k]))
            self.register_buffer(f"{k}_std", torch.ones(HEADS[k]))

    def set_target_stats(self, stats):
        """stats: {name: (mean (n,), std (n,))} of the regression targets on the training set."""
        for k, (m, s) in stats.items():
            getattr(self, f"{k}_mean").copy_(torch.as_tensor(m))
            getattr(self, f"{k}_std").copy_(torch.as_tensor(s).clamp(min=1e-3))

    def fit_size(self, image):
        """image (B, 3, H, W) resized (bilinear, antialiased) to the probe's image_size², if it is not already."""
        if image.shape[-1] != self.cfg.image_size or image.shape[-2] != self.cfg.image_size:
            image = F.interpolate(image, size=self.cfg.image_size, mode="bilinear", antialias=True,
                                  align_corners=False)
        return image

    def standardised(self, image):
        """The raw head outputs (standardised regression targets, emotion logits)."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"FactorProbe expects images (B, 3, H, W), got {tuple(image.shape)}")
        h = self.trunk(self.features(self.fit_size(image)))    # (B, hidden)
        return {k: head(h) for k, head in self.heads.items()}

    def forward(self, image):
        out = self.standardised(image)
        for k in REGRESSED:
            out[k] = out[k] * getattr(self, f"{k}_std") + getattr(self, f"{k}_mean")
        return out
