"""`talkinglib demo`: the README's main job, the furthest end-to-end run the library has so far.

1. generate (or reuse) the default SynthTalk dataset (tiny preset, seed 0);
2. load the committed factor probe (data/checkpoints/probe_tiny.pt; --retrain-probe trains one
   on the dataset's training identities instead, about 6.5 minutes on 2 cores);
3. measure SYNTHTALK.md's fitness numbers on the held-out identities;
4. write the figures and a JSON of the numbers under --out;
5. generate a talking-head mp4 with sound through the tiny RETA pipeline (the committed
   checkpoint): a held-out identity's photo and another of its clips' speech, out/reta_tiny.mp4,
   and score it: the probe's jaw of every video frame against the clip's true jaw (R²).
"""
import json
import time
from pathlib import Path

from talkinglib import checkpoints
from talkinglib.synth import figures
from talkinglib.synth.generate import default_root, ensure_dataset
from talkinglib.synth.learnability import THRESHOLDS, check, dataset_fitness


PROBE = Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "probe_tiny.pt"


def run_demo(out=Path("outputs/demo"), seed=0, probe_steps=None, retrain_probe=False):
    from dataclasses import replace

    from talkinglib.data.clips import read_clip
    from talkinglib.train.probe import TRAIN_PRESETS, train_probe

    out = Path(out)
    fig_dir = out / "figures"
    print("[1/5] SynthTalk dataset (tiny preset)")
    root = default_root("tiny", seed)
    t0 = time.time()
    ensure_dataset("tiny", seed, root=root)
    gen_seconds = time.time() - t0
    print(f"      {root}  ({gen_seconds:.1f} s; reused when already complete)")

    logger = None
    if retrain_probe or probe_steps is not None:
        print("[2/5] factor probe: training")
        cfg = TRAIN_PRESETS["tiny"] if probe_steps is None else replace(TRAIN_PRESETS["tiny"], steps=probe_steps)
        probe, logger = train_probe(root, out / "probe", preset="tiny", cfg=cfg)
    else:
        print(f"[2/5] factor probe: the committed {PROBE.name} (--retrain-probe trains one)")
        probe = checkpoints.load(PROBE, "probe")

    print("[3/5] fitness on held-out identities")
    numbers = dataset_fitness(root, probe=probe)
    numbers["generation_seconds"] = gen_seconds
    results = check(numbers)
    for k, (v, thr, ok) in results.items():
        print(f"      {k:28s} {v:8.3f}  (threshold {thr})  {'ok' if ok else 'BELOW THRESHOLD'}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "fitness.json").write_text(json.dumps(numbers, indent=1, sort_keys=True))

    print(f"[4/5] figures -> {fig_dir}")
    figures.plot_identity_emotion_grid(fig_dir / "identities_x_emotions.png")
    figures.plot_factor_sweeps(fig_dir / "factor_sweeps.png")
    clip = read_clip(root / "id012_happy_0")
    figures.plot_spectrogram_with_jaw(clip, fig_dir / "spectrogram_jaw.png")
    figures.plot_learnability(numbers, THRESHOLDS, fig_dir / "learnability.png")
    if logger is not None:
        figures.plot_training_curve(logger.history, fig_dir / "probe_training.png")

    print(f"[5/5] talking head: {out / 'reta_tiny.mp4'}")
    video = talking_head_video(root, out / "reta_tiny.mp4")
    score = score_video(video, root / TALKING_CLIP, probe)
    (out / "video.json").write_text(json.dumps(score, indent=1, sort_keys=True))
    print(f"      jaw R² of the video against the speech's true jaw: {score['jaw_r2']:.3f} "
          f"(the clip's own frames: {score['jaw_r2_real']:.3f}); mean change per frame "
          f"{score['frame_change']:.2f} grey levels")
    print(f"done: {out / 'fitness.json'}, {len(list(fig_dir.glob('*.png')))} figures and {video}")
    return 0


PHOTO_CLIP, TALKING_CLIP = "id012_neutral_0", "id012_happy_0"      # a held-out identity (test split)


def score_video(path, clip_dir, probe):
    """The probe's jaw of each frame of the video at `path` against the true jaw of the clip whose
    speech it was driven by: {"jaw_r2", "jaw_r2_real" (the clip's own frames, the ceiling),
    "frame_change" (mean |frame t+1 − frame t|, grey levels)}."""
    import numpy as np

    from talkinglib.data.clips import read_clip
    from talkinglib.eval.factors import probe_predictions, r2_score
    from talkinglib.video import read_video
    frames, _ = read_video(path)
    clip = read_clip(clip_dir)
    truth = np.asarray(clip.meta["factors"]["mouth"], np.float32)[:, 0]
    n = min(len(frames), len(truth))
    jaw = probe_predictions(probe, frames[:n])["mouth"][:, 0]
    jaw_real = probe_predictions(probe, clip.frames[:n])["mouth"][:, 0]
    change = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean()
    return {"jaw_r2": float(r2_score(truth[:n], jaw)[0]), "jaw_r2_real": float(r2_score(truth[:n], jaw_real)[0]),
            "frame_change": float(change), "frames": int(n)}


def talking_head_video(root, path, checkpoint=None):
    """The tiny RETA pipeline on a held-out identity: its first neutral frame as the photo (crop='none':
    SynthTalk frames are already face crops) and the speech of its happy clip -> an mp4 with sound."""
    from talkinglib.data.clips import read_clip
    from talkinglib.inference.pipeline import TalkingHeadPipeline
    checkpoint = checkpoint or Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "reta_tiny.pt"
    pipe = TalkingHeadPipeline.from_checkpoints("reta", checkpoint)
    photo, speech = read_clip(Path(root) / PHOTO_CLIP).frames[0], read_clip(Path(root) / TALKING_CLIP).audio
    return pipe.to_video(photo, speech, path, crop="none")
