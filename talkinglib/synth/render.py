"""Renderer for the 3DMM-lite head: pose, weak-perspective projection, Lambert shading,
z-buffered rasterisation of a dense surface sampling, and anti-aliasing by supersampling.

Implements: SYNTHTALK.md "3DMM-lite" (rendering at 64/128/256 px, 68-point landmarks).

How it draws. Each layer of the head (upper face, lower face, two eyeballs, mouth cavity,
neck) is a regular grid of surface samples in its chart, dense enough that neighbouring
samples land less than one sub-pixel apart. For every frame the samples are displaced
(s = s̄ + F_id f_id + F_exp f_exp), posed and projected; each sub-pixel keeps the nearest
sample (a scatter-min over an integer key depth·N + index, so ties resolve the same way
every run); sub-pixels are averaged down to the output size. The eye and mouth openings
are holes in the skin through which the recessed eyeball and cavity layers show.
"""
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numba
import numpy as np
import torch
import torch.nn.functional as F

from talkinglib.synth import morphable as mm



class View(NamedTuple):
    """The camera's framing: the image shows x in [-half, half] and y in [cy - half, cy + half]
    (head units; the face is about 1.7 tall). SynthConfig.view_half / view_cy choose it per dataset."""
    half: float = 1.15
    cy: float = -0.05


DEFAULT_VIEW = View()                        # the whole head, the top of the neck and some background
PIVOT = np.array([0.0, -0.35, -0.15])        # the head rotates about the top of the neck
LIGHT = np.array([-0.45, 0.5, 0.74]) / np.linalg.norm([-0.45, 0.5, 0.74])
NECK_FOLLOW = 0.3                            # the neck turns with 30 % of the head's rotation


@dataclass(frozen=True)
class Layer:
    """A grid of surface samples. rows x cols = N; arrays are float32 numpy."""
    name: str
    rows: int
    cols: int
    rest: np.ndarray        # (N, 3) mean-shape positions
    F_id: np.ndarray        # (N, 3, K_id)
    F_exp: np.ndarray       # (N, 3, K_exp)
    chart: np.ndarray       # (N, 2) (a, e) degrees, for materials
    keep: np.ndarray        # (N,) bool, False inside holes
    follow: float           # fraction of the head rotation applied
    normal_sign: float      # orients cross(d/da, d/de) outwards


def _linspace_count(lo, hi, per_unit):
    return np.linspace(lo, hi, max(2, int(np.ceil(abs(hi - lo) * per_unit)) + 1))


def _rows(bands, per_deg):
    """Elevations, top to bottom, for bands [(e_top, e_bottom, density multiplier)]."""
    rows = [_linspace_count(top, bottom, per_deg * k)[:-1] for top, bottom, k in bands]
    return np.concatenate(rows + [np.array([bands[-1][1]])])


def _skin_layer(part, a_vals, e_vals):
    a, e = mm.chart_grid(a_vals, e_vals)
    keep = ~mm._eye_mask(a, e) if part == "upper" else np.ones_like(a, bool)
    return Layer(part, len(e_vals), len(a_vals), mm.skin_rest(a, e), mm.identity_fields(a, e),
                 mm.expression_fields(a, e, part), np.stack([a, e], -1), keep, 1.0, -1.0)


def _cavity_layer(per_deg):
    a, e = mm.chart_grid(_linspace_count(-mm.MOUTH_W - 6, mm.MOUTH_W + 6, 2 * per_deg),
                         _linspace_count(mm.LIP_E + 3, mm.LIP_E - 22, 2.5 * per_deg))
    rest = mm.skin_rest(a, e) + np.array([0.0, 0.0, -0.09])
    F_exp = np.zeros((len(a), 3, len(mm.EXP_FACTORS)))
    jaw = mm.EXP_FACTORS.index("jaw")
    ramp = mm._smoothstep(-e, -mm.LIP_E + 1, -mm.LIP_E + 8)   # teeth stay, the floor drops
    F_exp[:, :, jaw] = mm.expression_fields(a, e, "lower")[:, :, jaw] * ramp[:, None]
    rows = len(np.unique(e))
    return Layer("cavity", rows, len(a) // rows, rest, mm.identity_fields(a, e), F_exp,
                 np.stack([a, e], -1), np.ones_like(a, bool), 1.0, -1.0)


def _eyeball_layer(sign, per_unit):
    u, v = mm.chart_grid(_linspace_count(-1, 1, per_unit * 0.15), _linspace_count(1, -1, per_unit * 0.14))
    anchor_a, anchor_e = np.array([sign * mm.EYE_A]), np.array([mm.EYE_E])
    centre = mm.skin_rest(anchor_a, anchor_e)[0] + np.array([0.0, 0.0, -0.02])
    rest = centre + np.stack([0.15 * u, 0.14 * v, -0.035 * (u ** 2 + v ** 2)], -1)   # larger than any opening
    n = len(u)
    F_id = np.repeat(mm.identity_fields(anchor_a, anchor_e), n, 0)   # moves rigidly with the socket
    rows = len(np.unique(v))
    return Layer(f"eye{'LR'[sign < 0]}", rows, n // rows, rest, F_id,
                 np.zeros((n, 3, len(mm.EXP_FACTORS))), np.stack([u, v], -1),
                 np.ones(n, bool), 1.0, -1.0)


def _neck_layer(per_deg, per_unit):
    a, y = mm.chart_grid(_linspace_count(-125, 125, per_deg * 0.55), _linspace_count(-0.45, -1.6, per_unit))
    ar = np.radians(a)
    rest = np.stack([0.40 * np.sin(ar), y, 0.40 * np.cos(ar) - 0.12], -1)
    n = len(a)
    rows = len(np.unique(y))
    return Layer("neck", rows, n // rows, rest, np.zeros((n, 3, len(mm.IDENTITY))),
                 np.zeros((n, 3, len(mm.EXP_FACTORS))), np.stack([a, y], -1), np.ones(n, bool),
                 NECK_FOLLOW, -1.0)


@lru_cache(maxsize=4)
def build_layers(size, supersample=2, density=1.0, half=DEFAULT_VIEW.half):
    """Sample every layer densely enough for a `size`² image rendered at `supersample`x, framed
    `half` head units either side of the centre (a closer view needs denser samples)."""
    subpx_per_unit = size * supersample / (2 * half)
    per_unit = subpx_per_unit * 1.0 * density                  # ~1 sub-pixel spacing (2x2 splats)
    per_deg = per_unit * np.radians(1.0) * mm.RZ
    a_vals = _linspace_count(-125, 125, per_deg)
    # rows are denser where expressions stretch the skin: the upper lids (a blink pulls the
    # lid over the whole opening, ~2.6x) and below the lips (the jaw drop, ~2x)
    e_upper = _rows([(90, mm.BROW_E + 14, 1), (mm.BROW_E + 14, mm.EYE_E - mm.EYE_HH, 3),
                     (mm.EYE_E - mm.EYE_HH, mm.LIP_E, 1)], per_deg)
    e_lower = _rows([(mm.LIP_E, mm.LIP_E - 16, 2), (mm.LIP_E - 16, -76, 1)], per_deg)
    layers = [
        _skin_layer("upper", a_vals, e_upper),
        _skin_layer("lower", a_vals, e_lower),
        _eyeball_layer(+1, per_unit), _eyeball_layer(-1, per_unit),
        _cavity_layer(per_deg), _neck_layer(per_deg, per_unit),
    ]
    return tuple(layers)


def rotation_matrices(yaw, pitch, roll):
    """Degrees (T,) -> R (T, 3, 3) = R_roll @ R_pitch @ R_yaw. +yaw turns the face to image right,
    +pitch tilts the face up, +roll tilts the head counter-clockwise in the image."""
    y, p, r = (torch.deg2rad(torch.as_tensor(v, dtype=torch.float32)) for v in (yaw, pitch, roll))
    c, s, o, z = torch.cos, torch.sin, torch.ones_like(y), torch.zeros_like(y)
    Ry = torch.stack([c(y), z, s(y), z, o, z, -s(y), z, c(y)], -1).view(-1, 3, 3)
    Rx = torch.stack([o, z, z, z, c(p), -s(p), z, s(p), c(p)], -1).view(-1, 3, 3)
    Rz = torch.stack([c(r), -s(r), z, s(r), c(r), z, z, z, o], -1).view(-1, 3, 3)
    return Rz @ Rx @ Ry


def pose_points(points, pose, follow=1.0, view=DEFAULT_VIEW):
    """points (T, N, 3), pose (T, 5) = [yaw, pitch, roll (deg), tx, ty (image fractions)]
    -> image-plane coordinates in [0, 1]² of `view` (T, N, 2) and depth z (T, N), larger is nearer."""
    R = rotation_matrices(pose[:, 0] * follow, pose[:, 1] * follow, pose[:, 2] * follow)
    pivot = torch.as_tensor(PIVOT, dtype=torch.float32)
    p = (points - pivot) @ R.transpose(1, 2) + pivot                     # (T, N, 3)
    u = p[..., 0] / (2 * view.half) + 0.5 + pose[:, None, 3]
    v = (view.cy - p[..., 1]) / (2 * view.half) + 0.5 + pose[:, None, 4]
    return torch.stack([u, v], -1), p[..., 2], R


def _normals(points, layer):
    """Surface normals of a posed grid layer, (T, N, 3)."""
    g = points.view(points.shape[0], layer.rows, layer.cols, 3)
    d_row, d_col = torch.gradient(g, dim=(1, 2))
    n = torch.linalg.cross(d_col, d_row, dim=-1) * layer.normal_sign
    return F.normalize(n, dim=-1, eps=1e-8).view(points.shape)


def _layer_materials(layer, identity):
    a, e = layer.chart[:, 0], layer.chart[:, 1]
    if layer.name in ("upper", "lower"):
        return mm.skin_material(a, e, layer.name, identity.hairline)
    if layer.name.startswith("eye"):
        r = np.hypot(0.15 * a, 0.14 * e)                       # distance from the eye centre
        return np.where(r < 0.018, mm.M["pupil"], np.where(r < 0.042, mm.M["iris"], mm.M["sclera"]))
    if layer.name == "cavity":
        return np.where(e > mm.LIP_E - 2.4, mm.M["teeth"], np.where(e < mm.LIP_E - 12, mm.M["tongue"], mm.M["cavity"]))
    return np.full(len(a), mm.M["neck"])


def prepare_identity(identity, size=64, supersample=2, view=DEFAULT_VIEW):
    """Identity-specific samples of every layer, concatenated (the head first, the neck last).

    Everything the renderer computes per sample is linear in these columns, so one matrix
    product gives every frame's projected positions (see `_projection_coefficients`):
    basis (N, 52) = [s̄_id (3) | 1 | F_exp x, y, z (3 x 15) | rest normal (3)].
    Also: normals (N, 3), albedo (N, 3), n_head.
    """
    from talkinglib.synth.identity import palette
    pal = torch.from_numpy(palette(identity))
    f_id = np.asarray(identity.factors, np.float64)
    rest, F_exp, normals, albedo = [], [], [], []
    for layer in build_layers(size, supersample, half=view.half):
        r = torch.from_numpy((layer.rest + layer.F_id @ f_id).astype(np.float32))   # s̄ + F_id f_id
        keep = torch.from_numpy(layer.keep)
        rest.append(r[keep])
        normals.append(_normals(r[None], layer)[0][keep])
        F_exp.append(torch.from_numpy(layer.F_exp.astype(np.float32))[keep])
        albedo.append(pal[torch.from_numpy(_layer_materials(layer, identity))][keep])
    n_head = sum(len(r) for r in rest[:-1])                                   # the neck is last
    rest, F_exp, normals, albedo = torch.cat(rest), torch.cat(F_exp), torch.cat(normals), torch.cat(albedo)
    # Most samples never move with expression: give them a 7-column basis (saves ~2/3 of the work)
    moving = (F_exp.abs().amax(dim=(1, 2)) > 2e-4)          # < 0.01 px at 256²
    moving[n_head:] = False
    head = torch.arange(len(rest)) < n_head
    groups = {"moving": moving, "still": head & ~moving, "neck": ~head}
    order = torch.cat([torch.nonzero(m)[:, 0] for m in groups.values()])
    rest, F_exp, normals, albedo = rest[order], F_exp[order], normals[order], albedo[order]
    basis = torch.cat([rest, torch.ones(len(rest), 1), F_exp.flatten(1), normals], 1)
    n_moving, n_head = int(moving.sum()), n_head
    return dict(basis_moving=basis[:n_moving].T.contiguous(),
                basis_still=basis[n_moving:, STILL_COLUMNS].T.contiguous(),
                normals=normals, albedo=albedo, n_moving=n_moving, n_head=n_head)


STILL_COLUMNS = [0, 1, 2, 3, 49, 50, 51]                   # rest xyz, 1, rest normal


def _projection_coefficients(f, pose, follow, view=DEFAULT_VIEW):
    """Per-frame coefficients C (4T, 52) such that C @ basis.T = [u; v; z; n_z] (each (T, N)).

    With p = s̄_id + Σ_k f_k F_k and p' = R (p - c) + c (c the pivot):
      u = p'_x / 2V + 1/2 + t_x,   v = (c_y' - p'_y) / 2V + 1/2 + t_y,   z = p'_z,   n_z = (R n)_z,
    with V = view.half and c_y' = view.cy.
    """
    R = rotation_matrices(pose[:, 0] * follow, pose[:, 1] * follow, pose[:, 2] * follow)   # (T, 3, 3)
    c = torch.as_tensor(PIVOT, dtype=torch.float32)
    Rc = R @ c                                                                 # (T, 3)
    V = view.half
    a = torch.stack([R[:, 0] / (2 * V), -R[:, 1] / (2 * V), R[:, 2]], 1)        # (T, 3 rows, 3 xyz)
    const = torch.stack([(c[0] - Rc[:, 0]) / (2 * V) + 0.5 + pose[:, 3],
                         (view.cy - c[1] + Rc[:, 1]) / (2 * V) + 0.5 + pose[:, 4],
                         c[2] - Rc[:, 2]], 1)                                  # (T, 3)
    T, K = f.shape
    C = torch.zeros(4, T, 52)
    C[:3, :, 0:3] = a.transpose(0, 1)
    C[:3, :, 3] = const.T
    C[:3, :, 4:4 + 3 * K] = (a[..., None] * f[:, None, None, :]).flatten(2).transpose(0, 1)  # a_j f_k
    C[3, :, 4 + 3 * K:] = R[:, 2]
    return C.view(4 * T, 52), R


@numba.njit(cache=True, nogil=True)
def _zbuffer(uvzn, still_basis, C_still, n_still_head, S):
    """Nearest sample per sub-pixel, (T, S*S) int32 (-1 where nothing was drawn).

    uvzn (4, T, N_moving): u, v (sub-pixels), depth z (larger is nearer) and n_z of the turned
    normal of the samples that move with expression, precomputed by one matrix product.
    The still samples' [u, v, z, n_z] = C_still[group, :, t] @ still_basis[:, n] are computed
    here on the fly (group 0: head, 1: neck), which saves writing them out.
    Samples are visited in index order and a tie keeps the first: the result is deterministic.
    """
    _, T, n_moving = uvzn.shape
    n_still = still_basis.shape[1]
    idx = np.full((T, S * S), -1, np.int32)
    depth = np.empty(S * S, np.float32)
    for t in range(T):
        depth[:] = -np.inf
        for n in range(n_moving + n_still):
            if n < n_moving:
                x, y, z, nz = uvzn[0, t, n], uvzn[1, t, n], uvzn[2, t, n], uvzn[3, t, n]
            else:
                j = n - n_moving
                g = 0 if j < n_still_head else 1
                x = y = z = nz = np.float32(0.0)
                for k in range(still_basis.shape[0]):
                    b = still_basis[k, j]
                    x += C_still[g, 0, t, k] * b
                    y += C_still[g, 1, t, k] * b
                    z += C_still[g, 2, t, k] * b
                    nz += C_still[g, 3, t, k] * b
            if nz <= -0.2:                             # facing away from the camera
                continue
            # splat to the 2x2 sub-pixels nearest the sample: closes the gaps that skin stretched by
            # an expression would open between samples (up to 2x the rest spacing)
            x0, y0 = int(np.floor(x - 0.5)), int(np.floor(y - 0.5))
            for yy in range(max(y0, 0), min(y0 + 2, S)):
                for xx in range(max(x0, 0), min(x0 + 2, S)):
                    b = yy * S + xx
                    if z > depth[b]:
                        depth[b] = z
                        idx[t, b] = n
    return idx


@numba.njit(cache=True, nogil=True)
def _shade(idx, R, normals, albedo, light, background, ss):
    """Lambert shading of the winning samples, averaged over ss x ss sub-pixels (anti-aliasing).
    colour = albedo * (0.42 + 0.62 max(0, (R n) . l)); returns float32 (T, S/ss, S/ss, 3)."""
    T, SS = idx.shape
    S = int(np.sqrt(SS))
    H = S // ss
    out = np.zeros((T, H, H, 3), np.float32)
    w = np.float32(1.0 / (ss * ss))
    for t in range(T):
        for py in range(S):
            for px in range(S):
                i = idx[t, py * S + px]
                if i < 0:
                    c0, c1, c2 = background[py, 0], background[py, 1], background[py, 2]
                else:
                    nl = 0.0
                    for r in range(3):                # (R n) . l
                        nl += (R[t, r, 0] * normals[i, 0] + R[t, r, 1] * normals[i, 1]
                               + R[t, r, 2] * normals[i, 2]) * light[r]
                    shade = 0.42 + 0.62 * max(nl, 0.0)
                    c0, c1, c2 = albedo[i, 0] * shade, albedo[i, 1] * shade, albedo[i, 2] * shade
                oy, ox = py // ss, px // ss
                out[t, oy, ox, 0] += w * c0
                out[t, oy, ox, 1] += w * c1
                out[t, oy, ox, 2] += w * c2
    return out


_BUFFERS = {}


def _buffer(shape):
    """A reused scratch tensor (fresh large allocations cost page faults on every chunk)."""
    if _BUFFERS.get("shape") != shape:
        _BUFFERS.update(shape=shape, tensor=torch.empty(shape))
    return _BUFFERS["tensor"]


def render(identity, exp_factors, pose, size=64, supersample=2, chunk=25, prepared=None, view=DEFAULT_VIEW):
    """Render frames of one identity.

    identity: Identity; exp_factors (T, 15) in morphable.EXP_FACTORS order; pose (T, 5); view: the
    framing (View; `prepared` must come from prepare_identity with the same view and size).
    Returns uint8 RGB frames (T, size, size, 3).
    """
    exp_factors = torch.as_tensor(np.asarray(exp_factors), dtype=torch.float32)
    pose = torch.as_tensor(np.asarray(pose), dtype=torch.float32)
    T = exp_factors.shape[0]
    if exp_factors.shape != (T, len(mm.EXP_FACTORS)) or pose.shape != (T, 5):
        raise ValueError(f"expected exp_factors (T, {len(mm.EXP_FACTORS)}) and pose (T, 5), "
                         f"got {tuple(exp_factors.shape)} and {tuple(pose.shape)}")
    view = View(*view)
    P = prepared or prepare_identity(identity, size, supersample, view)
    n_moving, n_head = P["n_moving"], P["n_head"]
    S = size * supersample
    top, bottom = (np.asarray(c, np.float32) for c in identity.background)
    ramp = np.linspace(0, 1, S, dtype=np.float32)[:, None]
    background = top * (1 - ramp) + bottom * ramp                           # (S, 3) per sub-pixel row
    light = np.asarray(LIGHT, np.float32)
    normals, albedo = P["normals"].numpy(), P["albedo"].numpy()
    scale = torch.tensor([S, S, 1.0, 1.0])                                    # u, v to sub-pixels

    basis_still = P["basis_still"].numpy()
    frames = []
    for t0 in range(0, T, chunk):
        f, ps = exp_factors[t0:t0 + chunk], pose[t0:t0 + chunk]
        n_t = f.shape[0]
        C_head, R = _projection_coefficients(f, ps, 1.0, view)               # (4 n_t, 52)
        C_neck, _ = _projection_coefficients(f, ps, NECK_FOLLOW, view)
        C_head = (C_head.view(4, n_t, -1) * scale[:, None, None])           # u, v in sub-pixels
        C_neck = (C_neck.view(4, n_t, -1) * scale[:, None, None])
        uvzn = _buffer((4 * n_t, n_moving))
        torch.matmul(C_head.reshape(4 * n_t, -1), P["basis_moving"], out=uvzn)   # (4 n_t, N_moving)
        C_still = torch.stack([C_head[..., STILL_COLUMNS], C_neck[..., STILL_COLUMNS]]).contiguous()
        idx = _zbuffer(uvzn.view(4, n_t, n_moving).numpy(), basis_still, C_still.numpy(),
                       n_head - n_moving, S)                                  # (T, S*S) winning sample
        img = _shade(idx, R.numpy(), normals, albedo, light, background, supersample)
        frames.append(np.floor(np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8))
    return np.concatenate(frames)
