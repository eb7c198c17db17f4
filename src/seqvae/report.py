"""Run reports: one self-contained ``report.html`` per run directory, and metric tables across runs.

A report embeds every figure as a PNG data URI and needs nothing from the network to be viewed: no
scripts, fonts or style sheets are fetched. For a run with a model it shows the config and metrics,
learning curves, reconstructions, samples from the prior, a latent interpolation, the latent means
coloured by every label, and the KL per latent dimension, drawn for the kind of data (court views for
basketball shots, paths for planar sequences, values for vectors). The figures an experiment wrote
into the run directory are added, and sub-runs (directories holding a model) get their own report,
linked from the parent's. With plotly installed (``pip install "seqvae[report]"``) the latent scatter
is also interactive; plotly's script is then embedded in the page, not linked.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqvae import __version__, plots
from seqvae.analysis.latent import is_binary, latent_means
from seqvae.checkpoint import LoadedModel, load_run
from seqvae.data.arrays import ArrayDataset
from seqvae.data.prepare import DataBundle
from seqvae.data.sequences import SequenceDataset
from seqvae.data.sources import load_data
from seqvae.distributions import gaussian_kl_per_dim
from seqvae.errors import CheckpointError, SeqVAEError
from seqvae.io import write_bytes_atomic
from seqvae.registry import Registry
from seqvae.training import ACTIVE_UNIT_THRESHOLD

REPORT_NAME = "report.html"
MODEL_FILE = "model.safetensors"
EXAMPLES = 6  # reconstructions and samples shown
INTERPOLATION_STEPS = 7
MAX_SCATTERS = 12  # labels drawn in the latent section
MAX_POINTS = 2000  # latent means drawn per scatter
CHAINS_SHOWN = 6  # examples per row of a vector view's grid
SECTIONS = (  # id, heading; every report has these, in this order (a section says why when it is empty)
    ("overview", "Overview"),
    ("metrics", "Metrics"),
    ("config", "Configuration"),
    ("learning-curves", "Learning curves"),
    ("reconstructions", "Reconstructions"),
    ("samples", "Samples from the prior"),
    ("interpolation", "Latent interpolation"),
    ("latent", "Latent space"),
    ("kl", "KL per latent dimension"),
    ("figures", "Experiment figures"),
    ("subruns", "Sub-runs"),
)


@dataclass
class _Section:
    ident: str
    heading: str
    parts: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.parts.append(f'<p class="note">{html.escape(text)}</p>')

    def figure(self, fig: Any, caption: str, name: str) -> None:
        problems = plots.figure_problems(fig)
        if problems:  # a report never shows an unlabelled figure silently
            caption += f" (incomplete figure: {'; '.join(problems)})"
        self.parts.append(_img(plots.figure_png(fig, dpi=96), caption, name))


def _img(png: bytes, caption: str, name: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure data-figure="{html.escape(name)}"><img alt="{html.escape(caption)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{html.escape(caption)}</figcaption></figure>'
    )


# --------------------------------------------------------------------------- tables


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``{"a.b.c": value}``; lists of numbers stay lists."""
    out: dict[str, Any] = {}
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}{key}."))
    else:
        out[prefix[:-1]] = obj
    return out


def _format(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.5g}"
    if isinstance(value, list):
        if len(value) > 12:
            return f"[{len(value)} values]"
        return "[" + ", ".join(_format(v) for v in value) + "]"
    return str(value)


def _table(rows: Iterable[Sequence[Any]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_format(c) if not isinstance(c, str) else c)}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def run_metrics(run_dir: Path) -> dict[str, Any]:
    """A run's numbers: its metrics.json (without the config), train_summary.json under ``train`` and
    ``seqvae evaluate``'s evaluation.json under ``evaluation``."""
    metrics = dict(_read_json(run_dir / "metrics.json") or {})
    metrics.pop("config", None)
    summary = _read_json(run_dir / "train_summary.json")
    if summary is not None and "train" not in metrics:
        metrics["train"] = summary
    evaluation = _read_json(run_dir / "evaluation.json")  # seqvae evaluate's own file
    if evaluation is not None and "evaluation" not in metrics:
        metrics["evaluation"] = evaluation
    return metrics


# --------------------------------------------------------------------------- data views


@dataclass(frozen=True)
class ReportView:
    """How the report draws the data of some ``data.kind``s (registered by their domain in :data:`VIEWS`).

    A sequence view (``vectors=False``) draws data-unit sequences with
    ``draw(ctx, sequences, title, refs, titles, colours) -> Figure`` (``refs``: originals under
    reconstructions; ``colours``: one per sequence along an interpolation, from ``ramp(alpha)`` when the
    view has one). A vector view (``vectors=True``) turns model-unit rows into drawable items with
    ``items(ctx, values)`` and lays rows of them out with ``grid(rows, row_titles, titles, title)``.
    ``features``: the feature count it needs (``-2``: any even count). ``label_units``: units of labels
    in the latent scatters; ``style``: how a reconstruction figure shows originals against the model.
    """

    name: str
    kinds: tuple[str, ...]
    features: int
    vectors: bool = False
    draw: Callable[..., Any] | None = None
    ramp: Callable[[float], Any] | None = None
    items: Callable[[Any, np.ndarray], list[Any]] | None = None
    grid: Callable[..., Any] | None = None
    label_units: Mapping[str, str] = field(default_factory=dict)
    style: str = "solid: original, dashed: reconstruction"

    def fits(self, features: int) -> bool:
        return features % 2 == 0 if self.features == -2 else features == self.features


VIEWS: Registry[ReportView] = Registry("report view")


def register_view(view: ReportView) -> ReportView:
    """Register a domain's :class:`ReportView` (under its name)."""
    return VIEWS.register(view.name, view)


@dataclass
class _Context:
    loaded: LoadedModel
    bundle: DataBundle
    split: SequenceDataset | ArrayDataset
    split_name: str
    view: str  # a registered view's name, or "paths" (2-D), "paths3d", "series" (1 feature), "vectors" or "video"
    seed: int

    @property
    def domain(self) -> ReportView | None:
        return VIEWS.get(self.view)

    @property
    def run(self) -> Any:
        return self.loaded.run

    @property
    def model(self) -> Any:
        return self.loaded.model

    def to_data(self, values: np.ndarray) -> np.ndarray:
        norm = self.bundle.normalizer
        return norm.inverse(values) if norm is not None else values


def _view(loaded: LoadedModel, bundle: DataBundle) -> str:
    if loaded.model.video_input:
        return "video"
    sequences = bool(loaded.model.sequence_input)
    if loaded.run is not None:
        for name, view in VIEWS.items():
            if loaded.run.data.kind in view.kinds and view.vectors != sequences and view.fits(bundle.features):
                return name
    if not sequences:
        return "vectors"
    return {1: "series", 3: "paths3d"}.get(bundle.features, "paths")


def _sequence_figure(ctx: _Context, sequences: list[np.ndarray], title: str, refs: list[np.ndarray] | None = None,
                     titles: Sequence[str] | None = None, colours: Sequence[Any] | None = None) -> Any:
    if ctx.domain is not None and ctx.domain.draw is not None:
        return ctx.domain.draw(ctx, sequences, title, refs, titles, colours)
    if ctx.view == "paths3d":
        return plots.plot_trajectories_3d(sequences, refs, title)
    reference = dict(enumerate(refs)) if refs is not None else None
    return plots.plot_sequence_strip(sequences, titles, reference, title, feature_names=ctx.bundle.feature_names)


@torch.no_grad()
def _reconstructions(ctx: _Context, section: _Section) -> None:
    model, split = ctx.model, ctx.split
    if ctx.view == "video":
        _video_figure(ctx, section, "reconstructions")
        return
    what = f"{ctx.split_name} examples"
    if ctx.domain is not None and ctx.domain.vectors:
        view = ctx.domain
        batch = split.__getitems__(list(range(min(CHAINS_SHOWN, len(split)))))
        rows = [view.items(ctx, batch.values.cpu().numpy()), view.items(ctx, model.reconstruct(batch).cpu().numpy())]
        fig = view.grid(rows, ["data", "reconstruction"], title=f"Reconstructions of {what}")
        section.figure(fig, f"{what.capitalize()} (top) and their decoded posterior means (bottom).", "reconstructions")
        return
    if ctx.view == "vectors":
        x = ctx.to_data(split.batch().values.cpu().numpy())
        mu = ctx.to_data(model.reconstruct(split.batch()).cpu().numpy())
        if _one_hot(x):
            fig = plots.plot_class_reconstructions(mu[: EXAMPLES], x[: EXAMPLES].argmax(1),
                                                   title=f"Reconstructions of {what}: decoded p(x | z = μ(x))")
        else:
            fig = plots.plot_reconstruction_scatter(x[:, :6], mu[:, :6], title=f"Reconstructions of the {ctx.split_name} split")
        section.figure(fig, f"Decoded posterior means against the inputs ({ctx.split_name} split).", "reconstructions")
        return
    idx = list(range(min(EXAMPLES, len(split))))
    batch = split.__getitems__(idx)
    recon = ctx.to_data(model.reconstruct(batch).cpu().numpy())
    original = ctx.to_data(batch.values.cpu().numpy())
    lengths = batch.lengths.cpu().numpy()
    recs = [recon[i, : lengths[i]] for i in range(len(idx))]
    origs = [original[i, : lengths[i]] for i in range(len(idx))]
    fig = _sequence_figure(ctx, recs, f"Reconstructions of {what}", refs=origs, titles=[f"#{i}" for i in idx])
    style = {"paths": "grey: original, red: reconstruction", "series": "grey: original, red: reconstruction"}.get(
        ctx.view, ctx.domain.style if ctx.domain is not None else ReportView.style)
    section.figure(fig, f"{what.capitalize()}: originals and the decoded posterior means, in data units ({style}).",
                   "reconstructions")


def _one_hot(x: np.ndarray) -> bool:
    return x.ndim == 2 and x.shape[1] > 1 and bool(np.all((x == 0) | (x == 1))) and bool(np.all(x.sum(1) == 1))


def _median_length(ctx: _Context) -> int:
    return max(1, int(np.median(ctx.split.lengths.numpy()))) if isinstance(ctx.split, SequenceDataset) else 0


@torch.no_grad()
def _video_figure(ctx: _Context, section: _Section, what: str) -> None:
    """Video models: test videos above their reconstructions, or videos generated from the priors."""
    model, layout = ctx.model, ctx.model.config.layout
    if what == "reconstructions":
        batch = ctx.split.__getitems__(list(range(min(EXAMPLES // 2, len(ctx.split)))))
        recon = model.reconstruct(batch).cpu().numpy()
        rows, labels = [], []
        for i, video in enumerate(batch.values.cpu().numpy()):
            rows += [video, recon[i]]
            labels += [f"{ctx.split_name} #{i}", "reconstruction"]
        fig = plots.plot_video_strips(rows, labels, f"Reconstructions of {ctx.split_name} videos", layout)
        section.figure(fig, "Each video (frames left to right) above its decoded posterior means.", "reconstructions")
        return
    videos = model.generate_videos(EXAMPLES, generator=torch.Generator().manual_seed(ctx.seed)).cpu().numpy()
    fig = plots.plot_video_strips(list(videos), [f"sample {i + 1}" for i in range(len(videos))],
                                  "Videos generated from the priors (decoder means)", layout)
    section.figure(fig, f"{EXAMPLES} videos: content f ~ p(f), dynamics z_1:T ~ p(z) (frames left to right).", "samples")


def _decoded(ctx: _Context, z: torch.Tensor, rows: list[int] | None = None) -> torch.Tensor:
    """Decoder means of ``z``. A conditional model decodes row i under the condition of split example
    ``rows[i]`` (default: the split's examples in turn)."""
    batch = None
    if getattr(ctx.split, "condition", None) is not None:
        idx = rows if rows is not None else [i % len(ctx.split) for i in range(len(z))]
        batch = ctx.split.__getitems__(idx)
    return ctx.model.point(ctx.model.decode(z, batch))


@torch.no_grad()
def _samples(ctx: _Context, section: _Section) -> None:
    model = ctx.model
    gen = torch.Generator().manual_seed(ctx.seed)
    if ctx.view == "video":
        _video_figure(ctx, section, "samples")
        return
    if ctx.domain is not None and ctx.domain.vectors:
        view = ctx.domain
        z = torch.randn((2 * CHAINS_SHOWN, model.latent_dim), generator=gen)
        drawn = view.items(ctx, _decoded(ctx, z).cpu().numpy())
        data = view.items(ctx, ctx.bundle.train.__getitems__(list(range(min(CHAINS_SHOWN, len(ctx.bundle.train))))).values.numpy())
        fig = view.grid([data, drawn[:CHAINS_SHOWN], drawn[CHAINS_SHOWN:]], ["training data", "model", "model"],
                        title="Samples from the prior (decoder means)")
        section.figure(fig, f"Decoder means of {2 * CHAINS_SHOWN} draws z ~ N(0, I) below training configurations.", "samples")
        return
    if ctx.view == "vectors":
        n = 2000
        z = torch.randn((n, model.latent_dim), generator=gen)
        x = ctx.to_data(_decoded(ctx, z).cpu().numpy())
        data = ctx.to_data(ctx.bundle.train.batch().values.cpu().numpy())
        if _one_hot(data):
            fig = plots.plot_class_histograms(data.sum(0), x.mean(0), title="Samples from the prior: class probabilities")
        else:
            fig = plots.plot_value_histograms(data[:, :6], x[:, :6], title="Samples from the prior against the training data")
        section.figure(fig, f"Decoder means of {n} draws z ~ p(z) against the training split.", "samples")
        return
    z = torch.randn((EXAMPLES, model.latent_dim), generator=gen)
    length = _median_length(ctx)
    values, lengths = model.generate(z, length)
    values = ctx.to_data(values.cpu().numpy())
    ends = lengths.cpu().numpy() if lengths is not None else np.full(len(values), values.shape[1])
    seqs = [values[i, : max(1, int(ends[i]))] for i in range(len(values))]
    fig = _sequence_figure(ctx, seqs, "Samples from the prior (decoder means)")
    section.figure(fig, f"Decoder means for {EXAMPLES} draws z ~ N(0, I), {length} steps (the median length) "
                   "unless the model ends them.", "samples")


@torch.no_grad()
def _interpolation(ctx: _Context, section: _Section) -> None:
    model, split = ctx.model, ctx.split
    if ctx.view == "video":
        section.note("Not drawn for video models (the experiment's swap grid and fixed-f / fixed-z figures "
                     "show what the content and motion latents hold).")
        return
    if len(split) < 2:
        section.note("Needs two examples in the split.")
        return
    a, b = 0, len(split) - 1
    batch = split.__getitems__([a, b])
    q = model.encode(batch).mean
    alphas = torch.linspace(0, 1, INTERPOLATION_STEPS, dtype=q.dtype)
    z = (1 - alphas)[:, None] * q[0] + alphas[:, None] * q[1]
    caption = f"Decoded along z(α) = (1 − α) μ(a) + α μ(b) between {ctx.split_name} examples #{a} and #{b}."
    if ctx.domain is not None and ctx.domain.vectors:
        drawn = ctx.domain.items(ctx, _decoded(ctx, z, [a] * len(z)).cpu().numpy())
        titles = [[f"α = {float(al):.2f}" for al in alphas]]
        fig = ctx.domain.grid([drawn], ["decoded"], titles, f"Latent interpolation: #{a} → #{b}")
        section.figure(fig, caption, "interpolation")
        return
    if ctx.view == "vectors":
        decoded = ctx.to_data(_decoded(ctx, z, [a] * len(z)).cpu().numpy())
        fig = plots.plot_vector_interpolation(alphas.numpy(), decoded, title=f"Latent interpolation: #{a} → #{b}")
        section.figure(fig, caption, "interpolation")
        return
    length = int(batch.lengths.max())
    values, _ = model.generate(z, length)
    values = ctx.to_data(values.cpu().numpy())
    seqs = [values[i] for i in range(len(values))]
    titles = [f"α = {float(al):.2f}" for al in alphas]
    if ctx.domain is not None and ctx.domain.ramp is not None:
        colours = [ctx.domain.ramp(float(al)) for al in alphas]
        fig = _sequence_figure(ctx, seqs, f"Latent interpolation: #{a} → #{b} (blue → red)", colours=colours)
    elif ctx.view == "paths3d":
        fig = plots.plot_trajectories_3d(seqs, None, f"Latent interpolation: #{a} → #{b}")
    elif ctx.domain is not None:
        fig = _sequence_figure(ctx, seqs, f"Latent interpolation: #{a} → #{b}", titles=titles)
    else:
        fig = plots.plot_sequence_strip(seqs, titles, None, f"Latent interpolation: #{a} → #{b}",
                                        feature_names=ctx.bundle.feature_names)
    section.figure(fig, caption, "interpolation")


def _labels(ctx: _Context) -> dict[str, np.ndarray]:
    labels = {k: v.numpy() for k, v in ctx.split.labels.items() if v.ndim == 1}
    if isinstance(ctx.split, SequenceDataset) and "length" not in labels:
        labels["length"] = ctx.split.lengths.numpy()
    return {k: v for k, v in labels.items() if len(np.unique(v)) > 1}


def _latent(ctx: _Context, section: _Section, means: np.ndarray) -> None:
    labels = _labels(ctx)
    keep = np.arange(len(means))
    if len(keep) > MAX_POINTS:
        keep = np.sort(np.random.default_rng(ctx.seed).choice(len(means), MAX_POINTS, replace=False))
    if not labels:
        fig = plots.plot_latent_scatter(means[keep], np.zeros(len(keep)), "no label", None, ("example",),
                                        f"Latent means ({ctx.split_name} split)")
        section.figure(fig, "Posterior means; the data have no labels to colour them by.", "latent-unlabelled")
    for name, values in list(labels.items())[:MAX_SCATTERS]:
        categories = None
        if is_binary(values) and set(np.unique(values).tolist()) <= {0, 1}:
            categories = ("0", "1") if name != "made" else ("missed", "made")
        unit = _label_unit(ctx, name)
        shown = name.replace("_", " ")
        fig = plots.plot_latent_scatter(means[keep], values[keep], shown, unit, categories,
                                        f"Latent means ({ctx.split_name}) coloured by {shown}")
        section.figure(fig, f"Posterior means of the {ctx.split_name} split coloured by {shown}"
                       + ("" if means.shape[1] == 2 else " (first two principal components)") + ".", f"latent-{name}")
    if len(labels) > MAX_SCATTERS:
        section.note(f"{len(labels) - MAX_SCATTERS} more labels not drawn.")
    interactive = _plotly_scatter(means[keep], {k: v[keep] for k, v in labels.items()})
    if interactive:
        section.parts.append(interactive)


def _label_unit(ctx: _Context, name: str) -> str | None:
    if ctx.domain is not None and ctx.domain.label_units:
        return ctx.domain.label_units.get(name)
    return "steps" if name == "length" and isinstance(ctx.split, SequenceDataset) else None


def _plotly_scatter(means: np.ndarray, labels: Mapping[str, np.ndarray]) -> str:
    """An interactive scatter (one trace per label, chosen from a menu) when plotly is installed, else ''."""
    try:
        import plotly.graph_objects as go
    except ImportError:
        return ""
    plane, (xlabel, ylabel) = plots.latent_plane(means)
    names = list(labels) or ["none"]
    fig = go.Figure()
    for i, name in enumerate(names):
        colour = labels[name] if name in labels else np.zeros(len(means))
        fig.add_trace(go.Scattergl(x=plane[:, 0], y=plane[:, 1], mode="markers", name=name, visible=i == 0,
                                   marker=dict(color=colour, colorscale="Viridis", size=5,
                                               colorbar=dict(title=name.replace("_", " ")))))
    buttons = [dict(label=n, method="update", args=[{"visible": [j == i for j in range(len(names))]}])
               for i, n in enumerate(names)]
    fig.update_layout(title="Latent means (interactive: choose the label)", xaxis_title=xlabel, yaxis_title=ylabel,
                      updatemenus=[dict(buttons=buttons, x=1.0, y=1.15)], height=520)
    page = fig.to_html(full_html=False, include_plotlyjs=True, config={"displaylogo": False})
    return f'<div class="interactive" data-figure="latent-interactive">{page}</div>'


@torch.no_grad()
def _kl(ctx: _Context, section: _Section, means: np.ndarray) -> None:
    model, split = ctx.model, ctx.split
    total = torch.zeros(model.latent_dim, dtype=torch.float64)
    for start in range(0, len(split), 256):
        batch = split.__getitems__(list(range(start, min(start + 256, len(split)))))
        total += gaussian_kl_per_dim(model.encode(batch), model.prior(batch)).double().sum(0)
    kl = (total / len(split)).numpy()
    variance = means.var(0)
    fig = plots.plot_kl_per_dimension(kl, variance, ACTIVE_UNIT_THRESHOLD,
                                      f"KL per latent dimension ({ctx.split_name} split)")
    active = int((variance > ACTIVE_UNIT_THRESHOLD).sum())
    section.figure(fig, f"{active} of {len(kl)} dimensions active (Var of the posterior mean > "
                   f"{ACTIVE_UNIT_THRESHOLD:g}); total KL {kl.sum():.3g} nats per example.", "kl")
    section.parts.append(_table([(d, float(kl[d]), float(variance[d])) for d in range(len(kl))],
                                ("dimension", "KL [nats / example]", "Var of posterior mean")))


# --------------------------------------------------------------------------- the page


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1d2327;background:#fafafa}
header{background:#1d2327;color:#fff;padding:1.2em 2em}header h1{margin:0;font-size:1.5em}
header p{margin:.3em 0 0;color:#c8ccd0}nav{padding:.6em 2em;background:#eef0f2;font-size:.92em}
nav a{margin-right:1em;color:#0b5cad;text-decoration:none}main{padding:0 2em 3em;max-width:1400px}
section{margin-top:2em}h2{border-bottom:2px solid #1BBC9B;padding-bottom:.2em}
figure{margin:1em 0;display:inline-block;vertical-align:top;max-width:100%}
img{max-width:100%;border:1px solid #ddd;background:#fff}figcaption{font-size:.88em;color:#50575e;max-width:900px}
table{border-collapse:collapse;font-size:.88em;margin:.6em 0}td,th{border:1px solid #d0d4d8;padding:.25em .6em;text-align:left}
th{background:#eef0f2}td:nth-child(n+2){font-variant-numeric:tabular-nums}.note{color:#8a6d00}
details summary{cursor:pointer;color:#0b5cad}
"""

# marks every image once the browser has decoded it, so a headless browser's DOM dump shows it was drawn
_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.querySelectorAll('img'); var drawn = 0;
  imgs.forEach(function (img) { var ok = img.complete && img.naturalWidth > 0;
    img.setAttribute('data-rendered', ok ? '1' : '0'); if (ok) { drawn += 1; } });
  document.body.setAttribute('data-images-drawn', String(drawn));
});
"""


def _page(title: str, subtitle: str, sections: Sequence[_Section]) -> str:
    nav = "".join(f'<a href="#{s.ident}">{html.escape(s.heading)}</a>' for s in sections)
    body = "".join(
        f'<section id="{s.ident}"><h2>{html.escape(s.heading)}</h2>{"".join(s.parts)}</section>' for s in sections
    )
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header><nav>{nav}</nav>"
        f"<main>{body}</main><script>{_SCRIPT}</script></body></html>"
    )


def _context(run_dir: Path, seed: int) -> tuple[_Context | None, str]:
    """The model and its data, or None and why not."""
    if not (run_dir / MODEL_FILE).is_file():
        return None, f"no {MODEL_FILE} in this directory"
    loaded = load_run(run_dir)
    if loaded.run is None:
        return None, "the model's config.json holds no run config, so its data cannot be rebuilt"
    try:
        bundle = load_data(loaded.run.data, loaded.run.seed, sequences=loaded.model.sequence_input)
    except SeqVAEError as exc:
        return None, f"the run's data cannot be loaded again ({exc})"
    loaded.model.eval()
    for name in ("val", "test", "train"):
        split = getattr(bundle, name)
        if len(split) >= 2:
            return _Context(loaded, bundle, split, name, _view(loaded, bundle), seed), ""
    return None, "the run's data have fewer than two examples in every split"


def build_report(run_dir: str | Path, output: str | Path | None = None, seed: int = 0) -> Path:
    """Write the self-contained HTML report of ``run_dir`` (default ``run_dir/report.html``) and return its path.

    Sub-runs (sub-directories holding a model) get their own reports, linked from this one.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise CheckpointError(f"{run}: not a directory")
    out = Path(output) if output is not None else run / REPORT_NAME
    sections = {ident: _Section(ident, heading) for ident, heading in SECTIONS}
    ctx, why = _context(run, seed)
    metrics = run_metrics(run)
    config = (_read_json(run / "run_config.json") or _read_json(run / "config.json") or
              (_read_json(run / "metrics.json") or {}).get("config") or {})

    overview = [("directory", str(run.resolve())), ("generated", _dt.datetime.now().isoformat(timespec="seconds")),
                ("seqvae", __version__)]
    if ctx is not None:
        model = ctx.model
        overview += [("model", f"{model.kind} ({sum(p.numel() for p in model.parameters()):,} parameters)"),
                     ("latent dimensions", str(model.latent_dim)),
                     ("data", f"{ctx.loaded.run.data.kind}: {len(ctx.bundle.train)} train / {len(ctx.bundle.val)} val / "
                              f"{len(ctx.bundle.test)} test"),
                     ("figures drawn on", f"the {ctx.split_name} split")]
    else:
        overview.append(("model", f"none drawn: {why}"))
    sections["overview"].parts.append(_table(overview, ("", "")))

    flat = flatten(metrics)
    if isinstance(metrics.get("summary"), dict):
        sections["metrics"].parts.append(_table(list(flatten(metrics["summary"]).items()), ("headline metric", "value")))
        if isinstance(metrics.get("claims"), dict):
            sections["metrics"].parts.append(_table(list(metrics["claims"].items()), ("claim", "holds")))
        sections["metrics"].parts.append(
            "<details><summary>show all metrics</summary>" + _table(sorted(flat.items()), ("metric", "value")) + "</details>")
    elif flat:
        sections["metrics"].parts.append(_table(sorted(flat.items()), ("metric", "value")))
    else:
        sections["metrics"].note("No metrics.json or train_summary.json in this run.")
    if config:
        sections["config"].parts.append(
            "<details><summary>show the full configuration</summary>"
            + _table(sorted(flatten(config).items()), ("key", "value")) + "</details>")
    else:
        sections["config"].note("No run_config.json or config.json in this run.")

    log = run / "logs" / "metrics.csv"
    if log.is_file():
        sections["learning-curves"].figure(plots.plot_learning_curves(log, "Learning curves"),
                                           "Per epoch, from logs/metrics.csv.", "learning-curves")
    else:
        sections["learning-curves"].note("No logs/metrics.csv in this run.")

    if ctx is not None:
        _reconstructions(ctx, sections["reconstructions"])
        _samples(ctx, sections["samples"])
        _interpolation(ctx, sections["interpolation"])
        means = latent_means(ctx.model, ctx.split)
        _latent(ctx, sections["latent"], means)
        _kl(ctx, sections["kl"], means)
    else:
        for ident in ("reconstructions", "samples", "interpolation", "latent", "kl"):
            sections[ident].note(f"Not drawn: {why}.")

    pngs = sorted(p for p in run.glob("*.png"))
    for png in pngs:
        sections["figures"].parts.append(_img(png.read_bytes(), png.name, f"file-{png.stem}"))
    if not pngs:
        sections["figures"].note("The run directory holds no figures of its own.")

    subruns = sorted(p for p in run.iterdir() if p.is_dir() and (p / MODEL_FILE).is_file() and p != run)
    for sub in subruns:
        build_report(sub, seed=seed)
    if subruns:
        links = "".join(f'<li><a href="{html.escape(s.name)}/{REPORT_NAME}">{html.escape(s.name)}</a></li>'
                        for s in subruns)
        sections["subruns"].parts.append(f"<ul>{links}</ul>")
    else:
        sections["subruns"].note("None.")

    title = f"seqvae report: {metrics.get('experiment') or run.resolve().name}"
    page = _page(title, str(run.resolve()), list(sections.values()))
    write_bytes_atomic(out, page.encode("utf-8"))
    return out


# --------------------------------------------------------------------------- comparing runs


def compare_runs(run_dirs: Sequence[str | Path], everything: bool = False) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Metric names and ``{run: {metric: value}}`` for numeric metrics of several runs.

    By default the experiments' ``summary`` blocks when every run has one, else all numbers; ``everything``
    lists every numeric metric.
    """
    table: dict[str, dict[str, Any]] = {}
    for run in run_dirs:
        path = Path(run)
        metrics = run_metrics(path)
        if not metrics:
            raise CheckpointError(f"{path}: no metrics.json or train_summary.json to compare")
        table[str(path)] = metrics
    use_summary = not everything and all("summary" in m for m in table.values())
    flat = {run: flatten(m["summary"] if use_summary else m) for run, m in table.items()}
    numeric = {run: {k: v for k, v in f.items() if isinstance(v, (int, float)) and not isinstance(v, bool) or v is None}
               for run, f in flat.items()}
    keys: list[str] = []
    for values in numeric.values():
        keys.extend(k for k in values if k not in keys)
    return keys, numeric


def compare_html(keys: Sequence[str], columns: Mapping[str, Mapping[str, Any]], output: str | Path) -> Path:
    """The comparison table as a self-contained HTML page."""
    runs = list(columns)
    rows = [[k, *(columns[r].get(k, "") for r in runs)] for k in keys]
    section = _Section("comparison", "Metrics across runs", [_table(rows, ["metric", *runs])])
    page = _page("seqvae: run comparison", f"{len(runs)} runs", [section])
    out = Path(output)
    write_bytes_atomic(out, page.encode("utf-8"))
    return out
