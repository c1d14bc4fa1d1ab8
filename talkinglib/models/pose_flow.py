"""φ_p: a conditional normalizing flow over pose-bank weights, paced by audio (EDTalk §3.3, A.1).

Implements: EDTalk Eqs. 13, A1 and A2. A pose sequence W^p (B, N, 6) and audio features f^a_{1:N}
(B, N, Da) from E_a (the Audio2Lip encoder architecture, its own weights). K flow steps, each
    actnorm          h'  = (h - μ) / δ                  μ, δ from the first batch (data-dependent init)
    invertible 1×1   h'' = W h'                          W (6, 6), initialised a random rotation
    coupling         t, s = F(h''_{h1}, f^a_{1:N});  h = [h''_{h1}, (h''_{h2} + t) ⊙ s]
with F a transformer encoder over the N frames (each frame sees the whole sequence of h''_{h1}
and f^a), and s = sigmoid(·+2) > 0 (Glow's bounded scale). Every step is invertible given f^a:
    z = φ_p^{-1}(W^p, f^a)  (EDTalk Eq. A1, `to_latent`)      Ŵ^p = φ_p(ẑ, f^a)  (EDTalk Eq. A2, `from_latent`)
and log|det ∂z/∂W^p| is the sum of the three steps' terms: −N Σ log δ, N log|det W|, Σ log s.
L_MLE (EDTalk Eq. 13) = −Σ_t log N(z_t; 0, I) − log|det|: the change of variables makes that
density of z a density of W^p. Sampling: ẑ ~ N(0, τ² I), τ the temperature.

    flow = PoseFlow(PRESETS["tiny"])
    z, logdet = flow.to_latent(w_pose, mel)          # (B, N, 6), (B,)
    w_hat = flow.sample(mel, batch=1, frames=N, temperature=0.8)
"""
import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from talkinglib.models.audio2lip import AudioEncoder


@dataclass(frozen=True)
class PoseFlowConfig:
    pose_dim: int = 6               # the pose bank's K (EDTalkConfig.pose_dim)
    audio_width: int = 32           # E_a base width (Audio2Lip's layout): f^a has 16 × width channels
    steps: int = 8                  # K flow steps (the paper does not give K)
    hidden: int = 256               # transformer width of F
    heads: int = 4
    layers: int = 2                 # transformer layers per coupling
    scale_shift: float = 2.0        # s = sigmoid(raw + shift): starts near 0.88, bounded in (0, 1)
    prior: str = "normal"           # the density of z: "normal" is EDTalk Eq. 13's N(0, I), every frame independent;
                                    # "ar1" (ours, not in EDTalk) keeps N(0, 1) per frame but links frames by a
                                    # learned AR(1), z_t = ρ z_{t-1} + sqrt(1 − ρ²) ε_t per channel (ρ starts at 0:
                                    # EDTalk Eq. 13), so a sample at τ = 1 inherits the smoothness MLE finds left in z
    context: int = 0                # frames F's transformer sees around each frame: the training N (set by the
                                    # audio2pose stage). A longer sequence is read through N-frame windows, as
                                    # trained; 0 reads it whole (a flow trained on 25 frames then maps the W^p
                                    # of a 75-frame clip to z with std ≈ 20, not 1: out of its distribution)


PRESETS = {
    # tiny: the AR(1) prior (ours). With EDTalk Eq. 13's N(0, I) the 4-step tiny flow's samples at τ = 1 moved 2.5, 1.5
    # and 1.0 times as fast as real heads (yaw, pitch, roll; 8000 steps): MLE leaves z far from white (the
    # learned ρ rises to 0.98-0.99 within 2000 steps), and independent ẑ_t adds that jitter back
    "tiny": PoseFlowConfig(audio_width=8, steps=4, hidden=64, heads=2, layers=1, prior="ar1"),
    "full": PoseFlowConfig(),
}


def sinusoidal_positions(n, dim, device=None):
    """(n, dim) fixed sinusoidal position codes (Vaswani et al.); dim even."""
    pos = torch.arange(n, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(n, dim, device=device)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    return pe


class ActNorm(nn.Module):
    """h' = (h - μ) / δ per channel; μ, δ are set from the first batch it sees in training, so
    that h' starts with zero mean and unit variance (Glow), then learned. Under torchrun the
    processes average their first batches' statistics, so they start identical."""

    def __init__(self, dim):
        super().__init__()
        self.mu = nn.Parameter(torch.zeros(dim))
        self.log_delta = nn.Parameter(torch.zeros(dim))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def initialize(self, h):                                  # h (B, N, C)
        flat = h.reshape(-1, h.shape[-1])
        mu, std = flat.mean(0), flat.std(0)
        import torch.distributed as dist
        if dist.is_available() and dist.is_initialized():     # every process starts from the same μ, δ
            stats = torch.stack([mu, std])
            dist.all_reduce(stats)
            mu, std = stats / dist.get_world_size()
        self.mu.copy_(mu)
        self.log_delta.copy_(std.clamp_min(1e-6).log())
        self.initialized.fill_(True)

    def forward(self, h):                                     # data -> latent direction
        if self.training and not bool(self.initialized):
            self.initialize(h)
        logdet = -h.shape[1] * self.log_delta.sum()           # −N Σ log δ, the same for every sequence
        return (h - self.mu) * torch.exp(-self.log_delta), logdet.expand(h.shape[0])

    def inverse(self, h):
        return h * torch.exp(self.log_delta) + self.mu


class InvertibleLinear(nn.Module):
    """h'' = W h' per frame (Glow's invertible 1×1 convolution over the channel axis)."""

    def __init__(self, dim):
        super().__init__()
        q = torch.linalg.qr(torch.randn(dim, dim))[0]         # a random rotation: log|det| = 0 at init
        self.weight = nn.Parameter(q)

    def forward(self, h):
        logdet = h.shape[1] * torch.linalg.slogdet(self.weight)[1]     # N log|det W|
        return h @ self.weight.T, logdet.expand(h.shape[0])

    def inverse(self, h):
        return torch.linalg.solve(self.weight, h.transpose(1, 2)).transpose(1, 2)


class TransformerCoupling(nn.Module):
    """Affine coupling: (h1, h2) -> (h1, (h2 + t) ⊙ s), with t, s = F(h1, f^a) and F a transformer."""

    def __init__(self, dim, audio_dim, cfg: PoseFlowConfig):
        super().__init__()
        self.d1 = dim // 2
        self.d2 = dim - self.d1
        self.shift, self.context = cfg.scale_shift, cfg.context
        self.inp = nn.Linear(self.d1 + audio_dim, cfg.hidden)
        layer = nn.TransformerEncoderLayer(cfg.hidden, cfg.heads, 2 * cfg.hidden, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.net = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.out = nn.Linear(cfg.hidden, 2 * self.d2)
        nn.init.zeros_(self.out.weight)                       # starts as h2 ⊙ sigmoid(2): close to the identity
        nn.init.zeros_(self.out.bias)

    def params(self, h1, fa):
        x = self.inp(torch.cat([h1, fa], dim=-1))             # (B, N, hidden)
        B, N, H = x.shape
        c = self.context
        if not c or N <= c:
            y = self.net(x + sinusoidal_positions(N, H, x.device).to(x.dtype))
        else:                                                 # each frame read in the c-frame window around it
            wins = x.unfold(1, c, 1).permute(0, 1, 3, 2)      # (B, N − c + 1, c, H): every window start
            wins = wins + sinusoidal_positions(c, H, x.device).to(x.dtype)
            y = self.net(wins.reshape(-1, c, H)).view(B, N - c + 1, c, H)
            starts = (torch.arange(N, device=x.device) - c // 2).clamp(0, N - c)
            y = y[:, starts, torch.arange(N, device=x.device) - starts]   # (B, N, H): frame t of its window
        t, raw = self.out(y).chunk(2, dim=-1)                 # (B, N, d2) each
        return t, torch.sigmoid(raw + self.shift)

    def forward(self, h, fa):
        h1, h2 = h[..., :self.d1], h[..., self.d1:]
        t, s = self.params(h1, fa)
        return torch.cat([h1, (h2 + t) * s], dim=-1), torch.log(s).sum(dim=(1, 2))

    def inverse(self, h, fa):
        h1, h2 = h[..., :self.d1], h[..., self.d1:]
        t, s = self.params(h1, fa)
        return torch.cat([h1, h2 / s - t], dim=-1)


class FlowStep(nn.Module):
    def __init__(self, dim, audio_dim, cfg):
        super().__init__()
        self.actnorm = ActNorm(dim)
        self.invconv = InvertibleLinear(dim)
        self.coupling = TransformerCoupling(dim, audio_dim, cfg)

    def forward(self, h, fa):
        h, ld1 = self.actnorm(h)
        h, ld2 = self.invconv(h)
        h, ld3 = self.coupling(h, fa)
        return h, ld1 + ld2 + ld3

    def inverse(self, h, fa):
        return self.actnorm.inverse(self.invconv.inverse(self.coupling.inverse(h, fa)))


def gaussian_log_prob(z):
    """Σ_t Σ_c log N(z; 0, 1) per sequence: z (B, N, C) -> (B,)."""
    return (-0.5 * (z ** 2 + math.log(2 * math.pi))).sum(dim=(1, 2))


def ar1_log_prob(z, a):
    """log p(z) per sequence under a stationary AR(1) per channel with ρ = tanh(a) (C,):
    log N(z_0; 0, 1) + Σ_{t≥1} log N(z_t; ρ z_{t-1}, 1 − ρ²). z (B, N, C) -> (B,). ρ = 0 is gaussian_log_prob."""
    rho = torch.tanh(a)
    log_var = -2 * (a.abs() + nn.functional.softplus(-2 * a.abs()) - math.log(2))   # log(1 − ρ²) = −2 log cosh a
    first = -0.5 * (z[:, :1] ** 2 + math.log(2 * math.pi))
    resid = z[:, 1:] - rho * z[:, :-1]
    rest = -0.5 * (resid ** 2 / log_var.exp() + log_var + math.log(2 * math.pi))
    return first.sum(dim=(1, 2)) + rest.sum(dim=(1, 2))


class PoseFlow(nn.Module):
    """E_a + φ_p. Audio enters as mel windows (B*N, 1, 80, 16) or as features f^a (B, N, Da)."""

    def __init__(self, cfg: PoseFlowConfig = PoseFlowConfig()):
        super().__init__()
        self.cfg = cfg
        self.audio_encoder = AudioEncoder(cfg.audio_width)
        self.flows = nn.ModuleList(FlowStep(cfg.pose_dim, self.audio_encoder.out_dim, cfg) for _ in range(cfg.steps))
        if cfg.prior not in ("normal", "ar1"):
            raise ValueError(f"PoseFlowConfig.prior must be 'normal' (EDTalk Eq. 13) or 'ar1', got {cfg.prior!r}")
        if cfg.prior == "ar1":                                # ρ = tanh(a) per channel, 0 at init
            self.ar_logit = nn.Parameter(torch.zeros(cfg.pose_dim))

    def log_prior(self, z):
        """log p(z) per sequence: (B, N, C) -> (B,). EDTalk Eq. 13's N(0, I), or the AR(1) of cfg.prior."""
        return ar1_log_prob(z, self.ar_logit) if self.cfg.prior == "ar1" else gaussian_log_prob(z)

    def draw_latent(self, batch, frames, generator=None):
        """z ~ p(z) at τ = 1, drawn on the CPU (seeded bytes): (B, N, C)."""
        eps = torch.randn(batch, frames, self.cfg.pose_dim, generator=generator)
        if self.cfg.prior == "normal":
            return eps
        rho = torch.tanh(self.ar_logit.detach().cpu().float())
        z = [eps[:, 0]]
        for t in range(1, frames):                             # z_t = ρ z_{t-1} + sqrt(1 − ρ²) ε_t
            z.append(rho * z[-1] + (1 - rho ** 2).sqrt() * eps[:, t])
        return torch.stack(z, 1)

    def audio_features(self, mel, batch, frames):
        """f^a_{1:N} = E_a(a_{1:N}): (B*N, 1, 80, 16) -> (B, N, Da)."""
        return self.audio_encoder(mel).view(batch, frames, -1)

    def _features(self, audio, batch, frames):
        if audio.dim() == 3:                                  # already f^a (B, N, Da)
            return audio
        return self.audio_features(audio, batch, frames)

    def to_latent(self, w_pose, audio):
        """EDTalk Eq. A1: z = φ_p^{-1}(W^p, f^a). w_pose (B, N, 6) -> z (B, N, 6), log|det ∂z/∂W^p| (B,)."""
        B, N, C = w_pose.shape
        if C != self.cfg.pose_dim:
            raise ValueError(f"pose weights must be (B, N, {self.cfg.pose_dim}); got {tuple(w_pose.shape)}")
        fa = self._features(audio, B, N)
        h, logdet = w_pose, w_pose.new_zeros(B)
        for step in self.flows:
            h, ld = step(h, fa)
            logdet = logdet + ld
        return h, logdet

    def from_latent(self, z, audio):
        """EDTalk Eq. A2: Ŵ^p = φ_p(z, f^a). z (B, N, 6) -> (B, N, 6)."""
        B, N, _ = z.shape
        fa = self._features(audio, B, N)
        h = z
        for step in reversed(self.flows):
            h = step.inverse(h, fa)
        return h

    def nll(self, w_pose, audio):
        """EDTalk Eq. 13 with its change of variables, in nats per dimension: (B,)."""
        z, logdet = self.to_latent(w_pose, audio)
        return -(self.log_prior(z) + logdet) / z[0].numel()

    def sample(self, audio, batch=1, frames=None, temperature=1.0, generator=None):
        """Ŵ^p from ẑ ~ N(0, τ² I) (with prior "ar1", τ times the AR(1) process): (B, N, 6).
        audio: mel windows (B*N, 1, 80, 16) or f^a (B, N, Da)."""
        if audio.dim() == 3:
            batch, frames = audio.shape[:2]
        frames = audio.shape[0] // batch if frames is None else frames
        fa = self._features(audio, batch, frames)
        z = self.draw_latent(batch, frames, generator)
        return self.from_latent(temperature * z.to(fa.device, fa.dtype), fa)
