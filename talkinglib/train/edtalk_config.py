"""EDTalk's video-driven stages: which groups each trains, their training config, and the tiny and
full presets (with the measurements behind each tiny choice). The loops live one per file:
edtalk_autoencoder.py, edtalk_mouth_pose.py, edtalk_expression.py; their shared plumbing in
edtalk_common.py.
"""
from dataclasses import dataclass, replace

STAGES = ("edtalk.autoencoder", "edtalk.mouth_pose", "edtalk.expression")

# which of EDTalk.param_groups() each stage trains (EDTalk A.3)
TRAINABLE = {"edtalk.autoencoder": ("encoder", "generator", "mouth_pose"),   # LIA-style pre-training
             "edtalk.mouth_pose": ("mouth_pose",),                           # E and G frozen
             "edtalk.expression": ("expression",)}                           # ELN, exp bank, EEM only


@dataclass(frozen=True)
class EDTalkTrainConfig:
    steps: int = 3000
    batch_size: int = 8
    lr: float = 2e-3                 # EDTalk A.3 (navigation and EEM); the autoencoder preset lowers it
    lr_d: float = 2e-3
    betas: tuple = (0.5, 0.99)
    w_rec: float = 1.0               # EDTalk A.3: "All loss function weights are set to 1"
    w_per: float = 1.0
    w_adv: float = 1.0
    w_self: float = 1.0              # mouth_pose: self-reconstruction of the unswapped frames
    w_fea: float = 1.0               # mouth_pose: EDTalk Eq. 7
    w_mot: float = 10.0              # expression: EDTalk Eq. 9 (weight 10)
    w_mc: float = 1.0                # expression: EDTalk Eq. 10
    w_mouth: float = 0.0             # autoencoder, mouth_pose, expression: L1 inside the target frame's mouth mask. NOT in EDTalk;
                                     # a tiny-scale aid (at 64² the mouth is ~2 % of the pixels, and
                                     # without it G learns to render every mouth closed)
    w_factors: float = 0.0           # autoencoder, mouth_pose: W^m[:, :4], W^p[:, :5] regress SynthTalk's true mouth and pose
                                     # (losses.edtalk.factor_anchor_loss); with drive_expression also W^e[:, :10] its
                                     # expression coefficients; expression: W^e of the K-frame window regresses the
                                     # window's mean expression. NOT in EDTalk; SynthTalk only
    w_leak: float = 0.0              # mouth_pose: the squared batch correlation of every W^m weight with the true pose of
                                     # the frames its mouth came from, and of W^p with their true mouth, is penalised
                                     # (losses.edtalk.cross_correlation_loss). NOT in EDTalk; SynthTalk only
    swap_start: int = 0              # autoencoder, w_swap_expert: steps before the swap term switches on (a curriculum)
    w_copy_warp: float = 0.0         # autoencoder, warp_image: on the driver = source pairs (same_fraction), the S²
                                     # offsets → 0 and m_I → 1 (losses.edtalk.copy_warp_loss). NOT in EDTalk/LIA
    copy_warp_start: int = 0         # autoencoder, w_copy_warp: steps before it switches on (a curriculum)
    w_swap_expert: float = 0.0       # autoencoder: G(f^{s→r} + W^m_d + W^p_s) and G(f^{s→r} + W^m_s + W^p_d), the driver's
                                     # mouth with the source's own pose and the reverse, must read as such to the frozen
                                     # SynthTalk expert, so that G renders the pose from W^p alone (from swap_start on).
                                     # mouth_pose: the truly swapped G(W^m_a, W^p_b), read by the frozen SynthTalk expert,
                                     # must show a's mouth and b's pose as the expert reads them on a and b
                                     # (losses.edtalk.swap_reading_loss). NOT in EDTalk: its cross-reconstruction
                                     # never renders a mouth with another frame's pose. SynthTalk only (the expert)
    w_eyes: float = 0.0              # autoencoder, expression: L1 inside the driving frame's brow-and-eye regions (where SynthTalk's
                                     # emotions show; edtalk_batches.soft_eye_region). NOT in EDTalk; needs landmarks
    same_fraction: float = 0.0       # autoencoder: share of pairs with driving frame = source. NOT in EDTalk/LIA
    w_flow_landmarks: float = 0.0    # autoencoder: G's S² warp carries the driving frame's landmarks to the source's
                                     # (losses.edtalk.landmark_flow_loss, per pixel). NOT in EDTalk/LIA; needs
                                     # landmarks in both frames (SynthTalk's, or `prepare`'s for real clips)
    w_mouth_inside: float = 0.0      # autoencoder, warp_image: G draws the driving frame's open-mouth inside instead of
                                     # warping the source there (losses.edtalk.mouth_inside_loss). NOT in EDTalk/LIA
    mouth_inside_start: int = 0      # autoencoder: steps before w_mouth_inside switches on (a curriculum, ours): G's
                                     # drawing must first have learned the open mouth (w_draw), or closing m_I there
                                     # opens it on every mouth and blurs the face
    all_clips: bool = False          # mouth_pose: frames a and b come from every clip of the identity, not its neutral
                                     # ones (A.3), and each image G renders also takes its target frame's own W^e (ELN is
                                     # frozen here), so a G that trains (lr_generator) keeps seeing expressions. Ours
    lr_generator: float = 0.0        # mouth_pose: G trains too, at this lr (0: G frozen, EDTalk A.3). NOT in EDTalk: a G
                                     # trained only on frames whose mouth and pose agree renders part of the pose from
                                     # W^m (tiny stage 1: swap pose R² 0.21), which frozen, it keeps
    lr_decay: float = 0.0            # over this last fraction of the steps, the lr of G's side falls by a half
                                     # cosine to 5 % (stage_lr). NOT in EDTalk (A.3: a constant lr); 0 keeps it
    lr_hold: float = 0.0             # with lr_decay: this last fraction of the steps stays at the 5 % floor, and the
                                     # decay spans lr_decay of the steps before them (ours, as lr_decay)
    w_draw: float = 0.0              # autoencoder, image_draw: G's own drawing (what m_I blends with the warped
                                     # image) alone reconstructs the driving frame's mouth region, so it learns
                                     # the inside of the mouth at full gradient, whatever m_I. NOT in EDTalk/LIA.
                                     # Over the whole mouth region (draw_region "mouth") it hurt: self jaw 0.45,
                                     # pose 0.86, L1 0.0121 at 8000 steps (without: 0.63, 0.89, 0.0080)
    drive_expression: bool = False   # autoencoder: the driving frame's W^e joins W^m and W^p in f^{r→d}, and ELN and the
                                     # expression bank train with E and G, so all of its motion transfers, as in LIA's
                                     # pre-training (A.3: "a similar setting as LIA"); False drives mouth and pose only
    expression_start: int = 0        # autoencoder, drive_expression: steps before W^e drives, w_eyes and the W^e anchors
                                     # switch on (a curriculum, ours): G first learns the jaw and pose, then expression.
                                     # ELN and the expression bank are in the optimizer from step 0 but get no
                                     # gradient before it (Adam skips them)
    draw_region: str = "mouth"       # w_draw's region: "mouth" (the driving frame's soft mouth region) or "inside" (its
                                     # inner-lip polygon only: where an open mouth shows what the source has not,
                                     # so the drawing learns the dark inside and teeth, not the lips). NOT in EDTalk/LIA
    adv_start: int = 0               # steps before the adversarial terms switch on
    r1: float = 1.0                  # R1 weight (lazy: every r1_every D steps, scaled by r1_every)
    r1_every: int = 16
    window: int = 5                  # expression: K frames averaged by ELN
    extra_identities: int = 0        # autoencoder: SynthTalk random-frame identities added to pairs
    frames_per_identity: int = 32
    navigation_init: str = "keep"    # mouth_pose: "keep" stage-1 navigation or "fresh" re-initialise it
    eem_init: str = "identity"       # expression: "identity" starts EEM as f^{id}_e = f^{id}; "keep" (fine-tuning)
    perceptual: str = "random"       # Φ of L_per: VGG19 "random" (offline) or "imagenet" (registry), or "expert":
                                     # the SynthTalk expert's features (models/experts.py). NOT in EDTalk; SynthTalk only
    seed: int = 0
    log_every: int = 25
    ckpt_every: int = 250


def _config(**kw):
    """EDTalkTrainConfig with these fields changed (the presets below, tiny and full alike)."""
    return replace(EDTalkTrainConfig(), **kw)


TRAIN_PRESETS = {
    # tiny: sized for 2 CPU cores; the GAN terms stay off, since a discriminator adds 60 % per step and
    # a run of an hour is about reconstruction, not texture.
    # tiny stage 1 (issue 18): the teaching aids on (EDTalkTrainConfig; each is ablated in generator.py's
    # table), L_per over the SynthTalk expert's features (perceptual="expert", w_per 0.2) instead of a
    # random VGG19, and a curriculum for the inside of the mouth: G's drawing learns the inner-lip polygon
    # (w_draw 1, draw_region "inside") from step 0, and m_I is taught to close there (w_mouth_inside 0.05)
    # from step 5250. Measured on test identities with probe_tiny.pt, 8000 steps:
    #   tiny-seed0 (`runs/wi_dinmi`, the curriculum by hand): self-reenactment jaw R² 0.77, pose R² 0.92,
    #     driver = source L1 0.0090; the output's jaw has slope 0.75 and correlation 0.89 against the truth,
    #     and m_I falls to 0.006 inside an open mouth;
    #   tiny-seed1 (`runs/s1_seed1`, this preset from scratch, 85 min = 0.63 s/step on one core beside two
    #     other runs): jaw 0.80, pose 0.91, driver = source L1 0.0117.
    # Mouth swap with stage 1's own navigation: jaw 0.77, pose 0.08 (seed0), 0.77 / 0.30 (seed1): stage 2
    # is what separates pose from mouth. Ablations at 8000 steps on tiny-seed0:
    #   without the curriculum's second half (w_mouth_inside 0, `runs/wi_din`):      jaw 0.63, pose 0.92, L1 0.0091
    #   without w_draw and w_mouth_inside (`runs/wi_per20`):                        jaw 0.62, pose 0.92, L1 0.0072
    #     (G stretches the source's lips: m_I ≈ 0.95 over the mouth, slope 0.55, no dark inside)
    #   w_mouth_inside 0.05 from step 0 (`runs/wi_per20mi`): m_I opens on every mouth, the face blurs
    #     (jaw 0.005 at step 2000)
    #   also without the expert's L_per (`runs/wi_g`):                               jaw 0.63, pose 0.89, L1 0.0080
    # At step 5250, jaw 0.63 with the expert's L_per against 0.47 without; w_per 0.05 at 3500: jaw 0.33 against
    # 0.26. (LIA's G with the other aids: 0.42, 0.81, 0.023, eyes lost.) A wider G (model.channel_base=4096,
    # 2× the step time) tracked the same curve (jaw 0.53 at step 6000). At constant lr the jaw R² of one
    # checkpoint swings by about ±0.1 from one to the next.
    # With lr 5e-3 and β = (0.9, 0.99) G stopped learning within 100 steps (L1 stuck at the mean face's 0.27).
    # lr_decay: the image_draw run above continued from step 8000 to 9500, constant lr against a
    # cosine over those 1500 steps: jaw 0.46 → 0.51, pose 0.87 → 0.88, driver = source L1 0.0125 → 0.0102.
    # Then expression (a second curriculum phase, expression_start 8000): the driving frame's W^e drives
    # too (drive_expression), anchored to SynthTalk's expression, with an L1 on brows and eyes (w_eyes 1).
    # Stage 1 continued so from `runs/wi_dinmi` (`runs/wi_exp`, 3 resumed segments of 3000 steps, the lr
    # decaying in each) moved the per-frame emotion transfer (W^e from the driver, probe accuracy, test
    # identities) 13 / 31 / 46 / 58 % at 1500 / 3000 / 5000 / 9000 steps, and the jaw with it (0.77 → 0.84,
    # pose 0.905, L1 0.0086); without it stage 3 transfers none (10 %: the oracles in its comment below).
    # w_swap_expert from step 10000 (ours, the stage-1 swap): without it the 18000-step stage 1 (`runs/chain4`)
    # renders the swap's pose from W^m (swap pose R² 0.202 at 12000, 0.229 at 18000; self 0.846 / 0.912). Resumed
    # from that run's step 10000 with it (`runs/c5_ae`), at step 12250: swap jaw 0.800, pose 0.853; self 0.795 /
    # 0.896 (0.773 / 0.866 without, at 12000); driver = source L1 0.0111 (the same; the lr decay comes later)
    # 16000 steps (was 18000; the lr decays over 12000-16000), from scratch by the recipe (`runs/chain5`, exported
    # to data/checkpoints/edtalk_tiny_ae.pt, about 140 min alone on 2 threads: 2.2-2.8 steps/s, 1.3-1.5 from
    # step 10000): self 0.842 / 0.920, swap 0.830 / 0.915, L1 0.0101 on tiny-seed0's test identities; on tiny-seed1
    # (no identity of it trained on) 0.871 / 0.945, 0.845 / 0.937, 0.0106. At step 10000: self 0.616 / 0.857,
    # swap 0.606 / 0.210, L1 0.0127.
    # w_copy_warp from step 16000, the last 1000 steps (lr_hold 1/17) held at the floor lr (ours): at 16000
    # a frame driven by itself came back through a 0.94-px warp (95 %: 2.5 px) blended with the drawing
    # (m_I 0.88), about as far from it as a 3×3 box blur (copy L1 0.0106 against the blur's 0.0133 on
    # tiny-seed1). Resumed from 16000
    # (`runs/ae_cw`), test identities, n = 192, self jaw / pose, swap jaw / pose, copy L1:
    #   tiny-seed0: 16000 0.842 / 0.920, 0.830 / 0.915, 0.0101 → 17000 0.847 / 0.916, 0.828 / 0.916, 0.0095
    #   tiny-seed1: 16000 0.871 / 0.945, 0.845 / 0.937, 0.0106 → 17000 0.871 / 0.946, 0.842 / 0.939, 0.01004
    # the copy's warp 0.48 px at 16500 (m_I 0.887). The same 500 steps at the floor lr without it
    # (`runs/ae_hold`, 16500): L1 0.0098 / 0.0106, self 0.846 / 0.919, swap 0.819 / 0.916 on tiny-seed0.
    "edtalk.autoencoder": {"tiny": _config(steps=17000, lr_hold=1 / 17, w_copy_warp=0.3, copy_warp_start=16000,
                                         lr=2e-3, lr_d=2e-3, adv_start=10**9, extra_identities=500,
                                         w_per=0.2, perceptual="expert", w_mouth=1.0, w_factors=1.0,
                                         same_fraction=0.1, w_flow_landmarks=0.1, lr_decay=0.25, w_draw=1.0,
                                         draw_region="inside", w_mouth_inside=0.05, mouth_inside_start=5250,
                                         drive_expression=True, w_eyes=1.0, expression_start=8000,
                                         w_swap_expert=1.0, swap_start=10000),
                           "full": _config(steps=200_000, batch_size=32, lr=2e-3, lr_d=2e-3, perceptual="imagenet")},
    # tiny stage 2 keeps stage 1's navigation (navigation_init="keep"), anchors the bank weights read
    # from each swapped image to the truth of the frame each factor came from (w_factors), weighs the L1
    # inside each frame's mouth region (w_mouth 3), without L_per, for 1000 steps. On the tiny stage-1
    # preset (tiny-seed0, `runs/wi_dinmi`: self jaw 0.77, pose 0.92; swap 0.77 / 0.08), 1000 steps
    # (`runs/mp3_m3`, 31 min beside two other runs): self jaw 0.66, pose 0.90; swap jaw 0.66, pose 0.68.
    #   w_mouth 1 (from step 300): swap pose 0.55 / 0.66 / 0.70 / 0.72 at 500 / 1000 / 1500 / 2000 steps,
    #     swap jaw 0.56–0.63; on tiny-seed1, 1000 steps from step 0: self 0.68 / 0.84, swap 0.67 / 0.66
    #   no w_mouth: 300 steps gave swap 0.56 / 0.46, and 1000 steps erased the jaw (self jaw 0.02): with E
    #     and G frozen the banks drift off the directions along which stage 1's G opens the mouth, which
    #     the whole-image L1 barely sees, while w_factors still holds W^m[:, :4] to the truth
    # Swap pose is held back by pitch (R² 0.33 against yaw 0.74, roll 0.88, tx 0.92, ty 0.74 with w_mouth 1
    # at 2000 steps): the output's pitch correlates 0.49 with the mouth frame's, so W^m still carries pitch.
    # Without w_factors the jaw fell (on an older warp_image stage 1: swap jaw 0.22 against 0.44 with it);
    # with fresh navigation 300 steps were not enough (self jaw −0.07, pose 0.41).
    # On the expression-trained stage 1 (`runs/wi_exp`), this preset (`runs/we_mp`): self jaw 0.80, pose 0.91;
    # swap jaw 0.75, pose 0.70; driver = source L1 0.0115 (0.0086 with stage 1's navigation).
    #   w_leak 10 (W^m decorrelated from the true pose, `runs/we_mp_leak10`, stopped at 500 steps): worse
    #     everywhere (self 0.68 / 0.84, swap 0.69 / 0.51; the output's pitch correlates 0.64 with the mouth
    #     frame's): a W^m without linear pose information still moves G's pitch
    #   w_swap_expert 1 (the true swap read by the SynthTalk expert, `runs/we_mp_sx1`; now in the preset): self jaw
    #     0.82, pose 0.91; swap jaw 0.77, pose 0.74 (pitch R² 0.52, was 0.33; its correlation with the mouth
    #     frame's pitch 0.42); driver = source L1 0.0112. The output's pose still moves too little (slope 0.55-0.88)
    # On the regenerated stage 1 (`runs/chain4/edtalk_ae`, 18000 steps: self 0.846 / 0.912, swap 0.826 / 0.229,
    # L1 0.0085), 1000 steps with w_swap_expert 3 and G training too (lr_generator, ours):
    #   lr_generator 2e-4 (`runs/c4_mpA`): self 0.819 / 0.918, swap 0.797 / 0.777, L1 0.0108
    #   lr_generator 5e-4, lr_decay 0.25 (`runs/c4_mpB`): self 0.817 / 0.915, swap 0.783 / 0.839, L1 0.0119
    #   lr_generator 1e-3, lr_decay 0.25, w_self 3 (`runs/c4_mpC`): self 0.849 / 0.909, swap 0.810 / 0.850, L1 0.0115
    #   the same + all_clips (`runs/c4_mpD`): self 0.722 / 0.882, swap 0.676 / 0.868, L1 0.0167 (emotional frames
    #     0.0163, neutral 0.0148 with W^e); W^m's feature became mouth (R² 0.83 from the true mouth, 0.10 from the pose)
    #     but every image got worse
    #   A trained G moves the swap's pose toward the pose frame, but stage 2 costs the copy L1 (bar 0.01) in every
    #   variant; W^m's feature still has R² 0.45-0.51 from the true pose (0.73 after stage 1)
    # On the recipe's stage 1 (data/checkpoints/edtalk_tiny_ae.pt, which already meets the swap bars
    # through its own w_swap_expert: self 0.842 / 0.920, swap 0.830 / 0.915, L1 0.0101), 1000 steps of this
    # preset (`runs/chain5/edtalk_mp1000`) only wore it down, test identities of tiny-seed0, n = 192:
    #   step  250: self 0.846 / 0.920, swap 0.815 / 0.918, L1 0.0101
    #   step  500: self 0.842 / 0.915, swap 0.801 / 0.919, L1 0.0105
    #   step 1000: self 0.811 / 0.910, swap 0.774 / 0.903, L1 0.0110
    # so the stage runs 250 steps (9 min on 1 thread beside another run; the lr is constant, so they are
    # the first 250 of the 1000). Even 100 steps at 2e-3 raise the copy L1 (0.0095 / 0.0100 after stage 1
    # → 0.0097 / 0.0101 on tiny-seed0 / seed1); 250 steps at lr 5e-4 (`runs/mp_lr5e4`) keep it at
    # 0.0094 / 0.00996 with self 0.840 / 0.918 and 0.864 / 0.944, swap 0.818 / 0.916 and 0.839 / 0.936.
    "edtalk.mouth_pose": {"tiny": _config(steps=250, lr=5e-4, adv_start=10**9, w_per=0.0, w_factors=1.0,
                                        w_mouth=3.0, w_swap_expert=1.0),
                          "full": _config(steps=20_000, batch_size=4, perceptual="imagenet")},
    # tiny stage 3: lr 2e-4 and no L_per. At EDTalk's 2e-3, L_mot (through the frozen expert) wrecked the
    # images of the tiny G: cross-reconstruction L1 0.05 → 0.6 by step 2000 with w_mot=10, 0.32 by step
    # 450 with w_mot=1, but 0.04 throughout with w_mot=0; at 5e-4 L1 had doubled by step 1200. At 2e-4
    # the images stay intact (L1 0.045–0.05), but 400 steps transfer no expression (probe accuracy 10 %,
    # chance 12.5 %): on this G the emotion is carried by f^{id}, not by the latent (G(lat_d, f^{id}_s)
    # 11.5 %, G(lat_s, f^{id}_d) 71 %), and with warp_image EEM reaches the image only through m_I and
    # G's drawing. Issue 18 tracks it. On the curriculum stage 1 (`runs/wi_dinmi`), optimising toward an
    # emotional driver only the latent, or the latent and a per-channel scale and bias on each f^{id} level
    # (what EEM's AdaIN can reach), left the probe's emotion at 19 %; the whole f^{id} pyramid reached 90 %:
    # this G must learn expression in its motion path first. Stage 1 continued with drive_expression,
    # w_eyes 1 and the W^e anchors (`runs/wi_exp`, 9000 more steps) moves the emotion: per-frame W^e
    # transfer 13 % → 31 % → 51 % → 58 % at 1500 / 3000 / 6000 / 9000, with self jaw 0.84, pose 0.905,
    # driver = source L1 0.0086 at 9000 (tiny-seed0). This stage's preset on it (after stage 2's preset,
    # `runs/we_mp` → `runs/we_exp`): expression transfer (eval.disentangle.expression_transfer, K-frame
    # window, n = 192) 73.4 % (EEM at its identity start before this stage: 65.1 %).
    # On the recipe's stages 1-2 (data/checkpoints/edtalk_tiny_mp.pt), this preset gives 66.1 / 84.4 / 80.7 % on
    # tiny-seed0 / 1 / 2 (edtalk_tiny_eem32.pt): the misses read as neutral, the expression drawn too faintly
    # (W^e × 1.5 at render: 78.1 % on seed0). w_mot 30, w_factors 1 and lr 1e-4 to 5e-4 all stayed within two
    # points. Building EEM 128 wide instead of the tiny model's 32 (`--set model.eem_hidden=128`, the full
    # preset's width; edtalk_common.MODEL_CHANGES) gives 71.9 / 86.5 / 85.4 % with self, swap and the copy L1
    # unchanged: edtalk_tiny.pt, the recipe's `edtalk_exp` step. It costs EDTalk-A's Sync_conf (0.720 of the real
    # clips' on tiny-seed1): EEM's channel-wide AdaIN darkens the lip line with the brows. w_mouth 10 and w_eyes 3
    # (ours, region L1s on the driving frame) for 800 steps keep both (72.9 % and 0.850): the recipe's
    # `edtalk_exp` step passes them (recipe.EXP_AIDS), and this preset stays the one RETA's EEM-32 start used
    # (data/checkpoints/README.md has the measurements).
    "edtalk.expression": {"tiny": _config(steps=400, adv_start=10**9, lr=2e-4, w_per=0.0),
                          "full": _config(steps=60_000, batch_size=10, perceptual="imagenet")},
}
