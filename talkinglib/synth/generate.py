"""Generate a SynthTalk dataset: identities x emotions x clips, split by identity.

`talkinglib synth --out DIR --seed N --preset tiny|full` calls `generate_dataset`.
Every clip draws from its own seeded stream (numpy SeedSequence([seed, kind, index])), so the
output is the same bytes whatever the number of worker processes.
"""
import json
import multiprocessing as mp
import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from talkinglib.data import clips as clipio
from talkinglib.synth import motion
from talkinglib.synth.factors import EMOTIONS, FPS, INTENSITIES, NEUTRAL
from talkinglib.synth.identity import sample_identity
from talkinglib.synth.landmarks import landmarks_2d
from talkinglib.synth.morphable import build_morphable_model
from talkinglib.synth.render import DEFAULT_VIEW, View, render
from talkinglib.synth.speech import sample_voice, synthesize_utterance

FORMAT_VERSION = 1


@dataclass(frozen=True)
class SynthConfig:
    size: int = 64                  # rendered resolution (64, 128 or 256)
    identities: int = 16            # total identities; the last `test_identities` are held out
    test_identities: int = 4
    clips_per_emotion: int = 1      # per identity; with 3, each emotion gets intensities 1, 2, 3
    seconds: float = 3.0            # clip length (75 frames at 25 fps)
    disagree_prob: float = 0.1      # clips whose transcript expresses another emotion
    frames_format: str = "npz"      # "npz" (lossless) or "mp4"
    view_half: float = DEFAULT_VIEW.half   # the camera's framing (render.View), head units: x in [-half, half],
    view_cy: float = DEFAULT_VIEW.cy       # y in [cy - half, cy + half]; a smaller half is a closer crop

    def __post_init__(self):
        if not self.view_half > 0:
            raise ValueError(f"view_half is the half-width the image shows, in head units (the face is about 1.7 "
                             f"tall; default {DEFAULT_VIEW.half}); it must be > 0, got {self.view_half}")

    @property
    def view(self):
        return View(self.view_half, self.view_cy)

    @property
    def num_frames(self):
        return int(round(self.seconds * FPS))


PRESETS = {
    "tiny": SynthConfig(),
    "full": SynthConfig(size=256, identities=48, test_identities=8, clips_per_emotion=3,
                        frames_format="mp4"),
}


def preset(name, **overrides):
    if name not in PRESETS:
        raise ValueError(f"unknown SynthTalk preset {name!r}; choose one of {sorted(PRESETS)}")
    return replace(PRESETS[name], **overrides)


def _rng(seed, kind, index):
    return np.random.default_rng(np.random.SeedSequence([seed, kind, index]))


def clip_plan(cfg: SynthConfig):
    """Every clip to make: (name, identity index, emotion, intensity or None, clip index)."""
    plan = []
    for k in range(cfg.identities):
        for emotion in EMOTIONS:
            for j in range(cfg.clips_per_emotion):
                intensity = INTENSITIES[j % 3] if cfg.clips_per_emotion >= 3 else None
                plan.append((f"id{k:03d}_{emotion}_{j}", k, emotion, intensity, len(plan)))
    return plan


def make_clip(seed, cfg: SynthConfig, identity_index, emotion, intensity=None, clip_index=0):
    """Build one clip in memory: (frames uint8 (T, H, W, 3), audio (T * 640,), meta dict)."""
    id_rng = _rng(seed, 0, identity_index)
    identity, voice = sample_identity(id_rng), sample_voice(id_rng)
    rng = _rng(seed, 1, clip_index)
    intensity = int(rng.choice(INTENSITIES)) if intensity is None else intensity
    if emotion == EMOTIONS[NEUTRAL]:
        text_emotion = emotion                                  # neutral clips carry neutral text
    elif rng.uniform() < cfg.disagree_prob:
        others = [e for e in EMOTIONS if e not in (emotion, EMOTIONS[NEUTRAL])]
        text_emotion = others[rng.integers(len(others))]
    else:
        text_emotion = emotion
    T = cfg.num_frames
    utt = synthesize_utterance(rng, emotion, intensity, voice, T, text_emotion=text_emotion)
    expression = motion.expression_track(rng, emotion, intensity, T)          # (T, 10)
    blink = motion.blink_track(rng, T)                                       # (T,)
    pose = motion.pose_track(rng, utt.energy)                               # (T, 5)
    exp_factors = np.concatenate([utt.mouth, expression, blink[:, None]], 1)  # (T, 15)
    frames = render(identity, exp_factors, pose, size=cfg.size, view=cfg.view)
    landmarks = landmarks_2d(identity.factors, exp_factors, pose, cfg.size, view=cfg.view)
    p_id, p_exp = build_morphable_model().coefficients(np.array(identity.factors), exp_factors)
    r = lambda x, d=4: np.round(np.asarray(x, np.float64), d).tolist()
    meta = {
        "identity": f"id{identity_index:03d}", "identity_params": identity.to_dict(),
        "emotion": emotion, "emotion_index": EMOTIONS.index(emotion), "intensity": intensity,
        "transcript": utt.transcript, "text_emotion": text_emotion, "size": cfg.size,
        "factors": {"mouth": r(utt.mouth), "pose": r(pose), "expression": r(expression),
                    "blink": r(blink), "energy": r(utt.energy)},
        "phonemes": [[p, round(float(a), 4), round(float(b), 4)] for p, a, b in utt.phonemes],
        "tdmm": {"p_id": r(p_id, 5), "p_exp": r(p_exp, 5)},
        "landmarks": r(landmarks, 2),
    }
    if cfg.view != DEFAULT_VIEW:                # (datasets framed by default carry no key, as before the option)
        meta["view"] = list(cfg.view)
    return frames, utt.audio, meta


def _work(args):
    root, seed, cfg, (name, k, emotion, intensity, index) = args
    frames, audio, meta = make_clip(seed, cfg, k, emotion, intensity, index)
    clipio.write_clip(Path(root) / name, frames, audio, meta, cfg.frames_format)
    return name


def _init_worker():
    import torch
    torch.set_num_threads(1)


def _describe(cfg, seed):
    config = asdict(cfg)
    if cfg.view == DEFAULT_VIEW:                # a default framing is described as before the option existed,
        del config["view_half"], config["view_cy"]   # so the datasets already made stay valid caches
    return {"format_version": FORMAT_VERSION, "seed": seed, "config": config}


def is_complete(root, cfg, seed):
    """True if `root` holds exactly this dataset (same config, seed and format version)."""
    root = Path(root)
    try:
        if json.loads((root / "dataset.json").read_text()) != _describe(cfg, seed):
            return False
    except (OSError, ValueError):
        return False
    return all((root / name / "meta.json").is_file() for name, *_ in clip_plan(cfg))


def generate_dataset(root, seed=0, cfg: SynthConfig = PRESETS["tiny"], workers=None, progress=True,
                     overwrite=False):
    """Write the dataset to `root` and return its path. Reuses a complete identical dataset."""
    root = Path(root)
    if is_complete(root, cfg, seed) and not overwrite:
        return root
    if root.exists() and any(root.iterdir()):
        if not overwrite and not (root / "dataset.json").is_file():
            raise FileExistsError(f"{root} exists and is not a SynthTalk dataset; choose an empty "
                                  "folder (nothing is deleted without overwrite=True / --overwrite)")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    plan = clip_plan(cfg)
    workers = workers or min(len(plan), os.cpu_count() or 1)
    jobs = [(str(root), seed, cfg, p) for p in plan]
    t0 = time.time()
    bar = tqdm(total=len(jobs), desc=f"SynthTalk {cfg.size}px", unit="clip", disable=not progress)
    if workers > 1:
        with mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
            for _ in pool.imap_unordered(_work, jobs, chunksize=2):
                bar.update()
    else:
        for job in jobs:
            _work(job)
            bar.update()
    bar.close()
    test_ids = {f"id{k:03d}" for k in range(cfg.identities - cfg.test_identities, cfg.identities)}
    names = [p[0] for p in plan]
    splits = {"train": [n for n in names if n[:5] not in test_ids],
              "test": [n for n in names if n[:5] in test_ids]}
    clipio.write_json(root / "splits.json", splits)
    clipio.write_json(root / "dataset.json", _describe(cfg, seed))      # written last: marks completion
    if progress:
        print(f"wrote {len(plan)} clips to {root} in {time.time() - t0:.1f} s")
    return root


def default_root(preset_name="tiny", seed=0):
    """Where notebooks cache the default dataset: $TALKINGLIB_DATA or <repo>/data/synthtalk."""
    base = os.environ.get("TALKINGLIB_DATA") or Path(__file__).resolve().parents[2] / "data" / "synthtalk"
    return Path(base) / f"{preset_name}-seed{seed}"


def ensure_dataset(preset_name="tiny", seed=0, root=None, progress=True):
    """The cached default dataset, generated on first use (under a minute for `tiny`)."""
    return generate_dataset(root or default_root(preset_name, seed), seed, preset(preset_name),
                            progress=progress)
