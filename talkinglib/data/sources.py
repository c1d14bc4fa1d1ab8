"""Which videos a dataset holds, how they are labelled and split, and `talkinglib prepare` over them.

    sources = list_sources("mead", "MEAD/")      # [Source(path, name, labels, audio_path)]
    report = prepare_dataset("mead", "MEAD/", "data/mead")

Layouts:
- **mead**: `SPK/video/front/EMOTION/level_N/NNN.mp4` (MEAD's own tree; other camera views are
  ignored). The speech is the video's own track, else `SPK/audio/EMOTION/level_N/NNN.m4a`.
  Labels: identity SPK, emotion, intensity N. Speakers M003, M030, W009 and W015 are the test
  split (held out as in EDTalk and RETA), the rest train.
- **hdtf**: a folder of `NAME_NNN.mp4` (HDTF's clip names, e.g. WRA_AdamKinzinger_000.mp4). The
  identity is NAME; identities are shuffled with the seed and 20 % go to test. No emotion labels.
- **video**: one video file, or a folder of them; identity and split from the arguments
  (default: the file name, train).

The output root gets the clip folders, splits.json (rebuilt from every clip's meta.json after each
source, so an interrupted run leaves a usable dataset), dataset.json and prepare_report.json.
"""
import json
import random
import re
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple, Optional

from tqdm.auto import tqdm

from talkinglib.constants import EMOTIONS
from talkinglib.data import clips as clipio
from talkinglib.data.prepare import (MEAD_TEST_SPEAKERS, VIDEO_EXTENSIONS, PrepareConfig, PrepareError,
                                     prepare_video)

KINDS = ("mead", "hdtf", "video")


class Source(NamedTuple):
    path: Path
    name: str                      # the clip folder's name (segments add _sN)
    labels: dict                   # identity, emotion, intensity, split
    audio_path: Optional[Path] = None


def _videos(folder):
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())


def mead_sources(root):
    root = Path(root)
    out = []
    for p in sorted(root.glob("*/video/front/*/level_*/*")):
        if p.suffix.lower() not in VIDEO_EXTENSIONS:
            continue
        spk, emotion, level = p.parts[-6], p.parts[-3], p.parts[-2]
        if emotion not in EMOTIONS:
            raise PrepareError(f"{p}: emotion folder {emotion!r} is not one of MEAD's {EMOTIONS}")
        intensity = int(level.split("_")[1])
        audio = [a for a in (root / spk / "audio" / emotion / level).glob(p.stem + ".*")]
        split = "test" if spk in MEAD_TEST_SPEAKERS else "train"
        out.append(Source(p, f"{spk}_{emotion}_{intensity}_{p.stem}",
                          {"identity": spk, "emotion": emotion, "intensity": intensity, "split": split},
                          audio[0] if audio else None))
    if not out:
        raise PrepareError(f"no MEAD videos under {root}: expected SPK/video/front/EMOTION/level_N/NNN.mp4")
    return out


def hdtf_identity(stem):
    """WRA_AdamKinzinger_000 -> WRA_AdamKinzinger (the trailing clip number removed)."""
    return re.sub(r"_\d+$", "", stem)


def hdtf_sources(root, test_fraction=0.2, seed=0):
    videos = _videos(root)
    if not videos:
        raise PrepareError(f"no videos under {root}")
    ids = sorted({hdtf_identity(p.stem) for p in videos})
    random.Random(seed).shuffle(ids)
    n_test = max(1, round(test_fraction * len(ids))) if len(ids) > 1 else 0
    test = set(ids[:n_test])
    return [Source(p, p.stem, {"identity": hdtf_identity(p.stem), "emotion": None, "intensity": None,
                               "split": "test" if hdtf_identity(p.stem) in test else "train"})
            for p in videos]


def video_sources(path, identity=None, split="train", emotion=None, intensity=None):
    path = Path(path)
    if not path.exists():
        raise PrepareError(f"{path} does not exist")
    videos = _videos(path) if path.is_dir() else [path]
    if not videos:
        raise PrepareError(f"no videos ({', '.join(VIDEO_EXTENSIONS)}) under {path}")
    if emotion is not None and emotion not in EMOTIONS:
        raise PrepareError(f"emotion {emotion!r} is not one of {EMOTIONS}")
    return [Source(p, p.stem, {"identity": identity or p.stem, "emotion": emotion, "intensity": intensity,
                               "split": split}) for p in videos]


def list_sources(kind, path, cfg=PrepareConfig(), **video_labels):
    if kind == "mead":
        return mead_sources(path)
    if kind == "hdtf":
        return hdtf_sources(path, cfg.hdtf_test_fraction, cfg.seed)
    if kind == "video":
        return video_sources(path, **video_labels)
    raise PrepareError(f"unknown dataset kind {kind!r}; one of {KINDS}")


def write_splits(root):
    """splits.json from the clip folders' meta.json ("split" field), names sorted."""
    root = Path(root)
    splits = {"train": [], "test": []}
    for meta_path in sorted(root.glob("*/meta.json")):
        meta = json.loads(meta_path.read_text())
        splits.setdefault(meta.get("split", "train"), []).append(meta_path.parent.name)
    clipio.write_json(root / "splits.json", splits)
    return splits


def prepare_dataset(kind, path, out, cfg=PrepareConfig(), overwrite=False, progress=True, **video_labels):
    """Prepare every source into `out`; returns the report {source name: entry}. Sources already
    reported are skipped unless overwrite. A source that fails gets status "rejected" and its reason."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    info = {"format_version": 1, "prepared_from": kind, "config": asdict(cfg)}
    if (out / "dataset.json").is_file():
        old = json.loads((out / "dataset.json").read_text())
        if old.get("config") != info["config"]:
            raise PrepareError(f"{out} was prepared with another configuration ({old.get('config')}); "
                               "use a new --out folder, or the same options")
    clipio.write_json(out / "dataset.json", info)
    report_path = out / "prepare_report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    sources = list_sources(kind, path, cfg, **video_labels)
    for s in tqdm(sources, desc=f"prepare {kind}", disable=not progress):
        if s.name in report and not overwrite:
            continue
        try:
            entry = dict(prepare_video(s.path, out, s.name, s.labels, cfg, s.audio_path), status="ok")
        except PrepareError as e:
            entry = {"source": str(s.path), "status": "rejected", "reason": str(e)}
        report[s.name] = entry
        clipio.write_json(report_path, report)
        write_splits(out)
    write_splits(out)
    return report


def summarize(report):
    """Lines a person reads after a run: clips written, frames skipped, sources rejected and why."""
    ok = [e for e in report.values() if e["status"] == "ok"]
    lines = [f"{sum(len(e['clips']) for e in ok)} clips from {len(ok)} of {len(report)} videos"]
    skipped = sum(e["frames_without_face"] for e in ok)
    if skipped:
        lines.append(f"{skipped} frames without a face were skipped (clips split around them)")
    for name, e in report.items():
        if e["status"] != "ok":
            lines.append(f"rejected {name}: {e['reason']}")
        for r in e.get("runs_rejected", []):
            lines.append(f"dropped frames {r['frames']} of {name}: {r['reason']}")
    return lines


def add_cli(subparsers):
    p = subparsers.add_parser("prepare", help="real videos -> a dataset in SynthTalk's format (25 fps, 16 kHz, "
                                              "face crops, 68-point landmarks)")
    p.add_argument("kind", choices=KINDS, help="mead: MEAD's tree; hdtf: a folder of HDTF clips; video: any videos")
    p.add_argument("input", help="the dataset folder, or (video) a file or folder")
    p.add_argument("--out", required=True, help="output dataset root")
    p.add_argument("--size", type=int, default=PrepareConfig.size)
    p.add_argument("--on-missing-face", choices=("skip", "reject"), default=PrepareConfig.on_missing_face,
                   help="skip: cut the video around frames without a face; reject: give no clip")
    p.add_argument("--min-frames", type=int, default=PrepareConfig.min_frames)
    p.add_argument("--frames-format", choices=("mp4", "npz"), default=PrepareConfig.frames_format)
    p.add_argument("--identity", help="video: the identity (default: each file's name)")
    p.add_argument("--split", choices=("train", "test"), default="train", help="video: which split")
    p.add_argument("--emotion", choices=EMOTIONS, help="video: the emotion label, if known")
    p.add_argument("--intensity", type=int, help="video: the emotion intensity, if known")
    p.add_argument("--overwrite", action="store_true", help="prepare sources again even if already reported")
    p.set_defaults(func=_cmd_prepare)
    return p


def _cmd_prepare(args):
    import sys
    cfg = PrepareConfig(size=args.size, on_missing_face=args.on_missing_face, min_frames=args.min_frames,
                        frames_format=args.frames_format)
    labels = {}
    if args.kind == "video":
        labels = dict(identity=args.identity, split=args.split, emotion=args.emotion, intensity=args.intensity)
    try:
        report = prepare_dataset(args.kind, args.input, args.out, cfg, overwrite=args.overwrite, **labels)
    except PrepareError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("\n".join(summarize(report)))
    print(f"wrote {args.out} (report: {Path(args.out) / 'prepare_report.json'})")
    return 0 if any(e["status"] == "ok" for e in report.values()) else 1
