"""The model protocol every seqvae VAE implements, and the registry that builds models by name.

A model maps a :class:`~seqvae.data.Batch` to distributions; it never computes a training loss
itself. ``objectives.py`` turns :class:`ModelOutput` (or the model's ``log_weights``) into the
ELBO, β-ELBO, IWAE bound or importance-sampled log-likelihood, so every objective works for every
model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from seqvae.config import from_dict, refuse_model_preset, to_dict
from seqvae.data.batch import Batch
from seqvae.distributions import gaussian_kl_per_dim, masked_log_prob, standard_normal
from seqvae.errors import ConfigError
from seqvae.registry import Registry


@dataclass
class ModelOutput:
    """One stochastic pass x -> q(z|x) -> z -> p(x|z); per-example tensors have shape ``(B,)``."""

    posterior: Distribution
    prior: Distribution
    z: Tensor
    likelihood: Distribution
    recon_log_prob: Tensor  # log p(x|z), summed over features and real steps
    kl: Tensor  # KL(q(z|x) || p(z)), summed over latent dimensions
    kl_per_dim: Tensor | None = None  # (B, L) where the latent is one diagonal Gaussian
    terms: dict[str, Tensor] = field(default_factory=dict)  # extra named terms (e.g. KL of f and z_t)


class VAE(nn.Module):
    """Base class: a Gaussian q(z|x), a prior p(z) (standard normal by default) and a decoder p(x|z).

    Subclasses implement :meth:`encode` and :meth:`decode`; the rest is shared.
    """

    kind: ClassVar[str] = ""
    config_class: ClassVar[type]
    sequence_input: ClassVar[bool] = False  # True: batches are padded sequences (B, T, F) with a mask
    video_input: ClassVar[bool] = False  # True: batches are whole videos (B, T, C, H, W) or (B, T, H, W, C)
    supports_keep: ClassVar[bool] = False  # True: keep_and_resample (a static content and a dynamic latent)

    def __init__(self, config: Any, features: int) -> None:
        super().__init__()
        self.config = config
        self.features = int(features)
        # the likelihood head turning decoder outputs into p(x|z) (e.g. a LikelihoodHead), for models that
        # have one: a subclass assigns its head module after this __init__; None for the others
        self.head: nn.Module | None = None

    # -- protocol ------------------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return int(self.config.latent_dim)

    def encode(self, batch: Batch) -> Distribution:
        """q(z|x): a distribution with batch shape ``(B,)`` and event shape ``(latent_dim,)``."""
        raise NotImplementedError

    def decode(self, z: Tensor, batch: Batch | None = None) -> Distribution:
        """p(x|z) for latent codes ``z`` ``(N, latent_dim)``; ``batch`` gives lengths/conditions if needed."""
        raise NotImplementedError

    def prior(self, batch: Batch | None = None, n: int | None = None) -> Distribution:
        """p(z) for a batch (or ``n`` draws): N(0, I) unless a subclass learns one."""
        size = len(batch) if batch is not None else n
        if size is None:
            raise ValueError("prior() needs a batch or n")
        # dtype/device reference: the batch when it has floating values (cheaper than walking parameters)
        ref = batch.values if batch is not None and batch.values.is_floating_point() else next(self.parameters())
        return standard_normal((size, self.latent_dim), ref)

    # -- shared --------------------------------------------------------------------------------
    def log_likelihood(self, likelihood: Distribution, batch: Batch) -> Tensor:
        """log p(x|z) per example, summed over features and unmasked steps."""
        return masked_log_prob(likelihood, batch.values, batch.mask)

    def forward(self, batch: Batch) -> ModelOutput:
        posterior = self.encode(batch)
        z = posterior.rsample()
        return self.model_output(batch, posterior, z, self.decode(z, batch), self.prior(batch))

    def model_output(
        self, batch: Batch, posterior: Distribution, z: Tensor, likelihood: Distribution, prior: Distribution
    ) -> ModelOutput:
        """What ``forward`` returns, from its parts (Gaussian posterior and prior: KL per dimension)."""
        kl_per_dim = gaussian_kl_per_dim(posterior, prior)
        return ModelOutput(
            posterior=posterior,
            prior=prior,
            z=z,
            likelihood=likelihood,
            recon_log_prob=self.log_likelihood(likelihood, batch),
            kl=kl_per_dim.sum(-1),
            kl_per_dim=kl_per_dim,
        )

    def log_weights(self, batch: Batch, k: int) -> Tensor:
        """Importance log-weights log p(x|z_k) + log p(z_k) - log q(z_k|x), z_k ~ q(z|x): shape ``(k, B)``."""
        posterior = self.encode(batch)
        z = posterior.rsample((k,))  # (k, B, L)
        b = len(batch)
        flat = z.reshape(k * b, *z.shape[2:])
        big = batch.repeat(k)
        log_px = self.log_likelihood(self.decode(flat, big), big).reshape(k, b)
        log_pz = self.prior(batch).log_prob(z)
        log_qz = posterior.log_prob(z)
        return log_px + log_pz - log_qz

    @torch.no_grad()
    def reconstruct(self, batch: Batch) -> Tensor:
        """Decode the posterior mean and return the likelihood's point value (mean or class probs)."""
        return self.point(self.decode(self.encode(batch).mean, batch))

    def point(self, likelihood: Distribution) -> Tensor:
        return self.head.point(likelihood) if self.head is not None else likelihood.mean

    # -- optional capabilities (defaults: none) -------------------------------------------------
    def on_train_step(self, step: int) -> None:
        """Called by the trainer before each optimiser ``step`` (e.g. to advance a scheduled-sampling schedule)."""

    def set_total_steps(self, total: float | None) -> None:
        """The run's length in optimiser steps, set when training starts (for schedules given as fractions)."""

    def keep_and_resample(self, batch: Batch, keep: str, draws: int = 1,
                          generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
        """Keep one part of each example's latent and redraw the other: models with ``supports_keep`` only."""
        raise NotImplementedError(
            f"a {self.kind} model has no content/dynamics split to keep one of (supports_keep is False); "
            "keep_and_resample needs a video model with a static and a dynamic latent (dsae)"
        )

    @torch.no_grad()
    def generate(self, z: Tensor, length: int | None = None) -> tuple[Tensor, Tensor | None]:
        """Decode latent codes to point values (data in model units) and, for sequences, their lengths."""
        return self.point(self.decode(z)), None

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, mean: bool = True) -> Tensor:
        """Draw ``n`` examples: z ~ p(z), then the likelihood's mean (``mean=True``) or a sample of it."""
        ref = next(self.parameters())
        z = torch.randn((n, self.latent_dim), generator=generator, dtype=ref.dtype, device=ref.device)
        px = self.decode(z)
        if mean:
            return self.point(px)
        return px.sample()

    def config_dict(self) -> dict[str, Any]:
        """JSON form of the config, enough to rebuild this model with :func:`build_model`."""
        return to_dict(self.config)


MODEL_REGISTRY: Registry[type[VAE]] = Registry("model.kind")


def register_model(cls: type[VAE]) -> type[VAE]:
    """Class decorator: make a model buildable by its ``kind`` name."""
    if not cls.kind:
        raise ValueError(f"{cls.__name__} needs a kind")
    MODEL_REGISTRY.register(cls.kind, cls)
    return cls


def parse_model_config(raw: dict[str, Any]) -> Any:
    """Validate a raw ``model:`` mapping against the config class of its ``kind``."""
    refuse_model_preset(raw)
    kind = raw.get("kind")
    if kind not in MODEL_REGISTRY:
        known = ", ".join(sorted(MODEL_REGISTRY))
        raise ConfigError(f"model.kind {kind!r} is not a known model; choose one of: {known}")
    return from_dict(MODEL_REGISTRY[kind].config_class, raw, prefix="model")


def build_model(raw: dict[str, Any], features: int) -> VAE:
    """Build a model from its raw config mapping and the number of data features."""
    cfg = parse_model_config(raw)
    return MODEL_REGISTRY[cfg.kind](cfg, features)


def sample_sequences(model: VAE, n: int, generator: torch.Generator | None = None, length: int | None = None) -> Any:
    """``n`` sequences generated from z ~ N(0, I) (``generator`` draws z) as a SequenceBatch: the shared
    ``sample`` of the sequence models, whose ``generate`` decides how each sequence is decoded and ended."""
    from seqvae.data.sequences import SequenceBatch

    ref = next(model.parameters())
    z = torch.randn((n, model.latent_dim), generator=generator, dtype=ref.dtype, device=ref.device)
    values, lengths = model.generate(z, length)
    return SequenceBatch(values=values, lengths=lengths)
