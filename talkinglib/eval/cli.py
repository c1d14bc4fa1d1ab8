"""`talkinglib evaluate` and `talkinglib bench`: the command lines of eval/evaluate.py and eval/bench.py
(registered by talkinglib/cli.py)."""
import json
from pathlib import Path

from talkinglib import checkpoints
from talkinglib.errors import InputError


def cmd_evaluate(args):
    from talkinglib.eval.evaluate import default_scorers, evaluate_clips, make_generator, write_report
    ckpt = Path(__file__).resolve().parents[2] / "data" / "checkpoints"
    if args.mode == "reta":
        model = checkpoints.load(args.checkpoint, "reta")
    else:
        model = checkpoints.load(args.checkpoint, "edtalk.")
    a2l = None
    if args.audio2lip:
        a2l = checkpoints.load(args.audio2lip, "edtalk.audio2lip").float().to(args.device)
    syncnet = None
    if args.syncnet != "none":
        syncnet = checkpoints.load(args.syncnet or ckpt / "syncnet_tiny.pt", "syncnet")
    probe = checkpoints.load(args.probe or ckpt / "probe_tiny.pt", "probe").to(args.device)
    emotion = None
    if args.emotion_classifier != "probe":
        from talkinglib.eval.evaluate import teacher_classifier
        emotion = teacher_classifier(args.emotion_classifier)
    scorers = default_scorers(probe, syncnet, args.device, emotion=emotion)
    model = model.float().to(args.device).eval()
    generate = make_generator(args.mode, model, a2l, args.batch_size)
    summary, clips = evaluate_clips(generate, args.data, scorers, args.split, args.max_clips, args.device,
                                    stride=args.clip_stride)
    name = args.name or args.mode
    table = write_report(args.out, name, summary, clips)
    print(table.read_text())
    if args.disentangle:
        if args.mode == "reta":
            raise InputError("--disentangle scores EDTalk's mouth, pose and expression drivers; RETA has none")
        from talkinglib.eval.disentangle import DisentangleConfig, disentanglement_scores
        from talkinglib.eval.evaluate import write_disentanglement
        scores = disentanglement_scores(model, probe, args.data, args.split, DisentangleConfig(n=args.disentangle_n))
        print(write_disentanglement(args.out, name, scores).read_text())
    print(f"wrote {table}, {Path(args.out) / 'table.csv'} and per-clip JSON in {args.out}")
    return 0


def cmd_scorecard(args):
    from talkinglib.eval.scorecard import format_scorecard, scorecard, write_scorecard
    card = scorecard(args.data, args.checkpoints, args.split, tuple(args.parts), args.n, args.max_clips,
                     edtalk=args.edtalk, audio2lip=args.audio2lip, syncnet=args.syncnet, audio2pose=args.audio2pose,
                     reta=args.reta, probe=args.probe)
    print(format_scorecard(card))
    if args.out:
        print(f"wrote {write_scorecard(args.out, card)} and scorecard.json")
    return 0


def cmd_bench(args):
    from talkinglib.eval.bench import bench, format_bench
    from talkinglib.eval.bench_suite import bench_suite, format_suite
    if args.suite:
        r = bench_suite(args.preset, args.device, frames=args.frames,
                        batch_size=max(args.batch_size) if args.batch_size else None,
                        dtypes=args.dtype, compile=args.compile, seed=args.seed)
        print(format_suite(r))
    else:
        batch_sizes = tuple(args.batch_size) if args.batch_size else (1, 8 if args.device == "cpu" else 32)
        r = bench(args.preset, args.mode, frames=args.frames, batch_sizes=batch_sizes, device=args.device,
                  dtypes=tuple(args.dtype or ("float32",)), form=args.form, compile=args.compile,
                  checkpoint=args.checkpoint, seed=args.seed)
        print(format_bench(r))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(r, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


def add_cli(sub):
    v = sub.add_parser("evaluate", help="a model on a dataset split with the papers' metrics (table, CSV, JSON, plots)")
    v.add_argument("--mode", choices=["edtalk-a", "edtalk-v", "reta"], required=True)
    v.add_argument("--checkpoint", required=True, help="EDTalk (edtalk-a/-v) or RETA checkpoint")
    v.add_argument("--audio2lip", help="edtalk-a: the Audio2Lip checkpoint")
    v.add_argument("--data", required=True, help="dataset root (SynthTalk or prepared)")
    v.add_argument("--split", default="test")
    v.add_argument("--probe", help="SynthTalk factor probe (default data/checkpoints/probe_tiny.pt)")
    v.add_argument("--syncnet", help="SyncNet checkpoint (default data/checkpoints/syncnet_tiny.pt; 'none' to skip)")
    v.add_argument("--out", required=True, help="report folder (rows of several models accumulate in its table)")
    v.add_argument("--name", help="the model's row name (default: the mode)")
    v.add_argument("--max-clips", type=int, default=None)
    v.add_argument("--clip-stride", type=int, default=1, help="every k-th clip of the split (3: all 8 emotions in 8 clips)")
    v.add_argument("--emotion-classifier", default="probe",
                   help="Acc_emo's classifier: 'probe' (SynthTalk's factor probe) or a teacher checkpoint "
                        "(talkinglib train teacher, e.g. data/checkpoints/teacher_tiny.pt)")
    v.add_argument("--disentangle", action="store_true",
                   help="EDTalk modes on SynthTalk: transfer R², expression accuracy and the cross-talk matrix")
    v.add_argument("--disentangle-n", type=int, default=192, help="samples per disentanglement measurement")
    v.add_argument("--batch-size", type=int, default=None, help="frames per G call (default: 32 on a GPU; on a CPU 1 at 256², 4 at 64²)")
    v.add_argument("--device", default="cpu")
    v.set_defaults(func=cmd_evaluate)

    c = sub.add_parser("scorecard", help="issue 18's bars on a SynthTalk split: EDTalk-V, EDTalk-A, the pose flow, RETA")
    c.add_argument("--data", required=True, help="a SynthTalk dataset (best a seed no checkpoint was trained on)")
    c.add_argument("--checkpoints", default=None, help="folder of the chain's exports (default data/checkpoints)")
    c.add_argument("--split", default="test")
    c.add_argument("--parts", nargs="+", default=["edtalk", "edtalk-a", "flow", "reta"],
                   choices=["edtalk", "edtalk-a", "flow", "reta"])
    c.add_argument("--n", type=int, default=192, help="samples per EDTalk-V measurement")
    c.add_argument("--max-clips", type=int, default=None, help="clips for EDTalk-A, the flow and RETA (default all)")
    for name in ("edtalk", "audio2lip", "syncnet", "audio2pose", "reta", "probe"):
        c.add_argument(f"--{name}", default=None, help=f"this {name} checkpoint instead of the folder's")
    c.add_argument("--out", default=None, help="write scorecard.json and scorecard.md here")
    c.set_defaults(func=cmd_scorecard)

    b = sub.add_parser("bench", help="inference frames/s and latency: our fast path against the official per-frame loop")
    b.add_argument("--preset", choices=["tiny", "full"], default="full")
    b.add_argument("--mode", choices=["edtalk-a", "edtalk-v", "reta"], default="edtalk-a")
    b.add_argument("--frames", type=int, default=100,
                   help="frames per clip (audio of frames / 25 s); compile=auto compiles G from 100 frames at 256²")
    b.add_argument("--batch-size", type=int, nargs="+", default=None,
                   help="our batch sizes to time (default 1 8 on a CPU, 1 32 on a GPU; --suite: the largest, default "
                        "the pipelines' own: 32 on a GPU, on a CPU 1 at 256² and 4 at 64²)")
    b.add_argument("--device", default="cpu")
    b.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], nargs="+", default=None,
                   help="G's dtypes for ours: float32 always, each other one a row with its PSNR against float32 "
                        "(autocast; the per-frame baseline stays float32). --suite: default float32 bfloat16 "
                        "(+ float16 on CUDA)")
    b.add_argument("--form", choices=["shared", "fused"], default="shared",
                   help="G's modulated convs: shared-weight (the default fast path) or fused (the official order)")
    b.add_argument("--compile", choices=["auto", "always", "never"], default="auto",
                   help="torch.compile G: auto compiles, on a CPU, clips long enough to pay for it "
                        "(inference/render.py), as generate does")
    b.add_argument("--checkpoint", default=None, help="weights (default: random at the preset's architecture)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--suite", action="store_true",
                   help="every mode (edtalk-a, edtalk-v, reta) and dtype: frames/s at the largest --batch-size and "
                        "one-frame latency, no baseline (for a GPU: --device cuda --json suite.json)")
    b.add_argument("--json", default=None, help="write the result here")
    b.set_defaults(func=cmd_bench)
