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
# # 00 · SynthTalk: talking heads whose every factor is known
#
# **Purpose.** Build the dataset that every later notebook learns from and is measured on, and
# show that what the papers' models must learn (audio → mouth, prosody or text → emotion,
# frame → pose) is actually learnable from it.
#
# **Spec.** `shared/SYNTHTALK.md`; the 3DMM is RETA Eq. 7, `s = s̄ + U_id p_id + U_exp p_exp`;
# the emotions and intensities are MEAD's, as in EDTalk §4 and RETA §4.
#
# EDTalk and RETA train on MEAD and HDTF and can only *show* disentanglement. SynthTalk renders
# heads from known factors — identity, mouth, pose, expression, blinks — and synthesises the
# matching speech, so later notebooks can *measure* it: swap a mouth and check, per frame, that
# only the mouth moved.

# %%
import os
import time
from pathlib import Path

import numpy as np
import torch
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

import talkinglib as tl
from talkinglib.synth import figures, morphable
from talkinglib.synth.generate import default_root, ensure_dataset, is_complete, preset
from talkinglib.synth.learnability import THRESHOLDS, check, dataset_fitness

PRESET = os.environ.get("TALKINGLIB_PRESET", "tiny")
REPO = Path.cwd().parent                       # notebooks run from notebooks/
FIG = REPO / "figures" / "00_synthtalk"
FIG.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(2)
print("preset:", PRESET)

# %% [markdown]
# ## 1 · The 3DMM-lite
#
# A few hundred vertices on an ellipsoidal head, split at the lip line so the mouth can open.
# Identity fields (face width, jaw, nose, …) and expression fields (jaw, lip spread/round/closure,
# brows, lids, mouth corners, cheeks, blink) are smooth analytic displacements; one reduced QR
# makes both bases orthonormal, `F = U R`, so the named factors `f` map to coefficients `p = R f`.

# %%
m = morphable.build_morphable_model()
print("vertices", m.mean.shape, " triangles", m.triangles.shape)
print("U_id", m.U_id.shape, " U_exp", m.U_exp.shape, " (3V x K)")
print("identity factors:  ", morphable.IDENTITY)
print("expression factors:", morphable.EXP_FACTORS)
assert np.allclose(m.U_id.T @ m.U_id, np.eye(m.U_id.shape[1]), atol=1e-5)
assert np.allclose(m.U_exp.T @ m.U_exp, np.eye(m.U_exp.shape[1]), atol=1e-5)

# %% [markdown]
# The library's `shape` is the equation. A five-line naive version, written straight from
# RETA Eq. 7, agrees with it:

# %%
rng = np.random.default_rng(0)
f_id, f_exp = rng.normal(size=len(morphable.IDENTITY)), rng.uniform(0, 1, len(morphable.EXP_FACTORS))
p_id, p_exp = m.coefficients(f_id, f_exp)                         # p = R f
naive = m.mean.reshape(-1).copy()
for k in range(len(p_id)):
    naive += p_id[k] * m.U_id[:, k]                               # Σ_k p_id,k u_id,k
for k in range(len(p_exp)):
    naive += p_exp[k] * m.U_exp[:, k]                             # Σ_k p_exp,k u_exp,k
torch.testing.assert_close(torch.tensor(naive.reshape(-1, 3), dtype=torch.float64),
                           torch.tensor(m.shape(p_id, p_exp), dtype=torch.float64), rtol=0, atol=1e-5)
print("s = s̄ + U_id p_id + U_exp p_exp  ✓")

# %% [markdown]
# ## 2 · The default dataset
#
# 16 identities × 8 emotions, one 3-second clip each (75 frames at 25 fps, 64², 16 kHz speech),
# the last 4 identities held out for testing, as MEAD holds out speakers. It is generated once
# (`talkinglib synth --out DIR --seed 0 --preset tiny` does the same) and cached.

# %%
root = default_root(PRESET, 0)
cached = is_complete(root, preset(PRESET), 0)
t0 = time.time()
ensure_dataset(PRESET, 0, root=root, progress=False)
seconds = time.time() - t0
print(f"{root.name}: {'reused the cached copy' if cached else f'generated in {seconds:.1f} s'}")
if not cached and PRESET == "tiny":
    assert seconds < 60, "SYNTHTALK.md: the default dataset is generated in under a minute on 2 cores"
splits = tl.data.clips.read_splits(root)
print({k: len(v) for k, v in splits.items()}, "clips")

# %% [markdown]
# ## 3 · Look
#
# Identities (rows) against the 8 MEAD emotions at intensity 3.

# %%
fig = figures.plot_identity_emotion_grid(FIG / "identities_x_emotions.png")
plt.show()

# %% [markdown]
# One factor at a time: everything else held fixed. The mouth row changes only the mouth, the
# pose row moves the whole head, the expression rows change brows, lids, corners and cheeks.

# %%
fig = figures.plot_factor_sweeps(FIG / "factor_sweeps.png")
plt.show()

# %% [markdown]
# Audio and mouth share one phoneme timeline: vowels open the jaw and carry formants (F1 rises
# with the jaw), bilabials close the lips and silence the voice.

# %%
clip = tl.data.clips.read_clip(root / "id012_happy_0")
fig = figures.plot_spectrogram_with_jaw(clip, FIG / "spectrogram_jaw.png")
plt.show()
jaw = np.asarray(clip.meta["factors"]["mouth"])[:, 0]
energy = np.asarray(clip.meta["factors"]["energy"])
print(f"corr(jaw opening, audio energy) = {np.corrcoef(jaw, energy)[0, 1]:.2f}")
assert np.corrcoef(jaw, energy)[0, 1] > 0.5

# %% [markdown]
# ## 4 · Verify: is it learnable?
#
# SYNTHTALK.md's checks, each on **held-out identities** and each with a deliberately simple
# learner, so that passing says the signal is in the data:
# - audio → jaw: ridge regression on the Wav2Lip mel windows;
# - prosody → emotion: a linear classifier on utterance prosody features;
# - text → emotion: bag of words + logistic regression;
# - locality: changing only the mouth leaves > 99 % of pixels outside the mouth box unchanged;
# - the factor probe (a small CNN, committed under `data/checkpoints/`) judges frames.
#
# The probe checkpoint is regenerated by
# `talkinglib train probe --data data/synthtalk/tiny-seed0 --out data/checkpoints/probe_run --preset tiny`
# (see `data/checkpoints/README.md`); here it is only *measured*, live.

# %%
probe = tl.load(REPO / "data" / "checkpoints" / "probe_tiny.pt")
numbers = dataset_fitness(root, probe=probe)
rows = ["| check | value | threshold | |", "|---|---|---|---|"]
for k, (v, thr, ok) in check(numbers).items():
    rows.append(f"| {k} | {v:.3f} | {thr} | {'✓' if ok else '✗'} |")
display(Markdown("\n".join(rows)))
fig = figures.plot_learnability(numbers, THRESHOLDS, FIG / "learnability.png")
plt.show()

# %%
for k, (v, thr, ok) in check(numbers).items():
    assert ok, f"{k} = {v:.3f} misses its threshold {thr}"
print("all fitness checks pass on held-out identities")

# %% [markdown]
# ## Lives in
# - `talkinglib/synth/morphable.py` — the 3DMM-lite (fields, QR, triangulation)
# - `talkinglib/synth/render.py`, `landmarks.py` — rasteriser and 68-point landmarks
# - `talkinglib/synth/speech.py`, `phonemes.py`, `vocoder.py`, `text.py` — speech and transcripts
# - `talkinglib/synth/motion.py`, `identity.py`, `generate.py` — factors and the dataset writer
# - `talkinglib/synth/learnability.py`, `fitness.py` — the checks above
# - `talkinglib/models/probe.py`, `talkinglib/train/probe.py` — the factor probe
