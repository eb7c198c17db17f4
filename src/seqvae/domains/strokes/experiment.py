"""Source 001: a sequence VAE on handwritten digits as pen strokes, with every claim measured.

``seqvae experiment strokes`` takes digits from :func:`seqvae.domains.strokes.data.handwritten_digits` (or de Jong's
files with ``--data DIR``), brought to T = 60 points by the source's random insertion/deletion scheme, and
trains two models on the same split:

* the source's stacked-LSTM VAE (``strokes.yaml``) on absolute coordinates with a squared-error
  (Gaussian) reconstruction term and the pen state as a Bernoulli, so it is a density over the same
  variables as
* the Sketch-RNN-style model (``strokes-mdn.yaml``, written to ``mdn/``): pen offsets from a
  mixture of bivariate Gaussians and the pen state from a Bernoulli, decoded autoregressively.

``--set`` overrides apply to both models, except ``model.*`` (the stacked-LSTM model only) and
``mdn.*`` (the mixture-density model only, e.g. ``--set mdn.model.mixtures=20``).

A judge classifier (an RBF SVM on rendered 28x28 images) trained on the training digits scores the test
digits, the VAE's reconstructions of them and its neighbourhood samples (latent points uniform in a ball
of radius ``NEAR_RADIUS`` around each test digit's posterior mean). The augmentation study trains the
same classifier on 10 labelled digits per class with and without ``AUGMENT_PER_DIGIT`` neighbourhood
samples of each (5 seeds). Both models' test log-likelihoods (importance-sampled, nats per digit, data
units) are compared. Figures: reconstructions, neighbourhoods (one digit per class), an interpolation
4 -> 0 -> 6 as in the source, prior samples of both models.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqvae import plots
from seqvae.analysis.classifier import accuracy, augmentation_study, fit_classifier
from seqvae.analysis.latent import latent_means, sequence_reconstructions, uniform_ball
from seqvae.data.prepare import DataBundle
from seqvae.domains.strokes import figures as strokes_figures
from seqvae.domains.strokes.data import Canvas, drawable_digit, render_batch, strokes_to_absolute
from seqvae.errors import DataError
from seqvae.experiments import register_experiment
from seqvae.experiments.common import (
    experiment_config,
    header,
    save_learning_curves,
    test_metrics,
    train_summary,
    write_metrics,
)
from seqvae.models.base import VAE
from seqvae.training import fit

NAME = "strokes"
MDN = "strokes-mdn"
NEAR_RADIUS = 0.5  # latent distance of neighbourhood samples ("small radius")
AUGMENT_PER_DIGIT = 10  # neighbourhood samples added per labelled digit
PER_CLASS = 10  # labelled digits per class in the augmentation study
SEEDS = 5
RECON_RATIO_MIN = 0.9  # acceptance: accuracy on reconstructions >= 0.9 x accuracy on originals
NEAR_RATIO_MIN = 0.85
MDN_NEAR_RATIO_MIN = 0.8  # issue 21: the mixture-density model's neighbourhood samples >= 0.8 x originals
NEIGHBOURS_SHOWN = 7
INTERPOLATION = (4, 0, 6)  # the source's figure
INTERPOLATION_STEPS = 5  # per leg, ends included


def _mdn_overrides(user: list[str]) -> list[str]:
    """The mixture-density model's overrides: ``mdn.KEY=VALUE`` ones with the prefix dropped, and every
    other one except ``model.*`` (data, training and evaluation settings apply to both models)."""
    out = []
    for text in user:
        if text.startswith("mdn."):
            out.append(text[len("mdn.") :])
        elif not text.startswith("model."):
            out.append(text)
    return out


def _stacked_overrides(user: list[str]) -> list[str]:
    """The stacked-LSTM model's overrides: every one except the mixture-density model's ``mdn.*``."""
    return [text for text in user if not text.startswith("mdn.")]


def data_overrides(data: str | Path | None) -> list[str]:
    """Read de Jong's files from directory ``data`` instead of generating digits."""
    if data is None:
        return []
    path = Path(data)
    if not path.is_dir():
        raise DataError(f"{path}: expected a directory of de Jong stroke files (*-inputdata.txt, *-targetdata.txt)")
    return ["data.kind=de-jong", "data.params={}", f"data.params.directory={json.dumps(str(path))}"]


# --------------------------------------------------------------------------- helpers


def _digits(bundle: DataBundle, split: str, relative: bool = False) -> tuple[list[np.ndarray], np.ndarray]:
    """The split's digits in absolute form (data units; ``relative``: the bundle holds pen offsets, summed
    back to positions) and their class labels."""
    idx = bundle.splits[split]
    if "digit" not in bundle.labels:
        raise DataError("the stroke data carry no 'digit' labels; the judge classifier needs them")
    raw = [strokes_to_absolute(bundle.raw[i]) if relative else bundle.raw[i] for i in idx]
    return [np.asarray(r, dtype=np.float64) for r in raw], np.asarray(bundle.labels["digit"])[idx]


@torch.no_grad()
def _decode(model: VAE, z: torch.Tensor, length: int, bundle: DataBundle, relative: bool) -> list[np.ndarray]:
    values, _ = model.generate(z.to(next(model.parameters()).dtype), length)
    arr = values.cpu().numpy()
    if bundle.normalizer is not None:
        arr = bundle.normalizer.inverse(arr)
    return [drawable_digit(a, relative) for a in arr]


def _neighbours(
    model: VAE, bundle: DataBundle, split: str, indices: np.ndarray, n: int, seed: int, relative: bool
) -> list[list[np.ndarray]]:
    """``n`` decoded neighbourhood samples of each chosen example of ``split``."""
    dataset = getattr(bundle, split)
    sub = dataset.__getitems__([int(i) for i in indices])
    mu = torch.as_tensor(latent_means(model, type(dataset)(sub.unpad())))
    torch.manual_seed(seed)  # the MDN model samples while decoding
    z, _ = uniform_ball(mu, n, NEAR_RADIUS, torch.Generator().manual_seed(seed))
    length = int(dataset.lengths.max())
    flat = _decode(model, z.reshape(-1, z.shape[-1]), length, bundle, relative)
    return [flat[i * n : (i + 1) * n] for i in range(len(indices))]


def _first_of_each(labels: np.ndarray, classes: tuple[int, ...] | None = None) -> list[int]:
    wanted = classes if classes is not None else tuple(int(c) for c in np.unique(labels))
    return [int(np.flatnonzero(labels == c)[0]) for c in wanted if np.any(labels == c)]


@torch.no_grad()
def _interpolation(model: VAE, bundle: DataBundle, labels: np.ndarray, relative: bool) -> tuple[list[np.ndarray], list[str]]:
    digits_0_9 = set(np.unique(labels).tolist()) == set(range(10))
    picks = _first_of_each(labels, INTERPOLATION) if digits_0_9 else []
    if len(picks) < 2:  # other class sets: the first three classes as found
        picks = _first_of_each(labels)[:3]
    sub = bundle.test.__getitems__(picks)
    mu = torch.as_tensor(latent_means(model, type(bundle.test)(sub.unpad())))
    alphas = torch.linspace(0, 1, INTERPOLATION_STEPS, dtype=mu.dtype)
    legs = [(1 - alphas)[:, None] * mu[i] + alphas[:, None] * mu[i + 1] for i in range(len(picks) - 1)]
    z = torch.cat([leg if i == 0 else leg[1:] for i, leg in enumerate(legs)])
    digits = _decode(model, z, int(bundle.test.lengths.max()), bundle, relative)
    names = [f"{labels[p]}" for p in picks]
    titles = [""] * len(digits)
    for k, name in enumerate(names):
        titles[k * (INTERPOLATION_STEPS - 1)] = name
    return digits, titles


# --------------------------------------------------------------------------- experiment


@dataclass
class _JudgeData:
    """The judge's inputs, rendered once: training and test digits as images with their labels."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    canvas: Canvas  # the training digits' box and y direction: every drawing is rendered the right way up

    @classmethod
    def render(cls, bundle: DataBundle) -> _JudgeData:
        train, y_train = _digits(bundle, "train")
        test, y_test = _digits(bundle, "test")
        canvas = Canvas.of(train)
        return cls(render_batch(train, canvas=canvas), y_train, render_batch(test, canvas=canvas), y_test, canvas)

    def images(self, digits: list[np.ndarray]) -> np.ndarray:
        """Drawings in data units as the judge's images (each scaled to MNIST's 20-pixel box in 28)."""
        return render_batch(digits, canvas=self.canvas)


def _judge(
    model: VAE, bundle: DataBundle, data: _JudgeData, seed: int, relative: bool
) -> tuple[dict[str, Any], Any, list[np.ndarray]]:
    """Classifier accuracies on originals, reconstructions and neighbourhood samples of the test digits."""
    classifier = fit_classifier(data.train_images, data.train_labels, seed)
    pairs = sequence_reconstructions(model, bundle.test, bundle.normalizer)
    recons = [drawable_digit(r, relative) for r, _ in pairs]
    near = _neighbours(model, bundle, "test", np.arange(len(recons)), 1, seed, relative)
    y_test = data.test_labels
    scores = {
        "originals": accuracy(classifier, data.test_images, y_test),
        "reconstructions": accuracy(classifier, data.images(recons), y_test),
        "neighbourhood": accuracy(classifier, data.images([n[0] for n in near]), y_test),
        "near_radius": NEAR_RADIUS,
        "test_digits": len(recons),
    }
    scores["reconstruction_ratio"] = scores["reconstructions"] / max(scores["originals"], 1e-12)
    scores["neighbourhood_ratio"] = scores["neighbourhood"] / max(scores["originals"], 1e-12)
    return scores, classifier, recons


def _augmentation(model: VAE, bundle: DataBundle, data: _JudgeData, seed: int, relative: bool) -> dict[str, Any]:
    """The few-label study on every class with at least ``PER_CLASS`` training digits (any number of classes;
    rarer classes are left out of training and test, and named); if fewer than two classes have that many,
    all classes with as many labelled digits as the rarest has."""
    classes, counts = np.unique(data.train_labels, return_counts=True)
    kept = classes[counts >= PER_CLASS]
    per_class = PER_CLASS
    if len(kept) < 2:
        kept, per_class = classes, max(1, int(counts.min()))
    train = np.flatnonzero(np.isin(data.train_labels, kept))
    test = np.flatnonzero(np.isin(data.test_labels, kept))

    def augment(indices: np.ndarray, run: int) -> tuple[np.ndarray, np.ndarray]:
        chosen = train[indices]  # positions in the training split
        samples = _neighbours(model, bundle, "train", chosen, AUGMENT_PER_DIGIT, seed * 1000 + run, relative)
        flat = [d for group in samples for d in group]
        return data.images(flat), np.repeat(data.train_labels[chosen], AUGMENT_PER_DIGIT)

    study = augmentation_study(
        data.train_images[train], data.train_labels[train], data.test_images[test], data.test_labels[test],
        augment, per_class, SEEDS,
    )  # fmt: skip
    study["samples_per_digit"] = AUGMENT_PER_DIGIT
    study["classes"] = [c.item() for c in kept]
    study["classes_left_out"] = [c.item() for c in classes if c not in set(kept.tolist())]
    study["test_digits"] = len(test)
    return study


def _figures(
    out: Path, model: VAE, bundle: DataBundle, recons: list, near_seed: int, relative: bool, tag: str,
    canvas: Canvas, unit: str = "",
) -> list[str]:  # fmt: skip
    """The figures, every panel showing the data's whole ``canvas`` the right way up; originals in absolute form."""
    test, y_test = _digits(bundle, "test", relative)

    def grid(rows: list, *args: Any) -> Any:
        return strokes_figures.plot_stroke_grid(rows, *args, box=canvas.limits(), y_up=canvas.y_up, unit=unit)

    names = []
    picks = _first_of_each(y_test)
    if recons:
        rows = [[test[i] for i in picks], [recons[i] for i in picks]]
        fig = grid(rows, ["original", "reconstruction"], [f"{y_test[i]}" for i in picks],
                   f"{tag}: test digits and their reconstructions")  # fmt: skip
        plots.save_figure(fig, out / "reconstructions.png")
        names.append("reconstructions.png")
    near = _neighbours(model, bundle, "test", np.array(picks), NEIGHBOURS_SHOWN, near_seed, relative)
    rows = [[test[i], *group] for i, group in zip(picks, near)]
    row_titles = [f"{y_test[i]}" for i in picks]  # class names as the data give them
    fig = grid(rows, row_titles, ["original", *[f"sample {k + 1}" for k in range(NEIGHBOURS_SHOWN)]],
               f"{tag}: neighbourhood samples (|Δz| ≤ {NEAR_RADIUS:g}) of one test digit per class")  # fmt: skip
    plots.save_figure(fig, out / "neighbourhood.png")
    names.append("neighbourhood.png")
    digits, titles = _interpolation(model, bundle, y_test, relative)
    fig = grid([digits], ["decoded"], titles, f"{tag}: latent interpolation between test digits")
    plots.save_figure(fig, out / "interpolation.png")
    names.append("interpolation.png")
    gen = torch.Generator().manual_seed(near_seed)
    torch.manual_seed(near_seed)
    z = torch.randn((32, model.latent_dim), generator=gen)
    samples = _decode(model, z, int(bundle.test.lengths.max()), bundle, relative)
    fig = grid([samples[i : i + 8] for i in range(0, 32, 8)], None, None, f"{tag}: samples from the prior")
    plots.save_figure(fig, out / "prior_samples.png")
    names.append("prior_samples.png")
    save_learning_curves(out, f"{tag}: learning curves")
    names.append("learning_curves.png")
    return names


@register_experiment(
    NAME,
    "Source 001: sequence VAE on pen-stroke digits; judge-classifier accuracy of reconstructions, neighbourhood "
    "samples and augmentation; stacked-LSTM vs mixture-density likelihood",
    reads_data=True,
)
def run_strokes(
    out_dir: Path,
    seed: int = 0,
    overrides: list[str] | None = None,
    preset: str | None = None,
    progress: bool = True,
    data: str | Path | None = None,
) -> dict[str, Any]:
    start = time.perf_counter()
    out = Path(out_dir)
    user = [*data_overrides(data), *(overrides or [])]
    cfg = experiment_config(NAME, seed, _stacked_overrides(user), preset, progress)
    result = fit(cfg, out)
    if not result.is_main_process:
        return {}
    model, bundle = result.model, result.bundle
    judge_data = _JudgeData.render(bundle)
    judge, classifier, recons = _judge(model, bundle, judge_data, seed, relative=False)
    augment = _augmentation(model, bundle, judge_data, seed, relative=False)
    density = test_metrics(model, bundle.test, cfg, bundle.normalizer)
    unit = "px" if cfg.data.kind == "handwritten-digits" else ""  # other data: units as the files have them
    figures = _figures(out, model, bundle, recons, seed, False, "stacked-LSTM VAE", judge_data.canvas, unit)

    mdn_dir = out / "mdn"
    mdn_cfg = experiment_config(MDN, seed, _mdn_overrides(user), preset, progress)
    mdn = fit(mdn_cfg, mdn_dir)
    mdn_density = test_metrics(mdn.model, mdn.bundle.test, mdn_cfg, mdn.bundle.normalizer)
    mdn_near = _neighbours(mdn.model, mdn.bundle, "test", np.arange(len(mdn.bundle.test)), 1, seed, True)
    classifier_near = accuracy(classifier, judge_data.images([n[0] for n in mdn_near]), judge_data.test_labels)
    mdn_figures = _figures(mdn_dir, mdn.model, mdn.bundle, [], seed, True, "mixture-density VAE", judge_data.canvas, unit)

    claims = {
        "reconstructions_recognisable": judge["reconstruction_ratio"] >= RECON_RATIO_MIN,
        "neighbourhood_recognisable": judge["neighbourhood_ratio"] >= NEAR_RATIO_MIN,
        "augmentation_helps": augment["gain_mean"] > 0,
        "mdn_likelier": mdn_density["log_likelihood"] > density["log_likelihood"],
        "mdn_neighbourhood_recognisable": classifier_near >= MDN_NEAR_RATIO_MIN * judge["originals"],
    }
    summary = {
        "accuracy_originals": judge["originals"],
        "accuracy_reconstructions": judge["reconstructions"],
        "accuracy_neighbourhood": judge["neighbourhood"],
        "augmentation_baseline": augment["baseline_mean"],
        "augmentation_with_vae": augment["augmented_mean"],
        "augmentation_gain": augment["gain_mean"],
        "augmentation_gain_std": augment["gain_std"],
        "log_likelihood_stacked": density["log_likelihood"],
        "log_likelihood_mdn": mdn_density["log_likelihood"],
        "wall_seconds": time.perf_counter() - start,
    }
    metrics = {
        **header(NAME, seed, preset, cfg),
        "summary": summary,
        "claims": claims,
        "data": {"digits": len(bundle.raw), "splits": {k: len(v) for k, v in bundle.splits.items()},
                 "classes": [c.item() for c in np.unique(bundle.labels["digit"])],
                 "canvas": {"x": list(judge_data.canvas.x), "y": list(judge_data.canvas.y), "y_up": judge_data.canvas.y_up}},
        "train": train_summary(result.summary),
        "judge": judge,
        "augmentation": augment,
        "test": density,
        "mdn": {"train": train_summary(mdn.summary), "test": mdn_density, "accuracy_neighbourhood": classifier_near,
                "neighbourhood_ratio": classifier_near / max(judge["originals"], 1e-12),
                "figures": [f"mdn/{f}" for f in mdn_figures]},
        "figures": figures,
        "wall_seconds": summary["wall_seconds"],
    }
    return write_metrics(out, metrics)

