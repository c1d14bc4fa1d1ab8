"""68-point landmarks (the iBUG/dlib layout) of the 3DMM-lite head, exact per frame.

Implements: SYNTHTALK.md "2D landmarks in the 68-point layout (jaw, brows, nose, eyes, mouth)".
Each landmark is a fixed point of the chart (a, e, part); its 3D position follows the same
identity and expression fields as the rendered surface, so landmarks and pixels agree.
Indices: jaw 0-16, right brow 17-21, left brow 22-26, nose 27-35, right eye 36-41,
left eye 42-47, outer lips 48-59, inner lips 60-67 ("right" = the subject's right = image left).
"""
import numpy as np
import torch

from talkinglib.synth import morphable as mm
from talkinglib.synth.render import DEFAULT_VIEW, View, pose_points

MOUTH_SLICE = slice(48, 68)


def _chart():
    pts = []                                                   # (a, e, is_lower)
    for a in np.linspace(-75, 75, 17):                         # jaw contour, chin at index 8
        e = -8 - 40 * (1 - (a / 80) ** 2)
        pts.append((a, e, e < mm.LIP_E))
    brow_e = lambda a: mm.BROW_E + 2.5 * np.sin(np.pi * np.clip((abs(a) - 5) / 27, 0, 1))
    for a in (-31, -25, -19, -13, -7, 7, 13, 19, 25, 31):
        pts.append((a, brow_e(a), 0))
    for e in (16, 8, 0, -9):                                   # nose bridge
        pts.append((0, e, 0))
    for a, e in ((-7, -15), (-3.5, -16), (0, -16.5), (3.5, -16), (7, -15)):
        pts.append((a, e, 0))
    top, bot = mm.EYE_E + 4.2, mm.EYE_E - 4.2
    for c in (-mm.EYE_A, mm.EYE_A):      # dlib order: left corner, upper lid, right corner, lower lid
        for dx, e in zip((-9, -3, 3, 9, 3, -3), (mm.EYE_E, top, top, mm.EYE_E, bot, bot)):
            pts.append((c + dx, e, 0))
    W, L = mm.MOUTH_W, mm.LIP_E
    t = lambda a: np.sqrt(max(0.0, 1 - (a / W) ** 2))
    for a in (-W, -14, -6, 0, 6, 14):                           # 48-53: corner, upper outer lip
        pts.append((a, L + 4.5 * t(a), 0))
    for a in (W, 14, 6, 0, -6, -14):                            # 54-59: corner, lower outer lip
        pts.append((a, L - 5.5 * t(a) if abs(a) < W else L, 1 if abs(a) < W else 0))
    for a in (-19, -8, 0, 8):                                   # 60-63: inner corner, upper inner lip
        pts.append((a, L, 0))
    for a in (19, 8, 0, -8):                                    # 64-67: inner corner, lower inner lip
        pts.append((a, L, 0 if abs(a) > 18 else 1))
    return np.array(pts, dtype=np.float64)


LANDMARK_CHART = _chart()                                       # (68, 3)
assert LANDMARK_CHART.shape == (68, 3)


def _fields():
    a, e, low = LANDMARK_CHART.T
    rest, F_id, F_exp = mm.skin_rest(a, e), mm.identity_fields(a, e), np.zeros((68, 3, len(mm.EXP_FACTORS)))
    for part, sel in (("upper", low == 0), ("lower", low == 1)):
        F_exp[sel] = mm.expression_fields(a[sel], e[sel], part)
    return rest, F_id, F_exp


_REST, _F_ID, _F_EXP = _fields()


def landmarks_3d(id_factors, exp_factors):
    """(K_id,), (T, 15) -> (T, 68, 3) head-frame positions: s̄ + F_id f_id + F_exp f_exp."""
    base = _REST + _F_ID @ np.asarray(id_factors, np.float64)
    return base[None] + np.einsum("nck,tk->tnc", _F_EXP, np.asarray(exp_factors, np.float64))


def landmarks_2d(id_factors, exp_factors, pose, size, view=DEFAULT_VIEW):
    """Projected landmarks in pixels of a `size`² image framed by `view`, (T, 68, 2) float32 (x right, y down)."""
    pts = torch.as_tensor(landmarks_3d(id_factors, exp_factors), dtype=torch.float32)
    uv, _, _ = pose_points(pts, torch.as_tensor(np.asarray(pose), dtype=torch.float32), view=View(*view))
    return (uv * size).numpy().astype(np.float32)
