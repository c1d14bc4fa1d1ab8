"""EDTalk's training losses, one small pure function each: tensors in, a scalar out.

Implements: EDTalk Eqs. 5–7, 9–11, 14 and the non-saturating form of EDTalk Eq. 6.
The perceptual term of EDTalk Eq. 5 lives in losses/perceptual.py (it needs VGG19).
Batch convention: every loss is a mean over the batch, so a loss on B pairs does not grow with B;
the paper's Σ_{#=a,b} becomes the sum of the calls for a and for b.
"""
import torch
import torch.nn.functional as F


def reconstruction_loss(real, fake):
    """L_rec = ‖I − Î‖₁ (EDTalk Eq. 5), the mean absolute error per pixel. real, fake: (B, 3, H, W)."""
    return (real - fake).abs().mean()


def region_l1_loss(real, fake, mask):
    """Σ m |I − Î| / (3 Σ m): the L1 inside a soft region mask (B, 1, H, W) in [0, 1], per pixel of
    the region. Not a term of EDTalk: the tiny autoencoder adds it on the mouth (see
    EDTalkTrainConfig.w_mouth). Samples with an empty mask contribute nothing; all empty gives 0."""
    area = mask.sum() * real.shape[1]
    return ((real - fake).abs() * mask).sum() / area.clamp_min(1.0)


def factor_anchor_loss(weights, truth):
    """mean (W[:, :k] − y)²: the first k bank weights regress k standardised ground-truth factors.
    weights (B, K ≥ k), truth (B, k). Not a term of EDTalk or LIA: the tiny autoencoder anchors
    W^m[:, :4] to SynthTalk's (jaw, spread, round, closure) and W^p[:, :5] to its pose, so that E
    must put the few-pixel mouth into its latent (EDTalkTrainConfig.w_factors)."""
    k = truth.shape[1]
    if weights.shape[1] < k:
        raise ValueError(f"{k} factors need at least {k} bank weights, got {weights.shape[1]}")
    return F.mse_loss(weights[:, :k], truth)


def cross_correlation_loss(weights, truth, eps=1e-5):
    """mean corr(W_i, y_j)² over the rows of a batch: weights (n, K), truth (n, J) -> scalar.
    Not a term of EDTalk or LIA: stage 2's w_leak asks that W^m say nothing linear about the true pose
    of the frames its mouth came from (and W^p nothing about their mouth), since the cross-
    reconstruction never penalises it (the mouth patch and its target always share one pitch)."""
    if weights.shape[0] != truth.shape[0] or weights.shape[0] < 2:
        raise ValueError(f"need the same n ≥ 2 rows, got {tuple(weights.shape)} and {tuple(truth.shape)}")
    w = weights - weights.mean(0)
    y = truth - truth.mean(0)
    w = w / (w.pow(2).mean(0).sqrt() + eps)
    y = y / (y.pow(2).mean(0).sqrt() + eps)
    return ((w.T @ y) / len(w)).pow(2).mean()


def swap_reading_loss(read_swap, read_mouth_frame, read_pose_frame):
    """mean (mouth(Î) − mouth(I^a))² + mean (pose(Î) − pose(I^b))², each a frozen reader's standardised
    factors {"mouth" (B, 4), "pose" (B, 5)}, for Î = G(W^m_a, W^p_b). Not a term of EDTalk or LIA
    (EDTalkTrainConfig.w_swap_expert); the frames' reads are targets (no gradient)."""
    return (F.mse_loss(read_swap["mouth"], read_mouth_frame["mouth"].detach())
            + F.mse_loss(read_swap["pose"], read_pose_frame["pose"].detach()))


def paired_swap_reading_loss(read_swaps, read_frames):
    """swap_reading_loss for both directions at once: read_swaps and read_frames are reads of 2B images,
    {"mouth" (2B, 4), "pose" (2B, 5)}; swap i < B shows frame i's mouth on frame i + B's pose, swap i + B
    the reverse."""
    B = read_swaps["mouth"].shape[0] // 2
    half = lambda r, i: {k: v[i * B:(i + 1) * B] for k, v in r.items()}              # noqa: E731
    return (swap_reading_loss(half(read_swaps, 0), half(read_frames, 0), half(read_frames, 1))
            + swap_reading_loss(half(read_swaps, 1), half(read_frames, 1), half(read_frames, 0)))


def landmark_flow_loss(offset, lm_source, lm_driving, known=None):
    """Mean |warp target − source landmark| in pixels, over the driving frame's landmarks.

    G's S² warp reads the source at p + offset(p) for every output pixel p (aligned grid,
    layers/warp.py). Where the driving frame has landmark k, it should read the source's landmark k:
        offset(l^d_k) = c(l^s_k) − c(l^d_k),    c(x) = 2(x − ½) / (S − 1) − 1   (normalised coordinates)
    offset (B, S, S, 2) in normalised units (x first); lm_source, lm_driving (B, N, 2) pixels (x, y),
    with pixel i covering [i, i + 1) as SynthTalk's landmarks do (its centre i + ½ is c = −1 + 2i/(S − 1));
    known (B,) bool: pairs that have landmarks (others contribute nothing; none known gives 0).
    Not a term of EDTalk or LIA: the tiny autoencoder's EDTalkTrainConfig.w_flow_landmarks."""
    S = offset.shape[1]
    if offset.shape[1:] != (S, S, 2) or lm_source.shape != lm_driving.shape or lm_source.shape[-1] != 2:
        raise ValueError(f"offset must be (B, S, S, 2) and the landmarks (B, N, 2) alike; got "
                         f"{tuple(offset.shape)}, {tuple(lm_source.shape)}, {tuple(lm_driving.shape)}")
    to_norm = lambda x: 2 * (x - 0.5) / (S - 1) - 1                               # noqa: E731  pixels -> [-1, 1]
    at = F.grid_sample(offset.permute(0, 3, 1, 2), to_norm(lm_driving)[:, :, None], mode="bilinear",
                       align_corners=True)[..., 0].transpose(1, 2)               # (B, N, 2) offset at l^d
    err = (at - (to_norm(lm_source) - to_norm(lm_driving))).abs().sum(-1) * (S - 1) / 2   # (B, N) pixels
    if known is None:
        return err.mean()
    w = known.to(err.dtype)[:, None].expand_as(err)
    return (err * w).sum() / w.sum().clamp_min(1.0)


def copy_warp_loss(offset, image_mask, same):
    """Mean |offset| in pixels plus mean (1 − m_I), over the pairs whose driving frame is the source.

    With driver = source the right output is the source itself: G's S² warp should read every pixel
    where it is (offset 0) and the image mask m_I should take the warped image everywhere (m_I = 1),
    so nothing of the blurrier drawing is blended in. offset (B, S, S, 2) normalised units (x first),
    image_mask (B, 1, S, S), same (B,) bool; no such pair gives 0. Needs no ground truth (the pair is
    made from one frame), so it applies to real clips as well. Not a term of EDTalk or LIA: the tiny
    autoencoder's EDTalkTrainConfig.w_copy_warp."""
    S = offset.shape[1]
    if offset.shape[1:] != (S, S, 2) or image_mask.shape[1:] != (1, S, S) or same.shape != offset.shape[:1]:
        raise ValueError(f"offset must be (B, S, S, 2), image_mask (B, 1, S, S) and same (B,); got "
                         f"{tuple(offset.shape)}, {tuple(image_mask.shape)}, {tuple(same.shape)}")
    if not bool(same.any()):
        return offset.new_zeros(())
    px = offset[same].abs().sum(-1).mean() * (S - 1) / 2                          # L1 of the offset, pixels
    return px + (1 - image_mask[same]).mean()


def inner_mouth_mask(lm, size):
    """(B, 1, size, size) in {0, 1}: pixel centres inside the inner-lip polygon (landmarks 60-67) of
    lm (B, 68, 2) pixels (pixel i covers [i, i + 1)). A closed mouth has no inside: all zero."""
    poly = lm[:, 60:68]                                                           # (B, 8, 2)
    c = torch.arange(size, dtype=lm.dtype, device=lm.device) + 0.5
    px, py = c[None, None, :, None], c[None, :, None, None]                      # x along W, y along H
    x0, y0 = poly[:, None, None, :, 0], poly[:, None, None, :, 1]                # (B, 1, 1, 8)
    x1, y1 = poly.roll(-1, 1)[:, None, None, :, 0], poly.roll(-1, 1)[:, None, None, :, 1]
    crosses = (y0 > py) != (y1 > py)                                              # edge spans the row
    x_at = x0 + (py - y0) * (x1 - x0) / torch.where(y1 == y0, torch.ones_like(y1), y1 - y0)
    inside = ((crosses & (px < x_at)).sum(-1) % 2) == 1                           # even-odd rule, (B, H, W)
    return inside[:, None].to(lm.dtype)


def mouth_inside_loss(image_mask, lm_driving, around, known=None):
    """Where the driving frame shows the inside of its open mouth (inner-lip polygon), G's warp of the
    source cannot show it (a closed-mouthed source has none), so G should draw it: −log(1 − m_I)
    averaged over the inside. Around it (the soft mouth region `around` (B, 1, S, S), minus the
    inside) the lips are the source's, warped: −log m_I averaged there. Both sides, so that the
    image mask learns where the inside is rather than closing everywhere (a one-sided version
    lowered m_I's shared bias and blurred the whole face within 2500 steps).
    image_mask (B, 1, S, S) in (0, 1); lm_driving (B, 68, 2) pixels; known (B,) bool: pairs without
    landmarks contribute nothing, and a closed mouth has no inside (0 when no pixel counts).
    Not a term of EDTalk or LIA: the tiny autoencoder's EDTalkTrainConfig.w_mouth_inside."""
    inside = inner_mouth_mask(lm_driving, image_mask.shape[-1])
    ring = (around - inside).clamp_min(0)
    if known is not None:
        k = known.to(inside.dtype)[:, None, None, None]
        inside, ring = inside * k, ring * k
    m = image_mask.clamp(1e-6, 1 - 1e-6)
    draw = (-torch.log1p(-m) * inside).sum() / inside.sum().clamp_min(1.0)
    keep = (-torch.log(m) * ring).sum() / ring.sum().clamp_min(1.0)
    return draw + keep


def d_logistic_loss(real_logits, fake_logits):
    """Discriminator side of EDTalk Eq. 6: −log D(I) − log(1 − D(Î)) with D = sigmoid(logits).

    softplus(−x) = −log sigmoid(x) and softplus(x) = −log(1 − sigmoid(x)). real/fake_logits: (B, 1).
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_nonsaturating_loss(fake_logits):
    """Generator side of EDTalk Eq. 6, non-saturating (as in StyleGAN2/LIA): −log D(Î)."""
    return F.softplus(-fake_logits).mean()


def r1_penalty(real_logits, real_images):
    """R1 = E ‖∇_I D(I)‖² on real images (StyleGAN2's lazy regulariser; keeps D from overfitting
    a small dataset). real_images must have requires_grad set before D was called."""
    grad, = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def cosine_consistency_loss(f, g):
    """exp(−S(f, g)) with S the cosine similarity: the form of L_fea (EDTalk Eq. 7) and L_m-c (EDTalk Eq. 10).

    f, g: (B, K) features. Minimum e^{-1} ≈ 0.368 when they point the same way.
    """
    return torch.exp(-F.cosine_similarity(f, g, dim=-1)).mean()


def feature_loss(f_pose_swapped, f_pose_own, f_mouth_swapped, f_mouth_own):
    """L_fea (EDTalk Eq. 7) for one of # = a, b: exp(−S(f^{p_#}, PLN(E(I^#)))) + exp(−S(f^{m_#}, MLN(E(I^#)))).

    The *_swapped features come from the mouth-swapped images (EDTalk Eqs. 3–4), the *_own ones from I^# itself.
    """
    return (cosine_consistency_loss(f_pose_swapped, f_pose_own)
            + cosine_consistency_loss(f_mouth_swapped, f_mouth_own))


def motion_loss(phi_real, phi_fake, psi_real, psi_fake):
    """L_mot = ‖φ(I^d) − φ(Î)‖₂ + ‖ψ(I^d) − ψ(Î)‖₂ (EDTalk Eq. 9), L2 norms per sample, mean over B.

    φ: 3D face coefficients, ψ: emotion features (on SynthTalk, models/experts.py). (B, K) each.
    """
    return (phi_real - phi_fake).norm(dim=-1).mean() + (psi_real - psi_fake).norm(dim=-1).mean()


def mouth_consistency_loss(w_mouth_fake, w_mouth_real):
    """L_m-c = exp(−S(MLN(E(Î_e)), MLN(E(I^d)))) (EDTalk Eq. 10). (B, 20) mouth weights each."""
    return cosine_consistency_loss(w_mouth_fake, w_mouth_real)


def orthogonality_penalty(W):
    """‖ŴᵀŴ − I‖²_F with Ŵ the column-normalised bank (D, K): the soft alternative to QR.

    Zero exactly when the bases are mutually orthogonal; used by the ablation notebook.
    """
    Wn = W / W.norm(dim=0, keepdim=True).clamp_min(1e-8)
    G = Wn.T @ Wn                                                   # (K, K) Gram matrix
    return (G - torch.eye(G.shape[0], dtype=G.dtype, device=G.device)).pow(2).sum()


def pose_reconstruction_loss(w, w_hat):
    """L^p_rec = ‖W^p − Ŵ^p‖₂ (EDTalk Eq. 14): the L2 norm per frame, mean over frames and batch. (B, N, 6) each.
    The same form as L^m_fea (EDTalk Eq. 11)."""
    return lip_feature_loss(w, w_hat)


def temporal_loss(w, w_hat):
    """L_tem = 1/(N−1) Σ_{t≥1} ‖(w_t − w_{t−1}) − (ŵ_t − ŵ_{t−1})‖₂ (EDTalk Eq. 14), mean over the batch.

    Matches the frame-to-frame motion, not the positions. (B, N, K) each, N ≥ 2."""
    if w.shape[1] < 2:
        raise ValueError(f"L_tem needs N >= 2 frames, got {w.shape[1]}")
    return ((w[:, 1:] - w[:, :-1]) - (w_hat[:, 1:] - w_hat[:, :-1])).norm(dim=-1).mean()


def lip_feature_loss(w, w_hat):
    """L^m_fea = ‖W^m − Ŵ^m‖₂ (EDTalk Eq. 11): the L2 norm per frame, mean over frames. (..., 20) each."""
    return (w - w_hat).norm(dim=-1).mean()


def mse_reconstruction_loss(real, fake):
    """L^m_rec = ‖I − Î‖₂ (EDTalk Eq. 11), as the mean squared error per pixel. (B, 3, H, W) each."""
    return (real - fake).pow(2).mean()
