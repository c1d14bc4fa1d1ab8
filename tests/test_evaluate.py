"""`talkinglib evaluate`: per-clip metrics, the table, and metrics that are missing said so."""
import json
from pathlib import Path

import pytest
import torch

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
    from talkinglib.train.reta import load_reta_checkpoint
    out = tmp_path / "eval"
    assert main(["evaluate", "--mode", "reta", "--checkpoint", str(CKPT / "reta_tiny.pt"), "--data", str(tiny_dataset),
                 "--out", str(out), "--max-clips", "2"]) == 0
    report = json.loads((out / "reta.clips.json").read_text())
    clips, summary = report["clips"], report["summary"]
    assert len(clips) == 2 and summary["clips"] == 2
    assert summary["missing"] == {"lpips": "talkinglib weights fetch alexnet", "fid": "talkinglib weights fetch inception_fid"}
    assert "lpips: missing weights" in (out / "table.md").read_text() and (out / "reta.png").exists()
    assert (out / "table.csv").read_text().splitlines()[1].startswith("reta,")
    # the first clip's PSNR, recomputed by hand: identity = the first frame of the identity's neutral clip
    store = ClipStore(tiny_dataset, "test")
    ident = next(i for i, m in enumerate(store.metas) if m["emotion"] == "neutral"
                 and m["identity"] == store.metas[0]["identity"])
    model = load_reta_checkpoint(CKPT / "reta_tiny.pt")[0].float().eval()
    fake = RETAPipeline(model)(to_tensor_images(store.frames(ident)[:1]), store.audio(0)).clamp(-1, 1)
    assert clips[0]["psnr"] == pytest.approx(float(psnr(to_tensor_images(store.frames(0)), fake).mean()), abs=1e-4)
    assert 0 <= summary["emotion_acc"] <= 1 and summary["sync_conf"] == pytest.approx(
        sum(c["sync_conf"] for c in clips) / 2)
