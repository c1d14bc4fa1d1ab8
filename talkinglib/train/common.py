"""Plumbing shared by every training stage: seeding, the batch generator of a step, processes (torchrun),
the device, logging, the lr decay. The loop itself is train/trainer.py; the checkpoint format and loading
live in talkinglib/checkpoints.py, below both train/ and inference/.
"""
import math
import os
import random

import numpy as np
import torch
import torch.distributed as dist


def seed_everything(seed: int):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Logger:
    """TensorBoard scalars plus an in-memory history (notebooks plot from it)."""

    def __init__(self, log_dir=None):
        self.history = {}
        self._tb = None
        if log_dir is not None:
            from torch.utils.tensorboard import SummaryWriter
            self._tb = SummaryWriter(str(log_dir))

    def log(self, step, /, **scalars):
        for k, v in scalars.items():
            v = float(v)
            self.history.setdefault(k, []).append((step, v))
            if self._tb is not None:
                self._tb.add_scalar(k, v, step)

    def close(self):
        if self._tb is not None:
            self._tb.close()


def cosine_to_floor(lr, t, floor=0.05):
    """A half cosine from lr (t = 0) down to floor · lr (t ≥ 1): the decay of the probe's and the
    EDTalk stages' schedules."""
    return lr * (floor + (1 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t))))


def dist_info():
    """(rank, world_size); set up the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def average_gradients(params, world):
    """All-reduce the gradients of the trained parameters (frozen ones have none): DDP for a
    model whose trainable subset changes by stage."""
    if world == 1:
        return
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world


def resolve_device(device=None):
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def step_generator(seed, step, rank=0):
    """The batch of (seed, step, rank) is fixed: a resumed run draws the same data."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 64 + rank)
