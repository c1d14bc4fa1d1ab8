"""Losses of the expert networks trained on SynthTalk's known factors."""
import torch.nn.functional as F


PROBE_WEIGHTS = {"mouth": 3.0, "pose": 3.0, "expression": 1.0, "emotion": 2.0}


def probe_loss(pred, target, weights=PROBE_WEIGHTS):
    """Factor probe: L = Σ_{k∈mouth,pose,expression} λ_k ||ŷ_k − y_k||² / n_k + λ_e CE(emotion).

    pred and target are dicts; regression entries are standardised (B, n_k); target["emotion"] (B,).
    Mouth and pose weigh 3, emotion 2: they are what later notebooks measure transfer with.
    Returns (total, parts dict of unweighted floats).
    """
    parts = {k: F.mse_loss(pred[k], target[k]) for k in ("mouth", "pose", "expression")}
    parts["emotion"] = F.cross_entropy(pred["emotion"], target["emotion"])
    total = sum(weights[k] * v for k, v in parts.items())
    return total, {k: v.item() for k, v in parts.items()}
