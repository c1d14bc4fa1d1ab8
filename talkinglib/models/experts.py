"""The experts φ and ψ of EDTalk's motion loss L_mot (EDTalk Eq. 9), for SynthTalk.

Implements: EDTalk Eq. 9: L_mot = ‖φ(I^d) − φ(Î)‖₂ + ‖ψ(I^d) − ψ(Î)‖₂, where the paper's φ is a
3D face reconstruction network (expression coefficients) and ψ an emotion network, both
pretrained elsewhere. On SynthTalk both come from one small frame CNN trained on the known
factors (`talkinglib train expert`):
    φ(I) = the predicted 3DMM-lite mouth and expression coefficients, standardised and
           divided by √14, so ‖φ(I) − φ(I')‖₂ is their RMS difference                  (B, 14)
    ψ(I) = the emotion probabilities softmax(logits)                                   (B, 8)
Why these scales: L_mot carries weight 10 beside an L1 of about 0.1. With raw logits, ψ's
distance between two frames of different emotions is 2-3 and grows without bound as the expert
grows confident, so 10·L_mot swamped L_rec (L1 rose from 0.12 to 0.31 in 400 tiny steps, with the
generator pushing images towards what the small expert scores, not towards I^d). Probabilities
are bounded (‖Δψ‖₂ ≤ √2), and the RMS φ distance of two random frames is about √2 as well.
It shares the factor probe's architecture (models/probe.py) but not its weights: a smaller
network, another seed, so the loss a model trains on is not the probe that later scores it.
On real data, any pair of frozen networks with the same call signature plugs in.
"""
from dataclasses import dataclass

import torch
import torch.nn as nn

from talkinglib.losses.perceptual import perceptual_loss
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
        phi = torch.cat([out["mouth"], out["expression"]], -1)                  # (B, 14), unit variance each
        return MotionFeatures(phi=phi / phi.shape[-1] ** 0.5, psi=out["emotion"].softmax(-1))


class ExpertPerceptual(SynthMotionExperts):
    """L_per with the expert's own feature maps as Φ_l: a SynthTalk stand-in for EDTalk Eq. 5's VGG19.

    NOT in EDTalk or LIA (EDTalkTrainConfig.perceptual="expert"). Offline there is no ImageNet VGG19, and
    a random VGG's features know nothing of mouths; the expert's stem and four stages were trained to
    read SynthTalk's factors from a frame, so their features move with the jaw a few pixels wide.
        L_per = Σ_l mean((Φ_l(I) − Φ_l(Î))²),   l = stem (S²), stage 1 ... 4 (S/2² ... S/16²)
    The expert is not the probe that scores results (models/experts.py's docstring), and it needs
    SynthTalk's factors to be trained, so on real data use the ImageNet VGG19 (perceptual="imagenet").
    Same call as VGGPerceptual: .loss(real, fake) with images (B, 3, H, W) in [-1, 1]. The frozen,
    eval-mode probe is SynthMotionExperts' own.
    """

    def features(self, image):
        """image (B, 3, H, W) in [-1, 1] -> [Φ_l], one (B, C_l, H_l, W_l) per stem and stage."""
        image = self.probe.fit_size(image)
        out = []
        for block in self.probe.features:
            image = block(image)
            out.append(image)
        return out

    def loss(self, real, fake):
        if real.shape != fake.shape or real.dim() != 4 or real.shape[1] != 3:
            raise ValueError(f"real and fake must both be (B, 3, H, W); got {tuple(real.shape)} and {tuple(fake.shape)}")
        with torch.no_grad():
            feats_real = self.features(real)
        feats_fake = self.features(fake)
        return perceptual_loss(feats_real, feats_fake, (1.0,) * len(feats_fake))     # EDTalk Eq. 5's mean squared form

    forward = loss
