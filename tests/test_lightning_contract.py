"""The private parts of Lightning that seqvae relies on still exist with the signatures it calls them with.

pyproject.toml pins Lightning to the tested minor range because of them; an upgrade that renames or
removes one fails here, loudly. An overridden private method matters most: renamed upstream, the override
would silently stop being called (checkpoints, logs or progress output would change without an error).
"""

from __future__ import annotations

import inspect
import logging
import warnings
from pathlib import Path

import pytest
from lightning.fabric.loggers.csv_logs import _ExperimentWriter as FabricExperimentWriter
from lightning.pytorch.callbacks import ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from seqvae import _lightning_logs, training

# private method -> (its parameters, overridden by the seqvae subclass or only called), per Lightning class
PRIVATE_METHODS = {
    (training._Checkpoints, ModelCheckpoint): {  # last.ckpt after every epoch (_Checkpoints._ensure_last)
        "_save_last_checkpoint": (["self", "trainer", "monitor_candidates"], "called"),
        "_should_skip_saving_checkpoint": (["self", "trainer"], "called"),
        "_should_save_on_train_epoch_end": (["self", "trainer"], "called"),
        "_monitor_candidates": (["self", "trainer"], "called"),
    },
    (training._RunWriter, ExperimentWriter): {"_check_log_dir_exists": (["self"], "overridden")},
    (training._ProgressBar, RichProgressBar): {"_get_train_description": (["self", "current_epoch"], "overridden")},
}
# private attributes read or written on instances
PRIVATE_ATTRIBUTES = {CSVLogger: ("_experiment", "_fs")}
PUBLIC_ATTRIBUTES = {  # public, but read by the overrides above
    ModelCheckpoint: ("save_last", "best_model_path", "best_model_score", "dirpath"),
    ExperimentWriter: ("metrics", "metrics_keys", "metrics_file_path"),
}


@pytest.mark.parametrize("ours, base", list(PRIVATE_METHODS), ids=lambda c: c.__name__)
def test_private_methods_relied_on_exist(ours: type, base: type) -> None:
    for name, (params, _) in PRIVATE_METHODS[ours, base].items():
        method = getattr(base, name, None)
        assert callable(method), f"{base.__name__}.{name} is gone: {ours.__name__} relies on it"
        assert list(inspect.signature(method).parameters) == params, f"{base.__name__}.{name} changed its signature"


@pytest.mark.parametrize("ours, base", list(PRIVATE_METHODS), ids=lambda c: c.__name__)
def test_every_private_override_is_listed(ours: type, base: type) -> None:
    # a private name of the subclass that shadows one of Lightning's is an override: it must be listed above
    # (_Checkpoints overrides none: it works through public hooks and the checkpoint IO plugin)
    shadowing = {n for n in vars(ours) if n.startswith("_") and not n.startswith("__") and hasattr(base, n)}
    listed = {n for n, (_, how) in PRIVATE_METHODS[ours, base].items() if how == "overridden"}
    assert shadowing == listed, f"private overrides {sorted(shadowing)}, listed {sorted(listed)}"


def test_private_attributes_relied_on_exist(tmp_path: Path) -> None:
    instances = {
        ModelCheckpoint: ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True),
        CSVLogger: CSVLogger(save_dir=str(tmp_path), name="", version="logs"),
    }
    for cls, names in PRIVATE_ATTRIBUTES.items():
        for name in names:
            assert hasattr(instances[cls], name), f"{cls.__name__} instances no longer have {name}"
    for name in PUBLIC_ATTRIBUTES[ModelCheckpoint]:
        assert hasattr(instances[ModelCheckpoint], name), f"ModelCheckpoint instances no longer have {name}"
    writer = ExperimentWriter(str(tmp_path / "writer"))
    for name in PUBLIC_ATTRIBUTES[ExperimentWriter]:
        assert hasattr(writer, name), f"ExperimentWriter instances no longer have {name}"


def test_experiment_writer_calls_the_log_dir_check_from_init(tmp_path: Path) -> None:
    # _RunWriter keeps a resumed run's rows by overriding the check Lightning's __init__ makes
    assert "self._check_log_dir_exists()" in inspect.getsource(FabricExperimentWriter.__init__)
    (tmp_path / "metrics.csv").write_text("epoch,train/loss\n1,0.5\n2,0.4\n")
    writer = training._RunWriter(str(tmp_path), keep_through_epoch=1)
    assert Path(writer.metrics_file_path).read_text().splitlines() == ["epoch,train/loss", "1,0.5"]


def _state(name: str) -> tuple[int, int]:
    logger = logging.getLogger(name)
    return logger.level, len(logger.filters)


def test_quiet_lightning_restores_the_loggers_and_filters() -> None:
    names = _lightning_logs.LIGHTNING_LOGGERS
    before = [_state(n) for n in names]
    filters_before = list(warnings.filters)
    with _lightning_logs.quiet_lightning(verbose=False):
        assert all(logging.getLogger(n).level == logging.WARNING for n in names)
        assert all(len(logging.getLogger(n).filters) == count + 1 for n, (_, count) in zip(names, before))
        adverts = logging.getLogger(names[0]).filters[-1]
        assert not adverts.filter(logging.LogRecord(names[0], logging.INFO, "", 0, "💡 Tip: x", None, None))
        assert adverts.filter(logging.LogRecord(names[0], logging.INFO, "", 0, "restored states", None, None))
        with warnings.catch_warnings(record=True) as caught:  # the block's filters stay in force
            warnings.warn("The 'train_dataloader' does not have many workers", UserWarning)
            warnings.warn("resumed checkpoint state could not be restored", UserWarning)
        assert [str(w.message) for w in caught] == ["resumed checkpoint state could not be restored"]
    assert [_state(n) for n in names] == before and warnings.filters == filters_before
    with _lightning_logs.quiet_lightning(verbose=True):  # info lines pass, adverts still dropped
        assert [logging.getLogger(n).level for n in names] == [level for level, _ in before]
        assert all(len(logging.getLogger(n).filters) == count + 1 for n, (_, count) in zip(names, before))
    assert [_state(n) for n in names] == before
