"""Tests for talkinglib.audio: parity with the EDTalk/Wav2Lip front end, shapes, strict I/O."""
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import talkinglib as tl
from talkinglib.audio import AudioError

REPO = Path(__file__).resolve().parent.parent


def _fixture_path():
    shared = os.environ.get("TALKINGLIB_SHARED")
    base = Path(shared) if shared else REPO.parent / "shared"
    return base / "reference" / "edtalk_parity" / "fixture_seed0.pt"


def _tone(seconds, sr=16000, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    x = 0.5 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n)
    x = x.astype(np.float32)
    return x if channels == 1 else np.stack([x] * channels, axis=1)


# ----------------------------------------------------------------------------- parity

def test_mel_windows_parity_with_reference():
    path = _fixture_path()
    if not path.exists():
        pytest.skip(f"EDTalk parity fixture not found at {path} (set TALKINGLIB_SHARED)")
    fx = torch.load(path, weights_only=False)
    wav = fx["inputs"]["wav_16k"]
    ref = fx["outputs"]["mel_windows"]
    out = tl.audio.mel_windows(wav.numpy(), fps=25)
    assert out.shape == ref.shape == (25, 1, 80, 16)
    assert out.dtype == torch.float32
    diff = (out - ref.float()).abs().max().item()
    print(f"mel_windows max |diff| vs reference: {diff:.3e}")
    assert diff <= 1e-4
    # torch input gives the same result
    assert torch.equal(tl.audio.mel_windows(wav, fps=25), out)


# ----------------------------------------------------------------------------- shapes

@pytest.mark.parametrize("seconds,T", [(1.0, 25), (2.5, 62)])
def test_mel_windows_shape_and_range(seconds, T):
    wav = _tone(seconds)
    assert tl.audio.frame_count(len(wav), fps=25) == T
    mel = tl.audio.mel_spectrogram(wav)
    assert mel.shape == (80, len(wav) // 200 + 1) and mel.dtype == np.float32
    w = tl.audio.mel_windows(wav, fps=25)
    assert w.shape == (T, 1, 80, 16)
    assert w.min() >= -4 and w.max() <= 4
    # clamping at the start: frame 0 starts at int(80 * -2 / 25) = -6 -> 6 copies of column 0
    assert torch.equal(w[0, 0, :, :7], torch.from_numpy(mel[:, :1]).expand(80, 7))


def test_mel_windows_rejects_bad_input():
    with pytest.raises(AudioError, match="fps"):
        tl.audio.mel_windows(_tone(1.0), fps=0)
    with pytest.raises(AudioError, match="shorter than one video frame"):
        tl.audio.mel_windows(np.zeros(100, np.float32), fps=25)
    with pytest.raises(AudioError, match="mono"):
        tl.audio.mel_windows(_tone(1.0, channels=2), fps=25)


# ----------------------------------------------------------------------------- I/O errors

def test_read_wav_rejects_44k(tmp_path):
    p = tmp_path / "a44.wav"
    sf.write(p, _tone(0.5, sr=44100), 44100)
    with pytest.raises(AudioError, match=r"44100 Hz; talkinglib expects 16000 Hz mono.*resample=True.*ffmpeg"):
        tl.audio.read_wav(p)
    with pytest.raises(AudioError, match="44100 Hz"):
        tl.audio.load_audio(p)


def test_read_wav_rejects_stereo(tmp_path):
    p = tmp_path / "stereo.wav"
    sf.write(p, _tone(0.5, channels=2), 16000)
    with pytest.raises(AudioError, match=r"2 channels.*16000 Hz mono.*resample=True"):
        tl.audio.read_wav(p)


def test_corrupt_file(tmp_path):
    p = tmp_path / "corrupt.wav"
    p.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(AudioError, match="corrupt"):
        tl.audio.read_wav(p)
    with pytest.raises(AudioError, match="corrupt"):
        tl.audio.load_audio(p, resample=True)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        tl.audio.read_wav(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="not found"):
        tl.audio.load_audio(tmp_path / "nope.wav", resample=True)


def test_empty_wav(tmp_path):
    p = tmp_path / "empty.wav"
    sf.write(p, np.zeros(0, np.float32), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match="no audio samples"):
        tl.audio.read_wav(p)
    with pytest.raises(AudioError, match="no audio samples"):
        tl.audio.load_audio(p, resample=True)


def test_load_audio_resamples_44k_stereo(tmp_path):
    p = tmp_path / "a44s.wav"
    x = _tone(1.5, sr=44100, channels=2)
    x[:, 1] *= 0.5
    sf.write(p, x, 44100, subtype="FLOAT")
    y = tl.audio.load_audio(p, resample=True)
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == 24000
    # the 220 Hz tone survives: correlate with a 16 kHz reference tone (mono mix = 0.75 * x)
    t = np.arange(24000) / 16000
    ref = 0.75 * 0.5 * np.sin(2 * np.pi * 220 * t)
    mid = slice(1000, -1000)
    assert np.corrcoef(y[mid], ref[mid])[0, 1] > 0.95


def test_resample_length():
    assert len(tl.audio.resample(np.zeros(44100, np.float32), 44100, 16000)) == 16000
    assert len(tl.audio.resample(np.zeros(8000, np.float32), 8000, 16000)) == 16000


# ----------------------------------------------------------------------------- write_wav

def test_write_read_roundtrip_and_determinism(tmp_path):
    x = _tone(1.0) * 1.5  # some samples beyond [-1, 1] get clipped
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    tl.audio.write_wav(a, x)
    tl.audio.write_wav(b, x)
    assert a.read_bytes() == b.read_bytes()
    y = tl.audio.read_wav(a)
    assert y.shape == x.shape
    assert np.abs(y - np.clip(x, -1, 1)).max() <= 1 / 32767


def test_write_wav_rejects_nan(tmp_path):
    x = _tone(0.1)
    x[3] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        tl.audio.write_wav(tmp_path / "nan.wav", x)
    assert not (tmp_path / "nan.wav").exists()


def test_stereo_is_averaged_by_both_readers(tmp_path):
    """A stereo file mixes to (L + R) / 2 through soundfile (load_audio) and through PyAV (the reader of
    video soundtracks and `prepare`): L = R gives the channel back, not √2 times it."""
    from talkinglib.video import read_audio_track, read_audio_track_timed
    left = _tone(1.0)
    for right, want in ((left, left), (0.2 * left, 0.6 * left)):          # L = R, and L ≠ R
        path = tmp_path / "stereo.wav"
        sf.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
        mixed = tl.audio.load_audio(path, resample=True)
        track, sr = read_audio_track(path)
        assert sr == 16000 and len(track) == len(mixed) == len(left)
        np.testing.assert_allclose(mixed, want, atol=1e-6)
        np.testing.assert_allclose(track, want, atol=1e-6)
        assert np.array_equal(read_audio_track_timed(path)[0], track)
