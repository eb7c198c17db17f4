"""A real 7-DOF arm for learned sampling: the Franka Emika Panda in shelf worlds (optional extra ``planning-arm``).

Robot: the Panda URDF, collision geometry and SRDF of the PyPI package ``example-robot-data`` (6.0.0), loaded
with Pinocchio (``pin``). The two finger joints are locked open (0.04 m each, ``buildReducedModel``), leaving
the 7 arm joints. Collision geometry: the URDF's collision objects (9 link meshes + 8 finger boxes); each mesh is
replaced by its convex hull (Coal's ``buildConvexRepresentation``), which contains the mesh, so "free" here
implies free for the mesh too. Self-collision pairs: all pairs of different bodies minus the SRDF's
``disable_collisions`` (44 pairs). World pairs: every robot object but ``panda_link0`` (bolted to the table)
against every world box. Queries run through Pinocchio's broad-phase manager over Coal
(``DynamicAABBTreeCollisionManager``, ~30 us per configuration) -- no hand-written kinematics or collision code.

Worlds (:class:`ArmWorld`): axis-aligned boxes. ``"shelf"``: a table (top at z = 0, the robot's base on it) and
a shelf unit in front of the robot whose position, width, depth, board heights and clutter boxes vary per world
(the compartments are narrow passages for the hand); ``"clutter"``: the table with random boxes on it.

Validity: a configuration is valid when it is inside the joint limits and collision-free (exact, through
Coal). A straight joint-space motion is valid when the configurations ``q0 + (j / n) (q1 - q0)``,
``n = max(1, ceil(max_i |q1_i - q0_i| / resolution))`` are all valid (checked in bisection order with early
exit). The default ``resolution`` is :data:`MOTION_RESOLUTION` = 0.04 rad (largest joint step): one joint's step
moves a point 0.9 m from its axis by 3.6 cm, about a shelf board's thickness (3-4 cm here); steps of several
joints add up, so "collision-free" for a motion means free at that resolution, not in between.

:class:`ArmProblem` is a :class:`~seqvae.domains.planning.ompl_planner.Problem`, so :func:`plan_prm` (with the learned
λ-mixture sampler), :func:`plan_rrtstar` and :func:`shortest_path` plan for the Panda unchanged. OMPL's state
space is the box ``[JOINT_BOX_LOW, JOINT_BOX_HIGH]^7`` that holds every joint's range; states outside a joint's
own limits are invalid, so uniform sampling in the box conditioned on validity is uniform over the valid
configurations.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seqvae.domains.planning.ompl_planner import Problem, _bisection_order
from seqvae.errors import ConfigError, DataError

ARM_MISSING = 'the 7-DOF arm needs Pinocchio, Coal and example-robot-data: pip install "seqvae[planning-arm]"'
MOTION_RESOLUTION = 0.04
EE_FRAME = "panda_hand_tcp"
ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_OPENING = 0.04
# the SRDF's "default" group state (MoveIt's ready pose)
PANDA_HOME = np.array([0.0, -0.785398, 0.0, -2.35619, 0.0, 1.5707, 0.785398])
PANDA_LOWER = np.array([-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973])
PANDA_UPPER = np.array([2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973])
JOINT_BOX_LOW, JOINT_BOX_HIGH = float(PANDA_LOWER.min()), float(PANDA_UPPER.max())
TABLE_TOP = 0.0
WORLD_KINDS = ("shelf", "clutter")


def _import_arm():
    try:
        import coal
        import pinocchio as pin
    except ImportError as exc:
        raise ConfigError(ARM_MISSING) from exc
    return pin, coal


def arm_available() -> bool:
    """Whether Pinocchio, Coal and the Panda description can be loaded."""
    try:
        _import_arm()
        panda_files()
    except ConfigError:
        return False
    return True


def panda_files() -> dict[str, Path]:
    """``urdf``, ``srdf`` and ``package_dir`` (the folder holding ``example-robot-data/``) of the installed Panda."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        share = Path(distribution("example-robot-data").locate_file("cmeel.prefix/share"))
    except PackageNotFoundError as exc:
        raise ConfigError(ARM_MISSING) from exc
    root = share / "example-robot-data" / "robots" / "panda_description"
    files = {"urdf": root / "urdf" / "panda.urdf", "srdf": root / "srdf" / "panda.srdf", "package_dir": share}
    if not files["urdf"].is_file():
        raise ConfigError(f"{ARM_MISSING} (no {files['urdf']})")
    return files


# --------------------------------------------------------------------------------------------------------------
# robot


class Panda:
    """The Panda's 7-joint Pinocchio model (fingers locked open) and its collision geometry (convex hulls).

    ``model``: the reduced ``pin.Model`` (nq = 7); ``geometry``: its ``pin.GeometryModel`` with the
    self-collision pairs the SRDF allows; ``full_model``: the URDF's 9-joint model.
    """

    def __init__(self, convex: bool = True) -> None:
        pin, coal = _import_arm()
        files = panda_files()
        full, collision, _visual = pin.buildModelsFromUrdf(str(files["urdf"]), str(files["package_dir"]))
        self.full_model = full
        lock = [full.getJointId("panda_finger_joint1"), full.getJointId("panda_finger_joint2")]
        q_ref = pin.neutral(full)
        q_ref[7:] = FINGER_OPENING
        self.model, self.geometry = pin.buildReducedModel(full, collision, lock, q_ref)
        if convex:
            for g in self.geometry.geometryObjects:
                if isinstance(g.geometry, coal.BVHModelBase):
                    g.geometry.buildConvexRepresentation(False)
                    g.geometry = g.geometry.convex
        self.geometry.addAllCollisionPairs()  # pairs of objects on different joints
        pin.removeCollisionPairs(self.model, self.geometry, str(files["srdf"]))
        self.data = self.model.createData()
        self.ee_frame = self.model.getFrameId(EE_FRAME)
        self.lower = np.array(self.model.lowerPositionLimit, dtype=np.float64)
        self.upper = np.array(self.model.upperPositionLimit, dtype=np.float64)
        self.n_robot_geometries = len(self.geometry.geometryObjects)
        self.base_geometry = self.geometry.getGeometryId("panda_link0_0")

    @property
    def nq(self) -> int:
        return int(self.model.nq)

    def in_limits(self, q: np.ndarray) -> bool:
        q = np.asarray(q, dtype=np.float64)
        return bool(q.shape == (7,) and np.all(np.isfinite(q)) and np.all(q >= self.lower) and np.all(q <= self.upper))

    def frame_placement(self, q: np.ndarray, frame: str = EE_FRAME) -> tuple[np.ndarray, np.ndarray]:
        """``(position (3,), rotation (3, 3))`` of ``frame`` in the world at configuration ``q``."""
        pin, _ = _import_arm()
        fid = self.model.getFrameId(frame)
        pin.framesForwardKinematics(self.model, self.data, np.asarray(q, dtype=np.float64))
        m = self.data.oMf[fid]
        return np.array(m.translation), np.array(m.rotation)

    def ee_positions(self, qs: np.ndarray, frame: str = EE_FRAME) -> np.ndarray:
        """End-effector (tool-centre-point) positions ``(n, 3)`` of configurations ``(n, 7)``."""
        return np.array([self.frame_placement(q, frame)[0] for q in np.atleast_2d(qs)]).reshape(-1, 3)

    def joint_positions(self, q: np.ndarray) -> np.ndarray:
        """Origins of the 7 joint frames, the flange and the TCP ``(9, 3)`` (a stick figure for plots)."""
        pin, _ = _import_arm()
        pin.framesForwardKinematics(self.model, self.data, np.asarray(q, dtype=np.float64))
        pts = [np.array(self.data.oMi[j].translation) for j in range(1, self.model.njoints)]
        for name in ("panda_link8", EE_FRAME):
            pts.append(np.array(self.data.oMf[self.model.getFrameId(name)].translation))
        return np.array([[0.0, 0.0, 0.0], *pts])

    def inverse_kinematics(
        self, position: np.ndarray, rotation: np.ndarray, q_init: np.ndarray, iterations: int = 300,
        tol: float = 1e-6, damping: float = 1e-6,
    ) -> tuple[np.ndarray, bool]:
        """Closed-loop IK of the TCP to ``(position, rotation)`` from ``q_init`` (Pinocchio's damped least squares
        on the SE(3) log error, clipped into the joint limits): ``(q, converged)``."""
        pin, _ = _import_arm()
        target = pin.SE3(np.asarray(rotation, dtype=np.float64), np.asarray(position, dtype=np.float64))
        q = np.clip(np.asarray(q_init, dtype=np.float64).copy(), self.lower, self.upper)
        for _ in range(iterations):
            pin.framesForwardKinematics(self.model, self.data, q)
            err_se3 = self.data.oMf[self.ee_frame].actInv(target)
            err = pin.log6(err_se3).vector
            if np.linalg.norm(err) < tol:
                return q, True
            jac = pin.computeFrameJacobian(self.model, self.data, q, self.ee_frame, pin.LOCAL)
            jac = pin.Jlog6(err_se3.inverse()) @ jac
            dq = -jac.T @ np.linalg.solve(jac @ jac.T + damping * np.eye(6), -err)
            q = np.clip(q + dq, self.lower, self.upper)
        return q, False


@functools.lru_cache(maxsize=1)
def panda() -> Panda:
    """The process's shared :class:`Panda` (loading meshes and hulls takes ~0.3 s)."""
    return Panda()


# --------------------------------------------------------------------------------------------------------------
# worlds


@dataclass(frozen=True, eq=False)
class ArmWorld:
    """Boxes ``(K, 6)`` as ``[cx, cy, cz, hx, hy, hz]`` (centre, half extents; metres) plus what made them.

    ``kind``: ``"shelf"`` or ``"clutter"``; ``params``: the generator's parameter vector (:data:`PARAM_NAMES`);
    ``compartments``: per shelf compartment ``[x0, x1, y0, y1, z0, z1]`` (the free box between two boards;
    ``(0, 6)`` for clutter worlds); ``table``: the index of the table box (always 0).
    """

    boxes: np.ndarray
    kind: str = "shelf"
    params: np.ndarray = field(default_factory=lambda: np.zeros(0))
    compartments: np.ndarray = field(default_factory=lambda: np.zeros((0, 6)))

    def __post_init__(self) -> None:
        b = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 6)
        if not np.all(np.isfinite(b)) or np.any(b[:, 3:] <= 0):
            raise DataError("ArmWorld.boxes: expected finite [cx, cy, cz, hx, hy, hz] rows with positive half extents")
        object.__setattr__(self, "boxes", b)
        object.__setattr__(self, "params", np.asarray(self.params, dtype=np.float64))
        object.__setattr__(self, "compartments", np.asarray(self.compartments, dtype=np.float64).reshape(-1, 6))

    def side_top_grid(self, resolution: int = 32, extent: tuple[float, float, float, float, float, float] = (
        -0.1, 1.1, -0.6, 0.6, 0.0, 1.2)) -> np.ndarray:
        """Two orthographic occupancy images stacked into one ``(R, R)`` array: rows ``0 .. R/2-1`` the side view
        (x across, z down the rows, top row = highest z), rows ``R/2 ..`` the top view (x across, y down the rows).
        Each cell holds the largest fraction of it covered by one projected box; the table is left out (it is in
        every world)."""
        r = int(resolution)
        if r < 2 or r % 2:
            raise ConfigError(f"grid resolution must be an even number >= 2, got {resolution}")
        x0, x1, y0, y1, z0, z1 = extent
        boxes = self.boxes[1:]
        lo, hi = boxes[:, :3] - boxes[:, 3:], boxes[:, :3] + boxes[:, 3:]

        def cover(a0, a1, edges):
            # fraction of each cell [edges[i], edges[i+1]] covered by [a0, a1], per box: (K, cells)
            left, right = edges[:-1][None], edges[1:][None]
            return np.clip(np.minimum(a1[:, None], right) - np.maximum(a0[:, None], left), 0, None) / (right - left)

        ex = np.linspace(x0, x1, r + 1)
        ez = np.linspace(z1, z0, r // 2 + 1)[::-1]
        ey = np.linspace(y0, y1, r // 2 + 1)
        cx = cover(lo[:, 0], hi[:, 0], ex)
        cz = cover(lo[:, 2], hi[:, 2], ez)[:, ::-1]  # top row = highest z
        cy = cover(lo[:, 1], hi[:, 1], ey)
        side = (cz[:, :, None] * cx[:, None, :]).max(axis=0) if len(boxes) else np.zeros((r // 2, r))
        top = (cy[:, :, None] * cx[:, None, :]).max(axis=0) if len(boxes) else np.zeros((r // 2, r))
        return np.concatenate([side, top]).astype(np.float32)


PARAM_NAMES = ("shelf_x", "shelf_y", "shelf_width", "shelf_depth", "board_z_1", "board_z_2", "board_z_3",
               "board_z_4", "board_thickness")


def _box(lo, hi) -> np.ndarray:
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    return np.concatenate([(lo + hi) / 2, (hi - lo) / 2])


def table_box() -> np.ndarray:
    """The table: top face at z = 0 under the robot's base, 1.6 x 1.8 m."""
    return _box([-0.4, -0.9, TABLE_TOP - 0.04], [1.2, 0.9, TABLE_TOP])


def shelf_world(rng: np.random.Generator, compartment_height: tuple[float, float] = (0.2, 0.26),
                clutter: tuple[int, int] = (0, 2)) -> ArmWorld:
    """A shelf unit on the table in front of the robot: side panels, back panel, 4 boards (3 compartments of
    height ``compartment_height``, bottom board 0.08-0.25 m above the table), plus clutter boxes in the
    compartments (at the back or a side, leaving room for the hand)."""
    x_front = rng.uniform(0.42, 0.55)
    depth = rng.uniform(0.28, 0.36)
    width = rng.uniform(0.6, 0.8)
    y_c = rng.uniform(-0.15, 0.15)
    t = rng.uniform(0.03, 0.04)  # board thickness
    z = [rng.uniform(0.08, 0.25)]
    for _ in range(3):
        z.append(z[-1] + t + rng.uniform(*compartment_height))
    xb = x_front + depth
    y0, y1 = y_c - width / 2, y_c + width / 2
    boxes = [table_box()]
    top = z[-1] + t / 2
    boxes.append(_box([x_front, y0 - t, TABLE_TOP], [xb, y0, top]))  # side panels
    boxes.append(_box([x_front, y1, TABLE_TOP], [xb, y1 + t, top]))
    boxes.append(_box([xb, y0 - t, TABLE_TOP], [xb + t, y1 + t, top]))  # back
    for zi in z:
        boxes.append(_box([x_front, y0, zi - t / 2], [xb, y1, zi + t / 2]))
    comps = np.array([[x_front, xb, y0, y1, z[i] + t / 2, z[i + 1] - t / 2] for i in range(3)])
    n_clutter = int(rng.integers(clutter[0], clutter[1] + 1))
    for _ in range(n_clutter):
        c = comps[rng.integers(0, 3)]
        h = rng.uniform(0.05, 0.5) * (c[5] - c[4])
        sx, sy = rng.uniform(0.04, 0.1), rng.uniform(0.04, 0.1)
        side = rng.integers(0, 3)  # back, left or right
        if side == 0:
            cx, cy = c[1] - sx, rng.uniform(c[2] + sy, c[3] - sy)
        else:
            cx = rng.uniform(c[0] + sx + 0.05, c[1] - sx)
            cy = c[2] + sy if side == 1 else c[3] - sy
        boxes.append(_box([cx - sx, cy - sy, c[4]], [cx + sx, cy + sy, c[4] + h]))
    params = np.array([x_front, y_c, width, depth, *z, t])
    return ArmWorld(np.array(boxes), "shelf", params, comps)


def clutter_world(rng: np.random.Generator, n_boxes: tuple[int, int] = (3, 6)) -> ArmWorld:
    """The table with ``n_boxes`` random boxes on it, 0.35-0.8 m from the base, in front of the robot."""
    boxes = [table_box()]
    for _ in range(int(rng.integers(n_boxes[0], n_boxes[1] + 1))):
        r, a = rng.uniform(0.35, 0.8), rng.uniform(-1.2, 1.2)
        s = rng.uniform(0.03, 0.08, size=2)
        h = rng.uniform(0.05, 0.45)
        c = np.array([r * math.cos(a), r * math.sin(a)])
        boxes.append(_box([*(c - s), TABLE_TOP], [*(c + s), TABLE_TOP + h]))
    return ArmWorld(np.array(boxes), "clutter", np.zeros(len(PARAM_NAMES)), np.zeros((0, 6)))


def make_world(kind: str, rng: np.random.Generator, **kwargs: Any) -> ArmWorld:
    if kind == "shelf":
        return shelf_world(rng, **kwargs)
    if kind == "clutter":
        return clutter_world(rng, **kwargs)
    raise ConfigError(f"arm world kind must be one of {', '.join(WORLD_KINDS)}, got {kind!r}")


# --------------------------------------------------------------------------------------------------------------
# collision checking


class CollisionChecker:
    """Validity of Panda configurations in one :class:`ArmWorld` (Pinocchio kinematics + Coal collision)."""

    def __init__(self, world: ArmWorld, robot: Panda | None = None) -> None:
        pin, coal = _import_arm()
        self.world = world
        self.robot = robot or panda()
        gm = self.robot.geometry.copy()
        n_robot = self.robot.n_robot_geometries
        for i, b in enumerate(world.boxes):
            placement = pin.SE3(np.eye(3), b[:3].copy())
            gm.addGeometryObject(pin.GeometryObject(f"world_box_{i}", 0, 0, placement, coal.Box(*(2 * b[3:]))))
        for r in range(n_robot):
            if r == self.robot.base_geometry:
                continue
            for w in range(n_robot, n_robot + len(world.boxes)):
                gm.addCollisionPair(pin.CollisionPair(r, w))
        self.geometry = gm
        self.geometry_data = pin.GeometryData(gm)
        self.data = self.robot.model.createData()
        self.manager = pin.BroadPhaseManager_DynamicAABBTreeCollisionManager(
            self.robot.model, self.geometry, self.geometry_data
        )
        self.lower, self.upper = self.robot.lower, self.robot.upper
        self.checks = 0

    def is_free(self, q) -> bool:
        """Inside the joint limits and no allowed pair (self or world) in collision. NaN gives False."""
        pin, _ = _import_arm()
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (7,) or not (np.all(q >= self.lower) and np.all(q <= self.upper)):
            return False  # NaN fails both comparisons
        self.checks += 1
        return not pin.computeCollisions(self.robot.model, self.data, self.manager, q, True)

    def is_free_exhaustive(self, q) -> bool:
        """Same answer as :meth:`is_free` by testing every collision pair (no broad phase); for tests."""
        pin, _ = _import_arm()
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (7,) or not (np.all(q >= self.lower) and np.all(q <= self.upper)):
            return False
        return not pin.computeCollisions(self.robot.model, self.data, self.geometry, self.geometry_data, q, False)

    def colliding_pairs(self, q) -> list[tuple[str, str]]:
        """Names of every pair in collision at ``q`` (limits not checked)."""
        pin, _ = _import_arm()
        pin.computeCollisions(self.robot.model, self.data, self.geometry, self.geometry_data,
                              np.asarray(q, dtype=np.float64), False)
        out = []
        for k, res in enumerate(self.geometry_data.collisionResults):
            if res.isCollision():
                p = self.geometry.collisionPairs[k]
                out.append((self.geometry.geometryObjects[p.first].name, self.geometry.geometryObjects[p.second].name))
        return out

    def world_distance(self, q) -> float:
        """Smallest Coal distance between a robot object and a world box at ``q`` (negative: penetration)."""
        pin, _ = _import_arm()
        pin.computeDistances(self.robot.model, self.data, self.geometry, self.geometry_data,
                             np.asarray(q, dtype=np.float64))
        n_robot = self.robot.n_robot_geometries
        best = math.inf
        for k, res in enumerate(self.geometry_data.distanceResults):
            if self.geometry.collisionPairs[k].second >= n_robot:
                best = min(best, float(res.min_distance))
        return best

    def motion_free(self, q0, q1, resolution: float = MOTION_RESOLUTION) -> bool:
        """The straight joint-space motion checked at ``resolution`` (see the module docstring)."""
        pin, _ = _import_arm()
        a = np.asarray(q0, dtype=np.float64)
        b = np.asarray(q1, dtype=np.float64)
        if not (self.is_free(a) and self.is_free(b)):
            return False
        d = b - a
        n = max(1, math.ceil(float(np.max(np.abs(d))) / resolution))
        if n == 1:
            return True
        # interior configurations lie inside the (convex) joint-limit box: only collisions to check
        qs = a[None] + (np.arange(n + 1)[:, None] / n) * d[None]
        model, data, manager = self.robot.model, self.data, self.manager
        for j in _bisection_order(n)[:-2]:
            self.checks += 1
            if pin.computeCollisions(model, data, manager, qs[j], True):
                return False
        return True


# --------------------------------------------------------------------------------------------------------------
# planning problems


@dataclass(frozen=True, eq=False)
class ArmProblem(Problem):
    """A Panda planning problem for the OMPL planners of :mod:`seqvae.domains.planning.ompl_planner`: ``world`` is an
    :class:`ArmWorld`, ``robot`` its :class:`CollisionChecker`, ``arm_resolution`` the motion resolution."""

    arm_resolution: float = MOTION_RESOLUTION

    def __post_init__(self) -> None:
        if not isinstance(self.world, ArmWorld):
            raise ConfigError(f"world: expected an ArmWorld, got {type(self.world).__name__}")
        if not isinstance(self.robot, CollisionChecker):
            raise ConfigError(f"robot: expected a CollisionChecker, got {type(self.robot).__name__}")
        if not self.arm_resolution > 0:
            raise ConfigError(f"arm_resolution must be positive, got {self.arm_resolution!r}")
        for name in ("start", "goal"):
            q = np.array(getattr(self, name), dtype=np.float64).reshape(-1)
            if q.shape != (7,) or not np.all(np.isfinite(q)):
                raise DataError(f"{name}: expected 7 finite joint angles, got {getattr(self, name)!r}")
            q.setflags(write=False)
            object.__setattr__(self, name, q)

    @property
    def is_arm(self) -> bool:
        return True

    @property
    def dim(self) -> int:
        return 7

    @property
    def bounds(self) -> tuple[float, float]:
        return JOINT_BOX_LOW, JOINT_BOX_HIGH

    def clip(self, q: np.ndarray) -> np.ndarray:
        return np.clip(q, PANDA_LOWER, PANDA_UPPER)

    def is_valid(self, q) -> bool:
        return self.robot.is_free(q)

    def motion_valid(self, q0, q1) -> bool:
        return self.robot.motion_free(q0, q1, self.arm_resolution)

    def path_valid(self, path: np.ndarray) -> bool:
        p = np.asarray(path, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 7 or len(p) == 0 or not np.all(np.isfinite(p)):
            return False
        if not all(self.robot.is_free(q) for q in p):
            return False
        return all(self.robot.motion_free(a, b, self.arm_resolution) for a, b in itertools.pairwise(p))


def approach_rotation(yaw: float = 0.0) -> np.ndarray:
    """TCP orientation reaching horizontally along world +x rotated by ``yaw`` about z, fingers opening
    horizontally (tool z = approach, tool y horizontal)."""
    c, s = math.cos(yaw), math.sin(yaw)
    z_tool = np.array([c, s, 0.0])
    y_tool = np.array([-s, c, 0.0])
    return np.column_stack([np.cross(y_tool, z_tool), y_tool, z_tool])


def sample_goal_in_compartment(
    checker: CollisionChecker, rng: np.random.Generator, compartment: np.ndarray, tries: int = 20
) -> np.ndarray | None:
    """A valid configuration whose TCP is inside ``compartment`` (``[x0, x1, y0, y1, z0, z1]``), reaching in
    horizontally: a target pose drawn in the compartment, solved by :meth:`Panda.inverse_kinematics` from random
    starting configurations; None when no try converges to a valid configuration."""
    robot = checker.robot
    x0, x1, y0, y1, z0, z1 = compartment
    for _ in range(tries):
        pos = np.array([
            rng.uniform(x0 + 0.12, min(x0 + 0.22, x1 - 0.05)),
            rng.uniform(y0 + 0.12, y1 - 0.12),
            rng.uniform(z0 + 0.45 * (z1 - z0), z0 + 0.6 * (z1 - z0)),
        ])
        yaw = math.atan2(pos[1], pos[0]) * 0.5 + rng.uniform(-0.2, 0.2)
        q_init = rng.uniform(robot.lower, robot.upper)
        q, ok = robot.inverse_kinematics(pos, approach_rotation(yaw), q_init)
        if ok and checker.is_free(q):
            return q
    return None


def sample_start_above_table(
    checker: CollisionChecker, rng: np.random.Generator, tries: int = 2000
) -> np.ndarray | None:
    """A uniform valid configuration whose TCP is 0.15-0.8 m above the table, in front of the robot (x >= 0.1 m,
    |y| <= 0.6 m) and outside the shelf's bounding box; None if ``tries`` draws find none."""
    robot = checker.robot
    comps = checker.world.compartments
    for _ in range(tries):
        q = rng.uniform(robot.lower, robot.upper)
        p = robot.frame_placement(q)[0]
        if not (0.15 <= p[2] - TABLE_TOP <= 0.8 and p[0] >= 0.1 and abs(p[1]) <= 0.6):
            continue
        if len(comps):
            x0, y0, y1 = comps[:, 0].min(), comps[:, 2].min(), comps[:, 3].max()
            if p[0] > x0 - 0.05 and y0 - 0.05 < p[1] < y1 + 0.05:
                continue
        if checker.is_free(q):
            return q
    return None


def world_problems(
    world: ArmWorld, n: int, rng: np.random.Generator, resolution: float = MOTION_RESOLUTION,
    checker: CollisionChecker | None = None, max_tries: int = 20,
) -> list[ArmProblem]:
    """Up to ``n`` problems in ``world``: start above the table, goal inside a random compartment (shelf), or
    start and goal both above the table (clutter); start and goal are swapped with probability 1/2."""
    checker = checker or CollisionChecker(world)
    out: list[ArmProblem] = []
    for _ in range(max_tries):
        if len(out) >= n:
            break
        start = sample_start_above_table(checker, rng)
        if start is None:
            continue
        if len(world.compartments):
            goal = sample_goal_in_compartment(checker, rng, world.compartments[rng.integers(0, len(world.compartments))])
        else:
            goal = sample_start_above_table(checker, rng)
        if goal is None:
            continue
        if rng.random() < 0.5:
            start, goal = goal, start
        out.append(ArmProblem(world=world, start=start, goal=goal, robot=checker, arm_resolution=resolution))
    return out


# --------------------------------------------------------------------------------------------------------------
# data sets

TRAIN_STREAM, HELD_OUT_STREAM = 0, 1


def world_rngs(seed: int, stream: int, n_worlds: int) -> list[tuple[np.random.Generator, np.random.Generator]]:
    """Per world: (generator for the world and its problems, generator for OMPL seeds and path states)."""
    children = np.random.SeedSequence([int(seed), 7, stream]).spawn(n_worlds)
    return [tuple(np.random.default_rng(c) for c in child.spawn(2)) for child in children]  # type: ignore[misc]


def world_kind(index: int, n_worlds: int, clutter_fraction: float) -> str:
    """``"clutter"`` for the last ``round(clutter_fraction * n_worlds)`` worlds, else ``"shelf"``."""
    return "clutter" if index >= n_worlds - round(clutter_fraction * n_worlds) else "shelf"


def problem_condition(problem: ArmProblem, grid: int) -> np.ndarray:
    """The packed CVAE condition ``[start (7), goal (7), side/top occupancy image (grid x grid)]``."""
    from seqvae.models.conditional import pack_condition

    return pack_condition(problem.start, problem.goal, problem.world.side_top_grid(grid))


def path_states(
    checker: CollisionChecker, path: np.ndarray, n: int, rng: np.random.Generator, clearance_fraction: float = 0.0,
    clearance_scale: float = 0.02, grid_points: int = 100,
) -> np.ndarray:
    """``n`` states on the joint-space polyline ``path``: ``round(clearance_fraction * n)`` drawn with arc-length
    density proportional to ``1 / (clearance + clearance_scale)`` (clearance = Coal distance between the robot and
    the world at ``grid_points`` evenly spaced configurations; metres), the rest uniform by arc length. Puts the
    training mass where the path threads between boards -- where uniform sampling rarely lands."""
    from seqvae.domains.planning.dataset import points_at_arc_length, sample_along_path

    n_weighted = round(n * float(clearance_fraction))
    parts = [sample_along_path(path, n - n_weighted, rng)] if n > n_weighted else []
    if n_weighted:
        seg = np.linalg.norm(np.diff(path, axis=0), axis=1) if len(path) > 1 else np.zeros(1)
        total = float(seg.sum())
        if total > 0:
            s = (np.arange(grid_points) + 0.5) / grid_points * total
            clearance = np.array([max(checker.world_distance(q), 0.0) for q in points_at_arc_length(path, s)])
            weight = 1.0 / (clearance + float(clearance_scale))
            pick = rng.choice(grid_points, size=n_weighted, p=weight / weight.sum())
            jitter = (rng.random(n_weighted) - 0.5) * total / grid_points
            parts.append(points_at_arc_length(path, np.clip(s[pick] + jitter, 0.0, total)))
        else:
            parts.append(np.repeat(path[:1], n_weighted, axis=0))
    return np.concatenate(parts)


def build_arm_dataset(
    n_worlds: int,
    problems_per_world: int,
    states_per_path: int,
    seed: int = 0,
    grid: int = 32,
    planner: str = "rrtconnect",
    solve_time: float = 5.0,
    iterations: int | None = None,
    clutter_fraction: float = 0.0,
    resolution: float = MOTION_RESOLUTION,
    progress: Any = None,
    clearance_fraction: float = 0.0,
    clearance_scale: float = 0.02,
) -> dict[str, np.ndarray]:
    """Training rows for the Panda CVAE: per world (shelf, or clutter for ``clutter_fraction`` of them)
    ``problems_per_world`` problems (:func:`world_problems`), each solved by
    :func:`~seqvae.domains.planning.ompl_planner.shortest_path` (``planner``: ``"rrtconnect"`` = RRT-Connect, at most
    ``solve_time`` s, then OMPL's ``simplifyMax`` shortcutting; ``"auto"`` = BIT* for ``iterations`` as well,
    keeping the shorter verified path) and ``states_per_path`` states along the path (:func:`path_states`:
    ``clearance_fraction`` of them towards low clearance, the rest uniform by arc length). Keys: ``states``, ``condition`` (rows), ``problem_index``; per solved problem ``problem_start``,
    ``problem_goal``, ``problem_world``, ``cost``, ``path_states``/``path_offsets``; per world ``grids`` and
    ``params``; counts ``n_attempted``, ``n_unsolved``.
    """
    from seqvae.domains.planning.ompl_planner import shortest_path
    from seqvae.models.conditional import pack_condition

    states, cond, pidx = [], [], []
    starts, goals, pworld, costs, paths = [], [], [], [], []
    grids, params = [], []
    attempted = unsolved = 0
    for w, (rng_world, rng_states) in enumerate(world_rngs(seed, TRAIN_STREAM, n_worlds)):
        world = make_world(world_kind(w, n_worlds, clutter_fraction), rng_world)
        g = world.side_top_grid(grid)
        grids.append(g)
        params.append(world.params)
        for pr in world_problems(world, problems_per_world, rng_world, resolution):
            attempted += 1
            ompl_seed = int(rng_states.integers(0, 2**31 - 2))
            res = shortest_path(pr, time=solve_time, iterations=iterations, planner=planner, seed=ompl_seed)
            if progress is not None:
                progress()
            if not res.solved:
                unsolved += 1
                continue
            p = len(costs)
            xs = path_states(pr.robot, res.path, states_per_path, rng_states, clearance_fraction, clearance_scale)
            states.append(xs)
            cond.append(np.repeat(pack_condition(pr.start, pr.goal, g)[None], states_per_path, axis=0))
            pidx.append(np.full(states_per_path, p, dtype=np.int64))
            starts.append(pr.start)
            goals.append(pr.goal)
            pworld.append(w)
            costs.append(res.cost)
            paths.append(res.path)
    if not costs:
        raise DataError("build_arm_dataset: no problem was solved; raise solve_time or the number of worlds")
    return {
        "states": np.concatenate(states),
        "condition": np.concatenate(cond).astype(np.float32),
        "problem_index": np.concatenate(pidx),
        "problem_start": np.array(starts),
        "problem_goal": np.array(goals),
        "problem_world": np.array(pworld, dtype=np.int64),
        "cost": np.array(costs),
        "path_states": np.concatenate(paths),
        "path_offsets": np.concatenate([[0], np.cumsum([len(p) for p in paths])]).astype(np.int64),
        "grids": np.array(grids),
        "params": np.array(params),
        "n_attempted": np.int64(attempted),
        "n_unsolved": np.int64(unsolved),
    }


def held_out_arm_problems(
    n_worlds: int, seed: int = 0, problems_per_world: int = 1, kind: str = "shelf",
    resolution: float = MOTION_RESOLUTION,
) -> list[ArmProblem]:
    """Problems in fresh worlds from the held-out seed stream (disjoint from :func:`build_arm_dataset`'s)."""
    out: list[ArmProblem] = []
    for rng_world, _ in world_rngs(seed, HELD_OUT_STREAM, n_worlds):
        world = make_world(kind, rng_world)
        out += world_problems(world, problems_per_world, rng_world, resolution)
    return out
