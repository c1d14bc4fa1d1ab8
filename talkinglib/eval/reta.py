"""RETA on SynthTalk, measured: RETA Tab. 4's columns on the test identities, plus what the
papers could not measure (the probe's jaw against the true jaw, the student's emotion).

For every clip of the split, the identity image is the first frame of that identity's neutral
clip (so any emotion in the output must come from the audio), and RETA renders every frame of
the clip from the clip's audio alone. Columns:
- psnr, ssim            against the clip's real frames (eval/image_metrics.py)
- jaw_r2                the probe's jaw reading of the output against the true jaw opening
- sync_conf             SyncNet confidence of the generated clip (eval/sync.py); `real` row: the real clip's
- emotion_acc           the probe's emotion of the output (mean logits over the clip) against the clip's label
- student_acc           head_T(f_E): the distilled student's emotion through the teacher's classifier,
                        per clip (mean logits) and per frame; labels are read here, for scoring only
- lve                   lip-vertex error of D's p^exp against SynthTalk's true coefficients (3DMM bridge only;
                        a diagnostic: p^exp is never supervised)

    rows = reta_rows({"full": model}, probe, root, syncnet=sync, teacher=teacher)
"""
import numpy as np
import torch

from talkinglib.eval.factors import r2_score


def _clip_scores(probe, syncnet, frames, meta, wav):
    """The probe's and the expert's reading of one clip's frames (T, 3, S, S) on the CPU, generated
    or real: (true jaw (T,), the probe's jaw (T,), emotion hit (bool), Sync_conf or None)."""
    from talkinglib.data.clips import FPS
    from talkinglib.data.datasets import frame_factors
    from talkinglib.eval.sync import sync_scores
    from talkinglib import audio as tl_audio
    from talkinglib.constants import EMOTIONS
    r = {k: v.cpu() for k, v in probe(frames.to(next(probe.parameters()).device)).items()}
    hit = int(r["emotion"].mean(0).argmax()) == EMOTIONS.index(meta["emotion"])
    conf = None if syncnet is None else sync_scores(syncnet, frames, tl_audio.mel_windows(wav, fps=FPS))["confidence"]
    return frame_factors(meta)["mouth"][:, 0], r["mouth"][:, 0].numpy(), hit, conf


def _row(jaw_true, jaw_read, hits, confs, **extra):
    confs = [c for c in confs if c is not None]
    return {"jaw_r2": float(r2_score(np.concatenate(jaw_true), np.concatenate(jaw_read))[0]),
            "sync_conf": float(np.mean(confs)) if confs else float("nan"), "emotion_acc": float(np.mean(hits)),
            "clips": len(hits), **extra}


@torch.no_grad()
def evaluate_reta(model, probe, root, syncnet=None, teacher=None, split="test", max_clips=None, batch=128, stride=1):
    """One row of RETA Tab. 4 on a split: {"psnr", "ssim", "jaw_r2", "sync_conf", "emotion_acc",
    "student_acc_clip", "student_acc_frame", "lve", "f_m_std", "clips"}. f_m_std: f_M's std over each
    clip's frames, averaged over channels and clips (0 for a still face: RETA's f_M "asleep"). Clips 0, stride, 2·stride, ... (at most
    max_clips): stride 3 visits every test identity and every emotion in 11 of SynthTalk's 32."""
    from talkinglib.data.datasets import ClipStore, to_tensor_images
    from talkinglib.eval.image_metrics import psnr, ssim
    from talkinglib.inference.render import fast_path
    from talkinglib.models.bridge_3dmm import lip_vertex_error
    from talkinglib.models.emotion import student_emotion_accuracy

    model, probe = model.eval(), probe.eval()
    dev = next(model.parameters()).device
    store = ClipStore(root, split)
    metas = store.metas
    clips = list(range(0, len(store), stride))[:max_clips]
    acc = {k: [] for k in ("psnr", "ssim", "lve")}
    scores, f_es, labels, f_m_std = [], [], [], []
    for c in clips:
        source = to_tensor_images(store.identity_image(c)[None]).to(dev)             # (1, 3, S, S)
        real = to_tensor_images(store.frames(c))                                      # (T, 3, S, S)
        T = len(real)
        wav = store.audio(c)
        ctrl = model.controls(torch.as_tensor(wav, dtype=torch.float32)[None].to(dev), T)
        code = model.encode_source(source)
        with fast_path(model):                                   # G's shared-weight form: ~2e-5 from fused, 2x faster
            fake = torch.cat([model.render(code, ctrl["f_M"][0, i:i + batch], ctrl["f_E"][0, i:i + batch])
                              for i in range(0, T, batch)]).clamp(-1, 1).cpu()
        acc["psnr"].append(float(psnr(real, fake).mean()))
        acc["ssim"].append(float(ssim(real, fake).mean()))
        scores.append(_clip_scores(probe, syncnet, fake, metas[c], wav))
        if "p_exp" in ctrl and "tdmm" in metas[c]:
            p_true = torch.as_tensor(np.asarray(metas[c]["tdmm"]["p_exp"], np.float32))[None, :T].to(dev)
            acc["lve"].append(lip_vertex_error(model.geometry.mm, ctrl["p_exp"], p_true))
        f_es.append(ctrl["f_E"][0].cpu())
        f_m_std.append(float(ctrl["f_M"][0].float().std(0).mean()))
        labels.append(metas[c]["emotion"])
    row = _row(*zip(*scores), psnr=float(np.mean(acc["psnr"])), ssim=float(np.mean(acc["ssim"])),
               lve=float(np.mean(acc["lve"])) if acc["lve"] else float("nan"), f_m_std=float(np.mean(f_m_std)))
    if teacher is not None and model.cfg.emotion:                # "w/o ERL" has no student (f_E unused)
        s = student_emotion_accuracy(teacher, torch.stack(f_es).to(next(teacher.parameters()).device), labels)
        row.update(student_acc_clip=s["clip"], student_acc_frame=s["frame"])
    return row


@torch.no_grad()
def real_row(probe, root, syncnet=None, split="test", max_clips=None, stride=1):
    """The reference row: the real clips scored like generated ones (PSNR/SSIM are against themselves)."""
    from talkinglib.data.datasets import ClipStore, to_tensor_images
    store = ClipStore(root, split)
    scores = [_clip_scores(probe.eval(), syncnet, to_tensor_images(store.frames(c)), store.metas[c], store.audio(c))
              for c in list(range(0, len(store), stride))[:max_clips]]
    return _row(*zip(*scores), psnr=float("inf"), ssim=1.0, lve=float("nan"))


COLUMNS = ("psnr", "ssim", "jaw_r2", "sync_conf", "emotion_acc", "student_acc_clip", "lve")


def format_table(rows, columns=COLUMNS):
    """A markdown table of {name: row}."""
    head = "| model | " + " | ".join(columns) + " |\n|---|" + "---|" * len(columns)
    lines = [head]
    for name, r in rows.items():
        cells = []
        for k in columns:
            v = r.get(k, float("nan"))
            cells.append("–" if v != v else (f"{v:.1%}" if "acc" in k else f"{v:.3f}"))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
