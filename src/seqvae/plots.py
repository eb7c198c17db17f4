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

from seqvae.data.arrays import write_bytes_atomic

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


def plot_beta_comparison(
    results: Sequence[Mapping[str, Any]],
    data_hist: Any | None = None,
    title: str = "β-VAE: reconstruction vs KL",
) -> Figure:
    """Test reconstruction loss and KL per β as bars, and (if given) each β's sampled class histogram.

    Each entry of ``results`` has ``beta``, ``recon`` (−log p(x|z), nats/example) and ``kl``
    (nats/example); an optional ``model_hist`` (class histogram of prior samples) adds a histogram
    panel per β, overlaid on ``data_hist``.
    """
    if not results:
        raise ValueError("plot_beta_comparison needs at least one result")
    hists = [r.get("model_hist") for r in results]
    show_hist = all(h is not None for h in hists)
    ncols = 2 + (len(results) if show_hist else 0)
    fig = new_figure(4 * ncols, 4)
    axes = np.atleast_1d(fig.subplots(1, ncols, squeeze=False)).ravel()
    names = [f"β = {float(r['beta']):g}" for r in results]
    pos = np.arange(len(results))
    colors = [(DATA_COLOR, MODEL_COLOR, OTHER_COLOR, *EXTRA_COLORS)[i % 6] for i in range(len(results))]
    for ax, key, label in zip(axes[:2], ("recon", "kl"), ("reconstruction loss −log p(x|z)", "KL(q(z|x) ‖ p(z))")):
        values = [float(r[key]) for r in results]
        ax.bar(pos, values, color=colors)
        for p_, v in zip(pos, values):
            ax.annotate(f"{v:.3f}", (p_, v), ha="center", va="bottom", fontsize="small")
        ax.set_xticks(pos, names)
        ax.set_title(f"test {label}")
        ax.set_xlabel("KL weight β")
        ax.set_ylabel(f"{key} [{NATS}]")
        ax.grid(alpha=0.3, axis="y")
    if show_hist:
        d = None if data_hist is None else np.asarray(data_hist, dtype=np.float64)
        for ax, name, h, color in zip(axes[2:], names, hists, colors):
            hv = np.asarray(h, dtype=np.float64)
            hv = hv / hv.sum()
            ax.bar(np.arange(len(hv)), hv, color=color, width=0.85, label="VAE samples")
            if d is not None:
                ax.step(np.arange(len(d)), d / d.sum(), where="mid", color="black", lw=1.2, label="training data")
            ax.set_title(f"{name}: samples from the prior")
            ax.set_xlabel("class index")
            ax.set_ylabel("fraction of examples")
            ax.legend(fontsize="small")
            ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title)
    return fig


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


# --------------------------------------------------------------------------- basketball court


def draw_half_court(ax: Any) -> None:
    """Top view of an NBA half court in the shot frame (metres, rim centre above the origin)."""
    from matplotlib.patches import Arc, Circle, Rectangle

    from seqvae.data import basketball as bb

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
    from seqvae.data import basketball as bb

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


def _shot_colours(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


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
    colours = list(colours) if colours is not None else _shot_colours(len(originals))
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
    colours = _shot_colours(len(sequences))
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


# --------------------------------------------------------------------------- pen strokes


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
    ``((x0, x1), (y0, y1))``, e.g. ``seqvae.data.strokes.Canvas.limits()``; y grows downwards (image
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


# --------------------------------------------------------------------------- polymer chains


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


# --------------------------------------------------------------------------- motion planning (learned sampling)


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
