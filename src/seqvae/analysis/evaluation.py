"""Held-out evaluation: ELBO, IWAE bound and importance-sampled log-likelihood per example."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import track

from seqvae.config import EvalConfig
from seqvae.data.arrays import ArrayDataset
from seqvae.data.prepare import Normalizer
from seqvae.data.sequences import SequenceDataset
from seqvae.models.base import VAE
from seqvae.objectives import elbo_terms, importance_log_likelihood, iwae_bound


@torch.no_grad()
def evaluate_model(
    model: VAE, dataset: ArrayDataset, cfg: EvalConfig, seed: int = 0, progress: bool = False
) -> dict[str, Any]:
    """Mean ELBO, reconstruction log-likelihood, KL, IWAE(K) and IS log p(x) over ``dataset`` (nats/example).

    Ordering that must hold up to Monte Carlo error: elbo <= iwae <= log_likelihood. With
    ``progress`` a progress bar (on stderr) counts the batches.
    """
    model.eval()
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    sums = {"elbo": 0.0, "recon_log_prob": 0.0, "kl": 0.0, "iwae": 0.0, "log_likelihood": 0.0}
    n = 0
    try:
        starts = range(0, len(dataset), cfg.batch_size)
        if progress:
            starts = track(starts, description="evaluating", console=Console(stderr=True), transient=True)
        for start in starts:
            batch = dataset.__getitems__(list(range(start, min(start + cfg.batch_size, len(dataset)))))
            out = model(batch)
            terms = elbo_terms(out)
            sums["elbo"] += float(terms["elbo"].sum())
            sums["recon_log_prob"] += float(out.recon_log_prob.sum())
            sums["kl"] += float(out.kl.sum())
            sums["iwae"] += float(iwae_bound(model, batch, cfg.iwae_samples).sum())
            sums["log_likelihood"] += float(importance_log_likelihood(model, batch, cfg.ll_samples).sum())
            n += len(batch)
    finally:
        torch.random.set_rng_state(gen_state)
    if n == 0:
        raise ValueError("cannot evaluate on an empty data set")
    result: dict[str, Any] = {k: v / n for k, v in sums.items()}
    result.update({"n_examples": n, "iwae_samples": cfg.iwae_samples, "ll_samples": cfg.ll_samples})
    return result


def normalizer_log_jacobian(normalizer: Normalizer | None, dataset: ArrayDataset | SequenceDataset) -> float:
    """log |d x_model / d x_data| per example, averaged over ``dataset``: converts model-unit densities to
    data units. A sequence gains one step's Jacobian for each of its real steps."""
    if normalizer is None:
        return 0.0
    per_step = float(-np.log(normalizer.std).sum())
    if isinstance(dataset, SequenceDataset):
        return per_step * float(dataset.lengths.double().mean()) if len(dataset) else 0.0
    return per_step


def evaluate_in_data_units(
    model: VAE,
    dataset: ArrayDataset | SequenceDataset,
    cfg: EvalConfig,
    normalizer: Normalizer | None,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """:func:`evaluate_model` with the densities (ELBO, IWAE, log p(x), reconstruction term) moved from the
    model's normalised units to the data's by the normaliser's log-Jacobian."""
    metrics = evaluate_model(model, dataset, cfg, seed, progress=progress)
    jac = normalizer_log_jacobian(normalizer, dataset)
    for key in ("elbo", "iwae", "log_likelihood", "recon_log_prob"):
        metrics[key] += jac
    return metrics
