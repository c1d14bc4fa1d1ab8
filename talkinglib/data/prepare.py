"""Real-data preparation: any talking-head video -> clips in SynthTalk's on-disk format (clips.py).

    talkinglib prepare video talk.mov --out data/mine --identity me
    talkinglib prepare mead  MEAD/    --out data/mead      # SPK/video/front/EMO/level_N/NNN.mp4
    talkinglib prepare hdtf  HDTF/    --out data/hdtf      # NAME_NNN.mp4, identity = NAME

For each video:
1. **25 fps by timestamps.** Output frame k shows the source frame whose presentation time is
   nearest to t0 + k/25 (t0: the first video frame's time). The audio is cut by the same clock:
   its samples from t0 on, with the audio stream's own start time taken into account, mixed to
   mono and resampled to 16 kHz. So any container and frame rate comes out in sync (tested: the
   audio-visual offset stays under one frame).
2. **Face detection** (mediapipe, data/face.py) on every source frame.
3. **Frames without a face** are reported. With on_missing_face="skip" the video is cut into its
   runs of face frames, each run a clip of its own (`NAME_s0`, `NAME_s1`, ...; runs shorter than
   min_frames are dropped and reported), so no frame is dropped from inside a clip and the audio
   stays aligned. With "reject" such a video gives no clip.
4. **A stable crop per clip** (FOMM-style): the per-frame boxes median-filtered over time, their
   union, and a square around it with the same margin as `crop_face` at inference; then 256².
5. **68-point landmarks** from the face mesh on the crops (data/landmarks.py). A crop where the
   mesh finds no face gets landmarks interpolated from its neighbours, and the frame indices are
   listed in meta.json (`landmarks_interpolated`); over 10 % of such frames rejects the clip.
6. **Write**: frames, audio.wav (16 kHz mono), meta.json; splits.json by identity (MEAD: speakers
   M003, M030, W009 and W015 held out; HDTF: 8:2 by identity, seeded; video: `--split`), and
   prepare_report.json with what happened to every source. Mel windows are computed from
   audio.wav by the loaders (`talkinglib.audio.mel_windows`), one per frame.

Preparation resumes: sources already in prepare_report.json are skipped (pass overwrite=True to
redo them). Nothing is fixed silently: every skipped frame, dropped run and rejected video is in
the report, with the reason.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkinglib import audio as tl_audio
from talkinglib.constants import EMOTIONS
from talkinglib.data import clips as clipio
from talkinglib.data.face import Region, cut
from talkinglib.errors import InputError
from talkinglib.video import VideoError, read_audio_track_timed, timed_frames, video_rate

MEAD_TEST_SPEAKERS = ("M003", "M030", "W009", "W015")     # EDTalk/RETA's held-out MEAD speakers
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")


@dataclass
class PrepareConfig:
    size: int = 256                  # crop side in pixels
    scale: float = 1.6               # margin around the face box, as data/face.py's crop_face
    smooth: int = 5                  # median filter (frames) over the per-frame boxes
    min_frames: int = 25             # shorter runs of face frames are dropped (reported)
    on_missing_face: str = "skip"    # "skip": split around face-less frames; "reject": no clip
    max_interpolated: float = 0.1    # fraction of crops without a face mesh before a clip is rejected
    frames_format: str = "mp4"       # "mp4" or "npz" (clips.py)
    hdtf_test_fraction: float = 0.2
    seed: int = 0


class PrepareError(InputError):
    """A source that cannot be prepared; the message says why and what to do."""


# -- 1. decoding, by timestamps -------------------------------------------------------------
def decode_video(path, detect):
    """Every frame of the first video stream: (times (N,) seconds, boxes [FaceBox | None] (N,), fps).
    `detect(frame)` returns the best FaceBox or None. Frames are not kept."""
    try:
        times, boxes = [], []
        for t, frame in timed_frames(path):
            times.append(t)
            boxes.append(detect(frame))
        rate = video_rate(path)
    except VideoError as e:
        raise PrepareError(f"cannot prepare {path}: {e}") from e
    if not times:
        raise PrepareError(f"{path} has a video stream without frames")
    return np.array(times, np.float64), boxes, rate


def decode_audio(path):
    """The first audio track -> (mono float32 at 16 kHz, start time in seconds), or None if there is none."""
    try:
        wav, rate, start = read_audio_track_timed(path)
    except VideoError:                                   # no track, or one without samples
        return None
    return tl_audio.resample(wav, rate, tl_audio.SAMPLE_RATE), start


def frame_map(times, n_out, fps=clipio.FPS):
    """Source frame index for each 25 fps output frame: the one whose time is nearest t0 + k/fps. (n_out,)"""
    target = times[0] + np.arange(n_out) / fps                            # (n_out,)
    right = np.clip(np.searchsorted(times, target), 1, len(times) - 1)
    left = right - 1
    return np.where(target - times[left] <= times[right] - target, left, right)


def output_length(times, audio_end, fps=clipio.FPS):
    """Whole 25 fps frames covered by both the video and the audio (seconds after t0)."""
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0 / fps
    video_end = times[-1] + step - times[0]
    return int(np.floor(min(video_end, audio_end) * fps + 1e-6))


# -- 3.-4. runs of face frames and their crop ---------------------------------------------
def face_runs(has_face, min_frames):
    """[(start, stop)] of the runs of True in has_face (n,), and the runs shorter than min_frames."""
    runs, start = [], None
    for k, f in enumerate(list(has_face) + [False]):
        if f and start is None:
            start = k
        elif not f and start is not None:
            runs.append((start, k))
            start = None
    return [r for r in runs if r[1] - r[0] >= min_frames], [r for r in runs if r[1] - r[0] < min_frames]


def stable_region(boxes, smooth, scale):
    """One square Region for a run: boxes (n, 4) x0, y0, x1, y1, median-filtered over `smooth`
    frames, then their union, widened by the margin crop_face gives a single face box."""
    b = np.asarray(boxes, np.float64)
    h = smooth // 2
    pad = np.pad(b, ((h, h), (0, 0)), mode="edge")
    med = np.stack([np.median(pad[k:k + smooth], 0) for k in range(len(b))])    # (n, 4)
    x0, y0 = med[:, 0].min(), med[:, 1].min()
    x1, y1 = med[:, 2].max(), med[:, 3].max()
    face = np.median(np.maximum(med[:, 2] - med[:, 0], med[:, 3] - med[:, 1]))
    side = int(round(max(x1 - x0, y1 - y0) + (scale - 1) * face))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return Region(int(round(cx - side / 2)), int(round(cy - side / 2)), max(side, 2))


def crop_frames(path, wanted, regions, size):
    """Second decoding pass: {out k: uint8 (size, size, 3)} for wanted {source index: [(k, run)]}."""
    out = {}
    for i, (_, img) in enumerate(timed_frames(path, keep=lambda i: i in wanted)):
        for k, run in wanted.get(i, ()):
            out[k] = cut(img, regions[run], size)
    return out


# -- 5. landmarks ----------------------------------------------------------------------------
def clip_landmarks(frames, max_interpolated):
    """(T, 68, 2) landmarks on the crops, and the frame indices interpolated from neighbours."""
    from talkinglib.data.landmarks import landmarks_68
    lm = landmarks_68(frames)
    missing = np.flatnonzero(np.isnan(lm[:, 0, 0]))
    if len(missing) > max_interpolated * len(lm):
        raise PrepareError(f"the face mesh found no face in {len(missing)} of {len(lm)} crops")
    if len(missing):
        ok = np.flatnonzero(~np.isnan(lm[:, 0, 0]))
        flat = lm.reshape(len(lm), -1)
        for j in range(flat.shape[1]):
            flat[missing, j] = np.interp(missing, ok, flat[ok, j])
    return lm, missing.tolist()


# -- one video -------------------------------------------------------------------------------
def prepare_video(path, out_root, name, labels, cfg=PrepareConfig(), audio_path=None, detect=None):
    """Prepare one video into clip folder(s) under out_root. labels: identity, emotion, intensity,
    split (and optionally transcript). Returns its report entry (a dict)."""
    from talkinglib.data.face import detect_faces
    detect = detect or (lambda img: (detect_faces(img) or [None])[0])
    times, boxes, fps_in = decode_video(path, detect)
    audio = decode_audio(audio_path or path)
    if audio is None:
        where = f" nor in {audio_path}" if audio_path else ""
        raise PrepareError(f"{path} has no audio track{where}; talking-head training needs the speech")
    wav, a0 = audio
    if audio_path is not None:
        a0 = times[0]                                  # a separate file starts with the video
    T = output_length(times, a0 + len(wav) / tl_audio.SAMPLE_RATE - times[0])
    if T < cfg.min_frames:
        raise PrepareError(f"{path} is {T} frames long at 25 fps; clips need at least {cfg.min_frames}")
    src = frame_map(times, T)                                                # (T,)
    has_face = np.array([boxes[i] is not None for i in src])
    runs, short = face_runs(has_face, cfg.min_frames)
    report = {"source": str(path), "fps_in": round(fps_in, 3), "frames_out": T,
              "frames_without_face": int((~has_face).sum()), "runs_dropped_short": [list(r) for r in short]}
    if not has_face.all() and cfg.on_missing_face == "reject":
        raise PrepareError(f"{report['frames_without_face']} of {T} frames have no face "
                           "(on_missing_face='reject'); pass --on-missing-face skip to keep the runs with one")
    if not runs:
        raise PrepareError(f"no run of {cfg.min_frames} consecutive frames with a face")
    regions = [stable_region([boxes[i][:4] for i in src[a:b]], cfg.smooth, cfg.scale) for a, b in runs]
    wanted = {}
    for r, (a, b) in enumerate(runs):
        for k in range(a, b):
            wanted.setdefault(int(src[k]), []).append((k, r))
    crops = crop_frames(path, wanted, regions, cfg.size)
    report["clips"] = []
    for r, (a, b) in enumerate(runs):
        clip_name = name if len(runs) == 1 and (a, b) == (0, T) else f"{name}_s{r}"
        frames = np.stack([crops[k] for k in range(a, b)])                   # (n, size, size, 3)
        try:
            lm, interpolated = clip_landmarks(frames, cfg.max_interpolated)
        except PrepareError as e:
            report.setdefault("runs_rejected", []).append({"frames": [a, b], "reason": str(e)})
            continue
        s0 = int(round((times[0] + a / clipio.FPS - a0) * tl_audio.SAMPLE_RATE))   # audio sample of frame a
        n = (b - a) * tl_audio.SAMPLE_RATE // clipio.FPS
        seg = np.zeros(n, np.float32)
        lo, hi = max(s0, 0), min(s0 + n, len(wav))
        seg[lo - s0:hi - s0] = wav[lo:hi]
        emotion = labels.get("emotion")
        meta = {"identity": labels["identity"], "emotion": emotion,
                "emotion_index": EMOTIONS.index(emotion) if emotion in EMOTIONS else None,
                "intensity": labels.get("intensity"), "transcript": labels.get("transcript", ""),
                "split": labels["split"], "size": cfg.size, "landmarks": np.round(lm, 2).tolist(),
                "landmarks_interpolated": interpolated,
                "source": {"file": Path(path).name, "frames": [a, b], "time": round(times[0] + a / clipio.FPS, 4),
                           "crop": list(regions[r]), "audio_padded_samples": int(n - (hi - lo))}}
        clipio.write_clip(Path(out_root) / clip_name, frames, seg, meta, cfg.frames_format)
        report["clips"].append(clip_name)
    return report
