"""SynthTalk's source-filter vocoder: glottal pulses through formant resonances, plus noise.

Voiced sound is pitch-synchronous overlap-add: every glottal pulse k (at time
t_k, one per period 1/f0) contributes the impulse response of the vocal tract
*at that moment*,

    h_k = IRFFT( a_k · S(f) · Π_j F_j² / (F_j² − f² + i f B_j) )      (cascade formant synthesiser)

where S(f) = (1 + (f/250 Hz)²)^(−τ/2) is the glottal source with spectral tilt τ,
and F_j, B_j (j = 1..4) are the formant frequencies and bandwidths read from
the mouth. All pulses' spectra are built as one (P, 257) array and inverted by
one batched IRFFT, then scattered into the output with `np.bincount`.
Harmonics of f0 appear because the pulses repeat every period.

Unvoiced sound is white noise through four fixed band-pass filters (hiss,
frication, release burst, aspiration), each with a time-varying gain.
"""
import numpy as np
from scipy.signal import butter, sosfilt, sosfreqz

from .factors import SAMPLE_RATE
from .phonemes import CONTROL_HOP, NOISE_CLASSES

N_FFT = 512                    # samples per pulse response (32 ms)
PRE = 32                       # samples of a response placed before its pulse
F0_REF = 150.0                 # pulse gain ∝ (F0_REF / f0)^½ keeps loudness independent of pitch
VOICED_NORM = 20.0             # makes a neutral "a" at amp 1 about unit RMS
_freqs = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)                        # (257,) Hz
_taper = np.ones(N_FFT)
_taper[-96:] = np.hanning(192)[96:]                                      # fade the tail out
_delay = np.exp(-2j * np.pi * _freqs * PRE / SAMPLE_RATE).astype(np.complex64)  # start PRE samples early


def _band_pass(lo: float, hi: float) -> np.ndarray:
    """2nd-order Butterworth band-pass (second-order sections), scaled to unit output power on white noise."""
    sos = butter(2, (lo, hi), btype="bandpass", fs=SAMPLE_RATE, output="sos")
    sos[0, :3] /= np.sqrt(np.mean(np.abs(sosfreqz(sos, worN=4096)[1]) ** 2))
    return sos


# Noise filters per class (NOISE_CLASSES order): sibilant hiss, labiodental frication,
# stop release burst, aspiration (h, after voiceless stops, and breathy voice).
_SOS = {"hiss": _band_pass(3500, 7600), "fric": _band_pass(1200, 7600),
        "burst": _band_pass(900, 6000), "asp": _band_pass(400, 3200)}


def to_audio_rate(x: np.ndarray, n_samples: int) -> np.ndarray:
    """Hold each control step for its 16 samples: (n_steps, ...) -> (n_samples, ...).

    The control signals are already smooth at 1 kHz, so holding is as good as interpolating.
    """
    return np.repeat(x, CONTROL_HOP, axis=0)[:n_samples]


def pulse_times(f0: np.ndarray, n_samples: int, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """Glottal pulse positions (fractional samples) for a control-rate f0 contour (n_steps,) in Hz.

    Pulse k sits where the glottal phase φ(t) = Σ f0 / sr crosses k; jitter adds
    N(0, (jitter · period)²) to each position.
    """
    f0_audio = to_audio_rate(f0, n_samples)                       # (n_samples,)
    phase = np.cumsum(f0_audio) / SAMPLE_RATE                      # φ(t), in periods
    k = np.arange(1, int(phase[-1]) + 1)
    idx = np.searchsorted(phase, k)                                # first sample with φ >= k
    prev = phase[np.maximum(idx - 1, 0)]
    frac = (k - prev) / np.maximum(phase[idx] - prev, 1e-9)        # sub-sample position
    pos = idx - 1 + frac
    pos += jitter * (SAMPLE_RATE / f0_audio[idx]) * rng.standard_normal(len(pos))
    return pos[(pos >= 0) & (pos < n_samples - 1)]


def pulse_spectra(amp: np.ndarray, F: np.ndarray, B: np.ndarray, tilt: float) -> np.ndarray:
    """Spectra of P pulse responses: amp (P,), F and B (P, 4) Hz -> (P, 257) complex64.

    H(f) = a · S(f) · Π_j F_j² / Π_j (F_j² − f² + i f B_j), delayed by PRE samples.
    """
    f = _freqs[None, :].astype(np.float32)                                # (1, 257)
    S = (1.0 + (f / 250.0) ** 2) ** (-tilt / 2) * _delay                 # glottal source, tilt τ
    F, B = F.astype(np.float32), B.astype(np.float32)
    num = amp.astype(np.float32) * np.prod(F ** 2, axis=1)                # (P,)
    den = np.ones((len(amp), len(_freqs)), dtype=np.complex64)
    for j in range(F.shape[1]):                                           # cascade of 4 resonators
        den *= (F[:, j:j + 1] ** 2 - f ** 2) + 1j * (f * B[:, j:j + 1])   # F² − f² + i f B
    return (num[:, None] * S) / den


def voiced(f0, amp, F, B, tilt, jitter, shimmer, n_samples, rng) -> np.ndarray:
    """Pitch-synchronous overlap-add of pulse responses.

    f0, amp: (n_steps,); F, B: (n_steps, 4). Returns (n_samples,).
    """
    pos = pulse_times(f0, n_samples, jitter, rng)                  # (P,)
    step = np.minimum((pos / CONTROL_HOP).astype(np.int64), len(f0) - 1)
    a = VOICED_NORM * amp[step] * np.sqrt(F0_REF / f0[step])       # a_k ∝ amp / √f0
    a = a * np.maximum(1.0 + shimmer * rng.standard_normal(len(pos)), 0.0)
    keep = a > 1e-4                                                 # skip silent pulses
    pos, step, a = pos[keep], step[keep], a[keep]
    h = np.fft.irfft(pulse_spectra(a, F[step], B[step], tilt), n=N_FFT, axis=1) * _taper  # (P, N_FFT)
    # overlap-add at fractional positions: linear interpolation between two integer shifts
    start = np.floor(pos).astype(np.int64)
    w = (pos - start)[:, None]                                      # (P, 1) fraction of a sample
    idx = start[:, None] + np.arange(N_FFT)                         # buffer index = sample index + PRE
    size = n_samples + N_FFT + 1
    out = np.bincount(idx.ravel(), weights=(h * (1 - w)).ravel(), minlength=size)
    out += np.bincount(idx.ravel() + 1, weights=(h * w).ravel(), minlength=size)
    return out[PRE:PRE + n_samples]


def unvoiced(gains: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Band-passed noise with time-varying gains: gains (n_steps, 4) in NOISE_CLASSES order -> (n_samples,)."""
    white = rng.standard_normal(n_samples)
    g = to_audio_rate(gains, n_samples)                             # (n_samples, 4)
    out = np.zeros(n_samples)
    for j, name in enumerate(NOISE_CLASSES):
        if g[:, j].max() > 0:
            out += g[:, j] * sosfilt(_SOS[name], white)
    return out
