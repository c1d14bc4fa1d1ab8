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
# # 04 · Audio to lip: mel windows → mouth weights, scored by a lip-sync expert
#
# **Purpose.** Show EDTalk's audio-driven mouth: the Wav2Lip/EDTalk mel front end, a SyncNet
# expert that finds the audio-video offset of a clip, and Audio2Lip predicting the mouth-bank
# weights from audio alone, with and without the sync loss. Measured with the factor probe and
# the expert on SynthTalk identities never seen in training.
#
# **Spec.** EDTalk §3.3 "Audio-Driven Lip Generation", EDTalk Eqs. 11–12; Appendix A.1 (E_a); the
# expert and its sync scores from Wav2Lip [41] and RETA D.4.2.
#
# **Checkpoints.** `data/checkpoints/syncnet_tiny.pt`, `audio2lip_tiny.pt` and
# `audio2lip_tiny_nosync.pt`, trained by the commands in `data/checkpoints/README.md` (a test
# runs each for a few steps); the frozen tiny EDTalk of notebooks 02–03 (`edtalk_tiny.pt`), which
# Audio2Lip was trained against, renders the frames.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

import talkinglib as tl
from talkinglib.data.datasets import ClipMedia, frame_factors
from talkinglib.data.sync_pairs import SyncPairs
from talkinglib.eval.factors import r2_score
from talkinglib.eval.lipsync import format_rows, lip_sync_rows
from talkinglib.eval.sync import sync_scores
from talkinglib.eval.sync import pair_accuracy
from talkinglib.inference.render import fast_path
from talkinglib.models.edtalk import generate_window
from talkinglib.synth.generate import ensure_dataset

REPO = Path.cwd().parent
CKPT = REPO / "data" / "checkpoints"
FIG = REPO / "figures" / "04_audio_to_lip"
FIG.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(2)
root = ensure_dataset("tiny", progress=False)
edtalk = tl.load(CKPT / "edtalk_tiny.pt")
probe = tl.load(CKPT / "probe_tiny.pt")
expert, s_state = tl.checkpoints.load_with_state(CKPT / "syncnet_tiny.pt")
a2l, a_state = tl.checkpoints.load_with_state(CKPT / "audio2lip_tiny.pt")
a2l_nosync, n_state = tl.checkpoints.load_with_state(CKPT / "audio2lip_tiny_nosync.pt")
assert a_state["config"]["train"]["w_sync"] > 0 and n_state["config"]["train"]["w_sync"] == 0
print(f"SyncNet: {s_state['step']} steps; Audio2Lip: {a_state['step']} steps (w/o L_sync: {n_state['step']})")

# %% [markdown]
# ## 1 · The mel front end
#
# 16 kHz audio → pre-emphasis → STFT (800/200) → 80 Slaney mel bands → dB, clipped to [−4, 4];
# video frame t takes the 16 mel steps (0.2 s) centred on it. The jaw opening of the same clip
# (a SynthTalk factor) rises where the speech energy sits.

# %%
test = ClipMedia(root, "test")
c = 0
mel = test.mel(c)                                                 # (T, 1, 80, 16)
jaw = frame_factors(test.store.metas[c])["mouth"][:, 0]
spec = tl.audio.mel_spectrogram(test.store.audio(c))              # (80, steps)
fig, ax = plt.subplots(2, 1, figsize=(10, 4), sharex=True)
ax[0].imshow(spec, aspect="auto", origin="lower", extent=(0, len(jaw) / 25, 0, 80), cmap="magma")
ax[0].set_ylabel("mel band")
ax[1].plot(np.arange(len(jaw)) / 25, jaw, "k")
ax[1].set_ylabel("jaw (truth)")
ax[1].set_xlabel("seconds")
fig.tight_layout()
fig.savefig(FIG / "mel_and_jaw.png", dpi=110)
plt.show()
print("mel windows:", tuple(mel.shape), f"range [{mel.min():.1f}, {mel.max():.1f}]")
assert mel.shape[1:] == (1, 80, 16) and len(mel) == len(jaw)

# %% [markdown]
# ## 2 · The expert: in sync or not, and by how much
#
# SyncNet embeds 5 lower-face frames and the mel window of their centre; in-sync pairs should
# be closer. Offset search: delay the audio by k frames, and the distance curve D(δ) should have
# its minimum at δ = k (Sync_conf = median − min of D).

# %%
acc = pair_accuracy(expert, SyncPairs(root, "test"), n=512)
print(f"test identities: in-sync window preferred over a shifted one {acc['ranking']:.1%} of the time; "
      f"S = {acc['p_sync']:.2f} (in sync) vs {acc['p_off']:.2f} (shifted)")
frames = test.frames(c)
fig, ax = plt.subplots(figsize=(7, 3))
found = {}
for k in (0, 3, -4):
    shifted = torch.roll(mel, shifts=k, dims=0)                   # audio delayed by k frames
    s = sync_scores(expert, frames, shifted)
    found[k] = s["offset"]
    ax.plot(range(-15, 16), s["curve"], label=f"audio delayed {k:+d}: offset {s['offset']:+d}, "
                                              f"conf {s['confidence']:.2f}")
ax.set_xlabel("δ (frames)")
ax.set_ylabel("D(δ)")
ax.legend(fontsize=8, loc="lower right")
fig.tight_layout()
fig.savefig(FIG / "offset_search.png", dpi=110)
plt.show()
assert acc["ranking"] >= 0.75
assert found == {0: 0, 3: 3, -4: -4}, found

# %% [markdown]
# ## 3 · Audio2Lip: mouth weights from audio
#
# EDTalk-A on a test clip: the first frame is the source and its pose is held still (the first
# frame's W^p throughout); the expression weights come from the clip's own frames; the mouth from
# the audio alone. Left: three of the 20 mouth weights, predicted from audio against those MLN reads
# from the real frames. Right: the probe's jaw reading of the generated frames against the true jaw,
# and against frames generated with the video's own mouth weights (what E and G render when the
# mouth weights are exact). Below: real frames and the audio-driven ones at the same instants.

# %%
with fast_path(edtalk):                                         # G's fast path (shared-weight convs), no grad
    w_true = edtalk.navigate(edtalk.encode(frames).latent)
    w_audio = a2l(mel, batch=1, frames=len(mel))[0]
    still = w_true["pose"][:1].expand_as(w_true["pose"])           # the first frame's pose throughout
    gen = {"audio": generate_window(edtalk, frames[:1], w_audio[None], still[None],
                                    w_true["expression"][None])[0],
           "video": generate_window(edtalk, frames[:1], w_true["mouth"][None], still[None],
                                    w_true["expression"][None])[0]}
    jaw_read = {k: probe(v)["mouth"][:, 0].numpy() for k, v in gen.items()}
t = np.arange(len(jaw)) / 25
fig, ax = plt.subplots(1, 2, figsize=(12, 3))
for i, col in enumerate((0, 1, 2)):
    ax[0].plot(t, w_true["mouth"][:, col], color=f"C{i}", lw=2, alpha=0.5)
    ax[0].plot(t, w_audio[:, col], color=f"C{i}", lw=1, ls="--")
ax[0].set_title("mouth weights: MLN of real frames (solid), Audio2Lip (dashed)")
ax[1].plot(t, jaw, "k", lw=2, label="true jaw")
ax[1].plot(t, jaw_read["video"], label="probe: mouth from video")
ax[1].plot(t, jaw_read["audio"], label="probe: mouth from audio")
ax[1].legend(fontsize=8)
ax[1].set_xlabel("seconds")
fig.tight_layout()
fig.savefig(FIG / "weights_and_jaw.png", dpi=110)
plt.show()
show = np.arange(12, 36, 3)                                        # 0.48 s to 1.32 s: two syllables
fig, ax = plt.subplots(2, len(show), figsize=(1.5 * len(show), 3.4))
for j, f in enumerate(show):
    for i, (name, x) in enumerate((("real", frames), ("audio", gen["audio"]))):
        ax[i, j].imshow(((x[f].permute(1, 2, 0).numpy() + 1) / 2).clip(0, 1))
        ax[i, j].set_xticks([])
        ax[i, j].set_yticks([])
    ax[0, j].set_title(f"t={f / 25:.2f}s\njaw {jaw[f]:.2f}", fontsize=8)
ax[0, 0].set_ylabel("real")
ax[1, 0].set_ylabel("EDTalk-A")
fig.tight_layout()
fig.savefig(FIG / "frames.png", dpi=110)
plt.show()
corr = np.corrcoef(w_true["mouth"].flatten(), w_audio.flatten())[0, 1]
r2_clip = {k: float(r2_score(jaw, v)[0]) for k, v in jaw_read.items()}
print(f"corr(Audio2Lip weights, MLN weights) on this clip: {corr:.2f}; probe jaw R² on this clip: "
      f"mouth from audio {r2_clip['audio']:.2f}, from video {r2_clip['video']:.2f}")
assert corr > 0.5
assert r2_clip["audio"] > 0.5

# %% [markdown]
# On this clip the audio-driven mouth opens on the syllables and closes between them, as the real
# one does; its openings overshoot the true jaw on some syllables (the dashed weights above swing
# wider than MLN's). The generated face also has a dark smudge under the nose and softer eyes that
# the real frames do not have.

# %% [markdown]
# ## 4 · Verify: EDTalk-A on test identities, with and without L_sync
#
# Issue 18's EDTalk-A bars, measured as the scorecard measures them (`talkinglib scorecard`,
# part `edtalk-a`: `eval/lipsync.py`'s `lip_sync_rows` with `pose="still"`), on every clip of the
# 4 test identities. Rows: the real frames (the reference), and EDTalk-A with Audio2Lip trained
# with and without L_sync (EDTalk Tab. 3's loss ablation at tiny scale; `audio2lip_tiny_nosync.pt`
# is the same recipe with w_sync = 0). Columns: the probe's jaw R² against the true jaw, and the expert's
# Sync_conf and LSE-D (offset search over ±15 frames). The bars: jaw R² ≥ 0.7 and
# Sync_conf ≥ 80 % of the real clips'.

# %%
rows = lip_sync_rows(edtalk, a2l, probe, root, syncnet=expert, mouth_sources=("audio",), pose="still")
rows["audio w/o L_sync"] = lip_sync_rows(edtalk, a2l_nosync, probe, root, syncnet=expert,
                                         mouth_sources=("audio",), pose="still")["audio"]
display(Markdown(format_rows(rows)))
ratio = {k: rows[k]["sync_conf"] / rows["real"]["sync_conf"] for k in ("audio", "audio w/o L_sync")}
print(f"{rows['audio']['clips']} test clips of {len({m['identity'] for m in test.store.metas})} identities")
print(f"EDTalk-A jaw R²: {rows['audio']['jaw_r2']:.3f} (bar >= 0.7); Sync_conf / real clips': "
      f"{ratio['audio']:.3f} (bar >= 0.8)")
print(f"w/o L_sync: Sync_conf {rows['audio w/o L_sync']['sync_conf']:.3f} vs {rows['audio']['sync_conf']:.3f} "
      f"with it (ratio {ratio['audio w/o L_sync']:.3f}); jaw R² {rows['audio w/o L_sync']['jaw_r2']:.3f}")
assert rows["real"]["jaw_r2"] > 0.8                      # the probe reads real frames well
assert rows["audio"]["jaw_r2"] >= 0.7                    # issue 18's bar
assert ratio["audio"] >= 0.8                             # issue 18's bar

# %% [markdown]
# **EDTalk's loss ablation.** EDTalk trains Audio2Lip with L_sync (EDTalk Eq. 12), the expert's
# verdict on the generated mouth, and its Tab. 3 reports that L_sync leads to more accurate lip
# sync. Here: the same recipe with w_sync = 0, scored on the same clips.

# %%
with_sync, without = rows["audio"]["sync_conf"], rows["audio w/o L_sync"]["sync_conf"]
print(f"Sync_conf with L_sync {with_sync:.3f}, without {without:.3f}: the paper's direction (L_sync raises "
      f"Sync_conf) {'holds' if with_sync > without else 'does not hold'}")
assert with_sync > without

# %% [markdown]
# **What holds.** On the 32 test clips (4 identities) EDTalk-A with the pose still meets both of
# issue 18's bars: probe jaw R² 0.775 (≥ 0.7) and Sync_conf 0.995 of the real clips' (≥ 0.8). EDTalk
# Tab. 3's direction for L_sync holds for Sync_conf, but narrowly: 0.475 with it, 0.456 without (LSE-D
# 0.702 against 0.718). It does not carry over to the jaw: without L_sync the probe's jaw R² is higher
# (0.833 against 0.775), so at this scale L_sync trades jaw accuracy for sync. (Before stage 3 gained its
# mouth and eye L1s, notebook 03, the EEM darkened the lip line and the gap was wider: Sync_conf 0.801 of
# the real clips' with L_sync, 0.673 without.) One caveat: the expert that scores Sync_conf here is
# `syncnet_tiny.pt`, the same network L_sync was trained against (EDTalk scores with a different
# SyncNet [12] than its L_sync's [41]), so part of the gain may be the mouth fitting this judge.

# %% [markdown]
# **Lives in.** `talkinglib/models/audio2lip.py` (E_a + MLP^m_A, official names),
# `talkinglib/models/syncnet.py`, `talkinglib/train/edtalk_audio2lip.py`, `talkinglib/train/syncnet.py`,
# `talkinglib/eval/sync.py`, `talkinglib/eval/lipsync.py`; `talkinglib.official.load_audio2lip`
# loads the official Audio2Lip.pt (parity test: max |diff| 4e-7 on the reference fixture).
