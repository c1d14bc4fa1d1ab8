"""Figures of SynthTalk (notebook 00 and `talkinglib demo` draw them with these functions)."""
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from talkinglib import audio as tl_audio
from talkinglib.synth import motion
from talkinglib.synth.factors import EMOTIONS, EXPRESSION, MOUTH
from talkinglib.synth.identity import sample_identity
from talkinglib.synth.render import prepare_identity, render

NEUTRAL_MOUTH = np.array([0.1, 0.3, 0.1, 0.3])


def _save(fig, path):
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
    return fig


def _factors(mouth, expression, blink=0.0):
    return np.concatenate([mouth, expression, [blink]])


def render_identity_emotion_grid(seed=0, n_identities=4, size=96):
    """uint8 (n_identities, 8, size, size, 3): each identity showing each emotion at intensity 3."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_identities):
        ident = sample_identity(rng)
        f = np.stack([_factors(NEUTRAL_MOUTH, np.array(motion.PROTOTYPES[e]) * 1.0) for e in EMOTIONS])
        out.append(render(ident, f, np.zeros((len(EMOTIONS), 5)), size=size))
    return np.stack(out)


def plot_identity_emotion_grid(path=None, seed=0, n_identities=4, size=96):
    grid = render_identity_emotion_grid(seed, n_identities, size)
    fig, axes = plt.subplots(n_identities, len(EMOTIONS), figsize=(1.3 * len(EMOTIONS), 1.4 * n_identities))
    for i in range(n_identities):
        for j, e in enumerate(EMOTIONS):
            ax = axes[i, j]
            ax.imshow(grid[i, j])
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(e, fontsize=9)
    fig.suptitle("SynthTalk: identities (rows) x the 8 MEAD emotions (intensity 3)", fontsize=10)
    return _save(fig, path)


def factor_sweeps(seed=1, steps=7, size=96):
    """{row name: uint8 (steps, size, size, 3)}: one factor group changes, all else fixed."""
    ident = sample_identity(np.random.default_rng(seed))
    prep = prepare_identity(ident, size)
    t = np.linspace(0, 1, steps)
    neutral = np.zeros(len(EXPRESSION))
    rows = {}
    f = np.stack([_factors([v, 0.3, 0.1, 0.0], neutral) for v in t])
    rows["mouth only: jaw 0 → 1"] = render(ident, f, np.zeros((steps, 5)), size=size, prepared=prep)
    f = np.stack([_factors([0.5 * v, 0.9 * (1 - v), 0.9 * v, 0.0], neutral) for v in t])
    rows["mouth only: spread → round"] = render(ident, f, np.zeros((steps, 5)), size=size, prepared=prep)
    f = np.stack([_factors(NEUTRAL_MOUTH, neutral)] * steps)
    pose = np.zeros((steps, 5))
    pose[:, 0] = np.linspace(-25, 25, steps)
    pose[:, 1] = np.linspace(-10, 10, steps)
    rows["pose only: yaw, pitch"] = render(ident, f, pose, size=size, prepared=prep)
    proto = np.array(motion.PROTOTYPES["surprised"])
    f = np.stack([_factors(NEUTRAL_MOUTH, v * proto) for v in t])
    rows["expression only: neutral → surprised"] = render(ident, f, np.zeros((steps, 5)), size=size, prepared=prep)
    sad, happy = np.array(motion.PROTOTYPES["sad"]), np.array(motion.PROTOTYPES["happy"])
    f = np.stack([_factors(NEUTRAL_MOUTH, (1 - v) * sad + v * happy) for v in t])
    rows["expression only: sad → happy"] = render(ident, f, np.zeros((steps, 5)), size=size, prepared=prep)
    return rows


def plot_factor_sweeps(path=None, seed=1, steps=7, size=96):
    rows = factor_sweeps(seed, steps, size)
    fig, axes = plt.subplots(len(rows), 1, figsize=(1.3 * steps, 1.5 * len(rows)))
    for ax, (name, frames) in zip(axes, rows.items()):
        ax.imshow(np.concatenate(list(frames), 1))
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle("One factor at a time (everything else fixed)", fontsize=10)
    return _save(fig, path)


def plot_spectrogram_with_jaw(clip, path=None, n_thumbs=10):
    """Mel spectrogram of a clip with its jaw opening (and energy) on the same time axis."""
    mel = tl_audio.mel_spectrogram(clip.audio)                           # (80, S) at 80 steps/s
    mouth = np.asarray(clip.meta["factors"]["mouth"])
    T = len(mouth)
    t_frames = np.arange(T) / clip.meta["fps"]
    fig, axes = plt.subplots(3, 1, figsize=(10, 5.2), sharex=True,
                             gridspec_kw={"height_ratios": [1.0, 2.2, 1.2]})
    idx = np.linspace(0, T - 1, n_thumbs).round().astype(int)
    strip = np.concatenate([clip.frames[i] for i in idx], 1)
    axes[0].imshow(strip, extent=(0, T / clip.meta["fps"], 0, 1), aspect="auto")
    axes[0].set_yticks([])
    axes[0].set_title(f"{clip.name}: \"{clip.meta['transcript']}\" ({clip.meta['emotion']}, "
                      f"intensity {clip.meta['intensity']})", fontsize=9)
    axes[1].imshow(mel, origin="lower", aspect="auto", extent=(0, mel.shape[1] / 80.0, 0, 80), cmap="magma")
    axes[1].set_ylabel("mel band")
    for k, name in enumerate(MOUTH):
        axes[2].plot(t_frames, mouth[:, k], label=name, lw=1.5 if name == "jaw" else 0.8)
    axes[2].set_ylabel("mouth factor")
    axes[2].set_xlabel("time (s)")
    axes[2].legend(ncol=4, fontsize=8, loc="upper right")
    fig.tight_layout()
    return _save(fig, path)


def plot_learnability(numbers, thresholds, path=None):
    """Bar chart of fitness numbers against SYNTHTALK.md's thresholds."""
    keys = [k for k in thresholds if k in numbers and k != "generation_seconds"]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    vals = [numbers[k] for k in keys]
    colors = ["tab:green" if v >= thresholds[k] else "tab:red" for k, v in zip(keys, vals)]
    ax.bar(range(len(keys)), vals, color=colors)
    ax.scatter(range(len(keys)), [thresholds[k] for k in keys], marker="_", s=600, color="k",
               label="threshold (SYNTHTALK.md)", zorder=3)
    for i, v in enumerate(vals):
        ax.text(i, min(v, 1.0) + 0.02, f"{v:.3f}", ha="center", fontsize=8)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels(keys, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.12)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title("Learnability on held-out identities", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_training_curve(history, path=None, title="factor probe training"):
    """history: {name: [(step, value), ...]} from train.common.Logger."""
    fig, ax = plt.subplots(figsize=(6, 3))
    for k, pts in history.items():
        if pts:
            s, v = zip(*pts)
            ax.plot(s, v, label=k, lw=1.5 if k == "loss" else 0.8)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
