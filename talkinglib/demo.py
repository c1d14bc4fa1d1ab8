"""`talkinglib demo`: the README's main job, the furthest end-to-end run the library has so far.

1. generate (or reuse) the default SynthTalk dataset (tiny preset, seed 0);
2. train the factor probe on its training identities (resumes if interrupted);
3. measure SYNTHTALK.md's fitness numbers on the held-out identities;
4. write the figures and a JSON of the numbers under --out;
5. generate a talking-head mp4 with sound through the tiny RETA pipeline (the committed
   checkpoint): a held-out identity's photo and another of its clips' speech, out/reta_tiny.mp4.
"""
import json
import time
from pathlib import Path

from talkinglib.synth import figures
from talkinglib.synth.generate import default_root, ensure_dataset
from talkinglib.synth.learnability import THRESHOLDS, check, dataset_fitness


def run_demo(out=Path("outputs/demo"), seed=0, probe_steps=None):
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

    print("[2/5] factor probe")
    cfg = TRAIN_PRESETS["tiny"] if probe_steps is None else replace(TRAIN_PRESETS["tiny"], steps=probe_steps)
    probe, logger = train_probe(root, out / "probe", preset="tiny", cfg=cfg)

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
    figures.plot_training_curve(logger.history, fig_dir / "probe_training.png")

    print(f"[5/5] talking head: {out / 'reta_tiny.mp4'}")
    video = talking_head_video(root, out / "reta_tiny.mp4")
    print(f"done: {out / 'fitness.json'}, {len(list(fig_dir.glob('*.png')))} figures and {video}")
    return 0


def talking_head_video(root, path, checkpoint=None):
    """The tiny RETA pipeline on a held-out identity: its first neutral frame as the photo (crop='none':
    SynthTalk frames are already face crops) and the speech of its happy clip -> an mp4 with sound."""
    from talkinglib.data.clips import read_clip
    from talkinglib.inference.pipeline import TalkingHeadPipeline
    checkpoint = checkpoint or Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "reta_tiny.pt"
    pipe = TalkingHeadPipeline.from_checkpoints("reta", checkpoint)
    photo, speech = read_clip(Path(root) / "id012_neutral_0").frames[0], read_clip(Path(root) / "id012_happy_0").audio
    return pipe.to_video(photo, speech, path, crop="none")
