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
# # 05 · Flow pose: one audio, many head motions
#
# **Purpose.** Show EDTalk's probabilistic pose generator working: a conditional normalizing flow
# maps the pose-bank weights W^p of a clip to Gaussian noise given the audio, exactly and
# invertibly; sampling the noise gives new, different head motions for the same audio.
# Measured on SynthTalk identities never seen in training.
#
# **Spec.** EDTalk §3.3 "Flow-Based Probabilistic Pose Generation", Eqs. (13)–(14); Appendix
# A.1 "Normalizing Flow φ_p", Eqs. (A1)–(A2): K steps of actnorm, an invertible 1×1 convolution
# and a transformer-based affine coupling conditioned on the audio features f^a_{1:N}.
#
# **Checkpoint.** `data/checkpoints/audio2pose_tiny.pt`, trained by `talkinglib train
# edtalk.audio2pose` as `data/checkpoints/README.md` writes it (a test runs that command for a
# few steps). W^p comes from the frozen tiny EDTalk of notebooks 02–03.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

from talkinglib.models.pose_flow import PoseFlow
from talkinglib.synth.generate import ensure_dataset
from talkinglib.train import edtalk_audio2pose as A
from talkinglib.train.edtalk_common import load_edtalk_checkpoint

REPO = Path.cwd().parent
CKPT = REPO / "data" / "checkpoints"
FIG = REPO / "figures" / "05_flow_pose"
FIG.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(2)
root = ensure_dataset("tiny", progress=False)
flow, state = A.load_audio2pose(CKPT / "audio2pose_tiny.pt")
edtalk, _ = load_edtalk_checkpoint(CKPT / "edtalk_tiny.pt")
print(f"{state['config']['stage']}: {state['step']} steps, K = {flow.cfg.steps} flow steps, "
      f"{sum(p.numel() for p in flow.parameters()):,} parameters")

# %% [markdown]
# ## 1 · Build: three invertible pieces, and their log-determinants
#
# One flow step, data → latent: actnorm h' = (h − μ)/δ, then h'' = W h' with W a 6×6 matrix, then
# the coupling h = [h''₁, (h''₂ + t) ⊙ s] with (t, s) = F(h''₁, f^a) from a transformer over the
# N frames. Each has an exact inverse and a cheap log|det|: −N Σ log δ, N log|det W|, Σ log s.
# Checked here on the trained flow against brute force: invert, and compare the log-determinant
# with that of the full Jacobian that autograd computes.

# %%
train = A.PoseSequences(root, edtalk, "train")
test = A.PoseSequences(root, edtalk, "test")
N = 4
w = test.pose[0][:N][None].double()                                  # (1, N, 6): a test clip's W^p
flow64 = PoseFlow(flow.cfg)
flow64.load_state_dict(flow.state_dict())
flow64 = flow64.double().eval()
with torch.no_grad():
    fa = flow64.audio_features(test.mel(0)[:N].double(), 1, N)       # f^a (1, N, Da)
    z, logdet = flow64.to_latent(w, fa)
    back = flow64.from_latent(z, fa)
J = torch.autograd.functional.jacobian(lambda x: flow64.to_latent(x.view(1, N, 6), fa)[0].reshape(-1), w.reshape(-1))
brute = torch.linalg.slogdet(J)[1].item()
print(f"max |φ(φ⁻¹(W)) − W| = {(back - w).abs().max():.1e} (float64)")
print(f"log|det ∂z/∂W|: flow {logdet.item():.6f}, autograd Jacobian ({J.shape[0]}×{J.shape[1]}) {brute:.6f}")
assert (back - w).abs().max() < 1e-9
assert abs(logdet.item() - brute) < 1e-6

# %% [markdown]
# ## 2 · Training: maximum likelihood
#
# L = L_MLE (Eq. 13, in nats per dimension, with the change of variables) + L_rec + L_tem
# (Eq. 14) on samples decoded from ẑ ~ N(0, τ²). The curves are the committed run's.

# %%
hist = state["history"]
fig, ax = plt.subplots(1, 3, figsize=(11, 2.8))
for a, k in zip(ax, ("mle", "rec", "tem")):
    s, v = zip(*hist[k])
    a.plot(s, v)
    a.set_title({"mle": "L_MLE (nats/dim)", "rec": "L_rec (sampled)", "tem": "L_tem (sampled)"}[k])
    a.set_xlabel("step")
fig.tight_layout()
fig.savefig(FIG / "training_curves.png", dpi=110)
plt.show()
mle = [v for _, v in hist["mle"]]
print(f"L_MLE: {np.mean(mle[:3]):.3f} at the start -> {np.mean(mle[-3:]):.3f} at the end")
assert np.mean(mle[-3:]) < np.mean(mle[:3]) - 1.0

# %% [markdown]
# ## 3 · Look: sampled head motion for one test audio
#
# Yaw and roll are read from W^p by a linear read-out fitted on the training frames (the same
# instrument reads the ground truth and the samples). Four samples at τ = 1 for the audio of one
# test clip, against that clip's own motion.

# %%
R = A.linear_readout(train.pose, train.angles)
c = 0
gen = torch.Generator().manual_seed(1)
with torch.no_grad():
    draws = [flow.sample(test.mel(c), temperature=1.0, generator=gen)[0] for _ in range(4)]
fig, ax = plt.subplots(1, 2, figsize=(11, 3))
t = np.arange(len(test.pose[c])) / 25
for i, name in ((0, "yaw"), (2, "roll")):
    a = ax[0 if i == 0 else 1]
    for d in draws:
        a.plot(t, A.apply_readout(R, d)[:, i], lw=1, alpha=0.8)
    a.plot(t, A.apply_readout(R, test.pose[c])[:, i], "k", lw=2, label="this clip (read-out)")
    a.set_title(f"{name} (degrees), 4 samples for one audio")
    a.set_xlabel("seconds")
    a.legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIG / "samples.png", dpi=110)
plt.show()

# %% [markdown]
# ## 4 · Verify: diverse samples, paced like real heads
#
# Over every test clip (4 samples each): the std of the frame-to-frame change of yaw, pitch and
# roll, for the samples against the ground truth read the same way. The issue asks for samples
# that differ from each other and a velocity std within 25 % of the ground truth's.

# %%
rows = {}
for tau in (1.0, 0.5, 0.0):
    rows[tau] = A.evaluate_pose(flow, train, test, samples=3, temperature=tau, seed=0)
lines = ["| τ | read-out R² (yaw, pitch, roll) | velocity std: GT read-out | samples | ratio | diversity |",
         "|---|---|---|---|---|---|"]
for tau, st in rows.items():
    f = lambda xs: ", ".join(f"{x:.2f}" for x in xs)                   # noqa: E731
    lines.append(f"| {tau} | {f(st['readout_r2'])} | {f(st['velocity_std_gt'])} | {f(st['velocity_std_samples'])} "
                 f"| {f(st['ratio_vs_gt'])} | {st['diversity']:.2f} |")
display(Markdown("\n".join(lines)))
st = rows[1.0]
assert st["diversity"] > 0.05                                   # samples for one audio differ
ratio = np.array(st["ratio_vs_gt"])
print(f"τ = 1: velocity std / ground truth = {', '.join(f'{r:.2f}' for r in ratio)} (asked: within 0.75–1.25); "
      f"τ = 0 (the mode path): {', '.join(f'{r:.2f}' for r in rows[0.0]['ratio_vs_gt'])}")
# the temperature controls the speed: the mode path moves at about real-head speed, τ = 1 faster
assert np.all(np.array(rows[0.0]["ratio_vs_gt"]) < 1.5)
assert rows[0.0]["ratio_vs_gt"][0] < rows[0.5]["ratio_vs_gt"][0] < rows[1.0]["ratio_vs_gt"][0]

# %% [markdown]
# **Reading the table.** The flow has learned audio-paced motion (the mode path, τ = 0, moves
# at about the speed of real heads) and samples for one audio differ. But drawing ẑ_t
# independently for every frame, as Eq. 13's p_Z does, adds frame-to-frame jitter that this
# 4-step tiny flow has only partly learned to smooth: at τ = 1 the samples still move faster
# than real heads (roll is within the 25 % asked, yaw is not). Pitch is barely
# readable from this tiny EDTalk's W^p (read-out R² below zero), so its row says little.
#
# **Lives in.** `talkinglib/models/pose_flow.py` (ActNorm, InvertibleLinear, TransformerCoupling,
# PoseFlow), `talkinglib/train/edtalk_audio2pose.py` (the stage, its losses and `evaluate_pose`),
# `talkinglib/losses/edtalk.py` (L^p_rec, L_tem).
