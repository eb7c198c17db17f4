"""Exceptions raised by seqvae for bad input; each names what was wrong and where."""

from __future__ import annotations


class SeqVAEError(Exception):
    """Base class of every error seqvae raises on purpose."""


class ConfigError(SeqVAEError, ValueError):
    """A configuration file or override is malformed (unknown key, wrong type, bad value)."""


class DataError(SeqVAEError, ValueError):
    """Input data is malformed (NaN, wrong shape, unreadable file)."""


class CheckpointError(SeqVAEError, ValueError):
    """A path is not a valid seqvae checkpoint, or refusing to load it would be unsafe."""
