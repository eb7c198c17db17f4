"""Figures for experiments and reports: one function per figure kind, each returning a matplotlib Figure.

Figures are built with :class:`matplotlib.figure.Figure` on an explicit Agg canvas
(``FigureCanvasAgg``) rather than through pyplot, so this module renders with Agg on any machine
(no display needed) without calling ``matplotlib.use`` -- which would switch the process-wide
backend of a user's notebook -- and keeps no global pyplot state. :func:`save_figure` writes a PNG atomically.
Every figure has a title and labelled axes, with units where the quantity has them (ELBO terms
are in nats per example).
"""

from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from seqvae.io import write_bytes_atomic

NATS = "nats / example"
DATA_COLOR = "#1BBC9B"  # the chapter's colour cycle
MODEL_COLOR = "#F06060"
OTHER_COLOR = "#5C4B51"
EXTRA_COLORS = ("#F3B562", "#6e5687", "#3b7dd8")


def new_figure(width: float = 6.4, height: float = 4.8) -> Figure:
    """A Figure attached to an Agg canvas (independent of pyplot and of the active backend)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Figure, dpi: int = 120) -> bytes:
    """``fig`` rendered as PNG bytes; the figure is closed afterwards."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        close_figure(fig)
    return buf.getvalue()


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Render ``fig`` as PNG to ``path`` through a temporary file and rename, then close it."""
    path = Path(path)
    write_bytes_atomic(path, figure_png(fig, dpi))
    return path


def close_figure(fig: Figure) -> None:
    """Release a figure: drop it from pyplot's registry if pyplot manages it, and clear it."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close(fig)
    fig.clear()


# --------------------------------------------------------------------------- learning curves


def read_epoch_metrics(metrics_csv: str | Path) -> dict[str, dict[int, float]]:
    """Lightning CSVLogger output as ``{column: {epoch: value}}`` (rows without a value skipped)."""
    path = Path(metrics_csv)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file or directory")
    out: dict[str, dict[int, float]] = {}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            raw_epoch = row.get("epoch", "")
            if raw_epoch in ("", None):
                continue
            epoch = int(float(raw_epoch))
            for key, raw in row.items():
                if key in ("epoch", "step") or raw in ("", None):
                    continue
                try:
                    value = float(raw)
                except ValueError:
                    continue
                out.setdefault(key, {})[epoch] = value
    return out


_CURVES = (
    ("recon", "Reconstruction loss −log p(x|z)", NATS),
    ("kl", "KL(q(z|x) ‖ p(z))", NATS),
    ("elbo", "ELBO", NATS),
)


def plot_learning_curves(metrics_csv: str | Path, title: str = "Learning curves") -> Figure:
    """Reconstruction loss, KL, ELBO (train and validation), β and active latent units per epoch from a
    run's metrics.csv."""
    series = read_epoch_metrics(metrics_csv)
    fig = new_figure(10, 9)
    axes = fig.subplots(3, 2, sharex=True).ravel()
    for ax, (name, label, unit) in zip(axes, _CURVES):
        for split, color, marker in (("train", DATA_COLOR, "o"), ("val", MODEL_COLOR, "s")):
            values = series.get(f"{split}/{name}")
            if values:
                epochs = sorted(values)
                ax.plot(epochs, [values[e] for e in epochs], marker=marker, ms=3, color=color, label=split)
        ax.set_title(label)
        ax.set_ylabel(f"{name} [{unit}]")
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
        ax.grid(alpha=0.3)
    for ax, key, label, ylabel in (
        (axes[3], "beta", "KL weight β", "β [dimensionless]"),
        (axes[4], "val/active_units", "Active latent units (validation)", "active units [count]"),
    ):
        values = series.get(key)
        if values:
            epochs = sorted(values)
            ax.plot(epochs, [values[e] for e in epochs], marker="o", ms=3, color=OTHER_COLOR, label=label)
            ax.legend()
        ax.set_title(label)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[5].set_visible(False)
    axes[4].set_ylim(bottom=0)
    axes[4].yaxis.get_major_locator().set_params(integer=True)
    for ax in axes[2:5]:
        ax.set_xlabel("epoch")
        ax.xaxis.set_tick_params(labelbottom=True)
    fig.suptitle(title)
    return fig


def plot_kl_per_dimension(
    kl: Sequence[float], mean_variance: Sequence[float] | None = None, threshold: float = 0.01, title: str = ""
) -> Figure:
    """KL(q(z_d|x) ‖ p(z_d)) averaged over examples, one bar per latent dimension; a dimension the encoder
    does not use (posterior collapse) has KL near 0. With ``mean_variance`` (Var_x E[z_d|x]) the bars of
    inactive dimensions (variance below ``threshold``) are greyed."""
    kl = np.asarray(kl, dtype=np.float64)
    dims = np.arange(len(kl))
    fig = new_figure(max(5.0, 0.35 * len(kl) + 2.5), 4.0)
    ax = fig.subplots()
    colours = [DATA_COLOR] * len(kl)
    if mean_variance is not None:
        from matplotlib.patches import Patch

        colours = [DATA_COLOR if v > threshold else "0.7" for v in np.asarray(mean_variance)]
        handles = [Patch(color=DATA_COLOR, label="active"), Patch(color="0.7", label=f"inactive (Var of mean ≤ {threshold:g})")]
        ax.legend(handles=handles, fontsize="small")
    ax.bar(dims, kl, color=colours)
    ax.set_xticks(dims)
    ax.set_xlabel("latent dimension d")
    ax.set_ylabel(f"KL(q(z_d|x) ‖ p(z_d)) [{NATS}]")
    ax.set_title(title or "KL per latent dimension (validation)")
    ax.grid(alpha=0.3, axis="y")
    return fig


def plot_vector_interpolation(
    alphas: Sequence[float], decoded: np.ndarray, feature_names: Sequence[str] | None = None, title: str = ""
) -> Figure:
    """Decoded vectors along a latent line z(α) = (1 - α) z_a + α z_b: one line per feature for a few
    features, a heat map (feature against α) for many."""
    alphas = np.asarray(alphas, dtype=np.float64)
    decoded = np.asarray(decoded, dtype=np.float64).reshape(len(alphas), -1)
    fig = new_figure(7.0, 4.5)
    ax = fig.subplots()
    if decoded.shape[1] <= 6:
        names = list(feature_names or [f"x[{j}]" for j in range(decoded.shape[1])])
        for j in range(decoded.shape[1]):
            ax.plot(alphas, decoded[:, j], marker="o", ms=3, label=names[j])
        ax.set_ylabel("decoded value [data units]")
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    else:
        image = ax.imshow(decoded.T, aspect="auto", origin="lower", cmap="viridis",
                          extent=(alphas[0], alphas[-1], -0.5, decoded.shape[1] - 0.5))
        fig.colorbar(image, ax=ax).set_label("decoded value [data units]")
        ax.set_ylabel("feature index")
    ax.set_xlabel("α (0: example a, 1: example b)")
    ax.set_title(title or "Latent interpolation")
    return fig


def figure_problems(fig: Figure) -> list[str]:
    """What a figure lacks: a title (its own or its panel's), and axis labels on every visible panel that
    draws data. An empty list means it is complete."""
    problems = []
    suptitle = fig.get_suptitle()
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or ax.get_label() == "<colorbar>":
            continue
        if not (ax.lines or ax.collections or ax.patches or ax.images):
            continue
        if not (ax.get_title() or suptitle):
            problems.append(f"panel {i} has no title")
        if not ax.get_xlabel():
            siblings = ax.get_shared_x_axes().get_siblings(ax)
            if not any(o.get_xlabel() for o in siblings if o is not ax):  # a stack of panels labels its bottom
                problems.append(f"panel {i} has no x label")
        if not ax.get_ylabel():
            siblings = ax.get_shared_y_axes().get_siblings(ax)
            if not any(o.get_ylabel() for o in siblings if o is not ax):  # a row of panels labels its first
                problems.append(f"panel {i} has no y label")
    return problems


# --------------------------------------------------------------------------- categorical data


def plot_class_histograms(
    data_hist: Any,
    model_hist: Any,
    labels: tuple[str, str] = ("Training data", "VAE samples"),
    title: str = "Class histograms",
) -> Figure:
    """Data and model class histograms as side-by-side bar charts (as in the dmol.pub chapter).

    Both are normalised to fractions of examples so that data sets of different sizes compare.
    """
    d = np.asarray(data_hist, dtype=np.float64)
    m = np.asarray(model_hist, dtype=np.float64)
    d = d / d.sum()
    m = m / m.sum()
    fig = new_figure(10, 4)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, values, label, color in zip(axes, (d, m), labels, (DATA_COLOR, MODEL_COLOR)):
        ax.bar(np.arange(len(values)), values, color=color, width=0.85)
        ax.set_title(label)
        ax.set_xlabel("class index")
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("fraction of examples")
    fig.suptitle(title)
    return fig


def plot_class_reconstructions(
    probs: Any,
    true_class: Sequence[int],
    prior_probs: Any | None = None,
    title: str = "Reconstructions: decoded p(x | z = μ(x))",
) -> Figure:
    """Decoded class probabilities for a few examples, the true class marked (chapter §6.4.1)."""
    p = np.atleast_2d(np.asarray(probs, dtype=np.float64))
    n = len(p)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = new_figure(4 * cols, 3 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols, sharey=True, squeeze=False)).ravel()
    classes = np.arange(p.shape[1])
    for i, ax in enumerate(axes):
        if i >= n:
            ax.set_visible(False)
            continue
        ax.plot(classes, p[i], color=DATA_COLOR, marker="o", ms=3, label="p(x | z=μ)")
        if prior_probs is not None:
            ax.plot(classes, np.asarray(prior_probs), color=OTHER_COLOR, ls=":", label="prior average p(x)")
        ax.axvline(int(true_class[i]), color=MODEL_COLOR, ls="--", label=f"true class {int(true_class[i])}")
        ax.set_title(f"example {i}")
        ax.set_xlabel("class index")
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    for r in range(rows):
        axes[r * cols].set_ylabel("probability")
    fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- continuous data


def _columns(x: Any) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    return arr[:, None] if arr.ndim == 1 else arr.reshape(arr.shape[0], -1)


def _panel_grid(dims: int, width: float, height: float) -> tuple[Figure, list[Any]]:
    """A figure with one panel per dimension, three to a row; the unused cells are hidden."""
    rows, cols = math.ceil(dims / 3), min(dims, 3)
    fig = new_figure(width * cols, height * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[dims:]:
        ax.set_visible(False)
    return fig, list(axes[:dims])


def _finish_panel(ax: Any, j: int, dims: int) -> None:
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    if dims > 1:
        ax.set_title(f"dimension {j}")


def plot_value_histograms(
    data: Any,
    samples: Any | Mapping[str, Any],
    bins: int = 64,
    data_label: str = "training data",
    xlabel: str = "x",
    title: str = "Data and generated samples",
) -> Figure:
    """Overlaid density histograms of data and one or more sample sets on shared bins, one panel per dimension.

    ``samples`` is an array or a mapping ``{label: array}`` (e.g. VAE samples and a Gaussian fit).
    """
    sets = dict(samples) if isinstance(samples, Mapping) else {"VAE samples": samples}
    d = _columns(data)
    cols = {k: _columns(v) for k, v in sets.items()}
    dims = d.shape[1]
    for k, v in cols.items():
        if v.shape[1] != dims:
            raise ValueError(f"samples {k!r} have {v.shape[1]} dimensions, data have {dims}")
    fig, axes = _panel_grid(dims, 6, 4)
    colors = (MODEL_COLOR, OTHER_COLOR, *EXTRA_COLORS)
    for j, ax in enumerate(axes):
        everything = np.concatenate([d[:, j], *(v[:, j] for v in cols.values())])
        lo, hi = np.quantile(everything, [0.001, 0.999])
        edges = np.linspace(lo, hi, bins + 1)
        ax.hist(d[:, j], bins=edges, density=True, color=DATA_COLOR, alpha=0.55, label=data_label)
        for (label, v), color in zip(cols.items(), colors):
            ax.hist(v[:, j], bins=edges, density=True, histtype="step", lw=1.8, color=color, label=label)
        ax.set_xlabel(xlabel if dims == 1 else f"{xlabel}[{j}]")
        ax.set_ylabel("density")
        _finish_panel(ax, j, dims)
    fig.suptitle(title)
    return fig


def plot_reconstruction_scatter(
    x: Any, mu: Any, xlabel: str = "x", title: str = "Reconstruction: decoded mean vs input"
) -> Figure:
    """Input values against the decoded mean μ(z = E[q(z|x)]), with the identity line; one panel per dimension."""
    xs, ms = _columns(x), _columns(mu)
    if xs.shape != ms.shape:
        raise ValueError(f"x and mu have different shapes: {xs.shape} and {ms.shape}")
    dims = xs.shape[1]
    fig, axes = _panel_grid(dims, 5, 4.5)
    for j, ax in enumerate(axes):
        lo = float(min(xs[:, j].min(), ms[:, j].min()))
        hi = float(max(xs[:, j].max(), ms[:, j].max()))
        ax.plot([lo, hi], [lo, hi], color="gray", lw=1, zorder=0, label="identity")
        ax.scatter(xs[:, j], ms[:, j], s=6, color=DATA_COLOR, alpha=0.7, label="examples")
        name = xlabel if dims == 1 else f"{xlabel}[{j}]"
        ax.set_xlabel(f"input {name}")
        ax.set_ylabel(f"decoded mean μ of {name}")
        _finish_panel(ax, j, dims)
    fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- β comparison


def plot_sequence_strip(
    sequences: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    reference: Mapping[int, np.ndarray] | None = None,
    title: str = "",
    axis_labels: tuple[str, str] | None = None,
    feature_names: Sequence[str] | None = None,
) -> Figure:
    """One small panel per sequence: feature 1 against feature 0 (the path drawn in the plane), or the
    value against time for one feature. ``reference`` maps panel index -> a sequence drawn in grey
    underneath (e.g. the encoded originals at both ends of an interpolation). ``axis_labels`` name the
    panels' axes; by default the data's ``feature_names`` (as the file names its columns), else
    "feature 0" / "feature 1", or time step and value."""
    n = len(sequences)
    cols = min(n, 8)
    rows = math.ceil(n / cols)
    fig = new_figure(1.9 * cols, 2.0 * rows + (0.3 if title else 0.0))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    planar = bool(n) and np.asarray(sequences[0]).ndim == 2 and np.asarray(sequences[0]).shape[1] >= 2
    names = list(feature_names or [])
    if axis_labels is None:
        if planar:
            axis_labels = (names[0], names[1]) if len(names) >= 2 else ("feature 0", "feature 1")
        else:
            axis_labels = ("time step", names[0] if names else "value")
    xlabel, ylabel = axis_labels
    for i, (ax, seq) in enumerate(zip(axes, sequences)):
        for arr, style in (((reference or {}).get(i), dict(color="0.7", lw=2.5)), (seq, dict(color=MODEL_COLOR, lw=1.2))):
            if arr is None or len(arr) == 0:
                continue
            arr = np.asarray(arr, dtype=np.float64)
            if arr.shape[1] >= 2:
                ax.plot(arr[:, 0], arr[:, 1], **style)
                ax.plot(arr[:1, 0], arr[:1, 1], "o", ms=3, color=style["color"])
                ax.set_aspect("equal", adjustable="datalim")
            else:
                ax.plot(arr[:, 0], **style)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(xlabel, fontsize="x-small")
        ax.set_ylabel(ylabel, fontsize="x-small")
        if titles is not None:
            ax.set_title(titles[i], fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- latent spaces


def latent_plane(z: np.ndarray) -> tuple[np.ndarray, tuple[str, str]]:
    """The two coordinates to draw a latent space in, with axis labels: the latent itself when it is 2-D
    (1-D gets a zero second axis), else its first two principal components."""
    z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
    if z.shape[1] == 2:
        return z, ("z₁ (posterior mean)", "z₂ (posterior mean)")
    if z.shape[1] == 1:
        return np.column_stack([z[:, 0], np.zeros(len(z))]), ("z₁ (posterior mean)", "(none)")
    centred = z - z.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T, ("PC 1 of posterior means", "PC 2 of posterior means")


def plot_latent_scatter(
    z: np.ndarray,
    values: np.ndarray,
    label: str,
    unit: str | None = None,
    categories: Sequence[str] | None = None,
    title: str = "",
) -> Figure:
    """Posterior means coloured by a label, with a colour bar naming it (and its unit).

    ``categories`` names the values 0, 1, ... of a categorical label (e.g. ``("missed", "made")``);
    they get one colour each and a colour bar with one tick per category.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap

    plane, (xlabel, ylabel) = latent_plane(z)
    values = np.asarray(values, dtype=np.float64)
    fig = new_figure(6.0, 5.0)
    ax = fig.subplots()
    order = np.random.default_rng(0).permutation(len(values))  # no class is drawn entirely on top
    if categories is not None:
        colours = [DATA_COLOR, MODEL_COLOR, OTHER_COLOR, *EXTRA_COLORS][: len(categories)]
        cmap = ListedColormap(colours)
        norm = BoundaryNorm(np.arange(len(categories) + 1) - 0.5, len(categories))
        points = ax.scatter(plane[order, 0], plane[order, 1], c=values[order], cmap=cmap, norm=norm, s=9, alpha=0.8)
        bar = fig.colorbar(points, ax=ax, ticks=np.arange(len(categories)))
        bar.ax.set_yticklabels(list(categories))
    else:
        points = ax.scatter(plane[order, 0], plane[order, 1], c=values[order], cmap="viridis", s=9, alpha=0.85)
        bar = fig.colorbar(points, ax=ax)
    bar.set_label(f"{label} [{unit}]" if unit else label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or f"Latent means coloured by {label}")
    ax.grid(alpha=0.3)
    return fig


# --------------------------------------------------------------------------- 3-D paths


def sequence_colours(n: int) -> list[Any]:
    """``n`` distinct colours (matplotlib's tab10, repeated), one per drawn sequence."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def plot_trajectories_3d(
    sequences: Sequence[np.ndarray],
    references: Sequence[np.ndarray] | None = None,
    title: str = "",
    axis_labels: tuple[str, str, str] = ("feature 0", "feature 1", "feature 2"),
) -> Figure:
    """Paths through 3-D space in one perspective view; with ``references`` each is drawn solid and the
    sequence dashed over it in the same colour (e.g. originals and reconstructions)."""
    fig = new_figure(7.0, 6.0)
    ax = fig.add_subplot(projection="3d")
    colours = sequence_colours(len(sequences))
    refs = list(references) if references is not None else [None] * len(sequences)
    for colour, seq, ref in zip(colours, sequences, refs):
        for arr, style in ((ref, "-"), (seq, "--" if ref is not None else "-")):
            if arr is None:
                continue
            arr = np.asarray(arr, dtype=np.float64)
            ax.plot(arr[:, 0], arr[:, 1], arr[:, 2], style, color=colour, lw=1.2)
        start = np.asarray(ref if ref is not None else seq, dtype=np.float64)
        ax.scatter(start[:1, 0], start[:1, 1], start[:1, 2], color=colour, s=12)
    if references is not None:
        ax.plot([], [], "-", color="0.3", label="original")
        ax.plot([], [], "--", color="0.3", label="reconstruction")
        ax.legend(fontsize="small")
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_zlabel(axis_labels[2])
    ax.set_title(title or "Trajectories (dots: first step)")
    return fig


# --------------------------------------------------------------------------- videos


def video_strip(video: np.ndarray, layout: str = "channels-last") -> np.ndarray:
    """A video ``(T, H, W, C)`` (or ``(T, C, H, W)`` with ``layout="channels-first"``) as one image
    ``(H, T * W, C)``: its frames side by side, clipped to [0, 1]."""
    v = np.asarray(video, dtype=np.float64)
    if layout == "channels-first":
        v = v.transpose(0, 2, 3, 1)
    if v.ndim != 4:
        raise ValueError(f"a video strip needs (T, H, W, C) frames, got shape {v.shape}")
    return np.clip(np.concatenate(list(v), axis=1), 0.0, 1.0)


def plot_video_strips(
    videos: Sequence[np.ndarray], row_labels: Sequence[str], title: str, layout: str = "channels-last"
) -> Figure:
    """One row per video, its frames left to right (e.g. originals above their reconstructions)."""
    n = len(videos)
    strips = [video_strip(v, layout) for v in videos]
    aspect = strips[0].shape[1] / strips[0].shape[0] if strips else 8.0
    fig = new_figure(min(1.0 * aspect + 1.2, 14.0), 1.05 * max(n, 1) + 0.5)
    axes = fig.subplots(max(n, 1), 1, squeeze=False).ravel()
    for i, (ax, strip) in enumerate(zip(axes, strips)):
        ax.imshow(strip, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(row_labels[i], fontsize="x-small", rotation=0, ha="right", va="center")
    if strips:
        axes[n - 1].set_xlabel(f"frame 1 … {len(videos[0])}, left to right")
        for ax in axes[: n - 1]:  # a stack of strips: the bottom one names the time axis
            ax.sharex(axes[n - 1])
    fig.suptitle(title)
    return fig


def plot_swap_grid(
    content: Sequence[np.ndarray],
    motion: Sequence[np.ndarray],
    swapped: Sequence[Sequence[np.ndarray]],
    title: str,
    layout: str = "channels-last",
    frames_shown: int = 4,
) -> Figure:
    """Swap grid: cell (i, j) has the content of video ``content[i]`` and the motion of ``motion[j]``.

    The first column shows the content sources and the first row the motion sources; each cell is a strip
    of the video's first ``frames_shown`` frames.
    """
    rows, cols = len(content), len(motion)

    def strip(v: np.ndarray) -> np.ndarray:
        return video_strip(np.asarray(v)[:frames_shown], layout)

    fig = new_figure(1.9 * (cols + 1), 0.75 * (rows + 1) + 0.6)
    axes = fig.subplots(rows + 1, cols + 1, squeeze=False)
    axes[0, 0].set_visible(False)
    for j in range(cols):
        axes[0, j + 1].imshow(strip(motion[j]), interpolation="nearest")
        axes[0, j + 1].set_title(f"motion {j + 1}", fontsize="small")
    for i in range(rows):
        axes[i + 1, 0].imshow(strip(content[i]), interpolation="nearest")
        axes[i + 1, 0].set_ylabel(f"content {i + 1}", fontsize="small")
        for j in range(cols):
            axes[i + 1, j + 1].imshow(strip(swapped[i][j]), interpolation="nearest")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    for i in range(rows + 1):  # label every drawn panel: rows are content sources, columns motion sources
        for j in range(cols + 1):
            ax = axes[i, j]
            if not ax.get_ylabel():
                ax.set_ylabel("sources" if i == 0 else f"content {i}", fontsize="xx-small")
            ax.set_xlabel("motion source" if i == 0 else (f"motion {j}" if j else "content source"), fontsize="xx-small")
    fig.suptitle(title)
    return fig
