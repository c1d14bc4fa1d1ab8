"""The `talkinglib` command (also `python -m talkinglib`).

    talkinglib synth --out DIR --seed N --preset tiny|full     generate a SynthTalk dataset
    talkinglib prepare mead|hdtf|video INPUT --out DIR         real videos -> the same format (25 fps, crops, landmarks)
    talkinglib train STAGE --data DIR --out DIR --preset tiny  train a stage (resumes by default);
        STAGE: probe, expert, edtalk.autoencoder, edtalk.mouth_pose (--init), edtalk.expression (--init),
               edtalk.audio2pose (--init: the EDTalk that reads W^p), syncnet (the lip-sync expert),
               edtalk.audio2lip (--init, --syncnet), edtalk.audio2exp (--init), teacher (RETA's emotion ViT),
               reta (--init EDTalk, --teacher, --syncnet),
               recipe (the stages above in order, finished ones skipped: --recipe tiny, the committed chain,
               exported; --recipe full, the papers' main chain, at --preset full or tiny: train/recipe.py)
    talkinglib fitness --data DIR [--probe CKPT]               SYNTHTALK.md's fitness numbers
    talkinglib export RUN/probe.pt data/checkpoints/x.pt       weights only, for committing
    talkinglib generate --image me.jpg --audio talk.mp3 --out out.mp4 --checkpoint CKPT ...  an mp4 with sound
    talkinglib evaluate --mode reta --checkpoint CKPT --data DIR --out DIR   paper metrics on a split
    talkinglib bench --preset full --mode edtalk-a --json F    inference speed against the official per-frame loop
    talkinglib demo                                            the README's main job
    talkinglib weights list|path|fetch|verify [NAME]           pretrained weights (fetch: the only download)

An error the user can fix (talkinglib.errors) is printed as one line, `error: ...`, saying what to do, and the
command exits with status 2; `talkinglib --debug COMMAND ...` shows the Python traceback instead.
"""
import argparse
import json
import sys
import time
import warnings
from dataclasses import fields, is_dataclass, replace
from pathlib import Path

from talkinglib import checkpoints
from talkinglib.errors import InputError, TalkingLibError, TalkingLibWarning


def _parse_overrides(pairs, cfg):
    """--set key=value for fields of a frozen dataclass (values parsed as JSON when possible);
    key.sub=value reaches a field of a nested config (e.g. bridge.bridge=direct)."""
    names = {f.name for f in fields(cfg)}
    kw, nested = {}, {}
    for pair in pairs or []:
        if "=" not in pair:
            raise InputError(f"--set expects key=value, got {pair!r}")
        k, v = pair.split("=", 1)
        head, _, rest = k.partition(".")
        if head not in names:
            raise InputError(f"unknown setting {head!r}; choose from {sorted(names)}")
        if rest:
            if not is_dataclass(getattr(cfg, head)):
                raise InputError(f"setting {head!r} has no fields (got {k!r})")
            nested.setdefault(head, []).append(f"{rest}={v}")
            continue
        try:
            kw[k] = json.loads(v)
        except json.JSONDecodeError:
            kw[k] = v
    for head, sub in nested.items():
        kw[head] = _parse_overrides(sub, kw.get(head, getattr(cfg, head)))
    return replace(cfg, **kw)


def cmd_synth(args):
    from talkinglib.synth.generate import generate_dataset, preset
    cfg = _parse_overrides(args.set, preset(args.preset))
    generate_dataset(args.out, seed=args.seed, cfg=cfg, workers=args.workers, overwrite=args.overwrite)
    return 0


TRAIN_STAGES = ("probe", "expert", "edtalk.autoencoder", "edtalk.mouth_pose", "edtalk.expression",
                "edtalk.audio2pose", "syncnet", "edtalk.audio2lip", "edtalk.audio2exp", "teacher", "reta", "recipe")


def _split_overrides(pairs):
    """--set model.KEY=V goes to the model config, --set KEY=V or train.KEY=V to the training config."""
    model, train = [], []
    for pair in pairs or []:
        key = pair.split("=", 1)[0]
        if key.startswith("model."):
            model.append(pair[len("model."):])
        else:
            train.append(pair[len("train."):] if key.startswith("train.") else pair)
    return model, train


def cmd_train(args):
    if args.stage not in TRAIN_STAGES:
        raise InputError(f"unknown stage {args.stage!r}; available: {', '.join(TRAIN_STAGES)}")
    if not (Path(args.data) / "splits.json").is_file():
        raise InputError(f"{args.data} is not a dataset (no splits.json). Make one with "
                         f"`talkinglib synth --out {args.data} --preset {args.preset}`")
    if args.stage == "recipe":
        from talkinglib.train.recipe import RecipeError, run_recipe, step_settings
        if args.init or args.syncnet:
            raise InputError("train recipe chains its own runs (see --dry-run for the commands); --init and --syncnet "
                             "belong to single stages")
        try:
            times = run_recipe(args.data, args.out, preset=args.preset, export=args.export, voices=args.voices,
                               only=args.only.split(",") if args.only else None, dry_run=args.dry_run,
                               recipe=args.recipe, expert=args.expert, teacher=args.teacher, steps=args.steps,
                               sets=step_settings(args.set))
        except RecipeError as e:                 # refused before any step ran
            raise InputError(f"train recipe: {e}") from None
        if not args.dry_run:
            print(f"recipe: every step done; wall time per step in {Path(args.out) / 'recipe.json'} "
                  f"({sum(times.values()) / 60:.1f} min in all)")
        return 0
    from talkinglib.train.presets import resolve
    model_sets, train_sets = _split_overrides(args.set)
    preset = resolve(args.stage, args.preset)                # the one place --preset becomes configs
    train_cfg = _parse_overrides(train_sets, preset.train)
    if args.steps is not None:
        train_cfg = replace(train_cfg, steps=args.steps)
    overrides = None
    if args.stage in ("edtalk.mouth_pose", "edtalk.expression"):
        # --set model.KEY=V: the fields these stages may change (edtalk_common.MODEL_CHANGES), typed by one parser
        keys = [kv.split("=", 1)[0].split(".", 1)[0] for kv in model_sets]
        typed = _parse_overrides(model_sets, preset.model)
        overrides = {k: getattr(typed, k) for k in keys} or None
        preset = replace(preset, train=train_cfg)
    else:
        preset = replace(preset, train=train_cfg, model=_parse_overrides(model_sets, preset.model))
    run = dict(preset=preset, resume=not args.no_resume, stop_at=args.stop_at)
    stage = args.stage
    if stage in ("probe", "expert"):
        from talkinglib.train.probe import train_probe
        ckpt = f"{stage}.pt"
        train_probe(args.data, args.out, ckpt_name=ckpt, **run)
    elif stage == "edtalk.autoencoder":
        from talkinglib.train.edtalk_autoencoder import train_autoencoder
        ckpt = "edtalk.pt"
        train_autoencoder(args.data, args.out, init=args.init, expert=args.expert, device=args.device, **run)
    elif stage in ("edtalk.mouth_pose", "edtalk.expression"):
        if stage == "edtalk.mouth_pose":           # model.bank=direct, model.orthogonalize=none (Tab. 3)
            from talkinglib.train.edtalk_mouth_pose import train_mouth_pose as train
        else:                                       # model.eem_hidden=128 (a wider EEM, ours)
            from talkinglib.train.edtalk_expression import train_expression as train
        ckpt = "edtalk.pt"
        train(args.data, args.out, init=args.init, model_overrides=overrides, expert=args.expert, device=args.device,
              **run)
    elif stage == "reta":
        from talkinglib.train.reta import train_reta
        ckpt = "reta.pt"
        train_reta(args.data, args.out, init=args.init, teacher=args.teacher, syncnet=args.syncnet,
                   device=args.device, **run)
    else:
        import importlib
        train_mod, fn, ckpt = AUDIO_STAGES[stage]
        kw = {"init": args.init} if stage not in ("syncnet", "teacher") else {}
        if stage == "edtalk.audio2lip":
            kw["syncnet"] = args.syncnet
        getattr(importlib.import_module(train_mod), fn)(args.data, args.out, device=args.device, **kw, **run)
    print(f"checkpoint: {Path(args.out) / ckpt}")
    return 0


# the audio-driven stages and the SyncNet expert: (training module, its train function, checkpoint file)
AUDIO_STAGES = {
    "edtalk.audio2pose": ("talkinglib.train.edtalk_audio2pose", "train_audio2pose", "audio2pose.pt"),
    "edtalk.audio2lip": ("talkinglib.train.edtalk_audio2lip", "train_audio2lip", "audio2lip.pt"),
    "edtalk.audio2exp": ("talkinglib.train.edtalk_audio2exp", "train_audio2exp", "audio2exp.pt"),
    "syncnet": ("talkinglib.train.syncnet", "train_syncnet", "syncnet.pt"),
    "teacher": ("talkinglib.train.teacher", "train_teacher", "teacher.pt"),
}


def cmd_fitness(args):
    from talkinglib.synth.learnability import check, dataset_fitness
    probe = None
    if args.probe:
        probe = checkpoints.load(args.probe, "probe")
    numbers = dataset_fitness(Path(args.data), probe=probe)
    for k, (v, thr, ok) in check(numbers).items():
        print(f"{k:28s} {v:8.3f}   threshold {thr:6.2f}   {'ok' if ok else 'FAIL'}")
    if args.json:
        Path(args.json).write_text(json.dumps(numbers, indent=1, sort_keys=True))
    return 0 if all(ok for _, _, ok in check(numbers).values()) else 1


def cmd_export(args):
    from talkinglib.checkpoints import export_weights
    dst = export_weights(args.src, args.dst, half=args.half, base=args.base)
    print(f"wrote {dst} (weights only{', float16' if args.half else ''}; no optimizer state"
          f"{f'; the tensors it shares with {args.base} are read from there' if args.base else ''})")
    return 0


def cmd_demo(args):
    from talkinglib.demo import run_demo
    return run_demo(out=Path(args.out), seed=args.seed, probe_steps=args.probe_steps,
                    retrain_probe=args.retrain_probe)


def build_parser():
    p = argparse.ArgumentParser(prog="talkinglib", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true",
                   help="on an error, show the Python traceback instead of the one-line message")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="generate a SynthTalk dataset")
    s.add_argument("--out", required=True, help="output folder (created)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--preset", choices=["tiny", "full"], default="tiny")
    s.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    s.add_argument("--overwrite", action="store_true", help="replace an existing dataset in --out")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a SynthConfig field")
    s.set_defaults(func=cmd_synth)

    t = sub.add_parser("train", help="train a stage")
    t.add_argument("stage", help=" | ".join(TRAIN_STAGES))
    t.add_argument("--data", required=True, help="dataset root (talkinglib synth / prepare)")
    t.add_argument("--out", required=True, help="run folder: checkpoint and TensorBoard logs")
    t.add_argument("--preset", choices=["tiny", "full"], default="tiny")
    t.add_argument("--steps", type=int, default=None, help="train this many steps (recipe: every train step)")
    t.add_argument("--no-resume", action="store_true", help="start over even if a checkpoint exists")
    t.add_argument("--stop-at", type=int, default=None,
                   help="stop (with a checkpoint) at this step; a later run resumes from it")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a training config field (KEY or train.KEY) or a model field (model.KEY); "
                        "recipe: STEP:KEY=VALUE, one step's")
    t.add_argument("--init", default=None,
                   help="EDTalk stages: start from this checkpoint (the previous stage's edtalk.pt, or an "
                        "official EDTalk.pt)")
    t.add_argument("--expert", default=None,
                   help="edtalk.expression: the L_mot expert checkpoint; edtalk.autoencoder: the expert of "
                        "perceptual=expert; edtalk.mouth_pose: the reader of w_swap_expert "
                        "(default data/checkpoints/expert_PRESET.pt); recipe full: edtalk.expression's (left "
                        "out without one)")
    t.add_argument("--syncnet", default=None,
                   help="edtalk.audio2lip: the lip-sync expert checkpoint (default data/checkpoints/syncnet_PRESET.pt); "
                        "reta: the same, required at tiny, Wav2Lip's expert from the registry at full when omitted")
    t.add_argument("--teacher", default=None,
                   help="reta: the emotion teacher checkpoint (talkinglib train teacher); at full the registry's "
                        "pretrained facial-expression ViT when omitted; recipe full: reta's")
    t.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    t.add_argument("--recipe", default=None, help="recipe: tiny (the committed checkpoints) or full (the papers' "
                                                  "main chain, at either preset); default: the preset's")
    t.add_argument("--export", default=None, help="recipe: where exported checkpoints go (default OUT/checkpoints)")
    t.add_argument("--voices", default=None, help="recipe: RETA's further voices (default OUT/voices-seed1)")
    t.add_argument("--only", default=None, help="recipe: run only these steps (comma-separated names)")
    t.add_argument("--dry-run", action="store_true", help="recipe: print the commands, run nothing")
    t.set_defaults(func=cmd_train)

    f = sub.add_parser("fitness", help="SynthTalk fitness numbers on held-out identities")
    f.add_argument("--data", required=True)
    f.add_argument("--probe", help="factor probe checkpoint to score as well")
    f.add_argument("--json", help="also write the numbers to this file")
    f.set_defaults(func=cmd_fitness)

    e = sub.add_parser("export", help="copy a checkpoint without its optimizer state")
    e.add_argument("src")
    e.add_argument("dst")
    e.add_argument("--half", action="store_true", help="store the weights as float16 (half the bytes)")
    e.add_argument("--base", help="an exported checkpoint SRC was trained from: store only the tensors that differ "
                                  "from it (it must then stay beside DST; e.g. EDTalk stages 2 and 3 freeze E and G)")
    e.set_defaults(func=cmd_export)

    d = sub.add_parser("demo", help="the README's main job: data, probe, figures, a scored talking-head video")
    d.add_argument("--out", default="outputs/demo")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--retrain-probe", action="store_true",
                   help="train the factor probe (about 6.5 min) instead of measuring the committed one")
    d.add_argument("--probe-steps", type=int, default=None, help="train the probe for this many steps (implies "
                                                                   "--retrain-probe)")
    d.set_defaults(func=cmd_demo)

    from talkinglib import weights
    from talkinglib.data import sources
    from talkinglib.eval import cli as eval_cli
    from talkinglib.inference import cli as inference_cli
    sources.add_cli(sub)
    inference_cli.add_cli(sub)
    eval_cli.add_cli(sub)
    weights.add_cli(sub)
    return p


def one_line(err):
    """An exception's message on one line (its own lines joined with ' · ')."""
    return " · ".join(line.strip() for line in str(err).splitlines() if line.strip()) or type(err).__name__


def _warning_line(message, category, filename, lineno, file=None, line=None):
    """talkinglib's own warnings as one line on stderr, `warning: ...`; other libraries' as Python prints them."""
    if issubclass(category, TalkingLibWarning):
        print(f"warning: {one_line(message)}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def main(argv=None):
    """The `talkinglib` command; returns its exit status. Errors the user can fix (TalkingLibError) and the
    system's (a file that is missing or cannot be written: OSError) print one line and return 2; anything else
    is a bug, printed as one line that says how to see and report it, and returns 1. --debug re-raises."""
    args = build_parser().parse_args(argv)
    t0 = time.time()
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_line
            rc = args.func(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"error: talkinglib {args.command} interrupted", file=sys.stderr)
        return 130
    except (TalkingLibError, OSError) as e:
        if args.debug:
            raise
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    except Exception as e:                   # not a user error: a bug in talkinglib or a library under it
        if args.debug:
            raise
        print(f"error: unexpected {type(e).__name__}: {one_line(e)} (a bug: run `talkinglib --debug "
              f"{args.command} ...` for the traceback, and report it)", file=sys.stderr)
        return 1
    print(f"[talkinglib {args.command}] done in {time.time() - t0:.1f} s", file=sys.stderr)
    return rc


def run():
    """`python -m talkinglib`: main's status as the process's exit status."""
    raise SystemExit(main())


if __name__ == "__main__":
    run()
