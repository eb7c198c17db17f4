"""What vector and sequence data share between reading and loading: the train/val/test split and the
normaliser fitted on the training split (the data path: reader -> table -> split + normalise here -> dataset -> loader)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from seqvae.errors import DataError

# --------------------------------------------------------------------------- normalisation


@dataclass
class Normalizer:
    """Per-feature standardisation (x - mean) / std, fitted on the training split only."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(
        cls, values: np.ndarray, mask: np.ndarray | None = None, min_std: float = 1e-8, unscaled: Sequence[int] = ()
    ) -> Normalizer:
        """Mean and std per feature of ``values`` (real steps only with ``mask``); the features in
        ``unscaled`` keep mean 0 and std 1, i.e. pass through unchanged (e.g. binary flags)."""
        flat = values.reshape(-1, values.shape[-1])
        if mask is not None:
            flat = flat[mask.reshape(-1).astype(bool)]
        if len(flat) == 0:
            raise DataError("cannot fit a normaliser on an empty training split")
        mean = flat.mean(0).astype(np.float64)
        std = np.maximum(flat.std(0), min_std).astype(np.float64)
        bad = [i for i in unscaled if not 0 <= i < len(mean)]
        if bad:
            raise DataError(f"feature {bad[0]} to leave unscaled does not exist ({len(mean)} features)")
        mean[list(unscaled)] = 0.0
        std[list(unscaled)] = 1.0
        return cls(mean, std)

    @classmethod
    def identity(cls, features: int) -> Normalizer:
        return cls(np.zeros(features), np.ones(features))

    def transform(self, values: Any) -> Any:
        """Standardise numpy arrays or tensors whose last axis is the feature axis."""
        mean, std = self._params_like(values)
        return (values - mean) / std

    def inverse(self, values: Any) -> Any:
        """Map standardised values back to data units."""
        mean, std = self._params_like(values)
        return values * std + mean

    def _params_like(self, values: Any) -> tuple[Any, Any]:
        if isinstance(values, Tensor):
            return (
                torch.as_tensor(self.mean, dtype=values.dtype, device=values.device),
                torch.as_tensor(self.std, dtype=values.dtype, device=values.device),
            )
        return self.mean.astype(values.dtype), self.std.astype(values.dtype)

    def to_dict(self) -> dict[str, list[float]]:
        return {"kind": "standard", "mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "normalizer") -> Normalizer:
        try:
            mean = np.asarray(data["mean"], dtype=np.float64)
            std = np.asarray(data["std"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{source}: expected 'mean' and 'std' lists ({exc})") from exc
        if mean.shape != std.shape or mean.ndim != 1 or not (std > 0).all():
            raise DataError(f"{source}: 'mean' and 'std' must be equal-length lists with std > 0")
        return cls(mean, std)


# --------------------------------------------------------------------------- splits


def split_by_id(ids: Sequence[str], val_fraction: float, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Train/val/test positions of ``ids``, assigned by a seeded permutation of the sorted unique ids.

    The split depends only on the set of ids and the seed, not on the order the file lists them.
    Sequences sharing an id land in the same split.
    """
    ids = [str(i) for i in ids]
    unique = sorted(set(ids))
    n = len(unique)
    if n < 3 and (val_fraction > 0 or test_fraction > 0):
        raise DataError(f"need at least 3 sequence ids to split into train/val/test, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(n * test_fraction))) if test_fraction > 0 else 0
    n_val = max(1, int(round(n * val_fraction))) if val_fraction > 0 else 0
    which = {}
    for rank, u in enumerate(order):
        which[unique[u]] = "test" if rank < n_test else ("val" if rank < n_test + n_val else "train")
    pos = np.arange(len(ids))
    return {name: pos[np.array([which[i] == name for i in ids], dtype=bool)] for name in ("train", "val", "test")}


def split_indices(n: int, val_fraction: float, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Random train/val/test split of ``n`` examples, reproducible from ``seed``: the split of
    :func:`split_by_id` with each row's index as its id, so a file read as vectors
    splits as the same file read as sequences (whose ids are also their positions unless the file names them)."""
    if n < 3 and (val_fraction > 0 or test_fraction > 0):
        raise DataError(f"need at least 3 examples to split into train/val/test, got {n}")
    return split_by_id([str(i) for i in range(n)], val_fraction, test_fraction, seed)
