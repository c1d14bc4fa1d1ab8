"""`talkinglib train recipe`: the tiny chain and the papers' full chain in dependency order, finished steps
skipped; the full chain also at the tiny preset with every step shortened (notebook 11's smoke path)."""
import json
import time

import pytest
import torch

from talkinglib import checkpoints
from talkinglib.cli import build_parser, main as talkinglib
from talkinglib.errors import InputError
from talkinglib.train.recipe import RECIPES, Step, done, finished, plan, run_recipe, step_settings, tiny_recipe

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
    checkpoints.save_checkpoint(path, config={"train": {"steps": steps}}, model=torch.nn.Linear(1, 1), step=step)


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


@pytest.mark.parametrize("expert", ["E.pt", None])
@pytest.mark.parametrize("teacher", ["T.pt", None])
def test_every_input_of_the_full_recipe_is_made_by_an_earlier_step_or_given(expert, teacher):
    planned = plan("D", "OUT", recipe="full", preset="full", expert=expert, teacher=teacher)
    made, given = set(), {"--expert": expert, "--teacher": teacher}
    for step, argv in planned:
        assert argv[:2] == ["train", step.name] and argv[argv.index("--out") + 1] == f"OUT/{step.name}", \
            "a full step is named after its stage and runs in OUT/<stage>"
        for flag, path in zip(argv, argv[1:]):
            if flag in given:
                assert path == given[flag], f"step {step.name} reads {flag} {path}, which was not given"
            elif flag in ("--init", "--syncnet"):
                assert path in made, f"step {step.name} reads {path} before any step makes it"
        made.add(step.produces.format(out="OUT"))
    names = [s.name for s, _ in planned]
    stages = ["edtalk.autoencoder", "edtalk.mouth_pose", "edtalk.expression", "syncnet", "edtalk.audio2lip",
              "edtalk.audio2pose", "edtalk.audio2exp", "reta"]
    assert names == [n for n in stages if expert or n != "edtalk.expression"]
    edtalk = f"OUT/{'edtalk.expression' if expert else 'edtalk.mouth_pose'}/edtalk.pt"
    for step, argv in planned[names.index("syncnet") + 1:]:
        assert argv[argv.index("--init") + 1] == edtalk, f"{step.name} must start from the last EDTalk stage"
    assert ("--teacher" in planned[-1][1]) == (teacher is not None), "full: no --teacher reads the registry's ViT"


def test_the_smoke_overrides_reach_every_train_step():
    """--steps reaches every train step, after any step count of its own (the tiny recipe's Tab. 3 runs pass
    --steps 1500), and --set STEP:KEY=VALUE that step alone, as `talkinglib train` parses them."""
    sets = {"edtalk.autoencoder": ["extra_identities=0", "batch_size=2"], "reta": ["batch_size=2"]}
    for kw in (dict(recipe="full", preset="tiny", expert="E.pt", teacher="T.pt"), dict(recipe="tiny")):
        overrides = sets if kw["recipe"] == "full" else {}
        plain = [build_parser().parse_args(argv) for _, argv in plan("D", "OUT", **kw)]
        smoke = [build_parser().parse_args(argv) for _, argv in plan("D", "OUT", steps=2, sets=overrides, **kw)]
        names = [s.name for s, _ in plan("D", "OUT", **kw)]
        trains = [(n, a, b) for n, a, b in zip(names, plain, smoke) if b.command == "train"]
        assert len(trains) == (8 if kw["recipe"] == "full" else 22)
        for name, before, after in trains:
            assert (after.steps, after.preset) == (2, "tiny"), name
            assert (after.set or []) == (before.set or []) + overrides.get(name, []), name
    assert build_parser().parse_args(plan("D", "OUT", recipe="full", preset="full", expert="E.pt")[0][1]).steps is None


def test_the_cli_runs_the_full_recipe_at_tiny_with_the_overrides(tmp_path, capsys):
    (tmp_path / "splits.json").write_text("{}")
    talkinglib(["train", "recipe", "--recipe", "full", "--preset", "tiny", "--steps", "2", "--data", str(tmp_path),
                "--out", "R", "--set", "edtalk.autoencoder:batch_size=2", "--teacher", "T.pt", "--dry-run"])
    lines = capsys.readouterr().out.splitlines()
    expected = plan(tmp_path, "R", recipe="full", preset="tiny", teacher="T.pt", steps=2,
                    sets={"edtalk.autoencoder": ["batch_size=2"]})
    assert lines[0].startswith("full recipe: edtalk.expression left out"), "no --expert: stage 3 is left out, aloud"
    assert lines[1:] == ["talkinglib " + " ".join(argv) for _, argv in expected]
    assert lines[1].endswith("--preset tiny --set batch_size=2 --steps 2")


@pytest.mark.parametrize("kw, message", [
    (dict(recipe="nope"), r"no recipe 'nope': the recipes are \['full', 'tiny'\]"),
    (dict(preset="huge"), "no preset 'huge'"),
    (dict(recipe="tiny", preset="full"), "runs at --preset tiny only"),
    (dict(expert="E.pt"), "--expert and --teacher belong to --recipe full"),
    (dict(recipe="full"), "RETA at --preset tiny needs a tiny emotion teacher"),
    (dict(preset="full", steps=0), "a positive integer, got 0"),
    (dict(preset="full", sets={"edtalk.expression": ["batch_size=2"]}), r"--set for steps \['edtalk.expression'\]"),
    (dict(preset="full", export="X"), "writes nothing to --export"),
    (dict(only=["edtalk_aa"]), "unknown recipe steps"),
])
def test_recipe_refuses_what_it_cannot_run(tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        run_recipe("D", tmp_path / "out", progress=False, **kw)
    assert not (tmp_path / "out").exists(), "refused before any step ran"


def test_the_cli_refuses_with_a_message(tmp_path):
    (tmp_path / "splits.json").write_text("{}")
    with pytest.raises(InputError, match=r"train recipe: no recipe 'full32': the recipes are"):
        talkinglib(["--debug", "train", "recipe", "--recipe", "full32", "--data", str(tmp_path), "--out", "R"])
    with pytest.raises(InputError, match="STEP:KEY=VALUE"):
        talkinglib(["--debug", "train", "recipe", "--preset", "full", "--set", "batch_size=2", "--data", str(tmp_path),
                    "--out", "R"])
    assert step_settings(["a:x=1", "b:y=2", "a:z=3"]) == {"a": ["x=1", "z=3"], "b": ["y=2"]}
    assert sorted(RECIPES) == ["full", "tiny"]


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
