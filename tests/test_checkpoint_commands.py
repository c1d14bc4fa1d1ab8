"""The commands in data/checkpoints/README.md that make the committed checkpoints are the recipe's
(`talkinglib train recipe --dry-run`); they run, as written, for two steps each (paths moved to a
temporary folder), and what they export loads back with the design its command names: the notebooks
measure exactly what those commands make. The committed files hold the same designs, and the two
committed stage-1 files are scored on test identities."""
import re
import shlex
from pathlib import Path

import pytest
import torch

from talkinglib import cli
from talkinglib import checkpoints

pytest.importorskip("talkinglib.models.edtalk")
README = Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "README.md"
FAST = ["--steps", "2", "--set", "batch_size=2", "--set", "extra_identities=0", "--set", "window=3"]
EXPERT_FAST = ["--steps", "2", "--set", "batch_size=4", "--set", "extra_identities=0"]


def readme_commands():
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    return [ln.strip() for b in blocks for ln in b.splitlines() if ln.strip().startswith("talkinglib ")]


def recipe_commands(capsys):
    """What `talkinglib train recipe --preset tiny --data $D --out runs/chain --export data/checkpoints --dry-run`
    prints, one command a line."""
    from talkinglib.train.recipe import run_recipe
    capsys.readouterr()
    run_recipe("$D", "runs/chain", export="data/checkpoints", dry_run=True, progress=False)
    return [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("talkinglib ")]


def is_reta(line):
    """RETA's lines, with the SynthTalk folder of further voices its distillation reads."""
    return any(s in line for s in ("train teacher", "train reta", "teacher_tiny", "reta_tiny", "voices-seed1"))


def is_audio(line):
    return any(s in line for s in ("syncnet", "audio2lip", "audio2pose", "audio2exp")) and not is_reta(line)


def edtalk_commands():
    """The video-driven EDTalk lines (the L_mot expert, stages 1-3, the Tab. 3 runs, the plain stage 1)."""
    return [ln for ln in readme_commands()
            if ("edtalk" in ln or "train expert" in ln or "expert_tiny" in ln) and not is_audio(ln) and not is_reta(ln)]


def audio_commands():
    """The audio-driven lines (SyncNet expert, Audio2Lip, pose flow, audio2exp)."""
    return [ln for ln in readme_commands() if is_audio(ln)]


def reta_commands():
    """RETA's lines: the emotion teacher, the further voices, RETA end to end and its ablations."""
    return [ln for ln in readme_commands() if is_reta(ln)]


def _run(line, tmp_path, data, fast):
    line = line.replace("$D", str(data))
    line = line.replace("runs/", f"{tmp_path}/runs/").replace("data/checkpoints/", f"{tmp_path}/ckpt/")
    argv = shlex.split(line)[1:]
    if argv[0] == "train":
        argv += fast
    if argv[0] == "synth":                                       # the same folder, 2 identities instead of 64
        argv += ["--set", "identities=2", "--workers", "1"]
    assert cli.main(argv) in (0, None), line


def _raw(path):
    """The file as stored: an export with a base holds only its own tensors."""
    return torch.load(path, map_location="cpu", weights_only=True)


def test_the_readme_holds_the_recipes_commands(capsys):
    """Every line the recipe runs is in the README, in its order; the rest are the probe's and the plain stage 1's."""
    readme, recipe = readme_commands(), recipe_commands(capsys)
    assert len(recipe) == 45
    assert [c for c in readme if "runs/chain/" in c] == recipe
    rest = [c for c in readme if "runs/chain/" not in c]
    assert [shlex.split(c)[1:3] for c in rest] == [["synth", "--out"], ["train", "probe"],
                                                   ["train", "edtalk.autoencoder"], ["export", "runs/edtalk_plain_ae/edtalk.pt"]]
    # each line belongs to exactly one test below (the probe's to tests/test_fitness.py)
    groups = [edtalk_commands(), audio_commands(), reta_commands()]
    assert sum(len(g) for g in groups) == len(recipe) + 2
    assert sorted(c for g in groups for c in g) == sorted(recipe + rest[2:])


# the video-driven exports: (stage, bank, orthogonalize, EEM width, navigation_init, encoder_norm)
EDTALK_DESIGNS = {
    "edtalk_tiny_ae": ("edtalk.autoencoder", "bases", "qr", 32, "keep", "batch"),
    "edtalk_tiny_plain_ae": ("edtalk.autoencoder", "bases", "qr", 32, "keep", "none"),
    "edtalk_tiny_mp": ("edtalk.mouth_pose", "bases", "qr", 32, "keep", "batch"),
    "edtalk_tiny_eem32": ("edtalk.expression", "bases", "qr", 32, "keep", "batch"),
    "edtalk_tiny": ("edtalk.expression", "bases", "qr", 128, "keep", "batch"),
    "edtalk_tiny_fresh": ("edtalk.mouth_pose", "bases", "qr", 32, "fresh", "batch"),
    "edtalk_tiny_nobank": ("edtalk.mouth_pose", "direct", "qr", 32, "fresh", "batch"),
    "edtalk_tiny_noorth": ("edtalk.mouth_pose", "bases", "none", 32, "fresh", "batch"),
}
# stages 2 and 3 freeze E and G: exported with --base edtalk_tiny_ae.pt, they store none of E's or G's tensors
ON_BASE = {"edtalk_tiny_mp", "edtalk_tiny_eem32", "edtalk_tiny", "edtalk_tiny_fresh", "edtalk_tiny_nobank",
           "edtalk_tiny_noorth"}


def frozen_tensor(key):
    """E (enc.*, the trunk fc.*) or G (dec.* but EEM's dec.fineadainresblock.*): what stages 2 and 3 never train."""
    return key.startswith(("enc.", "fc.")) or (key.startswith("dec.") and not key.startswith("dec.fineadainresblock."))


def check_edtalk_designs(folder):
    """Each video-driven export loads whole (float32) and holds the design its command names; returns their states."""
    states = {}
    for name, design in EDTALK_DESIGNS.items():
        path = folder / f"{name}.pt"
        raw = _raw(path)
        assert raw["optimizer"] == {} and raw["extra"] == {}                       # weights only
        assert all(v.dtype == torch.float16 for v in raw["model"].values() if v.is_floating_point()), name
        if name in ON_BASE:
            assert raw["base"]["file"] == "edtalk_tiny_ae.pt", name
            own = [k for k in raw["model"] if frozen_tensor(k)]
            assert not own, (name, own[:3])
        else:
            assert "base" not in raw and any(frozen_tensor(k) for k in raw["model"]), name
        model, state = checkpoints.load_with_state(path, "edtalk.")
        assert all(p.dtype == torch.float32 for p in model.parameters())
        assert state["history"]["rec"], name                                        # curves kept
        cfg = model.cfg
        got = (state["config"]["stage"], cfg.bank, cfg.orthogonalize, cfg.eem_hidden,
               state["config"]["train"]["navigation_init"], cfg.encoder_norm)
        assert got == design, (name, got)
        states[name] = (raw, state)
    # the plain stage 1: the model as before issue 18, no aid (fields the old file's config lacks did not exist then)
    model, state = checkpoints.load_with_state(folder / "edtalk_tiny_plain_ae.pt", "edtalk.")
    assert (model.cfg.flow_init, model.cfg.warp_grid, model.cfg.warp_image) == ("lia", "lia", False)
    train = state["config"]["train"]
    assert train["perceptual"] == "random"
    assert all(train.get(k, 0) == 0 for k in ("w_swap_expert", "w_copy_warp", "w_eyes", "w_flow_landmarks"))
    assert any(k.startswith("dec.fineadainresblock.") for k in states["edtalk_tiny"][0]["model"])  # its own, wider EEM
    return states


def test_edtalk_commands_run_and_export_the_designs_they_name(tiny_dataset, tmp_path):
    cmds = edtalk_commands()
    trained = [shlex.split(c)[2] for c in cmds if c.startswith("talkinglib train")]
    assert trained == ["expert", "edtalk.autoencoder", "edtalk.mouth_pose", "edtalk.expression", "edtalk.expression",
                       "edtalk.mouth_pose", "edtalk.mouth_pose", "edtalk.mouth_pose", "edtalk.autoencoder"]
    for line in cmds:
        _run(line, tmp_path, tiny_dataset, EXPERT_FAST if " train expert " in line else FAST)
    assert checkpoints.load_checkpoint(tmp_path / "ckpt" / "expert_tiny.pt")["step"] == 2
    states = check_edtalk_designs(tmp_path / "ckpt")
    assert all(state["step"] == 2 for _, state in states.values())


def test_committed_edtalk_files_hold_the_designs_and_steps_of_their_commands():
    states = check_edtalk_designs(README.parent)
    steps = {name: state["step"] for name, (_, state) in states.items()}
    assert steps == {"edtalk_tiny_ae": 17000, "edtalk_tiny_plain_ae": 4000, "edtalk_tiny_mp": 250,
                     "edtalk_tiny_eem32": 400, "edtalk_tiny": 800, "edtalk_tiny_fresh": 1500,
                     "edtalk_tiny_nobank": 1500, "edtalk_tiny_noorth": 1500}


def test_committed_stage1_checkpoints_transfer_motion_on_test_identities(tiny_dataset):
    """64 pairs of frames of test identities. Driving one with the other's mouth and pose reconstructs the driver far
    better than the source itself does: L1 (images in [-1, 1]) 0.047 for edtalk_tiny_ae.pt (17000 steps, with the
    tiny aids), 0.053 for edtalk_tiny_plain_ae.pt (4000 steps, EDTalk's plain recipe), 0.092 for the source. Driver =
    source (mean |Î − I| on [0, 1] images, as eval.disentangle.copy_error): 0.0098 with the aids, 0.023 without."""
    from talkinglib.data.edtalk_batches import EDTalkBatches
    b = EDTalkBatches(tiny_dataset, "test").pairs(torch.Generator().manual_seed(0), 64)
    source = (b["source"] - b["driving"]).abs().mean().item()
    got = {}
    for name, steps in (("edtalk_tiny_ae", 17000), ("edtalk_tiny_plain_ae", 4000)):
        model, state = checkpoints.load_with_state(README.parent / f"{name}.pt", "edtalk.")
        assert state["config"]["stage"] == "edtalk.autoencoder" and state["step"] == steps
        with torch.no_grad():
            out = model.animate(b["source"], mouth=b["driving"], pose=b["driving"])
            same = model.animate(b["source"], mouth=b["source"], pose=b["source"])
        got[name] = ((out - b["driving"]).abs().mean().item(),
                     (same.clamp(-1, 1) - b["source"]).abs().mean().item() / 2)
    (ae, ae_copy), (plain, plain_copy) = got["edtalk_tiny_ae"], got["edtalk_tiny_plain_ae"]
    assert ae < 0.05 and ae < 0.55 * source, (got, source)
    assert plain < 0.058 and plain < 0.65 * source, (got, source)
    assert ae_copy < 0.011 and ae_copy < 0.6 * plain_copy, got                  # issue 18's bar: 0.01


def test_audio_commands_run_and_export_loadable_checkpoints(tiny_dataset, tmp_path):
    """The SyncNet expert, Audio2Lip (with and without L_sync), pose-flow and audio2exp commands, two steps
    each, against the committed tiny EDTalk; what they export loads with the notebooks' loaders."""
    import shutil
    cmds = audio_commands()
    stages = [shlex.split(c)[2] for c in cmds if c.startswith("talkinglib train")]
    assert stages == ["syncnet", "edtalk.audio2lip", "edtalk.audio2lip", "edtalk.audio2pose", "edtalk.audio2exp"]
    inits = [shlex.split(c) for c in cmds if " edtalk.audio2" in c]
    assert all(argv[argv.index("--init") + 1] == "data/checkpoints/edtalk_tiny.pt" for argv in inits)
    (tmp_path / "ckpt").mkdir()
    for name in ("edtalk_tiny.pt", "edtalk_tiny_ae.pt"):                   # edtalk_tiny.pt reads E and G from its base
        shutil.copy(README.parent / name, tmp_path / "ckpt")
    fast = ["--steps", "2", "--set", "batch_size=2"]
    for line in cmds:
        extra = {"syncnet": [], "edtalk.audio2lip": ["--set", "image_start=1"],
                 "edtalk.audio2pose": ["--set", "frames=4"],
                 "edtalk.audio2exp": ["--set", "seconds=0.5"]}.get(shlex.split(line)[2], [])
        _run(line, tmp_path, tiny_dataset, fast + extra)
    net, state = checkpoints.load_with_state(tmp_path / "ckpt" / "syncnet_tiny.pt", "syncnet")
    assert state["optimizer"] == {} and state["step"] == 2
    a, sa = checkpoints.load_with_state(tmp_path / "ckpt" / "audio2lip_tiny.pt", "edtalk.audio2lip")
    b, sb = checkpoints.load_with_state(tmp_path / "ckpt" / "audio2lip_tiny_nosync.pt", "edtalk.audio2lip")
    assert sa["config"]["train"]["w_sync"] > 0 and sb["config"]["train"]["w_sync"] == 0
    flow, sf = checkpoints.load_with_state(tmp_path / "ckpt" / "audio2pose_tiny.pt", "edtalk.audio2pose")
    assert sf["step"] == 2 and not flow.training
    sem, se = checkpoints.load_with_state(tmp_path / "ckpt" / "audio2exp_tiny.pt", "edtalk.audio2exp")
    assert se["step"] == 2 and not sem.training


RETA_TRAINED = ("reta", "reta_noerl")      # the full model and w/o ERL (no student) train; the rest only parse


def _reta_configs(line):
    """The training and model configs a `talkinglib train reta` line builds (cli._train_reta's parsing), unrun."""
    from talkinglib.models.reta import PRESETS
    from talkinglib.train import reta as R
    args = cli.build_parser().parse_args(shlex.split(line)[1:])
    model_sets, train_sets = cli._split_overrides(args.set)
    return (cli._parse_overrides(train_sets, R.TRAIN_PRESETS[args.preset]),
            cli._parse_overrides(model_sets, PRESETS[args.preset]))


def test_reta_commands_run_and_export_loadable_checkpoints(tiny_dataset, tmp_path):
    """The teacher, the further voices, RETA and w/o ERL (the ablation without a student), two steps each (one of
    distillation, one end to end), against the committed tiny EDTalk (EEM 32) and SyncNet; what they export loads
    with the notebooks' loaders. The other six ablations are the `reta` line with one more `--set` (checked here),
    whose configs are built and compared without training: tests/test_reta_training.py trains every Tab. 4
    ablation's config."""
    import shutil
    from dataclasses import asdict
    from talkinglib.models.reta import RETAConfig
    from talkinglib.train.recipe import RETA_ABLATIONS
    cmds = reta_commands()
    trains = {Path(shlex.split(c)[shlex.split(c).index("--out") + 1]).name: c for c in cmds if " train " in c}
    assert list(trains) == ["teacher_tiny", "reta", *(f"reta_{n}" for n in RETA_ABLATIONS)]
    full = trains["reta"]
    assert shlex.split(full)[shlex.split(full).index("--init") + 1] == "data/checkpoints/edtalk_tiny_eem32.pt"
    base_cfg, base_model = _reta_configs(full)
    changed = {}
    for name, setting in RETA_ABLATIONS.items():
        line = trains[f"reta_{name}"]
        # the same command but for the run folder and one setting, given before distill_data
        assert line.replace(f"runs/chain/reta_{name} ", "runs/chain/reta ").replace(" ".join(setting) + " ", "") == full
        cfg, model = _reta_configs(line)
        diff = {k for k, v in asdict(cfg).items() if asdict(base_cfg)[k] != v}
        diff |= {f"model.{k}" for k, v in asdict(model).items() if asdict(base_model)[k] != v}
        assert len(diff) == 1, (name, diff)
        changed[name] = diff.pop()
        assert isinstance(model, RETAConfig)
    assert changed == {"no3dmm": "model.bridge", "concat": "model.injection", "nogpl": "model.geometric",
                       "noerl": "model.emotion", "nosty": "model.style", "noeds": "eds", "notvm": "w_motion"}

    (tmp_path / "ckpt").mkdir()
    for name in ("edtalk_tiny_eem32.pt", "edtalk_tiny_ae.pt", "syncnet_tiny.pt"):
        shutil.copy(README.parent / name, tmp_path / "ckpt")
    for line in cmds:
        argv = shlex.split(line)
        run = (Path(argv[argv.index("--out") + 1]).name if argv[1] == "train" else
               Path(argv[2]).parent.name if argv[1] == "export" else None)
        if run is not None and run.startswith("reta") and run not in RETA_TRAINED:
            continue
        fast = (["--steps", "2", "--set", "extra_identities=0", "--set", "batch_size=4"]
                if " teacher " in line else
                ["--steps", "2", "--set", "distill_steps=1", "--set", "batch_size=2", "--set", "distill_batch=2"])
        _run(line, tmp_path, tiny_dataset, fast)
    teacher, st = checkpoints.load_with_state(tmp_path / "ckpt" / "teacher_tiny.pt", "teacher")
    assert st["optimizer"] == {} and st["step"] == 2 and not teacher.training
    exported = sorted(p.name for p in (tmp_path / "ckpt").glob("reta_tiny*.pt"))
    assert exported == ["reta_tiny.pt", "reta_tiny_noerl.pt"]
    for name in exported:
        model, sr = checkpoints.load_with_state(tmp_path / "ckpt" / name, "reta")
        assert sr["step"] == 2 and sr["optimizer"] == {} and not model.training
        assert sr["history"]["l1"]
        emo_va = [v for _, v in sr["history"]["emo_va"]]
        assert (max(emo_va) > 0) == model.cfg.emotion == (name == "reta_tiny.pt")   # w/o ERL has no student to distil
