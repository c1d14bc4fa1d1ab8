# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 · Hierarchical injection and Temporal Variance Masking
#
# **Purpose.** Show the two generator-side ideas of RETA. Hierarchical injection: the coarse
# layers of the warping generator take f_STY + f_M (structure, lips), the fine layers
# f_STY + f_E (expression detail), instead of one control for every layer. TVM: a
# parameter-free mask of where a clip moves, which weights the reconstruction loss towards the
# mouth. Measured: the routing itself, TVM on SynthTalk's real motion, and the trained model
# against every ablation of RETA Tab. 4 ("w/o HI": all controls concatenated into one style, and
# the six others).
#
# **Spec.** RETA §3.2, Eq. (1), Appendix C.2–C.4 and Algorithm 1; Tab. 4.
#
# **Checkpoints.** `data/checkpoints/reta_tiny.pt` and the seven `reta_tiny_<ablation>.pt` (the
# commands in `data/checkpoints/README.md`, each with one `--set`; a test runs each).

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

from talkinglib.data.datasets import ClipStore, to_tensor_images
from talkinglib.eval.reta import evaluate_reta, format_table, real_row
from talkinglib.models.tvm import TVMConfig, temporal_variance_mask
from talkinglib.synth.generate import ensure_dataset
from talkinglib.train.probe import load_probe
from talkinglib.train.reta import load_reta_checkpoint
from talkinglib.train.syncnet import load_syncnet
from talkinglib.train.teacher import load_teacher

REPO = Path.cwd().parent
CKPT = REPO / "data" / "checkpoints"
FIG = REPO / "figures" / "09_hierarchical_injection"
FIG.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(2)
root = ensure_dataset("tiny", progress=False)
reta, r_state = load_reta_checkpoint(CKPT / "reta_tiny.pt")
concat, c_state = load_reta_checkpoint(CKPT / "reta_tiny_concat.pt")
probe = load_probe(CKPT / "probe_tiny.pt")
syncnet, _ = load_syncnet(CKPT / "syncnet_tiny.pt")
teacher, _ = load_teacher(CKPT / "teacher_tiny.pt")
assert reta.cfg.injection == "hierarchical" and concat.cfg.injection == "concat"
k, L = reta.cfg.motion_levels, reta.dec.num_levels
sizes = [4 * 2 ** i for i in range(L)]
print(f"G has {L} levels {sizes}: f_STY + f_M drive {sizes[:k]}, f_STY + f_E drive {sizes[k:]}")

# %% [markdown]
# ## 1 · Routing: which control reaches which layer
#
# Each StyledConv's affine AF maps its level's f_CTRL to the per-channel scales that modulate it
# (StyleGAN2's modulation with demodulation: AdaIN in weight form). Perturbing f_E moves the
# styles of the fine levels only; perturbing f_M the coarse ones. With concatenation every level
# moves with either.

# %%
test = ClipStore(root, "test")
with torch.no_grad():
    c = reta.controls(torch.as_tensor(test.audio(0), dtype=torch.float32)[None], 75)
    sty = reta.encode_source(to_tensor_images(test.frames(0)[:1])).latent
    f_m, f_e = c["f_M"][0, :1], c["f_E"][0, :1]
    moved = {}
    for name, model in (("hierarchical", reta), ("concat", concat)):
        base = model.control_styles(sty, f_m, f_e)
        dm = (model.control_styles(sty, f_m + 1, f_e) - base).norm(dim=-1)[0]
        de = (model.control_styles(sty, f_m, f_e + 1) - base).norm(dim=-1)[0]
        moved[name] = (dm.numpy(), de.numpy())
fig, axes = plt.subplots(1, 2, figsize=(8, 2.8), sharey=True)
for ax, (name, (dm, de)) in zip(axes, moved.items()):
    x = np.arange(L)
    ax.bar(x - 0.2, dm, 0.4, label="f_M + 1")
    ax.bar(x + 0.2, de, 0.4, label="f_E + 1")
    ax.set_xticks(x, [f"{s}²" for s in sizes])
    ax.set_title(name, fontsize=9)
axes[0].set_ylabel("‖Δ style‖ per level")
axes[0].legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIG / "routing.png", dpi=110)
plt.show()
dm, de = moved["hierarchical"]
assert np.all(dm[:k] > 0) and np.all(dm[k:] == 0) and np.all(de[:k] == 0) and np.all(de[k:] > 0)
assert np.all(moved["concat"][0] > 0) and np.all(moved["concat"][1] > 0)

# %% [markdown]
# ## 2 · TVM on real motion
#
# Algorithm 1 on windows of 5 consecutive real frames of test clips (the same windows the
# training loss masks): the temporal variance, its normalised and opened mask, and how much of
# the mask falls in the mouth region (the box around the mouth and chin landmarks, padded by 3 px)
# against that box's share of the image. SynthTalk's heads also move with the pose, so the head's
# outline moves too; RETA's Fig. 5 shows MEAD, where heads are stiller.

# %%
cfg = TVMConfig()
rows, inside, share = [], [], []
for c in range(0, len(test), 4):
    frames = to_tensor_images(test.frames(c))
    lm = np.asarray(test.metas[c]["landmarks"], np.float32)
    for t0 in (10, 40):
        win = frames[t0:t0 + 5]
        mask = temporal_variance_mask(win, cfg)[0, 0]
        pts = lm[t0:t0 + 5, 48:68].reshape(-1, 2)
        pts = np.concatenate([pts, lm[t0:t0 + 5, 5:12].reshape(-1, 2)])          # lips and chin
        x0, y0 = np.maximum(pts.min(0) - 3, 0).astype(int)
        x1, y1 = np.minimum(pts.max(0) + 3, 63).astype(int)
        box = torch.zeros_like(mask)
        box[y0:y1 + 1, x0:x1 + 1] = 1
        if mask.sum() > 0:
            inside.append(float((mask * box).sum() / mask.sum()))
            share.append(float(box.mean()))
        rows.append((win[2], win.var(0).mean(0), mask, box))
fig, axes = plt.subplots(3, 6, figsize=(9, 4.6))
for j, (img, var, mask, box) in enumerate(rows[:6]):
    axes[0, j].imshow(((img.permute(1, 2, 0) + 1) / 2).clamp(0, 1))
    axes[1, j].imshow(var, cmap="magma")
    axes[2, j].imshow(((img.permute(1, 2, 0) + 1) / 4).clamp(0, 1))
    axes[2, j].imshow(mask, cmap="Reds", alpha=0.5)
    axes[2, j].contour(box, levels=[0.5], colors="cyan", linewidths=0.6)
    for a in axes[:, j]:
        a.set_xticks([]), a.set_yticks([])
for a, t in zip(axes[:, 0], ("frame", "temporal variance", "M_motion")):
    a.set_ylabel(t, fontsize=8)
fig.tight_layout()
fig.savefig(FIG / "tvm_masks.png", dpi=110)
plt.show()
print(f"{np.mean(inside):.1%} of the mask lies in the mouth box, which covers {np.mean(share):.1%} of the image "
      f"({len(inside)} windows)")
assert np.mean(inside) > 2 * np.mean(share)

# %% [markdown]
# ## 3 · Verify: RETA Tab. 4 at tiny scale, every row
#
# Eight models trained by the same command from the same tiny EDTalk, teacher and SyncNet, with
# one design setting changed each (`data/checkpoints/README.md`): w/o GPL (no f_M), w/o ERL (no
# f_E, no distillation), w/o 3DMM (a TCN from f_A straight to f_M), w/o HI (every control
# concatenated, for all levels), w/o f_STY, w/o EDS (no cross-synthesis), w/o TVM (no
# motion-masked L1). Columns as RETA Tab. 4 (PSNR, SSIM, lip sync, emotion accuracy), with the
# probe's jaw R² beside SyncNet's confidence, the probe's emotion accuracy of the rendered frames,
# and the student's own emotion accuracy through the teacher's head. Every third clip of the test
# split (11 clips: all four test identities, every emotion; `stride=1` scores all 32, about 9
# minutes for the table); the real clips give the ceiling.
#
# In the paper every ablation is below the full model in every column (on MEAD: PSNR 22.19,
# SSIM 0.77, Sync_c 5.84, ACC_e 62.35 % for the full model; the largest drops are Sync_c 1.85
# w/o GPL and 3.23 w/o 3DMM, ACC_e 41.23 % w/o ERL and 45.79 % w/o EDS). So "agrees" below means:
# the ablation scores lower than our full model in that column.

# %%
ablations = {"w/o GPL (A.1)": "nogpl", "w/o ERL (A.2)": "noerl", "w/o 3DMM (A.3)": "no3dmm", "w/o HI (B.1)": "concat",
             "w/o f_STY (B.2)": "nosty", "w/o EDS (C.1)": "noeds", "w/o TVM (C.2)": "notvm"}
models = {"full model": reta, **{n: load_reta_checkpoint(CKPT / f"reta_tiny_{f}.pt")[0] for n, f in ablations.items()}}
STRIDE = 3
rows = {"real clips": real_row(probe, root, syncnet=syncnet, stride=STRIDE)}
rows.update({n: evaluate_reta(m, probe, root, syncnet=syncnet, teacher=teacher, stride=STRIDE) for n, m in models.items()})
display(Markdown(format_table(rows)))
CHECKED = ("psnr", "ssim", "jaw_r2", "sync_conf", "emotion_acc")
full = rows["full model"]
agree = {n: {k: rows[n][k] < full[k] for k in CHECKED} for n in ablations}
display(Markdown("| ablation | " + " | ".join(f"{k} lower than full?" for k in CHECKED) + " | agrees |\n|---|"
                 + "---|" * (len(CHECKED) + 1) + "\n" + "\n".join(
                     f"| {n} | " + " | ".join("yes" if a[k] else "no" for k in CHECKED) + f" | {sum(a.values())}/5 |"
                     for n, a in agree.items())))
assert all(r["clips"] == len(range(0, len(test), STRIDE)) for r in rows.values())
assert rows["full model"]["student_acc_clip"] >= 0.6                                    # issue 5's bar (notebook 08: all clips)
assert all(rows[n]["student_acc_clip"] > 0.125 for n in models if models[n].cfg.emotion)  # every student above chance
assert np.isnan(rows["w/o ERL (A.2)"].get("student_acc_clip", float("nan")))            # no student at all
assert rows["real clips"]["sync_conf"] > max(r["sync_conf"] for n, r in rows.items() if n != "real clips")

# %% [markdown]
# **Reading the results.** The routing is exactly Eq. 1's, and TVM concentrates on the mouth
# (and the head's moving outline). The table is RETA Tab. 4 at tiny scale, reported as measured,
# row by row in the agreement table above. The caveat that decides how to read it: the rendered
# frames carry neither the jaw nor the emotion for any design (jaw R² below 0 and the probe's
# emotion near chance for every row, against 0.95 and 100 % on the real clips), because the tiny
# generator renders neither (issue 3). So the PSNR/SSIM/Sync_conf differences between rows are
# small, one training run each, and not evidence either way; where an ablation "agrees" or not in
# those columns, the margin is within what a second seed could flip. What the designs do change
# measurably is upstream of G: without ERL there is no student (and no f_E), and the students of
# the other rows reach their clip accuracy through the teacher's head without a label. The
# student column is where the designs differ most. Every run distils the same way first (600
# steps on the training clips and 64 further voices), then trains end to end. The full model's
# student keeps its accuracy through that second phase. With every control concatenated into
# one style (w/o HI), or without the geometric branch (w/o GPL), the image losses pull f_E away
# from the teacher's space. On all 32 test clips: full 90.6 %, w/o HI 21.9 %, w/o GPL 50.0 %
# (`data/checkpoints/README.md`). RETA reports its emotion accuracy falling without HI (62.35 % to
# 52.64 % ACC_e); here a fall shows in the student, since the rendered frames carry no emotion.
#
# **Lives in.** `talkinglib/models/reta.py` (`control_styles`, the injection), `talkinglib/models/
# generator.py` (per-level styles), `talkinglib/models/tvm.py` (Algorithm 1), `talkinglib/eval/reta.py`.
