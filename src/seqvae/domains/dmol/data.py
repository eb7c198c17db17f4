"""The dmol.pub VAE chapter's data: a 1-D bimodal mixture, and its histogram classes one-hot."""

from __future__ import annotations

import numpy as np

from seqvae.data.sources import register_data_kind


@register_data_kind("dmol-bimodal")
def dmol_bimodal(n: int = 1024, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The chapter's 1-D data: an equal mixture of N(-1, 0.5^2) and N(1, 0.25^2), shape ``(n, 1)``."""
    rng = np.random.default_rng(seed)
    mode = rng.integers(0, 2, size=n)
    x = np.where(mode == 0, rng.normal(-1.0, 0.5, size=n), rng.normal(1.0, 0.25, size=n))
    return x[:, None].astype(np.float32), {"mode": mode}


@register_data_kind("dmol-categorical")
def dmol_categorical(n: int = 1024, classes: int = 32, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The chapter's categorical data: the bimodal samples histogrammed into ``classes`` bins, one-hot."""
    x, labels = dmol_bimodal(n, seed)
    edges = np.histogram_bin_edges(x[:, 0], bins=classes)
    cls = np.clip(np.digitize(x[:, 0], edges[1:-1]), 0, classes - 1)
    onehot = np.eye(classes, dtype=np.float32)[cls]
    return onehot, {"class": cls, "mode": labels["mode"]}
