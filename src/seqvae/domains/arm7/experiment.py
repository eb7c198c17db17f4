"""Issue 24: learned sampling for a real 7-DOF arm -- the Franka Panda reaching into shelves (needs the
``planning-arm`` extra: Pinocchio, Coal, example-robot-data; and OMPL).

``seqvae experiment arm7`` builds training data with :func:`seqvae.domains.arm7.robot.build_arm_dataset` (shelf
worlds and a share of open-clutter worlds; table-to-shelf problems; RRT-Connect + OMPL shortcutting paths;
states uniform by arc length along each path; optionally drawn towards low clearance), trains the conditional VAE of ``arm7.yaml`` (next to this module) (condition:
start and goal joints and the world's side/top occupancy image) and evaluates it inside OMPL's PRM on held-out
shelf problems (fresh worlds from the held-out seed stream, kept when RRT-Connect solves them within
``reference_time`` s, i.e. known feasible):

* uniform PRM (λ = 0) for every N of ``n_grid`` (valid milestones), then ``n_star`` = the smallest N where it
  succeeds 20-60 %; the λ-mixture (λ = ``lam``, 0.5) for every N, and λ = ``lam_ref`` (0.9) at ``n_star``;
  success, mean joint-space path cost (solved problems, and problems both solve). Uniform and learned PRM of a
  problem share the PRM seed;
* wall-clock: every PRM call's time includes drawing the learned samples (the CVAE decodes ``sample_batch``
  states per call, on the CPU, one thread). ``success_at_time[T]`` = the best success over the N grid counting
  only runs that finished within T seconds (the N a user would pick for that budget); ``time_to_90`` the
  smallest budget of ``time_grid`` at which that reaches 90 %.

``metrics.json`` holds the tables, ``summary``, ``claims`` (``learned_beats_uniform_1_5x``: learned/uniform
success at ``n_star`` >= 1.5) and a ``time`` block (wall clock: the only part that changes between runs with
the same seed). Figures: ``arm_in_shelf.png`` (3-D: boxes and the arm along a learned-PRM path),
``ee_samples.png`` (end-effector positions of learned vs uniform valid samples in a held-out shelf),
``success_vs_samples.png``, ``success_vs_time.png`` and the CVAE's learning curves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from seqvae import plots
from seqvae.config import RunConfig, to_dict
from seqvae.data.prepare import DataBundle, bundle_arrays
from seqvae.domains.planning import figures as planning_figures
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
from seqvae.training import fit

NAME = "arm7"
BAND = (0.2, 0.6)
RATIO_MIN = 1.5
SUCCESS_TARGET = 0.9

@dataclass
class Arm7Settings:
    """The experiment's data and evaluation settings: the ``experiment:`` section of arm7.yaml (the paper
    preset's under ``presets: {paper: {experiment: ...}}``), ``--set arm7.KEY=VALUE`` on top; the comments
    there say what each does. The sample grid is sorted and deduplicated."""

    train_worlds: int
    problems_per_world: int
    states_per_path: int
    clearance_fraction: float
    clearance_scale: float
    reverse_rows: bool
    clutter_fraction: float
    planner: Literal["rrtconnect", "auto", "bitstar", "rrtstar"]
    solve_time: float
    solve_iterations: int | None
    eval_worlds: int
    reference_time: float
    n_grid: list[int]
    lam: float
    lam_ref: float
    k_neighbors: int
    sample_batch: int
    time_grid: list[float]
    figure_samples: int

    def __post_init__(self) -> None:
        grid = sorted(set(self.n_grid))
        if not grid or grid[0] < 1:
            raise ConfigError(f"arm7.n_grid must be a non-empty list of positive sample counts, got {self.n_grid!r}")
        self.n_grid = grid
        for key in ("lam", "lam_ref"):
            if not 0.0 < getattr(self, key) <= 1.0:
                raise ConfigError(f"arm7.{key} must lie in (0, 1], got {getattr(self, key)!r}")
        if not 0.0 <= self.clearance_fraction <= 1.0 or not self.clearance_scale > 0:
            raise ConfigError("arm7.clearance_fraction must lie in [0, 1] and arm7.clearance_scale be > 0")
        if not 0.0 <= self.clutter_fraction < 1.0:
            raise ConfigError(f"arm7.clutter_fraction must lie in [0, 1), got {self.clutter_fraction!r}")


def arm7_settings(preset: str | None, overrides: list[str]) -> Arm7Settings:
    """The experiment's settings for ``preset`` with ``arm7.KEY=VALUE`` overrides, validated."""
    return experiment_settings(NAME, Arm7Settings, "arm7", preset, overrides)


# --------------------------------------------------------------------------- evaluation


def learned_sampler(model: Any, condition: np.ndarray, seed: int, batch: int):
    """A PRM sampler ``(rng, n) -> (n, 7)`` serving CVAE states for ``condition`` in order (``batch`` decoded per
    model call, from a torch generator seeded with ``seed``)."""
    gen = torch.Generator().manual_seed(int(seed))
    buf = np.zeros((0, 7))

    def sample(rng: np.random.Generator, n: int) -> np.ndarray:
        nonlocal buf
        while len(buf) < n:
            new = model.sample_states(condition, max(batch, n), generator=gen).cpu().numpy().astype(np.float64)
            buf = np.concatenate([buf, new])
        out, buf = buf[:n], buf[n:]
        return out

    return sample


def _prm_seed(seed: int, i: int, n: int) -> int:
    return int(np.random.SeedSequence([seed, 24, i, n]).generate_state(1)[0] % (2**31 - 2))


def _row(results: list[Any]) -> dict[str, Any]:
    solved = [r for r in results if r.solved]
    return {
        "solved": len(solved),
        "success": len(solved) / len(results) if results else None,
        "mean_cost": float(np.mean([r.cost for r in solved])) if solved else None,
    }


def choose_n_star(rows: list[dict[str, Any]], band: tuple[float, float] = BAND) -> int | None:
    """The smallest N whose uniform success lies in ``band`` (inclusive), or None."""
    for row in rows:
        s = row["uniform"]["success"]
        if s is not None and band[0] <= s <= band[1]:
            return row["n"]
    return None


def success_at_time(runs: dict[int, list[Any]], budget: float) -> float:
    """Best success over the N grid counting only runs solved within ``budget`` seconds (CVAE time included)."""
    best = 0.0
    for results in runs.values():
        if results:
            best = max(best, float(np.mean([r.solved and r.seconds <= budget for r in results])))
    return best


def evaluate(model: Any, problems: list[Any], settings: Arm7Settings, grid: int, seed: int, progress: Any = None):
    """Uniform PRM for every N, then the λ-mixture for every N and λ_ref at N*: ``(rows, runs, n_star)`` with
    ``runs[sampler][N]`` the per-problem :class:`PlanResult` lists."""
    from seqvae.domains.arm7.robot import problem_condition
    from seqvae.domains.planning.ompl_planner import plan_prm

    model.eval()
    conds = [problem_condition(p, grid) for p in problems]
    k = int(settings.k_neighbors)
    runs: dict[str, dict[int, list[Any]]] = {"uniform": {}, "learned": {}, "learned_ref": {}}

    def learned(lam: float, n: int) -> list[Any]:
        out = []
        for i, (pr, cond) in enumerate(zip(problems, conds)):
            s = _prm_seed(seed, i, n)
            sampler = learned_sampler(model, cond, s, int(settings.sample_batch))
            out.append(plan_prm(pr, n, sampler, lam=lam, seed=s, k_neighbors=k))
            if progress is not None:
                progress()
        return out

    for n in settings.n_grid:
        runs["uniform"][n] = []
        for i, pr in enumerate(problems):
            runs["uniform"][n].append(plan_prm(pr, n, None, lam=0.0, seed=_prm_seed(seed, i, n), k_neighbors=k))
            if progress is not None:
                progress()
    rows = [{"n": n, "problems": len(problems), "uniform": _row(runs["uniform"][n])} for n in settings.n_grid]
    n_star = choose_n_star(rows)
    for row in rows:
        n = row["n"]
        runs["learned"][n] = learned(float(settings.lam), n)
        row["learned"] = _row(runs["learned"][n])
        both = [(u, m) for u, m in zip(runs["uniform"][n], runs["learned"][n]) if u.solved and m.solved]
        row["both_solved"] = len(both)
        row["uniform"]["mean_cost_both"] = float(np.mean([u.cost for u, _ in both])) if both else None
        row["learned"]["mean_cost_both"] = float(np.mean([m.cost for _, m in both])) if both else None
        row["learned"]["learned_fraction"] = float(np.mean([r.learned / max(r.proposals, 1) for r in runs["learned"][n]]))
        row["uniform"]["valid_fraction"] = float(np.mean([r.milestones / max(r.proposals, 1) for r in runs["uniform"][n]]))
        row["learned"]["valid_fraction"] = float(np.mean([r.milestones / max(r.proposals, 1) for r in runs["learned"][n]]))
    if n_star is not None:
        runs["learned_ref"][n_star] = learned(float(settings.lam_ref), n_star)
        row = next(r for r in rows if r["n"] == n_star)
        row["learned_ref"] = _row(runs["learned_ref"][n_star])
    return rows, runs, n_star


def time_block(runs: dict[str, dict[int, list[Any]]], time_grid: list[float]) -> dict[str, Any]:
    """Wall-clock results: mean seconds per PRM call by N, success within each budget, time to 90 %."""
    out: dict[str, Any] = {"budgets": list(time_grid)}
    for key in ("uniform", "learned", "learned_ref"):
        if not runs[key]:
            continue
        curve = [success_at_time(runs[key], t) for t in time_grid]
        reach = next((t for t, s in zip(time_grid, curve) if s >= SUCCESS_TARGET), None)
        out[key] = {
            "mean_seconds_by_n": {str(n): float(np.mean([r.seconds for r in rs])) for n, rs in runs[key].items()},
            "success_at_time": curve,
            "time_to_90": reach if reach is not None else f"> {time_grid[-1]}",
        }
    return out


# --------------------------------------------------------------------------- figures


def _draw_boxes(ax, boxes: np.ndarray, skip_table: bool = True) -> None:
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    faces = []
    for b in boxes[1:] if skip_table else boxes:
        lo, hi = b[:3] - b[3:], b[:3] + b[3:]
        x = [lo[0], hi[0]]
        y = [lo[1], hi[1]]
        z = [lo[2], hi[2]]
        corners = np.array([[x[i], y[j], z[k]] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
        for idx in ((0, 1, 3, 2), (4, 5, 7, 6), (0, 1, 5, 4), (2, 3, 7, 6), (0, 2, 6, 4), (1, 3, 7, 5)):
            faces.append(corners[list(idx)])
    ax.add_collection3d(Poly3DCollection(faces, facecolor="#b0a89a", edgecolor="#5C4B51", linewidths=0.3, alpha=0.25))


def _setup_3d(ax, title: str) -> None:
    ax.set_xlim(-0.1, 1.1)
    ax.set_ylim(-0.6, 0.6)
    ax.set_zlim(0.0, 1.2)
    ax.set_box_aspect((1.2, 1.2, 1.2))
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_zlabel("z (m)")
    ax.view_init(elev=18, azim=-120)
    ax.set_title(title, fontsize=9)


def plot_arm_in_shelf(robot: Any, world: Any, path: np.ndarray, title: str) -> Any:
    """3-D: the world's boxes (table left out) and the arm's stick figure at configurations along ``path``."""
    from seqvae.domains.planning.dataset import points_at_arc_length

    fig = plots.new_figure(6.5, 6.0)
    ax = fig.add_subplot(projection="3d")
    _draw_boxes(ax, world.boxes)
    path = np.asarray(path, dtype=np.float64)
    if len(path) >= 2:
        seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
        qs = points_at_arc_length(path, np.linspace(0, seg.sum(), 7))
    else:
        qs = path
    for j, q in enumerate(qs):
        pts = robot.joint_positions(q)
        colour = "#2ca02c" if j == 0 else ("#d62728" if j == len(qs) - 1 else plots.MODEL_COLOR)
        ax.plot(pts[:, 0], pts[:, 1], pts[:, 2], "-o", color=colour, ms=2, lw=1.6 if j in (0, len(qs) - 1) else 0.9,
                alpha=1.0 if j in (0, len(qs) - 1) else 0.6)
    if len(path) >= 2:
        ee = robot.ee_positions(points_at_arc_length(path, np.linspace(0, seg.sum(), 60)))
        ax.plot(ee[:, 0], ee[:, 1], ee[:, 2], ":", color="k", lw=1.0, label="end-effector path")
        ax.legend(fontsize=7, loc="upper left")
    _setup_3d(ax, title)
    return fig


def plot_ee_samples(world: Any, learned_ee: np.ndarray, uniform_ee: np.ndarray, start_ee, goal_ee, title: str) -> Any:
    """End-effector positions of learned vs uniform valid samples in one shelf world (two 3-D panels)."""
    fig = plots.new_figure(11.0, 5.2)
    for k, (pts, name, colour) in enumerate(((uniform_ee, "uniform valid samples", plots.OTHER_COLOR),
                                            (learned_ee, "learned (CVAE) valid samples", plots.MODEL_COLOR))):
        ax = fig.add_subplot(1, 2, k + 1, projection="3d")
        _draw_boxes(ax, world.boxes)
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], s=3, color=colour, alpha=0.5)
        ax.scatter(*np.asarray(start_ee), s=40, color="#2ca02c", label="start")
        ax.scatter(*np.asarray(goal_ee), s=40, color="#d62728", label="goal")
        ax.legend(fontsize=7, loc="upper left")
        _setup_3d(ax, f"{name} (n = {len(pts)})")
    fig.suptitle(title)
    return fig


def plot_success_vs_time(time_res: dict[str, Any], lam: float, lam_ref: float) -> Any:
    fig = plots.new_figure(5.5, 4.2)
    ax = fig.subplots()
    labels = {"uniform": ("uniform", plots.OTHER_COLOR, "s"), "learned": (f"learned λ = {lam:g}", plots.MODEL_COLOR, "o"),
              "learned_ref": (f"learned λ = {lam_ref:g} (N* only)", plots.EXTRA_COLORS[1], "^")}
    for key, (label, colour, marker) in labels.items():
        if key in time_res:
            ax.plot(time_res["budgets"], time_res[key]["success_at_time"], marker=marker, color=colour, label=label)
    ax.set_xscale("log")
    ax.set_xticks(time_res["budgets"], [f"{t:g}" for t in time_res["budgets"]])
    ax.minorticks_off()
    ax.set_xlabel("planning-time budget (s, CVAE sampling included)")
    ax.set_ylabel("success within budget (best N)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    ax.set_title("Panda shelf problems: PRM success vs wall-clock time")
    return fig


# --------------------------------------------------------------------------- the experiment


def reversed_rows(states: np.ndarray, condition: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every row again with start and goal swapped in its condition: a path reversed is a path of the reversed
    problem, with the same cost, so its states are training states of that problem too (doubles the data)."""
    swapped = condition.copy()
    swapped[:, :7], swapped[:, 7:14] = condition[:, 7:14], condition[:, :7]
    return np.concatenate([states, states]), np.concatenate([condition, swapped])


def _bundle(data: dict[str, np.ndarray], cfg: RunConfig, reverse: bool = False) -> DataBundle:
    states, condition = data["states"].astype(np.float32), data["condition"]
    labels = {"problem_index": data["problem_index"]}
    if reverse:
        states, condition = reversed_rows(states, condition)
        labels = {"problem_index": np.concatenate([data["problem_index"], data["problem_index"]])}
    return bundle_arrays(
        states, labels, cfg.data.val_fraction, cfg.data.test_fraction, cfg.data.normalize, cfg.seed,
        condition=condition,
    )


def _progress(enabled: bool, total: int, label: str):
    from seqvae.domains.planning.dataset import _progress as bar

    return bar(enabled, total, label)


@register_experiment(
    NAME,
    "Learned sampling for the 7-DOF Franka Panda in shelf worlds (Pinocchio + Coal + OMPL PRM): CVAE λ-mixture vs "
    "uniform on held-out shelves, by samples and by wall-clock time",
)
def run(
    out_dir: Path, seed: int = 0, overrides: list[str] | None = None, preset: str | None = None, progress: bool = True
) -> dict[str, Any]:
    from seqvae.domains.arm7 import robot as arm7
    from seqvae.domains.planning.ompl_planner import _import_ompl, shortest_path

    _import_ompl()  # both fail at once, with the install hint, when an extra is missing
    arm7.panda()
    torch.set_num_threads(1)  # the planner is single-threaded; one thread keeps timings comparable
    out = Path(out_dir)
    t_start = time.perf_counter()
    mine, rest = split_overrides(list(overrides or []), "arm7")
    settings = arm7_settings(preset, mine)
    cfg = experiment_config(NAME, seed, rest, preset, progress)
    grid = int(cfg.model.get("grid", 32))
    walls: dict[str, float] = {}

    # -- data
    t0 = time.perf_counter()
    n_train = int(settings.train_worlds) * int(settings.problems_per_world)
    with _progress(progress, n_train, "arm7: training paths") as advance:
        data = arm7.build_arm_dataset(
            int(settings.train_worlds), int(settings.problems_per_world), int(settings.states_per_path),
            seed=cfg.seed, grid=grid, planner=str(settings.planner), solve_time=float(settings.solve_time),
            iterations=settings.solve_iterations, clutter_fraction=float(settings.clutter_fraction),
            progress=advance, clearance_fraction=float(settings.clearance_fraction),
            clearance_scale=float(settings.clearance_scale),
        )
    walls["data"] = time.perf_counter() - t0

    # -- training
    t0 = time.perf_counter()
    result = fit(cfg, out / "cvae", bundle=_bundle(data, cfg, bool(settings.reverse_rows)))
    walls["train"] = time.perf_counter() - t0
    model = result.model
    model.eval()
    save_learning_curves(out / "cvae", "arm7: Panda CVAE learning curves")

    # -- held-out problems, kept when RRT-Connect solves them (feasible)
    t0 = time.perf_counter()
    candidates = arm7.held_out_arm_problems(int(settings.eval_worlds), cfg.seed)
    feasible, references = [], []
    for i, pr in enumerate(candidates):
        ref = shortest_path(pr, time=float(settings.reference_time), iterations=None, planner="rrtconnect",
                            seed=cfg.seed + 10_000 + i)
        if ref.solved:
            feasible.append(pr)
            references.append(ref)
    walls["feasibility"] = time.perf_counter() - t0

    # -- evaluation
    t0 = time.perf_counter()
    n_runs = len(feasible) * (2 * len(settings.n_grid) + 1)
    with _progress(progress, n_runs, "arm7: PRM evaluation") as advance:
        rows, runs, n_star = evaluate(model, feasible, settings, grid, cfg.seed, advance)
    walls["evaluation"] = time.perf_counter() - t0
    time_res = time_block(runs, [float(t) for t in settings.time_grid])
    gen = torch.Generator().manual_seed(cfg.seed + 77)
    cond0 = arm7.problem_condition(feasible[0], grid) if feasible else None
    if cond0 is not None:
        t0 = time.perf_counter()
        model.sample_states(cond0, int(settings.sample_batch), generator=gen)
        time_res["cvae_seconds_per_batch"] = time.perf_counter() - t0
        time_res["sample_batch"] = int(settings.sample_batch)

    at = next((r for r in rows if r["n"] == n_star), None)
    summary: dict[str, Any] = {
        "n_star": n_star,
        "lam": settings.lam,
        "held_out_problems": len(candidates),
        "feasible_problems": len(feasible),
        "reference_mean_cost": float(np.mean([r.cost for r in references])) if references else None,
        "samples_for_90": {
            key: next((r["n"] for r in rows if r[key]["success"] is not None and r[key]["success"] >= SUCCESS_TARGET),
                      f"> {rows[-1]['n']}" if rows else "n/a")
            for key in ("uniform", "learned")
        },
    }
    ratio = None
    if at is not None:
        u, m = at["uniform"], at["learned"]
        ratio = (m["success"] / u["success"]) if u["success"] else None
        summary.update(
            uniform_success=u["success"], learned_success=m["success"], ratio=ratio,
            learned_ref_success=at.get("learned_ref", {}).get("success"),
            uniform_mean_cost=u["mean_cost"], learned_mean_cost=m["mean_cost"],
            uniform_mean_cost_both=u["mean_cost_both"], learned_mean_cost_both=m["mean_cost_both"],
        )

    # -- figures
    figures = ["success_vs_samples.png", "success_vs_time.png", "cvae/learning_curves.png"]
    curves = {"Panda, held-out shelf problems": {
        "n": [r["n"] for r in rows], "uniform": [r["uniform"]["success"] for r in rows],
        "learned": [r["learned"]["success"] for r in rows], "n_star": n_star}}
    plots.save_figure(
        planning_figures.plot_planning_curves(curves, "success rate",
                                   f"PRM success vs samples: learned (λ = {settings.lam:g}) vs uniform", band=BAND),
        out / "success_vs_samples.png",
    )
    plots.save_figure(plot_success_vs_time(time_res, float(settings.lam), float(settings.lam_ref)),
                      out / "success_vs_time.png")
    if feasible:
        robot = arm7.panda()
        key_n = n_star if n_star is not None else rows[-1]["n"]
        pick = next((i for i, r in enumerate(runs["learned"][key_n]) if r.solved), None)
        i = 0 if pick is None else pick
        pr = feasible[i]
        path = runs["learned"][key_n][i].path if pick is not None else references[i].path
        label = f"learned PRM (N = {key_n})" if pick is not None else "RRT-Connect reference"
        plots.save_figure(plot_arm_in_shelf(robot, pr.world, path, f"Panda in a held-out shelf: {label} path"),
                          out / "arm_in_shelf.png")
        checker = pr.robot
        cond = arm7.problem_condition(pr, grid)
        q_learned = model.sample_states(cond, int(settings.figure_samples), generator=gen).numpy().astype(np.float64)
        q_learned = np.array([q for q in q_learned if checker.is_free(q)]).reshape(-1, 7)
        rng = np.random.default_rng(cfg.seed + 5)
        q_uniform = rng.uniform(arm7.PANDA_LOWER, arm7.PANDA_UPPER, size=(int(settings.figure_samples), 7))
        q_uniform = np.array([q for q in q_uniform if checker.is_free(q)]).reshape(-1, 7)
        plots.save_figure(
            plot_ee_samples(pr.world, robot.ee_positions(q_learned), robot.ee_positions(q_uniform),
                            robot.frame_placement(pr.start)[0], robot.frame_placement(pr.goal)[0],
                            f"End-effector positions of {settings.figure_samples} proposals, valid ones shown"),
            out / "ee_samples.png",
        )
        figures[:0] = ["arm_in_shelf.png", "ee_samples.png"]

    walls["total"] = time.perf_counter() - t_start
    metrics = {
        **header(NAME, seed, preset, cfg),
        "settings": to_dict(settings),
        "robot": {"model": "Franka Emika Panda (example-robot-data 6.0.0)", "joints": 7,
                  "motion_resolution": arm7.MOTION_RESOLUTION, "collision": "Coal convex hulls + broad phase"},
        "data": {
            "worlds": int(settings.train_worlds),
            "problems": int(data["n_attempted"]),
            "unsolved": int(data["n_unsolved"]),
            "states": len(data["states"]),
            "mean_path_cost": float(np.mean(data["cost"])),
        },
        "train": train_summary(result.summary),
        "table": rows,
        "summary": summary,
        "time": time_res,
        "acceptance": {
            "band": list(BAND), "ratio_min": RATIO_MIN,
            "criterion": "learned/uniform PRM success at n_star (smallest N with uniform success in band) >= ratio_min",
        },
        "claims": {"learned_beats_uniform_1_5x": bool(ratio is not None and ratio >= RATIO_MIN)},
        "figures": figures,
    }
    write_json_atomic(out / "timing.json", {"wall_seconds": {k: round(v, 2) for k, v in walls.items()}})
    return write_metrics(out, metrics)
