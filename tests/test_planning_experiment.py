"""``seqvae experiment planning`` (issue 9): the planning data kind, metric consistency on a tiny run, and
(slow) the acceptance numbers of the default preset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("ompl")

from seqvae import plots
from seqvae.config import DataConfig
from seqvae.data.sources import load_data
from seqvae.domains.planning import figures as planning_figures
from seqvae.domains.planning.data import area_occupancy_grids
from seqvae.domains.planning.experiment import (
    BAND,
    RATIO_MIN,
    choose_n_star,
    learned_sampler,
    planning_settings,
    samples_for,
)
from seqvae.domains.planning.world import World, narrow_passage, stack_worlds
from seqvae.errors import ConfigError
from seqvae.experiments import run_experiment
from seqvae.models import build_model
from seqvae.models.conditional import condition_width
from seqvae.runconfig import load_run_config

TINY = [
    "data.params.n_worlds=12",
    "data.params.problems_per_world=1",
    "train.max_epochs=2",
    "planning.eval_worlds=6",
    "planning.n_grid=[25,100]",
    "planning.cloud_worlds=2",
    "planning.arm_worlds=2",
    "planning.arm_problems_per_world=1",
    "planning.arm_epochs=1",
    "planning.arm_eval_worlds=2",
    "planning.arm_n_grid=[50]",
]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("planning")
    metrics = run_experiment("planning", out, seed=0, overrides=TINY, progress=False)  # report included
    return out, metrics


def _check_table(rows: list[dict]) -> None:
    for row in rows:
        for key in ("uniform", "learned"):
            r = row[key]
            assert 0 <= r["solved"] <= row["problems"]
            assert r["success"] == pytest.approx(r["solved"] / row["problems"])
            assert (r["mean_cost"] is None) == (r["solved"] == 0)
        assert row["both_solved"] <= min(row["uniform"]["solved"], row["learned"]["solved"])
        assert 0.2 < row["learned"]["learned_fraction"] < 0.8  # λ = 0.5 mixture, conditioned on validity


def test_tiny_run_metrics_are_consistent(tiny_run: tuple[Path, dict]) -> None:
    out, m = tiny_run
    assert json.loads((out / "metrics.json").read_text()) == m
    page = (out / "report.html").read_text()  # the conditional model's samples decode under split conditions
    assert "Samples from the prior" in page and page.count("<img") >= 3
    assert m["held_out_problems"] == 6 and [r["n"] for r in m["table"]] == [25, 100]
    _check_table(m["table"])
    s = m["summary"]
    assert s["n_star"] == choose_n_star(m["table"])
    if s["n_star"] is not None:
        row = next(r for r in m["table"] if r["n"] == s["n_star"])
        assert BAND[0] <= row["uniform"]["success"] <= BAND[1]
        assert s["uniform_success"] == row["uniform"]["success"] and s["learned_success"] == row["learned"]["success"]
        assert s["ratio"] == pytest.approx(s["learned_success"] / s["uniform_success"], rel=1e-6)
        assert m["claims"]["learned_beats_uniform_1_5x"] == (s["ratio"] >= RATIO_MIN)
    else:
        assert m["claims"]["learned_beats_uniform_1_5x"] is False
    for key in ("uniform", "learned"):
        assert s["samples_for_90"][key] == samples_for(m["table"], key)
    arm = m["arm"]
    assert arm["joints"] >= 4 and arm["feasible_problems"] <= arm["held_out_problems"] == 2
    _check_table(arm["table"])
    for name in m["figures"]:
        assert (out / name).stat().st_size > 5000, name
    timing = json.loads((out / "timing.json").read_text())["wall_seconds"]
    assert timing["total"] >= timing["point_train"] > 0


def test_samples_for_and_n_star_rules() -> None:
    rows = [
        {"n": n, "uniform": {"success": u}, "learned": {"success": v}}
        for n, u, v in ((25, 0.1, 0.3), (50, 0.3, 0.7), (100, 0.5, 0.92), (200, 0.7, 0.95))
    ]
    assert choose_n_star(rows) == 50
    assert samples_for(rows, "learned") == 100 and samples_for(rows, "uniform") == "> 200"
    assert choose_n_star(rows[:1]) is None


def test_settings_overrides_are_checked() -> None:
    s = planning_settings("paper", ["planning.n_grid=[100, 25]"])
    assert s.n_grid == [25, 100] and s.eval_worlds == 400 > planning_settings(None, []).eval_worlds == 100
    with pytest.raises(ConfigError, match="planning.lam: expected a number"):  # typed
        planning_settings(None, ["planning.lam=high"])
    with pytest.raises(ConfigError, match="unknown planning setting"):
        planning_settings(None, ["planning.nope=1"])
    with pytest.raises(ConfigError, match="preset"):
        planning_settings("huge", [])
    with pytest.raises(ConfigError, match="clearance_fraction"):
        planning_settings(None, ["planning.clearance_fraction=1.5"])
    with pytest.raises(ConfigError, match="clearance_scale"):
        planning_settings(None, ["planning.clearance_scale=0"])


def test_planning_data_kind_gives_cvae_conditions(tmp_path: Path) -> None:
    cfg = DataConfig(
        kind="planning",
        params={"n_worlds": 2, "problems_per_world": 1, "states_per_path": 10, "grid": 16,
                "world_kwargs": {"n_gaps": 1}},
    )
    bundle = load_data(cfg, seed=0)
    assert bundle.features == 2
    width = condition_width(2, 16)
    for split in (bundle.train, bundle.val, bundle.test):
        assert split.condition is not None and split.condition.shape == (len(split), width)
    assert "condition" not in bundle.labels
    model = build_model({**load_run_config("planning").model, "grid": 16}, bundle.features)
    batch = bundle.train.batch()
    out = model(batch)
    assert out.recon_log_prob.shape == (len(bundle.train),)
    # other kinds carry no condition
    assert load_data(DataConfig(kind="dmol-bimodal", params={"n": 50}), seed=0).train.condition is None


def test_area_occupancy_shows_a_gap_narrower_than_a_cell() -> None:
    world = World(np.array([[0.0, 0.5, 0.5, 0.625]]))  # covers a quarter row of cells exactly
    g = area_occupancy_grids(stack_worlds([world]), 8)[0]
    assert g[4, :4].tolist() == [1.0] * 4 and g[4, 4:].sum() == 0 and g.sum() == 4
    npw = narrow_passage(np.random.default_rng(3), n_gaps=1, gap_width=0.02, axis=0)
    area = area_occupancy_grids(stack_worlds([npw.world]), 32)[0]
    binary = npw.world.occupancy_grid(32)
    wall_cols = np.flatnonzero(binary.all(axis=0))  # the binary grid closes the 0.02 gap completely
    assert len(wall_cols) >= 1
    assert (area[:, wall_cols].min(axis=0) < 0.9).all()  # the area grid still shows it
    assert area.sum() == pytest.approx(32 * 32 * sum((r[2] - r[0]) * (r[3] - r[1]) for r in npw.world.obstacles))


def test_learned_sampler_serves_seeded_states_in_order() -> None:
    torch.manual_seed(0)
    model = build_model({**load_run_config("planning").model, "grid": 0}, 2)
    cond = np.array([0.1, 0.2, 0.9, 0.8], dtype=np.float32)
    a = learned_sampler(model, cond, seed=5, batch=8)
    b = learned_sampler(model, cond, seed=5, batch=8)
    first = np.concatenate([a(None, 5), a(None, 5), a(None, 6)])
    gen = torch.Generator().manual_seed(5)
    direct = np.concatenate([model.sample_states(cond, 8, generator=gen).numpy() for _ in range(2)])
    np.testing.assert_allclose(first, direct, rtol=1e-6)  # served in order, decoded 8 at a time
    np.testing.assert_allclose(np.concatenate([b(None, 3), b(None, 8), b(None, 5)]), first)
    wrapped = learned_sampler(model, cond, seed=5, batch=8, wrap_angles=True)(None, 50)
    assert np.all(np.abs(wrapped) <= np.pi)


def test_planning_figures_are_complete() -> None:
    rng = np.random.default_rng(0)
    npw = narrow_passage(rng)
    panels = [{"obstacles": npw.world.obstacles, "samples": rng.random((50, 2)), "start": [0.1, 0.1],
               "goal": [0.9, 0.9], "path": np.array([[0.1, 0.1], [0.9, 0.9]]), "label": "w"}] * 4
    curves = {"point": {"n": [25, 50], "uniform": [0.2, None], "learned": [0.5, 0.9], "n_star": 25}}
    figs = [
        planning_figures.plot_planning_sample_clouds(panels, title="clouds"),
        planning_figures.plot_planning_curves(curves, "success rate", "success", band=BAND),
        planning_figures.plot_arm_samples(npw.world.obstacles, rng.random((5, 5, 2)), rng.random((5, 2)), rng.random((5, 2))),
    ]
    for fig in figs:
        assert plots.figure_problems(fig) == []
        assert len(plots.figure_png(fig)) > 1000


@pytest.mark.slow
def test_default_preset_meets_acceptance(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    m = run_experiment("planning", tmp_path, seed=0, progress=False, report=False)
    timing = json.loads((tmp_path / "timing.json").read_text())["wall_seconds"]
    s = m["summary"]
    assert s["n_star"] is not None, m["table"]
    assert s["ratio"] >= RATIO_MIN, s
    assert m["claims"]["learned_beats_uniform_1_5x"]
    assert s["uniform_mean_cost"] is not None and s["learned_mean_cost"] is not None
    assert m["arm"] is not None and m["arm"]["table"]
    assert timing["total"] <= 20 * 60, timing


def test_dihedral_augment_keeps_states_consistent_with_their_world() -> None:
    from seqvae.domains.planning.data import planning_arrays
    from seqvae.domains.planning.experiment import dihedral_augment

    rng = np.random.default_rng(0)
    worlds = [narrow_passage(rng, n_gaps=1).world for _ in range(3)]
    states = np.concatenate([rng.random((40, 2)) for _ in worlds])
    data = {"states": states, "start": states[::-1].copy(), "goal": states.copy(), "worlds": stack_worlds(worlds),
            "world_index": np.repeat(np.arange(3), 40)}
    s0, c0 = planning_arrays(data, 16)
    s1, c1 = dihedral_augment(s0, c0, 16, seed=1)
    assert s1.shape == s0.shape and c1.shape == c0.shape and not np.allclose(s1, s0)
    def cell(s: np.ndarray, c: np.ndarray) -> np.ndarray:  # occupancy of the grid cell holding each state
        ij = np.clip((s * 16).astype(int), 0, 15)
        return c[np.arange(len(s)), 4 + ij[:, 1] * 16 + ij[:, 0]]

    np.testing.assert_allclose(cell(s0, c0), cell(s1, c1), atol=1e-6)  # a state keeps its cell's occupancy
    assert np.allclose(np.sort(c1[:, 4:].sum(1)), np.sort(c0[:, 4:].sum(1)), atol=1e-3)


def test_clearance_weighted_states_concentrate_in_the_passage() -> None:
    from seqvae.domains.planning.experiment import clearance_weighted_states, obstacle_clearance

    # one vertical wall x in [0.45, 0.55] with a gap y in [0.49, 0.51]; a straight path through the gap
    world = World(np.array([[0.45, 0.0, 0.55, 0.49], [0.45, 0.51, 0.55, 1.0]]))
    path = np.array([[0.05, 0.5], [0.95, 0.5]])
    per = 400
    data = {
        "worlds": stack_worlds([world, world]),
        "path_states": np.concatenate([path, path]),
        "path_offsets": np.array([0, 2, 4]),
        "problem_world": np.array([0, 1]),
        "problem_start": np.array([[0.05, 0.5], [0.95, 0.5]]),
        "problem_goal": np.array([[0.95, 0.5], [0.05, 0.5]]),
        "states": np.zeros((2 * per, 2)),
    }
    assert obstacle_clearance(world.obstacles, np.array([[0.5, 0.5], [0.2, 0.2]])) == pytest.approx([0.01, 0.25])
    uniform = clearance_weighted_states(data, per, 0.0, 0.01, seed=0)
    weighted = clearance_weighted_states(data, per, 0.8, 0.01, seed=0)
    for out in (uniform, weighted):
        assert out["states"].shape == (2 * per, 2)
        np.testing.assert_array_equal(out["problem_index"], np.repeat([0, 1], per))
        np.testing.assert_array_equal(out["world_index"], np.repeat([0, 1], per))
        np.testing.assert_array_equal(out["start"], data["problem_start"][out["problem_index"]])
        np.testing.assert_allclose(out["states"][:, 1], 0.5)  # on the path
    def near(out: dict) -> float:
        return float(np.mean(np.abs(out["states"][:, 0] - 0.5) < 0.1))

    assert near(uniform) == pytest.approx(0.2 / 0.9, abs=0.05)
    assert near(weighted) > 0.5
    np.testing.assert_array_equal(weighted["states"], clearance_weighted_states(data, per, 0.8, 0.01, seed=0)["states"])
