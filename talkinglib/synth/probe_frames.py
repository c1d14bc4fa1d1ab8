"""Independent random frames for training the factor probe.

A probe trained only on a dataset's dozen training identities learns those faces, not the
factors. These frames draw a new identity every `frames_per_identity` frames and the factors
independently of each other (mouth shapes from a synthesised utterance, pose over its whole
range, emotion x intensity per frame, blinks), from a seed
stream that no dataset clip uses, so a dataset's test identities stay unseen.
"""
import multiprocessing as mp
import os
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from talkinglib.synth import motion
from talkinglib.synth.factors import EMOTIONS, INTENSITIES
from talkinglib.synth.identity import sample_identity
from talkinglib.synth.render import DEFAULT_VIEW, View, render
from talkinglib.synth.speech import sample_voice, synthesize_utterance

PROBE_STREAM = 2          # SeedSequence([seed, PROBE_STREAM, i]); datasets use streams 0 and 1


def _identity_frames(args):
    seed, i, n, size, view = args
    rng = np.random.default_rng(np.random.SeedSequence([seed, PROBE_STREAM, i]))
    ident = sample_identity(rng)
    emotion = rng.integers(len(EMOTIONS), size=n)
    expression = np.stack([motion.expression_track(rng, EMOTIONS[e], int(rng.choice(INTENSITIES)), 1)[0]
                           for e in emotion])                                            # (n, 10)
    # mouths from real SynthTalk speech, so the jaw/closure mix (many rest frames) is the clips' own
    utt = synthesize_utterance(rng, EMOTIONS[rng.integers(len(EMOTIONS))], int(rng.choice(INTENSITIES)),
                               sample_voice(rng), num_frames=n)
    mouth = utt.mouth[rng.permutation(n)].astype(np.float32)                           # (n, 4)
    blink = np.where(rng.uniform(size=n) < 0.2, rng.uniform(0, 1, n), 0.0).astype(np.float32)
    pose = rng.uniform(-1, 1, (n, 5)) * motion.POSE_LIMIT * 0.9
    f = np.concatenate([mouth, expression, blink[:, None]], 1)
    frames = render(ident, f, pose, size=size, view=view)
    return {"images": frames, "mouth": mouth, "pose": pose.astype(np.float32),
            "expression": expression.astype(np.float32), "emotion": emotion.astype(np.int64)}


def _init_worker():
    import torch
    torch.set_num_threads(1)


def make_probe_frames(seed=0, n_identities=400, frames_per_identity=40, size=64, workers=None, progress=True,
                      view=DEFAULT_VIEW):
    """{"images" uint8 (N, H, W, 3), "mouth" (N, 4), "pose" (N, 5), "expression" (N, 10), "emotion" (N,)},
    framed by `view` (render.View) as the dataset they join."""
    jobs = [(seed, i, frames_per_identity, size, View(*view)) for i in range(n_identities)]
    workers = workers or min(os.cpu_count() or 1, n_identities)
    parts = []
    bar = tqdm(total=len(jobs), desc="probe frames", unit="identity", disable=not progress)
    if workers > 1:
        with mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
            for part in pool.imap(_identity_frames, jobs, chunksize=4):        # ordered: deterministic
                parts.append(part)
                bar.update()
    else:
        for job in jobs:
            parts.append(_identity_frames(job))
            bar.update()
    bar.close()
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def cached_probe_frames(path, **kwargs):
    """make_probe_frames, cached as an npz at `path` (regenerated if the arguments that shape the
    data differ; `progress` and `workers` do not, so they are not part of the key)."""
    path = Path(path)
    key = np.array(repr(sorted((k, v) for k, v in kwargs.items() if k not in ("progress", "workers"))))
    if path.is_file():
        with np.load(path) as z:
            if str(z["key"]) == str(key):
                return {k: z[k] for k in z.files if k != "key"}
    data = make_probe_frames(**kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, key=key, **data)
    os.replace(tmp, path)
    return data


def dataset_probe_frames(root, n_identities, frames_per_identity, size, refusal, progress=True):
    """The random-frame identities of a SynthTalk dataset's seed, cached beside it as
    probe_frames_{N}x{F}.npz (make_probe_frames' dict). A folder that is not SynthTalk (real clips
    have no seed) raises ValueError(f"{root} is not a SynthTalk dataset{refusal}"). The frames are
    framed as the dataset's clips (its view_half, view_cy)."""
    import json
    info = json.loads((Path(root) / "dataset.json").read_text())
    if "seed" not in info:
        raise ValueError(f"{root} is not a SynthTalk dataset{refusal}")
    config = info.get("config", {})
    view = View(config.get("view_half", DEFAULT_VIEW.half), config.get("view_cy", DEFAULT_VIEW.cy))
    framing = {} if view == DEFAULT_VIEW else {"view": tuple(view)}    # (default: the cache key of before)
    name = f"probe_frames_{n_identities}x{frames_per_identity}.npz"
    return cached_probe_frames(Path(root) / name, seed=info["seed"], size=size, n_identities=n_identities,
                               frames_per_identity=frames_per_identity, progress=progress, **framing)
