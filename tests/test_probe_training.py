"""The probe stage: real steps, deterministic, resumable, and its checkpoint errors."""
import subprocess
from pathlib import Path
import sys

import numpy as np
import pytest
import torch

from talkinglib import checkpoints
from talkinglib.checkpoints import CheckpointError, load_checkpoint

FAST = ["--set", "extra_identities=2", "--set", "frames_per_identity=4", "--set", "batch_size=8",
        "--set", "log_every=1"]


def _train(data, out, steps, *extra):
    cmd = [sys.executable, "-m", "talkinglib", "train", "probe", "--data", str(data), "--out", str(out),
           "--preset", "tiny", "--steps", str(steps), *FAST, *extra]
    return subprocess.run(cmd, check=True, capture_output=True, text=True)


def test_probe_trains_deterministically_and_resumes(tiny_dataset, tmp_path):
    _train(tiny_dataset, tmp_path / "a", 4, "--stop-at", "2")            # as if killed at step 2
    _train(tiny_dataset, tmp_path / "b", 4, "--stop-at", "2")
    a, b = load_checkpoint(tmp_path / "a" / "probe.pt"), load_checkpoint(tmp_path / "b" / "probe.pt")
    assert a["step"] == 2
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), f"{k} differs between identical runs"
    init = checkpoints.load(tmp_path / "a" / "probe.pt", "probe").state_dict()
    _train(tiny_dataset, tmp_path / "a", 4)                              # resumes at step 2
    c = load_checkpoint(tmp_path / "a" / "probe.pt")
    assert c["step"] == 4
    moved = [k for k, v in init.items() if v.dtype.is_floating_point and not torch.equal(v, c["model"][k])]
    assert moved, "two more steps changed nothing"
    # stopped at 2 and resumed = 4 steps in one go, bit for bit
    _train(tiny_dataset, tmp_path / "d", 4)
    d = load_checkpoint(tmp_path / "d" / "probe.pt")
    for k in c["model"]:
        assert torch.equal(c["model"][k], d["model"][k]), f"{k}: resumed run differs from an uninterrupted one"
    # the loss curve survives the interruption: the resumed run's history is the uninterrupted one's
    assert [s for s, _ in c["history"]["loss"]] == [1, 2, 3, 4]
    assert c["history"] == d["history"] and c["config"]["stage"] == "probe"
    assert c["config"]["data"]["source"] == "synthtalk" and 0.05 < c["config"]["data"]["detail"] < 0.3   # provenance


def test_bad_checkpoints_get_clear_errors(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable talkinglib checkpoint"):
        checkpoints.load(tmp_path / "junk.pt", "probe")
    with pytest.raises(CheckpointError, match="does not exist"):
        checkpoints.load(tmp_path / "missing.pt", "probe")
    torch.save({"model": {}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not written by talkinglib"):
        checkpoints.load(tmp_path / "foreign.pt", "probe")


def test_train_on_a_folder_without_a_dataset_says_what_to_do(tmp_path):
    cmd = [sys.executable, "-m", "talkinglib", "train", "probe", "--data", str(tmp_path), "--out", str(tmp_path / "r")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode != 0 and "talkinglib synth --out" in r.stderr


def test_expert_command_trains_the_l_mot_experts(tiny_dataset, tmp_path):
    """The regenerate command of data/checkpoints/expert_tiny.pt, for two steps; φ and ψ load from it."""
    from talkinglib.models.experts import EXPERT_PRESETS, SynthMotionExperts
    cmd = [sys.executable, "-m", "talkinglib", "train", "expert", "--data", str(tiny_dataset), "--out",
           str(tmp_path), "--preset", "tiny", "--steps", "2", *FAST]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    probe = checkpoints.load(tmp_path / "expert.pt", "probe")
    assert probe.cfg == EXPERT_PRESETS["tiny"]
    experts = SynthMotionExperts(probe)
    x = torch.zeros(3, 3, 64, 64, requires_grad=True)
    feats = experts(x)
    assert feats.phi.shape == (3, 14) and feats.psi.shape == (3, 8)
    assert torch.allclose(feats.psi.sum(-1), torch.ones(3))               # ψ: emotion probabilities
    (feats.phi.sum() + feats.psi[:, 0].sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0 and not any(p.requires_grad for p in experts.parameters())
    committed = checkpoints.load(Path(__file__).parents[1] / "data" / "checkpoints" / "expert_tiny.pt", "probe")
    assert committed.cfg == EXPERT_PRESETS["tiny"]


def test_expert_perceptual_is_a_frozen_feature_loss_that_grows_with_the_jaw():
    """perceptual="expert" (ours): L_per over the committed expert's feature maps. Zero for the same
    frame, gradients to the generated image only, the expert frozen in eval mode; and for a face
    rendered with the jaw at 0, 0.3, 0.6, 0.9 (all else fixed) the loss against the closed mouth grows."""
    from talkinglib.data.datasets import to_tensor_images
    from talkinglib.models.experts import ExpertPerceptual
    from talkinglib.synth.identity import sample_identity
    from talkinglib.synth.render import render
    from talkinglib.train.edtalk_common import perceptual_network
    from talkinglib.train.presets import resolve
    per = perceptual_network(resolve("edtalk.autoencoder", "tiny"), "expert")
    assert isinstance(per, ExpertPerceptual)
    per.train()
    assert not per.probe.training and not any(p.requires_grad for p in per.parameters())
    for seed in (100, 101):                                             # identities the expert never saw
        f = np.zeros((4, 15))
        f[:, 0] = [0.0, 0.3, 0.6, 0.9]                                  # the jaw; everything else at rest
        x = to_tensor_images(render(sample_identity(np.random.default_rng(seed)), f, np.zeros((4, 5)), size=64))
        losses = [float(per.loss(x[:1], x[i:i + 1])) for i in range(4)]
        assert losses[0] == 0 and losses[1] < losses[2] < losses[3], losses
    fake = x[1:2].clone().requires_grad_(True)
    per.loss(x[:1], fake).backward()
    assert fake.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="'random', 'imagenet' or 'expert'"):
        perceptual_network(resolve("edtalk.autoencoder", "tiny"), "vgg")
