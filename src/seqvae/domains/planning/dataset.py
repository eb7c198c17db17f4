"""Training data for a learned planning sampler: states along near-optimal paths with their conditions.

Following Ichter, Harrison & Pavone (ICRA 2018), every row is one state ``x`` sampled along a near-optimal
path of a problem, together with the problem's condition (start, goal, occupancy grid of the world).

:func:`build_dataset` returns a dict of numpy arrays (``N`` rows = states, ``P`` solved problems, ``W`` worlds,
``d`` = configuration dimension, ``R`` = grid resolution):

=================  ================  ===========================================================================
key                shape / dtype     meaning
=================  ================  ===========================================================================
``states``         (N, d) float64    training targets, uniform by arc length along each path (iid draws)
``start``          (N, d) float64    the row's problem start
``goal``           (N, d) float64    the row's problem goal
``world_index``    (N,) int64        row -> world; the row's grid is ``grids[world_index]`` (see :func:`row_grids`;
                                     grids are stored once per world to save memory)
``problem_index``  (N,) int64        row -> solved problem
``grids``          (W, R, R) float32 occupancy grid of each world (``World.occupancy_grid``; row = y)
``worlds``         (W, K, 4) float64 obstacles of each world, NaN-padded (``stack_worlds``/``unstack_worlds``)
``problem_start``  (P, d) float64    start of each solved problem
``problem_goal``   (P, d) float64    goal of each solved problem
``problem_world``  (P,) int64        world of each solved problem
``cost``           (P,) float64      near-optimal path length (joint space for the arm)
``path_states``    (T, d) float64    all paths concatenated; path ``p`` is ``path_states[off[p]:off[p + 1]]``
``path_offsets``   (P + 1,) int64    ``off`` above
``kind``           () str            ``"narrow"``, ``"rectangles"`` or ``"arm"``
``arm``            (2 + k,) float64  ``PlanarArm.to_array()`` for ``"arm"``, empty otherwise
``arm_resolution`` () float64        motion-checking resolution of the arm problems (radians)
``n_attempted``    () int64          problems generated (``n_worlds * problems_per_world``)
``n_unsolved``     () int64          problems dropped because the planner found no verified path
``seed``           () int64          the seed
=================  ================  ===========================================================================

Problems (per world, from :mod:`seqvae.domains.planning.world`): ``"narrow"`` — :func:`narrow_passage` world, start and goal
on opposite sides of the walls (``sample_start_goal``); ``"rectangles"`` — :func:`random_rectangles` world,
start and goal uniform free points at least ``min_distance`` (0.5) apart and connected in free space (checked
exactly with :func:`point_optimal_cost`, so every generated point problem is feasible); ``"arm"`` —
:func:`arm_world`, start a uniform free configuration and goal a "threading" configuration (tip beyond the
slotted wall), swapped with probability 1/2. ``world_kwargs`` go to the world generator.

Randomness: ``seed`` seeds a ``numpy.random.SeedSequence([seed, stream])`` (stream 0 for training data, 1 for
:func:`held_out_problems`), spawned into one child per world; each world's child drives the world, its problems,
the OMPL seeds of its problems and its states. The result is a deterministic function of the arguments as long
as the planner budget is an iteration count (``solve_time=None``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from seqvae.domains.planning.ompl_planner import Problem, point_optimal_cost, shortest_path
from seqvae.domains.planning.world import (
    PlanarArm,
    World,
    arm_world,
    narrow_passage,
    random_rectangles,
    stack_worlds,
    unstack_worlds,
)
from seqvae.errors import ConfigError, DataError
from seqvae.io import atomic_path

KINDS = ("narrow", "rectangles", "arm")
_TRAIN_STREAM, _HELD_OUT_STREAM = 0, 1
_DEFAULT_ITERATIONS = {"narrow": 20_000, "rectangles": 20_000, "arm": 4_000}

REQUIRED_KEYS = (
    "states",
    "start",
    "goal",
    "world_index",
    "problem_index",
    "grids",
    "worlds",
    "problem_start",
    "problem_goal",
    "problem_world",
    "cost",
    "path_states",
    "path_offsets",
    "kind",
    "arm",
    "arm_resolution",
    "n_attempted",
    "n_unsolved",
    "seed",
)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")


def _world_problems(
    kind: str,
    rng: np.random.Generator,
    n: int,
    world_kwargs: dict[str, Any],
    min_distance: float,
    arm_resolution: float,
) -> tuple[World, list[Problem]]:
    """One random world of ``kind`` and ``n`` problems in it."""
    if kind == "narrow":
        npw = narrow_passage(rng, **world_kwargs)
        starts, goals = npw.sample_start_goal(rng, n)
        return npw.world, [Problem(npw.world, s, g) for s, g in zip(starts, goals)]
    if kind == "rectangles":
        world = random_rectangles(rng, **world_kwargs)
        problems: list[Problem] = []
        for _ in range(1000 * n):
            if len(problems) >= n:
                break
            pts = rng.random((2, 2))
            if not (world.is_free(*pts[0]) and world.is_free(*pts[1])):
                continue
            if np.linalg.norm(pts[1] - pts[0]) < min_distance:
                continue
            pr = Problem(world, pts[0], pts[1])
            if np.isfinite(point_optimal_cost(pr)):
                problems.append(pr)
        if len(problems) < n:
            raise DataError(f"rectangles: found only {len(problems)} of {n} feasible problems (world too cluttered?)")
        return world, problems
    aw = arm_world(rng, **world_kwargs)
    starts = aw.sample_configs(rng, n)
    goals = aw.sample_configs(rng, n, threading=True)
    swap = rng.random(n) < 0.5
    starts, goals = np.where(swap[:, None], goals, starts), np.where(swap[:, None], starts, goals)
    return aw.world, [
        Problem(aw.world, s, g, robot=aw.arm, arm_resolution=arm_resolution) for s, g in zip(starts, goals)
    ]


def _world_rngs(seed: int, stream: int, n_worlds: int) -> list[tuple[np.random.Generator, np.random.Generator]]:
    """Per world: (generator for the world and its problems, generator for OMPL seeds and path states)."""
    children = np.random.SeedSequence([int(seed), stream]).spawn(n_worlds)
    return [tuple(np.random.default_rng(c) for c in child.spawn(2)) for child in children]  # type: ignore[misc]


def sample_along_path(path: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` iid states uniform by arc length on the polyline ``path`` ``(M, d)``."""
    path = np.asarray(path, dtype=np.float64)
    if len(path) == 1:
        return np.repeat(path, n, axis=0)
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    if cum[-1] == 0:
        return np.repeat(path[:1], n, axis=0)
    return points_at_arc_length(path, rng.random(n) * cum[-1])


def points_at_arc_length(path: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Points ``(len(s), d)`` of the polyline ``path`` ``(M >= 2, d)`` at arc lengths ``s`` from its start."""
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    k = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg) - 1)
    t = np.where(seg[k] > 0, (s - cum[k]) / np.where(seg[k] > 0, seg[k], 1.0), 0.0)
    t = np.clip(t, 0.0, 1.0)
    return path[k] + t[:, None] * (path[k + 1] - path[k])


def _progress(enabled: bool, total: int, label: str):
    """A rich progress bar (or a no-op) as a context manager yielding an ``advance()`` function."""
    from contextlib import contextmanager

    @contextmanager
    def bar():
        if not enabled:
            yield lambda: None
            return
        from rich.progress import Progress

        with Progress() as prog:
            task = prog.add_task(label, total=total)
            yield lambda: prog.advance(task)

    return bar()


def build_dataset(
    kind: str = "narrow",
    n_worlds: int = 100,
    problems_per_world: int = 4,
    states_per_path: int = 50,
    grid: int = 32,
    seed: int = 0,
    solve_iterations: int | None = None,
    solve_time: float | None = None,
    planner: str = "auto",
    attempts: int | None = None,
    world_kwargs: dict[str, Any] | None = None,
    min_distance: float = 0.5,
    arm_resolution: float = 0.02,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """States along near-optimal paths of random problems, with their conditions (layout in the module doc).

    Each problem is solved with :func:`shortest_path` (``planner``, ``solve_iterations`` — default 20 000 BIT*
    iterations for the point robot, 4 000 for the arm, where ``"auto"`` also runs RRTConnect for up to 5 s — and
    optionally a wall-clock cap ``solve_time``, which makes the result time-dependent; ``attempts`` (default 2
    for the point robot, 1 for the arm) retries unsolved problems with doubled iterations). Unsolved problems are
    dropped and counted in ``n_unsolved`` (arm problems can be infeasible: joint limits without wrap-around and
    clutter may separate start and goal; the point-robot generators only produce feasible problems).
    """
    _check_kind(kind)
    for name, v in (
        ("n_worlds", n_worlds),
        ("problems_per_world", problems_per_world),
        ("states_per_path", states_per_path),
        ("grid", grid),
    ):
        if int(v) != v or v < 1:
            raise ConfigError(f"{name} must be a positive integer, got {v!r}")
    iterations = _DEFAULT_ITERATIONS[kind] if solve_iterations is None else int(solve_iterations)
    attempts = (1 if kind == "arm" else 2) if attempts is None else int(attempts)
    kw = dict(world_kwargs or {})
    worlds: list[World] = []
    arm: PlanarArm | None = None
    dim = None
    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("states", "world_index", "problem_index")}
    probs: dict[str, list] = {k: [] for k in ("problem_start", "problem_goal", "problem_world", "cost", "paths")}
    n_unsolved = 0
    with _progress(progress, n_worlds * problems_per_world, f"planning {kind}") as advance:
        for w, (gen_rng, plan_rng) in enumerate(_world_rngs(seed, _TRAIN_STREAM, n_worlds)):
            world, problems = _world_problems(kind, gen_rng, problems_per_world, kw, min_distance, arm_resolution)
            worlds.append(world)
            for pr in problems:
                dim = pr.dim
                if pr.is_arm:
                    arm = pr.robot  # type: ignore[assignment]
                ompl_seed = int(plan_rng.integers(0, 2**31 - 2))
                res = shortest_path(
                    pr, time=solve_time, iterations=iterations, planner=planner, seed=ompl_seed, attempts=attempts
                )
                advance()
                if not res.solved:
                    n_unsolved += 1
                    continue
                p = len(probs["cost"])
                rows["states"].append(sample_along_path(res.path, states_per_path, plan_rng))
                rows["world_index"].append(np.full(states_per_path, w, dtype=np.int64))
                rows["problem_index"].append(np.full(states_per_path, p, dtype=np.int64))
                probs["problem_start"].append(pr.start)
                probs["problem_goal"].append(pr.goal)
                probs["problem_world"].append(w)
                probs["cost"].append(res.cost)
                probs["paths"].append(res.path)
    d = int(dim)  # type: ignore[arg-type]
    n_p = len(probs["cost"])
    problem_start = np.array(probs["problem_start"], dtype=np.float64).reshape(n_p, d)
    problem_goal = np.array(probs["problem_goal"], dtype=np.float64).reshape(n_p, d)
    problem_index = np.concatenate(rows["problem_index"]) if n_p else np.zeros(0, dtype=np.int64)
    lengths = [len(p) for p in probs["paths"]]
    return {
        "states": np.concatenate(rows["states"]) if n_p else np.zeros((0, d)),
        "start": problem_start[problem_index],
        "goal": problem_goal[problem_index],
        "world_index": np.concatenate(rows["world_index"]) if n_p else np.zeros(0, dtype=np.int64),
        "problem_index": problem_index,
        "grids": np.stack([wd.occupancy_grid(grid) for wd in worlds]).astype(np.float32),
        "worlds": stack_worlds(worlds),
        "problem_start": problem_start,
        "problem_goal": problem_goal,
        "problem_world": np.array(probs["problem_world"], dtype=np.int64),
        "cost": np.array(probs["cost"], dtype=np.float64),
        "path_states": np.concatenate(probs["paths"]) if n_p else np.zeros((0, d)),
        "path_offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "kind": np.array(kind),
        "arm": arm.to_array() if arm is not None else np.zeros(0),
        "arm_resolution": np.array(float(arm_resolution)),
        "n_attempted": np.array(n_worlds * problems_per_world, dtype=np.int64),
        "n_unsolved": np.array(n_unsolved, dtype=np.int64),
        "seed": np.array(int(seed), dtype=np.int64),
    }


def row_grids(data: dict[str, np.ndarray]) -> np.ndarray:
    """Per-row occupancy grids ``(N, R, R)`` float32 (``grids[world_index]``; materialises N grids)."""
    return data["grids"][data["world_index"]]


def dataset_paths(data: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The near-optimal path ``(M_p, d)`` of every solved problem."""
    off = data["path_offsets"]
    return [data["path_states"][off[p] : off[p + 1]] for p in range(len(off) - 1)]


def problems_from_dataset(data: dict[str, np.ndarray]) -> list[Problem]:
    """The solved problems of a data set, re-created as :class:`Problem` objects."""
    worlds = unstack_worlds(data["worlds"])
    robot: Any = PlanarArm.from_array(data["arm"]) if str(data["kind"]) == "arm" else "point"
    res = float(data["arm_resolution"])
    return [
        Problem(worlds[int(w)], s, g, robot=robot, arm_resolution=res)
        for s, g, w in zip(data["problem_start"], data["problem_goal"], data["problem_world"])
    ]


def held_out_problems(
    kind: str,
    n_worlds: int,
    seed: int = 0,
    problems_per_world: int = 1,
    world_kwargs: dict[str, Any] | None = None,
    min_distance: float = 0.5,
    arm_resolution: float = 0.02,
) -> list[Problem]:
    """Evaluation problems on fresh worlds: same generators as :func:`build_dataset` but a different seed stream
    (``SeedSequence([seed, 1])``), so no world coincides with the training worlds of the same seed."""
    _check_kind(kind)
    if (
        int(n_worlds) != n_worlds
        or n_worlds < 1
        or int(problems_per_world) != problems_per_world
        or problems_per_world < 1
    ):
        raise ConfigError(
            f"n_worlds and problems_per_world must be positive integers, got {n_worlds!r}, {problems_per_world!r}"
        )
    out: list[Problem] = []
    for gen_rng, _ in _world_rngs(seed, _HELD_OUT_STREAM, n_worlds):
        out += _world_problems(
            kind, gen_rng, problems_per_world, dict(world_kwargs or {}), min_distance, arm_resolution
        )[1]
    return out


def save_dataset(path: str | os.PathLike, data: dict[str, np.ndarray]) -> Path:
    """Write ``data`` to ``path`` (``.npz`` via ``np.savez``, uncompressed); atomic (temporary file + rename)."""
    path = Path(path)
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise DataError(f"{path}: data set is missing keys {missing}")
    arrays = {k: np.asarray(v) for k, v in data.items()}
    bad = [k for k, v in arrays.items() if v.dtype == object]
    if bad:
        raise DataError(f"{path}: keys {bad} are object arrays (they would need pickle)")
    with atomic_path(path) as tmp:  # the umask's mode, like every other output
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return path


def load_dataset(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a data set written by :func:`save_dataset` (``np.load(allow_pickle=False)``; exact round trip)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise DataError(f"{path}: no such file or directory") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npz data set ({exc})") from exc
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise DataError(f"{path}: not a seqvae planning data set, missing keys {missing}")
    n = len(data["states"])
    for k in ("start", "goal", "world_index", "problem_index"):
        if len(data[k]) != n:
            raise DataError(f"{path}: {k} has {len(data[k])} rows, states has {n}")
    return data
