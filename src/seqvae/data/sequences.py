"""Variable-length multivariate sequences: padded batches with masks, datasets, length bucketing,
normalisation on real steps, resampling to a fixed length, coordinate transforms and splits by id.

Sequences travel as ``(batch, time, features)`` tensors padded with zeros, a boolean ``mask``
``(batch, time)`` that is True on real steps and ``lengths`` ``(batch,)``. Padded steps never
enter a loss or a statistic.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from seqvae.data.batch import Batch, identity_collate
from seqvae.errors import DataError


@dataclass
class SequenceBatch(Batch):
    """A batch of padded sequences: ``values`` ``(B, T, F)``, ``mask`` ``(B, T)``, ``lengths`` ``(B,)``."""

    def __post_init__(self) -> None:
        if self.values.dim() != 3:
            raise DataError(f"a sequence batch needs values of shape (batch, time, features), got {tuple(self.values.shape)}")
        if self.lengths is None:
            self.lengths = torch.full((self.values.shape[0],), self.values.shape[1], dtype=torch.long, device=self.values.device)
        if self.mask is None:
            self.mask = length_mask(self.lengths, self.values.shape[1])

    @classmethod
    def from_sequences(cls, sequences: Sequence[np.ndarray | Tensor], pad_to: int | None = None) -> SequenceBatch:
        """Pad a list of ``(T_i, F)`` arrays into one batch (zeros after each sequence's end)."""
        values, lengths = pad_sequences([np.asarray(s, dtype=np.float32) for s in sequences], pad_to)
        return cls(values=torch.from_numpy(values), lengths=torch.from_numpy(lengths))

    def unpad(self) -> list[np.ndarray]:
        """The real steps of each sequence as a list of ``(T_i, F)`` arrays."""
        values = self.values.detach().cpu().numpy()
        return [values[i, : int(n)] for i, n in enumerate(self.lengths.cpu())]


def length_mask(lengths: Tensor, total: int) -> Tensor:
    """Boolean ``(B, total)`` mask, True on the first ``lengths[b]`` steps of row ``b``."""
    return torch.arange(total, device=lengths.device)[None, :] < lengths[:, None]


def pad_sequences(sequences: Sequence[np.ndarray], pad_to: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stack ``(T_i, F)`` arrays into a zero-padded ``(N, T, F)`` array and their lengths ``(N,)``."""
    if not sequences:
        raise DataError("no sequences to pad")
    feats = {s.shape[-1] if s.ndim == 2 else 1 for s in sequences}
    if len(feats) != 1:
        raise DataError(f"sequences have different feature counts: {sorted(feats)}")
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    total = int(lengths.max()) if pad_to is None else int(pad_to)
    if total < lengths.max():
        raise DataError(f"cannot pad to {total} steps: the longest sequence has {lengths.max()}")
    out = np.zeros((len(sequences), total, feats.pop()), dtype=np.float32)
    for i, s in enumerate(sequences):
        out[i, : len(s)] = s.reshape(len(s), -1)
    return out, lengths


class SequenceDataset(Dataset):
    """Sequences held padded in memory; a batch is sliced and trimmed to its longest member.

    Slicing a pre-padded tensor is the collate step: no per-example Python work per batch.
    """

    def __init__(
        self,
        sequences: Sequence[np.ndarray],
        labels: dict[str, np.ndarray | Tensor] | None = None,
        ids: Sequence[str] | None = None,
    ) -> None:
        if len(sequences) == 0:
            self.values = torch.zeros((0, 0, 0))
            self.lengths = torch.zeros(0, dtype=torch.long)
        else:
            values, lengths = pad_sequences(sequences)
            self.values = torch.from_numpy(values)
            self.lengths = torch.from_numpy(lengths)
        self.ids = [str(i) for i in ids] if ids is not None else [str(i) for i in range(len(sequences))]
        self.labels = {k: torch.as_tensor(np.asarray(v)) for k, v in (labels or {}).items() if _numeric(v)}
        for name, lab in self.labels.items():
            if len(lab) != len(self.lengths):
                raise DataError(f"label {name!r} has {len(lab)} entries for {len(self.lengths)} sequences")

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def features(self) -> int:
        return int(self.values.shape[-1])

    @property
    def mask(self) -> Tensor:
        return length_mask(self.lengths, self.values.shape[1])

    def __getitem__(self, i: int) -> SequenceBatch:
        return self.__getitems__([i])

    def __getitems__(self, indices: list[int]) -> SequenceBatch:
        idx = torch.as_tensor(indices, dtype=torch.long)
        lengths = self.lengths[idx]
        longest = int(lengths.max()) if len(idx) else 0
        return SequenceBatch(
            values=self.values[idx, :longest],
            lengths=lengths,
            labels={k: v[idx] for k, v in self.labels.items()},
        )

    def batch(self) -> SequenceBatch:
        """All sequences as one batch."""
        return self.__getitems__(list(range(len(self))))

    def sequences(self) -> list[np.ndarray]:
        """The real steps of every sequence, as numpy arrays."""
        values = self.values.numpy()
        return [values[i, : int(n)] for i, n in enumerate(self.lengths)]


def _numeric(values: np.ndarray | Tensor) -> bool:
    return isinstance(values, Tensor) or np.asarray(values).dtype.kind in "fiub"


class LengthBucketSampler(Sampler[list[int]]):
    """Batches of similar-length sequences, so little time is spent on padding.

    Each epoch the indices are shuffled (seeded by ``(seed, epoch)``), cut into pools of
    ``pool_batches`` batches, sorted by length within each pool, batched, and the batches
    shuffled. Under DDP every process takes every ``world_size``-th batch of the same order; when
    the number of batches does not divide, the largest batches are halved, so every process takes
    the same number of steps and every sequence is still seen exactly once per epoch.
    """

    def __init__(self, lengths: Tensor | np.ndarray, batch_size: int, seed: int = 0, pool_batches: int = 50) -> None:
        self.lengths = np.asarray(lengths)
        self.batch_size, self.seed, self.pool_batches, self.epoch = batch_size, seed, pool_batches, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.lengths))
        pool = self.batch_size * self.pool_batches
        batches: list[list[int]] = []
        for start in range(0, len(order), pool):
            chunk = order[start : start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches.extend(chunk[i : i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size))
        return [batches[i] for i in rng.permutation(len(batches))]

    def _shard(self) -> tuple[int, int]:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def __len__(self) -> int:
        pool = self.batch_size * self.pool_batches
        sizes = [min(pool, len(self.lengths) - start) for start in range(0, len(self.lengths), pool)]
        n = sum(-(-size // self.batch_size) for size in sizes)
        return -(-n // self._shard()[1])

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._batches()
        self.epoch += 1  # the next pass is the next epoch unless set_epoch says otherwise
        rank, world = self._shard()
        if world > 1:
            batches = _divisible(batches, world)
            batches = batches[rank::world]
        return iter(batches)


def _divisible(batches: list[list[int]], world: int) -> list[list[int]]:
    """``batches`` made a multiple of ``world`` in number, so every process takes as many steps, by halving
    the largest batches: every sequence still comes exactly once. Only with fewer sequences than processes
    are batches repeated."""
    batches = list(batches)
    while len(batches) % world:
        j = max(range(len(batches)), key=lambda k: len(batches[k]))
        if len(batches[j]) < 2:
            per = -(-len(batches) // world)
            return (batches * world)[: per * world]
        half = len(batches[j]) // 2
        batches[j : j + 1] = [batches[j][:half], batches[j][half:]]
    return batches


# --------------------------------------------------------------------------- normalisation


# --------------------------------------------------------------------------- resampling


def resample_linear(sequence: np.ndarray, length: int) -> np.ndarray:
    """Resample ``(T, F)`` to ``(length, F)`` by linear interpolation at evenly spaced positions."""
    seq = np.asarray(sequence, dtype=np.float64)
    if length < 1:
        raise DataError(f"cannot resample to {length} steps")
    if len(seq) == 0:
        raise DataError("cannot resample an empty sequence")
    if len(seq) == 1:
        return np.repeat(seq, length, axis=0).astype(np.float32)
    src = np.linspace(0.0, 1.0, len(seq))
    dst = np.linspace(0.0, 1.0, length)
    return np.stack([np.interp(dst, src, seq[:, f]) for f in range(seq.shape[1])], axis=1).astype(np.float32)


def resample_random(sequence: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """Reach ``length`` steps as source 001 does: insert interpolated points or delete points at random.

    A short sequence gains the midpoint of a randomly chosen pair of neighbouring steps, one at a
    time; a long one loses randomly chosen interior steps. The first and last steps are kept.
    """
    seq = [row for row in np.asarray(sequence, dtype=np.float64)]
    if length < 2:
        raise DataError(f"random resampling needs a target of at least 2 steps, got {length}")
    if len(seq) < 2:
        raise DataError(f"random resampling needs sequences of at least 2 steps, got {len(seq)}")
    while len(seq) < length:
        i = int(rng.integers(0, len(seq) - 1))
        seq.insert(i + 1, 0.5 * (seq[i] + seq[i + 1]))
    if len(seq) > length:
        drop = rng.choice(np.arange(1, len(seq) - 1), size=len(seq) - length, replace=False)
        keep = np.setdiff1d(np.arange(len(seq)), drop)
        seq = [seq[i] for i in keep]
    return np.asarray(seq, dtype=np.float32)


# --------------------------------------------------------------------------- coordinates


def to_absolute(sequence: np.ndarray, columns: Sequence[int] | None = None, origin: np.ndarray | None = None) -> np.ndarray:
    """Relative (per-step offsets) to absolute coordinates: cumulative sum of ``columns`` plus ``origin``."""
    seq = np.array(sequence, dtype=np.float64, copy=True)
    cols = list(range(seq.shape[1])) if columns is None else list(columns)
    seq[:, cols] = np.cumsum(seq[:, cols], axis=0) + (0.0 if origin is None else np.asarray(origin, dtype=np.float64))
    return seq


def to_relative(sequence: np.ndarray, columns: Sequence[int] | None = None, origin: np.ndarray | None = None) -> np.ndarray:
    """Absolute to relative coordinates (inverse of :func:`to_absolute`): step 0 holds the offset from ``origin``."""
    seq = np.array(sequence, dtype=np.float64, copy=True)
    cols = list(range(seq.shape[1])) if columns is None else list(columns)
    start = 0.0 if origin is None else np.asarray(origin, dtype=np.float64)
    absolute = seq[:, cols]
    seq[:, cols] = np.diff(absolute, axis=0, prepend=np.broadcast_to(start, (1, len(cols))))
    return seq


def make_bucketed_loader(dataset: SequenceDataset, batch_size: int, seed: int = 0, num_workers: int = 0) -> DataLoader:
    """A training DataLoader whose batches group sequences of similar length (:class:`LengthBucketSampler`)."""
    return DataLoader(
        dataset,
        batch_sampler=LengthBucketSampler(dataset.lengths, batch_size, seed),
        collate_fn=identity_collate,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )
