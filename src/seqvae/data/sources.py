"""Resolve a ``data:`` config section to data: a built-in generator or a file, as vectors or sequences."""

from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np

from seqvae.config import DataConfig, SequenceDataConfig
from seqvae.data import basketball, molecular, polymer, strokes, toy
from seqvae.data.arrays import DataBundle, Normalizer, bundle_arrays, read_array_file
from seqvae.data.readers import SequenceTable, read_sequences
from seqvae.data.sequences import (
    SequenceDataset,
    resample_linear,
    resample_random,
    split_by_id,
    to_absolute,
    to_relative,
)
from seqvae.errors import ConfigError, DataError

# a generator returns (values, labels): an (N, F) array of vectors, or a list of (T_i, F) sequences
Generator = Callable[..., tuple[Any, dict[str, np.ndarray]]]

GENERATORS: dict[str, Generator] = {
    "basketball": basketball.simulate_shots,
    "de-jong": strokes.de_jong_digits,
    "sportvu": basketball.sportvu_shots,
    "dmol-bimodal": toy.dmol_bimodal,
    "dmol-categorical": toy.dmol_categorical,
    "gaussian-mixture": toy.gaussian_mixture,
    "handwritten-digits": strokes.handwritten_digits,
    "linear-gaussian": toy.linear_gaussian,
    "molecular": molecular.molecular_trajectory,
    "polymer": polymer.polymer_configurations,
    "sinusoids": toy.sinusoids,
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
    except DataError:
        raise
    except (TypeError, ValueError) as exc:
        given = ", ".join(f"{k}={v!r}" for k, v in params.items()) or "defaults"
        raise ConfigError(f"data.kind={kind} cannot generate data from data.params ({given}): {exc}") from exc


def _file_path(cfg: DataConfig) -> str:
    """The path of a ``data.kind: file`` section, checked."""
    if not cfg.path:
        raise ConfigError("data.path is required when data.kind is 'file'")
    if cfg.params:
        raise ConfigError("data.params is only for generators, not data.kind=file")
    return cfg.path


def load_arrays(cfg: DataConfig, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """All examples (data units) and their labels for a ``data:`` section."""
    if cfg.kind == "file":
        return read_array_file(_file_path(cfg), cfg.key), {}
    return generate(cfg.kind, cfg.params, seed)


def load_data(cfg: DataConfig, seed: int, sequences: bool = False) -> DataBundle:
    """Data for ``cfg``, split by ``seed`` and normalised on the training split if asked.

    ``sequences`` says what the model reads: a list of variable-length sequences, or vectors.
    """
    if sequences:
        return bundle_sequences(load_sequences(cfg, seed), cfg, seed)
    values, labels = load_arrays(cfg, seed)
    if isinstance(values, list):
        raise ConfigError(f"data.kind={cfg.kind} produces sequences; choose a sequence model (e.g. model.kind=vrae)")
    return bundle_arrays(values, labels, cfg.val_fraction, cfg.test_fraction, cfg.normalize, seed)


def load_sequences(cfg: DataConfig, seed: int) -> SequenceTable:
    """The sequences of a ``data:`` section in data units, after ``to_absolute`` and resampling."""
    seq_cfg = cfg.sequence
    if cfg.kind == "file":
        table = read_sequences(
            _file_path(cfg),
            features=seq_cfg.features,
            labels=seq_cfg.labels,
            min_length=seq_cfg.min_length,
            id_column=seq_cfg.id_column,
            time_column=seq_cfg.time_column,
        )
    else:
        values, labels = generate(cfg.kind, cfg.params, seed)
        if not isinstance(values, list):
            raise ConfigError(f"data.kind={cfg.kind} produces vectors, but the model reads sequences")
        table = SequenceTable(
            sequences=[np.asarray(v, dtype=np.float32) for v in values],
            ids=[str(i) for i in range(len(values))],
            feature_names=[f"f{i}" for i in range(values[0].shape[1])] if values else [],
            labels=labels,
            source=f"data.kind={cfg.kind}",
        )
    return prepare_sequences(table, seq_cfg, seed)


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
    )
