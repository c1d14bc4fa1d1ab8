"""Scores against SynthTalk's ground-truth factors."""
import numpy as np
import torch


def r2_score(y_true, y_pred):
    """Coefficient of determination per column: 1 − Σ(y − ŷ)² / Σ(y − ȳ)². (N, k) -> (k,)."""
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    if y_true.ndim == 1:
        y_true, y_pred = y_true[:, None], y_pred[:, None]
    ss_res = ((y_true - y_pred) ** 2).sum(0)
    ss_tot = ((y_true - y_true.mean(0)) ** 2).sum(0)
    return 1 - ss_res / np.maximum(ss_tot, 1e-12)


@torch.no_grad()
def probe_predictions(probe, images_uint8, batch_size=256):
    """Run the probe over uint8 frames (N, H, W, 3) -> dict of numpy arrays."""
    from talkinglib.data.datasets import to_tensor_images
    probe.eval()
    outs = []
    for i in range(0, len(images_uint8), batch_size):
        outs.append(probe(to_tensor_images(images_uint8[i:i + batch_size])))
    return {k: torch.cat([o[k] for o in outs]).numpy() for k in outs[0]}


def score_probe(probe, data):
    """Probe quality on frames with known factors. data: dict from `load_split_arrays`."""
    from talkinglib.synth.factors import MOUTH, POSE
    pred = probe_predictions(probe, data["images"])
    mouth_r2, pose_r2 = r2_score(data["mouth"], pred["mouth"]), r2_score(data["pose"], pred["pose"])
    return {
        "jaw_r2": float(mouth_r2[MOUTH.index("jaw")]),
        **{f"{k}_r2": float(v) for k, v in zip(MOUTH[1:], mouth_r2[1:])},
        "pose_r2": float(pose_r2.mean()),
        **{f"{k}_r2": float(v) for k, v in zip(POSE, pose_r2)},
        "expression_r2": float(r2_score(data["expression"], pred["expression"]).mean()),
        "emotion_acc": float((pred["emotion"].argmax(1) == data["emotion"]).mean()),
    }
