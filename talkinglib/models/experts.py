"""The experts φ and ψ of EDTalk's motion loss L_mot (Eq. 9), for SynthTalk.

Implements: EDTalk Eq. (9): L_mot = ‖φ(I^d) − φ(Î)‖₂ + ‖ψ(I^d) − ψ(Î)‖₂, where the paper's φ is a
3D face reconstruction network (expression coefficients) and ψ an emotion network, both
pretrained elsewhere. On SynthTalk both come from one small frame CNN trained on the known
factors (`talkinglib train expert`):
    φ(I) = the predicted 3DMM-lite mouth and expression coefficients, standardised   (B, 14)
    ψ(I) = the emotion logits                                                          (B, 8)
It shares the factor probe's architecture (models/probe.py) but not its weights: a smaller
network, another seed, so the loss a model trains on is not the probe that later scores it.
On real data, any pair of frozen networks with the same call signature plugs in.
"""
from dataclasses import dataclass

import torch
import torch.nn as nn

from talkinglib.models.probe import FactorProbe, ProbeConfig

EXPERT_PRESETS = {"tiny": ProbeConfig(stem=8, channels=(16, 32, 64, 64), hidden=128),
                  "full": ProbeConfig(image_size=128, stem=16, channels=(32, 64, 96, 128, 128), hidden=256)}


@dataclass(frozen=True)
class MotionFeatures:
    phi: torch.Tensor    # (B, K_φ) 3D coefficients
    psi: torch.Tensor    # (B, K_ψ) emotion features


class SynthMotionExperts(nn.Module):
    """Frozen φ and ψ from a trained FactorProbe. Gradients flow to the input image only."""

    def __init__(self, probe: FactorProbe):
        super().__init__()
        self.probe = probe.eval().requires_grad_(False)

    def train(self, mode=True):          # the expert stays in eval mode (BatchNorm, dropout)
        return super().train(False)

    def forward(self, image) -> MotionFeatures:
        out = self.probe.standardised(image)          # standardised coefficients, emotion logits
        return MotionFeatures(phi=torch.cat([out["mouth"], out["expression"]], -1), psi=out["emotion"])
