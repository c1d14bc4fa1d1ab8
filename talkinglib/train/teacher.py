"""Stage `teacher`: RETA's visual emotion teacher T, trained on labelled SynthTalk frames.

    talkinglib train teacher --data data/synthtalk/tiny-seed0 --out runs/teacher --preset tiny

RETA's teacher is "a ViT pre-trained on a large-scale facial expression dataset" (§3.1): it
learned from labels somewhere else, and RETA's student never sees one. Here the tiny ViT
(models/emotion.py) learns the 8 emotions from frames of the dataset's training identities
plus SynthTalk's random-frame identities (as the factor probe does, synth/probe_frames.py), with
colour jitter; the test identities stay unseen. One explicit loop: batch, jitter, cross-entropy, step.
At `full` the teacher is the registry's pretrained facial-expression ViT; this stage is not needed.
"""
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from talkinglib import checkpoints
from talkinglib.data.datasets import to_tensor_images
from talkinglib.errors import InputError
from talkinglib.train.common import step_generator
from talkinglib.train.presets import as_preset
from talkinglib.train.probe import ProbeTrainConfig, color_jitter, training_frames
from talkinglib.train.trainer import Trainer

STAGE = "teacher"


@dataclass(frozen=True)
class TeacherTrainConfig:
    steps: int = 3000
    batch_size: int = 64
    lr: float = 1e-3
    warmup: int = 100                # linear warm-up steps (transformers trained from scratch need one)
    weight_decay: float = 0.05
    extra_identities: int = 500      # random-frame identities beside the training split (probe_frames.py)
    frames_per_identity: int = 32
    color_jitter: float = 0.25
    seed: int = 0
    log_every: int = 25
    ckpt_every: int = 250


TRAIN_PRESETS = {"tiny": TeacherTrainConfig(steps=6000, extra_identities=1000),
                 "full": TeacherTrainConfig(steps=20000, batch_size=128, extra_identities=3000)}


def lr_at(step, cfg: TeacherTrainConfig):
    """Linear warm-up, then cosine decay to 0, computed from the step (a resume continues it)."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)))


def train_teacher(data_root, out_dir, preset="tiny", cfg=None, model_cfg=None, resume=True, progress=True,
                  callback=None, stop_at=None, device=None):
    """Train (or resume) the tiny teacher; writes out_dir/teacher.pt. Returns (teacher in eval mode, logger)."""
    from talkinglib.models.emotion import EmotionTeacher
    preset = as_preset(STAGE, preset)                                  # a name is resolved here, once
    cfg = cfg or preset.train
    model_cfg = model_cfg or preset.model
    if model_cfg.weights:
        raise InputError(f"the {preset} teacher is the pretrained '{model_cfg.weights}' (talkinglib weights fetch "
                         f"{model_cfg.weights}); `train teacher` trains built configs only (--preset tiny)")
    run = Trainer(STAGE, out_dir, "teacher.pt", cfg, device, resume, data=data_root)
    teacher = EmotionTeacher(model_cfg).to(run.device)
    run.attach(teacher, torch.optim.AdamW(teacher.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay),
               {"model": checkpoints.config_to_dict(model_cfg), "train": checkpoints.config_to_dict(cfg)})
    size = json.loads((Path(data_root) / "dataset.json").read_text())["config"]["size"]
    frames = training_frames(data_root, ProbeTrainConfig(extra_identities=cfg.extra_identities,
                                                         frames_per_identity=cfg.frames_per_identity),
                             size, progress and run.rank == 0)
    images = torch.from_numpy(frames["images"])                            # (N, H, W, 3) uint8
    labels = torch.from_numpy(np.asarray(frames["emotion"], np.int64))     # SynthTalk's EMOTIONS order
    last = run.begin(progress, stop_at)
    while run.step < last:
        g = step_generator(cfg.seed, run.step, run.rank)
        idx = torch.randint(len(images), (cfg.batch_size,), generator=g)
        x = color_jitter(to_tensor_images(images[idx].numpy()), cfg.color_jitter, g).to(run.device)
        y = labels[idx].to(run.device)
        for group in run.opt.param_groups:
            group["lr"] = lr_at(run.step, cfg)
        _, logits = teacher(x)
        loss = F.cross_entropy(logits, y)
        run.update(loss)
        run.end_step({"loss": loss, "acc": (logits.argmax(-1) == y).float().mean()}, callback)
    return run.close()
