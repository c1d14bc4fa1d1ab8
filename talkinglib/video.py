"""Video in and out through PyAV: an mp4 with sound, written while frames are still being generated.
Media I/O lives here and in talkinglib/audio.py, below data/ (prepare) and inference/ (generate).

    with VideoWriter("out.mp4", size=256) as w:     # H.264 (yuv420p) + AAC, 25 fps, 16 kHz mono
        w.write_audio(wav_16k)                       # (N,) float32 in [-1, 1]
        for batch in frame_batches:                  # uint8 (B, H, W, 3), any number of calls
            w.write(batch)
    frames, fps = read_video("drive.mp4")            # uint8 (T, H, W, 3) and the stream's frame rate
    wav, sr = read_audio_track("talk.mp4")           # the first audio track, mono float32, its own rate
    for t, frame in timed_frames("clip.mov"):        # every frame with its time (s), whatever the rate: prepare

The writer keeps nothing but the encoder's state, so a 10-minute clip needs no more memory than a
second of it. The file appears only when it is complete (a temporary file, then os.replace).
"""
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from talkinglib.constants import FPS
from talkinglib.errors import InputError



class VideoError(InputError):
    """A video talkinglib cannot use as given; the message says what to do."""


def check_writable(path):
    """Make `path`'s folder and check that a file can be created in it, before any work is spent on its content.
    Raises VideoError naming the path."""
    import tempfile
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".talkinglib-write-test-"):
            pass
    except OSError as e:
        raise VideoError(f"cannot write {str(path)!r}: {e.strerror or e} (in {str(path.parent)!r}); choose an "
                         "output folder you can write to") from e


class VideoWriter:
    def __init__(self, path, size, fps=FPS, sample_rate=16000, crf=18):
        import av
        path = Path(path)
        if path.suffix.lower() != ".mp4":
            raise VideoError(f"the output must be an .mp4 file; got {str(path)!r}")
        if size % 2:
            raise VideoError(f"H.264 (yuv420p) needs an even frame size; got {size}")
        check_writable(path)
        self.path, self.tmp = path, path.with_name(path.name + ".part.mp4")
        self.size, self.frames_written, self.sample_rate = size, 0, sample_rate
        try:
            self._out = av.open(str(self.tmp), "w")
        except OSError as e:                     # PyAV's own errors name no path
            raise VideoError(f"cannot write {str(path)!r}: {e.strerror or e}; choose an output folder you can "
                             "write to") from e
        self._video = self._out.add_stream("libx264", rate=fps, options={"crf": str(crf)})
        self._video.width = self._video.height = size
        self._video.pix_fmt = "yuv420p"
        self._audio = None

    def write_audio(self, wav):
        """The clip's whole soundtrack, mono float in [-1, 1] at sample_rate (written once)."""
        import av
        if self._audio is not None:
            raise VideoError("write_audio was already called for this file")
        wav = np.asarray(wav, dtype=np.float32)
        if wav.ndim != 1:
            raise VideoError(f"audio must be mono (N,); got shape {wav.shape}")
        self._audio = self._out.add_stream("aac", rate=self.sample_rate)
        self._audio.layout = "mono"
        hop = 1 << 16
        for start in range(0, len(wav), hop):                            # in pieces: bounded memory
            frame = av.AudioFrame.from_ndarray(np.clip(wav[None, start:start + hop], -1, 1), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = self.sample_rate, start
            for packet in self._audio.encode(frame):
                self._out.mux(packet)
        for packet in self._audio.encode():
            self._out.mux(packet)

    def write(self, frames):
        """uint8 frames (B, H, W, 3), H = W = size, appended in order."""
        import av
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[1:] != (self.size, self.size, 3):
            raise VideoError(f"frames must be uint8 (B, {self.size}, {self.size}, 3); got {frames.dtype} "
                             f"{frames.shape} (talkinglib.data.datasets.to_uint8_images converts model output)")
        for f in frames:
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = self.frames_written
            self.frames_written += 1
            for packet in self._video.encode(vf):
                self._out.mux(packet)

    def close(self, keep=True):
        for packet in self._video.encode():
            self._out.mux(packet)
        self._out.close()
        if keep:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(keep=exc_type is None)                                # no half-written file on errors


def _open(path):
    import av
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise VideoError(f"video file not found: {path!r}")
    try:
        return av.open(path)
    except av.error.FFmpegError as e:
        raise VideoError(f"cannot open {path!r} as a video ({e}); the file is corrupt or not a video") from e


def read_video(path, fps=FPS):
    """All frames of the first video stream, uint8 (T, H, W, 3), and its frame rate. A rate other
    than `fps` is an error (resampling would have to move the audio too)."""
    with _open(path) as f:
        if not f.streams.video:
            raise VideoError(f"{path!r} has no video stream")
        stream = f.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        if rate is None or abs(float(rate) - fps) > 1e-3:
            raise VideoError(f"{path!r} runs at {float(rate) if rate else 'an unknown'} frames/s; talkinglib "
                             f"drives at {fps}. Convert it first: `ffmpeg -i in.mp4 -r {fps} out.mp4`")
        frames = [fr.to_ndarray(format="rgb24") for fr in f.decode(stream)]
    if not frames:
        raise VideoError(f"{path!r} has a video stream without frames")
    return np.stack(frames), Fraction(rate)


def timed_frames(path, keep=None):
    """(time in seconds, uint8 (H, W, 3)) of every frame of the first video stream, at the stream's own rate
    (talkinglib prepare maps them to 25 fps itself). keep(i) -> bool: decode to RGB only the frames it keeps
    (the others give None). The stream's frame rate is `video_rate(path)`."""
    with _open(path) as f:
        if not f.streams.video:
            raise VideoError(f"{path!r} has no video stream")
        for i, fr in enumerate(f.decode(f.streams.video[0])):
            if fr.time is None:
                raise VideoError(f"{path!r}: frame {i} has no timestamp; remux the file "
                                 "(`ffmpeg -i in -c copy out.mp4`)")
            yield fr.time, (fr.to_ndarray(format="rgb24") if keep is None or keep(i) else None)


def video_rate(path):
    """The first video stream's frame rate (frames/s), 0.0 when the container does not say."""
    with _open(path) as f:
        if not f.streams.video:
            raise VideoError(f"{path!r} has no video stream")
        stream = f.streams.video[0]
        return float(stream.average_rate or stream.guessed_rate or 0)


def read_audio_track(path):
    """The first audio track of any container PyAV reads -> (mono float32 (N,), sample rate).
    Channels are averaged, (L + R) / 2 for stereo, as talkinglib.audio.load_audio mixes them; the rate is
    unchanged: resample with talkinglib.audio.resample."""
    wav, rate, _ = read_audio_track_timed(path)
    return wav, rate


def read_audio_track_timed(path):
    """read_audio_track, plus the presentation time (seconds) of its first sample: what a video's
    frames are aligned against (talkinglib prepare)."""
    import av
    with _open(path) as f:
        if not f.streams.audio:
            raise VideoError(f"{path!r} has no audio track; give the audio as a separate file")
        stream = f.streams.audio[0]
        rate = stream.codec_context.sample_rate
        # planar float32 in the stream's own layout, (C, n) per frame; the channels are then averaged here:
        # FFmpeg's own down-mix to mono sums stereo at -3 dB each, (L + R) / √2, 1.41× the average, and clips
        to_float = av.AudioResampler(format="fltp", rate=rate)
        chunks, start = [], None
        for fr in f.decode(stream):
            if start is None and fr.time is not None:
                start = fr.time
            chunks += [m.to_ndarray().mean(0) for m in to_float.resample(fr)]
        chunks += [m.to_ndarray().mean(0) for m in to_float.resample(None)]         # flush
    if not chunks or not sum(len(c) for c in chunks):
        raise VideoError(f"{path!r} has an audio track without samples")
    return np.concatenate(chunks).astype(np.float32), int(rate), float(start or 0.0)
