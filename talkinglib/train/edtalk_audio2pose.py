"""Stage `edtalk.audio2pose`: the pose flow φ_p learns p(W^p | audio) from videos.

    talkinglib train edtalk.audio2pose --data DATA --out runs/a2p --init data/checkpoints/edtalk_tiny.pt

Implements: EDTalk §3.3 "Flow-Based Probabilistic Pose Generation", EDTalk Eqs. 13–14. The ground
truth W^p = PLN(E(I_t)) comes from the frozen EDTalk of --init (computed once for every frame
of the split and kept in memory); E_a and φ_p train together on sequences of N frames:
    L = L_MLE (EDTalk Eq. 13, nats per dimension) + w_rec L^p_rec + w_tem L^p_tem (EDTalk Eq. 14),
where L^p_rec and L^p_tem score Ŵ^p = φ_p(ẑ, f^a) decoded from a sample ẑ ~ N(0, τ² I). (EDTalk Eq. 14
reconstructs "Ŵ^p = φ_p(z, f^a)"; decoding the z of EDTalk Eq. 13 itself would return W^p exactly, so
the loss would be zero: we read z as the sampled code that inference uses.)
Checkpoints: {"config": {"stage", "model", "train", "init"}, "model", "optimizer", "step", ...}.
"""
from dataclasses import dataclass, replace

import torch

from talkinglib.errors import InputError
from talkinglib.losses.edtalk import pose_reconstruction_loss, temporal_loss
from talkinglib.data.datasets import ClipMedia
from talkinglib.train import common
from talkinglib.train.edtalk_common import BankTargets, step_generator
from talkinglib.train.module_stage import ModuleStage, load_stage_checkpoint

STAGE = "edtalk.audio2pose"


@dataclass(frozen=True)
class Audio2PoseTrainConfig:
    steps: int = 1500
    batch_size: int = 16
    frames: int = 25                 # N frames per training sequence (1 s at 25 fps)
    lr: float = 1e-3
    betas: tuple = (0.9, 0.99)
    temperature: float = 1.0         # τ of the sample scored by L_rec and L_tem
    w_mle: float = 1.0
    w_rec: float = 1.0
    w_tem: float = 1.0
    grad_clip: float = 5.0
    seed: int = 0
    log_every: int = 25
    ckpt_every: int = 250


TRAIN_PRESETS = {
    # tiny: lr 2e-3 and w_rec 0.1 (1e-3 / w_rec 1 learned more slowly: L_MLE −0.52 at 1500 steps). With EDTalk Eq. 13's
    # N(0, I) prior the samples at τ = 1 moved 2.6, 1.5, 1.4 times as fast as real heads (yaw, pitch, roll) at
    # 4000 steps and 2.5, 1.5, 1.0 at 8000; with the tiny flow's AR(1) prior (models/pose_flow.py, ours;
    # `runs/a2p_ar1`, same EDTalk, data/checkpoints/edtalk_tiny.pt) 0.96, 1.02, 1.14 at 2000 steps, 1.05, 1.16,
    # 1.06 at 3000 and 0.95, 1.06, 0.95 at 4000 (spread across samples 0.26 of the truth's std, was 0.08)
    "tiny": Audio2PoseTrainConfig(steps=4000, lr=2e-3, w_rec=0.1),
    "full": Audio2PoseTrainConfig(steps=30_000, batch_size=32, frames=50),   # "trained for one hour" (A.3)
}


class PoseSequences(ClipMedia):
    """Random N-frame windows of (W^p (N, 6), mel (N, 1, 80, 16)) from one split."""

    def __init__(self, data_root, edtalk, split="train", device="cpu"):
        super().__init__(data_root, split)
        self.targets = BankTargets(edtalk, self.store, device=device)                 # computed per clip on demand

    @property
    def angles(self):
        """True yaw, pitch, roll of every clip, a list of (T, 3): SynthTalk only (evaluation)."""
        from talkinglib.data.datasets import frame_factors
        return [torch.from_numpy(frame_factors(m)["pose"][:, :3]) for m in self.store.metas]

    @property
    def pose(self):
        """W^p of every clip, a list of (T, 6)."""
        return self.targets.all("pose")

    def sample(self, g, batch_size, frames):
        ws, mels = [], []
        for _ in range(batch_size):
            c = int(torch.randint(len(self.store), (1,), generator=g))
            T = len(self.targets[c]["pose"])
            if T < frames:
                raise ValueError(f"clip {self.store.names[c]} has {T} frames, fewer than N = {frames}")
            s = int(torch.randint(T - frames + 1, (1,), generator=g))
            ws.append(self.targets[c]["pose"][s:s + frames])
            mels.append(self.mel(c)[s:s + frames])
        return torch.stack(ws), torch.cat(mels)                          # (B, N, 6), (B*N, 1, 80, 16)


def audio2pose_losses(flow, w_pose, mel, cfg, g=None):
    """L_MLE, L^p_rec, L^p_tem for a batch. w_pose (B, N, 6), mel (B*N, 1, 80, 16)."""
    B, N, _ = w_pose.shape
    fa = flow.audio_features(mel, B, N)                                  # f^a_{1:N} (B, N, Da)
    mle = flow.nll(w_pose, fa).mean()                                    # EDTalk Eqs. 13 and A1, nats per dimension
    zhat = flow.draw_latent(B, N, g).to(w_pose) * cfg.temperature         # ẑ from the prior (N(0, I) in EDTalk Eq. 13)
    w_hat = flow.from_latent(zhat, fa)                                   # EDTalk Eq. A2
    return {"mle": mle, "rec": pose_reconstruction_loss(w_pose, w_hat), "tem": temporal_loss(w_pose, w_hat)}


def load_audio2pose(path):
    """(PoseFlow in eval mode, checkpoint state) from an edtalk.audio2pose checkpoint. A checkpoint
    from before PoseFlowConfig.context reads a sequence whole (context 0), as it was evaluated."""
    from talkinglib.models.pose_flow import PoseFlow, PoseFlowConfig
    return load_stage_checkpoint(path, STAGE, PoseFlow, PoseFlowConfig)


def train_audio2pose(data_root, out_dir, init, preset="tiny", cfg=None, model_cfg=None, resume=True, progress=True,
                     callback=None, stop_at=None, device=None):
    """Train (or resume) E_a + φ_p on W^p from the EDTalk checkpoint `init`; writes out_dir/audio2pose.pt.
    Returns (the flow in eval mode, the logger)."""
    from talkinglib.models.pose_flow import PRESETS, PoseFlow
    from talkinglib.train.edtalk_common import _initial_model
    if init is None:
        raise InputError(f"{STAGE} reads W^p with a trained EDTalk: pass --init (an edtalk.mouth_pose or later "
                         "checkpoint, or the official EDTalk.pt)")
    cfg = cfg or TRAIN_PRESETS[preset]
    run = ModuleStage(STAGE, out_dir, "audio2pose.pt", cfg, device)
    edtalk, _ = _initial_model(STAGE, preset, init, None)
    model_cfg = model_cfg or replace(PRESETS[preset], pose_dim=edtalk.cfg.pose_dim, context=cfg.frames)
    flow = PoseFlow(model_cfg).to(run.device)
    run.attach(flow, torch.optim.Adam(flow.parameters(), lr=cfg.lr, betas=tuple(cfg.betas)),
               {"model": common.config_to_dict(model_cfg), "train": common.config_to_dict(cfg), "init": str(init)},
               resume)
    data = PoseSequences(data_root, edtalk, "train", device=run.device)
    last = run.begin(progress, stop_at)
    while run.step < last:
        g = step_generator(cfg.seed, run.step, run.rank)
        w_pose, mel = data.sample(g, cfg.batch_size, cfg.frames)
        losses = audio2pose_losses(flow, w_pose.to(run.device), mel.to(run.device), cfg, g)
        loss = cfg.w_mle * losses["mle"] + cfg.w_rec * losses["rec"] + cfg.w_tem * losses["tem"]
        run.update(loss, clip=cfg.grad_clip)
        run.end_step({"loss": loss, **losses}, callback)
    return run.close()


def velocity_std(x):
    """std over time of the frame-to-frame change, pooled over sequences: list of (T, C) -> (C,)."""
    return torch.cat([s[1:] - s[:-1] for s in x]).std(0)


def linear_readout(features, targets):
    """Least squares with a bias: lists of (T, F) and (T, C) -> (F + 1, C)."""
    X, Y = torch.cat(features).double(), torch.cat(targets).double()
    X = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], 1)
    return torch.linalg.lstsq(X, Y).solution.float()


def apply_readout(A, x):
    return torch.cat([x, torch.ones(len(x), 1)], 1) @ A


@torch.no_grad()
def evaluate_pose(flow, train, test, samples=4, temperature=1.0, seed=0):
    """Sampled poses for each test clip's audio against the clip's ground truth.

    Yaw/pitch/roll are read from W^p by a linear read-out fitted on the training frames (the same
    instrument for ground truth and samples). Returns a dict: readout_r2 (test, per angle),
    velocity_std of the true angles, of the read-out ground truth and of the samples (per angle),
    their ratio, and diversity (mean |sample_i - sample_j| over the ground truth's std)."""
    A = linear_readout(train.pose, train.angles)
    gt_read = [apply_readout(A, w) for w in test.pose]
    ang = torch.cat(test.angles)
    r2 = 1 - ((torch.cat(gt_read) - ang) ** 2).sum(0) / ((ang - ang.mean(0)) ** 2).sum(0)
    g = torch.Generator().manual_seed(seed)
    draws = [[flow.sample(test.mel(c), batch=1, temperature=temperature, generator=g)[0].cpu()
              for _ in range(samples)] for c in range(len(test.pose))]
    sampled = [apply_readout(A, w) for d in draws for w in d]
    v_true, v_gt, v_smp = velocity_std(test.angles), velocity_std(gt_read), velocity_std(sampled)
    spread = torch.stack([torch.stack(d).std(0).mean() for d in draws]).mean()     # across samples of one audio
    return {"readout_r2": r2.tolist(), "velocity_std_true": v_true.tolist(), "velocity_std_gt": v_gt.tolist(),
            "velocity_std_samples": v_smp.tolist(), "ratio_vs_gt": (v_smp / v_gt).tolist(),
            "diversity": float(spread / torch.cat(test.pose).std(0).mean()),
            "samples": samples, "temperature": temperature}


def summarise(stats):
    names = ("yaw", "pitch", "roll")
    return "\n".join(f"{n:5s}: read-out R² {stats['readout_r2'][i]:.2f}; velocity std true {stats['velocity_std_true'][i]:.3f}"
                     f", read-out GT {stats['velocity_std_gt'][i]:.3f}, samples {stats['velocity_std_samples'][i]:.3f}"
                     f" (ratio {stats['ratio_vs_gt'][i]:.2f})" for i, n in enumerate(names)) + \
        f"\ndiversity (spread across samples / GT std): {stats['diversity']:.2f}"

