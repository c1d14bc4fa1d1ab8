"""Lip sync of audio-driven EDTalk on SynthTalk, measured: the probe's jaw against the ground truth,
and a SyncNet's confidence on generated clips against real ones.

For every clip of a split (test identities by default) the clip's first frame is the source; pose
and expression come from the clip's own frames (W^p, W^e read by the frozen EDTalk), and the mouth
from one of
- "audio": Ŵ^m = Audio2Lip(mel windows of the clip's audio)        (EDTalk-A's mouth)
- "video": W^m = MLN(E(I_t)) of the clip's own frames             (the ceiling E and G allow)
and the real frames themselves are scored as the reference row. Columns: jaw R² (probe reading
of the output against the true jaw opening), jaw correlation, Sync_conf and LSE-D (eval/sync.py).
"""
import numpy as np
import torch

from talkinglib.errors import InputError
from talkinglib.eval.factors import r2_score


@torch.no_grad()
def lip_sync_rows(edtalk, audio2lip, probe, data_root, syncnet=None, split="test", max_clips=None,
                  mouth_sources=("audio", "video"), batch=128, pose="frames", expression="frames", source="first"):
    """{row: {"jaw_r2", "jaw_corr", "sync_conf", "lse_d", "clips"}} for rows "real" and each mouth source.
    pose, expression: "frames" (W^p / W^e of the clip's own frames) or "still" (the first frame's throughout).
    source: "first" (the clip's first frame) or "neutral" (the first frame of the speaker's neutral clip in the
    split, as EDTalk evaluates emotional clips, EDTalk A.2.2: the clip is the expression reference, EEM adds it once)."""
    for name, value in (("pose", pose), ("expression", expression)):
        if value not in ("frames", "still"):
            raise InputError(f"{name} must be 'frames' or 'still', not {value!r}")
    if source not in ("first", "neutral"):
        raise InputError(f"source must be 'first' or 'neutral', not {source!r}")
    from talkinglib.data.clips import FPS
    from talkinglib.data.datasets import ClipStore, frame_factors, to_tensor_images
    from talkinglib import audio as tl_audio
    from talkinglib.eval.sync import sync_scores
    from talkinglib.data.bank_targets import BankTargets
    from talkinglib.inference.render import fast_path
    from talkinglib.models.edtalk import generate_window

    edtalk, audio2lip, probe = edtalk.eval(), audio2lip.eval(), probe.eval()
    store = ClipStore(data_root, split)
    targets = BankTargets(edtalk, store, batch=batch)
    clips = range(len(store)) if max_clips is None else range(min(max_clips, len(store)))
    neutral = {m.get("identity"): c for c, m in enumerate(store.metas) if m.get("emotion") == "neutral"}
    if source == "neutral":
        missing = sorted({str(store.metas[c].get("identity")) for c in clips} - set(map(str, neutral)))
        if missing:
            raise InputError(f"source='neutral' needs a neutral clip of every speaker in the {split} split; "
                             f"{missing} have none (emotion labels as MEAD's): use source='first'")
    rows = {r: {"jaw_true": [], "jaw_read": [], "conf": [], "dist": []} for r in ("real",) + tuple(mouth_sources)}
    for c in clips:
        frames = to_tensor_images(store.frames(c))                              # (T, 3, H, W)
        mel = tl_audio.mel_windows(store.audio(c), fps=FPS)                     # (T, 1, 80, 16)
        jaw = frame_factors(store.metas[c])["mouth"][:, 0]
        w = dict(targets[c])                                                    # W^m, W^p, W^e of the frames
        image = frames[:1] if source == "first" else \
            to_tensor_images(store.frames(neutral[store.metas[c]["identity"]])[:1])   # (1, 3, H, W) I_s
        for name, value in (("pose", pose), ("expression", expression)):
            if value == "still":
                w[name] = w[name][:1].expand_as(w[name])
        outputs = {"real": frames}
        with fast_path(edtalk):                                                 # G's shared-weight form
            if "audio" in mouth_sources:
                w_audio = audio2lip(mel, batch=1, frames=len(mel))[0]           # Ŵ^m (T, 20)
                outputs["audio"] = generate_window(edtalk, image, w_audio[None], w["pose"][None],
                                                   w["expression"][None])[0]
            if "video" in mouth_sources:
                outputs["video"] = generate_window(edtalk, image, w["mouth"][None], w["pose"][None],
                                                   w["expression"][None])[0]
        for r, x in outputs.items():
            read = torch.cat([probe(x[i:i + batch])["mouth"][:, 0] for i in range(0, len(x), batch)])
            rows[r]["jaw_true"].append(jaw)
            rows[r]["jaw_read"].append(read.numpy())
            if syncnet is not None:
                s = sync_scores(syncnet, x, mel)
                rows[r]["conf"].append(s["confidence"])
                rows[r]["dist"].append(s["distance"])
    out = {}
    for r, v in rows.items():
        t, p = np.concatenate(v["jaw_true"]), np.concatenate(v["jaw_read"])
        out[r] = {"jaw_r2": float(r2_score(t, p)[0]), "jaw_corr": float(np.corrcoef(t, p)[0, 1]),
                  "sync_conf": float(np.mean(v["conf"])) if v["conf"] else None,
                  "lse_d": float(np.mean(v["dist"])) if v["dist"] else None, "clips": len(v["jaw_true"])}
    return out


def format_rows(rows):
    lines = ["| mouth from | probe jaw R² | jaw corr | Sync_conf | LSE-D |", "|---|---|---|---|---|"]
    for r, v in rows.items():
        conf = "–" if v["sync_conf"] is None else f"{v['sync_conf']:.3f}"
        dist = "–" if v["lse_d"] is None else f"{v['lse_d']:.3f}"
        lines.append(f"| {r} | {v['jaw_r2']:.3f} | {v['jaw_corr']:.3f} | {conf} | {dist} |")
    return "\n".join(lines)
