"""Distances between data and model distributions: histograms (categorical) and samples (continuous).

All functions take numpy arrays (or anything ``np.asarray`` accepts, including CPU tensors) and
return plain Python floats or float64 arrays, so their results can go straight into ``metrics.json``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance


def _as_histogram(h: Any, name: str) -> np.ndarray:
    arr = np.asarray(h, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError(f"{name}: empty histogram")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: histogram holds NaN or inf")
    if (arr < 0).any():
        raise ValueError(f"{name}: histogram holds negative counts")
    total = arr.sum()
    if total <= 0:
        raise ValueError(f"{name}: histogram sums to zero")
    return arr / total


def total_variation(p: Any, q: Any) -> float:
    """Total variation distance 0.5 * sum_i |p_i - q_i| between two histograms over the same bins.

    ``p`` and ``q`` may be counts or probabilities; each is normalised to sum to one first, so the
    result lies in [0, 1]: 0 for proportional histograms, 1 for disjoint supports.
    """
    pn = _as_histogram(p, "p")
    qn = _as_histogram(q, "q")
    if pn.shape != qn.shape:
        raise ValueError(f"histograms have different numbers of bins: {pn.size} and {qn.size}")
    return float(0.5 * np.abs(pn - qn).sum())


def class_histogram(onehot_or_probs: Any, classes: int | None = None, normalize: bool = False) -> np.ndarray:
    """Per-class totals of ``(N, C)`` one-hot rows (counts) or class-probability rows (expected counts).

    A 1-D integer array is read as class indices and needs ``classes``. With ``normalize`` the
    histogram is divided by its sum (fractions of examples).
    """
    arr = np.asarray(onehot_or_probs)
    if arr.ndim == 1:
        if classes is None:
            raise ValueError("class indices (a 1-D array) need the number of classes")
        if arr.size and (arr.min() < 0 or arr.max() >= classes):
            raise ValueError(f"class indices must lie in [0, {classes}), got {arr.min()}..{arr.max()}")
        hist = np.bincount(arr.astype(np.int64), minlength=classes).astype(np.float64)
    elif arr.ndim == 2:
        if classes is not None and arr.shape[1] != classes:
            raise ValueError(f"expected {classes} classes, got rows of width {arr.shape[1]}")
        if (arr < 0).any():
            raise ValueError("one-hot/probability rows must be non-negative")
        hist = arr.astype(np.float64).sum(axis=0)
    else:
        raise ValueError(f"expected (N, C) rows or 1-D class indices, got shape {arr.shape}")
    if normalize:
        total = hist.sum()
        if total <= 0:
            raise ValueError("cannot normalise an empty histogram")
        hist = hist / total
    return hist


def _as_samples(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected 1-D samples, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: no samples")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: samples hold NaN or inf")
    return arr


def wasserstein_1d(a: Any, b: Any) -> float:
    """1-Wasserstein (earth mover's) distance between two 1-D empirical distributions, in data units."""
    return float(wasserstein_distance(_as_samples(a, "a"), _as_samples(b, "b")))


def _as_matrix(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{name}: expected (N, D) samples, got shape {arr.shape}")
    return arr


def marginal_wasserstein(a: Any, b: Any) -> np.ndarray:
    """Per-dimension 1-D Wasserstein distances between ``(N, D)`` and ``(M, D)`` samples, shape ``(D,)``."""
    am, bm = _as_matrix(a, "a"), _as_matrix(b, "b")
    if am.shape[1] != bm.shape[1]:
        raise ValueError(f"samples have different dimensions: {am.shape[1]} and {bm.shape[1]}")
    return np.array([wasserstein_1d(am[:, d], bm[:, d]) for d in range(am.shape[1])])


def sliced_wasserstein(a: Any, b: Any, n_projections: int = 64, seed: int = 0) -> float:
    """Sliced 1-Wasserstein distance: the mean W1 of the samples projected on random unit directions.

    The directions come from ``numpy.random.default_rng(seed)``, so the value is reproducible. In
    one dimension this equals :func:`wasserstein_1d`.
    """
    am, bm = _as_matrix(a, "a"), _as_matrix(b, "b")
    if am.shape[1] != bm.shape[1]:
        raise ValueError(f"samples have different dimensions: {am.shape[1]} and {bm.shape[1]}")
    if am.shape[1] == 1:
        return wasserstein_1d(am[:, 0], bm[:, 0])
    if n_projections < 1:
        raise ValueError(f"n_projections must be >= 1, got {n_projections}")
    dirs = np.random.default_rng(seed).normal(size=(n_projections, am.shape[1]))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    return float(np.mean([wasserstein_1d(am @ v, bm @ v) for v in dirs]))


def gaussian_baseline(train: Any, n: int, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``n`` draws from the multivariate Gaussian fitted (maximum likelihood mean, unbiased covariance) to
    ``train`` ``(N, D)``: the baseline a generative model must beat. Returns ``(samples, {"mean", "cov"})``;
    the draws come from ``numpy.random.default_rng(seed)``."""
    x = _as_matrix(train, "train")
    if x.shape[0] < 2:
        raise ValueError(f"a Gaussian fit needs at least 2 samples, got {x.shape[0]}")
    mean = x.mean(0)
    cov = np.atleast_2d(np.cov(x, rowvar=False))
    samples = np.random.default_rng(seed).multivariate_normal(mean, cov, size=n)
    return samples, {"mean": mean, "cov": cov}
