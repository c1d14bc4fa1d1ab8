"""One identity image + audio in any format -> an mp4 with sound: the Python side of `talkinglib generate`.

    pipe = TalkingHeadPipeline.from_checkpoints("edtalk-a", "data/checkpoints/edtalk_tiny.pt",
                                               audio2lip="data/checkpoints/audio2lip_tiny.pt",
                                               pose_flow="data/checkpoints/audio2pose_tiny.pt")
    pipe.to_video("me.jpg", "speech.mp3", "out.mp4", pose="sample", emotion="happy")
    pipe = TalkingHeadPipeline.from_checkpoints("reta", "data/checkpoints/reta_tiny.pt")
    pipe = TalkingHeadPipeline.official()        # EDTalk.pt + Audio2Lip.pt from the weights registry (local files)

The image is cropped around its face (mediapipe; crop="none" takes it as it is) and resized to the
model's size; paste_back=True puts the generated face back into the photo. Audio is read with
soundfile, librosa or PyAV, mixed to mono and resampled to 16 kHz. Frames are generated span by
span (inference/chunks.py) and written as they come, so a 10-minute clip needs no more memory
than a short one. G runs its fast path (inference/render.py: shared-weight convs, weights prepared
once per clip, compiled for long clips); `fast=dict(form=, compile=, dtype=)` changes it, and
to_video records the frames/s it achieved in `last_speed`.

    pipe = TalkingHeadPipeline.random("edtalk-a", "full")   # random weights: for speed checks only
"""
import os
import time
import warnings
from contextlib import closing
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from talkinglib import audio as tl_audio
from talkinglib import checkpoints
from talkinglib.constants import SAMPLES_PER_FRAME
from talkinglib.data.datasets import to_uint8_images
from talkinglib.data.face import crop_face, cut, paste_back, Region
from talkinglib.data.provenance import outside_training
from talkinglib.errors import InputError, MissingFileError, TalkingLibWarning
from talkinglib.inference.edtalk_v import EDTalkV, driving_length  # noqa: F401  (driving_length: re-exported)
from talkinglib.video import VideoError, VideoWriter, read_audio_track, read_video

MODES = ("edtalk-a", "edtalk-v", "reta")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
SPAN = 250                                   # frames of audio turned into motion at a time (10 s)


def load_image(path):
    """An RGB photo uint8 (H, W, 3), with errors that say what is wrong."""
    from PIL import Image, UnidentifiedImageError
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"identity image not found: {str(path)!r}")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"{str(path)!r} is not an image file ({', '.join(IMAGE_SUFFIXES)}); for a video, "
                         "take one frame of it as the identity image")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise InputError(f"cannot read {str(path)!r} as an image ({e}); the file is corrupt") from e


class AudioConversionWarning(UserWarning):
    """The audio was not 16 kHz mono: it was mixed to mono and resampled (said, never done silently)."""


def _audio_format(path):
    """(sample rate, channels) as soundfile reads the header, or None when it cannot."""
    import soundfile as sf
    try:
        info = sf.info(path)
        return info.samplerate, info.channels
    except Exception:                                   # mp3 and others: librosa or PyAV reads them
        return None


def load_audio_any(path):
    """Mono float32 at 16 kHz from any file soundfile, librosa or PyAV reads (a video's audio track too).
    A conversion (channels mixed, rate resampled) is announced with an AudioConversionWarning.
    Silent audio is an error: it would animate nothing."""
    import warnings
    path = os.fspath(path)
    try:
        wav = tl_audio.load_audio(path, resample=True)
        fmt = _audio_format(path)
    except tl_audio.AudioError as first:
        if not os.path.isfile(path):
            raise
        try:
            data, sr = read_audio_track(path)
        except VideoError as e:
            raise tl_audio.AudioError(f"{first}\nPyAV could not read it either: {e}") from e
        wav = tl_audio.resample(data, sr, tl_audio.SAMPLE_RATE)
        fmt = (sr, "its")
    if fmt is None or fmt != (tl_audio.SAMPLE_RATE, 1):
        what = "an unread header" if fmt is None else f"{fmt[0]} Hz, {fmt[1]} channel(s)"
        warnings.warn(f"{path}: {what} -> mixed to mono and resampled to {tl_audio.SAMPLE_RATE} Hz",
                      AudioConversionWarning, stacklevel=2)
    tl_audio.check_speech_length(wav, repr(path))
    if np.abs(wav).max() < 1e-4:
        raise tl_audio.AudioError(f"{path!r} is silent (peak amplitude below 1e-4): there is no speech to animate")
    return wav


class OutsideTrainingWarning(TalkingLibWarning):
    """The photo is unlike anything the model was trained on (data/provenance.py): expect a smear."""


class TalkingHeadPipeline:
    def __init__(self, mode, generator, size, batch_size=None, trained_on=None):
        """trained_on: the main checkpoint's config["data"] (data/provenance.py), when it records one: a photo
        with far more fine detail than those frames gets a warning (OutsideTrainingWarning)."""
        if mode not in MODES:
            raise InputError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode, self.generator, self.size = mode, generator, size
        self.batch_size = getattr(generator, "batch_size", batch_size)         # the pipeline's, resolved per device
        self.last_speed = None               # to_video's {"frames", "seconds", "fps", "compiled", "compile_seconds"}
        self.trained_on = trained_on

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def from_checkpoints(cls, mode, checkpoint, audio2lip=None, pose_flow=None, semantic=None, presets_data=None,
                         batch_size=None, device="cpu", fast=None):
        """Our checkpoints (talkinglib train ...): edtalk-a needs the EDTalk checkpoint and audio2lip
        (pose_flow for pose="sample", semantic for emotion from speech/text, presets_data (a dataset
        root) for emotion presets); reta needs its one checkpoint. fast: {form, compile, dtype} for G
        (inference/render.py; default its fast path)."""
        fast = fast or {}
        if mode not in MODES:
            raise InputError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == "edtalk-a" and audio2lip is None:
            raise InputError("edtalk-a needs an Audio2Lip checkpoint (audio2lip=..., --audio2lip)")
        model, state = checkpoints.load_with_state(checkpoint, "reta" if mode == "reta" else "edtalk.")
        model, data = model.float().to(device).eval(), state["config"].get("data")   # data: what it was trained on
        if mode == "reta":
            from talkinglib.inference.reta import RETAPipeline
            return cls(mode, RETAPipeline(model, batch_size, **fast), model.cfg.size, batch_size, data)
        if mode == "edtalk-v":
            return cls(mode, EDTalkV(model, batch_size, **fast), model.cfg.size, batch_size, data)
        a2l = checkpoints.load(audio2lip, "edtalk.audio2lip").float().to(device)
        pipe = cls._edtalk_a(model, a2l, pose_flow, semantic, presets_data, batch_size, device, fast)
        pipe.trained_on = data
        return pipe

    @classmethod
    def official(cls, batch_size=None, device="cpu", pose_flow=None, semantic=None, presets_data=None, fast=None):
        """The official EDTalk.pt and Audio2Lip.pt, located through the weights registry (never downloaded
        here: `talkinglib weights fetch edtalk`, then `... fetch audio2lip`)."""
        from talkinglib import official
        from talkinglib import weights as registry
        edtalk = official.load_edtalk(registry.resolve("edtalk")).to(device)
        a2l = official.load_audio2lip(registry.resolve("audio2lip")).to(device)
        return cls._edtalk_a(edtalk, a2l, pose_flow, semantic, presets_data, batch_size, device, fast)

    @classmethod
    def random(cls, mode, preset="full", batch_size=None, device="cpu", seed=0, fast=None):
        """FOR SPEED CHECKS ONLY: random weights at a preset's architecture (the frames are noise-like
        faces of nobody). The models are built as `talkinglib bench` builds them (models/stand_in.py:
        stand_in_weights, stand_in_statistics), so `generate --random-weights` and bench time the same
        network. edtalk-a: still pose, no expression unless asked; a pose flow is included for pose="sample"."""
        from talkinglib.models.stand_in import random_models
        if mode not in MODES:
            raise InputError(f"mode must be one of {MODES}, got {mode!r}")
        models = random_models(mode, preset, torch.device(device), seed)
        fast = fast or {}
        if mode == "reta":
            from talkinglib.inference.reta import RETAPipeline
            return cls(mode, RETAPipeline(models["reta"], batch_size, **fast), models["reta"].cfg.size, batch_size)
        if mode == "edtalk-v":
            return cls(mode, EDTalkV(models["edtalk"], batch_size, **fast), models["edtalk"].cfg.size, batch_size)
        from talkinglib.inference.edtalk_a import EDTalkA
        m = models["edtalk"]
        pipe = EDTalkA(m, models["audio2lip"], pose_flow=models["pose_flow"], batch_size=batch_size, **fast)
        return cls(mode, pipe, m.cfg.size, batch_size)

    @classmethod
    def _edtalk_a(cls, edtalk, a2l, pose_flow, semantic, presets_data, batch_size, device, fast=None):
        from talkinglib.inference.edtalk_a import EDTalkA, emotion_presets
        flow = sem = presets = None
        if pose_flow is not None:
            flow = checkpoints.load(pose_flow, "edtalk.audio2pose").float().to(device)
        if semantic is not None:
            sem = checkpoints.load(semantic, "edtalk.audio2exp").float().to(device)
        if presets_data is not None:
            presets = emotion_presets(edtalk.eval(), presets_data)
        pipe = EDTalkA(edtalk, a2l, pose_flow=flow, semantic=sem, presets=presets, batch_size=batch_size, **(fast or {}))
        return cls("edtalk-a", pipe, edtalk.cfg.size, batch_size)

    # -- running -----------------------------------------------------------------------------------
    def source(self, image, crop="auto"):
        """uint8 photo (H, W, 3) -> (source tensor (1, 3, S, S) in [-1, 1], Region of the crop). Warns
        (OutsideTrainingWarning) when the face is far outside the model's training frames (data/provenance.py)."""
        if crop == "auto":
            face, region = crop_face(image, self.size, what="the identity image")
        elif crop == "none":
            H, W = image.shape[:2]
            side = min(H, W)
            region = Region((W - side) // 2, (H - side) // 2, side)
            face = cut(image, region, self.size)
        else:
            raise InputError(f"crop must be 'auto' or 'none', got {crop!r}")
        x = torch.from_numpy(np.array(face)).permute(2, 0, 1)[None].float() / 127.5 - 1
        note = outside_training(self.trained_on, x)
        if note is not None:
            warnings.warn(note, OutsideTrainingWarning, stacklevel=2)
        return x, region

    def stream(self, source, wav, span=SPAN, **options):
        """Frame batches (b, 3, S, S) in [-1, 1] for a source tensor and 16 kHz audio (edtalk-v: driving=(T, 3, S, S)
        frames and components=, the motions they drive; the audio is only the soundtrack). G's last layer is
        unbounded, so its frames are clamped to the documented range here (NaN stays NaN, and is refused
        when written)."""
        if self.mode == "reta" and options:
            raise InputError(f"mode 'reta' takes no options (its emotion comes from the audio); got {sorted(options)}")
        if self.mode == "edtalk-v":
            batches = self.generator.stream(source, **options)
        else:
            batches = self.generator.stream(source, wav, span=span, **options)
        return (b.clamp(-1, 1) for b in batches)

    def __call__(self, image, wav, crop="auto", span=SPAN, **options):
        """All frames (T, 3, S, S) in [-1, 1] for a photo uint8 (H, W, 3) and 16 kHz audio (short clips)."""
        tl_audio.check_speech_length(wav)
        return torch.cat(list(self.stream(self.source(image, crop)[0], wav, span, **options)))

    def to_video(self, image, audio, out, crop="auto", paste=False, span=SPAN, progress=True, **options):
        """Write `out` (.mp4, H.264 + AAC) for an image (path or uint8 array) and audio (path or 16 kHz array).
        options go to the generator: edtalk-a takes pose=, expression= (an emotion name, "audio", "text",
        "audio+text"), text=, intensity=, temperature=, generator=. Returns the path."""
        if Path(str(out)).suffix.lower() != ".mp4":
            raise InputError(f"the output must end in .mp4; got {str(out)!r}")
        photo = load_image(image) if isinstance(image, (str, Path)) else np.asarray(image)
        if audio is None:
            if self.mode != "edtalk-v" or "driving_path" not in options:
                raise InputError("no audio given: pass audio= (a file or 16 kHz samples); edtalk-v can take the "
                                 "driving video's sound instead, with driving_path= that video")
            data, sr = read_audio_track(options["driving_path"])                # the driving video's own sound
            wav = tl_audio.resample(data, sr, tl_audio.SAMPLE_RATE)
        else:
            wav = load_audio_any(audio) if isinstance(audio, (str, Path)) else np.asarray(audio, dtype=np.float32)
            tl_audio.check_speech_length(wav)
        options.pop("driving_path", None)
        src, region = self.source(photo, crop)
        T = tl_audio.frame_count(len(wav))
        if self.mode == "edtalk-v":                                              # the video sets the length
            T = driving_length(options["driving"])
            wav = np.pad(wav, (0, max(0, T * SAMPLES_PER_FRAME - len(wav))))
        size = self.size
        if paste:
            if photo.shape[0] % 2 or photo.shape[1] % 2 or photo.shape[0] != photo.shape[1]:
                raise InputError(f"paste-back writes the whole photo, which must be square with an even side for "
                                 f"H.264; got {photo.shape[1]}x{photo.shape[0]}. Crop or pad it first")
            size = photo.shape[0]
        bar = tqdm(total=T, unit="frame", desc="generate", disable=not progress)
        render = getattr(self.generator, "render", None)                 # G's Renderer (inference/render.py)
        compile_before = (render.compile_seconds or 0) if render is not None else 0
        t0 = time.perf_counter()
        # closing(): a stream stopped early (the error below, Ctrl-C) still ends its clip at once, which gives G
        # its forms back and drops the weights prepared for the clip, even while a traceback holds this frame
        with VideoWriter(out, size=size) as w, closing(self.stream(src, wav, span, **options)) as batches:
            w.write_audio(wav[:T * SAMPLES_PER_FRAME])
            for batch in batches:
                if not torch.isfinite(batch).all():                         # never write garbage frames
                    raise FloatingPointError(
                        f"the model produced NaN/inf frames after frame {w.frames_written}; nothing was written. With "
                        "pose='sample' the pose flow can diverge on audio unlike its training speech: try a "
                        "lower --temperature, or --pose still")
                frames = to_uint8_images(batch)
                w.write(paste_back(photo, frames, region) if paste else frames)
                bar.update(len(frames))
            n = w.frames_written
        bar.close()
        seconds = time.perf_counter() - t0                              # source encoding to the video closed
        compile_s = (render.compile_seconds or 0) - compile_before if render is not None else 0
        self.last_speed = {"frames": n, "seconds": seconds, "fps": n / seconds, "batch_size": self.batch_size,
                           "compiled": render is not None and render.will_compile(T), "compile_seconds": compile_s}
        return Path(out)


def read_driving_video(path, size):
    """A 25 fps driving/pose video resized to (T, 3, size, size) in [-1, 1] (it must already be a face crop)."""
    from PIL import Image
    frames, _ = read_video(path)
    frames = np.stack([np.asarray(Image.fromarray(f).resize((size, size), Image.BICUBIC)) for f in frames])
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1
