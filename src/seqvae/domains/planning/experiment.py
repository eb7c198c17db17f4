"""Issue 9: learned sampling distributions for motion planning (Ichter, Harrison & Pavone, ICRA 2018).

``seqvae experiment planning`` builds training data with OMPL (states along near-optimal BIT* paths of random
narrow-passage problems, with the condition y = (start, goal, occupancy grid)), trains the conditional VAE of
``planning.yaml`` (next to this module) and evaluates it inside OMPL's PRM on held-out worlds (same generator, the held-out
seed stream of :func:`seqvae.domains.planning.dataset.held_out_problems`). The point robot's training states are
resampled from the stored near-optimal paths with most of their mass on the low-clearance stretch through the
narrow passage (``clearance_fraction``, ``clearance_scale``; see :func:`clearance_weighted_states`), so the
learned samples concentrate where uniform sampling rarely lands. Evaluation:

* for every sample budget N of a grid (valid PRM milestones) and every problem, PRM with uniform sampling
  (λ = 0) and with the λ-mixture of learned and uniform samples (λ = 0.5): success rate and mean path cost of
  the solved problems (also over the problems both solve). Both samplers share the PRM seed of a problem;
* ``n_star``: the smallest N of the grid where uniform PRM succeeds 20-60 % of the time; the learned/uniform
  success ratio there is the acceptance number (>= 1.5); the samples needed for 90 % success (smallest N of the
  grid that reaches it, or ``"> max N"``);
* the same for a planar arm (k joints, the arm CVAE reads angles as sin/cos), on a smaller data set; reported,
  no threshold.

The learned sampler of a problem decodes z ~ N(0, I) given the problem's condition (seeded), in batches, and
serves the states to PRM in order. ``metrics.json`` holds the tables, a ``summary``, ``claims`` and (apart from
the deterministic numbers) the wall times; figures: ``sample_clouds.png``, ``success_vs_samples.png``,
``cost_vs_samples.png``, ``arm_samples.png`` and the learning curves of both models; ``timing.json`` the wall
times of each stage (kept out of ``metrics.json``, which the same seed reproduces exactly).

Evaluation and arm settings are the ``experiment:`` section of ``planning.yaml`` (:class:`PlanningSettings`;
``paper`` overlays it), overridable with ``--set planning.KEY=VALUE``; the rest of the file configures the
training runs.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from seqvae import plots
from seqvae.config import RunConfig, to_dict
from seqvae.data.prepare import DataBundle, bundle_arrays
from seqvae.domains.planning import figures as planning_figures
from seqvae.domains.planning.data import area_occupancy_grids, planning_arrays
from seqvae.domains.planning.dataset import build_dataset, held_out_problems
from seqvae.domains.planning.ompl_planner import Problem, plan_prm, shortest_path
from seqvae.domains.planning.world import stack_worlds
from seqvae.errors import ConfigError
from seqvae.experiments import register_experiment
from seqvae.experiments.common import (
    experiment_config,
    experiment_settings,
    header,
    save_learning_curves,
    split_overrides,
    train_summary,
    write_metrics,
)
from seqvae.io import write_json_atomic
from seqvae.models.conditional import pack_condition
from seqvae.training import fit

NAME = "planning"
BAND = (0.2, 0.6)  # uniform PRM success range in which N* is chosen (the rule)
RATIO_MIN = 1.5  # acceptance: learned succeeds >= 1.5x as often as uniform at N*
SUCCESS_TARGET = 0.9

@dataclass
class PlanningSettings:
    """The experiment's evaluation and arm settings: the ``experiment:`` section of planning.yaml (the paper
    preset's under ``presets: {paper: {experiment: ...}}``), ``--set planning.KEY=VALUE`` on top; the
    comments there say what each does. Sample grids are sorted and deduplicated."""

    augment: bool
    clearance_fraction: float
    clearance_scale: float
    lam: float
    n_grid: list[int]
    eval_worlds: int
    eval_problems_per_world: int
    k_neighbors: int
    sample_batch: int
    cloud_worlds: int
    cloud_samples: int
    arm: bool
    arm_worlds: int
    arm_problems_per_world: int
    arm_states_per_path: int
    arm_epochs: int
    arm_eval_worlds: int
    arm_n_grid: list[int]

    def __post_init__(self) -> None:
        for key in ("n_grid", "arm_n_grid"):
            grid = sorted(set(getattr(self, key)))
            if not grid or grid[0] < 1:
                raise ConfigError(f"planning.{key} must be a non-empty list of positive sample counts, got {getattr(self, key)!r}")
            setattr(self, key, grid)
        if not 0.0 <= self.clearance_fraction <= 1.0:
            raise ConfigError(f"planning.clearance_fraction must lie in [0, 1], got {self.clearance_fraction!r}")
        if not self.clearance_scale > 0.0:
            raise ConfigError(f"planning.clearance_scale must be > 0, got {self.clearance_scale!r}")
        if not 0.0 < self.lam <= 1.0:
            raise ConfigError(f"planning.lam must lie in (0, 1], got {self.lam!r}")


# --------------------------------------------------------------------------- settings


def planning_settings(preset: str | None, overrides: list[str]) -> PlanningSettings:
    """The experiment's settings for ``preset`` with ``planning.KEY=VALUE`` overrides, validated."""
    return experiment_settings(NAME, PlanningSettings, "planning", preset, overrides)


# --------------------------------------------------------------------------- data and training


def dihedral_augment(
    states: np.ndarray, condition: np.ndarray, grid: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each point-robot row mapped by a random symmetry of the unit square (one of the 8 reflections and
    rotations, seeded): state, start and goal transformed, the grid (row = y) flipped or transposed to match.

    The narrow-passage family is invariant under these maps (random wall axis, gap positions symmetric in the
    margins, start and goal swapped at random), so this multiplies the worlds a model sees per problem without
    changing the distribution it is trained on. Rows keep their count.
    """
    rng = np.random.default_rng([seed, 9])
    n = len(states)
    code = rng.integers(0, 8, size=n)
    swap, flip_x, flip_y = (code & 1).astype(bool), (code & 2).astype(bool), (code & 4).astype(bool)

    def points(p: np.ndarray) -> np.ndarray:
        p = p.copy()
        p[swap] = p[swap][:, ::-1]
        p[flip_x, 0] = 1.0 - p[flip_x, 0]
        p[flip_y, 1] = 1.0 - p[flip_y, 1]
        return p

    out_states = points(states)
    cond = condition.copy()
    cond[:, 0:2], cond[:, 2:4] = points(condition[:, 0:2]), points(condition[:, 2:4])
    if grid:
        g = condition[:, 4:].reshape(n, grid, grid)
        g = np.where(swap[:, None, None], np.swapaxes(g, 1, 2), g)  # x <-> y: transpose (row = y)
        g = np.where(flip_x[:, None, None], g[:, :, ::-1], g)  # x -> 1 - x: reverse columns
        g = np.where(flip_y[:, None, None], g[:, ::-1, :], g)  # y -> 1 - y: reverse rows
        cond[:, 4:] = g.reshape(n, grid * grid)
    return out_states.astype(np.float32), cond.astype(np.float32)


def obstacle_clearance(obstacles: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Distance ``(n,)`` of each 2-D point to the nearest rectangle of ``obstacles`` ``(K, 4)`` (NaN rows, as in
    ``stack_worlds`` padding, are skipped; 0 inside an obstacle; ``inf`` without obstacles)."""
    obs = np.asarray(obstacles, dtype=np.float64)
    obs = obs[np.all(np.isfinite(obs), axis=1)]
    if not len(obs):
        return np.full(len(points), np.inf)
    x, y = points[:, 0:1], points[:, 1:2]
    dx = np.maximum(np.maximum(obs[None, :, 0] - x, 0.0), x - obs[None, :, 2])
    dy = np.maximum(np.maximum(obs[None, :, 1] - y, 0.0), y - obs[None, :, 3])
    return np.hypot(dx, dy).min(axis=1)


def clearance_weighted_states(
    data: dict[str, np.ndarray], per_path: int, fraction: float, scale: float, seed: int
) -> dict[str, np.ndarray]:
    """Point-robot training states resampled from the stored near-optimal paths: per path, ``fraction`` of the
    ``per_path`` states drawn with arc-length density proportional to ``1 / (clearance + scale)`` (clearance =
    distance to the nearest obstacle), the rest uniform by arc length as before.

    The states stay on the near-optimal paths (the CVAE still learns where good paths go) but the low-clearance
    stretch through the narrow passage -- the part uniform sampling rarely hits -- gets most of the mass, as the
    paper's learned samples concentrate there. Returns a copy of ``data`` with ``states``, ``start``, ``goal``,
    ``world_index`` and ``problem_index`` rebuilt (same rows per path).
    """
    from seqvae.domains.planning.dataset import dataset_paths, points_at_arc_length, sample_along_path

    rng = np.random.default_rng([seed, 11])
    worlds = data["worlds"]
    n_weighted = int(round(per_path * float(fraction)))
    states, widx, pidx = [], [], []
    for p, path in enumerate(dataset_paths(data)):
        w = int(data["problem_world"][p])
        parts = [sample_along_path(path, per_path - n_weighted, rng)] if per_path > n_weighted else []
        if n_weighted:
            seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
            total = float(seg.sum())
            if total > 0:
                m = max(200, int(np.ceil(total / 0.002)))  # fine arc-length grid
                s = (np.arange(m) + 0.5) / m * total
                pts = points_at_arc_length(path, s)
                weight = 1.0 / (obstacle_clearance(worlds[w], pts) + float(scale))
                pick = rng.choice(m, size=n_weighted, p=weight / weight.sum())
                jitter = (rng.random(n_weighted) - 0.5) * total / m
                parts.append(points_at_arc_length(path, np.clip(s[pick] + jitter, 0.0, total)))
            else:
                parts.append(np.repeat(path[:1], n_weighted, axis=0))
        states.append(np.concatenate(parts))
        widx.append(np.full(per_path, w, dtype=np.int64))
        pidx.append(np.full(per_path, p, dtype=np.int64))
    out = dict(data)
    problem_index = np.concatenate(pidx)
    out.update(
        states=np.concatenate(states),
        world_index=np.concatenate(widx),
        problem_index=problem_index,
        start=data["problem_start"][problem_index],
        goal=data["problem_goal"][problem_index],
    )
    return out


def _bundle(data: dict[str, np.ndarray], cfg: RunConfig, augment: bool = False) -> DataBundle:
    p = cfg.data.params
    grid = int(p.get("grid", 32))
    states, condition = planning_arrays(data, grid, p.get("occupancy", "area"))
    if augment:
        states, condition = dihedral_augment(states, condition, grid, cfg.seed)
    labels = {"problem_index": data["problem_index"]}
    return bundle_arrays(
        states, labels, cfg.data.val_fraction, cfg.data.test_fraction, cfg.data.normalize, cfg.seed, condition=condition
    )


def _data_summary(data: dict[str, np.ndarray], seconds: float) -> tuple[dict[str, Any], float]:
    return {
        "kind": str(data["kind"]),
        "worlds": int(len(data["worlds"])),
        "problems": int(data["n_attempted"]),
        "unsolved": int(data["n_unsolved"]),
        "states": int(len(data["states"])),
        "mean_path_cost": float(np.mean(data["cost"])) if len(data["cost"]) else None,
    }, seconds


def _build(params: dict[str, Any], seed: int) -> tuple[dict[str, np.ndarray], float]:
    t0 = time.perf_counter()
    data = build_dataset(
        params.get("kind", "narrow"),
        int(params.get("n_worlds", 100)),
        int(params.get("problems_per_world", 4)),
        int(params.get("states_per_path", 50)),
        grid=max(int(params.get("grid", 32)), 1),
        seed=seed,
        solve_iterations=params.get("solve_iterations"),
        world_kwargs=params.get("world_kwargs"),
    )
    return data, time.perf_counter() - t0


def _arm_config(cfg: RunConfig, settings: PlanningSettings, k: int) -> RunConfig:
    """The arm's run config: the point robot's with arm data, ``state_dim = k`` and angle features."""
    arm = copy.deepcopy(cfg)
    arm.data.params = {
        "kind": "arm",
        "n_worlds": settings.arm_worlds,
        "problems_per_world": settings.arm_problems_per_world,
        "states_per_path": settings.arm_states_per_path,
        "grid": cfg.data.params.get("grid", 32),
        "occupancy": cfg.data.params.get("occupancy", "area"),
    }
    arm.model = {**arm.model, "state_dim": k, "angles": True}
    arm.train.max_epochs = int(settings.arm_epochs)
    return arm


# --------------------------------------------------------------------------- evaluation


def problem_condition(problem: Problem, grid: int, occupancy: str) -> np.ndarray:
    """The packed condition row ``[start, goal, grid]`` of one problem (as the training data have it)."""
    if not grid:
        return pack_condition(problem.start, problem.goal)
    if occupancy == "area":
        g = area_occupancy_grids(stack_worlds([problem.world]), grid)[0]
    else:
        g = problem.world.occupancy_grid(grid)
    return pack_condition(problem.start, problem.goal, g)


def learned_sampler(
    model: Any, condition: np.ndarray, seed: int, batch: int, wrap_angles: bool = False
) -> Callable[[np.random.Generator, int], np.ndarray]:
    """A PRM sampler ``(rng, n) -> (n, d)`` serving the model's states for ``condition`` in order (decoded
    ``batch`` at a time from a generator seeded with ``seed``; the planner's ``rng`` is not used)."""
    gen = torch.Generator().manual_seed(int(seed))
    buf = np.zeros((0, model.config.state_dim))

    def sample(rng: np.random.Generator, n: int) -> np.ndarray:
        nonlocal buf
        while len(buf) < n:
            new = model.sample_states(condition, max(batch, n), generator=gen).cpu().numpy().astype(np.float64)
            if wrap_angles:  # a joint angle outside [-pi, pi] is the same configuration wrapped
                new = (new + np.pi) % (2 * np.pi) - np.pi
            buf = np.concatenate([buf, new])
        out, buf = buf[:n], buf[n:]
        return out

    return sample


def _rate_row(results: list[Any]) -> dict[str, Any]:
    solved = [r for r in results if r.solved]
    return {
        "solved": len(solved),
        "success": len(solved) / len(results) if results else None,
        "mean_cost": float(np.mean([r.cost for r in solved])) if solved else None,
    }


def evaluate_samplers(
    model: Any,
    problems: list[Problem],
    n_grid: list[int],
    settings: PlanningSettings,
    grid: int,
    occupancy: str,
    seed: int,
) -> tuple[list[dict[str, Any]], dict[tuple[int, int], Any]]:
    """Per N of ``n_grid``: uniform and learned PRM success and mean cost over ``problems``; also the learned
    results by ``(problem, N)`` (for figures)."""
    model.eval()
    conds = [problem_condition(p, grid, occupancy) for p in problems]
    rows, learned_results = [], {}
    for n in n_grid:
        uni, lea = [], []
        for i, (pr, cond) in enumerate(zip(problems, conds)):
            prm_seed = int(np.random.SeedSequence([seed, 7, i, n]).generate_state(1)[0] % (2**31 - 2))
            uni.append(plan_prm(pr, n, None, lam=0.0, seed=prm_seed, k_neighbors=settings.k_neighbors))
            sampler = learned_sampler(model, cond, prm_seed, settings.sample_batch, wrap_angles=pr.is_arm)
            res = plan_prm(pr, n, sampler, lam=float(settings.lam), seed=prm_seed, k_neighbors=settings.k_neighbors)
            lea.append(res)
            learned_results[(i, n)] = res
        both = [(u, m) for u, m in zip(uni, lea) if u.solved and m.solved]
        row = {"n": n, "problems": len(problems), "uniform": _rate_row(uni), "learned": _rate_row(lea)}
        row["both_solved"] = len(both)
        row["uniform"]["mean_cost_both"] = float(np.mean([u.cost for u, _ in both])) if both else None
        row["learned"]["mean_cost_both"] = float(np.mean([m.cost for _, m in both])) if both else None
        row["learned"]["learned_fraction"] = float(np.mean([r.learned / max(r.proposals, 1) for r in lea]))
        rows.append(row)
    return rows, learned_results


def samples_for(rows: list[dict[str, Any]], key: str, target: float = SUCCESS_TARGET) -> int | str:
    """The smallest N of the table whose success reaches ``target``, else ``"> max N"``."""
    for row in rows:
        if row[key]["success"] is not None and row[key]["success"] >= target:
            return row["n"]
    return f"> {rows[-1]['n']}" if rows else "n/a"


def choose_n_star(rows: list[dict[str, Any]], band: tuple[float, float] = BAND) -> int | None:
    """The smallest N whose uniform success lies in ``band`` (inclusive), or None."""
    for row in rows:
        s = row["uniform"]["success"]
        if s is not None and band[0] <= s <= band[1]:
            return row["n"]
    return None


def _table_summary(rows: list[dict[str, Any]], n_star: int | None) -> dict[str, Any]:
    at = next((r for r in rows if r["n"] == n_star), None)
    out: dict[str, Any] = {
        "n_star": n_star,
        "samples_for_90": {"uniform": samples_for(rows, "uniform"), "learned": samples_for(rows, "learned")},
    }
    if at is not None:
        u, m = at["uniform"], at["learned"]
        out.update(
            uniform_success=u["success"],
            learned_success=m["success"],
            ratio=(m["success"] / u["success"]) if u["success"] else None,
            uniform_mean_cost=u["mean_cost"],
            learned_mean_cost=m["mean_cost"],
            uniform_mean_cost_both=u["mean_cost_both"],
            learned_mean_cost_both=m["mean_cost_both"],
        )
    return out


def _curves(rows: list[dict[str, Any]], field: str, n_star: int | None) -> dict[str, Any]:
    return {
        "n": [r["n"] for r in rows],
        "uniform": [r["uniform"][field] for r in rows],
        "learned": [r["learned"][field] for r in rows],
        "n_star": n_star,
    }


def _cloud_panels(
    model: Any, problems: list[Problem], learned: dict, n_star: int | None, settings: PlanningSettings, grid: int,
    occupancy: str, seed: int,
) -> list[dict[str, Any]]:
    panels = []
    for i, pr in enumerate(problems[: settings.cloud_worlds]):
        cond = problem_condition(pr, grid, occupancy)
        gen = torch.Generator().manual_seed(seed + 1000 + i)
        samples = model.sample_states(cond, settings.cloud_samples, generator=gen).cpu().numpy()
        res = learned.get((i, n_star)) if n_star is not None else None
        label = f"held-out world {i}"
        if res is not None:
            label += f": learned PRM, N = {n_star}, " + (f"cost {res.cost:.2f}" if res.solved else "unsolved")
        panels.append({
            "obstacles": pr.world.obstacles, "samples": samples, "start": pr.start, "goal": pr.goal,
            "path": res.path if res is not None and res.solved else np.zeros((0, 2)), "label": label,
        })
    return panels


# --------------------------------------------------------------------------- the experiment


@register_experiment(
    NAME,
    "Ichter et al. 2018: CVAE learned sampling vs uniform sampling in OMPL's PRM on held-out narrow passages "
    "(and a planar arm)",
)
def run(
    out_dir: Path, seed: int = 0, overrides: list[str] | None = None, preset: str | None = None, progress: bool = True
) -> dict[str, Any]:
    out = Path(out_dir)
    t_start = time.perf_counter()
    mine, rest = split_overrides(list(overrides or []), "planning")
    settings = planning_settings(preset, mine)
    cfg = experiment_config(NAME, seed, rest, preset, progress)
    if cfg.data.kind != "planning" or cfg.data.params.get("path"):
        raise ConfigError("the planning experiment builds its own data: keep data.kind=planning without data.params.path")
    params = cfg.data.params
    grid, occupancy = int(params.get("grid", 32)), str(params.get("occupancy", "area"))
    walls: dict[str, float] = {}

    # -- point robot: data, training, evaluation on held-out worlds
    data, walls["point_data"] = _build(params, cfg.seed)
    data_summary, _ = _data_summary(data, walls["point_data"])
    t0 = time.perf_counter()
    train_data = data
    if float(settings.clearance_fraction) > 0:
        train_data = clearance_weighted_states(
            data, int(params.get("states_per_path", 50)), float(settings.clearance_fraction),
            float(settings.clearance_scale), cfg.seed,
        )
    result = fit(cfg, out / "point", bundle=_bundle(train_data, cfg, bool(settings.augment)))
    walls["point_train"] = time.perf_counter() - t0
    model = result.model
    problems = held_out_problems(
        params.get("kind", "narrow"), settings.eval_worlds, cfg.seed, settings.eval_problems_per_world,
        world_kwargs=params.get("world_kwargs"),
    )
    t0 = time.perf_counter()
    rows, learned = evaluate_samplers(model, problems, settings.n_grid, settings, grid, occupancy, cfg.seed)
    walls["point_eval"] = time.perf_counter() - t0
    n_star = choose_n_star(rows)
    point = _table_summary(rows, n_star)
    save_learning_curves(out / "point", "planning: point-robot CVAE learning curves")
    plots.save_figure(
        planning_figures.plot_planning_sample_clouds(
            _cloud_panels(model, problems, learned, n_star, settings, grid, occupancy, cfg.seed),
            title="Learned samples (CVAE, z ~ N(0, I)) on held-out narrow-passage worlds",
        ),
        out / "sample_clouds.png",
    )
    figures = ["sample_clouds.png", "success_vs_samples.png", "cost_vs_samples.png", "point/learning_curves.png"]

    # -- planar arm
    arm_metrics: dict[str, Any] | None = None
    arm_rows: list[dict[str, Any]] = []
    arm_n_star = None
    if settings.arm:
        arm_cfg = _arm_config(cfg, settings, 1)
        arm_data, walls["arm_data"] = _build(arm_cfg.data.params, cfg.seed)
        k = int(arm_data["states"].shape[1])
        arm_cfg = _arm_config(cfg, settings, k)
        t0 = time.perf_counter()
        arm_result = fit(arm_cfg, out / "arm", bundle=_bundle(arm_data, arm_cfg))
        walls["arm_train"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        candidates = held_out_problems("arm", settings.arm_eval_worlds, cfg.seed, 1)
        # arm problems can be infeasible (joint limits, clutter): evaluate on those BIT* solves
        feasible = [
            p for i, p in enumerate(candidates)
            if shortest_path(p, iterations=4000, seed=cfg.seed + i, attempts=1).solved
        ]
        walls["arm_feasibility"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        arm_rows, arm_learned = evaluate_samplers(
            arm_result.model, feasible, settings.arm_n_grid, settings, grid, occupancy, cfg.seed
        ) if feasible else ([], {})
        walls["arm_eval"] = time.perf_counter() - t0
        arm_n_star = choose_n_star(arm_rows)
        save_learning_curves(out / "arm", "planning: planar-arm CVAE learning curves")
        figures.append("arm/learning_curves.png")
        arm_metrics = {
            "data": _data_summary(arm_data, walls["arm_data"])[0],
            "joints": k,
            "train": train_summary(arm_result.summary),
            "held_out_problems": len(candidates),
            "feasible_problems": len(feasible),
            "table": arm_rows,
            "summary": _table_summary(arm_rows, arm_n_star),
        }
        if feasible:
            pr = feasible[0]
            arm = pr.robot
            gen = torch.Generator().manual_seed(cfg.seed + 2000)
            q = arm_result.model.sample_states(problem_condition(pr, grid, occupancy), 150, generator=gen).numpy()
            plots.save_figure(
                planning_figures.plot_arm_samples(
                    pr.world.obstacles, arm.forward_kinematics(q.astype(np.float64)),
                    arm.forward_kinematics(pr.start), arm.forward_kinematics(pr.goal),
                    title="Learned arm configurations on a held-out world",
                ),
                out / "arm_samples.png",
            )
            figures.append("arm_samples.png")

    curves = {"point robot (narrow passage)": _curves(rows, "success", n_star)}
    costs = {"point robot (narrow passage)": _curves(rows, "mean_cost", None)}
    if arm_rows:
        curves[f"planar arm ({arm_metrics['joints']} joints)"] = _curves(arm_rows, "success", arm_n_star)
        costs[f"planar arm ({arm_metrics['joints']} joints)"] = _curves(arm_rows, "mean_cost", None)
    plots.save_figure(
        planning_figures.plot_planning_curves(curves, "success rate", "PRM success vs samples: learned (λ = "
                                   f"{settings.lam:g}) vs uniform sampling", band=BAND),
        out / "success_vs_samples.png",
    )
    plots.save_figure(
        planning_figures.plot_planning_curves(costs, "mean path cost (solved problems)", "PRM path cost vs samples"),
        out / "cost_vs_samples.png",
    )

    ratio = point.get("ratio")
    walls["total"] = time.perf_counter() - t_start
    metrics = {
        **header(NAME, seed, preset, cfg),
        "settings": to_dict(settings),
        "data": data_summary,
        "train": train_summary(result.summary),
        "held_out_problems": len(problems),
        "table": rows,
        "arm": arm_metrics,
        "summary": {
            **point,
            "lam": settings.lam,
            "arm": arm_metrics["summary"] if arm_metrics else None,
        },
        "acceptance": {
            "band": list(BAND),
            "ratio_min": RATIO_MIN,
            "criterion": "learned/uniform PRM success at n_star (smallest N with uniform success in band) >= ratio_min",
        },
        "claims": {"learned_beats_uniform_1_5x": bool(ratio is not None and ratio >= RATIO_MIN)},
        "figures": figures,
    }
    # wall times vary from run to run: kept out of metrics.json (same seed, same file)
    write_json_atomic(out / "timing.json", {"wall_seconds": {k: round(v, 2) for k, v in walls.items()}})
    return write_metrics(out, metrics)
