"""`talkinglib prepare`: real videos -> SynthTalk's clip format, in sync, cropped, with landmarks.

The test video is skimage's astronaut photograph moving and zooming at 30 fps (not 25), with
44.1 kHz stereo AAC sound. At two known times a 1 kHz beep starts together with a brighter frame,
and for 0.24 s in between the face is gone (plain grey frames)."""
import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("mediapipe")
pytest.importorskip("skimage")

from talkinglib.data import clips as clipio                                   # noqa: E402
from talkinglib.data.prepare import PrepareConfig, frame_map, prepare_video   # noqa: E402
from talkinglib.data.sources import hdtf_sources, mead_sources, prepare_dataset   # noqa: E402

FLASHES = (0.52, 2.3)          # seconds: beep and bright frame start together
GAP = (1.2, 1.44)              # seconds without a face
CENTRE = (224.0, 130.0)        # the astronaut's face centre in the 512² photograph
SIZE = (320, 240)


def astro_transform(t):
    """Photo -> frame at time t: x_frame = s * (x_photo - CENTRE) + (W/2 + tx, H/2 + ty)."""
    s = 0.55 + 0.05 * np.sin(2 * np.pi * t / 3)
    return s, np.array([SIZE[0] / 2 + 20 * np.sin(2 * np.pi * t / 2), SIZE[1] / 2 + 5 * np.cos(2 * np.pi * t / 3)])


def astronaut_video(path, fps=30, seconds=3.0, sr=44100, audio=True):
    import av
    import skimage.data
    from PIL import Image
    photo = Image.fromarray(skimage.data.astronaut())
    W, H = SIZE
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        if audio:
            aus = out.add_stream("aac", rate=sr)
            aus.layout = "stereo"
        for i in range(int(round(seconds * fps))):
            t = i / fps
            s, (ox, oy) = astro_transform(t)
            inverse = (1 / s, 0, CENTRE[0] - ox / s, 0, 1 / s, CENTRE[1] - oy / s)     # frame -> photo
            f = np.asarray(photo.transform((W, H), Image.AFFINE, inverse, resample=Image.BILINEAR,
                                           fillcolor=(128, 128, 128)))
            if GAP[0] <= t < GAP[1]:
                f = np.full_like(f, 128)
            if any(a <= t < a + 0.08 for a in FLASHES):
                f = np.clip(f.astype(int) + 60, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(f, format="rgb24")
            frame.pts = i
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        if audio:
            n = int(seconds * sr)
            tt = np.arange(n) / sr
            wav = 0.02 * np.random.default_rng(0).standard_normal(n)
            for a in FLASHES:
                on = (tt >= a) & (tt < a + 0.08)
                wav[on] += 0.5 * np.sin(2 * np.pi * 1000 * tt[on])
            st = np.ascontiguousarray(np.stack([wav, wav]).astype(np.float32))
            for k in range(0, n, 1024):
                fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(st[:, k:k + 1024]), format="fltp", layout="stereo")
                fr.sample_rate, fr.pts = sr, k
                for p in aus.encode(fr):
                    out.mux(p)
            for p in aus.encode():
                out.mux(p)
    return path


@pytest.fixture(scope="module")
def astro(tmp_path_factory):
    return astronaut_video(tmp_path_factory.mktemp("astro") / "astro.mp4")


@pytest.fixture(scope="module")
def prepared(astro, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared")
    cfg = PrepareConfig(frames_format="npz")
    report = prepare_video(astro, out, "astro", {"identity": "astro", "split": "train"}, cfg)
    return out, report


def test_frame_map_picks_the_nearest_timestamp():
    times = np.arange(10) / 30                     # 30 fps
    assert frame_map(times, 8).tolist() == [0, 1, 2, 4, 5, 6, 7, 8]   # k/25 -> nearest i/30
    slow = np.array([0.0, 0.1, 0.2])                # 10 fps: frames repeat
    assert frame_map(slow, 5).tolist() == [0, 0, 1, 1, 2]


def test_frames_without_a_face_split_the_clip_and_audio_stays_in_sync(prepared):
    out, report = prepared
    assert report["frames_out"] == 75 and report["fps_in"] == 30.0
    assert report["frames_without_face"] == 7                          # 1.20 .. 1.44 s at 25 fps
    assert report["clips"] == ["astro_s0", "astro_s1"]
    assert json.loads((out / "astro_s0" / "meta.json").read_text())["source"]["frames"] == [0, 30]
    for name, flash in zip(report["clips"], FLASHES):
        clip = clipio.read_clip(out / name)
        T = clip.num_frames
        assert clip.frames.shape[1:] == (256, 256, 3) and len(clip.audio) == T * 640
        t0 = clip.meta["source"]["time"]
        brightness = clip.frames.reshape(T, -1).mean(1)
        k = int(np.flatnonzero(np.diff(brightness) > 20)[0]) + 1          # first bright frame
        beep = np.flatnonzero(np.abs(clip.audio) > 0.25)[0] / 16000      # first loud sample, seconds
        assert abs(t0 + k / 25 - flash) < 1 / 30 + 1e-6                  # the frame shows the flash time
        assert abs((k / 25) - beep) < 1 / 25                             # audio-visual offset < one frame


def test_the_crop_is_stable_and_the_landmarks_follow_the_face(prepared):
    """Mapped back to the photograph through the known motion and the clip's crop, every frame's
    landmarks land on the same photo points; their eye centres, nose tip and mouth agree with
    mediapipe's separate face detector on the photograph itself."""
    import skimage.data
    from talkinglib.data.face import detect_faces
    out, report = prepared
    photo_lm = []
    for name in report["clips"]:
        meta = json.loads((out / name / "meta.json").read_text())
        x, y, side = meta["source"]["crop"]
        lm = np.asarray(meta["landmarks"])                                # (T, 68, 2) crop pixels
        assert not meta["landmarks_interpolated"]
        for k, frame_lm in enumerate(lm):
            t = meta["source"]["time"] + k / 25
            s, o = astro_transform(round(t * 30) / 30)                     # the source frame shown
            in_frame = frame_lm * side / 256 + [x, y]
            photo_lm.append((in_frame - o) / s + CENTRE)
    photo_lm = np.stack(photo_lm)                                          # (68 frames, 68, 2)
    spread = np.linalg.norm(photo_lm - photo_lm.mean(0), axis=2).mean()
    assert spread < 1.5, spread                                            # photo pixels (IOD ≈ 44)
    kp = detect_faces(skimage.data.astronaut())[0]
    mean = photo_lm.mean(0)
    det = skimage_keypoints(skimage.data.astronaut())
    ours = np.stack([mean[36:42].mean(0), mean[42:48].mean(0), mean[30], mean[48:68].mean(0)])
    assert np.linalg.norm(ours - det, axis=1).max() < 8.0, (ours, det)
    assert kp.x0 < mean[:, 0].mean() < kp.x1


def skimage_keypoints(image):
    """mediapipe face detection's keypoints: right eye, left eye, nose tip, mouth centre (pixels)."""
    import mediapipe as mp
    with mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5) as fd:
        d = fd.process(image).detections[0]
    H, W = image.shape[:2]
    return np.array([[p.x * W, p.y * H] for p in d.location_data.relative_keypoints[:4]])


def test_reject_policy_and_no_audio_are_reported_not_crashes(astro, tmp_path):
    silent_video = astronaut_video(tmp_path / "mute.mp4", seconds=1.2, audio=False)
    (tmp_path / "in").mkdir()
    for p in (astro, silent_video):
        (tmp_path / "in" / p.name).symlink_to(p)
    report = prepare_dataset("video", tmp_path / "in", tmp_path / "out", replace(PrepareConfig(), on_missing_face="reject"),
                             progress=False, identity="astro")
    assert report["astro"]["status"] == "rejected" and "7 of 75 frames have no face" in report["astro"]["reason"]
    assert report["mute"]["status"] == "rejected" and "no audio track" in report["mute"]["reason"]
    assert not [p for p in (tmp_path / "out").iterdir() if p.is_dir()]   # no clip folder written
    assert json.loads((tmp_path / "out" / "splits.json").read_text()) == {"train": [], "test": []}


def test_synthtalk_video_keeps_its_sound_and_the_mouth_landmarks_follow_the_jaw(tmp_path):
    """A SynthTalk clip rendered at 256², written as an mp4 with AAC sound and prepared: the audio comes
    back at lag 0 and the face mesh's mouth opening (points 66 - 62) follows the true jaw factor."""
    from talkinglib.video import VideoWriter
    from talkinglib.synth.generate import PRESETS, make_clip
    frames, audio, meta = make_clip(0, replace(PRESETS["tiny"], size=256, seconds=1.6), 12, "neutral", 1, 0)
    src = tmp_path / "id012.mp4"
    with VideoWriter(src, size=256) as w:
        w.write_audio(audio)
        w.write(frames)
    report = prepare_video(src, tmp_path / "out", "id012", {"identity": "id012", "split": "test"},
                           PrepareConfig(frames_format="npz"))
    clip = clipio.read_clip(tmp_path / "out" / "id012")
    assert clip.num_frames == len(frames) == 40 and report["frames_without_face"] == 0
    xc = np.correlate(clip.audio - clip.audio.mean(), audio - audio.mean(), "full")
    assert abs(int(np.argmax(xc)) - (len(audio) - 1)) <= 16                 # ≤ 1 ms
    lm = np.asarray(clip.meta["landmarks"])
    r = np.corrcoef(lm[:, 66, 1] - lm[:, 62, 1], np.asarray(meta["factors"]["mouth"])[:, 0])[0, 1]
    assert r > 0.7, r


def test_mead_and_hdtf_layouts_give_labels_and_identity_splits(tmp_path):
    mead = tmp_path / "MEAD"
    for spk in ("M003", "M005", "W015"):
        for emo, level in (("angry", 3), ("neutral", 1)):
            v = mead / spk / "video" / "front" / emo / f"level_{level}" / "001.mp4"
            v.parent.mkdir(parents=True)
            v.write_bytes(b"")
        (mead / spk / "video" / "left_30" / "angry" / "level_3").mkdir(parents=True)   # other views: ignored
        (mead / spk / "video" / "left_30" / "angry" / "level_3" / "001.mp4").write_bytes(b"")
    a = mead / "M005" / "audio" / "angry" / "level_3" / "001.m4a"
    a.parent.mkdir(parents=True)
    a.write_bytes(b"")
    src = {s.name: s for s in mead_sources(mead)}
    assert sorted(src) == [f"{spk}_{e}_001" for spk in ("M003", "M005", "W015")
                           for e in ("angry_3", "neutral_1")]
    assert src["M005_angry_3_001"].labels == {"identity": "M005", "emotion": "angry", "intensity": 3, "split": "train"}
    assert src["M005_angry_3_001"].audio_path == a and src["M003_angry_3_001"].audio_path is None
    assert {s.labels["split"] for s in src.values() if s.labels["identity"] in ("M003", "W015")} == {"test"}

    hdtf = tmp_path / "HDTF"
    hdtf.mkdir()
    names = [f"WRA_Person{i}_{j:03d}.mp4" for i in range(10) for j in range(2)]
    for n in names:
        (hdtf / n).write_bytes(b"")
    src = hdtf_sources(hdtf, 0.2, seed=0)
    test_ids = {s.labels["identity"] for s in src if s.labels["split"] == "test"}
    assert len(test_ids) == 2 and len(src) == 20                         # 8:2 by identity
    assert all(s.labels["split"] == ("test" if s.labels["identity"] in test_ids else "train") for s in src)
    assert test_ids == {s.labels["identity"] for s in hdtf_sources(hdtf, 0.2, seed=0) if s.labels["split"] == "test"}


def test_prepare_cli_resumes_and_the_result_loads_for_training(astro, tmp_path):
    """The command line on a folder; a second run skips what is done; a training stage runs on the result."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "astro.mp4").symlink_to(astro)
    cmd = [sys.executable, "-m", "talkinglib", "prepare", "video", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
           "--identity", "eileen", "--frames-format", "npz", "--size", "64"]
    first = subprocess.run(cmd, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "2 clips from 1 of 1 videos" in first.stdout and "7 frames without a face" in first.stdout
    stamp = (tmp_path / "out" / "astro_s0" / "frames.npz").stat().st_mtime_ns
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0 and (tmp_path / "out" / "astro_s0" / "frames.npz").stat().st_mtime_ns == stamp
    train = [sys.executable, "-m", "talkinglib", "train", "edtalk.autoencoder", "--data", str(tmp_path / "out"),
             "--out", str(tmp_path / "run"), "--preset", "tiny", "--steps", "2", "--set", "batch_size=2"]
    refused = subprocess.run(train, capture_output=True, text=True)                # tiny adds SynthTalk faces
    assert refused.returncode != 0 and "pass --set extra_identities=0" in refused.stderr
    refused = subprocess.run(train + ["--set", "extra_identities=0"], capture_output=True, text=True)
    assert refused.returncode != 0 and "w_factors=0" in refused.stderr          # tiny anchors SynthTalk's truth
    train += ["--set", "extra_identities=0", "--set", "w_factors=0"]
    refused = subprocess.run(train, capture_output=True, text=True)                # tiny's L_per: SynthTalk's expert
    assert refused.returncode != 0 and "--set perceptual=random" in refused.stderr
    ran = subprocess.run(train + ["--set", "perceptual=random"], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert (tmp_path / "run" / "edtalk.pt").is_file()
    # and the metrics run on it: landmarks from the face mesh on both sides, no SynthTalk-only scores
    ev = subprocess.run([sys.executable, "-m", "talkinglib", "evaluate", "--mode", "edtalk-v", "--checkpoint",
                         str(tmp_path / "run" / "edtalk.pt"), "--data", str(tmp_path / "out"), "--split", "train",
                         "--syncnet", "none", "--out", str(tmp_path / "eval")], capture_output=True, text=True)
    assert ev.returncode == 0, ev.stderr[-2000:]
    summary = json.loads((tmp_path / "eval" / "edtalk-v.clips.json").read_text())["summary"]
    assert summary["clips"] == 2 and "jaw_r2" not in summary and "emotion_acc" not in summary
    assert summary["psnr"] > 0 and "akd_face_found" in summary
