"""Stage `edtalk.autoencoder`: E and G learn self-reconstruction, LIA-style.

    talkinglib train edtalk.autoencoder --data data/synthtalk/tiny-seed0 --out runs/edtalk_ae --preset tiny

Implements: EDTalk A.3 ("The encoder E and generator G are pre-trained in a similar setting as
LIA"): a source frame s and a driving frame d of one identity; the output
    Î = G(f^{s→r} + f^{r→d}, f^{id}_s),   f^{r→d} = Σ w^m b^m + Σ w^p b^p  from d   (EDTalk Eqs. 1–2)
must reconstruct d, with L_rec + L_per + L_adv (EDTalk Eqs. 5–6). The mouth and pose navigation modules
train here too, as LIA's motion path; the mouth-pose stage then splits their roles.

Tiny-scale teaching aids, none of them in EDTalk or LIA, each a field of EDTalkTrainConfig
(off by default, on in the tiny preset; notebook 02 measures each against the plain recipe):
- w_mouth: an L1 on the driving frame's mouth region; w_eyes: the same on its brows and eyes;
- w_factors: the first bank weights regress SynthTalk's true mouth and pose, and with
  drive_expression W^e its expression (needs ground truth, so it refuses real clips);
- same_fraction: a share of pairs whose driving frame is the source itself;
- w_flow_landmarks: G's S² warp must carry each driving-frame landmark to the source's (pairs of
  dataset frames; the extra identities have no landmarks);
- w_mouth_inside (with EDTalkConfig.warp_image): inside the driving frame's open mouth the image
  mask closes, so G draws the mouth's inside rather than stretching the source's lips; it switches
  on at mouth_inside_start, once w_draw has taught G's drawing the open mouth (a curriculum);
- w_draw (with EDTalkConfig.image_draw): G's drawing, before m_I blends it with the warped source,
  is itself an L1 reconstruction of the driving frame's mouth region (deep supervision): without it,
  the drawing learns through (1 − m_I) ≈ 0.12 of the gradient only;
- perceptual="expert": L_per over the SynthTalk expert's feature maps instead of VGG19's
  (models/experts.ExpertPerceptual);
- drive_expression: the driving frame's W^e joins W^m and W^p, so all of its motion transfers, as
  in LIA's pre-training (ELN and the expression bank train here too); from expression_start on,
  with w_eyes and the W^e anchors (a curriculum: the jaw first);
- w_swap_expert (from swap_start on): the driver's mouth on the source's own pose, and the reverse,
  rendered and read by the frozen SynthTalk expert (`swap_reading`). Reconstruction alone only ever
  shows G a mouth and a pose of one frame, and G then renders part of the pose from W^m;
- w_copy_warp (with EDTalkConfig.warp_image, from copy_warp_start on): on the driver = source pairs
  of same_fraction, G's S² offsets go to 0 and m_I to 1, so that a frame driven by itself comes back
  as itself, not as a 1-pixel-shifted blend with the drawing.
The D step comes first, then the G step; D's requires_grad is switched off for the G step.
"""

import torch
from talkinglib.data import clips as clipio
from talkinglib.data.edtalk_batches import FACTORS, EDTalkBatches, soft_eye_region
from talkinglib.losses.edtalk import (copy_warp_loss, factor_anchor_loss, g_nonsaturating_loss, inner_mouth_mask,
                                      landmark_flow_loss, mouth_inside_loss, paired_swap_reading_loss,
                                      reconstruction_loss, region_l1_loss)
from talkinglib.train.adversarial import discriminator_step
from talkinglib.train.common import step_generator
from talkinglib.train.edtalk_common import expert_probe, set_stage_lr, setup_stage
from talkinglib.train.presets import as_preset

STAGE = "edtalk.autoencoder"


def _extra_frames(data_root, cfg, size, progress):
    """SynthTalk's random-frame identities (cached beside the dataset): many more faces for E and G."""
    if cfg.extra_identities <= 0:
        return None, None
    from talkinglib.synth.probe_frames import dataset_probe_frames
    frames = dataset_probe_frames(data_root, cfg.extra_identities, cfg.frames_per_identity, size, progress=progress,
                                  refusal=f", and extra_identities={cfg.extra_identities} adds SynthTalk faces to it; "
                                          "on real data pass --set extra_identities=0 --set w_factors=0 (both "
                                          "SynthTalk-only aids of the tiny preset)")
    return frames["images"], {k: frames[k] for k in FACTORS}


def swap_reading(m, reader, src, drv, lat_s, feats_s, w_s, w_d, expression):
    """The tiny aid w_swap_expert in this stage (not in EDTalk or LIA): Î^{ds} = G(f^{s→r} + f^{r→m}_d + f^{r→p}_s,
    f^{id}_s) and Î^{sd} with the roles swapped (each with its mouth frame's W^e when expression drives), read by
    the frozen expert against the frames' own reads: d's mouth and s's pose, then s's mouth and d's pose."""
    cat = lambda x, y: torch.cat([x, y])                                  # noqa: E731
    with torch.no_grad():
        reads = reader(cat(drv, src))
    exp = cat(w_d["expression"], w_s["expression"]) if expression else None
    swapped = m.generate(m.compose(cat(lat_s, lat_s), mouth=cat(w_d["mouth"], w_s["mouth"]),
                                   pose=cat(w_s["pose"], w_d["pose"]), expression=exp),
                         [f.repeat(2, *[1] * (f.dim() - 1)) for f in feats_s])    # (2B, 3, S, S): ds, then sd
    return paired_swap_reading_loss(reader(swapped), reads)


def train_autoencoder(data_root, out_dir, preset="tiny", cfg=None, model_cfg=None, init=None, resume=True,
                      progress=True, callback=None, stop_at=None, device=None, expert=None):
    """Train (or resume) E + G; writes out_dir/edtalk.pt. Returns the EDTalkRun (model, logger, ...).
    expert: the SynthTalk expert checkpoint of perceptual="expert" (default data/checkpoints/expert_PRESET.pt)."""
    preset = as_preset(STAGE, preset)                                  # a name is resolved here, once
    cfg = cfg or preset.train
    run = setup_stage(STAGE, out_dir, preset, cfg, data=data_root, init=init, resume=resume, device=device, model_cfg=model_cfg,
                      expert=expert)
    size = run.model_cfg.size
    extra, extra_factors = _extra_frames(data_root, cfg, size, progress and run.rank == 0)
    batches = EDTalkBatches(data_root, "train", extra=extra, extra_block=cfg.frames_per_identity,
                            extra_factors=extra_factors)
    if cfg.w_factors > 0:
        batches.factors()                                                # real clips: refused before step 1
    if cfg.perceptual == "expert":                                       # the expert knows SynthTalk faces only
        try:
            batches.factors()
        except clipio.ClipFormatError as e:
            raise clipio.ClipFormatError(
                f"perceptual='expert' scores images with a network trained on SynthTalk faces, and these clips are "
                f"not SynthTalk ({e}): pass --set perceptual=imagenet (after `talkinglib weights fetch vgg19`) "
                "or --set perceptual=random") from e
    if cfg.w_copy_warp > 0 and (not run.model_cfg.warp_image or cfg.same_fraction <= 0):
        raise ValueError("w_copy_warp acts on the driver = source pairs of same_fraction through the image mask of "
                         "EDTalkConfig.warp_image: it needs both (--set same_fraction=0.1 --set model.warp_image=true, "
                         "or w_copy_warp=0)")
    if cfg.w_draw > 0 and not run.model_cfg.image_draw:
        raise ValueError("w_draw trains G's own drawing of EDTalkConfig.image_draw; this model has none "
                         "(--set model.warp_image=true --set model.image_draw=true, or w_draw=0)")
    if cfg.draw_region not in ("mouth", "inside"):
        raise ValueError(f"draw_region must be 'mouth' or 'inside', got {cfg.draw_region!r}")
    if cfg.w_mouth_inside > 0 and not run.model_cfg.warp_image:
        raise ValueError("w_mouth_inside closes the image mask of EDTalkConfig.warp_image; this model has none "
                         "(--set model.warp_image=true, or w_mouth_inside=0)")
    m, D, vgg, dev = run.model, run.D, run.vgg, run.device
    reader = None
    if cfg.w_swap_expert > 0:                                            # the frozen SynthTalk expert reads the swaps
        reader = expert_probe(preset, expert, "w_swap_expert reads swapped images with").to(dev).standardised
    last = run.begin(progress, stop_at, postfix=("loss", "rec", "d"))
    inside_draw = cfg.w_draw > 0 and cfg.draw_region == "inside"
    need_landmarks = cfg.w_flow_landmarks > 0 or cfg.w_mouth_inside > 0 or inside_draw or cfg.w_eyes > 0
    while run.step < last:
        g = step_generator(cfg.seed, run.step, run.rank)
        torch.manual_seed(cfg.seed * 1_000_003 + run.step)              # noise injection replays on resume
        b = batches.pairs(g, cfg.batch_size, same_fraction=cfg.same_fraction, factors=cfg.w_factors > 0,
                          landmarks=need_landmarks)
        src, drv = b["source"].to(dev), b["driving"].to(dev)             # (B, 3, H, W) each
        if need_landmarks:                                               # (B, 1, 1, 1): 0 for extra frames (none)
            known = b["has_landmarks"].to(dev).to(drv.dtype)[:, None, None, None]

        lat_s, feats_s = m.encode(src)                                   # f^{s→r} (B, D), f^{id}
        lat_d, _ = m.encode(drv)                                         # f^{d→r}
        w = m.navigate(lat_d)                                            # W^m (B, 20), W^p (B, 6), W^e (B, 10)
                                                                         # (EDTalk Eq. 1)
        drive_e = cfg.drive_expression and run.step >= cfg.expression_start   # (a curriculum: expression_start)
        expression = w["expression"] if drive_e else None                # LIA's setting: all of d's motion
        fake, warp = m.generate(m.compose(lat_s, mouth=w["mouth"], pose=w["pose"], expression=expression), feats_s,
                                return_warp=True)                        # Î (EDTalk Eq. 2), the S² warp's offsets, m_I

        use_adv = cfg.w_adv > 0 and run.step >= cfg.adv_start
        losses = {}
        if use_adv:                                                      # D step (EDTalk Eq. 6)
            losses["d"] = discriminator_step(D, run.d_opt, drv, fake, cfg, run.step, list(D.parameters()),
                                             run.world)
        losses["rec"] = reconstruction_loss(drv, fake)                   # EDTalk Eq. 5
        losses["per"] = vgg.loss(drv, fake) if cfg.w_per > 0 else fake.new_zeros(())   # EDTalk Eq. 5
        losses["adv"] = g_nonsaturating_loss(D(fake)) if use_adv else fake.new_zeros(())
        loss = cfg.w_rec * losses["rec"] + cfg.w_per * losses["per"] + cfg.w_adv * losses["adv"]
        if cfg.w_mouth > 0:                                              # tiny-scale aid, not EDTalk
            losses["mouth"] = region_l1_loss(drv, fake, b["mouth"].to(dev))
            loss = loss + cfg.w_mouth * losses["mouth"]
        if cfg.w_factors > 0:                                            # tiny-scale aid, not EDTalk
            losses["factors"] = (factor_anchor_loss(w["mouth"], b["mouth_factors"].to(dev))
                                 + factor_anchor_loss(w["pose"], b["pose_factors"].to(dev)))
            if drive_e:                                                  # W^e drives too: anchor it as well
                losses["factors"] = losses["factors"] + factor_anchor_loss(w["expression"],
                                                                           b["expression_factors"].to(dev))
            loss = loss + cfg.w_factors * losses["factors"]
        if cfg.w_eyes > 0 and run.step >= cfg.expression_start:          # tiny-scale aid, not EDTalk
            eyes = soft_eye_region(b["lm_driving"].to(dev), drv.shape[-1]) * known   # (B, 1, S, S)
            losses["eyes"] = region_l1_loss(drv, fake, eyes)
            loss = loss + cfg.w_eyes * losses["eyes"]
        if cfg.w_flow_landmarks > 0:                                     # tiny-scale aid, not EDTalk
            losses["flow_lm"] = landmark_flow_loss(warp["offset"], b["lm_source"].to(dev), b["lm_driving"].to(dev),
                                                   b["has_landmarks"].to(dev))
            loss = loss + cfg.w_flow_landmarks * losses["flow_lm"]
        if cfg.w_mouth_inside > 0 and run.step >= cfg.mouth_inside_start:   # tiny-scale aid, not EDTalk
            losses["mouth_inside"] = mouth_inside_loss(warp["image_mask"], b["lm_driving"].to(dev),
                                                       b["mouth"].to(dev), b["has_landmarks"].to(dev))
            loss = loss + cfg.w_mouth_inside * losses["mouth_inside"]
        if cfg.w_draw > 0:                                               # tiny-scale aid, not EDTalk
            region = b["mouth"].to(dev)                                  # (B, 1, S, S)
            if inside_draw:                                              # the inner-lip polygon (extra frames: none)
                region = inner_mouth_mask(b["lm_driving"].to(dev), region.shape[-1]) * known
            losses["draw"] = region_l1_loss(drv, warp["drawing"], region)
            loss = loss + cfg.w_draw * losses["draw"]
        if cfg.w_copy_warp > 0 and run.step >= cfg.copy_warp_start:     # tiny-scale aid, not EDTalk
            losses["copy_warp"] = copy_warp_loss(warp["offset"], warp["image_mask"], b["same"].to(dev))
            loss = loss + cfg.w_copy_warp * losses["copy_warp"]
        if reader is not None and run.step >= cfg.swap_start:            # tiny-scale aid, not EDTalk
            losses["swap_expert"] = swap_reading(m, reader, src, drv, lat_s, feats_s, m.navigate(lat_s), w, drive_e)
            loss = loss + cfg.w_swap_expert * losses["swap_expert"]
        losses["loss"] = run.update(loss)                                # G step: the stage's parameters
        set_stage_lr(run.opt, cfg, run.step + 1)                         # the next update's lr, saved with the opt
        run.end_step(losses, callback)                                   # log, checkpoint on schedule
    run.close()
    return run
