"""Stage `reta`'s training config, its tiny and full presets (with the measurements behind each tiny
choice), and phase2_frozen's module choice. The loop lives in train/reta.py.
"""
from dataclasses import dataclass, field

from talkinglib.models.tvm import TVMConfig

FREEZABLE = ("audio", "geometry", "student", "emotion_proj", "enc", "dec")   # RETA's modules, for phase2_frozen


def frozen_modules(model, names):
    """The modules named in `phase2_frozen` ("audio,geometry" -> [E_A, the geometric prior])."""
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    bad = [n for n in wanted if n not in FREEZABLE]
    if bad:
        raise ValueError(f"phase2_frozen names {bad}; choose from {FREEZABLE} (comma-separated)")
    return [getattr(model, n) for n in wanted]


def freeze(modules):
    """No gradient and eval mode (BatchNorm statistics and dropout stay as they were) for each module.
    Adam skips a parameter whose .grad is None, so the optimizer keeps its state and a resume still fits."""
    for m in modules:
        m.requires_grad_(False).eval()


@dataclass(frozen=True)
class RETATrainConfig:
    steps: int = 1000
    distill_steps: int = 600        # phase 1: E_A + S on L_emo^{v-a} only
    distill_batch: int = 16         # clips per distillation step
    distill_data: str | None = None # further clips for phase 1 (a dataset folder, its "train" split), no labels
                                    # read: more voices for the student (see TRAIN_PRESETS["tiny"])
    batch_size: int = 4             # clips per end-to-end step
    window: int = 5                 # K consecutive frames rendered per clip (SyncNet's window)
    clip_frames: int = 75           # frames of audio per clip segment (a tiny SynthTalk clip is 75)
    lr: float = 1e-3                # D.2 (phase 2; see TRAIN_PRESETS["tiny"])
    lr_distill: float = 1e-3        # phase 1 (E_A and S alone)
    lr_d: float = 1e-3
    betas: tuple = (0.5, 0.99)
    w_l1: float = 2.0               # D.2: λ_L1 = λ_emo = 2, the rest 1
    w_per: float = 1.0
    w_motion: float = 1.0           # 0: "w/o TVM"
    w_adv: float = 1.0
    w_sync: float = 1.0
    w_emo: float = 2.0              # λ_emo on L_emo^{v-a}
    w_emo_vv: float = 2.0           # λ_emo on the rendered-frame terms: L_emo^{v-v} and the cross-synthesis
                                    # (RETA uses one λ_emo = 2 for all; see TRAIN_PRESETS["tiny"])
    eds: bool = True                # the cross-synthesis consistency term ("w/o EDS": false)
    lr_branches: float = 0.0        # phase 2 lr of the new branches (D, E_M, P_E; not E_A or the distilled S); 0
                                    # keeps lr. Ours: at the tiny lr 1e-4, 400 steps moved E_M's weights by at most
                                    # 0.008 (f_M flat)
    w_mouth_code: float = 0.0       # f_M regresses the frozen EDTalk's mouth feature f^{r→m} = Σ W^m b^m of each real
                                    # frame (EDTalk Eq. 1, from --init). NOT in RETA (its f_M learns from pixels
                                    # only); needs no labels, so real clips work too
    w_emotion_code: float = 0.0     # likewise P_E(f_E) regresses EDTalk's expression feature f^{r→e}. NOT in RETA
    emotion_code_gain: float = 1.0  # ours: P_E(f_E) regresses gain · f^{r→e}. RETA's G has no EEM, which in EDTalk
                                    # draws part of the expression, so EDTalk's own code comes out faint through it
                                    # (see TRAIN_PRESETS["tiny"])
    code_distill: bool = False      # ours, NOT in RETA: phase 1 also trains D, E_M and P_E (with E_A and S) on the
                                    # two code terms above, over every frame of the distillation clips (no G in the
                                    # loop, like Audio2Lip's image_start), so phase 2 starts with an f_M that talks
    grad_clip: float = 0.0          # phase 2: the global gradient norm of E_I, G and the branches is clipped to this
                                    # (torch.nn.utils.clip_grad_norm_); 0: no clipping, as RETA. Ours. Logged as
                                    # "grad_norm" (before clipping) either way
    phase2_frozen: str = ""         # ours, NOT in RETA (which trains everything end to end): RETA modules phase 2
                                    # leaves as phase 1 made them, comma-separated, from FREEZABLE. "audio,geometry"
                                    # keeps E_A, D and E_M, so f_M keeps the mouth code_distill taught it while S,
                                    # P_E, E_I and G learn the rendered emotion (see TRAIN_PRESETS["tiny"])
    adv_start: int = 0              # steps before the adversarial terms switch on
    r1: float = 1.0
    r1_every: int = 16
    tvm: TVMConfig = field(default_factory=TVMConfig)
    perceptual: str = "random"      # VGG19 weights: "random" (offline) or "imagenet" (registry)
    cache_teacher: bool = True      # keep every clip's f_V and logits (CPU, float16); False: run T per batch
    seed: int = 0
    log_every: int = 25
    ckpt_every: int = 250


TRAIN_PRESETS = {
    # tiny: 600 cheap distillation steps, then 400 end to end (about 1 s each on 2 cores); the
    # GAN stays off as in EDTalk's tiny stages. Phase 1 on the 12 training voices alone overfits
    # them: after 2400 steps the student named 100 % of training clips but 56 % of the 4 test
    # voices'. With 64 further voices added (distill_data, data/checkpoints/README.md), 600 steps gave 81 %.
    # Phase 2 at lr 1e-4: from the tiny EDTalk at D.2's
    # 1e-3, the L1 rose from 0.25 to 0.38 within 40 steps (the generator came apart). Phase 1 at lr 3e-4: at D.2's
    # 1e-3 it is at the edge of divergence (from the issue-18 EDTalk `runs/we_exp`, 1 − cos stayed at 0.7-0.96 for
    # 600 steps and the student named 12.5 % of test clips; from edtalk_tiny.pt it fell to 0.39 by step 200 and
    # jumped to 0.92 at 225); at 3e-4, 0.34 by step 250 and a student at 87.5 %.
    # Issue 18, from `runs/we_exp` (an EDTalk whose G renders jaw and expression), 32 test clips, with
    # model.fine_motion, model.bridge.offset_norm, w_mouth_code 1, w_emotion_code 1 (all ours, on in this preset):
    #   lr_branches 1e-3 (`runs/we_reta2`): f_M's std over time 0.12 (committed: 0.0008), emotion read from the
    #     frames 43.8 %, student 87.5 %, jaw R² −0.51; the mouth-code MSE spiked 0.24 → 14.2 mid-run
    #   lr_branches 3e-4 (`runs/we_reta3`): f_M 0.073, emotion 56.2 %, student 75 %, jaw −0.37; the mouth-code
    #     MSE stayed at 0.2-0.3 (about the target's variance): 400 steps do not teach audio → f_M the jaw
    #   + code_distill (`runs/we_reta4`): phase 1 ends at a mouth-code MSE of 0.08, which is all audio can explain
    #     there (that EDTalk's f^{r→m} is R² 0.35 mouth, 0.49 pose); stopped after phase 1 (`runs/we_reta4p1`) the
    #     frames already talk: jaw R² 0.73, Sync_conf 0.42, emotion from frames 43.8 %. Phase 2 then undid the
    #     mouth (code MSE back to 0.2-1.3, jaw 0.06) while teaching the emotion (65.6 %)
    #   + w_mouth_code = w_emotion_code = 10 (`runs/we_reta5`): jaw R² 0.69, emotion from the frames
    #     75.0 %, student 93.8 %, f_M std 0.14, PSNR 20.7
    # On the issue-18 edtalk_tiny.pt (scorecard --parts reta, 32 test clips each of tiny-seed0 / seed1, bars jaw R²
    # ≥ 0.6 and emotion ≥ 60 %), the preset above gave jaw 0.40 / 0.39 and emotion 40.6 / 59.4 %; phase 1 alone
    # (`--steps 600`) 0.76 / 0.86 and 21.9 / 34.4 %; grad_clip, lr 5e-5, lr_branches 1e-3 or 800 phase-2 steps
    # each a worse jaw: phase 2 undid the mouth phase 1 taught f_M (its code MSE 0.016 → 0.07-0.8). Hence:
    #   + phase2_frozen "audio,geometry" (`runs/reta_fz`): jaw 0.79 / 0.88, emotion 43.8 / 62.5 % (800 phase-2
    #     steps: 0.77 / 0.87, 37.5 / 62.5 %). The misses are frames the probe calls neutral, and EDTalk's own
    #     expression code of the real frames put in P_E's place does no better (40.6 % on seed0): RETA's G, without
    #     EEM, draws EDTalk's code faintly; twice the code gives 59.4 / 81.2 %
    #   + emotion_code_gain 2 (`runs/reta_g2`, this preset): jaw 0.77 / 0.85 / 0.81 and emotion 62.5 / 75.0 /
    #     65.6 % on tiny-seed0 / 1 / 2, f_M std 0.14. Gain 3 (`runs/reta_g3`): 0.76 / 0.85, 50.0 / 68.8 %
    "tiny": RETATrainConfig(lr=1e-4, lr_distill=3e-4, lr_branches=3e-4, w_mouth_code=10.0, w_emotion_code=10.0,
                            code_distill=True, phase2_frozen="audio,geometry", emotion_code_gain=2.0,
                            adv_start=10**9),
    # full: D.2's settings on 256² MEAD/HDTF segments of 2 s
    "full": RETATrainConfig(steps=100_000, distill_steps=5000, distill_batch=32, batch_size=8, clip_frames=50,
                            perceptual="imagenet", cache_teacher=False, log_every=100, ckpt_every=2000),
}
