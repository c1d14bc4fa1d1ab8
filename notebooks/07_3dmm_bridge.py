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
# # 07 · The 3DMM bridge: audio → expression coefficients → meshes → motion, differentiably
#
# **Purpose.** Show RETA's geometric prior: a TCN decodes 3DMM expression coefficients from
# wav2vec 2.0 features, the 3DMM turns them into meshes (identity fixed at the mean face), and a
# light CNN encodes the meshes into the motion feature f_M that drives the generator's coarse
# layers. Nothing supervises the coefficients or the meshes: in RETA the bridge learns from
# rendered frames only. On SynthTalk we can look at what it learned against the true coefficients.
#
# **Spec.** RETA §3.1 "Geometric Prior Learning", Appendix C.1, RETA Eq. 7:
# s_t = s̄ + U^id p^id + U^exp p^exp_t with p^id fixed at the mean face.
#
# **Checkpoints.** `data/checkpoints/reta_tiny.pt` and `reta_tiny_no3dmm.pt` (RETA Tab. 4's
# "w/o 3DMM": a TCN from f_A straight to f_M), the same tiny recipe with one setting changed,
# made by the commands in `data/checkpoints/README.md` (a test runs each for a few steps). The
# 3DMM is SynthTalk's 3DMM-lite, the model that rendered the data; `Morphable3DMM.from_file`
# reads a user's (BFM-style) file the same way.
#
# **Ours, not RETA's.** The tiny recipe does not leave f_M to the rendered frames alone. In its
# first phase (600 steps, no generator in the loop) D and E_M learn to make f_M regress the frozen
# EDTalk's mouth feature f^{r→m} of each real frame (`code_distill`, `w_mouth_code`; no labels, so
# real clips work too), and the second, end-to-end phase keeps E_A, D and E_M as the first left
# them (`phase2_frozen`). p^exp and the meshes are still never supervised: D's only gradient comes
# through the meshes and E_M, as in RETA (section 2).

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

import talkinglib as tl
from talkinglib.data.datasets import ClipStore, frame_factors
from talkinglib.eval.reta import evaluate_reta, format_table, real_row
from talkinglib.models.bridge_3dmm import Morphable3DMM, lip_vertex_error
from talkinglib.synth.generate import ensure_dataset
from talkinglib.synth.morphable import EXP_FACTORS

REPO = Path.cwd().parent
CKPT = REPO / "data" / "checkpoints"
FIG = REPO / "figures" / "07_3dmm_bridge"
FIG.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(2)
root = ensure_dataset("tiny", progress=False)
reta, r_state = tl.checkpoints.load_with_state(CKPT / "reta_tiny.pt")
direct, d_state = tl.checkpoints.load_with_state(CKPT / "reta_tiny_no3dmm.pt")
assert direct.cfg.bridge.bridge == "direct" and d_state["step"] == r_state["step"]
probe = tl.load(CKPT / "probe_tiny.pt")
syncnet = tl.load(CKPT / "syncnet_tiny.pt")
mm = Morphable3DMM.synthtalk()                 # the 3DMM that rendered the data
carried = (reta.geometry.mm.U_exp - mm.U_exp).abs().max()
print(f"the checkpoint carries the same 3DMM (float16 export): max |ΔU_exp| = {carried:.1e}")
assert carried < 1e-3 and torch.equal(reta.geometry.mm.triangles, mm.triangles)
print(f"RETA: {r_state['step']} steps. 3DMM: {mm.num_vertices} vertices, {mm.U_id.shape[1]} identity and "
      f"{mm.exp_dim} expression bases ({', '.join(EXP_FACTORS[:4])}, ...), {int(mm.lip.sum())} lip vertices")

# %% [markdown]
# ## 1 · The 3DMM: orthonormal bases, RETA Eq. 7
#
# U^id and U^exp have orthonormal columns (C.1). Moving the first expression coefficient (the
# jaw) opens the mouth: the lower lip and chin vertices move, the upper face does not.

# %%
gram = mm.U_exp.T @ mm.U_exp
print(f"max |U_expᵀU_exp − I| = {(gram - torch.eye(mm.exp_dim)).abs().max():.1e}, "
      f"max |U_idᵀU_exp| = {(mm.U_id.T @ mm.U_exp).abs().max():.2f}")
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2), sharey=True)
for ax, jaw in zip(axes, (0.0, 0.4, 0.8)):
    p = torch.zeros(mm.exp_dim)
    p[0] = jaw
    s = mm.shapes(p[None])[0]
    front = s[:, 2] > 0.2
    ax.scatter(s[front, 0], s[front, 1], s=2, c="lightgray")
    ax.scatter(s[mm.lip & front, 0], s[mm.lip & front, 1], s=4, c="crimson")
    ax.set_title(f"p_exp[jaw] = {jaw}", fontsize=9)
    ax.set_aspect("equal")
fig.tight_layout()
fig.savefig(FIG / "jaw_sweep.png", dpi=110)
plt.show()
move = (mm.shapes(torch.eye(mm.exp_dim)[:1]) - mm.mean).norm(dim=-1)[0]
print(f"the jaw base moves lip vertices by {move[mm.lip].mean():.3f} on average, the others by "
      f"{move[~mm.lip].mean():.3f}")
assert (gram - torch.eye(mm.exp_dim)).abs().max() < 1e-4
assert move[mm.lip].mean() > 3 * move[~mm.lip].mean()

# %% [markdown]
# ## 2 · The bridge is differentiable
#
# A gradient on f_M reaches the motion decoder D through the meshes and p^exp: that is the only
# signal D ever gets (in RETA from the rendered frames; in the tiny recipe from the mouth-code term).

# %%
test = ClipStore(root, "test")
wav = torch.as_tensor(test.audio(0), dtype=torch.float32)[None]
reta.zero_grad()
out = reta.controls(wav, 75)
out["f_M"].pow(2).sum().backward()
g = reta.geometry.decoder.inp.weight.grad
print(f"|∂‖f_M‖²/∂D| = {g.abs().sum():.3e}; p_exp {tuple(out['p_exp'].shape)}, meshes {tuple(out['meshes'].shape)}")
assert g.abs().sum() > 0
reta.zero_grad()

# %% [markdown]
# ## 3 · What D learned, against the true coefficients (a diagnostic only)
#
# For every test clip: how well a linear read-out of D's p^exp (fitted on the training clips)
# recovers the true jaw coefficient, and the lip-vertex error (largest lip-vertex distance per
# frame, averaged; 3DMM units, the head's radius is 1) of p^exp taken literally. Nothing tied
# p^exp to the 3DMM's own coefficient scale, so the literal LVE is expected to be poor; the
# read-out asks whether the jaw is *in* the bridge at all.

# %%
def bridge_coefficients(split):
    store = ClipStore(root, split)
    P, J, L = [], [], []
    with torch.no_grad():
        for c in range(len(store)):
            w = torch.as_tensor(store.audio(c), dtype=torch.float32)[None]
            p = reta.controls(w, store.metas[c]["num_frames"])["p_exp"][0]
            true = torch.as_tensor(np.asarray(store.metas[c]["tdmm"]["p_exp"], np.float32))
            P.append(p.numpy()), J.append(frame_factors(store.metas[c])["mouth"][:, 0])
            L.append(lip_vertex_error(mm, p[None], true[None]))
    return np.concatenate(P), np.concatenate(J), float(np.mean(L))


P_tr, J_tr, _ = bridge_coefficients("train")
P_te, J_te, lve = bridge_coefficients("test")
from talkinglib.eval.disentangle import ridge_readout  # noqa: E402
r2 = float(ridge_readout(P_tr, J_tr[:, None], P_te, J_te[:, None], lam=1.0)[0])
print(f"jaw from D's p_exp (linear read-out, test identities): R² = {r2:.3f}; LVE = {lve:.3f}")
assert r2 > 0.8                     # the jaw is in the unsupervised coefficients

# %% [markdown]
# ## 4 · Verify: lip sync with and without the 3DMM
#
# Every test clip rendered from the identity's neutral first frame and the clip's audio, scored
# by the factor probe's jaw reading against the true jaw (R²), by the SyncNet expert's
# confidence, by the probe's emotion of the rendered frames (ACC_e's counterpart) and by f_M's
# std over time, beside the real clips. The issue asks RETA from audio for jaw R² ≥ 0.6. RETA
# Tab. 4 (A.3) reports, on MEAD, PSNR 22.19 / 21.05, SSIM 0.77 / 0.66, Sync_c 5.84 / 3.23 and
# ACC_e 62.35 / 57.41 % with / without the bridge: every column higher with the 3DMM.

# %%
rows = {"real clips": real_row(probe, root, syncnet=syncnet),
        "RETA (3DMM bridge)": evaluate_reta(reta, probe, root, syncnet=syncnet),
        "w/o 3DMM (direct TCN)": evaluate_reta(direct, probe, root, syncnet=syncnet)}
display(Markdown(format_table(rows, ("psnr", "ssim", "jaw_r2", "sync_conf", "emotion_acc", "f_m_std", "lve"))))
real, with_3dmm, without = rows["real clips"], rows["RETA (3DMM bridge)"], rows["w/o 3DMM (direct TCN)"]
paper = {"psnr": "22.19 / 21.05", "ssim": "0.77 / 0.66", "jaw_r2": "– (not in Tab. 4)", "sync_conf": "5.84 / 3.23",
         "emotion_acc": "62.35 / 57.41 %"}
higher = {k: with_3dmm[k] > without[k] for k in paper}
lines = ["| column | RETA Tab. 4, full / w/o 3DMM | here, with / without the 3DMM | higher with the 3DMM? |",
         "|---|---|---|---|"]
for k, ref in paper.items():
    fmt = (lambda v: f"{v:.1%}") if k == "emotion_acc" else (lambda v: f"{v:.3f}")      # noqa: E731
    lines.append(f"| {k} | {ref} | {fmt(with_3dmm[k])} / {fmt(without[k])} | {'yes' if higher[k] else 'no'} |")
display(Markdown("\n".join(lines)))
print(f"RETA jaw R² {with_3dmm['jaw_r2']:.3f} (issue: >= 0.6), w/o 3DMM {without['jaw_r2']:.3f}; Sync_conf "
      f"{with_3dmm['sync_conf']:.3f} vs {without['sync_conf']:.3f}, real clips {real['sync_conf']:.3f}")
assert with_3dmm["clips"] == without["clips"] == len(test)
assert real["jaw_r2"] > 0.9                                         # the instrument reads the real jaw
assert with_3dmm["jaw_r2"] >= 0.6 and without["jaw_r2"] >= 0.6       # both talk (the issue's bar)
assert with_3dmm["sync_conf"] >= 0.9 * real["sync_conf"]            # RETA now talks: Sync_conf at the real clips'
assert with_3dmm["emotion_acc"] >= 0.6 and with_3dmm["f_m_std"] > 0.05   # the issue's emotion bar; f_M moves
# Tab. 4's direction, where it holds: PSNR, SSIM and Sync_conf higher with the 3DMM (and the jaw)
assert with_3dmm["psnr"] > without["psnr"] + 0.02 and with_3dmm["ssim"] > without["ssim"] + 5e-4
assert with_3dmm["sync_conf"] > without["sync_conf"] + 0.01 and with_3dmm["jaw_r2"] > without["jaw_r2"] + 0.01
assert abs(with_3dmm["emotion_acc"] - without["emotion_acc"]) <= 1 / 32 + 1e-9   # ACC_e: a tie (±1 clip)

# %% [markdown]
# **Reading the results.** The bridge is in place and differentiable, the 3DMM does what RETA Eq. 7
# says, and the jaw is in D's coefficients without any supervision on them: a linear read-out
# recovers it on unseen voices with R² 0.89 (section 3), even though p^exp taken literally is far
# from the 3DMM's own coefficient scale (LVE 0.39). RETA from audio talks: its jaw R² is 0.766,
# above the issue's 0.6, and its Sync_conf (0.485) is the real clips' (0.477). Its frames also
# carry the clip's emotion for the probe on 62.5 % of the 32 test clips, and f_M moves over time
# (std 0.141).
#
# Against RETA Tab. 4's "w/o 3DMM", column by column: PSNR, SSIM and Sync_conf are higher with the
# bridge, the paper's direction, and so is the jaw R² (not a Tab. 4 column). The gaps are small next
# to the paper's (Sync_conf 0.485 against 0.452, 7 % lower without the bridge, where Tab. 4 drops
# from 5.84 to 3.23; PSNR 0.09 dB and SSIM 0.002), on 32 clips of one seed. ACC_e's counterpart does
# not follow the paper: both models name the emotion on 62.5 % of the clips. Both variants were
# trained with f_M regressing EDTalk's mouth feature (ours, see the top), which gives the direct
# TCN the same target the bridge has; RETA's pixels-only f_M may well need the 3DMM's structure more.
# That last point is a guess, not measured here.
#
# **Lives in.** `talkinglib/models/bridge_3dmm.py` (the 3DMM, D, E_M, the BFM-style loader,
# `lip_vertex_error`), `talkinglib/models/reta.py`, `talkinglib/eval/reta.py`.
