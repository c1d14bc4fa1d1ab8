"""`talkinglib generate` / TalkingHeadPipeline: image + audio -> mp4 with sound; long audio in spans."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from talkinglib import audio as tl_audio
from talkinglib import checkpoints
from talkinglib.errors import InputError
from talkinglib.inference.chunks import stream_spans
from talkinglib.video import VideoError, read_audio_track, read_video

ROOT = Path(__file__).resolve().parents[1]
CKPT = ROOT / "data" / "checkpoints"


def test_spans_are_exact_for_local_controls_and_cross_fade_global_ones():
    N = 100
    local = torch.randn(N, 3)
    out = torch.cat([v for _, v in stream_spans(lambda lo, hi: local[lo:hi], N, span=30, overlap=6, pad=4)])
    assert torch.allclose(out, local, rtol=0, atol=1e-6)                 # the same values (blend of equals), in order
    # a control that depends on its whole span (here: its span's mean is added) jumps at span borders
    # without the cross-fade; with it the jump is spread over the overlap's 10 frames
    base = torch.linspace(0, 1, N)[:, None]
    glob = lambda lo, hi: base[lo:hi] + base[lo:hi].mean()              # noqa: E731
    hard = torch.cat([v for _, v in stream_spans(glob, N, span=30, overlap=0, pad=0)])
    soft = torch.cat([v for _, v in stream_spans(glob, N, span=30, overlap=10, pad=0)])
    step = lambda x: (x[1:] - x[:-1]).abs().squeeze(1)                  # noqa: E731
    assert step(hard)[29] > 10 * step(hard)[:29].max()                   # the seam at frame 30
    jump = step(hard)[29] - step(base).max()
    assert step(soft).max() < jump / 11 + 1.5 * step(base).max()
    with pytest.raises(ValueError, match="longer than the overlap"):
        list(stream_spans(glob, N, span=5, overlap=6))


def test_generate_writes_an_mp4_with_sound_for_edtalk_a_and_reta(face_and_audio, tmp_path):
    from talkinglib.cli import main
    face, talk, wav = face_and_audio
    T = tl_audio.frame_count(len(wav))
    assert main(["generate", "--image", str(face), "--audio", str(talk), "--out", str(tmp_path / "a.mp4"),
                 "--checkpoint", str(CKPT / "edtalk_tiny.pt"), "--audio2lip", str(CKPT / "audio2lip_tiny.pt"),
                 "--pose-flow", str(CKPT / "audio2pose_tiny.pt"), "--pose", "sample"]) == 0
    assert main(["generate", "--mode", "reta", "--image", str(face), "--audio", str(talk), "--out",
                 str(tmp_path / "r.mp4"), "--checkpoint", str(CKPT / "reta_tiny.pt"), "--paste-back",
                 "--strip", str(tmp_path / "r.png"), "--strip-frames", "5"]) == 0
    from talkinglib.video import VideoWriter
    from talkinglib.data.datasets import ClipStore
    with VideoWriter(tmp_path / "ref.mp4", size=64) as w:                # an expression reference clip
        w.write(ClipStore(ROOT / "data" / "synthtalk" / "tiny-seed0", "test").frames(4)[:10])
    assert main(["generate", "--image", str(face), "--audio", str(talk), "--out", str(tmp_path / "e.mp4"),
                 "--checkpoint", str(CKPT / "edtalk_tiny.pt"), "--audio2lip", str(CKPT / "audio2lip_tiny.pt"),
                 "--expression-video", str(tmp_path / "ref.mp4")]) == 0
    assert read_video(tmp_path / "e.mp4")[0].shape == (T, 64, 64, 3)
    with pytest.raises(InputError, match="one expression source"):
        main(["--debug", "generate", "--image", str(face), "--audio", str(talk), "--out", str(tmp_path / "x.mp4"),
              "--checkpoint", str(CKPT / "edtalk_tiny.pt"), "--audio2lip", str(CKPT / "audio2lip_tiny.pt"),
              "--expression-video", str(tmp_path / "ref.mp4"), "--expression", "audio"])
    for name, size in (("a.mp4", 64), ("r.mp4", 256)):                  # paste-back: the photo's size
        frames, fps = read_video(tmp_path / name)
        sound, sr = read_audio_track(tmp_path / name)
        assert frames.shape == (T, size, size, 3) and fps == 25 and sr == 16000
        assert abs(len(sound) - len(wav)) < 2048                         # AAC pads to whole 1024-sample frames
        lag = int(np.argmax(np.correlate(sound[:24000], wav[:16000], "valid")))
        assert lag == 0                                                  # the soundtrack is in sync
    # --strip: the frames the file decodes to, evenly spaced from first to last, side by side, times below
    from PIL import Image
    from talkinglib.inference.cli import write_strip
    for name, n, k in (("r.mp4", 5, 1), ("a.mp4", 3, 2)):               # 64² frames are enlarged 2 × 2, exactly
        png = tmp_path / name.replace(".mp4", ".png")
        if name == "a.mp4":
            assert list(write_strip(tmp_path / name, png, n)[0]) == [0, (T - 1) // 2, T - 1]
        frames = read_video(tmp_path / name)[0]
        S = frames.shape[1] * k
        strip = np.asarray(Image.open(png).convert("RGB"))
        picked = frames[np.linspace(0, T - 1, n).round().astype(int)].repeat(k, 1).repeat(k, 2)
        assert strip.shape[1] == n * S and strip.shape[0] > S
        assert np.array_equal(strip[:S], np.concatenate(list(picked), axis=1))
        assert (strip[S:] < 128).any()                                   # the times, written under the frames
    assert sorted(p.name for p in tmp_path.glob("*.png*")) == ["a.png", "r.png"]   # no temporary file left


def test_bad_inputs_get_clear_errors(face_and_audio, tmp_path):
    from PIL import Image
    from talkinglib.inference.pipeline import TalkingHeadPipeline, load_audio_any, load_image
    from talkinglib.data.face import NoFaceError
    face, talk, wav = face_and_audio
    pipe = TalkingHeadPipeline.from_checkpoints("reta", CKPT / "reta_tiny.pt")
    Image.fromarray(np.full((128, 128, 3), 90, np.uint8)).save(tmp_path / "wall.png")
    with pytest.raises(NoFaceError, match="no face found"):
        pipe.to_video(tmp_path / "wall.png", talk, tmp_path / "x.mp4")
    tl_audio.write_wav(tmp_path / "silent.wav", np.zeros(16000, np.float32))
    with pytest.raises(tl_audio.AudioError, match="silent"):
        load_audio_any(tmp_path / "silent.wav")
    tl_audio.write_wav(tmp_path / "short.wav", wav[:1600])               # 0.1 s: under one 0.2 s audio window
    with pytest.raises(tl_audio.AudioError, match="shorter than one audio window"):
        load_audio_any(tmp_path / "short.wav")
    with pytest.raises(tl_audio.AudioError, match="shorter than one audio window"):
        pipe.to_video(face, wav[:1600], tmp_path / "x.mp4")
    with pytest.raises(tl_audio.AudioError, match="shorter than one audio window"):
        pipe(load_image(face), wav[:1600])
    # frames come back in the documented [-1, 1]: G's raw output leaves it (about -1.02 here), and is clamped
    photo = load_image(face)
    raw = torch.cat(list(pipe.generator.stream(pipe.source(photo)[0], wav[:16000])))
    out = pipe(photo, wav[:16000])
    assert raw.min() < -1 and torch.equal(out, raw.clamp(-1, 1))
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00garbage" * 10)
    with pytest.raises(tl_audio.AudioError, match="corrupt"):
        load_audio_any(tmp_path / "corrupt.wav")
    (tmp_path / "face.txt").write_text("not an image")
    with pytest.raises(ValueError, match="not an image file"):
        load_image(tmp_path / "face.txt")
    with pytest.raises(ValueError, match="must end in .mp4"):
        pipe.to_video(face, talk, tmp_path / "x.avi")
    from talkinglib.cli import main                                      # --strip is checked before any model loads
    for extra, match in (([".jpg"], "path ending in .png"), ([".png", "--strip-frames", "0"], "must be 1 or more")):
        with pytest.raises(InputError, match=match):
            main(["--debug", "generate", "--mode", "reta", "--image", str(face), "--audio", str(talk), "--out",
                  str(tmp_path / "x.mp4"), "--checkpoint", "no-such.pt", "--strip", str(tmp_path / "s") + extra[0],
                  *extra[1:]])
    # 8 kHz stereo is converted explicitly (mixed to mono, resampled), never misread
    import soundfile as sf
    sf.write(tmp_path / "st8k.wav", np.stack([wav[::2], wav[::2]], 1), 8000)
    from talkinglib.inference.pipeline import AudioConversionWarning
    with pytest.warns(AudioConversionWarning, match="8000 Hz, 2 channel"):
        assert abs(len(load_audio_any(tmp_path / "st8k.wav")) - len(wav)) <= 2
    # a video without an audio track, given as the audio
    from talkinglib.video import VideoWriter
    with VideoWriter(tmp_path / "mute.mp4", size=64) as w:
        w.write(np.zeros((10, 64, 64, 3), np.uint8))
    with pytest.raises(tl_audio.AudioError, match="no audio track"):
        load_audio_any(tmp_path / "mute.mp4")
    with pytest.raises(VideoError, match="no audio track"):
        read_audio_track(tmp_path / "mute.mp4")
    assert not (tmp_path / "x.mp4").exists()                             # no half-written output


LONG = r'''
import resource, sys, numpy as np, torch
from talkinglib import audio as tl_audio
from talkinglib import video
from talkinglib.inference.pipeline import TalkingHeadPipeline
seconds, out = float(sys.argv[1]), sys.argv[2]
speech = np.concatenate([tl_audio.read_wav(p) for p in sys.argv[5:]])     # test clips' speech, repeated
wav = np.tile(speech, int(seconds * 16000) // len(speech) + 1)[:int(seconds * 16000)]
tl_audio.write_wav(out + ".wav", wav)
del wav, speech
steps, last = [], [None]
write = video.VideoWriter.write
def recording_write(self, frames):              # the frame-to-frame change of what is written, before H.264
    x = frames.astype(np.float32)
    seq = x if last[0] is None else np.concatenate([last[0][None], x])
    steps.extend(np.abs(seq[1:] - seq[:-1]).mean(axis=(1, 2, 3)).tolist())
    last[0] = x[-1]
    return write(self, frames)
video.VideoWriter.write = recording_write
pipe = TalkingHeadPipeline.from_checkpoints("edtalk-a", sys.argv[3] + "/edtalk_tiny.pt",
                                           audio2lip=sys.argv[3] + "/audio2lip_tiny.pt",
                                           pose_flow=sys.argv[3] + "/audio2pose_tiny.pt", batch_size=64)
pipe.to_video(sys.argv[4], out + ".wav", out, crop="none", progress=False, pose="sample", temperature=0.7,
              generator=torch.Generator().manual_seed(0))
np.save(out + ".steps.npy", np.array(steps, np.float32))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)     # peak MiB
'''


@pytest.mark.timeout(900)
def test_long_audio_streams_in_bounded_memory_without_seams(face_and_audio, tiny_dataset, tmp_path):
    """4 minutes at tiny (6,000 frames, 250-frame spans, pose sampled at τ = 0.7): peak memory stays within
    100 MiB of a 20-second clip's (all frames as float would be 295 MiB; 10 minutes measured +1 MiB),
    and the frame-to-frame change at the 23 span borders is no larger than inside the spans (measured
    on the frames as written, before H.264, whose keyframes would add steps of their own)."""
    face = face_and_audio[0]
    clips = json.loads((Path(tiny_dataset) / "splits.json").read_text())["test"]
    wavs = [str(Path(tiny_dataset) / c / "audio.wav") for c in clips]
    run = lambda s, name: int(subprocess.run(                           # noqa: E731
        [sys.executable, "-c", LONG, str(s), str(tmp_path / name), str(CKPT), str(face), *wavs],
        check=True, capture_output=True, text=True).stdout.split()[-1])
    short, long = run(20, "short.mp4"), run(240, "long.mp4")
    print(f"peak memory: 20 s {short} MiB, 240 s {long} MiB")
    assert long - short < 100
    frames, fps = read_video(tmp_path / "short.mp4")
    assert frames.shape == (500, 64, 64, 3)
    steps = np.load(tmp_path / "long.mp4.steps.npy")
    assert len(steps) == 6000 - 1
    border = steps[249::250][:23]                                        # the step from frame 250k-1 to 250k
    inside = np.delete(steps, np.arange(249, len(steps), 250))
    print(f"mean step: borders {border.mean():.3f}, inside {inside.mean():.3f}; max border {border.max():.3f}, "
          f"99th pct inside {np.percentile(inside, 99):.3f}")
    assert border.max() <= np.percentile(inside, 99.9) and border.mean() < 1.5 * inside.mean()


def test_the_demo_ends_with_a_talking_head_mp4(tiny_dataset, tmp_path):
    """The README's main command finishes with this video (talkinglib/demo.py, step 5)."""
    from talkinglib.demo import talking_head_video
    path = talking_head_video(tiny_dataset, tmp_path / "reta_tiny.mp4")
    frames, fps = read_video(path)
    sound, sr = read_audio_track(path)
    assert frames.shape == (75, 64, 64, 3) and fps == 25 and sr == 16000 and len(sound) >= 48000
    step = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))
    assert (step > 0).sum() > len(step) // 2                             # rendered per frame, not one image repeated
    # the printed score of `talkinglib demo`: the probe's jaw of every frame against the clip's true jaw
    from talkinglib.demo import PROBE, TALKING_CLIP, score_video
    score = score_video(path, tiny_dataset / TALKING_CLIP, checkpoints.load(PROBE, "probe"))
    assert score["frames"] == 75 and np.isfinite(score["jaw_r2"])
    assert score["jaw_r2"] > 0.5, f"the video talks: jaw R² {score['jaw_r2']:.3f} against the speech's true jaw"
    assert score["jaw_r2_real"] > 0.9, "the probe reads the real clip's jaw: the ceiling the video is scored against"
    assert score["frame_change"] == pytest.approx(step.mean(), rel=1e-5)


def test_edtalk_v_drives_the_photo_with_a_video_and_keeps_its_sound(face_and_audio, tiny_dataset, tmp_path):
    from talkinglib.cli import main
    from talkinglib.data.datasets import ClipStore
    from talkinglib.video import VideoWriter
    store = ClipStore(tiny_dataset, "test")
    frames, wav = store.frames(3)[:40], store.audio(3)[:40 * 640]
    with VideoWriter(tmp_path / "drive.mp4", size=64) as w:              # a driving video with sound
        w.write_audio(wav)
        w.write(frames)
    assert main(["generate", "--mode", "edtalk-v", "--image", str(face_and_audio[0]), "--driving",
                 str(tmp_path / "drive.mp4"), "--components", "mouth,pose", "--out", str(tmp_path / "v.mp4"),
                 "--checkpoint", str(CKPT / "edtalk_tiny.pt")]) == 0
    out, fps = read_video(tmp_path / "v.mp4")
    sound, sr = read_audio_track(tmp_path / "v.mp4")
    assert out.shape == (40, 64, 64, 3) and sr == 16000
    assert int(np.argmax(np.correlate(sound[:20000], wav[:12000], "valid"))) == 0
    with pytest.raises(InputError, match="needs --driving"):
        main(["--debug", "generate", "--mode", "edtalk-v", "--image", str(face_and_audio[0]), "--out", str(tmp_path / "w.mp4"),
              "--checkpoint", str(CKPT / "edtalk_tiny.pt")])
    # one video per component (EDTalk Fig. 4): the mouth of one clip, the pose of another
    with VideoWriter(tmp_path / "pose.mp4", size=64) as w:
        w.write(store.frames(9)[:40])
    assert main(["generate", "--mode", "edtalk-v", "--image", str(face_and_audio[0]), "--mouth-video",
                 str(tmp_path / "drive.mp4"), "--pose-video", str(tmp_path / "pose.mp4"), "--out", str(tmp_path / "s.mp4"),
                 "--checkpoint", str(CKPT / "edtalk_tiny.pt")]) == 0
    sep = read_video(tmp_path / "s.mp4")[0]
    assert sep.shape == out.shape and np.abs(sep.astype(int) - out.astype(int)).mean() > 0.5   # another pose
    with VideoWriter(tmp_path / "short.mp4", size=64) as w:
        w.write(store.frames(9)[:30])
    with pytest.raises(InputError, match="differ in length"):
        main(["--debug", "generate", "--mode", "edtalk-v", "--image", str(face_and_audio[0]), "--mouth-video",
              str(tmp_path / "drive.mp4"), "--pose-video", str(tmp_path / "short.mp4"), "--out", str(tmp_path / "t.mp4"),
              "--checkpoint", str(CKPT / "edtalk_tiny.pt")])
    assert not (tmp_path / "t.mp4").exists()


def test_generate_with_random_weights_prints_the_frames_per_second_it_achieved(face_and_audio, tmp_path, capsys):
    """--random-weights (speed checks only) builds the models as `talkinglib bench` does; generate prints its speed."""
    import re
    from talkinglib.cli import main
    face, talk, wav = face_and_audio
    assert main(["generate", "--random-weights", "--preset", "tiny", "--image", str(face), "--audio", str(talk),
                 "--out", str(tmp_path / "r.mp4"), "--crop", "none", "--batch-size", "8"]) == 0
    out = capsys.readouterr()
    T = tl_audio.frame_count(len(wav))
    assert re.search(rf"generated {T} frames in [\d.]+ s: [\d.]+ frames/s \(batch 8, G eager\)", out.out), out.out
    assert "RANDOM weights at the tiny preset: for speed checks only" in out.err
    assert read_video(tmp_path / "r.mp4")[0].shape == (T, 64, 64, 3)
    base = ["--debug", "generate", "--image", str(face), "--audio", str(talk), "--out", str(tmp_path / "x.mp4")]
    with pytest.raises(InputError, match="exactly one of"):
        main(base + ["--random-weights", "--checkpoint", str(CKPT / "edtalk_tiny.pt")])
    with pytest.raises(InputError, match="--preset picks the architecture of --random-weights"):
        main(base + ["--checkpoint", str(CKPT / "edtalk_tiny.pt"), "--preset", "tiny"])
