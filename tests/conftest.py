"""Shared fixtures. The default SynthTalk dataset is generated once (and cached under
data/synthtalk/, where the notebooks find it too); generation time is recorded when it happens."""
import os
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TALKINGLIB_SHARED", REPO.parent / "shared"))
PROBE_CKPT = REPO / "data" / "checkpoints" / "probe_tiny.pt"

_generation = {}


@pytest.fixture(scope="session")
def tiny_dataset():
    """The notebooks' default dataset: tiny preset, seed 0."""
    from talkinglib.synth.generate import default_root, ensure_dataset, is_complete, preset
    root = default_root("tiny", 0)
    if not is_complete(root, preset("tiny"), 0):
        t0 = time.time()
        ensure_dataset("tiny", 0, root=root, progress=False)
        _generation["seconds"] = time.time() - t0
    return root


@pytest.fixture(scope="session")
def generation_seconds(tiny_dataset):
    return _generation.get("seconds")


def pytest_collection_modifyitems(config, items):
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def face_and_audio(tiny_dataset, tmp_path_factory):
    """A test identity's first frame (upscaled to 256², as a photo would be) and its clip's audio."""
    import json
    from PIL import Image
    from talkinglib import audio as tl_audio
    from talkinglib.data.clips import read_frames
    d = tmp_path_factory.mktemp("gen")
    clip = json.loads((Path(tiny_dataset) / "splits.json").read_text())["test"][0]
    frame = read_frames(Path(tiny_dataset) / clip)[0]
    Image.fromarray(frame).resize((256, 256), Image.BICUBIC).save(d / "face.png")
    wav = tl_audio.read_wav(Path(tiny_dataset) / clip / "audio.wav")
    tl_audio.write_wav(d / "talk.wav", wav)
    return d / "face.png", d / "talk.wav", wav
