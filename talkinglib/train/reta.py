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
from tqdm.auto import tqdm

from talkinglib.data.reta_clips import (CodeTargets, RETAClips, TeacherTargets, distillation_clips, targets_logits,
                                       window_rows)
from talkinglib.errors import InputError
from talkinglib.losses.reta import (distillation_loss, emotion_kl_loss, masked_l1_loss, relativistic_d_loss,
                                    relativistic_g_loss, sync_cosine_loss)
from talkinglib.models.tvm import clip_masks
from talkinglib.train import common
from talkinglib.train.reta_config import (FREEZABLE, TRAIN_PRESETS, RETATrainConfig, freeze,  # noqa: F401
                                          frozen_modules)
from talkinglib.train.edtalk_common import (average_gradients, build_discriminator, discriminator_step, dist_info,
                                            ensure_dir, resolve_device, step_generator)

STAGE = "reta"
def code_losses(model, f_m, f_e, m_true, e_true, gain=1.0):
    """Ours, not in RETA: ‖f_M − f^{r→m}‖² and ‖P_E(f_E) − gain · f^{r→e}‖² (mean squared error) against a
    frozen EDTalk's codes of the same frames (CodeTargets). A branch that is switched off (w/o GPL, w/o ERL)
    has no code to learn: its term is 0. Shapes f_m, m_true, e_true (..., D) and f_e (..., H_T)."""
    zero = f_m.new_zeros(())
    mouth = (f_m - m_true).pow(2).mean() if model.cfg.geometric else zero
    emotion = (model.emotion_proj(f_e) - gain * e_true).pow(2).mean() if model.cfg.emotion else zero
    return mouth, emotion


def load_reta_checkpoint(path):
    """(RETA in eval mode, checkpoint state) from a `talkinglib train reta` checkpoint."""
    from talkinglib.models.reta import RETA, RETAConfig
    state = common.load_checkpoint(path)
    common.require_kind(path, state, STAGE)
    from talkinglib.models.bridge_3dmm import Morphable3DMM
    sd = state["model"]
    mm = None
    if "geometry.mm.mean" in sd:                                  # the checkpoint carries its 3DMM
        mm = Morphable3DMM(*(sd[f"geometry.mm.{k}"].float() for k in ("mean", "U_id", "U_exp")),
                           sd["geometry.mm.triangles"].numpy(), sd["geometry.mm.lip"].numpy())
    model = RETA(common.config_from_dict(RETAConfig, state["config"]["model"]), mm=mm)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise common.CheckpointError(f"{path} does not match RETA({state['config']['model']}): {e}") from e
    return model.eval(), state


def _experts(preset, teacher, syncnet, device):
    """(teacher, SyncNet, official_colours): files at `tiny`, the registry's pretrained ones at `full`
    (Wav2Lip's expert reads BGR faces in [0, 1]: official_colours=True)."""
    from talkinglib.train.syncnet import load_syncnet
    from talkinglib.train.teacher import load_teacher
    if teacher is None and preset == "tiny":
        raise InputError("RETA's tiny stage needs the tiny emotion teacher: --teacher data/checkpoints/teacher_tiny.pt "
                         "(or train one: talkinglib train teacher)")
    if syncnet is None and preset == "tiny":
        raise InputError("RETA's tiny stage needs the tiny lip-sync expert: --syncnet data/checkpoints/syncnet_tiny.pt "
                         "(or train one: talkinglib train syncnet)")
    if teacher is not None:
        T, _ = load_teacher(teacher)
    else:
        from talkinglib.models.emotion import PRESETS, EmotionTeacher
        T = EmotionTeacher(PRESETS[preset])
    if syncnet is not None:
        S, _ = load_syncnet(syncnet)
    else:
        from talkinglib.official import load_wav2lip_syncnet
        S = load_wav2lip_syncnet()
    return T.to(device).eval().requires_grad_(False), S.to(device).eval().requires_grad_(False), syncnet is None


def _initial_model(preset, model_cfg, init):
    from talkinglib.models.reta import PRESETS, RETA
    if init is None:
        raise InputError("RETA starts from EDTalk's E and G (§3.2): pass --init with an EDTalk checkpoint "
                         "(data/checkpoints/edtalk_tiny.pt at tiny, the official EDTalk.pt at full)")
    from talkinglib.train.edtalk_common import _initial_model as edtalk_model
    edtalk, _ = edtalk_model("edtalk.mouth_pose", preset, init, None)
    # E_I and G are EDTalk's: their architecture options come from the checkpoint they start from
    cfg = replace(model_cfg or PRESETS[preset], encoder_norm=edtalk.cfg.encoder_norm, warp_grid=edtalk.cfg.warp_grid,
                  warp_image=edtalk.cfg.warp_image, image_draw=edtalk.cfg.image_draw)
    return RETA(cfg).init_from_edtalk(edtalk.float())


def train_reta(data_root, out_dir, preset="tiny", cfg=None, model_cfg=None, init=None, teacher=None, syncnet=None,
               resume=True, progress=True, callback=None, stop_at=None, device=None):
    """Train (or resume) RETA; writes out_dir/reta.pt. Returns (model in eval mode, logger)."""
    from talkinglib.losses.perceptual import VGGPerceptual
    cfg = cfg or TRAIN_PRESETS[preset]
    rank, world = dist_info()
    device = resolve_device(device)
    common.seed_everything(cfg.seed)
    out_dir = ensure_dir(out_dir)
    ckpt_path = out_dir / "reta.pt"
    resuming = resume and ckpt_path.is_file()
    if resuming:                                                          # the run's own model config wins
        model, state = load_reta_checkpoint(ckpt_path)
    else:
        model = _initial_model(preset, model_cfg, init)
    mcfg = model.cfg
    T_net, S_net, official_colours = _experts(preset, teacher, syncnet, device)
    if T_net.hidden != mcfg.teacher_dim:
        raise InputError(f"the teacher's embedding is {T_net.hidden}-d but RETA's student outputs {mcfg.teacher_dim}-d; "
                         f"use --set model.teacher_dim={T_net.hidden}")
    model.to(device)
    D = build_discriminator(preset, mcfg.size, state if resuming else None).to(device).requires_grad_(False)
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
    step = 0
    logger = common.Logger(out_dir / "tb" if rank == 0 else None)
    if resuming:
        try:
            opt.load_state_dict(state["optimizer"])
        except ValueError as e:                                           # a run from before the two lr groups
            raise common.CheckpointError(f"{ckpt_path}'s optimizer does not fit this trainer ({e}); start a new run "
                                         "from its --init with another --out") from e
        try:
            opt_audio.load_state_dict(state["extra"]["audio_optimizer"])
        except ValueError as e:                                           # code_distill changed since the run began
            raise common.CheckpointError(f"{ckpt_path}'s phase-1 optimizer does not fit code_distill={cfg.code_distill}"
                                         f" ({e}); resume with the run's own setting, or start a new --out") from e
        D.load_state_dict(state["extra"]["discriminator"])
        d_opt.load_state_dict(state["extra"]["d_optimizer"])
        step = state["step"]
        logger.history = {k: [tuple(p) for p in v] for k, v in state.get("history", {}).items()}
        for group, lr in zip(opt.param_groups, (cfg.lr, cfg.lr_branches or cfg.lr)):    # --set lr=... on resume
            group["lr"] = lr
        for o, lr in ((opt_audio, cfg.lr_distill), (d_opt, cfg.lr_d)):
            for group in o.param_groups:
                group["lr"] = lr
    vgg = VGGPerceptual.for_preset(preset, weights=cfg.perceptual, criterion="l1").to(device)   # ‖φ(ŷ) − φ(y)‖₁
    data = RETAClips(data_root, "train", cfg.clip_frames, cfg.window)
    targets = TeacherTargets(T_net, data, device, cache=cfg.cache_teacher)
    phase1 = mcfg.emotion or cfg.code_distill                            # w/o ERL without code_distill: nothing to distil
    distill = distillation_clips(data, data_root, cfg.distill_data) if phase1 else data
    distill_targets = (targets if distill is data else
                       TeacherTargets(T_net, distill, device, cache=cfg.cache_teacher, shared=targets))
    codes = distill_codes = None
    if use_codes:
        from talkinglib.train.edtalk_common import _initial_model as edtalk_model
        edtalk = edtalk_model("edtalk.mouth_pose", preset, init, None)[0].float().requires_grad_(False)
        codes = CodeTargets(edtalk, data, device)
        distill_codes = codes if distill is data else CodeTargets(edtalk, distill, device, shared=codes)
    config = {"stage": STAGE, "model": common.config_to_dict(mcfg), "train": common.config_to_dict(cfg),
              "init": str(init) if init else None}

    def save():
        if rank == 0:
            common.save_checkpoint(ckpt_path, config=config, model=model, optimizer=opt, step=step,
                                   extra={"audio_optimizer": opt_audio.state_dict(), "discriminator": D.state_dict(),
                                          "d_optimizer": d_opt.state_dict(),
                                          "discriminator_config": common.config_to_dict(D.cfg)},
                                   history=logger.history)

    if not phase1 and step < cfg.distill_steps:
        step = cfg.distill_steps
    model.train()
    start = step
    last = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
    bar = tqdm(total=cfg.steps, initial=step, desc=STAGE, disable=not progress or rank > 0)
    K = cfg.window
    while step < last:
        g = step_generator(cfg.seed, step, rank)
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
            opt_audio.zero_grad(set_to_none=True)
            loss.backward()
            average_gradients(distill_params, world)
            opt_audio.step()
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
                losses["d"] = discriminator_step(D, d_opt, real_flat, fake, cfg, step, list(D.parameters()), world,
                                                 relativistic_d_loss)
                losses["adv"] = relativistic_g_loss(D(real_flat), D(fake))
            else:
                losses["adv"] = fake.new_zeros(())
            loss = (cfg.w_l1 * losses["l1"] + cfg.w_per * losses["per"] + cfg.w_motion * losses["motion"]
                    + cfg.w_adv * losses["adv"] + cfg.w_sync * losses["sync"]
                    + cfg.w_emo_vv * (losses["emo_vv"] + losses["emo_cross"]) + cfg.w_emo * losses["emo_va"]
                    + cfg.w_mouth_code * losses.get("mouth_code", zero)
                    + cfg.w_emotion_code * losses.get("emotion_code", zero))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            average_gradients(params, world)
            clip = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
            losses["grad_norm"] = torch.nn.utils.clip_grad_norm_(params, clip)          # the norm before clipping
            opt.step()
        losses["loss"] = loss.detach()
        step += 1
        bar.update()
        if step % cfg.log_every == 0 or step == last:
            scalars = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in losses.items()}
            logger.log(step, **scalars)
            bar.set_postfix({k: f"{v:.3f}" for k, v in scalars.items() if k in ("loss", "l1", "sync", "emo_va")})
            if callback is not None:
                callback(step, logger)
        if step % cfg.ckpt_every == 0 or step == last:
            save()
    bar.close()
    logger.close()
    return model.eval(), logger
