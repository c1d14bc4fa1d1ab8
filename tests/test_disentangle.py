"""The disentanglement measurements on oracle "models" whose answer is known.

An oracle that returns its mouth driver unchanged has, by construction, a perfect mouth transfer
and no pose transfer; one that returns its pose driver the reverse; one that returns the source
moves nothing. The scores must say so, or they could not tell a disentangled model from an
entangled one.
"""
from pathlib import Path

import numpy as np
import pytest

from talkinglib import checkpoints
from talkinglib.eval.disentangle import (DisentangleConfig, copy_error, crosstalk, expression_transfer, mouth_swap,
                                         self_reconstruction)

PROBE = Path(__file__).parents[1] / "data" / "checkpoints" / "probe_tiny.pt"
CFG = DisentangleConfig(n=96, variations=8)


class Oracle:
    """animate() returns one of its inputs: "mouth", "pose" or "source". The expression "weights"
    are the window's middle frame, flattened, so an expression oracle returns that frame."""

    def __init__(self, returns):
        self.returns = returns

    def expression_weights(self, window):                       # (B, K, 3, H, W) -> (B, 3·H·W)
        return window[:, window.shape[1] // 2].flatten(1)

    def animate(self, source, *, mouth=None, pose=None, expression_weights=None):
        if self.returns == "expression":
            return expression_weights.view_as(source)
        return {"mouth": mouth, "pose": pose, "source": source}[self.returns]


@pytest.fixture(scope="module")
def probe():
    return checkpoints.load(PROBE, "probe")


def test_mouth_swap_scores_the_driver_each_factor_came_from(tiny_dataset, probe):
    mouth = mouth_swap(Oracle("mouth"), probe, tiny_dataset, "test", CFG)
    pose = mouth_swap(Oracle("pose"), probe, tiny_dataset, "test", CFG)
    assert mouth["mouth_r2"] > 0.85 and pose["pose_r2"] > 0.85           # the probe reads real frames
    assert mouth["pose_r2"] < 0.3 and pose["mouth_r2"] < 0.3             # the other driver's factor is not there
    both = self_reconstruction(Oracle("mouth"), probe, tiny_dataset, "test", CFG)
    assert both["mouth_r2"] > 0.85 and both["pose_r2"] > 0.85            # one frame drives both


def test_expression_transfer_accuracy_is_the_probes_on_the_driver(tiny_dataset, probe):
    right = expression_transfer(Oracle("expression"), probe, tiny_dataset, "test", CFG)
    kept = expression_transfer(Oracle("source"), probe, tiny_dataset, "test", CFG)
    assert right["emotion_acc"] > 0.7 and right["confusion"].sum() == CFG.n
    assert kept["emotion_acc"] < 0.35                 # a neutral source is right only for neutral drivers


def test_crosstalk_is_zero_for_a_still_output_and_large_for_a_copy(tiny_dataset, probe):
    still = crosstalk(Oracle("source"), probe, tiny_dataset, "test", CFG)
    assert still["mean"] < 1e-6                        # the same image 8 times (up to float noise)
    copy = crosstalk(Oracle("mouth"), probe, tiny_dataset, "test", CFG)
    assert copy["mouth->pose"] > 0.3                  # a new mouth frame brings its own head pose
    assert copy["pose->mouth"] < 1e-6 and copy["expression->pose"] < 1e-6
    assert copy["mouth->mouth"] > 0.3 and still["mouth->mouth"] < 1e-6  # the diagonal: the driver's own factor
    from talkinglib.eval.disentangle import crosstalk_matrix
    M = crosstalk_matrix(copy)                        # rows: varied driver; columns: mouth, pose, expression
    assert M.shape == (3, 3) and M[0, 1] == copy["mouth->pose"]
    assert copy["mean"] == np.mean([M[i, j] for i in range(3) for j in range(3) if i != j])


def test_ridge_readout_recovers_a_linear_factor_and_not_noise():
    from talkinglib.eval.disentangle import ridge_readout
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 12))
    y = X[:, :2] @ np.array([[1.0, 0.0], [0.5, -2.0]]) + 3.0
    r2 = ridge_readout(X[:300], y[:300], X[300:], y[300:], lam=1.0)
    assert (r2 > 0.99).all()
    noise = rng.normal(size=(400, 1))
    assert ridge_readout(X[:300], noise[:300], X[300:], noise[300:], lam=1.0)[0] < 0.05


def test_copy_error_is_zero_for_a_copy_and_counts_blur(tiny_dataset):
    """Driver = source: an oracle that returns its source scores 0; one that returns a box-blurred
    source scores the blur's mean |Î − I| on [0, 1] images (what a soft G looks like)."""
    import torch.nn.functional as F

    class Blur(Oracle):
        def animate(self, source, *, mouth=None, pose=None, expression_weights=None):
            return F.avg_pool2d(source, 3, 1, 1, count_include_pad=False)

    assert copy_error(Oracle("source"), tiny_dataset, "test", CFG) == 0
    blur = copy_error(Blur("source"), tiny_dataset, "test", CFG)
    assert 0.005 < blur < 0.05, blur
