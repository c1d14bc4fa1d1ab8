"""The command line's error model (talkinglib.errors): each bad input prints one line, `error: ...`, that says
what to do, exits non-zero, and leaves no output file; `talkinglib --debug` shows the traceback instead."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from talkinglib import audio as tl_audio
from talkinglib.cli import main
from talkinglib.errors import CheckpointError, InputError, TalkingLibError, WeightsError

ROOT = Path(__file__).resolve().parents[1]
CKPT = ROOT / "data" / "checkpoints"


@pytest.fixture(scope="module")
def inputs(face_and_audio, tmp_path_factory):
    """conftest's photo and speech, plus a corrupt wav, a 0.1 s one and a file where a folder should be."""
    import shutil
    face, talk, wav = face_and_audio
    d = tmp_path_factory.mktemp("cli")
    shutil.copy(face, d / "face.png")
    shutil.copy(talk, d / "talk.wav")
    tl_audio.write_wav(d / "short.wav", wav[:1600])
    (d / "corrupt.wav").write_bytes(b"RIFF\x00\x00garbage" * 10)
    (d / "a-file").write_text("not a folder")
    return d


def generate(d, *extra, audio="talk.wav", out=None, mode="reta", checkpoint="reta_tiny.pt"):
    return ["generate", "--mode", mode, "--image", str(d / "face.png"), "--audio", str(d / audio),
            "--out", str(out or d / "out" / "x.mp4"), "--checkpoint", str(CKPT / checkpoint), *extra]


CASES = {   # name: (argv builder, what the one line must say)
    "corrupt audio": (lambda d: generate(d, audio="corrupt.wav"), "corrupt"),
    "audio under one window": (lambda d: generate(d, audio="short.wav"), "shorter than one audio window"),
    "output folder not writable": (lambda d: generate(d, out=d / "a-file" / "x.mp4"), "cannot write"),
    "a probe given as RETA": (lambda d: generate(d, checkpoint="probe_tiny.pt"), "of kind 'probe', not 'reta'"),
    "--pose sample without a flow": (lambda d: generate(d, "--pose", "sample", "--audio2lip",
                                                        str(CKPT / "audio2lip_tiny.pt"), mode="edtalk-a",
                                                        checkpoint="edtalk_tiny.pt"), "give --pose-flow"),
    "--emotion given to reta": (lambda d: generate(d, "--emotion", "happy"), "does not read --emotion"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_bad_input_is_one_line_and_leaves_no_file(case, inputs, capsys):
    argv, says = CASES[case]
    argv = argv(inputs)
    out = Path(argv[argv.index("--out") + 1])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and says in err[-1], err
    assert not any(line.startswith("Traceback") for line in err)
    assert not out.exists() and not list(out.parent.glob(out.name + "*"))      # no output, no partial file


def test_errors_are_typed_and_debug_shows_the_traceback(inputs):
    for cls in (InputError, CheckpointError, WeightsError):
        assert issubclass(cls, TalkingLibError)
    with pytest.raises(tl_audio.AudioError, match="corrupt") as err:      # --debug: raised as itself
        main(["--debug", *generate(inputs, audio="corrupt.wav")])
    assert isinstance(err.value, InputError)
    run = subprocess.run([sys.executable, "-m", "talkinglib", *generate(inputs, audio="corrupt.wav")],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("error: ")
    run = subprocess.run([sys.executable, "-m", "talkinglib", "--debug", *generate(inputs, audio="corrupt.wav")],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode != 0 and "Traceback" in run.stderr and "AudioError" in run.stderr


def test_an_unexpected_error_is_one_line_that_says_it_is_a_bug(monkeypatch, capsys):
    import talkinglib.cli as cli

    def broken(args):
        raise ZeroDivisionError("division by zero")
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser._subparsers._group_actions[0].choices["fitness"].set_defaults(func=broken)
    assert main(["fitness", "--data", "D"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unexpected ZeroDivisionError: division by zero") and "--debug" in err
    assert len(err.splitlines()) == 1


def test_only_the_command_line_exits():
    """The library raises (talkinglib.errors); only talkinglib/cli.py turns an error into an exit status."""
    offenders = [f"{p.relative_to(ROOT)}:{i}" for p in sorted((ROOT / "talkinglib").rglob("*.py"))
                 if p != ROOT / "talkinglib" / "cli.py"
                 for i, line in enumerate(p.read_text().splitlines(), 1)
                 if "SystemExit" in line or "sys.exit(" in line]
    assert offenders == []


def test_the_slow_list_names_tests_that_exist():
    """conftest.SLOW marks tests by name: a renamed or removed test must leave the list too."""
    import ast
    from conftest import SLOW
    defined = {f"{p.name}::{node.name}" for p in (ROOT / "tests").glob("test_*.py")
               for node in ast.parse(p.read_text()).body if isinstance(node, ast.FunctionDef)}
    assert SLOW and SLOW <= defined, sorted(SLOW - defined)


@pytest.mark.parametrize("mode", ["reta", "edtalk-a"])
def test_a_real_photo_given_to_a_synthtalk_checkpoint_is_named_in_one_warning_line(mode, inputs, tmp_path, capsys):
    """The tiny checkpoints record that they were trained on SynthTalk (config["data"], data/provenance.py). A
    real photo (skimage's astronaut) has far more fine detail than any SynthTalk frame: generate still renders
    it, and says in one line why the result will be a smear; a SynthTalk face gets no such line."""
    from PIL import Image
    from skimage.data import astronaut
    Image.fromarray(astronaut()).save(tmp_path / "face.png")
    tl_audio.write_wav(tmp_path / "talk.wav", tl_audio.read_wav(inputs / "talk.wav")[:16000])
    extra = [] if mode == "reta" else ["--audio2lip", str(CKPT / "audio2lip_tiny.pt")]
    ckpt = "reta_tiny.pt" if mode == "reta" else "edtalk_tiny.pt"
    for d, warned in ((tmp_path, True), (inputs, False)):
        out = tmp_path / f"{warned}.mp4"
        assert main(generate(d, *extra, out=out, mode=mode, checkpoint=ckpt)) == 0
        err = capsys.readouterr().err.splitlines()
        lines = [line for line in err if line.startswith("warning: ")]
        assert out.is_file() and not any("Traceback" in line for line in err)
        if warned:
            assert len(lines) == 1 and "outside what this model learned" in lines[0] and "SynthTalk" in lines[0]
        else:
            assert lines == [], lines


def test_the_warning_is_a_python_warning_in_the_library(inputs):
    from PIL import Image
    from skimage.data import astronaut
    from talkinglib.inference.pipeline import OutsideTrainingWarning, TalkingHeadPipeline
    pipe = TalkingHeadPipeline.from_checkpoints("reta", CKPT / "reta_tiny.pt")
    assert pipe.trained_on["source"] == "synthtalk" and pipe.trained_on["root"] == "data/synthtalk/tiny-seed0"
    with pytest.warns(OutsideTrainingWarning, match="fine detail"):
        pipe.source(astronaut())
    photo = np.asarray(Image.open(inputs / "face.png").convert("RGB"))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutsideTrainingWarning)
        pipe.source(photo)                                          # a SynthTalk face: no warning
