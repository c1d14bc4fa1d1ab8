"""SynthTalk speech, text and prosody: invariants and the learnability thresholds of SYNTHTALK.md."""
import functools

import numpy as np
import pytest

import talkinglib as tl
from talkinglib.synth import fitness, prosody, text
from talkinglib.synth.factors import EMOTIONS, SAMPLES_PER_FRAME
from talkinglib.synth.speech import emotion_style, sample_voice, synthesize_utterance


def _utt(seed=0, emotion="happy", intensity=3, num_frames=75, **kw):
    rng = np.random.default_rng(seed)
    return synthesize_utterance(rng, emotion, intensity, sample_voice(rng), num_frames, **kw)


# ----------------------------------------------------------------------------- determinism, shapes

def test_same_seed_same_bytes():
    a, b, c = _utt(7), _utt(7), _utt(8)
    for name in ("audio", "mouth", "energy", "f0", "formants"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
    assert (a.transcript, a.phonemes) == (b.transcript, b.phonemes)
    assert a.audio.tobytes() != c.audio.tobytes()


@pytest.mark.parametrize("emotion", EMOTIONS)
@pytest.mark.parametrize("num_frames", [1, 12, 75])
def test_shapes_and_ranges(emotion, num_frames):
    u = _utt(1, emotion, 3, num_frames)
    assert u.audio.shape == (num_frames * SAMPLES_PER_FRAME,) and u.audio.dtype == np.float32
    assert u.mouth.shape == (num_frames, 4) and u.mouth.dtype == np.float32
    assert u.energy.shape == (num_frames,) and u.energy.dtype == np.float32
    assert np.all(np.isfinite(u.audio)) and np.abs(u.audio).max() <= 1.0
    assert u.mouth.min() >= 0.0 and u.mouth.max() <= 1.0
    assert u.energy.min() >= 0.0 and u.energy.max() <= 1.0
    assert u.transcript and u.text_emotion == emotion
    assert all(t0 < t1 for _, t0, t1 in u.phonemes)


def test_clip_edges_are_silent_with_mouth_at_rest():
    u = _utt(2, "neutral")
    assert u.phonemes[0][1] > 0.04 and u.phonemes[-1][2] < 3.0 - 0.04
    assert np.abs(u.audio[:SAMPLES_PER_FRAME]).max() < 1e-3        # first 40 ms: silence
    assert u.mouth[0, 0] < 0.02 and u.mouth[0, 3] < 0.02             # jaw and lips at rest


def test_bad_arguments_raise():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="emotion"):
        synthesize_utterance(rng, "joyful", 3, sample_voice(rng), 75)
    with pytest.raises(ValueError, match="intensity"):
        synthesize_utterance(rng, "happy", 4, sample_voice(rng), 75)


# ----------------------------------------------------------------------------- mouth <-> audio

def test_bilabials_close_the_lips_and_silence_the_voice():
    closures, levels = [], []
    for seed in range(6):
        u = _utt(seed, EMOTIONS[seed], 3)
        x = u.audio.astype(np.float64)
        rms = np.sqrt(np.convolve(x ** 2, np.ones(160) / 160, mode="same"))  # 10 ms RMS
        loud = np.percentile(rms, 99)
        for sym, t0, t1 in u.phonemes:
            if sym in "pbm" and t1 - t0 > 0.04:
                mid = (t0 + t1) / 2
                closures.append(u.mouth[min(int(mid * 25), len(u.mouth) - 1), 3])
                levels.append(20 * np.log10(rms[int(mid * 16000)] / loud + 1e-12))
    assert len(closures) > 10
    assert min(closures) > 0.7                   # lips closed (frame average)
    assert max(levels) < -25.0                   # quiet mid-closure (dB re the loudest 10 ms)


def test_jaw_drives_f1_and_loudness():
    J, C, E = [], [], []
    freqs = np.fft.rfftfreq(SAMPLES_PER_FRAME, 1 / 16000)
    band = (freqs >= 150) & (freqs <= 1200)
    for seed in range(6):
        u = _utt(seed, EMOTIONS[seed])
        assert np.corrcoef(u.mouth[:, 0], u.formants[:, 0])[0, 1] > 0.9   # F1 follows the jaw
        E.append(np.corrcoef(u.mouth[:, 0], u.energy)[0, 1])
        # F1 measured in the audio: the centroid of the 150-1200 Hz band in open-lip, loud frames
        P = np.abs(np.fft.rfft(u.audio.reshape(-1, SAMPLES_PER_FRAME) * np.hanning(SAMPLES_PER_FRAME))) ** 2
        keep = (u.energy > u.energy.max() - 0.3) & (u.mouth[:, 3] < 0.1)
        C += list((P[keep][:, band] * freqs[band]).sum(1) / P[keep][:, band].sum(1))
        J += list(u.mouth[keep, 0])
    assert min(E) > 0.6
    assert np.corrcoef(J, C)[0, 1] > 0.6


# ----------------------------------------------------------------------------- prosody and text

def test_sad_is_slower_and_quieter_than_happy():
    rng = np.random.default_rng(3)
    rate, loud = {"sad": [], "happy": []}, {"sad": [], "happy": []}
    for _ in range(4):
        voice = sample_voice(rng)
        for e in rate:
            u = synthesize_utterance(rng, e, 2, voice, 75)
            n_vowels = sum(s in text.VOWELS for s, _, _ in u.phonemes)
            rate[e].append(n_vowels / (u.phonemes[-1][2] - u.phonemes[0][1]))       # syllables / s
            loud[e].append(prosody.prosody_features(u.audio)[prosody.FEATURE_NAMES.index("loud_db")])
    assert max(rate["sad"]) < min(rate["happy"])
    assert max(loud["sad"]) < min(loud["happy"]) - 6


def test_intensity_scales_the_deviation_from_neutral():
    n, s1, s3 = emotion_style("neutral", 1), emotion_style("angry", 1), emotion_style("angry", 3)
    assert s3.loud_db > s1.loud_db > n.loud_db
    assert emotion_style("neutral", 3) == n


def test_voice_spread_is_moderate():
    rng = np.random.default_rng(0)
    f0 = np.array([sample_voice(rng).f0_hz for _ in range(200)])
    assert f0.min() >= 120 and f0.max() <= 180 and f0.std() > 10


def test_prosody_pitch_matches_ground_truth():
    u = _utt(4, "neutral")
    feats = prosody.prosody_features(u.audio)
    assert feats.shape == (len(prosody.FEATURE_NAMES),) and np.all(np.isfinite(feats))
    true_st = 12 * np.log2(np.median(u.f0[u.mouth[:, 0] > 0.3]) / 100)
    assert abs(feats[prosody.FEATURE_NAMES.index("f0_median_st")] - true_st) < 1.0


def test_vocabularies_are_disjoint_and_text_emotion_is_honoured():
    all_words = [w for ws in text.EMOTION_WORDS.values() for w in ws] + list(text.FILLER_WORDS)
    assert len(all_words) == len(set(all_words))
    for e in EMOTIONS:
        u = _utt(5, "angry", 2, text_emotion=e)
        assert u.text_emotion == e and text.text_label(u.transcript) == e
        assert all(w in text.EMOTION_WORDS[e] or w in text.FILLER_WORDS for w in u.transcript.split())
        assert all(s in "".join(u.transcript.split()) for s, _, _ in u.phonemes if s != "sil")


# ----------------------------------------------------------------------------- learnability (SYNTHTALK.md)

@functools.lru_cache(maxsize=None)
def _probe_scores(seed: int) -> dict:
    """12 training speakers × 8 emotions × 1 clip; 4 held-out speakers × 8 emotions × 3 clips (3 s each)."""
    train = fitness.synthesize_speaker_set(seed, n_speakers=12, clips_per_emotion=1, num_frames=75)
    test = fitness.synthesize_speaker_set(seed + 1000, n_speakers=4, clips_per_emotion=3, num_frames=75)

    def arrays(d):
        utts = d["utterances"]
        mels = np.concatenate([tl.audio.mel_windows(u.audio).numpy() for u in utts])   # (N·75, 1, 80, 16)
        jaw = np.concatenate([u.mouth[:, 0] for u in utts])
        feats = np.stack([prosody.prosody_features(u.audio) for u in utts])
        return mels, jaw, feats, [u.transcript for u in utts]

    (m_tr, j_tr, f_tr, t_tr), (m_te, j_te, f_te, t_te) = arrays(train), arrays(test)
    return {
        "jaw_r2": fitness.audio_to_jaw_r2(m_tr, j_tr, m_te, j_te),
        "prosody_acc": fitness.prosody_emotion_accuracy(f_tr, train["emotion"], f_te, test["emotion"]),
        "text_acc": fitness.text_emotion_accuracy(t_tr, train["text_emotion"], t_te, test["text_emotion"]),
        "disagree": float(np.mean(train["emotion"] != train["text_emotion"])),
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_audio_to_jaw_r2(seed):
    assert _probe_scores(seed)["jaw_r2"] >= 0.88            # SYNTHTALK.md threshold 0.8


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prosody_to_emotion_accuracy(seed):
    assert _probe_scores(seed)["prosody_acc"] >= 0.80       # threshold 0.70, chance 0.125


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_text_to_emotion_accuracy(seed):
    s = _probe_scores(seed)
    assert 0.0 < s["disagree"] < 0.25                       # some text disagrees with the voice
    assert s["text_acc"] >= 0.95                            # threshold 0.90
