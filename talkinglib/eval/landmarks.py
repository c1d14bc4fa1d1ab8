"""Landmark metrics: M-LMD and F-LMD (EDTalk §4.1, RETA D.4), AKD and AED (FOMM's reconstruction metrics).

    m, n = landmark_distance(lm_true, lm_fake, MOUTH, size)   # mean distance in pixels of a 256² frame, frames used
    lm = MeshLandmarks()(frames)                              # (T, 3, H, W) [-1, 1] -> (T, 68, 2), NaN: no face
    lm = readout_landmarks(probe(frames), meta, size)         # SynthTalk: the 68 points of the factors the probe reads

Where the landmarks come from:
- **Real data**: mediapipe's face mesh in the 68-point layout (data/landmarks.py) on the real
  and on the generated frames, as the papers run one detector on both.
- **SynthTalk**: the real frames' landmarks are the ground truth in meta.json. A detector would
  add its own bias (the face mesh misplaces SynthTalk's lips by about a quarter of the eye
  distance), so the generated frames' landmarks are SynthTalk's landmark model evaluated at
  the clip's identity and the mouth, expression and pose the factor probe reads from them
  (blinks at 0). The same read-out of the *real* frames gives the floor: the distance a perfect
  generator would score (`m_lmd_floor`, `f_lmd_floor`).

AKD is the mesh on both real and generated frames, all 68 points (on real data it is F-LMD).
AED needs an identity embedding network (FOMM uses a re-identification net, later papers ArcFace);
talkinglib ships none offline, so it is computed only when one is given (`identity_distance`).
Distances are in pixels of a 256² frame whatever the resolution, so tiny (64²) and full compare.
"""
import numpy as np
import torch

from talkinglib.data.landmarks import MOUTH

REFERENCE_SIZE = 256
ALL = slice(0, 68)


def landmark_distance(a, b, points=ALL, size=REFERENCE_SIZE):
    """Mean Euclidean distance of landmarks a, b (T, 68, 2) over `points` and the frames where both
    exist (no NaN), scaled to a 256² frame from `size`. Returns (distance, frames used)."""
    a, b = np.asarray(a, np.float64)[:, points], np.asarray(b, np.float64)[:, points]
    if a.shape != b.shape:
        raise ValueError(f"landmark shapes differ: {a.shape} and {b.shape}")
    ok = ~(np.isnan(a).any((1, 2)) | np.isnan(b).any((1, 2)))
    if not ok.any():
        return float("nan"), 0
    d = np.linalg.norm(a[ok] - b[ok], axis=-1).mean() * REFERENCE_SIZE / size
    return float(d), int(ok.sum())


def readout_landmarks(probe_out, meta, size):
    """SynthTalk's 68 landmarks (T, 68, 2) at the clip's identity and the factors the probe read:
    mouth (T, 4), expression (T, 10), pose (T, 5); blink 0. Framed as the clip (meta "view", if any)."""
    from talkinglib.synth.landmarks import landmarks_2d
    from talkinglib.synth.render import DEFAULT_VIEW
    mouth, expression, pose = (probe_out[k].detach().cpu().numpy() for k in ("mouth", "expression", "pose"))
    exp = np.concatenate([mouth, expression, np.zeros((len(mouth), 1))], 1)         # (T, 15)
    return landmarks_2d(meta["identity_params"]["factors"], exp, pose, size, view=meta.get("view", DEFAULT_VIEW))


class MeshLandmarks:
    """frames (T, 3, H, W) in [-1, 1] -> 68-point landmarks (T, 68, 2) in those frames' pixels.
    Frames under 256² are enlarged (bicubic) before the mesh, which is made for larger faces."""

    def __init__(self, min_size=REFERENCE_SIZE):
        from talkinglib.data.landmarks import FaceMesh
        self.mesh, self.min_size = FaceMesh(), min_size

    def __call__(self, frames):
        from PIL import Image
        from talkinglib.data.datasets import to_uint8_images
        from talkinglib.data.landmarks import landmarks_68
        images = to_uint8_images(frames)                                        # (T, H, W, 3)
        size = images.shape[1]
        up = max(1, -(-self.min_size // size))
        if up > 1:
            images = np.stack([np.asarray(Image.fromarray(img).resize((size * up, size * up), Image.BICUBIC))
                               for img in images])
        return landmarks_68(images, self.mesh) / up


@torch.no_grad()
def identity_distance(embed, real, fake):
    """AED: mean L2 distance of identity embeddings, embed: frames (T, 3, H, W) -> (T, D)."""
    return float((embed(real) - embed(fake)).norm(dim=-1).mean())


__all__ = ["MOUTH", "ALL", "landmark_distance", "readout_landmarks", "MeshLandmarks", "identity_distance"]
