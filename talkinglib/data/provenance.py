"""What a model was trained on, and whether a photo looks like it.

Every checkpoint that talkinglib's Trainer writes records its dataset in config["data"]
(describe_dataset): the folder, where its clips came from ("synthtalk", or the corpus `talkinglib
prepare` read: "mead", "hdtf", "videos"), the frame size, and `detail`, how much fine texture its frames
carry: the mean |discrete Laplacian| of a frame in [-1, 1], 99th percentile over 128 training frames.

SynthTalk renders smooth faces: its 64² frames have detail 0.06–0.14 (tiny-seed0, 1 %–99 %; the 99th
percentile is 0.138–0.153 on tiny-seed0..5), and its test faces as generate crops them from a 256²
upscale 0.053–0.065. A real photo's face at 64² carries more: skimage's astronaut 0.23. A model that
never saw such texture draws it as a smear, so generate says so when a photo's face has more than
DETAIL_MARGIN times its training frames' detail (outside_training). The check is one-sided and coarse:
a blurred photo (the astronaut shrunk to 96² and back: 0.10) passes it unwarned.
"""
import json
from pathlib import Path

import numpy as np
import torch

DETAIL_MARGIN = 1.3        # a photo's detail / the training frames' 99th percentile above which generate warns


def image_detail(x):
    """Mean |4 x − (its 4 neighbours)| per image: x (B, 3, H, W) in [-1, 1] -> (B,). Flat regions give 0."""
    lap = 4 * x[..., 1:-1, 1:-1] - x[..., :-2, 1:-1] - x[..., 2:, 1:-1] - x[..., 1:-1, :-2] - x[..., 1:-1, 2:]
    return lap.abs().flatten(1).mean(1)


def describe_dataset(root, clips=16, per_clip=8, seed=0):
    """{"root", "source", "size", "detail"} of a dataset folder (what a checkpoint records as its data).
    detail: the 99th percentile of image_detail over per_clip frames of each of `clips` training clips."""
    from talkinglib.data.clips import read_frames, read_splits
    from talkinglib.data.datasets import to_tensor_images
    root = Path(root)
    info = json.loads((root / "dataset.json").read_text()) if (root / "dataset.json").is_file() else {}
    source = info.get("prepared_from") or ("synthtalk" if "seed" in info else "unknown")
    names = sorted(read_splits(root)["train"])
    rng = np.random.default_rng(seed)
    frames = []
    for c in rng.choice(len(names), size=min(clips, len(names)), replace=False):
        clip = read_frames(root / names[int(c)])
        frames += [clip[int(t)] for t in rng.choice(len(clip), size=min(per_clip, len(clip)), replace=False)]
    detail = image_detail(to_tensor_images(np.stack(frames)))
    return {"root": str(root), "source": source, "size": int(frames[0].shape[0]),
            "detail": round(float(torch.quantile(detail, 0.99)), 4)}


def outside_training(data, face):
    """A one-line note when `face` (1, 3, S, S) in [-1, 1], the photo's crop at the model's size, has more fine
    detail than the model's training frames ever had (DETAIL_MARGIN), else None. data: the checkpoint's
    config["data"] (None, or without "detail", for a checkpoint that does not record it: nothing to compare)."""
    if not data or "detail" not in data:
        return None
    have = float(image_detail(face.float().cpu())[0])
    if have <= DETAIL_MARGIN * data["detail"]:
        return None
    what = "SynthTalk's rendered faces" if data.get("source") == "synthtalk" else f"{data.get('source')} frames"
    return (f"the photo is outside what this model learned: its face has fine detail {have:.3f}, the model's training "
            f"frames at most {data['detail']:.3f} ({what}, {data.get('root')}), so expect a smear. For real photos "
            "use a model trained on real video, e.g. the official EDTalk weights (`talkinglib weights fetch edtalk`, "
            "then generate without --checkpoint)")
