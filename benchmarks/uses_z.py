"""Do the recurrent stroke models use z? Interpolant spread, shape probe, reconstruction, shuffle usage.

Data: ``curve_classes`` — many classes of random smooth 2-D pen strokes (each class a random cubic
spline through a few control points; each example that curve slightly rotated, scaled, shifted and
wobbled, at its own length), a stand-in for single handwritten strokes. One model is trained from a
shipped config (``--config``, default ``strokes``: the stacked-LSTM VAE) with ``--set`` overrides, then on
the test split:

* ``interpolant_spread``: 8 decodings along the line between the posterior means of two test strokes of
  different classes; the largest RMS distance between any two of them, divided by the data's spread
  (0 = every interpolant identical: the decoder ignores z);
* ``probe_accuracy``: 5-fold logistic regression of the class from the latent means (chance 1/classes);
* ``recon_rmse`` (data units, decoded posterior mean), and PCA-K's on the same split for scale;
* ``used_units`` / ``nll_increase_per_dim``: the shuffle diagnostic of :mod:`seqvae.analysis.usage`,
  next to ``active_units``.

Usage (one thread; a run takes a few minutes)::

    python benchmarks/uses_z.py --set train.max_epochs=30 --json OUT.json
    python benchmarks/uses_z.py --config vrae-sinusoids --data hanzi-strokes.npz --set model.latent_dim=8
    python benchmarks/uses_z.py --mdn --set model.input_dropout=1.0   # stroke-mdn on the built-in digits

``--mdn`` trains the strokes experiment's mixture-density model (``strokes-mdn`` config, overrides as for
that model) and judges its neighbourhood samples at temperatures 0.5, 0.2, 0.1 with the experiment's judge
(``accuracy_originals``, ``near_<τ>``), with its importance-sampled test log-likelihood (64 samples).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.interpolate import CubicSpline
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from seqvae.analysis.latent import latent_means, pca_sequence_baseline, sequence_reconstruction_rmse
from seqvae.analysis.usage import latent_usage
from seqvae.data.prepare import bundle_sequences
from seqvae.data.readers import SequenceTable
from seqvae.data.sources import load_data
from seqvae.runconfig import load_run_config
from seqvae.training import fit


def curve_classes(
    n: int = 1200, classes: int = 30, lengths: tuple[int, int] = (20, 50), seed: int = 0, scale: float = 100.0
) -> tuple[list[np.ndarray], np.ndarray]:
    """``n`` strokes ``(T_i, 2)`` (x, y in units of ``scale``) from ``classes`` random smooth curve classes."""
    rng = np.random.default_rng(seed)
    ctrl = rng.uniform(-0.5, 0.5, size=(classes, 5, 2))
    labels = rng.integers(0, classes, size=n)
    out = []
    for c in labels:
        pts = ctrl[c] + rng.normal(0, 0.03, size=ctrl[c].shape)  # wobble
        angle = rng.normal(0, 0.1)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        pts = (pts @ rot.T) * rng.uniform(0.9, 1.1, size=2) + rng.normal(0, 0.05, size=2)
        spline = CubicSpline(np.linspace(0, 1, len(pts)), pts)
        t = int(rng.integers(lengths[0], lengths[1] + 1))
        xy = spline(np.linspace(0, 1, t)) + rng.normal(0, 0.005, size=(t, 2))
        out.append((scale * (xy + 0.5)).astype(np.float32))
    return out, labels


def curve_bundle(cfg, n: int, classes: int, seed: int):
    seqs, labels = curve_classes(n, classes, seed=seed)
    table = SequenceTable(sequences=seqs, ids=[str(i) for i in range(n)], feature_names=["x", "y"],
                          labels={"shape": labels}, source="curve_classes")
    return bundle_sequences(table, cfg.data, cfg.seed)


def _label(dataset) -> str:
    return "shape" if "shape" in dataset.labels else sorted(dataset.labels)[0]


@torch.no_grad()
def interpolant_spread(model, bundle, steps: int = 8) -> float:
    """Largest RMS distance between decoded interpolants of two test strokes of different classes / data std."""
    test = bundle.test
    labels = test.labels[_label(test)]
    j = int(np.flatnonzero(labels != labels[0])[0])
    mu = torch.as_tensor(latent_means(model, type(test)(test.__getitems__([0, j]).unpad())))
    alphas = torch.linspace(0, 1, steps, dtype=mu.dtype)[:, None]
    z = (1 - alphas) * mu[0] + alphas * mu[1]
    length = int(test.lengths.max())
    values, _ = model.generate(z, length)
    arr = values.numpy()
    if bundle.normalizer is not None:
        arr = bundle.normalizer.inverse(arr)
    flat = arr.reshape(steps, -1)
    dist = np.sqrt(((flat[:, None] - flat[None]) ** 2).mean(-1))
    spread = float(np.concatenate(bundle.raw).std(0).mean())
    return float(dist.max() / spread)


def probe(latents: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float(cross_val_score(clf, latents, labels, cv=5).mean())


def mdn_main(overrides: list[str], seed: int = 0) -> dict:
    """Train the strokes experiment's mixture-density model and judge its neighbourhood samples."""
    from seqvae.analysis.classifier import accuracy, fit_classifier
    from seqvae.domains.strokes import experiment as experiment
    from seqvae.experiments.common import experiment_config, test_metrics

    cfg = experiment_config(experiment.MDN, seed, overrides, None, False)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = fit(cfg, tmp)
    wall = time.perf_counter() - start
    model, bundle = result.model, result.bundle
    data = [o for o in overrides if o.startswith("data.params")]
    judged = experiment_config(experiment.NAME, seed, data, None, False)  # the same digits in absolute form
    judge_data = experiment._JudgeData.render(load_data(judged.data, seed, sequences=True))
    classifier = fit_classifier(judge_data.train_images, judge_data.train_labels, seed)
    row = {"overrides": overrides, "accuracy_originals": accuracy(classifier, judge_data.test_images, judge_data.test_labels)}
    for tau in (0.5, 0.2, 0.1):
        model.config.generation_temperature = tau
        near = experiment._neighbours(model, bundle, "test", np.arange(len(bundle.test)), 1, seed, True)
        row[f"near_{tau}"] = accuracy(classifier, judge_data.images([n[0] for n in near]), judge_data.test_labels)
    row.update(
        kl_per_dim=[round(v, 2) for v in result.summary["kl_per_dim"]],
        used_units=result.summary.get("used_units"),
        log_likelihood=test_metrics(model, bundle.test, cfg, bundle.normalizer)["log_likelihood"],
        wall_seconds=wall,
    )
    return row


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="strokes")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--n", type=int, default=1200)
    parser.add_argument("--classes", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, help="a sequence file with one label (e.g. the hanzi strokes of real_data.py) instead of curve_classes")
    parser.add_argument("--mdn", action="store_true", help="the strokes experiment's mixture-density model")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.mdn:
        row = mdn_main(args.overrides, args.seed)
        print(json.dumps(row))
        if args.json:
            args.json.write_text(json.dumps(row, indent=1))
        return row
    base = ["data.sequence.unscaled=[]", "data.normalize=true", "train.progress_bar=false", f"seed={args.seed}"]
    if args.config == "strokes":
        base.append("model.likelihood.bernoulli_features=[]")
    if args.data is not None:
        base += ["data.kind=file", f"data.path={json.dumps(str(args.data))}", "data.params={}"]
    cfg = load_run_config(args.config, [*base, *args.overrides])
    if args.data is not None:
        bundle = load_data(cfg.data, cfg.seed, sequences=True)
    else:
        bundle = curve_bundle(cfg, args.n, args.classes, args.seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = fit(cfg, tmp, bundle=bundle)
    wall = time.perf_counter() - start
    model = result.model
    k = model.latent_dim
    test_mu = latent_means(model, bundle.test)
    all_mu = np.concatenate([test_mu, latent_means(model, bundle.val)])
    all_labels = np.concatenate([bundle.test.labels[_label(bundle.test)], bundle.val.labels[_label(bundle.val)]])
    usage = latent_usage(model, bundle.test)
    pca = pca_sequence_baseline(bundle.train, bundle.test, k, bundle.normalizer)
    row = {
        "config": args.config,
        "overrides": args.overrides,
        "latent_dim": k,
        "epochs": result.summary["epochs"],
        "active_units": result.summary["active_units"],
        "used_units": usage["used_units"],
        "nll_increase_per_dim": [round(v, 2) for v in usage["nll_increase_per_dim"]],
        "nll_increase_all": usage["nll_increase_all"],
        "kl_per_dim": [round(v, 2) for v in result.summary["kl_per_dim"]],
        "interpolant_spread": interpolant_spread(model, bundle),
        "probe_accuracy": probe(all_mu, all_labels),
        "recon_rmse": sequence_reconstruction_rmse(model, bundle.test, bundle.normalizer)["rmse"],
        "pca_recon_rmse": pca.get("rmse") if isinstance(pca, dict) else None,
        "wall_seconds": wall,
    }
    print(json.dumps(row))
    if args.json:
        args.json.write_text(json.dumps(row, indent=1))
    return row


if __name__ == "__main__":
    main(sys.argv[1:])
