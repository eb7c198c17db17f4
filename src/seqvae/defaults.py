"""Data-aware defaults: the model, output scale and training budget of a run, derived from its data.

``seqvae train --data FILE --out RUN`` without ``--config`` trains the shipped ``auto`` config, whose
``model.kind: auto`` and ``train.budget: data`` are resolved here, once the data are loaded, into plain
values that ``run_config.json`` records (so a resume or a load rebuilds the same model even if these rules
change later). The rules, each a principle rather than a constant tuned to one data set:

* **Model.** Vectors (a 2-D array: ``.npy``, ``.csv`` of rows, ``.npz`` without ``lengths``) get the MLP
  VAE; sequences (``.npz`` with ``lengths`` or a 3-D array, a long table with an id column, a directory,
  ``.parquet``) get ``mlp-sequence``: each sequence resampled to the longest training length, an MLP
  encoder and a non-autoregressive MLP decoder whose output is resampled back to each sequence's own
  steps. For fixed-length sequences that is the MLP VAE over the flattened sequence, whose linear special
  case is PCA / the linear-Gaussian model. Hidden width: the input size rounded up to a power of two,
  within [64, 512] and no wider than the training set is large.
* **Output scale.** A learned Gaussian std per feature, initialised at the residual scale of the linear
  model with the same latent size: PPCA's maximum-likelihood sigma (root mean of the covariance
  eigenvalues beyond the first K) of the normalised training data; its floor is a tenth of that.
* **Linear start.** A linear path beside each MLP (``linear_skip``) starts at PPCA's maximum-likelihood
  solution on the training split and the MLPs' last layers at zero (``init: pca``): training starts from
  the model's own linear special case and refines it (Adam at 3e-4 after a 5 % linear lr warm-up, dropout
  0.1 on the hidden layers).
* **Budget.** ``train.max_steps`` = 200 passes over the training set, within [1 000, 30 000] optimiser
  steps, with a cosine learning-rate decay over them, early stopping on the validation loss smoothed over
  epochs (patience a tenth of the budget's epochs, at least 5), the best epoch's weights kept, and a
  wall-clock cap (``train.max_time``, minutes) in the shipped config.
* **Schedules** (KL warm-up, cyclical annealing, scheduled sampling) are given as fractions of training.
"""

from __future__ import annotations

import copy
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping

from seqvae.config import RunConfig, deep_merge, from_dict, to_dict
from seqvae.data.prepare import DataBundle
from seqvae.errors import ConfigError, DataError

AUTO_KIND = "auto"
DEFAULT_LATENT_DIM = 8
MIN_STEPS, MAX_STEPS, PASSES = 1_000, 30_000, 200  # optimiser-step budget: PASSES epochs within these bounds
DROPOUT = 0.1  # after each hidden layer: the nonlinear paths must not fit noise on small sets
STD_FLOOR_FRACTION = 0.1  # floor of the learned std, as a fraction of the residual scale
WIDTH_RANGE = (64, 512)


class ScheduleWarning(UserWarning):
    """A schedule (KL warm-up, annealing, teacher forcing) had not reached its target when training ended."""


# --------------------------------------------------------------------------- what the data are


def file_holds_sequences(path: str | Path, id_column: str = "sequence_id") -> bool:
    """Whether a data file is read as sequences (True) or as rows of vectors (False)."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() == ".parquet":
        return True
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            return arr.ndim == 3
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                names = list(npz.files)
                if "lengths" in names or "values" in names:
                    return True
                key = "sequences" if "sequences" in names else "x" if "x" in names else names[0] if names else None
                return key is not None and npz[key].ndim == 3
        if suffix == ".csv":
            from seqvae.data.readers import _csv_records

            records = _csv_records(path)
            return bool(records) and id_column in [c.strip() for c in records[0][1]]
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - numpy and zipfile raise many types on corrupt files
        raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc
    return False


def load_for_auto(cfg: RunConfig) -> DataBundle:
    """The data of ``cfg`` as sequences or vectors, whichever they are."""
    from seqvae.data.sources import load_data

    if cfg.data.kind == "file":
        if not cfg.data.path:
            raise ConfigError("data.path is required when data.kind is 'file'")
        sequences = file_holds_sequences(cfg.data.path, cfg.data.sequence.id_column)
        return load_data(cfg.data, cfg.seed, sequences=sequences)
    try:
        return load_data(cfg.data, cfg.seed, sequences=False)
    except ConfigError as exc:
        if "produces sequences" not in str(exc):
            raise
        return load_data(cfg.data, cfg.seed, sequences=True)


def training_matrix(bundle: DataBundle, length: int | None = None) -> np.ndarray:
    """The training split as rows ``(N, D)`` in model units: vectors as they are, sequences resampled to
    ``length`` steps (linear interpolation over each sequence's span) and flattened."""
    train = bundle.train
    if hasattr(train, "lengths"):
        from seqvae.data.sequences import resample_linear

        seqs = train.sequences()
        t = int(length or max(len(s) for s in seqs))
        return np.stack([resample_linear(s, t).reshape(-1) for s in seqs]).astype(np.float64)
    values = train.values.numpy() if isinstance(train.values, torch.Tensor) else np.asarray(train.values)
    return values.reshape(len(values), -1).astype(np.float64)


def ppca_sigma(x: np.ndarray, k: int) -> float:
    """PPCA's maximum-likelihood noise std for ``k`` components (Tipping & Bishop 1999): the root mean of
    the covariance eigenvalues beyond the ``k`` largest, over the ``D - k`` discarded directions."""
    n, d = x.shape
    if d <= k:
        return 0.0
    from seqvae.models.mlp import principal_components

    top, _, total = principal_components(x - x.mean(0), k)
    rest = total - float(top.sum())
    return math.sqrt(max(rest, 0.0) / (d - k))


def _pow2_at_least(n: float) -> int:
    return 1 << max(0, math.ceil(math.log2(max(n, 1))))


def hidden_width(inputs: int, examples: int) -> int:
    """Width of the hidden layers: the input size rounded up to a power of two, within WIDTH_RANGE, and no
    wider than the training set (rounded up to a power of two) is large."""
    lo, hi = WIDTH_RANGE
    width = min(hi, max(lo, _pow2_at_least(inputs)))
    return max(lo, min(width, _pow2_at_least(examples)))


def step_budget(examples: int, batch_size: int) -> tuple[int, int]:
    """(max_steps, early-stopping patience in epochs) for ``examples`` training examples."""
    per_epoch = max(1, math.ceil(examples / batch_size))
    steps = int(min(MAX_STEPS, max(MIN_STEPS, PASSES * per_epoch)))
    epochs = math.ceil(steps / per_epoch)
    return steps, max(5, epochs // 10)


def model_defaults(bundle: DataBundle, latent_dim: int) -> dict[str, Any]:
    """The ``model:`` mapping the data call for (see the module docstring), with values."""
    sequences = hasattr(bundle.train, "lengths")
    length = int(bundle.train.lengths.max()) if sequences else None
    x = training_matrix(bundle, length)
    n, d = x.shape
    k = min(latent_dim, max(1, min(n - 1, d - 1)))
    sigma = ppca_sigma(x, k)
    total = math.sqrt(max(float(x.var(0).mean()), 1e-12))
    sigma = max(sigma, 1e-3 * total)  # data of rank <= K: keep a scale the optimiser can move from
    width = hidden_width(d, n)
    out: dict[str, Any] = {
        "kind": "mlp-sequence" if sequences else "mlp",
        "latent_dim": latent_dim,
        "hidden": [width, width],
        "activation": "elu",
        "linear_skip": True,
        "init": "pca",
        "dropout": DROPOUT,
        "likelihood": {
            "kind": "gaussian-learned",
            "std_mode": "feature",
            "init_std": round(float(sigma), 6),
            "min_std": round(float(sigma) * STD_FLOOR_FRACTION, 7),
        },
    }
    if sequences:
        out["length"] = length
    return out


# --------------------------------------------------------------------------- resolving a run config


def needs_data_defaults(cfg: RunConfig) -> bool:
    """Whether ``cfg`` leaves something to the data (``model.kind: auto`` or ``train.budget: data``)."""
    return cfg.model.get("kind") == AUTO_KIND or (cfg.train.budget == "data" and cfg.train.max_steps < 1) or (
        cfg.train.budget == "data" and cfg.train.early_stopping_patience is None
    )


def apply_data_defaults(cfg: RunConfig, bundle: DataBundle | None = None) -> tuple[RunConfig, DataBundle | None]:
    """``cfg`` with everything it leaves to the data resolved into values, and the data (loaded here when
    needed, else ``bundle`` as given). Keys the user set (``--set model.hidden=[64]``) win over derived ones."""
    if not needs_data_defaults(cfg):
        return cfg, bundle
    if bundle is None:
        bundle = load_for_auto(cfg)
    raw = to_dict(cfg)
    if cfg.model.get("kind") == AUTO_KIND:
        user = {k: v for k, v in copy.deepcopy(cfg.model).items() if k != "kind"}
        latent = int(user.get("latent_dim", DEFAULT_LATENT_DIM))
        raw["model"] = deep_merge(model_defaults(bundle, latent), user)
    train = raw["train"]
    if cfg.train.budget == "data":
        steps, patience = step_budget(len(bundle.train), cfg.train.batch_size)
        if cfg.train.max_steps < 1:
            train["max_steps"] = steps
            if cfg.train.max_epochs < 1:
                train["max_epochs"] = -1
        if cfg.train.early_stopping_patience is None and len(bundle.val) > 0:
            train["early_stopping_patience"] = patience
    return from_dict(RunConfig, raw), bundle


# --------------------------------------------------------------------------- training helpers


class SmoothedEarlyStopping(EarlyStopping):
    """Early stopping on an exponential moving average over epochs of the monitored value (weight
    ``smoothing`` on the past), so one noisy epoch neither stops a run nor resets its patience."""

    def __init__(self, *args: Any, smoothing: float = 0.0, start_fraction: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.smoothing = float(smoothing)
        self.smoothed: float | None = None
        # before this fraction of the run's steps a plateau is not taken for convergence (the lr has not
        # decayed yet, and a model started at its linear solution may sit there a while before leaving it)
        self.start_fraction = float(start_fraction)
        self._too_early = False

    def _run_early_stopping_check(self, trainer: Any) -> None:
        total = total_training_steps(trainer) if self.start_fraction > 0 else None
        self._too_early = total is not None and trainer.global_step < self.start_fraction * total
        super()._run_early_stopping_check(trainer)

    def _evaluate_stopping_criteria(self, current: torch.Tensor) -> tuple[bool, str | None]:
        value = float(current)
        if math.isfinite(value):
            self.smoothed = value if self.smoothed is None else self.smoothing * self.smoothed + (1 - self.smoothing) * value
            current = torch.tensor(self.smoothed, dtype=current.dtype, device=current.device)
        stop, reason = super()._evaluate_stopping_criteria(current)
        if stop and self._too_early and math.isfinite(value):
            return False, None
        return stop, reason

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "smoothed": self.smoothed}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.smoothed = state_dict.get("smoothed")
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "smoothed"})


class WarmupCosine:
    """lr multiplier at an optimiser step: a linear rise from 0 over ``warmup`` steps (Adam's first updates
    have full size whatever the gradient, which would throw a model started at a good solution off it), then
    a cosine decay to ``floor`` at ``total`` steps. A plain object, so a scheduler's state dict holds numbers."""

    def __init__(self, total: float, warmup: float, floor: float) -> None:
        self.total, self.warmup, self.floor = float(total), float(warmup), float(floor)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        frac = min(1.0, (step - self.warmup) / max(1.0, self.total - self.warmup))
        return self.floor + (1.0 - self.floor) * 0.5 * (1.0 + math.cos(math.pi * frac))


def total_training_steps(trainer: Any) -> float | None:
    """The optimiser steps the trainer will take when nothing stops it early (None when unbounded)."""
    per_epoch = getattr(trainer.lightning_module, "optimizer_steps_per_epoch", None)
    if per_epoch and trainer.max_epochs is not None and trainer.max_epochs > 0:
        # Lightning counts iterations, which may each hold several optimiser steps (train.steps_per_iteration)
        total = float(per_epoch * trainer.max_epochs)
        return min(total, float(trainer.max_steps)) if trainer.max_steps > 0 else total
    try:
        total = float(trainer.estimated_stepping_batches)
    except Exception:  # noqa: BLE001 - Lightning raises when the loader's length is unknown
        return None
    return total if math.isfinite(total) and total > 0 else None


def unfinished_schedules(cfg: RunConfig, steps_done: int, total_steps: float | None) -> list[str]:
    """Sentences naming each schedule that had not reached its target at ``steps_done`` optimiser steps."""
    from seqvae.objectives import kl_weight, schedule_steps

    out = []
    anneal = cfg.objective.anneal
    weight = kl_weight(max(steps_done - 1, 0), anneal, total_steps)
    if anneal.kind != "constant" and weight < 1.0 - 1e-6:
        field = "warmup_steps" if anneal.kind == "linear" else "total_steps"
        out.append(
            f"the KL weight ended at {weight * cfg.objective.beta:.3g} (target beta {cfg.objective.beta:g}): objective.anneal "
            f"({anneal.kind}) was still ramping after {steps_done} steps; lower objective.anneal.{field} or give it "
            "as a fraction of training (objective.anneal.warmup_fraction / total_fraction)"
        )
    model = cfg.model
    if model.get("teacher_forcing", 0) and model.get("teacher_forcing_schedule", "constant") == "linear":
        length = schedule_steps(int(model.get("teacher_forcing_steps", 1000)), model.get("teacher_forcing_fraction"), total_steps)
        if steps_done < length:
            out.append(
                f"scheduled sampling had not finished: teacher forcing was still decaying after {steps_done} of its "
                f"{length:.0f} steps; set model.teacher_forcing_fraction"
            )
    return out


def warn_unfinished_schedules(cfg: RunConfig, steps_done: int, total_steps: float | None) -> None:
    """Warn (:class:`ScheduleWarning`) about each schedule that had not finished when training ended."""
    for text in unfinished_schedules(cfg, steps_done, total_steps):
        warnings.warn(text, ScheduleWarning, stacklevel=3)


__all__ = [
    "AUTO_KIND",
    "DEFAULT_LATENT_DIM",
    "ScheduleWarning",
    "SmoothedEarlyStopping",
    "apply_data_defaults",
    "file_holds_sequences",
    "model_defaults",
    "ppca_sigma",
    "step_budget",
    "warn_unfinished_schedules",
]
