"""The EDTalk-A path on the committed tiny checkpoints: each motion source, emotion presets with an
intensity, and the errors a user gets for a missing piece."""
from pathlib import Path

import pytest
import torch

from talkinglib import checkpoints
from talkinglib.inference.edtalk_a import EDTalkA, blend_weights, emotion_presets, preset_weights, presets_from_clips

CKPT = Path(__file__).resolve().parents[1] / "data" / "checkpoints"


@pytest.fixture(scope="module")
def parts(tiny_dataset):
    from talkinglib.data.datasets import ClipMedia
    edtalk = checkpoints.load(CKPT / "edtalk_tiny.pt", "edtalk.")
    a2l = checkpoints.load(CKPT / "audio2lip_tiny.pt", "edtalk.audio2lip")
    flow = checkpoints.load(CKPT / "audio2pose_tiny.pt", "edtalk.audio2pose")
    media = ClipMedia(tiny_dataset, "test")
    wav = media.store.audio(0)[:16000]                                   # 1 s -> 25 frames
    return edtalk, a2l, flow, media, wav


def test_motion_sources(parts, tiny_dataset):
    edtalk, a2l, flow, media, wav = parts
    source = media.frames(0)[:1]
    presets = emotion_presets(edtalk, tiny_dataset, max_clips_per_emotion=2)
    pipe = EDTalkA(edtalk, a2l, pose_flow=flow, presets=presets, batch_size=10)
    still = pipe(source, wav, pose="still")
    assert still.shape == (25, 3, 64, 64)
    g = lambda s: torch.Generator().manual_seed(s)                      # noqa: E731
    a = pipe(source, wav, pose="sample", generator=g(0))
    assert torch.equal(a, pipe(source, wav, pose="sample", generator=g(0)))      # seeded: same bytes
    assert (a - pipe(source, wav, pose="sample", generator=g(1))).abs().mean() > 1e-4   # another draw
    video = media.frames(1)
    assert pipe(source, wav, pose=video).shape == still.shape
    # a reference clip as the expression, and a preset; intensity 0 of any emotion is neutral
    ref = pipe(source, wav, expression=media.frames(2)[:10])
    happy = pipe(source, wav, expression="happy", intensity=1.0)
    assert (happy - still).abs().mean() > 1e-4 and ref.shape == still.shape
    assert torch.allclose(pipe(source, wav, expression="angry", intensity=0.0),
                          pipe(source, wav, expression="neutral"), atol=1e-5)
    assert torch.allclose(pipe(source, wav, expression=("happy", "sad", 1.0)), happy, atol=1e-5)   # EDTalk Eq. A3
    # the batched path equals one call with every frame at once
    assert torch.allclose(EDTalkA(edtalk, a2l, batch_size=25)(source, wav), still, atol=1e-5)


def test_presets_and_intensity_on_hand_values():
    presets = {"neutral": torch.zeros(3), "happy": torch.tensor([1.0, 2.0, 0.0])}
    assert torch.equal(preset_weights(presets, "happy", 0.5), torch.tensor([0.5, 1.0, 0.0]))
    assert torch.equal(preset_weights(presets, "happy", 2.0), torch.tensor([2.0, 4.0, 0.0]))
    with pytest.raises(ValueError, match="unknown emotion 'sad'"):
        preset_weights(presets, "sad")
    with pytest.raises(ValueError, match="neutral"):
        preset_weights({"happy": torch.zeros(3)}, "happy")
    presets["sad"] = torch.tensor([0.0, 0.0, 4.0])
    assert torch.equal(blend_weights(presets, "happy", "sad", 0.25), torch.tensor([0.25, 0.5, 3.0]))   # EDTalk Eq. A3
    assert torch.equal(blend_weights(presets, "happy", "sad", 1.0), presets["happy"])


def test_presets_from_a_users_reference_clips(parts):
    edtalk, _, _, media, _ = parts
    clips = {"neutral": [media.frames(0)[:8]], "happy": [media.frames(1)[:8], media.frames(2)[:8]]}
    p = presets_from_clips(edtalk, clips)
    with torch.no_grad():
        expect = torch.cat([edtalk.expression_weights(c) for c in clips["happy"]]).mean(0)
    assert torch.allclose(p["happy"], expect, atol=1e-6)
    with pytest.raises(ValueError, match="no reference clip for emotion 'sad'"):
        presets_from_clips(edtalk, {"sad": []})


def test_missing_pieces_are_explained(parts):
    edtalk, a2l, _, media, wav = parts
    pipe = EDTalkA(edtalk, a2l)
    source = media.frames(0)[:1]
    with pytest.raises(ValueError, match="pose flow"):
        pipe(source, wav, pose="sample")
    with pytest.raises(ValueError, match="semantic branch"):
        pipe(source, wav, expression="audio")
    with pytest.raises(ValueError, match="no presets"):
        pipe(source, wav, expression="happy")
    with pytest.raises(ValueError, match="at least as many"):
        pipe(source, wav, pose=media.frames(1)[:5])
    with pytest.raises(ValueError, match=r"one image \(1, 3, S, S\)"):
        pipe(media.frames(0)[:2], wav)
