"""Plumbing shared by EDTalk's video-driven stages: model set-up, freezing, D step,
checkpoints, resume, multi-process gradient averaging. The loops themselves live one per file:
edtalk_autoencoder.py, edtalk_mouth_pose.py, edtalk_expression.py.

Stages chain through checkpoints: each stage starts from the previous stage's `edtalk.pt`
(`--init`), trains only its own parameter groups and writes a checkpoint of the whole model.
"""
import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.distributed as dist

from talkinglib.errors import InputError
from talkinglib.losses.edtalk import d_logistic_loss, r1_penalty
from talkinglib.train import common
from talkinglib.train.edtalk_config import TRAINABLE, EDTalkTrainConfig

# -- distributed ----------------------------------------------------------------------------
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


# -- the discriminator step (the same in every stage) --------------------------------------
def discriminator_step(D, d_opt, real, fake, cfg, d_step, params_d, world, loss_fn=d_logistic_loss):
    """One D update on (real, fake.detach()), with the lazy R1 penalty. Returns the loss.
    loss_fn(real_logits, fake_logits): EDTalk Eq. 6 by default; RETA passes RETA Eq. 4."""
    D.requires_grad_(True)
    loss = loss_fn(D(real), D(fake.detach()))
    if cfg.r1 > 0 and d_step % cfg.r1_every == 0:
        real = real.detach().requires_grad_(True)
        loss = loss + cfg.r1 * cfg.r1_every * r1_penalty(D(real), real)
    d_opt.zero_grad(set_to_none=True)
    loss.backward()
    average_gradients(params_d, world)
    d_opt.step()
    D.requires_grad_(False)          # the G step must not accumulate into D
    return loss.detach()


# -- checkpoints ------------------------------------------------------------------------------
def build_discriminator(preset, size, state=None):
    """The adversarial D of a run: resuming (`state`, the run's checkpoint), built from the config the run saved,
    so that a later change of the preset cannot rebuild another D under its weights; else the preset's, at the
    model's size. Checkpoints from before the config was saved are read with the preset's."""
    from talkinglib.models.discriminator import PRESETS as D_PRESETS, Discriminator, DiscriminatorConfig
    saved = (state or {}).get("extra", {}).get("discriminator_config")
    if saved is not None:
        return Discriminator(common.config_from_dict(DiscriminatorConfig, saved))
    return Discriminator(replace(D_PRESETS[preset], size=size))


def save_stage(path, *, stage, model, model_cfg, train_cfg, opt, D, d_opt, step, init, history=None):
    config = {"stage": stage, "model": common.config_to_dict(model_cfg), "train": common.config_to_dict(train_cfg),
              "init": str(init) if init else None}
    extra = {"discriminator": D.state_dict(), "d_optimizer": d_opt.state_dict(),
             "discriminator_config": common.config_to_dict(D.cfg)}
    common.save_checkpoint(path, config=config, model=model, optimizer=opt, step=step, extra=extra, history=history)


def load_edtalk_checkpoint(path):
    """(EDTalk in eval mode, checkpoint state) from any EDTalk stage checkpoint."""
    from talkinglib.models.edtalk import EDTalk, EDTalkConfig
    state = common.load_checkpoint(path)
    common.require_kind(path, state, "edtalk.")
    model = EDTalk(common.config_from_dict(EDTalkConfig, state["config"]["model"]))
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise common.CheckpointError(f"{path} does not match EDTalk({state['config']['model']}): {e}") from e
    return model.eval(), state


def step_generator(seed, step, rank=0):
    """The batch of (seed, step, rank) is fixed: a resumed run draws the same data."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 64 + rank)


def resolve_device(device=None):
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def ensure_dir(p):
    Path(p).mkdir(parents=True, exist_ok=True)
    return Path(p)


# -- set-up shared by the three loops ---------------------------------------------------------
@dataclass
class StageRun:
    stage: str
    model: torch.nn.Module
    model_cfg: object
    D: torch.nn.Module
    opt: torch.optim.Optimizer
    d_opt: torch.optim.Optimizer
    params: list             # the trained generator-side parameters
    vgg: torch.nn.Module
    logger: common.Logger
    ckpt_path: Path
    step: int
    rank: int
    world: int
    device: torch.device
    init: object

    def save(self, cfg):
        if self.rank == 0:
            save_stage(self.ckpt_path, stage=self.stage, model=self.model, model_cfg=self.model_cfg,
                       train_cfg=cfg, opt=self.opt, D=self.D, d_opt=self.d_opt, step=self.step, init=self.init,
                       history=self.logger.history)


def _initial_model(stage, preset, init, model_cfg):
    from talkinglib.models.edtalk import PRESETS, EDTalk
    if init is None:
        if stage != "edtalk.autoencoder":
            raise InputError(f"stage {stage} starts from the previous stage's checkpoint: pass --init RUN/edtalk.pt "
                             "(train edtalk.autoencoder first, then edtalk.mouth_pose, then edtalk.expression)")
        cfg = model_cfg or PRESETS[preset]
        return EDTalk(cfg), cfg
    state = torch.load(init, map_location="cpu", weights_only=True) if Path(init).is_file() else None
    if state is not None and "gen" in state and "stage" not in state.get("config", {}):
        from talkinglib.official import load_edtalk      # an official EDTalk.pt
        model = load_edtalk(state)
        return model, model.cfg
    model, _ = load_edtalk_checkpoint(init)
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


def setup_stage(stage, out_dir, preset, cfg: EDTalkTrainConfig, init=None, resume=True, device=None,
                model_cfg=None, model_overrides=None, expert=None):
    rank, world = dist_info()
    device = resolve_device(device)
    common.seed_everything(cfg.seed)
    out_dir = ensure_dir(out_dir)
    ckpt_path = out_dir / "edtalk.pt"
    model, model_cfg = _initial_model(stage, preset, init, model_cfg)
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
    state = common.load_checkpoint(ckpt_path) if resume and ckpt_path.is_file() else None   # read once
    D = build_discriminator(preset, model_cfg.size, state)
    model.to(device)
    D.to(device)                     # before the optimizers, so their state lives on the device too
    params = freeze_for_stage(model, stage, cfg)
    opt = torch.optim.Adam(param_groups(model, stage, cfg, params), lr=cfg.lr, betas=tuple(cfg.betas))
    d_opt = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=tuple(cfg.betas))
    step = 0
    if state is not None:
        if state["config"].get("stage") != stage:
            raise common.CheckpointError(f"{ckpt_path} belongs to stage {state['config'].get('stage')}, not {stage}; "
                                         "use another --out or --no-resume")
        model.load_state_dict(state["model"])
        try:
            opt.load_state_dict(state["optimizer"])
        except ValueError as e:                   # the trained parameter set changed (e.g. drive_expression)
            raise common.CheckpointError(
                f"{ckpt_path} was trained with other parameter groups than this config trains ({e}); to change "
                f"what {stage} trains, start from its weights in a new run: --init {ckpt_path} --out NEW_DIR") from e
        D.load_state_dict(state["extra"]["discriminator"])
        d_opt.load_state_dict(state["extra"]["d_optimizer"])
        step = state["step"]
    set_stage_lr(opt, cfg, step)                  # the schedule, not the saved optimizer's lr, sets it
    model.train()
    if "encoder" not in TRAINABLE[stage]:
        model.enc.eval()             # a frozen E keeps its BatchNorm statistics (encoder_norm="batch")
    D.train().requires_grad_(False)
    vgg = perceptual_network(preset, cfg.perceptual, expert).to(device)
    logger = common.Logger(out_dir / "tb" if rank == 0 else None)
    if step:                                                          # resumed: the curves go on
        logger.history = {k: [tuple(p) for p in v] for k, v in state.get("history", {}).items()}
    return StageRun(stage, model, model_cfg, D, opt, d_opt, params, vgg, logger, ckpt_path, step, rank, world,
                    device, init)


def default_expert(preset):
    """The committed SynthTalk expert of a preset: data/checkpoints/expert_<preset>.pt."""
    return Path(__file__).resolve().parents[2] / "data" / "checkpoints" / f"expert_{preset}.pt"


def expert_probe(preset, expert=None, purpose="this stage reads"):
    """The frozen SynthTalk expert (a FactorProbe in eval mode) from `expert`, default
    data/checkpoints/expert_<preset>.pt; a missing file names how to make it."""
    from talkinglib.train.probe import load_probe
    path = Path(expert) if expert else default_expert(preset)
    if not path.is_file():
        raise FileNotFoundError(f"{purpose} the SynthTalk expert {path}, which is missing: pass --expert, or train "
                                f"it with `talkinglib train expert --preset {preset} --data D --out {path.parent}`")
    return load_probe(path).eval().requires_grad_(False)


def perceptual_network(preset, weights, expert=None):
    """Φ of L_per (EDTalk Eq. 5): VGG19 with "random" or "imagenet" weights, or "expert": the SynthTalk
    expert's features (models/experts.py ExpertPerceptual; ours, not in EDTalk), read from `expert`
    (default data/checkpoints/expert_<preset>.pt)."""
    from talkinglib.losses.perceptual import VGGPerceptual
    if weights == "expert":
        from talkinglib.models.experts import ExpertPerceptual
        return ExpertPerceptual(expert_probe(preset, expert, "perceptual='expert' (or pick 'random' or 'imagenet') "
                                                            "reads"))
    if weights not in ("random", "imagenet"):
        raise ValueError(f"perceptual must be 'random', 'imagenet' or 'expert', got {weights!r}")
    return VGGPerceptual.for_preset(preset, weights=weights)


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


def finish_step(run, cfg, bar, last, losses, callback=None):
    """Advance the step; log, report and checkpoint on schedule. losses: {name: scalar tensor}."""
    run.step += 1
    bar.update()
    if cfg.lr_decay:
        set_stage_lr(run.opt, cfg, run.step)
    if run.step % cfg.log_every == 0 or run.step == last:
        scalars = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in losses.items()}
        run.logger.log(run.step, **scalars)
        bar.set_postfix({k: f"{v:.3f}" for k, v in scalars.items() if k in ("loss", "rec", "d")})
        if callback is not None:
            callback(run.step, run.logger)
    if run.step % cfg.ckpt_every == 0 or run.step == last:
        run.save(cfg)


def generator_step(run, loss):
    """One update of the stage's trained parameters (the G side): backward, average across
    processes, step. Returns the detached loss."""
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    average_gradients(run.params, run.world)
    run.opt.step()
    return loss.detach()


def close_run(run, bar):
    bar.close()
    run.logger.close()
    run.model.eval()
    return run


def bank_feature(model, latent_like, **weights):
    """f^{r→*} = Σ_i w_i b_i for one bank (the D-dim feature of EDTalk Eq. 1), via compose from a zero latent."""
    return model.compose(torch.zeros_like(latent_like), **weights)


class BankTargets:
    """W^m, W^p, W^e = MLN/PLN/ELN(E(I_t)) of every frame of a clip, by a frozen EDTalk, computed the
    first time a clip is asked for and kept (the audio stages' ground truth).

        targets = BankTargets(edtalk, store)
        targets[c]["pose"]          # (T, 6) for clip c of the ClipStore
        targets.all("pose")         # a list over every clip
    """

    def __init__(self, edtalk, store, device="cpu", batch=256):
        self.edtalk, self.store, self.device, self.batch = edtalk.to(device).eval(), store, device, batch
        self._cache = {}

    @torch.no_grad()
    def __getitem__(self, c):
        if c not in self._cache:
            from talkinglib.data.datasets import to_tensor_images
            frames = to_tensor_images(self.store.frames(c))
            parts = [self.edtalk.navigate(self.edtalk.encode(frames[i:i + self.batch].to(self.device)).latent)
                     for i in range(0, len(frames), self.batch)]
            self._cache[c] = {k: torch.cat([p[k] for p in parts]).float().cpu() for k in parts[0]}
        return self._cache[c]

    def __len__(self):
        return len(self.store)

    def all(self, component):
        return [self[c][component] for c in range(len(self))]
