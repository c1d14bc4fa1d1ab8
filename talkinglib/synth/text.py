"""SynthTalk transcripts: pseudo-words built from syllables (SYNTHTALK.md, "Transcript").

Every emotion owns a small vocabulary of emotion-bearing pseudo-words (the
vocabularies are disjoint), and all emotions share a vocabulary of neutral
filler words (the "function words"). A sentence mixes the two. Neutral text is
emotion-free: its content words are neutral's own emotionally flat words
(think "table", "seven"), so every class, neutral included, is recognised from
positive evidence rather than from the absence of emotion words. A
bag-of-words classifier can therefore read the emotion from the text, which is
what EDTalk's text branch needs (EDTalk Eq. 15).

Each letter is one phoneme (see `phonemes.PHONEMES`), so the audio and the mouth
are synthesised from the transcript's spelling.

The vocabulary is drawn once from a fixed seed: it is part of the dataset's
definition and identical on every machine.
"""
import itertools

import numpy as np

from .factors import EMOTIONS

CONSONANTS = "pbmfvtdkgsznlrh"
VOWELS = "aeiou"
# Onset consonants are drawn with these weights: bilabials are made common so
# that lip closures (the clearest visual event) occur in every clip.
_ONSET_P = np.array([3, 3, 3, 2, 1, 2, 2, 2, 1, 2, 1, 2, 2, 1, 1], dtype=np.float64)
_CODA = "mnlrsk"  # consonants allowed to close a syllable (CVC)

N_EMOTION_WORDS = 5    # content words per emotion (neutral's are emotionally flat)
N_FILLER_WORDS = 16    # shared filler (function) words
P_EMOTION = 0.7         # share of a non-neutral sentence's words that carry its emotion
_VOCAB_SEED = 20240611  # the vocabulary is part of the dataset definition: fixed


def _syllable(rng: np.random.Generator, coda_p: float) -> str:
    """One CV or CVC syllable."""
    onset = CONSONANTS[rng.choice(len(CONSONANTS), p=_ONSET_P / _ONSET_P.sum())]
    coda = _CODA[rng.integers(len(_CODA))] if rng.random() < coda_p else ""
    return onset + VOWELS[rng.integers(len(VOWELS))] + coda


def _pseudo_word(rng: np.random.Generator, n_syllables: int) -> str:
    """A pseudo-word of `n_syllables` syllables; only the last may be closed (CVC)."""
    sylls = [_syllable(rng, coda_p=0.0) for _ in range(n_syllables - 1)]
    return "".join(sylls) + _syllable(rng, coda_p=0.35)


def _build_vocabulary() -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """Draw the fixed vocabulary: {emotion: content words} and the shared fillers."""
    rng = np.random.default_rng(_VOCAB_SEED)
    seen: set[str] = set()

    def draw(n: int, syllables: tuple[int, ...]) -> tuple[str, ...]:
        out = []
        while len(out) < n:
            w = _pseudo_word(rng, int(rng.choice(syllables)))
            if w not in seen:            # disjoint vocabularies
                seen.add(w)
                out.append(w)
        return tuple(out)

    fillers = draw(N_FILLER_WORDS, (1, 1, 2))         # fillers are short, like function words
    emotion_words = {e: draw(N_EMOTION_WORDS, (2, 2, 3)) for e in EMOTIONS}
    return emotion_words, fillers


EMOTION_WORDS, FILLER_WORDS = _build_vocabulary()
WORD_TO_EMOTION = {w: e for e, ws in EMOTION_WORDS.items() for w in ws}


def words_for(emotion: str) -> tuple[str, ...]:
    """The content words of `emotion`."""
    if emotion not in EMOTIONS:
        raise ValueError(f"emotion must be one of {EMOTIONS}, got {emotion!r}")
    return EMOTION_WORDS[emotion]


def word_stream(rng: np.random.Generator, text_emotion: str, p_emotion: float = P_EMOTION):
    """Yield an endless sentence for `text_emotion`, one word at a time.

    Each word is a content word of `text_emotion` with probability `p_emotion`,
    else a shared filler; one of the first two words is always a content word,
    and no word follows itself.
    """
    vocab, prev = words_for(text_emotion), ""
    for i in itertools.count():
        content = rng.random() < p_emotion or (i == 1 and not first_is_content)
        if i == 0:
            first_is_content = content
        pool = vocab if content else FILLER_WORDS
        word = prev
        while word == prev:                      # no word twice in a row
            word = pool[rng.integers(len(pool))]
        yield word
        prev = word


def text_label(transcript: str) -> str:
    """The emotion a transcript's words express: the majority of its content words (fillers abstain)."""
    votes = [WORD_TO_EMOTION[w] for w in transcript.split() if w in WORD_TO_EMOTION]
    return max(EMOTIONS, key=votes.count) if votes else "neutral"   # ties: first in EMOTIONS order
