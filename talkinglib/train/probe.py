"""Stage `probe`: train the factor probe on SynthTalk's training identities.

    talkinglib train probe --data data/synthtalk/tiny-seed0 --out runs/probe --preset tiny

One explicit loop: sample a batch, jitter its colours (identities differ in skin, hair and
background colour; the factors do not), predict, probe_loss, step. The learning rate follows a
cosine computed from the step, so a resumed run continues exactly where it stopped.
"""
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from talkinglib import checkpoints
from talkinglib.data.datasets import load_split_arrays, to_tensor_images
from talkinglib.losses.factors import probe_loss
from talkinglib.models.probe import REGRESSED, FactorProbe, ProbeConfig
from talkinglib.synth.probe_frames import dataset_probe_frames
from talkinglib.train import common
from talkinglib.train.presets import as_preset
from talkinglib.train.trainer import Trainer


@dataclass(frozen=True)
class ProbeTrainConfig:
    steps: int = 6000
    batch_size: int = 48
    extra_identities: int = 500      # random-frame identities (synth/probe_frames.py) added to the
    frames_per_identity: int = 32    #   dataset's training split; 0 trains on the split alone
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 50
    color_jitter: float = 0.25       # per-image, per-channel gain/offset range
    seed: int = 0
    log_every: int = 25
    ckpt_every: int = 200


TRAIN_PRESETS = {"tiny": ProbeTrainConfig(),
                 "full": ProbeTrainConfig(steps=20000, batch_size=128, lr=1e-3, extra_identities=3000)}

# `talkinglib train expert`: the same loop trains EDTalk's L_mot experts (models/experts.py), a
# smaller network with another seed, so the training loss is not the probe that scores results
EXPERT_TRAIN_PRESETS = {"tiny": ProbeTrainConfig(steps=2000, seed=1),
                        "full": ProbeTrainConfig(steps=10000, batch_size=128, lr=1e-3, extra_identities=3000,
                                                 seed=1)}


def training_frames(data_root, cfg: ProbeTrainConfig, size, progress=True):
    """The dataset's training split plus (cached) random frames of extra identities."""
    data = load_split_arrays(data_root, "train")
    data.pop("identity")
    if cfg.extra_identities > 0:
        extra = dataset_probe_frames(data_root, cfg.extra_identities, cfg.frames_per_identity, size,
                                     progress=progress, refusal=f", and extra_identities={cfg.extra_identities} "
                                     "adds SynthTalk faces to it: pass --set extra_identities=0")
        data = {k: np.concatenate([data[k], extra[k]]) for k in data}
    return data


def lr_at(step, cfg: ProbeTrainConfig):
    """Linear warm-up, then cosine decay to 5 % of the peak."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return common.cosine_to_floor(cfg.lr, t)


def color_jitter(x, strength, g):
    """x (B, 3, H, W) in [-1, 1]: y = gain * x + offset per image and channel, clamped."""
    B = x.shape[0]
    gain = 1 + strength * (2 * torch.rand(B, 3, 1, 1, generator=g) - 1)
    offset = strength * (2 * torch.rand(B, 3, 1, 1, generator=g) - 1)
    return (x * gain + offset).clamp(-1, 1)


def train_probe(data_root, out_dir, preset="tiny", model_cfg: ProbeConfig | None = None,
                cfg: ProbeTrainConfig | None = None, resume=True, progress=True, callback=None,
                stop_at=None, ckpt_name="probe.pt"):
    """Train (or resume) the probe; writes out_dir/<ckpt_name> and TensorBoard logs. Returns (model, logger).

    stop_at: leave the loop (with a checkpoint) at this step, as if interrupted; the schedule
    still runs over cfg.steps, so a later call resumes exactly where this one stopped.
    """
    preset = as_preset(("probe", "expert"), preset)                     # a name is resolved here, once
    model_cfg = model_cfg or preset.model
    cfg = cfg or preset.train
    run = Trainer("probe", out_dir, ckpt_name, cfg, resume=resume, device="cpu", data=data_root)   # seeds; resumes a run of its own

    size = json.loads((Path(data_root) / "dataset.json").read_text())["config"]["size"]
    data = training_frames(data_root, cfg, size, progress and run.rank == 0)
    N = len(data["images"])
    model = FactorProbe(model_cfg)
    model.set_target_stats({k: (data[k].mean(0), data[k].std(0)) for k in REGRESSED})
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    run.attach(model, opt, {"model": checkpoints.config_to_dict(model_cfg), "train": checkpoints.config_to_dict(cfg)})
    images = torch.from_numpy(data["images"])                              # (N, H, W, 3) uint8
    targets = {k: torch.from_numpy(data[k]) for k in ("mouth", "pose", "expression", "emotion")}

    last = run.begin(progress, stop_at, postfix=("loss",))
    while run.step < last:
        # the batch and the dropout masks depend only on (seed, step, rank): a resumed run replays
        # them; rank 0's stream is the single-process one, the other ranks draw their own batches
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + run.step + run.rank * 7_919_000_003)
        torch.manual_seed(cfg.seed * 1_000_003 + run.step)
        idx = torch.randint(N, (cfg.batch_size,), generator=g)
        x = color_jitter(to_tensor_images(images[idx].numpy()), cfg.color_jitter, g)   # (B, 3, H, W)
        y = {k: v[idx] for k, v in targets.items()}
        for k in REGRESSED:                                                # standardise targets
            y[k] = (y[k] - getattr(model, f"{k}_mean")) / getattr(model, f"{k}_std")
        for group in opt.param_groups:
            group["lr"] = lr_at(run.step, cfg)
        loss, parts = probe_loss(model.standardised(x), y)
        run.update(loss)
        run.end_step({"loss": loss, **{f"loss/{k}": v for k, v in parts.items()}}, callback)
    return run.close()
