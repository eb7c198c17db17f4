"""Parts every experiment shares: its config, metrics.json, learning curves and test-split metrics."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from seqvae import plots
from seqvae.analysis.evaluation import evaluate_in_data_units
from seqvae.config import (
    EXPERIMENT_SECTION,
    RunConfig,
    from_dict,
    load_yaml,
    parse_override,
    resolve_config_path,
    select_preset,
    to_dict,
)
from seqvae.data.arrays import ArrayDataset
from seqvae.data.prepare import Normalizer
from seqvae.data.sequences import SequenceDataset
from seqvae.errors import ConfigError
from seqvae.io import write_json_atomic
from seqvae.models.base import VAE
from seqvae.runconfig import load_run_config

T = TypeVar("T")
FLOAT_DIGITS = 8  # significant digits kept in metrics.json


def split_overrides(overrides: list[str], namespace: str) -> tuple[list[str], list[str]]:
    """(the ``NAMESPACE.*`` overrides of an experiment's own settings, the rest for the run config)."""
    mine = [o for o in overrides if o.strip().startswith(f"{namespace}.")]
    return mine, [o for o in overrides if o not in mine]


def experiment_settings(name: str, cls: type[T], namespace: str, preset: str | None, overrides: list[str]) -> T:
    """The ``experiment:`` section of shipped config ``name`` (its preset's overlay merged in, as for every
    section), then ``NAMESPACE.KEY=VALUE`` overrides, as the dataclass ``cls``: unknown presets and keys are
    refused with the valid ones named, wrong types by :func:`~seqvae.config.from_dict`, values by ``cls``."""
    path = resolve_config_path(name)
    section = dict(select_preset(load_yaml(path), preset, str(path)).get(EXPERIMENT_SECTION) or {})
    names = [f.name for f in dataclasses.fields(cls)]
    for text in overrides:
        keys, value = parse_override(text)
        if len(keys) != 2 or keys[1] not in names:
            valid = f", {namespace}.".join(names)
            raise ConfigError(f"unknown {namespace} setting {text.split('=')[0]!r}; valid: {namespace}.{valid}")
        section[keys[1]] = value
    return from_dict(cls, section, prefix=namespace)


def experiment_config(
    name: str, seed: int, overrides: list[str], preset: str | None, progress: bool, extra: tuple[str, ...] = ()
) -> RunConfig:
    """The shipped config ``name`` with the user's overrides, then the experiment's own, seed and progress."""
    flag = "true" if progress else "false"
    return load_run_config(name, [*overrides, *extra, f"seed={seed}", f"train.progress_bar={flag}"], preset=preset)


def clean_json(obj: Any) -> Any:
    """JSON-ready copy: numpy/torch scalars and arrays to Python floats/lists, floats rounded, NaN to None."""
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return clean_json(obj.detach().cpu().numpy())
    if isinstance(obj, np.ndarray):
        return clean_json(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        if not math.isfinite(value):
            return None
        return float(f"{value:.{FLOAT_DIGITS}g}")
    return obj


def recorded_config(cfg: RunConfig) -> dict[str, Any]:
    """The run config as recorded in metrics.json (without display-only settings)."""
    raw = to_dict(cfg)
    raw["train"].pop("progress_bar", None)
    return raw


def train_summary(summary: dict[str, Any]) -> dict[str, Any]:
    keys = ("epochs", "steps", "best_val_loss", "active_units", "kl_per_dim")
    return {k: summary.get(k) for k in keys}


def test_metrics(
    model: VAE, dataset: ArrayDataset | SequenceDataset, cfg: RunConfig, normalizer: Normalizer | None = None
) -> dict[str, Any]:
    """ELBO terms, IWAE bound and IS log-likelihood on ``dataset`` (nats per example, in data units when
    the data were normalised)."""
    ev = evaluate_in_data_units(model, dataset, cfg.eval, normalizer, cfg.seed)
    ev["recon_loss"] = -ev["recon_log_prob"]
    return ev


def prior_z(model: VAE, n: int, generator: torch.Generator) -> torch.Tensor:
    ref = next(model.parameters())
    return torch.randn((n, model.latent_dim), generator=generator, dtype=ref.dtype).to(ref.device)


def save_learning_curves(run_dir: Path, title: str) -> None:
    """``run_dir/learning_curves.png`` from the run's CSV log."""
    plots.save_figure(plots.plot_learning_curves(run_dir / "logs" / "metrics.csv", title=title), run_dir / "learning_curves.png")


def write_metrics(out_dir: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    clean = clean_json(metrics)
    write_json_atomic(out_dir / "metrics.json", clean)
    return clean


def header(name: str, seed: int, preset: str | None, cfg: RunConfig) -> dict[str, Any]:
    return {"experiment": name, "seed": seed, "preset": preset or "fast", "config": recorded_config(cfg)}
