"""Source 000: a VRAE with a 2-D latent on three-point shots, measured instead of eyeballed.

``seqvae experiment basketball`` simulates shots (:mod:`seqvae.domains.basketball.data`; or reads real data with
``--data``), trains the VRAE of ``basketball.yaml`` (next to this module) and then, on the validation split as the
source does:

* probes the latent means for every shot label: out-of-fold k-NN and linear R² for the start x / y,
  the distance and the release parameters, and logistic / k-NN ROC AUC for made-or-missed;
* measures the reconstruction RMSE in metres against PCA with as many components as the latent has
  (on the same normalised frames; ``pad`` keeps real time, ``resample`` stretches every shot to one
  length, which the VRAE does not get), whose scores are probed the same way;
* evaluates ELBO / IWAE / log-likelihood on the test split (nats per shot, data units);
* draws the latent means coloured by start x, start y, made/missed and distance, originals against
  reconstructions on the court, and trajectories decoded along a latent grid.

``metrics.json`` holds every number and a ``summary`` of the headline ones; ``claims`` records the
source's claims as checked here (start position readable from the latent, made/missed not clustered).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqvae import plots
from seqvae.analysis.latent import (
    latent_means,
    pca_sequence_baseline,
    probe_labels,
    reconstruction_rmse,
    sequence_reconstructions,
)
from seqvae.config import RunConfig
from seqvae.data.prepare import DataBundle
from seqvae.data.sequences import SequenceDataset
from seqvae.domains.basketball import figures as basketball_figures
from seqvae.errors import ConfigError, DataError
from seqvae.experiments import register_experiment
from seqvae.experiments.common import (
    experiment_config,
    header,
    save_learning_curves,
    test_metrics,
    train_summary,
    write_metrics,
)
from seqvae.io import save_npz_atomic
from seqvae.models.base import VAE
from seqvae.training import fit

NAME = "basketball"
POSITION_R2_MIN = 0.9  # the source's claim, made measurable: start x and y readable from the 2-D latent
CHANCE_AUC_MAX = 0.65  # made/missed "shows no clustering"
RECON_EXAMPLES = 6
GRID_SIDE = 5
GRID_PERCENTILES = (3.0, 97.0)
SCATTERS = (  # label, its name in the figure, unit, categories, file
    ("start_x", "start x", "m", None, "latent_start_x.png"),
    ("start_y", "start y", "m", None, "latent_start_y.png"),
    ("made", "shot result", None, ("missed", "made"), "latent_made.png"),
    ("distance", "shot distance", "m", None, "latent_distance.png"),
)
MOMENTS_NAMES = ("moments.csv", "moments.parquet")


# --------------------------------------------------------------------------- data


def data_overrides(data: str | Path | None) -> list[str]:
    """Config overrides that read ``data`` instead of simulating shots.

    A directory with ``events.csv`` and one moments file (``moments.csv``, ``moments.parquet`` or a game
    ``.json``) is SportVU tracking data; anything else is a sequence file in the shot frame (metres) for
    :func:`seqvae.data.readers.read_sequences`.
    """
    if data is None:
        return []
    path = Path(data)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if path.is_dir() and (path / "events.csv").is_file():
        moments = [path / n for n in MOMENTS_NAMES if (path / n).is_file()] + sorted(path.glob("*.json"))
        if len(moments) != 1:
            found = ", ".join(m.name for m in moments) or "none"
            raise DataError(
                f"{path}: a SportVU directory needs events.csv and exactly one moments file "
                f"({', '.join(MOMENTS_NAMES)} or a game .json); found {found}"
            )
        return [
            "data.kind=sportvu",
            "data.params={}",
            f"data.params.moments={json.dumps(str(moments[0]))}",
            f"data.params.events={json.dumps(str(path / 'events.csv'))}",
        ]
    return ["data.kind=file", "data.params={}", f"data.path={json.dumps(str(path))}"]


def shot_labels(bundle: DataBundle, split: str) -> dict[str, np.ndarray]:
    """The labels of ``split``; start x / y and distance are taken from the first frame when the data lack them."""
    dataset: SequenceDataset = getattr(bundle, split)
    labels = {k: v.numpy() for k, v in dataset.labels.items()}
    if not {"start_x", "start_y", "distance"} <= set(labels):
        start = np.stack([bundle.raw[i][0] for i in bundle.splits[split]]).astype(np.float64)
        labels.setdefault("start_x", start[:, 0])
        labels.setdefault("start_y", start[:, 1])
        labels.setdefault("distance", np.hypot(start[:, 0], start[:, 1]))
    return labels


def _data_summary(bundle: DataBundle, cfg: RunConfig) -> dict[str, Any]:
    lengths = np.array([len(s) for s in bundle.raw])
    out: dict[str, Any] = {
        "source": cfg.data.kind if cfg.data.kind != "file" else cfg.data.path,
        "shots": len(bundle.raw),
        "splits": {k: len(v) for k, v in bundle.splits.items()},
        "frames_min": int(lengths.min()),
        "frames_median": float(np.median(lengths)),
        "frames_max": int(lengths.max()),
    }
    if "made" in bundle.labels:
        out["make_rate"] = float(np.mean(bundle.labels["made"]))
    return out


# --------------------------------------------------------------------------- analysis


def _grid(means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A GRID_SIDE x GRID_SIDE grid spanning the central percentiles of the means in their 2-D plane,
    returned as latent vectors (other directions at the means' centre) and as plane coordinates."""
    centre = means.mean(0)
    if means.shape[1] == 2:
        basis = np.eye(2)
    else:
        _, _, vt = np.linalg.svd(means - centre, full_matrices=False)
        basis = vt[:2]
    plane = (means - centre) @ basis.T
    lo, hi = np.percentile(plane, GRID_PERCENTILES, axis=0)
    u, v = np.meshgrid(np.linspace(lo[0], hi[0], GRID_SIDE), np.linspace(lo[1], hi[1], GRID_SIDE))
    coords = np.column_stack([u.ravel(), v.ravel()])
    z = centre + coords @ basis
    return z, z if means.shape[1] == 2 else coords  # the plane plots.latent_plane draws the means in


def _pick_examples(labels: dict[str, np.ndarray], n: int) -> list[int]:
    """``n`` shots spread around the arc: evenly spaced in the angle of their release point."""
    angle = np.arctan2(labels["start_y"], labels["start_x"])
    order = np.argsort(angle)
    return [int(order[i]) for i in np.linspace(0, len(order) - 1, min(n, len(order))).round().astype(int)]


@torch.no_grad()
def _decode_grid(model: VAE, z: np.ndarray, length: int, bundle: DataBundle) -> list[np.ndarray]:
    ref = next(model.parameters())
    values, _ = model.generate(torch.as_tensor(z, dtype=ref.dtype, device=ref.device), length)
    arr = values.cpu().numpy()
    return [bundle.normalizer.inverse(a) if bundle.normalizer is not None else a for a in arr]


def _figures(out: Path, model: VAE, bundle: DataBundle, means: np.ndarray, labels: dict, pairs: list) -> list[str]:
    names = []
    for label, shown, unit, categories, file in SCATTERS:
        if label not in labels:
            continue
        title = f"Validation latent means coloured by {shown}"
        fig = plots.plot_latent_scatter(means, labels[label], shown, unit, categories, title)
        plots.save_figure(fig, out / file)
        names.append(file)
    picks = _pick_examples(labels, RECON_EXAMPLES)
    fig = basketball_figures.plot_court_trajectories(
        [pairs[i][1] for i in picks], [pairs[i][0] for i in picks], "Validation shots: originals and reconstructions"
    )
    plots.save_figure(fig, out / "reconstructions.png")
    names.append("reconstructions.png")
    z, coords = _grid(means)
    length = int(np.median([len(p[1]) for p in pairs]))
    trajectories = _decode_grid(model, z, length, bundle)
    fig = basketball_figures.plot_latent_grid_trajectories(
        coords, trajectories, means,
        f"Trajectories decoded along a {GRID_SIDE} x {GRID_SIDE} latent grid ({length} frames each)",
    )
    plots.save_figure(fig, out / "latent_grid.png")
    names.append("latent_grid.png")
    save_learning_curves(out, "basketball: learning curves")
    names.append("learning_curves.png")
    return names


# --------------------------------------------------------------------------- experiment


@register_experiment(
    NAME,
    "Source 000: VRAE with a 2-D latent on three-point shots; is the shot position in the latent (probe R², vs PCA)?",
    reads_data=True,
)
def run_basketball(
    out_dir: Path,
    seed: int = 0,
    overrides: list[str] | None = None,
    preset: str | None = None,
    progress: bool = True,
    data: str | Path | None = None,
) -> dict[str, Any]:
    start = time.perf_counter()
    out = Path(out_dir)
    cfg = experiment_config(NAME, seed, [*data_overrides(data), *(overrides or [])], preset, progress)
    result = fit(cfg, out)
    if not result.is_main_process:  # an extra DDP process: the main one analyses and writes
        return {}
    train_seconds = time.perf_counter() - start
    model, bundle = result.model, result.bundle
    if not model.sequence_input:
        raise ConfigError(f"{NAME} needs a sequence model (e.g. model.kind=vrae), got {model.kind}")
    val = bundle.val
    if len(val) < 20:
        raise DataError(f"{NAME}: the validation split has {len(val)} shots; the probes need at least 20")
    labels = shot_labels(bundle, "val")
    means = latent_means(model, val)
    pairs = sequence_reconstructions(model, val, bundle.normalizer)
    reconstruction = reconstruction_rmse(pairs)
    probes = probe_labels(means, labels, seed=seed)
    pca: dict[str, Any] = {}
    for align in ("pad", "resample"):
        base = pca_sequence_baseline(bundle.train, val, model.latent_dim, bundle.normalizer, align)
        pca[align] = {k: base[k] for k in ("rmse", "relative_rmse", "explained_variance", "components")}
        pca[align]["probes"] = probe_labels(base["scores"], labels, seed=seed)
    save_npz_atomic(out / "latents.npz", mean=means.astype(np.float32), ids=np.array(val.ids), **labels)
    test = test_metrics(model, bundle.test, cfg, bundle.normalizer) if len(bundle.test) else {}
    figures = _figures(out, model, bundle, means, labels, pairs)

    position = [probes.get(k, {}).get("r2_knn", float("nan")) for k in ("start_x", "start_y")]
    made_auc = probes.get("made", {}).get("auc_knn")
    claims = {
        "position_in_latent": bool(min(position) >= POSITION_R2_MIN),
        "beats_pca_pad": bool(reconstruction["rmse"] < pca["pad"]["rmse"]),
        "beats_pca_resample": bool(reconstruction["rmse"] < pca["resample"]["rmse"]),
        "made_not_clustered": None if made_auc is None else bool(made_auc < CHANCE_AUC_MAX),
    }
    data_summary = _data_summary(bundle, cfg)
    summary = {
        "shots": data_summary["shots"],
        "make_rate": data_summary.get("make_rate"),
        "start_x_r2_knn": position[0],
        "start_y_r2_knn": position[1],
        "made_auc_knn": made_auc,
        "recon_rmse_m": reconstruction["rmse"],
        f"pca{model.latent_dim}_rmse_m": pca["pad"]["rmse"],
        f"pca{model.latent_dim}_resampled_rmse_m": pca["resample"]["rmse"],
        "test_elbo": test.get("elbo"),
        "wall_seconds": time.perf_counter() - start,
    }
    metrics = {
        **header(NAME, seed, preset, cfg),
        "summary": summary,
        "claims": claims,
        "data": data_summary,
        "train": {**train_summary(result.summary), "seconds": train_seconds},
        "validation": {"reconstruction": reconstruction, "probes": probes},
        "pca": pca,
        "test": test,
        "figures": figures,
        "wall_seconds": summary["wall_seconds"],
    }
    return write_metrics(out, metrics)
