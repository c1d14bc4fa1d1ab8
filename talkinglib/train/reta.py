"""Stage `reta`: RETA end to end by self-reconstruction (§3.3, RETA Eqs. 2–6), with TVM and cross-synthesis.

    talkinglib train reta --data DATA --out runs/reta --preset tiny \\
        --init data/checkpoints/edtalk_tiny.pt --teacher data/checkpoints/teacher_tiny.pt \\
        --syncnet data/checkpoints/syncnet_tiny.pt

One explicit loop, two phases (the step decides which, so a resume lands in the right one):
1. steps < distill_steps: distillation alone. E_A and the student S learn L_emo^{v-a} =
   1 − cos(f_E, sg(f_V)) against the frozen teacher on every frame of the clips: the training
   split's, plus those of cfg.distill_data (further voices, e.g. SynthTalk of another seed; no
   label read there either). Nothing is rendered, so these steps are cheap; the student starts
   phase 2 already pointing at emotions.
2. end to end: per clip, an identity frame I^i, the clip's audio, and K consecutive frames to
   reconstruct (K = SyncNet's window, and TVM's sequence):
       L_rec  = λ_L1 ‖Î − I‖₁ + λ_perc ‖φ(Î) − φ(I)‖₁ + λ_motion ‖(Î − I) ⊙ M_motion‖₁     (RETA Eq. 3)
       L_adv  = softplus(D(I) − D(Î))                                              (RETA Eq. 4)
       L_syn  = 1 − cos(v, s)   (SyncNet, the window's faces and its centre's audio)  (RETA Eq. 5)
       L_emo  = KL(P(sg z(I)) ‖ P(z(Î))) + 1 − cos(f_E, sg f_V)                   (RETA Eq. 6, §3.1)
              + KL(P(sg z(I^n)) ‖ P(z(Î^{mn}))),  Î^{mn} = G(f_I^m, f_M^m, f_E^n)   (cross-synthesis, EDS)
       L      = L_rec + λ_adv L_adv + λ_syn L_syn + λ_emo L_emo                    (RETA Eq. 2)
   with λ_L1 = λ_emo = 2 and the rest 1 (D.2). M_motion is TVM (Algorithm 1) over the K real
   frames of each clip. Partner n of clip m is the next clip of the batch.

Labels: no batch carries an emotion label. `RETAClips` (data/reta_clips.py) reads frames, audio
and mel windows only, and tests/test_reta_training.py trains with every label field of the
dataset made unreadable.

Ablations (RETA Tab. 4) are settings: model.geometric/emotion/style/injection/bridge.bridge
(models/reta.py), eds=false (no cross-synthesis), w_motion=0 (no TVM). "w/o ERL" (model.emotion=false)
has no student to distil or to cross-synthesise with: the run skips phase 1 (it starts at step
distill_steps, so it gets the same end-to-end steps as the others) and drops L_emo^{v-a} and the
cross-synthesis term; L_emo^{v-v} on the rendered frames stays. With code_distill (ours), its phase 1
trains the mouth code alone, so that the ablation differs from the full model in the emotion only.
"""
from dataclasses import replace

import torch

from talkinglib import checkpoints
from talkinglib.data.reta_clips import (CodeTargets, RETAClips, TeacherTargets, distillation_clips, targets_logits,
                                       window_rows)
from talkinglib.errors import InputError
from talkinglib.losses.reta import (distillation_loss, emotion_kl_loss, masked_l1_loss, relativistic_d_loss,
                                    relativistic_g_loss, sync_cosine_loss)
from talkinglib.models.tvm import clip_masks
from talkinglib.train.adversarial import build_discriminator, discriminator_step
from talkinglib.train.common import step_generator
from talkinglib.train.presets import as_preset
from talkinglib.train.reta_config import (FREEZABLE, TRAIN_PRESETS, RETATrainConfig, freeze,  # noqa: F401
                                          frozen_modules)
from talkinglib.train.trainer import Trainer

STAGE = "reta"
def code_losses(model, f_m, f_e, m_true, e_true, gain=1.0):
    """Ours, not in RETA: ‖f_M − f^{r→m}‖² and ‖P_E(f_E) − gain · f^{r→e}‖² (mean squared error) against a
    frozen EDTalk's codes of the same frames (CodeTargets). A branch that is switched off (w/o GPL, w/o ERL)
    has no code to learn: its term is 0. Shapes f_m, m_true, e_true (..., D) and f_e (..., H_T)."""
    zero = f_m.new_zeros(())
    mouth = (f_m - m_true).pow(2).mean() if model.cfg.geometric else zero
    emotion = (model.emotion_proj(f_e) - gain * e_true).pow(2).mean() if model.cfg.emotion else zero
    return mouth, emotion


def _experts(preset, teacher, syncnet, device):
    """(teacher, SyncNet, official_colours): files at `tiny`, the registry's pretrained ones at `full`
    (Wav2Lip's expert reads BGR faces in [0, 1]: official_colours=True)."""
    if teacher is None and preset.name == "tiny":
        raise InputError("RETA's tiny stage needs the tiny emotion teacher: --teacher data/checkpoints/teacher_tiny.pt "
                         "(or train one: talkinglib train teacher)")
    if syncnet is None and preset.name == "tiny":
        raise InputError("RETA's tiny stage needs the tiny lip-sync expert: --syncnet data/checkpoints/syncnet_tiny.pt "
                         "(or train one: talkinglib train syncnet)")
    if teacher is not None:
        T = checkpoints.load(teacher, "teacher")
    else:
        from talkinglib.models.emotion import EmotionTeacher
        T = EmotionTeacher(preset.teacher)
    if syncnet is not None:
        S = checkpoints.load(syncnet, "syncnet")
    else:
        from talkinglib.official import load_wav2lip_syncnet
        S = load_wav2lip_syncnet()
    return T.to(device).eval().requires_grad_(False), S.to(device).eval().requires_grad_(False), syncnet is None


def initial_reta(model_cfg, init):
    """RETA(model_cfg) with E_I and G from the EDTalk checkpoint `init` (RETA §3.2)."""
    from talkinglib.models.reta import RETA
    if init is None:
        raise InputError("RETA starts from EDTalk's E and G (§3.2): pass --init with an EDTalk checkpoint "
                         "(data/checkpoints/edtalk_tiny.pt at tiny, the official EDTalk.pt at full)")
    from talkinglib.train.edtalk_common import initial_edtalk
    edtalk, _ = initial_edtalk("edtalk.mouth_pose", init)
    # E_I and G are EDTalk's: their architecture options come from the checkpoint they start from
    cfg = replace(model_cfg, encoder_norm=edtalk.cfg.encoder_norm, warp_grid=edtalk.cfg.warp_grid,
                  warp_image=edtalk.cfg.warp_image, image_draw=edtalk.cfg.image_draw)
    return RETA(cfg).init_from_edtalk(edtalk.float())


def train_reta(data_root, out_dir, preset="tiny", cfg=None, model_cfg=None, init=None, teacher=None, syncnet=None,
               resume=True, progress=True, callback=None, stop_at=None, device=None):
    """Train (or resume) RETA; writes out_dir/reta.pt. Returns (model in eval mode, logger)."""
    from talkinglib.losses.perceptual import VGGPerceptual
    preset = as_preset(STAGE, preset)                                      # a name is resolved here, once
    cfg = cfg or preset.train
    run = Trainer(STAGE, out_dir, "reta.pt", cfg, device, resume, data=data_root)         # seeds; reads the run's checkpoint once
    device = run.device
    if run.resuming:                                                      # the run's own model config wins
        model = checkpoints.from_state(run.state, STAGE, run.ckpt_path)
    else:
        model = initial_reta(model_cfg or preset.model, init)
    mcfg = model.cfg
    T_net, S_net, official_colours = _experts(preset, teacher, syncnet, device)
    if T_net.hidden != mcfg.teacher_dim:
        raise InputError(f"the teacher's embedding is {T_net.hidden}-d but RETA's student outputs {mcfg.teacher_dim}-d; "
                         f"use --set model.teacher_dim={T_net.hidden}")
    model.to(device)
    D = build_discriminator(preset.discriminator, mcfg.size, run.state).to(device).requires_grad_(False)
    params = model.trained_parameters()
    branch = {id(p) for p in model.branch_parameters()}
    groups = [{"params": [p for p in params if id(p) not in branch], "lr": cfg.lr},         # E_I, G
              {"params": [p for p in params if id(p) in branch], "lr": cfg.lr_branches or cfg.lr}]
    opt = torch.optim.Adam(groups, betas=tuple(cfg.betas))                                  # phase 2: everything
    use_codes = cfg.w_mouth_code > 0 or cfg.w_emotion_code > 0          # EDTalk's own codes as f_M's, P_E(f_E)'s targets
    if cfg.code_distill and not use_codes:
        raise ValueError("code_distill trains on the code terms: set w_mouth_code and/or w_emotion_code > 0")
    if use_codes and init is None:
        raise ValueError("w_mouth_code / w_emotion_code read the EDTalk checkpoint the run started from: pass "
                         "the same --init again")
    frozen = frozen_modules(model, cfg.phase2_frozen)
    distill_params = model.audio_parameters() + (model.branch_parameters() if cfg.code_distill else [])
    opt_audio = torch.optim.Adam(distill_params, lr=cfg.lr_distill, betas=tuple(cfg.betas))              # phase 1
    d_opt = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=tuple(cfg.betas))
    config = {"model": checkpoints.config_to_dict(mcfg), "train": checkpoints.config_to_dict(cfg),
              "init": str(init) if init else None}
    run.attach(model, opt, config, extra={"audio_optimizer": opt_audio, "discriminator": D, "d_optimizer": d_opt},
               extra_config={"discriminator_config": checkpoints.config_to_dict(D.cfg)}, params=params)
    if run.resuming:                                                      # --set lr=... on resume
        for group, lr in zip(opt.param_groups, (cfg.lr, cfg.lr_branches or cfg.lr)):
            group["lr"] = lr
        for o, lr in ((opt_audio, cfg.lr_distill), (d_opt, cfg.lr_d)):
            for group in o.param_groups:
                group["lr"] = lr
    vgg = VGGPerceptual(replace(preset.perceptual, weights=cfg.perceptual, criterion="l1")).to(device)   # ‖φ(ŷ) − φ(y)‖₁
    data = RETAClips(data_root, "train", cfg.clip_frames, cfg.window)
    targets = TeacherTargets(T_net, data, device, cache=cfg.cache_teacher)
    phase1 = mcfg.emotion or cfg.code_distill                            # w/o ERL without code_distill: nothing to distil
    distill = distillation_clips(data, data_root, cfg.distill_data) if phase1 else data
    distill_targets = (targets if distill is data else
                       TeacherTargets(T_net, distill, device, cache=cfg.cache_teacher, shared=targets))
    codes = distill_codes = None
    if use_codes:
        from talkinglib.train.edtalk_common import initial_edtalk
        edtalk = initial_edtalk("edtalk.mouth_pose", init)[0].float().requires_grad_(False)
        codes = CodeTargets(edtalk, data, device)
        distill_codes = codes if distill is data else CodeTargets(edtalk, distill, device, shared=codes)
    if not phase1 and run.step < cfg.distill_steps:
        run.step = cfg.distill_steps
    start = run.step
    last = run.begin(progress, stop_at, postfix=("loss", "l1", "sync", "emo_va"))
    K = cfg.window
    while run.step < last:
        step = run.step
        g = step_generator(cfg.seed, step, run.rank)
        torch.manual_seed(cfg.seed * 1_000_003 + step)                   # dropout replays on resume
        losses = {}
        if step < cfg.distill_steps:                                      # phase 1: distillation only
            b = distill.audio_batch(g, cfg.distill_batch)
            f_a = model.audio(b["wav"].to(device), cfg.clip_frames)          # (B, T, C_A)
            f_e = model.student(f_a)                                         # (B, T, H_T)
            losses["emo_va"] = (distillation_loss(f_e, distill_targets.segments(b["clip"], b["start"], cfg.clip_frames))
                                if mcfg.emotion else f_e.new_zeros(()))
            loss = cfg.w_emo * losses["emo_va"]
            if cfg.code_distill:                                          # ours: the branches learn EDTalk's codes
                m_true, e_true = distill_codes.segments(b["clip"], b["start"], cfg.clip_frames)   # (B, T, D) each
                losses["mouth_code"], losses["emotion_code"] = code_losses(model, model.geometry(f_a)["f_M"], f_e,
                                                                           m_true, e_true, cfg.emotion_code_gain)
                loss = loss + cfg.w_mouth_code * losses["mouth_code"] + cfg.w_emotion_code * losses["emotion_code"]
            run.update(loss, opt=opt_audio, params=distill_params)        # phase 1's optimiser
        else:                                                             # phase 2: end to end
            if frozen and step == max(cfg.distill_steps, start):          # ours: phase2_frozen (also on a resume)
                freeze(frozen)
            b = data.batch(g, cfg.batch_size)
            B = len(b["clip"])
            c = model.controls(b["wav"].to(device), cfg.clip_frames)      # f_M (B, T, D), f_E (B, T, H_T)
            f_v = targets.segments(b["clip"], b["start"], cfg.clip_frames) if mcfg.emotion else None
            code = model.encode_source(b["identity"].to(device))          # f_STY (B, D), f_TEX
            rep = lambda x: x.repeat_interleave(K, 0)                      # noqa: E731  (B, ...) -> (B*K, ...)
            f_m = window_rows(c["f_M"], b["offset"], K).flatten(0, 1)     # (B*K, D)
            f_e = window_rows(c["f_E"], b["offset"], K).flatten(0, 1)     # (B*K, H_T)
            fake = model.render(type(code)(rep(code.latent), [rep(f) for f in code.feats]), f_m, f_e)   # (B*K, 3, S, S)
            real = b["real"].to(device)                                    # (B, K, 3, S, S)
            real_flat = real.flatten(0, 1)
            mask = rep(clip_masks(real, cfg.tvm))                          # M_motion (B*K, 1, S, S)
            losses["l1"] = (fake - real_flat).abs().mean()
            losses["per"] = vgg.loss(real_flat, fake)
            losses["motion"] = masked_l1_loss(real_flat, fake, mask)
            fake_win = fake.view(B, K, *fake.shape[1:])
            v = S_net.embed_face(S_net.face_input(fake_win, official_colours))
            s = S_net.embed_audio(b["mel"].to(device))
            losses["sync"] = sync_cosine_loss(v, s)
            _, z_fake = T_net(fake)
            z_real = targets_logits(targets, b, K)
            losses["emo_vv"] = emotion_kl_loss(z_real, z_fake)
            zero = fake.new_zeros(())
            if codes is not None:                                          # ours: EDTalk's codes of the real frames
                starts = b["start"] + b["offset"]
                m_true, e_true = (x.flatten(0, 1) for x in codes.segments(b["clip"], starts, K))   # (B*K, D)
                losses["mouth_code"], losses["emotion_code"] = code_losses(model, f_m, f_e, m_true, e_true,
                                                                           cfg.emotion_code_gain)
            losses["emo_va"] = distillation_loss(c["f_E"], f_v) if mcfg.emotion else zero
            if cfg.eds and mcfg.emotion and B > 1:                                          # Î^{mn} = G(f_I^m, f_M^m, f_E^n)
                mid = K // 2
                n = torch.roll(torch.arange(B), -1)
                f_m_mid = f_m.view(B, K, -1)[:, mid]
                f_e_n = f_e.view(B, K, -1)[n, mid]
                cross = model.render(code, f_m_mid, f_e_n)
                losses["emo_cross"] = emotion_kl_loss(z_real.view(B, K, -1)[n, mid], T_net(cross)[1])
            else:
                losses["emo_cross"] = zero
            use_adv = cfg.w_adv > 0 and step >= cfg.adv_start
            if use_adv:                                                    # D step (RETA Eq. 4, symmetric)
                losses["d"] = discriminator_step(D, d_opt, real_flat, fake, cfg, step, list(D.parameters()),
                                                 run.world, relativistic_d_loss)
                losses["adv"] = relativistic_g_loss(D(real_flat), D(fake))
            else:
                losses["adv"] = fake.new_zeros(())
            loss = (cfg.w_l1 * losses["l1"] + cfg.w_per * losses["per"] + cfg.w_motion * losses["motion"]
                    + cfg.w_adv * losses["adv"] + cfg.w_sync * losses["sync"]
                    + cfg.w_emo_vv * (losses["emo_vv"] + losses["emo_cross"]) + cfg.w_emo * losses["emo_va"]
                    + cfg.w_mouth_code * losses.get("mouth_code", zero)
                    + cfg.w_emotion_code * losses.get("emotion_code", zero))
            clip = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
            losses["grad_norm"] = run.update(loss, clip=clip)              # G step; the norm before clipping
        losses["loss"] = loss.detach()
        run.end_step(losses, callback)                                    # log, checkpoint on schedule
    return run.close()
