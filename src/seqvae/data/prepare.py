"""The dataset step of the data path, for vectors and sequences alike: split (by id), fit the normaliser on
the training split, wrap each split as a dataset.

The path reads top to bottom: a reader or generator gives the examples (``seqvae.data.readers``,
``seqvae.data.arrays.read_array_file``, a registered data kind); this module prepares sequences (absolute /
relative coordinates, resampling), splits, normalises and returns a :class:`DataBundle` of
:class:`~seqvae.data.arrays.ArrayDataset` or :class:`~seqvae.data.sequences.SequenceDataset` splits; the
loaders come from those two modules. ``seqvae.data.sources`` is the one entry from a config's ``data:``
section."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from seqvae.config import DataConfig, SequenceDataConfig
from seqvae.data.arrays import ArrayDataset, check_finite
from seqvae.data.readers import SequenceTable
from seqvae.data.sequences import SequenceDataset, resample_linear, resample_random, to_absolute, to_relative
from seqvae.errors import ConfigError, DataError

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


# --------------------------------------------------------------------------- datasets


def fit_sequence_normalizer(dataset: SequenceDataset) -> Normalizer:
    """Per-feature mean and std over the real (unpadded) steps of ``dataset``."""
    return Normalizer.fit(dataset.values.numpy(), dataset.mask.numpy())


@dataclass
class DataBundle:
    """Train/val/test datasets in model units plus the normaliser mapping back to data units.

    For sequence data the datasets are :class:`~seqvae.data.sequences.SequenceDataset` objects.
    """

    train: Any  # ArrayDataset, or SequenceDataset for sequence models
    val: Any
    test: Any
    normalizer: Normalizer | None
    features: int
    raw: Any  # all examples in data units, for analysis: an array, or a list of (T_i, F) arrays
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    splits: dict[str, np.ndarray] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)  # sequence ids (sequence data)
    feature_names: list[str] = field(default_factory=list)  # as the file names them (axis labels); empty if it does not


def bundle_arrays(
    values: np.ndarray,
    labels: dict[str, np.ndarray],
    val_fraction: float,
    test_fraction: float,
    normalize: bool,
    seed: int,
    condition: np.ndarray | None = None,
) -> DataBundle:
    """Split ``values`` by ``seed``, fit the normaliser on train, and wrap each split as a dataset.

    ``condition`` ``(N, C)``, if given, rides along with each example as ``Batch.condition`` (never normalised).
    """
    values = np.asarray(values, dtype=np.float32)
    check_finite(values, "data")
    if condition is not None:
        condition = np.asarray(condition, dtype=np.float32)
        if condition.ndim != 2 or len(condition) != len(values):
            raise DataError(f"condition must be ({len(values)}, C) for {len(values)} examples, got {condition.shape}")
        check_finite(condition, "condition")
    splits = split_indices(len(values), val_fraction, test_fraction, seed)
    normalizer = Normalizer.fit(values[splits["train"]]) if normalize else None
    model_values = normalizer.transform(values) if normalizer is not None else values

    def make(idx: np.ndarray) -> ArrayDataset:
        labs = {k: torch.as_tensor(np.asarray(v)[idx]) for k, v in labels.items()}
        cond = None if condition is None else torch.as_tensor(condition[idx])
        return ArrayDataset(torch.as_tensor(model_values[idx], dtype=torch.float32), labs, cond)

    return DataBundle(
        train=make(splits["train"]),
        val=make(splits["val"]),
        test=make(splits["test"]),
        normalizer=normalizer,
        # values per example, or per frame for videos (N, T, H, W, C)
        features=int(np.prod(values.shape[2:])) if values.ndim == 5 else values.shape[1],
        raw=values,
        labels=labels,
        splits=splits,
    )


def prepare_sequences(table: SequenceTable, seq_cfg: SequenceDataConfig, seed: int) -> SequenceTable:
    """Apply ``to_absolute`` and resampling to every sequence of ``table`` (in place; returned)."""
    seqs = table.sequences
    for name in ("to_absolute", "to_relative", "unscaled"):
        bad = [i for i in getattr(seq_cfg, name) if i >= table.features]
        if bad:
            raise ConfigError(f"data.sequence.{name}: feature {bad[0]} does not exist ({table.features} features)")
    if seq_cfg.to_absolute:
        seqs = [to_absolute(s, seq_cfg.to_absolute).astype(np.float32) for s in seqs]
    if seq_cfg.resample == "linear":
        seqs = [resample_linear(s, seq_cfg.length) for s in seqs]
    elif seq_cfg.resample == "random":
        rng = np.random.default_rng([seed, 1])
        seqs = [resample_random(s, seq_cfg.length, rng) for s in seqs]
    if seq_cfg.to_relative:  # after resampling, which works on positions
        seqs = [to_relative(s, seq_cfg.to_relative).astype(np.float32) for s in seqs]
    table.sequences = seqs
    return table


def bundle_sequences(table: SequenceTable, cfg: DataConfig, seed: int) -> DataBundle:
    """Split sequences by id, fit the normaliser on the training split's real steps, wrap as datasets."""
    if len(table) == 0:
        raise DataError(f"{table.source}: no sequences")
    splits = split_by_id(table.ids, cfg.val_fraction, cfg.test_fraction, seed)
    labels = {k: np.asarray(v) for k, v in table.labels.items()}
    normalizer = None
    if cfg.normalize:
        flat = np.concatenate([table.sequences[i] for i in splits["train"]])
        normalizer = Normalizer.fit(flat, unscaled=cfg.sequence.unscaled)
    model_seqs = [normalizer.transform(s) for s in table.sequences] if normalizer is not None else table.sequences

    def make(idx: np.ndarray) -> SequenceDataset:
        return SequenceDataset(
            [model_seqs[i] for i in idx], {k: v[idx] for k, v in labels.items()}, [table.ids[i] for i in idx]
        )

    return DataBundle(
        train=make(splits["train"]),
        val=make(splits["val"]),
        test=make(splits["test"]),
        normalizer=normalizer,
        features=table.features,
        raw=table.sequences,
        labels=labels,
        splits=splits,
        ids=list(table.ids),
        feature_names=list(table.feature_names) if table.named_features else [],
    )
