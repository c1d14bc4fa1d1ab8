"""Utterance prosody features, computed from the waveform only (SYNTHTALK.md, "Audio -> emotion").

The features a phonetician would measure, in one vectorised pass:
loudness (log energy), rhythm (pauses, syllable rate), pitch (autocorrelation
f0 in semitones relative to the utterance's own median, so a speaker's base
pitch cancels), and voice quality (periodicity, spectral tilt and centroid,
tremor). A linear classifier on them recognises emotion (`fitness.py`).

    feats = prosody_features(wav)          # (F,) with F = len(FEATURE_NAMES)
"""
import numpy as np
from scipy import fft as sfft
from scipy.ndimage import uniform_filter1d
from scipy.signal import find_peaks

WIN, HOP, N_FFT = 640, 160, 1024          # 40 ms frames every 10 ms at 16 kHz
F0_MIN, F0_MAX = 70.0, 550.0              # pitch search range, Hz
F0_BAND = 2000.0                          # pitch is measured on the band below this
SILENCE_DB = 35.0                         # frames this far below the loud frames count as pauses
VOICED_DB = 20.0                          # pitch is measured on frames within this of the loud frames
OCTAVES = 2.2                             # second pitch pass: search within rough f0 ×/÷ this

_HANN = np.hanning(WIN).astype(np.float32)

FEATURE_NAMES = (
    # rhythm and loudness
    "loud_db",          # 95th-percentile frame level, dB
    "level_std_db",     # spread of the level over speech frames
    "pause_ratio",      # share of the speech span that is silent
    "speech_ratio",     # share of the clip inside the speech span
    "syllable_rate",    # energy peaks per second of speech span
    # pitch
    "voiced_ratio",     # voiced frames / loud frames
    "f0_median_st",     # median f0, semitones re 100 Hz (speaker-dependent, kept for the emotion shift)
    "f0_std_st",        # f0 spread, semitones re the utterance median
    "f0_range_st",      # 90th - 10th percentile
    "f0_slope_st",      # linear trend over the utterance, semitones per second
    "f0_final_st",      # last quarter of voiced frames re median (final rise/fall)
    "f0_delta_st",      # mean |frame-to-frame change|
    "f0_tremor_st",     # std of the fast (< 50 ms) f0 wiggle
    "periodicity",      # mean normalised autocorrelation peak of voiced frames (harmonicity)
    # voice quality
    "tilt_db",          # energy above 1 kHz re below, voiced frames
    "centroid_log",     # log2 spectral centroid of voiced frames
    "hf_db",            # energy above 4 kHz re total, all speech frames
)


def frames(wav: np.ndarray) -> np.ndarray:
    """(N,) -> (T, WIN) overlapping frames, T = 1 + (N - WIN) // HOP."""
    return np.lib.stride_tricks.sliding_window_view(wav, WIN)[::HOP]


def autocorrelation(power: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation of each frame's band below F0_BAND: (T, N_FFT//2+1) -> (T, N_FFT).

    r(τ) = IRFFT(P · [f < F0_BAND])(τ) / r(0)   (Wiener–Khinchin). Dropping the
    upper band makes r peak at the pitch period rather than at formant periods.
    """
    r = sfft.irfft(power * (freqs < F0_BAND), n=N_FFT, axis=1)                     # (T, N_FFT)
    return r / np.maximum(r[:, :1], 1e-12)


def pick_period(r: np.ndarray, sr: int, f_lo: float = F0_MIN, f_hi: float = F0_MAX) -> tuple[np.ndarray, np.ndarray]:
    """Pitch from autocorrelations r (T, N_FFT): the highest peak between lags sr/f_hi and sr/f_lo.

    Returns f0 (T,) Hz and the peak height r(τ*) (T,), a periodicity (harmonicity) measure.
    """
    lo, hi = int(sr / f_hi), int(sr / f_lo) + 1
    rows = np.arange(len(r))
    lag = lo + np.argmax(r[:, lo:hi], axis=1)                                      # (T,) period in samples
    a, b, c = r[rows, lag - 1], r[rows, lag], r[rows, lag + 1]
    den = a - 2 * b + c
    lag = lag + np.clip(0.5 * (a - c) / np.where(np.abs(den) > 1e-9, den, -1e-9), -0.5, 0.5)  # parabolic refinement
    return sr / lag, b


def rhythm(level: np.ndarray, sr: int) -> tuple[np.ndarray, list[float]]:
    """Loudness and rhythm from frame levels (T,) dB: (speech mask (T,), [loud, level std, pause, span, rate])."""
    loud = np.percentile(level, 95)
    speech = level > loud - SILENCE_DB                                 # (T,) bool
    idx = np.flatnonzero(speech)
    a, b = (idx[0], idx[-1] + 1) if len(idx) else (0, len(level))    # the speech span
    span = max((b - a) * HOP / sr, 1e-3)
    envelope = uniform_filter1d(np.maximum(level[a:b], loud - SILENCE_DB), 5)
    n_peaks = len(find_peaks(envelope, prominence=4.0)[0])             # syllable nuclei
    std = level[speech].std() if speech.any() else 0.0
    return speech, [loud, std, 1 - speech[a:b].mean(), (b - a) / len(level), n_peaks / span]


def pitch(power: np.ndarray, freqs: np.ndarray, strong: np.ndarray, sr: int) -> tuple[np.ndarray, list[float]]:
    """Pitch statistics of the loud frames `strong` (T,): (voiced mask (T,), [ratio, median, std, ...])."""
    # two passes: the loud periodic frames give a rough median, then the period
    # is searched within ×/÷ OCTAVES of it (removes most octave and formant errors)
    acf = autocorrelation(power, freqs)
    f0, r = pick_period(acf, sr)
    rough = np.median(f0[strong & (r > 0.5)]) if (strong & (r > 0.5)).sum() >= 5 else 150.0
    f0, r = pick_period(acf, sr, max(rough / OCTAVES, F0_MIN), min(rough * OCTAVES, F0_MAX))
    voiced = strong & (r > 0.5)
    if voiced.sum() < 5:                                               # (nearly) unvoiced clip
        voiced = strong if strong.sum() >= 5 else np.ones_like(strong)
    tv = np.flatnonzero(voiced) * HOP / sr                             # (V,) s
    med = np.median(f0[voiced])
    st = 12 * np.log2(f0[voiced] / med)                                # (V,) semitones re the median
    slope = np.polyfit(tv - tv.mean(), st, 1)[0] if len(st) > 2 else 0.0
    wiggle = st - uniform_filter1d(st, 5)                              # fast (< 50 ms) f0 modulation
    q = max(len(st) // 4, 1)
    return voiced, [voiced.sum() / max(strong.sum(), 1), 12 * np.log2(med / 100), st.std(),
                    np.percentile(st, 90) - np.percentile(st, 10), slope, st[-q:].mean(),
                    np.abs(np.diff(st)).mean() if len(st) > 1 else 0.0, wiggle.std(), r[voiced].mean()]


def quality(power: np.ndarray, freqs: np.ndarray, voiced: np.ndarray, speech: np.ndarray) -> list[float]:
    """Voice quality: [tilt dB, log2 centroid] of voiced frames, [high-band dB] of speech frames."""
    pv = power[voiced]
    tilt = 10 * np.log10(pv[:, freqs >= 1000].sum() / (pv[:, freqs < 1000].sum() + 1e-12) + 1e-12)
    centroid = np.log2((pv * freqs).sum() / (pv.sum() + 1e-12) + 1.0)
    ps = power[speech] if speech.any() else power
    hf = 10 * np.log10(ps[:, freqs >= 4000].sum() / (ps.sum() + 1e-12) + 1e-12)
    return [tilt, centroid, hf]


def prosody_features(wav: np.ndarray, sr: int = 16000) -> np.ndarray:
    """Prosody feature vector (F,) float32 of a mono waveform (N,); names in FEATURE_NAMES."""
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim != 1 or len(wav) < 4 * WIN:
        raise ValueError(f"prosody_features expects mono audio (N,) with N >= {4 * WIN}, got shape {wav.shape}")
    x = frames(wav) * _HANN                                               # (T, WIN)
    power = np.abs(sfft.rfft(x, n=N_FFT, axis=1)).astype(np.float64) ** 2  # (T, 513)
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / sr)
    level = 10 * np.log10(power.sum(1) / WIN + 1e-12)                     # (T,) frame level, dB

    speech, f_rhythm = rhythm(level, sr)
    strong = speech & (level > f_rhythm[0] - VOICED_DB)                   # loud frames carry the pitch
    voiced, f_pitch = pitch(power, freqs, strong, sr)
    return np.array(f_rhythm + f_pitch + quality(power, freqs, voiced, speech), dtype=np.float32)
