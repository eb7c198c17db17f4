"""Resolve a ``data:`` config section to arrays: a built-in generator or a file."""

from __future__ import annotations

import inspect
from typing import Callable

import numpy as np

from seqvae.config import DataConfig
from seqvae.data import toy
from seqvae.data.arrays import DataBundle, bundle_arrays, read_array_file
from seqvae.errors import ConfigError

Generator = Callable[..., tuple[np.ndarray, dict[str, np.ndarray]]]

GENERATORS: dict[str, Generator] = {
    "dmol-bimodal": toy.dmol_bimodal,
    "dmol-categorical": toy.dmol_categorical,
    "gaussian-mixture": toy.gaussian_mixture,
    "linear-gaussian": toy.linear_gaussian,
}


def generate(kind: str, params: dict, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Call generator ``kind`` with ``params``; the run seed is used unless ``params`` sets one."""
    if kind not in GENERATORS:
        known = ", ".join(["file", *sorted(GENERATORS)])
        raise ConfigError(f"data.kind {kind!r} is not known; choose one of: {known}")
    fn = GENERATORS[kind]
    accepted = set(inspect.signature(fn).parameters)
    for name in params:
        if name not in accepted:
            raise ConfigError(
                f"unknown config key data.params.{name} for data.kind={kind}; valid: {', '.join(sorted(accepted))}"
            )
    kwargs = {"seed": seed, **params}
    try:
        return fn(**kwargs)
    except (TypeError, ValueError) as exc:
        given = ", ".join(f"{k}={v!r}" for k, v in params.items()) or "defaults"
        raise ConfigError(f"data.kind={kind} cannot generate data from data.params ({given}): {exc}") from exc


def load_arrays(cfg: DataConfig, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """All examples (data units) and their labels for a ``data:`` section."""
    if cfg.kind == "file":
        if not cfg.path:
            raise ConfigError("data.path is required when data.kind is 'file'")
        if cfg.params:
            raise ConfigError("data.params is only for generators, not data.kind=file")
        return read_array_file(cfg.path, cfg.key), {}
    return generate(cfg.kind, cfg.params, seed)


def load_data(cfg: DataConfig, seed: int) -> DataBundle:
    """Arrays for ``cfg``, split by ``seed`` and normalised on the training split if asked."""
    values, labels = load_arrays(cfg, seed)
    return bundle_arrays(values, labels, cfg.val_fraction, cfg.test_fraction, cfg.normalize, seed)
