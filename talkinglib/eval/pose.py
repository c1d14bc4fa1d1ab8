"""Scores of the pose flow (EDTalk §3.3, EDTalk Eqs. 13–14) on SynthTalk, whose true head angles are known.

A linear read-out fitted on the training frames maps W^p to yaw, pitch and roll, and is the one instrument
for both ground truth and sampled poses: how fast sampled heads move against real ones, and how much
samples of one audio differ.
"""
import torch


def velocity_std(x):
    """std over time of the frame-to-frame change, pooled over sequences: list of (T, C) -> (C,)."""
    return torch.cat([s[1:] - s[:-1] for s in x]).std(0)


def linear_readout(features, targets):
    """Least squares with a bias: lists of (T, F) and (T, C) -> (F + 1, C)."""
    X, Y = torch.cat(features).double(), torch.cat(targets).double()
    X = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], 1)
    return torch.linalg.lstsq(X, Y).solution.float()


def apply_readout(A, x):
    return torch.cat([x, torch.ones(len(x), 1)], 1) @ A


@torch.no_grad()
def evaluate_pose(flow, train, test, samples=4, temperature=1.0, seed=0):
    """Sampled poses for each test clip's audio against the clip's ground truth.

    Yaw/pitch/roll are read from W^p by a linear read-out fitted on the training frames (the same
    instrument for ground truth and samples). Returns a dict: readout_r2 (test, per angle),
    velocity_std of the true angles, of the read-out ground truth and of the samples (per angle),
    their ratio, and diversity (mean |sample_i - sample_j| over the ground truth's std)."""
    A = linear_readout(train.pose, train.angles)
    gt_read = [apply_readout(A, w) for w in test.pose]
    ang = torch.cat(test.angles)
    r2 = 1 - ((torch.cat(gt_read) - ang) ** 2).sum(0) / ((ang - ang.mean(0)) ** 2).sum(0)
    g = torch.Generator().manual_seed(seed)
    draws = [[flow.sample(test.mel(c), batch=1, temperature=temperature, generator=g)[0].cpu()
              for _ in range(samples)] for c in range(len(test.pose))]
    sampled = [apply_readout(A, w) for d in draws for w in d]
    v_true, v_gt, v_smp = velocity_std(test.angles), velocity_std(gt_read), velocity_std(sampled)
    spread = torch.stack([torch.stack(d).std(0).mean() for d in draws]).mean()     # across samples of one audio
    return {"readout_r2": r2.tolist(), "velocity_std_true": v_true.tolist(), "velocity_std_gt": v_gt.tolist(),
            "velocity_std_samples": v_smp.tolist(), "ratio_vs_gt": (v_smp / v_gt).tolist(),
            "diversity": float(spread / torch.cat(test.pose).std(0).mean()),
            "samples": samples, "temperature": temperature}


def summarise(stats):
    names = ("yaw", "pitch", "roll")
    return "\n".join(f"{n:5s}: read-out R² {stats['readout_r2'][i]:.2f}; velocity std true {stats['velocity_std_true'][i]:.3f}"
                     f", read-out GT {stats['velocity_std_gt'][i]:.3f}, samples {stats['velocity_std_samples'][i]:.3f}"
                     f" (ratio {stats['ratio_vs_gt'][i]:.2f})" for i, n in enumerate(names)) + \
        f"\ndiversity (spread across samples / GT std): {stats['diversity']:.2f}"
