"""SYNTHTALK.md's fitness checks, run on an on-disk dataset (train split fits, test split scores).

    numbers = dataset_fitness("data/synthtalk/tiny-seed0", probe=talkinglib.load("data/checkpoints/probe_tiny.pt"))

Each number is measured on held-out identities; THRESHOLDS are SYNTHTALK.md's.
"""
import time
from pathlib import Path

import numpy as np

from talkinglib import audio as tl_audio
from talkinglib.data.clips import read_meta
from talkinglib.data.datasets import ClipStore, load_split_arrays
from talkinglib.synth import fitness, motion
from talkinglib.synth.factors import EMOTIONS
from talkinglib.synth.identity import sample_identity
from talkinglib.synth.landmarks import MOUTH_SLICE, landmarks_2d
from talkinglib.synth.prosody import prosody_features
from talkinglib.synth.render import prepare_identity, render

THRESHOLDS = {
    **fitness.THRESHOLDS,
    "mouth_locality": 0.99,          # fraction of pixels outside the mouth box left unchanged
    "pose_moves_head": 0.5,          # fraction of head pixels that a pose change moves
    "probe_pose_r2": 0.95, "probe_jaw_r2": 0.9, "probe_emotion_acc": 0.9,
    "generation_seconds": 60.0,
}


def audio_text_split(root, split):
    """Mel windows + jaw per frame, prosody features, transcripts and labels of a split."""
    store = ClipStore(root, split)
    mels, jaw, feats, texts, text_emotion, emotion = [], [], [], [], [], []
    for i, meta in enumerate(store.metas):
        wav = store.audio(i)
        mel = tl_audio.mel_windows(wav, fps=meta["fps"]).numpy()          # (T, 1, 80, 16)
        mouth = np.asarray(meta["factors"]["mouth"], np.float32)
        mels.append(mel)
        jaw.append(mouth[: len(mel), 0])
        feats.append(prosody_features(wav))
        texts.append(meta["transcript"])
        text_emotion.append(meta["text_emotion"])
        emotion.append(meta["emotion"])
    return {"mels": np.concatenate(mels), "jaw": np.concatenate(jaw), "prosody": np.stack(feats),
            "texts": texts, "text_emotion": np.array(text_emotion), "emotion": np.array(emotion)}


def audio_text_fitness(root):
    tr, te = audio_text_split(root, "train"), audio_text_split(root, "test")
    return {
        "audio_to_jaw_r2": fitness.audio_to_jaw_r2(tr["mels"], tr["jaw"], te["mels"], te["jaw"]),
        "prosody_emotion_accuracy": fitness.prosody_emotion_accuracy(tr["prosody"], tr["emotion"],
                                                                     te["prosody"], te["emotion"]),
        "text_emotion_accuracy": fitness.text_emotion_accuracy(tr["texts"], tr["text_emotion"],
                                                               te["texts"], te["text_emotion"]),
    }


def mouth_box(landmarks, pad=1):
    """Box (x0, y0, x1, y1) in whole pixels around mouth landmarks (..., 68, 2), grown by `pad`
    pixels for the anti-aliasing filter (a lip edge on the box border blurs into its neighbour)."""
    m = np.asarray(landmarks)[..., MOUTH_SLICE, :].reshape(-1, 2)
    return (int(np.floor(m[:, 0].min())) - pad, int(np.floor(m[:, 1].min())) - pad,
            int(np.ceil(m[:, 0].max())) + pad, int(np.ceil(m[:, 1].max())) + pad)


def locality(seed=0, n=24, size=64, tol=2):
    """Render pairs that differ in one factor group and measure which pixels change.

    mouth: fraction of pixels outside the union of both frames' mouth-landmark boxes whose
    value changes by at most `tol` (of 255) when only the mouth factors change.
    pose: fraction of head pixels (non-background in either frame) that change by more than
    `tol` when only the pose changes by ~10 degrees.
    """
    rng = np.random.default_rng(seed)
    outside_same, head_moved = [], []
    for _ in range(n):
        ident = sample_identity(rng)
        emotion = EMOTIONS[rng.integers(len(EMOTIONS))]
        expr = motion.expression_track(rng, emotion, 3, 1)[0]
        mouth = rng.uniform(0, 1, (2, 4)) * [1, 1, 1, 0.3]
        pose = np.clip(rng.normal(0, motion.POSE_STD), -15, 15)
        f = np.stack([np.concatenate([m, expr, [0.0]]) for m in mouth])            # (2, 15)
        p = np.stack([pose, pose])
        prep = prepare_identity(ident, size)
        frames = render(ident, f, p, size=size, prepared=prep).astype(int)
        lm = landmarks_2d(ident.factors, f, p, size)
        x0, y0, x1, y1 = mouth_box(lm)
        changed = np.abs(frames[0] - frames[1]).max(-1) > tol
        outside = np.ones((size, size), bool)
        outside[max(y0, 0):y1, max(x0, 0):x1] = False
        outside_same.append(1 - changed[outside].mean())
        # pose: turn the head by ~10 degrees, same face
        p2 = p.copy()
        p2[1, :3] += rng.choice([-1, 1], 3) * [10, 6, 5]
        frames = render(ident, np.stack([f[0], f[0]]), p2, size=size, prepared=prep).astype(int)
        changed = np.abs(frames[0] - frames[1]).max(-1) > tol
        bg = background(ident, size)
        head = (np.abs(frames - bg).max(-1) > tol).any(0)                          # (size, size)
        head_moved.append(changed[head].mean())
    return {"mouth_locality": float(np.min(outside_same)), "mouth_locality_mean": float(np.mean(outside_same)),
            "pose_moves_head": float(np.mean(head_moved))}


def background(identity, size):
    """The identity's background gradient alone, uint8 (size, size, 3), as the renderer draws it."""
    top, bottom = np.array(identity.background[0]), np.array(identity.background[1])
    S = size * 2
    ramp = np.linspace(0, 1, S)[:, None, None]
    img = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (S, S, 3)).reshape(size, 2, size, 2, 3).mean((1, 3))
    return np.floor(np.clip(img, 0, 1) * 255 + 0.5).astype(int)


def probe_fitness(probe, root):
    from talkinglib.eval.factors import score_probe
    s = score_probe(probe, load_split_arrays(root, "test"))
    return {"probe_pose_r2": s["pose_r2"], "probe_jaw_r2": s["jaw_r2"], "probe_emotion_acc": s["emotion_acc"],
            "probe_detail": s}


def dataset_fitness(root, probe=None, locality_n=24):
    """All fitness numbers for a dataset root. Returns {name: value}; see THRESHOLDS."""
    t0 = time.time()
    out = audio_text_fitness(root)
    size = read_meta(Path(root) / ClipStore(root, "test").names[0])["size"]
    out.update(locality(n=locality_n, size=size))
    if probe is not None:
        out.update(probe_fitness(probe, root))
    out["fitness_seconds"] = time.time() - t0
    return out


def check(numbers):
    """{name: (value, threshold, passed)} for every number that has a threshold."""
    res = {}
    for k, thr in THRESHOLDS.items():
        if k in numbers:
            v = numbers[k]
            res[k] = (v, thr, v <= thr if k == "generation_seconds" else v >= thr)
    return res
