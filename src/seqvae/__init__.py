"""seqvae: variational autoencoders for sequential and structured data."""

from seqvae.errors import CheckpointError, ConfigError, DataError, SeqVAEError

__version__ = "0.1.0"

__all__ = ["CheckpointError", "ConfigError", "DataError", "SeqVAEError", "__version__"]
