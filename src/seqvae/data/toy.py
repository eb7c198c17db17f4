"""Small synthetic data sets: the dmol.pub chapter's examples and closed-form references."""

from __future__ import annotations

import numpy as np


def dmol_bimodal(n: int = 1024, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The chapter's 1-D data: an equal mixture of N(-1, 0.5^2) and N(1, 0.25^2), shape ``(n, 1)``."""
    rng = np.random.default_rng(seed)
    mode = rng.integers(0, 2, size=n)
    x = np.where(mode == 0, rng.normal(-1.0, 0.5, size=n), rng.normal(1.0, 0.25, size=n))
    return x[:, None].astype(np.float32), {"mode": mode}


def dmol_categorical(n: int = 1024, classes: int = 32, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The chapter's categorical data: the bimodal samples histogrammed into ``classes`` bins, one-hot."""
    x, labels = dmol_bimodal(n, seed)
    edges = np.histogram_bin_edges(x[:, 0], bins=classes)
    cls = np.clip(np.digitize(x[:, 0], edges[1:-1]), 0, classes - 1)
    onehot = np.eye(classes, dtype=np.float32)[cls]
    return onehot, {"class": cls, "mode": labels["mode"]}


def gaussian_mixture(
    n: int = 2048,
    dim: int = 2,
    components: int = 3,
    spread: float = 3.0,
    scale: float = 0.4,
    seed: int = 0,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A well-separated Gaussian mixture in ``dim`` dimensions (multimodal low-D continuous data)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, spread, size=(components, dim))
    comp = rng.integers(0, components, size=n)
    x = centres[comp] + rng.normal(0.0, scale, size=(n, dim))
    return x.astype(np.float32), {"component": comp}


def linear_gaussian(
    n: int = 1000, features: int = 5, latent: int = 2, sigma: float = 0.3, seed: int = 0
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Samples of x = W z + b + sigma * eps with z ~ N(0, I) (probabilistic PCA data)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(features, latent))
    b = rng.normal(size=features)
    z = rng.normal(size=(n, latent))
    x = z @ w.T + b + sigma * rng.normal(size=(n, features))
    return x.astype(np.float32), {}
