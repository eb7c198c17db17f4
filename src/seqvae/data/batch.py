"""The typed value that flows from readers to models: padded values plus an optional mask."""

from __future__ import annotations

from dataclasses import dataclass, field

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
        return Batch(
            values=self.values.to(device),
            mask=None if self.mask is None else self.mask.to(device),
            lengths=None if self.lengths is None else self.lengths.to(device),
            condition=None if self.condition is None else self.condition.to(device),
            labels={k: v.to(device) for k, v in self.labels.items()},
        )

    def repeat(self, k: int) -> Batch:
        """Stack ``k`` copies along the batch axis (copy-major), for multi-sample bounds."""

        def rep(t: Tensor | None) -> Tensor | None:
            if t is None:
                return None
            return t.repeat(k, *([1] * (t.dim() - 1)))

        return Batch(
            values=rep(self.values),
            mask=rep(self.mask),
            lengths=rep(self.lengths),
            condition=rep(self.condition),
            labels={n: rep(v) for n, v in self.labels.items()},
        )

    def index(self, idx: Tensor | slice) -> Batch:
        """Select examples."""
        return Batch(
            values=self.values[idx],
            mask=None if self.mask is None else self.mask[idx],
            lengths=None if self.lengths is None else self.lengths[idx],
            condition=None if self.condition is None else self.condition[idx],
            labels={n: v[idx] for n, v in self.labels.items()},
        )
