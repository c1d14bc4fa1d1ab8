"""Stage edtalk.audio2pose on SynthTalk: MLE falls, the whole flow trains, a run resumes to the
same bytes, the CLI runs it, and the pose evaluation measures what it says."""
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from talkinglib import cli
from talkinglib import checkpoints
from talkinglib.errors import InputError
from talkinglib.eval.pose import apply_readout, linear_readout, velocity_std
from talkinglib.train import edtalk_audio2pose as A

EDTALK = Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "edtalk_tiny.pt"
FAST = replace(A.TRAIN_PRESETS["tiny"], batch_size=4, frames=8, log_every=1, ckpt_every=1000)


def test_mle_falls_on_synthtalk(tiny_dataset, tmp_path):
    cfg = replace(FAST, steps=60, batch_size=8, frames=16, log_every=5, w_rec=0.0, w_tem=0.0)
    flow, log = A.train_audio2pose(tiny_dataset, tmp_path, EDTALK, cfg=cfg, progress=False)
    mle = [v for _, v in log.history["mle"]]
    first, last = sum(mle[:2]) / 2, sum(mle[-2:]) / 2
    print(f"L_MLE (nats/dim): steps 5-10 {first:.3f} -> steps 55-60 {last:.3f}")
    assert last < first - 0.15


def test_two_steps_train_the_whole_flow_and_resume_exactly(tiny_dataset, tmp_path):
    torch.manual_seed(0)
    from talkinglib.models.pose_flow import PRESETS, PoseFlow
    a, _ = A.train_audio2pose(tiny_dataset, tmp_path / "a", EDTALK, cfg=replace(FAST, steps=4), progress=False)
    # 2 steps, stop, resume to 4: the same bytes as 4 straight
    A.train_audio2pose(tiny_dataset, tmp_path / "b", EDTALK, cfg=replace(FAST, steps=4), stop_at=2, progress=False)
    mid = checkpoints.load_checkpoint(tmp_path / "b" / "audio2pose.pt")
    assert mid["step"] == 2
    b, _ = A.train_audio2pose(tiny_dataset, tmp_path / "b", EDTALK, cfg=replace(FAST, steps=4), progress=False)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    # every parameter of E_a and φ_p moved in the first two steps (actnorm also by its data init)
    torch.manual_seed(0)
    fresh = PoseFlow(replace(PRESETS["tiny"]))
    moved = {k for k, v in mid["model"].items() if k in dict(fresh.named_parameters()) and not torch.equal(
        v, fresh.state_dict()[k])}
    assert moved == {k for k, _ in fresh.named_parameters()}
    flow, state = checkpoints.load_with_state(tmp_path / "b" / "audio2pose.pt", "edtalk.audio2pose")
    assert state["step"] == 4 and not flow.training


def test_cli_runs_the_stage_and_refuses_without_an_edtalk(tiny_dataset, tmp_path):
    argv = ["train", "edtalk.audio2pose", "--data", str(tiny_dataset), "--out", str(tmp_path / "r"), "--steps", "2",
            "--set", "batch_size=2", "--set", "frames=4", "--init", str(EDTALK)]
    assert cli.main(argv) == 0
    assert checkpoints.load_checkpoint(tmp_path / "r" / "audio2pose.pt")["step"] == 2
    with pytest.raises(InputError, match="--init"):
        cli.main(["--debug", *argv[:-2]])
    with pytest.raises(checkpoints.CheckpointError, match="of kind 'edtalk.expression', not 'edtalk.audio2pose'"):
        checkpoints.load_with_state(EDTALK, "edtalk.audio2pose")


def test_losses_and_readout_on_hand_values():
    from talkinglib.losses.edtalk import pose_reconstruction_loss, temporal_loss
    w = torch.zeros(1, 3, 2)
    w_hat = torch.tensor([[[3.0, 4.0], [0.0, 0.0], [0.0, 1.0]]])
    assert pose_reconstruction_loss(w, w_hat).item() == pytest.approx((5 + 0 + 1) / 3)
    # motion: Δŵ = (-3, -4), (0, 1); Δw = 0  ->  (5 + 1) / 2
    assert temporal_loss(w, w_hat).item() == pytest.approx(3.0)
    assert temporal_loss(w_hat, w_hat + 7).item() == 0                 # an offset is not motion
    with pytest.raises(ValueError, match="N >= 2"):
        temporal_loss(w[:, :1], w_hat[:, :1])
    # the read-out recovers an exact affine map, and velocity_std is the std of frame differences
    x = [torch.randn(50, 6), torch.randn(40, 6)]
    M = torch.randn(6, 3)
    y = [xi @ M + 2 for xi in x]
    R = linear_readout(x, y)
    assert torch.allclose(apply_readout(R, x[0]), y[0], atol=1e-4)
    seq = torch.tensor([[0.0], [1.0], [3.0], [6.0]])                     # differences 1, 2, 3
    assert velocity_std([seq]).item() == pytest.approx(1.0)
