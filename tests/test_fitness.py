"""SYNTHTALK.md "What proves it is fit for purpose", on the notebooks' default dataset."""
import pytest

from talkinglib import checkpoints
from talkinglib.synth.learnability import THRESHOLDS, audio_text_fitness, probe_fitness

from conftest import PROBE_CKPT


@pytest.fixture(scope="module")
def audio_text(tiny_dataset):
    return audio_text_fitness(tiny_dataset)


def test_audio_predicts_the_jaw(audio_text):
    assert audio_text["audio_to_jaw_r2"] >= THRESHOLDS["audio_to_jaw_r2"], audio_text


def test_prosody_predicts_the_emotion(audio_text):
    assert audio_text["prosody_emotion_accuracy"] >= THRESHOLDS["prosody_emotion_accuracy"], audio_text


def test_text_predicts_the_emotion(audio_text):
    assert audio_text["text_emotion_accuracy"] >= THRESHOLDS["text_emotion_accuracy"], audio_text


def test_committed_probe_judges_held_out_identities(tiny_dataset):
    """The probe under data/checkpoints/ (regenerate: see data/checkpoints/README.md), measured now."""
    numbers = probe_fitness(checkpoints.load(PROBE_CKPT, "probe"), tiny_dataset)
    print(numbers)
    assert numbers["probe_pose_r2"] >= THRESHOLDS["probe_pose_r2"]
    assert numbers["probe_jaw_r2"] >= THRESHOLDS["probe_jaw_r2"]
    assert numbers["probe_emotion_acc"] >= THRESHOLDS["probe_emotion_acc"]
