"""The typed value that flows from readers to models: padded values plus an optional mask."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor


@dataclass
class Batch:
    """A batch of examples.

    ``values`` is ``(B, F)`` for fixed-size vectors or ``(B, T, F)`` for padded sequences, in which
    case ``mask`` ``(B, T)`` is True on real steps and ``lengths`` ``(B,)`` counts them.
    ``condition`` carries what a conditional model conditions on; ``labels`` carries named
    per-example annotations that analysis uses but models never see.
    """

    values: Tensor
    mask: Tensor | None = None
    lengths: Tensor | None = None
    condition: Tensor | None = None
    labels: dict[str, Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.values.shape[0]

    @property
    def is_sequence(self) -> bool:
        return self.values.dim() == 3

    def to(self, device: torch.device | str) -> Batch:
        """Move every tensor to ``device``."""
        return self._map(lambda t: t.to(device))

    def repeat(self, k: int) -> Batch:
        """Stack ``k`` copies along the batch axis (copy-major), for multi-sample bounds."""
        return self._map(lambda t: t.repeat(k, *([1] * (t.dim() - 1))))

    def index(self, idx: Tensor | slice) -> Batch:
        """Select examples."""
        return self._map(lambda t: t[idx])

    def _map(self, fn: Callable[[Tensor], Tensor]) -> Batch:
        # replace() keeps the subclass (a SequenceBatch stays one)
        return replace(
            self,
            values=fn(self.values),
            mask=None if self.mask is None else fn(self.mask),
            lengths=None if self.lengths is None else fn(self.lengths),
            condition=None if self.condition is None else fn(self.condition),
            labels={k: fn(v) for k, v in self.labels.items()},
        )


def identity_collate(batch: Batch) -> Batch:
    """Datasets here build whole batches in ``__getitems__``: nothing is left to collate."""
    return batch
