"""One LightningModule for every model, and the Trainer built from config.

Lightning does the engineering (devices, DDP, clipping, checkpoints, early stopping, logging,
progress bars); this module only says what a training and a validation step compute.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import importlib.util
import io
import json
import logging
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger, MLFlowLogger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.trainer.states import TrainerStatus
from lightning.pytorch.utilities import rank_zero_only
from lightning_utilities.core.apply_func import apply_to_collection
from torch.utils.data import BatchSampler, DataLoader, Dataset, Sampler

from seqvae._lightning_logs import quiet_lightning
from seqvae.analysis.usage import latent_usage
from seqvae.checkpoint import export_model, lightning_model_state, read_lightning_checkpoint
from seqvae.config import ObjectiveConfig, RunConfig, TrainConfig, to_dict
from seqvae.data.arrays import make_loader
from seqvae.data.batch import Batch
from seqvae.data.prepare import DataBundle
from seqvae.data.sequences import make_bucketed_loader
from seqvae.data.sources import load_data
from seqvae.distributions import BernoulliHead, CategoricalHead
from seqvae.errors import CheckpointError, ConfigError, DataError, SeqVAEError
from seqvae.io import write_bytes_atomic, write_json_atomic
from seqvae.legacy_presets import expand_legacy_run
from seqvae.models.base import MODEL_REGISTRY, VAE, build_model, parse_model_config
from seqvae.objectives import Objective

ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. 2016: Var_x(E_q[z_d]) above this counts as active
log = logging.getLogger("seqvae.training")


class PosteriorCollapseWarning(UserWarning):
    """Every latent dimension ended inactive: the decoder ignores z (KL vanishing)."""


class TrainingDiverged(SeqVAEError):
    """Too many consecutive steps had a non-finite loss or gradient; the run stopped."""


class _NonFiniteSteps(RuntimeError):
    """Raised inside Lightning's loop; :func:`fit` turns it into :class:`TrainingDiverged`."""


def active_units(mu: torch.Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """Number of latent dimensions whose posterior mean varies across examples by more than ``threshold``.

    This counts what the encoder writes into z, not what the decoder reads: a decoder may ignore an active
    unit. :func:`seqvae.analysis.usage.latent_usage` (``used_units`` in the training summary) asks the decoder.
    """
    if len(mu) < 2:
        return 0
    return int((mu.var(dim=0) > threshold).sum())


class _EpochMeans:
    """Example-weighted means of scalar tensors over an epoch, summed over all processes under DDP."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.sums: torch.Tensor | None = None  # one running sum per key, then the example count, in one tensor

    def add(self, values: dict[str, torch.Tensor], n: int, keep: torch.Tensor | None = None) -> None:
        """Add a batch of ``n`` examples; with ``keep`` (a boolean 0-d tensor) it counts only when true,
        decided without synchronising with the device. Every step of an epoch logs the same keys."""
        first = next(iter(values.values()))
        step = torch.stack([*values.values(), first.new_ones(())]).detach().float() * n
        if keep is not None:
            step = torch.where(keep, step, torch.zeros_like(step))
        if self.sums is None:
            self.keys, self.sums = list(values), step
        elif list(values) != self.keys:
            raise RuntimeError(f"epoch means: keys {list(values)} after {self.keys}")
        else:
            self.sums = self.sums + step

    @property
    def count(self) -> float:
        """Examples counted so far this epoch (synchronises with the device)."""
        return 0.0 if self.sums is None else float(self.sums[-1])

    def pop(self, strategy: Any) -> dict[str, torch.Tensor]:
        """The means (reduced across processes), and a reset for the next epoch."""
        keys, stacked = self.keys, self.sums
        self.keys, self.sums = [], None
        if stacked is None:
            return {}
        total = strategy.reduce(stacked, reduce_op="sum")  # identity on one device
        return {k: total[i] / total[-1] for i, k in enumerate(keys)}


class VAEModule(L.LightningModule):
    """Wraps any :class:`VAE` with an :class:`Objective`.

    Logged per epoch: ``train/{loss,recon,kl,elbo}``, ``beta``, ``val/{loss,recon,kl,elbo}`` and what
    callbacks add to the validation row (:class:`LatentDiagnostics`: ``val/active_units``). ``val/loss`` is
    recon + β·KL at the target β, without annealing or free bits, so that checkpoint selection and early
    stopping do not favour epochs where β was low. ``validation_step`` returns each batch's posterior means
    ``mu`` (and ``kl_per_dim`` where the model has it) for callbacks.
    """

    def __init__(self, model: VAE, objective: ObjectiveConfig, train: TrainConfig) -> None:
        super().__init__()
        self.model = model
        self.objective = Objective(objective)
        self.train_config = train
        self._train_means = _EpochMeans()
        self._val_means = _EpochMeans()
        self._val_extra: dict[str, torch.Tensor] = {}  # callbacks' values for this validation epoch's row
        self.skipped_steps = 0  # steps skipped for a non-finite loss or gradient, whole run
        self._skipped_epoch = 0
        self._bad_in_a_row = 0
        self._loss_finite = torch.tensor(True)
        self._params: list[torch.nn.Parameter] = []
        # (global step, epoch, loss finite, loss and gradients finite) of steps not yet read on the host
        self._guard_pending: list[tuple[int, int, torch.Tensor, torch.Tensor]] = []
        self._guard_every = 1  # steps between host reads of the guard's flags (more on an accelerator)
        self.epoch_metrics: dict[str, float] = {}  # the latest epoch means (train and validation), as logged
        # optimiser steps are taken here (manual optimisation), so that one Lightning iteration can run a
        # group of them (see _grouped, train.steps_per_iteration): Lightning's cost per iteration is shared
        self.automatic_optimization = False
        self.optimizer_steps_per_epoch: int | None = None  # set by fit: batches per epoch, groups unpacked
        self._plateau_monitor: str | None = None

    def on_fit_start(self) -> None:
        self._params = [p for p in self.model.parameters() if p.requires_grad]
        # on the CPU reading a flag costs nothing; on an accelerator it waits for the device, so the flags
        # are read in groups (the updates themselves are skipped on the device, see on_before_optimizer_step)
        self._guard_every = 1 if self.device.type == "cpu" else GUARD_READ_EVERY

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        # Lightning's generic transfer deep-copies a dataclass batch on every step, even on the CPU
        if isinstance(batch, Batch):
            return batch if batch.values.device == device else batch.to(device)
        if isinstance(batch, list) and all(isinstance(b, Batch) for b in batch):  # a group of batches
            return [b if b.values.device == device else b.to(device) for b in batch]
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    @staticmethod
    def _terms(prefix: str, terms: dict[str, torch.Tensor], loss: torch.Tensor) -> dict[str, torch.Tensor]:
        values = {f"{prefix}/loss": loss}
        for name in ("recon", "kl", "elbo", "iwae"):
            if name in terms:
                values[f"{prefix}/{name}"] = terms[name].mean()
        return values

    def training_step(self, batch: Batch | list[Batch], batch_idx: int) -> None:
        """One optimiser step per batch of the group (a single batch is a group of one)."""
        optimizer = self.optimizers()
        schedulers = self.lr_schedulers()
        per_step = None if schedulers is None or isinstance(schedulers, list) or self._plateau_monitor else schedulers
        max_steps = self.trainer.max_steps
        for one in batch if isinstance(batch, list) else [batch]:
            if max_steps is not None and max_steps >= 0 and self.global_step >= max_steps:
                break  # max_steps falls inside a group
            self._optimizer_step(one, optimizer, per_step)

    def _optimizer_step(self, batch: Batch, optimizer: Any, scheduler: Any) -> None:
        self.model.on_train_step(self.global_step)  # e.g. a scheduled-sampling schedule
        terms = self.objective(self.model, batch, self.global_step)
        loss = terms["loss"].mean()
        # a non-finite loss still goes through backward (its gradients are non-finite too, on every
        # process under DDP after their all-reduce), and on_before_optimizer_step skips the update;
        # it is kept out of the epoch means
        self._loss_finite = torch.isfinite(loss.detach())
        values = self._terms("train", terms, loss)
        values["beta"] = loss.new_tensor(self.objective.beta(self.global_step))
        self._train_means.add(values, len(batch), keep=self._loss_finite)
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if self.train_config.gradient_clip:
            self.clip_gradients(optimizer, gradient_clip_val=self.train_config.gradient_clip, gradient_clip_algorithm="norm")
        optimizer.step()  # runs on_before_optimizer_step (the guard), then the update; counts global_step
        if scheduler is not None:
            scheduler.step()

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Skip the update when the loss or any gradient is non-finite: the optimiser leaves the parameters
        and its moments as they were. After ``train.max_nonfinite_steps`` such steps in a row the run stops.

        With a fused optimiser (the default, see :meth:`configure_optimizers`) the skip happens on the
        device (the kernel's ``found_inf`` input, as mixed-precision loss scaling uses it), so a step never
        waits for the device; the flags are read on the host every step on the CPU and every
        ``GUARD_READ_EVERY`` steps and at the end of each epoch on an accelerator. Otherwise the gradients
        are dropped, which needs the flag at once."""
        grads = [p.grad for p in self._params if p.grad is not None]
        ok = self._loss_finite
        if grads:  # one fused check per step, no device synchronisation
            ok = ok & _all_finite(grads)
        inner = getattr(optimizer, "optimizer", optimizer)
        if _skips_on_device(inner):
            inner.found_inf = (~ok).float()
        elif not bool(ok):
            optimizer.zero_grad(set_to_none=True)
        self._guard_pending.append((self.global_step, self.current_epoch, self._loss_finite, ok))
        if len(self._guard_pending) >= self._guard_every:
            self._read_guard()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        for inner in self.trainer.optimizers:  # found_inf belongs to the step that set it
            if getattr(inner, "found_inf", None) is not None:
                inner.found_inf = None

    def _read_guard(self) -> None:
        """Count, log and act on the steps whose flags have not been read yet (one host read for all)."""
        pending, self._guard_pending = self._guard_pending, []
        if not pending:
            return
        flags = torch.stack([torch.stack([lf, ok]) for _, _, lf, ok in pending]).cpu().tolist()
        for (step, epoch, _, _), (loss_finite, ok) in zip(pending, flags):
            if ok:
                self._bad_in_a_row = 0
                continue
            self.skipped_steps += 1
            self._skipped_epoch += 1
            self._bad_in_a_row += 1
            what = "gradient" if loss_finite else "loss"
            log.warning("step %d (epoch %d): non-finite %s, update skipped", step, epoch, what)
            if self._bad_in_a_row >= self.train_config.max_nonfinite_steps:
                raise _NonFiniteSteps(
                    f"{self._bad_in_a_row} consecutive steps had a non-finite loss or gradient (the last at step "
                    f"{step}, epoch {epoch})"
                )

    def on_train_epoch_end(self) -> None:
        self._read_guard()
        values = self._train_means.pop(self.trainer.strategy)
        values["train/skipped_steps"] = torch.tensor(float(self._skipped_epoch))
        self._skipped_epoch = 0
        self._publish(values, "train/loss")
        self.epoch_metrics["epoch"] = self.current_epoch  # the epoch whose training means these are
        if self._plateau_monitor is not None:
            value = self.trainer.callback_metrics.get(self._plateau_monitor)
            if value is not None:
                self.lr_schedulers().step(value)

    def _publish(self, values: dict[str, torch.Tensor], monitored: str) -> None:
        """An epoch's means: one row to every logger, and through ``self.log`` (what checkpointing, early
        stopping, the LR plateau schedule and the progress bar read) only ``monitored``. Lightning's
        ``self.log`` costs about a millisecond per key on the CPU, more than a small model's step."""
        if not values:
            return
        floats = dict(zip(values, torch.stack([v.detach().reshape(()).float().cpu() for v in values.values()]).tolist()))
        self.epoch_metrics.update(floats)
        for logger in self.loggers:
            logger.log_metrics({**floats, "epoch": self.current_epoch}, step=self.global_step)
            logger.save()  # as Lightning does after each row: a killed run keeps the epochs it logged
        if monitored in values:
            self.log(monitored, values[monitored], logger=False, prog_bar=True)

    def validation_step(self, batch: Batch, batch_idx: int) -> dict[str, torch.Tensor]:
        from seqvae.objectives import posterior_mean_log_likelihood

        terms = self.objective(self.model, batch, self.global_step)
        loss = (terms["recon"] + self.objective.config.beta * terms["kl"]).mean()
        values = self._terms("val", terms, loss)
        at_mean = posterior_mean_log_likelihood(self.model, batch)  # val/recon_mean: -log p(x | z = posterior mean)
        if at_mean is not None:
            values["val/recon_mean"] = -at_mean.mean()
        self._val_means.add(values, len(batch))
        outputs = {"mu": terms["mu"].reshape(len(batch), -1)}
        if "kl_per_dim" in terms:
            outputs["kl_per_dim"] = terms["kl_per_dim"].reshape(len(batch), -1)
        return outputs

    def add_to_validation_row(self, values: dict[str, torch.Tensor]) -> None:
        """Values a callback computed in its ``on_validation_epoch_end`` (which Lightning runs before this
        module's), logged in this epoch's validation row."""
        self._val_extra.update(values)

    def on_validation_epoch_end(self) -> None:
        values = self._val_means.pop(self.trainer.strategy) if self._val_means.sums is not None else {}
        values.update(self._val_extra)
        self._val_extra = {}
        self._publish(values, "val/loss")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # the reparameterisation noise comes from the global generator: keep its state so that a
        # resumed run draws what the uninterrupted run would have drawn
        checkpoint["seqvae_rng"] = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            checkpoint["seqvae_rng"]["cuda"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        rng = checkpoint.get("seqvae_rng") or {}
        if "cpu" in rng:
            torch.set_rng_state(rng["cpu"])
        if "cuda" in rng and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(rng["cuda"])

    def configure_optimizers(self) -> Any:
        from seqvae.defaults import total_training_steps

        cfg = self.train_config
        optimizer = make_optimizer(cfg, self.model.parameters())
        # the run's length in optimiser steps: schedules given as fractions of training are measured in it
        total = total_training_steps(self.trainer)
        self.objective.total_steps = total
        self.model.set_total_steps(total)
        if getattr(self.model.config, "init", None) == "pca" and self.trainer.ckpt_path is None:
            # data-derived initialisation (fresh runs only; a resume restores its weights)
            if self.trainer.train_dataloader is None:
                self.trainer.fit_loop.setup_data()
            dataset = self.trainer.train_dataloader.dataset
            self.model.init_from_data(dataset.dataset if isinstance(dataset, _Groups) else dataset)
        min_lr = cfg.lr * cfg.min_lr_fraction
        if cfg.lr_schedule == "cosine" and total:
            from seqvae.defaults import WarmupCosine

            shape = WarmupCosine(total, cfg.lr_warmup_fraction * total, cfg.min_lr_fraction)
            cosine = torch.optim.lr_scheduler.LambdaLR(optimizer, shape)
            return {"optimizer": optimizer, "lr_scheduler": cosine}  # stepped after each optimiser step
        if cfg.lr_schedule == "plateau":
            self._plateau_monitor = getattr(self.trainer.checkpoint_callback, "monitor", None) or "val/loss"
            plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, factor=0.5, patience=max(2, (cfg.early_stopping_patience or 10) // 3), min_lr=min_lr
            )
            return {"optimizer": optimizer, "lr_scheduler": plateau}  # stepped at the end of each epoch
        return optimizer


GUARD_READ_EVERY = 50  # steps between host reads of the non-finite guard's flags on an accelerator


def make_optimizer(cfg: TrainConfig, params: Any) -> torch.optim.Optimizer:
    """Adam or AdamW, fused (one kernel for all parameters) where torch has the fused kernel for the
    parameters' device and dtype, else the multi-tensor implementation. On the CPU the fused kernel takes a
    quarter of the time of torch's default per-parameter loop for a small MLP, and it can skip a step on
    the device (``found_inf``). The update rule is the same."""
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    params = list(params)
    try:
        return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, ValueError):  # a device or dtype without the fused kernel
        return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)


def _skips_on_device(optimizer: torch.optim.Optimizer) -> bool:
    """True for a fused Adam / AdamW (mixed-precision loss scaling replaces ``found_inf`` with its own flag,
    which covers the same non-finite gradients)."""
    return isinstance(optimizer, torch.optim.Adam | torch.optim.AdamW) and all(g.get("fused") for g in optimizer.param_groups)


def _all_finite(tensors: list[torch.Tensor]) -> torch.Tensor:
    """A boolean 0-d tensor: every element of ``tensors`` is finite (no device synchronisation).

    One fused kernel where the tensors share a device and dtype: the non-finite check of mixed-precision
    loss scaling, with a scale of 1 (a third of the time of a total norm on the CPU); else a total norm."""
    first = tensors[0]
    if all(t.device == first.device and t.dtype == first.dtype for t in tensors):
        found = torch.zeros((), dtype=torch.float32, device=first.device)
        try:
            torch._amp_foreach_non_finite_check_and_unscale_(tensors, found, torch.ones_like(found))
            return found == 0
        except (RuntimeError, NotImplementedError):  # a device or dtype without the kernel
            pass
    norm = getattr(torch.nn.utils, "get_total_norm", None)  # torch >= 2.6 (foreach kernels)
    if norm is not None:
        return torch.isfinite(norm(tensors))
    return torch.isfinite(torch.stack([torch.linalg.vector_norm(t.detach()) for t in tensors])).all()


@contextlib.contextmanager
def _distribution_checks(enabled: bool) -> Iterator[None]:
    previous = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(enabled)
    try:
        yield
    finally:
        torch.distributions.Distribution.set_default_validate_args(previous)


def _link_atomic(source: str | Path, path: str | Path) -> None:
    """``path`` becomes a hard link to ``source`` (made at a temporary name and renamed into place)."""
    tmp = f"{path}.{os.getpid()}.link"
    Path(tmp).unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:  # a file system without hard links
        shutil.copyfile(source, tmp)
    os.replace(tmp, path)


class _AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary file and renamed into place: a run killed while saving leaves
    the previous checkpoint intact, never a truncated one.

    With ``deferred`` on, a saved state is copied (to the CPU) and kept in memory until :meth:`flush`, which
    :class:`_Checkpoints` calls at most every ``train.checkpoint_every_seconds``, at the end and on an
    interrupt.

    One state saved under two names is written once: on an epoch with a new best, ``last.ckpt`` is the
    state just saved as ``best.ckpt`` (same epoch and step), so it becomes a hard link to it (made at a
    temporary name and renamed into place: atomic; linked at :meth:`flush` when deferred) instead of a
    second full save. Checkpoints are replaced by rename, never rewritten in place, so the link keeps its
    content when ``best.ckpt`` is replaced later. (Lightning's ``save_last="link"`` links to the newest
    *best* even on epochs without one, which would make a resume go back in time.)

    Lightning calls ``save_checkpoint`` in the first process only, so only that one holds states.
    """

    def __init__(self) -> None:
        super().__init__()
        self.deferred = False
        self._pending: dict[str, dict[str, Any]] = {}  # path -> state, oldest first
        self._just_saved: tuple[str, Any, Any] | None = None  # path, epoch and step of the latest save

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        previous, self._just_saved = self._just_saved, (str(path), checkpoint.get("epoch"), checkpoint.get("global_step"))
        same_state = (
            previous is not None
            and previous[1:] == self._just_saved[1:]
            and Path(path).name == LAST_CHECKPOINT
            and Path(previous[0]).resolve() != Path(path).resolve()
        )
        if same_state and self.alias(previous[0], str(path)):
            return
        if not self.deferred:
            self._write(checkpoint, path)
            return
        self._pending.pop(str(path), None)
        self._pending[str(path)] = apply_to_collection(checkpoint, torch.Tensor, lambda t: t.detach().to("cpu", copy=True))

    def alias(self, source: str, path: str) -> bool:
        """``path`` gets the state just saved at ``source`` without a second copy; False if there is none."""
        if source in self._pending:
            self._pending.pop(str(path), None)
            self._pending[str(path)] = self._pending[source]
        elif Path(source).is_file():
            self._pending.pop(str(path), None)
            _link_atomic(source, path)
        else:
            return False
        return True

    def flush(self) -> None:
        """Write the states kept in memory, in the order they were saved."""
        written: dict[int, tuple[str, dict[str, Any]]] = {}
        for path, state in list(self._pending.items()):
            if id(state) in written:
                _link_atomic(written[id(state)][0], path)
            else:
                self._write(state, path)
                written[id(state)] = (path, state)
            del self._pending[path]

    def remove_checkpoint(self, path: Any) -> None:
        self._pending.pop(str(path), None)
        super().remove_checkpoint(path)

    @staticmethod
    def _write(checkpoint: dict[str, Any], path: Any) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_bytes_atomic(Path(path), buffer.getvalue())


def _relocated(state: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """``ModelCheckpoint`` state with the paths of files in directory ``old`` moved to ``new``."""

    def move(path: Any) -> Any:
        if isinstance(path, str) and path and os.path.dirname(path) == old:
            return os.path.join(new, os.path.basename(path))
        return path

    state = {**state, "dirpath": new}
    for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
        if key in state:
            state[key] = move(state[key])
    if isinstance(state.get("best_k_models"), dict):
        state["best_k_models"] = {move(k): v for k, v in state["best_k_models"].items()}
    return state


class _Checkpoints(ModelCheckpoint):
    """Best and last checkpoints: a state after every epoch, written to disk at most every
    ``every_seconds`` (0: every epoch), at the end of training and on an interrupt or error (kept in memory
    in between by :class:`_AtomicCheckpointIO`, which also writes the best and last of one epoch once), so a
    SIGKILL loses at most ``every_seconds`` of training.

    The stored paths are remapped on resume when the run directory was copied or moved (Lightning would
    otherwise reset the best-so-far, and a worse model would be exported).

    Only public hooks are overridden. ``last.ckpt`` after every epoch calls ModelCheckpoint's private
    ``_save_last_checkpoint`` and the checks it makes before saving (pinned in pyproject.toml and by
    tests/test_lightning_contract.py): Lightning 2.6 saves it only on epochs with a new best.
    """

    def __init__(self, *args: Any, every_seconds: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.every_seconds = every_seconds
        self._flushed_at = time.monotonic()

    @staticmethod
    def _io(trainer: L.Trainer) -> _AtomicCheckpointIO | None:
        checkpoint_io = trainer.strategy.checkpoint_io
        return checkpoint_io if isinstance(checkpoint_io, _AtomicCheckpointIO) else None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        checkpoint_io = self._io(trainer)
        if checkpoint_io is not None:
            checkpoint_io.deferred = self.every_seconds > 0
        self._flushed_at = time.monotonic()

    def _flush(self, trainer: L.Trainer, only_if_due: bool) -> None:
        checkpoint_io = self._io(trainer)
        if checkpoint_io is None or (only_if_due and time.monotonic() - self._flushed_at < self.every_seconds):
            return
        checkpoint_io.flush()  # a no-op outside the first process, which holds no states
        self._flushed_at = time.monotonic()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old = state_dict.get("dirpath")
        if old and self.dirpath and old != self.dirpath:
            state_dict = _relocated(state_dict, old, self.dirpath)
        super().load_state_dict(state_dict)

    def _ensure_last(self, trainer: L.Trainer) -> None:
        # Lightning 2.6 writes last.ckpt only on epochs that saved a new best; a resume must lose no epoch.
        # Nothing saved at this step yet (else the check skips): last.ckpt neither
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._ensure_last(trainer)
            self._flush(trainer, only_if_due=True)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._ensure_last(trainer)
            self._flush(trainer, only_if_due=True)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        self._flush(trainer, only_if_due=False)
        trainer.strategy.barrier()  # every process reads best.ckpt after fit

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        # Ctrl+C, SIGTERM, divergence: the states of the finished epochs reach the disk (no barrier: the
        # other processes may not be here)
        super().on_exception(trainer, pl_module, exception)
        self._flush(trainer, only_if_due=False)


class LatentDiagnostics(Callback):
    """What the validation posteriors say about the latent each validation epoch: the active units (logged as
    ``val/active_units`` in the module's validation row) and the mean KL per dimension; after training,
    :meth:`warn_if_collapsed` warns when no unit was active in the last validation epoch."""

    def __init__(self) -> None:
        self.n_active = 0
        self.kl_per_dim: list[float] = []
        self._mu: list[torch.Tensor] = []
        self._kl: list[torch.Tensor] = []

    def on_validation_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._mu.append(outputs["mu"])  # what VAEModule.validation_step returns
        if "kl_per_dim" in outputs:
            self._kl.append(outputs["kl_per_dim"])

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._mu:
            mu = torch.cat(self._mu)
            self.n_active = active_units(mu)
            n_active = trainer.strategy.reduce(mu.new_tensor(float(self.n_active)), reduce_op="mean")
            pl_module.add_to_validation_row({"val/active_units": n_active})
        if self._kl:
            self.kl_per_dim = torch.cat(self._kl).mean(0).tolist()
        self._mu.clear()
        self._kl.clear()

    def warn_if_collapsed(self, latent_dim: int, stacklevel: int = 1) -> None:
        """A :class:`PosteriorCollapseWarning` if no unit was active (``stacklevel`` counts from the caller)."""
        if not self.kl_per_dim or self.n_active:
            return
        kl = ", ".join(f"{v:.3g}" for v in self.kl_per_dim)
        warnings.warn(
            f"posterior collapse: none of the {latent_dim} latent dimensions is active (variance of the "
            f"validation posterior means <= {ACTIVE_UNIT_THRESHOLD}; KL per dimension {kl} nats), so the decoder "
            "ignores z. Try KL annealing (objective.anneal.kind=linear), free bits (objective.free_bits) or a "
            "weaker decoder.",
            PosteriorCollapseWarning,
            stacklevel=stacklevel + 1,
        )


class _EpochLines(Callback):
    """One line per epoch on stderr (first process only), for logs and terminals without the rich bar:
    epoch (1-based) / max, train and validation loss, KL, β and the epoch's seconds. An epoch's line is
    printed when the next one starts (or training ends): the training means are logged last of all."""

    def __init__(self) -> None:
        self._started: float | None = None
        self._epoch: int | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._print(trainer, pl_module)
        self._started, self._epoch = time.monotonic(), trainer.current_epoch

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._print(trainer, pl_module)

    def _print(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._started is None or self._epoch is None or not trainer.is_global_zero:
            return
        seconds, epoch = time.monotonic() - self._started, self._epoch
        self._started = self._epoch = None
        m = dict(getattr(pl_module, "epoch_metrics", {}))
        if m.get("epoch") != epoch or "train/loss" not in m:  # the epoch did not finish (max_steps, an interrupt)
            return
        total = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        parts = [f"epoch {epoch + 1}{total}", f"train loss {m['train/loss']:.4g}"]
        if "val/loss" in m:
            parts.append(f"val loss {m['val/loss']:.4g}")
        split = "val" if "val/kl" in m else "train"
        if f"{split}/kl" in m:
            parts.append(f"{split} KL {m[f'{split}/kl']:.4g}")
        if "beta" in m:
            parts.append(f"β {m['beta']:.3g}")
        parts.append(f"{seconds:.1f} s")
        print("  ".join(parts), file=sys.stderr, flush=True)


class _RunWriter(ExperimentWriter):
    """Lightning's CSV writer, except that

    - a resumed run starts from the rows of the epochs it does not redo (written back at once, so a resume
      killed again keeps them) instead of deleting the file;
    - every save rewrites the whole file atomically. Lightning appends, and rewrites the file in place when
      a new column appears; Ctrl+C between its recording the new column and rewriting the header left rows
      longer than the header, which broke the resume that followed."""

    def __init__(self, log_dir: str, keep_through_epoch: int | None) -> None:
        self._keep_through_epoch = keep_through_epoch
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:  # called by __init__, where Lightning deletes an old file
        path = Path(self.metrics_file_path)
        keys, rows = _read_csv_log(path)
        if any(_row_epoch(r) == 0 for r in rows):  # written by a seqvae that counted epochs from 0
            rows = [{**r, "epoch": str(_row_epoch(r) + 1)} if _row_epoch(r) is not None else r for r in rows]
        limit = self._keep_through_epoch
        rows = [r for r in rows if limit is not None and _row_epoch(r) is not None and _row_epoch(r) <= limit]
        if not rows:
            path.unlink(missing_ok=True)
            return
        _write_csv_log(path, keys, rows)

    def save(self) -> None:
        if not self.metrics:
            return
        path = Path(self.metrics_file_path)
        keys, rows = _read_csv_log(path)
        keys = sorted(set(keys).union(*self.metrics))
        _write_csv_log(path, keys, [*rows, *self.metrics])
        self.metrics_keys = keys
        self.metrics = []


def _write_csv_log(path: Path, keys: list[str], rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_bytes_atomic(path, buffer.getvalue().encode())


def _row_epoch(row: dict[str, str]) -> int | None:
    try:
        return int(float(row.get("epoch") or ""))
    except ValueError:
        return None


class _RunCSVLogger(CSVLogger):
    """``logs/metrics.csv``: epochs counted from 1 (as in ``train_summary.json`` and the progress lines),
    and a resumed run keeps the rows of the epochs before its checkpoint."""

    def __init__(self, out_dir: Path, keep_through_epoch: int | None = None) -> None:
        super().__init__(save_dir=str(out_dir), name="", version="logs")
        self._keep_through_epoch = keep_through_epoch

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _RunWriter(self.log_dir, self._keep_through_epoch)
        return self._experiment

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if "epoch" in metrics:  # Lightning's current_epoch counts from 0
            metrics = {**metrics, "epoch": int(metrics["epoch"]) + 1}
        super().log_metrics(metrics, step)


class _ProgressBar(RichProgressBar):
    """Rich progress bar without Lightning's logger version number in the metrics column."""

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics

    def _get_train_description(self, current_epoch: int) -> str:
        # counted from 1, like the epoch lines, train_summary.json and metrics.csv (Lightning shows 0..max-1)
        description = f"Epoch {current_epoch + 1}"
        if self.trainer.max_epochs is not None and self.trainer.max_epochs > 0:
            description += f"/{self.trainer.max_epochs}"
        return f"{description:{len(self.validation_description)}}"  # padded: no flicker against "Validation"


def build_trainer(
    cfg: TrainConfig,
    out_dir: Path,
    monitor: str = "val/loss",
    steps_per_epoch: int = 1,
    use_distributed_sampler: bool = True,
    keep_log_through_epoch: int | None = None,
) -> L.Trainer:
    """A Trainer with CSV logging, latent diagnostics, best+last checkpoints, optional early stopping and
    progress: the rich bar when ``train.progress_bar`` is on and stderr is a terminal, else one line per epoch.

    ``keep_log_through_epoch`` (1-based): a resumed run keeps the CSV log's rows up to that epoch.
    """
    callbacks: list[Any] = [
        LatentDiagnostics(),
        _Checkpoints(
            dirpath=out_dir / "checkpoints",
            filename="best",
            monitor=monitor,
            mode="min",
            save_top_k=1,
            save_last=True,
            enable_version_counter=False,
            every_seconds=cfg.checkpoint_every_seconds,
        )
    ]
    if cfg.early_stopping_patience is not None:
        from seqvae.defaults import SmoothedEarlyStopping

        callbacks.append(SmoothedEarlyStopping(monitor=monitor, mode="min", patience=cfg.early_stopping_patience,
                                               smoothing=cfg.early_stopping_smoothing, start_fraction=cfg.early_stopping_start))
    if cfg.max_time is not None:  # wall-clock cap (what Trainer(max_time=...) adds)
        from datetime import timedelta

        from lightning.pytorch.callbacks import Timer

        callbacks.append(Timer(duration=timedelta(minutes=cfg.max_time), interval="step"))
    rich = _rich_progress(cfg)
    callbacks.append(_ProgressBar(leave=True) if rich else _EpochLines())
    return L.Trainer(
        default_root_dir=str(out_dir),
        max_epochs=cfg.max_epochs if cfg.max_epochs > 0 else -1,
        max_steps=cfg.max_steps,
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        num_nodes=cfg.num_nodes,
        strategy=cfg.strategy,
        precision=cfg.precision,
        deterministic=cfg.deterministic,
        logger=[_RunCSVLogger(out_dir, keep_log_through_epoch), *_extra_loggers(cfg, out_dir)],
        callbacks=callbacks,
        plugins=[_AtomicCheckpointIO()],
        enable_progress_bar=rich,
        enable_model_summary=False,
        log_every_n_steps=max(1, min(50, steps_per_epoch)),
        num_sanity_val_steps=0,
        # False when our own batch sampler shards batches across processes (length bucketing)
        use_distributed_sampler=use_distributed_sampler,
    )


def _rich_progress(cfg: TrainConfig) -> bool:
    """The rich progress bar only on a terminal: in a log file it smears each epoch over many lines."""
    return bool(cfg.progress_bar) and sys.stderr.isatty()


def _extra_loggers(cfg: TrainConfig, out_dir: Path) -> list[Any]:
    """TensorBoard / MLflow loggers asked for in ``train.extra_loggers`` (next to the CSV log)."""
    loggers: list[Any] = []
    for name in cfg.extra_loggers:
        if name == "tensorboard":
            if importlib.util.find_spec("tensorboard") is None and importlib.util.find_spec("tensorboardX") is None:
                raise ConfigError("train.extra_loggers: 'tensorboard' needs `pip install tensorboard`")
            loggers.append(TensorBoardLogger(save_dir=str(out_dir), name="", version="tensorboard"))
        elif name == "mlflow":
            if importlib.util.find_spec("mlflow") is None:
                raise ConfigError("train.extra_loggers: 'mlflow' needs `pip install mlflow`")
            loggers.append(MLFlowLogger(experiment_name="seqvae", tracking_uri=(out_dir / "mlruns").resolve().as_uri()))
    return loggers


def check_data_for_model(model: VAE, bundle: DataBundle) -> None:
    """Refuse data a likelihood cannot score (e.g. non-one-hot rows for a categorical decoder)."""
    head = model.head
    values = bundle.train.values
    if values.dim() == 3:  # sequences: only the real steps
        values = values[bundle.train.mask]
    if isinstance(head, CategoricalHead):
        ok = ((values == 0) | (values == 1)).all(dim=-1) & (values.sum(-1) == 1)
        if not bool(ok.all()):
            row = int((~ok).nonzero()[0, 0])
            raise DataError(f"categorical likelihood needs one-hot rows; training row {row} is not one-hot")
    if isinstance(head, BernoulliHead) and not bool(((values >= 0) & (values <= 1)).all()):
        raise DataError("bernoulli likelihood needs values in [0, 1]")


@dataclass
class FitResult:
    """A trained model (best validation weights) and what produced it."""

    model: VAE
    bundle: DataBundle
    out_dir: Path
    summary: dict[str, Any]
    # False in the extra processes of a multi-process (DDP) run: they train but write nothing, and
    # callers should skip their analysis there
    is_main_process: bool = True


RUN_CONFIG = "run_config.json"  # the run's config, written before training (what --resume reads)
LAST_CHECKPOINT = "last.ckpt"


class TrainingInterrupted(SeqVAEError):
    """Training stopped on Ctrl+C; the best checkpoint so far is exported and the run can be resumed."""

    def __init__(self, result: FitResult) -> None:
        self.result = result
        s = result.summary
        saved = (
            f"the best model so far (epoch {s['best_epoch']}) is exported to {result.out_dir}"
            if s["best_checkpoint"]
            else "no epoch had finished, so nothing was exported"
        )
        super().__init__(
            f"training interrupted after {s['epochs']} complete epochs; {saved}; "
            f"continue with `seqvae train --resume {result.out_dir}`"
        )


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """The raw run config that ``fit`` wrote into ``run_dir`` before training (what a resume starts from)."""
    path = Path(run_dir) / RUN_CONFIG
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: is {path.parent} a run directory written by `seqvae train`?")
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of config sections")
    try:
        return expand_legacy_run(raw)  # a run written before models were written out in full names its preset
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _clear_previous_run(out: Path) -> None:
    """A fresh run in an old run directory starts from clean logs and checkpoints (it is not a resume)."""
    for path in (out / "logs" / "metrics.csv", *(out / "checkpoints").glob("*.ckpt")):
        path.unlink(missing_ok=True)


def _with_exported_legacy_fields(cfg: RunConfig, out: Path) -> RunConfig:
    """A run started by an older seqvae resumes with the model fields it was trained with: its export
    (written at every interrupt and at the end) lacks the fields added since (checkpoint.LEGACY_MODEL_FIELDS)."""
    from seqvae.checkpoint import CONFIG, predated_fields

    try:
        exported = json.loads((out / CONFIG).read_text()).get("model_config")
    except (OSError, ValueError, AttributeError):
        return cfg
    if not isinstance(exported, dict):
        return cfg
    legacy = {k: v for k, v in predated_fields(exported).items() if k not in cfg.model}
    return dataclasses.replace(cfg, model={**cfg.model, **legacy}) if legacy else cfg


def _read_csv_log(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    if not path.is_file():
        return [], []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    # a row longer than the header (a log torn by an older seqvae): its extra values have no column
    return list(reader.fieldnames or []), [{k: v for k, v in r.items() if k is not None} for r in rows]


def fit(cfg: RunConfig, out_dir: str | Path, bundle: DataBundle | None = None, resume: bool = False) -> FitResult:
    """Train ``cfg`` into ``out_dir``: data, model, Lightning fit, best weights exported as safetensors.

    With ``resume`` training continues from ``out_dir/checkpoints/last.ckpt`` (model, optimiser,
    epoch, best-so-far and RNG state), so an interrupted run ends where an uninterrupted one would.
    On Ctrl+C the best checkpoint so far is exported and :class:`TrainingInterrupted` is raised.
    """
    out = Path(out_dir)
    cfg, bundle, resume_epoch = _prepare_run(cfg, out, bundle, resume)
    module = _build_module(cfg, bundle)
    train_loader, val_loader = _make_loaders(cfg, module.model, bundle)
    with quiet_lightning(verbose=_rich_progress(cfg.train)):
        trainer, train_loader = _build_run_trainer(cfg, out, module, train_loader, val_loader is not None, resume_epoch)
        interrupted = _run_training(trainer, module, train_loader, val_loader, out, resume)
    result = _finish_run(cfg, out, module, bundle, trainer, interrupted, resume)
    if result.is_main_process:
        from seqvae.defaults import warn_unfinished_schedules

        warn_unfinished_schedules(cfg, int(trainer.global_step), module.objective.total_steps)
        _diagnostics(trainer).warn_if_collapsed(module.model.latent_dim, stacklevel=2)
    if interrupted:
        raise TrainingInterrupted(result)
    return result


def _prepare_run(
    cfg: RunConfig, out: Path, bundle: DataBundle | None, resume: bool
) -> tuple[RunConfig, DataBundle, int | None]:
    """The run directory, the config (data defaults filled in; written as ``run_config.json``), the seed set
    and the data; on a resume also the epochs its last checkpoint holds (the log keeps their rows)."""
    out.mkdir(parents=True, exist_ok=True)
    last = out / "checkpoints" / LAST_CHECKPOINT
    if resume and not last.is_file():
        raise CheckpointError(f"cannot resume {out}: {last} does not exist (no epoch of that run finished)")
    # read_lightning_checkpoint refuses, before Lightning opens it, anything but tensors and plain values;
    # the log keeps the rows of the epochs the checkpoint holds (its "epoch" counts from 0)
    resume_epoch = int(read_lightning_checkpoint(last).get("epoch", -1)) + 1 if resume else None
    if resume:
        cfg = _with_exported_legacy_fields(cfg, out)
    from seqvae.defaults import apply_data_defaults

    cfg, bundle = apply_data_defaults(cfg, bundle)  # model.kind=auto, train.budget=data: values from the data
    if rank_zero_only.rank == 0:  # DDP launches copies of this process; only the first one writes
        if not resume:
            _clear_previous_run(out)
        write_json_atomic(out / RUN_CONFIG, to_dict(cfg))
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    model_cls = MODEL_REGISTRY[parse_model_config(cfg.model).kind]
    if bundle is None:
        bundle = load_data(cfg.data, cfg.seed, sequences=model_cls.sequence_input)
    return cfg, bundle, resume_epoch


def _build_module(cfg: RunConfig, bundle: DataBundle) -> VAEModule:
    """The model for the data (refusing data its likelihood cannot score), compiled if asked, in a VAEModule."""
    model = build_model(cfg.model, bundle.features)
    check_data_for_model(model, bundle)
    if cfg.data.normalize and type(model.head) in (CategoricalHead, BernoulliHead):
        raise DataError("data.normalize must be false for categorical or bernoulli likelihoods")
    if cfg.train.compile:
        # in place: the module keeps its parameter names, so checkpoints and the export are unchanged
        model.compile()
    return VAEModule(model, cfg.objective, cfg.train)


def _bucketed(cfg: RunConfig, model: VAE) -> bool:
    """Training batches of similar lengths (sequence models with ``data.sequence.bucket``)."""
    return bool(model.sequence_input and cfg.data.sequence.bucket)


def _make_loaders(cfg: RunConfig, model: VAE, bundle: DataBundle) -> tuple[DataLoader, DataLoader | None]:
    """The training loader and the validation loader (None without validation data)."""
    if _bucketed(cfg, model):
        train_loader = make_bucketed_loader(bundle.train, cfg.train.batch_size, cfg.seed, cfg.train.num_workers)
    else:
        train_loader = make_loader(bundle.train, cfg.train.batch_size, True, cfg.seed, cfg.train.num_workers)
    val_loader = make_loader(bundle.val, cfg.eval.batch_size, False) if len(bundle.val) > 0 else None
    return train_loader, val_loader


def _build_run_trainer(
    cfg: RunConfig, out: Path, module: VAEModule, train_loader: DataLoader, has_val: bool, resume_epoch: int | None
) -> tuple[L.Trainer, DataLoader]:
    """The run's Trainer (:func:`build_trainer`) and the training loader it iterates: groups of
    ``train.steps_per_iteration`` batches where that pays off."""
    model = module.model
    trainer = build_trainer(
        cfg.train,
        out,
        monitor="val/loss" if has_val else "train/loss",
        steps_per_epoch=len(train_loader),
        use_distributed_sampler=not _bucketed(cfg, model),
        keep_log_through_epoch=resume_epoch,
    )
    module.optimizer_steps_per_epoch = len(train_loader)
    # grouped steps pay off where a step is short: vector models (sequence and video models take one
    # step per iteration, so a SIGTERM, which Lightning acts on between iterations, is not held up)
    vectors = not model.sequence_input and not model.video_input
    if cfg.train.steps_per_iteration > 1 and vectors and trainer.world_size == 1:
        train_loader = _grouped(train_loader, cfg.train.steps_per_iteration)
    return trainer, train_loader


def _run_training(
    trainer: L.Trainer, module: VAEModule, train_loader: DataLoader, val_loader: DataLoader | None, out: Path, resume: bool
) -> bool:
    """``trainer.fit`` (from the last checkpoint on a resume); True if Ctrl+C interrupted it. A divergence
    raises :class:`TrainingDiverged`, naming the checkpoints kept."""
    last = out / "checkpoints" / LAST_CHECKPOINT
    try:
        # our checkpoints hold only tensors and plain values: never unpickle anything else; argument
        # checks of torch.distributions are off, so that a non-finite batch reaches the step guard
        # (VAEModule.on_before_optimizer_step) instead of raising
        with _distribution_checks(False):
            trainer.fit(module, train_loader, val_loader, ckpt_path=last if resume else None, weights_only=True)
    except SystemExit:  # Lightning turns Ctrl+C into a graceful shutdown and sys.exit(1)
        if trainer.state.status != TrainerStatus.INTERRUPTED:
            raise
        return True
    except _NonFiniteSteps as exc:
        kept = [p for p in (out / "checkpoints" / "best.ckpt", last) if p.is_file()]
        where = ", ".join(str(p) for p in kept) if kept else "none (no epoch finished)"
        raise TrainingDiverged(
            f"training stopped: {exc}. Checkpoints of the last finished epoch: {where}. Lower train.lr, set "
            "train.gradient_clip, or check the data; `seqvae train --resume` continues from the last one."
        ) from None
    return False


def _finish_run(
    cfg: RunConfig, out: Path, module: VAEModule, bundle: DataBundle, trainer: L.Trainer, interrupted: bool, resume: bool
) -> FitResult:
    """The best checkpoint's weights in the model, exported (first process; on Ctrl+C only if an epoch
    finished), and the run's summary (written as ``train_summary.json``)."""
    model = module.model
    best, best_ckpt = _load_best(trainer, model)
    main = trainer.is_global_zero
    if main and (best_ckpt is not None or not interrupted):
        export_model(model, out, cfg, bundle.normalizer)
    summary = _summary(cfg, out, module, bundle, trainer, best, best_ckpt, interrupted, resume)
    if main:
        write_json_atomic(out / "train_summary.json", summary)
    return FitResult(model=model, bundle=bundle, out_dir=out, summary=summary, is_main_process=main)


def _load_best(trainer: L.Trainer, model: VAE) -> tuple[str, dict[str, Any] | None]:
    """The best checkpoint's path ('' if none was written) and contents; its weights loaded into ``model``,
    which is put in eval mode."""
    ckpt = trainer.checkpoint_callback
    best = ckpt.best_model_path if ckpt is not None and Path(ckpt.best_model_path or "").is_file() else ""
    best_ckpt = read_lightning_checkpoint(best) if best else None
    if best_ckpt is not None:
        model.load_state_dict(lightning_model_state(best_ckpt))
    model.eval()
    return best, best_ckpt


def _summary(
    cfg: RunConfig, out: Path, module: VAEModule, bundle: DataBundle, trainer: L.Trainer, best: str,
    best_ckpt: dict[str, Any] | None, interrupted: bool, resume: bool,
) -> dict[str, Any]:
    """``train_summary.json``: epochs and steps run, the best epoch, the latent diagnostics, skipped steps."""
    main = trainer.is_global_zero
    # does the decoder read z? (active units only say the encoder writes it): shuffle each unit on validation
    usage = latent_usage(module.model, bundle.val, seed=cfg.seed) if main and len(bundle.val) > 0 else None
    epochs = int(trainer.current_epoch)
    last = out / "checkpoints" / LAST_CHECKPOINT
    if interrupted and last.is_file():  # Ctrl+C after an epoch's checkpoint, before Lightning counted the epoch
        epochs = max(epochs, int(read_lightning_checkpoint(last).get("epoch", -1)) + 1)
    diagnostics = _diagnostics(trainer)
    return {
        "epochs": epochs,
        "steps": int(trainer.global_step),
        "best_checkpoint": Path(best).name if best else None,
        "best_epoch": int(best_ckpt["epoch"]) + 1 if best_ckpt is not None else None,  # 1-based, like "epochs"
        "best_val_loss": _float(trainer.checkpoint_callback.best_model_score) if best else None,
        "active_units": diagnostics.n_active,
        "kl_per_dim": diagnostics.kl_per_dim,
        "used_units": usage["used_units"] if usage else None,
        "latent_usage": usage,
        "skipped_steps": module.skipped_steps,
        "interrupted": interrupted,
        "resumed": resume,
    }


def _diagnostics(trainer: L.Trainer) -> LatentDiagnostics:
    """The trainer's :class:`LatentDiagnostics` (:func:`build_trainer` adds one; an empty one if it was removed)."""
    return next((c for c in trainer.callbacks if isinstance(c, LatentDiagnostics)), LatentDiagnostics())


class _GroupSampler(Sampler[list[list[int]]]):
    """The index lists of an ungrouped loader's batches (``size`` examples in ``sampler``'s order), ``k`` of
    them per item. ``sampler`` stays reachable as ``.sampler``, where Lightning sets the epoch."""

    def __init__(self, sampler: Sampler[int], size: int, k: int) -> None:
        self.sampler, self.size, self.k = sampler, size, k

    def __len__(self) -> int:
        return -(-(-(-len(self.sampler) // self.size)) // self.k)  # ceil(ceil(n / size) / k)

    def __iter__(self) -> Iterator[list[list[int]]]:
        group: list[list[int]] = []
        for batch in BatchSampler(self.sampler, self.size, drop_last=False):
            group.append(batch)
            if len(group) == self.k:
                yield group
                group = []
        if group:
            yield group


class _Groups(Dataset):
    """A dataset that builds whole batches (``__getitems__``), serving a list of batches per group."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitems__(self, groups: list[list[int]]) -> list[Batch]:
        return [self.dataset.__getitems__(indices) for indices in groups]


def _grouped(loader: DataLoader, k: int) -> DataLoader:
    """``loader`` (batch size, sampler, workers) serving groups of ``k`` consecutive batches."""
    return DataLoader(
        _Groups(loader.dataset),
        batch_sampler=_GroupSampler(loader.sampler, loader.batch_size, k),
        collate_fn=loader.collate_fn,
        num_workers=loader.num_workers,
        persistent_workers=loader.persistent_workers,
    )


def _float(x: Any) -> float | None:
    if x is None:
        return None
    value = float(x.item() if isinstance(x, torch.Tensor) else x)
    return value if np.isfinite(value) else None
