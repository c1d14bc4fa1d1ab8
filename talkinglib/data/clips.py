"""The on-disk clip format shared by SynthTalk and real-data preparation (SYNTHTALK.md "Files").

One folder per clip:
    frames.npz | frames.mp4   uint8 RGB frames (T, H, W, 3) at 25 fps
    audio.wav                 16 kHz mono PCM16
    meta.json                 fps, identity, emotion, intensity, transcript, per-frame factors,
                              3DMM coefficients, 68-point landmarks
A dataset root holds the clip folders, `splits.json` ({"train": [...], "test": [...]}, split by
identity) and `dataset.json` (how it was made). Writes are byte-deterministic: the npz is a zip
with fixed timestamps and JSON is written with sorted keys, so the same seed gives the same bytes.
"""
import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkinglib import audio as tl_audio
from talkinglib.constants import FPS
from talkinglib.errors import InputError



class ClipFormatError(InputError):
    """A clip folder or dataset root does not follow the format above."""


@dataclass
class Clip:
    name: str
    frames: np.ndarray      # (T, H, W, 3) uint8
    audio: np.ndarray       # (T * 640,) float32, 16 kHz
    meta: dict

    @property
    def num_frames(self):
        return self.frames.shape[0]


def atomic_write_bytes(path: Path, data: bytes):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_npz_deterministic(path, **arrays):
    """np.savez_compressed, but with fixed zip timestamps so equal arrays give equal bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            payload = io.BytesIO()
            np.lib.format.write_array(payload, np.ascontiguousarray(arr), allow_pickle=False)
            zf.writestr(info, payload.getvalue())
    atomic_write_bytes(Path(path), buf.getvalue())


def write_json(path, obj):
    atomic_write_bytes(Path(path), (json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n").encode())


# BT.601 limited range, what decoders assume for untagged yuv444p (Y 16-235, Cb/Cr 16-240)
_RGB_TO_YUV = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]) / 255


def rgb_to_yuv444(frame):
    """uint8 (H, W, 3) RGB -> uint8 (3, H, W) planar Y, Cb, Cr, in plain numpy so the encoder's
    input never depends on which swscale code path a machine picks."""
    yuv = np.einsum("ij,hwj->ihw", _RGB_TO_YUV, frame.astype(np.float64))
    yuv += np.array([16.0, 128.0, 128.0])[:, None, None]
    return np.clip(np.floor(yuv + 0.5), 0, 255).astype(np.uint8)


def write_mp4(path, frames, fps=FPS, crf=18):
    """H.264 frames through PyAV, single-threaded, bit-exact and without x264's assembly.

    With its SIMD paths x264 gave different bytes for the same frames in about 4 % of encodes on
    a loaded machine (measured: 17 of 400); with `no-asm` 400 of 400 were identical. It costs
    about 3x encode time (3 s instead of 1 s for a 75-frame 256² clip), paid only by mp4 datasets.
    """
    import av

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.mp4")
    with av.open(str(tmp), "w", options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream("libx264", rate=fps,
                                options={"crf": str(crf), "threads": "1", "flags": "+bitexact",
                                         "x264-params": "no-asm=1"})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv444p"
        stream.codec_context.thread_count = 1
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb_to_yuv444(f), format="yuv444p")
            frame.pts = i                   # explicit timestamps: x264's rate control reads them
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    os.replace(tmp, path)


def read_mp4(path):
    import av

    with av.open(str(path)) as f:
        return np.stack([fr.to_ndarray(format="rgb24") for fr in f.decode(video=0)])


def write_clip(folder, frames, audio, meta, frames_format="npz"):
    """Write one clip folder. frames (T, H, W, 3) uint8; audio (T * 640,) float32; meta dict."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    T = frames.shape[0]
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ClipFormatError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    if len(audio) != T * tl_audio.SAMPLE_RATE // FPS:
        raise ClipFormatError(f"audio has {len(audio)} samples; {T} frames at {FPS} fps need "
                              f"{T * tl_audio.SAMPLE_RATE // FPS} at 16 kHz")
    if frames_format == "npz":
        write_npz_deterministic(folder / "frames.npz", frames=frames)
    elif frames_format == "mp4":
        write_mp4(folder / "frames.mp4", frames)
    else:
        raise ClipFormatError(f"frames_format must be 'npz' or 'mp4', got {frames_format!r}")
    tl_audio.write_wav(folder / "audio.wav", audio)
    write_json(folder / "meta.json", {"fps": FPS, "num_frames": T, **meta})


def read_meta(folder):
    path = Path(folder) / "meta.json"
    if not path.is_file():
        raise ClipFormatError(f"{folder} is not a clip folder: meta.json is missing")
    meta = json.loads(path.read_text())
    if meta.get("fps") != FPS:
        raise ClipFormatError(f"{folder}: fps is {meta.get('fps')}, talkinglib works at {FPS} fps; "
                              "re-prepare the clip with `talkinglib prepare` to resample it")
    return meta


def read_frames(folder):
    folder = Path(folder)
    if (folder / "frames.npz").is_file():
        with np.load(folder / "frames.npz") as z:
            return z["frames"]
    if (folder / "frames.mp4").is_file():
        return read_mp4(folder / "frames.mp4")
    raise ClipFormatError(f"{folder} has neither frames.npz nor frames.mp4")


def read_clip(folder):
    folder = Path(folder)
    meta = read_meta(folder)
    frames = read_frames(folder)
    wav = tl_audio.read_wav(folder / "audio.wav")
    if frames.shape[0] != meta["num_frames"]:
        raise ClipFormatError(f"{folder}: meta.json says {meta['num_frames']} frames, found {frames.shape[0]}")
    return Clip(folder.name, frames, wav, meta)


def read_splits(root):
    path = Path(root) / "splits.json"
    if not path.is_file():
        raise ClipFormatError(f"{root} has no splits.json; generate a dataset with "
                              "`talkinglib synth --out DIR` or prepare one with `talkinglib prepare`")
    return json.loads(path.read_text())
