"""Tests of seqvae.domains.planning.world: exact collision checking, occupancy grids, world generators, the planar arm."""

from __future__ import annotations

import io
import math
from fractions import Fraction

import numpy as np
import pytest

from seqvae.domains.planning.world import (
    NarrowPassage,
    PlanarArm,
    World,
    arm_world,
    narrow_passage,
    path_length,
    random_rectangles,
    sample_free,
    segments_intersect,
    stack_worlds,
    unstack_worlds,
)
from seqvae.errors import ConfigError, DataError

# A vertical wall x in [0.375, 0.625] with a gap y in (0.375, 0.625); all coordinates dyadic (exact in binary).
WALL = World(np.array([[0.375, 0.0, 0.625, 0.375], [0.375, 0.625, 0.625, 1.0]]))
BOX = World(np.array([[0.25, 0.25, 0.5, 0.5]]))
TINY = 2.0**-20


def _seg(world: World, a, b) -> bool:
    """Vectorised and scalar checks of one segment; asserts that they agree."""
    vec = bool(world.segment_free(np.array([a], float), np.array([b], float))[0])
    assert vec == world.is_motion_free(*map(float, a), *map(float, b))
    return vec


def _exact_clip_hits(a, b, rect) -> bool:
    """Independent reference: Liang-Barsky clipping of segment a-b against a closed box in rational arithmetic."""
    a = [Fraction(float(v)) for v in a]
    b = [Fraction(float(v)) for v in b]
    r = [Fraction(float(v)) for v in rect]
    t0, t1 = Fraction(0), Fraction(1)
    for ax in range(2):
        d = b[ax] - a[ax]
        lo, hi = r[ax], r[ax + 2]
        if d == 0:
            if not lo <= a[ax] <= hi:
                return False
            continue
        ta, tb = (lo - a[ax]) / d, (hi - a[ax]) / d
        t0, t1 = max(t0, min(ta, tb)), min(t1, max(ta, tb))
    return t0 <= t1


# --------------------------------------------------------------------------------------------------------------
# points


def test_points_inside_outside_edges_corners():
    pts = np.array(
        [
            [0.375, 0.25],  # inside
            [0.125, 0.25],  # outside every obstacle
            [0.25, 0.375],  # on the left edge
            [0.5, 0.375],  # on the right edge
            [0.375, 0.5],  # on the top edge
            [0.25, 0.25],  # corner
            [0.5, 0.5],  # corner
            [0.5 + TINY, 0.5],  # just right of a corner
            [0.0, 0.0],  # unit-square corner (free: the square is closed)
            [1.0, 0.75],  # unit-square border
            [1.0 + TINY, 0.75],  # just outside the square
            [-TINY, 0.5],
        ]
    )
    expected = [False, True, False, False, False, False, False, True, True, True, False, False]
    assert BOX.point_free(pts).tolist() == expected
    assert [BOX.is_free(*p) for p in pts] == expected


def test_point_free_shapes_and_bad_input():
    assert BOX.point_free(np.zeros((3, 4, 2))).shape == (3, 4)
    assert BOX.point_free(np.array([0.1, 0.1])).shape == ()
    with pytest.raises(DataError):
        BOX.point_free(np.array([[np.nan, 0.1]]))
    with pytest.raises(DataError):
        BOX.point_free(np.zeros((3, 3)))


# --------------------------------------------------------------------------------------------------------------
# segments, hand-made


def test_segments_through_and_around_a_wall_gap():
    assert _seg(WALL, (0.25, 0.5), (0.75, 0.5))  # straight through the gap centre
    assert _seg(WALL, (0.25, 0.375 + TINY), (0.75, 0.625 - TINY))  # diagonal inside the gap, near both edges
    assert not _seg(WALL, (0.25, 0.125), (0.75, 0.125))  # crosses the solid wall
    assert not _seg(WALL, (0.25, 0.875), (0.75, 0.75))  # crosses the upper piece
    assert not _seg(WALL, (0.25, 0.375), (0.75, 0.375))  # runs along the gap's lower edge (touching)
    assert not _seg(WALL, (0.25, 0.625), (0.75, 0.625))  # along the upper edge
    assert _seg(WALL, (0.25, 0.375 + TINY), (0.75, 0.375 + TINY))  # parallel, just inside the gap


def test_segments_grazing_a_gap_corner_count_as_collision():
    # the line y = x passes exactly through the lower piece's corner (0.375, 0.375), then stays in the gap
    assert not _seg(WALL, (0.25, 0.25), (0.5, 0.5))
    assert not _seg(WALL, (0.5, 0.5), (0.25, 0.25))  # orientation-independent
    assert _seg(WALL, (0.25, 0.25 + TINY), (0.5, 0.5 + TINY))  # shifted up: misses the corner
    # the line through (0.25, 0.5) and the corner (0.375, 0.625) touches the upper piece only at that corner
    assert not _seg(WALL, (0.25, 0.5), (0.5, 0.75))
    assert not _seg(WALL, (0.25, 0.5 - TINY), (0.5, 0.75 - TINY))  # shifted down: enters the upper piece...
    assert _seg(WALL, (0.25, 0.5), (0.375 - TINY, 0.625 - TINY))  # ...stopping just short of the corner is free


def test_segment_ending_on_an_edge_or_corner_collides():
    assert not _seg(BOX, (0.125, 0.375), (0.25, 0.375))  # ends on the left edge
    assert not _seg(BOX, (0.125, 0.125), (0.25, 0.25))  # ends on the corner
    assert _seg(BOX, (0.125, 0.375), (0.25 - TINY, 0.375))  # stops just before it


def test_segments_on_and_parallel_to_an_obstacle_edge():
    assert not _seg(BOX, (0.25, 0.0625), (0.25, 0.75))  # collinear with the left edge, overlapping it
    assert not _seg(BOX, (0.125, 0.5), (0.75, 0.5))  # along the top edge and beyond
    assert not _seg(BOX, (0.25, 0.5), (0.25, 0.75))  # collinear, touching only at the corner
    assert _seg(BOX, (0.25, 0.5 + TINY), (0.25, 0.75))  # collinear but separated
    assert _seg(BOX, (0.25 - TINY, 0.0625), (0.25 - TINY, 0.75))  # parallel, just outside


def test_segment_fully_inside_an_obstacle_collides():
    assert not _seg(BOX, (0.3125, 0.3125), (0.4375, 0.4375))  # no edge crossing at all


def test_zero_length_segments_follow_the_point_rule():
    for p in [(0.125, 0.125), (0.25, 0.375), (0.25, 0.25), (0.375, 0.375), (0.75, 0.5), (1.0, 1.0)]:
        assert _seg(BOX, p, p) == bool(BOX.point_free(np.array(p)))
    rng = np.random.default_rng(0)
    edge_pts = np.concatenate([rng.random((200, 2)), np.array([[0.25, y] for y in rng.random(50)])])
    assert np.array_equal(BOX.segment_free(edge_pts, edge_pts), BOX.point_free(edge_pts))


def test_segments_leaving_the_unit_square_are_invalid():
    free = World(np.zeros((0, 4)))
    assert _seg(free, (0.0, 0.0), (1.0, 0.0))  # along the border
    assert not _seg(free, (0.5, 0.5), (1.0 + TINY, 0.5))
    assert not _seg(free, (-TINY, 0.5), (0.5, 0.5))


def test_segment_checks_are_exact_on_near_degenerate_non_dyadic_cases():
    """Segments through (rounded) corners: compare with rational-arithmetic Liang-Barsky clipping."""
    rng = np.random.default_rng(1)
    rects = np.array([[0.1, 0.2, 0.3, 0.7], [0.55, 0.15, 0.9, 0.35], [0.6, 0.6, 0.7, 0.95]])
    world = World(rects)
    corners = np.concatenate([rects[:, [0, 1]], rects[:, [2, 1]], rects[:, [2, 3]], rects[:, [0, 3]]])
    a, b = [], []
    for _ in range(400):
        c = corners[rng.integers(len(corners))]
        d = rng.normal(size=2) * 0.2
        a.append(np.clip(c - d, 0, 1))
        b.append(np.clip(c + d * rng.uniform(0.2, 2.0), 0, 1))  # the line a-b passes within rounding of c
    a, b = np.array(a), np.array(b)
    expected = np.array([not any(_exact_clip_hits(p, q, r) for r in rects) for p, q in zip(a, b)])
    got = world.segment_free(a, b)
    assert np.array_equal(got, expected)
    assert np.array_equal(got, [world.is_motion_free(*p, *q) for p, q in zip(a, b)])
    assert 0 < expected.sum() < len(expected)  # the set exercises both outcomes


def test_segment_free_agrees_with_dense_sampling_on_random_segments():
    """Brute force: points every h along each segment, against obstacles dilated/eroded by 2h.

    Dilated-free certifies free, eroded-hit certifies collision; segments certified neither way pass within
    ~2h of an obstacle boundary (the touching cases) and are excluded.
    """
    rng = np.random.default_rng(2)
    world = random_rectangles(rng, n_obstacles=8)
    n, m = 400, 4001
    h = 1.5 / (m - 1)
    a, b = rng.random((n, 2)), rng.random((n, 2))
    t = np.linspace(0, 1, m)
    pts = a[:, None] + t[None, :, None] * (b - a)[:, None]
    grow = World(world.obstacles + np.array([-2 * h, -2 * h, 2 * h, 2 * h]))
    r = world.obstacles
    keep = (r[:, 2] - r[:, 0] > 4 * h) & (r[:, 3] - r[:, 1] > 4 * h)
    shrink = World(r[keep] + np.array([2 * h, 2 * h, -2 * h, -2 * h]))
    inside = lambda w: ~np.all(w.point_free(pts.reshape(-1, 2)).reshape(n, m), axis=1)  # noqa: E731
    certain_free, certain_hit = ~inside(grow), inside(shrink)
    assert not np.any(certain_free & certain_hit)
    decided = certain_free | certain_hit
    assert decided.mean() > 0.9
    got = world.segment_free(a, b)
    assert np.array_equal(got[decided], certain_free[decided])
    assert certain_free.sum() > 20 and certain_hit.sum() > 20


def test_segment_free_shape_mismatch():
    with pytest.raises(DataError):
        BOX.segment_free(np.zeros((2, 2)), np.zeros((3, 2)))


def test_segments_intersect_hand_made():
    p = np.array
    assert segments_intersect(p([0, 0]), p([1, 1]), p([0, 1]), p([1, 0]))  # proper crossing
    assert segments_intersect(p([0, 0]), p([1, 0]), p([0.5, 0]), p([0.5, 1]))  # T-touch
    assert segments_intersect(p([0, 0]), p([1, 0]), p([1, 0]), p([2, 1]))  # shared endpoint
    assert segments_intersect(p([0, 0]), p([1, 0]), p([0.5, 0]), p([2, 0]))  # collinear overlap
    assert not segments_intersect(p([0, 0]), p([1, 0]), p([1.5, 0]), p([2, 0]))  # collinear, disjoint
    assert not segments_intersect(p([0, 0]), p([1, 0]), p([0, 0.5]), p([1, 0.5]))  # parallel
    assert not segments_intersect(p([0, 0]), p([1, 0]), p([0.5, TINY]), p([0.5, 1]))  # stops just above


# --------------------------------------------------------------------------------------------------------------
# paths, occupancy grid


def test_path_free_and_length():
    through = np.array([[0.25, 0.25], [0.25, 0.5], [0.75, 0.5], [0.75, 0.75]])
    assert WALL.path_free(through)
    assert not WALL.path_free(np.array([[0.25, 0.25], [0.75, 0.25]]))
    assert WALL.path_free(np.array([[0.125, 0.125]])) and not WALL.path_free(np.array([[0.5, 0.125]]))
    assert path_length(through) == pytest.approx(1.0)
    assert World.path_length(np.array([[0.0, 0.0], [0.3, 0.4]])) == pytest.approx(0.5)
    assert path_length(np.array([[0.2, 0.2]])) == 0.0


def test_occupancy_grid_cell_aligned_rectangle():
    grid = World(np.array([[0.25, 0.5, 0.5, 0.75]])).occupancy_grid(4)
    expected = np.zeros((4, 4), np.float32)
    expected[2, 1] = 1.0  # row = y in [0.5, 0.75], column = x in [0.25, 0.5]; touching neighbours stay free
    assert grid.dtype == np.float32 and np.array_equal(grid, expected)


def test_occupancy_grid_unaligned_and_outside_rectangles():
    grid = World(np.array([[0.3, 0.1, 0.55, 0.2], [0.9, 0.9, 1.4, 1.2]])).occupancy_grid(4)
    expected = np.zeros((4, 4), np.float32)
    expected[0, 1] = expected[0, 2] = 1.0
    expected[3, 3] = 1.0  # the part inside the square
    assert np.array_equal(grid, expected)


def test_occupancy_grid_matches_interior_sampling():
    world = random_rectangles(3, n_obstacles=6)
    res = 16
    grid = world.occupancy_grid(res)
    assert grid.shape == (res, res)
    # a cell overlaps an obstacle in area iff some interior sample point lies strictly inside an obstacle
    u = (np.arange(64) + 0.5) / 64
    r = world.obstacles
    for i in range(res):
        for j in range(res):
            x, y = (j + u[:, None]) / res, (i + u[None, :]) / res
            hit = any(np.any((x > a) & (x < c) & (y > b) & (y < d)) for a, b, c, d in r)
            assert grid[i, j] == float(hit), (i, j)


# --------------------------------------------------------------------------------------------------------------
# generators


def test_random_rectangles_deterministic_and_in_range():
    w1, w2 = random_rectangles(5, n_obstacles=(3, 7)), random_rectangles(np.random.default_rng(5), n_obstacles=(3, 7))
    assert w1 == w2
    assert random_rectangles(6, n_obstacles=(3, 7)) != w1
    assert 3 <= len(w1.obstacles) <= 7
    assert np.all(w1.obstacles >= 0) and np.all(w1.obstacles <= 1)
    sizes = w1.obstacles[:, 2:] - w1.obstacles[:, :2]
    assert np.all((sizes >= 0.05) & (sizes <= 0.25))


def test_sample_free_points_are_free_and_deterministic():
    world = random_rectangles(0)
    p = sample_free(world, 1, 500)
    assert p.shape == (500, 2) and world.point_free(p).all()
    assert np.array_equal(p, sample_free(world, 1, 500))
    with pytest.raises(DataError):
        sample_free(World(np.array([[-1.0, -1.0, 2.0, 2.0]])), 0, 5, max_batches=3)


@pytest.mark.parametrize("n_walls", [1, 2])
def test_narrow_passage_gaps_open_and_walls_separate(n_walls):
    for seed in range(25):
        npw = narrow_passage(seed, n_walls=n_walls, n_gaps=(1, 2))
        assert isinstance(npw, NarrowPassage)
        ax = npw.axis

        def crossing(lo, hi, t, eps=0.01):
            a, b = np.zeros((len(t), 2)), np.zeros((len(t), 2))
            a[:, ax], b[:, ax] = lo - eps, hi + eps
            a[:, 1 - ax] = b[:, 1 - ax] = t
            return npw.world.segment_free(a, b)

        for (lo, hi), gaps in zip(npw.walls, npw.gaps):
            assert np.all(gaps[:, 1] - gaps[:, 0] >= 0.02 - 1e-12)
            assert crossing(lo, hi, gaps.mean(axis=1)).all()  # through every gap centre: free
            t = np.linspace(0, 1, 2001)
            blocked = ~np.any((t[:, None] > gaps[:, 0]) & (t[:, None] < gaps[:, 1]), axis=1)
            assert not crossing(lo, hi, t[blocked]).any()  # everywhere else: blocked
            assert not crossing(lo, hi, gaps.ravel()).any()  # along a gap edge: touching = collision
        # free points inside a wall slab lie strictly inside a gap
        p = np.random.default_rng(seed).random((4000, 2))
        for (lo, hi), gaps in zip(npw.walls, npw.gaps):
            q = p.copy()
            q[:, ax] = lo + (hi - lo) * p[:, ax]
            free = npw.world.point_free(q)
            in_gap = np.any((q[:, None, 1 - ax] > gaps[:, 0]) & (q[:, None, 1 - ax] < gaps[:, 1]), axis=1)
            assert np.array_equal(free, in_gap)


def test_narrow_passage_deterministic_and_configurable():
    a, b = narrow_passage(11, n_walls=2, n_gaps=2), narrow_passage(11, n_walls=2, n_gaps=2)
    assert a.world == b.world and a.axis == b.axis and np.array_equal(a.walls, b.walls)
    assert narrow_passage(12, n_walls=2, n_gaps=2).world != a.world
    assert all(len(g) == 2 for g in a.gaps) and a.gap_centres().shape == (4, 2)
    assert narrow_passage(0, axis=1).axis == 1
    w = narrow_passage(3, gap_width=(0.03, 0.03), n_gaps=1)
    assert w.gaps[0][0, 1] - w.gaps[0][0, 0] == pytest.approx(0.03)
    with pytest.raises(ConfigError):
        narrow_passage(0, n_walls=3)
    with pytest.raises(ConfigError):
        narrow_passage(0, n_gaps=3)
    with pytest.raises(ConfigError):
        narrow_passage(0, gap_width=(0.5, 0.6), n_gaps=2)


@pytest.mark.parametrize("n_walls", [1, 2])
def test_narrow_passage_start_goal_on_opposite_sides(n_walls):
    for seed in range(10):
        npw = narrow_passage(seed, n_walls=n_walls)
        start, goal = npw.sample_start_goal(seed, 50)
        assert npw.world.point_free(start).all() and npw.world.point_free(goal).all()
        rs, rg = npw.region(start), npw.region(goal)
        assert np.all(np.sort(np.stack([rs, rg]), axis=0) == np.array([[0], [n_walls]]))
        assert 0 < np.sum(rs == 0) < 50  # shuffled
        s2, g2 = npw.sample_start_goal(seed, 50)
        assert np.array_equal(start, s2) and np.array_equal(goal, g2)
        # the straight line start-goal is free only if it happens to pass through gaps
        centre = npw.gap_centres()
        assert npw.world.path_free(np.array([centre[0] - 0.001 * np.eye(2)[npw.axis], centre[0]]))


# --------------------------------------------------------------------------------------------------------------
# planar arm


def test_forward_kinematics_closed_form():
    arm = PlanarArm(link_lengths=(0.125, 0.25, 0.0625, 0.125), base=(0.25, 0.5))
    pos = arm.forward_kinematics(np.zeros(4))
    expected = np.array([[0.25, 0.5], [0.375, 0.5], [0.625, 0.5], [0.6875, 0.5], [0.8125, 0.5]])
    assert pos.shape == (5, 2) and np.array_equal(pos, expected)
    pos = arm.forward_kinematics(np.array([[0.0, np.pi / 2, 0.0, 0.0]]))  # right angle at joint 1
    assert pos.shape == (1, 5, 2)
    np.testing.assert_allclose(pos[0], [[0.25, 0.5], [0.375, 0.5], [0.375, 0.75], [0.375, 0.8125], [0.375, 0.9375]],
                               atol=1e-15)
    rng = np.random.default_rng(0)
    q = rng.uniform(-np.pi, np.pi, size=(20, 4))
    pos = arm.forward_kinematics(q)
    for n in range(20):
        p, th = np.array([0.25, 0.5]), 0.0
        for i in range(4):
            th += q[n, i]
            p = p + arm.link_lengths[i] * np.array([math.cos(th), math.sin(th)])
            np.testing.assert_allclose(pos[n, i + 1], p, atol=1e-14)


def test_arm_validation():
    with pytest.raises(ConfigError):
        PlanarArm(link_lengths=(0.1, 0.1, 0.1))
    with pytest.raises(ConfigError):
        PlanarArm(link_lengths=(0.3, 0.3, 0.2, 0.2))
    with pytest.raises(ConfigError):
        PlanarArm(base=(1.5, 0.5))
    with pytest.raises(DataError):
        PlanarArm().forward_kinematics(np.zeros((2, 5)))


def test_config_free_hand_made_obstacles():
    arm = PlanarArm(link_lengths=(0.125, 0.125, 0.125, 0.0625), base=(0.25, 0.5))  # q = 0: y = 0.5, x in [.25,.6875]
    q0 = np.zeros(4)
    assert arm.config_free(World(np.zeros((0, 4))), q0)
    assert not arm.config_free(World(np.array([[0.5, 0.4375, 0.5625, 0.5625]])), q0)  # across link 2
    assert not arm.config_free(World(np.array([[0.4, 0.5, 0.45, 0.6]])), q0)  # touches link 1 from above
    assert arm.config_free(World(np.array([[0.4, 0.5 + TINY, 0.45, 0.6]])), q0)  # just above
    below_tip = World(np.array([[0.6, 0.4, 0.65, 0.45]]))
    assert arm.config_free(below_tip, q0)
    assert not arm.config_free(below_tip, np.array([0, 0, 0, -np.pi / 2]))  # last link bent down into it
    batch = np.stack([q0, np.array([np.pi / 2, 0, 0, 0]), np.array([4.0, 0, 0, 0])])
    got = arm.config_free(World(np.array([[0.5, 0.4375, 0.5625, 0.5625]])), batch)
    assert got.tolist() == [False, True, False]  # 4 rad is outside [-pi, pi]


def test_config_free_leaving_the_square():
    arm = PlanarArm(link_lengths=(0.25, 0.25, 0.125, 0.125), base=(0.5, 0.5))
    free = World(np.zeros((0, 4)))
    assert arm.config_free(free, np.array([np.pi / 2, -np.pi / 2, np.pi / 2, 0.0]))
    assert not arm.config_free(free, np.zeros(4))  # tip at x = 1.25


def test_self_collision():
    arm = PlanarArm(link_lengths=(0.2, 0.1, 0.1, 0.15), base=(0.5, 0.5))
    q = np.array([0.0, np.pi / 2, np.pi / 2, np.pi / 2])  # link 3 comes down through link 0
    free = World(np.zeros((0, 4)))
    assert arm.self_collision(q)
    assert not arm.config_free(free, q)
    assert arm.config_free(free, q, self_collision=False)
    assert not arm.self_collision(np.array([0.0, np.pi / 2, np.pi / 2, 0.0]))  # link 3 points away
    assert arm.self_collision(np.stack([q, np.zeros(4)])).tolist() == [True, False]


def test_scalar_config_check_agrees_with_vectorised():
    aw = arm_world(5)
    rng = np.random.default_rng(0)
    extra = [aw.witness[None], np.zeros((1, 4)), np.full((1, 4), np.pi), np.array([[np.pi + 1e-9, 0, 0, 0]])]
    q = np.concatenate([rng.uniform(-np.pi, np.pi, (1500, 4)), aw.sample_configs(0, 100, threading=True), *extra])
    for sc in (True, False):
        vec = aw.arm.config_free(aw.world, q, self_collision=sc)
        assert vec.tolist() == [aw.arm.is_config_free(aw.world, x, self_collision=sc) for x in q]
        assert 0.1 < vec.mean() < 0.9
    arm = PlanarArm(link_lengths=(0.2, 0.1, 0.1, 0.15), base=(0.5, 0.5))
    assert not arm.is_config_free(World(np.zeros((0, 4))), [0.0, np.pi / 2, np.pi / 2, np.pi / 2])
    assert arm.is_config_free(World(np.zeros((0, 4))), [0.0, np.pi / 2, np.pi / 2, np.pi / 2], self_collision=False)


def test_motion_free_interpolates():
    arm = PlanarArm(link_lengths=(0.125, 0.125, 0.125, 0.0625), base=(0.5, 0.5))
    up, down = np.array([np.pi / 2, 0, 0, 0]), np.array([-np.pi / 2, 0, 0, 0])
    right_block = World(np.array([[0.75, 0.45, 0.8, 0.55]]))  # only hit when the arm points along +x
    assert arm.config_free(right_block, up) and arm.config_free(right_block, down)
    assert not arm.motion_free(right_block, up, down)  # sweeps through +x
    left = np.array([np.pi, 0, 0, 0])
    assert arm.motion_free(right_block, up, np.array([np.pi - 1e-9, 0, 0, 0]))  # sweeps the other way round
    batch = arm.motion_free(right_block, np.stack([up, up, left]), np.stack([down, up, left * 0.99]))
    assert batch.tolist() == [False, True, True]
    with pytest.raises(ConfigError):
        arm.motion_free(right_block, up, down, resolution=0.0)


def test_arm_world_witness_threads_the_slot():
    for seed in range(10):
        aw = arm_world(seed)
        assert aw.arm.config_free(aw.world, aw.witness)
        assert aw.beyond_wall(aw.witness)
        assert aw.world.point_free(aw.arm.base[None]).all()
        q = aw.sample_configs(seed, 20, threading=True)
        assert aw.arm.config_free(aw.world, q).all() and aw.beyond_wall(q).all()
        # any free configuration with the tip beyond the wall passes the slot: its links cross the wall's
        # mid-plane only at lateral offsets inside the slot
        pos = aw.arm.forward_kinematics(q)
        u, v = aw.direction, np.array([-aw.direction[1], aw.direction[0]])
        along, lat = (pos - aw.arm.base) @ u, (pos - aw.arm.base) @ v
        mid = 0.5 * sum(aw.wall)
        for n in range(len(q)):
            for i in range(aw.arm.n_joints):
                if (along[n, i] - mid) * (along[n, i + 1] - mid) < 0:
                    s = (mid - along[n, i]) / (along[n, i + 1] - along[n, i])
                    x = lat[n, i] + s * (lat[n, i + 1] - lat[n, i])
                    assert aw.slot[0] < x < aw.slot[1]
    assert arm_world(4).world == arm_world(4).world
    uniform = arm_world(0).sample_configs(1, 50)
    assert uniform.shape == (50, 4) and arm_world(0).arm.config_free(arm_world(0).world, uniform).all()


# --------------------------------------------------------------------------------------------------------------
# serialisation


def test_world_array_round_trip_is_exact():
    world = random_rectangles(9, n_obstacles=6)
    assert World.from_array(world.to_array()) == world
    padded = world.to_array(pad_to=10)
    assert padded.shape == (10, 4) and np.isnan(padded[6:]).all()
    back = World.from_array(padded)
    assert back == world and back.obstacles.tobytes() == world.obstacles.tobytes()
    worlds = [world, narrow_passage(1, n_walls=2).world, World(np.zeros((0, 4)))]
    buf = io.BytesIO()
    np.savez(buf, worlds=stack_worlds(worlds), arm=PlanarArm().to_array())
    buf.seek(0)
    data = np.load(buf)
    assert unstack_worlds(data["worlds"]) == worlds
    assert PlanarArm.from_array(data["arm"]) == PlanarArm()
    with pytest.raises(DataError):
        World.from_array(np.array([[0.1, np.nan, 0.2, 0.3]]))
    with pytest.raises(ConfigError):
        world.to_array(pad_to=2)


def test_world_rejects_bad_obstacles():
    with pytest.raises(DataError):
        World(np.array([[0.5, 0.1, 0.4, 0.2]]))
    with pytest.raises(DataError):
        World(np.array([[0.1, 0.1, 0.4]]))
    with pytest.raises(DataError):
        World(np.array([[0.1, 0.1, np.inf, 0.2]]))
    w = World(np.array([[0.1, 0.1, 0.2, 0.2]]))
    with pytest.raises(ValueError):
        w.obstacles[0, 0] = 0.0  # read-only
