"""Motion-planning figures: obstacles, learned sample clouds, success curves, arm samples."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from seqvae.plots import DATA_COLOR, MODEL_COLOR, OTHER_COLOR, new_figure


def draw_obstacles(ax: Any, obstacles: np.ndarray, color: Any = "0.6") -> None:
    """Axis-aligned rectangles ``(K, 4)`` = ``(x0, y0, x1, y1)`` as filled grey boxes (NaN rows skipped)."""
    from matplotlib.patches import Rectangle

    for x0, y0, x1, y1 in np.asarray(obstacles, dtype=np.float64).reshape(-1, 4):
        if np.isnan([x0, y0, x1, y1]).any():
            continue
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor=color, edgecolor="none"))


def plot_planning_sample_clouds(panels: Sequence[Mapping[str, Any]], title: str = "Learned samples") -> Figure:
    """One panel per world: obstacles (grey), learned samples (dots), start (circle), goal (star) and the solved
    path. Each panel is a mapping with ``obstacles (K, 4)``, ``samples (M, 2)``, ``start (2,)``, ``goal (2,)``,
    ``path (P, 2)`` (may be empty) and ``label`` (panel title)."""
    n = max(len(panels), 1)
    cols = min(3, n)
    rows = int(math.ceil(n / cols))
    fig = new_figure(4.0 * cols, 4.0 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, p in zip(axes, panels):
        draw_obstacles(ax, p["obstacles"])
        s = np.asarray(p["samples"], dtype=np.float64).reshape(-1, 2)
        ax.scatter(s[:, 0], s[:, 1], s=3, color=MODEL_COLOR, alpha=0.5, label="learned samples")
        path = np.asarray(p.get("path", np.zeros((0, 2))), dtype=np.float64).reshape(-1, 2)
        if len(path):
            ax.plot(path[:, 0], path[:, 1], "-", color="black", lw=1.6, label="PRM path")
        ax.scatter(*np.asarray(p["start"])[:2], marker="o", s=70, color="#2ca02c", zorder=4, label="start")
        ax.scatter(*np.asarray(p["goal"])[:2], marker="*", s=140, color="#d62728", zorder=4, label="goal")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_title(str(p.get("label", "")), fontsize=9)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    if len(panels):  # one legend for all panels, below them, so it hides no start or goal
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=8)
    fig.suptitle(title)
    return fig


def plot_planning_curves(
    curves: Mapping[str, Mapping[str, Any]], ylabel: str, title: str, band: tuple[float, float] | None = None
) -> Figure:
    """One panel per robot: a quantity (success rate, mean path cost) against the sample budget N (log x) for
    uniform and learned sampling. ``curves[robot] = {"n": [...], "uniform": [...], "learned": [...]}`` (None
    values are gaps); ``band`` shades a y range (e.g. the 20-60 % band of uniform success)."""
    fig = new_figure(5.2 * max(len(curves), 1), 4.2)
    axes = np.atleast_1d(fig.subplots(1, max(len(curves), 1))).ravel()
    for ax, (robot, c) in zip(axes, curves.items()):
        n = np.asarray(c["n"], dtype=np.float64)
        for key, colour, marker in (("uniform", OTHER_COLOR, "s"), ("learned", MODEL_COLOR, "o")):
            y = np.array([np.nan if v is None else v for v in c[key]], dtype=np.float64)
            ax.plot(n, y, marker=marker, color=colour, label=f"{key} sampling")
        if band is not None:
            ax.axhspan(band[0], band[1], color=DATA_COLOR, alpha=0.15, label="uniform target band")
        if c.get("n_star") is not None:
            ax.axvline(c["n_star"], color="0.4", ls="--", lw=1, label=f"N* = {c['n_star']}")
        ax.set_xscale("log")
        ax.set_xlabel("samples N (valid PRM milestones)")
        ax.set_ylabel(ylabel)
        ax.set_title(robot)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return fig


def plot_arm_samples(
    obstacles: np.ndarray, chains: np.ndarray, start: np.ndarray, goal: np.ndarray, title: str = "Arm samples"
) -> Figure:
    """Planar-arm configurations in the workspace: obstacles (grey), sampled arms (faint chains ``(M, k+1, 2)``,
    joint positions from the base), the start arm (green) and the goal arm (red)."""
    fig = new_figure(5.0, 5.0)
    ax = fig.subplots()
    draw_obstacles(ax, obstacles)
    for xy in np.asarray(chains, dtype=np.float64):
        ax.plot(xy[:, 0], xy[:, 1], "-", color=MODEL_COLOR, alpha=0.15, lw=0.8)
    for xy, colour, name in ((start, "#2ca02c", "start"), (goal, "#d62728", "goal")):
        xy = np.asarray(xy, dtype=np.float64)
        ax.plot(xy[:, 0], xy[:, 1], "-o", color=colour, lw=2.0, ms=3, label=name)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return fig
