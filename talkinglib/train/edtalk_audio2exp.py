"""Stage `edtalk.audio2exp`: expression weights from speech and transcript (E_S, E_T, MLP^e_A).

    talkinglib train edtalk.audio2exp --data DATA --out runs/a2e --init data/checkpoints/edtalk_tiny.pt

Implements: EDTalk §3.3 "Semantically-Aware Expression Generation", EDTalk Eq. 15 and
L_exp = ‖W^e − Ŵ^e‖₁, with W^e the frozen ELN's expression weights of the clip's frames (their
mean over the clip: one emotion per clip). Each sample: a random `seconds`-long crop of a
training clip's audio, its transcript, and EDTalk Eq. 15's modality mask. HuBERT's CNN feature encoder
stays frozen; its transformer blocks, E_T, the mask vectors and MLP^e_A train.
Checkpoints: {"config": {"stage", "model", "train", "init"}, "model", "optimizer", "step", ...}.
"""
from dataclasses import dataclass

import torch

from talkinglib import checkpoints
from talkinglib.data.bank_targets import ExpressionClips
from talkinglib.errors import InputError
from talkinglib.train.common import step_generator
from talkinglib.train.presets import as_preset
from talkinglib.train.trainer import Trainer

STAGE = "edtalk.audio2exp"


@dataclass(frozen=True)
class Audio2ExpTrainConfig:
    steps: int = 600
    batch_size: int = 8
    lr: float = 1e-3
    seconds: float = 2.0             # audio crop per sample
    seed: int = 0
    log_every: int = 25
    ckpt_every: int = 250


TRAIN_PRESETS = {
    "tiny": Audio2ExpTrainConfig(),
    "full": Audio2ExpTrainConfig(steps=20_000, batch_size=16, lr=1e-5),    # fine-tuning pretrained encoders
}


def l1_expression_loss(w, w_hat):
    """L_exp = ‖W^e − Ŵ^e‖₁: the L1 norm per sample, mean over the batch. (B, 10) each."""
    return (w - w_hat).abs().sum(-1).mean()


def train_audio2exp(data_root, out_dir, init, preset="tiny", cfg=None, model_cfg=None, resume=True, progress=True,
                    callback=None, stop_at=None, device=None):
    """Train (or resume) E_S, E_T and MLP^e_A on the ELN weights of the EDTalk `init`; writes
    out_dir/audio2exp.pt. Returns (the model in eval mode, the logger)."""
    from dataclasses import replace
    from talkinglib.models.semantic_expression import SemanticExpression
    from talkinglib.train.edtalk_common import initial_edtalk
    if init is None:
        raise InputError(f"{STAGE} learns the ELN weights of a trained EDTalk: pass --init (an edtalk.expression "
                         "checkpoint, or the official EDTalk.pt)")
    preset = as_preset(STAGE, preset)                                  # a name is resolved here, once
    cfg = cfg or preset.train
    run = Trainer(STAGE, out_dir, "audio2exp.pt", cfg, device, resume, data=data_root)
    edtalk, _ = initial_edtalk(STAGE, init)
    model_cfg = model_cfg or replace(preset.model, exp_dim=edtalk.cfg.exp_dim)
    model = SemanticExpression(model_cfg).to(run.device)
    run.attach(model, torch.optim.Adam(model.trainable_parameters(), lr=cfg.lr),
               {"model": checkpoints.config_to_dict(model_cfg), "train": checkpoints.config_to_dict(cfg),
                "init": str(init)})
    data = ExpressionClips(data_root, edtalk, "train", device=run.device)
    last = run.begin(progress, stop_at)
    while run.step < last:
        g = step_generator(cfg.seed, run.step, run.rank)
        wav, texts, w, _ = data.sample(g, cfg.batch_size, cfg.seconds)
        mask_audio, mask_text = model.modality_mask(len(wav), g)      # EDTalk Eq. 15
        w_hat = model(wav.to(run.device), texts, mask_audio=mask_audio, mask_text=mask_text)
        loss = l1_expression_loss(w.to(run.device), w_hat)
        run.update(loss)
        run.end_step({"loss": loss}, callback)
    return run.close()

