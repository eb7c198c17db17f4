"""`seqvae experiment basketball`: outputs, figures, --data for SportVU directories and sequence files,
and (slow) the source's claims measured on the default run."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from seqvae import plots
from seqvae.cli import app
from seqvae.data.readers import write_sequences_npz
from seqvae.domains.basketball import data as bb
from seqvae.domains.basketball.experiment import SCATTERS, data_overrides
from seqvae.errors import ConfigError, DataError
from seqvae.experiments import run_experiment

runner = CliRunner()
QUICK = ["train.max_epochs=2", "eval.iwae_samples=2", "eval.ll_samples=4", "train.batch_size=32"]
FIGURES = {s[-1] for s in SCATTERS} | {"reconstructions.png", "latent_grid.png", "learning_curves.png"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bb")
    metrics = run_experiment("basketball", out, seed=3, overrides=["data.params.n=200", *QUICK], progress=False)
    return out, metrics


def test_outputs_are_consistent(quick_run):
    out, metrics = quick_run
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk == metrics
    assert set(metrics["figures"]) == FIGURES
    for name in FIGURES:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary, val = metrics["summary"], metrics["validation"]
    assert summary["shots"] == 200 == sum(metrics["data"]["splits"].values())
    assert summary["recon_rmse_m"] == val["reconstruction"]["rmse"]
    assert summary["start_x_r2_knn"] == val["probes"]["start_x"]["r2_knn"]
    assert summary["pca2_rmse_m"] == metrics["pca"]["pad"]["rmse"]
    assert metrics["claims"]["beats_pca_pad"] == (summary["recon_rmse_m"] < summary["pca2_rmse_m"])
    assert set(val["probes"]["made"]) == {"auc_logistic", "auc_knn"}
    assert set(val["probes"]["distance"]) == {"r2_linear", "r2_knn"}
    latents = np.load(out / "latents.npz")
    n_val = metrics["data"]["splits"]["val"]
    assert latents["mean"].shape == (n_val, 2) and len(latents["start_x"]) == n_val
    assert metrics["data"]["make_rate"] == pytest.approx(metrics["summary"]["make_rate"])


def test_latent_scatter_has_labelled_axes_and_a_colour_bar():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 2))
    for values, categories in ((rng.uniform(0, 8, 50), None), (rng.integers(0, 2, 50), ("missed", "made"))):
        fig = plots.plot_latent_scatter(z, values, "start x", "m", categories)
        main, bar = fig.axes
        assert main.get_xlabel() and main.get_ylabel() and main.get_title()
        assert bar.get_ylabel() == "start x [m]"
        if categories:
            assert [t.get_text() for t in bar.get_yticklabels()] == list(categories)
        plots.close_figure(fig)


def _write_sportvu(directory: Path, n: int, seed: int) -> dict:
    """Simulated shots as SportVU moments (court feet, quarter 1, 25 Hz, left and right baskets) + events."""
    sequences, labels = bb.simulate_shots(n=n, seed=seed)
    directory.mkdir()
    with open(directory / "moments.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["quarter", "game_clock", "ball_x", "ball_y", "ball_z", "shot_clock"])
        for i, seq in enumerate(sequences):
            court = bb.hoop_to_court(seq.astype(np.float64), "left" if i % 2 else "right")
            release = 700.0 - 8.0 * i
            for k, (x, y, z) in enumerate(court):
                w.writerow([1, f"{release - k / 25:.2f}", f"{x:.6f}", f"{y:.6f}", f"{z:.6f}", 12.0])
            w.writerow([1, f"{release - 6.0:.2f}", 47.0, 25.0, 3.0, 12.0])  # the ball back at half court
    with open(directory / "events.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["event_id", "game_clock", "made"])
        for i in range(n):
            w.writerow([f"e{i}", f"{700.0 - 8.0 * i:.2f}", int(labels["made"][i])])
    return labels


def test_experiment_reads_a_sportvu_directory(tmp_path):
    labels = _write_sportvu(tmp_path / "game", 160, seed=5)
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        ["experiment", "basketball", "--data", str(tmp_path / "game"), "--out", str(out), "--no-progress",
         *[a for kv in QUICK for a in ("--set", kv)]],
    )
    assert result.exit_code == 0, result.output
    assert "figures" in result.output and str(out) in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["data"]["kind"] == "sportvu"
    assert metrics["data"]["shots"] == 160
    assert metrics["data"]["make_rate"] == pytest.approx(labels["made"].mean())
    latents = np.load(out / "latents.npz")
    # the shots were read back in metres in the rim frame: their start points are the simulated ones
    starts = {(round(float(x), 3), round(float(y), 3)) for x, y in zip(labels["start_x"], labels["start_y"])}
    assert all((round(float(x), 3), round(float(y), 3)) in starts for x, y in zip(latents["start_x"], latents["start_y"]))


def test_experiment_reads_a_sequence_file_and_derives_start_labels(tmp_path):
    sequences, _ = bb.simulate_shots(n=150, seed=6)
    path = write_sequences_npz(tmp_path / "shots.npz", sequences, feature_names=["x", "y", "z"])
    out = tmp_path / "run"
    metrics = run_experiment("basketball", out, overrides=QUICK, progress=False, data=path)
    assert metrics["data"]["shots"] == 150 and "make_rate" not in metrics["data"]
    assert "made" not in metrics["validation"]["probes"] and "latent_made.png" not in metrics["figures"]
    latents = np.load(out / "latents.npz")
    firsts = {(round(float(s[0, 0]), 4), round(float(s[0, 1]), 4)) for s in sequences}
    assert all((round(float(x), 4), round(float(y), 4)) in firsts for x, y in zip(latents["start_x"], latents["start_y"]))
    np.testing.assert_allclose(latents["distance"], np.hypot(latents["start_x"], latents["start_y"]), rtol=1e-6)


def test_bad_data_arguments_are_refused(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        data_overrides(tmp_path / "missing")
    game = tmp_path / "game"
    game.mkdir()
    (game / "events.csv").write_text("event_id,game_clock,made\n")
    (game / "moments.csv").write_text("")
    (game / "a.json").write_text("{}")
    with pytest.raises(DataError, match="exactly one moments file.*moments.csv, a.json"):
        data_overrides(game)
    with pytest.raises(ConfigError, match="takes no --data.*basketball"):
        run_experiment("dmol-categorical", tmp_path / "x", data=game, progress=False)


@pytest.mark.slow
def test_default_experiment_reproduces_the_source_claims(tmp_path):
    """Acceptance: defaults, 2 CPU cores, <= 10 minutes; start x and y readable from the 2-D latent (k-NN
    R² >= 0.9); reconstruction RMSE in metres below PCA-2's; made/missed AUC reported."""
    start = time.perf_counter()
    result = runner.invoke(app, ["experiment", "basketball", "--out", str(tmp_path / "run"), "--no-progress"])
    seconds = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    assert seconds <= 600
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    summary = metrics["summary"]
    assert summary["start_x_r2_knn"] >= 0.9 and summary["start_y_r2_knn"] >= 0.9
    assert summary["recon_rmse_m"] < summary["pca2_rmse_m"]
    assert 0.0 <= summary["made_auc_knn"] <= 1.0
    assert 0.25 <= summary["make_rate"] <= 0.5
    assert set(metrics["figures"]) == FIGURES
    assert (tmp_path / "run" / "report.html").stat().st_size < 10_000_000  # issue 6: the report stays small
