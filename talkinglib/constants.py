"""The constants every part of talkinglib shares, defined once. This module imports nothing, so that models,
data, inference, evaluation and SynthTalk may all import it."""

# The 8 MEAD emotions, in MEAD's (alphabetical) order. Class index = position here.
EMOTIONS = ("angry", "contempt", "disgusted", "fear", "happy", "neutral", "sad", "surprised")

FPS = 25                                   # video frames per second: MEAD, HDTF and SynthTalk clips
SAMPLE_RATE = 16000                        # audio samples per second: the mel front end, HuBERT, wav2vec 2.0
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS     # 640: one video frame of audio
