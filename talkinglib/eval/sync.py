"""Lip-sync scores with a SyncNet expert: offset search, confidence (Sync_conf) and distance (LSE-D).

Implements: RETA D.4.2 (Sync_c, RETA Eq. 12) / Chung & Zisserman's evaluation. For each frame t,
the face window around t and the audio window of frame t + δ are embedded; d_t(δ) = ‖v_t − s_{t+δ}‖₂
(unit embeddings). D(δ) = mean_t d_t(δ) over the frames where t + δ exists. Then
    offset = argmin_δ D(δ),   LSE-D = min_δ D(δ),   Sync_conf = median_δ D(δ) − min_δ D(δ),
δ ∈ [−15, 15]. A clip whose audio is delayed by k frames has its minimum at δ = k.

    stats = sync_scores(net, frames, mel)   # frames (T, 3, H, W) in [-1, 1], mel (T, 1, 80, 16)
"""
import torch


@torch.no_grad()
def embed_clip(net, frames, mel, batch=128):
    """Face embeddings of every full window (centres t = 2 .. T−3) and audio embeddings of every frame.
    Returns (v (T−4, D) for centres 2..T−3, s (T, D))."""
    F = net.cfg.frames
    h = F // 2
    T = len(frames)
    if T < F or len(mel) != T:
        raise ValueError(f"need >= {F} frames and one mel window per frame; got {T} frames, {len(mel)} windows")
    dev = next(net.parameters()).device
    windows = torch.stack([frames[t - h:t + h + 1] for t in range(h, T - h)])        # (T−2h, F, 3, H, W)
    v = torch.cat([net.embed_face(net.face_input(windows[i:i + batch].to(dev))) for i in range(0, len(windows), batch)])
    s = torch.cat([net.embed_audio(mel[i:i + batch].to(dev)) for i in range(0, T, batch)])
    return v.cpu(), s.cpu()


def offset_distances(v, s, max_offset=15, first=2):
    """D(δ) for δ = −max_offset .. max_offset: v (M, D) faces centred at first .. first+M−1, s (T, D)."""
    centres = torch.arange(first, first + len(v))
    out = []
    for d in range(-max_offset, max_offset + 1):
        idx = centres + d
        ok = (idx >= 0) & (idx < len(s))
        if not ok.any():
            out.append(float("nan"))
            continue
        out.append((v[ok] - s[idx[ok]]).norm(dim=-1).mean().item())
    return torch.tensor(out)


def sync_scores(net, frames, mel, max_offset=15):
    """{"offset", "confidence" (Sync_conf), "distance" (LSE-D), "curve" D(δ) as a list}."""
    v, s = embed_clip(net.eval(), frames, mel)
    D = offset_distances(v, s, max_offset, first=net.cfg.frames // 2)
    valid = D[~torch.isnan(D)]
    i = int(torch.nan_to_num(D, nan=float("inf")).argmin())
    return {"offset": i - max_offset, "confidence": float(valid.median() - valid.min()),
            "distance": float(valid.min()), "curve": D.tolist()}


@torch.no_grad()
def pair_accuracy(net, pairs, n=512, seed=123, min_shift=5):
    """On n face windows, each with its own audio and one shifted window of the same clip:
    "ranking" = how often S(in sync) > S(shifted), "accuracy" = S > 0.5 read as a yes/no answer on
    both (2n answers), and the mean S of each."""
    g = torch.Generator().manual_seed(seed)
    face, mel = pairs.sample(g, n, 1, min_shift)
    net = net.eval()
    p = torch.cat([torch.stack([net.sync_probability(mel[i:i + 128, k], face[i:i + 128]) for k in (0, 1)], 1)
                   for i in range(0, n, 128)])                                  # (n, 2): in sync, shifted
    return {"ranking": float((p[:, 0] > p[:, 1]).float().mean()),
            "accuracy": float(((p[:, 0] > 0.5).float().mean() + (p[:, 1] <= 0.5).float().mean()) / 2),
            "p_sync": float(p[:, 0].mean()), "p_off": float(p[:, 1].mean())}
