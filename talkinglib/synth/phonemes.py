"""SynthTalk phonemes, visemes and mouth trajectories (SYNTHTALK.md, "Mouth").

One letter of a pseudo-word is one phoneme. Each phoneme has a viseme target
(jaw, spread, round, closure), a base duration and a sound recipe (voicing,
nasality, frication noise, release burst). Mouth trajectories are the viseme
targets smoothed for coarticulation: a *weighted* Gaussian smoothing (normalised
convolution), so a consonant that does not constrain the lips (weight 0 on
spread/round) inherits them from its neighbouring vowels.

Everything runs on a 1 kHz control grid (16 audio samples per step, 40 steps
per video frame); the vocoder holds each step for its 16 audio samples.
"""
from typing import NamedTuple

import numpy as np
from scipy.ndimage import gaussian_filter1d

from .factors import MOUTH, SAMPLE_RATE, SAMPLES_PER_FRAME

CONTROL_HOP = 16                                   # audio samples per control step
CONTROL_RATE = SAMPLE_RATE // CONTROL_HOP          # 1000 steps per second
STEPS_PER_FRAME = SAMPLES_PER_FRAME // CONTROL_HOP  # 40: a video frame's 40 ms
NOISE_CLASSES = ("hiss", "fric", "burst", "asp")   # the vocoder's noise filters


class Phoneme(NamedTuple):
    """Recipe of one phoneme. Mouth entries are (target, weight); weight 0 = unconstrained."""
    kind: str                 # "vowel", "stop", "nasal", "fricative", "liquid", "aspirate", "silence"
    dur_ms: float             # base duration at neutral tempo
    jaw: tuple[float, float]
    spread: tuple[float, float]
    round: tuple[float, float]
    closure: tuple[float, float]
    voice: float = 0.0        # voicing amplitude (vowel = 1)
    nasal: float = 0.0        # 1 = nasal murmur (low F1, damped upper formants)
    noise: str = ""           # frication noise class over the whole phoneme
    noise_gain: float = 0.0
    burst: str = ""           # release-burst noise class at the end of the phoneme (stops)


_FREE = (0.0, 0.0)             # an unconstrained mouth dimension
_OPEN = (0.0, 1.0)             # lips apart (closure 0)
_SHUT = (1.0, 4.0)             # lips pressed together, dominating neighbours

# Viseme table (SYNTHTALK.md): a open jaw; e mid jaw + spread; i small jaw +
# strong spread; o mid jaw + round; u small jaw + strong round; p/b/m lip
# closure; f/v partial closure; all other consonants a small jaw.
PHONEMES: dict[str, Phoneme] = {
    "a": Phoneme("vowel", 125, (0.90, 1), (0.35, 1), (0.05, 1), _OPEN, voice=1.0),
    "e": Phoneme("vowel", 115, (0.50, 1), (0.70, 1), (0.00, 1), _OPEN, voice=1.0),
    "i": Phoneme("vowel", 105, (0.20, 1), (1.00, 1), (0.00, 1), _OPEN, voice=1.0),
    "o": Phoneme("vowel", 125, (0.55, 1), (0.05, 1), (0.80, 1), _OPEN, voice=1.0),
    "u": Phoneme("vowel", 115, (0.15, 1), (0.00, 1), (1.00, 1), _OPEN, voice=1.0),
    "p": Phoneme("stop", 85, (0.05, 1), _FREE, _FREE, _SHUT, burst="burst"),
    "b": Phoneme("stop", 75, (0.05, 1), _FREE, _FREE, _SHUT, voice=0.12, burst="burst"),
    "m": Phoneme("nasal", 80, (0.05, 1), _FREE, _FREE, _SHUT, voice=0.6, nasal=1.0),
    "f": Phoneme("fricative", 95, (0.10, 1), (0.30, 0.5), _FREE, (0.6, 2), noise="fric", noise_gain=0.08),
    "v": Phoneme("fricative", 80, (0.10, 1), (0.30, 0.5), _FREE, (0.6, 2), voice=0.2, noise="fric", noise_gain=0.05),
    "t": Phoneme("stop", 75, (0.15, 1), _FREE, _FREE, _OPEN, burst="hiss"),
    "d": Phoneme("stop", 65, (0.15, 1), _FREE, _FREE, _OPEN, voice=0.12, burst="hiss"),
    "k": Phoneme("stop", 80, (0.15, 1), _FREE, _FREE, _OPEN, burst="burst"),
    "g": Phoneme("stop", 70, (0.15, 1), _FREE, _FREE, _OPEN, voice=0.12, burst="burst"),
    "s": Phoneme("fricative", 100, (0.10, 1), (0.60, 0.5), _FREE, _OPEN, noise="hiss", noise_gain=0.30),
    "z": Phoneme("fricative", 85, (0.10, 1), (0.60, 0.5), _FREE, _OPEN, voice=0.2, noise="hiss", noise_gain=0.15),
    "n": Phoneme("nasal", 70, (0.15, 1), _FREE, _FREE, _OPEN, voice=0.35, nasal=1.0),
    "l": Phoneme("liquid", 65, (0.25, 1), _FREE, _FREE, _OPEN, voice=0.55),
    "r": Phoneme("liquid", 65, (0.20, 1), _FREE, (0.40, 0.5), _OPEN, voice=0.55),
    "h": Phoneme("aspirate", 70, (0.30, 0.5), _FREE, _FREE, _OPEN, noise="asp", noise_gain=0.15),
    "sil": Phoneme("silence", 0, (0.0, 1), (0.20, 1), (0.10, 1), (0.0, 1)),  # mouth at rest
}

# Coarticulation widths (Gaussian sigma, ms) per mouth dimension: the lips'
# closure is fast, rounding/spreading anticipate over a whole syllable.
SIGMA_MS = {"jaw": 14.0, "spread": 28.0, "round": 28.0, "closure": 7.0}
BURST_MS = 12.0                # length of a stop's release burst
ASPIRATION_MS = 25.0           # aspiration after a voiceless stop's release


def to_steps(seconds: np.ndarray) -> np.ndarray:
    """Times in seconds -> control-grid indices."""
    return np.round(np.asarray(seconds) * CONTROL_RATE).astype(np.int64)


def paint(phonemes: list[tuple[str, float, float]], n_steps: int) -> dict[str, np.ndarray]:
    """Paint per-phoneme targets onto the control grid (step functions, before smoothing).

    Returns arrays of shape (n_steps,): for each mouth dimension its target and
    weight (keys "jaw", "jaw_w", ...), and "voice", "nasal", one per noise class.
    """
    out = {k: np.zeros(n_steps) for k in (*MOUTH, *(m + "_w" for m in MOUTH), "voice", "nasal", *NOISE_CLASSES)}
    for m in MOUTH:                                   # clip edges and gaps: mouth at rest
        out[m][:], out[m + "_w"][:] = getattr(PHONEMES["sil"], m)
    for sym, t0, t1 in phonemes:
        ph = PHONEMES[sym]
        a, b = to_steps(t0), max(to_steps(t1), to_steps(t0) + 1)
        for m in MOUTH:
            out[m][a:b], out[m + "_w"][a:b] = getattr(ph, m)
        out["voice"][a:b] = ph.voice
        out["nasal"][a:b] = ph.nasal
        if ph.noise:
            out[ph.noise][a:b] = ph.noise_gain
        if ph.burst:                                  # release: burst, then aspiration if voiceless
            r = to_steps(BURST_MS / 1000)
            out[ph.burst][max(a, b - r):b] = 0.3
            if ph.voice == 0.0:
                out["asp"][b:b + to_steps(ASPIRATION_MS / 1000)] = 0.15
    return out


def smooth_mouth(painted: dict[str, np.ndarray]) -> np.ndarray:
    """Coarticulation: weighted Gaussian smoothing of the viseme targets.

    x̂(t) = (g * (w·x))(t) / (g * w)(t), per dimension with its own σ.
    Returns (n_steps, 4) = [jaw, spread, round, closure] in [0, 1].
    """
    cols = []
    for m in MOUTH:
        s = SIGMA_MS[m] * CONTROL_RATE / 1000
        num = gaussian_filter1d(painted[m] * painted[m + "_w"], s, mode="nearest")
        den = gaussian_filter1d(painted[m + "_w"], s, mode="nearest")
        cols.append(num / np.maximum(den, 1e-6))     # x̂ = g*(w x) / g*w
    return np.clip(np.stack(cols, axis=1), 0.0, 1.0)  # (n_steps, 4)


def per_frame(x: np.ndarray, num_frames: int) -> np.ndarray:
    """Average a control-grid signal over each video frame's 40 ms: (n_steps, ...) -> (num_frames, ...)."""
    return x[: num_frames * STEPS_PER_FRAME].reshape(num_frames, STEPS_PER_FRAME, *x.shape[1:]).mean(axis=1)


def word_phonemes(word: str) -> list[str]:
    """Spelling -> phoneme symbols (one letter, one phoneme)."""
    bad = [c for c in word if c not in PHONEMES]
    if bad:
        raise ValueError(f"word {word!r} has letters {bad} outside the phoneme inventory {sorted(PHONEMES)}")
    return list(word)
