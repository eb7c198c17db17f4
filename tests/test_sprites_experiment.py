"""`seqvae experiment sprites`: the sprites data kinds and a tiny end-to-end run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqvae import plots
from seqvae.config import DataConfig
from seqvae.data.sources import load_data
from seqvae.domains.sprites.data import sprite_videos, write_sprites_npy
from seqvae.domains.sprites.experiment import (
    FIXED_F_ATTRIBUTE_MIN,
    FIXED_Z_ACTION_MIN,
    JUDGE_ACCURACY_MIN,
    data_overrides,
    run_sprites,
    run_sprites_posteriors,
)
from seqvae.errors import ConfigError, DataError
from seqvae.experiments import available, run_experiment
from seqvae.report import build_report

TINY = ["data.params.n=40", "data.params.size=16", "data.params.frames=4", "model.frame_size=16",
        "model.frames=4", "train.max_epochs=1", "train.batch_size=10"]  # fmt: skip
TINY_JUDGE = {"judge_videos": 40, "judge_epochs": 1, "generated": 12}
FIGURES = ("reconstructions.png", "swap_grid.png", "fixed_f.png", "fixed_z.png", "generated.png", "learning_curves.png")


pytestmark = pytest.mark.usefixtures("one_thread")


def test_sprites_data_kind_gives_videos():
    bundle = load_data(DataConfig(kind="sprites", params={"n": 20, "size": 16, "frames": 4}), seed=3)
    assert bundle.features == 3 * 16 * 16  # values per frame, as the dsae model checks
    assert bundle.normalizer is None
    assert tuple(bundle.train.values.shape[1:]) == (4, 16, 16, 3)
    assert float(bundle.train.values.min()) >= 0.0 and float(bundle.train.values.max()) <= 1.0
    raw, labels = sprite_videos(20, size=16, frames=4, seed=3)
    np.testing.assert_array_equal(bundle.train.values.numpy(), raw[bundle.splits["train"]])
    np.testing.assert_array_equal(bundle.test.labels["action"].numpy(), labels["action"][bundle.splits["test"]])
    with pytest.raises(ConfigError, match="normalize"):
        load_data(DataConfig(kind="sprites", params={"n": 4, "size": 16, "frames": 2}, normalize=True), seed=0)


def test_vector_kinds_keep_their_feature_count():
    bundle = load_data(DataConfig(kind="gaussian-mixture", params={"n": 50}), seed=0)
    assert bundle.features == bundle.train.values.shape[1]


def test_sprites_release_kind_reads_the_npy_files(tmp_path):
    frames, labels = sprite_videos(12, size=16, frames=3, seed=5)
    write_sprites_npy(tmp_path, frames, labels, split="train")
    cfg = DataConfig(kind="sprites-npy", params={"directory": str(tmp_path)}, val_fraction=0.25, test_fraction=0.25)
    bundle = load_data(cfg, seed=0)
    assert bundle.features == 3 * 16 * 16
    np.testing.assert_allclose(bundle.raw, frames, atol=1 / 255)
    for name in ("skin", "top", "bottom", "hair", "action"):
        np.testing.assert_array_equal(bundle.labels[name], labels[name])
    assert data_overrides(tmp_path)[0] == "data.kind=sprites-npy"
    with pytest.raises(DataError, match="not a directory"):
        data_overrides(tmp_path / "missing")


def test_registered():
    names = available()
    assert "sprites" in names and "sprites-posteriors" in names
    assert names["sprites"].reads_data


def _check_run(out, metrics):
    for name in FIGURES:
        assert (out / name).is_file(), name
    assert list(metrics["figures"]) == list(FIGURES)
    ev, summary = metrics["evaluation"], metrics["summary"]
    for key in ("reconstruction", "original", "fixed_f", "fixed_z"):
        for head, acc in ev[key]["judge_accuracy"].items():
            assert 0.0 <= acc <= 1.0, (key, head)
    assert summary["fixed_z_action_accuracy"] == ev["fixed_z"]["judge_accuracy"]["action"]
    assert summary["fixed_f_attribute_accuracy_min"] == min(
        ev["fixed_f"]["judge_accuracy"][k] for k in ("skin", "top", "bottom", "hair"))
    for key in ("fixed_f", "fixed_z", "generated"):
        scores = ev[key]["scores"]["action"]
        assert 1.0 - 1e-6 <= scores["is"] <= 9.0 + 1e-6
        assert 0.0 <= scores["h_y"] <= math.log(9) + 1e-6
        assert scores["is"] == pytest.approx(math.exp(scores["h_y"] - scores["h_y_given_x"]), rel=1e-5)
    assert ev["reconstruction"]["mse_per_pixel"] >= 0.0


@pytest.mark.filterwarnings("ignore:posterior collapse")  # one epoch on 40 videos
def test_tiny_experiment_writes_consistent_metrics_and_figures(tmp_path):
    out = tmp_path / "run"
    metrics = run_sprites(out, seed=0, overrides=TINY, progress=False, **TINY_JUDGE)
    assert (out / "metrics.json").is_file() and (out / "model.safetensors").is_file()
    _check_run(out, metrics)
    judge = metrics["judge"]
    assert judge["min_test_accuracy"] == min(judge["test_accuracy"].values())
    assert metrics["claims"]["judge_trustworthy"] == (judge["min_test_accuracy"] >= JUDGE_ACCURACY_MIN)
    assert metrics["published_dsae"]["action_accuracy"] == pytest.approx(0.9073)
    assert metrics["published_cdsvae"]["is"] == pytest.approx(8.871)
    report = build_report(out).read_text()
    assert 'data-figure="reconstructions"' in report and 'data-figure="samples"' in report
    assert "incomplete figure" not in report


@pytest.mark.filterwarnings("ignore:posterior collapse")
def test_tiny_posterior_comparison_uses_one_budget(tmp_path):
    metrics = run_sprites_posteriors(tmp_path, seed=0, overrides=TINY, progress=False, **TINY_JUDGE)
    runs = metrics["runs"]
    assert [runs[p]["posterior"] for p in ("factorized", "full")] == ["factorized", "full"]
    assert runs["factorized"]["train"]["steps"] == runs["full"]["train"]["steps"] > 0
    for p in ("factorized", "full"):
        _check_run(tmp_path / p, runs[p])
        assert metrics["summary"][f"fixed_z_action_accuracy.{p}"] == runs[p]["summary"]["fixed_z_action_accuracy"]


def test_swap_grid_figure_is_complete():
    x, _ = sprite_videos(5, size=16, frames=4, seed=0)
    fig = plots.plot_swap_grid(x[:2], x[2:5], [[x[i]] * 3 for i in range(2)], "swap")
    assert plots.figure_problems(fig) == []
    fig = plots.plot_video_strips(list(x[:2]), ["a", "b"], "strips")
    assert plots.figure_problems(fig) == []


@pytest.mark.slow
@pytest.mark.xfail(reason="DSAE issue, acceptance 3 not met yet: at the shipped preset the fixed-z action accuracy is "
                          "42 % (target 80 %) and fixed-f skin 77 % (target 90 %); see benchmarks/RESULTS.md", strict=False)
def test_default_experiment_meets_the_acceptance_thresholds(tmp_path):
    """Acceptance 2 and 3 of the DSAE issue at the shipped CPU preset (about 30+ minutes on one thread)."""
    metrics = run_experiment("sprites", tmp_path / "run", seed=0, progress=False, report=False)
    summary = metrics["summary"]
    assert summary["judge_min_test_accuracy"] >= JUDGE_ACCURACY_MIN
    assert summary["fixed_f_attribute_accuracy_min"] >= FIXED_F_ATTRIBUTE_MIN
    assert summary["fixed_z_action_accuracy"] >= FIXED_Z_ACTION_MIN


TINY_MODEL = ["model.frame_size=16", "model.frames=4", "train.max_epochs=1", "train.batch_size=10"]


@pytest.mark.filterwarnings("ignore:posterior collapse")
def test_unlabelled_videos_skip_the_judge_and_say_so(tmp_path):
    frames, labels = sprite_videos(40, size=16, frames=4, seed=1)
    write_sprites_npy(tmp_path / "data", frames, labels)
    for key in ("A", "D"):
        (tmp_path / "data" / f"sprites_{key}_train.npy").unlink()
    out = tmp_path / "run"
    metrics = run_sprites(out, seed=0, overrides=TINY_MODEL, progress=False, data=tmp_path / "data", **TINY_JUDGE)
    assert "skipped" in metrics["judge"] and "sprites_A_*.npy" in metrics["judge"]["skipped"]
    assert metrics["claims"] == {"judge_trustworthy": None, "fixed_f_keeps_attributes": None, "fixed_z_keeps_action": None}
    assert metrics["summary"]["judge_metrics"].startswith("skipped")
    assert metrics["summary"]["reconstruction_mse_per_pixel"] == metrics["evaluation"]["reconstruction"]["mse_per_pixel"] > 0
    assert "judge_accuracy" not in metrics["evaluation"]["reconstruction"]
    for name in FIGURES:
        assert (out / name).is_file(), name


@pytest.mark.filterwarnings("ignore:posterior collapse")
def test_a_single_action_class_warns_and_its_claims_are_not_judged(tmp_path):
    frames, labels = sprite_videos(40, size=16, frames=4, seed=2)
    labels = {**labels, "action": np.full(40, 4), "motion": np.full(40, 1), "direction": np.full(40, 1)}
    write_sprites_npy(tmp_path / "data", frames, labels)
    with pytest.warns(UserWarning, match=r"label\(s\) action hold a single class"):
        metrics = run_sprites(tmp_path / "run", seed=0, overrides=TINY_MODEL, progress=False, data=tmp_path / "data",
                              **TINY_JUDGE)  # fmt: skip
    assert metrics["judge"]["single_class"] == ["action"]
    assert metrics["claims"]["judge_trustworthy"] is None and metrics["claims"]["fixed_z_keeps_action"] is None
    assert metrics["claims"]["fixed_f_keeps_attributes"] in (True, False)  # attributes vary: still judged
