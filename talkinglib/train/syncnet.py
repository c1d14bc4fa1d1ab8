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

from talkinglib.data.datasets import ClipMedia
from talkinglib.errors import InputError
from talkinglib.train import common
from talkinglib.train.edtalk_common import step_generator
from talkinglib.train.module_stage import ModuleStage, load_stage_checkpoint

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


class SyncPairs(ClipMedia):
    """(face window, mel window, in-sync label) triples from one split."""

    def __init__(self, data_root, split="train", frames=5):
        super().__init__(data_root, split)
        self.n, self.h = frames, frames // 2

    def sample(self, g, batch_size, negatives=1, min_shift=5):
        """Face windows (B, F, 3, H, W) and mel windows (B, 1 + negatives, 1, 80, 16): index 0 is the
        window's own audio (in sync), the others come from frames of the same clip >= min_shift away."""
        faces, mels = [], []
        for _ in range(batch_size):
            c = int(torch.randint(len(self.store), (1,), generator=g))
            mel, T = self.mel(c), self.num_frames(c)
            t = int(torch.randint(self.h, T - self.h, (1,), generator=g))
            far = torch.tensor([u for u in range(T) if abs(u - t) >= min_shift])
            off = far[torch.randperm(len(far), generator=g)[:negatives]]
            faces.append(self.frames(c, slice(t - self.h, t + self.h + 1)))
            mels.append(mel[torch.cat([torch.tensor([t]), off])])
        return torch.stack(faces), torch.stack(mels)


def load_syncnet(path):
    """(SyncNet in eval mode, checkpoint state) from a `talkinglib train syncnet` checkpoint."""
    from talkinglib.models.syncnet import SyncNet, SyncNetConfig
    return load_stage_checkpoint(path, STAGE, SyncNet, SyncNetConfig)


@torch.no_grad()
def pair_accuracy(net, pairs, n=512, seed=123, min_shift=5):
    """On n face windows, each with its own audio and one shifted window of the same clip:
    "ranking" = how often S(in sync) > S(shifted), "accuracy" = S > 0.5 read as a yes/no answer on
    both (2n answers), and the mean S of each."""
    g = torch.Generator().manual_seed(seed)
    face, mel = pairs.sample(g, n, 1, min_shift)
    net = net.eval()
    p = torch.cat([torch.stack([net.sync_probability(mel[i:i + 128, k], face[i:i + 128]) for k in (0, 1)], 1)
                   for i in range(0, n, 128)])                                  # (n, 2): in sync, shifted
    return {"ranking": float((p[:, 0] > p[:, 1]).float().mean()),
            "accuracy": float(((p[:, 0] > 0.5).float().mean() + (p[:, 1] <= 0.5).float().mean()) / 2),
            "p_sync": float(p[:, 0].mean()), "p_off": float(p[:, 1].mean())}


def train_syncnet(data_root, out_dir, preset="tiny", cfg=None, model_cfg=None, resume=True, progress=True,
                  callback=None, stop_at=None, device=None):
    """Train (or resume) the SyncNet expert; writes out_dir/syncnet.pt. Returns (net in eval mode, logger)."""
    from talkinglib.models.syncnet import PRESETS, SyncNet, contrastive_sync_loss, info_nce_sync_loss
    cfg = cfg or TRAIN_PRESETS[preset]
    if cfg.objective not in ("bce", "infonce"):
        raise InputError(f"objective must be 'bce' or 'infonce', got {cfg.objective!r}")
    run = ModuleStage(STAGE, out_dir, "syncnet.pt", cfg, device)
    model_cfg = model_cfg or PRESETS[preset]
    net = SyncNet(model_cfg).to(run.device)
    run.attach(net, torch.optim.Adam(net.parameters(), lr=cfg.lr),
               {"model": common.config_to_dict(model_cfg), "train": common.config_to_dict(cfg)}, resume)
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
