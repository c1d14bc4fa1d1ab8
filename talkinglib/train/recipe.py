"""`talkinglib train recipe`: the whole chain of training stages, in order, as one command.

    talkinglib train recipe --preset tiny --data data/synthtalk/tiny-seed0 --out runs/chain
    talkinglib train recipe --preset full --data data/real --out runs/full --expert my_experts.pt

Two recipes (RECIPES), each a list of `talkinglib` calls:

- `tiny` (the commands of data/checkpoints/README.md): the EDTalk stages and their Tab. 3 comparison
  (the full design and both ablations, each with fresh navigation), the lip-sync expert, Audio2Lip
  with and without L_sync, the pose flow, audio2exp, RETA's teacher and RETA with its seven Tab. 4
  ablations. Each trained run is exported (float16 at tiny) into `--export` (default OUT/checkpoints),
  and later steps start from those exports, as the committed checkpoints do.
- `full` (notebook 11): the papers' main chain, one run per stage, each in OUT/<stage>/. Later steps
  start from the earlier runs' checkpoints as they are (OUT/edtalk.mouth_pose/edtalk.pt, ...): no
  export step, since at full nothing is committed, and a researcher can point any stage at any run.
  It runs at either preset: notebook 11's smoke path runs these very steps at tiny, two steps each
  (`--steps 2`, and `--set STEP:KEY=VALUE` for one step's setting).

The recipe is named by `--recipe` (default: the preset's name), the model and training presets by
`--preset`. A step whose run has reached its configured steps is skipped, and so is an export newer
than its run; an interrupted step resumes (every `train` call resumes). OUT/recipe.json records each
step's wall time, so the chain's cost is known stage by stage.
"""
import json
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from talkinglib import checkpoints
from talkinglib.data.clips import atomic_write_bytes
from talkinglib.errors import InputError


@dataclass(frozen=True)
class Step:
    name: str                 # the run folder under OUT (train) or the export's stem
    argv: tuple               # `talkinglib` arguments; {data} {out} {ckpt} {voices} {preset} are filled in
    produces: str             # the file the step writes ({out}/{name}/... or {ckpt}/...)
    source: str = ""          # export steps: the run checkpoint they read


def _train(name, stage, ckpt_file, *args):
    argv = ("train", stage, "--data", "{data}", "--out", "{out}/" + name, "--preset", "{preset}", *args)
    return Step(name, argv, "{out}/" + name + "/" + ckpt_file)


def _export(name, ckpt_file, dst, half=True, base=None):
    src = "{out}/" + name + "/" + ckpt_file
    extra = (("--half",) if half else ()) + (("--base", "{ckpt}/" + base) if base else ())
    return Step(dst, ("export", src, "{ckpt}/" + dst, *extra), "{ckpt}/" + dst, src)


def _edtalk(name, stage, dst, *args, base=None):
    return [_train(name, stage, "edtalk.pt", *args), _export(name, "edtalk.pt", dst, base=base)]


AE = "edtalk_tiny_ae.pt"           # stages 2 and 3 freeze its E and G: their exports store the rest (--base)


REL = "{ckpt}/"
TAB3_STEPS = 1500                  # each Tab. 3 run (EDTalk full, w/o Bank, w/o Orthogonal), fresh navigation
EEM_HIDDEN = 128                   # EDTalk's stage 3 builds EEM this wide (the tiny model preset: 32)
# the wider EEM darkens the lip line with the brows (EEM's channel-wide AdaIN): EDTalk-A's Sync_conf fell to
# 0.720 of the real clips'. Region L1s on the driving frame's mouth and eyes (ours) for 800 steps keep both
# the expression and the sync (data/checkpoints/README.md, "Why, and the stage 3 that keeps both")
EXP_AIDS = ("--set", "w_mouth=10", "--set", "w_eyes=3", "--steps", "800")
RETA_INIT = "edtalk_tiny_eem32.pt"  # RETA was trained from stage 3 at the preset's EEM width (its E_I, G, ELN)
RETA = ("--init", REL + RETA_INIT, "--teacher", REL + "teacher_tiny.pt", "--syncnet", REL + "syncnet_tiny.pt")
RETA_ABLATIONS = {"no3dmm": ("--set", "model.bridge.bridge=direct"), "concat": ("--set", "model.injection=concat"),
                  "nogpl": ("--set", "model.geometric=false"), "noerl": ("--set", "model.emotion=false"),
                  "nosty": ("--set", "model.style=false"), "noeds": ("--set", "eds=false"),
                  "notvm": ("--set", "w_motion=0")}


def tiny_recipe():
    """The tiny chain (data/checkpoints/README.md), in dependency order."""
    steps = [_train("expert_tiny", "expert", "expert.pt"),
             _export("expert_tiny", "expert.pt", "expert_tiny.pt", half=False)]
    steps += _edtalk("edtalk_ae", "edtalk.autoencoder", "edtalk_tiny_ae.pt", "--expert", REL + "expert_tiny.pt")
    steps += _edtalk("edtalk_mp", "edtalk.mouth_pose", "edtalk_tiny_mp.pt", "--init", REL + AE,
                     "--expert", REL + "expert_tiny.pt", base=AE)
    # stage 3 twice: at the preset's EEM width (32), which RETA starts from (RETA_INIT), and with a wider EEM
    # (ours, data/checkpoints/README.md: expression transfer 66 -> 72 % on tiny-seed0), which EDTalk uses
    steps += _edtalk("edtalk_exp32", "edtalk.expression", RETA_INIT, "--init", REL + "edtalk_tiny_mp.pt",
                     "--expert", REL + "expert_tiny.pt", base=AE)
    steps += _edtalk("edtalk_exp", "edtalk.expression", "edtalk_tiny.pt", "--init", REL + "edtalk_tiny_mp.pt",
                     "--expert", REL + "expert_tiny.pt", "--set", f"model.eem_hidden={EEM_HIDDEN}", *EXP_AIDS, base=AE)
    # EDTalk Tab. 3: the full design and its two ablations, each trained the same way from the same E
    # and G, with fresh navigation (w/o Bank's MLPs output D dims: nothing of stage 1's navigation fits
    # it) and more steps than the main stage 2, which keeps stage 1's navigation (300 fresh steps gave
    # self jaw −0.07 against 0.45 kept, so a 300-step ablation would measure its start, not its design)
    for name, field in (("fresh", None), ("nobank", "model.bank=direct"), ("noorth", "model.orthogonalize=none")):
        steps += _edtalk(f"edtalk_{name}", "edtalk.mouth_pose", f"edtalk_tiny_{name}.pt", "--init",
                         REL + AE, "--expert", REL + "expert_tiny.pt", "--steps", str(TAB3_STEPS),
                         "--set", "navigation_init=fresh",
                         *(("--set", field) if field else ()), base=AE)
    steps += [_train("syncnet_tiny", "syncnet", "syncnet.pt"), _export("syncnet_tiny", "syncnet.pt", "syncnet_tiny.pt")]
    for name, dst, extra in (("a2l", "audio2lip_tiny.pt", ("--syncnet", REL + "syncnet_tiny.pt")),
                             ("a2l_nosync", "audio2lip_tiny_nosync.pt", ("--set", "w_sync=0"))):
        steps += [_train(name, "edtalk.audio2lip", "audio2lip.pt", "--init", REL + "edtalk_tiny.pt", *extra),
                  _export(name, "audio2lip.pt", dst)]
    for name, stage, file, dst in (("a2p", "edtalk.audio2pose", "audio2pose.pt", "audio2pose_tiny.pt"),
                                   ("a2e", "edtalk.audio2exp", "audio2exp.pt", "audio2exp_tiny.pt")):
        steps += [_train(name, stage, file, "--init", REL + "edtalk_tiny.pt"), _export(name, file, dst)]
    steps += [_train("teacher_tiny", "teacher", "teacher.pt"), _export("teacher_tiny", "teacher.pt", "teacher_tiny.pt")]
    steps.append(Step("voices", ("synth", "--out", "{voices}", "--seed", "1", "--preset", "tiny", "--set",
                                 "identities=64", "--set", "test_identities=0"), "{voices}/splits.json"))
    distill = ("--set", "distill_data={voices}")
    steps += [_train("reta", "reta", "reta.pt", *RETA, *distill), _export("reta", "reta.pt", "reta_tiny.pt")]
    for name, args in RETA_ABLATIONS.items():
        # w/o ERL has no student to distil, but with code_distill (the tiny preset) its phase 1 still teaches
        # f_M the mouth on the same voices, so that it differs from the full model in the emotion alone
        steps += [_train(f"reta_{name}", "reta", "reta.pt", *RETA, *args, *distill),
                  _export(f"reta_{name}", "reta.pt", f"reta_tiny_{name}.pt")]
    return steps


def _run(stage, file):
    """A checkpoint of the full recipe: the run folder of a step is named after its stage."""
    return "{out}/" + stage + "/" + file


# EDTalk Eq. 9's L_mot reads a 3DMM regressor φ and an emotion network ψ on real and generated frames:
# there are none for real faces here (`talkinglib train expert` learns SynthTalk's factors), so the user
# passes them (--expert). Without them the recipe leaves stage 3 out, and says so:
NO_EXPERT = ("full recipe: edtalk.expression left out: its L_mot (EDTalk Eq. 9) needs a 3DMM regressor and an "
             "emotion network, passed with --expert; the audio stages and RETA start from edtalk.mouth_pose, "
             "whose expression bank, ELN and EEM stay untrained at full (stage 1 drives mouth and pose only)")


def full_recipe(expert=True, teacher=False):
    """The papers' main chain (notebook 11), in dependency order: EDTalk's stages 1-3 (A.3), the lip-sync
    expert, Audio2Lip (§3.3), the pose flow (A.1), audio2exp (EDTalk Eq. 15) and RETA (§3), each one run read by
    the next from OUT/<stage>/. expert: L_mot's experts are given ({expert}); without them stage 3 is left
    out (NO_EXPERT). teacher: RETA's teacher is given ({teacher}); without it RETA reads the registry's
    facial-expression ViT, which exists at full only (`talkinglib weights fetch vit_expression`).
    The ablations (EDTalk Tab. 3, RETA Tab. 4) are not steps here: each is its stage's `train` call with
    the settings of the tiny recipe's (its --dry-run prints them) and its own --out."""
    steps = [_train("edtalk.autoencoder", "edtalk.autoencoder", "edtalk.pt"),
             _train("edtalk.mouth_pose", "edtalk.mouth_pose", "edtalk.pt", "--init",
                    _run("edtalk.autoencoder", "edtalk.pt"))]
    edtalk = _run("edtalk.mouth_pose", "edtalk.pt")
    if expert:
        steps.append(_train("edtalk.expression", "edtalk.expression", "edtalk.pt", "--init", edtalk,
                            "--expert", "{expert}"))
        edtalk = _run("edtalk.expression", "edtalk.pt")
    syncnet = _run("syncnet", "syncnet.pt")
    steps.append(_train("syncnet", "syncnet", "syncnet.pt"))
    for stage, file, extra in (("edtalk.audio2lip", "audio2lip.pt", ("--syncnet", syncnet)),
                               ("edtalk.audio2pose", "audio2pose.pt", ()),
                               ("edtalk.audio2exp", "audio2exp.pt", ())):
        steps.append(_train(stage, stage, file, "--init", edtalk, *extra))
    steps.append(_train("reta", "reta", "reta.pt", "--init", edtalk, "--syncnet", syncnet,
                        *(("--teacher", "{teacher}") if teacher else ())))
    return steps


RECIPES = {"tiny": tiny_recipe, "full": full_recipe}


class RecipeError(InputError):
    """A recipe asked for with arguments that cannot run (raised before any step runs)."""


def _fill(text, where):
    return text.format(**where)


def finished(path):
    """A train step's checkpoint has reached its configured steps (a half-done run resumes instead)."""
    path = Path(path)
    if not path.is_file():
        return False
    state = checkpoints.load_checkpoint(path)
    train = state["config"].get("train", {})
    return "steps" in train and state["step"] >= train["steps"]


def done(step, where):
    out = Path(_fill(step.produces, where))
    if step.argv[0] == "train":
        return finished(out)
    if step.argv[0] == "export":
        src = Path(_fill(step.source, where))
        return out.is_file() and src.is_file() and out.stat().st_mtime >= src.stat().st_mtime
    return out.is_file()


def step_settings(pairs):
    """`--set STEP:KEY=VALUE` of `train recipe` -> {STEP: [KEY=VALUE, ...]}, in their order."""
    sets = {}
    for pair in pairs or ():
        name, sep, setting = pair.partition(":")
        if not sep or "=" not in setting:
            raise RecipeError(f"--set takes STEP:KEY=VALUE here, one step's setting (e.g. "
                              f"edtalk.autoencoder:batch_size=2), got {pair!r}")
        sets.setdefault(name, []).append(setting)
    return sets


def _recipe_steps(recipe, preset, expert, teacher):
    """The named recipe's steps, after refusing what it cannot run."""
    from talkinglib.models.edtalk import PRESETS
    if preset not in PRESETS:
        raise RecipeError(f"no preset {preset!r}: the presets are {sorted(PRESETS)}")
    if recipe not in RECIPES:
        raise RecipeError(f"no recipe {recipe!r}: the recipes are {sorted(RECIPES)} (tiny: the committed "
                          "checkpoints; full: the papers' main chain, at either preset)")
    if recipe == "tiny":
        if preset != "tiny":
            raise RecipeError(f"the tiny recipe makes the committed *_tiny.pt checkpoints and runs at --preset tiny "
                              f"only; the papers' chain at --preset {preset} is --recipe full")
        if expert is not None or teacher is not None:
            raise RecipeError("the tiny recipe trains its own expert and teacher (steps expert_tiny, teacher_tiny): "
                              "--expert and --teacher belong to --recipe full")
        return tiny_recipe()
    if teacher is None and preset == "tiny":       # train/reta.py: the registry's ViT is the full preset's
        raise RecipeError("RETA at --preset tiny needs a tiny emotion teacher: pass --teacher "
                          "data/checkpoints/teacher_tiny.pt (or one of `talkinglib train teacher`)")
    return full_recipe(expert=expert is not None, teacher=teacher is not None)


def _where(data, out, preset, export, voices, expert, teacher):
    """What fills the steps' placeholders."""
    return {"data": str(data), "out": str(out), "preset": preset, "ckpt": str(export or Path(out) / "checkpoints"),
            "voices": str(voices or Path(out) / "voices-seed1"), "expert": str(expert), "teacher": str(teacher)}


def plan(data, out, recipe=None, preset="tiny", export=None, voices=None, expert=None, teacher=None, steps=None,
         sets=None):
    """[(step, argv)] of a recipe, the placeholders filled. recipe: a name of RECIPES (default: the preset's).
    steps: every train step trains this many steps instead of its preset's (`--steps`, e.g. 2 for a smoke test).
    sets: {step name: [KEY=VALUE, ...]}, one step's settings (`--set`), e.g. a smaller batch."""
    recipe = preset if recipe is None else recipe
    recipe_steps = _recipe_steps(recipe, preset, expert, teacher)
    trained = [s.name for s in recipe_steps if s.argv[0] == "train"]
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise RecipeError(f"--steps is the number of steps of every train step: a positive integer, got {steps!r}")
    unknown = set(sets or {}) - set(trained)
    if unknown:
        raise RecipeError(f"--set for steps {sorted(unknown)}, which recipe {recipe!r} does not train; its train steps "
                          f"are {trained}")
    for flag, given, field in (("--export", export, "{ckpt}"), ("--voices", voices, "{voices}")):
        if given is not None and not any(field in s.produces for s in recipe_steps):
            raise RecipeError(f"recipe {recipe!r} writes nothing to {flag} (its steps read each other's runs): "
                              f"drop {flag}")
    where = _where(data, out, preset, export, voices, expert, teacher)
    planned = []
    for step in recipe_steps:
        argv = [_fill(a, where) for a in step.argv]
        if argv[0] == "train":                     # the overrides come last: the last --steps wins
            argv += [a for kv in (sets or {}).get(step.name, ()) for a in ("--set", kv)]
            argv += ["--steps", str(steps)] if steps is not None else []
        planned.append((step, argv))
    return planned


def run_recipe(data, out, preset="tiny", export=None, voices=None, only=None, dry_run=False, progress=True,
               recipe=None, expert=None, teacher=None, steps=None, sets=None):
    """Run (or resume) every step of a recipe (see `plan` for recipe, expert, teacher, steps and sets);
    returns {step name: seconds or "done"}. only: step names to run (the rest are skipped). dry_run: print
    the commands instead."""
    from talkinglib.cli import main as talkinglib
    out = Path(out)
    planned = plan(data, out, recipe, preset, export, voices, expert, teacher, steps, sets)
    unknown = set(only or ()) - {s.name for s, _ in planned}
    if unknown:
        raise RecipeError(f"unknown recipe steps {sorted(unknown)}; the steps are {[s.name for s, _ in planned]}")
    if (recipe or preset) == "full" and expert is None:
        print(NO_EXPERT)
    where = _where(data, out, preset, export, voices, expert, teacher)
    log_path = out / "recipe.json"
    log = json.loads(log_path.read_text()) if log_path.is_file() else {}
    bar = tqdm(planned, desc="recipe", unit="step", disable=not progress)
    for step, argv in bar:
        if dry_run:
            print("talkinglib " + " ".join(argv))
            continue
        if (only and step.name not in only) or done(step, where):
            continue
        bar.set_postfix_str(step.name)
        if argv[0] == "export":
            Path(where["ckpt"]).mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        if talkinglib(["--debug", *argv]) != 0:       # --debug: a step's error propagates as itself
            raise RuntimeError(f"recipe step {step.name} failed: talkinglib {' '.join(argv)}")
        log = json.loads(log_path.read_text()) if log_path.is_file() else {}   # again: `--only` runs may share it
        log[step.name] = round(time.time() - t0 + (log.get(step.name, 0) if argv[0] == "train" else 0), 1)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(log_path, json.dumps(log, indent=1).encode())
    return log
