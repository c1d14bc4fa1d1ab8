"""`talkinglib evaluate`: a pipeline on a dataset split, scored with the papers' metrics.

    talkinglib evaluate --mode reta --checkpoint data/checkpoints/reta_tiny.pt --data data/synthtalk/tiny-seed0 --out runs/eval_reta
    rows = evaluate_clips(generate, root, split="test", scorers=Scorers(probe, syncnet, lpips_net, fid_net))

Protocol (EDTalk §4.1, RETA D.4): for every clip of the split, the identity image is the first frame
of that identity's neutral clip and the model regenerates the clip:
- reta      from the clip's audio alone;
- edtalk-a  mouth from the audio (Audio2Lip), pose from the real frames (a pose video), expression
            from the real clip (ELN over its frames), as EDTalk evaluates its audio-driven mode;
- edtalk-v  mouth, pose and expression from the real frames (self-reenactment).

Per clip (clips.json): psnr, ssim (eval/image_metrics.py), lpips (AlexNet LPIPS v0.1), sync_conf and
lse_d (SyncNet offset search, eval/sync.py), the probe's emotion hit and jaw readings. Over the
split (table.md, table.csv): their means, the jaw R² against SynthTalk's true jaw, emotion accuracy,
and FID over all frames (eval/fid.py). A metric whose network is missing (LPIPS's AlexNet, FID's
Inception: `talkinglib weights fetch alexnet`, `... fetch inception_fid`) is reported as missing, never faked.
Landmark distances (M-LMD/F-LMD) and AKD/AED are not computed yet.
"""
import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from talkinglib.eval.factors import r2_score

MODES = ("edtalk-a", "edtalk-v", "reta")
COLUMNS = ("psnr", "ssim", "lpips", "fid", "jaw_r2", "sync_conf", "lse_d", "emotion_acc", "clips")


def lpips_alex(weights="pretrained"):
    """LPIPS v0.1 with AlexNet (the lpips package; its linear layers ship in the wheel). The AlexNet
    backbone comes from the registry ("alexnet", torchvision's ImageNet weights), never downloaded
    here; weights="random" keeps it random (tests). Returns a callable (a, b) -> (N,) distances."""
    import lpips
    net = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False).eval()
    if weights == "pretrained":
        from talkinglib import weights as registry
        tv = registry.load("alexnet")                                      # features.i.* of torchvision's AlexNet
        own = net.net.state_dict()
        mapped = {k: tv["features." + k.split(".", 1)[1]] for k in own}    # sliceK.i.param <- features.i.param
        net.net.load_state_dict(mapped)
    elif weights != "random":
        raise ValueError(f"weights must be 'pretrained' or 'random', got {weights!r}")
    for p in net.parameters():
        p.requires_grad_(False)
    return lambda a, b: net(a, b, normalize=False).flatten()             # inputs in [-1, 1]


@dataclass
class Scorers:
    probe: object                     # SynthTalk's factor probe: jaw and emotion readings
    syncnet: object = None            # Sync_conf / LSE-D
    lpips: object = None              # lpips_alex()
    fid: object = None                # eval.fid.fid_inception()
    missing: tuple = ()               # (metric, why) for what could not be built


def default_scorers(probe, syncnet=None, device="cpu"):
    """The probe and SyncNet given; LPIPS and FID from the registry when their weights are local,
    else recorded as missing with the command that fetches them."""
    from talkinglib.eval.fid import fid_inception
    from talkinglib.weights import WeightsError
    s, missing = Scorers(probe, syncnet), []
    try:
        s.lpips = lpips_alex()
    except WeightsError:
        missing.append(("lpips", "talkinglib weights fetch alexnet"))
    try:
        s.fid = fid_inception().to(device)
    except WeightsError:
        missing.append(("fid", "talkinglib weights fetch inception_fid"))
    s.missing = tuple(missing)
    return s


def make_generator(mode, model, audio2lip=None, batch_size=32):
    """generate(source (1, 3, S, S), real frames (T, 3, S, S), wav (N,)) -> frames (T, 3, S, S)."""
    if mode == "reta":
        from talkinglib.inference.reta import RETAPipeline
        pipe = RETAPipeline(model, batch_size)
        return lambda source, real, wav: pipe(source, wav)
    if mode == "edtalk-a":
        from talkinglib.inference.edtalk_a import EDTalkA
        if audio2lip is None:
            raise ValueError("edtalk-a needs an Audio2Lip model (--audio2lip)")
        pipe = EDTalkA(model, audio2lip, batch_size=batch_size)
        return lambda source, real, wav: pipe(source, wav, pose=real, expression=real)
    if mode == "edtalk-v":
        def generate(source, real, wav):
            with torch.no_grad():
                code = model.encode(source)
                return torch.cat([model.animate(code, mouth=real[i:i + batch_size], pose=real[i:i + batch_size],
                                                expression=real[i:i + batch_size]) for i in range(0, len(real), batch_size)])
        return generate
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


@torch.no_grad()
def evaluate_clips(generate, root, scorers, split="test", max_clips=None, device="cpu", progress=True):
    """({metric: value} over the split, [per-clip dicts]). See the module docstring."""
    from tqdm.auto import tqdm
    from talkinglib import audio as tl_audio
    from talkinglib.data.datasets import ClipStore, frame_factors, to_tensor_images
    from talkinglib.eval.fid import feature_stats, features, frechet_distance
    from talkinglib.eval.image_metrics import psnr, ssim
    from talkinglib.eval.sync import sync_scores
    from talkinglib.synth.factors import EMOTIONS

    store = ClipStore(root, split)
    metas = store.metas
    clips, jaw_true, jaw_read, f_real, f_fake = [], [], [], [], []
    probe = scorers.probe.eval()
    for c in tqdm(list(range(len(store)))[:max_clips], desc="evaluate", disable=not progress):
        m = metas[c]
        source = to_tensor_images(store.identity_image(c)[None]).to(device)      # (1, 3, S, S)
        real = to_tensor_images(store.frames(c)).to(device)                       # (T, 3, S, S)
        wav = store.audio(c)
        fake = generate(source, real, wav).float().clamp(-1, 1)
        if len(fake) != len(real):
            raise RuntimeError(f"{store.names[c]}: generated {len(fake)} frames for {len(real)}")
        r = {k: v.cpu() for k, v in probe(fake).items()}
        row = {"clip": store.names[c], "emotion": m["emotion"],
               "psnr": float(psnr(real, fake).mean()), "ssim": float(ssim(real, fake).mean()),
               "emotion_hit": int(r["emotion"].mean(0).argmax()) == EMOTIONS.index(m["emotion"])}
        if scorers.lpips is not None:
            row["lpips"] = float(torch.cat([scorers.lpips(real[i:i + 32], fake[i:i + 32])
                                            for i in range(0, len(real), 32)]).mean())
        if scorers.syncnet is not None:
            s = sync_scores(scorers.syncnet, fake.cpu(), tl_audio.mel_windows(wav))
            row.update(sync_conf=s["confidence"], lse_d=s["distance"], sync_offset=s["offset"])
        if scorers.fid is not None:
            f_real.append(features(scorers.fid, real))
            f_fake.append(features(scorers.fid, fake))
        jaw_true.append(frame_factors(m)["mouth"][:len(fake), 0])
        jaw_read.append(r["mouth"][:, 0].numpy())
        clips.append(row)
    summary = {k: float(np.mean([r[k] for r in clips])) for k in ("psnr", "ssim", "lpips", "sync_conf", "lse_d")
               if k in clips[0]}
    summary["jaw_r2"] = float(r2_score(np.concatenate(jaw_true), np.concatenate(jaw_read))[0])
    summary["emotion_acc"] = float(np.mean([r["emotion_hit"] for r in clips]))
    if f_real:
        summary["fid"] = frechet_distance(*feature_stats(np.concatenate(f_real)), *feature_stats(np.concatenate(f_fake)))
    summary["clips"] = len(clips)
    summary["missing"] = {k: why for k, why in scorers.missing}
    return summary, clips


def write_report(out, name, summary, clips):
    """out/table.md, out/table.csv (one row per evaluated model, appended), out/NAME.clips.json, out/NAME.png."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.clips.json").write_text(json.dumps({"summary": summary, "clips": clips}, indent=1) + "\n")
    rows = json.loads((out / "rows.json").read_text()) if (out / "rows.json").exists() else {}
    rows[name] = summary
    (out / "rows.json").write_text(json.dumps(rows, indent=1) + "\n")
    fmt = lambda k, v: "–" if v is None else (f"{v:.1%}" if k.endswith("acc") else (str(v) if k == "clips" else f"{v:.3f}"))  # noqa: E731
    lines = ["| model | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    for n, r in rows.items():
        lines.append(f"| {n} | " + " | ".join(fmt(k, r.get(k)) for k in COLUMNS) + " |")
    notes = sorted({f"{k}: missing weights ({why})" for r in rows.values() for k, why in r.get("missing", {}).items()})
    (out / "table.md").write_text("\n".join(lines + [""] + notes) + "\n")
    with open(out / "table.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", *COLUMNS])
        for n, r in rows.items():
            w.writerow([n, *("" if r.get(k) is None else r[k] for k in COLUMNS)])
    keys = [k for k in ("psnr", "ssim", "lpips", "sync_conf") if k in clips[0]]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.8))
    for ax, k in zip(np.atleast_1d(axes), keys):
        ax.hist([r[k] for r in clips], bins=12, color="tab:blue")
        ax.set_title(f"{k} per clip ({name})", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / f"{name}.png", dpi=100)
    plt.close(fig)
    return out / "table.md"
