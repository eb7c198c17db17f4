"""Conditional VAE for learned sampling distributions in motion planning (kind: cvae).

Ichter, Harrison & Pavone (ICRA 2018) train a conditional VAE on states x of near-optimal paths, conditioned on
y = (start, goal, occupancy grid of the world), and at planning time decode z ~ p(z) (or p(z|y)) into states that
concentrate where good paths go. Here:

* the condition y travels in ``Batch.condition`` as one flat float row per example laid out
  ``[start (state_dim), goal (state_dim), grid (R*R, row-major, row = y)]`` (see :func:`pack_condition`);
  with ``grid: 0`` the row is just ``[start, goal]``;
* a condition encoder c(y): a small CNN over the R x R grid (stride-2 convolutions + ReLU, then a linear layer),
  concatenated with start and goal, and an MLP to ``condition_dim`` features;
* q(z|x, y) = N(mu, sigma) from an MLP on ``[x, c(y)]``; p(x|z, y) a Gaussian head on an MLP of ``[z, c(y)]``;
* the prior is N(0, I) (``prior: standard``, the paper's choice) or the conditional Gaussian
  p(z|y) = N(mu(c), sigma(c)) of Sohn et al. (2015) (``prior: learned``); KL and the importance weights use it.

With ``angles: true`` (planar-arm joint angles) the encoder sees x, and the condition encoder sees start and goal,
as ``(sin, cos)`` pairs, so angles near +pi and -pi look alike to the networks; the decoder still outputs plain
angles with a Gaussian (no wrap-around), matching a configuration space that is the box ``[-pi, pi]^k``. Use it
with ``data.normalize: false``: the sine of a standardised angle is meaningless.

:meth:`ConditionalVAE.sample_states` is what a planner calls: thousands of states per condition in one call.
States are in model units (the units of ``Batch.values``); the condition is never normalised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from seqvae.data.batch import Batch
from seqvae.distributions import LikelihoodConfig, build_likelihood, diagonal_gaussian, std_from_raw
from seqvae.errors import ConfigError, DataError
from seqvae.models.base import VAE, ModelOutput, register_model
from seqvae.models.mlp import ACTIVATIONS, mlp

# -------------------------------------------------------------------------------------------- condition layout


def condition_width(state_dim: int, grid: int) -> int:
    """Length of one packed condition row: start and goal (``state_dim`` each) and an R x R grid."""
    return 2 * int(state_dim) + int(grid) ** 2


def pack_condition(start: Any, goal: Any, grid: Any | None = None) -> Any:
    """One flat condition row per example: ``[start (D), goal (D), grid (R*R, row-major, row = y)]``.

    ``start`` and ``goal`` are ``(..., D)``; ``grid`` is ``(..., R, R)`` (as from ``World.occupancy_grid``) or None.
    Returns a float32 tensor if any input is a tensor, else a float32 numpy array, shape ``(..., 2D + R*R)``.
    """
    use_torch = any(isinstance(a, Tensor) for a in (start, goal, grid))
    if use_torch:
        ref = next(a for a in (start, goal, grid) if isinstance(a, Tensor))
        parts = [torch.as_tensor(a, dtype=torch.float32, device=ref.device) for a in (start, goal)]
    else:
        parts = [np.asarray(a, dtype=np.float32) for a in (start, goal)]
    start_, goal_ = parts
    if start_.ndim < 1 or start_.shape != goal_.shape:
        raise DataError(f"pack_condition: start and goal must have the same shape (..., D), got "
                        f"{tuple(start_.shape)} and {tuple(goal_.shape)}")
    lead = tuple(start_.shape[:-1])
    if grid is not None:
        g = torch.as_tensor(grid, dtype=torch.float32, device=ref.device) if use_torch else np.asarray(grid, np.float32)
        if g.ndim < 2 or g.shape[-1] != g.shape[-2] or tuple(g.shape[:-2]) != lead:
            raise DataError(f"pack_condition: grid must be square with shape {(*lead, 'R', 'R')}, got {tuple(g.shape)}")
        parts.append(g.reshape(*lead, g.shape[-1] * g.shape[-2]))
    return torch.cat(parts, dim=-1) if use_torch else np.concatenate(parts, axis=-1)


def unpack_condition(condition: Any, state_dim: int, grid: int) -> tuple[Any, Any, Any | None]:
    """Inverse of :func:`pack_condition`: ``(start (..., D), goal (..., D), grid (..., R, R) or None)``."""
    check_condition_width(condition, state_dim, grid)
    d, r = int(state_dim), int(grid)
    start, goal = condition[..., :d], condition[..., d : 2 * d]
    occupancy = condition[..., 2 * d :].reshape(*condition.shape[:-1], r, r) if r > 0 else None
    return start, goal, occupancy


def check_condition_width(condition: Any, state_dim: int, grid: int, where: str = "condition") -> None:
    """Raise :class:`DataError` unless the last axis of ``condition`` is ``2 * state_dim + grid**2`` long."""
    want = condition_width(state_dim, grid)
    got = condition.shape[-1] if getattr(condition, "ndim", 0) >= 1 else None
    if got != want:
        shape = tuple(getattr(condition, "shape", ()))
        raise DataError(
            f"{where}: expected {want} values per example ([start ({state_dim}), goal ({state_dim}), "
            f"grid ({grid}x{grid} = {grid * grid})]), got shape {shape}"
        )


# -------------------------------------------------------------------------------------------- config


@dataclass
class ConditionalConfig:
    """Conditional VAE over robot states x given y = (start, goal, occupancy grid)."""

    kind: str = "cvae"
    latent_dim: int = 3
    hidden: list[int] = field(default_factory=lambda: [128, 128])  # q(z|x,y) MLP; the decoder mirrors it
    activation: Literal["relu", "tanh", "elu", "gelu", "silu", "leaky_relu", "softplus"] = "relu"
    # Gaussian with a fixed std of 0.05 (model units; 1/20 of the unit square). A learned std starts at 1 and, on
    # multimodal path states (two gaps), lets the posterior collapse: the decoder then outputs one wide Gaussian at
    # the conditional mean (often inside a wall) and z carries nothing. ``kind: gaussian-learned`` is allowed.
    likelihood: LikelihoodConfig = field(default_factory=lambda: LikelihoodConfig(kind="gaussian", std=0.05))
    state_dim: int = 2  # size of x, and of start and goal each
    grid: int = 0  # resolution R of the R x R occupancy grid in the condition; 0 = no grid
    grid_channels: list[int] = field(default_factory=lambda: [8, 16, 32])  # one stride-2 3x3 convolution each
    condition_dim: int = 64  # size of the condition embedding c(y)
    prior: Literal["standard", "learned"] = "standard"  # N(0, I), or p(z|y) = N(mu(c), sigma(c))
    angles: bool = False  # x, start and goal are joint angles: the encoders see (sin, cos)
    min_posterior_std: float = 1e-4

    def __post_init__(self) -> None:
        for name in ("latent_dim", "state_dim", "condition_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.grid < 0:
            raise ConfigError(f"model.grid must be >= 0 (0 = no occupancy grid), got {self.grid}")
        if any(h < 1 for h in self.hidden):
            raise ConfigError("model.hidden sizes must be >= 1")
        if self.grid > 0 and (not self.grid_channels or any(c < 1 for c in self.grid_channels)):
            raise ConfigError("model.grid_channels must be a non-empty list of sizes >= 1 when model.grid > 0")
        if self.likelihood.kind not in ("gaussian", "gaussian-learned") or self.likelihood.bernoulli_features:
            raise ConfigError(
                f"model.likelihood.kind must be 'gaussian' or 'gaussian-learned' (no bernoulli_features) for a cvae "
                f"over robot states, got {self.likelihood.kind!r}"
            )
        if self.min_posterior_std <= 0:
            raise ConfigError(f"model.min_posterior_std must be > 0, got {self.min_posterior_std}")


# -------------------------------------------------------------------------------------------- networks


class GridEncoder(nn.Module):
    """R x R occupancy grid -> ``out_dim`` features: stride-2 3x3 convolutions with ReLU, flatten, linear."""

    def __init__(self, resolution: int, channels: list[int], out_dim: int, activation: str) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size, prev = resolution, 1
        for ch in channels:
            layers += [nn.Conv2d(prev, ch, kernel_size=3, stride=2, padding=1), nn.ReLU()]
            size, prev = (size + 1) // 2, ch
        self.resolution = resolution
        self.conv = nn.Sequential(*layers)
        self.out = nn.Sequential(nn.Linear(prev * size * size, out_dim), ACTIVATIONS[activation]())

    def forward(self, grid: Tensor) -> Tensor:
        """``grid`` ``(N, R*R)`` row-major -> ``(N, out_dim)``."""
        x = grid.reshape(-1, 1, self.resolution, self.resolution)
        return self.out(self.conv(x).flatten(1))


def _angle_features(x: Tensor) -> Tensor:
    return torch.cat([torch.sin(x), torch.cos(x)], dim=-1)


@register_model
class ConditionalVAE(VAE):
    """q(z|x, y), p(z) or p(z|y), p(x|z, y) with y = (start, goal, grid) embedded by :class:`GridEncoder` + MLP."""

    kind = "cvae"
    config_class = ConditionalConfig

    def __init__(self, config: ConditionalConfig, features: int) -> None:
        super().__init__(config, features)
        if features != config.state_dim:
            raise ConfigError(
                f"model.state_dim is {config.state_dim} but the data has {features} features per example; "
                f"set model.state_dim={features}"
            )
        d, e, latent = config.state_dim, config.condition_dim, config.latent_dim
        d_in = 2 * d if config.angles else d  # width of a state as the encoders see it
        self.head = build_likelihood(config.likelihood, d)
        self.grid_encoder = None
        if config.grid:
            self.grid_encoder = GridEncoder(config.grid, config.grid_channels, e, config.activation)
        cond_in = 2 * d_in + (e if config.grid else 0)  # start and goal, then the grid features
        self.condition_net = mlp([cond_in, e, e], config.activation, final_activation=True)
        self.encoder = mlp([d_in + e, *config.hidden, 2 * latent], config.activation)
        self.decoder = mlp([latent + e, *config.hidden[::-1], self.head.num_params], config.activation)
        self.prior_net = mlp([e, *config.hidden, 2 * latent], config.activation) if config.prior == "learned" else None

    # -- condition -------------------------------------------------------------------------------
    @property
    def condition_width(self) -> int:
        """Values per packed condition row: ``2 * state_dim + grid**2``."""
        return condition_width(self.config.state_dim, self.config.grid)

    def _condition(self, batch: Batch | None, where: str) -> Tensor:
        if batch is None or batch.condition is None:
            raise DataError(
                f"cvae {where} needs batch.condition: a (batch, {self.condition_width}) float tensor laid out "
                f"[start ({self.config.state_dim}), goal ({self.config.state_dim}), "
                f"grid ({self.config.grid}x{self.config.grid})] (see seqvae.models.conditional.pack_condition)"
            )
        cond = batch.condition
        if cond.dim() != 2 or cond.shape[0] != len(batch):
            raise DataError(f"cvae {where}: batch.condition must be (batch={len(batch)}, {self.condition_width}), "
                            f"got {tuple(cond.shape)}")
        check_condition_width(cond, self.config.state_dim, self.config.grid, f"cvae {where}: batch.condition")
        return cond

    def embed_condition(self, condition: Tensor) -> Tensor:
        """c(y): packed conditions ``(N, C)`` -> embeddings ``(N, condition_dim)``."""
        check_condition_width(condition, self.config.state_dim, self.config.grid, "cvae condition")
        d = self.config.state_dim
        ends = condition[:, : 2 * d]
        if self.config.angles:
            ends = torch.cat([_angle_features(ends[:, :d]), _angle_features(ends[:, d:])], dim=-1)
        parts = [ends]
        if self.grid_encoder is not None:
            parts.append(self.grid_encoder(condition[:, 2 * d :]))
        return self.condition_net(torch.cat(parts, dim=-1))

    def _embed(self, batch: Batch | None, where: str) -> Tensor:
        return self.embed_condition(self._condition(batch, where))

    # -- protocol --------------------------------------------------------------------------------
    def encode(self, batch: Batch, embedding: Tensor | None = None) -> Distribution:
        """q(z|x, y); ``embedding`` is c(y) when already computed."""
        x = batch.values
        if x.dim() != 2 or x.shape[1] != self.features:
            raise DataError(f"cvae model expects states of shape (batch, {self.features}), got {tuple(x.shape)}")
        c = self._embed(batch, "encode") if embedding is None else embedding
        xin = _angle_features(x) if self.config.angles else x
        mean, raw = self.encoder(torch.cat([xin, c], dim=-1)).chunk(2, dim=-1)
        return diagonal_gaussian(mean, std_from_raw(raw, self.config.min_posterior_std))

    def decode(self, z: Tensor, batch: Batch | None = None, embedding: Tensor | None = None) -> Distribution:
        """p(x|z, y) for ``z`` ``(..., L)`` and c(y) ``(..., E)`` (from ``batch.condition`` unless ``embedding``)."""
        c = self._embed(batch, "decode") if embedding is None else embedding
        c = c.expand(*z.shape[:-1], c.shape[-1])
        return self.head(self.decoder(torch.cat([z, c], dim=-1)))

    def prior_from_embedding(self, embedding: Tensor) -> Distribution:
        """p(z|y) for embeddings ``(N, E)``: N(0, I) for ``prior: standard``, else N(mu(c), sigma(c))."""
        if self.prior_net is None:
            zeros = embedding.new_zeros((embedding.shape[0], self.latent_dim))
            return Independent(Normal(zeros, torch.ones_like(zeros)), 1)
        mean, raw = self.prior_net(embedding).chunk(2, dim=-1)
        return diagonal_gaussian(mean, std_from_raw(raw, self.config.min_posterior_std))

    def prior(self, batch: Batch | None = None, n: int | None = None) -> Distribution:
        """p(z) = N(0, I) (``prior: standard``; ``n`` draws allowed) or p(z|y) per example of ``batch``."""
        if self.prior_net is None:
            return super().prior(batch, n)
        if batch is None:
            raise DataError(
                "the learned prior p(z|y) of a cvae model needs a condition: call prior(batch) with batch.condition "
                "set, or sample_states(condition, n)"
            )
        return self.prior_from_embedding(self._embed(batch, "prior"))

    def forward(self, batch: Batch) -> ModelOutput:
        c = self._embed(batch, "forward")  # the CNN runs once for encoder, decoder and prior
        posterior = self.encode(batch, c)
        z = posterior.rsample()
        return self.model_output(batch, posterior, z, self.decode(z, embedding=c), self.prior_from_embedding(c))

    def log_weights(self, batch: Batch, k: int) -> Tensor:
        """log p(x|z_k, y) + log p(z_k|y) - log q(z_k|x, y), z_k ~ q(z|x, y): shape ``(k, B)``."""
        c = self._embed(batch, "log_weights")
        posterior = self.encode(batch, c)
        z = posterior.rsample((k,))  # (k, B, L)
        log_px = self.decode(z, embedding=c).log_prob(batch.values)  # broadcast over the k draws, no batch copy
        return log_px + self.prior_from_embedding(c).log_prob(z) - posterior.log_prob(z)

    @torch.no_grad()
    def reconstruct(self, batch: Batch) -> Tensor:
        c = self._embed(batch, "reconstruct")
        return self.point(self.decode(self.encode(batch, c).mean, embedding=c))

    @torch.no_grad()
    def generate(self, z: Tensor, length: int | None = None) -> tuple[Tensor, Tensor | None]:
        raise DataError("a cvae model decodes only given a condition: use sample_states(condition, n)")

    @torch.no_grad()
    def sample(
        self, n: int, generator: torch.Generator | None = None, mean: bool = True, condition: Tensor | None = None
    ) -> Tensor:
        """``n`` states for ``condition`` (required): see :meth:`sample_states`."""
        if condition is None:
            raise DataError("a cvae model samples states for a condition: pass condition=, or use sample_states")
        return self.sample_states(condition, n, generator=generator, mean=mean)

    # -- planner API -----------------------------------------------------------------------------
    @torch.no_grad()
    def sample_states(
        self,
        condition: Tensor | np.ndarray,
        n: int,
        generator: torch.Generator | None = None,
        mean: bool = False,
        max_rows: int = 65536,
    ) -> Tensor:
        """Draw z ~ p(z) (or p(z|y)) and decode: ``n`` states per condition, in model units.

        ``condition`` is one packed row ``(C,)`` -> result ``(n, state_dim)``, or ``(B, C)`` -> ``(B, n, state_dim)``.
        ``mean=True`` returns the decoder means (the spread then comes from z alone), else draws from p(x|z, y).
        All randomness comes from ``generator`` when given (it must live on the model's device); decoding runs in
        chunks of ``max_rows`` rows, which does not change the result.
        """
        if n < 1:
            raise ValueError(f"sample_states needs n >= 1, got {n}")
        ref = next(self.parameters())
        cond = torch.as_tensor(condition, dtype=ref.dtype, device=ref.device)
        single = cond.dim() == 1
        if single:
            cond = cond[None]
        if cond.dim() != 2:
            raise DataError(f"sample_states: condition must be (C,) or (B, C), got shape {tuple(cond.shape)}")
        check_condition_width(cond, self.config.state_dim, self.config.grid, "sample_states: condition")
        b, latent, d = cond.shape[0], self.latent_dim, self.config.state_dim
        c = self.embed_condition(cond)
        # all noise drawn up front, in one fixed order, so chunking leaves the draws unchanged
        eps = torch.randn((b, n, latent), generator=generator, dtype=ref.dtype, device=ref.device)
        noise = None if mean else torch.randn((b, n, d), generator=generator, dtype=ref.dtype, device=ref.device)
        if self.prior_net is None:
            z = eps
        else:
            pz = self.prior_from_embedding(c).base_dist
            z = pz.loc[:, None] + pz.scale[:, None] * eps
        out = torch.empty((b, n, d), dtype=ref.dtype, device=ref.device)
        per = max(1, max_rows // n)  # conditions per chunk
        for s in range(0, b, per):
            px = self.decode(z[s : s + per], embedding=c[s : s + per, None, :])
            if mean:
                out[s : s + per] = self.point(px)
            else:
                base = px.base_dist  # the heads allowed here are Independent(Normal)
                out[s : s + per] = base.loc + base.scale * noise[s : s + per]
        return out[0] if single else out
