"""Does the decoder use z? Reconstruction at the posterior mean with z, and with z shuffled across examples.

Active units (Burda et al. 2016: Var_x(E_q[z_d]) > 0.01) count what the *encoder* puts into z; a
decoder that ignores z (an autoregressive or otherwise strong decoder, or one that has not learnt to
read z yet) still shows every unit active. This diagnostic asks the decoder instead: each example is
decoded at its posterior mean μ, then at μ with dimension d replaced by the same dimension of another
example (one fixed permutation of the examples), and with all of z replaced that way. A dimension the
decoder ignores leaves the reconstruction unchanged; one it uses makes it worse.

A unit counts as **used** when shuffling it raises the mean reconstruction loss −log p(x | z) by more
than ``USED_UNIT_THRESHOLD`` nats per example (the same units as the ELBO's recon term; a dimension
with posterior KL of a fraction of a nat can only shift the reconstruction by about that much, so 0.1
nats separates use from floating-point and permutation noise, which is orders of magnitude smaller).
The squared error of the decoded point (mean) is reported beside it, relative to the unshuffled one.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from seqvae.models.base import VAE

USED_UNIT_THRESHOLD = 0.1  # nats per example: shuffling a used unit raises -log p(x|z) by more than this
MAX_EXAMPLES = 512  # the diagnostic's cost: one decoder pass per dimension over at most this many examples


def _point_error(model: VAE, likelihood: Any, batch: Any) -> Tensor:
    """Mean squared error per example between the decoded point and the data, over real steps and features."""
    point = model.point(likelihood)
    x = batch.values
    if point.shape != x.shape:
        return torch.full((len(x),), float("nan"))
    diff = (point - x) ** 2
    mask = getattr(batch, "mask", None)
    if mask is not None and diff.dim() == 3:  # padded steps (which may hold NaN) never count
        diff = torch.where(mask[..., None], diff, torch.zeros((), dtype=diff.dtype, device=diff.device))
        return diff.sum((1, 2)) / (mask.sum(1) * diff.shape[-1]).clamp_min(1).to(diff.dtype)
    return diff.flatten(1).mean(1)


def _losses(model: VAE, z: Tensor, batch: Any) -> tuple[float, float]:
    """Mean −log p(x|z) and mean squared error of the decoded point, over the batch."""
    px = model.decode(z, batch)
    nll = -model.log_likelihood(px, batch)
    return float(nll.mean()), float(_point_error(model, px, batch).mean())


def shuffle_permutation(n: int, seed: int = 0) -> Tensor:
    """The permutation that pairs each example with the one whose z it receives: a random cyclic shift of a
    random order, so no example keeps its own z."""
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=gen)
    perm = torch.empty_like(order)
    perm[order] = torch.roll(order, 1)
    return perm


@torch.no_grad()
def latent_usage(
    model: VAE,
    dataset: Any,
    max_examples: int = MAX_EXAMPLES,
    threshold: float = USED_UNIT_THRESHOLD,
    seed: int = 0,
) -> dict[str, Any] | None:
    """Per latent dimension, how much shuffling it across examples raises the reconstruction loss.

    Returns ``used_units``, ``nll_increase_per_dim`` (nats per example), ``nll_increase_all``, the
    unshuffled ``nll`` and the squared errors (``sq_error``, ``sq_error_increase_per_dim`` relative to
    ``sq_error``), or None when ``dataset`` has fewer than 2 examples or the model's posterior mean is
    not one vector per example.
    """
    n = min(len(dataset), int(max_examples))
    if n < 2:
        return None
    was_training = model.training
    model.eval()
    try:
        ref = next(model.parameters(), None)
        batch = dataset.__getitems__(list(range(n)))
        if ref is not None:
            batch = batch.to(ref.device)
        mu = model.encode(batch).mean
        if mu.dim() != 2 or len(mu) != n:
            return None
        perm = shuffle_permutation(n, seed).to(mu.device)
        base_nll, base_err = _losses(model, mu, batch)
        nll_dim, err_dim = [], []
        for d in range(mu.shape[1]):
            z = mu.clone()
            z[:, d] = mu[perm, d]
            nll, err = _losses(model, z, batch)
            nll_dim.append(nll - base_nll)
            err_dim.append((err - base_err) / base_err if base_err > 0 else float("nan"))
        all_nll, all_err = _losses(model, mu[perm], batch)
    finally:
        model.train(was_training)
    return {
        "used_units": int(sum(v > threshold for v in nll_dim)),
        "threshold_nats": threshold,
        "examples": n,
        "nll": base_nll,
        "nll_increase_per_dim": nll_dim,
        "nll_increase_all": all_nll - base_nll,
        "sq_error": base_err,
        "sq_error_increase_per_dim": err_dim,
        "sq_error_increase_all": (all_err - base_err) / base_err if base_err > 0 else float("nan"),
    }
