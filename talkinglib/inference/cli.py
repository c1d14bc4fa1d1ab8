"""`talkinglib generate`: the command line of inference/pipeline.py (registered by talkinglib/cli.py)."""
import sys
from pathlib import Path

from talkinglib.errors import InputError

STRIP_FRAMES = 8            # --strip's default number of frames
STRIP_MIN_SIDE = 128        # frames smaller than this are enlarged (nearest neighbour, an integer factor) in a strip


def strip_times(total, n):
    """The indices of n frames of a total-frame video, evenly spaced from the first frame to the last
    (fewer when the video has fewer than n frames)."""
    import numpy as np
    n = min(n, total)
    return np.unique(np.linspace(0, total - 1, n).round().astype(int)) if n > 1 else np.zeros(1, int)


def write_strip(video, png, n=STRIP_FRAMES):
    """A PNG of n frames of the mp4 `video`, evenly spaced in time (strip_times), side by side as the file
    decodes them, each enlarged by an integer factor k to at least STRIP_MIN_SIDE pixels (pixel-exact:
    every pixel repeated k × k), with the frame's time in seconds under it. The video is decoded once,
    keeping only those frames; the PNG appears only when complete (temporary file + rename).
    Returns (frame indices, k)."""
    import io

    import numpy as np
    from PIL import Image, ImageDraw

    from talkinglib.data.clips import atomic_write_bytes
    from talkinglib.video import VideoError, _open
    with _open(video) as f:
        stream = f.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate)
        total = stream.frames or sum(1 for _ in f.decode(stream))      # mp4 records it; else count once
    keep = strip_times(total, n)
    picked, wanted = {}, set(keep.tolist())
    with _open(video) as f:
        for i, fr in enumerate(f.decode(f.streams.video[0])):
            if i in wanted:
                picked[i] = fr.to_ndarray(format="rgb24")
            if i >= keep[-1]:
                break
    if len(picked) != len(keep):
        raise VideoError(f"{video!r} has {len(picked)} of the {len(keep)} frames its header promises")
    side = picked[keep[0]].shape[0]
    k = max(1, -(-STRIP_MIN_SIDE // side))
    row = np.concatenate([picked[i].repeat(k, 0).repeat(k, 1) for i in keep], axis=1)
    band = 14
    img = Image.new("RGB", (row.shape[1], row.shape[0] + band), "white")
    img.paste(Image.fromarray(row), (0, 0))
    draw = ImageDraw.Draw(img)
    w = row.shape[1] // len(keep)
    for j, i in enumerate(keep):
        draw.text((j * w + w // 2, row.shape[0] + band // 2), f"{i / rate:.2f} s", fill="black", anchor="mm")
    buf = io.BytesIO()
    img.save(buf, format="png")
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(png, buf.getvalue())
    return keep, k


def check_strip(args):
    """--strip PATH.png and --strip-frames N >= 1, refused before any model is loaded."""
    if args.strip_frames is not None and not args.strip:
        raise InputError("--strip-frames sets the frames of --strip: give --strip PATH.png too")
    if args.strip and Path(args.strip).suffix.lower() != ".png":
        raise InputError(f"--strip writes a PNG image: give a path ending in .png (got {args.strip!r})")
    if args.strip_frames is not None and args.strip_frames < 1:
        raise InputError(f"--strip-frames must be 1 or more (got {args.strip_frames}); the default is {STRIP_FRAMES}")


# generate's options that only one mode reads (their defaults: given by the user when they differ)
EDTALK_A_ONLY = {"audio2lip": None, "pose_flow": None, "semantic": None, "presets_data": None, "pose": "still",
                 "emotion": None, "intensity": 1.0, "blend_with": None, "blend": 0.5, "expression": None,
                 "text": None, "temperature": 1.0}
EDTALK_V_ONLY = {"driving": None, "components": "mouth,pose,expression", "mouth_video": None, "pose_video": None}


def check_mode_options(args):
    """Options the chosen --mode would not read are refused, not silently ignored (before any model loads)."""
    unused = dict(EDTALK_A_ONLY) if args.mode != "edtalk-a" else {}
    if args.mode != "edtalk-v":
        unused.update(EDTALK_V_ONLY)
    if args.mode == "reta":
        unused["expression_video"] = None
    given = ["--" + k.replace("_", "-") for k, default in unused.items() if getattr(args, k) != default]
    if given:
        why = " (RETA takes its emotion and mouth from the audio)" if args.mode == "reta" else ""
        raise InputError(f"--mode {args.mode} does not read {', '.join(given)}{why}; drop "
                         f"{'it' if len(given) == 1 else 'them'}, or choose the mode that does")
    if args.mode == "edtalk-a" and args.pose == "sample" and not (args.pose_flow or args.random_weights):
        raise InputError("--pose sample draws the head pose from a pose flow: give --pose-flow CKPT (talkinglib train "
                         "edtalk.audio2pose; data/checkpoints/audio2pose_tiny.pt), or --pose still, or --pose VIDEO")


def format_speed(speed):
    """generate's speed line: frames/s over the whole clip (the source's encoding to the video closed)."""
    if not speed["compiled"]:
        g = "G eager"
    elif speed["compile_seconds"] > 0:
        g = f"G compiled, {speed['compile_seconds']:.1f} s of it compiling"
    else:
        g = "G compiled earlier in this process"
    return (f"generated {speed['frames']} frames in {speed['seconds']:.1f} s: {speed['fps']:.2f} frames/s "
            f"(batch {speed['batch_size']}, {g})")


def cmd_generate(args):
    import torch
    from talkinglib.inference.pipeline import TalkingHeadPipeline, read_driving_video
    from talkinglib.video import check_writable
    check_strip(args)
    check_mode_options(args)
    if Path(args.out).suffix.lower() != ".mp4":
        raise InputError(f"--out must end in .mp4; got {args.out!r}")
    check_writable(args.out)
    if args.official + bool(args.checkpoint) + args.random_weights != 1:
        raise InputError("give exactly one of --checkpoint CKPT (ours), --official (EDTalk.pt + Audio2Lip.pt) or "
                         "--random-weights (speed checks only)")
    if args.preset is not None and not args.random_weights:
        raise InputError("--preset picks the architecture of --random-weights; a checkpoint brings its own")
    if args.random_weights and (args.audio2lip or args.pose_flow or args.semantic):
        raise InputError("--random-weights builds every model at random: drop --audio2lip / --pose-flow / --semantic")
    weights = ("official weights" if args.official else args.checkpoint if args.checkpoint else
               f"RANDOM weights at the {args.preset or 'full'} preset: for speed checks only, the video shows nobody")
    print(f"generate: loading the {args.mode} model{'' if args.mode == 'reta' else 's'} ({weights}) ...",
          file=sys.stderr, flush=True)
    fast = dict(form=args.form, compile=args.compile, dtype=args.dtype)
    if args.official:
        if args.mode != "edtalk-a":
            raise InputError("--official is wired for --mode edtalk-a (EDTalk.pt + Audio2Lip.pt)")
        pipe = TalkingHeadPipeline.official(args.batch_size, args.device, args.pose_flow, args.semantic,
                                            args.presets_data, fast=fast)
    elif args.random_weights:
        pipe = TalkingHeadPipeline.random(args.mode, args.preset or "full", args.batch_size, args.device, fast=fast)
    else:
        pipe = TalkingHeadPipeline.from_checkpoints(args.mode, args.checkpoint, args.audio2lip, args.pose_flow,
                                                    args.semantic, args.presets_data, args.batch_size, args.device,
                                                    fast=fast)
    options = {}
    if args.mode == "edtalk-v":
        separate = {c: p for c, p in (("mouth", args.mouth_video), ("pose", args.pose_video),
                                      ("expression", args.expression_video)) if p}
        if bool(args.driving) == bool(separate):
            raise InputError("--mode edtalk-v needs --driving VIDEO (a 25 fps face video for --components), or one "
                             "video per component: --mouth-video, --pose-video, --expression-video")
        if separate:
            options = dict(driving={c: read_driving_video(p, pipe.size) for c, p in separate.items()},
                           driving_path=next(iter(separate.values())))            # its sound, unless --audio
        else:
            options = dict(driving=read_driving_video(args.driving, pipe.size), driving_path=args.driving,
                           components=tuple(args.components.split(",")))
    elif args.mode == "edtalk-a":
        pose = args.pose
        if pose not in ("sample", "still"):
            pose = read_driving_video(pose, pipe.size)
        given = [o for o, v in (("--emotion", args.emotion), ("--expression", args.expression),
                                ("--expression-video", args.expression_video)) if v]
        if len(given) > 1:
            raise InputError(f"give one expression source, not {' and '.join(given)}")
        expression = args.emotion or args.expression
        if args.expression_video:                                          # a reference clip: ELN over its frames
            expression = read_driving_video(args.expression_video, pipe.size)
        if args.blend_with:
            if not args.emotion:
                raise InputError("--blend-with mixes two presets: give the first with --emotion")
            expression = (args.emotion, args.blend_with, args.blend)       # α W^e_1 + (1 − α) W^e_2 (EDTalk Eq. A3)
        options = dict(pose=pose, expression=expression, text=args.text, intensity=args.intensity,
                       temperature=args.temperature, generator=torch.Generator().manual_seed(args.seed))
    if args.audio is None and args.mode != "edtalk-v":
        raise InputError(f"--mode {args.mode} needs --audio")
    out = pipe.to_video(args.image, args.audio, args.out, crop=args.crop, paste=args.paste_back, **options)
    print(f"wrote {out}")
    print(format_speed(pipe.last_speed))
    if args.strip:
        keep, _ = write_strip(out, args.strip, args.strip_frames or STRIP_FRAMES)
        print(f"wrote {args.strip} (frames {', '.join(map(str, keep))})")
    return 0


def add_cli(sub):
    g = sub.add_parser("generate", help="one identity image + audio -> an mp4 with sound")
    g.add_argument("--image", required=True, help="identity photo (png/jpg); its face is found and cropped")
    g.add_argument("--audio", help="speech in any format soundfile, librosa or PyAV reads (edtalk-v: default "
                                    "the driving video's sound)")
    g.add_argument("--out", required=True, help="output .mp4")
    g.add_argument("--mode", choices=["edtalk-a", "edtalk-v", "reta"], default="edtalk-a")
    g.add_argument("--driving", help="edtalk-v: a 25 fps face video whose frames drive the photo")
    g.add_argument("--components", default="mouth,pose,expression",
                   help="edtalk-v: what the driving video drives (comma-separated subset)")
    for c in ("mouth", "pose", "expression"):
        g.add_argument(f"--{c}-video", help=f"edtalk-v: a 25 fps face video for the {c} alone (instead of --driving; "
                                            "the videos must have one length)"
                                            + ("; edtalk-a: a reference clip for the expression" if c == "expression" else ""))
    g.add_argument("--checkpoint", help="EDTalk (edtalk-a) or RETA (reta) checkpoint of ours")
    g.add_argument("--official", action="store_true", help="the official EDTalk.pt + Audio2Lip.pt (weights registry)")
    g.add_argument("--audio2lip", help="edtalk-a: Audio2Lip checkpoint (talkinglib train edtalk.audio2lip)")
    g.add_argument("--pose-flow", help="edtalk-a: pose flow checkpoint (talkinglib train edtalk.audio2pose)")
    g.add_argument("--semantic", help="edtalk-a: expression-from-speech/text checkpoint (edtalk.audio2exp)")
    g.add_argument("--presets-data", help="edtalk-a: dataset root whose clips give the 8 emotion presets")
    g.add_argument("--pose", default="still", help="edtalk-a: sample (the flow), still, or a 25 fps pose video")
    g.add_argument("--emotion", help="edtalk-a: an emotion preset name (needs --presets-data)")
    g.add_argument("--intensity", type=float, default=1.0, help="edtalk-a: preset intensity (0 neutral, 1 the preset)")
    g.add_argument("--blend-with", help="edtalk-a: a second emotion preset to interpolate with --emotion (EDTalk Eq. A3)")
    g.add_argument("--blend", type=float, default=0.5, help="edtalk-a: α of --emotion in the blend (1: --emotion only)")
    g.add_argument("--expression", choices=["audio", "text", "audio+text"], help="edtalk-a: emotion from speech/text")
    g.add_argument("--text", help="edtalk-a: the transcript, for --expression text or audio+text")
    g.add_argument("--temperature", type=float, default=1.0, help="edtalk-a: pose sampling temperature")
    g.add_argument("--seed", type=int, default=0, help="pose sampling seed")
    g.add_argument("--crop", choices=["auto", "none"], default="auto", help="auto: crop around the detected face")
    g.add_argument("--paste-back", action="store_true", help="put the face back into the (square) photo")
    g.add_argument("--random-weights", action="store_true",
                   help="FOR SPEED CHECKS ONLY: every model random at --preset's architecture (as talkinglib bench "
                        "builds them), no checkpoint needed; the video shows no one")
    g.add_argument("--preset", choices=["tiny", "full"], help="the architecture of --random-weights (default full)")
    g.add_argument("--form", choices=["shared", "fused"], default="shared",
                   help="G's modulated convs: shared-weight (fast) or fused (the official order, for parity checks)")
    g.add_argument("--compile", choices=["auto", "always", "never"], default="auto",
                   help="torch.compile G: auto on a CPU when the clip is long enough to pay for "
                        "compiling (talkinglib/inference/render.py)")
    g.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                   help="G under bfloat16 autocast (faster on CPUs with AVX-512 BF16/AMX and on GPUs, slower on CPUs "
                        "without them; `talkinglib bench --dtype float32 bfloat16` reports its speed and PSNR against float32)")
    g.add_argument("--batch-size", type=int, default=None,
                   help="frames per G call (default: 32 on a GPU; on a CPU, where G is memory-bound, 1 at 256², 4 at 64²)")
    g.add_argument("--device", default="cpu")
    g.add_argument("--strip", metavar="PATH.png", help="also write a PNG of --strip-frames frames of the video, evenly "
                                                      "spaced in time, side by side with their times (frames under "
                                                      f"{STRIP_MIN_SIDE} px enlarged by an integer factor)")
    g.add_argument("--strip-frames", type=int, metavar="N", help=f"frames in --strip (default {STRIP_FRAMES})")
    g.set_defaults(func=cmd_generate)
