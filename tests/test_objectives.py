"""Objectives and likelihood estimates against closed forms.

The reference is the linear-Gaussian VAE (pPCA), whose log p(x) and posterior p(z|x) are exact.
With W's columns orthogonal the exact posterior covariance is diagonal, so the amortised encoder
can represent it exactly (then every importance weight equals p(x)), or be made deliberately
imperfect (inflated std, shifted mean) to check the Monte Carlo estimators and bounds.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import MultivariateNormal, kl_divergence

from seqvae.analysis.evaluation import evaluate_model
from seqvae.config import AnnealConfig, EvalConfig, ObjectiveConfig
from seqvae.data.arrays import ArrayDataset
from seqvae.data.batch import Batch
from seqvae.models.base import ModelOutput, build_model
from seqvae.models.linear import LinearGaussianVAE
from seqvae.objectives import (
    Objective,
    elbo_terms,
    free_bits_kl,
    importance_log_likelihood,
    iwae_bound,
    kl_weight,
    logmeanexp,
)

PROPERTY = settings(max_examples=40, deadline=None)
F64 = torch.float64

# the deliberately imperfect encoder: exact posterior std x 1.5, mean shifted by 0.25 posterior stds
STD_FACTOR, MEAN_SHIFT = 1.5, 0.25


# --------------------------------------------------------------------------- linear-Gaussian reference


def linear_model(features: int = 5, latent: int = 2, sigma: float = 0.5, seed: int = 0) -> LinearGaussianVAE:
    """A float64 pPCA model with orthogonal decoder columns (so p(z|x) has diagonal covariance)."""
    torch.manual_seed(seed)
    model = build_model(
        {"kind": "linear-gaussian", "latent_dim": latent, "sigma": sigma, "learn_sigma": False}, features
    ).double()
    assert isinstance(model, LinearGaussianVAE)
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(features, latent, generator=g, dtype=F64))
    with torch.no_grad():
        model.W.copy_(q * torch.linspace(2.0, 1.0, latent, dtype=F64))
        model.b.copy_(torch.randn(features, generator=g, dtype=F64))
    return model


def set_encoder(model: LinearGaussianVAE, std_factor: float = 1.0, mean_shift: float = 0.0) -> None:
    """q(z|x) = exact posterior, with its std scaled by ``std_factor`` and mean shifted by ``mean_shift`` stds."""
    model.use_exact_posterior_encoder()
    with torch.no_grad():
        model.c.add_(mean_shift * model.log_s.exp())
        model.log_s.add_(math.log(std_factor))


def data_from(model: LinearGaussianVAE, n: int, seed: int) -> Batch:
    torch.manual_seed(seed)
    with torch.no_grad():
        return Batch(values=model.marginal().sample((n,)))


def mean_and_se(samples: torch.Tensor) -> tuple[float, float]:
    """Mean and its standard error over i.i.d. draws."""
    flat = samples.reshape(-1)
    return float(flat.mean()), float(flat.std() / math.sqrt(flat.numel()))


def test_encoder_construction_is_the_exact_posterior() -> None:
    model = linear_model()
    set_encoder(model)
    x = data_from(model, 20, seed=1).values
    q, exact = model.encode(Batch(values=x)), model.exact_posterior(x)
    torch.testing.assert_close(q.mean, exact.mean, atol=1e-12, rtol=0)
    torch.testing.assert_close(torch.diag_embed(q.variance), exact.covariance_matrix.expand(20, 2, 2), atol=1e-12, rtol=0)


def test_exact_marginal_matches_an_independent_computation() -> None:
    model = linear_model()
    x = data_from(model, 10, seed=2).values
    w, b, s2 = model.W.detach(), model.b.detach(), float(model.sigma) ** 2
    cov = w @ w.T + s2 * torch.eye(5, dtype=F64)
    diff = x - b
    _, logdet = torch.linalg.slogdet(cov)
    expected = -0.5 * (5 * math.log(2 * math.pi) + logdet + (diff @ torch.linalg.inv(cov) * diff).sum(-1))
    torch.testing.assert_close(model.exact_log_marginal(x).detach(), expected, atol=1e-10, rtol=0)


def test_exact_posterior_gives_constant_log_weights_equal_to_log_px() -> None:
    # log w = log p(x, z) - log q(z|x) = log p(x) + log p(z|x) - log q(z|x) = log p(x) when q = p(z|x)
    model = linear_model()
    set_encoder(model)
    batch = data_from(model, 30, seed=3)
    exact = model.exact_log_marginal(batch.values).detach()
    torch.manual_seed(0)
    with torch.no_grad():
        log_w = model.log_weights(batch, 256)
    assert log_w.shape == (256, 30)
    assert float(log_w.std(0).max()) < 1e-10  # zero variance across samples
    torch.testing.assert_close(log_w, exact.expand(256, 30), atol=1e-10, rtol=0)
    with torch.no_grad():
        for k in (1, 7):
            torch.testing.assert_close(iwae_bound(model, batch, k), exact, atol=1e-10, rtol=0)
        torch.testing.assert_close(importance_log_likelihood(model, batch, 100), exact, atol=1e-10, rtol=0)
        # the chunked path (k split over several passes) gives the same value
        torch.testing.assert_close(importance_log_likelihood(model, batch, 100, max_rows=64), exact, atol=1e-10, rtol=0)


@pytest.fixture(scope="module")
def imperfect() -> tuple[LinearGaussianVAE, Batch, torch.Tensor]:
    model = linear_model()
    set_encoder(model, STD_FACTOR, MEAN_SHIFT)
    batch = data_from(model, 100, seed=4)
    return model, batch, model.exact_log_marginal(batch.values).detach()


def test_importance_sampled_log_likelihood_is_within_005_nats(imperfect) -> None:
    model, batch, exact = imperfect
    batch = batch.index(slice(0, 50))
    exact = exact[:50]
    torch.manual_seed(11)
    ll = importance_log_likelihood(model, batch, k=5000)
    err = ll - exact
    # Per example: the K=5000 estimate's standard deviation is sqrt(Var[w]/E[w]^2 / K) ~ 0.01 nats
    # for this q, so 0.05 is a ~5-sigma bound per example, not a loose tolerance on the mean only.
    assert float(err.abs().max()) < 0.05, err
    assert float(err.abs().mean()) < 0.02
    # and the encoder is genuinely imperfect: single-sample weights have a real spread
    torch.manual_seed(12)
    with torch.no_grad():
        assert float(model.log_weights(batch, 64).std(0).mean()) > 0.3


def test_elbo_iwae_exact_ordering_and_monotone_in_k(imperfect) -> None:
    model, batch, exact = imperfect
    torch.manual_seed(21)
    reps = 10
    gaps: dict[int, tuple[float, float]] = {}
    with torch.no_grad():
        for k in (1, 5, 50, 500):
            # IWAE(K) - log p(x), for 100 examples x 10 independent repetitions: 1000 i.i.d. draws
            # (the encoder's error is the same in every example, so the gaps are identically distributed)
            draws = torch.stack([iwae_bound(model, batch, k) - exact for _ in range(reps)])
            gaps[k] = mean_and_se(draws)
        elbo = torch.stack([elbo_terms(model(batch))["elbo"] - exact for _ in range(reps)])
    elbo_gap = mean_and_se(elbo)

    def z(a: tuple[float, float], b: tuple[float, float]) -> float:
        """How many combined standard errors a's mean lies above b's."""
        return (a[0] - b[0]) / math.hypot(a[1], b[1])

    ks = sorted(gaps)
    for small, large in zip(ks, ks[1:]):
        assert z(gaps[large], gaps[small]) > -3.0, (small, large, gaps)  # non-decreasing in K
    # ... and strictly increasing where the expected improvement is far above the noise
    assert z(gaps[5], gaps[1]) > 3.0 and z(gaps[50], gaps[5]) > 3.0, gaps
    # every bound is below the exact log-likelihood (up to 3 standard errors)
    for k in ks:
        assert gaps[k][0] < 3.0 * gaps[k][1], (k, gaps[k])
    assert elbo_gap[0] < 0
    # ELBO <= IWAE(K >= 5); E[ELBO] = E[IWAE(1)] since the analytic-KL ELBO is the mean single-sample log-weight
    assert z(gaps[5], elbo_gap) > 3.0
    assert abs(z(gaps[1], elbo_gap)) < 4.0
    # sharp check: E[ELBO] - log p(x) = -KL(q(z|x) || p(z|x)), in closed form for Gaussians
    q = model.encode(batch)
    with torch.no_grad():
        kl_post = kl_divergence(MultivariateNormal(q.mean, torch.diag_embed(q.variance)), model.exact_posterior(batch.values))
    assert abs(elbo_gap[0] + float(kl_post.mean())) < 4.0 * elbo_gap[1]
    assert abs(gaps[1][0] + float(kl_post.mean())) < 4.0 * gaps[1][1]


def test_evaluate_model_orders_bounds_and_is_seeded(imperfect) -> None:
    model, batch, exact = imperfect
    dataset = ArrayDataset(batch.values[:40])
    cfg = EvalConfig(iwae_samples=50, ll_samples=500, batch_size=16)
    state = torch.random.get_rng_state()
    a = evaluate_model(model, dataset, cfg, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is left untouched
    b = evaluate_model(model, dataset, cfg, seed=5)
    assert a == b
    assert a["elbo"] == pytest.approx(a["recon_log_prob"] - a["kl"], abs=1e-9)
    assert a["elbo"] < a["iwae"] < a["log_likelihood"] + 0.01
    assert a["log_likelihood"] == pytest.approx(float(exact[:40].mean()), abs=0.02)
    assert a["n_examples"] == 40


# --------------------------------------------------------------------------- KL annealing


def test_constant_schedule_is_one() -> None:
    anneal = AnnealConfig(kind="constant", start=0.3)
    assert [kl_weight(s, anneal) for s in (0, 1, 10, 10**6)] == [1.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("start", [0.0, 0.2])
def test_linear_warmup_endpoints_and_midpoint(start: float) -> None:
    anneal = AnnealConfig(kind="linear", warmup_steps=100, start=start)
    assert kl_weight(0, anneal) == pytest.approx(start)
    assert kl_weight(50, anneal) == pytest.approx(start + (1 - start) / 2)
    assert kl_weight(25, anneal) == pytest.approx(start + (1 - start) / 4)
    assert kl_weight(100, anneal) == 1.0
    assert kl_weight(5000, anneal) == 1.0
    assert kl_weight(0, AnnealConfig(kind="linear", warmup_steps=0)) == 1.0


def test_cyclical_schedule() -> None:
    anneal = AnnealConfig(kind="cyclical", total_steps=1000, cycles=4, ratio=0.5, start=0.0)
    # period 250: each cycle starts at `start`, ramps over 125 steps, then holds at 1
    for cycle_start in (0, 250, 500, 750):
        assert kl_weight(cycle_start, anneal) == 0.0
        assert kl_weight(cycle_start + 25, anneal) == pytest.approx(0.2)
        assert kl_weight(cycle_start + 62, anneal) == pytest.approx(62 / 125)
        assert kl_weight(cycle_start + 125, anneal) == 1.0
        assert kl_weight(cycle_start + 200, anneal) == 1.0
        assert kl_weight(cycle_start + 249, anneal) == 1.0
    # beyond total_steps: stays at 1
    assert [kl_weight(s, anneal) for s in (1000, 1001, 1250, 10**6)] == [1.0] * 4
    # ratio 1 ramps over the whole cycle; a non-zero start lifts every cycle's beginning
    full = AnnealConfig(kind="cyclical", total_steps=400, cycles=2, ratio=1.0, start=0.5)
    assert kl_weight(200, full) == 0.5
    assert kl_weight(100, full) == pytest.approx(0.75)
    assert kl_weight(399, full) == pytest.approx(0.5 + 0.5 * 199 / 200)


@PROPERTY
@given(
    total=st.integers(10, 5000),
    cycles=st.integers(1, 8),
    ratio=st.floats(0.05, 1.0),
    start=st.floats(0.0, 0.9),
    step=st.integers(0, 10000),
)
def test_cyclical_schedule_properties(total: int, cycles: int, ratio: float, start: float, step: int) -> None:
    anneal = AnnealConfig(kind="cyclical", total_steps=total, cycles=cycles, ratio=ratio, start=start)
    w = kl_weight(step, anneal)
    assert start - 1e-12 <= w <= 1.0
    period = total / cycles
    if step >= total:
        assert w == 1.0
    elif (step % period) / period >= ratio:
        assert w == pytest.approx(1.0, abs=1e-12)  # the hold phase
    if step + 1 < total and math.floor(step / period) == math.floor((step + 1) / period):
        assert kl_weight(step + 1, anneal) >= w  # non-decreasing within a cycle


def test_objective_beta_combines_beta_and_schedule() -> None:
    obj = Objective(ObjectiveConfig(beta=2.0, anneal=AnnealConfig(kind="linear", warmup_steps=10, start=0.0)))
    assert [obj.beta(s) for s in (0, 5, 10, 20)] == pytest.approx([0.0, 1.0, 2.0, 2.0])


# --------------------------------------------------------------------------- free bits and the ELBO


@PROPERTY
@given(seed=st.integers(0, 2**31 - 1), b=st.integers(1, 8), latent=st.integers(1, 6), lam=st.floats(0.01, 2.0))
def test_free_bits_batch_mean_and_gradient(seed: int, b: int, latent: int, lam: float) -> None:
    g = torch.Generator().manual_seed(seed)
    kl = (torch.rand(b, latent, generator=g, dtype=F64) * 2 * lam).requires_grad_(True)
    out = free_bits_kl(kl, lam)
    assert out.shape == (b,)
    batch_mean = kl.detach().mean(0)
    expected = torch.clamp(batch_mean, min=lam).sum()
    torch.testing.assert_close(out.mean(), expected, atol=1e-12, rtol=1e-12)
    out.sum().backward()
    active = batch_mean >= lam
    assert (kl.grad[:, ~active] == 0).all()  # dimensions below the threshold get no gradient
    assert (kl.grad[:, active] == 1).all()


def test_free_bits_zero_is_the_identity() -> None:
    kl = torch.rand(5, 3, dtype=F64, requires_grad=True)
    out = free_bits_kl(kl, 0.0)
    assert torch.equal(out, kl.sum(-1))
    out.sum().backward()
    assert torch.equal(kl.grad, torch.ones_like(kl))


def make_output(recon: torch.Tensor, kl_per_dim: torch.Tensor | None, kl: torch.Tensor) -> ModelOutput:
    return ModelOutput(
        posterior=None, prior=None, z=torch.zeros(len(kl), 1), likelihood=None,  # type: ignore[arg-type]
        recon_log_prob=recon, kl=kl, kl_per_dim=kl_per_dim,
    )


def test_elbo_terms() -> None:
    log_px = torch.tensor([-3.0, -1.5, -10.0], dtype=F64)
    kl_per_dim = torch.tensor([[0.1, 2.0], [0.3, 0.4], [0.0, 1.0]], dtype=F64)
    out = make_output(log_px, kl_per_dim, kl_per_dim.sum(-1))
    for beta in (0.0, 0.2, 1.0, 4.0):
        terms = elbo_terms(out, beta=beta)
        torch.testing.assert_close(terms["recon"], -log_px)
        torch.testing.assert_close(terms["kl"], kl_per_dim.sum(-1))
        torch.testing.assert_close(terms["elbo"], log_px - kl_per_dim.sum(-1))
        torch.testing.assert_close(terms["loss"], -log_px + beta * kl_per_dim.sum(-1))
    # free bits 0.5: batch means are (0.133.., 1.133..): dim 0 is held at 0.5
    terms = elbo_terms(out, beta=2.0, free_bits=0.5)
    torch.testing.assert_close(terms["loss"], -log_px + 2.0 * (0.5 + kl_per_dim[:, 1]))
    torch.testing.assert_close(terms["kl"], kl_per_dim.sum(-1))  # the reported KL is the true one
    torch.testing.assert_close(terms["elbo"], log_px - kl_per_dim.sum(-1))
    with pytest.raises(ValueError, match="per-dimension KL"):
        elbo_terms(make_output(log_px, None, kl_per_dim.sum(-1)), free_bits=0.5)


def test_objective_elbo_uses_annealed_beta() -> None:
    torch.manual_seed(0)
    model = build_model({"kind": "mlp", "latent_dim": 2, "hidden": [8]}, features=3)
    batch = Batch(values=torch.randn(16, 3))
    obj = Objective(ObjectiveConfig(beta=0.5, anneal=AnnealConfig(kind="linear", warmup_steps=4)))
    torch.manual_seed(1)
    terms = obj(model, batch, step=2)
    torch.manual_seed(1)
    out = model(batch)  # the same draw of z
    torch.testing.assert_close(terms["loss"], -out.recon_log_prob + 0.25 * out.kl)
    torch.testing.assert_close(terms["elbo"], out.recon_log_prob - out.kl)
    torch.testing.assert_close(terms["mu"], out.posterior.mean)
    torch.testing.assert_close(terms["kl_per_dim"], out.kl_per_dim)
    assert "iwae" not in terms


def test_objective_iwae_returns_the_bound_as_negative_loss() -> None:
    model = linear_model()
    batch = data_from(model, 12, seed=6)
    obj = Objective(ObjectiveConfig(kind="iwae", iwae_samples=7))
    set_encoder(model, STD_FACTOR, MEAN_SHIFT)
    torch.manual_seed(3)
    terms = obj(model, batch)
    torch.manual_seed(3)
    model(batch)  # the objective draws the ELBO sample first, then the K importance samples
    expected = iwae_bound(model, batch, 7)
    torch.testing.assert_close(terms["iwae"], expected, atol=0, rtol=0)
    torch.testing.assert_close(terms["loss"], -expected, atol=0, rtol=0)
    assert terms["loss"].requires_grad  # differentiable: it is what training minimises
    # with the exact posterior the bound is log p(x) whatever the draw
    set_encoder(model)
    terms = obj(model, batch)
    torch.testing.assert_close(-terms["loss"], model.exact_log_marginal(batch.values), atol=1e-10, rtol=0)


# --------------------------------------------------------------------------- logmeanexp


def test_logmeanexp_matches_naive_computation() -> None:
    g = torch.Generator().manual_seed(0)
    x = 3 * torch.randn(6, 4, generator=g, dtype=F64)
    for dim in (0, 1):
        torch.testing.assert_close(logmeanexp(x, dim=dim), torch.log(torch.exp(x).mean(dim)), atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_logmeanexp_is_stable_for_huge_magnitudes(dtype: torch.dtype) -> None:
    x = torch.tensor([[1000.0, -1000.0, 1e4, -1e5], [1000.0, -1000.0, 0.0, -1e5]], dtype=dtype)
    out = logmeanexp(x, dim=0)
    assert torch.isinf(torch.log(torch.exp(x).mean(0))).any()  # the naive form overflows/underflows
    expected = torch.tensor([1000.0, -1000.0, 1e4 - math.log(2), -1e5], dtype=F64)
    torch.testing.assert_close(out.double(), expected, atol=1e-3 if dtype == torch.float32 else 1e-9, rtol=1e-7)
    # one -inf log-weight (a zero weight) halves the mean
    torch.testing.assert_close(logmeanexp(torch.tensor([-float("inf"), 0.0], dtype=dtype)), torch.tensor(-math.log(2), dtype=dtype))


@PROPERTY
@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=20),
    shift=st.floats(-1e6, 1e6),
)
def test_logmeanexp_bounds_and_shift(values: list[float], shift: float) -> None:
    x = torch.tensor(values, dtype=F64)
    out = float(logmeanexp(x))
    assert float(x.max()) - math.log(len(values)) - 1e-9 <= out <= float(x.max()) + 1e-9
    assert out >= float(x.mean()) - 1e-6 * (1 + abs(float(x.mean())))  # Jensen: log E e^x >= E x
    assert float(logmeanexp(x + shift)) == pytest.approx(out + shift, abs=1e-6 * (1 + abs(out) + abs(shift)))
