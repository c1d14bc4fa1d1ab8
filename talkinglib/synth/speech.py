"""SynthTalk speech: transcript -> phoneme timeline -> mouth trajectory + audio (SYNTHTALK.md).

    voice = sample_voice(rng)                                   # one speaker
    utt = synthesize_utterance(rng, "happy", 3, voice, num_frames=75)
    utt.audio   # (75 * 640,) float32, 16 kHz      utt.mouth  # (75, 4) [jaw, spread, round, closure]

One phoneme timeline drives both modalities: the mouth is the smoothed viseme
targets (`phonemes.py`), and the audio is a source-filter vocoder
(`vocoder.py`) whose formants are read from that same mouth (F1 rises with the
jaw, F2 rises with spread and falls with rounding) and whose loudness follows
the opening. Emotion sets the prosody: pitch level and range, tempo, loudness,
voice quality (tilt, breathiness, jitter), tremor, pauses and the final contour.
Intensity k scales each style's deviation from neutral by INTENSITY_SCALE[k].
"""
from dataclasses import dataclass, fields

import numpy as np
from scipy.ndimage import gaussian_filter1d

from . import phonemes as ph
from . import vocoder
from .factors import EMOTIONS, INTENSITY_SCALE, SAMPLES_PER_FRAME
from .text import word_stream


@dataclass(frozen=True)
class Style:
    """Prosody of one emotion (neutral is the origin that intensity scales from)."""
    pitch_st: float    # mean pitch shift, semitones
    range_st: float    # size of the pitch accent on each word's stressed vowel, semitones
    tempo: float       # speaking rate, × neutral (durations are divided by it)
    loud_db: float     # loudness, dB
    tilt: float        # glottal source slope τ: low = tense/bright, high = soft/dark
    breath: float      # aspiration noise relative to voicing
    jitter: float      # random period perturbation (fraction of a period)
    shimmer: float     # random pulse-amplitude perturbation
    tremor_st: float   # 6 Hz pitch tremor depth, semitones
    pause: float       # pause length, × neutral
    final_st: float    # pitch movement across the last word: + rise, − fall
    decl_st: float     # declination across the utterance, semitones
    stress: float      # stressed-vowel lengthening


STYLES = {
    #             pitch range tempo loud  tilt breath jitter shim tremor pause final  decl stress
    "neutral":   Style(0.0, 1.5, 1.00, 0.0, 1.20, 0.08, 0.005, 0.03, 0.0, 1.0, -1.5, -1.5, 1.3),
    "angry":     Style(2.5, 3.5, 1.20, 9.0, 0.40, 0.02, 0.018, 0.10, 0.0, 0.5, -5.0, -2.0, 1.4),
    "contempt":  Style(-1.5, 4.0, 0.80, -2.5, 1.20, 0.08, 0.005, 0.03, 0.0, 1.6, -8.5, -0.5, 2.3),
    "disgusted": Style(-3.0, 1.5, 0.72, -1.5, 1.60, 0.24, 0.050, 0.25, 0.0, 1.8, -3.0, -2.0, 1.5),
    "fear":      Style(6.5, 2.0, 1.45, -4.0, 1.05, 0.36, 0.025, 0.10, 1.3, 1.4, 1.5, 0.5, 1.2),
    "happy":     Style(4.5, 5.5, 1.30, 4.0, 0.80, 0.04, 0.005, 0.03, 0.0, 0.6, -0.5, -1.0, 1.3),
    "sad":       Style(-3.0, 0.3, 0.68, -8.0, 2.00, 0.30, 0.012, 0.06, 0.0, 2.2, -2.0, -2.8, 1.3),
    "surprised": Style(8.0, 5.0, 0.95, 4.0, 0.95, 0.12, 0.005, 0.03, 0.0, 1.3, 8.0, 1.0, 1.5),
}


AMP_FLOOR = 0.2   # a₀: voicing amplitude of a vowel with the jaw closed, re a fully open one


def emotion_style(emotion: str, intensity: int) -> Style:
    """Style at an intensity: s = s_neutral + INTENSITY_SCALE[k] · (s_emotion − s_neutral)."""
    if emotion not in STYLES or intensity not in INTENSITY_SCALE:
        raise ValueError(f"emotion must be in {EMOTIONS} and intensity in {tuple(INTENSITY_SCALE)}, "
                         f"got {emotion!r}, {intensity!r}")
    n, e, k = STYLES["neutral"], STYLES[emotion], INTENSITY_SCALE[intensity]
    return Style(**{f.name: getattr(n, f.name) + k * (getattr(e, f.name) - getattr(n, f.name)) for f in fields(Style)})


@dataclass(frozen=True)
class Voice:
    """One speaker's voice. The spread is moderate so prosody stays learnable across speakers."""
    f0_hz: float          # base pitch (150 Hz ± 20 %)
    formant_scale: float  # vocal-tract length factor (± 4 %)
    rate: float           # personal speaking rate (± 7 %)
    loud_db: float        # personal loudness (± 1.5 dB)
    breath: float         # breathiness factor (× 0.8 .. 1.25)
    tilt: float           # added source slope (± 0.1)


def sample_voice(rng: np.random.Generator) -> Voice:
    """Draw a speaker."""
    u = rng.uniform(-1.0, 1.0, size=6)
    return Voice(f0_hz=150.0 * (1 + 0.2 * u[0]), formant_scale=1 + 0.04 * u[1], rate=1 + 0.07 * u[2],
                 loud_db=1.5 * u[3], breath=float(np.exp(0.22 * u[4])), tilt=0.1 * u[5])


@dataclass
class Utterance:
    """One synthesised clip's audio and its per-frame factors."""
    audio: np.ndarray       # (num_frames * 640,) float32, 16 kHz mono, |x| <= 1
    mouth: np.ndarray       # (num_frames, 4) float32 [jaw, spread, round, closure] in [0, 1]
    energy: np.ndarray      # (num_frames,) float32 loudness in [0, 1] (frame RMS, -60..-10 dBFS)
    f0: np.ndarray          # (num_frames,) float32 pitch contour in Hz (defined through pauses too)
    formants: np.ndarray    # (num_frames, 4) float32 F1..F4 in Hz
    transcript: str
    text_emotion: str       # emotion the words express
    emotion: str            # emotion of the voice (and face)
    intensity: int
    phonemes: list          # [(symbol, start_s, end_s)]; pauses are "sil"


def layout(rng: np.random.Generator, text_emotion: str, style: Style, voice: Voice, duration: float):
    """Lay words onto the timeline until the clip is full.

    Returns (words, phonemes, stress_times): words [(word, t0, t1)], phonemes
    [(symbol, t0, t1)] including "sil" pauses, and each word's stressed-vowel centre (s).
    """
    rate = style.tempo * voice.rate
    t = min(rng.uniform(0.12, 0.3), duration / 6)                        # silence before ...
    end = duration - min(rng.uniform(0.1, 0.2), duration / 6)            # ... and after the speech
    words, phones, stress, misses = [], [], [], 0
    for word in word_stream(rng, text_emotion):
        if words and word == words[-1][0]:
            continue                                    # a skipped word must not leave a repeat
        syms = ph.word_phonemes(word)
        d = np.array([ph.PHONEMES[s].dur_ms for s in syms]) / 1000 / rate * rng.uniform(0.85, 1.15, len(syms))
        v = next(i for i, s in enumerate(syms) if ph.PHONEMES[s].kind == "vowel")  # stress: first vowel
        d[v] *= style.stress
        if t + d.sum() > end:
            misses += 1
            if words and misses < 4:
                continue                                # try a shorter word to fill the clip
            if words:
                break
            d *= max(end - t, 0.05) / d.sum()           # a very short clip: squeeze one word in
        edges = t + np.concatenate([[0.0], np.cumsum(d)])
        phones += [(s, float(a), float(b)) for s, a, b in zip(syms, edges[:-1], edges[1:])]
        words.append((word, float(edges[0]), float(edges[-1])))
        stress.append(float(edges[v] + edges[v + 1]) / 2)
        pause = (0.04 + rng.uniform(0, 0.08) + 0.2 * (rng.random() < 0.2)) * style.pause / voice.rate
        phones.append(("sil", float(edges[-1]), float(edges[-1] + pause)))
        t = edges[-1] + pause
    return words, phones[:-1], np.array(stress)


def pitch_contour(rng, words, stress, style: Style, voice: Voice, n_steps: int) -> np.ndarray:
    """f0 (n_steps,) Hz = f0_voice · 2^(st/12), st = shift + declination + accents + final + tremor + drift."""
    t = np.arange(n_steps) / ph.CONTROL_RATE                       # (n_steps,) seconds
    t0, t1 = words[0][1], words[-1][2]
    st = style.pitch_st + style.decl_st * np.clip((t - t0) / max(t1 - t0, 1e-3), 0, 1)
    sigma = 0.09 / style.tempo
    for c, a in zip(stress, style.range_st * rng.uniform(0.6, 1.4, len(stress))):
        st += a * np.exp(-0.5 * ((t - c) / sigma) ** 2)           # pitch accent on each stressed vowel
    w0 = words[-1][1]
    st += style.final_st * np.clip((t - w0) / max(t1 - w0, 1e-3), 0, 1) ** 2   # final rise / fall
    st += style.tremor_st * np.sin(2 * np.pi * rng.uniform(5.5, 7.0) * t + rng.uniform(0, 2 * np.pi))
    st += 0.3 * gaussian_filter1d(rng.standard_normal(n_steps), 60) * np.sqrt(60)  # slow random drift
    return voice.f0_hz * 2.0 ** (st / 12)                           # Hz


def formant_tracks(mouth: np.ndarray, nasal: np.ndarray, voice: Voice) -> tuple[np.ndarray, np.ndarray]:
    """Formants read from the mouth: mouth (n, 4), nasal (n,) -> F, B (n, 4) in Hz."""
    jaw, spread, rnd = mouth[:, 0], mouth[:, 1], mouth[:, 2]
    F1 = 230 + 620 * jaw - 60 * rnd                                 # F1 rises with jaw opening
    F1 = (1 - nasal) * F1 + nasal * 250                             # nasal murmur: low F1
    F2 = 1250 + 950 * spread - 600 * rnd                            # F2 rises with spread, falls with rounding
    F3 = 2500 + 350 * spread - 250 * rnd
    F4 = np.full_like(jaw, 3500.0)
    F = np.stack([F1, F2, F3, F4], axis=1) * voice.formant_scale
    B = np.array([70.0, 90.0, 130.0, 200.0]) * (1 + np.outer(nasal, [0.5, 3, 3, 3]))
    return F, B


def frame_energy(audio: np.ndarray, num_frames: int) -> np.ndarray:
    """Per-frame loudness in [0, 1]: frame RMS in dBFS mapped linearly, -60 dB -> 0 and -10 dB -> 1."""
    rms = np.sqrt(np.mean(audio.reshape(num_frames, SAMPLES_PER_FRAME) ** 2, axis=1))
    return np.clip((20 * np.log10(rms + 1e-6) + 60) / 50, 0, 1)


def synthesize_utterance(rng: np.random.Generator, emotion: str, intensity: int, voice: Voice,
                         num_frames: int, text_emotion: str | None = None) -> Utterance:
    """Synthesise one clip of `num_frames` video frames (25 fps) of speech."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    text_emotion = emotion if text_emotion is None else text_emotion
    style = emotion_style(emotion, intensity)
    n_samples, n_steps = num_frames * SAMPLES_PER_FRAME, num_frames * ph.STEPS_PER_FRAME
    words, phones, stress = layout(rng, text_emotion, style, voice, n_samples / vocoder.SAMPLE_RATE)

    painted = ph.paint(phones, n_steps)
    mouth = ph.smooth_mouth(painted)                                # (n_steps, 4)
    nasal = gaussian_filter1d(painted["nasal"], 10)
    F, B = formant_tracks(mouth, nasal, voice)
    f0 = pitch_contour(rng, words, stress, style, voice, n_steps)

    # Voicing follows the opening, ≈ 0 during closure: a = voice · (a₀ + (1 − a₀) jaw) · (1 − 0.85 closure)
    opening = (AMP_FLOOR + (1 - AMP_FLOOR) * mouth[:, 0]) * (1 - 0.85 * mouth[:, 3])
    amp = gaussian_filter1d(painted["voice"], 5) * opening
    noise = np.stack([gaussian_filter1d(painted[c], 3) for c in ph.NOISE_CLASSES], axis=1)  # (n_steps, 4)
    noise[:, 3] += 0.3 * style.breath * voice.breath * amp         # breathy voice: aspiration with voicing

    gain = 0.05 * 10 ** ((style.loud_db + voice.loud_db) / 20)
    x = vocoder.voiced(f0, amp, F, B, style.tilt + voice.tilt, style.jitter, style.shimmer, n_samples, rng)
    x = gain * (x + vocoder.unvoiced(noise, n_samples, rng))
    x /= max(1.0, np.abs(x).max() / 0.99)                           # peak within [-1, 1]

    return Utterance(
        audio=x.astype(np.float32), mouth=ph.per_frame(mouth, num_frames).astype(np.float32),
        energy=frame_energy(x, num_frames).astype(np.float32), f0=ph.per_frame(f0, num_frames).astype(np.float32),
        formants=ph.per_frame(F, num_frames).astype(np.float32), transcript=" ".join(w for w, _, _ in words),
        text_emotion=text_emotion, emotion=emotion, intensity=intensity, phonemes=phones)
