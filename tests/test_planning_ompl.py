"""Tests of seqvae.domains.planning: PRM with a λ-mixture sampler, RRT*, near-optimal paths, planning data sets (OMPL)."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

ompl = pytest.importorskip("ompl")

from seqvae.domains.planning import (
    Problem,
    build_dataset,
    held_out_problems,
    load_dataset,
    ompl_planner,
    plan_prm,
    plan_rrtstar,
    point_optimal_cost,
    problems_from_dataset,
    row_grids,
    save_dataset,
    shortest_path,
)
from seqvae.domains.planning.dataset import dataset_paths
from seqvae.domains.planning.world import PlanarArm, World, arm_world, narrow_passage, unstack_worlds
from seqvae.errors import ConfigError, DataError

OPEN = World(np.zeros((0, 4)))


def _narrow(seed: int, **kw) -> tuple[Problem, np.ndarray]:
    """A one-wall, one-gap narrow-passage problem and its gap centres."""
    npw = narrow_passage(1000 + seed, n_walls=1, n_gaps=1, gap_width=kw.pop("gap_width", (0.02, 0.03)), **kw)
    s, g = npw.sample_start_goal(seed, 1)
    return Problem(npw.world, s[0], g[0]), npw.gap_centres()


def _oracle(centres: np.ndarray, std: float = 0.02):
    """Proposals Gaussian around the gap centres: what a good learned sampler should do."""

    def sample(rng: np.random.Generator, n: int) -> np.ndarray:
        return centres[rng.integers(len(centres), size=n)] + std * rng.normal(size=(n, 2))

    return sample


def _check_path(problem: Problem, res) -> None:
    assert res.solved and res.status == "exact"
    assert res.path.ndim == 2 and res.path.shape[1] == problem.dim and len(res.path) >= 2
    np.testing.assert_array_equal(res.path[0], problem.start)
    np.testing.assert_array_equal(res.path[-1], problem.goal)
    assert problem.path_valid(res.path)
    if problem.is_arm:
        arm: PlanarArm = problem.robot  # type: ignore[assignment]
        assert np.all(arm.config_free(problem.world, res.path))
        assert np.all(arm.motion_free(problem.world, res.path[:-1], res.path[1:], resolution=problem.arm_resolution))
    else:
        assert problem.world.path_free(res.path)  # exact segment checks
    assert res.cost == pytest.approx(float(np.sum(np.linalg.norm(np.diff(res.path, axis=0), axis=1))), rel=1e-12)
    assert res.cost >= problem.straight_line_cost() - 1e-12


# --------------------------------------------------------------------------------------------------------------
# PRM


@pytest.mark.parametrize("n", [40, 150])
def test_prm_exact_milestone_count_and_exactly_free_path(n):
    problem, centres = _narrow(0)
    for sampler in (None, _oracle(centres)):
        res = plan_prm(problem, n, sampler=sampler, lam=0.5, seed=3)
        assert res.milestones == n
        assert res.proposals >= n  # invalid proposals were redrawn
        if sampler is None:
            assert res.learned == 0 and res.sampler_calls == 0
        else:
            assert 0 < res.learned < res.proposals and res.sampler_calls >= 1
        if res.solved:
            _check_path(problem, res)
        else:
            assert res.path.shape == (0, 2) and res.cost == np.inf
    assert plan_prm(problem, n, sampler=_oracle(centres), seed=3).solved  # the oracle always finds the gap


def test_prm_open_world_and_shortest_path_is_near_straight_line():
    problem = Problem(OPEN, [0.1, 0.2], [0.9, 0.7])
    line = problem.straight_line_cost()
    assert point_optimal_cost(problem) == pytest.approx(line, rel=1e-12)
    res = plan_prm(problem, 50, seed=0)
    _check_path(problem, res)
    best = shortest_path(problem, iterations=3000, seed=0)
    _check_path(problem, best)
    assert line - 1e-12 <= best.cost <= 1.01 * line
    assert best.cost <= res.cost + 1e-12


def test_shortest_path_on_narrow_passage_is_near_the_exact_optimum():
    for seed in range(3):
        problem, _ = _narrow(seed, gap_width=0.04)
        opt = point_optimal_cost(problem)
        assert np.isfinite(opt) and opt > problem.straight_line_cost()  # the wall forces a detour
        res = shortest_path(problem, iterations=10_000, seed=seed)
        _check_path(problem, res)
        assert opt - 1e-9 <= res.cost <= 1.03 * opt
        assert res.cost <= res.extra["raw_cost"] + 1e-12  # shortcutting never lengthens


def test_point_optimal_cost_of_a_wall_with_a_gap():
    # wall x in [0.375, 0.625] with a gap y in (0.375, 0.625): optimum passes the gap's corners
    wall = World(np.array([[0.375, 0.0, 0.625, 0.375], [0.375, 0.625, 0.625, 1.0]]))
    problem = Problem(wall, [0.125, 0.125], [0.875, 0.125])
    expected = 2 * np.hypot(0.25, 0.25) + 0.25
    assert point_optimal_cost(problem) == pytest.approx(expected, rel=1e-9)
    closed = World(np.array([[0.375, 0.0, 0.625, 1.0]]))
    assert point_optimal_cost(Problem(closed, [0.125, 0.125], [0.875, 0.125])) == np.inf


def test_oracle_sampler_in_the_gap_beats_uniform_at_small_n():
    n, lam = 30, 0.5
    cases = [_narrow(i) for i in range(20)]
    uniform = sum(plan_prm(p, n, seed=i).solved for i, (p, _) in enumerate(cases))
    oracle = sum(plan_prm(p, n, sampler=_oracle(c), lam=lam, seed=i).solved for i, (p, c) in enumerate(cases))
    # measured: uniform 4/20, oracle 16/20
    assert oracle >= 14 and oracle >= uniform + 8, (uniform, oracle)


def test_prm_is_deterministic_given_the_seed():
    problem, centres = _narrow(1)
    a = plan_prm(problem, 120, sampler=_oracle(centres), seed=7)
    b = plan_prm(problem, 120, sampler=_oracle(centres), seed=7)
    assert a.solved
    np.testing.assert_array_equal(a.path, b.path)
    assert (a.proposals, a.learned, a.extra["edges"]) == (b.proposals, b.learned, b.extra["edges"])
    c = plan_prm(problem, 120, sampler=_oracle(centres), seed=8)
    assert c.proposals != a.proposals or not np.array_equal(c.path, a.path)


def test_lambda_zero_never_calls_the_sampler():
    problem, centres = _narrow(2)
    calls = []

    def counting(rng, n):
        calls.append(n)
        return _oracle(centres)(rng, n)

    res = plan_prm(problem, 100, sampler=counting, lam=0.0, seed=5)
    plain = plan_prm(problem, 100, sampler=None, seed=5)
    assert calls == [] and res.learned == 0 and res.sampler_calls == 0
    assert res.solved == plain.solved and np.array_equal(res.path, plain.path) and res.proposals == plain.proposals
    full = plan_prm(problem, 100, sampler=counting, lam=1.0, seed=5)
    assert calls and full.learned == full.proposals


def test_bad_sampler_output_and_arguments_are_rejected():
    problem, _ = _narrow(0)
    with pytest.raises(DataError, match="shape"):
        plan_prm(problem, 10, sampler=lambda rng, n: np.zeros((n, 3)), lam=1.0)
    with pytest.raises(ConfigError):
        plan_prm(problem, 0)
    with pytest.raises(ConfigError):
        plan_prm(problem, 10, lam=1.5)
    with pytest.raises(ConfigError):
        plan_prm("not a problem", 10)  # type: ignore[arg-type]
    box = World(np.array([[0.375, 0.375, 0.625, 0.625]]))
    res = plan_prm(Problem(box, [0.5, 0.5], [0.9, 0.9]), 10)
    assert res.status == "start-invalid" and not res.solved and res.path.shape == (0, 2)
    assert plan_prm(Problem(box, [0.1, 0.1], [0.625, 0.5]), 10).status == "goal-invalid"  # on the boundary


def test_prm_on_an_easy_arm_problem_is_collision_free():
    aw = arm_world(0)
    start = aw.sample_configs(1, 1)[0]
    rng = np.random.default_rng(0)
    while True:  # a free goal a short joint-space distance away
        goal = start + rng.normal(scale=0.4, size=start.shape)
        if aw.arm.config_free(aw.world, goal):
            break
    problem = Problem(aw.world, start, goal, robot=aw.arm)
    res = plan_prm(problem, 150, seed=0)
    assert res.milestones == 150
    _check_path(problem, res)


def test_arm_motion_check_agrees_with_planar_arm_motion_free():
    aw = arm_world(1)
    problem = Problem(aw.world, aw.sample_configs(0, 1)[0], aw.sample_configs(1, 1)[0], robot=aw.arm)
    q = aw.sample_configs(2, 60)
    a, b = q[:30], q[30:] * 0.3 + q[:30] * 0.7
    vec = aw.arm.motion_free(aw.world, a, b, resolution=problem.arm_resolution)
    scalar = [problem.motion_valid(x, y) for x, y in zip(a, b)]
    assert list(vec) == scalar and 0 < sum(scalar) < len(scalar)


# --------------------------------------------------------------------------------------------------------------
# RRT*


def test_rrtstar_mixes_learned_samples_through_the_goal_hook():
    problem, centres = _narrow(3, gap_width=0.04)
    it, lam = 1500, 0.3
    res = plan_rrtstar(problem, iterations=it, sampler=_oracle(centres), lam=lam, seed=1)
    assert res.proposals == it
    assert 0.5 * lam * it < res.learned < 1.5 * lam * it
    _check_path(problem, res)
    again = plan_rrtstar(problem, iterations=it, sampler=_oracle(centres), lam=lam, seed=1)
    np.testing.assert_array_equal(res.path, again.path)  # OMPL reseeded per call
    plain = plan_rrtstar(problem, iterations=it, sampler=_oracle(centres), lam=0.0, seed=1)
    assert plain.learned == 0 and plain.sampler_calls == 0
    with pytest.raises(ConfigError):
        plan_rrtstar(problem, iterations=10, lam=0.99, goal_bias=0.05)


def test_shortest_path_is_reproducible():
    problem, _ = _narrow(4, gap_width=0.04)
    a = shortest_path(problem, iterations=4000, seed=11)
    b = shortest_path(problem, iterations=4000, seed=11)
    assert a.solved
    np.testing.assert_array_equal(a.path, b.path)


# --------------------------------------------------------------------------------------------------------------
# data sets


def _distance_to_polyline(x: np.ndarray, path: np.ndarray) -> np.ndarray:
    a, b = path[:-1], path[1:]
    ab = b - a
    t = np.clip(np.einsum("nsd,sd->ns", x[:, None] - a[None], ab) / np.maximum(np.sum(ab * ab, axis=1), 1e-300), 0, 1)
    closest = a[None] + t[..., None] * ab[None]
    return np.min(np.linalg.norm(x[:, None] - closest, axis=-1), axis=1)


def test_build_dataset_shapes_states_on_paths_and_round_trip(tmp_path):
    kw = {"n_worlds": 3, "problems_per_world": 2, "states_per_path": 7, "grid": 16, "seed": 4, "solve_iterations": 4000}
    data = build_dataset("narrow", **kw)
    p = len(data["cost"])
    n = len(data["states"])
    assert int(data["n_attempted"]) == 6 and p + int(data["n_unsolved"]) == 6 and p >= 5
    assert n == 7 * p and data["states"].shape == (n, 2)
    assert data["start"].shape == data["goal"].shape == (n, 2)
    assert data["grids"].shape == (3, 16, 16) and data["grids"].dtype == np.float32
    assert row_grids(data).shape == (n, 16, 16)
    assert data["worlds"].shape[0] == 3 and data["path_offsets"].shape == (p + 1,)
    np.testing.assert_array_equal(data["start"], data["problem_start"][data["problem_index"]])
    np.testing.assert_array_equal(data["world_index"], data["problem_world"][data["problem_index"]])
    worlds = unstack_worlds(data["worlds"])
    for w, world in enumerate(worlds):
        np.testing.assert_array_equal(world.occupancy_grid(16), data["grids"][w])
    paths = dataset_paths(data)
    for k, (problem, path) in enumerate(zip(problems_from_dataset(data), paths)):
        assert problem.path_valid(path)
        np.testing.assert_array_equal(path[0], problem.start)
        np.testing.assert_array_equal(path[-1], problem.goal)
        assert data["cost"][k] == pytest.approx(float(np.sum(np.linalg.norm(np.diff(path, axis=0), axis=1))))
        assert data["cost"][k] <= 1.05 * point_optimal_cost(problem)
        states = data["states"][data["problem_index"] == k]
        assert np.max(_distance_to_polyline(states, path)) < 1e-12
        assert np.all(problem.world.point_free(states))
    # exact round trip
    import os

    umask = os.umask(0o022)
    try:
        file = save_dataset(tmp_path / "plan.npz", data)
    finally:
        os.umask(umask)
    assert file.stat().st_mode & 0o777 == 0o644  # the umask's mode, not mkstemp's private 0600
    back = load_dataset(file)
    assert set(back) == set(data)
    for key in data:
        assert back[key].dtype == data[key].dtype and back[key].shape == data[key].shape, key
        np.testing.assert_array_equal(back[key], data[key])
    assert str(back["kind"]) == "narrow"
    # deterministic
    again = build_dataset("narrow", **kw)
    for key in data:
        np.testing.assert_array_equal(again[key], data[key])
    with pytest.raises(DataError, match="missing"):
        np.savez(tmp_path / "bad.npz", states=np.zeros((1, 2)))
        load_dataset(tmp_path / "bad.npz")
    with pytest.raises(DataError):
        load_dataset(tmp_path / "none.npz")


def test_held_out_problems_use_fresh_worlds():
    train = build_dataset(
        "rectangles", n_worlds=2, problems_per_world=1, states_per_path=3, seed=0, solve_iterations=3000
    )
    held = held_out_problems("rectangles", 4, seed=0)
    assert len(held) == 4
    train_worlds = unstack_worlds(train["worlds"])
    assert not any(h.world == t for h in held for t in train_worlds)
    assert all(np.isfinite(point_optimal_cost(h)) and h.straight_line_cost() >= 0.5 for h in held)
    assert all(a.world == b.world for a, b in zip(held, held_out_problems("rectangles", 4, seed=0)))
    with pytest.raises(ConfigError):
        held_out_problems("maze", 1)


# --------------------------------------------------------------------------------------------------------------
# OMPL missing


def test_missing_ompl_gives_an_install_hint(monkeypatch):
    problem = Problem(OPEN, [0.1, 0.1], [0.9, 0.9])
    monkeypatch.setitem(sys.modules, "ompl", None)  # any `import ompl...` now raises ImportError
    msg = 'planning needs OMPL: pip install "seqvae[planning]"'
    for call in (
        lambda: plan_prm(problem, 10),
        lambda: plan_rrtstar(problem, iterations=10),
        lambda: shortest_path(problem),
        lambda: ompl_planner.make_space_information(problem),
    ):
        with pytest.raises(ConfigError) as info:
            call()
        assert str(info.value) == msg
    assert not ompl_planner.ompl_available()
    # the module itself imports without OMPL
    spec = importlib.util.spec_from_file_location("_seqvae_planner_no_ompl", ompl_planner.__file__)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    assert module.Problem(OPEN, [0.2, 0.2], [0.4, 0.4]).dim == 2
