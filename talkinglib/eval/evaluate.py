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
lse_d (SyncNet offset search, eval/sync.py), m_lmd / f_lmd / akd (eval/landmarks.py: where the
landmarks come from on SynthTalk and on real data), the emotion hit (the factor probe's emotion head,
or any classifier: `EmotionClassifier`), the probe's jaw readings, and the generator's frames/s.
Over the split (table.md, table.csv): their means, the jaw R² against SynthTalk's true jaw, emotion
accuracy, FID over all frames (eval/fid.py), latency (one frame, after a warm-up) and peak memory.
With `disentangle=True` (EDTalk modes, SynthTalk): transfer R² of mouth and pose, expression
transfer accuracy and the 3×3 cross-talk matrix (eval/disentangle.py), in disentangle.md.
A metric whose network is missing (LPIPS's AlexNet, FID's Inception: `talkinglib weights fetch
alexnet`, `... fetch inception_fid`; mediapipe for the mesh; an identity network for AED) is
reported as missing, never faked. Real clips (talkinglib prepare) have no true factors: the jaw R²
is then missing, and the emotion accuracy counts only labelled clips.
"""
import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from talkinglib import checkpoints
from talkinglib.constants import EMOTIONS, SAMPLES_PER_FRAME
from talkinglib.errors import InputError
from talkinglib.eval.factors import r2_score

MODES = ("edtalk-a", "edtalk-v", "reta")
COLUMNS = ("psnr", "ssim", "lpips", "fid", "m_lmd", "f_lmd", "akd", "aed", "jaw_r2", "sync_conf", "lse_d",
           "emotion_acc", "fps", "latency_ms", "peak_mem_mb", "clips")


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
        raise InputError(f"weights must be 'pretrained' or 'random', got {weights!r}")
    for p in net.parameters():
        p.requires_grad_(False)
    return lambda a, b: net(a, b, normalize=False).flatten()             # inputs in [-1, 1]


@dataclass
class EmotionClassifier:
    """Acc_emo's classifier, pluggable: logits(frames (T, 3, H, W) in [-1, 1]) -> (T, len(names))."""
    logits: object
    names: tuple

    def predict(self, frames):
        """The clip's emotion: the class of the mean logits, as a name."""
        return self.names[int(self.logits(frames).float().mean(0).argmax())]


def teacher_classifier(path):
    """RETA's emotion teacher (a `talkinglib train teacher` checkpoint) as Acc_emo's classifier, its
    class names mapped to SynthTalk's (FER names: "anger" -> "angry", ...)."""
    from talkinglib.models.emotion import ALIASES
    teacher = checkpoints.load(path, "teacher").float()
    back = {v: k for k, v in ALIASES.items()}
    return EmotionClassifier(lambda x: teacher(x)[1], tuple(back.get(c, c) for c in teacher.classes))


@dataclass
class Scorers:
    probe: object                     # SynthTalk's factor probe: jaw readings, landmark read-outs
    syncnet: object = None            # Sync_conf / LSE-D
    lpips: object = None              # lpips_alex()
    fid: object = None                # eval.fid.fid_inception()
    emotion: object = None            # EmotionClassifier; None: the probe's emotion head
    mesh: object = None               # eval.landmarks.MeshLandmarks(): AKD, and LMD on real data
    identity: object = None           # AED: frames -> identity embeddings (none ships offline)
    missing: tuple = ()               # (metric, why) for what could not be built


def default_scorers(probe, syncnet=None, device="cpu", emotion=None):
    """The probe, SyncNet and emotion classifier given; LPIPS and FID from the registry when their
    weights are local, the face mesh when mediapipe is installed; else recorded as missing."""
    from talkinglib.eval.fid import fid_inception
    from talkinglib.eval.landmarks import MeshLandmarks
    from talkinglib.weights import WeightsError
    s, missing = Scorers(probe, syncnet, emotion=emotion), []
    try:
        s.lpips = lpips_alex()
    except WeightsError:
        missing.append(("lpips", "talkinglib weights fetch alexnet"))
    try:
        s.fid = fid_inception().to(device)
    except WeightsError:
        missing.append(("fid", "talkinglib weights fetch inception_fid"))
    try:
        s.mesh = MeshLandmarks()
    except ImportError:
        missing.append(("akd", 'pip install "talkinglib[prepare]" (mediapipe)'))
    missing.append(("aed", "an identity embedding network: evaluate_clips(..., Scorers(identity=embed))"))
    s.missing = tuple(missing)
    return s


def make_generator(mode, model, audio2lip=None, batch_size=None):
    """generate(source (1, 3, S, S), real frames (T, 3, S, S), wav (N,)) -> frames (T, 3, S, S), each mode's
    pipeline on G's fast path (inference/render.py: shared-weight convs, compiled for long clips)."""
    if mode == "reta":
        from talkinglib.inference.reta import RETAPipeline
        pipe = RETAPipeline(model, batch_size)
        return lambda source, real, wav: pipe(source, wav)
    if mode == "edtalk-a":
        from talkinglib.inference.edtalk_a import EDTalkA
        if audio2lip is None:
            raise InputError("edtalk-a needs an Audio2Lip model (--audio2lip)")
        pipe = EDTalkA(model, audio2lip, batch_size=batch_size)
        return lambda source, real, wav: pipe(source, wav, pose=real, expression=real)
    if mode == "edtalk-v":
        from talkinglib.inference.edtalk_v import EDTalkV
        pipe = EDTalkV(model, batch_size)
        return lambda source, real, wav: pipe(source, real)
    raise InputError(f"mode must be one of {MODES}, got {mode!r}")


def _peak_memory_mb(device):
    """CUDA: the peak allocated since the last reset; CPU: the process's peak resident set size."""
    if str(device).startswith("cuda"):
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _time_generate(generate, source, real, wav, device):
    import time
    from talkinglib.eval.speed import sync
    device = torch.device(device)
    sync(device)
    t0 = time.perf_counter()
    fake = generate(source, real, wav)
    sync(device)
    return fake, time.perf_counter() - t0


@torch.no_grad()
def evaluate_clips(generate, root, scorers, split="test", max_clips=None, device="cpu", progress=True, stride=1):
    """({metric: value} over the split, [per-clip dicts]). See the module docstring. Clips 0, stride,
    2·stride, ... of the split, at most max_clips (stride 3 over SynthTalk's test split visits every
    emotion and identity in 8 clips)."""
    from tqdm.auto import tqdm
    from talkinglib import audio as tl_audio
    from talkinglib.data.datasets import ClipStore, frame_factors, to_tensor_images
    from talkinglib.eval import landmarks as L
    from talkinglib.eval.fid import feature_stats, features, frechet_distance
    from talkinglib.eval.image_metrics import psnr, ssim
    from talkinglib.eval.sync import sync_scores

    store = ClipStore(root, split)
    metas = store.metas
    clips, jaw_true, jaw_read, f_real, f_fake = [], [], [], [], []
    probe = scorers.probe.eval()
    if str(device).startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    for c in tqdm(list(range(0, len(store), stride))[:max_clips], desc="evaluate", disable=not progress):
        m = metas[c]
        synthetic = "factors" in m                                                  # SynthTalk: true factors
        source = to_tensor_images(store.identity_image(c)[None]).to(device)      # (1, 3, S, S)
        real = to_tensor_images(store.frames(c)).to(device)                       # (T, 3, S, S)
        wav = store.audio(c)
        fake, seconds = _time_generate(generate, source, real, wav, device)
        fake = fake.float().clamp(-1, 1)
        if len(fake) != len(real):
            raise RuntimeError(f"{store.names[c]}: generated {len(fake)} frames for {len(real)}")
        S = real.shape[-1]
        r = {k: v.cpu() for k, v in probe(fake).items()}
        row = {"clip": store.names[c], "emotion": m["emotion"], "frames": len(fake), "seconds": seconds,
               "fps": len(fake) / seconds,
               "psnr": float(psnr(real, fake).mean()), "ssim": float(ssim(real, fake).mean())}
        if m["emotion"] is not None:                                              # Acc_emo: labelled clips
            pred = scorers.emotion.predict(fake) if scorers.emotion else EMOTIONS[int(r["emotion"].mean(0).argmax())]
            row["emotion_hit"] = pred == m["emotion"]
        if scorers.lpips is not None:
            row["lpips"] = float(torch.cat([scorers.lpips(real[i:i + 32], fake[i:i + 32])
                                            for i in range(0, len(real), 32)]).mean())
        if scorers.syncnet is not None:
            s = sync_scores(scorers.syncnet, fake.cpu(), tl_audio.mel_windows(wav))
            row.update(sync_conf=s["confidence"], lse_d=s["distance"], sync_offset=s["offset"])
        if scorers.fid is not None:
            f_real.append(features(scorers.fid, real))
            f_fake.append(features(scorers.fid, fake))
        lm_mesh_real = scorers.mesh(real) if scorers.mesh is not None else None
        lm_mesh_fake = scorers.mesh(fake) if scorers.mesh is not None else None
        if lm_mesh_real is not None:
            row["akd"], row["akd_frames"] = L.landmark_distance(lm_mesh_real, lm_mesh_fake, L.ALL, S)
        if synthetic:                                                            # truth vs the probe's read-out
            lm_true = np.asarray(m["landmarks"], np.float32)
            lm_fake = L.readout_landmarks(r, m, S)
            lm_floor = L.readout_landmarks(probe(real), m, S)
            row["m_lmd"] = L.landmark_distance(lm_true, lm_fake, L.MOUTH, S)[0]
            row["f_lmd"] = L.landmark_distance(lm_true, lm_fake, L.ALL, S)[0]
            row["m_lmd_floor"] = L.landmark_distance(lm_true, lm_floor, L.MOUTH, S)[0]
            row["f_lmd_floor"] = L.landmark_distance(lm_true, lm_floor, L.ALL, S)[0]
            jaw_true.append(frame_factors(m)["mouth"][:len(fake), 0])
            jaw_read.append(r["mouth"][:, 0].numpy())
        elif lm_mesh_real is not None:                                           # real data: the mesh on both
            row["m_lmd"] = L.landmark_distance(lm_mesh_real, lm_mesh_fake, L.MOUTH, S)[0]
            row["f_lmd"] = row["akd"]
        if scorers.identity is not None:
            row["aed"] = L.identity_distance(scorers.identity, real, fake)
        clips.append(row)
    keys = ("psnr", "ssim", "lpips", "sync_conf", "lse_d", "m_lmd", "f_lmd", "m_lmd_floor", "f_lmd_floor", "akd", "aed")
    summary = {k: float(np.nanmean(v)) for k in keys
               if (v := [r[k] for r in clips if k in r and not np.isnan(r[k])])}      # NaN: no face found
    missing = dict(scorers.missing)
    if "akd_frames" in clips[0]:
        used, total = sum(r["akd_frames"] for r in clips), sum(r["frames"] for r in clips)
        summary["akd_face_found"] = used / total            # frames where the mesh found both faces
        if not used:
            missing["akd"] = f"the face mesh found a face in none of the {round(total)} generated frames"
    if jaw_true:
        summary["jaw_r2"] = float(r2_score(np.concatenate(jaw_true), np.concatenate(jaw_read))[0])
    hits = [r["emotion_hit"] for r in clips if "emotion_hit" in r]
    if hits:
        summary["emotion_acc"] = float(np.mean(hits))                      # Acc_e (RETA Eq. 13)
    if f_real:
        summary["fid"] = frechet_distance(*feature_stats(np.concatenate(f_real)), *feature_stats(np.concatenate(f_fake)))
    summary["fps"] = sum(r["frames"] for r in clips) / sum(r["seconds"] for r in clips)
    first = to_tensor_images(store.identity_image(0)[None]).to(device)
    one = to_tensor_images(store.frames(0)[:1]).to(device)
    summary["latency_ms"] = 1000 * _time_generate(generate, first, one, store.audio(0)[:SAMPLES_PER_FRAME], device)[1]
    summary["peak_mem_mb"] = _peak_memory_mb(device)
    summary["clips"] = len(clips)
    summary["missing"] = {k: why for k, why in missing.items() if k not in summary}
    return summary, clips


def _fmt(k, v):
    if v is None:
        return "–"
    if k.endswith("acc"):
        return f"{v:.1%}"
    if k == "clips":
        return str(v)
    return f"{v:.1f}" if k in ("fps", "latency_ms", "peak_mem_mb") else f"{v:.3f}"


def write_disentanglement(out, name, scores):
    """out/disentangle.md (rows accumulate, like table.md) and out/NAME.crosstalk.png (the 3×3 matrix)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from talkinglib.eval.disentangle import FACTORS
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "disentangle.json"
    rows = json.loads(path.read_text()) if path.exists() else {}
    rows[name] = scores
    path.write_text(json.dumps(rows, indent=1) + "\n")
    cols = [("mouth_r2", "mouth R²"), ("pose_r2", "pose R²"), ("self_mouth_r2", "self jaw R²"),
            ("self_pose_r2", "self pose R²"), ("copy_l1", "driver = source L1"), ("expression_acc", "expression acc"),
            ("crosstalk", "cross-talk (mean off-diagonal)")]
    lines = ["| model | " + " | ".join(c for _, c in cols) + " |", "|---|" + "---|" * len(cols)]
    lines += [f"| {n} | " + " | ".join(_fmt(k, r[k]) if k in r else "–" for k, _ in cols) + " |"
              for n, r in rows.items()]
    (out / "disentangle.md").write_text("\n".join(lines) + "\n")
    M = np.asarray(scores["crosstalk_matrix"])
    fig, ax = plt.subplots(figsize=(3.6, 3.2))
    ax.imshow(M, cmap="viridis", vmin=0)
    for i in range(3):
        for j in range(3):
            ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", color="w" if M[i, j] < M.max() / 2 else "k")
    ax.set_xticks(range(3), FACTORS)
    ax.set_yticks(range(3), FACTORS)
    ax.set_xlabel("factor read from the output")
    ax.set_ylabel("driver varied")
    ax.set_title(f"cross-talk ({name})", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / f"{name}.crosstalk.png", dpi=100)
    plt.close(fig)
    return out / "disentangle.md"


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
    lines = ["| model | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    for n, r in rows.items():
        lines.append(f"| {n} | " + " | ".join(_fmt(k, r.get(k)) for k in COLUMNS) + " |")
    notes = sorted({f"{k}: missing ({why})" for r in rows.values() for k, why in r.get("missing", {}).items()})
    notes += [f"{n}: LMD floor (the probe's read-out of the real frames) M-LMD {r['m_lmd_floor']:.3f}, "
              f"F-LMD {r['f_lmd_floor']:.3f}" for n, r in rows.items() if "m_lmd_floor" in r]
    notes += [f"{n}: AKD over the {r['akd_face_found']:.0%} of frames where the face mesh found both faces"
              for n, r in rows.items() if "akd_face_found" in r]
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
