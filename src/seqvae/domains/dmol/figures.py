"""Figures of the dmol.pub VAE chapter's experiments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from seqvae.plots import DATA_COLOR, EXTRA_COLORS, MODEL_COLOR, NATS, OTHER_COLOR, new_figure


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
