"""RETA's geometric prior: audio -> 3DMM expression -> meshes -> motion feature, differentiably.

Implements: RETA §3.1 "Geometric Prior Learning" and Appendix C.1, RETA Eq. 7:
    p^exp_t = D(f_A)                         motion decoder, a TCN                  (B, T, n)
    s_t     = s̄ + U^id p^id + U^exp p^exp_t  3DMM, p^id fixed at the mean face (0)  (B, T, V, 3)
    f_M     = E_M(s_{1:T})                   motion encoder, a light CNN over time  (B, T, D)
Neither p^exp nor the meshes are supervised: the only gradient they get comes through f_M
from the rendered frames (the "differentiable bridge"). `lip_vertex_error` compares them with
SynthTalk's ground-truth meshes as a diagnostic only (LVE-style); since nothing ties p^exp to
the 3DMM's own coefficient scale, a large value there is expected and harmless.

The 3DMM is a buffer, never trained: SynthTalk's 3DMM-lite (`Morphable3DMM.synthtalk()`, the
model that renders the dataset) or a user's file (`Morphable3DMM.from_file`, e.g. a BFM export)
with mean shape, identity basis, expression basis and triangles.

bridge="direct" is RETA Tab. 4's "w/o 3DMM": "a direct prediction from a simple decoder", a TCN
from f_A straight to f_M with no 3DMM in between.
E_M's last layer starts at zero, so f_M = 0 at initialisation and the generator starts from the
source image (f_CTRL = f_STY, models/reta.py).
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from talkinglib.errors import InputError
from talkinglib.models.layers.tcn import TCN

BRIDGES = ("3dmm", "direct")

# field names accepted by Morphable3DMM.from_file, first match wins: our own, then common exports
# (Basel Face Model 2009 'shapeMU'/'shapePC'/'tl', which has no expression basis: the exports below
# add one; Deep3DFaceRecon's BFM_model_front.mat 'meanshape'/'idBase'/'exBase'/'tri'; 3DDFA's
# 'u'/'w_shp'/'w_exp'; 'expPC' as in BFM exports that append an expression PCA)
FIELDS = {
    "mean": ("mean_shape", "meanshape", "shapeMU", "u"),
    "id": ("id_basis", "idBase", "shapePC", "w_shp"),
    "exp": ("exp_basis", "exBase", "expPC", "w_exp"),
    "triangles": ("triangles", "tri", "tl", "face"),
}


class ThreeDMMFileError(InputError):
    """A 3DMM file that lacks a field or has inconsistent shapes; the message lists what is accepted."""


class Morphable3DMM(nn.Module):
    """s = s̄ + U^id p^id + U^exp p^exp over V vertices. mean (V, 3), U_id (3V, K_id), U_exp (3V, K_exp);
    rows of U are vertex-major (x_0, y_0, z_0, x_1, ...). lip: (V,) bool, the lip vertices (may be empty)."""

    def __init__(self, mean, U_id, U_exp, triangles=None, lip=None):
        super().__init__()
        mean = torch.as_tensor(np.asarray(mean), dtype=torch.float32)
        V = mean.shape[0]
        U_id = torch.as_tensor(np.asarray(U_id), dtype=torch.float32)
        U_exp = torch.as_tensor(np.asarray(U_exp), dtype=torch.float32)
        if mean.dim() != 2 or mean.shape[1] != 3 or U_id.shape[0] != 3 * V or U_exp.shape[0] != 3 * V:
            raise ThreeDMMFileError(f"inconsistent 3DMM shapes: mean {tuple(mean.shape)} (want (V, 3)), "
                                    f"U_id {tuple(U_id.shape)} and U_exp {tuple(U_exp.shape)} (want (3V, K))")
        self.register_buffer("mean", mean)
        self.register_buffer("U_id", U_id)
        self.register_buffer("U_exp", U_exp)
        tri = np.zeros((0, 3), np.int64) if triangles is None else np.asarray(triangles, np.int64)
        self.register_buffer("triangles", torch.as_tensor(tri))
        lip = np.zeros(V, bool) if lip is None else np.asarray(lip, bool)
        self.register_buffer("lip", torch.as_tensor(lip))

    @property
    def num_vertices(self):
        return self.mean.shape[0]

    @property
    def exp_dim(self):
        return self.U_exp.shape[1]

    def shapes(self, p_exp, p_id=None):
        """RETA Eq. 7: p_exp (..., K_exp), p_id (K_id,) or None = the mean face -> (..., V, 3)."""
        if p_exp.shape[-1] != self.exp_dim:
            raise ValueError(f"p_exp must have {self.exp_dim} coefficients (this 3DMM's U_exp); got {p_exp.shape[-1]}")
        s = self.mean.reshape(-1) + p_exp @ self.U_exp.T                    # (..., 3V)
        if p_id is not None:
            s = s + self.U_id @ p_id
        return s.reshape(*p_exp.shape[:-1], self.num_vertices, 3)

    @classmethod
    def synthtalk(cls):
        """SynthTalk's 3DMM-lite (synth/morphable.py), with its lip vertices marked."""
        from talkinglib.synth.morphable import LIP_E, MOUTH_W, build_morphable_model
        mm = build_morphable_model()
        a, e = mm.chart[:, 0], mm.chart[:, 1]
        lip = (np.abs(a) <= MOUTH_W) & (np.abs(e - LIP_E) <= 8.0)          # the lips and the lip line
        return cls(mm.mean, mm.U_id, mm.U_exp, mm.triangles, lip)

    @classmethod
    def from_file(cls, path):
        """A 3DMM from .npz or .mat (scipy). Accepted field names: FIELDS (mean, identity basis,
        expression basis, triangles; optional 'lip_vertices' indices). Shapes: mean (V, 3), (3V,),
        (1, 3V) or (3V, 1); bases (3V, K). Triangles may be 1-based (MATLAB); they are shifted."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no 3DMM file at {path}")
        if path.suffix == ".npz":
            data = dict(np.load(path))
        elif path.suffix == ".mat":
            from scipy.io import loadmat
            data = {k: v for k, v in loadmat(str(path)).items() if not k.startswith("__")}
        else:
            raise ThreeDMMFileError(f"{path}: a 3DMM must be .npz or .mat, got '{path.suffix}'")
        found, missing = {}, []
        for field, names in FIELDS.items():
            name = next((n for n in names if n in data), None)
            if name is None:
                missing.append(f"{field} (any of {', '.join(names)})")
            else:
                found[field] = np.asarray(data[name])
        if missing:
            raise ThreeDMMFileError(f"{path} lacks 3DMM fields: {'; '.join(missing)}. It has: "
                                    f"{', '.join(sorted(data)) or 'nothing'}. Rename the arrays, or export "
                                    "mean_shape (V, 3), id_basis (3V, K_id), exp_basis (3V, K_exp), triangles (F, 3).")
        mean = found["mean"].astype(np.float32).reshape(-1, 3)
        tri = found["triangles"].astype(np.int64)
        if tri.ndim != 2 or 3 not in tri.shape:
            raise ThreeDMMFileError(f"{path}: triangles must be (F, 3); got {tri.shape}")
        tri = tri if tri.shape[1] == 3 else tri.T
        one_based = tri.max() == len(mean)                                  # MATLAB's 1-based indices
        tri = tri - 1 if one_based else tri
        if tri.min() < 0 or tri.max() >= len(mean):
            raise ThreeDMMFileError(f"{path}: triangle indices run {tri.min()}..{tri.max()} for {len(mean)} vertices")
        lip = None
        if "lip_vertices" in data:
            idx = np.asarray(data["lip_vertices"]).reshape(-1).astype(np.int64) - int(one_based)
            if idx.min() < 0 or idx.max() >= len(mean):
                raise ThreeDMMFileError(f"{path}: lip_vertices run {idx.min()}..{idx.max()} for {len(mean)} vertices")
            lip = np.zeros(len(mean), bool)
            lip[idx] = True
        return cls(mean, found["id"].astype(np.float32), found["exp"].astype(np.float32), tri, lip)


@dataclass(frozen=True)
class BridgeConfig:
    bridge: str = "3dmm"         # "3dmm" | "direct" (RETA Tab. 4 "w/o 3DMM")
    tdmm: str | None = None      # a 3DMM file (Morphable3DMM.from_file); None: SynthTalk's 3DMM-lite
    hidden: int = 128            # D: TCN width
    blocks: int = 3              # D: dilations 1, 2, 4
    encoder_hidden: int = 256    # E_M width
    motion_dim: int = 512        # f_M: the generator's latent size D
    offset_norm: bool = False    # ours, not in RETA: E_M reads the vertex offsets divided by their RMS under p^exp ~ N(0, I)
                                 # (rms = sqrt(mean(U^exp²)·K_exp)), so a unit change of p^exp is a unit change of
                                 # E_M's input. SynthTalk's 3DMM-lite has U^exp entries of about 0.004: raw, E_M's input
                                 # barely moves (f_M's std over time 0.0013 after training, "asleep")

    def __post_init__(self):
        if self.bridge not in BRIDGES:
            raise ValueError(f"BridgeConfig.bridge must be one of {BRIDGES}, got {self.bridge!r}")


class MotionEncoder(nn.Module):
    """E_M: meshes (B, T, V, 3) -> f_M (B, T, D). A per-frame linear map of the vertex offsets
    s_t − s̄ (subtracting the constant s̄ is only a bias), then two temporal convolutions."""

    def __init__(self, num_vertices, hidden, out_dim):
        super().__init__()
        self.inp = nn.Conv1d(3 * num_vertices, hidden, 1)
        self.conv1 = nn.Conv1d(hidden, hidden, 3, padding=1)
        self.conv2 = nn.Conv1d(hidden, hidden, 3, padding=1)
        self.out = nn.Conv1d(hidden, out_dim, 1)
        nn.init.zeros_(self.out.weight)                                  # f_M = 0 at initialisation
        nn.init.zeros_(self.out.bias)

    def forward(self, offsets):
        B, T = offsets.shape[:2]
        h = self.inp(offsets.reshape(B, T, -1).transpose(1, 2))          # (B, hidden, T)
        h = h + self.conv2(F.gelu(self.conv1(F.gelu(h))))
        return self.out(F.gelu(h)).transpose(1, 2)                       # (B, T, D)


class GeometricPrior(nn.Module):
    """f_A (B, T, C_A) -> {"f_M" (B, T, D), "p_exp" (B, T, n), "meshes" (B, T, V, 3)}; with
    bridge="direct" only "f_M"."""

    def __init__(self, audio_dim, cfg: BridgeConfig = BridgeConfig(), mm: Morphable3DMM | None = None):
        super().__init__()
        self.cfg = cfg
        if cfg.bridge == "3dmm":
            if mm is None:
                mm = Morphable3DMM.from_file(cfg.tdmm) if cfg.tdmm else Morphable3DMM.synthtalk()
            self.mm = mm
            self.decoder = TCN(audio_dim, cfg.hidden, self.mm.exp_dim, cfg.blocks)          # D
            self.encoder = MotionEncoder(self.mm.num_vertices, cfg.encoder_hidden, cfg.motion_dim)   # E_M
        else:
            self.direct = TCN(audio_dim, cfg.hidden, cfg.motion_dim, cfg.blocks)
            nn.init.zeros_(self.direct.out.weight)
            nn.init.zeros_(self.direct.out.bias)

    def forward(self, f_a):
        if self.cfg.bridge == "direct":
            return {"f_M": self.direct(f_a)}
        p_exp = self.decoder(f_a)                                        # (B, T, n)
        meshes = self.mm.shapes(p_exp)                                   # (B, T, V, 3), p_id = mean face
        offsets = meshes - self.mm.mean
        if self.cfg.offset_norm:                                         # ours: unit scale per unit of p^exp
            offsets = offsets / self.mm.U_exp.pow(2).mean().mul(self.mm.exp_dim).sqrt()
        f_m = self.encoder(offsets)                                      # (B, T, D)
        return {"f_M": f_m, "p_exp": p_exp, "meshes": meshes}


@torch.no_grad()
def lip_vertex_error(mm: Morphable3DMM, p_exp_pred, p_exp_true):
    """LVE-style diagnostic: per frame, the largest L2 distance over the lip vertices between the
    meshes of two expression sequences (both on the mean identity), averaged over frames.
    p_exp_*: (..., T, n). In the 3DMM's units (SynthTalk: the head's radius is 1)."""
    if not bool(mm.lip.any()):
        raise ValueError("this 3DMM marks no lip vertices (give 'lip_vertices' in the file)")
    d = (mm.shapes(p_exp_pred) - mm.shapes(p_exp_true))[..., mm.lip, :].norm(dim=-1)    # (..., T, V_lip)
    return float(d.amax(-1).mean())
