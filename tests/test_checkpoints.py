"""talkinglib.load: every checkpoint back as its model, in eval mode, with a kind check (talkinglib/checkpoints.py)."""
from pathlib import Path

import pytest
import torch

import talkinglib as tl
from talkinglib import checkpoints
from talkinglib.errors import CheckpointError, InputError

CKPT = Path(__file__).resolve().parents[1] / "data" / "checkpoints"
CLASSES = {"probe": "FactorProbe", "edtalk.autoencoder": "EDTalk", "edtalk.mouth_pose": "EDTalk",
           "edtalk.expression": "EDTalk", "edtalk.audio2lip": "Audio2Lip", "edtalk.audio2pose": "PoseFlow",
           "edtalk.audio2exp": "SemanticExpression", "syncnet": "SyncNet", "teacher": "EmotionTeacher", "reta": "RETA"}


@pytest.mark.parametrize("path", sorted(CKPT.glob("*.pt")), ids=lambda p: p.name)
def test_every_committed_checkpoint_loads_as_its_model(path):
    model, state = checkpoints.load_with_state(path)
    kind = checkpoints.checkpoint_kind(state)
    assert type(model).__name__ == CLASSES[kind]
    assert not model.training and all(not m.training for m in model.modules())
    own = model.state_dict()
    for k, v in state["model"].items():                 # the weights are the file's (float16 exports cast back)
        assert torch.equal(own[k], v.to(own[k].dtype)), k
    assert type(tl.load(path, kind=kind)).__name__ == CLASSES[kind]


def test_a_kind_mismatch_names_both_kinds_and_the_command():
    with pytest.raises(CheckpointError, match=r"kind 'probe', not 'reta'.*talkinglib train reta"):
        tl.load(CKPT / "probe_tiny.pt", kind="reta")
    with pytest.raises(CheckpointError, match=r"kind 'reta', not an EDTalk video stage.*edtalk.autoencoder"):
        tl.load(CKPT / "reta_tiny.pt", kind="edtalk.")
    with pytest.raises(InputError, match="unknown checkpoint kind 'edtalk'"):
        tl.load(CKPT / "edtalk_tiny.pt", kind="edtalk")


def test_a_file_that_is_not_a_checkpoint_says_so(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist; train one first"):
        tl.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="not a readable talkinglib checkpoint"):
        tl.load(tmp_path / "junk.pt")
    torch.save({"gen": {}}, tmp_path / "official_like.pt")
    with pytest.raises(CheckpointError, match="not written by talkinglib"):
        tl.load(tmp_path / "official_like.pt")


def test_a_checkpoint_whose_weights_do_not_fit_its_config_says_so(tmp_path):
    state = checkpoints.load_checkpoint(CKPT / "syncnet_tiny.pt")
    state["model"] = {k: v[..., :1] if v.dim() else v for k, v in state["model"].items()}
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=r"does not match SyncNet\("):
        tl.load(tmp_path / "bad.pt")
