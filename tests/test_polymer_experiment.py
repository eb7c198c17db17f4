"""The polymer experiment (source 004, dmol.pub §6.7): structure metrics, Gaussian baseline, latent optimisation."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from seqvae import plots
from seqvae.analysis.latent import optimise_latent
from seqvae.analysis.metrics import gaussian_baseline
from seqvae.cli import app
from seqvae.domains.polymer import data as P
from seqvae.domains.polymer import figures as polymer_figures
from seqvae.domains.polymer.experiment import STRETCH, compare_structures
from seqvae.errors import ConfigError
from seqvae.experiments import run_experiment

SMALL = ["data.params={n: 300, stride: 10}", "train.max_epochs=2", "model.hidden=[32, 32]"]


def _chains(n: int, seed: int) -> np.ndarray:
    frames, _ = P.simulate_polymer(n_frames=n, stride=20, equilibration=500, seed=seed)
    return P.align(frames)


def test_compare_structures_is_zero_on_itself_and_counts_stretched_bonds():
    md = _chains(40, 0)
    ref = P.structure_properties(md)
    same = compare_structures(md, ref)
    assert all(v == 0.0 for v in same["w1"].values())
    assert same["stretched_fraction"] == 0.0 and same["energy_above_training_max"] == 0.0
    stretched = md[:10].copy()
    stretched[:4, -1] = stretched[:4, -2] + np.array([STRETCH * P.BOND_R0 + 0.01, 0.0])  # 4 of 10 get a long last bond
    out = compare_structures(stretched, ref)
    assert out["stretched_fraction"] == pytest.approx(0.4)
    assert out["w1"]["bond_length"] > 0 and out["mean_w1_bond_rg"] == pytest.approx(
        0.5 * (out["w1"]["bond_length"] + out["w1"]["radius_of_gyration"])
    )


def test_gaussian_baseline_recovers_the_fit_and_is_seeded():
    rng = np.random.default_rng(0)
    cov = np.array([[2.0, 0.6], [0.6, 0.5]])
    data = rng.multivariate_normal([1.0, -2.0], cov, size=500)
    samples, fit = gaussian_baseline(data, 40000, seed=3)
    np.testing.assert_allclose(fit["mean"], data.mean(0))
    np.testing.assert_allclose(fit["cov"], np.cov(data, rowvar=False))
    np.testing.assert_allclose(samples.mean(0), fit["mean"], atol=0.03)
    np.testing.assert_allclose(np.cov(samples, rowvar=False), fit["cov"], atol=0.05)
    np.testing.assert_array_equal(gaussian_baseline(data, 5, seed=3)[0], gaussian_baseline(data, 5, seed=3)[0])
    with pytest.raises(ValueError, match="at least 2"):
        gaussian_baseline(data[:1], 5)


def test_optimise_latent_finds_the_minimum_of_each_row():
    target = torch.tensor([[1.0, -2.0], [0.5, 3.0]])
    z, history, path = optimise_latent(lambda z: ((z - target) ** 2).sum(-1), torch.zeros(2, 2), steps=600, lr=0.05)
    torch.testing.assert_close(z, target, atol=1e-3, rtol=0)
    assert history.shape == (601, 2) and path.shape == (601, 2, 2)
    assert np.all(history[-1] < 1e-5) and np.all(history[0] == (target**2).sum(-1).numpy())
    np.testing.assert_array_equal(path[0], 0.0)
    with pytest.raises(ValueError):
        optimise_latent(lambda z: z.sum(-1), torch.zeros(1, 2), steps=5, lr=0.0)


def test_structure_properties_match_the_single_functions():
    x = _chains(5, 1)
    props = P.structure_properties(x)
    assert set(props) == set(P.PROPERTY_UNITS)
    np.testing.assert_array_equal(props["bond_length"], P.bond_lengths(x))
    np.testing.assert_array_equal(props["potential_energy"], P.potential_energy(x))
    assert props["pairwise_distance"].shape == (5, 66) and props["bond_angle"].shape == (5, 10)


def test_polymer_figures_are_complete():
    md = _chains(30, 2)
    props = P.structure_properties(md)
    figs = [
        polymer_figures.plot_chain_grid([list(md[:3]), list(md[3:5])], ["MD", "VAE"], [["a", "b", "c"], ["d", "e"]]),
        polymer_figures.plot_property_distributions({"MD": props, "VAE": props}, P.PROPERTY_UNITS, {"VAE": {"bond_length": 0.0}}),
        polymer_figures.plot_latent_trajectory(np.random.default_rng(0).normal(size=(30, 2)), np.arange(30.0), "τ"),
        polymer_figures.plot_latent_optimisation(
            np.zeros((5, 2)), {"min": np.zeros((3, 2))}, {"min": np.ones(3)}, {"min": md[0]}, (0.5, 2.0)
        ),
    ]
    for fig in figs:
        assert plots.figure_problems(fig) == []
        plots.close_figure(fig)


def test_small_experiment_writes_consistent_metrics(tmp_path):
    m = run_experiment("polymer", tmp_path / "a", seed=1, overrides=SMALL, progress=False, report=False)
    saved = np.load(tmp_path / "a" / "structures.npz")
    # the written numbers are those of the saved structures
    vae = P.structure_properties(saved["vae"].astype(np.float64))
    stretched = np.mean(np.any(vae["bond_length"] > STRETCH * P.BOND_R0, axis=1))
    assert m["summary"]["vae_stretched_fraction"] == pytest.approx(stretched)
    assert m["summary"]["optimised_rg_min"] == pytest.approx(P.radius_of_gyration(saved["rg_min"].astype(np.float64)), rel=1e-5)
    assert m["latent_optimisation"]["min"]["radius_of_gyration"] <= m["latent_optimisation"]["min"]["start_radius_of_gyration"]
    assert m["latent_optimisation"]["max"]["radius_of_gyration"] >= m["latent_optimisation"]["max"]["start_radius_of_gyration"]
    assert saved["latent_means"].shape == (300, 2) and saved["vae"].shape == (2000, 12, 2)
    assert m["summary"]["training_energy_min"] <= m["data"]["training_energy_median"] <= m["summary"]["training_energy_max"]
    assert set(m["generated"]) == {"VAE", "Gaussian", "MD held-out"}
    for name in m["figures"]:
        assert (tmp_path / "a" / name).stat().st_size > 10_000
    # seeded: a second run gives the same numbers
    again = run_experiment("polymer", tmp_path / "b", seed=1, overrides=SMALL, progress=False, report=False)
    assert again["generated"] == m["generated"] and again["latent_optimisation"] == m["latent_optimisation"]


def test_experiment_refuses_what_it_cannot_analyse(tmp_path):
    with pytest.raises(ConfigError, match="data.kind=polymer"):
        run_experiment("polymer", tmp_path, overrides=["data.kind=sinusoids"], progress=False)
    with pytest.raises(ConfigError, match="gaussian"):
        run_experiment("polymer", tmp_path, overrides=["model.likelihood.kind=bernoulli"], progress=False)


@pytest.mark.slow
def test_default_experiment_meets_the_acceptance(tmp_path):
    """Issue 8, acceptance 3 and 4, through the CLI with the defaults."""
    out = tmp_path / "polymer"
    start = time.perf_counter()
    result = CliRunner().invoke(app, ["experiment", "polymer", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - start < 600
    m = json.loads((out / "metrics.json").read_text())
    s, vae, gauss = m["summary"], m["generated"]["VAE"], m["generated"]["Gaussian"]
    assert vae["mean_w1_bond_rg"] < gauss["mean_w1_bond_rg"]
    assert vae["stretched_fraction"] < gauss["stretched_fraction"]
    assert s["optimised_rg_min"] < s["training_rg_min"]
    assert np.isfinite(s["optimised_rg_min_energy"]) and s["training_energy_min"] < s["training_energy_max"]
    assert m["train"]["active_units"] == 2
    assert all(m["claims"][k] for k in ("vae_beats_gaussian_w1_bond_rg", "vae_fewer_stretched_bonds", "rg_below_training_min"))
    assert (out / "report.html").stat().st_size > 100_000
