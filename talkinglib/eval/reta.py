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


@torch.no_grad()
def evaluate_reta(model, probe, root, syncnet=None, teacher=None, split="test", max_clips=None, batch=128):
    """One row of RETA Tab. 4 on a split: {"psnr", "ssim", "jaw_r2", "sync_conf", "emotion_acc",
    "student_acc_clip", "student_acc_frame", "lve", "clips"}."""
    from talkinglib import audio as tl_audio
    from talkinglib.data.clips import FPS
    from talkinglib.data.datasets import ClipStore, frame_factors, to_tensor_images
    from talkinglib.eval.image_metrics import psnr, ssim
    from talkinglib.eval.sync import sync_scores
    from talkinglib.models.bridge_3dmm import lip_vertex_error
    from talkinglib.models.emotion import student_emotion_accuracy
    from talkinglib.synth.factors import EMOTIONS

    model, probe = model.eval(), probe.eval()
    dev = next(model.parameters()).device
    pdev = next(probe.parameters()).device
    store = ClipStore(root, split)
    metas = store.metas
    neutral = {}
    for c, m in enumerate(metas):
        if m["emotion"] == "neutral":
            neutral.setdefault(m["identity"], c)
    clips = list(range(len(store)))[:max_clips]
    acc = {k: [] for k in ("psnr", "ssim", "sync", "lve")}
    jaw_true, jaw_read, emo_hit, f_es, labels = [], [], [], [], []
    for c in clips:
        ident = neutral.get(metas[c]["identity"])
        if ident is None:
            raise ValueError(f"identity {metas[c]['identity']} has no neutral clip to take the identity image from")
        source = to_tensor_images(store.frames(ident)[:1]).to(dev)                    # (1, 3, S, S)
        real = to_tensor_images(store.frames(c))                                      # (T, 3, S, S)
        T = len(real)
        wav = torch.as_tensor(store.audio(c), dtype=torch.float32)[None].to(dev)
        ctrl = model.controls(wav, T)
        code = model.encode_source(source)
        fake = torch.cat([model.render(code, ctrl["f_M"][0, i:i + batch], ctrl["f_E"][0, i:i + batch])
                          for i in range(0, T, batch)]).clamp(-1, 1).cpu()
        acc["psnr"].append(float(psnr(real, fake).mean()))
        acc["ssim"].append(float(ssim(real, fake).mean()))
        r = {k: v.cpu() for k, v in probe(fake.to(pdev)).items()}
        jaw_true.append(frame_factors(metas[c])["mouth"][:, 0])
        jaw_read.append(r["mouth"][:, 0].numpy())
        emo_hit.append(int(r["emotion"].mean(0).argmax()) == EMOTIONS.index(metas[c]["emotion"]))
        if syncnet is not None:
            acc["sync"].append(sync_scores(syncnet, fake, tl_audio.mel_windows(store.audio(c), fps=FPS))["confidence"])
        if "p_exp" in ctrl and "tdmm" in metas[c]:
            p_true = torch.as_tensor(np.asarray(metas[c]["tdmm"]["p_exp"], np.float32))[None, :T].to(dev)
            acc["lve"].append(lip_vertex_error(model.geometry.mm, ctrl["p_exp"], p_true))
        f_es.append(ctrl["f_E"][0].cpu())
        labels.append(metas[c]["emotion"])
    row = {"psnr": float(np.mean(acc["psnr"])), "ssim": float(np.mean(acc["ssim"])),
           "jaw_r2": float(r2_score(np.concatenate(jaw_true), np.concatenate(jaw_read))[0]),
           "sync_conf": float(np.mean(acc["sync"])) if acc["sync"] else float("nan"),
           "emotion_acc": float(np.mean(emo_hit)),
           "lve": float(np.mean(acc["lve"])) if acc["lve"] else float("nan"), "clips": len(clips)}
    if teacher is not None:
        s = student_emotion_accuracy(teacher, torch.stack(f_es).to(next(teacher.parameters()).device), labels)
        row.update(student_acc_clip=s["clip"], student_acc_frame=s["frame"])
    return row


@torch.no_grad()
def real_row(probe, root, syncnet=None, split="test", max_clips=None):
    """The reference row: the real clips scored like generated ones (PSNR/SSIM are against themselves)."""
    from talkinglib import audio as tl_audio
    from talkinglib.data.clips import FPS
    from talkinglib.data.datasets import ClipStore, frame_factors, to_tensor_images
    from talkinglib.eval.sync import sync_scores
    from talkinglib.synth.factors import EMOTIONS
    store = ClipStore(root, split)
    clips = list(range(len(store)))[:max_clips]
    jt, jr, hit, conf = [], [], [], []
    pdev = next(probe.parameters()).device
    for c in clips:
        real = to_tensor_images(store.frames(c))
        r = {k: v.cpu() for k, v in probe.eval()(real.to(pdev)).items()}
        jt.append(frame_factors(store.metas[c])["mouth"][:, 0])
        jr.append(r["mouth"][:, 0].numpy())
        hit.append(int(r["emotion"].mean(0).argmax()) == EMOTIONS.index(store.metas[c]["emotion"]))
        if syncnet is not None:
            conf.append(sync_scores(syncnet, real, tl_audio.mel_windows(store.audio(c), fps=FPS))["confidence"])
    return {"psnr": float("inf"), "ssim": 1.0, "jaw_r2": float(r2_score(np.concatenate(jt), np.concatenate(jr))[0]),
            "sync_conf": float(np.mean(conf)) if conf else float("nan"), "emotion_acc": float(np.mean(hit)),
            "lve": float("nan"), "clips": len(clips)}


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
