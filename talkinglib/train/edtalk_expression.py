"""Stage `edtalk.expression`: ELN, the expression bank and EEM learn what mouth and pose leave out.

    talkinglib train edtalk.expression --data DATA --out runs/edtalk_exp --init runs/edtalk_mp/edtalk.pt \
        --expert data/checkpoints/expert_tiny.pt

Implements: EDTalk §3.2 "Expression Decouple", EDTalk Eqs. 8–10. An identity frame I^i and a window
of K frames around a driving frame I^d of the same identity (another clip: other mouth, pose and
expression). The frozen MLN and PLN read I^d's mouth and pose; ELN reads the expression of each
window frame and averages the K features into a clean f^{r→e}; EEM turns it into AdaIN
parameters for f^{id} (EDTalk Eq. 8); Î_e = G(f^{i→r} + f^{r→m} + f^{r→p} + f^{r→e}, EEM(f^{id})) must
reconstruct I^d: L_rec + L_per + L_adv (EDTalk Eqs. 5–6) + 10 L_mot (EDTalk Eq. 9) + L_m-c (EDTalk Eq. 10).

Tiny-scale aid (not in EDTalk; EDTalkTrainConfig.w_factors, SynthTalk only): f^{r→e}'s first 10
weights regress the window's standardised true expression, as stage 1's drive_expression anchors
them. Measured off in the tiny preset: with it, expression transfer stayed at 66.7 / 82.3 / 80.2 %
(tiny-seed0/1/2; without, 66.1 / 84.4 / 80.7 %), since the faint emotions come from G's drawing of W^e,
not from W^e's scale (data/checkpoints/README.md).

EEM's width (`model_overrides={"eem_hidden": 128}`, `--set model.eem_hidden=128`): stage 3 may rebuild EEM
wider than the model preset's, starting as the identity; the tiny recipe does (66.1 -> 71.9 % on tiny-seed0;
72.9 % with w_mouth and w_eyes below).
`model.eem_block=two_conv` rebuilds it as eem.py's evidently intended chain, also from the identity.

Tiny-scale aids w_mouth and w_eyes (not in EDTalk; the landmark masks of stage 1's aids): an L1 on the driving
frame's mouth region and on its brows and eyes. EEM's AdaIN scales whole channels, so the expression it draws on the
brows also darkens the lip line, and EDTalk-A's lip sync drops; w_mouth 10 with w_eyes 3 keeps the lips while the
brows still carry the emotion (data/checkpoints/README.md, "Why, and the stage 3 that keeps both"); the tiny
recipe's `edtalk_exp` step trains so for 800 steps (train/recipe.py, EXP_AIDS).
"""
import torch
from talkinglib import checkpoints
from talkinglib.data.edtalk_batches import EDTalkBatches
from talkinglib.losses.edtalk import (factor_anchor_loss, g_nonsaturating_loss, motion_loss,
                                      mouth_consistency_loss, reconstruction_loss, region_l1_loss)
from talkinglib.train.adversarial import discriminator_step
from talkinglib.train.common import step_generator
from talkinglib.train.edtalk_common import set_stage_lr, setup_stage
from talkinglib.train.presets import as_preset

STAGE = "edtalk.expression"


def load_experts(path):
    """φ and ψ of L_mot (EDTalk Eq. 9) from a `talkinglib train expert` checkpoint (models/experts.py)."""
    from talkinglib.models.experts import SynthMotionExperts
    return SynthMotionExperts(checkpoints.load(path, "probe"))


def expression_forward(m, batch):
    """Î_e from an identity frame and a driving window. Returns (fake, w) with w the driving weights."""
    src, window = batch["source"], batch["window"]                  # (B, 3, H, W), (B, K, 3, H, W)
    B, K = window.shape[:2]
    with torch.no_grad():                                           # E, MLN, PLN are frozen
        lat_s, feats_s = m.encode(src)                              # f^{i→r}, f^{id}
        lat_win = m.encode(window.flatten(0, 1))[0]                 # (B*K, D)
        w_d = m.navigate(lat_win.view(B, K, -1)[:, K // 2])         # I^d's W^m, W^p
    w_e = m.navigate(lat_win)["expression"].view(B, K, -1).mean(1)  # f^{r→e}: mean of K features (B, 10)
    f_id = m.compose(lat_s, mouth=w_d["mouth"], pose=w_d["pose"], expression=w_e)   # f^{i→d}
    fake = m.generate(f_id, feats_s, expression=w_e)                # EDTalk Eq. 2 with EEM (EDTalk Eq. 8)
    return fake, {"mouth": w_d["mouth"], "pose": w_d["pose"], "expression": w_e}


def expression_losses(m, experts, vgg, real, fake, w):
    """L_rec, L_per (EDTalk Eq. 5), L_mot (EDTalk Eq. 9), L_m-c (EDTalk Eq. 10). real = I^d, fake = Î_e.
    vgg None leaves L_per out."""
    phi_r, phi_f = experts(real), experts(fake)
    w_mouth_fake = m.navigate(m.encode(fake)[0])["mouth"]          # MLN(E(Î_e)), frozen but differentiable
    return {"rec": reconstruction_loss(real, fake), "per": vgg.loss(real, fake) if vgg is not None else real.new_zeros(()),
            "mot": motion_loss(phi_r.phi.detach(), phi_f.phi, phi_r.psi.detach(), phi_f.psi),
            "mc": mouth_consistency_loss(w_mouth_fake, w["mouth"])}


def train_expression(data_root, out_dir, init, preset="tiny", cfg=None, expert=None, resume=True, progress=True,
                     callback=None, stop_at=None, device=None, model_overrides=None):
    """Train (or resume) ELN, the expression bank and EEM; writes out_dir/edtalk.pt. Returns the EDTalkRun.
    model_overrides: {"eem_hidden": 128} builds EEM at another width, starting as the identity (ours)."""
    preset = as_preset(STAGE, preset)                                  # a name is resolved here, once
    cfg = cfg or preset.train
    run = setup_stage(STAGE, out_dir, preset, cfg, data=data_root, init=init, resume=resume, device=device,
                      model_overrides=model_overrides)
    experts = load_experts(expert or preset.file("expert")).to(run.device)
    batches = EDTalkBatches(data_root, "train")
    if cfg.w_factors > 0:
        batches.factors()                                           # real clips: refused before step 1
    m, D, vgg, dev = run.model, run.D, run.vgg, run.device
    last = run.begin(progress, stop_at, postfix=("loss", "rec", "d"))
    while run.step < last:
        g = step_generator(cfg.seed, run.step, run.rank)
        torch.manual_seed(cfg.seed * 1_000_003 + run.step)
        batch = {k: v.to(dev) for k, v in batches.expression(g, cfg.batch_size, cfg.window,
                                                                         factors=cfg.w_factors > 0).items()}
        real = batch["driving"]
        fake, w = expression_forward(m, batch)

        use_adv = cfg.w_adv > 0 and run.step >= cfg.adv_start
        losses = {}
        if use_adv:                                                 # D step (EDTalk Eq. 6)
            losses["d"] = discriminator_step(D, run.d_opt, real, fake, cfg, run.step, list(D.parameters()),
                                             run.world)
        losses.update(expression_losses(m, experts, vgg if cfg.w_per > 0 else None, real, fake, w))
        losses["adv"] = g_nonsaturating_loss(D(fake)) if use_adv else fake.new_zeros(())
        loss = (cfg.w_rec * losses["rec"] + cfg.w_per * losses["per"] + cfg.w_adv * losses["adv"]
                + cfg.w_mot * losses["mot"] + cfg.w_mc * losses["mc"])
        if cfg.w_mouth > 0:                                         # tiny-scale aid, not EDTalk
            losses["mouth"] = region_l1_loss(real, fake, batch["mouth"])
            loss = loss + cfg.w_mouth * losses["mouth"]
        if cfg.w_eyes > 0:                                          # tiny-scale aid, not EDTalk
            losses["eyes"] = region_l1_loss(real, fake, batch["eyes"])
            loss = loss + cfg.w_eyes * losses["eyes"]
        if cfg.w_factors > 0:                                       # tiny-scale aid, not EDTalk
            losses["factors"] = factor_anchor_loss(w["expression"], batch["expression_factors"])
            loss = loss + cfg.w_factors * losses["factors"]
        losses["loss"] = run.update(loss)                                # G step: the stage's parameters
        set_stage_lr(run.opt, cfg, run.step + 1)                         # the next update's lr, saved with the opt
        run.end_step(losses, callback)                                   # log, checkpoint on schedule
    run.close()
    return run
