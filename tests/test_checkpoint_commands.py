"""The commands in data/checkpoints/README.md that regenerate the committed EDTalk checkpoints
run, as written, for two steps each (paths moved to a temporary folder), and what they export
loads back: the notebooks measure exactly what those commands make."""
import re
import shlex
from pathlib import Path

import pytest
import torch

from talkinglib import cli
from talkinglib.train import common

pytest.importorskip("talkinglib.models.edtalk")
README = Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "README.md"
FAST = ["--steps", "2", "--set", "batch_size=2", "--set", "extra_identities=0", "--set", "window=3"]


def readme_commands():
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    return [ln.strip() for b in blocks for ln in b.splitlines() if ln.strip().startswith("talkinglib ")]


def is_reta(line):
    """RETA's lines, with the SynthTalk folder of further voices ($V) its distillation reads."""
    return any(s in line for s in ("train teacher", "train reta", "teacher_tiny", "reta_tiny", "synth --out $V"))


def is_audio(line):
    return any(s in line for s in ("syncnet", "audio2lip", "audio2pose", "audio2exp")) and not is_reta(line)


def edtalk_commands():
    """The video-driven EDTalk lines of the README's `bash` blocks, with $D expanded later."""
    return [ln for ln in readme_commands() if "edtalk" in ln and not is_audio(ln) and not is_reta(ln)]


def audio_commands():
    """The audio-driven lines (SyncNet expert, Audio2Lip, pose flow)."""
    return [ln for ln in readme_commands() if is_audio(ln)]


def reta_commands():
    """RETA's lines: the emotion teacher, RETA end to end and its ablations."""
    return [ln for ln in readme_commands() if is_reta(ln)]


def _run(line, tmp_path, data, fast):
    line = line.replace("$D", str(data)).replace("$V", str(tmp_path / "voices"))
    line = line.replace("runs/", f"{tmp_path}/runs/").replace("data/checkpoints/", f"{tmp_path}/ckpt/")
    argv = shlex.split(line)[1:]
    if argv[0] == "train":
        argv += fast
    if argv[0] == "synth":                                       # the same folder, 2 identities instead of 64
        argv += ["--set", "identities=2", "--workers", "1"]
    assert cli.main(argv) in (0, None), line


def test_readme_lists_the_edtalk_commands():
    cmds = edtalk_commands()
    trained = [c for c in cmds if c.startswith("talkinglib train")]
    exported = [shlex.split(c)[3] for c in cmds if c.startswith("talkinglib export")]
    assert [shlex.split(c)[2] for c in trained] == ["edtalk.autoencoder", "edtalk.mouth_pose", "edtalk.expression",
                                                    "edtalk.mouth_pose", "edtalk.mouth_pose"]
    assert exported == ["data/checkpoints/edtalk_tiny.pt", "data/checkpoints/edtalk_tiny_nobank.pt",
                        "data/checkpoints/edtalk_tiny_noorth.pt"]


def test_readme_commands_run_and_export_loadable_checkpoints(tiny_dataset, tmp_path):
    import shutil
    from talkinglib.train.edtalk_common import load_edtalk_checkpoint
    (tmp_path / "ckpt").mkdir()
    shutil.copy(README.parent / "edtalk_tiny_ae.pt", tmp_path / "ckpt")     # the chain starts from it
    for line in edtalk_commands():
        _run(line, tmp_path, tiny_dataset, FAST)
    designs = {}
    for name in ("edtalk_tiny", "edtalk_tiny_nobank", "edtalk_tiny_noorth"):
        path = tmp_path / "ckpt" / f"{name}.pt"
        state = common.load_checkpoint(path)
        assert state["optimizer"] == {} and state["extra"] == {}                     # weights only
        assert all(v.dtype == torch.float16 for v in state["model"].values() if v.is_floating_point())
        assert state["history"]["rec"]                                                 # curves kept
        model, _ = load_edtalk_checkpoint(path)
        assert all(p.dtype == torch.float32 for p in model.parameters())
        designs[name] = (model.cfg.bank, model.cfg.orthogonalize, state["config"]["stage"])
    assert designs == {"edtalk_tiny": ("bases", "qr", "edtalk.expression"),
                       "edtalk_tiny_nobank": ("direct", "qr", "edtalk.mouth_pose"),
                       "edtalk_tiny_noorth": ("bases", "none", "edtalk.mouth_pose")}
    # the ablations keep the autoencoder's E and G bit for bit: only the navigation differs
    ae = common.load_checkpoint(tmp_path / "runs" / "edtalk_ae" / "edtalk.pt")["model"]
    nob = common.load_checkpoint(tmp_path / "runs" / "edtalk_nobank" / "edtalk.pt")["model"]
    for k in ae:
        if k.startswith(("enc.", "dec.", "fc.")):
            assert torch.equal(ae[k], nob[k]), k


def test_committed_stage1_checkpoint_transfers_motion_on_test_identities(tiny_dataset):
    """edtalk_tiny_ae.pt (stage 1, 4000 steps): driving a test identity's frame with another of
    its frames reconstructs the driver better than the source itself does (L1 0.053 vs 0.092)."""
    from talkinglib.data.edtalk_batches import EDTalkBatches
    from talkinglib.train.edtalk_common import load_edtalk_checkpoint
    model, state = load_edtalk_checkpoint(README.parent / "edtalk_tiny_ae.pt")
    assert state["config"]["stage"] == "edtalk.autoencoder" and state["step"] == 4000
    b = EDTalkBatches(tiny_dataset, "test").pairs(torch.Generator().manual_seed(0), 64)
    with torch.no_grad():
        out = model.animate(b["source"], mouth=b["driving"], pose=b["driving"])
    l1, copy = (out - b["driving"]).abs().mean().item(), (b["source"] - b["driving"]).abs().mean().item()
    assert l1 < 0.06 and l1 < 0.7 * copy, (l1, copy)


def test_audio_commands_run_and_export_loadable_checkpoints(tiny_dataset, tmp_path):
    """The SyncNet expert, Audio2Lip (with and without L_sync), pose-flow and audio2exp commands, two steps
    each, against the committed tiny EDTalk; what they export loads with the notebooks' loaders."""
    import shutil
    from talkinglib.train.edtalk_audio2lip import load_audio2lip_checkpoint
    from talkinglib.train.edtalk_audio2pose import load_audio2pose
    from talkinglib.train.syncnet import load_syncnet
    cmds = audio_commands()
    stages = [shlex.split(c)[2] for c in cmds if c.startswith("talkinglib train")]
    assert stages == ["syncnet", "edtalk.audio2lip", "edtalk.audio2lip", "edtalk.audio2pose", "edtalk.audio2exp"]
    (tmp_path / "ckpt").mkdir()
    shutil.copy(README.parent / "edtalk_tiny.pt", tmp_path / "ckpt")
    fast = ["--steps", "2", "--set", "batch_size=2"]
    for line in cmds:
        extra = {"syncnet": [], "edtalk.audio2lip": ["--set", "image_start=1"],
                 "edtalk.audio2pose": ["--set", "frames=4"],
                 "edtalk.audio2exp": ["--set", "seconds=0.5"]}.get(shlex.split(line)[2], [])
        _run(line, tmp_path, tiny_dataset, fast + extra)
    net, state = load_syncnet(tmp_path / "ckpt" / "syncnet_tiny.pt")
    assert state["optimizer"] == {} and state["step"] == 2
    a, sa = load_audio2lip_checkpoint(tmp_path / "ckpt" / "audio2lip_tiny.pt")
    b, sb = load_audio2lip_checkpoint(tmp_path / "ckpt" / "audio2lip_tiny_nosync.pt")
    assert sa["config"]["train"]["w_sync"] > 0 and sb["config"]["train"]["w_sync"] == 0
    flow, sf = load_audio2pose(tmp_path / "ckpt" / "audio2pose_tiny.pt")
    assert sf["step"] == 2 and not flow.training
    from talkinglib.train.edtalk_audio2exp import load_audio2exp
    sem, se = load_audio2exp(tmp_path / "ckpt" / "audio2exp_tiny.pt")
    assert se["step"] == 2 and not sem.training


def test_reta_commands_run_and_export_loadable_checkpoints(tiny_dataset, tmp_path):
    """The teacher and RETA commands, two steps each (one of distillation, one end to end),
    against the committed tiny EDTalk and SyncNet; what they export loads with the notebooks' loaders."""
    import shutil
    from talkinglib.train.reta import load_reta_checkpoint
    from talkinglib.train.teacher import load_teacher
    cmds = reta_commands()
    stages = [shlex.split(c)[2] for c in cmds if c.startswith("talkinglib train")]
    assert stages[:2] == ["teacher", "reta"] and set(stages[2:]) <= {"reta"}
    (tmp_path / "ckpt").mkdir()
    for name in ("edtalk_tiny.pt", "syncnet_tiny.pt"):
        shutil.copy(README.parent / name, tmp_path / "ckpt")
    for line in cmds:
        fast = (["--steps", "2", "--set", "extra_identities=0", "--set", "batch_size=4"]
                if " teacher " in line else
                ["--steps", "2", "--set", "distill_steps=1", "--set", "batch_size=2", "--set", "distill_batch=2"])
        _run(line, tmp_path, tiny_dataset, fast)
    teacher, st = load_teacher(tmp_path / "ckpt" / "teacher_tiny.pt")
    assert st["optimizer"] == {} and st["step"] == 2 and not teacher.training
    for path in sorted((tmp_path / "ckpt").glob("reta_tiny*.pt")):
        model, sr = load_reta_checkpoint(path)
        assert sr["step"] == 2 and sr["optimizer"] == {} and not model.training
        assert sr["history"]["l1"]
        emo_va = [v for _, v in sr["history"]["emo_va"]]
        assert (max(emo_va) > 0) == model.cfg.emotion                    # w/o ERL has no student to distil
