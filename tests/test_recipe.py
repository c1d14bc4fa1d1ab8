"""`talkinglib train recipe`: the tiny chain in dependency order, finished steps skipped."""
import json
import time

import pytest
import torch

from talkinglib.train import common
from talkinglib.train.recipe import Step, done, finished, run_recipe, tiny_recipe

WHERE = {"data": "D", "out": "OUT", "preset": "tiny", "ckpt": "CK", "voices": "V"}


def test_every_input_of_the_tiny_recipe_is_made_by_an_earlier_step():
    steps = tiny_recipe()
    made = set()
    for s in steps:
        argv = [a.format(**WHERE) for a in s.argv]
        inputs = [a for a in argv if a.startswith("CK/")] + ([s.source.format(**WHERE)] if s.source else [])
        if argv[0] == "export":
            inputs = [argv[1]]
        for path in inputs:
            assert path in made, f"step {s.name} reads {path} before any step makes it"
        made.add(s.produces.format(**WHERE))
    names = [s.name for s in steps]
    assert len(names) == len(set(names)), "step names must be unique (they key recipe.json)"
    exported = {s.produces.format(**WHERE).split("/", 1)[1] for s in steps if s.argv[0] == "export"}
    # the committed set (data/checkpoints/README.md) but the probe, which the recipe measures with and never retrains,
    # and the plain stage 1 (edtalk_tiny_plain_ae.pt, the baseline of the tiny aids)
    assert exported == {"expert_tiny.pt", "edtalk_tiny_ae.pt", "edtalk_tiny_mp.pt", "edtalk_tiny_eem32.pt", "edtalk_tiny.pt",
                        "edtalk_tiny_fresh.pt", "edtalk_tiny_nobank.pt", "edtalk_tiny_noorth.pt", "syncnet_tiny.pt",
                        "audio2lip_tiny.pt", "audio2lip_tiny_nosync.pt", "audio2pose_tiny.pt", "audio2exp_tiny.pt",
                        "teacher_tiny.pt", "reta_tiny.pt",
                        *(f"reta_tiny_{n}.pt" for n in ("no3dmm", "concat", "nogpl", "noerl", "nosty", "noeds", "notvm"))}


def _ckpt(path, step, steps):
    common.save_checkpoint(path, config={"train": {"steps": steps}}, model=torch.nn.Linear(1, 1), step=step)


def test_finished_and_done_skip_completed_work_only(tmp_path):
    run = tmp_path / "run" / "x.pt"
    assert not finished(run)
    _ckpt(run, 3, 5)
    assert not finished(run), "a half-done run resumes"
    _ckpt(run, 5, 5)
    assert finished(run)
    exp = Step("x_tiny.pt", ("export", str(run), str(tmp_path / "x_tiny.pt")), str(tmp_path / "x_tiny.pt"), str(run))
    assert not done(exp, WHERE)
    (tmp_path / "x_tiny.pt").write_bytes(b"w")
    assert done(exp, WHERE)
    time.sleep(0.01)
    _ckpt(run, 5, 5)                                            # the run was retrained after its export
    assert not done(exp, WHERE)


def test_recipe_refuses_unknown_steps_and_presets(tmp_path):
    with pytest.raises(ValueError, match="unknown recipe steps"):
        run_recipe("D", tmp_path, only=["edtalk_aa"], progress=False)
    with pytest.raises(ValueError, match="no recipe for preset 'full'"):
        run_recipe("D", tmp_path, preset="full", progress=False)


def test_recipe_runs_the_steps_asked_for_and_records_their_time(tiny_dataset, tmp_path, monkeypatch):
    """Only the expert step, for real (2 steps): it runs once, is timed, and is skipped when done."""
    from dataclasses import replace
    import talkinglib.train.probe as P
    monkeypatch.setitem(P.EXPERT_TRAIN_PRESETS, "tiny",
                        replace(P.EXPERT_TRAIN_PRESETS["tiny"], steps=2, batch_size=4, extra_identities=0))
    only = ["expert_tiny", "expert_tiny.pt"]
    log = run_recipe(tiny_dataset, tmp_path, only=only, progress=False)
    assert set(log) == set(only)
    exported = tmp_path / "checkpoints" / "expert_tiny.pt"
    assert exported.is_file() and json.loads((tmp_path / "recipe.json").read_text()) == log
    before = exported.stat().st_mtime
    run_recipe(tiny_dataset, tmp_path, only=only, progress=False)
    assert exported.stat().st_mtime == before, "done steps are skipped"
