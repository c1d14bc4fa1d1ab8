"""What EDTalk's video-driven stages share: the model a stage starts from, which parameters it trains,
its lr schedule, Φ of L_per and the L_mot experts. The loops themselves live one per file
(edtalk_autoencoder.py, edtalk_mouth_pose.py, edtalk_expression.py) and run on the one Trainer
(train/trainer.py), which resumes, logs and checkpoints them.

Stages chain through checkpoints: each stage starts from the previous stage's `edtalk.pt`
(`--init`), trains only its own parameter groups and writes a checkpoint of the whole model.
"""
from dataclasses import replace
from pathlib import Path

import torch

from talkinglib import checkpoints
from talkinglib.errors import InputError, MissingFileError
from talkinglib.train import common
from talkinglib.train.adversarial import build_discriminator
from talkinglib.train.edtalk_config import TRAINABLE, EDTalkTrainConfig
from talkinglib.train.presets import Preset
from talkinglib.train.trainer import Trainer

# -- freezing -------------------------------------------------------------------------------
def trained_groups(stage, cfg=None):
    """The parameter groups a stage trains: TRAINABLE[stage], plus "expression" in an autoencoder run
    with cfg.drive_expression (ELN and the expression bank then carry the driver's expression), and
    "generator" in a mouth_pose run with cfg.lr_generator > 0 (ours)."""
    extra = ("expression",) if stage == "edtalk.autoencoder" and getattr(cfg, "drive_expression", False) else ()
    if stage == "edtalk.mouth_pose" and getattr(cfg, "lr_generator", 0.0) > 0:
        extra = ("generator",)
    return TRAINABLE[stage] + extra


def param_groups(model, stage, cfg, params):
    """The optimizer's groups: one, or with a mouth_pose cfg.lr_generator a second for G, whose lr is
    that fraction ("lr_scale") of the stage's schedule (set_stage_lr)."""
    if "generator" not in trained_groups(stage, cfg) or "generator" in TRAINABLE[stage]:
        return [{"params": params, "lr_scale": 1.0}]
    gen = {id(p) for p in model.param_groups()["generator"]}
    return [{"params": [p for p in params if id(p) not in gen], "lr_scale": 1.0},
            {"params": [p for p in params if id(p) in gen], "lr_scale": cfg.lr_generator / cfg.lr}]


def freeze_for_stage(model, stage, cfg=None):
    """requires_grad on exactly the stage's groups; returns the trained parameters (a list)."""
    groups = model.param_groups()
    unknown = set(trained_groups(stage, cfg)) - set(groups)
    if unknown:
        raise KeyError(f"model has no parameter groups {sorted(unknown)} (has {sorted(groups)})")
    model.requires_grad_(False)
    params = []
    for name in trained_groups(stage, cfg):
        for p in groups[name]:
            p.requires_grad_(True)
            params.append(p)
    return params


# -- set-up shared by the three loops ---------------------------------------------------------
class EDTalkRun(Trainer):
    """The Trainer of an EDTalk video stage, with what its loop reads besides the model: the adversarial D
    and its optimiser (saved in the checkpoint's extra, with D's config), Φ of L_per (vgg), the model's
    config and the checkpoint the stage started from (init)."""
    D: torch.nn.Module
    d_opt: torch.optim.Optimizer
    vgg: torch.nn.Module
    model_cfg: object
    init: object


def initial_edtalk(stage, init, model_cfg=None):
    """(EDTalk, its config) a stage starts from: the checkpoint `init` (a talkinglib EDTalk checkpoint, or the
    official EDTalk.pt), or without one a new EDTalk(model_cfg), which only edtalk.autoencoder may train."""
    from talkinglib.models.edtalk import EDTalk
    if init is None:
        if stage != "edtalk.autoencoder":
            raise InputError(f"stage {stage} starts from a trained EDTalk: pass --init RUN/edtalk.pt "
                             "(train edtalk.autoencoder first, then edtalk.mouth_pose, then edtalk.expression)")
        return EDTalk(model_cfg), model_cfg
    state = torch.load(init, map_location="cpu", weights_only=True) if Path(init).is_file() else None
    if state is not None and "gen" in state and "stage" not in state.get("config", {}):
        from talkinglib.official import load_edtalk      # an official EDTalk.pt
        model = load_edtalk(state)
        return model, model.cfg
    model = checkpoints.load(init, "edtalk.")
    return model, model.cfg


# model fields a later stage may change, and the training setting that must hold for it
MODEL_CHANGES = {
    # EDTalk Tab. 3 ablations: a new navigation design is trained afresh
    "edtalk.mouth_pose": (("bank", "orthogonalize"), ("navigation_init", "fresh")),
    # a wider EEM (ours, a tiny-scale choice: data/checkpoints/README.md), built as the identity (make_identity)
    "edtalk.expression": (("eem_hidden", "eem_block"), ("eem_init", "identity")),
}


def with_model_changes(model, stage, overrides, cfg):
    """The model with other values of the fields that `stage` may change (MODEL_CHANGES): E, G and
    every tensor whose shape still fits are kept, the rest starts afresh, so the stage must train it
    from its start (navigation_init="fresh" for the navigation, eem_init="identity" for EEM)."""
    from talkinglib.models.edtalk import EDTalk
    allowed, (setting, needed) = MODEL_CHANGES.get(stage, ((), (None, None)))
    bad = sorted(set(overrides) - set(allowed))
    if bad:
        can = "; ".join(f"{s} may change {list(f)}" for s, (f, _) in MODEL_CHANGES.items())
        raise InputError(f"model fields {bad} cannot change in {stage} (E and G are frozen after "
                         f"edtalk.autoencoder); {can}")
    if getattr(cfg, setting) != needed:
        raise InputError(f"changing model fields {sorted(overrides)} in {stage} starts them afresh: "
                         f"add --set {setting}={needed}")
    new = EDTalk(replace(model.cfg, **overrides))
    own = new.state_dict()
    new.load_state_dict({k: v for k, v in model.state_dict().items() if k in own and own[k].shape == v.shape},
                        strict=False)
    return new


def setup_stage(stage, out_dir, preset: Preset, cfg: EDTalkTrainConfig, init=None, resume=True, device=None,
                model_cfg=None, model_overrides=None, expert=None, data=None):
    """The EDTalkRun of `stage`: the model from `init` (or a new one for edtalk.autoencoder), frozen but for the
    stage's groups, its optimiser and D's, resumed from out_dir/edtalk.pt when it exists. data: the dataset root
    (recorded in the checkpoint)."""
    run = EDTalkRun(stage, out_dir, "edtalk.pt", cfg, device, resume, data=data)           # seeds before the models are built
    model, model_cfg = initial_edtalk(stage, init, model_cfg or preset.model)
    if model_overrides:
        model = with_model_changes(model, stage, model_overrides, cfg)
        model_cfg = model.cfg
    if stage == "edtalk.expression" and cfg.eem_init not in ("identity", "keep"):
        raise InputError(f"eem_init must be 'identity' or 'keep', got {cfg.eem_init!r}")
    if stage == "edtalk.expression" and cfg.eem_init == "identity":   # (a resume overwrites it below)
        for eem in model.dec.fineadainresblock:
            eem.make_identity()
    if stage == "edtalk.mouth_pose" and cfg.navigation_init == "fresh":
        model.reset_navigation(("mouth", "pose"))
    D = build_discriminator(preset.discriminator, model_cfg.size, run.state)
    model.to(run.device)
    D.to(run.device)                 # before the optimizers, so their state lives on the device too
    params = freeze_for_stage(model, stage, cfg)
    opt = torch.optim.Adam(param_groups(model, stage, cfg, params), lr=cfg.lr, betas=tuple(cfg.betas))
    d_opt = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=tuple(cfg.betas))
    run.attach(model, opt, {"model": checkpoints.config_to_dict(model_cfg), "train": checkpoints.config_to_dict(cfg),
                            "init": str(init) if init else None},
               extra={"discriminator": D, "d_optimizer": d_opt},
               extra_config={"discriminator_config": checkpoints.config_to_dict(D.cfg)}, params=params)
    set_stage_lr(opt, cfg, run.step)              # the schedule, not the saved optimizer's lr, sets it
    if "encoder" not in TRAINABLE[stage]:
        model.enc.eval()             # a frozen E keeps its BatchNorm statistics (encoder_norm="batch")
    D.train().requires_grad_(False)
    run.D, run.d_opt, run.model_cfg, run.init = D, d_opt, model_cfg, init
    run.vgg = perceptual_network(preset, cfg.perceptual, expert).to(run.device)
    return run


def expert_probe(preset: Preset, expert=None, purpose="this stage reads"):
    """The frozen SynthTalk expert (a FactorProbe in eval mode) from `expert`, default the preset's
    data/checkpoints/expert_<preset>.pt; a missing file names how to make it."""
    path = Path(expert) if expert else preset.file("expert")
    if not path.is_file():
        raise MissingFileError(f"{purpose} the SynthTalk expert {path}, which is missing: pass --expert, or train it "
                               f"with `talkinglib train expert --preset {preset.name} --data D --out {path.parent}`")
    return checkpoints.load(path, "probe").eval().requires_grad_(False)


def perceptual_network(preset: Preset, weights, expert=None):
    """Φ of L_per (EDTalk Eq. 5): VGG19 with "random" or "imagenet" weights, or "expert": the SynthTalk
    expert's features (models/experts.py ExpertPerceptual; ours, not in EDTalk), read from `expert`
    (default the preset's data/checkpoints/expert_<preset>.pt)."""
    from talkinglib.losses.perceptual import VGGPerceptual
    if weights == "expert":
        from talkinglib.models.experts import ExpertPerceptual
        return ExpertPerceptual(expert_probe(preset, expert, "perceptual='expert' (or pick 'random' or 'imagenet') "
                                                            "reads"))
    if weights not in ("random", "imagenet"):
        raise ValueError(f"perceptual must be 'random', 'imagenet' or 'expert', got {weights!r}")
    return VGGPerceptual(replace(preset.perceptual, weights=weights))


def stage_lr(cfg, step):
    """The lr of G's side for the update after `step` updates: constant, then a half cosine from cfg.lr
    down to 5 % of it over the cfg.lr_decay · end steps that end at end = cfg.steps − round(cfg.lr_hold ·
    cfg.steps), then the floor. A function of the step, so a resumed run continues the schedule exactly,
    and a run made longer by lr_hold repeats the shorter one's schedule up to its end."""
    if not 0.0 <= cfg.lr_decay <= 1.0:
        raise ValueError(f"lr_decay is the fraction of the steps over which the lr decays: 0 to 1, got {cfg.lr_decay}")
    if not 0.0 <= cfg.lr_hold < 1.0:
        raise ValueError(f"lr_hold is the fraction of the steps held at the floor lr: 0 to below 1, got {cfg.lr_hold}")
    end = cfg.steps - round(cfg.lr_hold * cfg.steps)
    n = round(cfg.lr_decay * end)
    if n <= 0 or step < end - n:
        return cfg.lr
    return common.cosine_to_floor(cfg.lr, (step - (end - n)) / n)


def set_stage_lr(opt, cfg, step):
    for group in opt.param_groups:
        group["lr"] = stage_lr(cfg, step) * group.get("lr_scale", 1.0)
