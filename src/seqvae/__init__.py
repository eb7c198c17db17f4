"""seqvae: variational autoencoders for sequential and structured data.

The public API, by what you do with it (everything else is reachable through its module)::

    import seqvae

    cfg = seqvae.load_run_config("vrae-sinusoids", ["train.max_epochs=3"])   # a shipped config or a YAML path
    result = seqvae.fit(cfg, "runs/demo")                                     # data -> model -> trained run
    loaded = seqvae.load_run("runs/demo")                                     # model + config + normaliser
    report = seqvae.evaluate_model(loaded.model, result.bundle.test)          # ELBO / IWAE / log p(x)

Configs: :class:`RunConfig`, :func:`load_run_config`, :func:`shipped_configs`. Training: :func:`fit`,
:class:`FitResult`. Models: :class:`VAE` (the contract every model meets), :func:`build_model`,
:func:`load_model`, :func:`load_run`, :func:`export_model`. Data: :func:`load_data`, :class:`DataBundle`,
:class:`Batch`, :class:`SequenceBatch`. Objectives: :class:`Objective`, :func:`elbo_terms`,
:func:`iwae_bound`, :func:`importance_log_likelihood`. Evaluation: :func:`evaluate_model`. Experiments:
:func:`run_experiment`. Extending seqvae: :func:`register_model`, :func:`register_data_kind`,
:func:`register_experiment`, :func:`register_view` (see :mod:`seqvae.registry`).

Names are imported on first use, so ``import seqvae`` stays light (no torch, no Lightning).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from seqvae.errors import CheckpointError, ConfigError, DataError, SeqVAEError

__version__ = "0.1.0"

_LAZY = {  # public name -> the module that defines it
    "RunConfig": "seqvae.config",
    "load_run_config": "seqvae.runconfig",
    "shipped_configs": "seqvae.config",
    "fit": "seqvae.training",
    "FitResult": "seqvae.training",
    "VAE": "seqvae.models.base",
    "ModelOutput": "seqvae.models.base",
    "build_model": "seqvae.models.base",
    "register_model": "seqvae.models.base",
    "load_model": "seqvae.checkpoint",
    "load_run": "seqvae.checkpoint",
    "export_model": "seqvae.checkpoint",
    "LoadedModel": "seqvae.checkpoint",
    "load_data": "seqvae.data.sources",
    "register_data_kind": "seqvae.data.sources",
    "DataBundle": "seqvae.data.prepare",
    "Batch": "seqvae.data.batch",
    "SequenceBatch": "seqvae.data.sequences",
    "Objective": "seqvae.objectives",
    "elbo_terms": "seqvae.objectives",
    "iwae_bound": "seqvae.objectives",
    "importance_log_likelihood": "seqvae.objectives",
    "evaluate_model": "seqvae.analysis.evaluation",
    "run_experiment": "seqvae.experiments",
    "register_experiment": "seqvae.experiments",
    "register_view": "seqvae.report",
}

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "SeqVAEError",
    "__version__",
    "RunConfig",
    "load_run_config",
    "shipped_configs",
    "fit",
    "FitResult",
    "VAE",
    "ModelOutput",
    "build_model",
    "register_model",
    "load_model",
    "load_run",
    "export_model",
    "LoadedModel",
    "load_data",
    "register_data_kind",
    "DataBundle",
    "Batch",
    "SequenceBatch",
    "Objective",
    "elbo_terms",
    "iwae_bound",
    "importance_log_likelihood",
    "evaluate_model",
    "run_experiment",
    "register_experiment",
    "register_view",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'seqvae' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from seqvae.analysis.evaluation import evaluate_model
    from seqvae.checkpoint import LoadedModel, export_model, load_model, load_run
    from seqvae.config import RunConfig, shipped_configs
    from seqvae.data.batch import Batch
    from seqvae.data.prepare import DataBundle
    from seqvae.data.sequences import SequenceBatch
    from seqvae.data.sources import load_data, register_data_kind
    from seqvae.experiments import register_experiment, run_experiment
    from seqvae.models.base import VAE, ModelOutput, build_model, register_model
    from seqvae.objectives import Objective, elbo_terms, importance_log_likelihood, iwae_bound
    from seqvae.report import register_view
    from seqvae.runconfig import load_run_config
    from seqvae.training import FitResult, fit
