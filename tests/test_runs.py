"""Run directories: portable (copied or moved runs resume with their best-so-far), complete logs through a
resume, checkpoints written on a time budget but always at the end and on Ctrl+C, files with the umask's
mode, and one progress line per epoch when there is no terminal."""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from test_training import read_epochs

from seqvae.checkpoint import read_lightning_checkpoint
from seqvae.runconfig import load_run_config
from seqvae.training import TrainingInterrupted, fit

# the shipped config warms β up over its first epochs, so the validation loss (at the target β) is lowest
# after epoch 1 and rises after: the best epoch lies before any resume point
BASE = ["train.progress_bar=false", "data.params.n=512"]


def _config(epochs: int, *extra: str):
    return load_run_config("mlp-gaussian-mixture", [*BASE, f"train.max_epochs={epochs}", *extra])


def test_a_moved_run_resumes_with_its_best_so_far_and_exports_the_uninterrupted_model(tmp_path: Path) -> None:
    whole = fit(_config(4), tmp_path / "whole")
    assert whole.summary["best_epoch"] <= 2  # before the copy point, else a reset best could not show
    fit(_config(2), tmp_path / "first")
    shutil.copytree(tmp_path / "first", tmp_path / "moved")
    shutil.rmtree(tmp_path / "first")  # moved: nothing may still point into the old directory
    resumed = fit(_config(4), tmp_path / "moved", resume=True)
    a, b = load_file(tmp_path / "whole/model.safetensors"), load_file(tmp_path / "moved/model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for key in ("best_epoch", "best_val_loss", "epochs", "steps"):
        assert resumed.summary[key] == whole.summary[key], key
    assert read_epochs(tmp_path / "whole/logs/metrics.csv") == read_epochs(tmp_path / "moved/logs/metrics.csv")
    best = read_lightning_checkpoint(tmp_path / "moved/checkpoints/best.ckpt")
    assert best["epoch"] + 1 == whole.summary["best_epoch"]  # best.ckpt was not replaced by a worse epoch


def test_a_resumed_log_holds_the_earlier_epochs_from_its_start(tmp_path: Path) -> None:
    """The log writer of a resumed run rewrites the file with the rows up to its checkpoint's epoch as soon
    as it starts (a resume killed again keeps them); rows of epochs it redoes are dropped."""
    from seqvae.training import _RunCSVLogger

    logs = tmp_path / "logs"
    logs.mkdir()
    header = "beta,epoch,step,train/loss,val/loss\n"
    rows = "".join(f",{e},{3 * e},,{1.0 / e}\n0.5,{e},{3 * e},{2.0 / e},\n" for e in (1, 2, 3))
    (logs / "metrics.csv").write_text(header + rows)
    logger = _RunCSVLogger(tmp_path, keep_through_epoch=2)
    _ = logger.experiment  # what Lightning touches when training starts
    kept = read_epochs(logs / "metrics.csv")
    assert [r["epoch"] for r in kept] == [1.0, 2.0] and kept[1]["val/loss"] == 0.5 and kept[1]["train/loss"] == 1.0
    logger.log_metrics({"val/loss": 0.25, "epoch": 2}, step=9)  # Lightning's epoch 2 is the third, logged as 3
    logger.save()
    assert [r["epoch"] for r in read_epochs(logs / "metrics.csv")] == [1.0, 2.0, 3.0]
    _RunCSVLogger(tmp_path).experiment  # a fresh run starts an empty log
    assert not (logs / "metrics.csv").exists()
    (logs / "metrics.csv").write_text("epoch,step,val/loss\n0,3,1.0\n1,6,0.5\n2,9,0.25\n")  # an older run's log, from 0
    _ = _RunCSVLogger(tmp_path, keep_through_epoch=2).experiment
    assert [(r["epoch"], r["val/loss"]) for r in read_epochs(logs / "metrics.csv")] == [(1.0, 1.0), (2.0, 0.5)]


def test_ctrl_c_while_the_log_gains_a_column_leaves_a_readable_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl+C can arrive in the middle of a save that adds a column (the first validation row, say). The file
    is then the old one or the new one, never rows longer than the header, and the save Lightning makes
    while shutting down, and a resume, read it."""
    import seqvae.training as training

    logger = training._RunCSVLogger(tmp_path)
    logger.log_metrics({"train/loss": 2.0, "epoch": 0}, step=3)
    logger.save()
    logger.log_metrics({"val/loss": 1.5, "beta": 0.5, "epoch": 0}, step=3)

    def interrupted(path: Path, payload: bytes) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "write_bytes_atomic", interrupted)
    with pytest.raises(KeyboardInterrupt):
        logger.save()
    monkeypatch.undo()
    log = tmp_path / "logs" / "metrics.csv"
    assert log.read_text().splitlines() == ["epoch,step,train/loss", "1,3,2.0"]  # the old file, whole
    logger.save()  # Lightning's save on shutdown
    assert log.read_text().splitlines() == ["beta,epoch,step,train/loss,val/loss", ",1,3,2.0,", "0.5,1,3,,1.5"]
    # a torn log from an older seqvae (a row longer than its header) is read without the extra values
    log.write_text("epoch,step,val/loss\n1,3,1.0,7\n2,6,0.5\n")
    _ = training._RunCSVLogger(tmp_path, keep_through_epoch=2).experiment
    assert log.read_text().splitlines() == ["epoch,step,val/loss", "1,3,1.0", "2,6,0.5"]


def test_checkpoints_are_written_at_the_end_not_every_epoch_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqvae import training

    writes: list[str] = []
    original = training._AtomicCheckpointIO._write
    monkeypatch.setattr(training._AtomicCheckpointIO, "_write",
                        staticmethod(lambda ckpt, path: (writes.append(Path(path).name), original(ckpt, path))))
    every_epoch = fit(_config(4, "train.checkpoint_every_seconds=0"), tmp_path / "every")
    per_epoch = len(writes)
    writes.clear()
    throttled = fit(_config(4, "train.checkpoint_every_seconds=3600"), tmp_path / "throttled")
    assert per_epoch >= 4 and sorted(writes) == ["best.ckpt", "last.ckpt"]  # one state each, at the end
    assert throttled.summary == every_epoch.summary
    for name in ("best.ckpt", "last.ckpt"):
        a, b = (read_lightning_checkpoint(tmp_path / d / "checkpoints" / name) for d in ("every", "throttled"))
        assert (a["epoch"], a["global_step"]) == (b["epoch"], b["global_step"])
        assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    a, b = load_file(tmp_path / "every/model.safetensors"), load_file(tmp_path / "throttled/model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_ctrl_c_writes_the_last_finished_epoch_kept_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from seqvae import training

    step = training.VAEModule.training_step

    def interrupted_in_epoch_three(self, batch, batch_idx):
        if self.current_epoch == 2 and batch_idx == 0:  # in the third epoch's first group of steps
            raise KeyboardInterrupt
        return step(self, batch, batch_idx)

    monkeypatch.setattr(training.VAEModule, "training_step", interrupted_in_epoch_three)
    sigint = signal.getsignal(signal.SIGINT)  # Lightning ignores further Ctrl+C while it shuts down
    try:
        with pytest.raises(TrainingInterrupted) as err:
            fit(_config(6, "train.checkpoint_every_seconds=3600"), tmp_path / "run")
    finally:
        signal.signal(signal.SIGINT, sigint)
    last = read_lightning_checkpoint(tmp_path / "run/checkpoints/last.ckpt")
    assert last["epoch"] == 1  # two epochs finished (0-based index 1); nothing of the third
    best = read_lightning_checkpoint(tmp_path / "run/checkpoints/best.ckpt")
    assert best["epoch"] + 1 == err.value.result.summary["best_epoch"] <= 2
    assert (tmp_path / "run/model.safetensors").is_file()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o077, 0o600)])
def test_written_files_get_the_mode_the_umask_gives(tmp_path: Path, umask: int, expected: int) -> None:
    from seqvae.checkpoint import export_model
    from seqvae.data.streaming import NpzStreamWriter
    from seqvae.io import save_npz_atomic, write_json_atomic
    from seqvae.models.base import build_model
    from seqvae.training import _AtomicCheckpointIO

    old = os.umask(umask)
    try:
        write_json_atomic(tmp_path / "a.json", {"x": 1})
        save_npz_atomic(tmp_path / "b.npz", x=np.zeros(3))
        with NpzStreamWriter(tmp_path / "c.npz") as writer:
            writer.append(ids=["s0"], z=np.zeros((1, 2)))
        _AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "d.ckpt")
        export_model(build_model({"kind": "mlp", "latent_dim": 2, "hidden": [8]}, 3), tmp_path / "model")
    finally:
        os.umask(old)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 6 and {p.name: _mode(p) for p in files} == {p.name: expected for p in files}


def test_a_training_run_writes_every_file_with_the_umask_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        fit(_config(1), tmp_path / "run")
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert {"model.safetensors", "last.ckpt", "best.ckpt", "train_summary.json", "metrics.csv"} <= {p.name for p in files}
    assert {p.name: _mode(p) for p in files} == {p.name: 0o640 for p in files}


LINE = re.compile(r"^epoch (\d+)/3  train loss \S+  val loss \S+  val KL \S+  β \S+  \d+\.\d s$")


@pytest.mark.parametrize("flag", [["--no-progress"], []])  # no terminal under the test runner: lines either way
def test_train_without_a_terminal_prints_one_line_per_epoch(tmp_path: Path, flag: list[str]) -> None:
    from typer.testing import CliRunner

    from seqvae.cli import app

    result = CliRunner().invoke(app, ["train", "-c", "mlp-gaussian-mixture", "--out", str(tmp_path / "run"), *flag,
                                      "--set", "train.max_epochs=3", "--set", "data.params.n=256"])
    assert result.exit_code == 0, result.output
    lines = [m for m in map(LINE.match, result.output.splitlines()) if m]
    assert [int(m.group(1)) for m in lines] == [1, 2, 3]
    assert "━" not in result.output  # no rich bar
