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
# # 03 · EEM and the expression bank: emotion as a third, separate latent
#
# **Purpose.** Show EDTalk's expression path working on a trained tiny model: the expression
# navigator (ELN) reads a K-frame window of an emotional clip, the expression bank turns its
# weights into f^{r→e}, and the Emotion Enhancement Module (EEM) restyles the identity features
# with it, while mouth and pose stay where they were. Measured with the factor probe on
# identities never seen in training.
#
# **Spec.** EDTalk §3.2 "Expression Decouple", EDTalk Eqs. 8–10 (EEM's AdaIN, L_mot with weight 10,
# L_m-c); Appendix A.2, EDTalk Eq. A3 (interpolation between two expressions) and Fig. A8 (one base
# at a time). Only ELN, the expression bank and EEM train in this stage; E and G stay frozen.
#
# **Checkpoints.** Two stage-3 runs (`edtalk.expression`), by the commands in
# `data/checkpoints/README.md` (a test runs each for a few steps):
# - `data/checkpoints/edtalk_tiny.pt`: EEM built 128 wide, 800 steps, with two region L1s on the
#   driving frame (`w_mouth` 10 on the mouth, `w_eyes` 3 on the brows and eyes; ours, not in EDTalk). This
#   is the tiny EDTalk model that the other notebooks use.
# - `data/checkpoints/edtalk_tiny_eem32.pt`: EEM at the tiny preset's width, 32, 400 steps, the preset
#   alone. RETA was trained from it.
#
# Both start from the same stage 2 (`edtalk_tiny_mp.pt`). Why the region L1s: EEM's AdaIN scales whole
# channels, and without them the channels that darken the brows for an emotion also darken the lip line,
# which cost EDTalk-A's lip sync (notebook 04; `data/checkpoints/README.md` has the measurements).

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
from talkinglib.inference.render import fast_path
from talkinglib.models.edtalk import PRESETS
from talkinglib.synth.factors import EMOTIONS
from talkinglib.synth.generate import ensure_dataset

REPO = Path.cwd().parent
CKPT = REPO / "data" / "checkpoints"
FIG = REPO / "figures" / "03_eem_expression"
FIG.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(2)
root = ensure_dataset("tiny", progress=False)
probe = tl.load(CKPT / "probe_tiny.pt")
model, state = tl.checkpoints.load_with_state(CKPT / "edtalk_tiny.pt")            # EEM 128 wide: THE tiny EDTalk
model32, state32 = tl.checkpoints.load_with_state(CKPT / "edtalk_tiny_eem32.pt")  # EEM at the tiny preset's 32
for s in (state, state32):
    assert s["config"]["stage"] == "edtalk.expression"
K = state["config"]["train"]["window"]
print(f"edtalk_tiny.pt:       {state['config']['stage']}, {state['step']} steps, EEM hidden width {model.cfg.eem_hidden}")
print(f"edtalk_tiny_eem32.pt: {state32['config']['stage']}, {state32['step']} steps, EEM hidden width {model32.cfg.eem_hidden}")
print(f"ELN window K = {K}")


def to_img(x):
    return ((x.permute(1, 2, 0).clamp(-1, 1) + 1) / 2).numpy()


# %% [markdown]
# ## 1 · Expression transfer
#
# We take a neutral frame of a test identity and drive it with an expression only. The expression
# driver is the mean of ELN's weights over a K-frame window of one of that identity's clips. The clip
# can have any of the 8 emotions, neutral included. The probe then names the emotion of the output.
# Chance is 1/8.
#
# The call is `talkinglib scorecard`'s own: `expression_transfer` with n = 192 and the default seed.
# The bar is a probe emotion accuracy of at least 70 %.

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
ax.set_title(f"expression transfer, EEM 128, test identities: {res['emotion_acc']:.1%} (n = {conf.sum()})", fontsize=9)
fig.savefig(FIG / "transfer_confusion.png", dpi=110, bbox_inches="tight")
plt.show()
src, drv, out = res["images"]
with torch.no_grad():
    read = {r: probe(imgs)["emotion"].argmax(1).tolist() for r, imgs in ((1, drv), (2, out))}   # the probe's names
fig, axes = plt.subplots(3, 8, figsize=(10.5, 4.6))
for c in range(8):
    for r, imgs in enumerate((src, drv, out)):
        axes[r, c].imshow(to_img(imgs[c]))
        axes[r, c].axis("off")
        if r:
            axes[r, c].set_title(f"probe: {EMOTIONS[read[r][c]]}", fontsize=7)
for r, t in enumerate(("source", "driver\n(mid-window)", "output")):
    axes[r, 0].text(-6, 32, t, ha="right", va="center", fontsize=8)
fig.tight_layout()
fig.savefig(FIG / "transfer_examples.png", dpi=110, bbox_inches="tight")
plt.show()
per_emotion = np.diag(conf) / conf.sum(1)
display(Markdown("| driver's emotion | n | probe reads it |\n|---|---|---|\n" + "\n".join(
    f"| {e} | {conf[i].sum()} | {per_emotion[i]:.0%} |" for i, e in enumerate(EMOTIONS))
    + f"\n| **all** | **{conf.sum()}** | **{res['emotion_acc']:.1%}** |"))
print(f"probe emotion accuracy of outputs against the driver's emotion: {res['emotion_acc']:.1%} "
      f"(n = {conf.sum()}, chance 12.5 %; the issue's bar is 70 %)")
assert conf.sum() == cfg.n == 192
assert res["emotion_acc"] >= 0.70                                  # issue 18's bar

# %% [markdown]
# The bar holds on tiny-seed0's test identities. The table shows where the misses fall. Six of the eight
# emotions are read on at least three quarters of their drivers (sad 97 %, disgusted 96 %). Contempt (12 %)
# and surprised (6 %) are read on few, and most of their misses go to neutral or angry. Section 3 measures why.
#
# In the examples, the outputs are softer than their sources and have a dark patch under the nose. The
# sixth (a fear driver) has a colour smear over the face, and the last (a neutral driver) reads as angry.

# %% [markdown]
# ## 2 · EEM's width, measured
#
# EEM's AdaIN MLPs (EDTalk Eq. 8) map f^{r→e} through a hidden layer of width `eem_hidden`. The full
# (official) preset has 128. The tiny preset keeps 32, because stage 1 builds the whole model, EEM
# included, at the preset's width, and every tiny checkpoint of stage 1 and 2 has that shape. Stage 3
# may now rebuild EEM wider (`--set model.eem_hidden=128`). E, G and every tensor whose shape still fits
# are kept. EEM starts again as the identity (`eem_init=identity`). `MODEL_CHANGES` in
# `talkinglib/train/edtalk_common.py` lists the fields a later stage may change, and
# `with_model_changes` rebuilds the model with them. Both files are stage 3 from the same stage 2;
# `edtalk_tiny.pt` also trained twice as long with the two region L1s (the checkpoints above).

# %%
print("model fields that differ (EEM 128, EEM 32):",
      {k: (v, model32.cfg.__dict__[k]) for k, v in model.cfg.__dict__.items() if v != model32.cfg.__dict__[k]})
print("eem_hidden of the presets: tiny", PRESETS["tiny"].eem_hidden, "· full", PRESETS["full"].eem_hidden)
assert (model.cfg.eem_hidden, model32.cfg.eem_hidden) == (PRESETS["full"].eem_hidden, PRESETS["tiny"].eem_hidden) == (128, 32)
print("both start from", Path(state["config"]["init"]).name, "; steps:", state["step"], "and", state32["step"])
assert Path(state["config"]["init"]).name == Path(state32["config"]["init"]).name == "edtalk_tiny_mp.pt"
assert (state["step"], state32["step"]) == (800, 400)
differ = {k: (v, state32["config"]["train"][k]) for k, v in state["config"]["train"].items()
          if v != state32["config"]["train"][k]}
print("stage-3 settings that differ (EEM 128, EEM 32):", differ)
assert set(differ) == {"steps", "w_mouth", "w_eyes"}                       # otherwise the same stage 3
res32 = expression_transfer(model32, probe, root, "test", cfg)              # the same n = 192 samples
conf32 = res32["confusion"]
assert (conf32.sum(1) == conf.sum(1)).all()                                 # the same drivers
per32 = np.diag(conf32) / conf32.sum(1)
display(Markdown("| driver's emotion | n | EEM 32 (`edtalk_tiny_eem32.pt`) | EEM 128 (`edtalk_tiny.pt`) |\n|---|---|---|---|\n"
                 + "\n".join(f"| {e} | {conf[i].sum()} | {per32[i]:.0%} | {per_emotion[i]:.0%} |" for i, e in enumerate(EMOTIONS))
                 + f"\n| **all** | **{conf.sum()}** | **{res32['emotion_acc']:.1%}** | **{res['emotion_acc']:.1%}** |"))
print(f"expression transfer, n = {cfg.n}: EEM 32 {res32['emotion_acc']:.1%}, EEM 128 {res['emotion_acc']:.1%}")
assert res["emotion_acc"] >= res32["emotion_acc"] + 0.02                    # the wider EEM transfers more

# %% [markdown]
# `edtalk_tiny.pt` reaches the bar (75.0 %); at width 32, without the region L1s and in half the steps, the
# same stage 3 falls short of 70 % on this dataset (66.1 %). The width is the lever for the expression: at
# 400 steps and without the L1s, EEM 128 gave 71.9 % (`data/checkpoints/README.md`); the region L1s keep the
# lip line clean for EDTalk-A (notebook 04). The gain is not uniform across emotions. EEM 128 reads better on
# six of them, and EEM 32 on contempt and surprised, the two that neither reads well. The next section shows
# how the two EEMs differ: the narrow one draws each expression more faintly.

# %% [markdown]
# ## 3 · A faint expression
#
# When a transfer misses, is the expression drawn too weakly, or drawn as the wrong emotion? We
# test this by scaling the driver's W^e by a gain before rendering. This is a measuring aid, not
# part of EDTalk. Because f^{r→e} is linear in W^e, a gain of 0 gives the expression feature 0, and a
# gain of 1.5 pushes further along the driver's own direction. The samples are the same n = 192 as
# above.

# %%
class ScaledExpression:
    """`model` with its driver's W^e multiplied by `gain` before rendering (a measuring aid, not EDTalk)."""

    def __init__(self, model, gain):
        self.model, self.gain = model, gain

    def expression_weights(self, frames):
        return self.gain * self.model.expression_weights(frames)

    def animate(self, *args, **kwargs):
        return self.model.animate(*args, **kwargs)


gains = {128: {1.0: res}, 32: {1.0: res32}}
gains[128][0.0] = expression_transfer(ScaledExpression(model, 0.0), probe, root, "test", cfg)
for width, m in ((128, model), (32, model32)):
    gains[width][1.5] = expression_transfer(ScaledExpression(m, 1.5), probe, root, "test", cfg)
acc = {w: {g: r["emotion_acc"] for g, r in d.items()} for w, d in gains.items()}
display(Markdown("| gain on W^e | EEM 32 | EEM 128 |\n|---|---|---|\n" + "\n".join(
    f"| × {g:g} | {acc[32][g]:.1%} | {acc[128][g]:.1%} |" if g in acc[32] else f"| × {g:g} | – | {acc[128][g]:.1%} |"
    for g in (0.0, 1.0, 1.5))))
pred0 = gains[128][0.0]["confusion"].sum(0)                                  # what the probe reads with no expression
print("probe's reading with W^e × 0 (EEM 128):", {e: int(c) for e, c in zip(EMOTIONS, pred0) if c})
neutral = EMOTIONS.index("neutral")
for width, c in ((32, conf32), (128, conf)):
    miss = c.sum(0) - np.diag(c)                                             # misses per predicted emotion
    top = np.argsort(-miss)[:2]
    print(f"EEM {width}: {miss.sum()} misses; read as " + ", ".join(f"{EMOTIONS[j]} {miss[j]}" for j in top))
miss = {w: c.sum(0) - np.diag(c) for w, c in ((32, conf32), (128, conf))}
assert acc[128][0.0] < 0.2 and pred0[neutral] >= 0.95 * cfg.n                # no expression: read as neutral
assert miss[32][neutral] > 0.6 * miss[32].sum()                              # EEM 32's misses: mostly neutral
assert miss[128][neutral] / miss[128].sum() < miss[32][neutral] / miss[32].sum()
assert acc[32][1.5] >= acc[32][1.0] + 0.05                                   # EEM 32 draws its expressions faintly
assert acc[32][1.5] - acc[32][1.0] > acc[128][1.5] - acc[128][1.0]          # ... more faintly than EEM 128

# %% [markdown]
# With W^e × 0 the probe reads 191 of the 192 outputs as neutral, whatever the driver was, and accuracy
# falls to chance (10.9 %). An expression drawn too weakly therefore reads as neutral.
#
# - **EEM 32.** Most of its misses are of this kind: 45 of 65 read as neutral. A gain of 1.5 recovers many
#   of them (66.1 → 78.1 %), so the narrow EEM draws its expressions too faintly.
# - **EEM 128** (`edtalk_tiny.pt`). It draws them more fully: 30 of its 48 misses read as neutral, and the
#   gain adds 4 points (75.0 → 79.2 %). Most of its other misses are confusions with angry (13).

# %% [markdown]
# ## 4 · Interpolating between two expressions (EDTalk Eq. A3)
#
# W^e = α W^e_1 + (1 − α) W^e_2 with the weights of two reference windows. Because f^{r→e} is
# linear in W^e, the path is a straight line in the expression subspace; the probe follows the
# emotion across it. The source is a test identity's neutral frame, and the model is `edtalk_tiny.pt`.
# The identity is the first test identity whose happy and angry windows the model draws surely
# (P > 0.9 at both ends; the cell prints any it passes over): the path is what is shown here, and section 1
# measures how surely each emotion is drawn.

# %%
store = ClipStore(root, "test")
e1, e2 = "happy", "angry"
i1, i2 = EMOTIONS.index(e1), EMOTIONS.index(e2)
for ident in dict.fromkeys(m["identity"] for m in store.metas):   # the test identities, in order
    clip_of = {m["emotion"]: i for i, m in enumerate(store.metas) if m["identity"] == ident}
    src = to_tensor_images(store.frames(clip_of["neutral"])[:1])
    windows = {e: to_tensor_images(store.frames(clip_of[e])[10:10 + K][None]) for e in (e1, e2)}
    with fast_path(model):                                     # G's fast path (shared-weight convs), no grad
        W1, W2 = (model.expression_weights(windows[e]) for e in (e1, e2))
        code = model.encode(src)                               # the source, encoded once
        ends = torch.cat([probe(model.animate(code, expression_weights=W))["emotion"].softmax(1) for W in (W1, W2)])
    if ends[0, i1] > 0.9 and ends[1, i2] > 0.9:                # both windows drawn surely: interpolate here
        break
    print(f"{ident}: the ends read P({e1}) = {ends[0, i1]:.2f}, P({e2}) = {ends[1, i2]:.2f}; next identity")
alphas = np.linspace(0, 1, 7)
with fast_path(model):
    Ws = torch.cat([a * W1 + (1 - a) * W2 for a in alphas])   # EDTalk Eq. A3, (7, 10)
    frames = model.animate(model.encode(src.expand(len(alphas), -1, -1, -1)), expression_weights=Ws)
    p = probe(frames)["emotion"].softmax(1)
fig, axes = plt.subplots(1, len(alphas), figsize=(1.5 * len(alphas), 1.9))
for ax, a, f in zip(axes, alphas, frames):
    ax.imshow(to_img(f))
    ax.set_title(f"α = {a:.2f}", fontsize=8)
    ax.axis("off")
fig.savefig(FIG / "interpolation.png", dpi=110, bbox_inches="tight")
plt.show()
print(f"identity {ident}")
print("α:           ", " ".join(f"{a:5.2f}" for a in alphas))
print(f"P({e1}):     ", " ".join(f"{v:5.2f}" for v in p[:, i1].tolist()))
print(f"P({e2}):     ", " ".join(f"{v:5.2f}" for v in p[:, i2].tolist()))
print("probe's reading:", " ".join(EMOTIONS[j] for j in p.argmax(1).tolist()))
assert p[-1, i1] > 0.9 and p[0, i2] > 0.9                     # the ends read as their emotions
assert p[-1, i1] > p[0, i1] and p[0, i2] > p[-1, i2]          # and the reading crosses over along α
assert p[len(alphas) // 2].argmax() not in (i1, i2)                # the midpoint draws neither end's emotion

# %% [markdown]
# The ends read surely: angry with P = 1.00 at α = 0, and happy with P = 1.00 at α = 1 (for the first
# test identity, id012, the model does not draw the angry window: P(angry) = 0.02). Along the path angry
# holds at α = 0.17 (P = 0.78), the probe reads contempt at α = 0.33 and 0.5, and happy takes over from
# α = 0.67 (P = 0.99). So the path is a straight line in W^e, but the emotion the probe reads along it
# changes in steps, and its middle reads as a third emotion rather than a blend of the two.

# %% [markdown]
# ## 5 · One base at a time (Fig. A8)
#
# Each of the 10 expression bases alone, at weight ±c: which part of the face does it move?
# The probe's expression factors (brows, lids, mouth corners, cheeks) give the answer as
# numbers; the images show it.

# %%
n_e = model.cfg.exp_dim
with fast_path(model):
    scale = W1.abs().max().item()
    base_w = torch.cat([torch.eye(n_e) * scale, -torch.eye(n_e) * scale])          # (2·n_e, n_e)
    codes = model.encode(src.expand(2 * n_e, -1, -1, -1))
    moved = model.animate(codes, expression_weights=base_w)
    neutral_img = model.animate(code, expression_weights=torch.zeros(1, n_e))
    fx = probe(moved)["expression"] - probe(neutral_img)["expression"]                # (2·n_e, F)
    emo = probe(moved)["emotion"].argmax(1)
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
print(f"c = {scale:.2f}; mean |Δ expression factors| per base (+c, then −c):")
print(np.round(effect.view(2, n_e).numpy(), 3))
print("probe's emotion, +c:", " ".join(EMOTIONS[j] for j in emo[:n_e].tolist()))
print("probe's emotion, −c:", " ".join(EMOTIONS[j] for j in emo[n_e:].tolist()))
readings = np.bincount(emo.numpy(), minlength=len(EMOTIONS))
alone = {EMOTIONS[j] for j in emo.tolist()}
print("single-base readings:", {e: int(c) for e, c in zip(EMOTIONS, readings) if c},
      "· never drawn by one base alone:", sorted(set(EMOTIONS) - alone))
assert (effect > 0).all()                                     # every base moves the face
assert readings.argmax() == EMOTIONS.index("neutral")         # a single base most often reads as neutral
assert set(EMOTIONS) - alone                                  # some emotions come only from combinations

# %% [markdown]
# Here c = 2.77, the largest |weight| in the happy window. At +c, b^e_2, b^e_9 and b^e_1 move the probe's
# expression factors most (0.22, 0.21 and 0.18), and b^e_4 least (0.04). Some single bases do draw an
# emotion: b^e_5 and b^e_10 read as happy at +c, b^e_1 and b^e_9 as fear. But half of the 20 single-base
# images read as neutral, and sad, disgusted and surprised, which section 1 transfers, are drawn by no
# base alone. ELN's emotions are therefore mostly combinations of bases, not one base each.

# %% [markdown]
# ## 6 · Sliders
#
# Move each expression base by hand. The static figure above is what CI checks; the sliders
# below need a live kernel.

# %%
sliders = [widgets.FloatSlider(value=0.0, min=-2 * scale, max=2 * scale, step=scale / 10,
                               description=f"b^e_{i + 1}") for i in range(n_e)]
view = widgets.Output()


def redraw(_=None):
    with fast_path(model):
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
# ## 7 · What the expression stage trained on
#
# L_mot (EDTalk Eq. 9, weight 10) asks that the output's expression and emotion match the driver's,
# as read by two frozen experts. On SynthTalk these are a 3DMM-lite coefficient regressor and an
# emotion classifier. L_m-c (EDTalk Eq. 10) asks that the mouth read from the output equal the mouth
# read from the driver. Both checkpoints carry their curves.

# %%
keys = [k for k in ("rec", "mot", "mc") if k in state["history"]]
name = {"rec": "L_rec", "mot": "L_mot", "mc": "L_m-c"}
fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.7))
for ax, key in zip(np.atleast_1d(axes), keys):
    for s, label in ((state32, "EEM 32"), (state, "EEM 128")):
        steps, vals = np.array(s["history"][key]).T
        ax.plot(steps, vals, label=label)
    ax.set_title(name[key])
    ax.set_xlabel("step")
np.atleast_1d(axes)[0].legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIG / "training_curves.png", dpi=110, bbox_inches="tight")
plt.show()
display(Markdown("| loss | EEM 32: first → lowest → last | EEM 128: first → lowest → last |\n|---|---|---|\n" + "\n".join(
    f"| {name[k]} | " + " | ".join(f"{h[0][1]:.3f} → {min(v for _, v in h):.3f} → {h[-1][1]:.3f}"
                                   for h in (state32["history"][k], state["history"][k])) + " |" for k in keys)))
for s in (state, state32):
    assert s["history"]["mot"][-1][1] < 0.6 * s["history"]["mot"][0][1]      # L_mot falls by about half
    assert s["history"]["rec"][-1][1] > min(v for _, v in s["history"]["rec"])

# %% [markdown]
# Each point is the loss on one logged batch, so the curves are noisy. L_mot (weight 10) falls by about half
# with EEM 32 in its 400 steps, and to about a quarter with EEM 128 in its 800 (1.10 → 0.29). L_rec (weight 1),
# the pixel error against the driving frame, rises after its low near step 50 in both runs and ends level
# (0.047 and 0.046). This fits a stage that gives up some pixel error for the experts' reading of the
# expression. L_m-c stays within its batch-to-batch spread, apart from one high batch near step 520 (EEM 128).
#
# **Lives in** `talkinglib/models/eem.py` (EEM, the AdaIN of EDTalk Eq. 8), `talkinglib/models/edtalk.py`
# (`expression_weights`, `animate`), `talkinglib/train/edtalk_expression.py` (the stage loop,
# EDTalk Eqs. 9–10), `talkinglib/train/edtalk_common.py` (`MODEL_CHANGES`, `with_model_changes`: the
# wider EEM), `talkinglib/models/experts.py` (L_mot's φ and ψ on SynthTalk) and
# `talkinglib/eval/disentangle.py` (`expression_transfer`).
