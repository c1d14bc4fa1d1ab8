"""Audio I/O and the mel front end.

Implements: the Wav2Lip/EDTalk audio front end (the mel windows that the
public Audio2Lip weights expect), plus strict 16 kHz mono WAV I/O.

Conventions: audio is a mono float32 array (N,) at 16 kHz in [-1, 1].
`read_wav` never fixes anything silently: a wrong sample rate, extra channels,
a corrupt or empty file all raise `AudioError` with a message saying how to
convert. `load_audio(..., resample=True)` is the explicit way to convert.

Front end (Wav2Lip `audio.py` hparams: num_mels 80, n_fft 800, hop 200,
win 800, sr 16000, pre-emphasis 0.97, symmetric mels, max_abs_value 4,
min_level_db -100, ref_level_db 20, fmin 55, fmax 7600), checked against
shared/reference/edtalk_parity/fixture_seed0.pt (max |diff| 0.0 on this machine):
  - the spectrogram is the STFT *magnitude* (not power);
  - the STFT is centred with *zero* padding (librosa >= 0.10 default); the
    reflect padding of old librosa differs by up to ~1.0 at the edge frames;
  - window start = int(80 * (i - 2) / fps), truncated toward zero (so frame 0
    starts at -6, not -7), and every one of the 16 indices is clamped to
    [0, S-1] separately (edge columns repeat; the window is never shifted).
"""
import functools
import math
import numbers
import os
import warnings
from fractions import Fraction

import numpy as np
import soundfile as sf
import torch
from scipy import signal

from talkinglib.constants import SAMPLE_RATE
from talkinglib.errors import InputError

N_FFT, HOP, WIN = 800, 200, 800       # 50 ms window, 12.5 ms hop -> 80 mel steps/s
N_MELS, FMIN, FMAX = 80, 55.0, 7600.0
PREEMPHASIS = 0.97
MIN_LEVEL_DB, REF_LEVEL_DB, MAX_ABS = -100.0, 20.0, 4.0
MEL_STEPS_PER_SECOND = SAMPLE_RATE / HOP   # 80
MEL_WINDOW = 16                            # mel steps per video frame window (0.2 s)

_CONVERT_HINT = ("Convert it with talkinglib.audio.load_audio(path, resample=True) "
                 "or `ffmpeg -i in.wav -ac 1 -ar {sr} out.wav`.")


class AudioError(InputError):
    """Audio that talkinglib cannot use as-is; the message says how to fix it."""


# ----------------------------------------------------------------------------- I/O

def _check_exists(path):
    if not os.path.isfile(path):
        raise AudioError(f"audio file not found: {path!r}. Check the path "
                         "(relative paths are resolved from the current directory).")


def _check_samples(data, path):
    """data: (N, C) float32. Raise on empty or non-finite audio."""
    if data.shape[0] == 0:
        raise AudioError(f"{path!r} contains no audio samples (empty file); "
                         "give a recording at least one video frame long.")
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{path!r} contains NaN or infinite samples; re-export it.")


def read_wav(path, sr=SAMPLE_RATE):
    """Read a mono WAV at exactly `sr` Hz -> float32 (N,). Raises AudioError otherwise."""
    path = os.fspath(path)
    _check_exists(path)
    try:
        data, file_sr = sf.read(path, dtype="float32", always_2d=True)  # (N, C)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(f"cannot read {path!r} as audio ({e}); the file is corrupt or "
                         "not a WAV/FLAC/OGG file. Re-export it, or use "
                         "talkinglib.audio.load_audio(path, resample=True) for "
                         "mp3 and other formats.") from e
    hint = _CONVERT_HINT.format(sr=sr)
    if file_sr != sr:
        raise AudioError(f"{path!r} is {file_sr} Hz; talkinglib expects {sr} Hz mono. {hint}")
    if data.shape[1] != 1:
        raise AudioError(f"{path!r} has {data.shape[1]} channels; talkinglib expects "
                         f"{sr} Hz mono. {hint}")
    _check_samples(data, path)
    return np.ascontiguousarray(data[:, 0])


def load_audio(path, sr=SAMPLE_RATE, resample=False):
    """Read any audio file -> float32 (N,) mono at `sr`.

    resample=False: same strictness as read_wav (wrong rate/channels raise).
    resample=True: explicitly mix channels to mono (mean) and resample to `sr`.
    soundfile is tried first; librosa.load is the fallback for mp3 etc.
    """
    path = os.fspath(path)
    _check_exists(path)
    try:
        data, file_sr = sf.read(path, dtype="float32", always_2d=True)  # (N, C)
    except (sf.LibsndfileError, RuntimeError) as sf_err:
        try:
            import librosa
            with warnings.catch_warnings():  # librosa warns before its audioread fallback
                warnings.simplefilter("ignore")
                y, file_sr = librosa.load(path, sr=None, mono=False)  # (N,) or (C, N)
            data = np.atleast_2d(np.asarray(y, dtype=np.float32)).T  # (N, C)
        except Exception as lr_err:
            raise AudioError(f"cannot read {path!r} as audio: soundfile said ({sf_err}); "
                             f"librosa said ({type(lr_err).__name__}: {lr_err}). The file is "
                             "corrupt or in an unsupported format; convert it with "
                             f"`ffmpeg -i in.ext -ac 1 -ar {sr} out.wav`.") from lr_err
    _check_samples(data, path)
    if not resample:
        hint = _CONVERT_HINT.format(sr=sr)
        if file_sr != sr or data.shape[1] != 1:
            raise AudioError(f"{path!r} is {file_sr} Hz with {data.shape[1]} channel(s); "
                             f"talkinglib expects {sr} Hz mono. {hint}")
        return np.ascontiguousarray(data[:, 0])
    wav = data.mean(axis=1)  # (N,) mono = mean over channels
    return _resample(wav, file_sr, sr)  # `resample` is shadowed by the argument here


def resample(wav, sr_in, sr_out):
    """Polyphase resampling (N,) -> (ceil(N * sr_out / sr_in),) float32."""
    wav = np.asarray(wav, dtype=np.float32)
    if sr_in <= 0 or sr_out <= 0:
        raise AudioError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    if sr_in == sr_out:
        return wav.copy()
    ratio = Fraction(int(sr_out), int(sr_in))  # reduced: 16000/44100 = 160/441
    out = signal.resample_poly(wav, ratio.numerator, ratio.denominator)  # len = ceil(N*up/down)
    return out.astype(np.float32)


_resample = resample


def write_wav(path, wav, sr=SAMPLE_RATE):
    """Write mono float audio as 16-bit PCM WAV (deterministic bytes).

    Raises AudioError on NaN/inf (never written silently); only after that check
    are values clipped to [-1, 1], since PCM_16 cannot store anything louder.
    Round trip through read_wav is exact to 1 PCM step (1/32767).
    """
    wav = np.asarray(wav.detach().cpu() if torch.is_tensor(wav) else wav, dtype=np.float32)
    if wav.ndim != 1:
        raise AudioError(f"write_wav expects mono audio of shape (N,), got {wav.shape}")
    if not np.all(np.isfinite(wav)):
        raise AudioError(f"refusing to write {path!r}: the audio contains NaN or inf values")
    wav = np.clip(wav, -1.0, 1.0)
    sf.write(os.fspath(path), wav, int(sr), subtype="PCM_16", format="WAV")


# ----------------------------------------------------------------------------- mel front end

@functools.lru_cache(maxsize=None)
def _mel_basis():
    """(80, 401) Slaney mel filter bank, 55-7600 Hz, built once."""
    import librosa
    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX)


def _as_mono(wav, name="wav"):
    if torch.is_tensor(wav):
        wav = wav.detach().cpu().numpy()
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim != 1:
        raise AudioError(f"{name} must be mono audio of shape (N,), got {wav.shape}")
    if wav.size == 0:
        raise AudioError(f"{name} is empty")
    if not np.all(np.isfinite(wav)):
        raise AudioError(f"{name} contains NaN or inf values")
    return wav


def mel_spectrogram(wav):
    """16 kHz mono (N,) -> normalised log-mel float32 (80, S), S = 1 + N // 200, in [-4, 4]."""
    import librosa
    wav = _as_mono(wav)
    y = signal.lfilter([1.0, -PREEMPHASIS], [1.0], wav)  # y[n] = x[n] - 0.97 x[n-1]
    D = librosa.stft(y=y, n_fft=N_FFT, hop_length=HOP, win_length=WIN, window="hann",
                     center=True, pad_mode="constant")   # (401, S) complex, zero-padded by 400
    M = _mel_basis() @ np.abs(D)                         # (80, S) mel of the magnitude
    S = 20.0 * np.log10(np.maximum(1e-5, M)) - REF_LEVEL_DB  # dB, floor 1e-5 = -100 dB
    S = 2 * MAX_ABS * (S - MIN_LEVEL_DB) / (-MIN_LEVEL_DB) - MAX_ABS  # [-100, 0] dB -> [-4, 4]
    return np.clip(S, -MAX_ABS, MAX_ABS).astype(np.float32)


MIN_SAMPLES = MEL_WINDOW * HOP             # one audio window, 0.2 s: the shortest speech a model can animate


def check_speech_length(wav, what="the audio"):
    """Refuse audio shorter than one window (MEL_WINDOW mel steps, 0.2 s at 16 kHz): Audio2Lip and RETA read
    each frame from a 0.2 s window, so a shorter clip would animate padding, not speech."""
    if len(wav) < MIN_SAMPLES:
        raise AudioError(f"{what} is {len(wav) / SAMPLE_RATE:.3f} s long, shorter than one audio window "
                         f"({MIN_SAMPLES / SAMPLE_RATE:.1f} s): give at least {MIN_SAMPLES / SAMPLE_RATE:.1f} s of speech")


def frame_count(num_samples, fps=25, sr=SAMPLE_RATE):
    """Video frames covered by `num_samples` of audio: T = floor(num_samples / sr * fps).

    1 s at 25 fps -> 25; 2.5 s -> 62 (a partial last frame is dropped).
    """
    ok = isinstance(fps, numbers.Real) and not isinstance(fps, bool)
    if not (ok and math.isfinite(fps) and fps > 0):
        raise AudioError(f"fps must be a positive number, got {fps!r}")
    # Fraction keeps 16000 * 25 / 16000 exact (no 24.999999 -> 24 surprises)
    return int(math.floor(Fraction(int(num_samples)) * Fraction(fps) / Fraction(int(sr))))


def mel_windows(wav_16k, fps=25):
    """16 kHz mono (N,) -> mel windows torch.float32 (T, 1, 80, 16), T = frame_count(N, fps).

    Video frame i takes mel steps start .. start+15 with
    start = int(80 * (i - 2) / fps) (truncated toward zero), each index clamped
    to [0, S-1]: frames near the ends repeat the first/last mel column.
    """
    wav = _as_mono(wav_16k, "wav_16k")
    T = frame_count(len(wav), fps)
    if T < 1:
        raise AudioError(f"audio of {len(wav)} samples ({len(wav) / SAMPLE_RATE:.4f} s) is "
                         f"shorter than one video frame at {fps} fps")
    mel = mel_spectrogram(wav)                                  # (80, S)
    S = mel.shape[1]
    i = np.arange(T)                                            # (T,)
    start = np.trunc(MEL_STEPS_PER_SECOND * (i - 2) / fps).astype(np.int64)  # int() semantics
    idx = np.clip(start[:, None] + np.arange(MEL_WINDOW)[None, :], 0, S - 1)  # (T, 16)
    win = mel[:, idx]                                           # (80, T, 16)
    win = np.ascontiguousarray(win.transpose(1, 0, 2))[:, None]  # (T, 1, 80, 16)
    return torch.from_numpy(win)
