"""The library's layout: constants every part shares are defined once (talkinglib/constants.py)."""
import ast
from pathlib import Path

import talkinglib.constants as C

ROOT = Path(__file__).resolve().parents[1]
SHARED = ("EMOTIONS", "FPS", "SAMPLE_RATE", "SAMPLES_PER_FRAME")


def test_shared_constants_are_defined_once():
    defined = {}
    for p in sorted((ROOT / "talkinglib").rglob("*.py")):
        for node in ast.parse(p.read_text()).body:                    # module-level assignments only
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, ast.AnnAssign) else []
            for t in targets:
                if isinstance(t, ast.Name) and t.id in SHARED:
                    defined.setdefault(t.id, []).append(str(p.relative_to(ROOT)))
    assert defined == {name: ["talkinglib/constants.py"] for name in SHARED}
    assert C.SAMPLES_PER_FRAME * C.FPS == C.SAMPLE_RATE == 16000 and len(C.EMOTIONS) == 8
    from talkinglib import audio
    from talkinglib.synth import factors
    assert audio.SAMPLE_RATE is C.SAMPLE_RATE and factors.EMOTIONS is C.EMOTIONS       # re-exported, not copied


def _imported_modules(source):
    """Every module a Python source imports, at any depth (inside functions too): "a.b" for `import a.b`
    and `from a.b import c`, and "a.b.c" too for `from a.b import c` (c may be a submodule)."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def test_loading_never_imports_training():
    """Inference, evaluation, the checkpoint layer and the notebooks load through talkinglib.checkpoints
    (`tl.load`) and never import talkinglib.train (issue 19): a user who only renders or scores does not
    pull in the training code, and the training code may change without breaking them."""
    files = [ROOT / "talkinglib" / "checkpoints.py", *sorted((ROOT / "talkinglib" / "inference").rglob("*.py")),
             *sorted((ROOT / "talkinglib" / "eval").rglob("*.py")), *sorted((ROOT / "notebooks").glob("*.py"))]
    assert len(files) > 30
    offenders = {str(p.relative_to(ROOT)): sorted(m for m in _imported_modules(p.read_text())
                                                  if m == "talkinglib.train" or m.startswith("talkinglib.train."))
                 for p in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_import_check_sees_nested_imports():
    src = "def f():\n    from talkinglib.train.probe import x\nfrom talkinglib import train\n"
    assert {"talkinglib.train.probe", "talkinglib.train"} <= _imported_modules(src)


def _calls(tree):
    """Names of what a module calls: `f(...)` gives "f", `a.b.f(...)` gives "f"."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            names.append(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None))
    return names


def test_one_trainer_serves_every_stage():
    """Every stage's train_* function runs on train/trainer.py's Trainer (EDTalk's video stages through
    setup_stage, which builds an EDTalkRun), and no stage keeps loop plumbing of its own: the progress bar,
    the Logger, checkpoint writes and the G-side backward live in the Trainer alone (the D step, in
    train/adversarial.py, is the one other backward)."""
    train = ROOT / "talkinglib" / "train"
    stages = {}
    for p in sorted(train.glob("*.py")):
        tree = ast.parse(p.read_text())
        for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("train_")):
            called = set(_calls(fn))
            stages[fn.name] = bool(called & {"Trainer", "setup_stage", "train_probe"})
        if p.name in ("trainer.py", "recipe.py"):       # the recipe's bar counts steps of the recipe, not updates
            continue
        calls = _calls(tree)
        for plumbing in ("tqdm", "Logger", "save_checkpoint", "SummaryWriter"):
            if (p.name, plumbing) != ("common.py", "SummaryWriter"):        # the Logger's own TensorBoard writer
                assert plumbing not in calls, f"{p.name} calls {plumbing}: that is the Trainer's"
        if p.name != "adversarial.py":
            assert "backward" not in calls, f"{p.name} calls backward(): use Trainer.update"
    assert len(stages) >= 10 and all(stages.values()), stages


def test_a_preset_name_is_resolved_in_one_place():
    """`--preset tiny` becomes configs in train/presets.py alone (issue 19): elsewhere in the training path no
    PRESETS table is indexed by a variable (an index by a constant, PRESETS["tiny"], names one preset on purpose)."""
    from talkinglib.train.presets import NAMES, STAGES, resolve
    files = [ROOT / "talkinglib" / "cli.py", *sorted((ROOT / "talkinglib" / "train").glob("*.py"))]
    lookups = []
    for p in files:
        if p.name == "presets.py":
            continue
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Constant):
                table = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", "")
                if table.endswith("PRESETS"):
                    lookups.append(f"{p.name}:{node.lineno}")
    assert lookups == []
    for stage in STAGES:                              # and every stage resolves at every preset
        for name in NAMES:
            preset = resolve(stage, name)
            assert preset.train is not None and preset.model is not None and preset.name == name
            assert (preset.discriminator is not None) == (stage in ("edtalk.autoencoder", "edtalk.mouth_pose",
                                                                    "edtalk.expression", "reta"))
