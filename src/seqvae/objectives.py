"""Training objectives and likelihood estimates; every function returns one value per example.

Conventions: ``elbo`` and bounds are in nats (higher is better); ``loss`` is what the optimiser
minimises. Per-example values let callers mask, weight and average as they need.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from seqvae.config import AnnealConfig, ObjectiveConfig
from seqvae.data.batch import Batch
from seqvae.models.base import VAE, ModelOutput


def logmeanexp(x: Tensor, dim: int = 0) -> Tensor:
    """log(mean(exp(x))) along ``dim``, computed stably."""
    return torch.logsumexp(x, dim=dim) - math.log(x.shape[dim])


# --------------------------------------------------------------------------- KL schedules


def schedule_steps(steps: int, fraction: float | None, total_steps: float | None) -> float:
    """The length of a schedule in optimiser steps: ``fraction`` of ``total_steps`` when both are known,
    else the fixed ``steps``."""
    if fraction is not None and total_steps is not None and math.isfinite(total_steps) and total_steps > 0:
        return fraction * total_steps
    return float(steps)


def kl_weight(step: int, anneal: AnnealConfig, total_steps: float | None = None) -> float:
    """Multiplier in [start, 1] on β at optimisation ``step`` (0-based); ``total_steps`` (the run's length)
    turns ``warmup_fraction`` / ``total_fraction`` into steps."""
    if anneal.kind == "constant":
        return 1.0
    if anneal.kind == "linear":
        warmup = schedule_steps(anneal.warmup_steps, anneal.warmup_fraction, total_steps)
        if warmup <= 0:
            return 1.0
        frac = min(1.0, step / warmup)
        return anneal.start + (1.0 - anneal.start) * frac
    if anneal.kind == "cyclical":
        # Fu et al. 2019: within each cycle ramp linearly for `ratio` of it, then hold at 1.
        total = schedule_steps(anneal.total_steps, anneal.total_fraction, total_steps)
        if step >= total:
            return 1.0
        period = total / anneal.cycles
        phase = (step % period) / period
        frac = min(1.0, phase / anneal.ratio)
        return anneal.start + (1.0 - anneal.start) * frac
    raise ValueError(f"unknown annealing kind {anneal.kind!r}")


# --------------------------------------------------------------------------- ELBO family


def free_bits_kl(kl_per_dim: Tensor, free_bits: float) -> Tensor:
    """Per-example KL with free bits (Kingma et al. 2016), shape ``(B,)``.

    A latent dimension whose batch-mean KL is below ``free_bits`` contributes the constant
    ``free_bits`` (no gradient) instead of its KL, so the batch mean of the result equals
    ``sum_d max(free_bits, mean_b KL[b, d])`` exactly as in the paper.
    """
    if free_bits <= 0:
        return kl_per_dim.sum(-1)
    flat = kl_per_dim.reshape(kl_per_dim.shape[0], -1)
    active = flat.mean(0, keepdim=True) >= free_bits
    return torch.where(active, flat, torch.full_like(flat, free_bits)).sum(-1)


def elbo_terms(out: ModelOutput, beta: float = 1.0, free_bits: float = 0.0) -> dict[str, Tensor]:
    """β-ELBO pieces per example: ``recon`` (-log p(x|z)), ``kl``, ``elbo`` and the ``loss`` to minimise."""
    if free_bits > 0 and out.kl_per_dim is None:
        raise ValueError("free bits need a per-dimension KL, which this model does not provide")
    kl_train = free_bits_kl(out.kl_per_dim, free_bits) if free_bits > 0 else out.kl
    recon = -out.recon_log_prob
    return {
        "recon": recon,
        "kl": out.kl,
        "elbo": out.recon_log_prob - out.kl,
        "loss": recon + beta * kl_train,
    }


def iwae_bound(model: VAE, batch: Batch, k: int) -> Tensor:
    """IWAE bound log (1/K) sum_k w_k (Burda et al. 2016), differentiable, shape ``(B,)``."""
    return logmeanexp(model.log_weights(batch, k), dim=0)


@torch.no_grad()
def importance_log_likelihood(model: VAE, batch: Batch, k: int = 1000, max_rows: int = 65536) -> Tensor:
    """Importance-sampled estimate of log p(x) with ``k`` samples from q(z|x), shape ``(B,)``.

    This is the dmol.pub chapter's estimator, log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x); it is the
    IWAE bound with large K, evaluated in chunks of at most ``max_rows`` decoded rows.
    """
    chunk = max(1, min(k, max_rows // max(1, len(batch))))
    parts = []
    done = 0
    while done < k:
        n = min(chunk, k - done)
        parts.append(model.log_weights(batch, n))
        done += n
    return logmeanexp(torch.cat(parts, dim=0), dim=0)


class Objective:
    """The configured training objective: β-ELBO (annealed, free bits) or IWAE."""

    def __init__(self, config: ObjectiveConfig, total_steps: float | None = None) -> None:
        self.config = config
        self.total_steps = total_steps  # the run's optimiser steps, for schedules given as fractions

    def beta(self, step: int) -> float:
        return self.config.beta * kl_weight(step, self.config.anneal, self.total_steps)

    def __call__(self, model: VAE, batch: Batch, step: int = 0) -> dict[str, Tensor]:
        """Per-example terms; ``loss`` is the quantity to minimise (mean over the batch)."""
        out = model(batch)
        terms = elbo_terms(out, self.beta(step), self.config.free_bits)
        if self.config.kind == "iwae":
            bound = iwae_bound(model, batch, self.config.iwae_samples)
            terms["iwae"] = bound
            terms["loss"] = -bound
        terms["mu"] = out.posterior.mean.detach() if hasattr(out.posterior, "mean") else out.z.detach()
        if out.kl_per_dim is not None:
            terms["kl_per_dim"] = out.kl_per_dim.detach()
        return terms


@torch.no_grad()
def posterior_mean_log_likelihood(model: VAE, batch: Batch) -> Tensor | None:
    """log p(x | z = E[q(z|x)]) per example: the reconstruction term at the posterior mean, ``(B,)``;
    None for a model whose posterior is not one Gaussian over ``latent_dim`` values."""
    posterior = model.encode(batch)
    mean = getattr(posterior, "mean", None)
    if not isinstance(mean, Tensor) or mean.shape != (len(batch), model.latent_dim):
        return None
    return model.log_likelihood(model.decode(mean, batch), batch)
