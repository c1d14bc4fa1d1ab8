"""Stage `syncnet`: the lip-sync expert learns, contrastively, whether a mouth and a sound belong together.

    talkinglib train syncnet --data DATA --out runs/syncnet --preset tiny

Implements: Wav2Lip's expert training [41] on SynthTalk. A face window (5 frames centred on t)
of a training clip is paired with the mel window of frame t (in sync) and with windows of frames
t' of the same clip at least `min_shift` frames away (out of sync). Two objectives on
S(v, s) = cos(v, s) (models/syncnet.py):
- "bce" (Wav2Lip's): binary cross-entropy of S against in/out, one shifted window per face;
- "infonce" (tiny default): softmax over scale · S of the own window and K shifted ones, which
  must pick the own window. In our runs BCE stayed at chance (loss 0.69) for 1500 tiny steps, as
  Wav2Lip's expert is known to for a long while; the K-way choice gives a signal from step one.
The same clip on both sides means the expert must read the mouth, not the identity or the voice.
Checkpoints: {"config": {"stage", "model", "train"}, "model", "optimizer", "step", ...}.
"""
from dataclasses import dataclass

import torch

from talkinglib import checkpoints
from talkinglib.data.sync_pairs import SyncPairs
from talkinglib.errors import InputError
from talkinglib.train.common import step_generator
from talkinglib.train.presets import as_preset
from talkinglib.train.trainer import Trainer

STAGE = "syncnet"


@dataclass(frozen=True)
class SyncNetTrainConfig:
    steps: int = 1500
    batch_size: int = 32
    lr: float = 5e-4
    min_shift: int = 5                # out-of-sync windows start this many frames away (a window is 5 frames)
    objective: str = "infonce"        # "bce": Wav2Lip's S vs in/out label; "infonce": pick the own window
    negatives: int = 7                # infonce: shifted windows of the same clip per face window
    scale: float = 10.0               # infonce: logits = scale · S
    seed: int = 0
    log_every: int = 25
    ckpt_every: int = 250


TRAIN_PRESETS = {
    "tiny": SyncNetTrainConfig(steps=2500),
    "full": SyncNetTrainConfig(steps=200_000, batch_size=64, lr=1e-4, objective="bce"),  # Wav2Lip's expert
}


def train_syncnet(data_root, out_dir, preset="tiny", cfg=None, model_cfg=None, resume=True, progress=True,
                  callback=None, stop_at=None, device=None):
    """Train (or resume) the SyncNet expert; writes out_dir/syncnet.pt. Returns (net in eval mode, logger)."""
    from talkinglib.models.syncnet import SyncNet, contrastive_sync_loss, info_nce_sync_loss
    preset = as_preset(STAGE, preset)                                  # a name is resolved here, once
    cfg = cfg or preset.train
    if cfg.objective not in ("bce", "infonce"):
        raise InputError(f"objective must be 'bce' or 'infonce', got {cfg.objective!r}")
    run = Trainer(STAGE, out_dir, "syncnet.pt", cfg, device, resume, data=data_root)
    model_cfg = model_cfg or preset.model
    net = SyncNet(model_cfg).to(run.device)
    run.attach(net, torch.optim.Adam(net.parameters(), lr=cfg.lr),
               {"model": checkpoints.config_to_dict(model_cfg), "train": checkpoints.config_to_dict(cfg)})
    data = SyncPairs(data_root, "train", model_cfg.frames)
    last = run.begin(progress, stop_at)
    while run.step < last:
        g = step_generator(cfg.seed, run.step, run.rank)
        face, mel = data.sample(g, cfg.batch_size, cfg.negatives if cfg.objective == "infonce" else 1,
                                cfg.min_shift)
        face, mel = face.to(run.device), mel.to(run.device)            # (B, F, 3, H, W), (B, 1 + K, 1, 80, 16)
        B, K1 = mel.shape[:2]
        v = net.embed_face(net.face_input(face))                        # (B, D)
        s = net.embed_audio(mel.flatten(0, 1)).view(B, K1, -1)         # (B, 1 + K, D)
        prob = (v[:, None] * s).sum(-1)                                 # S for every pair (B, 1 + K)
        if cfg.objective == "infonce":
            loss = info_nce_sync_loss(prob, cfg.scale)
        else:
            y = torch.zeros_like(prob)
            y[:, 0] = 1
            loss = contrastive_sync_loss(prob.flatten(), y.flatten())
        run.update(loss)
        ranking = (prob.detach().argmax(1) == 0).float().mean()        # the own window ranks first
        run.end_step({"loss": loss, "ranking": ranking}, callback)
    return run.close()
