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
# # 05 · Flow pose: one audio, many head motions
#
# **Purpose.** Show EDTalk's probabilistic pose generator working: a conditional normalizing flow
# maps the pose-bank weights W^p of a clip to Gaussian noise given the audio, exactly and
# invertibly; sampling the noise gives new, different head motions for the same audio.
# Measured on SynthTalk identities never seen in training.
#
# **Spec.** EDTalk §3.3 "Flow-Based Probabilistic Pose Generation", EDTalk Eqs. 13–14; Appendix
# A.1 "Normalizing Flow φ_p", EDTalk Eqs. A1–A2: K steps of actnorm, an invertible 1×1 convolution
# and a transformer-based affine coupling conditioned on the audio features f^a_{1:N}.
#
# **Checkpoint.** `data/checkpoints/audio2pose_tiny.pt`, trained by `talkinglib train
# edtalk.audio2pose` (tiny preset) with `--init` the stage-3 EDTalk `edtalk_tiny.pt`; the
# command is in `data/checkpoints/README.md` (a test runs it for a few steps). The flow reads only
# W^p, from the frozen E and pose bank of stages 1–2, which stage 3 (the EEM) does not change.
#
# **Ours, not EDTalk's.** The tiny preset draws ẑ from an AR(1) prior instead of EDTalk Eq. 13's
# N(0, I) (`PoseFlowConfig.prior = "ar1"`; `full` keeps EDTalk Eq. 13). Section 2 says why and measures
# what it changes.

# %%
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

import talkinglib as tl
from talkinglib.data.bank_targets import PoseSequences
from talkinglib.eval.pose import apply_readout, evaluate_pose, linear_readout
from talkinglib.models.pose_flow import PoseFlow
from talkinglib.synth.generate import ensure_dataset

REPO = Path.cwd().parent
CKPT = REPO / "data" / "checkpoints"
FIG = REPO / "figures" / "05_flow_pose"
FIG.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(2)
root = ensure_dataset("tiny", progress=False)
flow, state = tl.checkpoints.load_with_state(CKPT / "audio2pose_tiny.pt")
edtalk = tl.load(CKPT / "edtalk_tiny.pt")
print(f"{state['config']['stage']}: {state['step']} steps, K = {flow.cfg.steps} flow steps, prior {flow.cfg.prior!r}, "
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
train = PoseSequences(root, edtalk, "train")
test = PoseSequences(root, edtalk, "test")
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
# ## 2 · Training: maximum likelihood, and the prior p_Z
#
# L = L_MLE (EDTalk Eq. 13 with its change of variables, in nats per dimension) + L_rec + L_tem (EDTalk Eq. 14)
# on samples decoded from ẑ drawn from the prior at τ = 1. The curves are the committed run's.
#
# EDTalk Eq. 13's p_Z is a Gaussian; read as flows usually read it, and as `full` builds it, N(0, I):
# every frame's ẑ_t is drawn independently. The tiny preset keeps
# N(0, 1) for each frame but links the frames, per channel, by an AR(1) process
# z_t = ρ z_{t−1} + √(1 − ρ²) ε_t, with ρ learned by the same MLE (it starts at 0, which is
# EDTalk Eq. 13's prior). This is ours, not in EDTalk or RETA. The reason is measured below: the z that
# the flow maps real W^p to is far from white (its lag-1 autocorrelation is near ρ), so
# independent draws ẑ_t put back frame-to-frame jitter that real heads do not have.

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
rho = torch.tanh(flow.ar_logit.detach().float())                    # the learned AR(1) coefficient per channel
with torch.no_grad():                                                # z = φ_p^{-1}(W^p) of every 4th test clip
    zs = [flow.to_latent(test.pose[c][None].float(), test.mel(c))[0][0] for c in range(0, len(test.pose), 4)]
lag1 = np.mean([[np.corrcoef(z[:-1, i], z[1:, i])[0, 1] for i in range(z.shape[1])] for z in zs], 0)
print(f"learned ρ per channel: {', '.join(f'{r:.3f}' for r in rho)}")
print(f"lag-1 autocorrelation of z = φ_p⁻¹(W^p) on {len(zs)} test clips: {', '.join(f'{r:.2f}' for r in lag1)} "
      "(EDTalk Eq. 13's N(0, I) assumes 0)")
assert flow.cfg.prior == "ar1" and rho.min() > 0.9 and lag1.min() > 0.8

# %% [markdown]
# ## 3 · Look: sampled head motion for one test audio
#
# Yaw and roll are read from W^p by a linear read-out fitted on the training frames (the same
# instrument reads the ground truth and the samples). Four samples at τ = 1 for the audio of one
# test clip, against that clip's own motion. A sample is one plausible motion for this audio, not a
# reconstruction of this clip's: what section 4 compares is the pace, not the path.

# %%
R = linear_readout(train.pose, train.angles)
c = 0
gen = torch.Generator().manual_seed(1)
with torch.no_grad():
    draws = [flow.sample(test.mel(c), temperature=1.0, generator=gen)[0] for _ in range(4)]
fig, ax = plt.subplots(1, 2, figsize=(11, 3))
t = np.arange(len(test.pose[c])) / 25
for i, name in ((0, "yaw"), (2, "roll")):
    a = ax[0 if i == 0 else 1]
    for d in draws:
        a.plot(t, apply_readout(R, d)[:, i], lw=1, alpha=0.8)
    a.plot(t, apply_readout(R, test.pose[c])[:, i], "k", lw=2, label="this clip (read-out)")
    a.set_title(f"{name} (degrees), 4 samples for one audio")
    a.set_xlabel("seconds")
    a.legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIG / "samples.png", dpi=110)
plt.show()

# %% [markdown]
# ## 4 · Verify: diverse samples, paced like real heads
#
# Over every test clip (3 samples each): the std of the frame-to-frame change of yaw, pitch and
# roll, for the samples against the ground truth read the same way. The issue asks for samples
# that differ from each other and, at τ = 1, a velocity std within 25 % of the ground truth's
# (ratio 0.75–1.25). The last row decodes ẑ drawn as EDTalk Eq. 13 draws it, white (ρ = 0), through the
# same flow: what the AR(1) prior changes at sampling time. (It is not a flow *trained* with
# EDTalk Eq. 13's prior; that one, 8000 steps on the previous tiny EDTalk, moved 2.5, 1.5 and 1.0 times
# as fast as real heads, as `talkinglib/train/edtalk_audio2pose.py` records.)

# %%
white = PoseFlow(replace(flow.cfg, prior="normal"))                  # the same weights, EDTalk Eq. 13's N(0, I)
white.load_state_dict({k: v for k, v in flow.state_dict().items() if k != "ar_logit"})
white.eval()
rows = {f"{tau}, AR(1)": evaluate_pose(flow, train, test, samples=3, temperature=tau, seed=0) for tau in (1.0, 0.0)}
rows["1.0, white ẑ (EDTalk Eq. 13)"] = evaluate_pose(white, train, test, samples=3, temperature=1.0, seed=0)
lines = ["| τ, prior | read-out R² (yaw, pitch, roll) | velocity std: GT read-out | samples | ratio | diversity |",
         "|---|---|---|---|---|---|"]
for name, st in rows.items():
    f = lambda xs: ", ".join(f"{x:.2f}" for x in xs)                   # noqa: E731
    lines.append(f"| {name} | {f(st['readout_r2'])} | {f(st['velocity_std_gt'])} | {f(st['velocity_std_samples'])} "
                 f"| {f(st['ratio_vs_gt'])} | {st['diversity']:.2f} |")
display(Markdown("\n".join(lines)))
ratio = np.array(rows["1.0, AR(1)"]["ratio_vs_gt"])
mode, iid = np.array(rows["0.0, AR(1)"]["ratio_vs_gt"]), np.array(rows["1.0, white ẑ (EDTalk Eq. 13)"]["ratio_vs_gt"])
print(f"τ = 1: velocity std / ground truth = {', '.join(f'{r:.2f}' for r in ratio)} (yaw, pitch, roll; "
      f"asked: within 0.75–1.25): {'met' if np.all((ratio >= 0.75) & (ratio <= 1.25)) else 'not met'}")
print(f"τ = 0 (the mode path): {', '.join(f'{r:.2f}' for r in mode)}; white ẑ: {', '.join(f'{r:.2f}' for r in iid)}")
assert np.all(np.array(rows["1.0, AR(1)"]["readout_r2"]) > 0.9)     # the instrument reads all three angles
assert rows["1.0, AR(1)"]["diversity"] > 0.05                       # samples for one audio differ
assert np.all((ratio > 0.78) & (ratio < 1.22))                      # the bar, with a little slack inside it
assert np.all(iid > 1.5)                                            # white ẑ through the same flow: too fast

# %% [markdown]
# **Reading the table.** At τ = 1 the samples move at the speed of real heads: the velocity std of
# yaw, pitch and roll is within the 25 % of the ground truth's (the ratios printed above),
# and samples for one audio differ. The AR(1) prior is what makes that so: the same flow decoding
# white ẑ, as EDTalk Eq. 13 draws it, moves 2.4 to 3.1 times as fast as real heads, because MLE left z
# strongly correlated in time (ρ and the lag-1 autocorrelation of section 2, all above 0.9) and
# independent ẑ_t put that jitter back. The mode path (τ = 0, ẑ = 0) moves at 0.75–0.97 of the
# truth's pace, so the temperature still sets how lively the samples are. With this tiny EDTalk
# the read-out recovers all three angles from W^p (R² 0.97 and above), so every ratio is readable.
#
# **Lives in.** `talkinglib/models/pose_flow.py` (ActNorm, InvertibleLinear, TransformerCoupling,
# PoseFlow, the AR(1) prior), `talkinglib/train/edtalk_audio2pose.py` (the stage, its losses and
# `evaluate_pose`), `talkinglib/losses/edtalk.py` (L^p_rec, L_tem).
