"""Basketball figures: the half court, shot trajectories in top and side views, latent grids decoded to shots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from seqvae.domains.basketball.data import LABEL_UNITS
from seqvae.plots import latent_plane, new_figure, sequence_colours
from seqvae.report import ReportView, register_view


def draw_half_court(ax: Any) -> None:
    """Top view of an NBA half court in the shot frame (metres, rim centre above the origin)."""
    from matplotlib.patches import Arc, Circle, Rectangle

    from seqvae.domains.basketball import data as bb

    line = dict(color="0.55", lw=1.0)
    arc = bb.three_point_line()
    ax.plot(arc[:, 0], arc[:, 1], **line)
    ax.plot([bb.BASELINE_X] * 2, [-bb.SIDELINE_Y, bb.SIDELINE_Y], **line)
    for side in (-1, 1):
        ax.plot([bb.BASELINE_X, bb.HALF_COURT_X], [side * bb.SIDELINE_Y] * 2, **line)
    key_length = 5.79  # 19 ft from the baseline to the free-throw line
    ax.add_patch(Rectangle((bb.BASELINE_X, -2.44), key_length, 4.88, fill=False, **line))
    ax.add_patch(Arc((bb.BASELINE_X + key_length, 0.0), 3.66, 3.66, theta1=-90, theta2=90, **line))
    ax.add_patch(Circle((0.0, 0.0), bb.RIM_RADIUS, fill=False, color="#e07020", lw=1.5))
    ax.plot([bb.BACKBOARD_X] * 2, [-bb.BACKBOARD_HALF_WIDTH, bb.BACKBOARD_HALF_WIDTH], color="0.2", lw=2.0)
    ax.set_xlim(bb.BASELINE_X - 0.3, 9.5)
    ax.set_ylim(-bb.SIDELINE_Y - 0.3, bb.SIDELINE_Y + 0.3)
    ax.set_aspect("equal")
    ax.set_xlabel("x: from the basket towards half court [m]")
    ax.set_ylabel("y: along the baseline [m]")


def _draw_hoop_side(ax: Any) -> None:
    from seqvae.domains.basketball import data as bb

    ax.plot([-bb.RIM_RADIUS, bb.RIM_RADIUS], [bb.RIM_HEIGHT] * 2, color="#e07020", lw=2.5)
    ax.plot([bb.BACKBOARD_X] * 2, [bb.BACKBOARD_BOTTOM, bb.BACKBOARD_TOP], color="0.2", lw=2.5)
    ax.set_xlabel("horizontal distance from the rim centre, along the shot [m]")
    ax.set_ylabel("height z [m]")
    ax.grid(alpha=0.3)


def _along_shot(traj: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Horizontal position along the line from the rim centre to the release point of ``reference``
    (default ``traj``), the side view's axis: the release is at its distance from the rim, a ball behind
    the rim at negative values."""
    start = np.asarray(traj if reference is None else reference, dtype=np.float64)[0, :2]
    return np.asarray(traj, dtype=np.float64)[:, :2] @ (start / max(float(np.hypot(*start)), 1e-9))


def plot_court_trajectories(
    originals: Sequence[np.ndarray],
    reconstructions: Sequence[np.ndarray] | None = None,
    title: str = "",
    colours: Sequence[Any] | None = None,
) -> Figure:
    """Ball trajectories ``(T, 3)`` in metres: a top view of the half court and a side view (horizontal
    distance from the rim centre along the shot against height). With ``reconstructions`` each is drawn
    dashed over its original, in the same colour."""
    fig = new_figure(12.0, 5.2)
    top, side = fig.subplots(1, 2, width_ratios=[1.15, 1.0])
    draw_half_court(top)
    _draw_hoop_side(side)
    colours = list(colours) if colours is not None else sequence_colours(len(originals))
    pairs = zip(originals, reconstructions) if reconstructions is not None else ((o, None) for o in originals)
    for colour, (orig, recon) in zip(colours, pairs):
        for arr, style in ((orig, "-"), (recon, "--")):
            if arr is None:
                continue
            arr = np.asarray(arr, dtype=np.float64)
            top.plot(arr[:, 0], arr[:, 1], style, color=colour, lw=1.3)
            side.plot(_along_shot(arr, orig), arr[:, 2], style, color=colour, lw=1.3)
        top.plot(orig[0, 0], orig[0, 1], "o", color=colour, ms=4)
    if reconstructions is not None:
        for style, name in (("-", "original"), ("--", "reconstruction")):
            side.plot([], [], style, color="0.3", label=name)
        side.legend(loc="upper right")
    side.set_title("Side view")
    top.set_title("Top view (dots: release points)")
    fig.suptitle(title or "Trajectories: originals and reconstructions")
    return fig


def grid_colours(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """RGB colours for points of a unit square, so that neighbours in a 2-D grid look alike."""
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    return np.clip(np.stack([0.15 + 0.8 * u, 0.35 + 0.3 * (1 - u) * (1 - v), 0.15 + 0.8 * v], axis=-1), 0, 1)


def plot_latent_grid_trajectories(
    grid: np.ndarray, trajectories: Sequence[np.ndarray], background: np.ndarray, title: str = ""
) -> Figure:
    """Trajectories decoded along a regular grid of 2-D latent points: the grid over the validation means
    (left, grey), and each decoded trajectory on the court in its grid point's colour (top and side view)."""
    grid = np.asarray(grid, dtype=np.float64)
    lo, hi = grid.min(0), grid.max(0)
    unit = (grid - lo) / np.where(hi > lo, hi - lo, 1.0)
    colours = grid_colours(unit[:, 0], unit[:, 1])
    fig = new_figure(16.0, 5.2)
    latent, top, side = fig.subplots(1, 3, width_ratios=[0.8, 1.15, 1.0])
    plane, (xlabel, ylabel) = latent_plane(background)
    latent.scatter(plane[:, 0], plane[:, 1], s=5, color="0.75", label="validation means")
    latent.scatter(grid[:, 0], grid[:, 1], s=40, c=colours, edgecolors="black", linewidths=0.5, label="grid")
    latent.set_xlabel(xlabel)
    latent.set_ylabel(ylabel)
    latent.set_title("Latent grid")
    latent.legend(loc="best", fontsize="small")
    latent.grid(alpha=0.3)
    draw_half_court(top)
    _draw_hoop_side(side)
    for colour, traj in zip(colours, trajectories):
        traj = np.asarray(traj, dtype=np.float64)
        top.plot(traj[:, 0], traj[:, 1], color=colour, lw=1.2)
        top.plot(traj[0, 0], traj[0, 1], "o", color=colour, ms=4)
        side.plot(_along_shot(traj), traj[:, 2], color=colour, lw=1.2)
    top.set_title("Decoded trajectories, top view")
    side.set_title("Decoded trajectories, side view")
    fig.suptitle(title or "Trajectories decoded along a latent grid")
    return fig


def _draw_court(ctx: Any, sequences: Sequence[np.ndarray], title: str, refs: Sequence[np.ndarray] | None = None,
                titles: Sequence[str] | None = None, colours: Sequence[Any] | None = None) -> Figure:
    return plot_court_trajectories(refs if refs is not None else sequences, sequences if refs is not None else None,
                                   title, colours)


# the report draws shots on the court (3 features: x, y, z in metres)
register_view(ReportView("court", ("basketball", "sportvu"), 3, draw=_draw_court,
                         ramp=lambda alpha: grid_colours(alpha, 0.0), label_units=LABEL_UNITS))
