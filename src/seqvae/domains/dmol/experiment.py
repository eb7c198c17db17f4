"""The dmol.pub VAE chapter's experiments (White, *Deep Learning for Molecules & Materials*, ch. 6).

* ``dmol-categorical`` (§6.3–6.4): a VAE on 32-class one-hot data; does sampling z ~ N(0, 1) and
  decoding reproduce the class histogram? Metric: total variation distance (accept TV <= 0.15).
* ``dmol-beta`` (§6.5): the same model trained with β = 0.2 and β = 1; a small β trades KL for
  reconstruction. Accept: β = 0.2 has lower test reconstruction loss and higher KL than β = 1.
* ``dmol-regression`` (§6.6): a VAE with a fixed-std (0.1) Gaussian decoder on the chapter's 1-D
  bimodal data. Metric: 1-D Wasserstein distance of generated samples (z ~ p(z), x ~ p(x|z)) to the
  training data, against that of a single Gaussian fitted to the data (accept VAE < Gaussian).
  With ``data.kind=gaussian-mixture`` (and e.g. ``data.params.dim=2``) the distances are reported
  per dimension (marginal W1) and as a sliced W1.

Each experiment loads its shipped config (``src/seqvae/domains/dmol/NAME.yaml``; ``preset='paper'``
selects the chapter's exact training settings), trains with :func:`seqvae.training.fit`,
evaluates ELBO / IWAE / importance-sampled log p(x) on the test split and writes ``metrics.json``
(deterministic values only: the same seed gives the same file on CPU) and PNG figures.
All sampling in the analysis uses generators seeded from the run seed.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqvae import plots
from seqvae.analysis.metrics import (
    class_histogram,
    gaussian_baseline,
    marginal_wasserstein,
    sliced_wasserstein,
    total_variation,
)
from seqvae.config import RunConfig
from seqvae.data.arrays import ArrayDataset
from seqvae.data.prepare import DataBundle
from seqvae.data.sources import load_data
from seqvae.domains.dmol import figures as dmol_figures
from seqvae.errors import ConfigError
from seqvae.experiments import register_experiment
from seqvae.experiments.common import (
    experiment_config,
    header,
    prior_z,
    save_learning_curves,
    test_metrics,
    train_summary,
    write_metrics,
)
from seqvae.models.base import VAE, parse_model_config
from seqvae.training import PosteriorCollapseWarning, fit

PRIOR_SAMPLES = 4096  # z ~ N(0, I) draws used to estimate the model's P(x)
TV_MAX = 0.15  # dmol-categorical acceptance threshold
BETAS = (0.2, 1.0)  # dmol-beta: the chapter's β and the plain ELBO
RECON_EXAMPLES = 3  # dmol-categorical reconstruction figure
SLICED_PROJECTIONS = 64
CATEGORICAL = ("categorical",)  # decoder likelihoods each analysis can handle
GAUSSIAN = ("gaussian", "gaussian-learned")


# --------------------------------------------------------------------------- shared helpers


def _config(
    name: str,
    seed: int,
    overrides: list[str],
    preset: str | None,
    progress: bool,
    likelihoods: tuple[str, ...],
    extra: tuple[str, ...] = (),
) -> RunConfig:
    """The shipped config ``name`` with the user's overrides, then the experiment's own, seed and progress.

    Refuses, before any training, a model whose decoder likelihood the experiment cannot analyse.
    """
    cfg = experiment_config(name, seed, overrides, preset, progress, extra)
    kind = getattr(getattr(parse_model_config(cfg.model), "likelihood", None), "kind", None)
    if kind not in likelihoods:
        raise ConfigError(f"{name} needs model.likelihood.kind={' or '.join(likelihoods)}, got {kind}")
    return cfg


def _test_metrics(model: VAE, bundle: DataBundle, cfg: RunConfig) -> dict[str, Any]:
    """ELBO terms, IWAE bound and IS log-likelihood on the test split (nats per example, data units)."""
    return test_metrics(model, bundle.test, cfg, bundle.normalizer)


@torch.no_grad()
def _encoder_stats(model: VAE, dataset: ArrayDataset) -> dict[str, float]:
    """Average posterior mean and standard deviation over ``dataset`` (what the chapter prints)."""
    q = model.encode(dataset.batch())
    return {"mu_mean": float(q.mean.mean()), "std_mean": float(q.stddev.mean())}


# --------------------------------------------------------------------------- categorical


@torch.no_grad()
def categorical_analysis(model: VAE, bundle: DataBundle, seed: int, n: int = PRIOR_SAMPLES) -> dict[str, Any]:
    """How well decoding z ~ N(0, 1) reproduces the training split's class histogram.

    ``tv`` compares the data histogram with the decoded class probabilities averaged over ``n``
    prior draws (the model's P(x), as the chapter's figure sums them); ``tv_sampled`` with the
    histogram of one class drawn from each decoded distribution.
    """
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    probs = model.point(model.decode(prior_z(model, n, gen))).cpu()
    classes = probs.shape[1]
    sampled = torch.multinomial(probs, 1, generator=gen)[:, 0].numpy()
    data_hist = class_histogram(bundle.train.values.numpy())
    model_probs = class_histogram(probs.numpy(), normalize=True)
    sampled_hist = class_histogram(sampled, classes=classes)
    return {
        "tv": total_variation(data_hist, model_probs),
        "tv_sampled": total_variation(data_hist, sampled_hist),
        "prior_samples": n,
        "classes": classes,
        "data_hist": data_hist,
        "model_probs": model_probs,
        "sampled_hist": sampled_hist,
    }


@register_experiment(
    "dmol-categorical",
    "dmol.pub §6.3-6.4: VAE on 32-class one-hot data; TV distance of prior samples to the data histogram",
)
def run_categorical(
    out_dir: Path, seed: int = 0, overrides: list[str] | None = None, preset: str | None = None, progress: bool = True
) -> dict[str, Any]:
    out = Path(out_dir)
    cfg = _config("dmol-categorical", seed, list(overrides or []), preset, progress, CATEGORICAL)
    result = fit(cfg, out)
    if not result.is_main_process:  # an extra DDP process: the main one analyses and writes
        return {}
    model, bundle = result.model, result.bundle
    cat = categorical_analysis(model, bundle, seed)

    plots.save_figure(
        plots.plot_class_histograms(
            cat["data_hist"], cat["model_probs"], title=f"dmol-categorical: classes (TV = {cat['tv']:.3f})"
        ),
        out / "class_histograms.png",
    )
    save_learning_curves(out, "dmol-categorical: learning curves")
    batch = bundle.test.__getitems__(list(range(min(RECON_EXAMPLES, len(bundle.test)))))
    plots.save_figure(
        plots.plot_class_reconstructions(
            model.reconstruct(batch).cpu().numpy(),
            batch.values.argmax(-1).tolist(),
            prior_probs=cat["model_probs"],
        ),
        out / "reconstructions.png",
    )
    metrics = {
        **header("dmol-categorical", seed, preset, cfg),
        "train": train_summary(result.summary),
        "test": _test_metrics(model, bundle, cfg),
        "encoder": _encoder_stats(model, bundle.test),
        "tv": cat["tv"],
        "tv_sampled": cat["tv_sampled"],
        "prior_samples": cat["prior_samples"],
        "histograms": {
            "data_counts": cat["data_hist"],
            "model_probs": cat["model_probs"],
            "sampled_counts": cat["sampled_hist"],
        },
        "acceptance": {"tv_max": TV_MAX, "criterion": "tv <= tv_max"},
        "passed": bool(cat["tv"] <= TV_MAX),
        "figures": ["class_histograms.png", "learning_curves.png", "reconstructions.png"],
    }
    return write_metrics(out, metrics)


# --------------------------------------------------------------------------- beta


def _beta_dir(beta: float) -> str:
    return f"beta-{beta:g}"


@register_experiment(
    "dmol-beta",
    "dmol.pub §6.5: the categorical VAE with beta=0.2 vs beta=1; reconstruction loss and KL per beta",
)
def run_beta(
    out_dir: Path, seed: int = 0, overrides: list[str] | None = None, preset: str | None = None, progress: bool = True
) -> dict[str, Any]:
    out = Path(out_dir)
    runs: dict[str, dict[str, Any]] = {}
    bundle: DataBundle | None = None
    cfg: RunConfig | None = None
    for beta in BETAS:
        beta_set = (f"objective.beta={beta}",)
        cfg = _config("dmol-beta", seed, list(overrides or []), preset, progress, CATEGORICAL, beta_set)
        if bundle is None:
            bundle = load_data(cfg.data, cfg.seed)  # one split shared by every β
        sub = out / _beta_dir(beta)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = fit(cfg, sub, bundle=bundle)
        # the chapter's point: at beta = 1 the KL term may switch the latent off. That is a result of this
        # experiment (runs[...]["posterior_collapse"]), not a warning; any other warning is passed on
        for w in caught:
            if issubclass(w.category, PosteriorCollapseWarning) and beta == max(BETAS):
                continue
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if not result.is_main_process:  # an extra DDP process: keep joining the fits, analyse nothing
            continue
        model = result.model
        test = _test_metrics(model, bundle, cfg)
        cat = categorical_analysis(model, bundle, seed)
        save_learning_curves(sub, f"dmol-beta: learning curves, β = {beta:g}")
        runs[f"{beta:g}"] = {
            "beta": beta,
            "dir": _beta_dir(beta),
            "train": train_summary(result.summary),
            "test": test,
            "recon": test["recon_loss"],
            "kl": test["kl"],
            "encoder": _encoder_stats(model, bundle.test),
            "tv": cat["tv"],
            "tv_sampled": cat["tv_sampled"],
            "model_probs": cat["model_probs"],
            "posterior_collapse": result.summary.get("active_units") == 0,  # no active latent unit
        }
    if not runs:
        return {}
    assert cfg is not None and bundle is not None
    low, high = runs[f"{min(BETAS):g}"], runs[f"{max(BETAS):g}"]
    data_hist = class_histogram(bundle.train.values.numpy())
    plots.save_figure(
        dmol_figures.plot_beta_comparison(
            [{**r, "model_hist": r["model_probs"]} for r in runs.values()],
            data_hist=data_hist,
            title="dmol-beta: test reconstruction loss and KL per β",
        ),
        out / "beta_comparison.png",
    )
    recon_lower = low["recon"] < high["recon"]
    kl_higher = low["kl"] > high["kl"]
    metrics = {
        **header("dmol-beta", seed, preset, cfg),
        "betas": list(BETAS),
        "runs": runs,
        "data_counts": data_hist,
        "acceptance": {
            "criterion": f"beta={min(BETAS):g} has lower test recon loss and higher test KL than beta={max(BETAS):g}",
            "recon_lower": recon_lower,
            "kl_higher": kl_higher,
        },
        "passed": bool(recon_lower and kl_higher),
        "figures": ["beta_comparison.png", *(f"{_beta_dir(b)}/learning_curves.png" for b in BETAS)],
    }
    metrics["config"]["objective"]["beta"] = list(BETAS)  # one run per β: see runs[*]
    return write_metrics(out, metrics)


# --------------------------------------------------------------------------- regression


@torch.no_grad()
def generate_samples(model: VAE, n: int, generator: torch.Generator) -> torch.Tensor:
    """x ~ p(x|z), z ~ p(z) for a Gaussian decoder, drawn with ``generator`` (samples, not means)."""
    px = model.decode(prior_z(model, n, generator))
    mean, std = px.mean, px.stddev
    noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype).to(mean.device)
    return (mean + std * noise).cpu()


def _to_data_units(values: np.ndarray, bundle: DataBundle) -> np.ndarray:
    return bundle.normalizer.inverse(values) if bundle.normalizer is not None else values


@torch.no_grad()
def regression_analysis(model: VAE, bundle: DataBundle, seed: int, n: int = PRIOR_SAMPLES) -> dict[str, Any]:
    """Wasserstein distances (data units) of VAE samples and of a single fitted Gaussian to the training data."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    train = bundle.raw[bundle.splits["train"]].astype(np.float64)
    vae = _to_data_units(generate_samples(model, n, gen).numpy().astype(np.float64), bundle)
    gauss, fitted = gaussian_baseline(train, n, seed)
    w_vae = marginal_wasserstein(vae, train)
    w_gauss = marginal_wasserstein(gauss, train)
    test_x = _to_data_units(bundle.test.values.numpy().astype(np.float64), bundle)
    test_mu = _to_data_units(model.reconstruct(bundle.test.batch()).cpu().numpy().astype(np.float64), bundle)
    return {
        "w1_vae": float(w_vae.mean()),
        "w1_gaussian": float(w_gauss.mean()),
        "w1_vae_per_dim": w_vae,
        "w1_gaussian_per_dim": w_gauss,
        "sliced_w1_vae": sliced_wasserstein(vae, train, SLICED_PROJECTIONS, seed),
        "sliced_w1_gaussian": sliced_wasserstein(gauss, train, SLICED_PROJECTIONS, seed),
        "recon_rmse": float(np.sqrt(np.mean((test_x - test_mu) ** 2))),
        "generated_samples": n,
        "gaussian_fit": {"mean": fitted["mean"], "std": np.sqrt(np.diag(fitted["cov"]))},
        # arrays for figures (not written to metrics.json)
        "_train": train,
        "_vae": vae,
        "_gauss": gauss,
        "_test_x": test_x,
        "_test_mu": test_mu,
    }


@register_experiment(
    "dmol-regression",
    "dmol.pub §6.6: Gaussian-decoder VAE on 1-D bimodal data; Wasserstein distance vs a single Gaussian",
)
def run_regression(
    out_dir: Path, seed: int = 0, overrides: list[str] | None = None, preset: str | None = None, progress: bool = True
) -> dict[str, Any]:
    out = Path(out_dir)
    cfg = _config("dmol-regression", seed, list(overrides or []), preset, progress, GAUSSIAN)
    result = fit(cfg, out)
    if not result.is_main_process:  # an extra DDP process: the main one analyses and writes
        return {}
    model, bundle = result.model, result.bundle
    reg = regression_analysis(model, bundle, seed)

    plots.save_figure(
        plots.plot_value_histograms(
            reg["_train"],
            {"VAE samples x ~ p(x|z), z ~ N(0, I)": reg["_vae"], "single Gaussian fit": reg["_gauss"]},
            title=f"dmol-regression: W1 VAE = {reg['w1_vae']:.3f}, single Gaussian = {reg['w1_gaussian']:.3f}",
        ),
        out / "value_histograms.png",
    )
    plots.save_figure(
        plots.plot_reconstruction_scatter(
            reg["_test_x"], reg["_test_mu"], title="dmol-regression: decoded mean μ vs x (test split)"
        ),
        out / "reconstruction_scatter.png",
    )
    save_learning_curves(out, "dmol-regression: learning curves")
    passed = reg["w1_vae"] < reg["w1_gaussian"]
    metrics = {
        **header("dmol-regression", seed, preset, cfg),
        "train": train_summary(result.summary),
        "test": _test_metrics(model, bundle, cfg),
        "encoder": _encoder_stats(model, bundle.test),
        **{k: v for k, v in reg.items() if not k.startswith("_")},
        "dims": int(bundle.features),
        "acceptance": {"criterion": "w1_vae < w1_gaussian (mean marginal W1 to the training data)"},
        "passed": bool(passed),
        "figures": ["value_histograms.png", "reconstruction_scatter.png", "learning_curves.png"],
    }
    return write_metrics(out, metrics)
