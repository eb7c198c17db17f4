"""Resolve a ``data:`` config section to data: a built-in generator or a file, as vectors or sequences."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from seqvae.config import DataConfig
from seqvae.data import molecular, toy
from seqvae.data.arrays import read_array_file, read_array_names
from seqvae.data.prepare import DataBundle, bundle_arrays, bundle_sequences, prepare_sequences
from seqvae.data.readers import SequenceTable, read_sequences
from seqvae.errors import ConfigError, DataError
from seqvae.registry import Registry

# a generator returns (values, labels): an (N, F) array of vectors, or a list of (T_i, F) sequences; a
# "condition" entry in labels (an (N, C) array, conditional models only) becomes the examples' Batch.condition
Generator = Callable[..., tuple[Any, dict[str, np.ndarray]]]


@dataclass(frozen=True)
class DataKind:
    """A ``data.kind``: its generator or reader (``fn(**data.params, seed=...) -> (values, labels)``) and,
    for kinds that read files, ``from_paths(cfg, paths) -> cfg``: how ``train --data`` / ``encode PATH``
    point a run's ``data:`` section at the given files (None: the files are read as ``data.kind=file``)."""

    generate: Generator
    from_paths: Callable[[DataConfig, list[Path]], DataConfig] | None = None


DATA_KINDS: Registry[DataKind] = Registry("data.kind")


def register_data_kind(name: str, from_paths: Callable[[DataConfig, list[Path]], DataConfig] | None = None) -> Callable[[Generator], Generator]:
    """Decorator: make generator/reader ``fn`` the ``data.kind`` called ``name``."""

    def deco(fn: Generator) -> Generator:
        DATA_KINDS.register(name, DataKind(fn, from_paths))
        return fn

    return deco


def _molecular_paths(cfg: DataConfig, items: list[Path]) -> DataConfig:
    topology = [p for p in items if p.suffix.lower() in TOPOLOGY_SUFFIXES]
    trajectory = [str(p) for p in items if p not in topology]
    if len(topology) > 1:
        raise DataError(f"more than one topology file given: {', '.join(map(str, topology))}")
    params = dict(cfg.params)
    if topology:
        params["topology"] = str(topology[0])
    params["trajectory"] = (trajectory[0] if len(trajectory) == 1 else trajectory) if trajectory else None
    if "topology" not in params:
        raise DataError(f"data.kind=molecular needs a topology: pass one (e.g. a .pdb) with {items[0]}")
    return replace(cfg, params=params)


register_data_kind("gaussian-mixture")(toy.gaussian_mixture)
register_data_kind("linear-gaussian")(toy.linear_gaussian)
register_data_kind("sinusoids")(toy.sinusoids)
register_data_kind("molecular", from_paths=_molecular_paths)(molecular.molecular_trajectory)


def generate(kind: str, params: dict, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Call generator ``kind`` with ``params``; the run seed is used unless ``params`` sets one."""
    if kind not in DATA_KINDS:
        known = ", ".join(["file", *DATA_KINDS])
        raise ConfigError(f"data.kind {kind!r} is not known; choose one of: {known}")
    fn = DATA_KINDS[kind].generate
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
    if not Path(cfg.path).exists():
        raise DataError(missing_path(cfg.path))
    return cfg.path


def missing_path(path: str | Path) -> str:
    """The one wording of a missing file or directory, for every command."""
    return f"{path}: no such file or directory"


# suffixes MDAnalysis reads as topologies; any other file given for a molecular run is a trajectory
TOPOLOGY_SUFFIXES = frozenset(
    {".pdb", ".ent", ".pdbqt", ".pqr", ".gro", ".psf", ".prmtop", ".parm7", ".top", ".itp", ".tpr", ".mol2", ".crd"}
)


def data_config_for(cfg: DataConfig, paths: str | Path | Sequence[str | Path]) -> DataConfig:
    """A copy of a run's ``data:`` section that reads ``paths`` the way ``train`` reads that data kind.

    A data kind registered with ``from_paths`` decides how its files are pointed at (e.g. ``molecular``:
    files with a topology suffix replace ``params.topology``, the others are the trajectory; the video,
    stroke, SportVU and planning kinds of the domains take their directory or file). Every other kind: the
    file is read like ``train --data FILE`` (``data.kind=file``) with the run's ``data.sequence`` settings.
    Preparation (``data.sequence``, ``params`` other than the paths) and the split fractions are kept.
    """
    items = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if not items:
        raise DataError("no data files given")
    for p in items:
        if not p.exists():
            raise DataError(missing_path(p))
    kind = cfg.kind
    entry = DATA_KINDS.get(kind) if kind != "file" else None
    if entry is not None and entry.from_paths is not None:
        return entry.from_paths(cfg, items)
    path = single_path(cfg, items)
    return replace(cfg, kind="file", path=str(path), key=cfg.key if kind == "file" else None, params={})


def single_path(cfg: DataConfig, items: list[Path]) -> Path:
    """The one file or directory of ``items`` (a data kind that reads one at a time)."""
    if len(items) > 1:
        raise DataError(f"data.kind={cfg.kind} reads one file or directory at a time, got {len(items)}")
    return items[0]


def same_source(a: DataConfig, b: DataConfig) -> bool:
    """Whether two ``data:`` sections read the same data (file paths compared after resolving)."""
    if a.kind == "file" and b.kind == "file" and a.path and b.path:
        return replace(a, path=b.path) == b and Path(a.path).resolve() == Path(b.path).resolve()
    return a == b


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
    condition = labels.pop("condition", None)  # conditional data (data.kind=planning) only
    if np.ndim(values) == 5 and cfg.normalize:  # videos (N, T, H, W, C): frames stay in [0, 1]
        raise ConfigError(f"data.kind={cfg.kind} produces videos, which are not normalised; set data.normalize=false")
    bundle = bundle_arrays(values, labels, cfg.val_fraction, cfg.test_fraction, cfg.normalize, seed, condition=condition)
    if cfg.kind == "file":  # a CSV's header names the features (reconstruct's table, figures' axes)
        names = read_array_names(cfg.path)
        bundle.feature_names = names if len(names) == bundle.features else []
    return bundle


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
            named_features=False,
        )
    return prepare_sequences(table, seq_cfg, seed)


