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
