"""The scorecard (talkinglib/eval/scorecard.py): issue 18's bars, measured on any SynthTalk split."""
import json

import pytest

from talkinglib import checkpoints
from talkinglib.cli import main
from talkinglib.eval.scorecard import BARS, Bar, format_scorecard, scorecard


def test_a_bar_holds_inside_its_bounds_and_a_reported_measure_has_no_verdict():
    assert Bar("x", "edtalk", "x", 0.8).holds(0.8) and not Bar("x", "edtalk", "x", 0.8).holds(0.79)
    assert Bar("x", "edtalk", "x", high=0.01).holds(0.009) and not Bar("x", "edtalk", "x", high=0.01).holds(0.02)
    ratio = Bar("r", "flow", "r", 0.75, 1.25)
    assert [ratio.holds(v) for v in (0.7, 1.0, 1.3)] == [False, True, False]
    assert Bar("s", "reta", "s").holds(0.3) is None and Bar("x", "edtalk", "x", 0.8).holds(None) is None
    assert Bar("expression_acc", "edtalk", "e", 0.7).text() == "≥ 70%"
    assert {b.key for b in BARS} >= {"self_jaw_r2", "swap_pose_r2", "copy_l1", "expression_acc", "edtalk_a_sync_ratio",
                                      "flow_yaw_ratio", "reta_jaw_r2", "reta_emotion_acc", "reta_f_m_std"}


def test_the_scorecard_measures_reta_and_says_which_checkpoints_are_missing(tiny_dataset, tmp_path, capsys):
    empty = tmp_path / "none"
    empty.mkdir()
    card = scorecard(tiny_dataset, empty, parts=("edtalk", "reta"), max_clips=1, progress=lambda s: None,
                     reta="data/checkpoints/reta_tiny.pt")
    assert "edtalk_tiny.pt" in card["skipped"]["edtalk"] and "reta" not in card["skipped"]
    rows = {r["key"]: r for r in card["rows"]}
    assert rows["self_jaw_r2"]["value"] is None and rows["self_jaw_r2"]["holds"] is None
    assert -10 < rows["reta_jaw_r2"]["value"] < 1 and rows["reta_emotion_acc"]["value"] in (0.0, 1.0)
    assert rows["reta_f_m_std"]["value"] >= 0 and rows["reta_jaw_r2"]["holds"] == (rows["reta_jaw_r2"]["value"] >= 0.6)
    assert "RETA from audio: jaw R²" in format_scorecard(card)

    out = tmp_path / "card"
    assert main(["scorecard", "--data", str(tiny_dataset), "--checkpoints", str(empty), "--parts", "reta",
                 "--reta", "data/checkpoints/reta_tiny.pt", "--max-clips", "1", "--out", str(out)]) == 0
    written = json.loads((out / "scorecard.json").read_text())
    assert [r["key"] for r in written["rows"]] == ["reta_jaw_r2", "reta_emotion_acc", "reta_f_m_std"]
    assert written["rows"][0]["value"] == pytest.approx(rows["reta_jaw_r2"]["value"], abs=1e-6)
    assert "| RETA: f_M's std over time |" in capsys.readouterr().out


def test_the_scorecard_refuses_a_folder_that_is_not_a_dataset_and_an_unknown_part(tmp_path):
    with pytest.raises(FileNotFoundError, match="talkinglib synth"):
        scorecard(tmp_path, parts=("reta",))
    with pytest.raises(ValueError, match="the parts are"):
        scorecard(tmp_path, parts=("stage4",))


def test_edtalk_a_with_the_pose_still_changes_only_the_generated_row(tiny_dataset):
    from talkinglib.eval.lipsync import lip_sync_rows
    edtalk = checkpoints.load("data/checkpoints/edtalk_tiny.pt", "edtalk.").float()
    a2l = checkpoints.load("data/checkpoints/audio2lip_tiny.pt", "edtalk.audio2lip").float()
    probe = checkpoints.load("data/checkpoints/probe_tiny.pt", "probe")
    rows = {p: lip_sync_rows(edtalk, a2l, probe, tiny_dataset, max_clips=1, mouth_sources=("audio",), pose=p)
            for p in ("frames", "still")}
    assert rows["still"]["real"] == rows["frames"]["real"]
    assert rows["still"]["audio"]["jaw_r2"] != rows["frames"]["audio"]["jaw_r2"]
    with pytest.raises(ValueError, match="'frames' or 'still'"):
        lip_sync_rows(edtalk, a2l, probe, tiny_dataset, pose="sample")
    # the expression held, or a neutral source (EDTalk A.2.2): again only the generated row changes
    for kw in ({"expression": "still"}, {"source": "neutral"}):
        other = lip_sync_rows(edtalk, a2l, probe, tiny_dataset, max_clips=1, mouth_sources=("audio",), pose="still", **kw)
        assert other["real"] == rows["still"]["real"]
        assert other["audio"]["jaw_r2"] != rows["still"]["audio"]["jaw_r2"], kw
    with pytest.raises(ValueError, match="'first' or 'neutral'"):
        lip_sync_rows(edtalk, a2l, probe, tiny_dataset, source="other")
