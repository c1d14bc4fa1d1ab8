"""Component-aware Latent Navigation: the three banks of bases and their weight MLPs.

Implements: EDTalk §3.1, EDTalk Eq. 1:
    W^* = MLP^*(f^{*→r}),    f^{r→*} = Σ_i w^*_i b^*_i,    * ∈ {mouth m, pose p, expression e},
with the bases of all three banks mutually orthonormal ("we ensure orthogonality between the
three banks"), so that  f^{r→d} = f^{r→m} + f^{r→p} + f^{r→e}  mixes no component into another.

The bases are the columns of Q from ONE reduced QR of the concatenated learnable bank
matrix [B^m | B^p | B^e] (D, 20 + 6 + 10), plus 1e-8 as the official code adds. Householder QR
is column-sequential: Q[:, :k] depends on the first k bank columns only, so the mouth and pose
bases never depend on the expression bank (stage 3 cannot disturb them).

orthonormal_bases(W, method):
- "qr"            the official construction (torch.linalg.qr, Householder; column signs as LAPACK's);
- "gram_schmidt"  modified Gram-Schmidt: the same span and the same columns up to sign (teaching);
- "none"          the raw bank vectors: the "w/o Orthogonal" ablation (EDTalk Tab. 3).
The "w/o Bank" ablation (an MLP that outputs f^{r→*} directly) is EDTalkConfig(bank="direct").
"""
import torch
import torch.nn as nn

from talkinglib.models.layers.stylegan2 import EqualLinear

METHODS = ("qr", "gram_schmidt", "none")
QR_EPS = 1e-8                     # official: `weight = self.weight + 1e-8` before torch.qr


def gram_schmidt(W):
    """Modified Gram-Schmidt: W (D, K), full column rank -> Q (D, K) with QᵀQ = I, diag(R) > 0."""
    cols = []
    for k in range(W.shape[1]):
        v = W[:, k]
        for q in cols:                                   # remove the part along every earlier base
            v = v - (q @ v) * q
        cols.append(v / v.norm())
    return torch.stack(cols, dim=1)


def orthonormal_bases(W, method="qr"):
    """Bases b_i as columns, (D, K), from the bank matrix W (D, K). See the module docstring."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if W.dim() != 2 or W.shape[0] < W.shape[1]:
        raise ValueError(f"the bank matrix must be (D, K) with D >= K (one base per column); got {tuple(W.shape)}")
    if method == "none":
        return W
    dev = W.device.type if W.device.type in ("cuda", "cpu") else "cpu"
    with torch.autocast(dev, enabled=False):             # QR in float32 even under autocast
        W32 = W.float() + QR_EPS
        Q = torch.linalg.qr(W32, mode="reduced")[0] if method == "qr" else gram_schmidt(W32)
    return Q


class Bank(nn.Module):
    """Learnable bank vectors as the columns of `weight` (D, K) (official: `direction_*.weight`)."""

    def __init__(self, latent_dim, n):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(latent_dim, n))

    def reset_columns(self, cols):
        with torch.no_grad():
            self.weight[:, cols] = torch.randn_like(self.weight[:, cols])


class NavigationMLP(nn.Sequential):
    """MLP^*: f^{*→r} (B, D) -> W^* (B, K). Official: three EqualLinear layers without
    activations (so the map is affine). With bank="direct", K = D: the MLP outputs f^{r→*}."""

    def __init__(self, latent_dim, out_dim, depth=3):
        super().__init__(*[EqualLinear(latent_dim, latent_dim) for _ in range(depth - 1)],
                         EqualLinear(latent_dim, out_dim))

    def reset_parameters(self):
        for layer in self:
            layer.reset_parameters()
