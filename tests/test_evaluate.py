"""`talkinglib evaluate`: per-clip metrics, the table, and metrics that are missing said so."""
import json
from pathlib import Path

import pytest
import torch
from talkinglib import checkpoints

CKPT = Path(__file__).resolve().parents[1] / "data" / "checkpoints"


def test_lpips_is_zero_for_identical_images_and_its_backbone_is_never_downloaded(tmp_path, monkeypatch):
    from talkinglib.eval.evaluate import lpips_alex
    torch.manual_seed(0)
    d = lpips_alex("random")
    a = torch.rand(3, 3, 64, 64) * 2 - 1
    assert d(a, a.clone()).abs().max() < 1e-6
    assert (d(a, a.flip(-1)) > 0).all()
    monkeypatch.setenv("TALKINGLIB_HOME", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    from talkinglib.weights import WeightsError
    with pytest.raises(WeightsError, match="talkinglib weights fetch alexnet"):
        lpips_alex("pretrained")


def test_evaluate_writes_the_table_and_per_clip_scores(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("TALKINGLIB_HOME", str(tmp_path / "home"))      # no pretrained weights: LPIPS/FID missing
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    from talkinglib.cli import main
    from talkinglib.data.datasets import ClipStore, to_tensor_images
    from talkinglib.eval.image_metrics import psnr
    from talkinglib.inference.reta import RETAPipeline
    out = tmp_path / "eval"
    assert main(["evaluate", "--mode", "reta", "--checkpoint", str(CKPT / "reta_tiny.pt"), "--data", str(tiny_dataset),
                 "--out", str(out), "--max-clips", "2"]) == 0
    report = json.loads((out / "reta.clips.json").read_text())
    clips, summary = report["clips"], report["summary"]
    assert len(clips) == 2 and summary["clips"] == 2
    assert {"lpips", "fid", "aed"} <= summary["missing"].keys() <= {"lpips", "fid", "aed", "akd"}
    assert ("akd" in summary["missing"]) == (summary["akd_face_found"] == 0)     # no face found: said, not NaN
    assert summary["missing"]["lpips"] == "talkinglib weights fetch alexnet"
    assert summary["missing"]["fid"] == "talkinglib weights fetch inception_fid"
    assert "lpips: missing (talkinglib weights fetch alexnet)" in (out / "table.md").read_text()
    assert (out / "reta.png").exists() and "LMD floor" in (out / "table.md").read_text()
    for k in ("m_lmd", "f_lmd", "fps", "latency_ms", "peak_mem_mb"):
        assert summary[k] > 0, k
    assert 0 <= summary["akd_face_found"] <= 1               # the mesh often finds no face in a blurred tiny output
    assert summary["m_lmd_floor"] < summary["m_lmd"]         # the probe reads real frames better than RETA's
    assert (out / "table.csv").read_text().splitlines()[1].startswith("reta,")
    # the first clip's PSNR, recomputed by hand: identity = the first frame of the identity's neutral clip
    store = ClipStore(tiny_dataset, "test")
    ident = next(i for i, m in enumerate(store.metas) if m["emotion"] == "neutral"
                 and m["identity"] == store.metas[0]["identity"])
    model = checkpoints.load(CKPT / "reta_tiny.pt", "reta").float().eval()
    fake = RETAPipeline(model)(to_tensor_images(store.frames(ident)[:1]), store.audio(0)).clamp(-1, 1)
    assert clips[0]["psnr"] == pytest.approx(float(psnr(to_tensor_images(store.frames(0)), fake).mean()), abs=1e-4)
    assert 0 <= summary["emotion_acc"] <= 1 and summary["sync_conf"] == pytest.approx(
        sum(c["sync_conf"] for c in clips) / 2)


def test_landmark_distance_by_hand_and_in_256_pixels():
    import numpy as np
    from talkinglib.eval.landmarks import ALL, MOUTH, landmark_distance
    a = np.zeros((3, 68, 2))
    b = a.copy()
    b[:, 48:] += [3.0, 4.0]                                  # the mouth moved by 5 px
    b[2] = np.nan                                            # a frame without a face: left out
    assert landmark_distance(a, b, MOUTH, size=256) == (5.0, 2)
    assert landmark_distance(a, b, MOUTH, size=64) == (20.0, 2)     # 5 px at 64² is 20 px at 256²
    assert landmark_distance(a, b, ALL, size=256)[0] == pytest.approx(5.0 * 20 / 68)


def test_akd_of_a_one_pixel_shift_and_the_synthtalk_readout_floor(tiny_dataset):
    """The mesh on SynthTalk frames: a copy scores AKD 0, a 1-pixel shift at 64² about 4 (256² pixels).
    The probe's landmark read-out of real frames lands within a few pixels of the truth."""
    pytest.importorskip("mediapipe")
    import numpy as np
    from talkinglib.data.datasets import ClipStore, to_tensor_images
    from talkinglib.eval.landmarks import ALL, MOUTH, MeshLandmarks, landmark_distance, readout_landmarks
    store = ClipStore(tiny_dataset, "test")
    c = store.names.index("id012_happy_0")
    real = to_tensor_images(store.frames(c)[:20])
    mesh = MeshLandmarks()
    lm = mesh(real)
    assert not np.isnan(lm).any()
    assert landmark_distance(lm, mesh(real.clone()), ALL, 64)[0] == 0.0
    shifted = landmark_distance(lm, mesh(torch.roll(real, 1, dims=-1)), ALL, 64)[0]
    assert 2.5 < shifted < 5.5, shifted
    probe = checkpoints.load(CKPT / "probe_tiny.pt", "probe").eval()
    with torch.no_grad():
        floor = readout_landmarks(probe(real), store.metas[c], 64)
    truth = np.asarray(store.metas[c]["landmarks"])[:20]
    assert landmark_distance(truth, floor, MOUTH, 64)[0] < 6.0


def test_a_teacher_checkpoint_is_a_pluggable_emotion_classifier(tiny_dataset):
    from talkinglib.data.datasets import ClipStore, to_tensor_images
    from talkinglib.eval.evaluate import teacher_classifier
    from talkinglib.synth.factors import EMOTIONS
    clf = teacher_classifier(CKPT / "teacher_tiny.pt")
    assert set(clf.names) == set(EMOTIONS)
    store = ClipStore(tiny_dataset, "test")
    with torch.no_grad():
        hits = [clf.predict(to_tensor_images(store.frames(c))) == store.metas[c]["emotion"] for c in range(len(store))]
    assert sum(hits) / len(hits) > 0.6                      # real frames: the teacher names their emotion


def test_evaluate_scores_disentanglement_with_a_crosstalk_matrix(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("TALKINGLIB_HOME", str(tmp_path / "home"))
    from talkinglib.cli import main
    out = tmp_path / "eval"
    assert main(["evaluate", "--mode", "edtalk-v", "--checkpoint", str(CKPT / "edtalk_tiny.pt"), "--data",
                 str(tiny_dataset), "--out", str(out), "--max-clips", "1", "--syncnet", "none",
                 "--emotion-classifier", str(CKPT / "teacher_tiny.pt"), "--disentangle", "--disentangle-n", "16"]) == 0
    scores = json.loads((out / "disentangle.json").read_text())["edtalk-v"]
    M = scores["crosstalk_matrix"]
    assert len(M) == 3 and all(len(r) == 3 for r in M)
    assert scores["crosstalk"] == pytest.approx(sum(M[i][j] for i in range(3) for j in range(3) if i != j) / 6)
    assert "| edtalk-v |" in (out / "disentangle.md").read_text() and (out / "edtalk-v.crosstalk.png").exists()
