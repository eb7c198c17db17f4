"""Bead-spring polymer figures: chains, property distributions, latent trajectories and optimisation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from seqvae.plots import DATA_COLOR, EXTRA_COLORS, MODEL_COLOR, OTHER_COLOR, _panel_grid, latent_plane, new_figure
from seqvae.report import ReportView, register_view


def draw_chain(ax: Any, xy: np.ndarray, color: Any = "black", label: str | None = None) -> None:
    """A bead-spring chain ``(n_beads, 2)``: bonds as lines, beads as dots, the first bead hollow."""
    xy = np.asarray(xy, dtype=np.float64)
    ax.plot(xy[:, 0], xy[:, 1], "-", color=color, lw=1.4, alpha=0.8, label=label)
    ax.scatter(xy[1:, 0], xy[1:, 1], s=22, color=color, zorder=3)
    ax.scatter(xy[:1, 0], xy[:1, 1], s=30, facecolors="white", edgecolors=color, zorder=4)


def plot_chain_grid(
    rows: Sequence[Sequence[np.ndarray]],
    row_names: Sequence[str],
    titles: Sequence[Sequence[str]] | None = None,
    title: str = "Configurations",
    unit: str = "σ",
) -> Figure:
    """Chains drawn in a grid (one row per source, e.g. MD / VAE / Gaussian), each centred on its centre of
    mass, all panels on the scale of the first row's largest chain (larger chains run off their panel)."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    half = 0.6 * max(float(np.max(np.ptp(np.asarray(c, dtype=np.float64), axis=0))) for c in rows[0])
    half = half if half > 0 else 1.0
    fig = new_figure(1.9 * n_cols + 0.8, 1.9 * n_rows + 0.6)
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False, sharex=True, sharey=True))
    colours = (DATA_COLOR, MODEL_COLOR, OTHER_COLOR, *EXTRA_COLORS)
    axes[0, 0].set_xlim(-half, half)
    axes[0, 0].set_ylim(-half, half)
    for r, chains in enumerate(rows):
        axes[r, 0].set_ylabel(f"{row_names[r]}\ny [{unit}]", fontsize="small")
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_aspect("equal")
            ax.tick_params(labelsize="xx-small", length=2)
            if c >= len(chains):
                ax.axis("off")
                continue
            xy = np.asarray(chains[c], dtype=np.float64)
            draw_chain(ax, xy - xy.mean(0), colours[r % len(colours)])
            if titles is not None and c < len(titles[r]):
                ax.set_title(titles[r][c], fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel(f"x [{unit}]", fontsize="small")
    fig.suptitle(f"{title} (hollow: first bead)")
    return fig


def plot_property_distributions(
    sets: Mapping[str, Mapping[str, np.ndarray]],
    units: Mapping[str, str],
    scores: Mapping[str, Mapping[str, float]] | None = None,
    bins: int = 50,
    title: str = "Structure properties",
) -> Figure:
    """One panel per property: density histograms of every source (the first one filled) on shared bins.

    ``sets`` maps a source name to ``{property: values}``; ``scores`` (optional) maps a source to
    ``{property: W1}`` shown in the legend. Bins span the 0.5–99.5 % quantiles of the first source widened
    by half its range, so a few exploded structures do not squash the panel.
    """
    names = list(sets)
    props = list(sets[names[0]])
    fig, axes = _panel_grid(len(props), 4.6, 3.3)
    colours = (DATA_COLOR, MODEL_COLOR, OTHER_COLOR, *EXTRA_COLORS)
    for ax, prop in zip(axes, props):
        ref = np.asarray(sets[names[0]][prop], dtype=np.float64).ravel()
        lo, hi = np.quantile(ref, [0.005, 0.995])
        pad = 0.5 * (hi - lo if hi > lo else 1.0)
        edges = np.linspace(lo - pad, hi + pad, bins + 1)
        for k, (name, colour) in enumerate(zip(names, colours)):
            values = np.asarray(sets[name][prop], dtype=np.float64).ravel()
            values = values[np.isfinite(values)]
            inside = float(np.mean((values >= edges[0]) & (values <= edges[-1]))) if len(values) else 0.0
            label = name
            if scores is not None and prop in scores.get(name, {}):
                label += f" (W1 {scores[name][prop]:.3g})"
            if inside < 0.995:
                label += f", {100 * (1 - inside):.1f} % off-axis"
            kwargs = dict(alpha=0.5) if k == 0 else dict(histtype="step", lw=1.8)
            ax.hist(np.clip(values, edges[0], edges[-1]), bins=edges, density=True, color=colour, label=label, **kwargs)
        ax.set_xlabel(f"{prop.replace('_', ' ')} [{units.get(prop, '')}]")
        ax.set_ylabel("density")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return fig


def plot_latent_trajectory(z: np.ndarray, time: np.ndarray, unit: str = "", title: str = "") -> Figure:
    """Latent means of consecutive frames joined by a thin line and coloured by time."""
    plane, (xlabel, ylabel) = latent_plane(z)
    fig = new_figure(6.2, 5.0)
    ax = fig.subplots()
    ax.plot(plane[:, 0], plane[:, 1], "-", color="0.6", lw=0.4, alpha=0.6, zorder=1)
    points = ax.scatter(plane[:, 0], plane[:, 1], c=np.asarray(time, dtype=np.float64), cmap="viridis", s=8, zorder=2)
    bar = fig.colorbar(points, ax=ax)
    bar.set_label(f"time [{unit}]" if unit else "time")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "Trajectory in latent space")
    ax.grid(alpha=0.3)
    return fig


def plot_latent_optimisation(
    means: np.ndarray,
    paths: Mapping[str, np.ndarray],
    histories: Mapping[str, np.ndarray],
    structures: Mapping[str, np.ndarray],
    bounds: tuple[float, float],
    quantity: str = "radius of gyration [σ]",
    title: str = "Latent optimisation",
) -> Figure:
    """Optimisation in latent space: paths over the data's latent means, the objective per step against
    the training range, and the best structure of each run. ``paths[k]`` is ``(steps + 1, D)``,
    ``histories[k]`` ``(steps + 1,)``, ``structures[k]`` ``(n_beads, 2)``."""
    fig = new_figure(14.0, 4.4)
    ax_z, ax_h, *ax_s = fig.subplots(1, 2 + len(structures))
    colours = (MODEL_COLOR, "#3b7dd8", OTHER_COLOR, *EXTRA_COLORS)
    ax_z.scatter(means[:, 0], means[:, 1], s=4, color="0.7", label="training latent means")
    for (name, path), colour in zip(paths.items(), colours):
        ax_z.plot(path[:, 0], path[:, 1], "-", color=colour, lw=1.5, label=name)
        ax_z.scatter(path[-1:, 0], path[-1:, 1], marker="*", s=120, color=colour, zorder=3)
    ax_z.set_xlabel("z[0]")
    ax_z.set_ylabel("z[1]")
    ax_z.legend(fontsize=7)
    ax_z.set_title("paths in latent space")
    for (name, hist), colour in zip(histories.items(), colours):
        ax_h.plot(np.arange(len(hist)), hist, color=colour, label=name)
    ax_h.axhspan(bounds[0], bounds[1], color=DATA_COLOR, alpha=0.2, label="training range")
    ax_h.set_xlabel("step")
    ax_h.set_ylabel(quantity)
    ax_h.legend(fontsize=7)
    ax_h.set_title("objective")
    half = 0.6 * max((float(np.max(np.ptp(np.asarray(xy), axis=0))) for xy in structures.values()), default=1.0)
    for ax, (name, xy), colour in zip(ax_s, structures.items(), colours):
        draw_chain(ax, xy, colour)
        centre = np.asarray(xy).mean(0)
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_aspect("equal")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("x [σ]")
        ax.set_ylabel("y [σ]")
    fig.suptitle(title)
    return fig


def _chains(ctx: Any, values: np.ndarray) -> list[np.ndarray]:
    """Flattened model-unit configurations as ``(n_beads, 2)`` chains in data units."""
    flat = ctx.to_data(values.astype(np.float64))
    return list(flat.reshape(len(flat), -1, 2))


# the report draws polymer runs (flattened 2-D bead chains, an even feature count) as molecules
register_view(ReportView("chains", ("polymer",), -2, vectors=True, items=_chains, grid=plot_chain_grid))
