"""Fixed-size vector data: in-memory dataset, per-feature normalisation, splits and file readers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from seqvae.data.batch import Batch, identity_collate
from seqvae.errors import DataError


def check_finite(values: np.ndarray, source: str) -> None:
    """Raise :class:`DataError` naming the first example (and feature) holding NaN or inf."""
    bad = ~np.isfinite(values)
    if bad.any():
        where = np.argwhere(bad)[0]
        col = f", feature {where[1]}" if len(where) > 1 else ""
        value = float(values[tuple(where)])
        raise DataError(f"{source}: non-finite value {value} in example {where[0]}{col} (0-based)")


class ArrayDataset(Dataset):
    """Examples held as tensors in memory; batches are sliced, not collated one sample at a time."""

    def __init__(
        self, values: Tensor, labels: dict[str, Tensor] | None = None, condition: Tensor | None = None
    ) -> None:
        self.values = values
        self.labels = labels or {}
        self.condition = condition  # per-example rows a conditional model conditions on (Batch.condition)
        for name, lab in self.labels.items():
            if len(lab) != len(values):
                raise DataError(f"label {name!r} has {len(lab)} entries for {len(values)} examples")
        if condition is not None and len(condition) != len(values):
            raise DataError(f"condition has {len(condition)} rows for {len(values)} examples")

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, i: int) -> Batch:
        return self.__getitems__([i])

    def __getitems__(self, indices: list[int]) -> Batch:
        idx = torch.as_tensor(indices, dtype=torch.long)
        condition = None if self.condition is None else self.condition[idx]
        return Batch(values=self.values[idx], condition=condition, labels={k: v[idx] for k, v in self.labels.items()})

    def batch(self) -> Batch:
        """All examples as one batch."""
        return Batch(values=self.values, condition=self.condition, labels=dict(self.labels))


class EpochShuffleSampler(Sampler[int]):
    """A random permutation per epoch that depends only on ``(seed, epoch)``.

    Lightning calls :meth:`set_epoch` before each epoch, so a run resumed from a checkpoint sees
    the same data order as one that was never interrupted. Without ``set_epoch`` calls (a plain
    loop) each pass over the loader advances the epoch by itself.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        self.epoch += 1  # the next pass is the next epoch unless set_epoch says otherwise
        return iter(torch.randperm(self.n, generator=gen).tolist())


def make_loader(
    dataset: ArrayDataset, batch_size: int, shuffle: bool, seed: int = 0, num_workers: int = 0
) -> DataLoader:
    """A DataLoader serving :class:`Batch` objects; the shuffled order is a function of ``seed`` and the epoch."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochShuffleSampler(len(dataset), seed) if shuffle else None,
        collate_fn=identity_collate,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )


# --------------------------------------------------------------------------- files


def read_array_file(path: str | Path, key: str | None = None) -> np.ndarray:
    """Read a 2-D float array ``(examples, features)`` from .npy, .npz or .csv/.txt, checked for NaN/inf."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file or directory" if not path.exists() else f"{path}: is a directory, expected a file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                names = list(npz.files)
                if not names:
                    raise DataError(f"{path}: the .npz archive holds no arrays")
                name = key or ("x" if "x" in names else names[0])
                if name not in names:
                    raise DataError(f"{path}: no array named {name!r}; arrays present: {', '.join(names)}")
                arr = npz[name]
        elif suffix in (".csv", ".txt", ".tsv"):
            arr = _read_text_table(path)
        else:
            raise DataError(f"{path}: unsupported file type {suffix!r}; use .npy, .npz or .csv")
    except DataError:
        raise
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - numpy, zipfile and zlib raise many types for corrupt files
        # (ValueError for object arrays, whose pickle is refused, EOFError, BadZipFile, a header's SyntaxError)
        raise DataError(f"{path}: cannot read as a numeric array ({type(exc).__name__}: {exc})") from exc
    if arr.dtype.kind not in "fiub":
        raise DataError(f"{path}: expected a numeric array, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 0:
        raise DataError(f"{path}: holds a single number, expected rows of examples")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        arr = arr.reshape(arr.shape[0], -1) if arr.ndim > 2 else arr
    if arr.shape[0] == 0:
        raise DataError(f"{path}: the file holds no examples")
    check_finite(arr, str(path))
    return arr


def read_array_names(path: str | Path) -> list[str]:
    """The column names of a text table's header line (``.csv``/``.txt``/``.tsv`` whose first row is not
    numeric); empty for a file without one or of another type."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".txt", ".tsv") or not path.is_file():
        return []
    with path.open() as fh:
        first = next((ln for ln in fh if ln.strip() and not ln.lstrip().startswith("#")), "")
    delim = "," if "," in first else ("\t" if "\t" in first else None)
    names = [p.strip().strip('"') for p in first.split(delim)]
    try:
        [float(v) for v in names]
    except ValueError:
        return names
    return []


def _read_text_table(path: Path) -> np.ndarray:
    text = path.read_text()
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise DataError(f"{path}: the file holds no rows")
    delim = "," if "," in lines[0] else ("\t" if "\t" in lines[0] else None)
    rows = []
    first = 0
    try:
        [float(v) for v in lines[0].split(delim)]
    except ValueError:
        first = 1  # a header line
    width = None
    for i, line in enumerate(lines[first:], start=first + 1):
        parts = [p.strip() for p in line.split(delim)]
        try:
            row = [float(p) for p in parts]
        except ValueError as exc:
            raise DataError(f"{path}: row {i} is not numeric ({exc})") from exc
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise DataError(f"{path}: row {i} has {len(row)} values, expected {width}")
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: the file holds a header but no rows")
    return np.asarray(rows, dtype=np.float64)


