# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Distillation: an emotion embedding from audio, learned without a single label
#
# **Purpose.** Show RETA's label-free emotion branch: a visual teacher (a ViT) reads each
# ground-truth frame, an audio student (a TCN over wav2vec 2.0 features) learns to point where
# the teacher points, and nothing in the student's training ever reads an emotion label. Then
# the student's embedding goes through the teacher's own classifier on identities and voices it
# never heard: how much emotion did the audio carry over? Last, the cross-synthesis consistency
# that keeps the emotion away from identity.
#
# **Spec.** RETA §3.1 "Emotion Representation Learning" (L_emo^{v-a} = 1 − cos(f_E, sg(f_V))),
# §3.3, RETA Eq. 6 (L_emo^{v-v}) and "Emotion Disentanglement Strategy" (Î^{mn} = G(f_I^m, f_E^n)).
#
# **Checkpoints.** `data/checkpoints/teacher_tiny.pt` (the tiny ViT teacher, trained with labels
# on other identities, like RETA's teacher trained on a facial-expression dataset) and
# `data/checkpoints/reta_tiny.pt` (RETA end to end), both made by the commands in
# `data/checkpoints/README.md` (a test runs each for a few steps). The distillation phase of
# `reta_tiny.pt` also read 64 further voices: a SynthTalk folder of another seed (so no test
# speaker), used without its labels, like the unlabelled hours of video RETA distils on.
#
# **Ours, not RETA's.** Besides L_emo^{v-a}, the tiny recipe makes P_E(f_E) regress twice the
# frozen EDTalk's expression feature f^{r→e} of each real frame (`w_emotion_code`,
# `emotion_code_gain`; RETA's G has no EEM, so EDTalk's own code comes out faint through it), from
# the distillation phase on (`code_distill`), and keeps E_A frozen in the end-to-end phase
# (`phase2_frozen`). Neither reads a label: the targets are the teacher's and EDTalk's readings of
# the frames.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

import talkinglib as tl
from talkinglib.data.datasets import ClipStore, to_tensor_images, to_uint8_images
from talkinglib.data.reta_clips import RETAClips
from talkinglib.eval.emotion import teacher_accuracy
from talkinglib.inference.render import fast_path
from talkinglib.models.emotion import student_emotion_accuracy
from talkinglib.synth.generate import ensure_dataset

REPO = Path.cwd().parent
CKPT = REPO / "data" / "checkpoints"
FIG = REPO / "figures" / "08_distillation"
FIG.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(2)
root = ensure_dataset("tiny", progress=False)
teacher, t_state = tl.checkpoints.load_with_state(CKPT / "teacher_tiny.pt")
reta, r_state = tl.checkpoints.load_with_state(CKPT / "reta_tiny.pt")
tcfg = r_state["config"]["train"]
print(f"teacher: {t_state['step']} steps; RETA: {r_state['step']} steps "
      f"({tcfg['distill_steps']} of distillation alone, then end to end)")

# %% [markdown]
# ## 1 · The teacher
#
# A small ViT with a convolutional stem, trained on labelled frames of the dataset's training
# identities plus 1,000 random-frame identities. On the 4 test identities: per frame, and per
# clip (mean logits over the clip's 75 frames, as a video-level emotion classifier scores).

# %%
test = ClipStore(root, "test")
labels = [m["emotion"] for m in test.metas]
with torch.no_grad():
    t_logits = [teacher(to_tensor_images(test.frames(c)))[1] for c in range(len(test))]
t_frame = float(np.mean([(z.argmax(-1) == teacher.classes.index(e)).float().mean() for z, e in zip(t_logits, labels)]))
t_clip = float(np.mean([int(z.mean(0).argmax()) == teacher.classes.index(e) for z, e in zip(t_logits, labels)]))
print(f"teacher on test identities: {t_frame:.1%} of frames, {t_clip:.1%} of clips ({len(test)} clips; chance 12.5%)")
assert abs(t_frame - teacher_accuracy(teacher, root)) < 1e-6
assert t_clip > 0.8 and t_frame > 0.7

# %% [markdown]
# ## 2 · No labels on the student's path
#
# The stage's data class reads frames, audio and mel windows; a batch has no label field. (The
# test suite goes further: it trains RETA with every label field of the dataset made unreadable.)

# %%
batch = RETAClips(root, "train").batch(torch.Generator().manual_seed(0), 2)
print(sorted(batch))
assert not {"emotion", "emotion_index", "label", "text_emotion", "intensity"} & set(batch)

# %% [markdown]
# ## 3 · Training: L_emo^{v-a} falls
#
# The first phase trains only E_A and S on L_emo^{v-a} (nothing is rendered), on the training
# clips and the 64 further voices (`distill_data`); the second trains everything end to end on the
# training clips and keeps L_emo^{v-a} in the sum (λ_emo = 2).

# %%
s, v = zip(*r_state["history"]["emo_va"])
fig, ax = plt.subplots(figsize=(5, 2.8))
ax.plot(s, v)
ax.axvline(tcfg["distill_steps"], color="gray", ls="--", lw=0.8)
ax.set_xlabel("step")
ax.set_ylabel("1 − cos(f_E, f_V)")
ax.set_title("distillation (dashed: end to end from here)", fontsize=9)
fig.tight_layout()
fig.savefig(FIG / "distillation_curve.png", dpi=110)
plt.show()
print(f"L_emo^(v-a): {np.mean(v[:2]):.3f} -> {np.mean(v[-4:]):.3f}")
assert np.mean(v[-4:]) < 0.6 * np.mean(v[:2])

# %% [markdown]
# ## 4 · Verify: the student's emotion, through the teacher's classifier, on unseen voices
#
# f_E = S(E_A(audio)) lives in the teacher's embedding space, so head_T(f_E) names an emotion
# from the audio alone. Scored on the test identities' clips (labels read here, for scoring only).

# %%
with torch.no_grad():
    f_e = torch.cat([reta.controls(torch.as_tensor(test.audio(c), dtype=torch.float32)[None],
                                   test.metas[c]["num_frames"])["f_E"] for c in range(len(test))])
acc = student_emotion_accuracy(teacher, f_e, labels)
pred = teacher.head(f_e).mean(1).argmax(-1).numpy()
confusion = np.zeros((8, 8), int)
np.add.at(confusion, ([teacher.classes.index(e) for e in labels], pred), 1)
fig, ax = plt.subplots(figsize=(4.2, 3.8))
ax.imshow(confusion, cmap="Blues")
ax.set_xticks(range(8), [e[:4] for e in teacher.classes], rotation=60)
ax.set_yticks(range(8), [e[:4] for e in teacher.classes])
ax.set_xlabel("student (through the teacher's head)")
ax.set_ylabel("clip's emotion")
for i in range(8):
    for j in range(8):
        if confusion[i, j]:
            ax.text(j, i, confusion[i, j], ha="center", va="center", fontsize=8)
fig.tight_layout()
fig.savefig(FIG / "student_confusion.png", dpi=110)
plt.show()
display(Markdown("| | per clip | per frame |\n|---|---|---|\n"
                 f"| teacher, from the frames | {t_clip:.1%} | {t_frame:.1%} |\n"
                 f"| student, from the audio alone | {acc['clip']:.1%} | {acc['frame']:.1%} |\n"
                 "| chance | 12.5% | 12.5% |"))
print("issue 5 asks for >= 60 % of test clips:", "met" if acc["clip"] >= 0.6 else "not met")
assert acc["frame"] > 4 * 0.125                                      # far above chance, without a label
assert acc["clip"] >= 0.8                                            # issue 5's 60 %, on voices it never heard

# %% [markdown]
# ## 5 · Cross-synthesis: identity from one clip, emotion from another
#
# Î^{mn} = G(f_I^m, f_M^m, f_E^n): test identity m's neutral image, m's own speech motion, and
# the emotion embedding of clip n's audio (n drawn at random among the test clips, so from any
# test identity). The teacher reads Î^{mn}; EDS trains it to read I^n's emotion. How often the
# teacher's reading of Î^{mn} is n's emotion, and how often m's (the emotion of the clip whose
# motion drives it; the identity image is neutral):

# %%
rng = np.random.default_rng(0)
neutral = {m["identity"]: c for c, m in enumerate(test.metas) if m["emotion"] == "neutral"}
pairs = [(c, int(rng.integers(len(test)))) for c in range(len(test))]
rows, reads = [], []
with fast_path(reta):                                           # G's fast path (shared-weight convs), no grad
    for m, n in pairs:
        src = to_tensor_images(test.frames(neutral[test.metas[m]["identity"]])[:1])
        cm = reta.controls(torch.as_tensor(test.audio(m), dtype=torch.float32)[None], 75)
        cn = reta.controls(torch.as_tensor(test.audio(n), dtype=torch.float32)[None], 75)
        img = reta.render(reta.encode_source(src), cm["f_M"][0, 30:31], cn["f_E"][0, 30:31])
        reads.append((teacher.classes[int(teacher(img)[1].argmax())], labels[m], labels[n]))
        rows.append((src[0], img[0], to_tensor_images(test.frames(n)[30:31])[0]))
follows_n = np.mean([r == en for r, _, en in reads])
follows_m = np.mean([r == em for r, em, _ in reads])
fig, axes = plt.subplots(3, 6, figsize=(9, 4.8))
for k in range(6):
    for r, title in enumerate(("identity m", "Î^mn", "emotion source n")):
        axes[r, k].imshow(to_uint8_images(rows[k][r][None])[0])
        axes[r, k].set_xticks([]), axes[r, k].set_yticks([])
        if k == 0:
            axes[r, k].set_ylabel(title, fontsize=8)
    axes[1, k].set_title(f"T: {reads[k][0]}", fontsize=8)
    axes[2, k].set_title(reads[k][2], fontsize=8)
fig.tight_layout()
fig.savefig(FIG / "cross_synthesis.png", dpi=110)
plt.show()
differ = [(r, em, en) for r, em, en in reads if em != en]
n_only = np.mean([r == en for r, _, en in differ])
m_only = np.mean([r == em for r, em, _ in differ])
print(f"teacher reads n's emotion in {follows_n:.1%} of Î^mn, m's in {follows_m:.1%} ({len(pairs)} pairs); "
      f"in the {len(differ)} pairs whose emotions differ: n's {n_only:.1%}, m's {m_only:.1%}")
assert len(reads) == len(test) and len(differ) > len(reads) // 2     # most pairs tell the two readings apart
assert follows_n >= 0.5                                             # the teacher reads n's emotion in half of Î^mn
assert n_only > 3 * 0.125 and n_only > 2 * m_only                  # the emotion follows f_E^n, not m's motion

# %% [markdown]
# **Reading the results.** The student reaches the teacher's emotion space from audio alone,
# without a label, on voices it never heard: through the teacher's own head it names the emotion
# of 93.8 % of the 32 test clips (90.0 % of frames), well above issue 5's 60 %. What got it there
# was more voices rather than a bigger student: distilled on the 12 training voices alone, an
# earlier student learned those voices: it named the training clips' emotions far more often
# than the test voices' (`data/checkpoints/README.md`). Per
# clip the student even names more emotions than its teacher does from the frames (87.5 %). A
# likely reason, not measured: the teacher's errors differ from frame to frame and face to face,
# while a clip's prosody is the same all through, and the student averages the teacher's targets
# over many voices.
#
# The rendered face shows the emotion too. In the cross-synthesis the teacher reads the emotion
# source n's emotion in 56.2 % of the Î^mn frames (56.7 % of the 30 pairs whose emotions differ),
# and the emotion of m, whose speech drives the motion, in 6.7 % of those: the emotion follows
# f_E^n, as EDS trains it, while the face stays m's (the figure). Each pair is one frame, read by a
# teacher that is right on 81.1 % of real frames. (Notebook 07 scores RETA's renderings from each
# clip's own audio with the factor probe, over whole clips: 62.5 %.)
#
# **Lives in.** `talkinglib/models/emotion.py` (teacher, student, `student_emotion_accuracy`),
# `talkinglib/models/audio_encoder.py` (E_A), `talkinglib/losses/reta.py` (the losses),
# `talkinglib/train/teacher.py`, `talkinglib/train/reta.py` (the stage), `talkinglib/data/reta_clips.py`
# (`RETAClips`, the further voices, the teacher's targets).
