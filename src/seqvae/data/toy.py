"""Small synthetic data sets with closed-form references (mixtures, the linear-Gaussian model, sinusoids)."""

from __future__ import annotations

import numpy as np


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


def sinusoids(
    n: int = 1000,
    amplitude: tuple[float, float] = (0.5, 2.0),
    phase: tuple[float, float] = (0.0, 3.14159),
    period: tuple[float, float] = (20.0, 20.0),
    turns: float | None = None,
    min_length: int = 30,
    max_length: int = 50,
    noise: float = 0.0,
    seed: int = 0,
) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Circles: x_t = a sin(2 pi t / p + phi), y_t = a cos(2 pi t / p + phi), t = 0..T-1.

    Amplitude ``a``, phase ``phi`` and period ``p`` are uniform in their ranges (a range with equal
    ends fixes the parameter) and returned as labels. The default varies two parameters, ``a`` and
    ``phi``, with a fixed period. With ``turns`` every sequence runs that many periods, so its length
    (round(turns * p)) follows from ``p``; otherwise lengths are uniform in ``[min_length, max_length]``.
    """
    if turns is None and not 1 <= min_length <= max_length:
        raise ValueError(f"need 1 <= min_length <= max_length, got {min_length}, {max_length}")
    if turns is not None and turns <= 0:
        raise ValueError(f"turns must be > 0, got {turns}")
    rng = np.random.default_rng(seed)
    amp = rng.uniform(*amplitude, size=n)
    phi = rng.uniform(*phase, size=n)
    per = rng.uniform(*period, size=n)
    if min(period) <= 0:
        raise ValueError(f"period must be > 0, got {period}")
    if turns is None:
        lengths = rng.integers(min_length, max_length + 1, size=n)
    else:
        lengths = np.maximum(1, np.round(turns * per)).astype(np.int64)
    sequences = []
    for a, f, p, length in zip(amp, phi, per, lengths):
        angle = 2 * np.pi * np.arange(length) / p + f
        seq = a * np.stack([np.sin(angle), np.cos(angle)], axis=1)
        if noise > 0:
            seq = seq + rng.normal(0.0, noise, size=seq.shape)
        sequences.append(seq.astype(np.float32))
    labels = {"amplitude": amp, "phase": phi, "period": per, "length": lengths}
    return sequences, {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in labels.items()}
