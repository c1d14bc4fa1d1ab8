"""Losses of the expert networks trained on SynthTalk's known factors."""
import torch.nn.functional as F


def probe_loss(pred, target):
    """Factor probe: L = Σ_{k∈mouth,pose,expression} ||ŷ_k − y_k||² / n_k + CE(emotion).

    pred and target are dicts; regression entries are standardised (B, n_k); target["emotion"] (B,).
    Returns (total, parts dict of floats).
    """
    parts = {k: F.mse_loss(pred[k], target[k]) for k in ("mouth", "pose", "expression")}
    parts["emotion"] = F.cross_entropy(pred["emotion"], target["emotion"])
    total = sum(parts.values())
    return total, {k: v.item() for k, v in parts.items()}
