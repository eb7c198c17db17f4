"""The seqvae command end to end: train -> evaluate -> sample -> encode, errors and determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from seqvae.cli import app

runner = CliRunner()
FAST = ["--set", "train.max_epochs=3", "--set", "data.params.n=2000", "--no-progress"]


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    invoke("train", "--config", "mlp-gaussian-mixture", "--out", str(out), "--seed", "3", *FAST)
    return out


def test_train_writes_an_exported_run(run_dir: Path) -> None:
    for name in ("model.safetensors", "config.json", "normalizer.json", "train_summary.json", "logs/metrics.csv"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["run"]["seed"] == 3
    assert config["run"]["train"]["max_epochs"] == 3


def test_evaluate_orders_the_bounds(run_dir: Path) -> None:
    invoke("evaluate", str(run_dir), "--iwae-samples", "50", "--ll-samples", "500")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["n_examples"] == 200  # 10% of 2000
    # ELBO <= IWAE(50) <= IS log p(x) (K=500), up to Monte Carlo error
    assert metrics["elbo"] <= metrics["iwae"] + 0.02
    assert metrics["iwae"] <= metrics["log_likelihood"] + 0.02
    assert metrics["elbo"] == pytest.approx(metrics["recon_log_prob"] - metrics["kl"], abs=1e-5)


def test_sample_is_seeded(run_dir: Path, tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "c.npz"
    invoke("sample", str(run_dir), "-n", "9", "--out", str(a), "--seed", "1")
    invoke("sample", str(run_dir), "-n", "9", "--out", str(b), "--seed", "1")
    invoke("sample", str(run_dir), "-n", "9", "--out", str(c), "--seed", "2", "--draw")
    xa, xb, xc = (np.load(p)["x"] for p in (a, b, c))
    assert xa.shape == (9, 2)
    np.testing.assert_array_equal(xa, xb)
    assert not np.allclose(xa, xc)


def test_encode_writes_means_and_stds(run_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "points.csv"
    rng = np.random.default_rng(0)
    np.savetxt(data, rng.normal(size=(13, 2)), delimiter=",", header="x,y", comments="")
    out = tmp_path / "lat.npz"
    invoke("encode", str(run_dir), "--data", str(data), "--out", str(out))
    lat = np.load(out)
    assert lat["mean"].shape == (13, 2) and lat["std"].shape == (13, 2)
    assert (lat["std"] > 0).all()


def test_encode_rejects_wrong_feature_count(run_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "wide.npy"
    np.save(data, np.zeros((4, 3), dtype=np.float32))
    result = runner.invoke(app, ["encode", str(run_dir), "--data", str(data)])
    assert result.exit_code == 2
    assert "wide.npy" in result.output and "expects 2" in result.output


def test_unknown_config_key_is_refused_by_name(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["train", "--config", "mlp-gaussian-mixture", "--out", str(tmp_path / "x"), "--set", "train.lerning_rate=0.1"]
    )
    assert result.exit_code == 2
    assert "train.lerning_rate" in result.output
    assert not (tmp_path / "x" / "model.safetensors").exists()


def test_same_seed_gives_identical_metrics(tmp_path: Path) -> None:
    texts = []
    for name in ("a", "b"):
        out = tmp_path / name
        invoke("train", "--config", "mlp-gaussian-mixture", "--out", str(out), "--seed", "5", *FAST)
        invoke("evaluate", str(out), "--iwae-samples", "8", "--ll-samples", "32", "--seed", "5")
        texts.append((out / "metrics.json").read_text())
    assert texts[0] == texts[1]


def test_help_explains_each_command() -> None:
    out = invoke("--help")
    for command in ("train", "evaluate", "sample", "encode", "experiment"):
        assert command in out
    assert "--set" in invoke("train", "--help")
    assert "importance-sampled" in invoke("evaluate", "--help")


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_interrupt_exports_the_best_model_and_resume_finishes_the_run(tmp_path: Path, sig: str) -> None:
    import csv
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "seqvae.cli", "train", "-c", "mlp-gaussian-mixture", "--out", str(out), "--no-progress",
           "--set", "train.max_epochs=1000", "--set", "data.params.n=4000"]

    def as_from_a_terminal() -> None:  # a shell running us in the background may ignore SIGINT
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=as_from_a_terminal)
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoints" / "last.ckpt").exists():  # wait for a finished epoch
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.2)
        proc.send_signal(getattr(signal, sig))
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, output
    assert "seqvae train --resume" in output
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["interrupted"] and summary["best_epoch"] >= 1
    assert (out / "model.safetensors").is_file()  # the best model so far is usable right away
    if sig == "SIGTERM":
        return
    invoke("evaluate", str(out), "--iwae-samples", "4", "--ll-samples", "8")
    # resume to two epochs past the interruption
    target = summary["epochs"] + 2
    invoke("train", "--resume", str(out), "--set", f"train.max_epochs={target}", "--no-progress")
    after = json.loads((out / "train_summary.json").read_text())
    assert after["resumed"] and not after["interrupted"] and after["epochs"] == target
    with (out / "logs/metrics.csv").open() as fh:
        epochs = sorted({int(r["epoch"]) for r in csv.DictReader(fh)})
    assert epochs == list(range(1, target + 1))  # one learning curve, no gap and no duplicate, counted from 1


def test_train_argument_errors() -> None:
    result = runner.invoke(app, ["train", "--out", "x"])
    assert result.exit_code == 2 and "needs --config and --out" in result.output
    result = runner.invoke(app, ["train", "--resume", "a", "--out", "b"])
    assert result.exit_code == 2 and "--resume DIR continues the run in DIR" in result.output
    result = runner.invoke(app, ["train", "--resume", "no/such/run"])
    assert result.exit_code == 2 and "run_config.json does not exist" in result.output
