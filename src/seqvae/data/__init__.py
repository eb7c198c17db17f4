"""Data: the Batch type, in-memory datasets, readers, normalisation and built-in generators."""

from seqvae.data.batch import Batch

__all__ = ["Batch"]
