"""PyTorch datasets over the on-disk clip format (clips.py). Real data prepared later uses them too.

- `FrameDataset`: single frames with their per-frame factors (the factor probe trains on it).
- `FramePairDataset`: (source, driving) frames of one identity (EDTalk's self-/cross-reconstruction).
- `WindowDataset`: T consecutive frames with their aligned mel windows (audio-driven stages).

Images are float32 (3, H, W) in [-1, 1]; clips are (T, 3, H, W); mel windows (T, 1, 80, 16).
"""
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from talkinglib import audio as tl_audio
from talkinglib.data import clips as clipio
from talkinglib.errors import InputError


def to_tensor_images(frames):
    """uint8 (..., H, W, 3) -> float32 (..., 3, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).float().div_(127.5).sub_(1.0)
    return x.movedim(-1, -3)


def to_uint8_images(x):
    """float (..., 3, H, W) in [-1, 1] -> uint8 numpy (..., H, W, 3)."""
    x = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).cpu().numpy()


def frame_factors(meta):
    """Per-frame targets as float32 arrays: mouth (T, 4), pose (T, 5), expression (T, 10), emotion (T,)."""
    if "factors" not in meta or meta.get("emotion_index") is None:
        raise clipio.ClipFormatError(
            f"clip of {meta.get('identity')!r} has no ground-truth factors or emotion label: it is real data "
            "(talkinglib prepare). Factor targets exist only for SynthTalk; use a SynthTalk dataset for this")
    f = meta["factors"]
    T = meta["num_frames"]
    return {
        "mouth": np.asarray(f["mouth"], np.float32), "pose": np.asarray(f["pose"], np.float32),
        "expression": np.asarray(f["expression"], np.float32),
        "emotion": np.full(T, meta["emotion_index"], np.int64),
        "landmarks": np.asarray(meta["landmarks"], np.float32),
    }


class ClipStore:
    """Clips of one split of a dataset root, decoded on demand and kept in a small LRU cache."""

    def __init__(self, root, split="train", cache_clips=256):
        self.root = Path(root)
        splits = clipio.read_splits(self.root)
        if split not in splits:
            raise InputError(f"split {split!r} not in {self.root}/splits.json (has {sorted(splits)})")
        self.names = list(splits[split])
        if not self.names:
            raise InputError(f"split {split!r} of {self.root} is empty")
        self.metas = [clipio.read_meta(self.root / n) for n in self.names]
        self._cache, self._cache_size = OrderedDict(), cache_clips

    def __len__(self):
        return len(self.names)

    def frames(self, i):
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        x = clipio.read_frames(self.root / self.names[i])
        self._cache[i] = x
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return x

    def audio(self, i):
        return tl_audio.read_wav(self.root / self.names[i] / "audio.wav")

    def identities(self):
        return [m["identity"] for m in self.metas]

    def identity_image(self, i):
        """The evaluation protocol's identity image for clip i: the first frame of that identity's
        first neutral clip (so emotion in an output must come from the driver); for real data
        without emotion labels (HDTF), its first unlabelled clip. uint8 (H, W, 3)."""
        ident = self.metas[i]["identity"]
        mine = [c for c, m in enumerate(self.metas) if m["identity"] == ident]
        c = next((c for c in mine if self.metas[c]["emotion"] == "neutral"),
                 next((c for c in mine if self.metas[c]["emotion"] is None), None))
        if c is None:
            raise InputError(f"identity {ident} has no neutral (or unlabelled) clip to take the identity image from")
        return self.frames(c)[0]


class ClipMedia:
    """Frames and mel windows of one split's clips, decoded when first asked for and kept (the
    audio stages sample windows from them).

        media = ClipMedia(root, "train")
        media.frames(c)     # (T, 3, H, W) in [-1, 1]; media.frames(c, slice(2, 7)) converts only those
        media.mel(c)        # (T, 1, 80, 16): one Wav2Lip/EDTalk mel window per frame
    """

    def __init__(self, root, split="train"):
        self.store = ClipStore(root, split)                     # decoded clips stay in its LRU cache
        self._mel, self._wav = {}, {}

    def __len__(self):
        return len(self.store)

    def num_frames(self, c):
        return self.store.metas[c]["num_frames"]

    def frames(self, c, index=slice(None)):
        return to_tensor_images(self.store.frames(c)[index])       # only the selected frames are converted

    def audio(self, c):
        """The clip's 16 kHz waveform (N,) as a float32 tensor, read once and kept."""
        if c not in self._wav:
            self._wav[c] = torch.as_tensor(self.store.audio(c), dtype=torch.float32)
        return self._wav[c]

    def mel(self, c):
        if c not in self._mel:
            self._mel[c] = tl_audio.mel_windows(self.store.audio(c), fps=clipio.FPS)
        return self._mel[c]


class FrameDataset(Dataset):
    """Every frame of a split: {"image" (3, H, W), "mouth" (4,), "pose" (5,), "expression" (10,), "emotion"}."""

    def __init__(self, root, split="train"):
        self.store = ClipStore(root, split)
        self.factors = [frame_factors(m) for m in self.store.metas]
        self.index = [(c, t) for c, m in enumerate(self.store.metas) for t in range(m["num_frames"])]

    def __len__(self):
        return len(self.index)

    def __getitem__(self, k):
        c, t = self.index[k]
        item = {name: torch.as_tensor(v[t]) for name, v in self.factors[c].items()}
        item["image"] = to_tensor_images(self.store.frames(c)[t])
        return item


class FramePairDataset(Dataset):
    """(source, driving) frames of the same identity, from any of its clips in the split.

    Item k is deterministic given (seed, k): the driving frame is frame k of the split; the
    source is drawn from the same identity with a generator seeded by (seed, k).
    """

    def __init__(self, root, split="train", seed=0):
        self.frames = FrameDataset(root, split)
        self.seed = seed
        by_id = {}
        for k, (c, _) in enumerate(self.frames.index):
            by_id.setdefault(self.frames.store.metas[c]["identity"], []).append(k)
        self.same_identity = [by_id[self.frames.store.metas[c]["identity"]] for c, _ in self.frames.index]

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, k):
        g = np.random.default_rng([self.seed, k])
        pool = self.same_identity[k]
        src = self.frames[pool[g.integers(len(pool))]]
        drv = self.frames[k]
        return {"source": src["image"], "driving": drv["image"],
                **{f"driving_{n}": v for n, v in drv.items() if n != "image"}}


class WindowDataset(Dataset):
    """Windows of `window` consecutive frames with aligned mel windows and factors.

    Item: {"frames" (T, 3, H, W), "mel" (T, 1, 80, 16), "mouth" (T, 4), "pose" (T, 5),
    "expression" (T, 10), "emotion" (), "clip" index}. Windows start every `stride` frames.
    """

    def __init__(self, root, split="train", window=5, stride=None):
        self.store = ClipStore(root, split)
        self.window, stride = window, stride or window
        self.factors = [frame_factors(m) for m in self.store.metas]
        self._mel = {}
        self.index = [(c, s) for c, m in enumerate(self.store.metas)
                      for s in range(0, m["num_frames"] - window + 1, stride)]
        if not self.index:
            raise InputError(f"no clip in {root} has {window} frames")

    def mel(self, c):
        if c not in self._mel:
            self._mel[c] = tl_audio.mel_windows(self.store.audio(c), fps=clipio.FPS)   # (T, 1, 80, 16)
        return self._mel[c]

    def __len__(self):
        return len(self.index)

    def __getitem__(self, k):
        c, s = self.index[k]
        sl = slice(s, s + self.window)
        f = self.factors[c]
        return {"frames": to_tensor_images(self.store.frames(c)[sl]), "mel": self.mel(c)[sl],
                "mouth": torch.as_tensor(f["mouth"][sl]), "pose": torch.as_tensor(f["pose"][sl]),
                "expression": torch.as_tensor(f["expression"][sl]),
                "emotion": torch.as_tensor(f["emotion"][s]), "clip": c}


def load_split_arrays(root, split="train"):
    """Every frame of a split in memory: {"images" uint8 (N, H, W, 3), "mouth" (N, 4), "pose" (N, 5),
    "expression" (N, 10), "emotion" (N,), "identity" (N,) str}. For tiny datasets (tens of MB)."""
    store = ClipStore(root, split)
    parts = {k: [] for k in ("images", "mouth", "pose", "expression", "emotion", "identity")}
    for i, meta in enumerate(store.metas):
        f = frame_factors(meta)
        parts["images"].append(store.frames(i))
        for k in ("mouth", "pose", "expression", "emotion"):
            parts[k].append(f[k])
        parts["identity"].append(np.full(meta["num_frames"], meta["identity"]))
    return {k: np.concatenate(v) for k, v in parts.items()}
