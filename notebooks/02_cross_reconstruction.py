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
# # 02 · Cross-reconstruction: swapping mouths teaches the model which latent is which
#
# **Purpose.** Show how EDTalk separates mouth from pose without any label: paste frame a's
# mouth onto frame b, ask the mouth and pose navigators to read the pasted image, and require
# that re-combining their readings reconstructs the *original* frames. Then measure, with the
# SynthTalk factor probe on identities never seen in training, whether a trained tiny model
# really takes its mouth from one driver and its pose from another.
#
# **Spec.** EDTalk §3.2 "Mouth-Pose Decouple", Eqs. (3)–(7) and Fig. 2(b); Appendix A.3 (neutral
# clips only, E and G frozen); Tab. 3 (w/o Bank, w/o Orthogonal).
#
# **Checkpoints.** Training on 2 CPU cores takes longer than a notebook should, so this
# notebook measures models trained by the CLI and committed under `data/checkpoints/`
# (regenerate them with the commands in `data/checkpoints/README.md`; a test runs each of those
# commands for a few steps). Everything below is computed live from those files.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

import talkinglib as tl
from talkinglib.data.edtalk_batches import EDTalkBatches
from talkinglib.data.mouth_swap import superimpose_mouth
from talkinglib.eval.disentangle import DisentangleConfig, crosstalk, mouth_swap, self_reconstruction
from talkinglib.losses.edtalk import reconstruction_loss
from talkinglib.synth.generate import ensure_dataset
from talkinglib.train.edtalk_common import load_edtalk_checkpoint
from talkinglib.train.edtalk_mouth_pose import cross_reconstruct
from talkinglib.train.probe import load_probe

REPO = Path.cwd().parent                       # notebooks run from notebooks/
CKPT = REPO / "data" / "checkpoints"
FIG = REPO / "figures" / "02_cross_reconstruction"
FIG.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(2)
root = ensure_dataset("tiny", progress=False)
model, state = load_edtalk_checkpoint(CKPT / "edtalk_tiny.pt")
probe = load_probe(CKPT / "probe_tiny.pt")
print(f"model: {sum(p.numel() for p in model.parameters()):,} parameters, {model.cfg.size}² images, "
      f"trained through {state['config']['stage']} ({state['step']} steps)")


def show(rows, titles, path=None, size=1.35):
    """rows: list of (B, 3, H, W) tensors in [-1, 1], one per row."""
    n = rows[0].shape[0]
    fig, axes = plt.subplots(len(rows), n, figsize=(size * n, size * len(rows)), squeeze=False)
    for r, (imgs, title) in enumerate(zip(rows, titles)):
        for c in range(n):
            axes[r, c].imshow(((imgs[c].permute(1, 2, 0).clamp(-1, 1) + 1) / 2).numpy())
            axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(title, rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.show()


# %% [markdown]
# ## 1 · Mouth superimposition: I^{m_a}_{p_b}
#
# Two frames a and b of one identity (neutral clips, so the expression is the same) differ in
# mouth and pose. Using the 68 landmarks, a similarity transform carries a's mouth region onto
# b's mouth position, and a feathered mask pastes it in: I^{m_a}_{p_b} has a's mouth and b's
# pose. Everything outside the mask is b, exactly.

# %%
batches = EDTalkBatches(root, "train")
batch = batches.mouth_pose(torch.Generator().manual_seed(0), 6)
x_ab, mask_ab = superimpose_mouth(batch["a"], batch["lm_a"], batch["b"], batch["lm_b"])
x_ba, _ = superimpose_mouth(batch["b"], batch["lm_b"], batch["a"], batch["lm_a"])
show([batch["a"], batch["b"], x_ab, x_ba, mask_ab.expand(-1, 3, -1, -1) * 2 - 1],
     ["a", "b", "I^{m_a}_{p_b}", "I^{m_b}_{p_a}", "mask"], FIG / "superimposition.png")
outside = (mask_ab == 0).expand_as(x_ab)
print(f"mask covers {mask_ab.mean().item():.1%} of the image; outside it, max |I^(m_a)_(p_b) - b| = "
      f"{(x_ab - batch['b'])[outside].abs().max().item():.1e}")
assert (x_ab - batch["b"])[outside].abs().max() == 0
assert 0.01 < mask_ab.mean() < 0.25

# %% [markdown]
# ## 2 · Cross-reconstruction by the trained model
#
# MLN reads the mouth of each pasted image, PLN its pose (Eqs. 3–4). Re-combined crosswise,
# `G(f^{p_b}, f^{m_b})` must give back b and `G(f^{p_a}, f^{m_a})` must give back a: the only way
# to succeed is for MLN to ignore the pose and PLN to ignore the mouth. Identity comes from a
# third frame s. Below: held-out (test) identities.

# %%
test = EDTalkBatches(root, "test").mouth_pose(torch.Generator().manual_seed(1), 6)
with torch.no_grad():
    out = cross_reconstruct(model, test)
    as_source = model.animate(test["source"])                # G(f^{s→r}, f^{id}): no navigation at all
show([test["source"], test["a"], test["b"], out["x_ab"], out["x_ba"], out["fake_a"], out["fake_b"]],
     ["source s", "a", "b", "I^{m_a}_{p_b}", "I^{m_b}_{p_a}", "Î^a", "Î^b"], FIG / "cross_reconstruction.png")
l1 = {"Î^a vs a": reconstruction_loss(test["a"], out["fake_a"]).item(),
      "Î^b vs b": reconstruction_loss(test["b"], out["fake_b"]).item(),
      "source s vs a (no motion transferred)": reconstruction_loss(test["a"], test["source"]).item(),
      "G(s) vs a": reconstruction_loss(test["a"], as_source).item()}
display(Markdown("| L1 on test identities | value |\n|---|---|\n" + "\n".join(f"| {k} | {v:.4f} |" for k, v in l1.items())))
# Measured: the cross-reconstructions beat G's output with no navigation (G(s)), but not yet a
# plain copy of s: these neutral frames differ from s by little, and G still blurs (see section 4)
assert l1["Î^a vs a"] < l1["G(s) vs a"] and l1["Î^b vs b"] < l1["G(s) vs a"]

# %% [markdown]
# ## 3 · Training curves
#
# The stage-2 checkpoints carry the losses they were trained with (`talkinglib train edtalk.mouth_pose`):
# L_rec and L_per of the cross-reconstructions (Eq. 5), L_self of the un-swapped
# self-reconstructions, and L_fea (Eq. 7), which asks the pose read from I^{m_b}_{p_a} to equal the
# pose read from a itself (and likewise for the mouth).

# %%
# edtalk_tiny.pt carries its last stage's curves (stage 3, notebook 03); the two ablation
# checkpoints stop after stage 2, so their curves are stage 2's, with the same E and G
ablations = {name: load_edtalk_checkpoint(CKPT / f)                      # (model, state), loaded once
             for name, f in (("w/o Bank", "edtalk_tiny_nobank.pt"), ("w/o Orthogonal", "edtalk_tiny_noorth.pt"))}
hists = {name: st["history"] for name, (_, st) in ablations.items()}
fig, axes = plt.subplots(1, 4, figsize=(13, 2.8))
for ax, key in zip(axes, ("rec", "per", "self", "fea")):
    for name, hist in hists.items():
        steps, vals = np.array(hist[key]).T
        ax.plot(steps, vals, label=name)
    ax.set_title(f"L_{key}")
    ax.set_xlabel("step")
axes[0].legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIG / "training_curves.png", dpi=110, bbox_inches="tight")
plt.show()
for name, hist in hists.items():
    first, last = hist["rec"][0][1], hist["rec"][-1][1]
    print(f"{name}: L_rec {first:.3f} at step {hist['rec'][0][0]} -> {last:.3f} at step {hist['rec'][-1][0]}")
    assert last < first

# %% [markdown]
# ## 4 · Mouth swap, measured on unseen identities
#
# A neutral source frame is animated with the mouth of one driver frame and the pose of another
# (both from any clip of the same test identity). The factor probe reads the output:
# - **mouth R²**: the output's jaw opening against the mouth driver's true jaw (SynthTalk knows it);
# - **pose R²**: the output's yaw/pitch/roll against the pose driver's true pose;
# - **expression kept**: the fraction of outputs the probe still calls neutral (no expression
#   driver is given, so EEM is off and the expression must stay the source's).
#
# The same measurement runs for the two Tab. 3 ablations, each trained by the same
# `edtalk.mouth_pose` command from the same E and G with only the navigation design changed,
# and for **cross-talk**: vary one driver over 8 frames, keep the others fixed, and measure how
# much the factors it should not touch move (std over the variation / std over the data; 0 is
# perfect, about 1 is as much as a new random frame would move them).

# %%
cfg = DisentangleConfig(n=192)
variants = {"EDTalk (full)": model, **{name: m for name, (m, _) in ablations.items()}}
table = {}
for name, m in variants.items():
    swap = mouth_swap(m, probe, root, "test", cfg)
    talk = crosstalk(m, probe, root, "test", cfg)
    table[name] = dict(swap, **talk)
ceiling = self_reconstruction(model, probe, root, "test", cfg)   # mouth and pose from one frame
cols = [("mouth_r2", "mouth R² (≥ 0.8)"), ("pose_r2", "pose R² (≥ 0.9)"), ("expression_kept", "expression kept"),
        ("mouth->pose", "mouth→pose"), ("pose->mouth", "pose→mouth"), ("mean", "cross-talk, mean of 6")]
rows = [f"| {n} | " + " | ".join(f"{r[k]:.3f}" for k, _ in cols) + " |" for n, r in table.items()]
rows.append("| self-reconstruction (ceiling) | " + " | ".join(f"{ceiling[k]:.3f}" if k in ceiling else "–"
                                                            for k, _ in cols) + " |")
display(Markdown("| model | " + " | ".join(c for _, c in cols) + " |\n|---|" + "---|" * len(cols) + "\n"
                 + "\n".join(rows)))
src, mth, pse, outs = table["EDTalk (full)"]["images"]
show([src, mth, pse, outs], ["source", "mouth from", "pose from", "output"], FIG / "mouth_swap.png")

# %% [markdown]
# **Reading the table.** The last row asks the easier question first: drive the source with
# mouth *and* pose from one and the same frame (plain self-reconstruction, no swap). If the probe
# cannot read a jaw or a pose from those outputs, no navigation design can transfer them, since
# E and G are frozen from stage 2 on. At this tiny scale (64², about 1.6 h of CPU training for
# E and G) that ceiling is the bottleneck: G renders the head's pose but not the mouth opening,
# so every mouth R² sits near or below zero. The paper's thresholds (mouth R² ≥ 0.8, pose R² ≥ 0.9)
# are **not met** by these checkpoints; the same commands with `--preset full` on a GPU are the
# route to them. What the table can already compare is the three navigation designs trained on
# the same frozen E and G. There the direction is the paper's: with the bank and QR, changing one
# driver moves the other factors least (mean cross-talk, lower is better).

# %%
full = table["EDTalk (full)"]
for k in ("mouth_r2", "pose_r2", "expression_kept"):
    print(f"{k}: {full[k]:.3f}   (self-reconstruction ceiling: {ceiling.get(k, float('nan')):.3f})")
print("mean cross-talk:", {n: round(r["mean"], 3) for n, r in table.items()})
assert ceiling["pose_r2"] > 0.2 and full["pose_r2"] > 0.1      # pose transfers, partly
assert full["mouth_r2"] < 0.8                                 # the threshold is not met at this scale (see above)
# Tab. 3's direction: with the bank and QR, changing one driver moves the other factors least
assert table["EDTalk (full)"]["mean"] < min(table["w/o Bank"]["mean"], table["w/o Orthogonal"]["mean"])

# %% [markdown]
# **Lives in** `talkinglib/data/mouth_swap.py` (superimposition), `talkinglib/train/edtalk_mouth_pose.py`
# (`cross_reconstruct`, `mouth_pose_losses`, the stage loop), `talkinglib/losses/edtalk.py` (Eqs. 5–7)
# and `talkinglib/eval/disentangle.py` (`mouth_swap`, `crosstalk`).
