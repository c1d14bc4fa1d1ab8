"""EDTalk's losses on hand-computed values, and the mouth superimposition they train on."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from talkinglib import checkpoints
from talkinglib.data.mouth_swap import similarity_fit, superimpose_mouth
from talkinglib.losses import edtalk as L


def test_reconstruction_loss_is_mean_absolute_error():
    real = torch.zeros(1, 3, 2, 2)
    fake = torch.tensor([1.0, -1.0, 0.5, 0.0] * 3).view(1, 3, 2, 2)
    assert L.reconstruction_loss(real, fake).item() == pytest.approx(2.5 / 4)


def test_region_l1_loss_averages_inside_the_mask_only():
    real = torch.zeros(2, 3, 2, 2)
    fake = torch.full((2, 3, 2, 2), 9.0)
    fake[0, :, 0, 0] = 1.0                                   # the only masked pixel differs by 1
    mask = torch.zeros(2, 1, 2, 2)
    mask[0, 0, 0, 0] = 1.0                                   # sample 1 has an empty mask: it counts for nothing
    assert L.region_l1_loss(real, fake, mask).item() == pytest.approx(1.0)
    mask[0, 0, 0, 1] = 0.5                                   # a half-weight pixel with error 9
    assert L.region_l1_loss(real, fake, mask).item() == pytest.approx((1.0 + 0.5 * 9) / 1.5)
    assert L.region_l1_loss(real, fake, torch.zeros_like(mask)).item() == 0.0


def test_adversarial_losses_match_the_log_form_of_eq6():
    real, fake = torch.tensor([[2.0]]), torch.tensor([[-1.0]])
    sig = lambda x: 1 / (1 + math.exp(-x))
    # −log D(I) − log(1 − D(Î))
    assert L.d_logistic_loss(real, fake).item() == pytest.approx(-math.log(sig(2.0)) - math.log(1 - sig(-1.0)), 1e-6)
    # non-saturating generator term −log D(Î)
    assert L.g_nonsaturating_loss(fake).item() == pytest.approx(-math.log(sig(-1.0)), 1e-6)


def test_cosine_consistency_losses_eq7_eq10():
    f = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    g = torch.tensor([[2.0, 0.0], [0.0, 3.0]])              # cos = 1 and 0
    expected = (math.exp(-1) + math.exp(0)) / 2
    assert L.cosine_consistency_loss(f, g).item() == pytest.approx(expected, 1e-6)
    assert L.mouth_consistency_loss(f, g).item() == pytest.approx(expected, 1e-6)
    # L_fea sums the pose term and the mouth term
    assert L.feature_loss(f, g, f, f).item() == pytest.approx(expected + math.exp(-1), 1e-6)


def test_motion_loss_is_a_sum_of_l2_norms_eq9():
    phi_r, phi_f = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])     # ‖·‖₂ = 5
    psi_r, psi_f = torch.tensor([[1.0]]), torch.tensor([[-1.0]])               # ‖·‖₂ = 2
    assert L.motion_loss(phi_r, phi_f, psi_r, psi_f).item() == pytest.approx(7.0)


def test_orthogonality_penalty():
    assert L.orthogonality_penalty(torch.eye(4)[:, :3] * 5).item() == pytest.approx(0.0, abs=1e-10)
    W = torch.tensor([[1.0, 1.0], [0.0, 1.0]])          # cos 45° between the two columns
    assert L.orthogonality_penalty(W).item() == pytest.approx(2 * 0.5, 1e-6)


def test_r1_penalty_on_a_linear_critic():
    x = torch.randn(3, 2, requires_grad=True)
    w = torch.tensor([3.0, 4.0])
    logits = x @ w                                         # ∇_x = w, ‖w‖² = 25
    assert L.r1_penalty(logits, x).item() == pytest.approx(25.0)


def test_similarity_fit_recovers_a_known_transform():
    g = torch.Generator().manual_seed(0)
    src = torch.rand(2, 11, 2, generator=g) * 64
    th, s, t = 0.3, 1.2, torch.tensor([4.0, -2.0])
    R = s * torch.tensor([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    dst = src @ R.T + t
    A = similarity_fit(src, dst)
    torch.testing.assert_close(A[0, :, :2], R, atol=1e-4, rtol=0)
    torch.testing.assert_close(A[1, :, 2], t, atol=1e-3, rtol=0)


@pytest.fixture(scope="module")
def neutral_frames(tiny_dataset):
    from talkinglib.data.clips import read_frames, read_meta
    from talkinglib.data.datasets import to_tensor_images
    clip = next(p for p in sorted(tiny_dataset.iterdir()) if p.is_dir() and "neutral" in p.name)
    meta = read_meta(clip)
    return to_tensor_images(read_frames(clip)), torch.tensor(np.asarray(meta["landmarks"], np.float32)), meta


def test_superimposed_mouth_comes_from_a_and_the_rest_from_b(neutral_frames):
    """I^{m_a}_{p_b}: the factor probe reads a's jaw and b's yaw off the composite."""
    probe = checkpoints.load(Path(__file__).parents[1] / "data" / "checkpoints" / "probe_tiny.pt", "probe")
    frames, lm, meta = neutral_frames
    jaw = np.asarray(meta["factors"]["mouth"])[:, 0]
    ta, tb = int(np.argmax(jaw)), int(np.argmin(jaw))      # a: mouth wide open, b: closed
    a, b = frames[ta:ta + 1], frames[tb:tb + 1]
    ab, mask = superimpose_mouth(a, lm[ta:ta + 1], b, lm[tb:tb + 1])
    ba, _ = superimpose_mouth(b, lm[tb:tb + 1], a, lm[ta:ta + 1])
    outside = mask[0, 0] == 0
    assert outside.float().mean() > 0.8                      # the mask is a mouth-sized region
    assert torch.equal(ab[..., outside], b[..., outside])    # outside it, b's pixels exactly
    with torch.no_grad():
        r = probe(torch.cat([a, b, ab, ba]))
    jaw_hat, yaw_hat = r["mouth"][:, 0], r["pose"][:, 0]
    assert abs(jaw_hat[2] - jaw_hat[0]) < 0.2 and abs(jaw_hat[3] - jaw_hat[1]) < 0.2      # mouths swapped
    assert abs(yaw_hat[2] - yaw_hat[1]) < 3 and abs(yaw_hat[3] - yaw_hat[0]) < 3          # heads kept (degrees)


def test_superimpose_mouth_rejects_bad_shapes():
    x = torch.zeros(1, 3, 16, 16)
    with pytest.raises(ValueError, match="landmarks"):
        superimpose_mouth(x, torch.zeros(1, 5, 2), x, torch.zeros(1, 5, 2))
    with pytest.raises(ValueError, match="image"):
        superimpose_mouth(x, torch.zeros(1, 68, 2), torch.zeros(1, 3, 8, 8), torch.zeros(1, 68, 2))


def test_edtalk_batches_are_seeded_and_respect_the_stage_rules(tiny_dataset):
    from talkinglib.data.edtalk_batches import EDTalkBatches
    b = EDTalkBatches(tiny_dataset, "train")
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    x, y = b.mouth_pose(g1, 3), b.mouth_pose(g2, 3)
    assert all(torch.equal(x[k], y[k]) for k in x), "same generator state, same batch"
    assert x["a"].shape == (3, 3, 64, 64) and x["lm_a"].shape == (3, 68, 2)
    assert all(b.emotion[c] == "neutral" for cs in b.neutral_of.values() for c in cs)
    e = b.expression(torch.Generator().manual_seed(0), 2, window=5)
    assert e["window"].shape == (2, 5, 3, 64, 64)
    assert torch.equal(e["driving"], e["window"][:, 2])
    extra = np.zeros((8, 64, 64, 3), np.uint8)
    p = EDTalkBatches(tiny_dataset, "train", extra=extra, extra_block=4).pairs(torch.Generator().manual_seed(0), 6)
    assert p["source"].shape == p["driving"].shape == (6, 3, 64, 64)
    # the mouth mask of each driving frame: around its mouth when it comes from a clip, empty for extra frames
    is_extra = (p["driving"] == -1).flatten(1).all(1)        # the zero (black) extra frames
    assert is_extra.any() and (~is_extra).any()
    area = p["mouth"].flatten(1).mean(1)
    assert (area[is_extra] == 0).all() and ((area[~is_extra] > 0.01) & (area[~is_extra] < 0.2)).all()
    q = EDTalkBatches(tiny_dataset, "train").pairs(torch.Generator().manual_seed(1), 1)
    ys, xs = torch.nonzero(q["mouth"][0, 0] > 0.5, as_tuple=True)
    assert 32 < ys.float().mean() < 60, "the mask sits on the lower half of the face"
    with pytest.raises(ValueError, match="whole blocks"):
        EDTalkBatches(tiny_dataset, "train", extra=extra[:6], extra_block=4)


def test_pairs_carry_the_driving_frames_truth_and_same_frame_pairs(tiny_dataset):
    """The tiny autoencoder's aids: factors=True gives the driving frame's standardised mouth, pose
    and expression (clip frames and extra frames alike), same_fraction=1 makes every driving frame
    the source."""
    from talkinglib.data.edtalk_batches import EDTalkBatches
    extra = np.zeros((8, 64, 64, 3), np.uint8)
    extra_factors = {"mouth": np.full((8, 4), 7.0, np.float32), "pose": np.zeros((8, 5), np.float32),
                     "expression": np.zeros((8, 10), np.float32)}
    b = EDTalkBatches(tiny_dataset, "train", extra=extra, extra_block=4, extra_factors=extra_factors)
    p = b.pairs(torch.Generator().manual_seed(0), 16, factors=True)
    assert p["mouth_factors"].shape == (16, 4) and p["pose_factors"].shape == (16, 5)
    assert p["expression_factors"].shape == (16, 10)
    per_clip, stats = b.factors()
    mean, std = stats["mouth"]
    is_extra = (p["driving"] == -1).flatten(1).all(1)
    assert is_extra.any() and (~is_extra).any()
    expect = torch.from_numpy(((7.0 - mean) / std).astype(np.float32))
    assert torch.allclose(p["mouth_factors"][is_extra], expect.expand(int(is_extra.sum()), 4))
    clips = p["mouth_factors"][~is_extra]
    assert clips.abs().max() < 6 and clips.std() > 0.3, "clip frames: standardised truth, not the extras' 7"
    same = b.pairs(torch.Generator().manual_seed(0), 6, same_fraction=1.0)
    assert torch.equal(same["source"], same["driving"]) and bool(same["same"].all())
    some = b.pairs(torch.Generator().manual_seed(1), 32, same_fraction=0.3, extra_fraction=0.0)   # (extras: all alike)
    flagged = (some["source"] == some["driving"]).flatten(1).all(1)
    assert torch.equal(some["same"], flagged) and 0 < int(flagged.sum()) < 32, "'same' marks exactly those pairs"
    default = b.pairs(torch.Generator().manual_seed(0), 6)
    again = EDTalkBatches(tiny_dataset, "train", extra=extra, extra_block=4).pairs(torch.Generator().manual_seed(0), 6)
    assert torch.equal(default["driving"], again["driving"]), "the aids off: the same batches as before"
    with pytest.raises(ValueError, match="extra_factors"):
        EDTalkBatches(tiny_dataset, "train", extra=extra, extra_block=4).pairs(torch.Generator(), 2, factors=True)


def test_soft_regions_cover_their_landmarks_only(tiny_dataset):
    """w_mouth's and w_eyes' regions: the soft eye region covers every brow and eye landmark and
    none of the lips; the mouth region the reverse."""
    from talkinglib.data.edtalk_batches import BROW_EYE, EDTalkBatches, soft_eye_region, soft_mouth_region
    lm = EDTalkBatches(tiny_dataset, "train").pairs(torch.Generator().manual_seed(0), 4, landmarks=True)["lm_driving"]
    eyes, mouth = soft_eye_region(lm, 64), soft_mouth_region(lm, 64)            # (4, 1, 64, 64) each
    at = lambda region, idx: torch.stack([region[b, 0, lm[b, idx, 1].long(), lm[b, idx, 0].long()]   # noqa: E731
                                          for b in range(len(lm))])
    brow_eye, lips = list(BROW_EYE[0] + BROW_EYE[1]), list(range(48, 68))
    assert (at(eyes, brow_eye) > 0.5).all() and (at(eyes, lips) == 0).all()
    assert (at(mouth, lips) > 0.3).all() and (at(mouth, brow_eye) == 0).all()   # the lip corners: its soft edge
    assert eyes.min() >= 0 and eyes.max() <= 1 and 0.01 < eyes.mean() < 0.15


def test_factor_anchor_loss_regresses_the_first_bank_weights():
    from talkinglib.losses.edtalk import factor_anchor_loss
    w = torch.tensor([[1.0, 2.0, 9.0], [0.0, 0.0, -9.0]])
    assert factor_anchor_loss(w, torch.tensor([[1.0, 2.0], [0.0, 0.0]])) == 0, "only the first k weights count"
    assert factor_anchor_loss(w, torch.tensor([[0.0, 2.0], [0.0, 0.0]])) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="at least 3"):
        factor_anchor_loss(w[:, :2], torch.zeros(2, 3))


def test_copy_warp_loss_counts_offset_pixels_and_mask_on_same_pairs_only():
    """losses.edtalk.copy_warp_loss (EDTalkTrainConfig.w_copy_warp): on driver = source pairs, an offset
    of (1, −0.5) px everywhere costs |1| + |−0.5| = 1.5 and m_I = 0.8 costs 0.2 more; the identity warp
    with m_I = 1 costs 0; other pairs, however wrong, count for nothing."""
    S = 64
    px = torch.tensor([1.0, -0.5]) * 2 / (S - 1)                          # pixels -> normalised units
    off = px.expand(3, S, S, 2).contiguous()
    mask = torch.full((3, 1, S, S), 0.8)
    same = torch.tensor([True, True, False])
    assert L.copy_warp_loss(off, mask, same) == pytest.approx(1.7, abs=1e-4)
    exact_off, exact_mask = off.clone(), mask.clone()
    exact_off[:2], exact_mask[:2] = 0, 1
    assert L.copy_warp_loss(exact_off, exact_mask, same) == 0
    assert L.copy_warp_loss(off, mask, torch.zeros(3, dtype=torch.bool)) == 0
    with pytest.raises(ValueError, match="offset must be"):
        L.copy_warp_loss(off, mask[:, :, :32], same)


def test_landmark_flow_loss_is_zero_for_the_true_warp_and_counts_pixels():
    """losses.edtalk.landmark_flow_loss (EDTalkTrainConfig.w_flow_landmarks): a driving frame that is
    the source moved by (3, −2) px is rebuilt exactly by the offset that reads p − d; that offset
    scores 0, while zero motion scores the displacement in L1 pixels, |3| + |−2| = 5.
    Pairs without landmarks count for nothing."""
    from talkinglib.models.layers.warp import warp
    S, d = 64, torch.tensor([3.0, -2.0])
    g = torch.Generator().manual_seed(0)
    src = torch.rand(2, 3, S, S, generator=g) * 2 - 1
    off = (-d * 2 / (S - 1)).expand(2, S, S, 2).contiguous()                 # output p reads source p − d
    drv = warp(src, off, "aligned")
    assert torch.allclose(drv[:, :, 10:50, 10:50], torch.roll(src, (-2, 3), (2, 3))[:, :, 10:50, 10:50], atol=1e-5)
    lm_s = torch.rand(2, 68, 2, generator=g) * 40 + 10
    lm_d = lm_s + d
    assert L.landmark_flow_loss(off, lm_s, lm_d) < 1e-4
    assert L.landmark_flow_loss(torch.zeros_like(off), lm_s, lm_d) == pytest.approx(5.0, abs=1e-4)
    known = torch.tensor([True, False])
    bad = off.clone()
    bad[1] = 0                                                               # wrong, but unknown: ignored
    assert L.landmark_flow_loss(bad, lm_s, lm_d, known) < 1e-4
    assert L.landmark_flow_loss(bad, lm_s, lm_d, torch.tensor([False, False])) == 0
    with pytest.raises(ValueError, match="offset must be"):
        L.landmark_flow_loss(off[:, :32], lm_s, lm_d)


def test_mouth_inside_is_the_open_mouths_dark_inside_and_its_loss_closes_the_image_mask(tiny_dataset):
    """inner_mouth_mask finds the inside of an open mouth (dark pixels) and nothing in a closed one;
    mouth_inside_loss is −log(1 − m_I) there and −log m_I on the mouth region around it: ~0 only for
    a mask closed inside and open around, and pairs without landmarks count for nothing."""
    from talkinglib.data.datasets import ClipStore, frame_factors
    store = ClipStore(tiny_dataset, "train")
    meta = store.metas[0]
    jaw = frame_factors(meta)["mouth"][:, 0]
    t_open, t_closed = int(np.argmax(jaw)), int(np.argmin(jaw))
    lm = torch.tensor(np.asarray(meta["landmarks"], np.float32)[[t_open, t_closed]])
    inside = L.inner_mouth_mask(lm, 64)
    assert inside[0].sum() >= 10 and inside[1].sum() <= 3
    frame = store.frames(0)[t_open].astype(np.float32)
    assert frame[inside[0, 0].numpy() > 0].mean() < 0.6 * frame.mean(), "the inside of the mouth is dark"
    around = torch.zeros(2, 1, 64, 64)
    around[..., 20:50, 15:50] = 1                                     # a mouth region holding the inside
    open_mask = torch.full((2, 1, 64, 64), 0.9)
    assert L.mouth_inside_loss(open_mask, lm, around) == pytest.approx(-np.log(0.1) - np.log(0.9), rel=1e-4)
    right = torch.where(inside.bool(), torch.tensor(1e-4), torch.tensor(1 - 1e-4))   # drawn inside, warped around
    assert L.mouth_inside_loss(right, lm, around) < 1e-3
    shut = torch.full((2, 1, 64, 64), 1e-4)                          # closed everywhere: the lips lose the warp
    assert L.mouth_inside_loss(shut, lm, around) > 5
    assert L.mouth_inside_loss(open_mask, lm, around, torch.tensor([False, False])) == 0


def test_pairs_carry_both_frames_landmarks_without_changing_the_draws(tiny_dataset):
    from talkinglib.data.edtalk_batches import EDTalkBatches
    extra = np.zeros((8, 64, 64, 3), np.uint8)
    b = EDTalkBatches(tiny_dataset, "train", extra=extra, extra_block=4)
    plain = b.pairs(torch.Generator().manual_seed(3), 12, same_fraction=0.3)
    p = b.pairs(torch.Generator().manual_seed(3), 12, same_fraction=0.3, landmarks=True)
    assert torch.equal(plain["source"], p["source"]) and torch.equal(plain["driving"], p["driving"])
    is_extra = (p["driving"] == -1).flatten(1).all(1)
    assert torch.equal(p["has_landmarks"], ~is_extra) and is_extra.any() and (~is_extra).any()
    assert p["lm_source"].shape == p["lm_driving"].shape == (12, 68, 2)
    assert (p["lm_source"][is_extra] == 0).all() and (p["lm_driving"][~is_extra] > 0).all()
    same = b.pairs(torch.Generator().manual_seed(0), 6, same_fraction=1.0, extra_fraction=0.0, landmarks=True)
    assert torch.equal(same["lm_source"], same["lm_driving"])


def test_ground_truth_aids_refuse_real_clips(tiny_dataset, tmp_path):
    """Real clips (talkinglib prepare) have no factors: w_factors says so before the first step."""
    import json
    import shutil
    from talkinglib.data.clips import ClipFormatError
    from talkinglib.data.edtalk_batches import EDTalkBatches
    names = ["id000_neutral_0", "id001_neutral_0"]
    for n in names:                                   # SynthTalk clips stripped to what prepare writes
        shutil.copytree(tiny_dataset / n, tmp_path / n)
        meta = json.loads((tmp_path / n / "meta.json").read_text())
        for k in ("factors", "emotion_index", "tdmm", "identity_params"):
            meta.pop(k, None)
        meta["emotion"] = None
        (tmp_path / n / "meta.json").write_text(json.dumps(meta))
    (tmp_path / "splits.json").write_text(json.dumps({"train": names, "test": []}))
    b = EDTalkBatches(tmp_path, "train")
    assert b.pairs(torch.Generator().manual_seed(0), 2)["source"].shape == (2, 3, 64, 64)   # the plain recipe runs
    with pytest.raises(ClipFormatError, match="w_factors=0"):
        b.pairs(torch.Generator().manual_seed(0), 2, factors=True)


def test_cross_correlation_loss_sees_a_leaked_factor_and_ignores_scale():
    """w_leak's loss (ours): near zero for weights independent of the truth, near 1/(K·J) per leaked
    pair at full correlation whatever the weights' scale, and it pushes the leaked weight only."""
    from talkinglib.losses.edtalk import cross_correlation_loss
    g = torch.Generator().manual_seed(0)
    y = torch.randn(4000, 5, generator=g)
    free = torch.randn(4000, 20, generator=g)
    assert cross_correlation_loss(free, y) < 1e-3
    leaked = free.clone()
    leaked[:, 7] = 50 * y[:, 1] + 3                                    # one weight is the pitch, scaled
    assert abs(cross_correlation_loss(leaked, y).item() - 1 / 100) < 1e-3
    partial = free.clone()
    partial[:, 7] = y[:, 1] + free[:, 7]                               # corr 1/√2: half of it leaked
    w = partial[:256].clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=0.05)
    for _ in range(200):                                               # descending it removes the leak
        opt.zero_grad()
        cross_correlation_loss(w, y[:256]).backward()
        opt.step()
    corr = lambda a, b: torch.corrcoef(torch.stack([a, b]))[0, 1]     # noqa: E731
    assert corr(partial[:256, 7], y[:256, 1]) > 0.6 and abs(corr(w[:, 7].detach(), y[:256, 1])) < 0.1
    moved = (w.detach() - partial[:256]).abs().mean(0)
    assert moved[7] > 3 * moved[[i for i in range(20) if i != 7]].max()
    with pytest.raises(ValueError, match="rows"):
        cross_correlation_loss(free[:3], y[:4])


def test_swap_reading_loss_is_zero_only_when_the_swap_reads_as_its_two_sources():
    """w_swap_expert's loss (ours): the swap must read a's mouth and b's pose; the frames are targets."""
    from talkinglib.losses.edtalk import swap_reading_loss
    g = torch.Generator().manual_seed(0)
    ra = {"mouth": torch.randn(3, 4, generator=g), "pose": torch.randn(3, 5, generator=g)}
    rb = {"mouth": torch.randn(3, 4, generator=g), "pose": torch.randn(3, 5, generator=g)}
    good = {"mouth": ra["mouth"].clone().requires_grad_(True), "pose": rb["pose"].clone()}
    assert swap_reading_loss(good, ra, rb) == 0
    assert swap_reading_loss({"mouth": rb["mouth"], "pose": ra["pose"]}, ra, rb) > 0.5    # the other way round
    target = ra["mouth"].clone().requires_grad_(True)
    swap = torch.zeros(3, 4, requires_grad=True)
    swap_reading_loss({"mouth": swap, "pose": rb["pose"]}, {"mouth": target, "pose": ra["pose"]}, rb).backward()
    assert swap.grad.abs().sum() > 0
    assert target.grad is None, "the real frames' reads are targets"
