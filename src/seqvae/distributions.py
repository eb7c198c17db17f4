"""Likelihood heads p(x|z) and Gaussian posterior helpers, built on ``torch.distributions``.

A head turns the decoder network's raw outputs into a distribution whose ``log_prob`` has one
value per example (or per time step): the event dimension is always the last (feature) axis.
:func:`masked_log_prob` then sums over features and the real (unmasked) steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import (
    Bernoulli,
    Categorical,
    Distribution,
    Independent,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
    OneHotCategorical,
    constraints,
    kl_divergence,
)

from seqvae.errors import ConfigError
from seqvae.registry import Registry


def masked_sum(values: Tensor, mask: Tensor | None = None) -> Tensor:
    """Sum per-step values ``(B,)`` or ``(B, T, ...)`` to ``(B,)``, counting only steps where ``mask``."""
    if values.dim() == 1:
        return values
    if mask is not None:
        mask = mask.reshape(mask.shape + (1,) * (values.dim() - mask.dim()))
        # where() rather than multiply: padded steps may hold NaN/inf that must not leak through.
        values = torch.where(mask, values, torch.zeros((), dtype=values.dtype, device=values.device))
    return values.reshape(values.shape[0], -1).sum(dim=1)


def masked_log_prob(dist: Distribution, x: Tensor, mask: Tensor | None = None) -> Tensor:
    """log p(x|z) summed over features and masked steps: one value per example, shape ``(B,)``."""
    if mask is not None:
        # padded entries are replaced by a valid value so log_prob never sees garbage
        fill = dist.mean.detach() if not isinstance(dist, OneHotCategorical) else _first_class(x)
        m = mask.reshape(mask.shape + (1,) * (x.dim() - mask.dim()))
        x = torch.where(m, x, fill)
    return masked_sum(dist.log_prob(x), mask)


def _first_class(x: Tensor) -> Tensor:
    out = torch.zeros_like(x)
    out[..., 0] = 1
    return out


def diagonal_gaussian(mean: Tensor, std: Tensor) -> Independent:
    """A diagonal Gaussian over the last axis (e.g. q(z|x) with event shape ``(L,)``)."""
    return Independent(Normal(mean, std), 1)


def standard_normal(shape: torch.Size | tuple[int, ...], like: Tensor) -> Independent:
    """N(0, I) with the given batch+event ``shape`` on the device/dtype of ``like``."""
    zeros = torch.zeros(shape, dtype=like.dtype, device=like.device)
    return Independent(Normal(zeros, torch.ones_like(zeros)), 1)


def gaussian_kl_per_dim(q: Distribution, p: Distribution) -> Tensor:
    """KL(q || p) per latent dimension for diagonal Gaussians, shape ``batch_shape + event_shape``."""
    qb = q.base_dist if isinstance(q, Independent) else q
    pb = p.base_dist if isinstance(p, Independent) else p
    return kl_divergence(qb, pb)


def inverse_softplus(y: float) -> float:
    """x with softplus(x) = y (y > 0), stable for large and small y."""
    return y + math.log(-math.expm1(-y))


def std_from_raw(raw: Tensor, min_std: float = 1e-4, kind: str = "softplus") -> Tensor:
    """Positive standard deviation from an unconstrained network output, plus the floor ``min_std``:
    ``softplus(raw)``, or with ``kind="exp"`` ``exp(raw / 2)`` (``raw`` is a log-variance, clamped to
    [-30, 20] so that it cannot overflow)."""
    if kind == "exp":
        return torch.exp(0.5 * raw.clamp(-30.0, 20.0)) + min_std
    return F.softplus(raw) + min_std


def raw_from_std(std: float, min_std: float = 1e-4, kind: str = "softplus") -> float:
    """The raw value for which :func:`std_from_raw` gives ``std`` (at least ``min_std`` + 1e-6)."""
    excess = max(std - min_std, 1e-6)
    return 2.0 * math.log(excess) if kind == "exp" else inverse_softplus(excess)


# --------------------------------------------------------------------------- heads


@dataclass
class LikelihoodConfig:
    """Decoder likelihood: which family, and its fixed or learned scale."""

    kind: Literal["gaussian", "gaussian-learned", "bernoulli", "categorical"] = "gaussian"
    std: float = 0.1  # gaussian: the fixed decoder standard deviation
    std_mode: Literal["feature", "output"] = "feature"  # gaussian-learned: one std per feature, or per output
    min_std: float = 1e-3  # gaussian-learned: floor on the std
    # gaussian-learned: the std the training starts from (per feature mode: every feature); None = 1.0.
    # Data-aware defaults set it to the data's residual scale (PPCA's sigma for the latent size)
    init_std: float | None = None
    bernoulli_features: list[int] = field(default_factory=list)  # gaussian kinds: binary features (e.g. pen state)

    def __post_init__(self) -> None:
        if self.std <= 0:
            raise ConfigError(f"likelihood.std must be > 0, got {self.std}")
        if self.min_std <= 0:
            raise ConfigError(f"likelihood.min_std must be > 0, got {self.min_std}")
        if self.init_std is not None and self.init_std <= self.min_std:
            raise ConfigError(f"likelihood.init_std must be > likelihood.min_std ({self.min_std}), got {self.init_std}")
        if self.bernoulli_features and self.kind not in ("gaussian", "gaussian-learned"):
            raise ConfigError("likelihood.bernoulli_features goes with a gaussian likelihood kind")
        if any(i < 0 for i in self.bernoulli_features) or len(set(self.bernoulli_features)) != len(self.bernoulli_features):
            raise ConfigError("likelihood.bernoulli_features must be distinct feature indices >= 0")


class LikelihoodHead(nn.Module):
    """Maps ``(..., num_params)`` decoder outputs to a distribution with event shape ``(features,)``."""

    params_per_feature: int = 1

    def __init__(self, features: int) -> None:
        super().__init__()
        if features < 1:
            raise ConfigError(f"likelihood needs at least one feature, got {features}")
        self.features = features

    @property
    def num_params(self) -> int:
        return self.features * self.params_per_feature

    def forward(self, params: Tensor) -> Distribution:  # pragma: no cover - abstract
        raise NotImplementedError

    def point(self, dist: Distribution) -> Tensor:
        """The value to show as 'the reconstruction': the distribution's mean."""
        return dist.mean

    def point_from_params(self, params: Tensor) -> Tensor:
        """:meth:`point` straight from raw parameters (what a recurrent decoder feeds back each step)."""
        return self.point(self(params))


class GaussianFixedStd(LikelihoodHead):
    """N(x; mu(z), std^2 I) with a fixed, non-trainable std (dmol regression VAE uses 0.1)."""

    def __init__(self, features: int, std: float = 0.1) -> None:
        super().__init__(features)
        self.std = float(std)

    def forward(self, params: Tensor) -> Distribution:
        return Independent(Normal(params, torch.full_like(params, self.std)), 1)

    def point_from_params(self, params: Tensor) -> Tensor:
        return params


class GaussianLearnedStd(LikelihoodHead):
    """Gaussian with a learned std: one trainable value per feature, or predicted per output."""

    def __init__(self, features: int, mode: str = "feature", min_std: float = 1e-3, init_std: float | None = None) -> None:
        super().__init__(features)
        if mode not in ("feature", "output"):
            raise ConfigError(f"likelihood.std_mode must be 'feature' or 'output', got {mode!r}")
        self.mode = mode
        self.min_std = float(min_std)
        # raw value whose softplus + min_std is the initial std (softplus(0.5413) ~= 1: unit std by default)
        self.init_raw = 0.5413 if init_std is None else inverse_softplus(float(init_std) - self.min_std)
        if mode == "feature":
            self.raw_std = nn.Parameter(torch.full((features,), self.init_raw))
        else:
            self.params_per_feature = 2
            # per-output std: the network's raw output starts near 0, so the bias shifts it to init_raw
            self.raw_shift = self.init_raw if init_std is not None else 0.0

    def forward(self, params: Tensor) -> Distribution:
        if self.mode == "feature":
            mean = params
            std = std_from_raw(self.raw_std, self.min_std).expand_as(mean)
        else:
            mean, raw = params.chunk(2, dim=-1)
            std = std_from_raw(raw + self.raw_shift, self.min_std) if self.raw_shift else std_from_raw(raw, self.min_std)
        return Independent(Normal(mean, std), 1)

    def point_from_params(self, params: Tensor) -> Tensor:
        return params if self.mode == "feature" else params[..., : self.features]


class BernoulliHead(LikelihoodHead):
    """Independent Bernoulli per feature, parameterised by logits (binary data)."""

    def forward(self, params: Tensor) -> Distribution:
        return Independent(Bernoulli(logits=params, validate_args=False), 1)

    def point_from_params(self, params: Tensor) -> Tensor:
        return torch.sigmoid(params)


class CategoricalHead(LikelihoodHead):
    """One categorical over ``features`` classes; data are one-hot vectors."""

    def forward(self, params: Tensor) -> Distribution:
        return OneHotCategorical(logits=params, validate_args=False)

    def point(self, dist: Distribution) -> Tensor:
        return dist.probs

    def point_from_params(self, params: Tensor) -> Tensor:
        return torch.softmax(params, dim=-1)


class FeatureSplitSupport(constraints.Constraint):
    """Support of a vector (event_dim 1) whose features ``first_index`` lie in ``first`` and features
    ``second_index`` in ``second`` (each a constraint over a vector, or over scalars)."""

    event_dim = 1

    def __init__(self, first: constraints.Constraint, first_index: Tensor | list[int],
                 second: constraints.Constraint, second_index: Tensor | list[int]) -> None:  # fmt: skip
        self.first, self.second = (c if c.event_dim == 1 else constraints.independent(c, 1) for c in (first, second))
        self.first_index, self.second_index = first_index, second_index
        super().__init__()

    def check(self, value: Tensor) -> Tensor:
        return self.first.check(value[..., self.first_index]) & self.second.check(value[..., self.second_index])


class MixedDistribution(Distribution):
    """Gaussian features and Bernoulli features of one vector, independent given their parameters:
    ``log p(x) = log N(x_c) + log Bernoulli(x_b)`` with event shape ``(features,)``."""

    arg_constraints: dict = {}

    def __init__(self, gaussian: Distribution, bernoulli: Distribution, continuous: Tensor, binary: Tensor) -> None:
        self.gaussian, self.bernoulli = gaussian, bernoulli
        self.continuous, self.binary = continuous, binary
        features = len(continuous) + len(binary)
        super().__init__(gaussian.batch_shape, torch.Size([features]), validate_args=False)

    def _join(self, cont: Tensor, bits: Tensor) -> Tensor:
        out = cont.new_empty((*cont.shape[:-1], len(self.continuous) + len(self.binary)))
        out[..., self.continuous] = cont
        out[..., self.binary] = bits.to(cont.dtype)
        return out

    @property
    def support(self) -> constraints.Constraint:
        """Real values on the Gaussian features, {0, 1} on the Bernoulli ones."""
        return FeatureSplitSupport(self.gaussian.support, self.continuous, self.bernoulli.support, self.binary)

    def expand(self, batch_shape: torch.Size | tuple[int, ...], _instance: MixedDistribution | None = None) -> MixedDistribution:
        new = self._get_checked_instance(MixedDistribution, _instance)
        batch_shape = torch.Size(batch_shape)
        new.gaussian, new.bernoulli = self.gaussian.expand(batch_shape), self.bernoulli.expand(batch_shape)
        new.continuous, new.binary = self.continuous, self.binary
        super(MixedDistribution, new).__init__(batch_shape, self.event_shape, validate_args=False)
        return new

    def log_prob(self, value: Tensor) -> Tensor:
        return self.gaussian.log_prob(value[..., self.continuous]) + self.bernoulli.log_prob(value[..., self.binary])

    @property
    def mean(self) -> Tensor:
        return self._join(self.gaussian.mean, self.bernoulli.mean)

    @property
    def mode(self) -> Tensor:
        """The Gaussian means and, per flag, its more probable value (NaN at probability 1/2, as torch's Bernoulli)."""
        return self._join(self.gaussian.mode, self.bernoulli.mode)

    @property
    def variance(self) -> Tensor:
        return self._join(self.gaussian.variance, self.bernoulli.variance)

    def sample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        return self._join(self.gaussian.sample(sample_shape), self.bernoulli.sample(sample_shape))


class MixedHead(LikelihoodHead):
    """A Gaussian head for most features and Bernoulli logits for the ``binary`` ones (e.g. a pen state):
    squared error on the coordinates, a proper probability for the flags."""

    def __init__(self, features: int, binary: list[int], gaussian: LikelihoodHead) -> None:
        super().__init__(features)
        if any(i >= features for i in binary):
            raise ConfigError(f"likelihood.bernoulli_features: feature {max(binary)} does not exist ({features} features)")
        if len(binary) >= features:
            raise ConfigError("likelihood.bernoulli_features leaves no Gaussian feature; use kind: bernoulli")
        self.register_buffer("binary", torch.tensor(sorted(binary), dtype=torch.long), persistent=False)
        self.register_buffer("continuous", torch.tensor([i for i in range(features) if i not in binary], dtype=torch.long),
                             persistent=False)
        self.gaussian = gaussian

    @property
    def num_params(self) -> int:
        return self.gaussian.num_params + len(self.binary)

    def _split(self, params: Tensor) -> tuple[Tensor, Tensor]:
        return params[..., : self.gaussian.num_params], params[..., self.gaussian.num_params :]

    def forward(self, params: Tensor) -> Distribution:
        gauss, logits = self._split(params)
        bern = Independent(Bernoulli(logits=logits, validate_args=False), 1)
        return MixedDistribution(self.gaussian(gauss), bern, self.continuous, self.binary)

    def point_from_params(self, params: Tensor) -> Tensor:
        gauss, logits = self._split(params)
        out = params.new_empty((*params.shape[:-1], self.features))
        out[..., self.continuous] = self.gaussian.point_from_params(gauss)
        out[..., self.binary] = torch.sigmoid(logits)
        return out


def build_likelihood(cfg: LikelihoodConfig, features: int) -> LikelihoodHead:
    """Construct the head named by ``cfg.kind`` (Gaussian kinds with Bernoulli features when asked)."""
    if cfg.bernoulli_features:
        inner = LikelihoodConfig(kind=cfg.kind, std=cfg.std, std_mode=cfg.std_mode, min_std=cfg.min_std, init_std=cfg.init_std)
        continuous = features - len(cfg.bernoulli_features)
        return MixedHead(features, list(cfg.bernoulli_features), build_likelihood(inner, max(continuous, 1)))
    return LIKELIHOODS[cfg.kind](cfg, features)


# likelihood.kind -> head builder (cfg, features) -> LikelihoodHead
LIKELIHOODS: Registry[Callable[[LikelihoodConfig, int], LikelihoodHead]] = Registry("likelihood.kind")
LIKELIHOODS.register("gaussian", lambda cfg, features: GaussianFixedStd(features, cfg.std))
LIKELIHOODS.register(
    "gaussian-learned", lambda cfg, features: GaussianLearnedStd(features, cfg.std_mode, cfg.min_std, cfg.init_std)
)
LIKELIHOODS.register("bernoulli", lambda cfg, features: BernoulliHead(features))
LIKELIHOODS.register("categorical", lambda cfg, features: CategoricalHead(features))




# --------------------------------------------------------------------------- pen strokes (Sketch-RNN)


def bivariate_scale_tril(std_x: Tensor, std_y: Tensor, rho: Tensor) -> Tensor:
    """Cholesky factor ``(..., 2, 2)`` of the covariance [[sx², ρ sx sy], [ρ sx sy, sy²]]."""
    zero = torch.zeros_like(std_x)
    row0 = torch.stack([std_x, zero], dim=-1)
    row1 = torch.stack([rho * std_y, std_y * torch.sqrt(1.0 - rho * rho)], dim=-1)
    return torch.stack([row0, row1], dim=-2)


def bivariate_gaussian_mixture(logits: Tensor, loc: Tensor, scale_tril: Tensor) -> MixtureSameFamily:
    """Mixture of K bivariate Gaussians: ``logits`` ``(..., K)``, ``loc`` ``(..., K, 2)``, ``scale_tril`` ``(..., K, 2, 2)``.

    Batch shape ``(...)``, event shape ``(2,)``.
    """
    return MixtureSameFamily(
        Categorical(logits=logits, validate_args=False),
        MultivariateNormal(loc, scale_tril=scale_tril, validate_args=False),
        validate_args=False,
    )


class StrokeDistribution(Distribution):
    """Per-step p(dx, dy, pen_up): a mixture of bivariate Gaussians over the offset (dx, dy) times an
    independent Bernoulli over ``pen_up`` (Sketch-RNN's output distribution, Ha & Eck 2017, with the
    pen reduced to one binary state).

    Batch shape is the step shape (e.g. ``(B, T)``) and the event is one step ``(3,)``;
    ``log_prob(value)`` returns log p(dx, dy) + log p(pen_up) per step, so :func:`masked_log_prob`
    sums it over the real steps. ``mean`` is (mixture mean, P(pen_up = 1)); :meth:`point` thresholds
    the pen probability at 1/2.
    """

    arg_constraints: dict = {}
    support = FeatureSplitSupport(constraints.real_vector, [0, 1], constraints.boolean, [2])  # (dx, dy) real, pen_up in {0, 1}
    mode_iterations = 50  # fixed-point steps of :attr:`mode` (each one cannot lower the density)

    def __init__(self, offsets: MixtureSameFamily, pen_logits: Tensor) -> None:
        self.offsets = offsets
        self.pen = Bernoulli(logits=pen_logits, validate_args=False)
        super().__init__(pen_logits.shape, torch.Size([3]), validate_args=False)

    def expand(self, batch_shape: torch.Size | tuple[int, ...], _instance: StrokeDistribution | None = None) -> StrokeDistribution:
        new = self._get_checked_instance(StrokeDistribution, _instance)
        batch_shape = torch.Size(batch_shape)
        new.offsets, new.pen = self.offsets.expand(batch_shape), self.pen.expand(batch_shape)
        super(StrokeDistribution, new).__init__(batch_shape, self.event_shape, validate_args=False)
        return new

    # -- densities ------------------------------------------------------------------------------
    def offset_log_prob(self, value: Tensor) -> Tensor:
        """log p(dx, dy) under the mixture, one value per step."""
        return self.offsets.log_prob(value[..., :2])

    def pen_log_prob(self, value: Tensor) -> Tensor:
        """log p(pen_up) under the Bernoulli, one value per step."""
        return self.pen.log_prob(value[..., 2])

    def log_prob(self, value: Tensor) -> Tensor:
        return self.offset_log_prob(value) + self.pen_log_prob(value)

    # -- summaries and draws ---------------------------------------------------------------------
    @property
    def mean(self) -> Tensor:
        return torch.cat([self.offsets.mean, self.pen.probs[..., None]], dim=-1)

    @property
    def mode(self) -> Tensor:
        """The most probable (dx, dy) and pen_up = 1 where its probability exceeds 1/2.

        A Gaussian mixture's mode has no closed form: it starts at the component mean of highest mixture
        density and takes :attr:`mode_iterations` fixed-point steps x <- (sum_k r_k P_k)^-1 sum_k r_k P_k mu_k
        (r_k the responsibilities at x, P_k the precisions; Carreira-Perpinan 2000), each of which cannot
        lower the density: the result is a mode (exactly the mean for one component)."""
        with torch.no_grad():
            comp = self.offsets.component_distribution
            loc = comp.loc  # (..., K, 2)
            log_w = self.offsets.mixture_distribution.logits.log_softmax(-1)
            precision = torch.cholesky_inverse(comp.scale_tril)  # (..., K, 2, 2)
            best = self.offsets.log_prob(loc.movedim(-2, 0)).movedim(0, -1).argmax(-1)  # (...,)
            x = torch.gather(loc, -2, best[..., None, None].expand(*best.shape, 1, 2)).squeeze(-2)
            for _ in range(self.mode_iterations):
                r = (log_w + comp.log_prob(x[..., None, :])).softmax(-1)[..., None, None]  # (..., K, 1, 1)
                weighted = (r * precision).sum(-3)
                x = torch.linalg.solve(weighted, (r * precision @ loc[..., None]).sum(-3)).squeeze(-1)
        return torch.cat([x, self._pen_up()[..., None]], dim=-1)

    def _pen_up(self) -> Tensor:
        return (self.pen.probs > 0.5).to(self.pen.probs.dtype)

    @property
    def variance(self) -> Tensor:
        return torch.cat([self.offsets.variance, self.pen.variance[..., None]], dim=-1)

    def point(self) -> Tensor:
        """Mixture mean of (dx, dy) and pen_up = 1 where its probability exceeds 1/2."""
        return torch.cat([self.offsets.mean, self._pen_up()[..., None]], dim=-1)

    def sample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        """Draw a component, then (dx, dy) from it, and pen_up from the Bernoulli (torch's global RNG)."""
        with torch.no_grad():
            offsets = self.offsets.sample(sample_shape)
            pen = self.pen.sample(sample_shape)
            return torch.cat([offsets, pen[..., None]], dim=-1)

    def tempered(self, temperature: float) -> StrokeDistribution:
        """Sketch-RNN's temperature τ: mixture and pen logits divided by τ, component variances times τ."""
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if temperature == 1.0:
            return self
        mix = self.offsets.mixture_distribution.logits
        comp = self.offsets.component_distribution
        offsets = bivariate_gaussian_mixture(mix / temperature, comp.loc, comp.scale_tril * temperature**0.5)
        return StrokeDistribution(offsets, self.pen.logits / temperature)


class StrokeMixtureHead(nn.Module):
    """Decoder outputs ``(..., 6K + 1)`` -> :class:`StrokeDistribution` over ``(dx, dy, pen_up)``.

    Layout of the outputs: K mixture logits (softmax weights), K x-means, K y-means, K raw x-stds,
    K raw y-stds (softplus + ``min_std``), K raw correlations (``max_rho`` * tanh) and one pen-up
    logit. With ``scale`` the network works in units of ``scale`` pixels: means and the softplus
    part of the stds are multiplied by it, so the density stays over the data's own units.
    """

    def __init__(self, mixtures: int, min_std: float = 1e-2, max_rho: float = 0.95, scale: float = 1.0) -> None:
        super().__init__()
        if mixtures < 1:
            raise ConfigError(f"a stroke mixture needs at least one component, got {mixtures}")
        if min_std <= 0:
            raise ConfigError(f"min_std must be > 0, got {min_std}")
        if not 0.0 < max_rho < 1.0:
            raise ConfigError(f"max_rho must be in (0, 1), got {max_rho}")
        if scale <= 0:
            raise ConfigError(f"scale must be > 0, got {scale}")
        self.mixtures, self.min_std, self.max_rho, self.scale = int(mixtures), float(min_std), float(max_rho), float(scale)

    @property
    def num_params(self) -> int:
        return 6 * self.mixtures + 1

    def forward(self, params: Tensor) -> StrokeDistribution:
        k = self.mixtures
        logits, mx, my, sx, sy, rho = params[..., : 6 * k].split(k, dim=-1)
        loc = torch.stack([mx, my], dim=-1) * self.scale
        std_x = F.softplus(sx) * self.scale + self.min_std
        std_y = F.softplus(sy) * self.scale + self.min_std
        tril = bivariate_scale_tril(std_x, std_y, self.max_rho * torch.tanh(rho))
        return StrokeDistribution(bivariate_gaussian_mixture(logits, loc, tril), params[..., 6 * k])

    def point(self, dist: StrokeDistribution) -> Tensor:
        return dist.point()
