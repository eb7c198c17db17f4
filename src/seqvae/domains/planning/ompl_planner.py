"""Sampling-based planning with OMPL on seqvae worlds: PRM with a learned/uniform sampler mixture, RRT*, and
near-optimal reference paths (Ichter, Harrison & Pavone, ICRA 2018).

Robots and checkers (see :mod:`seqvae.domains.planning.world`):

* ``"point"``: a point in the unit square, state space ``[0, 1]^2``. States are checked with
  :meth:`World.is_free`, motions with :meth:`World.is_motion_free` — both *exact*, so every path reported as
  solved is exactly collision-free (OMPL's default discrete motion checking cuts corners and is replaced).
* :class:`PlanarArm`: state space ``[-pi, pi]^k`` (relative joint angles, no wrap-around). States are checked
  exactly with :meth:`PlanarArm.is_config_free`; a straight joint-space motion is checked like
  :meth:`PlanarArm.motion_free` at ``Problem.arm_resolution`` radians (default 0.02): the configurations
  ``q0 + (j / n) (q1 - q0)``, ``n = max(1, ceil(max_i |q1_i - q0_i| / resolution))`` are each checked exactly,
  in bisection order with early exit (same predicate and arithmetic, just faster on colliding motions). This is
  *not* exact between the checked configurations; "collision-free" for the arm means free at that resolution.

Every returned path is re-verified with the vectorised checkers (:meth:`Problem.path_valid`) before a result
counts as solved.

Randomness:

* :func:`plan_prm` draws every roadmap sample from a numpy ``Generator(seed)``; OMPL's RNG is not used to build
  or query the roadmap, so the roadmap and path are a deterministic function of ``seed`` (and the sampler).
* :func:`plan_rrtstar` and :func:`shortest_path` use OMPL's RNG (uniform sampler, goal-bias coin, shortcutting).
  OMPL seeds are process-global: each call re-seeds it with ``ou.RNG.setSeed`` before creating any OMPL object,
  which makes an *iteration*-budgeted call reproducible given ``seed`` within and across processes — provided no
  other thread uses OMPL at the same time (the reseed affects every OMPL user in the process). Wall-clock budgets
  (``time_limit``) are never reproducible.

OMPL is imported lazily: ``import seqvae.domains.planning`` works without it, and planning functions raise
:class:`~seqvae.errors.ConfigError` when it is missing. On first use OMPL's console log is silenced
(``ou.setLogLevel(ou.LOG_NONE)``, process-global; set it back with ``ompl.util.setLogLevel`` if wanted).

Pitfalls handled here (measured with ompl 2.0.1): ``PRM.solve`` evaluates its termination condition in a second
thread while holding the GIL, so it must only get C++ conditions; the roadmap is therefore grown with
``growRoadmapPtc`` (Python condition, calling thread) from a budgeted sampler, then queried with a short timed
``solve`` on the exhausted sampler and an infinite cost threshold (first path = roadmap's shortest path).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Literal

import numpy as np

from seqvae.domains.planning.world import PlanarArm, World, path_length
from seqvae.errors import ConfigError, DataError

Sampler = Callable[[np.random.Generator, int], np.ndarray]
"""A proposal distribution: ``sampler(rng, n)`` returns ``(n, dim)`` proposed states (need not be valid)."""

OMPL_MISSING = 'planning needs OMPL: pip install "seqvae[planning]"'


# --------------------------------------------------------------------------------------------------------------
# lazy OMPL


def _import_ompl() -> SimpleNamespace:
    """``ompl.base``, ``ompl.geometric`` and ``ompl.util`` as ``ob``, ``og``, ``ou``; ConfigError when missing."""
    try:
        from ompl import base as ob
        from ompl import geometric as og
        from ompl import util as ou
    except ImportError as exc:
        raise ConfigError(OMPL_MISSING) from exc
    return _silenced(ob, og, ou)


@functools.lru_cache(maxsize=1)
def _silenced(ob, og, ou) -> SimpleNamespace:
    ou.setLogLevel(ou.LOG_NONE)  # once per process; OMPL prints Debug/Info lines by default
    return SimpleNamespace(ob=ob, og=og, ou=ou)


def ompl_available() -> bool:
    """Whether the OMPL Python bindings can be imported."""
    try:
        _import_ompl()
    except ConfigError:
        return False
    return True


def _ompl_seed(seed: int) -> int:
    """OMPL seeds must be positive 32-bit integers (0 is replaced by 1 with a warning)."""
    return int(seed) % (2**31 - 2) + 1


@functools.lru_cache(maxsize=1)
def _classes() -> SimpleNamespace:
    """OMPL subclasses, defined on first use so that this module imports without OMPL."""
    ob = _import_ompl().ob

    class MotionValidator(ob.MotionValidator):
        """Routes OMPL's ``checkMotion(s1, s2)`` to :meth:`Problem.motion_valid` (only overload OMPL calls)."""

        def __init__(self, si, problem: Problem):
            super().__init__(si)
            self.problem = problem
            self.dim = problem.dim
            self.calls = 0

        def checkMotion(self, s1, s2, *rest):
            self.calls += 1
            d = self.dim
            return self.problem.motion_valid([s1[i] for i in range(d)], [s2[i] for i in range(d)])

    class BudgetedSampler(ob.ValidStateSampler):
        """Serves proposals one at a time; invalid ones return False (PRM retries), and after ``budget`` valid
        states (or ``max_proposals`` proposals) every call returns False so the roadmap stops growing."""

        def __init__(self, si, proposal: _MixtureProposal, budget: int, max_proposals: int):
            super().__init__(si)
            self.proposal = proposal
            self.budget, self.max_proposals = budget, max_proposals
            self.served = 0
            self.exhausted = False

        def sample(self, state):
            if self.served >= self.budget or self.proposal.drawn >= self.max_proposals:
                self.exhausted = True
                # nothing more to add: yield the CPU while PRM.solve waits out its query time
                time.sleep(0.0005)
                return False
            q, ok = self.proposal.next()
            for i, v in enumerate(q):
                state[i] = v
            self.served += ok
            return ok

        def sampleNear(self, state, near, distance):
            return False

    class MixtureGoal(ob.GoalSampleableRegion):
        """Point goal (tolerance ``threshold``) whose ``sampleGoal`` returns the goal with probability ``p_goal``
        and a learned sample otherwise: RRT*'s goal-bias branch becomes the learned-sample branch.

        Like OMPL's RRT* with a point goal (which stops goal sampling once the goal is in the tree), the goal is
        returned only until a tree state satisfies the goal; afterwards that share is drawn uniformly. This also
        avoids duplicate goal vertices, whose tie-breaking by memory address made paths irreproducible.
        """

        def __init__(self, si, problem: Problem, sampler: Sampler, p_goal: float, rng, batch: int):
            super().__init__(si)
            self.setThreshold(1e-12)
            self.problem, self.sampler, self.p_goal, self.rng, self.batch = problem, sampler, p_goal, rng, batch
            self.goal = [float(v) for v in problem.goal]
            self.buf = np.empty((0, problem.dim))
            self.learned = 0
            self.goal_samples = 0
            self.calls = 0
            self.reached = False

        def distanceGoal(self, s):
            d = math.sqrt(sum((s[i] - g) ** 2 for i, g in enumerate(self.goal)))
            # RRT* calls this on every state it adds to the tree
            self.reached = self.reached or d <= self.getThreshold()
            return d

        def sampleGoal(self, s):
            if self.rng.random() < self.p_goal:
                if self.reached:
                    lo, hi = self.problem.bounds
                    q = self.rng.uniform(lo, hi, size=self.problem.dim).tolist()
                else:
                    q = self.goal
                    self.goal_samples += 1
            else:
                if len(self.buf) == 0:
                    self.buf = self.problem.clip(_call_sampler(self.sampler, self.rng, self.batch, self.problem.dim))
                    self.calls += 1
                q, self.buf = self.buf[0].tolist(), self.buf[1:]
                self.learned += 1
            for i, v in enumerate(q):
                s[i] = float(v)

        def maxSampleCount(self):
            return 2**31 - 1

        def couldSample(self):
            return True

    return SimpleNamespace(MotionValidator=MotionValidator, BudgetedSampler=BudgetedSampler, MixtureGoal=MixtureGoal)


# --------------------------------------------------------------------------------------------------------------
# problem


@functools.lru_cache(maxsize=256)
def _bisection_order(n: int) -> tuple[int, ...]:
    """Interior indices ``1 .. n-1`` in breadth-first bisection order, then the endpoints ``0`` and ``n``."""
    out: list[int] = []
    queue = [(0, n)]
    while queue:
        nxt = []
        for lo, hi in queue:
            if hi - lo > 1:
                mid = (lo + hi) // 2
                out.append(mid)
                nxt += [(lo, mid), (mid, hi)]
        queue = nxt
    return tuple(out) + (0, n)


@dataclass(frozen=True, eq=False)
class Problem:
    """A single-query planning problem: ``robot`` (``"point"`` or a :class:`PlanarArm`) in ``world`` from
    ``start`` to ``goal`` (configurations of length :attr:`dim`). ``arm_resolution`` (radians) is the arm's
    motion-checking resolution (see the module docstring)."""

    world: World
    start: np.ndarray
    goal: np.ndarray
    robot: Literal["point"] | PlanarArm = "point"
    arm_resolution: float = 0.02

    def __post_init__(self) -> None:
        if not isinstance(self.world, World):
            raise ConfigError(f"world: expected a seqvae World, got {type(self.world).__name__}")
        if not (self.robot == "point" or isinstance(self.robot, PlanarArm)):
            raise ConfigError(f"robot: expected 'point' or a PlanarArm, got {self.robot!r}")
        if not self.arm_resolution > 0:
            raise ConfigError(f"arm_resolution must be positive, got {self.arm_resolution!r}")
        for name in ("start", "goal"):
            q = np.array(getattr(self, name), dtype=np.float64).reshape(-1)
            if q.shape != (self.dim,) or not np.all(np.isfinite(q)):
                raise DataError(f"{name}: expected {self.dim} finite values, got {getattr(self, name)!r}")
            q.setflags(write=False)
            object.__setattr__(self, name, q)

    @property
    def is_arm(self) -> bool:
        """Whether the robot is a planar arm (else the point robot)."""
        return isinstance(self.robot, PlanarArm)

    @property
    def dim(self) -> int:
        """Configuration-space dimension: 2 for the point robot, ``k`` joints for the arm."""
        return self.robot.n_joints if isinstance(self.robot, PlanarArm) else 2

    @property
    def bounds(self) -> tuple[float, float]:
        """``(low, high)`` of every coordinate: ``(0, 1)`` for the point, ``(-pi, pi)`` for the arm."""
        return (-math.pi, math.pi) if self.is_arm else (0.0, 1.0)

    def clip(self, q: np.ndarray) -> np.ndarray:
        """``q`` clipped into the state-space bounds."""
        lo, hi = self.bounds
        return np.clip(q, lo, hi)

    def is_valid(self, q) -> bool:
        """Scalar state check (exact): inside the bounds and collision-free. NaN gives False."""
        if isinstance(self.robot, PlanarArm):
            return self.robot.is_config_free(self.world, q)
        return self.world.is_free(float(q[0]), float(q[1]))

    def motion_valid(self, q0, q1) -> bool:
        """Scalar motion check: exact segment test (point) or the arm's resolution-checked straight motion."""
        if not isinstance(self.robot, PlanarArm):
            return self.world.is_motion_free(float(q0[0]), float(q0[1]), float(q1[0]), float(q1[1]))
        a = [float(v) for v in q0]
        b = [float(v) for v in q1]
        d = [bi - ai for ai, bi in zip(a, b)]
        # same n and interpolation arithmetic as PlanarArm.motion_free, so the checked configurations agree
        n = max(1, math.ceil(max(abs(v) for v in d) / self.arm_resolution))
        arm, world = self.robot, self.world
        for j in _bisection_order(n):
            t = j / n
            if not arm.is_config_free(world, [ai + t * di for ai, di in zip(a, d)]):
                return False
        return True

    def path_valid(self, path: np.ndarray) -> bool:
        """Independent vectorised check of a polyline ``(M, dim)``: every state and every motion valid."""
        p = np.asarray(path, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != self.dim or len(p) == 0 or not np.all(np.isfinite(p)):
            return False
        if not isinstance(self.robot, PlanarArm):
            return self.world.path_free(p)
        if not np.all(self.robot.config_free(self.world, p)):
            return False
        if len(p) == 1:
            return True
        return bool(np.all(self.robot.motion_free(self.world, p[:-1], p[1:], resolution=self.arm_resolution)))

    def straight_line_cost(self) -> float:
        """``|goal - start|``: a lower bound on every path's cost."""
        return float(np.linalg.norm(self.goal - self.start))


@dataclass
class PlanResult:
    """Outcome of one planning call.

    ``solved``: an exact solution (ends at the goal) that passed :meth:`Problem.path_valid`. ``path``: ``(M, dim)``
    states from start to goal (``(0, dim)`` when unsolved). ``cost``: Euclidean length of ``path`` (in joint space
    for the arm; ``inf`` when unsolved). ``milestones``: PRM — sampled roadmap vertices (start and goal
    excluded); RRT* — tree vertices. ``proposals``: PRM — proposals drawn (valid or not) while growing the
    roadmap; RRT* — iterations (one sample each). ``learned``: how many of those proposals came from the learned
    sampler. ``sampler_calls``: calls of the learned ``sampler`` function (batches). ``seconds``: wall time of
    the planning call. ``status``: ``"exact"``, ``"approximate"``, ``"unsolved"``, ``"start-invalid"``,
    ``"goal-invalid"`` or ``"verification-failed"``.
    """

    solved: bool
    path: np.ndarray
    cost: float
    milestones: int
    proposals: int
    learned: int = 0
    sampler_calls: int = 0
    seconds: float = 0.0
    status: str = "unsolved"
    planner: str = ""
    extra: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------------------
# OMPL plumbing


def make_space_information(problem: Problem, sampler_allocator: Callable | None = None):
    """An OMPL ``SpaceInformation`` for ``problem``: real-vector space with the problem's bounds, the exact
    Python state checker and the Python motion validator (optionally a valid-state-sampler allocator);
    set up and ready. Returns ``(si, motion_validator)``."""
    o = _import_ompl()
    ob = o.ob
    space = ob.RealVectorStateSpace(problem.dim)
    lo, hi = problem.bounds
    space.setBounds(lo, hi)
    si = ob.SpaceInformation(space)
    d = problem.dim
    if problem.is_arm:
        si.setStateValidityChecker(lambda s: problem.is_valid([s[i] for i in range(d)]))
    else:
        world = problem.world
        si.setStateValidityChecker(lambda s: world.is_free(s[0], s[1]))
    mv = _classes().MotionValidator(si, problem)
    si.setMotionValidator(mv)
    if sampler_allocator is not None:
        si.setValidStateSamplerAllocator(sampler_allocator)
    si.setup()
    return si, mv


def _state(si, q) -> object:
    s = si.allocState()
    for i, v in enumerate(q):
        s[i] = float(v)
    return s


def _path_array(path, dim: int) -> np.ndarray:
    return np.array([[path.getState(i)[j] for j in range(dim)] for i in range(path.getStateCount())], dtype=np.float64)


def _check_problem(problem: object) -> None:
    if not isinstance(problem, Problem):
        raise ConfigError(f"problem: expected a seqvae.domains.planning.Problem, got {type(problem).__name__}")


def _endpoint_status(problem: Problem) -> str | None:
    if not problem.is_valid(problem.start):
        return "start-invalid"
    if not problem.is_valid(problem.goal):
        return "goal-invalid"
    return None


def _finish(problem: Problem, path: np.ndarray | None, status: str, **kw) -> PlanResult:
    """Build a PlanResult, verifying an exact path independently (endpoints and every motion)."""
    empty = np.zeros((0, problem.dim))
    if path is None or status != "exact":
        return PlanResult(False, empty, math.inf, status=status, **kw)
    ok = (
        len(path) >= 1
        and np.array_equal(path[0], problem.start)
        and np.array_equal(path[-1], problem.goal)
        and problem.path_valid(path)
    )
    if not ok:
        return PlanResult(False, empty, math.inf, status="verification-failed", extra={"path": path}, **kw)
    return PlanResult(True, path, path_length(path), status="exact", **kw)


def _call_sampler(sampler: Sampler, rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    out = np.asarray(sampler(rng, n), dtype=np.float64)
    if out.shape != (n, dim):
        raise DataError(f"sampler(rng, {n}) must return shape ({n}, {dim}), got {out.shape}")
    return out


class _MixtureProposal:
    """Proposals in batches: each from ``sampler`` with probability ``lam``, else uniform in the bounds; every
    proposal is checked with :meth:`Problem.is_valid` (invalid ones are rejected by the caller)."""

    def __init__(self, problem: Problem, sampler: Sampler | None, lam: float, rng: np.random.Generator, batch: int):
        self.problem, self.sampler, self.rng, self.batch = problem, sampler, rng, batch
        self.lam = lam if sampler is not None else 0.0
        self.buf: list[list[float]] = []
        self.src: list[bool] = []
        self.drawn = self.learned = self.sampler_calls = 0

    def _refill(self) -> None:
        lo, hi = self.problem.bounds
        b, d = self.batch, self.problem.dim
        q = self.rng.uniform(lo, hi, size=(b, d))
        if self.lam > 0:
            coin = self.rng.random(b) < self.lam
            m = int(coin.sum())
            if m:
                q[coin] = _call_sampler(self.sampler, self.rng, m, d)  # type: ignore[arg-type]
                self.sampler_calls += 1
        else:
            coin = np.zeros(b, dtype=bool)
        self.buf = q.tolist()[::-1]  # pop() from the end = in order
        self.src = coin.tolist()[::-1]

    def next(self) -> tuple[list[float], bool]:
        """The next proposal and whether it is valid."""
        if not self.buf:
            self._refill()
        q = self.buf.pop()
        self.learned += self.src.pop()
        self.drawn += 1
        finite = all(math.isfinite(v) for v in q)
        return q, finite and self.problem.is_valid(q)


def _connected(planner, si) -> bool:
    """Whether PRM's roadmap connects its start and goal vertices (read out through PlannerData)."""
    ob = _import_ompl().ob
    pd = ob.PlannerData(si)
    planner.getPlannerData(pd)
    if pd.numStartVertices() == 0 or pd.numGoalVertices() == 0:
        return False
    n = pd.numVertices()
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for v in range(n):
        for u in pd.getEdges(v):
            a, b = find(v), find(int(u))
            if a != b:
                parent[a] = b
    return find(pd.getStartIndex(0)) == find(pd.getGoalIndex(0))


# --------------------------------------------------------------------------------------------------------------
# planners


def plan_prm(
    problem: Problem,
    n_samples: int,
    sampler: Sampler | None = None,
    lam: float = 0.5,
    seed: int = 0,
    query_time: float = 0.01,
    k_neighbors: int = 10,
    star: bool = False,
    batch: int = 256,
    max_proposals: int | None = None,
) -> PlanResult:
    """PRM with exactly ``n_samples`` valid sampled milestones, each proposed by ``sampler`` with probability
    ``lam`` and uniformly in the bounds otherwise (Ichter et al.'s λ-mixture).

    Budget: ``n_samples`` counts *valid* milestones (PRM's sample count in the paper). Invalid proposals (in
    collision, out of bounds, non-finite) are rejected and redrawn — the mixture coin is re-tossed for every
    redraw, so the milestones follow the mixture conditioned on validity; ``PlanResult.proposals`` records every
    proposal drawn. ``sampler=None`` or ``lam=0`` is plain uniform PRM and never calls ``sampler``.
    ``max_proposals`` (default ``1000 * n_samples + 100_000``) stops growth early when proposals are almost
    never valid; then ``milestones < n_samples`` and ``extra["budget_exhausted"]`` is True.

    ``sampler(rng, n)`` is called with the planner's numpy generator and returns ``(n, dim)`` proposals (called
    once per batch of ``batch`` proposals with ``n`` ≈ ``lam * batch``). Roadmap: OMPL PRM, each new milestone
    connected to its ``k_neighbors`` nearest neighbours (``star``: PRM*'s k* = e(1 + 1/d) log n rule), every edge
    checked with the problem's motion validator. The query (start and goal added, A* over the fixed roadmap)
    gets ``query_time`` seconds (< 0.4 s, so PRM never adds its own random-bounce milestones); when it reports
    no solution, the roadmap is read out and, if it does connect start and goal (the A* thread was late), the
    query is repeated with 0.3 s — so the outcome does not depend on timing, and a disconnected roadmap is
    reported after ``query_time``. Deterministic given ``seed`` (the path is the roadmap's A* shortest path).
    """
    if int(n_samples) != n_samples or n_samples < 1:
        raise ConfigError(f"n_samples must be a positive integer, got {n_samples!r}")
    if not 0.0 <= lam <= 1.0:
        raise ConfigError(f"lam must lie in [0, 1], got {lam!r}")
    if not 0 < query_time < 0.4:
        raise ConfigError(f"query_time must lie in (0, 0.4) seconds, got {query_time!r}")
    o = _import_ompl()
    ob, og = o.ob, o.og
    _check_problem(problem)
    n_samples = int(n_samples)
    max_proposals = 1000 * n_samples + 100_000 if max_proposals is None else int(max_proposals)
    name = "PRMstar" if star else "PRM"
    t0 = time.perf_counter()
    bad = _endpoint_status(problem)
    if bad:
        return _finish(problem, None, bad, milestones=0, proposals=0, planner=name)
    proposal = _MixtureProposal(problem, sampler if lam > 0 else None, lam, np.random.default_rng(seed), batch)
    samplers: list = []

    def allocate(si_):
        samplers.append(_classes().BudgetedSampler(si_, proposal, n_samples, max_proposals))
        return samplers[-1]

    si, mv = make_space_information(problem, allocate)
    pdef = ob.ProblemDefinition(si)
    pdef.setStartAndGoalStates(_state(si, problem.start), _state(si, problem.goal))
    obj = ob.PathLengthOptimizationObjective(si)
    obj.setCostThreshold(ob.Cost(math.inf))  # first path found = A* shortest path on the roadmap; stop there
    pdef.setOptimizationObjective(obj)
    planner = og.PRMstar(si) if star else og.PRM(si)
    if not star:
        planner.setMaxNearestNeighbors(int(k_neighbors))
    planner.setProblemDefinition(pdef)
    planner.setup()
    # grow in this thread with a Python condition (never pass one to PRM.solve: GIL deadlock)
    planner.growRoadmapPtc(
        ob.PlannerTerminationCondition(lambda: samplers[-1].exhausted or samplers[-1].served >= n_samples)
    )
    grown = planner.milestoneCount()
    sampler_obj = samplers[-1]
    sampler_obj.budget = 0  # exhausted from now on, whatever the reason growth stopped
    retries = 0
    while True:
        # every query stays below 0.4 s, after which PRM.solve would add random-bounce milestones of its own
        planner.solve(ob.timedPlannerTerminationCondition(query_time if retries == 0 else 0.3))
        # The query's A* runs in a helper thread that may start late on a loaded machine: if the roadmap does
        # connect start and goal, ask again (deterministic: the roadmap no longer changes).
        if pdef.hasExactSolution() or retries >= 2 or not _connected(planner, si):
            break
        retries += 1
    if planner.milestoneCount() != grown + 2:
        raise RuntimeError(f"PRM added milestones during the query ({planner.milestoneCount()} != {grown} + 2)")
    path = _path_array(pdef.getSolutionPath(), problem.dim) if pdef.hasExactSolution() else None
    status = "exact" if path is not None else ("approximate" if pdef.hasSolution() else "unsolved")
    return _finish(
        problem,
        path,
        status,
        milestones=grown,
        proposals=proposal.drawn,
        learned=proposal.learned,
        sampler_calls=proposal.sampler_calls,
        seconds=time.perf_counter() - t0,
        planner=name,
        extra={
            "edges": planner.edgeCount(),
            "motion_checks": mv.calls,
            "budget_exhausted": grown < n_samples,
            "query_retries": retries,
        },
    )


def _termination(o, planner, iterations: int | None, time_limit: float | None):
    if iterations is None and time_limit is None:
        raise ConfigError("give iterations and/or time_limit")
    if iterations is not None and (int(iterations) != iterations or iterations < 1):
        raise ConfigError(f"iterations must be a positive integer, got {iterations!r}")
    if time_limit is not None and not time_limit > 0:
        raise ConfigError(f"time_limit must be positive, got {time_limit!r}")
    if iterations is None:
        return o.ob.timedPlannerTerminationCondition(float(time_limit))
    deadline = math.inf if time_limit is None else time.perf_counter() + float(time_limit)
    it = int(iterations)
    # Python conditions are safe for single-threaded solvers (RRT*, BIT*, RRTConnect), never for PRM
    return o.ob.PlannerTerminationCondition(lambda: planner.numIterations() >= it or time.perf_counter() > deadline)


def plan_rrtstar(
    problem: Problem,
    iterations: int | None = None,
    time_limit: float | None = None,
    sampler: Sampler | None = None,
    lam: float = 0.5,
    seed: int = 0,
    goal_bias: float = 0.05,
    batch: int = 256,
    simplify: bool = False,
) -> PlanResult:
    """RRT* for ``iterations`` iterations (reproducible) and/or ``time_limit`` seconds, with learned samples mixed
    in through the goal-sampling hook.

    How λ enters: OMPL's RRT* draws each iteration's random state from its C++ uniform sampler, except with
    probability ``goal_bias`` where it asks the goal region for a sample. Here the goal is a Python
    ``GoalSampleableRegion`` and the goal bias is set to ``lam + goal_bias``; its ``sampleGoal`` returns the true
    goal with probability ``goal_bias / (lam + goal_bias)`` and a learned sample (clipped into the bounds)
    otherwise. Per iteration: learned with probability ``lam``, the goal with ``goal_bias`` (until the goal is in
    the tree, then uniform, as OMPL does for a point goal), uniform with ``1 - lam - goal_bias``. Learned samples are steering targets like uniform ones (RRT* does not require them
    valid). Needs ``lam + goal_bias <= 1`` and ``goal_bias > 0`` (otherwise the point goal is never hit
    exactly). ``sampler=None`` or ``lam=0``: plain RRT* with a point goal and goal bias ``goal_bias``.
    ``simplify``: shortcut the found path with OMPL's ``PathSimplifier`` (not goal-aware).
    """
    if not 0.0 <= lam <= 1.0 or not 0.0 < goal_bias <= 1.0 or lam + goal_bias > 1.0:
        raise ConfigError(f"need 0 <= lam, 0 < goal_bias, lam + goal_bias <= 1; got lam={lam}, goal_bias={goal_bias}")
    o = _import_ompl()
    ob, og = o.ob, o.og
    _check_problem(problem)
    t0 = time.perf_counter()
    bad = _endpoint_status(problem)
    if bad:
        return _finish(problem, None, bad, milestones=0, proposals=0, planner="RRTstar")
    o.ou.RNG.setSeed(_ompl_seed(seed))  # process-global; before any OMPL object that owns an RNG
    si, mv = make_space_information(problem)
    pdef = ob.ProblemDefinition(si)
    pdef.addStartState(_state(si, problem.start))
    mixed = sampler is not None and lam > 0
    goal = None
    if mixed:
        goal = _classes().MixtureGoal(
            si, problem, sampler, goal_bias / (lam + goal_bias), np.random.default_rng(seed), batch
        )
        pdef.setGoal(goal)
    else:
        pdef.setGoalState(_state(si, problem.goal))
    obj = ob.PathLengthOptimizationObjective(si)
    pdef.setOptimizationObjective(obj)
    planner = og.RRTstar(si)
    planner.setGoalBias(lam + goal_bias if mixed else goal_bias)
    planner.setProblemDefinition(pdef)
    planner.setup()
    planner.solve(_termination(o, planner, iterations, time_limit))
    path = None
    if pdef.hasExactSolution():
        geo = pdef.getSolutionPath()
        if simplify:
            og.PathSimplifier(si).simplifyMax(geo)  # no goal: findBetterGoal would call the hijacked sampleGoal
        path = _path_array(geo, problem.dim)
    status = "exact" if path is not None else ("approximate" if pdef.hasSolution() else "unsolved")
    pd = ob.PlannerData(si)
    planner.getPlannerData(pd)
    iters = int(planner.numIterations())
    return _finish(
        problem,
        path,
        status,
        milestones=int(pd.numVertices()),
        proposals=iters,
        learned=goal.learned if goal is not None else 0,
        sampler_calls=0 if goal is None else goal.calls,
        seconds=time.perf_counter() - t0,
        planner="RRTstar",
        extra={"motion_checks": mv.calls, "goal_samples": goal.goal_samples if goal is not None else None},
    )


_OPTIMAL_PLANNERS = {"rrtstar": "RRTstar", "bitstar": "BITstar", "rrtconnect": "RRTConnect"}


def _solve_once(
    problem: Problem, key: str, iterations: int | None, time_limit: float | None, simplify: bool, seed: int
) -> PlanResult:
    """One OMPL run of planner ``key`` (+ simplification), seeded, verified."""
    o = _import_ompl()
    ob, og = o.ob, o.og
    t0 = _now()
    o.ou.RNG.setSeed(_ompl_seed(seed))  # process-global; before any OMPL object that owns an RNG
    si, mv = make_space_information(problem)
    pdef = ob.ProblemDefinition(si)
    pdef.setStartAndGoalStates(_state(si, problem.start), _state(si, problem.goal))
    pdef.setOptimizationObjective(ob.PathLengthOptimizationObjective(si))
    pl = getattr(og, _OPTIMAL_PLANNERS[key])(si)
    pl.setProblemDefinition(pdef)
    pl.setup()
    if key == "rrtconnect":
        # no iteration counter: stop at the first solution, or after time_limit (default 5 s)
        limit = 5.0 if time_limit is None else float(time_limit)
        pl.solve(
            ob.plannerOrTerminationCondition(
                ob.timedPlannerTerminationCondition(limit), ob.exactSolnPlannerTerminationCondition(pdef)
            )
        )
    else:
        pl.solve(_termination(o, pl, iterations, time_limit))
    path = None
    raw_cost = math.inf
    if pdef.hasExactSolution():
        geo = pdef.getSolutionPath()
        raw_cost = float(geo.length())
        if simplify:
            og.PathSimplifier(si).simplifyMax(geo)
        path = _path_array(geo, problem.dim)
    status = "exact" if path is not None else ("approximate" if pdef.hasSolution() else "unsolved")
    return _finish(
        problem,
        path,
        status,
        milestones=0,
        proposals=int(pl.numIterations()) if hasattr(pl, "numIterations") else 0,
        seconds=_now() - t0,
        planner=_OPTIMAL_PLANNERS[key],
        extra={"raw_cost": raw_cost, "motion_checks": mv.calls},
    )


def shortest_path(
    problem: Problem,
    time: float | None = None,
    iterations: int | None = 20_000,
    planner: str = "auto",
    simplify: bool = True,
    seed: int = 0,
    attempts: int = 1,
) -> PlanResult:
    """A near-optimal path for training data: an asymptotically optimal planner, then shortcutting.

    ``planner``: ``"bitstar"`` (BIT*: lazy collision checking, batch-informed sampling), ``"rrtstar"``,
    ``"rrtconnect"`` (feasible only; relies on ``simplify``), or ``"auto"``: BIT* for the point robot; for the arm
    BIT* *and* RRTConnect + simplification, keeping the shorter verified path (BIT* often misses threading
    goals within a budget that RRTConnect solves in about a second; BIT*'s paths are shorter when it succeeds).
    Budget per planner run: ``iterations`` (reproducible given ``seed``; a BIT* iteration is one edge or vertex
    expansion, cheap) and/or ``time`` seconds (wall clock: not reproducible; RRTConnect runs until its first
    solution, at most ``time`` or 5 s). Then ``PathSimplifier.simplifyMax`` (vertex reduction, shortcutting,
    B-spline smoothing; every new motion is checked) when ``simplify``. The result is verified independently
    (:meth:`Problem.path_valid`). With ``attempts > 1`` an unsolved problem is retried with seed ``seed + a`` and
    ``2**a`` times the iterations. ``extra["raw_cost"]`` is the planner's cost before simplification. For the
    point robot, :func:`point_optimal_cost` gives the exact optimum to compare with (measured: BIT* 20 000
    iterations + simplification is within 0.3 % of it on average on narrow-passage worlds).
    """
    _import_ompl()
    _check_problem(problem)
    if planner == "auto":
        keys = ["bitstar", "rrtconnect"] if problem.is_arm else ["bitstar"]
    elif planner in _OPTIMAL_PLANNERS:
        keys = [planner]
    else:
        raise ConfigError(f"planner must be one of auto, {', '.join(_OPTIMAL_PLANNERS)}; got {planner!r}")
    t_start = _now()
    bad = _endpoint_status(problem)
    if bad:
        return _finish(
            problem, None, bad, milestones=0, proposals=0, planner="+".join(_OPTIMAL_PLANNERS[k] for k in keys)
        )
    best: PlanResult | None = None
    for attempt in range(max(1, int(attempts))):
        it = None if iterations is None else int(iterations) * 2**attempt
        for key in keys:
            res = _solve_once(problem, key, it, time, simplify, seed + attempt)
            res.extra["attempt"] = attempt
            if best is None or (res.solved and res.cost < best.cost):
                best = res
        if best is not None and best.solved:
            break
    assert best is not None
    best.seconds = _now() - t_start
    return best


def _now() -> float:
    return time.perf_counter()


# --------------------------------------------------------------------------------------------------------------
# exact optimum for the point robot


def point_optimal_cost(problem: Problem) -> float:
    """Exact shortest start-goal length for the point robot (``inf`` if disconnected), via the visibility graph.

    Free space is open (obstacles are closed), so the optimum is an infimum: it is computed in the closure
    (paths may touch obstacle boundaries), i.e. it is a lower bound that free paths approach arbitrarily closely.
    Nodes: start, goal and the rectangle corners not inside another obstacle (the reflex vertices of free space
    are convex corners of the obstacle union, all of them rectangle corners); edges: segments that miss every
    obstacle's open interior (tested exactly against rectangles shrunk by 1e-12, after moving sides that lie on
    or past the square's border out of the square). Touching or overlapping-by-less-than-1e-12 rectangles are
    treated as separated, so the bound is only for worlds without such contacts.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    _check_problem(problem)
    if problem.is_arm:
        raise ConfigError("point_optimal_cost is for the point robot")
    r = problem.world.obstacles
    corners = np.concatenate([r[:, [0, 1]], r[:, [2, 1]], r[:, [2, 3]], r[:, [0, 3]]]) if len(r) else np.zeros((0, 2))
    inside_sq = np.all((corners >= 0) & (corners <= 1), axis=1)
    x, y = corners[:, 0, None], corners[:, 1, None]
    interior = (
        np.any((x > r[:, 0]) & (x < r[:, 2]) & (y > r[:, 1]) & (y < r[:, 3]), axis=1) if len(r) else inside_sq & False
    )
    nodes = np.concatenate([problem.start[None], problem.goal[None], corners[inside_sq & ~interior]])
    # sides on or past the square's border are pushed far out first, so that shrinking opens no sliver there
    ext = r.copy()
    ext[:, :2] = np.where(ext[:, :2] <= 0.0, -1.0, ext[:, :2])
    ext[:, 2:] = np.where(ext[:, 2:] >= 1.0, 2.0, ext[:, 2:])
    eps = 1e-12
    shrunk = ext + np.array([eps, eps, -eps, -eps])
    shrunk = shrunk[(shrunk[:, 2] > shrunk[:, 0]) & (shrunk[:, 3] > shrunk[:, 1])]
    relaxed = World(shrunk)
    i, j = np.triu_indices(len(nodes), k=1)
    free = relaxed.segment_free(nodes[i], nodes[j])
    w = np.linalg.norm(nodes[i] - nodes[j], axis=1)
    i, j, w = i[free], j[free], w[free]
    graph = csr_matrix(
        (np.concatenate([w, w]), (np.concatenate([i, j]), np.concatenate([j, i]))), shape=(len(nodes), len(nodes))
    )
    dist = dijkstra(graph, indices=0)
    return float(dist[1])
