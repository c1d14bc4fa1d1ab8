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

from talkinglib import checkpoints
from talkinglib.data.bank_targets import PoseSequences
from talkinglib.errors import InputError
from talkinglib.losses.edtalk import pose_reconstruction_loss, temporal_loss
from talkinglib.train.common import step_generator
from talkinglib.train.presets import as_preset
from talkinglib.train.trainer import Trainer

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


def audio2pose_losses(flow, w_pose, mel, cfg, g=None):
    """L_MLE, L^p_rec, L^p_tem for a batch. w_pose (B, N, 6), mel (B*N, 1, 80, 16)."""
    B, N, _ = w_pose.shape
    fa = flow.audio_features(mel, B, N)                                  # f^a_{1:N} (B, N, Da)
    mle = flow.nll(w_pose, fa).mean()                                    # EDTalk Eqs. 13 and A1, nats per dimension
    zhat = flow.draw_latent(B, N, g).to(w_pose) * cfg.temperature         # ẑ from the prior (N(0, I) in EDTalk Eq. 13)
    w_hat = flow.from_latent(zhat, fa)                                   # EDTalk Eq. A2
    return {"mle": mle, "rec": pose_reconstruction_loss(w_pose, w_hat), "tem": temporal_loss(w_pose, w_hat)}


def train_audio2pose(data_root, out_dir, init, preset="tiny", cfg=None, model_cfg=None, resume=True, progress=True,
                     callback=None, stop_at=None, device=None):
    """Train (or resume) E_a + φ_p on W^p from the EDTalk checkpoint `init`; writes out_dir/audio2pose.pt.
    Returns (the flow in eval mode, the logger)."""
    from talkinglib.models.pose_flow import PoseFlow
    from talkinglib.train.edtalk_common import initial_edtalk
    if init is None:
        raise InputError(f"{STAGE} reads W^p with a trained EDTalk: pass --init (an edtalk.mouth_pose or later "
                         "checkpoint, or the official EDTalk.pt)")
    preset = as_preset(STAGE, preset)                                  # a name is resolved here, once
    cfg = cfg or preset.train
    run = Trainer(STAGE, out_dir, "audio2pose.pt", cfg, device, resume, data=data_root)
    edtalk, _ = initial_edtalk(STAGE, init)
    model_cfg = model_cfg or replace(preset.model, pose_dim=edtalk.cfg.pose_dim, context=cfg.frames)
    flow = PoseFlow(model_cfg).to(run.device)
    run.attach(flow, torch.optim.Adam(flow.parameters(), lr=cfg.lr, betas=tuple(cfg.betas)),
               {"model": checkpoints.config_to_dict(model_cfg), "train": checkpoints.config_to_dict(cfg),
                "init": str(init)})
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

