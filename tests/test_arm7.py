"""The Panda in shelf worlds (seqvae.domains.arm7.robot): kinematics against the URDF, Coal against closed forms,
validity of configurations and motions. Skipped without the ``planning-arm`` extra (pin, coal,
example-robot-data)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytest.importorskip("pinocchio")
coal = pytest.importorskip("coal")

from scipy.spatial.transform import Rotation

from seqvae.domains.arm7 import robot as arm7

if not arm7.arm_available():  # pragma: no cover
    pytest.skip("example-robot-data's Panda is not installed", allow_module_level=True)


def shelf(seed: int = 3) -> arm7.ArmWorld:
    return arm7.shelf_world(np.random.default_rng(seed), clutter=(0, 0))


def ik_in(world_checker: arm7.CollisionChecker, position, seed: int = 0) -> np.ndarray:
    """A converged IK solution reaching ``position`` horizontally (several random starts)."""
    robot = world_checker.robot
    rng = np.random.default_rng(seed)
    for _ in range(50):
        q, ok = robot.inverse_kinematics(np.asarray(position), arm7.approach_rotation(0.0),
                                         rng.uniform(robot.lower, robot.upper))
        if ok:
            return q
    raise AssertionError(f"IK did not converge for {position}")


def test_model_loads_urdf_with_fingers_locked():
    robot = arm7.panda()
    assert robot.full_model.nq == 9 and robot.model.nq == 7
    assert len(robot.geometry.geometryObjects) == 17
    np.testing.assert_allclose(robot.lower, arm7.PANDA_LOWER)
    np.testing.assert_allclose(robot.upper, arm7.PANDA_UPPER)
    # SRDF: 91 pairs of objects on different bodies, 44 left after disable_collisions
    assert len(robot.geometry.collisionPairs) == 44


def test_home_configuration_is_free_in_empty_world_and_on_table():
    empty = arm7.CollisionChecker(arm7.ArmWorld(np.zeros((0, 6))))
    assert empty.is_free(arm7.PANDA_HOME)
    table = arm7.CollisionChecker(arm7.ArmWorld(arm7.table_box()[None]))
    assert table.is_free(arm7.PANDA_HOME)
    assert table.world_distance(arm7.PANDA_HOME) > 0.05  # the hand is well above the table
    # out of the joint limits or NaN: invalid
    q = arm7.PANDA_HOME.copy()
    q[3] = 0.0  # joint 4 must stay below -0.0698
    assert not empty.is_free(q)
    assert not empty.is_free(np.full(7, np.nan))


def _urdf_placement(q: np.ndarray, frame: str) -> np.ndarray:
    """4x4 world placement of ``frame`` composed by hand from the URDF's joint origins (rpy, xyz) and axes."""
    root = ET.parse(arm7.panda_files()["urdf"]).getroot()
    joints = {j.find("child").get("link"): j for j in root.findall("joint")}
    values = {f"panda_joint{i + 1}": float(v) for i, v in enumerate(q)}
    values.update(panda_finger_joint1=arm7.FINGER_OPENING, panda_finger_joint2=arm7.FINGER_OPENING)
    chain = []
    link = frame
    while link in joints:
        chain.append(joints[link])
        link = joints[link].find("parent").get("link")
    placement = np.eye(4)
    for j in reversed(chain):
        origin = j.find("origin")
        xyz = np.array([float(v) for v in origin.get("xyz").split()])
        rpy = [float(v) for v in origin.get("rpy", "0 0 0").split()]
        t = np.eye(4)
        t[:3, :3] = Rotation.from_euler("xyz", rpy).as_matrix()  # URDF rpy: R = Rz(y) Ry(p) Rx(r)
        t[:3, 3] = xyz
        motion = np.eye(4)
        if j.get("type") == "revolute":
            axis = np.array([float(v) for v in j.find("axis").get("xyz").split()])
            motion[:3, :3] = Rotation.from_rotvec(axis * values[j.get("name")]).as_matrix()
        elif j.get("type") == "prismatic":
            axis = np.array([float(v) for v in j.find("axis").get("xyz").split()])
            motion[:3, 3] = axis * values[j.get("name")]
        placement = placement @ t @ motion
    return placement


@pytest.mark.parametrize("q", [arm7.PANDA_HOME, np.array([0.3, -1.1, 0.7, -1.9, -0.4, 2.2, -1.3])])
@pytest.mark.parametrize("frame", ["panda_link4", "panda_link8", "panda_hand_tcp", "panda_leftfinger"])
def test_forward_kinematics_matches_urdf_frames(q, frame):
    robot = arm7.panda()
    pos, rot = robot.frame_placement(q, frame)
    want = _urdf_placement(q, frame)
    np.testing.assert_allclose(pos, want[:3, 3], atol=1e-6)
    np.testing.assert_allclose(rot, want[:3, :3], atol=1e-6)


def test_home_tcp_matches_published_ready_pose():
    # Franka's "ready" pose puts the flange at (0.307, 0, 0.590) m (0.088 forward of joint 7's axis, 0.107 down)
    pos, rot = arm7.panda().frame_placement(arm7.PANDA_HOME, "panda_link8")
    np.testing.assert_allclose(pos, [0.307, 0.0, 0.5903], atol=2e-3)
    np.testing.assert_allclose(rot[:, 2], [0.0, 0.0, -1.0], atol=1e-3)  # flange pointing down


def test_coal_distance_sphere_box_and_box_box_closed_form():
    box = coal.Box(0.4, 0.2, 0.1)  # half extents 0.2, 0.1, 0.05 at the origin
    tf_box = coal.Transform3s()
    sphere = coal.Sphere(0.05)
    centre = np.array([0.5, 0.3, -0.2])  # outside a corner: distance to the corner (0.2, 0.1, -0.05) minus r
    tf_sphere = coal.Transform3s(np.eye(3), centre)
    res = coal.DistanceResult()
    d = coal.distance(sphere, tf_sphere, box, tf_box, coal.DistanceRequest(), res)
    want = math.sqrt(0.3**2 + 0.2**2 + 0.15**2) - 0.05
    assert d == pytest.approx(want, abs=1e-9)
    # face case: a box 0.13 above the first one's top face
    other = coal.Box(0.1, 0.1, 0.1)
    res = coal.DistanceResult()
    d = coal.distance(other, coal.Transform3s(np.eye(3), np.array([0.05, 0.0, 0.05 + 0.13 + 0.05])), box, tf_box,
                      coal.DistanceRequest(), res)
    assert d == pytest.approx(0.13, abs=1e-9)


def test_world_distance_of_finger_box_to_board_closed_form():
    # a thin board just below the TCP, parallel to the table: its distance to the robot is the gap between the
    # board's top face and the lowest point of the robot's collision geometry, found by bisection on its height
    robot = arm7.panda()
    q = arm7.PANDA_HOME
    checker = arm7.CollisionChecker(arm7.ArmWorld(np.zeros((0, 6))), robot)
    lowest = None
    lo, hi = 0.0, 1.0
    for _ in range(60):  # the board top at which contact starts
        mid = (lo + hi) / 2
        c = arm7.CollisionChecker(arm7.ArmWorld(arm7._box([0.0, -0.5, mid - 0.02], [0.8, 0.5, mid])[None]), robot)
        if c.is_free(q):
            lo = mid
        else:
            hi = mid
    lowest = (lo + hi) / 2
    top = lowest - 0.07
    c = arm7.CollisionChecker(arm7.ArmWorld(arm7._box([0.0, -0.5, top - 0.02], [0.8, 0.5, top])[None]), robot)
    assert c.world_distance(q) == pytest.approx(0.07, abs=1e-5)  # GJK on a convex hull: ~1e-6 tolerance
    assert checker.is_free(q)


def test_hand_through_a_board_is_in_collision():
    world = shelf()
    checker = arm7.CollisionChecker(world)
    comp = world.compartments[1]
    xy = [comp[0] + 0.15, (comp[2] + comp[3]) / 2]
    free = ik_in(checker, [*xy, (comp[4] + comp[5]) / 2])
    assert checker.is_free(free)  # the hand in the middle of the compartment
    board_z = world.params[5]  # params: x, y, width, depth, then board heights: this is the board under comp. 1
    through = ik_in(checker, [*xy, board_z])
    assert not checker.is_free(through)
    pairs = checker.colliding_pairs(through)
    n_robot = checker.robot.n_robot_geometries
    board = n_robot + 4 + 1  # world boxes: table, 2 sides, back, then boards 0..3
    names = {checker.geometry.geometryObjects[board].name}
    assert any(b in names and ("hand" in a or "finger" in a) for a, b in pairs), pairs


def test_broad_phase_agrees_with_every_pair():
    world = arm7.shelf_world(np.random.default_rng(5))
    checker = arm7.CollisionChecker(world)
    rng = np.random.default_rng(0)
    qs = rng.uniform(arm7.PANDA_LOWER, arm7.PANDA_UPPER, size=(300, 7))
    fast = np.array([checker.is_free(q) for q in qs])
    full = np.array([checker.is_free_exhaustive(q) for q in qs])
    np.testing.assert_array_equal(fast, full)
    assert 0.2 < fast.mean() < 0.95  # both outcomes are exercised


def test_motion_through_a_board_is_rejected_at_the_resolution():
    world = shelf()
    checker = arm7.CollisionChecker(world)
    lower, upper = world.compartments[1], world.compartments[2]
    xy = [lower[0] + 0.15, (lower[2] + lower[3]) / 2]
    robot, rng = checker.robot, np.random.default_rng(0)
    for _ in range(100):  # the hand in the middle of compartment 1, then (same IK branch) of compartment 2
        q0, ok0 = robot.inverse_kinematics([*xy, (lower[4] + lower[5]) / 2], arm7.approach_rotation(0.0),
                                           rng.uniform(robot.lower, robot.upper))
        if not (ok0 and checker.is_free(q0)):
            continue
        q1, ok = robot.inverse_kinematics([*xy, (upper[4] + upper[5]) / 2], arm7.approach_rotation(0.0), q0)
        if ok and checker.is_free(q1):
            break
    assert ok and checker.is_free(q0) and checker.is_free(q1)
    assert not checker.motion_free(q0, q1)
    problem = arm7.ArmProblem(world=world, start=q0, goal=q1, robot=checker)
    assert not problem.motion_valid(q0, q1) and not problem.path_valid(np.stack([q0, q1]))
    # the same motion with the boards and panels removed (table only) is free: the board is what stops it
    table_only = arm7.CollisionChecker(arm7.ArmWorld(world.boxes[:1]))
    assert table_only.motion_free(q0, q1)
    # the resolution is what the module states: the checked steps are at most MOTION_RESOLUTION apart
    n = math.ceil(np.max(np.abs(q1 - q0)) / arm7.MOTION_RESOLUTION)
    assert np.max(np.abs(q1 - q0)) / n <= arm7.MOTION_RESOLUTION
    checker.checks = 0
    table_only.checks = 0
    table_only.motion_free(q0, q1)
    assert table_only.checks == n + 1  # every interior step and both ends checked on a free motion


def test_side_top_grid_shows_boards_and_footprint():
    world = shelf()
    g = world.side_top_grid(32)
    assert g.shape == (32, 32) and g.dtype == np.float32
    assert 0.0 <= g.min() and g.max() <= 1.0
    side, top = g[:16], g[16:]
    # the shelf's footprint in the top view covers its x range; nothing left of the robot's base
    x_cols = (np.arange(32) + 0.5) / 32 * 1.2 - 0.1
    inside = (x_cols > world.params[0] + 0.05) & (x_cols < world.params[0] + world.params[3] - 0.05)
    assert top[:, inside].max() == pytest.approx(1.0)
    assert side[:, x_cols < 0.3].max() == 0.0 and top[:, x_cols < 0.3].max() == 0.0


# ---------------------------------------------------------------------------------------------- experiment parts


def test_arm7_settings_validate_overrides():
    from seqvae.domains.arm7.experiment import arm7_settings
    from seqvae.errors import ConfigError

    s = arm7_settings("paper", ["arm7.n_grid=[50,25,25]", "arm7.lam=0.9"])
    assert s.n_grid == [25, 50] and s.lam == 0.9 and s.train_worlds == 1000
    with pytest.raises(ConfigError, match="arm7.planner: expected one of"):
        arm7_settings(None, ["arm7.planner=prm"])
    with pytest.raises(ConfigError, match="unknown arm7 setting"):
        arm7_settings(None, ["arm7.nope=1"])
    with pytest.raises(ConfigError, match="lam"):
        arm7_settings(None, ["arm7.lam=0"])


def test_success_at_time_and_n_star():
    from types import SimpleNamespace as R

    from seqvae.domains.arm7.experiment import choose_n_star, success_at_time

    runs = {10: [R(solved=True, seconds=0.5), R(solved=False, seconds=0.4)],
            20: [R(solved=True, seconds=1.5), R(solved=True, seconds=2.5)]}
    assert success_at_time(runs, 0.4) == 0.0
    assert success_at_time(runs, 1.0) == 0.5  # N = 10 solves one of two within 1 s
    assert success_at_time(runs, 2.0) == 0.5
    assert success_at_time(runs, 3.0) == 1.0  # N = 20 solves both within 3 s
    rows = [{"n": 10, "uniform": {"success": 0.1}}, {"n": 20, "uniform": {"success": 0.3}},
            {"n": 40, "uniform": {"success": 0.5}}]
    assert choose_n_star(rows) == 20


def test_clearance_weighted_states_sit_closer_to_obstacles():
    world = shelf()
    checker = arm7.CollisionChecker(world)
    goal = arm7.sample_goal_in_compartment(checker, np.random.default_rng(0), world.compartments[1])
    assert goal is not None
    # home (well clear of everything) to a hand inside a compartment (close to the boards)
    path = np.stack([arm7.PANDA_HOME, goal])
    uniform = arm7.path_states(checker, path, 200, np.random.default_rng(1), clearance_fraction=0.0)
    weighted = arm7.path_states(checker, path, 200, np.random.default_rng(1), clearance_fraction=1.0)
    assert uniform.shape == weighted.shape == (200, 7)
    clear_u = np.mean([max(checker.world_distance(q), 0) for q in uniform])
    clear_w = np.mean([max(checker.world_distance(q), 0) for q in weighted])
    assert clear_w < 0.7 * clear_u, (clear_w, clear_u)


def test_reversed_rows_swap_start_and_goal():
    from seqvae.domains.arm7.experiment import reversed_rows

    states = np.arange(14.0).reshape(2, 7)
    cond = np.arange(2 * (14 + 4), dtype=np.float32).reshape(2, 18)
    s2, c2 = reversed_rows(states, cond)
    np.testing.assert_array_equal(s2, np.concatenate([states, states]))
    np.testing.assert_array_equal(c2[2:, :7], cond[:, 7:14])
    np.testing.assert_array_equal(c2[2:, 7:14], cond[:, :7])
    np.testing.assert_array_equal(c2[2:, 14:], cond[:, 14:])
    np.testing.assert_array_equal(c2[:2], cond)


def test_condition_row_layout():
    world = shelf()
    checker = arm7.CollisionChecker(world)
    problem = arm7.world_problems(world, 1, np.random.default_rng(2), checker=checker)[0]
    row = arm7.problem_condition(problem, 32)
    assert row.shape == (7 + 7 + 32 * 32,)
    np.testing.assert_allclose(row[:7], problem.start, atol=1e-6)
    np.testing.assert_allclose(row[7:14], problem.goal, atol=1e-6)
    np.testing.assert_array_equal(row[14:].reshape(32, 32), world.side_top_grid(32))


@pytest.mark.filterwarnings("ignore::seqvae.training.PosteriorCollapseWarning")  # 2 epochs on 60 rows
def test_experiment_tiny_run_writes_claims(tmp_path):
    pytest.importorskip("ompl")
    import json

    from seqvae.experiments import run_experiment

    over = ["arm7.train_worlds=3", "arm7.problems_per_world=1", "arm7.states_per_path=20", "arm7.eval_worlds=3",
            "arm7.n_grid=[10]", "arm7.figure_samples=20", "arm7.clearance_fraction=0.5", "train.max_epochs=2"]
    metrics = run_experiment("arm7", tmp_path, seed=0, overrides=over, progress=False, report=False)
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["claims"] == metrics["claims"]
    s = metrics["summary"]
    assert s["feasible_problems"] <= s["held_out_problems"] == 3
    row = metrics["table"][0]
    for key in ("uniform", "learned"):
        assert 0.0 <= row[key]["success"] <= 1.0
        assert row[key]["solved"] == round(row[key]["success"] * row["problems"])
    ratio = s.get("ratio")
    assert metrics["claims"]["learned_beats_uniform_1_5x"] == bool(ratio is not None and ratio >= 1.5)
    assert set(metrics["time"]) >= {"budgets", "uniform", "learned"}
    assert all(0.0 <= v <= 1.0 for v in metrics["time"]["uniform"]["success_at_time"])
    for fig in metrics["figures"]:
        assert (tmp_path / fig).is_file()
