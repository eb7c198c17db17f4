"""Training through Lightning: the objective is actually optimised, schedules are applied, logs are complete."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from seqvae.errors import DataError
from seqvae.runconfig import load_run_config
from seqvae.training import active_units, fit


def read_epochs(path: Path) -> list[dict[str, float]]:
    """Lightning's CSV log merged to one row per epoch."""
    rows: dict[int, dict[str, float]] = {}
    with path.open() as fh:
        for row in csv.DictReader(fh):
            epoch = int(row["epoch"])
            rows.setdefault(epoch, {}).update({k: float(v) for k, v in row.items() if v not in ("", None)})
    return [rows[e] for e in sorted(rows)]


def ppca_mle_log_likelihood(x: np.ndarray, q: int) -> float:
    """Mean log-likelihood of the maximum-likelihood pPCA fit (Tipping & Bishop 1999), in closed form."""
    d = x.shape[1]
    cov = np.cov(x.T, bias=True)
    evals, evecs = np.linalg.eigh(cov)
    evals, evecs = evals[::-1], evecs[:, ::-1]
    s2 = evals[q:].mean()
    w = evecs[:, :q] * np.sqrt(evals[:q] - s2)
    return float(multivariate_normal(x.mean(0), w @ w.T + s2 * np.eye(d)).logpdf(x).mean())


def test_linear_vae_reaches_the_ppca_maximum_likelihood(tmp_path: Path) -> None:
    # A linear VAE trained on the ELBO recovers the pPCA MLE (Lucas et al. 2019): the exact
    # marginal likelihood after training must be within 0.05 nats of the closed-form optimum.
    cfg = load_run_config(
        base={
            "data": {"kind": "linear-gaussian", "params": {"n": 1000, "features": 5, "latent": 2, "sigma": 0.3},
                     "test_fraction": 0.0},
            "model": {"kind": "linear-gaussian", "latent_dim": 2, "sigma": 1.0},
            "train": {"max_epochs": 40, "batch_size": 100, "lr": 0.05, "progress_bar": False},
        }
    )
    result = fit(cfg, tmp_path)
    x = result.bundle.train.values
    with torch.no_grad():
        learned = float(result.model.exact_log_marginal(x).mean())
    optimum = ppca_mle_log_likelihood(x.numpy().astype(np.float64), 2)
    assert learned <= optimum + 1e-3  # nothing beats the MLE on its own training data
    assert learned >= optimum - 0.05
    epochs = read_epochs(tmp_path / "logs" / "metrics.csv")
    assert epochs[-1]["val/loss"] < epochs[0]["val/loss"] - 1.0


def test_logs_and_linear_kl_warmup(tmp_path: Path) -> None:
    cfg = load_run_config(
        "mlp-gaussian-mixture",
        ["data.params.n=320", "train.batch_size=32", "train.max_epochs=4", "train.progress_bar=false",
         "objective.beta=0.5", "objective.anneal.kind=linear", "objective.anneal.warmup_steps=16"],
    )
    fit(cfg, tmp_path)
    epochs = read_epochs(tmp_path / "logs" / "metrics.csv")
    assert len(epochs) == 4
    for key in ("train/loss", "train/recon", "train/kl", "train/elbo", "beta", "val/loss", "val/elbo", "val/active_units"):
        assert all(key in e for e in epochs), key
    # 8 steps per epoch: epoch 0 averages beta over steps 0..7 of a 16-step warm-up to 0.5
    assert epochs[0]["beta"] == pytest.approx(0.5 * np.mean(np.arange(8) / 16), rel=1e-5)
    assert epochs[2]["beta"] == pytest.approx(0.5) and epochs[3]["beta"] == pytest.approx(0.5)
    for e in epochs:
        assert e["train/elbo"] == pytest.approx(-(e["train/recon"] + e["train/kl"]), rel=1e-4, abs=1e-4)


def test_active_units_counts_varying_means() -> None:
    mu = torch.stack([torch.linspace(-1, 1, 50), torch.full((50,), 0.3), 0.01 * torch.randn(50)], dim=1)
    assert active_units(mu) == 1
    assert active_units(mu, threshold=1e-6) == 2


def test_categorical_head_refuses_non_one_hot_data(tmp_path: Path) -> None:
    cfg = load_run_config(
        base={"data": {"kind": "gaussian-mixture"}, "model": {"kind": "mlp", "likelihood": {"kind": "categorical"}},
              "train": {"max_epochs": 1, "progress_bar": False}}
    )
    with pytest.raises(DataError, match="one-hot"):
        fit(cfg, tmp_path)


def test_early_stopping_stops_before_max_epochs(tmp_path: Path) -> None:
    # lr so large that validation loss cannot keep improving; patience 2 must end the run early
    cfg = load_run_config(
        "mlp-gaussian-mixture",
        ["data.params.n=200", "train.max_epochs=40", "train.lr=0.5", "train.early_stopping_patience=2",
         "train.progress_bar=false"],
    )
    result = fit(cfg, tmp_path)
    assert result.summary["epochs"] < 40


RESUME_BASE = ["train.progress_bar=false", "data.params.n=512"]


def test_resumed_run_equals_the_uninterrupted_run(tmp_path: Path) -> None:
    whole = fit(load_run_config("mlp-gaussian-mixture", [*RESUME_BASE, "train.max_epochs=4"]), tmp_path / "whole")
    fit(load_run_config("mlp-gaussian-mixture", [*RESUME_BASE, "train.max_epochs=2"]), tmp_path / "split")
    resumed = fit(
        load_run_config("mlp-gaussian-mixture", [*RESUME_BASE, "train.max_epochs=4"]), tmp_path / "split", resume=True
    )
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # same data order, same noise, same optimiser state
    assert read_epochs(tmp_path / "whole/logs/metrics.csv") == read_epochs(tmp_path / "split/logs/metrics.csv")
    assert resumed.summary["resumed"] and resumed.summary["epochs"] == 4 and resumed.summary["steps"] == whole.summary["steps"]


def test_resume_needs_a_checkpoint_and_a_fresh_run_starts_clean(tmp_path: Path) -> None:
    from seqvae.errors import CheckpointError

    cfg = load_run_config("mlp-gaussian-mixture", [*RESUME_BASE, "train.max_epochs=2"])
    with pytest.raises(CheckpointError, match="cannot resume .*last.ckpt does not exist"):
        fit(cfg, tmp_path / "none", resume=True)
    fit(load_run_config("mlp-gaussian-mixture", [*RESUME_BASE, "train.max_epochs=3"]), tmp_path / "run")
    fit(cfg, tmp_path / "run")  # a new, shorter run in the same directory
    assert [int(r["epoch"]) for r in read_epochs(tmp_path / "run/logs/metrics.csv")] == [1, 2]  # counted from 1


@pytest.mark.parametrize(("name", "module"), [("tensorboard", "tensorboard"), ("mlflow", "mlflow")])
def test_extra_loggers_write_next_to_the_csv_log_or_say_what_to_install(tmp_path: Path, name: str, module: str) -> None:
    import importlib.util

    from seqvae.errors import ConfigError

    cfg = load_run_config("mlp-gaussian-mixture", [*RESUME_BASE, "train.max_epochs=1", f"train.extra_loggers=[{name}]"])
    if importlib.util.find_spec(module) is None:
        with pytest.raises(ConfigError, match=f"needs `pip install {module}`"):
            fit(cfg, tmp_path / "run")
    else:
        fit(cfg, tmp_path / "run")
        assert (tmp_path / "run" / ("tensorboard" if name == "tensorboard" else "mlruns")).is_dir()
        assert (tmp_path / "run" / "logs" / "metrics.csv").is_file()


def test_epoch_means_are_example_weighted_across_processes() -> None:
    from seqvae.training import _EpochMeans

    class TwoRanks:
        """Stands in for a DDP strategy: the other process saw 3 examples with loss 10 and 1 with loss 2."""

        def reduce(self, tensor: torch.Tensor, reduce_op: str) -> torch.Tensor:
            assert reduce_op == "sum"
            return tensor + torch.tensor([3 * 10.0 + 1 * 2.0, 4.0])

    means = _EpochMeans()
    means.add({"loss": torch.tensor(1.0)}, 2)
    means.add({"loss": torch.tensor(4.0)}, 2)
    assert float(means.pop(TwoRanks())["loss"]) == pytest.approx((2 * 1 + 2 * 4 + 30 + 2) / 8)
    assert means.count == 0 and means.pop(TwoRanks()) == {}  # reset after each epoch


def test_ddp_on_two_cpu_processes_shards_the_data_and_writes_once(tmp_path: Path) -> None:
    import json
    import math
    import subprocess
    import sys

    from seqvae.checkpoint import load_model

    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "seqvae.cli", "train", "-c", "mlp-gaussian-mixture", "--out", str(out), "--no-progress",
           "--set", "train.strategy=ddp", "--set", "train.devices=2", "--set", "train.max_epochs=2",
           "--set", "data.params.n=1000", "--set", "train.batch_size=50"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (done.stdout + done.stderr).count("trained 2 epochs") == 1  # the second process prints nothing
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 2 * math.ceil(math.ceil(800 / 2) / 50)  # each process sees half the data
    assert [int(r["epoch"]) for r in read_epochs(out / "logs" / "metrics.csv")] == [1, 2]
    assert load_model(out).latent_dim == 2


@pytest.mark.slow  # torch.compile takes a minute or two on a CPU
def test_compiled_training_matches_eager_and_exports_the_same_weights(tmp_path: Path) -> None:
    from seqvae.checkpoint import load_model

    base = [*RESUME_BASE, "train.max_epochs=2"]
    eager = fit(load_run_config("mlp-gaussian-mixture", base), tmp_path / "eager")
    compiled = fit(load_run_config("mlp-gaussian-mixture", [*base, "train.compile=true"]), tmp_path / "compiled")
    a, b = eager.model.state_dict(), compiled.model.state_dict()
    assert a.keys() == b.keys()  # compiled in place: same parameter names in checkpoints and the export
    for k in a:  # the same steps on the same data; compiled kernels may only reorder float arithmetic
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    exported = load_model(tmp_path / "compiled").state_dict()
    assert all(torch.equal(exported[k], b[k].cpu()) for k in b)


@pytest.mark.parametrize("extra, best_is_last", [(["train.max_epochs=4"], False), (["train.max_epochs=3", "train.lr=0.0003"], True)])
def test_last_checkpoint_is_always_the_last_epoch_and_links_to_a_best_of_the_same_epoch(
    tmp_path: Path, extra: list[str], best_is_last: bool
) -> None:
    import os

    from seqvae.checkpoint import read_lightning_checkpoint

    result = fit(load_run_config("mlp-gaussian-mixture", [*RESUME_BASE, *extra]), tmp_path)
    ckpts, epochs = tmp_path / "checkpoints", result.summary["epochs"]
    assert (result.summary["best_epoch"] == epochs) == best_is_last  # both cases are exercised
    last, best = read_lightning_checkpoint(ckpts / "last.ckpt"), read_lightning_checkpoint(ckpts / "best.ckpt")
    assert last["epoch"] == epochs - 1 and last["global_step"] == result.summary["steps"]  # never an older best
    assert best["epoch"] + 1 == result.summary["best_epoch"]
    # an epoch with a new best writes one file: last.ckpt is then a hard link to it, not a second save
    assert os.path.samefile(ckpts / "last.ckpt", ckpts / "best.ckpt") == best_is_last
    assert not [p.name for p in ckpts.iterdir() if p.suffix != ".ckpt"]  # no temporary files left


@pytest.mark.parametrize(("schedule", "extra"), [("constant", []), ("cosine", ["model.linear_skip=true", "model.init=pca"]),
                                                ("plateau", [])])
def test_grouped_optimiser_steps_train_exactly_like_single_ones(tmp_path: Path, schedule: str, extra: list[str]) -> None:
    """train.steps_per_iteration only changes how many optimiser steps one Lightning iteration takes: the
    batches, their order, the updates, the LR schedule and the logs are the same, bit for bit, also when
    the epoch's batch count is not a multiple of the group and when max_steps falls inside a group."""
    base = ["train.max_epochs=3", "data.params.n=700", "train.batch_size=64", "train.progress_bar=false",
            f"train.lr_schedule={schedule}", "train.gradient_clip=1.0", *extra]
    results = {}
    for k in (1, 3):
        cfg = load_run_config("mlp-gaussian-mixture", [*base, f"train.steps_per_iteration={k}"])
        results[k] = fit(cfg, tmp_path / f"k{k}")
    one, three = results[1], results[3]
    assert one.summary["steps"] == three.summary["steps"] == 3 * 9  # 560 training examples: 9 batches an epoch
    for a, b in zip(one.model.parameters(), three.model.parameters()):
        assert torch.equal(a, b)
    assert read_epochs(tmp_path / "k1/logs/metrics.csv") == read_epochs(tmp_path / "k3/logs/metrics.csv")
    capped = fit(load_run_config("mlp-gaussian-mixture", [*base, "train.steps_per_iteration=4", "train.max_steps=11"]),
                 tmp_path / "capped")
    assert capped.summary["steps"] == 11


def test_the_guard_s_finiteness_check_finds_any_non_finite_gradient_element() -> None:
    from seqvae.training import _all_finite

    grads = [torch.randn(5, 3), torch.randn(7), torch.randn(2, 2, 2)]
    assert bool(_all_finite(grads))
    before = [g.clone() for g in grads]
    for value in (float("nan"), float("inf"), float("-inf")):
        for i, g in enumerate(grads):
            bad = [t.clone() for t in grads]
            bad[i].view(-1)[-1] = value
            assert not bool(_all_finite(bad))
    assert all(torch.equal(a, b) for a, b in zip(before, grads))  # the check leaves the gradients as they were
    mixed = [torch.randn(3), torch.randn(3, dtype=torch.float64)]  # the total-norm path
    assert bool(_all_finite(mixed))
    mixed[1][0] = float("nan")
    assert not bool(_all_finite(mixed))
