"""Runs that survive: non-finite steps skipped, divergence stopped with checkpoints intact, SIGKILL then
resume, unsafe resume checkpoints refused, posterior-collapse warnings."""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_training import read_epochs

from seqvae.data.arrays import ArrayDataset
from seqvae.data.sources import load_data
from seqvae.errors import CheckpointError
from seqvae.runconfig import load_run_config
from seqvae.training import PosteriorCollapseWarning, TrainingDiverged, fit

BASE = ["train.progress_bar=false", "data.params.n=512", "train.batch_size=64"]


def _config(*extra: str):
    return load_run_config("mlp-gaussian-mixture", [*BASE, *extra])


def _with_nan_rows(bundle, rows: list[int]):
    values = bundle.train.values.clone()
    values[rows] = float("nan")
    bundle.train = ArrayDataset(values, bundle.train.labels)
    return bundle


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_nan_batch_is_skipped_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = _config("train.max_epochs=3")
    bundle = _with_nan_rows(load_data(cfg.data, cfg.seed), [5])  # one example: one batch per epoch
    with caplog.at_level("WARNING", logger="seqvae.training"):
        result = fit(cfg, tmp_path / "run", bundle=bundle)
    assert result.summary["skipped_steps"] == 3 and result.summary["epochs"] == 3
    assert sum("non-finite loss, update skipped" in r.getMessage() for r in caplog.records) == 3
    assert all(torch.isfinite(p).all() for p in result.model.parameters())
    rows = [r for r in read_epochs(tmp_path / "run/logs/metrics.csv") if r.get("train/loss")]
    assert [r["train/skipped_steps"] for r in rows] == [1.0, 1.0, 1.0]
    assert all(math.isfinite(r["train/loss"]) for r in rows)  # the skipped batch stays out of the epoch means


def test_skipped_step_leaves_weights_and_optimizer_untouched(tmp_path: Path) -> None:
    """With every example NaN but one step allowed before stopping, the checkpointed weights of a run
    that is resumed into NaN data equal the weights it was resumed from."""
    cfg = _config("train.max_epochs=2")
    fit(cfg, tmp_path / "run")
    last = tmp_path / "run/checkpoints/last.ckpt"
    best = tmp_path / "run/checkpoints/best.ckpt"
    before = {p: _digest(p) for p in (last, best)}
    cfg4 = _config("train.max_epochs=4", "train.max_nonfinite_steps=3")
    bundle = load_data(cfg4.data, cfg4.seed)
    bundle = _with_nan_rows(bundle, list(range(len(bundle.train))))
    with pytest.raises(TrainingDiverged, match="3 consecutive steps had a non-finite loss or gradient") as err:
        fit(cfg4, tmp_path / "run", bundle=bundle, resume=True)
    assert str(last) in str(err.value) and "--resume" in str(err.value)
    assert {p: _digest(p) for p in (last, best)} == before  # the last good checkpoints are intact


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "executed"))


def test_resume_refuses_a_pickle_payload_checkpoint_without_running_it(tmp_path: Path) -> None:
    fit(_config("train.max_epochs=1"), tmp_path / "run")
    marker = tmp_path / "pwned.txt"
    last = tmp_path / "run/checkpoints/last.ckpt"
    last.write_bytes(pickle.dumps({"state_dict": {}, "x": _Payload(marker)}))
    with pytest.raises(CheckpointError, match="cannot read Lightning checkpoint safely"):
        fit(_config("train.max_epochs=2"), tmp_path / "run", resume=True)
    assert not marker.exists()
    torch.save({"state_dict": {}, "x": _Payload(marker)}, last)  # the torch.save form of the same attack
    with pytest.raises(CheckpointError):
        fit(_config("train.max_epochs=2"), tmp_path / "run", resume=True)
    assert not marker.exists()


def test_collapsed_posterior_is_warned_about(tmp_path: Path) -> None:
    # beta large enough that the KL term wins: every dimension collapses onto the prior
    cfg = _config("train.max_epochs=2", "objective.beta=200")
    with pytest.warns(PosteriorCollapseWarning, match="none of the 2 latent dimensions is active"):
        result = fit(cfg, tmp_path / "collapsed")
    assert result.summary["active_units"] == 0 and len(result.summary["kl_per_dim"]) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", PosteriorCollapseWarning)
        healthy = fit(_config("train.max_epochs=3"), tmp_path / "healthy")
    assert healthy.summary["active_units"] >= 1


def _train_cmd(out: Path, epochs: int, *extra: str) -> list[str]:
    # checkpoints after every epoch (train.checkpoint_every_seconds=0): a SIGKILL loses at most that interval,
    # and the test kills after the second checkpoint appears
    return [sys.executable, "-m", "seqvae.cli", "train", *extra, "--out", str(out), "--no-progress",
            "--set", f"train.max_epochs={epochs}", "--set", "data.params.n=6000", "--set", "train.batch_size=32",
            "--set", "train.checkpoint_every_seconds=0"]


def test_sigkill_mid_epoch_then_resume_equals_the_uninterrupted_run(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    whole = tmp_path / "whole"
    subprocess.run(_train_cmd(whole, 4, "-c", "mlp-gaussian-mixture"), check=True, capture_output=True, env=env, timeout=300)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(killed, 4, "-c", "mlp-gaussian-mixture"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    last = killed / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 240
    while not last.is_file() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    first = time.monotonic()
    assert last.is_file(), "no epoch finished before the deadline"
    mtime = last.stat().st_mtime_ns
    while last.stat().st_mtime_ns == mtime and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    epoch_seconds = time.monotonic() - first
    time.sleep(0.5 * epoch_seconds)  # half-way through the third epoch
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "model.safetensors").exists()
    done = subprocess.run([sys.executable, "-m", "seqvae.cli", "train", "--resume", str(killed), "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    a, b = load_file(whole / "model.safetensors"), load_file(killed / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)
    # one learning curve: the epochs before the kill kept, the killed epoch redone once, counted from 1
    assert [int(r["epoch"]) for r in read_epochs(killed / "logs/metrics.csv")] == [1, 2, 3, 4]
    whole_log, killed_log = read_epochs(whole / "logs/metrics.csv"), read_epochs(killed / "logs/metrics.csv")
    assert [r["train/loss"] for r in whole_log] == pytest.approx([r["train/loss"] for r in killed_log], abs=1e-6)
