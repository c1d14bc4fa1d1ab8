"""Batches for EDTalk's three video-driven stages, drawn by a seeded generator per step.

- `pairs`: (source, driving) frames of one identity, for E+G self-reconstruction (LIA-style).
- `mouth_pose`: frames a, b and an identity frame s of one identity, with landmarks, from
  neutral clips only (EDTalk A.3: the mouth-pose stage trains on emotion-agnostic data, so the
  pose bank does not absorb expression).
- `expression`: an identity frame and a window of K consecutive driving frames centred on I^d
  (EDTalk §3.2 "Expression Decouple": the K expression features are averaged).

Every batch depends only on the generator it is given, so a resumed run replays the same data.
Images are float32 (B, 3, H, W) in [-1, 1], windows (B, K, 3, H, W), landmarks (B, 68, 2) pixels.
"""
import numpy as np
import torch

from talkinglib.data import clips as clipio
from talkinglib.data.datasets import ClipStore, to_tensor_images
from talkinglib.data.mouth_swap import CHIN, OUTER_LIPS, MouthSwapConfig, mouth_mask

FACTORS = ("mouth", "pose", "expression")   # the ground truth pairs(factors=True) returns (SynthTalk only)
BROW_EYE = ((17, 18, 19, 20, 21, 36, 37, 38, 39, 40, 41),          # 68-point layout: one brow and its eye, per side
            (22, 23, 24, 25, 26, 42, 43, 44, 45, 46, 47))


def soft_mouth_region(landmarks, size):
    """(B, 1, size, size) soft mouth region (lips and the chin below them) from 68-point landmarks
    (B, 68, 2) in pixels: where the tiny aid w_mouth weighs the L1."""
    return mouth_mask(landmarks[:, OUTER_LIPS], landmarks[:, list(CHIN)], size, MouthSwapConfig())


def soft_eye_region(landmarks, size):
    """(B, 1, size, size): soft ellipses around each brow and its eye, from 68-point landmarks
    (B, 68, 2) in pixels: where the tiny aid w_eyes weighs the L1 (SynthTalk's expression shows there)."""
    cfg = MouthSwapConfig(margin=1.6)                                # the ellipse reaches the box's corners (brow ends)
    sides = [landmarks[:, list(idx)] for idx in BROW_EYE]
    return torch.maximum(*(mouth_mask(p, p, size, cfg) for p in sides))   # chin = the points: no reach down


class EDTalkBatches:
    """Frames of one split, indexed by identity. `extra` adds frames of further identities
    (uint8 (N, H, W, 3) in blocks of `extra_block` frames per identity, e.g. SynthTalk's random
    probe frames) to the self-reconstruction pairs only: they have no landmarks or clips.
    `extra_factors` ({"mouth" (N, 4), "pose" (N, 5)}) are their ground truth, for factors=True."""

    def __init__(self, root, split="train", extra=None, extra_block=None, extra_factors=None):
        self.store = ClipStore(root, split)
        metas = self.store.metas
        self.num_frames = np.array([m["num_frames"] for m in metas])
        self.landmarks = [np.asarray(m["landmarks"], np.float32) for m in metas]     # (T, 68, 2) each
        self.emotion = [m["emotion"] for m in metas]
        ids = sorted(set(m["identity"] for m in metas))
        self.identities = ids
        self.clips_of = {i: [c for c, m in enumerate(metas) if m["identity"] == i] for i in ids}
        # emotion-agnostic clips: labelled neutral, or unlabelled (HDTF-style real data has no emotion)
        self.neutral_of = {i: [c for c in cs if self.emotion[c] in ("neutral", None)] for i, cs in self.clips_of.items()}
        missing = [i for i, cs in self.neutral_of.items() if not cs]
        if missing:
            raise ValueError(f"identities {missing[:5]} of {root} have no neutral (or unlabelled) clip; the "
                             "mouth-pose stage trains on emotion-agnostic clips only (EDTalk A.3)")
        self.extra, self.extra_block, self.extra_factors = extra, extra_block, extra_factors
        if extra is not None and (extra_block is None or len(extra) % extra_block):
            raise ValueError(f"extra frames ({len(extra)}) must come in whole blocks of extra_block={extra_block}")
        self._factors = None

    def factors(self):
        """SynthTalk's per-frame truth of every clip, [{"mouth" (T, 4), "pose" (T, 5), "expression" (T, 10)}],
        and its standardisation over the split {name: (mean, std)}. Real clips have
        none: a clear error says so (the aids that need it are SynthTalk-only)."""
        if self._factors is None:
            from talkinglib.data.datasets import frame_factors
            try:
                per_clip = [{k: frame_factors(m)[k] for k in FACTORS} for m in self.store.metas]
            except clipio.ClipFormatError as e:
                raise clipio.ClipFormatError(f"{e}. Set the ground-truth aids off (w_factors=0) for real data") from e
            stats = {}
            for k in FACTORS:
                allv = np.concatenate([f[k] for f in per_clip])
                stats[k] = (allv.mean(0), allv.std(0) + 1e-6)
            self._factors = (per_clip, stats)
        return self._factors

    # -- helpers ---------------------------------------------------------------------------
    def _standardised(self, truth, k):
        """(B, n) float32 tensor: factor k of each truth dict, standardised over the split (factors())."""
        mean, std = self.factors()[1][k]
        return torch.from_numpy(((np.stack([t[k] for t in truth]) - mean) / std).astype(np.float32))

    def _frame(self, c, t):
        return self.store.frames(c)[t]                                   # (H, W, 3) uint8

    def _randint(self, g, n):
        return int(torch.randint(n, (1,), generator=g))

    def _pick(self, g, seq):
        return seq[self._randint(g, len(seq))]

    # -- stage batches ---------------------------------------------------------------------
    def pairs(self, g, batch_size, extra_fraction=0.5, same_fraction=0.0, factors=False, landmarks=False):
        """{"source", "driving"} (B, 3, H, W): two frames of one identity (any of its clips), and
        "mouth" (B, 1, H, W): the driving frame's soft mouth mask from its landmarks (all zero for
        extra frames, which have none).

        same_fraction: the share of pairs whose driving frame is the source frame itself (drawn
        only when > 0, so the default keeps the batches of earlier runs). factors=True adds the
        driving frame's standardised truth, "mouth_factors" (B, 4), "pose_factors" (B, 5) and
        "expression_factors" (B, 10).
        landmarks=True adds both frames' landmarks, "lm_source" and "lm_driving" (B, 68, 2) pixels,
        and "has_landmarks" (B,) bool (False, with zeros, for extra frames). The draws are the same
        with or without factors and landmarks."""
        if factors:
            per_clip = self.factors()[0]
            if self.extra is not None and self.extra_factors is None:
                raise ValueError("factors=True with extra frames needs their extra_factors")
        src, drv, lms, src_lms, truth, sames = [], [], [], [], [], []
        for _ in range(batch_size):
            use_extra = self.extra is not None and float(torch.rand((), generator=g)) < extra_fraction
            same = same_fraction > 0 and float(torch.rand((), generator=g)) < same_fraction
            sames.append(same)
            if use_extra:
                block = self._randint(g, len(self.extra) // self.extra_block) * self.extra_block
                i, j = (block + self._randint(g, self.extra_block) for _ in range(2))
                j = i if same else j
                src.append(self.extra[i])
                drv.append(self.extra[j])
                lms.append(None)
                src_lms.append(None)
                if factors:
                    truth.append({k: self.extra_factors[k][j] for k in FACTORS})
            else:
                ident = self._pick(g, self.identities)
                for out in (src, drv):
                    c = self._pick(g, self.clips_of[ident])
                    t = self._randint(g, self.num_frames[c])
                    out.append(self._frame(c, t))
                    if out is src:
                        src_lms.append(self.landmarks[c][t])
                    if same:
                        drv.append(src[-1])
                        break
                lms.append(self.landmarks[c][t])                          # the driving frame's
                if factors:
                    truth.append({k: per_clip[c][k][t] for k in FACTORS})
        size = src[0].shape[0]
        mouth = torch.zeros(batch_size, 1, size, size)
        known = [k for k, lm in enumerate(lms) if lm is not None]
        if known:
            lm = torch.from_numpy(np.stack([lms[k] for k in known]))    # (B', 68, 2) pixels
            mouth[known] = soft_mouth_region(lm, size)
        batch = {"source": to_tensor_images(np.stack(src)), "driving": to_tensor_images(np.stack(drv)),
                 "mouth": mouth, "same": torch.tensor(sames)}
        if landmarks:
            zero = np.zeros((68, 2), np.float32)
            batch["has_landmarks"] = torch.tensor([lm is not None for lm in lms])
            for key, seq in (("lm_source", src_lms), ("lm_driving", lms)):
                batch[key] = torch.from_numpy(np.stack([zero if lm is None else lm for lm in seq]))
        for k in FACTORS if factors else ():
            batch[f"{k}_factors"] = self._standardised(truth, k)
        return batch

    def mouth_pose(self, g, batch_size, factors=False, all_clips=False):
        """{"a", "b", "source"} (B, 3, H, W) and {"lm_a", "lm_b"} (B, 68, 2): neutral frames of one identity
        (all_clips=True: a and b from any of its clips, every emotion; the source stays neutral).
        factors=True adds a's and b's standardised truth, "mouth_a", "pose_a", "mouth_b", "pose_b"
        ((B, 4), (B, 5); SynthTalk only, as pairs(factors=True)). The draws are the same either way."""
        if factors:
            per_clip = self.factors()[0]
        out = {k: [] for k in ("a", "b", "source", "lm_a", "lm_b")}
        truth = {k: [] for k in ("a", "b")}
        for _ in range(batch_size):
            ident = self._pick(g, self.identities)
            for key in ("a", "b", "source"):
                c = self._pick(g, self.clips_of[ident] if all_clips and key != "source" else self.neutral_of[ident])
                t = self._randint(g, self.num_frames[c])
                out[key].append(self._frame(c, t))
                if key != "source":
                    out["lm_" + key].append(self.landmarks[c][t])
                    if factors:
                        truth[key].append({k: per_clip[c][k][t] for k in FACTORS})
        batch = {k: to_tensor_images(np.stack(out[k])) for k in ("a", "b", "source")}
        batch.update({k: torch.from_numpy(np.stack(out[k])) for k in ("lm_a", "lm_b")})
        for key in truth if factors else ():
            for k in FACTORS:
                batch[f"{k}_{key}"] = self._standardised(truth[key], k)
        return batch

    def expression(self, g, batch_size, window, factors=False):
        """{"source" (B, 3, H, W), "window" (B, K, 3, H, W), "driving" (B, 3, H, W) = the window's centre,
        "mouth", "eyes" (B, 1, H, W): the driving frame's soft mouth and brow-and-eye masks from its landmarks}.

        The source is a frame of the same identity from a different clip, so it differs from the
        driving frame in mouth, pose and (unless both are neutral) expression. factors=True adds
        "expression_factors" (B, 10): the window's standardised true expression, averaged over its K
        frames as ELN's f^{r→e} is (SynthTalk only, as pairs(factors=True)). The draws are the same either way.
        """
        per_clip = self.factors()[0] if factors else None
        src, win, truth, lms = [], [], [], []
        for _ in range(batch_size):
            ident = self._pick(g, self.identities)
            c = self._pick(g, self.clips_of[ident])
            others = [o for o in self.clips_of[ident] if o != c] or [c]
            cs = self._pick(g, others)
            src.append(self._frame(cs, self._randint(g, self.num_frames[cs])))
            start = self._randint(g, self.num_frames[c] - window + 1)
            win.append(self.store.frames(c)[start:start + window])
            lms.append(self.landmarks[c][start + window // 2])                # the driving frame's
            if factors:
                truth.append({"expression": per_clip[c]["expression"][start:start + window].mean(0)})
        window_t = to_tensor_images(np.stack(win))                          # (B, K, 3, H, W)
        size, lm = window_t.shape[-1], torch.from_numpy(np.stack(lms))     # (B, 68, 2) pixels
        batch = {"source": to_tensor_images(np.stack(src)), "window": window_t, "driving": window_t[:, window // 2],
                 "mouth": soft_mouth_region(lm, size), "eyes": soft_eye_region(lm, size)}
        if factors:
            batch["expression_factors"] = self._standardised(truth, "expression")
        return batch
