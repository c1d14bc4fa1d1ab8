"""Can an encoder learn the mouth? E plus a linear head, trained directly on SynthTalk's truth.

Issue 18's diagnosis: before G or the banks play any part, E must be able to put a few-pixel jaw
into its latent. Train E and a linear head (latent -> the 4 mouth and 5 pose factors, standardised)
by MSE on the training identities plus SynthTalk's random-frame identities, then score the head on
the held-out identities:

    ŷ = A · E(I).latent + c        L = mean (ŷ − (y − μ) / σ)²        R² per factor on test identities

LIA's normalisation-free E (encoder_norm="none") stays near R² 0 for the jaw in 400 steps; the
BatchNorm E of the tiny preset passes 0.8 (numbers in EDTalkConfig.encoder_norm and notebook 02).
"""
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from talkinglib.data.datasets import load_split_arrays, to_tensor_images
from talkinglib.eval.factors import r2_score
from talkinglib.synth.factors import MOUTH, POSE


@dataclass(frozen=True)
class ReadoutConfig:
    steps: int = 300
    batch_size: int = 32
    lr: float = 2e-3
    extra_identities: int = 500      # SynthTalk random-frame identities added to the training frames
    frames_per_identity: int = 32
    eval_every: int = 100
    seed: int = 0


def _targets(d):
    return np.concatenate([d["mouth"], d["pose"]], 1).astype(np.float32)           # (N, 9)


def _extra(root, cfg, size):
    from talkinglib.synth.probe_frames import dataset_probe_frames
    return dataset_probe_frames(root, cfg.extra_identities, cfg.frames_per_identity, size, progress=False,
                                refusal=": the read-out needs ground-truth factors")


@torch.no_grad()
def _predict(encoder, head, images, batch=256):
    encoder.eval()
    out = torch.cat([head(encoder(to_tensor_images(images[i:i + batch]))[0]) for i in range(0, len(images), batch)])
    encoder.train()
    return out.numpy()


def train_readout(encoder, root, cfg=ReadoutConfig(), progress=None):
    """Train `encoder` (an Encoder: img -> (latent (B, D), feats)) and a linear head in place.
    Returns {"curve": [(step, {factor: R²})], "r2": {factor: R²} at the end, "seconds"}; R² on the
    test split. progress: a callable(step, r2) or None."""
    train, test = load_split_arrays(root, "train"), load_split_arrays(root, "test")
    images, y = train["images"], _targets(train)
    if cfg.extra_identities:
        ex = _extra(root, cfg, images.shape[1])
        images, y = np.concatenate([images, ex["images"]]), np.concatenate([y, _targets(ex)])
    mu, sd = y.mean(0), y.std(0) + 1e-6
    Y = torch.from_numpy((y - mu) / sd)
    torch.manual_seed(cfg.seed)
    latent_dim = encoder(to_tensor_images(images[:2]))[0].shape[1]
    head = nn.Linear(latent_dim, Y.shape[1])
    opt = torch.optim.Adam(list(encoder.parameters()) + list(head.parameters()), lr=cfg.lr)
    g = torch.Generator().manual_seed(cfg.seed)
    names, curve, t0 = list(MOUTH) + list(POSE), [], time.time()
    encoder.train()
    for step in range(1, cfg.steps + 1):
        idx = torch.randint(len(Y), (cfg.batch_size,), generator=g)
        loss = ((head(encoder(to_tensor_images(images[idx.numpy()]))[0]) - Y[idx]) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % cfg.eval_every == 0 or step == cfg.steps:
            r2 = r2_score(_targets(test), _predict(encoder, head, test["images"]) * sd + mu)
            curve.append((step, dict(zip(names, map(float, r2)))))
            if progress:
                progress(step, curve[-1][1])
    encoder.eval()
    return {"curve": curve, "r2": curve[-1][1], "seconds": time.time() - t0}
