"""Resolve a ``data:`` config section to data: a built-in generator or a file, as vectors or sequences."""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from seqvae.config import DataConfig, SequenceDataConfig
from seqvae.data import basketball, molecular, polymer, sprites, strokes, toy
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

# a generator returns (values, labels): an (N, F) array of vectors, or a list of (T_i, F) sequences; a
# "condition" entry in labels (an (N, C) array, conditional models only) becomes the examples' Batch.condition
Generator = Callable[..., tuple[Any, dict[str, np.ndarray]]]


def sprites_release(directory: str, split: str = "train", seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Videos ``(N, T, H, W, C)`` and labels of the Sprites ``.npy`` release's ``split`` in ``directory``
    (``data.kind: sprites-npy``; ``seed`` is unused)."""
    return sprites.read_sprites_npy(directory, split)


def area_occupancy_grids(worlds: np.ndarray, resolution: int) -> np.ndarray:
    """``(W, R, R)`` float32: fraction of each grid cell covered by obstacles (row = y), for stacked worlds
    ``(W, K, 4)`` (NaN-padded, as ``seqvae.data.planning.stack_worlds`` writes them).

    Unlike the binary ``World.occupancy_grid`` (any overlap = occupied), a passage narrower than a cell stays
    visible: the wall cells it crosses are only partly covered.
    """
    worlds = np.asarray(worlds, dtype=np.float64)
    edges = np.arange(int(resolution) + 1, dtype=np.float64) / int(resolution)
    lo, hi = edges[:-1], edges[1:]
    out = np.zeros((len(worlds), int(resolution), int(resolution)))
    for w, rects in enumerate(worlds):
        rects = rects[~np.isnan(rects).any(axis=1)]
        if not len(rects):
            continue
        ox = np.clip(np.minimum(rects[:, 2, None], hi) - np.maximum(rects[:, 0, None], lo), 0, None)  # (K, R)
        oy = np.clip(np.minimum(rects[:, 3, None], hi) - np.maximum(rects[:, 1, None], lo), 0, None)
        out[w] = np.einsum("ki,kj->ij", oy, ox) * resolution**2
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def planning_arrays(data: dict[str, np.ndarray], grid: int = 32, occupancy: str = "area") -> tuple[np.ndarray, np.ndarray]:
    """Training states ``(N, d)`` and packed conditions ``(N, 2d + grid**2)`` (``[start, goal, grid]``, see
    ``seqvae.models.conditional.pack_condition``) of a planning data set from ``seqvae.planning.dataset``.

    ``occupancy``: ``"area"`` (covered fraction per cell, :func:`area_occupancy_grids`) or ``"binary"``
    (``World.occupancy_grid``). ``grid=0`` leaves the grid out of the condition.
    """
    from seqvae.data.planning import unstack_worlds

    states = np.asarray(data["states"], dtype=np.float32)
    if occupancy not in ("area", "binary"):
        raise ConfigError(f"occupancy must be 'area' or 'binary', got {occupancy!r}")
    parts = [np.asarray(data["start"], np.float32), np.asarray(data["goal"], np.float32)]
    if grid:
        if occupancy == "area":
            grids = area_occupancy_grids(data["worlds"], grid)
        else:
            grids = np.stack([w.occupancy_grid(grid) for w in unstack_worlds(data["worlds"])]).astype(np.float32)
        parts.append(grids.reshape(len(grids), -1)[data["world_index"]])
    return states, np.concatenate(parts, axis=1)


def planning_states(
    kind: str = "narrow",
    n_worlds: int = 100,
    problems_per_world: int = 4,
    states_per_path: int = 50,
    grid: int = 32,
    occupancy: str = "area",
    world_kwargs: dict[str, Any] | None = None,
    solve_iterations: int | None = None,
    path: str | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """States along near-optimal paths of random planning problems with their conditions (labels["condition"]).

    Builds the data set with ``seqvae.planning.dataset.build_dataset`` (needs OMPL), or reads the ``.npz`` at
    ``path`` (written by ``save_dataset``; the generation arguments are then ignored).
    """
    from seqvae.planning.dataset import build_dataset, load_dataset

    if path:
        data = load_dataset(path)
    else:
        data = build_dataset(
            kind, n_worlds, problems_per_world, states_per_path, grid=max(int(grid), 1), seed=seed,
            solve_iterations=solve_iterations, world_kwargs=world_kwargs,
        )
    states, condition = planning_arrays(data, grid, occupancy)
    labels = {"condition": condition, "world_index": data["world_index"], "problem_index": data["problem_index"]}
    return states, labels

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
    "planning": planning_states,
    "polymer": polymer.polymer_configurations,
    "sinusoids": toy.sinusoids,
    "sprites": sprites.sprite_videos,
    "sprites-npy": sprites_release,
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
_SPRITES_FILE = re.compile(r"sprites_[XAD]_(\w+)\.npy$")


def data_config_for(cfg: DataConfig, paths: str | Path | Sequence[str | Path]) -> DataConfig:
    """A copy of a run's ``data:`` section that reads ``paths`` the way ``train`` reads that data kind.

    ``molecular``: files with a topology suffix (``.pdb``, ``.gro``, ``.psf``, ...) replace
    ``params.topology``, the others are the trajectory (a topology alone: its own frames).
    ``sprites-npy`` and ``sprites`` (videos): a directory in the release layout, or one of its
    ``sprites_X_{split}.npy`` files (that split is read). ``de-jong``: the directory of stroke files. ``sportvu``: a directory with
    ``events.csv`` and one moments file. ``planning``: the data set's ``.npz``. Every other kind: the file
    is read like ``train --data FILE`` (``data.kind=file``) with the run's ``data.sequence`` settings.
    Preparation (``data.sequence``, ``params`` other than the paths) and the split fractions are kept.
    """
    items = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if not items:
        raise DataError("no data files given")
    for p in items:
        if not p.exists():
            raise DataError(missing_path(p))
    kind = cfg.kind
    if kind == "molecular":
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
    if len(items) > 1:
        raise DataError(f"data.kind={kind} reads one file or directory at a time, got {len(items)}")
    path = items[0]
    if kind in ("sprites-npy", "sprites"):  # videos, from the release layout or from the simulator
        match = _SPRITES_FILE.search(path.name) if path.is_file() else None
        if path.is_file() and match is None:
            raise DataError(
                f"{path}: videos are read in the Sprites layout: a directory holding sprites_X_{{split}}.npy "
                "(frames (N, T, H, W, 3)) and its label files, or one of those files"
            )
        params = dict(cfg.params) if kind == "sprites-npy" else {}
        params["directory"] = str(path.parent if match else path)
        if match:
            params["split"] = match.group(1)
        return replace(cfg, kind="sprites-npy", params=params)
    if kind == "de-jong":
        if not path.is_dir():
            raise DataError(f"{path}: data.kind=de-jong reads the directory of stroke files, not a file")
        return replace(cfg, params={**cfg.params, "directory": str(path)})
    if kind == "sportvu":
        events = path / "events.csv"
        moments = [path / n for n in ("moments.csv", "moments.parquet") if (path / n).is_file()]
        moments += sorted(path.glob("*.json")) if path.is_dir() else []
        if not path.is_dir() or not events.is_file() or len(moments) != 1:
            raise DataError(f"{path}: data.kind=sportvu reads a directory with events.csv and exactly one moments file")
        return replace(cfg, params={**cfg.params, "moments": str(moments[0]), "events": str(events)})
    if kind == "planning":
        return replace(cfg, params={**cfg.params, "path": str(path)})
    return replace(cfg, kind="file", path=str(path), key=cfg.key if kind == "file" else None, params={})


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
    return bundle_arrays(values, labels, cfg.val_fraction, cfg.test_fraction, cfg.normalize, seed, condition=condition)


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
        feature_names=list(table.feature_names) if table.named_features else [],
    )
