"""Worlds, exact collision checking and robots for the learned-sampling motion-planning experiments.

The setting follows Ichter, Harrison & Pavone, "Learning Sampling Distributions for Robot Motion Planning"
(ICRA 2018): a conditional VAE is trained on states of near-optimal paths, conditioned on the start, the goal and
an occupancy grid of the world, and is then mixed with uniform sampling inside a sampling-based planner. This
module is the geometry layer only (numpy; no planner, no torch).

Workspace: the closed unit square ``[0, 1]^2``. Obstacles are closed axis-aligned rectangles stored as a
``(K, 4)`` float64 array of ``(xmin, ymin, xmax, ymax)`` rows with ``xmin < xmax`` and ``ymin < ymax``; they may
extend past the square. A point is *free* when it lies in the closed unit square and in no closed obstacle:
a point exactly on an obstacle's edge or corner is in collision; a point on the square's own border is free.
A segment is free when every one of its points is free (it touches no obstacle, not even at a single point).

Exactness: every predicate is exact for the float64 inputs as given. Points use plain comparisons. Segments use
the separating-axis theorem for a segment against a box (bounding-box overlap on ``x`` and ``y``, then "all four
corners strictly on one side of the segment's line"), whose orientation signs are computed with a floating-point
filter (Shewchuk's ``orient2d`` error bound) and redone in exact rational arithmetic (``fractions.Fraction``)
when the filter cannot certify the sign. Slab (Liang-Barsky) clipping was not used because its divisions round,
so a segment that exactly grazes a corner could be reported free. Note that decimals such as ``0.1`` are not
exact in binary; hand-made touching cases should use dyadic coordinates (``0.25``, ``0.375``, ...).

Occupancy grid: ``grid[i, j]`` (row ``i`` = y, column ``j`` = x, row 0 at ``y = 0``, so plot with
``origin="lower"``) covers ``[j / R, (j + 1) / R] x [i / R, (i + 1) / R]`` and is 1 when the cell shares
positive area with some obstacle (touching along an edge does not occupy a cell).

Planner callbacks: per-state checks from OMPL cost ~100 us through numpy, so :meth:`World.is_free`,
:meth:`World.is_motion_free` and :meth:`PlanarArm.is_config_free` are pure-Python scalar twins (0.2 - 8 us) with the
same predicates and arithmetic order, tested to agree with the vectorised methods.

Robots: a point robot (configuration = the point) and a planar arm (:class:`PlanarArm`) with ``k >= 4`` revolute
joints whose configuration space is the box ``[-pi, pi]^k`` of relative joint angles (no wrap-around, matching
an OMPL ``RealVectorStateSpace(k)`` with those bounds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np

from seqvae.errors import ConfigError, DataError

_U = np.finfo(np.float64).eps / 2.0  # unit roundoff 2^-53
_ORIENT_ERR = (3.0 + 16.0 * _U) * _U  # Shewchuk's ccwerrboundA for orient2d
_CHUNK = 1 << 18  # max segment-rectangle pairs evaluated at once


# --------------------------------------------------------------------------------------------------------------
# exact predicates


def _orient_exact(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> int:
    """Exact sign of the orientation determinant of ``(a, b, c)`` in rational arithmetic."""
    ax_, ay_, bx_, by_, cx_, cy_ = (Fraction(v) for v in (ax, ay, bx, by, cx, cy))
    det = (ax_ - cx_) * (by_ - cy_) - (ay_ - cy_) * (bx_ - cx_)
    return (det > 0) - (det < 0)


def _orient_sign(ax, ay, bx, by, cx, cy) -> np.ndarray:
    """Exact sign (int8, -1/0/+1; +1 = counter-clockwise) of ``orient2d(a, b, c)``, broadcast over the inputs."""
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (ax, ay, bx, by, cx, cy)))
    shape = arrays[0].shape
    ax, ay, bx, by, cx, cy = (v.reshape(-1) for v in arrays)
    left = (ax - cx) * (by - cy)
    right = (ay - cy) * (bx - cx)
    det = left - right
    sign = np.sign(det).astype(np.int8)
    # A difference of floats is exactly 0 only when the operands are equal, so a zero factor on both sides means
    # the determinant is exactly 0 (common for degenerate and axis-aligned cases; spares the slow path).
    exact_zero = ((ax == cx) | (by == cy)) & ((ay == cy) | (bx == cx))
    unsure = (np.abs(det) <= _ORIENT_ERR * (np.abs(left) + np.abs(right))) & ~exact_zero
    sign[exact_zero] = 0
    if unsure.any():
        for i in np.flatnonzero(unsure):
            sign[i] = _orient_exact(ax[i], ay[i], bx[i], by[i], cx[i], cy[i])
    return sign.reshape(shape)


def _orient_sign_scalar(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> int:
    """Scalar twin of :func:`_orient_sign` (same filter, same exact fallback)."""
    if (ax == cx or by == cy) and (ay == cy or bx == cx):
        return 0
    left = (ax - cx) * (by - cy)
    right = (ay - cy) * (bx - cx)
    det = left - right
    if abs(det) <= _ORIENT_ERR * (abs(left) + abs(right)):
        return _orient_exact(ax, ay, bx, by, cx, cy)
    return 1 if det > 0 else -1


def _segments_hit_rects(a: np.ndarray, b: np.ndarray, rects: np.ndarray) -> np.ndarray:
    """``(N, K)`` bool: closed segment ``a[n] b[n]`` intersects closed rectangle ``rects[k]`` (exact)."""
    n, k = a.shape[0], rects.shape[0]
    hit = np.zeros((n, k), dtype=bool)
    if n == 0 or k == 0:
        return hit
    step = max(1, _CHUNK // k)
    for s in range(0, n, step):
        aa, bb = a[s : s + step], b[s : s + step]
        lo, hi = np.minimum(aa, bb), np.maximum(aa, bb)
        box = (
            (lo[:, 0, None] <= rects[None, :, 2])
            & (hi[:, 0, None] >= rects[None, :, 0])
            & (lo[:, 1, None] <= rects[None, :, 3])
            & (hi[:, 1, None] >= rects[None, :, 1])
        )
        i, j = np.nonzero(box)
        if i.size:
            pa, pb, r = aa[i], bb[i], rects[j]
            corners_x = r[:, [0, 2, 2, 0]].T  # (4, M)
            corners_y = r[:, [1, 1, 3, 3]].T
            sg = _orient_sign(pa[:, 0], pa[:, 1], pb[:, 0], pb[:, 1], corners_x, corners_y)
            separated = np.all(sg > 0, axis=0) | np.all(sg < 0, axis=0)
            box[i, j] = ~separated
        hit[s : s + step] = box
    return hit


def segments_intersect(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Exact closed segment-segment intersection of ``p1 p2`` and ``q1 q2`` (``(..., 2)`` each); touching counts."""
    p1, p2, q1, q2 = (np.asarray(v, dtype=np.float64) for v in (p1, p2, q1, q2))
    o1 = _orient_sign(p1[..., 0], p1[..., 1], p2[..., 0], p2[..., 1], q1[..., 0], q1[..., 1]).astype(np.int16)
    o2 = _orient_sign(p1[..., 0], p1[..., 1], p2[..., 0], p2[..., 1], q2[..., 0], q2[..., 1]).astype(np.int16)
    o3 = _orient_sign(q1[..., 0], q1[..., 1], q2[..., 0], q2[..., 1], p1[..., 0], p1[..., 1]).astype(np.int16)
    o4 = _orient_sign(q1[..., 0], q1[..., 1], q2[..., 0], q2[..., 1], p2[..., 0], p2[..., 1]).astype(np.int16)
    box = np.all(
        (np.minimum(p1, p2) <= np.maximum(q1, q2)) & (np.minimum(q1, q2) <= np.maximum(p1, p2)), axis=-1
    )
    return box & (o1 * o2 <= 0) & (o3 * o4 <= 0)


def _segments_intersect_scalar(p1, p2, q1, q2) -> bool:
    """Scalar twin of :func:`segments_intersect` for ``(x, y)`` tuples."""
    if (
        min(p1[0], p2[0]) > max(q1[0], q2[0])
        or min(q1[0], q2[0]) > max(p1[0], p2[0])
        or min(p1[1], p2[1]) > max(q1[1], q2[1])
        or min(q1[1], q2[1]) > max(p1[1], p2[1])
    ):
        return False
    o1 = _orient_sign_scalar(*p1, *p2, *q1)
    o2 = _orient_sign_scalar(*p1, *p2, *q2)
    o3 = _orient_sign_scalar(*q1, *q2, *p1)
    o4 = _orient_sign_scalar(*q1, *q2, *p2)
    return o1 * o2 <= 0 and o3 * o4 <= 0


def _as_points(x: np.ndarray, name: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """Return ``x`` as a finite float64 ``(N, 2)`` array and its leading shape."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0 or x.shape[-1] != 2:
        raise DataError(f"{name}: expected shape (..., 2), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise DataError(f"{name}: contains NaN or inf")
    return x.reshape(-1, 2), x.shape[:-1]


def _as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Accept a Generator or an integer seed."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _range(value: float | Sequence[float], name: str, low: float = 0.0) -> tuple[float, float]:
    """A ``(lo, hi)`` range from a scalar or a pair, checked ``low <= lo <= hi``."""
    lo, hi = (float(value), float(value)) if np.isscalar(value) else (float(value[0]), float(value[1]))
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < low or lo > hi:
        raise ConfigError(f"{name}: expected {low} <= lo <= hi, got {value!r}")
    return lo, hi


def _int_range(value: int | Sequence[int], name: str, low: int) -> tuple[int, int]:
    """An inclusive integer ``(lo, hi)`` range from an int or a pair."""
    lo, hi = (int(value), int(value)) if np.isscalar(value) else (int(value[0]), int(value[1]))
    if lo < low or lo > hi:
        raise ConfigError(f"{name}: expected {low} <= lo <= hi, got {value!r}")
    return lo, hi


# --------------------------------------------------------------------------------------------------------------
# world


def path_length(path: np.ndarray) -> float:
    """Euclidean length of a polyline ``(M, d)`` (0 for a single state)."""
    path = np.asarray(path, dtype=np.float64)
    if path.ndim != 2 or path.shape[0] < 1:
        raise DataError(f"path: expected shape (M, d) with M >= 1, got {path.shape}")
    return float(np.sum(np.linalg.norm(np.diff(path, axis=0), axis=1)))


@dataclass(frozen=True, eq=False)
class World:
    """A 2-D world in the unit square with closed axis-aligned rectangle obstacles ``(K, 4)``."""

    obstacles: np.ndarray

    def __post_init__(self) -> None:
        obs = np.array(self.obstacles, dtype=np.float64)
        if obs.size == 0:
            obs = np.zeros((0, 4))
        if obs.ndim != 2 or obs.shape[1] != 4:
            raise DataError(f"obstacles: expected shape (K, 4), got {obs.shape}")
        if not np.all(np.isfinite(obs)):
            raise DataError("obstacles: contains NaN or inf")
        if np.any(obs[:, 2] <= obs[:, 0]) or np.any(obs[:, 3] <= obs[:, 1]):
            raise DataError("obstacles: every row must have xmin < xmax and ymin < ymax")
        obs.setflags(write=False)
        object.__setattr__(self, "obstacles", obs)
        object.__setattr__(self, "_rects", tuple(tuple(float(v) for v in r) for r in obs))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, World) and np.array_equal(self.obstacles, other.obstacles)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"World(n_obstacles={len(self.obstacles)})"

    # -- vectorised checks ----------------------------------------------------------------------------------

    def point_free(self, points: np.ndarray) -> np.ndarray:
        """Bool ``(...)``: point inside the closed unit square and in no closed obstacle."""
        p, lead = _as_points(points, "points")
        x, y = p[:, 0, None], p[:, 1, None]
        r = self.obstacles
        inside = (p[:, 0] >= 0) & (p[:, 0] <= 1) & (p[:, 1] >= 0) & (p[:, 1] <= 1)
        hit = np.any((x >= r[:, 0]) & (x <= r[:, 2]) & (y >= r[:, 1]) & (y <= r[:, 3]), axis=1)
        return (inside & ~hit).reshape(lead)

    def segment_free(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Bool ``(...)``: closed segment ``a b`` lies in the unit square and touches no obstacle (exact)."""
        pa, lead = _as_points(a, "a")
        pb, lead_b = _as_points(b, "b")
        if lead != lead_b:
            raise DataError(f"a and b must have the same shape, got {lead} and {lead_b}")
        inside = np.all((pa >= 0) & (pa <= 1) & (pb >= 0) & (pb <= 1), axis=1)
        hit = _segments_hit_rects(pa, pb, self.obstacles).any(axis=1)
        return (inside & ~hit).reshape(lead)

    def path_free(self, path: np.ndarray) -> bool:
        """Whether every state and every straight segment of a polyline ``(M, 2)`` is free."""
        p, _ = _as_points(path, "path")
        if p.shape[0] == 1:
            return bool(self.point_free(p)[0])
        return bool(np.all(self.segment_free(p[:-1], p[1:])))

    path_length = staticmethod(path_length)

    def occupancy_grid(self, resolution: int = 32) -> np.ndarray:
        """Float32 ``(R, R)`` grid, ``grid[i, j]`` = cell at row ``i`` (y) and column ``j`` (x) overlaps an obstacle."""
        if int(resolution) != resolution or resolution < 1:
            raise ConfigError(f"resolution must be a positive integer, got {resolution!r}")
        res = int(resolution)
        edges = np.arange(res + 1, dtype=np.float64) / res
        r = self.obstacles
        ox = (r[:, 0, None] < edges[None, 1:]) & (r[:, 2, None] > edges[None, :-1])  # (K, R) columns
        oy = (r[:, 1, None] < edges[None, 1:]) & (r[:, 3, None] > edges[None, :-1])  # (K, R) rows
        grid = np.any(oy[:, :, None] & ox[:, None, :], axis=0)
        return grid.astype(np.float32)

    # -- scalar fast paths (for per-state callbacks from a planner) -----------------------------------------

    def is_free(self, x: float, y: float) -> bool:
        """Scalar :meth:`point_free` in pure Python (a few microseconds; for planner callbacks)."""
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            return False
        for x0, y0, x1, y1 in self._rects:  # type: ignore[attr-defined]
            if x0 <= x <= x1 and y0 <= y <= y1:
                return False
        return True

    def is_motion_free(self, ax: float, ay: float, bx: float, by: float) -> bool:
        """Scalar exact :meth:`segment_free` in pure Python; agrees with it on every input."""
        if not (0.0 <= ax <= 1.0 and 0.0 <= ay <= 1.0 and 0.0 <= bx <= 1.0 and 0.0 <= by <= 1.0):
            return False
        lox, hix = (ax, bx) if ax <= bx else (bx, ax)
        loy, hiy = (ay, by) if ay <= by else (by, ay)
        for x0, y0, x1, y1 in self._rects:  # type: ignore[attr-defined]
            if lox > x1 or hix < x0 or loy > y1 or hiy < y0:
                continue
            s = {
                _orient_sign_scalar(ax, ay, bx, by, x0, y0),
                _orient_sign_scalar(ax, ay, bx, by, x1, y0),
                _orient_sign_scalar(ax, ay, bx, by, x1, y1),
                _orient_sign_scalar(ax, ay, bx, by, x0, y1),
            }
            if s != {1} and s != {-1}:
                return False
        return True

    # -- serialisation --------------------------------------------------------------------------------------

    def to_array(self, pad_to: int | None = None) -> np.ndarray:
        """The obstacles as a float64 ``(K, 4)`` copy, or ``(pad_to, 4)`` padded with NaN rows."""
        obs = np.array(self.obstacles, dtype=np.float64)
        if pad_to is None:
            return obs
        if pad_to < len(obs):
            raise ConfigError(f"pad_to={pad_to} is smaller than the {len(obs)} obstacles")
        out = np.full((pad_to, 4), np.nan)
        out[: len(obs)] = obs
        return out

    @classmethod
    def from_array(cls, array: np.ndarray) -> World:
        """Inverse of :meth:`to_array`: all-NaN rows are padding and dropped."""
        arr = np.asarray(array, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise DataError(f"world array: expected shape (K, 4), got {arr.shape}")
        nan = np.isnan(arr)
        if np.any(nan.any(axis=1) & ~nan.all(axis=1)):
            raise DataError("world array: a row is partly NaN (only all-NaN padding rows are allowed)")
        return cls(arr[~nan.all(axis=1)])


def stack_worlds(worlds: Sequence[World]) -> np.ndarray:
    """Float64 ``(W, K_max, 4)`` array of several worlds, NaN-padded (for ``numpy.savez``)."""
    k = max((len(w.obstacles) for w in worlds), default=0)
    return np.stack([w.to_array(pad_to=k) for w in worlds]) if worlds else np.zeros((0, 0, 4))


def unstack_worlds(array: np.ndarray) -> list[World]:
    """Inverse of :func:`stack_worlds`."""
    arr = np.asarray(array, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[2] != 4:
        raise DataError(f"worlds array: expected shape (W, K, 4), got {arr.shape}")
    return [World.from_array(a) for a in arr]


def sample_free(world: World, rng: np.random.Generator | int | None, n: int, max_batches: int = 1000) -> np.ndarray:
    """``n`` uniform free points ``(n, 2)`` by rejection; DataError when the free space is too small to hit."""
    rng = _as_rng(rng)
    out: list[np.ndarray] = []
    got = 0
    for _ in range(max_batches):
        if got >= n:
            break
        p = rng.random((max(2 * (n - got), 16), 2))
        p = p[world.point_free(p)]
        out.append(p)
        got += len(p)
    if got < n:
        raise DataError(f"sample_free: found only {got} of {n} free points in {max_batches} batches")
    return np.concatenate(out)[:n] if out else np.zeros((0, 2))


def random_rectangles(
    rng: np.random.Generator | int | None,
    n_obstacles: int | Sequence[int] = (5, 10),
    size: float | Sequence[float] = (0.05, 0.25),
) -> World:
    """Uniformly placed rectangles inside the unit square; ``n_obstacles`` and side ``size`` as value or range."""
    rng = _as_rng(rng)
    k_lo, k_hi = _int_range(n_obstacles, "n_obstacles", 0)
    s_lo, s_hi = _range(size, "size")
    if s_lo <= 0 or s_hi >= 1:
        raise ConfigError(f"size must lie in (0, 1), got {size!r}")
    k = int(rng.integers(k_lo, k_hi + 1))
    wh = rng.uniform(s_lo, s_hi, size=(k, 2))
    lo = rng.random((k, 2)) * (1.0 - wh)
    return World(np.concatenate([lo, lo + wh], axis=1))


# --------------------------------------------------------------------------------------------------------------
# narrow passages


@dataclass(frozen=True, eq=False)
class NarrowPassage:
    """A world cut by ``n_walls`` parallel walls that span the square, each pierced by one or more gaps.

    ``axis`` is the wall *normal* (0: vertical walls crossed along x, 1: horizontal walls crossed along y);
    ``walls[w] = (lo, hi)`` is wall ``w``'s extent along the normal, sorted; ``gaps[w]`` is an ``(n_gaps, 2)``
    array of gap intervals along the wall. Regions ``0 .. n_walls`` are the slabs between walls.
    """

    world: World
    axis: int
    walls: np.ndarray
    gaps: tuple[np.ndarray, ...]

    def gap_centres(self) -> np.ndarray:
        """``(total_gaps, 2)`` centre of every gap (middle of the wall's thickness, middle of the gap)."""
        out = []
        for (lo, hi), g in zip(self.walls, self.gaps):
            for g0, g1 in g:
                c = [0.5 * (lo + hi), 0.5 * (g0 + g1)]
                out.append(c if self.axis == 0 else c[::-1])
        return np.asarray(out, dtype=np.float64).reshape(-1, 2)

    def region(self, points: np.ndarray) -> np.ndarray:
        """Int ``(...)``: index of the slab between walls containing each point, -1 inside a wall's slab."""
        p, lead = _as_points(points, "points")
        t = p[:, self.axis]
        out = np.searchsorted(self.walls[:, 1], t, side="left")
        out = np.where(np.any((t[:, None] >= self.walls[:, 0]) & (t[:, None] <= self.walls[:, 1]), axis=1), -1, out)
        return out.reshape(lead)

    def sample_start_goal(
        self, rng: np.random.Generator | int | None, n: int = 1, shuffle: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """``n`` free (start, goal) pairs ``(n, 2)`` in the first and last regions, so every gap line is crossed.

        With ``shuffle`` the start lies in the last region half of the time.
        """
        rng = _as_rng(rng)
        bands = [(0.0, float(self.walls[0, 0]), 0), (float(self.walls[-1, 1]), 1.0, len(self.walls))]
        pts = []
        for lo, hi, region in bands:
            got: list[np.ndarray] = []
            count = 0
            for _ in range(1000):
                if count >= n:
                    break
                p = rng.random((max(2 * (n - count), 16), 2))
                p[:, self.axis] = lo + (hi - lo) * p[:, self.axis]
                p = p[self.world.point_free(p) & (self.region(p) == region)]
                got.append(p)
                count += len(p)
            if count < n:
                raise DataError("sample_start_goal: could not find free points on both sides of the walls")
            pts.append(np.concatenate(got)[:n])
        start, goal = pts
        if shuffle:
            swap = rng.random(n) < 0.5
            start, goal = np.where(swap[:, None], goal, start), np.where(swap[:, None], start, goal)
        return start, goal


def narrow_passage(
    rng: np.random.Generator | int | None,
    n_walls: int = 1,
    n_gaps: int | Sequence[int] = (1, 2),
    gap_width: float | Sequence[float] = (0.02, 0.06),
    wall_thickness: float | Sequence[float] = (0.05, 0.15),
    axis: int | None = None,
    side_margin: float = 0.15,
    gap_margin: float = 0.1,
) -> NarrowPassage:
    """Random narrow-passage world: ``n_walls`` (1 or 2) parallel walls spanning the square, each with gaps.

    ``axis`` is the wall normal (0 = vertical walls, 1 = horizontal walls; random when None). Walls are placed in
    ``[side_margin, 1 - side_margin]`` along the normal, one per equal bin, at least ``0.1`` apart. Each wall
    gets ``n_gaps`` gaps (value or inclusive range; 1 or 2) of width in ``gap_width``; with two gaps each lies
    in its own half of ``[gap_margin, 1 - gap_margin]`` along the wall, so gaps never merge or touch the border.
    """
    rng = _as_rng(rng)
    if n_walls not in (1, 2):
        raise ConfigError(f"n_walls must be 1 or 2, got {n_walls!r}")
    g_lo, g_hi = _int_range(n_gaps, "n_gaps", 1)
    if g_hi > 2:
        raise ConfigError(f"n_gaps must be 1 or 2, got {n_gaps!r}")
    w_lo, w_hi = _range(gap_width, "gap_width")
    t_lo, t_hi = _range(wall_thickness, "wall_thickness")
    if w_lo <= 0 or t_lo <= 0:
        raise ConfigError("gap_width and wall_thickness must be positive")
    if not 0 < side_margin < 0.5 or not 0 < gap_margin < 0.5:
        raise ConfigError("side_margin and gap_margin must lie in (0, 0.5)")
    pad = 0.05
    bin_w = (1.0 - 2 * side_margin) / n_walls
    if t_hi + 2 * pad > bin_w:
        raise ConfigError(f"wall_thickness up to {t_hi} does not fit {n_walls} walls inside the side margins")
    sep = 0.05  # gaps of one wall stay at least this far apart
    if w_hi + sep > (1.0 - 2 * gap_margin) / g_hi:
        raise ConfigError(f"gap_width up to {w_hi} does not fit {g_hi} gaps inside the gap margins")
    ax = int(rng.integers(0, 2)) if axis is None else int(axis)
    if ax not in (0, 1):
        raise ConfigError(f"axis must be 0, 1 or None, got {axis!r}")

    walls, gaps, rects = [], [], []
    for w in range(n_walls):
        t = rng.uniform(t_lo, t_hi)
        b0 = side_margin + w * bin_w
        lo = rng.uniform(b0 + pad, b0 + bin_w - pad - t)
        walls.append((lo, lo + t))
        k = int(rng.integers(g_lo, g_hi + 1))
        widths = rng.uniform(w_lo, w_hi, size=k)
        seg = (1.0 - 2 * gap_margin) / k
        g = []
        for i in range(k):
            s0 = gap_margin + i * seg
            c = rng.uniform(s0 + (widths[i] + sep) / 2, s0 + seg - (widths[i] + sep) / 2)
            g.append((c - widths[i] / 2, c + widths[i] / 2))
        g_arr = np.asarray(g, dtype=np.float64)
        gaps.append(g_arr)
        cuts = np.concatenate([[0.0], g_arr.ravel(), [1.0]]).reshape(-1, 2)  # solid pieces along the wall
        for p0, p1 in cuts:
            rects.append((lo, p0, lo + t, p1) if ax == 0 else (p0, lo, p1, lo + t))
    return NarrowPassage(World(np.asarray(rects)), ax, np.asarray(walls, dtype=np.float64), tuple(gaps))


# --------------------------------------------------------------------------------------------------------------
# planar arm


@dataclass(frozen=True, eq=False)
class PlanarArm:
    """A planar arm of ``k >= 4`` revolute joints with its base fixed at ``base``.

    Configuration ``q`` = relative joint angles (joint 0 at the base measured from +x, joint ``i`` relative to
    link ``i - 1``), each in ``[-pi, pi]``; ``q = 0`` is the arm stretched along +x. Link lengths sum below 0.9.
    """

    link_lengths: np.ndarray = (0.15, 0.12, 0.1, 0.08)  # type: ignore[assignment]
    base: np.ndarray = (0.5, 0.5)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        lengths = np.array(self.link_lengths, dtype=np.float64).reshape(-1)
        base = np.array(self.base, dtype=np.float64).reshape(-1)
        if lengths.size < 4 or not np.all(np.isfinite(lengths)) or np.any(lengths <= 0):
            raise ConfigError(f"link_lengths: need >= 4 positive lengths, got {self.link_lengths!r}")
        if lengths.sum() >= 0.9:
            raise ConfigError(f"link_lengths must sum below 0.9, got {lengths.sum():.3f}")
        if base.shape != (2,) or not np.all((base >= 0) & (base <= 1)):
            raise ConfigError(f"base must be a point of the unit square, got {self.base!r}")
        lengths.setflags(write=False)
        base.setflags(write=False)
        object.__setattr__(self, "link_lengths", lengths)
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "_lengths", tuple(float(v) for v in lengths))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PlanarArm)
            and np.array_equal(self.link_lengths, other.link_lengths)
            and np.array_equal(self.base, other.base)
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def n_joints(self) -> int:
        """Number of joints ``k`` (= links = configuration dimension)."""
        return int(self.link_lengths.size)

    @property
    def reach(self) -> float:
        """Sum of link lengths."""
        return float(self.link_lengths.sum())

    def _as_configs(self, q: np.ndarray, name: str = "q") -> tuple[np.ndarray, bool]:
        """``q`` as a finite float64 ``(N, k)`` batch and whether it was a single configuration."""
        q = np.asarray(q, dtype=np.float64)
        single = q.ndim == 1
        q = q[None] if single else q
        if q.ndim != 2 or q.shape[1] != self.n_joints:
            raise DataError(f"{name}: expected shape (N, {self.n_joints}) or ({self.n_joints},), got {q.shape}")
        if not np.all(np.isfinite(q)):
            raise DataError(f"{name}: contains NaN or inf")
        return q, single

    def forward_kinematics(self, q: np.ndarray) -> np.ndarray:
        """Joint positions ``(N, k + 1, 2)`` (base first, tip last) of ``q`` ``(N, k)``; ``(k + 1, 2)`` for one."""
        q, single = self._as_configs(q)
        theta = np.cumsum(q, axis=1)
        steps = self.link_lengths[None, :, None] * np.stack([np.cos(theta), np.sin(theta)], axis=-1)
        pos = np.concatenate([np.zeros((q.shape[0], 1, 2)), np.cumsum(steps, axis=1)], axis=1) + self.base
        return pos[0] if single else pos

    def self_collision(self, q: np.ndarray) -> np.ndarray:
        """Bool ``(N,)``: some pair of non-adjacent links intersects (exact; touching counts).

        Adjacent links always share their joint and are not tested (a joint at exactly +-pi folds a link onto
        its neighbour without being reported).
        """
        q, single = self._as_configs(q)
        pos = self.forward_kinematics(q)
        i, j = np.triu_indices(self.n_joints, k=2)
        hit = segments_intersect(pos[:, i], pos[:, i + 1], pos[:, j], pos[:, j + 1]).any(axis=1)
        return hit[0] if single else hit

    def config_free(self, world: World, q: np.ndarray, self_collision: bool = True) -> np.ndarray:
        """Bool ``(N,)``: ``q`` within ``[-pi, pi]^k`` and every link segment free in ``world`` (exact)."""
        q, single = self._as_configs(q)
        pos = self.forward_kinematics(q)
        k = self.n_joints
        ok = np.all(np.abs(q) <= np.pi, axis=1)
        ok &= world.segment_free(pos[:, :-1].reshape(-1, 2), pos[:, 1:].reshape(-1, 2)).reshape(-1, k).all(axis=1)
        if self_collision:
            ok &= ~self.self_collision(q)
        return ok[0] if single else ok

    def is_config_free(self, world: World, q: Sequence[float], self_collision: bool = True) -> bool:
        """Scalar :meth:`config_free` for one configuration in pure Python (tens of microseconds instead of
        hundreds; for planner callbacks). Same arithmetic order as the vectorised path; NaN gives False."""
        k = self.n_joints
        if len(q) != k:
            raise DataError(f"q: expected {k} joint angles, got {len(q)}")
        bx, by = float(self.base[0]), float(self.base[1])
        pts = [(bx, by)]
        theta = sx = sy = 0.0
        for length, qi in zip(self._lengths, q):  # type: ignore[attr-defined]
            qi = float(qi)
            if not -math.pi <= qi <= math.pi:
                return False
            theta += qi
            sx += length * math.cos(theta)
            sy += length * math.sin(theta)
            pts.append((sx + bx, sy + by))
        for i in range(k):
            if not world.is_motion_free(*pts[i], *pts[i + 1]):
                return False
        if self_collision:
            for i in range(k - 2):
                for j in range(i + 2, k):
                    if _segments_intersect_scalar(pts[i], pts[i + 1], pts[j], pts[j + 1]):
                        return False
        return True

    def motion_free(
        self, world: World, q0: np.ndarray, q1: np.ndarray, resolution: float = 0.01, self_collision: bool = True
    ) -> np.ndarray:
        """Bool ``(N,)``: straight joint-space motion ``q0 -> q1`` free at the checked configurations.

        NOT exact: configurations ``q0 + t (q1 - q0)`` are checked (exactly) at ``t = j / n`` with
        ``n = max(1, ceil(max_i |q1_i - q0_i| / resolution))``, so consecutive checks differ by at most
        ``resolution`` radians in every joint; a point of the arm at distance ``r_i`` from joint ``i`` then moves
        at most ``resolution * sum_i r_i <= resolution * sum_i (l_i + ... + l_k)`` between checks, and thinner
        obstacle features can be tunnelled through.
        """
        if not resolution > 0:
            raise ConfigError(f"resolution must be positive, got {resolution!r}")
        a, single = self._as_configs(q0, "q0")
        b, single_b = self._as_configs(q1, "q1")
        if a.shape != b.shape:
            raise DataError(f"q0 and q1 must have the same shape, got {a.shape} and {b.shape}")
        n = np.maximum(1, np.ceil(np.max(np.abs(b - a), axis=1) / resolution)).astype(np.int64)
        owner = np.repeat(np.arange(len(a)), n + 1)
        starts = np.concatenate([[0], np.cumsum(n + 1)[:-1]])
        t = (np.arange(owner.size) - starts[owner]) / n[owner]
        q = a[owner] + t[:, None] * (b - a)[owner]
        ok = np.logical_and.reduceat(self.config_free(world, q, self_collision=self_collision), starts)
        return ok[0] if single and single_b else ok

    def to_array(self) -> np.ndarray:
        """Float64 ``(2 + k,)``: ``(base_x, base_y, l_1, ..., l_k)``."""
        return np.concatenate([self.base, self.link_lengths])

    @classmethod
    def from_array(cls, array: np.ndarray) -> PlanarArm:
        """Inverse of :meth:`to_array`."""
        arr = np.asarray(array, dtype=np.float64).reshape(-1)
        if arr.size < 6:
            raise DataError(f"arm array: expected (2 + k,) with k >= 4, got {arr.shape}")
        return cls(link_lengths=arr[2:], base=arr[:2])


@dataclass(frozen=True, eq=False)
class ArmWorld:
    """A workspace for a :class:`PlanarArm`: a wall with one slot across the arm's reach, plus clutter.

    The wall is perpendicular to ``direction`` (unit vector along +-x or +-y from the base) between distances
    ``wall = (near, far)`` from the base and spans the whole square except the slot ``slot = (lo, hi)`` (lateral
    offsets from the base, measured along ``direction`` turned +90 degrees). A tip beyond the wall can only be
    reached by threading links through the slot. ``witness`` is a free straight configuration that does so.
    """

    world: World
    arm: PlanarArm
    direction: np.ndarray
    wall: tuple[float, float]
    slot: tuple[float, float]
    witness: np.ndarray

    def beyond_wall(self, q: np.ndarray) -> np.ndarray:
        """Bool ``(N,)``: the arm tip is past the wall's far face (so a free ``q`` threads the slot)."""
        tip = self.arm.forward_kinematics(np.atleast_2d(q))[:, -1]
        out = (tip - self.arm.base) @ self.direction > self.wall[1]
        return out[0] if np.ndim(q) == 1 else out

    def sample_configs(
        self, rng: np.random.Generator | int | None, n: int, threading: bool = False, max_batches: int = 1000
    ) -> np.ndarray:
        """``n`` free configurations ``(n, k)``: uniform in ``[-pi, pi]^k``, or (``threading``) tip beyond the wall.

        Threading configurations are drawn as Gaussian perturbations (std 0.05 rad at the base growing to 0.6 rad
        at the tip) of :attr:`witness`, kept when free and beyond the wall; this is a goal generator, not a
        uniform distribution over the threading set.
        """
        rng = _as_rng(rng)
        k = self.arm.n_joints
        out: list[np.ndarray] = []
        got = 0
        for _ in range(max_batches):
            if got >= n:
                break
            m = max(4 * (n - got), 64)
            if threading:
                q = self.witness + rng.normal(size=(m, k)) * np.linspace(0.05, 0.6, k)
                q = q[np.all(np.abs(q) <= np.pi, axis=1)]
                q = q[self.beyond_wall(q)] if len(q) else q
            else:
                q = rng.uniform(-np.pi, np.pi, size=(m, k))
            if len(q):
                q = q[self.arm.config_free(self.world, q)]
            out.append(q)
            got += len(q)
        if got < n:
            raise DataError(f"sample_configs: found only {got} of {n} free configurations")
        return np.concatenate(out)[:n]


def arm_world(
    rng: np.random.Generator | int | None,
    arm: PlanarArm | None = None,
    slot_width: float | Sequence[float] = (0.05, 0.09),
    wall_thickness: float | Sequence[float] = (0.03, 0.06),
    n_clutter: int | Sequence[int] = (1, 3),
    clutter_size: float | Sequence[float] = (0.04, 0.1),
    max_tries: int = 200,
) -> ArmWorld:
    """Random :class:`ArmWorld`: a slotted wall at 35-55 % of the reach in a random axis direction, plus clutter.

    The slot's lateral offset is random; the straight configuration pointing at the slot centre is kept free
    (the witness), and clutter rectangles (side in ``clutter_size``) that would block it, cover the base or lie
    outside the reach are rejected.
    """
    rng = _as_rng(rng)
    arm = PlanarArm() if arm is None else arm
    s_lo, s_hi = _range(slot_width, "slot_width")
    t_lo, t_hi = _range(wall_thickness, "wall_thickness")
    c_lo, c_hi = _int_range(n_clutter, "n_clutter", 0)
    z_lo, z_hi = _range(clutter_size, "clutter_size")
    if s_lo <= 0 or t_lo <= 0 or z_lo <= 0:
        raise ConfigError("slot_width, wall_thickness and clutter_size must be positive")
    base, reach, k = arm.base, arm.reach, arm.n_joints
    for _ in range(max_tries):
        d = int(rng.integers(0, 4))
        u = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])[d]
        v = np.array([-u[1], u[0]])
        near = rng.uniform(0.35, 0.55) * reach
        far = near + rng.uniform(t_lo, t_hi)
        if far >= 0.9 * reach:
            continue
        width = rng.uniform(s_lo, s_hi)
        centre = rng.uniform(-0.3, 0.3) * near
        slot = (centre - width / 2, centre + width / 2)
        # wall pieces in the (u, v) frame, mapped to world boxes; lateral extent covers the whole square
        pieces = [(near, -2.0, far, slot[0]), (near, slot[1], far, 2.0)]
        rects = []
        for a0, b0, a1, b1 in pieces:
            c = base + np.array([[a0, b0], [a1, b1]]) @ np.stack([u, v])
            rects.append([*np.minimum(c[0], c[1]), *np.maximum(c[0], c[1])])
        rects_arr = np.clip(np.asarray(rects), -0.5, 1.5)
        witness = np.zeros(k)
        witness[0] = math.atan2(u[1], u[0]) + math.atan2(centre, 0.5 * (near + far))
        witness[0] = (witness[0] + np.pi) % (2 * np.pi) - np.pi
        world = World(rects_arr)
        if not arm.config_free(world, witness):
            continue
        n_c = int(rng.integers(c_lo, c_hi + 1))
        clutter: list[np.ndarray] = []
        for _ in range(50 * max(n_c, 1)):
            if len(clutter) >= n_c:
                break
            wh = rng.uniform(z_lo, z_hi, size=2)
            lo = base + rng.uniform(-reach, reach, size=2) - wh / 2
            box = np.concatenate([lo, lo + wh])
            if np.any(box[2:] <= 0) or np.any(box[:2] >= 1):
                continue
            cand = World(np.concatenate([world.obstacles, *clutter, box[None]]))
            centre_box = 0.5 * (box[:2] + box[2:])
            if np.linalg.norm(centre_box - base) > reach or not cand.point_free(base[None])[0]:
                continue
            if not arm.config_free(cand, witness):
                continue
            clutter.append(box[None])
        final = World(np.concatenate([world.obstacles, *clutter])) if clutter else world
        return ArmWorld(final, arm, u, (float(near), float(far)), (float(slot[0]), float(slot[1])), witness)
    raise ConfigError(f"arm_world: no valid layout in {max_tries} tries (is the arm's base too close to a border?)")
