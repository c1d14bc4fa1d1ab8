"""φ_p, the pose flow: exact inverse, log-determinant against autograd's Jacobian, actnorm's
data-dependent start, sampling with a temperature, seeded samples."""
from dataclasses import replace

import pytest
import torch

from talkinglib.models.pose_flow import PRESETS, ActNorm, PoseFlow, gaussian_log_prob

TINY = PRESETS["tiny"]


def _flow(seed=0, **kw):
    torch.manual_seed(seed)
    return PoseFlow(replace(TINY, **kw))


def _perturb(flow, seed=1, scale=0.3):
    """Move every parameter off its identity-like start, so the tests see a generic flow."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale * (p.std() if p.numel() > 1 else 1.0).clamp_min(0.1))
    return flow


def test_inverse_of_forward_is_the_identity():
    flow = _perturb(_flow()).eval()
    g = torch.Generator().manual_seed(3)
    w = torch.randn(3, 11, 6, generator=g) * 2 + 0.5
    mel = torch.randn(3 * 11, 1, 80, 16, generator=g)
    with torch.no_grad():
        fa = flow.audio_features(mel, 3, 11)
        z, _ = flow.to_latent(w, fa)
        back = flow.from_latent(z, fa)
        z2, _ = flow.to_latent(flow.from_latent(z, fa), fa)
    err = (back - w).abs().max().item()
    print(f"max |φ(φ^-1(W)) - W| = {err:.1e}")
    assert err <= 1e-4
    assert (z2 - z).abs().max().item() <= 1e-4
    assert (z - w).abs().max() > 0.1                          # and it is not the identity map


@pytest.mark.parametrize("frames", [1, 3])
def test_logdet_matches_autograd_jacobian(frames):
    """log|det ∂z/∂W| of the whole flow (the actnorm, 1×1 and coupling terms summed) equals the
    log-determinant of the Jacobian that torch.autograd.functional.jacobian computes, in float64."""
    flow = _perturb(_flow(seed=2)).double().eval()
    g = torch.Generator().manual_seed(4)
    fa = torch.randn(1, frames, flow.audio_encoder.out_dim, generator=g, dtype=torch.float64)
    w = torch.randn(1, frames, 6, generator=g, dtype=torch.float64)
    f = lambda x: flow.to_latent(x.view(1, frames, 6), fa)[0].reshape(-1)      # noqa: E731
    J = torch.autograd.functional.jacobian(f, w.reshape(-1))                   # (6N, 6N): across frames too
    expected = torch.linalg.slogdet(J)[1].item()
    ours = flow.to_latent(w, fa)[1].item()
    print(f"N={frames}: log|det J| autograd {expected:.6f}, flow {ours:.6f}")
    assert abs(ours - expected) <= 1e-3
    assert abs(expected) > 0.1                                # a non-trivial volume change


def test_actnorm_starts_from_the_first_batch_and_then_learns():
    a = ActNorm(6).train()
    h = torch.randn(4, 20, 6) * torch.tensor([1, 2, 3, 4, 5, 6.]) + 7
    out, logdet = a(h)
    flat = out.reshape(-1, 6)
    assert torch.allclose(flat.mean(0), torch.zeros(6), atol=1e-5)
    assert torch.allclose(flat.std(0), torch.ones(6), atol=1e-4)
    assert torch.allclose(logdet, torch.full((4,), -20 * h.reshape(-1, 6).std(0).log().sum().item()), atol=1e-4)
    mu = a.mu.detach().clone()
    a(h * 3)                                                   # initialised once only
    assert torch.equal(a.mu.detach(), mu) and bool(a.initialized)
    state = a.state_dict()
    b = ActNorm(6).train()
    b.load_state_dict(state)                                   # a resumed flow must not re-initialise
    assert torch.equal(b(h * 3)[0], a(h * 3)[0])


def test_nll_is_the_change_of_variables():
    """At a fresh flow in eval mode (actnorm at μ=0, δ=1; couplings start as a constant scale),
    the density is that of a linear map: check it against the Gaussian it implies."""
    flow = _flow().eval()
    w = torch.randn(2, 5, 6)
    fa = torch.randn(2, 5, flow.audio_encoder.out_dim)
    z, logdet = flow.to_latent(w, fa)
    # every step is linear here: z = A w per frame, so log p(w) = log N(A w) + N log|det A|
    A = flow.to_latent(torch.eye(6).view(1, 6, 6).expand(2, 6, 6), torch.randn(2, 6, fa.shape[-1]))[0][0].T
    assert torch.allclose(z, w @ A.T, atol=1e-5)
    assert torch.allclose(logdet, torch.full((2,), 5 * torch.linalg.slogdet(A)[1].item()), atol=1e-4)
    nll = flow.nll(w, fa)
    assert torch.allclose(nll, -(gaussian_log_prob(z) + logdet) / 30, atol=1e-6)


def test_samples_depend_on_temperature_seed_and_audio():
    flow = _perturb(_flow()).eval()
    mel = torch.randn(8, 1, 80, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fa = flow.audio_features(mel, 1, 8)
        s = lambda seed, t=1.0, a=fa: flow.sample(a, temperature=t, generator=torch.Generator().manual_seed(seed))  # noqa
        a, b = s(0), s(0)
        assert a.shape == (1, 8, 6) and torch.equal(a, b)            # same seed, same bytes
        assert (s(1) - a).abs().mean() > 1e-2                        # another draw, another pose
        zero = s(0, t=0.0)
        assert torch.allclose(zero, flow.from_latent(torch.zeros(1, 8, 6), fa))   # τ = 0: the mode path
        # the spread of samples shrinks with the temperature
        spread = lambda t: torch.stack([s(k, t) for k in range(16)]).std(0).mean()   # noqa: E731
        assert spread(0.3) < spread(1.0)
        assert (s(0, a=fa.flip(1)) - a).abs().mean() > 1e-3          # audio conditions the pose
        assert flow.sample(mel, batch=1, generator=torch.Generator().manual_seed(0)).shape == (1, 8, 6)


def test_bad_shapes_are_explained():
    flow = _flow().eval()
    with pytest.raises(ValueError, match=r"\(B, N, 6\)"):
        flow.to_latent(torch.randn(1, 4, 5), torch.randn(1, 4, flow.audio_encoder.out_dim))
    with pytest.raises(ValueError, match="mel windows"):
        flow.audio_features(torch.randn(4, 80, 16), 1, 4)


def _actnorm_rank(rank, world, init_file, out):
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    a = ActNorm(3).train()
    h = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(rank)) * (rank + 1) + rank
    a(h)
    torch.save({"mu": a.mu.detach(), "log_delta": a.log_delta.detach()}, f"{out}_{rank}.pt")
    dist.destroy_process_group()


def test_actnorm_starts_identical_on_every_process(tmp_path):
    """Under torchrun each process sees another first batch; the data-dependent start must still
    be one and the same (else the processes train different flows). 2 CPU processes, gloo."""
    import torch.multiprocessing as mp
    mp.spawn(_actnorm_rank, args=(2, str(tmp_path / "init"), str(tmp_path / "an")), nprocs=2, join=True)
    a, b = (torch.load(tmp_path / f"an_{r}.pt") for r in (0, 1))
    assert torch.equal(a["mu"], b["mu"]) and torch.equal(a["log_delta"], b["log_delta"])
    h0 = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))
    h1 = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(1)) * 2 + 1
    expect = (h0.reshape(-1, 3).mean(0) + h1.reshape(-1, 3).mean(0)) / 2
    assert torch.allclose(a["mu"], expect, atol=1e-6)


def test_a_sequence_longer_than_the_context_is_read_in_training_sized_windows():
    """PoseFlowConfig.context = the training N: up to N frames the flow is the whole-sequence flow;
    a longer sequence gives frame t the coupling of the N-frame window around it (what training
    saw), so it stays invertible and frame t's latent is that of its window read alone."""
    whole = _perturb(_flow()).eval()
    windowed = PoseFlow(replace(TINY, context=5)).eval()
    windowed.load_state_dict(whole.state_dict())
    g = torch.Generator().manual_seed(5)
    fa = torch.randn(2, 12, whole.audio_encoder.out_dim, generator=g)
    w = torch.randn(2, 12, 6, generator=g)
    with torch.no_grad():
        assert torch.allclose(windowed.to_latent(w[:, :5], fa[:, :5])[0], whole.to_latent(w[:, :5], fa[:, :5])[0],
                              atol=1e-6)
        z, _ = windowed.to_latent(w, fa)
        assert (windowed.from_latent(z, fa) - w).abs().max() < 1e-4
        for t, start in ((0, 0), (6, 4), (11, 7)):         # window start = clamp(t − 2, 0, 12 − 5)
            # the coupling of step k depends on h1 of its window only: compare the first step's output
            h_win, _ = whole.flows[0](w[:, start:start + 5], fa[:, start:start + 5])
            h_seq, _ = windowed.flows[0](w, fa)
            assert torch.allclose(h_seq[:, t], h_win[:, t - start], atol=1e-5), t
        assert not torch.allclose(z, whole.to_latent(w, fa)[0], atol=1e-3)   # whole reading differs


def test_ar1_prior_is_a_gaussian_with_correlated_frames_and_its_samples_follow_it():
    """PoseFlowConfig.prior="ar1" (ours): log p(z) is the multivariate normal whose frames have unit
    variance and correlation ρ^|i−j| per channel; at ρ = 0 (its start) it is EDTalk Eq. 13's N(0, I); its
    samples have unit variance and lag-1 correlation ρ; the flow's NLL uses it."""
    from talkinglib.models.pose_flow import ar1_log_prob
    N = 7
    a = torch.tensor([0.0, 0.5, -1.0, 2.0, 1.5, 0.3])
    z = torch.randn(3, N, 6, generator=torch.Generator().manual_seed(0))
    t = torch.arange(N, dtype=torch.float64)
    want = torch.zeros(3, dtype=torch.float64)
    for c, rho in enumerate(torch.tanh(a.double())):
        cov = rho ** (t[:, None] - t[None]).abs()
        want += torch.distributions.MultivariateNormal(torch.zeros(N, dtype=torch.float64), cov).log_prob(z[..., c].double())
    assert torch.allclose(ar1_log_prob(z, a).double(), want, atol=1e-4)
    assert torch.allclose(ar1_log_prob(z, torch.zeros(6)), gaussian_log_prob(z), atol=1e-5)
    flow = _flow(prior="ar1").eval()
    assert torch.equal(flow.ar_logit, torch.zeros(6)), "starts as EDTalk Eq. 13's prior"
    fa = torch.randn(3, N, flow.audio_encoder.out_dim)
    with torch.no_grad():
        flow.ar_logit.copy_(a)
        zz, logdet = flow.to_latent(z, fa)
        assert torch.allclose(flow.nll(z, fa), -(ar1_log_prob(zz, a) + logdet) / (N * 6), atol=1e-6)
        d = flow.draw_latent(4000, 2, torch.Generator().manual_seed(1))
    assert torch.allclose(d.std((0, 1)), torch.ones(6), atol=0.05)
    lag1 = (d[:, 0] * d[:, 1]).mean(0)
    assert torch.allclose(lag1, torch.tanh(a), atol=0.06)
    with pytest.raises(ValueError, match="prior"):
        _flow(prior="ar2")
