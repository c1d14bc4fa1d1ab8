"""Stage `edtalk.mouth_pose`: cross-reconstruction splits mouth from pose. E and G are frozen.

    talkinglib train edtalk.mouth_pose --data DATA --out runs/edtalk_mp --init runs/edtalk_ae/edtalk.pt

Implements: EDTalk §3.2 "Mouth-Pose Decouple", EDTalk Eqs. 3–7. Frames a, b (and an identity frame
s) of one identity, from neutral clips (A.3). Swapping mouths gives I^{m_a}_{p_b} and I^{m_b}_{p_a}:
    f^{p_b}, f^{m_a} = PLN(E(I^{m_a}_{p_b})), MLN(E(I^{m_a}_{p_b}))                    (EDTalk Eq. 3)
    f^{p_a}, f^{m_b} = PLN(E(I^{m_b}_{p_a})), MLN(E(I^{m_b}_{p_a}))                    (EDTalk Eq. 4)
    Î^b = G(f^{p_b}, f^{m_b}),  Î^a = G(f^{p_a}, f^{m_a})      (identity f^{s→r}, f^{id} from s)
and L_rec + L_per + L_adv (EDTalk Eqs. 5–6) on Î^a, Î^b, L_self on the unswapped self-reconstructions,
and L_fea (EDTalk Eq. 7) between features of swapped and original frames. Only MLN, PLN and their banks train.

Tiny-scale aid (not in EDTalk; EDTalkTrainConfig.w_factors, SynthTalk only): the first bank weights
read from each image regress the true mouth of the frame its mouth came from and the true pose of
the frame its pose came from (`factor_anchors`). EDTalkTrainConfig.w_mouth: an L1 inside each
frame's mouth region (`mouth_region_l1`). EDTalkTrainConfig.w_leak: W^m must not correlate with the
true pose of the frames it read, nor W^p with their mouth (`leak_correlation`; SynthTalk only).
EDTalkTrainConfig.w_swap_expert: the truly swapped G(W^m_a, W^p_b), which the cross-reconstruction
never renders, must read as a's mouth and b's pose to the frozen SynthTalk expert (`swap_reading`).
"""
import torch
from talkinglib.data.edtalk_batches import EDTalkBatches, soft_mouth_region
from talkinglib.losses.edtalk import (cross_correlation_loss, factor_anchor_loss, feature_loss, g_nonsaturating_loss,
                                      paired_swap_reading_loss, reconstruction_loss, region_l1_loss)
from talkinglib.models.cross_reconstruction import cross_reconstruct
from talkinglib.train.adversarial import discriminator_step
from talkinglib.train.common import step_generator
from talkinglib.train.edtalk_common import expert_probe, set_stage_lr, setup_stage
from talkinglib.train.presets import as_preset

STAGE = "edtalk.mouth_pose"


def factor_anchors(w, batch):
    """The tiny aid w_factors in this stage (not in EDTalk): the mouth read from I^{m_a}_{p_b} is a's,
    its pose b's (and the reverse for I^{m_b}_{p_a}); the plain frames read their own. Sum of six
    losses.edtalk.factor_anchor_loss terms."""
    reads = (("ab", "a", "b"), ("ba", "b", "a"), ("a", "a", "a"), ("b", "b", "b"))   # (image, mouth of, pose of)
    return sum(factor_anchor_loss(w[img]["mouth"], batch[f"mouth_{m}"])
               + factor_anchor_loss(w[img]["pose"], batch[f"pose_{p}"]) for img, m, p in reads)


def leak_correlation(w, batch):
    """The tiny aid w_leak (not in EDTalk): W^m of a, b, I^{m_a}_{p_b} and I^{m_b}_{p_a} against the true
    pose of both frames, and W^p against their true mouth (losses.edtalk.cross_correlation_loss). A
    swapped image's weights are scored against both frames: each should carry one factor of one frame."""
    rows = (("a", "a"), ("b", "b"), ("ab", "a"), ("ab", "b"), ("ba", "a"), ("ba", "b"))   # (image, truth of)
    mouth = torch.cat([w[img]["mouth"] for img, _ in rows])                              # (6B, K_m)
    pose = torch.cat([w[img]["pose"] for img, _ in rows])                                # (6B, K_p)
    return (cross_correlation_loss(mouth, torch.cat([batch[f"pose_{f}"] for _, f in rows]))
            + cross_correlation_loss(pose, torch.cat([batch[f"mouth_{f}"] for _, f in rows])))


def swap_reading(m, reader, out, batch):
    """The tiny aid w_swap_expert (not in EDTalk): Î^{ab} = G(f^{s→r} + f^{r→m}_a + f^{r→p}_b, f^{id}_s) from the
    plain frames' weights, and the reverse, read by the frozen expert against a's mouth and b's pose."""
    w = out["w"]
    with torch.no_grad():
        reads = reader(torch.cat([batch["a"], batch["b"]]))
    swapped = torch.cat(out["gen"](torch.cat([w["a"]["mouth"], w["b"]["mouth"]]),
                                   torch.cat([w["b"]["pose"], w["a"]["pose"]])))    # (2B, 3, S, S): ab, then ba
    return paired_swap_reading_loss(reader(swapped), reads)


def mouth_region_l1(out, batch):
    """The tiny aid w_mouth in this stage (not in EDTalk): the L1 inside each frame's mouth region, for
    its cross-reconstruction and its self-reconstruction. With E and G frozen, the whole-image L1
    barely sees a few-pixel mouth, and the trainable banks drift off the directions along which
    stage 1's G opens it."""
    size = batch["a"].shape[-1]
    m_a, m_b = soft_mouth_region(batch["lm_a"], size), soft_mouth_region(batch["lm_b"], size)   # (B, 1, S, S)
    return (region_l1_loss(batch["a"], out["fake_a"], m_a) + region_l1_loss(batch["b"], out["fake_b"], m_b)
            + region_l1_loss(batch["a"], out["self_a"], m_a) + region_l1_loss(batch["b"], out["self_b"], m_b))


def mouth_pose_losses(out, batch, vgg):
    """EDTalk Eqs. 5, 7 and L_self, each summed over # = a, b. Returns {name: scalar}.
    vgg None leaves L_per out (a weight of 0 need not pay for VGG19)."""
    a, b, f = batch["a"], batch["b"], out["fea"]
    per = (lambda x, y: vgg.loss(x, y)) if vgg is not None else (lambda x, y: x.new_zeros(()))   # noqa: E731
    return {
        "rec": reconstruction_loss(a, out["fake_a"]) + reconstruction_loss(b, out["fake_b"]),
        "per": per(a, out["fake_a"]) + per(b, out["fake_b"]),
        "self": (reconstruction_loss(a, out["self_a"]) + reconstruction_loss(b, out["self_b"])
                 + per(a, out["self_a"]) + per(b, out["self_b"])),
        "fea": feature_loss(*f["pose_a"], *f["mouth_a"]) + feature_loss(*f["pose_b"], *f["mouth_b"]),
    }


def train_mouth_pose(data_root, out_dir, init, preset="tiny", cfg=None, resume=True, progress=True, callback=None,
                     stop_at=None, device=None, model_overrides=None, expert=None):
    """Train (or resume) MLN, PLN and their banks; writes out_dir/edtalk.pt. Returns the EDTalkRun.
    model_overrides: {"bank": "direct"} or {"orthogonalize": "none"} trains an ablated navigation
    (with cfg.navigation_init="fresh") on the frozen E and G of `init`."""
    preset = as_preset(STAGE, preset)                                  # a name is resolved here, once
    cfg = cfg or preset.train
    run = setup_stage(STAGE, out_dir, preset, cfg, data=data_root, init=init, resume=resume, device=device,
                      model_overrides=model_overrides)
    batches = EDTalkBatches(data_root, "train")
    if cfg.w_factors > 0 or cfg.w_leak > 0:
        batches.factors()                                             # real clips: refused before step 1
    m, D, vgg, dev = run.model, run.D, run.vgg, run.device
    reader = None
    if cfg.w_swap_expert > 0:                                         # the frozen SynthTalk expert reads the swaps
        reader = expert_probe(preset, expert, "w_swap_expert reads swapped images with").to(dev).standardised
    last = run.begin(progress, stop_at, postfix=("loss", "rec", "d"))
    while run.step < last:
        g = step_generator(cfg.seed, run.step, run.rank)
        torch.manual_seed(cfg.seed * 1_000_003 + run.step)
        batch = {k: v.to(dev) for k, v in batches.mouth_pose(g, cfg.batch_size, factors=cfg.w_factors > 0 or cfg.w_leak > 0,
                                                             all_clips=cfg.all_clips).items()}
        out = cross_reconstruct(m, batch, expression=cfg.all_clips)
        real = torch.cat([batch["a"], batch["b"]])
        fake = torch.cat([out["fake_a"], out["fake_b"]])

        use_adv = cfg.w_adv > 0 and run.step >= cfg.adv_start
        losses = {}
        if use_adv:                                                   # D step (EDTalk Eq. 6)
            losses["d"] = discriminator_step(D, run.d_opt, real, fake, cfg, run.step, list(D.parameters()),
                                             run.world)
        losses.update(mouth_pose_losses(out, batch, vgg if cfg.w_per > 0 else None))
        losses["adv"] = 2 * g_nonsaturating_loss(D(fake)) if use_adv else fake.new_zeros(())   # Σ_{#=a,b}
        loss = (cfg.w_rec * losses["rec"] + cfg.w_per * losses["per"] + cfg.w_adv * losses["adv"]
                + cfg.w_self * losses["self"] + cfg.w_fea * losses["fea"])
        if cfg.w_factors > 0:                                         # tiny-scale aid, not EDTalk
            losses["factors"] = factor_anchors(out["w"], batch)
            loss = loss + cfg.w_factors * losses["factors"]
        if cfg.w_leak > 0:                                            # tiny-scale aid, not EDTalk
            losses["leak"] = leak_correlation(out["w"], batch)
            loss = loss + cfg.w_leak * losses["leak"]
        if cfg.w_swap_expert > 0:                                     # tiny-scale aid, not EDTalk
            losses["swap_expert"] = swap_reading(m, reader, out, batch)
            loss = loss + cfg.w_swap_expert * losses["swap_expert"]
        if cfg.w_mouth > 0:                                           # tiny-scale aid, not EDTalk
            losses["mouth"] = mouth_region_l1(out, batch)
            loss = loss + cfg.w_mouth * losses["mouth"]
        losses["loss"] = run.update(loss)                                # G step: the stage's parameters
        set_stage_lr(run.opt, cfg, run.step + 1)                         # the next update's lr, saved with the opt
        run.end_step(losses, callback)                                   # log, checkpoint on schedule
    run.close()
    return run
