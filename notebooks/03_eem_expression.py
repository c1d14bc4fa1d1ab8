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
# # 03 · EEM and the expression bank: emotion as a third, separate latent
#
# **Purpose.** Show EDTalk's expression path working on a trained tiny model: the expression
# navigator (ELN) reads a K-frame window of an emotional clip, the expression bank turns its
# weights into f^{r→e}, and the Emotion Enhancement Module (EEM) restyles the identity features
# with it, while mouth and pose stay where they were. Measured with the factor probe on
# identities never seen in training.
#
# **Spec.** EDTalk §3.2 "Expression Decouple", Eqs. (8)–(10) (EEM's AdaIN, L_mot with weight 10,
# L_m-c); Appendix A.2 Eq. (A3) (interpolation between two expressions) and Fig. A8 (one base at
# a time). Only ELN, the expression bank and EEM train in this stage.
#
# **Checkpoint.** `data/checkpoints/edtalk_tiny.pt`, trained through `edtalk.expression`
# by the commands in `data/checkpoints/README.md` (a test runs each for a few steps).

# %%
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

import talkinglib as tl
from talkinglib.data.datasets import ClipStore, to_tensor_images
from talkinglib.eval.disentangle import DisentangleConfig, expression_transfer
from talkinglib.synth.factors import EMOTIONS
from talkinglib.synth.generate import ensure_dataset
from talkinglib.train.edtalk_common import load_edtalk_checkpoint
from talkinglib.train.probe import load_probe

REPO = Path.cwd().parent
CKPT = REPO / "data" / "checkpoints"
FIG = REPO / "figures" / "03_eem_expression"
FIG.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(2)
root = ensure_dataset("tiny", progress=False)
model, state = load_edtalk_checkpoint(CKPT / "edtalk_tiny.pt")
probe = load_probe(CKPT / "probe_tiny.pt")
assert state["config"]["stage"] == "edtalk.expression"
K = state["config"]["train"]["window"]
print(f"trained through {state['config']['stage']} ({state['step']} steps); ELN window K = {K}")


def to_img(x):
    return ((x.permute(1, 2, 0).clamp(-1, 1) + 1) / 2).numpy()


# %% [markdown]
# ## 1 · Expression transfer
#
# A neutral frame of a test identity is animated with only an expression driver: the mean ELN
# weights over a K-frame window of one of that identity's clips (any of the 8 emotions, neutral
# included). The probe then names the output's emotion. Chance is 1/8. For reference, the same
# sources *without* EEM (no expression driver) are what a model with no expression path would
# produce.

# %%
cfg = DisentangleConfig(n=192)
res = expression_transfer(model, probe, root, "test", cfg)
conf = res["confusion"]
fig, ax = plt.subplots(figsize=(5.2, 4.6))
ax.imshow(conf / conf.sum(1, keepdims=True).clip(1), cmap="Blues", vmin=0, vmax=1)
ax.set_xticks(range(8), EMOTIONS, rotation=60, fontsize=8)
ax.set_yticks(range(8), EMOTIONS, fontsize=8)
ax.set_xlabel("probe's emotion of the output")
ax.set_ylabel("emotion of the expression driver")
for i in range(8):
    for j in range(8):
        if conf[i, j]:
            ax.text(j, i, conf[i, j], ha="center", va="center", fontsize=7)
ax.set_title(f"expression transfer, test identities: {res['emotion_acc']:.1%}")
fig.savefig(FIG / "transfer_confusion.png", dpi=110, bbox_inches="tight")
plt.show()
src, drv, out = res["images"]
fig, axes = plt.subplots(3, 8, figsize=(10.5, 4.2))
for c in range(8):
    for r, (imgs, t) in enumerate(zip((src, drv, out), ("source", "driver (mid-window)", "output"))):
        axes[r, c].imshow(to_img(imgs[c]))
        axes[r, c].axis("off")
fig.tight_layout()
fig.savefig(FIG / "transfer_examples.png", dpi=110, bbox_inches="tight")
plt.show()
print(f"probe emotion accuracy of outputs against the driver's emotion: {res['emotion_acc']:.1%} (chance 12.5 %)")
assert res["confusion"].sum() == cfg.n and res["emotion_acc"] < 0.7   # measured, below the 70 %

# %% [markdown]
# **Where this stands.** The issue asks for ≥ 70 % at this point; these tiny checkpoints do not
# reach it. The expression path can only restyle what G renders, and at 64² after about 1.6 h of
# CPU training G renders blurred faces without the small features (brows, lids, mouth corners)
# that carry SynthTalk's emotions (notebook 02 measures the same limit for the mouth). The
# mechanism is what this notebook can show at this scale: the sections below move along the
# expression subspace and measure which way the probe's reading goes.

# %% [markdown]
# ## 2 · Interpolating between two expressions (Eq. A3)
#
# W^e = α W^e_1 + (1 − α) W^e_2 with the weights of two reference windows. Because f^{r→e} is
# linear in W^e, the path is a straight line in the expression subspace; the probe follows the
# emotion across it.

# %%
store = ClipStore(root, "test")
ident = store.metas[0]["identity"]
clip_of = {m["emotion"]: i for i, m in enumerate(store.metas) if m["identity"] == ident}
src = to_tensor_images(store.frames(clip_of["neutral"])[:1])
e1, e2 = "happy", "angry"
windows = {e: to_tensor_images(store.frames(clip_of[e])[10:10 + K][None]) for e in (e1, e2)}
alphas = np.linspace(0, 1, 7)
with torch.no_grad():
    W1, W2 = (model.expression_weights(windows[e]) for e in (e1, e2))
    code = model.encode(src)                                   # the source, encoded once
    Ws = torch.cat([a * W1 + (1 - a) * W2 for a in alphas])   # Eq. (A3), (7, 10)
    frames = model.animate(model.encode(src.expand(len(alphas), -1, -1, -1)), expression_weights=Ws)
    p = probe(frames)["emotion"].softmax(1)
fig, axes = plt.subplots(1, len(alphas), figsize=(1.5 * len(alphas), 1.9))
for ax, a, f in zip(axes, alphas, frames):
    ax.imshow(to_img(f))
    ax.set_title(f"α = {a:.2f}", fontsize=8)
    ax.axis("off")
fig.savefig(FIG / "interpolation.png", dpi=110, bbox_inches="tight")
plt.show()
i1, i2 = EMOTIONS.index(e1), EMOTIONS.index(e2)
print("α:           ", " ".join(f"{a:5.2f}" for a in alphas))
print(f"P({e1}):     ", " ".join(f"{v:5.2f}" for v in p[:, i1].tolist()))
print(f"P({e2}):     ", " ".join(f"{v:5.2f}" for v in p[:, i2].tolist()))
assert (frames[1:] - frames[:-1]).abs().mean() > 0            # the output moves along the line

# %% [markdown]
# ## 3 · One base at a time (Fig. A8)
#
# Each of the 10 expression bases alone, at weight ±c: which part of the face does it move?
# The probe's expression factors (brows, lids, mouth corners, cheeks) give the answer as
# numbers; the images show it.

# %%
n_e = model.cfg.exp_dim
with torch.no_grad():
    scale = W1.abs().max().item()
    base_w = torch.cat([torch.eye(n_e) * scale, -torch.eye(n_e) * scale])          # (2·n_e, n_e)
    codes = model.encode(src.expand(2 * n_e, -1, -1, -1))
    moved = model.animate(codes, expression_weights=base_w)
    neutral = model.animate(code, expression_weights=torch.zeros(1, n_e))
    fx = probe(moved)["expression"] - probe(neutral)["expression"]                    # (2·n_e, F)
fig, axes = plt.subplots(2, n_e, figsize=(1.2 * n_e, 2.8))
for i in range(n_e):
    for r in range(2):
        axes[r, i].imshow(to_img(moved[r * n_e + i]))
        axes[r, i].axis("off")
    axes[0, i].set_title(f"b^e_{i + 1}", fontsize=8)
axes[0, 0].text(-8, 32, f"+{scale:.2f}", ha="right", fontsize=8)
axes[1, 0].text(-8, 32, f"−{scale:.2f}", ha="right", fontsize=8)
fig.savefig(FIG / "bases_one_at_a_time.png", dpi=110, bbox_inches="tight")
plt.show()
effect = fx.abs().mean(1)
print("mean |Δ expression factors| per base (+c, then −c):")
print(np.round(effect.view(2, n_e).numpy(), 3))
assert (effect > 0).all()

# %% [markdown]
# ## 4 · Sliders
#
# Move each expression base by hand. The static figure above is what CI checks; the sliders
# below need a live kernel.

# %%
sliders = [widgets.FloatSlider(value=0.0, min=-2 * scale, max=2 * scale, step=scale / 10,
                               description=f"b^e_{i + 1}") for i in range(n_e)]
view = widgets.Output()


def redraw(_=None):
    with torch.no_grad():
        w = torch.tensor([[s.value for s in sliders]])
        img = model.animate(code, expression_weights=w)[0]
    with view:
        view.clear_output(wait=True)
        plt.figure(figsize=(2.6, 2.6))
        plt.imshow(to_img(img))
        plt.axis("off")
        plt.show()


for s in sliders:
    s.observe(redraw, names="value")
redraw()
display(widgets.HBox([widgets.VBox(sliders), view]))

# %% [markdown]
# ## 5 · What the expression stage trained on
#
# L_mot (Eq. 9, weight 10) asks that the output's expression and emotion, as read by two frozen
# experts (on SynthTalk, a 3DMM-lite coefficient regressor and an emotion classifier), match the
# driver's; L_m-c (Eq. 10) asks that the mouth read from the output equal the mouth read from the
# driver. The checkpoint carries the curves.

# %%
hist = state["history"]
keys = [k for k in ("rec", "per", "mot", "mc") if k in hist]
fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.7))
for ax, key in zip(np.atleast_1d(axes), keys):
    steps, vals = np.array(hist[key]).T
    ax.plot(steps, vals)
    ax.set_title(f"L_{key}")
    ax.set_xlabel("step")
fig.tight_layout()
fig.savefig(FIG / "training_curves.png", dpi=110, bbox_inches="tight")
plt.show()
assert hist["mot"][-1][1] < hist["mot"][0][1]

# %% [markdown]
# **Lives in** `talkinglib/models/eem.py` (EEM, AdaIN of Eq. 8), `talkinglib/models/edtalk.py`
# (`expression_weights`, `animate`), `talkinglib/train/edtalk_expression.py` (the stage loop,
# Eqs. 9–10), `talkinglib/models/experts.py` (L_mot's φ and ψ on SynthTalk) and
# `talkinglib/eval/disentangle.py` (`expression_transfer`).
