"""Likelihood heads and the Gaussian KL against their closed forms, and masking of padded steps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Independent, Normal, kl_divergence

from seqvae.data.batch import Batch
from seqvae.distributions import (
    BernoulliHead,
    CategoricalHead,
    GaussianFixedStd,
    GaussianLearnedStd,
    LikelihoodConfig,
    build_likelihood,
    diagonal_gaussian,
    gaussian_kl_per_dim,
    masked_log_prob,
    masked_sum,
    standard_normal,
    std_from_raw,
)
from seqvae.errors import ConfigError
from seqvae.models.base import build_model

PROPERTY = settings(max_examples=30, deadline=None)
LOG_2PI = math.log(2 * math.pi)
F64 = torch.float64


def gaussian_params(seed: int, shape: tuple[int, ...], dtype: torch.dtype = F64) -> tuple[torch.Tensor, torch.Tensor]:
    """Means of scale ~2 and log-normal standard deviations (from ~0.05 to ~20)."""
    g = torch.Generator().manual_seed(seed)
    mu = 2.0 * torch.randn(shape, generator=g, dtype=dtype)
    std = torch.exp(1.0 * torch.randn(shape, generator=g, dtype=dtype))
    return mu, std


def normal_log_pdf(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """The explicit univariate Gaussian log-density, elementwise."""
    return -0.5 * LOG_2PI - torch.log(std) - (x - mean) ** 2 / (2 * std**2)


# --------------------------------------------------------------------------- Gaussian KL


@PROPERTY
@given(seed=st.integers(0, 2**31 - 1), b=st.integers(1, 6), latent=st.integers(1, 5))
def test_standard_normal_kl_matches_torch_and_closed_form(seed: int, b: int, latent: int) -> None:
    mu, std = gaussian_params(seed, (b, latent))
    q = diagonal_gaussian(mu, std)
    p = standard_normal((b, latent), like=mu)
    kl = gaussian_kl_per_dim(q, p)
    assert kl.shape == (b, latent)
    # torch's registered KL (per dimension and summed over the event by Independent)
    torch.testing.assert_close(kl, kl_divergence(Normal(mu, std), Normal(0.0, 1.0)), atol=1e-6, rtol=0)
    torch.testing.assert_close(kl.sum(-1), kl_divergence(q, p), atol=1e-6, rtol=0)
    # dmol.pub eq. 6.12, per dimension: -log sigma + sigma^2/2 + mu^2/2 - 1/2
    closed = -torch.log(std) + std**2 / 2 + mu**2 / 2 - 0.5
    torch.testing.assert_close(kl, closed, atol=1e-6, rtol=0)
    assert (kl >= -1e-12).all()


@PROPERTY
@given(seed=st.integers(0, 2**31 - 1), b=st.integers(1, 6), latent=st.integers(1, 5))
def test_general_two_gaussian_kl(seed: int, b: int, latent: int) -> None:
    mu_q, std_q = gaussian_params(seed, (b, latent))
    mu_p, std_p = gaussian_params(seed + 1, (b, latent))
    kl = gaussian_kl_per_dim(diagonal_gaussian(mu_q, std_q), diagonal_gaussian(mu_p, std_p))
    closed = torch.log(std_p / std_q) + (std_q**2 + (mu_q - mu_p) ** 2) / (2 * std_p**2) - 0.5
    torch.testing.assert_close(kl, closed, atol=1e-6, rtol=1e-9)
    # also accepts bare (non-Independent) Normals
    torch.testing.assert_close(gaussian_kl_per_dim(Normal(mu_q, std_q), Normal(mu_p, std_p)), closed, atol=1e-6, rtol=1e-9)


def test_kl_is_zero_exactly_when_q_equals_p() -> None:
    mu, std = gaussian_params(3, (4, 3))
    q = diagonal_gaussian(mu, std)
    torch.testing.assert_close(gaussian_kl_per_dim(q, diagonal_gaussian(mu.clone(), std.clone())), torch.zeros(4, 3, dtype=F64))
    assert (gaussian_kl_per_dim(q, diagonal_gaussian(mu + 0.1, std)) > 0).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mlp_vae_forward_kl_matches_torch_and_closed_form(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    model = build_model({"kind": "mlp", "latent_dim": 3, "hidden": [16], "activation": "tanh"}, features=4).to(dtype)
    with torch.no_grad():  # spread the posterior means/stds well away from N(0, 1)
        last = model.encoder[-1]
        last.weight.mul_(4.0)
        last.bias.uniform_(-1.5, 1.5)
    batch = Batch(values=torch.randn(32, 4, dtype=dtype))
    out = model(batch)
    mu = out.posterior.base_dist.loc.detach().double()
    std = out.posterior.base_dist.scale.detach().double()
    assert std.std() > 0.1 and mu.abs().max() > 1.0  # a non-trivial posterior
    reference = kl_divergence(Normal(mu, std), Normal(0.0, 1.0))  # float64, same parameters
    closed = -torch.log(std) + std**2 / 2 + mu**2 / 2 - 0.5
    assert out.kl_per_dim is not None and out.kl_per_dim.shape == (32, 3)
    assert out.kl.shape == (32,)
    torch.testing.assert_close(out.kl_per_dim.double(), reference, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(out.kl_per_dim.double(), closed, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(out.kl.double(), reference.sum(-1), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(out.kl, out.kl_per_dim.sum(-1), atol=0, rtol=0)


def test_std_from_raw_is_softplus_plus_floor() -> None:
    raw = torch.tensor([-100.0, -1.0, 0.0, 0.5413, 3.0, 50.0], dtype=F64)
    torch.testing.assert_close(std_from_raw(raw, 1e-3), torch.log1p(torch.exp(raw)) + 1e-3)
    assert std_from_raw(raw, 1e-3)[0] == pytest.approx(1e-3, abs=1e-12)
    # the learned-std head's initial raw value 0.5413 is a unit std (to 1e-4)
    assert float(std_from_raw(torch.tensor(0.5413), 0.0)) == pytest.approx(1.0, abs=1e-4)


# --------------------------------------------------------------------------- likelihood heads


def test_gaussian_fixed_std_matches_explicit_formula() -> None:
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(7, 3, generator=g, dtype=F64)
    x = mean + 0.3 * torch.randn(7, 3, generator=g, dtype=F64)
    head = build_likelihood(LikelihoodConfig(), features=3)  # default: gaussian, std 0.1
    assert isinstance(head, GaussianFixedStd) and head.std == 0.1 and head.num_params == 3
    assert list(head.parameters()) == []  # not trainable
    lp = head(mean).log_prob(x)
    expected = (-0.5 * LOG_2PI - math.log(0.1) - (x - mean) ** 2 / (2 * 0.01)).sum(-1)
    assert lp.shape == (7,)
    torch.testing.assert_close(lp, expected, atol=1e-10, rtol=1e-12)
    torch.testing.assert_close(masked_log_prob(head(mean), x), expected, atol=1e-10, rtol=1e-12)
    torch.testing.assert_close(head.point(head(mean)), mean)


def test_gaussian_learned_std_feature_mode() -> None:
    head = build_likelihood(LikelihoodConfig(kind="gaussian-learned", std_mode="feature", min_std=1e-3), features=3)
    assert isinstance(head, GaussianLearnedStd) and head.num_params == 3
    head = head.double()
    raw = torch.tensor([-2.0, 0.0, 1.5], dtype=F64)
    with torch.no_grad():
        head.raw_std.copy_(raw)
    g = torch.Generator().manual_seed(1)
    mean = torch.randn(5, 3, generator=g, dtype=F64)
    x = torch.randn(5, 3, generator=g, dtype=F64)
    std = F.softplus(raw) + 1e-3  # one std per feature, shared by all examples
    lp = head(mean).log_prob(x)
    expected = normal_log_pdf(x, mean, std.expand_as(x)).sum(-1)
    torch.testing.assert_close(lp, expected, atol=1e-10, rtol=1e-12)
    # the per-feature std is learned: d/d raw of sum log p = sum_b (-1/s + (x-m)^2/s^3) * sigmoid(raw)
    lp.sum().backward()
    grad = ((-1 / std + (x - mean) ** 2 / std**3) * torch.sigmoid(raw)).sum(0)
    torch.testing.assert_close(head.raw_std.grad, grad, atol=1e-10, rtol=1e-10)


def test_gaussian_learned_std_output_mode() -> None:
    head = GaussianLearnedStd(features=3, mode="output", min_std=0.05)
    assert head.num_params == 6 and list(head.parameters()) == []
    g = torch.Generator().manual_seed(2)
    params = 2 * torch.randn(4, 6, generator=g, dtype=F64)
    params[0, 3:] = -80.0  # softplus underflows: the floor min_std must hold
    x = torch.randn(4, 3, generator=g, dtype=F64)
    dist = head(params)
    mean, std = params[:, :3], F.softplus(params[:, 3:]) + 0.05
    torch.testing.assert_close(dist.mean, mean)
    torch.testing.assert_close(dist.stddev, std)
    assert torch.allclose(dist.stddev[0], torch.full((3,), 0.05, dtype=F64))
    torch.testing.assert_close(dist.log_prob(x), normal_log_pdf(x, mean, std).sum(-1), atol=1e-10, rtol=1e-12)


def test_bernoulli_head_matches_closed_form() -> None:
    head = build_likelihood(LikelihoodConfig(kind="bernoulli"), features=4)
    assert isinstance(head, BernoulliHead) and head.num_params == 4
    g = torch.Generator().manual_seed(3)
    logits = 3 * torch.randn(6, 4, generator=g, dtype=F64)
    x = (torch.rand(6, 4, generator=g, dtype=F64) < 0.5).to(F64)
    p = torch.sigmoid(logits)
    expected = (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(-1)
    torch.testing.assert_close(head(logits).log_prob(x), expected, atol=1e-10, rtol=1e-12)
    torch.testing.assert_close(head.point(head(logits)), p)


def test_bernoulli_head_is_stable_for_extreme_logits() -> None:
    # naive log(1 - sigmoid(40)) is -inf in float64; the head must stay finite and exact
    logits = torch.tensor([[40.0, -40.0, 200.0, -200.0]], dtype=F64)
    x = torch.tensor([[0.0, 1.0, 1.0, 0.0]], dtype=F64)
    lp = BernoulliHead(4)(logits).log_prob(x)
    expected = (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(-1)
    assert torch.isfinite(lp).all()
    torch.testing.assert_close(lp, expected)
    assert float(lp) == pytest.approx(-80.0, rel=1e-12)  # the two matching extreme terms contribute ~0


def test_categorical_head_is_log_softmax_at_true_class() -> None:
    head = build_likelihood(LikelihoodConfig(kind="categorical"), features=5)
    assert isinstance(head, CategoricalHead) and head.num_params == 5
    g = torch.Generator().manual_seed(4)
    logits = 3 * torch.randn(8, 5, generator=g, dtype=F64)
    cls = torch.randint(0, 5, (8,), generator=g)
    x = F.one_hot(cls, 5).to(F64)
    expected = F.log_softmax(logits, -1).gather(1, cls[:, None])[:, 0]
    lp = head(logits).log_prob(x)
    torch.testing.assert_close(lp, expected, atol=1e-10, rtol=1e-12)
    torch.testing.assert_close(lp, logits.gather(1, cls[:, None])[:, 0] - torch.logsumexp(logits, -1))
    torch.testing.assert_close(head.point(head(logits)), F.softmax(logits, -1))


def test_invalid_likelihood_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="likelihood.std"):
        LikelihoodConfig(std=0.0)
    with pytest.raises(ConfigError, match="likelihood.min_std"):
        LikelihoodConfig(kind="gaussian-learned", min_std=-1.0)
    with pytest.raises(ConfigError, match="std_mode"):
        GaussianLearnedStd(3, mode="diagonal")
    with pytest.raises(ConfigError, match="at least one feature"):
        GaussianFixedStd(0)


# --------------------------------------------------------------------------- masked sequences

B, T, FEAT = 3, 5, 2
LENGTHS = torch.tensor([5, 3, 1])
MASK = torch.arange(T)[None, :] < LENGTHS[:, None]  # (B, T) bool


def closed_form_per_step(kind: str, params: torch.Tensor, x: torch.Tensor, head: torch.nn.Module) -> torch.Tensor:
    """log p(x_t | params_t) summed over features, written out by hand: shape (B, T)."""
    if kind == "gaussian":
        return normal_log_pdf(x, params, torch.full_like(params, 0.1)).sum(-1)
    if kind == "gaussian-feature":
        return normal_log_pdf(x, params, F.softplus(head.raw_std) + head.min_std).sum(-1)
    if kind == "gaussian-output":
        mean, raw = params[..., :FEAT], params[..., FEAT:]
        return normal_log_pdf(x, mean, F.softplus(raw) + head.min_std).sum(-1)
    if kind == "bernoulli":
        return (x * F.logsigmoid(params) + (1 - x) * F.logsigmoid(-params)).sum(-1)
    if kind == "categorical":
        return (F.log_softmax(params, -1) * x).sum(-1)
    raise AssertionError(kind)


def make_head(kind: str) -> torch.nn.Module:
    heads = {
        "gaussian": lambda: GaussianFixedStd(FEAT, 0.1),
        "gaussian-feature": lambda: GaussianLearnedStd(FEAT, "feature", 1e-3),
        "gaussian-output": lambda: GaussianLearnedStd(FEAT, "output", 1e-3),
        "bernoulli": lambda: BernoulliHead(FEAT),
        "categorical": lambda: CategoricalHead(FEAT),
    }
    head = heads[kind]().double()
    if kind == "gaussian-feature":
        with torch.no_grad():
            head.raw_std.copy_(torch.tensor([-0.5, 1.0], dtype=F64))
    return head


def sequence_data(kind: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    n_params = 2 * FEAT if kind == "gaussian-output" else FEAT
    params = torch.randn(B, T, n_params, generator=g, dtype=F64)
    if kind == "bernoulli":
        x = (torch.rand(B, T, FEAT, generator=g) < 0.5).to(F64)
    elif kind == "categorical":
        x = F.one_hot(torch.randint(0, FEAT, (B, T), generator=g), FEAT).to(F64)
    else:
        x = torch.randn(B, T, FEAT, generator=g, dtype=F64)
    return params, x


@pytest.mark.parametrize("kind", ["gaussian", "gaussian-feature", "gaussian-output", "bernoulli", "categorical"])
@pytest.mark.parametrize("garbage", [float("nan"), float("inf"), -float("inf"), 1e30])
def test_masked_log_prob_ignores_padded_steps(kind: str, garbage: float) -> None:
    head = make_head(kind)
    params, x_clean = sequence_data(kind, seed=5)
    x_padded = x_clean.clone()
    x_padded[~MASK] = garbage  # whatever padding holds must not matter

    # expected: the hand-written per-step log-density, summed over the real steps only
    params_ref = params.clone().requires_grad_(True)
    per_step = closed_form_per_step(kind, params_ref, x_clean, head)
    expected = torch.stack([per_step[b, : int(LENGTHS[b])].sum() for b in range(B)])
    expected.sum().backward()
    ref_grad = params_ref.grad.clone()
    ref_head_grads = [p.grad.clone() for p in head.parameters()]
    head.zero_grad()

    params_in = params.clone().requires_grad_(True)
    x_in = x_padded.clone().requires_grad_(True)
    lp = masked_log_prob(head(params_in), x_in, MASK)
    assert lp.shape == (B,)
    assert torch.isfinite(lp).all()
    torch.testing.assert_close(lp, expected, atol=1e-10, rtol=1e-12)

    lp.sum().backward()
    assert torch.isfinite(params_in.grad).all()
    # no gradient into padded positions, neither into the decoder outputs nor into the data
    assert (params_in.grad[~MASK] == 0).all()
    if kind == "categorical":
        assert x_in.grad is None  # the one-hot log-prob indexes by argmax: no data gradient at all
    else:
        assert torch.isfinite(x_in.grad).all() and (x_in.grad[~MASK] == 0).all()
        assert (x_in.grad[MASK] != 0).any()
    torch.testing.assert_close(params_in.grad, ref_grad, atol=1e-10, rtol=1e-10)
    for p, ref in zip(head.parameters(), ref_head_grads):
        torch.testing.assert_close(p.grad, ref, atol=1e-10, rtol=1e-10)


def test_unmasked_sequence_log_prob_sums_every_step_and_feature() -> None:
    head = make_head("gaussian")
    params, x = sequence_data("gaussian", seed=6)
    expected = normal_log_pdf(x, params, torch.full_like(params, 0.1)).sum(dim=(1, 2))
    torch.testing.assert_close(masked_log_prob(head(params), x), expected)
    full_mask = torch.ones(B, T, dtype=torch.bool)
    torch.testing.assert_close(masked_log_prob(head(params), x, full_mask), expected)


def test_masked_sum_uses_where_not_multiplication() -> None:
    values = torch.tensor([[1.0, 2.0, float("nan")], [4.0, float("inf"), -float("inf")]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    torch.testing.assert_close(masked_sum(values, mask), torch.tensor([3.0, 4.0]))
    # already per-example values pass through unchanged
    per_example = torch.tensor([1.5, -2.0])
    assert masked_sum(per_example, None) is per_example
    # (B, T, F) values with a (B, T) mask
    cube = torch.arange(12, dtype=torch.float32).reshape(2, 3, 2)
    torch.testing.assert_close(masked_sum(cube, mask), torch.tensor([0 + 1 + 2 + 3.0, 6 + 7.0]))


def test_independent_event_is_last_axis_only() -> None:
    # one value per example (or per step): the event shape must be the feature axis alone
    dist = GaussianFixedStd(FEAT)(torch.zeros(B, T, FEAT))
    assert isinstance(dist, Independent) and dist.batch_shape == (B, T) and dist.event_shape == (FEAT,)


def test_mixed_head_is_gaussian_on_coordinates_and_bernoulli_on_flags() -> None:
    from scipy.stats import norm

    from seqvae.distributions import LikelihoodConfig, MixedHead, build_likelihood

    head = build_likelihood(LikelihoodConfig(kind="gaussian", std=0.5, bernoulli_features=[1]), 3)
    assert isinstance(head, MixedHead) and head.num_params == 3
    params = torch.tensor([[0.2, 1.5, -1.0], [1.0, -2.0, 0.0]])  # (mean_0, mean_2, logit_1) per row
    x = torch.tensor([[0.0, 1.0, -0.5], [2.0, 0.0, 0.5]])
    dist = head(params)
    expected = []
    for p, v in zip(params.numpy(), x.numpy()):
        gauss = norm.logpdf(v[0], p[0], 0.5) + norm.logpdf(v[2], p[1], 0.5)
        prob = 1 / (1 + np.exp(-p[2]))
        expected.append(gauss + (np.log(prob) if v[1] == 1 else np.log(1 - prob)))
    np.testing.assert_allclose(dist.log_prob(x).numpy(), expected, rtol=1e-5)
    mean = dist.mean
    np.testing.assert_allclose(mean[:, [0, 2]].numpy(), params[:, :2].numpy())
    np.testing.assert_allclose(mean[:, 1].numpy(), torch.sigmoid(params[:, 2]).numpy(), rtol=1e-6)
    np.testing.assert_allclose(head.point_from_params(params).numpy(), mean.numpy(), rtol=1e-6)
    assert set(dist.sample().numpy()[:, 1].tolist()) <= {0.0, 1.0}
    with pytest.raises(ConfigError, match="gaussian"):
        LikelihoodConfig(kind="bernoulli", bernoulli_features=[0])
    with pytest.raises(ConfigError, match="does not exist"):
        build_likelihood(LikelihoodConfig(bernoulli_features=[5]), 3)


@pytest.mark.parametrize("kind", ["softplus", "exp"])
def test_raw_from_std_inverts_std_from_raw(kind: str) -> None:
    from seqvae.distributions import raw_from_std, std_from_raw

    for std in (1e-3, 0.05, 1.0, 7.5):
        raw = raw_from_std(std, 1e-4, kind)
        assert float(std_from_raw(torch.tensor(raw, dtype=torch.float64), 1e-4, kind)) == pytest.approx(std, rel=1e-9)
    # exp: raw is a log-variance, exp(raw / 2) the std; clamped so that huge raw values stay finite
    assert float(std_from_raw(torch.tensor(2 * math.log(3.0)), 0.0, "exp")) == pytest.approx(3.0)
    assert torch.isfinite(std_from_raw(torch.tensor(1e4), 1e-4, kind))


# --------------------------------------------------------------------------- custom distributions as torch expects


def _mixed(batch: tuple[int, ...] = (1, 3)):
    from seqvae.distributions import LikelihoodConfig, build_likelihood

    head = build_likelihood(LikelihoodConfig(kind="gaussian-learned", std_mode="output", bernoulli_features=[1, 3]), 4)
    params = torch.randn(*batch, head.num_params, generator=torch.Generator().manual_seed(0), dtype=F64)
    return head(params), params


def test_mixed_distribution_mean_mode_support_and_expand_match_its_parts() -> None:
    dist, params = _mixed()
    mean, raw, logits = params[..., :2], params[..., 2:4], params[..., 4:]
    # mean: the Gaussian parts' means on features 0, 2 and the Bernoulli probabilities on features 1, 3
    torch.testing.assert_close(dist.mean[..., [0, 2]], mean)
    torch.testing.assert_close(dist.mean[..., [1, 3]], torch.sigmoid(logits))
    torch.testing.assert_close(dist.mode[..., [0, 2]], mean)
    torch.testing.assert_close(dist.mode[..., [1, 3]], (torch.sigmoid(logits) > 0.5).to(F64))
    std = std_from_raw(raw, 1e-3)
    p = torch.sigmoid(logits)
    torch.testing.assert_close(dist.variance[..., [0, 2]], std**2)
    torch.testing.assert_close(dist.variance[..., [1, 3]], p * (1 - p))
    # expand: the same log_prob, broadcast; the same mean, expanded
    big = dist.expand((4, 3))
    assert big.batch_shape == (4, 3) and big.event_shape == (4,)
    x = big.sample()
    assert x.shape == (4, 3, 4)
    torch.testing.assert_close(big.log_prob(x), dist.log_prob(x))
    torch.testing.assert_close(big.mean, dist.mean.expand(4, 3, 4))
    # support: every sample is in it; a flag of 0.5 or a NaN coordinate is not; any real coordinate is
    assert bool(dist.support.check(dist.sample((50,))).all())
    y = x.clone()
    y[0, 0, 1] = 0.5
    y[1, 0, 0] = float("nan")
    y[2, 0, 2] = 1e6
    ok = dist.support.check(y)
    assert ok.shape == (4, 3) and not ok[0, 0] and not ok[1, 0] and ok[2, 0] and int(ok.sum()) == 10


def _strokes(mixtures: int, batch: tuple[int, ...] = (1, 5), seed: int = 0):
    from seqvae.distributions import StrokeMixtureHead

    head = StrokeMixtureHead(mixtures, min_std=0.05)
    params = 2 * torch.randn(*batch, head.num_params, generator=torch.Generator().manual_seed(seed), dtype=F64)
    return head(params), params


def test_stroke_distribution_mean_support_and_expand() -> None:
    k = 3
    dist, params = _strokes(k)
    logits, mx, my = params[..., :k], params[..., k : 2 * k], params[..., 2 * k : 3 * k]
    w = torch.softmax(logits, -1)
    pen = torch.sigmoid(params[..., 6 * k])
    # mean: the mixture mean sum_k w_k mu_k and P(pen_up)
    torch.testing.assert_close(dist.mean, torch.stack([(w * mx).sum(-1), (w * my).sum(-1), pen], dim=-1))
    # point() keeps its meaning: mixture mean and the pen thresholded at 1/2
    torch.testing.assert_close(dist.point(), torch.cat([dist.mean[..., :2], (pen > 0.5).to(F64)[..., None]], -1))
    torch.testing.assert_close(dist.variance[..., 2], pen * (1 - pen))
    big = dist.expand((4, 5))
    assert big.batch_shape == (4, 5) and big.event_shape == (3,)
    x = big.sample()
    assert x.shape == (4, 5, 3)
    torch.testing.assert_close(big.log_prob(x), dist.log_prob(x))
    torch.testing.assert_close(big.mean, dist.mean.expand(4, 5, 3))
    assert bool(dist.support.check(dist.sample((20,))).all())
    y = x.clone()
    y[0, 0, 2] = 0.3
    y[1, 1, 0] = float("nan")
    assert dist.support.check(y).tolist()[0][0] is False and dist.support.check(y).tolist()[1][1] is False
    assert int(dist.support.check(y).sum()) == 18


def test_stroke_distribution_mode_is_a_density_maximum() -> None:
    one, params = _strokes(1)
    # one component: the mode is its mean (and the pen's more probable value)
    torch.testing.assert_close(one.mode[..., :2], torch.stack([params[..., 1], params[..., 2]], -1))
    torch.testing.assert_close(one.mode[..., 2], (torch.sigmoid(params[..., 6]) > 0.5).to(F64))
    dist, _ = _strokes(4, (3, 5), seed=1)
    mode = dist.mode[..., :2].clone().requires_grad_(True)
    log_p = dist.offsets.log_prob(mode)
    (grad,) = torch.autograd.grad(log_p.sum(), mode)
    assert float(grad.abs().max()) < 1e-6  # a stationary point of the density
    loc = dist.offsets.component_distribution.loc  # (3, 5, K, 2): no component mean is more probable
    at_means = dist.offsets.log_prob(loc.movedim(-2, 0))
    assert bool((log_p.detach() >= at_means - 1e-9).all())


def test_sequence_likelihood_delegates_support_mode_and_expand_to_its_steps() -> None:
    from seqvae.models.recurrent import SequenceLikelihood

    g = torch.Generator().manual_seed(3)
    loc, scale = torch.randn(1, 4, 2, generator=g, dtype=F64), torch.rand(1, 4, 2, generator=g, dtype=F64) + 0.1
    stop = torch.randn(1, 4, generator=g, dtype=F64)
    dist = SequenceLikelihood(Independent(Normal(loc, scale), 1), stop)
    torch.testing.assert_close(dist.mean, loc)
    torch.testing.assert_close(dist.mode, loc)
    torch.testing.assert_close(dist.variance, scale**2)
    big = dist.expand((3, 4))
    assert big.batch_shape == (3, 4) and big.event_shape == (2,) and big.stop_logits.shape == (3, 4)
    x = big.sample()
    torch.testing.assert_close(big.log_prob(x), dist.log_prob(x))
    lengths, mask = torch.tensor([4, 2, 1]), torch.arange(4)[None] < torch.tensor([4, 2, 1])[:, None]
    torch.testing.assert_close(big.stop_log_prob(lengths, mask)[0], dist.stop_log_prob(lengths[:1], mask[:1])[0])
    # closed form: log sigmoid at the last real step, log (1 - sigmoid) before it
    expected = F.logsigmoid(stop[0, 1]) + F.logsigmoid(-stop[0, 0])
    torch.testing.assert_close(big.stop_log_prob(lengths, mask)[1], expected)
    assert bool(dist.support.check(dist.sample((5,))).all())
