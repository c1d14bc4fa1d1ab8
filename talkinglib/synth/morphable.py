"""3DMM-lite: a small morphable head model, s = s̄ + U_id p_id + U_exp p_exp.

Implements: SYNTHTALK.md "3DMM-lite" and RETA Eq. 7 (the same linear shape model
that RETA's geometric bridge regresses coefficients of).

The head is a surface over a chart of (azimuth a, elevation e) in degrees on an
ellipsoid, split at the lip line into an `upper` and a `lower` part so that the
mouth can open (the two parts share the lip line at rest). Every displacement
field below is an analytic function of (a, e, part), so the same model is
evaluated
  - on a coarse grid of a few hundred vertices with a triangulation (the 3DMM
    that is exported and fitted), and
  - on dense point grids for the renderer (render.py), which therefore draws
    exactly the shape the coefficients describe.

Identity and expression bases are orthonormal over the vertices: the raw fields
F are factorised once, F = U R (reduced QR), so s = s̄ + F f = s̄ + U (R f) and the
3DMM coefficients are p = R f for the named factors f.
"""
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from talkinglib.synth.factors import EXPRESSION, MOUTH

# ---------------------------------------------------------------------------------------
# Layout constants of the chart (degrees) and of the head (world units, y up, z to camera)
RX, RY, RZ = 0.78, 1.0, 0.85    # ellipsoid radii of the skull
LIP_E = -31.0                   # elevation of the lip line (the upper/lower split)
MOUTH_W = 22.0                  # half-width of the mouth in azimuth
EYE_A, EYE_E = 18.0, 10.0       # eye centres at (±EYE_A, EYE_E)
EYE_HW, EYE_HH = 9.0, 4.5       # half-width / half-height of the eye opening
BROW_E = 22.0

IDENTITY = ("face_width", "face_length", "jaw_width", "nose", "eye_spacing",
            "mouth_width", "forehead", "cheeks", "chin")
# Per-frame coefficients of the expression basis: mouth, expression, blink.
EXP_FACTORS = MOUTH + EXPRESSION + ("blink",)


def _g(x, mu, sigma):
    """Gaussian bump exp(-((x - mu) / sigma)^2 / 2)."""
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2)


def _smoothstep(x, lo, hi):
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _mouth_profile(a):
    """J(a) = (1 - (a/W)^2)^0.7 inside the mouth, 0 outside: how far the lips part at a."""
    return np.clip(1 - (a / MOUTH_W) ** 2, 0, None) ** 0.7


def _eye_mask(a, e):
    """1 inside either eye opening (an ellipse in the chart), else 0."""
    d = np.minimum(((a - EYE_A) / EYE_HW) ** 2, ((a + EYE_A) / EYE_HW) ** 2) + ((e - EYE_E) / EYE_HH) ** 2
    return d < 1.0


def _eye_height(a):
    """Full height (degrees) of the eye opening at azimuth a (0 outside the eyes)."""
    u = np.minimum(np.abs(a - EYE_A), np.abs(a + EYE_A)) / EYE_HW
    return 2 * EYE_HH * np.sqrt(np.clip(1 - u ** 2, 0, None))


# ---------------------------------------------------------------------------------------
# Mean shape s̄ on the skin chart
def skin_rest(a, e):
    """Rest position s̄(a, e): ellipsoid + nose, eye sockets, lips, chin. (N,) -> (N, 3)."""
    ar, er = np.radians(a), np.radians(e)
    taper = 1 - 0.16 * _smoothstep(-e, 5, 50)                 # narrower lower face
    x = RX * np.cos(er) * np.sin(ar) * taper
    y = RY * np.sin(er)
    z = RZ * np.cos(er) * np.cos(ar)
    front = np.clip(np.cos(ar), 0, None)
    # nose: a ridge from the bridge (e=12) to the tip (e=-12), base at e=-17
    ridge = np.interp(e, [-17, -12, 0, 12, 18], [0.0, 0.17, 0.10, 0.03, 0.0])
    z = z + ridge * _g(a, 0, 5.0 + 0.25 * np.clip(-e, 0, 20)) * front
    z = z - 0.035 * (_g(a, EYE_A, 9) + _g(a, -EYE_A, 9)) * _g(e, EYE_E, 6) * front  # sockets
    z = z + 0.03 * _g(a, 0, 14) * _g(e, LIP_E, 5) + 0.03 * _g(a, 0, 10) * _g(e, -46, 7)  # lips, chin
    hair = _smoothstep(e, 30, 60) + _smoothstep(np.abs(a), 80, 110) * _smoothstep(e, -10, 10)
    scale = 1 + 0.05 * np.clip(hair, 0, 1)                   # hair volume
    return np.stack([x * scale, y * scale, z * scale], -1)


def _rest_gradient(a, e, da=1e-3):
    """Numerical tangents of s̄ along a and e (N, 3) each, for fields defined in the chart."""
    return ((skin_rest(a + da, e) - skin_rest(a - da, e)) / (2 * da),
            (skin_rest(a, e + da) - skin_rest(a, e - da)) / (2 * da))


# ---------------------------------------------------------------------------------------
# Identity fields F_id: (N, 3, K_id)
def identity_fields(a, e):
    p = skin_rest(a, e)
    x, y = p[:, 0], p[:, 1]
    zeros = np.zeros_like(x)
    face = _g(a, 0, 45)
    f = [
        np.stack([0.10 * x, zeros, zeros], -1),                                   # face_width
        np.stack([zeros, 0.08 * y, zeros], -1),                                   # face_length
        np.stack([0.12 * x * _smoothstep(-e, 5, 45), zeros, zeros], -1),          # jaw_width
        np.stack([zeros, zeros, 0.06 * _g(a, 0, 6) * _g(e, -6, 8)], -1),          # nose
        np.stack([0.035 * np.sign(a) * (_g(a, EYE_A, 10) + _g(a, -EYE_A, 10)) * _g(e, EYE_E, 10),
                  zeros, zeros], -1),                                             # eye_spacing
        np.stack([0.04 * np.clip(a / MOUTH_W, -1.3, 1.3) * _g(e, LIP_E, 7) * _g(a, 0, 30),
                  zeros, zeros], -1),                                             # mouth_width
        np.stack([zeros, 0.05 * _smoothstep(e, 0, 30) * face, zeros], -1),       # forehead
        np.stack([0.03 * np.sign(a), zeros, 0.04 * np.ones_like(a)], -1)
        * ((_g(a, 35, 14) + _g(a, -35, 14)) * _g(e, -10, 12))[:, None],          # cheeks
        np.stack([zeros, -0.02 * np.ones_like(a), 0.05 * np.ones_like(a)], -1)
        * (_g(a, 0, 12) * _g(e, -46, 8))[:, None],                                # chin
    ]
    return np.stack(f, -1)


# ---------------------------------------------------------------------------------------
# Expression fields F_exp: (N, 3, 15) = [mouth 4 | expression 10 | blink 1]
def expression_fields(a, e, part):
    """Displacements per unit of each factor in EXP_FACTORS. `part` is 'upper' or 'lower'."""
    n = len(a)
    F = np.zeros((n, 3, len(EXP_FACTORS)))
    low = 1.0 if part == "lower" else 0.0
    J = _mouth_profile(a)
    lipband = _g(e, LIP_E, 5) * _g(a, 0, MOUTH_W * 0.9)
    side = np.clip(a / MOUTH_W, -1, 1) * (1 - _smoothstep(np.abs(a), MOUTH_W, MOUTH_W + 12))
    corner_l, corner_r = _g(a, MOUTH_W, 8) * _g(e, LIP_E, 6), _g(a, -MOUTH_W, 8) * _g(e, LIP_E, 6)
    col = {k: i for i, k in enumerate(EXP_FACTORS)}

    # mouth: the lower part drops with the jaw (opening the lips), decaying towards the chin
    jaw = J * np.exp(-(((e - LIP_E) / 9.0) ** 2)) * low + 0.15 * J * _g(e, LIP_E, 4) * (1 - low)
    F[:, 1, col["jaw"]] = -0.26 * jaw * np.where(low > 0, 1.0, -0.1)
    F[:, 2, col["jaw"]] = -0.04 * jaw * low
    F[:, 0, col["spread"]] = 0.05 * side * _g(e, LIP_E, 6)
    F[:, 1, col["spread"]] = 0.008 * lipband * (1 if part == "lower" else -1)
    F[:, 0, col["round"]] = -0.05 * side * _g(e, LIP_E, 6)
    F[:, 2, col["round"]] = 0.045 * lipband
    F[:, 1, col["closure"]] = 0.02 * J * _g(e, LIP_E, 4) * (1 if part == "lower" else -0.5)
    F[:, 2, col["closure"]] = -0.01 * lipband

    # brows
    brow = lambda mu_a, sa: (_g(a, mu_a, sa) + _g(a, -mu_a, sa)) * _g(e, BROW_E, 7)
    F[:, 1, col["brow_inner_up"]] = 0.126 * brow(8, 7)
    F[:, 1, col["brow_outer_up"]] = 0.126 * brow(27, 8)
    F[:, 1, col["brow_lower"]] = -0.098 * brow(14, 11)
    F[:, 0, col["brow_lower"]] = -0.028 * np.sign(a) * brow(14, 11)
    # eyelids: the skin just above (lid_raise) or below (lid_squint) the opening
    near_eye = _g(a, EYE_A, EYE_HW) + _g(a, -EYE_A, EYE_HW)
    upper_lid = near_eye * _smoothstep(e, EYE_E, EYE_E + 2) * _g(e, EYE_E + EYE_HH, 5)
    lower_lid = near_eye * (1 - _smoothstep(e, EYE_E - 2, EYE_E)) * _g(e, EYE_E - EYE_HH, 4)
    F[:, 1, col["lid_raise"]] = 0.049 * upper_lid
    F[:, 1, col["lid_squint"]] = 0.049 * lower_lid - 0.0168 * upper_lid
    # mouth corners, stretch, cheeks
    F[:, 1, col["corner_up_left"]] = 0.098 * corner_l
    F[:, 0, col["corner_up_left"]] = 0.028 * corner_l
    F[:, 1, col["corner_up_right"]] = 0.098 * corner_r
    F[:, 0, col["corner_up_right"]] = -0.028 * corner_r
    F[:, 1, col["corner_down"]] = -0.084 * (corner_l + corner_r)
    F[:, 0, col["lip_stretch"]] = 0.084 * side * _g(e, LIP_E, 7) * _g(np.abs(a), MOUTH_W, 12)
    F[:, 1, col["lip_stretch"]] = -0.014 * (corner_l + corner_r)
    cheek = (_g(a, 28, 12) + _g(a, -28, 12)) * _g(e, -8, 10)
    F[:, 1, col["cheek_raise"]] = 0.056 * cheek + 0.028 * lower_lid
    F[:, 2, col["cheek_raise"]] = 0.042 * cheek
    # blink: the upper lid slides down over the opening: s̄(a, e - h(a)) - s̄(a, e)
    if part == "upper":
        h = _eye_height(a) * (e >= EYE_E) * (1 - _smoothstep(e, EYE_E + EYE_HH, BROW_E - 2))
        F[:, :, col["blink"]] = skin_rest(a, e - h) - skin_rest(a, e)
    return F


# ---------------------------------------------------------------------------------------
# Materials (what colour a chart point has); ids index a per-identity palette
MATERIALS = ("skin", "lips", "hair", "brow", "lash", "nostril", "sclera", "iris", "pupil",
             "cavity", "teeth", "tongue", "neck")
M = {k: i for i, k in enumerate(MATERIALS)}


def skin_material(a, e, part, hairline):
    mat = np.full(len(a), M["skin"], np.int64)
    aa = np.abs(a)
    # lips: upper lip above the line, lower lip below it, tapering to the corners
    t = np.sqrt(np.clip(1 - (a / MOUTH_W) ** 2, 0, None))
    lips = (e <= LIP_E + 4.5 * t) & (e >= LIP_E - 5.5 * t) & (aa < MOUTH_W)
    mat[lips] = M["lips"]
    nostril = (((aa - 5) / 2.6) ** 2 + ((e + 15.5) / 1.6) ** 2) < 1
    mat[nostril] = M["nostril"]
    e_b = BROW_E + 2.5 * np.sin(np.pi * np.clip((aa - 5) / 27, 0, 1))
    brow = (aa > 5) & (aa < 33) & (np.abs(e - e_b) < 2.2 - 0.8 * (aa - 5) / 28)
    mat[brow] = M["brow"]
    d = np.minimum(((a - EYE_A) / (EYE_HW + 0.8)) ** 2, ((a + EYE_A) / (EYE_HW + 0.8)) ** 2) \
        + ((e - EYE_E) / (EYE_HH + 1.2)) ** 2
    mat[(d < 1) & (e > EYE_E - 1.0)] = M["lash"]
    hl = hairline - (hairline + 15) * _smoothstep(aa, 70, 105)
    mat[e > hl] = M["hair"]
    return mat


# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MorphableModel:
    """The exported 3DMM-lite: s = s̄ + U_id p_id + U_exp p_exp over V vertices (RETA Eq. 7).

    mean (V, 3); U_id (3V, K_id) and U_exp (3V, K_exp) orthonormal; R_id, R_exp map the
    named factors f to coefficients p = R f; triangles (F, 3) int; chart (V, 3) = (a, e, part).
    """
    mean: np.ndarray
    U_id: np.ndarray
    U_exp: np.ndarray
    R_id: np.ndarray
    R_exp: np.ndarray
    triangles: np.ndarray
    chart: np.ndarray

    def shape(self, p_id, p_exp):
        """(K_id,), (..., K_exp) -> (..., V, 3) vertices."""
        s = self.mean.reshape(-1) + self.U_id @ p_id + np.asarray(p_exp) @ self.U_exp.T
        return s.reshape(*np.shape(p_exp)[:-1], -1, 3)

    def coefficients(self, id_factors, exp_factors):
        """Named factors -> 3DMM coefficients: p = R f."""
        return self.R_id @ id_factors, np.asarray(exp_factors) @ self.R_exp.T


def chart_grid(a_values, e_values):
    A, E = np.meshgrid(a_values, e_values)
    return A.reshape(-1), E.reshape(-1)


def _orthonormalise(F):
    """F (N, 3, K) -> U (3N, K) with orthonormal columns and R (K, K), F = U R, diag(R) > 0."""
    U, R = np.linalg.qr(F.reshape(-1, F.shape[-1]))
    s = np.sign(np.diag(R))
    return U * s, R * s[:, None]


@lru_cache(maxsize=1)
def build_morphable_model():
    """The 3DMM-lite over the face region: 25 azimuths x 25 elevations, few hundred vertices."""
    a_vals = np.linspace(-90, 90, 25)
    e_up, e_low = np.linspace(50, LIP_E, 17), np.linspace(LIP_E, -61, 8)
    parts, tris, offset = [], [], 0
    for name, e_vals in (("upper", e_up), ("lower", e_low)):
        a, e = chart_grid(a_vals, e_vals)
        parts.append((name, a, e))
        r, c = len(e_vals), len(a_vals)
        idx = np.arange(r * c).reshape(r, c) + offset
        quads = np.stack([idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]], -1).reshape(-1, 4)
        tris += [quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]]
        offset += r * c
    mean = np.concatenate([skin_rest(a, e) for _, a, e in parts])
    F_id = np.concatenate([identity_fields(a, e) for _, a, e in parts])
    F_exp = np.concatenate([expression_fields(a, e, n) for n, a, e in parts])
    U_id, R_id = _orthonormalise(F_id)
    U_exp, R_exp = _orthonormalise(F_exp)
    chart = np.concatenate([np.stack([a, e, np.full_like(a, n == "lower")], -1) for n, a, e in parts])
    return MorphableModel(mean.astype(np.float32), U_id.astype(np.float32), U_exp.astype(np.float32),
                          R_id.astype(np.float32), R_exp.astype(np.float32),
                          np.concatenate(tris).astype(np.int64), chart.astype(np.float32))
