"""The planning data kind: states along near-optimal paths, with their start / goal / occupancy conditions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from seqvae.config import DataConfig
from seqvae.data.sources import register_data_kind, single_path
from seqvae.domains.planning.dataset import build_dataset, load_dataset
from seqvae.domains.planning.world import unstack_worlds
from seqvae.errors import ConfigError


def area_occupancy_grids(worlds: np.ndarray, resolution: int) -> np.ndarray:
    """``(W, R, R)`` float32: fraction of each grid cell covered by obstacles (row = y), for stacked worlds
    ``(W, K, 4)`` (NaN-padded, as ``seqvae.domains.planning.world.stack_worlds`` writes them).

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
    ``seqvae.models.conditional.pack_condition``) of a planning data set from ``seqvae.domains.planning.dataset``.

    ``occupancy``: ``"area"`` (covered fraction per cell, :func:`area_occupancy_grids`) or ``"binary"``
    (``World.occupancy_grid``). ``grid=0`` leaves the grid out of the condition.
    """
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

    Builds the data set with ``seqvae.domains.planning.dataset.build_dataset`` (needs OMPL), or reads the ``.npz`` at
    ``path`` (written by ``save_dataset``; the generation arguments are then ignored).
    """
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


def _planning_paths(cfg: DataConfig, items: list[Path]) -> DataConfig:
    """``--data FILE`` for ``data.kind=planning``: the data set's ``.npz`` (written by ``save_dataset``)."""
    return replace(cfg, params={**cfg.params, "path": str(single_path(cfg, items))})


register_data_kind("planning", from_paths=_planning_paths)(planning_states)
