"""Is SynthTalk learnable? The audio and text checks of SYNTHTALK.md ("What proves it is fit").

Three probes, each a deliberately *simple* model, so that passing them says the
signal is in the data rather than in a clever learner:

- audio -> mouth: ridge regression from a frame's mel window to its jaw opening
  (threshold R² >= 0.8 on held-out speakers);
- audio -> emotion: a linear classifier on utterance prosody features
  (threshold 70 % over 8 classes, chance 12.5 %);
- text -> emotion: bag of words + logistic regression (threshold 90 %).

The functions take arrays, so they run on freshly synthesised clips (tests) and
on the on-disk dataset alike. `synthesize_speaker_set` makes the former.
"""
import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .factors import EMOTIONS, INTENSITIES
from .speech import Utterance, sample_voice, synthesize_utterance

THRESHOLDS = {"audio_to_jaw_r2": 0.8, "prosody_emotion_accuracy": 0.70, "text_emotion_accuracy": 0.90}


def _flat(x, dtype=np.float64) -> np.ndarray:
    """(N, ...) tensor or array -> (N, D)."""
    x = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=dtype)
    return x.reshape(len(x), -1)


def audio_to_jaw_r2(mels_train, jaw_train, mels_test, jaw_test, alpha: float = 100.0) -> float:
    """Ridge regression mel window -> jaw opening; R² on the test set.

    mels_*: (N, 1, 80, 16) mel windows (`talkinglib.audio.mel_windows`), jaw_*: (N,).
    ŵ = argmin ‖X w + b − y‖² + α ‖w‖²   (X: flattened windows, y: jaw)
    """
    X_tr, X_te = _flat(mels_train, np.float32), _flat(mels_test, np.float32)     # (N, 1280)
    y_tr, y_te = np.asarray(jaw_train, np.float64).ravel(), np.asarray(jaw_test, np.float64).ravel()
    if len(X_tr) != len(y_tr) or len(X_te) != len(y_te):
        raise ValueError(f"mels and jaw disagree in length: train {len(X_tr)} vs {len(y_tr)}, "
                         f"test {len(X_te)} vs {len(y_te)} (one jaw value per mel window)")
    model = Ridge(alpha=alpha).fit(X_tr, y_tr)
    return float(r2_score(y_te, model.predict(X_te)))


def prosody_emotion_accuracy(feats_train, y_train, feats_test, y_test, C: float = 1.0) -> float:
    """Linear classifier (standardise + multinomial logistic regression) on prosody features; test accuracy.

    feats_*: (N, F) from `prosody.prosody_features`, y_*: (N,) emotion labels (indices or names).
    """
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))
    clf.fit(_flat(feats_train), np.asarray(y_train))
    return float(np.mean(clf.predict(_flat(feats_test)) == np.asarray(y_test)))


def text_emotion_accuracy(texts_train, y_train, texts_test, y_test, C: float = 1.0) -> float:
    """Bag of words + logistic regression on transcripts; test accuracy.

    texts_*: lists of transcripts, y_*: the emotions the texts express (`Utterance.text_emotion`).
    """
    clf = make_pipeline(CountVectorizer(token_pattern=r"[a-z]+"), LogisticRegression(C=C, max_iter=5000))
    clf.fit(list(texts_train), np.asarray(y_train))
    return float(np.mean(clf.predict(list(texts_test)) == np.asarray(y_test)))


def synthesize_speaker_set(seed: int, n_speakers: int, clips_per_emotion: int = 1, num_frames: int = 75,
                           disagree: float = 0.1) -> dict:
    """Clips for n_speakers × 8 emotions × clips_per_emotion (random intensity 1..3).

    A fraction `disagree` of the non-neutral clips get the transcript of another
    non-neutral emotion than the voice's (SYNTHTALK.md: text and audio sometimes
    disagree; neutral clips carry neutral text), as `generate.make_clip` does.
    Returns {"utterances": [Utterance], "speaker": (N,), "emotion": (N,) class index,
    "text_emotion": (N,) class index, "intensity": (N,)}.
    """
    rng = np.random.default_rng(seed)
    utts: list[Utterance] = []
    speaker, emotion, text_emotion, intensity = [], [], [], []
    for s in range(n_speakers):
        voice = sample_voice(rng)
        for e, name in enumerate(EMOTIONS):
            for _ in range(clips_per_emotion):
                k = int(rng.choice(INTENSITIES))
                te = name
                if name != "neutral" and rng.random() < disagree:      # neutral clips keep neutral text
                    others = [o for o in EMOTIONS if o not in (name, "neutral")]
                    te = others[rng.integers(len(others))]
                utts.append(synthesize_utterance(rng, name, k, voice, num_frames, text_emotion=te))
                speaker.append(s), emotion.append(e), text_emotion.append(EMOTIONS.index(te)), intensity.append(k)
    return {"utterances": utts, "speaker": np.array(speaker), "emotion": np.array(emotion),
            "text_emotion": np.array(text_emotion), "intensity": np.array(intensity)}
