"""The tiny chain's scorecard: every number issue 18 asks of the trained models, measured on one
SynthTalk split, each beside its bar.

    talkinglib scorecard --checkpoints data/checkpoints --data data/synthtalk/tiny-seed7 --out runs/scorecard

Run it on a seed no checkpoint was trained on (`talkinglib synth --seed 7`): the test identities of
any SynthTalk dataset are people the models have never seen, and so are its training identities when
the seed is new. Each part needs its own checkpoints and is skipped, saying which file is missing,
when they are absent:

| part | checkpoints | measures (eval/...) |
|---|---|---|
| edtalk | edtalk_tiny.pt | self-reenactment and mouth swap jaw / pose R², driver = source L1, expression transfer (disentangle.py) |
| edtalk-a | + audio2lip_tiny.pt, syncnet_tiny.pt | Audio2Lip's mouth with the pose still: jaw R², Sync_conf against the real clips' (lipsync.py) |
| flow | + audio2pose_tiny.pt | velocity std of sampled yaw, pitch, roll at τ = 1 against the ground truth's (train/edtalk_audio2pose.py) |
| reta | reta_tiny.pt | jaw R² and emotion accuracy from audio alone, f_M's std over time (reta.py) |

All readings are the factor probe's (`probe_tiny.pt`, trained on seed 0's training identities and
500 more, never on a test identity).
"""
import json
import time
from dataclasses import dataclass
from pathlib import Path

from talkinglib import checkpoints as tl_checkpoints    # (scorecard's argument `checkpoints` is a folder)
from talkinglib.errors import InputError, MissingFileError

PARTS = ("edtalk", "edtalk-a", "flow", "reta")
FILES = {"edtalk": "edtalk_tiny.pt", "audio2lip": "audio2lip_tiny.pt", "syncnet": "syncnet_tiny.pt",
         "audio2pose": "audio2pose_tiny.pt", "reta": "reta_tiny.pt", "probe": "probe_tiny.pt"}
NEEDS = {"edtalk": ("edtalk",), "edtalk-a": ("edtalk", "audio2lip", "syncnet"), "flow": ("edtalk", "audio2pose"),
         "reta": ("reta",)}


@dataclass(frozen=True)
class Bar:
    key: str
    part: str
    label: str
    low: float = None            # the value holds when low <= value <= high; both None: reported only
    high: float = None

    def holds(self, value):
        if value is None or (self.low is None and self.high is None):
            return None
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def text(self):
        f = (lambda x: f"{x:.0%}") if self.key.endswith("_acc") else (lambda x: f"{x:g}")   # noqa: E731
        if self.low is not None and self.high is not None:
            return f"{f(self.low)} to {f(self.high)}"
        if self.low is not None:
            return f"≥ {f(self.low)}"
        return f"≤ {f(self.high)}" if self.high is not None else "reported"


BARS = (
    Bar("self_jaw_r2", "edtalk", "self-reenactment: jaw R²", 0.8),
    Bar("self_pose_r2", "edtalk", "self-reenactment: pose R²", 0.9),
    Bar("swap_jaw_r2", "edtalk", "mouth swap: jaw R² (mouth source)", 0.8),
    Bar("swap_pose_r2", "edtalk", "mouth swap: pose R² (pose source)", 0.9),
    Bar("copy_l1", "edtalk", "driver = source: mean |Î − I| on [0, 1]", high=0.01),
    Bar("expression_acc", "edtalk", "expression transfer: emotion accuracy", 0.7),
    Bar("edtalk_a_jaw_r2", "edtalk-a", "EDTalk-A, pose still: jaw R²", 0.7),
    Bar("edtalk_a_sync_ratio", "edtalk-a", "EDTalk-A: Sync_conf / the real clips'", 0.8),
    Bar("flow_yaw_ratio", "flow", "pose flow, τ = 1: yaw velocity std / truth's", 0.75, 1.25),
    Bar("flow_pitch_ratio", "flow", "pose flow, τ = 1: pitch velocity std / truth's", 0.75, 1.25),
    Bar("flow_roll_ratio", "flow", "pose flow, τ = 1: roll velocity std / truth's", 0.75, 1.25),
    Bar("reta_jaw_r2", "reta", "RETA from audio: jaw R²", 0.6),
    Bar("reta_emotion_acc", "reta", "RETA from audio: clip emotion accuracy", 0.6),
    Bar("reta_f_m_std", "reta", "RETA: f_M's std over time"),
)


def _edtalk(paths, probe, root, split, n):
    from talkinglib.eval.disentangle import (DisentangleConfig, copy_error, expression_transfer, mouth_swap,
                                             self_reconstruction)
    model = tl_checkpoints.load(paths["edtalk"], "edtalk.").float().eval()
    cfg = DisentangleConfig(n=n)
    own, swap = self_reconstruction(model, probe, root, split, cfg), mouth_swap(model, probe, root, split, cfg)
    return {"self_jaw_r2": own["mouth_r2"], "self_pose_r2": own["pose_r2"], "swap_jaw_r2": swap["mouth_r2"],
            "swap_pose_r2": swap["pose_r2"], "copy_l1": copy_error(model, root, split, cfg),
            "expression_acc": expression_transfer(model, probe, root, split, cfg)["emotion_acc"]}


def _edtalk_a(paths, probe, root, split, max_clips):
    from talkinglib.eval.lipsync import lip_sync_rows
    edtalk = tl_checkpoints.load(paths["edtalk"], "edtalk.").float()
    a2l = tl_checkpoints.load(paths["audio2lip"], "edtalk.audio2lip").float()
    syncnet = tl_checkpoints.load(paths["syncnet"], "syncnet").float()
    rows = lip_sync_rows(edtalk, a2l, probe, root, syncnet, split, max_clips,
                         mouth_sources=("audio",), pose="still")
    return {"edtalk_a_jaw_r2": rows["audio"]["jaw_r2"],
            "edtalk_a_sync_ratio": rows["audio"]["sync_conf"] / rows["real"]["sync_conf"]}


def _flow(paths, probe, root, split, max_clips):
    from talkinglib.data.bank_targets import PoseSequences
    from talkinglib.eval.pose import evaluate_pose
    edtalk = tl_checkpoints.load(paths["edtalk"], "edtalk.").float().eval()
    flow = tl_checkpoints.load(paths["audio2pose"], "edtalk.audio2pose").float().eval()
    train, test = PoseSequences(root, edtalk, "train"), PoseSequences(root, edtalk, split)
    st = evaluate_pose(flow, train, test, samples=3, temperature=1.0, seed=0)
    return dict(zip(("flow_yaw_ratio", "flow_pitch_ratio", "flow_roll_ratio"), st["ratio_vs_gt"]))


def _reta(paths, probe, root, split, max_clips):
    from talkinglib.eval.reta import evaluate_reta
    model = tl_checkpoints.load(paths["reta"], "reta").float().eval()
    row = evaluate_reta(model, probe, root, split=split, max_clips=max_clips)
    return {"reta_jaw_r2": row["jaw_r2"], "reta_emotion_acc": row["emotion_acc"], "reta_f_m_std": row["f_m_std"]}


MEASURE = {"edtalk": _edtalk, "edtalk-a": _edtalk_a, "flow": _flow, "reta": _reta}


def resolve(checkpoints=None, **files):
    """{name: Path} for FILES: an explicit file wins, else `checkpoints`/FILES[name], else the committed
    data/checkpoints/ (the probe only)."""
    committed = Path(__file__).resolve().parents[2] / "data" / "checkpoints"
    out = {}
    for name, file in FILES.items():
        if files.get(name):
            out[name] = Path(files[name])
        elif checkpoints is not None and (Path(checkpoints) / file).is_file():
            out[name] = Path(checkpoints) / file
        else:
            out[name] = committed / file if name == "probe" else Path(checkpoints or committed) / file
    return out


def scorecard(data, checkpoints=None, split="test", parts=PARTS, n=192, max_clips=None, progress=print, **files):
    """{"rows": [{key, part, label, value, bar, holds}], "checkpoints", "skipped": {part: reason}, "seconds"}.
    files: an explicit path per FILES name (edtalk=..., reta=...), over `checkpoints`/FILES[name]."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise InputError(f"unknown scorecard parts {sorted(unknown)}; the parts are {list(PARTS)}")
    if not (Path(data) / "splits.json").is_file():
        raise MissingFileError(f"{data} is not a dataset (no splits.json): make one with "
                                f"`talkinglib synth --out {data} --seed 7 --preset tiny`")
    paths = resolve(checkpoints, **files)
    if not paths["probe"].is_file():
        raise MissingFileError(f"no factor probe at {paths['probe']}: pass --probe, or train one with "
                                "`talkinglib train probe`")
    probe = tl_checkpoints.load(paths["probe"], "probe").eval()
    values, skipped, used, t0 = {}, {}, {"probe": str(paths["probe"])}, time.time()
    for part in parts:
        missing = [str(paths[f]) for f in NEEDS[part] if not paths[f].is_file()]
        if missing:
            skipped[part] = "missing " + ", ".join(missing)
            progress(f"scorecard: {part} skipped ({skipped[part]})")
            continue
        progress(f"scorecard: {part} ...")
        t = time.time()
        limit = n if part == "edtalk" else max_clips
        values.update(MEASURE[part](paths, probe, data, split, limit))
        used.update({f: str(paths[f]) for f in NEEDS[part]})
        progress(f"scorecard: {part} done in {time.time() - t:.0f} s")
    rows = [{"key": b.key, "part": b.part, "label": b.label, "value": values.get(b.key), "bar": b.text(),
             "holds": b.holds(values.get(b.key))} for b in BARS if b.part in parts]
    return {"data": str(data), "split": split, "checkpoints": used, "skipped": skipped, "rows": rows,
            "seconds": round(time.time() - t0, 1)}


def format_scorecard(card):
    """A markdown table of scorecard(...)."""
    mark = {True: "yes", False: "**no**", None: "–"}
    lines = [f"Scorecard on `{card['data']}` ({card['split']} split)", "",
             "| measure | value | bar | holds |", "|---|---|---|---|"]
    for r in card["rows"]:
        v = r["value"]
        digits = 4 if r["key"] == "copy_l1" else 3                     # 0.0101 must not print as 0.010 ≤ 0.01
        text = "–" if v is None else (f"{v:.1%}" if r["key"].endswith("_acc") else f"{v:.{digits}f}")
        lines.append(f"| {r['label']} | {text} | {r['bar']} | {mark[r['holds']]} |")
    lines += [f"\n{part}: skipped, {why}" for part, why in card["skipped"].items()]
    return "\n".join(lines)


def write_scorecard(out, card):
    """OUT/scorecard.json and OUT/scorecard.md, each written atomically; returns the markdown path."""
    from talkinglib.data.clips import atomic_write_bytes
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "scorecard.json", (json.dumps(card, indent=1, default=float) + "\n").encode())
    atomic_write_bytes(out / "scorecard.md", (format_scorecard(card) + "\n").encode())
    return out / "scorecard.md"
