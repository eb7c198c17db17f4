"""Pen-stroke figures: digits drawn from their strokes, in grids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from seqvae.domains.strokes.data import drawable_digit
from seqvae.plots import new_figure
from seqvae.report import ReportView, register_view


def draw_strokes(ax: Any, points: np.ndarray, color: Any = "black", lw: float = 1.6) -> None:
    """One handwritten digit ``(T, 3)`` (x, y, pen_up; image coordinates, y down): the pen-down segments
    only, never the jump to the next stroke."""
    p = np.asarray(points, dtype=np.float64)
    if len(p) == 0:
        return
    breaks = np.flatnonzero(p[:-1, 2] >= 0.5) + 1
    for stroke in np.split(p[:, :2], breaks):
        ax.plot(stroke[:, 0], stroke[:, 1], color=color, lw=lw, solid_capstyle="round")


def plot_stroke_grid(
    rows: Sequence[Sequence[np.ndarray]],
    row_titles: Sequence[str] | None = None,
    col_titles: Sequence[str] | None = None,
    title: str = "",
    box: tuple[float, float] | tuple[tuple[float, float], tuple[float, float]] = (0.0, 28.0),
    y_up: bool = False,
    unit: str = "px",
) -> Figure:
    """Digits drawn as pen strokes in a grid of panels sharing one box (``rows`` of ``(T, 3)`` arrays; a
    ``None`` leaves a cell empty): ``box`` is ``(lo, hi)`` for both axes (default the MNIST pixel box) or
    ``((x0, x1), (y0, y1))``, e.g. ``seqvae.domains.strokes.data.Canvas.limits()``; y grows downwards (image
    coordinates) unless ``y_up``. Row titles label the rows' first panels."""
    (x0, x1), (y0, y1) = (box, box) if np.ndim(box) == 1 else box
    n_rows = len(rows)
    n_cols = max(len(r) for r in rows)
    fig = new_figure(1.25 * n_cols + 0.8, 1.3 * n_rows + 0.6)
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex=True, sharey=True)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            if j < len(row) and row[j] is not None:
                draw_strokes(ax, row[j])
            ax.set_xlim(x0, x1)
            ax.set_ylim((y0, y1) if y_up else (y1, y0))  # image coordinates: y grows downwards
            ax.set_aspect("equal")
            ax.tick_params(labelsize="xx-small", length=2)
            if i == 0 and col_titles is not None and j < len(col_titles):
                ax.set_title(col_titles[j], fontsize="small")
        y_label = f"y [{unit}]" if unit else "y"
        axes[i, 0].set_ylabel(f"{row_titles[i]}\n{y_label}" if row_titles is not None else y_label, fontsize="small")
    for ax in axes[-1]:
        ax.set_xlabel(f"x [{unit}]" if unit else "x", fontsize="small")
    fig.suptitle(title or "Pen strokes")
    return fig


def _draw_digits(ctx: Any, sequences: Sequence[np.ndarray], title: str, refs: Sequence[np.ndarray] | None = None,
                 titles: Sequence[str] | None = None, colours: Sequence[Any] | None = None) -> Figure:
    """Model or data sequences of a stroke run drawn as digits (absolute form, binary pen state)."""
    relative = ctx.run is not None and bool(ctx.run.data.sequence.to_relative)
    digits = [drawable_digit(s, relative) for s in sequences]
    if refs is not None:
        return plot_stroke_grid([[drawable_digit(r, relative) for r in refs], digits], ["original", "model"], titles, title)
    return plot_stroke_grid([digits[i : i + 8] for i in range(0, len(digits), 8)], None, titles, title)


# the report draws pen-stroke runs (3 features: dx, dy, pen) as digits
register_view(ReportView("strokes", ("handwritten-digits", "de-jong"), 3, draw=_draw_digits,
                         style="top row: originals, bottom row: reconstructions"))
