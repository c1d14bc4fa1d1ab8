"""The on-disk clip format and the datasets over it."""
import json

import numpy as np
import pytest
import torch

from talkinglib.data import clips as clipio
from talkinglib.data.datasets import FramePairDataset, WindowDataset, to_tensor_images, to_uint8_images
from talkinglib.synth.generate import make_clip, preset


@pytest.fixture(scope="module")
def small_clip():
    return make_clip(0, preset("tiny", seconds=1.0), identity_index=1, emotion="sad", clip_index=3)


@pytest.mark.parametrize("fmt", ["npz", "mp4"])
def test_clip_roundtrip(tmp_path, small_clip, fmt):
    frames, audio, meta = small_clip
    clipio.write_clip(tmp_path / "c", frames, audio, meta, frames_format=fmt)
    clip = clipio.read_clip(tmp_path / "c")
    assert clip.meta["fps"] == 25 and clip.meta["num_frames"] == 25 and clip.meta["emotion"] == "sad"
    assert clip.audio.shape == (25 * 640,)
    if fmt == "npz":
        assert np.array_equal(clip.frames, frames)                       # lossless
    else:
        assert clip.frames.shape == frames.shape
        assert np.abs(clip.frames.astype(int) - frames).mean() < 3      # H.264 at crf 18
    np.testing.assert_allclose(clip.audio, audio, atol=1 / 32767)


def test_meta_holds_every_factor(small_clip):
    frames, _, meta = small_clip
    T = frames.shape[0]
    f = meta["factors"]
    assert np.shape(f["mouth"]) == (T, 4) and np.shape(f["pose"]) == (T, 5)
    assert np.shape(f["expression"]) == (T, 10) and np.shape(f["blink"]) == (T,)
    assert np.shape(meta["landmarks"]) == (T, 68, 2) and np.shape(meta["tdmm"]["p_exp"]) == (T, 15)
    assert meta["transcript"] and meta["text_emotion"] in ("sad", "angry", "contempt", "disgusted", "fear",
                                                           "happy", "surprised")


def test_bad_clips_get_clear_errors(tmp_path, small_clip):
    frames, audio, meta = small_clip
    with pytest.raises(clipio.ClipFormatError, match="samples"):
        clipio.write_clip(tmp_path / "a", frames, audio[:-5], meta)
    clipio.write_clip(tmp_path / "b", frames, audio, meta)
    m = json.loads((tmp_path / "b" / "meta.json").read_text())
    m["fps"] = 30
    (tmp_path / "b" / "meta.json").write_text(json.dumps(m))
    with pytest.raises(clipio.ClipFormatError, match="25 fps"):
        clipio.read_clip(tmp_path / "b")
    with pytest.raises(clipio.ClipFormatError, match="meta.json"):
        clipio.read_clip(tmp_path / "nothing")
    with pytest.raises(clipio.ClipFormatError, match="splits.json"):
        clipio.read_splits(tmp_path)


def test_image_conversion_roundtrip():
    x = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    t = to_tensor_images(x)
    assert t.shape == (2, 3, 8, 8) and t.min() >= -1 and t.max() <= 1
    assert np.array_equal(to_uint8_images(t), x)


def test_pair_and_window_datasets(tiny_dataset):
    pairs = FramePairDataset(tiny_dataset, "train", seed=0)
    item = pairs[123]
    assert item["source"].shape == (3, 64, 64) and item["driving"].shape == (3, 64, 64)
    c_src_ids = pairs.frames.store.metas[pairs.frames.index[123][0]]["identity"]
    assert all(pairs.frames.store.metas[pairs.frames.index[k][0]]["identity"] == c_src_ids
               for k in pairs.same_identity[123])
    assert torch.equal(pairs[123]["source"], item["source"]), "items are deterministic"

    win = WindowDataset(tiny_dataset, "test", window=5)
    w = win[7]
    assert w["frames"].shape == (5, 3, 64, 64) and w["mel"].shape == (5, 1, 80, 16)
    assert w["mouth"].shape == (5, 4) and w["pose"].shape == (5, 5)
    train_ids = {m["identity"] for m in pairs.frames.store.metas}
    test_ids = {m["identity"] for m in win.store.metas}
    assert train_ids.isdisjoint(test_ids), "splits are by identity"


def test_mp4_writes_are_byte_identical(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    clipio.write_mp4(tmp_path / "a.mp4", frames)
    clipio.write_mp4(tmp_path / "b.mp4", frames)
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


def test_public_submodules_import():
    import talkinglib as tl
    for name in tl._SUBMODULES:
        assert getattr(tl, name).__name__ == f"talkinglib.{name}"
    assert set(tl.__all__) == {*tl._SUBMODULES, "load"} and callable(tl.load)
