"""Three-point shots: a physical shot simulator and a reader for SportVU-style tracking data.

Units and frame (shared by the simulator, the reader and the figures): **metres**, right-handed, with
the origin on the floor directly below the centre of the rim, ``x`` pointing from the basket towards
half court, ``y`` along the baseline and ``z`` up. The rim is at ``z = 3.05``; the baseline at
``x = -1.60``; the three-point line is an arc of radius 7.24 m about the origin that becomes two straight
corner lines at ``|y| = 6.71`` where it would come closer to the sidelines. Trajectories are ball-centre
positions at 25 Hz, from release until the ball falls below ``end_height`` on its way down (or leaves
the basket area after reaching it).

The simulator flies the ball under gravity and quadratic air drag and resolves contacts with the rim
(a torus) and the backboard (a rectangle) with restitution and tangential friction, on a 1 ms step.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from seqvae.config import DataConfig
from seqvae.data.readers import SequenceTable, open_parquet, read_csv_columns
from seqvae.data.sources import register_data_kind, single_path
from seqvae.errors import DataError

# --------------------------------------------------------------------------- court and ball (metres, kg)

FEET = 0.3048  # metres per foot
FRAME_RATE = 25.0  # tracking frames per second
GRAVITY = 9.81
RIM_HEIGHT = 3.05
RIM_RADIUS = 0.2286  # inner radius of the ring (18 in diameter)
RIM_TUBE = 0.008  # radius of the ring's rod
BALL_RADIUS = 0.1193  # size 7 ball, 29.5 in circumference
BALL_MASS = 0.62
BACKBOARD_X = -0.381  # face of the backboard: 15 in behind the rim centre
BACKBOARD_HALF_WIDTH = 0.915
BACKBOARD_BOTTOM = 2.90
BACKBOARD_TOP = 3.97
BASELINE_X = -1.60  # the rim centre is 63 in from the baseline
SIDELINE_Y = 7.62  # half of the 50 ft court width
HALF_COURT_X = 14.33 - 1.60  # 47 ft from the baseline
ARC_RADIUS = 7.24
CORNER_Y = 6.71
CORNER_X = math.sqrt(ARC_RADIUS**2 - CORNER_Y**2)  # where the corner lines meet the arc (about 2.72)
ARC_HALF_ANGLE = math.atan2(CORNER_Y, CORNER_X)  # about 68 degrees either side of the x axis
# drag deceleration = DRAG_K * |v| * v with DRAG_K = rho * C_d * A / (2 m)
AIR_DENSITY = 1.2
DRAG_COEFFICIENT = 0.47
DRAG_K = AIR_DENSITY * DRAG_COEFFICIENT * math.pi * BALL_RADIUS**2 / (2 * BALL_MASS)

FEATURES = ("x", "y", "z")
LABEL_UNITS = {  # the units of simulate_shots' and read_sportvu's labels
    "start_x": "m", "start_y": "m", "distance": "m", "release_height": "m", "release_speed": "m/s",
    "release_angle": "degrees", "length": "frames at 25 Hz",
}


def three_point_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Signed distance (m) of floor points behind the three-point line (positive) or in front of it.

    Behind the corner lines means ``|y| > 6.71``; behind the arc means farther than 7.24 m from the rim.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    corner = x < CORNER_X
    return np.where(corner, np.abs(y) - CORNER_Y, np.hypot(x, y) - ARC_RADIUS)


def three_point_line(points: int = 200) -> np.ndarray:
    """The three-point line as an ``(points, 2)`` polyline from the left baseline corner to the right one."""
    angles = np.linspace(-ARC_HALF_ANGLE, ARC_HALF_ANGLE, max(points - 4, 2))
    arc = ARC_RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    left = np.array([[BASELINE_X, -CORNER_Y], [CORNER_X, -CORNER_Y]])
    right = np.array([[CORNER_X, CORNER_Y], [BASELINE_X, CORNER_Y]])
    return np.concatenate([left, arc, right])


# --------------------------------------------------------------------------- flight


def _acceleration(v: np.ndarray, drag: float) -> np.ndarray:
    acc = -drag * np.linalg.norm(v, axis=-1, keepdims=True) * v
    acc[..., 2] -= GRAVITY
    return acc


def flight_step(p: np.ndarray, v: np.ndarray, dt: float, drag: float = DRAG_K) -> tuple[np.ndarray, np.ndarray]:
    """One step of free flight: explicit midpoint velocity update, trapezoidal position update.

    Exact for a constant acceleration (``drag = 0`` gives the closed-form parabola to rounding), and
    it never adds mechanical energy: without drag the step conserves ``|v|^2 / 2 + g z`` exactly, and
    drag only removes energy.
    """
    v_mid = v + 0.5 * dt * _acceleration(v, drag)
    v_new = v + dt * _acceleration(v_mid, drag)
    return p + 0.5 * dt * (v + v_new), v_new


def specific_energy(p: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Mechanical energy per unit mass (J/kg): ``|v|^2 / 2 + g z``."""
    return 0.5 * np.sum(np.asarray(v) ** 2, axis=-1) + GRAVITY * np.asarray(p)[..., 2]


def release_speed(
    distance: np.ndarray,
    height: np.ndarray,
    angle: np.ndarray,
    drag: float = DRAG_K,
    target_height: float = RIM_HEIGHT,
    dt: float = 0.002,
    iterations: int = 8,
) -> np.ndarray:
    """Release speed (m/s) that carries the ball from ``height`` at elevation ``angle`` (radians) to
    ``target_height`` on the way down at horizontal ``distance`` (m), vectorised over shots.

    Starts from the drag-free closed form and refines by the secant method on the simulated range.
    """
    distance, height, angle = np.broadcast_arrays(
        np.asarray(distance, np.float64), np.asarray(height, np.float64), np.asarray(angle, np.float64)
    )
    rise = distance * np.tan(angle) - (target_height - height)
    if np.any(rise <= 0):
        raise ValueError("a release angle is too flat to reach the target height at that distance")
    v0 = np.sqrt(GRAVITY * distance**2 / (2 * np.cos(angle) ** 2 * rise))
    if drag == 0:
        return v0
    v1 = v0 * 1.02
    r0 = _range_at_height(v0, height, angle, drag, target_height, dt) - distance
    for _ in range(iterations):
        r1 = _range_at_height(v1, height, angle, drag, target_height, dt) - distance
        slope = (r1 - r0) / np.where(v1 == v0, 1.0, v1 - v0)
        step = np.where(np.abs(slope) > 1e-9, r1 / np.where(slope == 0, 1.0, slope), 0.0)
        v0, r0, v1 = v1, r1, v1 - np.clip(step, -2.0, 2.0)
        if np.max(np.abs(r1)) < 1e-9:
            break
    return v1


def _range_at_height(speed, height, angle, drag, target, dt) -> np.ndarray:
    """Horizontal range where a shot in its vertical plane descends through ``target`` (interpolated
    within the step)."""
    n = speed.size
    p = np.zeros((n, 3))
    p[:, 2] = height.ravel()
    v = np.zeros((n, 3))
    v[:, 0] = (speed * np.cos(angle)).ravel()
    v[:, 2] = (speed * np.sin(angle)).ravel()
    reach = np.zeros(n)
    open_ = np.ones(n, dtype=bool)
    for _ in range(int(6.0 / dt)):
        p_new, v_new = flight_step(p, v, dt, drag)
        down = (v_new[:, 2] < 0) & (p_new[:, 2] < target)
        crossed = open_ & down & (p[:, 2] >= target)
        frac = (p[:, 2] - target) / np.maximum(p[:, 2] - p_new[:, 2], 1e-12)
        reach = np.where(crossed, p[:, 0] + frac * (p_new[:, 0] - p[:, 0]), reach)
        open_ &= ~down
        p, v = p_new, v_new
        if not open_.any():
            break
    return reach.reshape(speed.shape)


# --------------------------------------------------------------------------- contacts


@dataclass(frozen=True)
class Contact:
    """Restitution (normal velocity kept, reversed) and friction (tangential velocity kept) of a contact."""

    restitution: float
    friction: float


CONTACT_ZONE = 0.3  # margin (m) around ring and board inside which contacts are checked
RIM_CONTACT = Contact(restitution=0.55, friction=0.85)
BACKBOARD_CONTACT = Contact(restitution=0.70, friction=0.85)


def _bounce(v: np.ndarray, normal: np.ndarray, hit: np.ndarray, contact: Contact) -> np.ndarray:
    """Velocities after contact for rows ``hit`` moving into the surface with unit ``normal``."""
    vn = np.sum(v * normal, axis=1, keepdims=True)
    hit = hit & (vn[:, 0] < 0)
    tangential = v - vn * normal
    after = contact.friction * tangential - contact.restitution * vn * normal
    return np.where(hit[:, None], after, v)


def _push_out(p: np.ndarray, v: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move balls out of a surface by ``shift``; any height gained is paid for from kinetic energy, so a
    contact never adds mechanical energy."""
    rise = np.maximum(shift[:, 2], 0.0)
    speed2 = np.sum(v * v, axis=1)
    keep = np.sqrt(np.clip(1.0 - 2 * GRAVITY * rise / np.maximum(speed2, 1e-12), 0.0, 1.0))
    return p + shift, v * keep[:, None]


def resolve_contacts(p: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rim and backboard contacts of balls at ``p`` moving at ``v`` (arrays ``(N, 3)``).

    Returns new positions, new velocities and a boolean mask of the balls that touched something.
    """
    # rim: the ring is a torus of major radius RIM_RADIUS + RIM_TUBE about the vertical axis at z = RIM_HEIGHT
    q = p.copy()
    q[:, 2] -= RIM_HEIGHT
    rho = np.hypot(q[:, 0], q[:, 1])
    safe = np.maximum(rho, 1e-12)[:, None]
    ring = np.zeros_like(q)
    ring[:, :2] = q[:, :2] / safe * (RIM_RADIUS + RIM_TUBE)
    d = q - ring
    dist = np.linalg.norm(d, axis=1)
    reach = BALL_RADIUS + RIM_TUBE
    rim_hit = (dist < reach) & (rho > 1e-9)
    normal = d / np.maximum(dist, 1e-12)[:, None]
    v = _bounce(v, normal, rim_hit, RIM_CONTACT)
    p, v = _push_out(p, v, np.where(rim_hit[:, None], normal * (reach - dist)[:, None], 0.0))
    # backboard: the front face, for balls in front of it within its rectangle
    depth = BACKBOARD_X + BALL_RADIUS - p[:, 0]
    board_hit = (
        (depth > 0)
        & (p[:, 0] > BACKBOARD_X - BALL_RADIUS)
        & (np.abs(p[:, 1]) < BACKBOARD_HALF_WIDTH)
        & (p[:, 2] > BACKBOARD_BOTTOM)
        & (p[:, 2] < BACKBOARD_TOP)
    )
    face = np.zeros_like(p)
    face[:, 0] = 1.0
    v = _bounce(v, face, board_hit, BACKBOARD_CONTACT)
    shift = np.zeros_like(p)
    shift[:, 0] = np.where(board_hit, depth, 0.0)
    p, v = _push_out(p, v, shift)
    return p, v, rim_hit | board_hit


# --------------------------------------------------------------------------- shots


@dataclass
class Flights:
    """Simulated trajectories (frames at ``FRAME_RATE``) and what happened in each."""

    trajectories: list[np.ndarray]  # (T_i, 3) ball centre positions, metres
    made: np.ndarray  # bool: the ball went down through the ring
    contacts: np.ndarray  # int: steps in contact with the rim or backboard
    energy: list[np.ndarray]  # (T_i,) mechanical energy per unit mass at each frame


def simulate_flights(
    p0: np.ndarray,
    v0: np.ndarray,
    *,
    drag: float = DRAG_K,
    contacts: bool = True,
    dt: float = 0.001,
    frame_rate: float = FRAME_RATE,
    end_height: float = 2.0,
    basket_radius: float = 2.5,
    max_time: float = 4.0,
) -> Flights:
    """Fly balls released at ``p0`` with velocity ``v0`` (``(N, 3)``) and record them at ``frame_rate``.

    A trajectory ends at the first frame where the ball is falling and below ``end_height``, where it is
    farther than ``basket_radius`` (horizontally) from the rim after having come within it, or at
    ``max_time``. A shot is made when the ball centre passes down through the plane of the ring inside it.
    """
    p = np.array(p0, dtype=np.float64, copy=True).reshape(-1, 3)
    v = np.array(v0, dtype=np.float64, copy=True).reshape(-1, 3)
    n = len(p)
    sub = int(round(1.0 / (frame_rate * dt)))
    if sub < 1 or not math.isclose(sub * dt * frame_rate, 1.0, rel_tol=1e-9):
        raise ValueError(f"dt={dt} must divide the frame period 1/{frame_rate}")
    frames = [p.copy()]
    energies = [specific_energy(p, v)]
    active = np.ones(n, dtype=bool)
    ends = np.full(n, -1)
    made = np.zeros(n, dtype=bool)
    touched = np.zeros(n, dtype=np.int64)
    near = np.hypot(p[:, 0], p[:, 1]) < basket_radius
    max_frames = int(round(max_time * frame_rate))
    for frame in range(1, max_frames + 1):
        idx = np.flatnonzero(active)
        pa, va = p[idx], v[idx]
        for _ in range(sub):
            p_new, v_new = flight_step(pa, va, dt, drag)
            if contacts:
                # only balls within reach of the ring or the board can touch them
                close = np.flatnonzero(
                    (p_new[:, 0] < RIM_RADIUS + RIM_TUBE + BALL_RADIUS + CONTACT_ZONE)
                    & (np.abs(p_new[:, 1]) < BACKBOARD_HALF_WIDTH + CONTACT_ZONE)
                    & (np.abs(p_new[:, 2] - RIM_HEIGHT) < BACKBOARD_TOP - RIM_HEIGHT + CONTACT_ZONE)
                )
                if len(close):
                    pc, vc, hit = resolve_contacts(p_new[close], v_new[close])
                    p_new[close], v_new[close] = pc, vc
                    touched[idx[close]] += hit
            through = (pa[:, 2] >= RIM_HEIGHT) & (p_new[:, 2] < RIM_HEIGHT)
            made[idx[through & (np.hypot(p_new[:, 0], p_new[:, 1]) < RIM_RADIUS)]] = True
            pa, va = p_new, v_new
        p[idx], v[idx] = pa, va
        frames.append(p.copy())
        energies.append(specific_energy(p, v))
        horizontal = np.hypot(p[:, 0], p[:, 1])
        left = near & (horizontal > basket_radius)
        near |= horizontal < basket_radius
        done = active & (((v[:, 2] < 0) & (p[:, 2] < end_height)) | left | (frame == max_frames))
        ends[done] = frame
        active &= ~done
        if not active.any():
            break
    ends[ends < 0] = len(frames) - 1
    stack = np.stack(frames, axis=1)
    estack = np.stack(energies, axis=1)
    return Flights(
        trajectories=[stack[i, : ends[i] + 1] for i in range(n)],
        made=made,
        contacts=touched,
        energy=[estack[i, : ends[i] + 1] for i in range(n)],
    )


def sample_release_points(
    n: int, rng: np.random.Generator, corner_fraction: float = 0.25, behind: tuple[float, float] = (0.05, 0.45)
) -> np.ndarray:
    """Floor points ``(n, 2)`` on or behind the three-point line: a fraction in the two corners, the rest
    uniform in angle along the arc; the distance behind the line is ``behind[0]`` plus an exponential with
    mean ``behind[1]`` (capped at 2 m, and 15 cm inside the sidelines)."""
    corner = rng.random(n) < corner_fraction
    side = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    back = behind[0] + np.minimum(rng.exponential(behind[1], n), 2.0)
    angle = rng.uniform(-ARC_HALF_ANGLE, ARC_HALF_ANGLE, n)
    # behind the arc, but inside the sidelines where the arc comes close to them
    radius = np.minimum(ARC_RADIUS + back, (SIDELINE_Y - 0.15) / np.maximum(np.abs(np.sin(angle)), 1e-9))
    arc_xy = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    cx = rng.uniform(BASELINE_X + 0.3, CORNER_X, n)
    cy = side * np.minimum(CORNER_Y + back, SIDELINE_Y - 0.15)
    corner_xy = np.stack([cx, cy], axis=1)
    return np.where(corner[:, None], corner_xy, arc_xy)


@register_data_kind("basketball")
def simulate_shots(
    n: int = 3000,
    corner_fraction: float = 0.25,
    behind: tuple[float, float] = (0.05, 0.45),
    release_height: tuple[float, float] = (2.35, 0.10),
    release_angle: tuple[float, float] = (50.0, 3.0),
    angle_error: float = 0.8,
    speed_error: float = 0.012,
    aim_error: float = 0.9,
    drag: bool = True,
    end_height: float = 2.0,
    basket_radius: float = 2.5,
    max_time: float = 4.0,
    seed: int = 0,
) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Simulate ``n`` three-point attempts; returns ``(T_i, 3)`` trajectories (metres, 25 Hz) and labels.

    Each shooter stands on or behind the line (:func:`sample_release_points`), releases at a height
    ``N(release_height)`` (mean, sd in m) and an intended elevation ``N(release_angle)`` (degrees), at
    the speed that would put the ball through the centre of the ring with drag. The shot then carries
    execution errors: elevation ``N(0, angle_error)`` degrees, speed relative ``N(0, speed_error)``, and
    direction ``N(0, aim_error)`` degrees. Labels: ``start_x``, ``start_y`` (release point, m),
    ``distance`` (from the rim centre, m), ``made`` (0/1), ``release_height`` (m), ``release_speed`` (m/s),
    ``release_angle`` (degrees), ``rim_contact`` (0/1) and ``length`` (frames).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0.0 <= corner_fraction <= 1.0:
        raise ValueError(f"corner_fraction must be in [0, 1], got {corner_fraction}")
    if min(angle_error, speed_error, aim_error, release_height[1], release_angle[1], behind[1]) < 0:
        raise ValueError("standard deviations must be >= 0")
    if behind[0] < 0:
        raise ValueError(f"behind[0] must be >= 0 (shots start behind the line), got {behind[0]}")
    rng = np.random.default_rng(seed)
    xy = sample_release_points(n, rng, corner_fraction, behind)
    height = np.clip(rng.normal(*release_height, n), 1.8, 3.0)
    intended = np.radians(np.clip(rng.normal(*release_angle, n), 35.0, 65.0))
    k = DRAG_K if drag else 0.0
    distance = np.hypot(xy[:, 0], xy[:, 1])
    speed = release_speed(distance, height, intended, k) * (1.0 + speed_error * rng.standard_normal(n))
    angle = intended + np.radians(angle_error) * rng.standard_normal(n)
    heading = np.arctan2(-xy[:, 1], -xy[:, 0]) + np.radians(aim_error) * rng.standard_normal(n)
    p0 = np.column_stack([xy, height])
    v0 = np.column_stack(
        [speed * np.cos(angle) * np.cos(heading), speed * np.cos(angle) * np.sin(heading), speed * np.sin(angle)]
    )
    flights = simulate_flights(p0, v0, drag=k, end_height=end_height, basket_radius=basket_radius, max_time=max_time)
    sequences = [t.astype(np.float32) for t in flights.trajectories]
    labels = {
        "start_x": xy[:, 0],
        "start_y": xy[:, 1],
        "distance": distance,
        "made": flights.made.astype(np.int64),
        "release_height": height,
        "release_speed": speed,
        "release_angle": np.degrees(angle),
        "rim_contact": (flights.contacts > 0).astype(np.int64),
        "length": np.array([len(s) for s in sequences], dtype=np.int64),
    }
    return sequences, {key: v.astype(np.float32) if v.dtype.kind == "f" else v for key, v in labels.items()}


# --------------------------------------------------------------------------- SportVU tracking data
#
# SportVU / NBA-movement court coordinates are in feet: X in [0, 94] along the court, Y in [0, 50] across it,
# Z up; the rims are at (5.25, 25) and (88.75, 25), 10 ft high. A shot is read in the hoop frame of the basket
# it attacks (the hoop nearer to the ball at release): the right hoop's frame is the court turned 180 degrees
# about z, so both frames are right-handed and x points from the basket towards half court.

Hoop = Literal["left", "right"]
HOOPS_FT: dict[str, tuple[float, float]] = {"left": (5.25, 25.0), "right": (88.75, 25.0)}
_PERIOD = 1.0 / FRAME_RATE
_CLOCK_EPS = 1e-6  # seconds: slack for clocks parsed from decimal text
_MADE = {"1": 1, "0": 0, "true": 1, "false": 0, "made": 1, "missed": 0}
_MOMENTS_EXPECTED = "expected columns quarter (or period), game_clock, ball_x, ball_y, ball_z and optionally game_id"
_EVENTS_EXPECTED = "expected columns event_id, game_clock, made and optionally quarter (or period) and game_id"


def _hoop_sign(hoop: str) -> tuple[float, float, float]:
    """Rim (X, Y) in feet and the sign of the hoop frame's x and y axes along the court's X and Y."""
    if hoop not in HOOPS_FT:
        raise ValueError(f"hoop must be 'left' or 'right', got {hoop!r}")
    x0, y0 = HOOPS_FT[hoop]
    return x0, y0, 1.0 if hoop == "left" else -1.0


def _points(points: Any, what: str) -> np.ndarray:
    p = np.array(points, dtype=np.float64, copy=True)
    if p.ndim == 0 or p.shape[-1] not in (2, 3):
        raise ValueError(f"{what} must be an array of (x, y) or (x, y, z) points, got shape {p.shape}")
    return p


def court_to_hoop(points_ft: np.ndarray, hoop: Hoop) -> np.ndarray:
    """Court points (feet, ``(..., 3)`` or ``(..., 2)``) in the metre frame of ``hoop`` ("left" or "right").

    Left: ``x = (X - 5.25) ft, y = (Y - 25) ft``; right: ``x = (88.75 - X) ft, y = (25 - Y) ft``; ``z = Z ft``.
    """
    x0, y0, sign = _hoop_sign(hoop)
    p = _points(points_ft, "points_ft")
    p[..., 0] = sign * (p[..., 0] - x0)
    p[..., 1] = sign * (p[..., 1] - y0)
    return p * FEET


def hoop_to_court(points_m: np.ndarray, hoop: Hoop) -> np.ndarray:
    """Points in the metre frame of ``hoop`` as court points in feet: the inverse of :func:`court_to_hoop`."""
    x0, y0, sign = _hoop_sign(hoop)
    p = _points(points_m, "points_m") / FEET
    p[..., 0] = sign * p[..., 0] + x0
    p[..., 1] = sign * p[..., 1] + y0
    return p


def nearest_hoop(x_ft: float, y_ft: float) -> Hoop:
    """The hoop nearer to the court point ``(x_ft, y_ft)`` (feet); "left" at equal distance (half court)."""
    left = math.hypot(x_ft - HOOPS_FT["left"][0], y_ft - HOOPS_FT["left"][1])
    right = math.hypot(x_ft - HOOPS_FT["right"][0], y_ft - HOOPS_FT["right"][1])
    return "left" if left <= right else "right"


def flight_end(
    points: np.ndarray,
    *,
    end_height: float = 2.0,
    basket_radius: float = 2.5,
    max_time: float = 4.0,
    frame_rate: float = FRAME_RATE,
) -> int:
    """Index of the last frame of a flight ``(T, 3)`` in the hoop frame (metres), by :func:`simulate_flights`' rule.

    The flight ends (inclusive) at the first frame after the release (frame 0) where the ball is falling (``z``
    lower than the previous frame's) and below ``end_height``, or where it is farther than ``basket_radius``
    (horizontally) from the rim centre after having come within it, or at frame ``round(max_time * frame_rate)``;
    otherwise at the last frame given.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) == 0:
        raise ValueError(f"points must be a non-empty (T, 3) array, got shape {p.shape}")
    last = min(len(p) - 1, round(max_time * frame_rate))
    z = p[: last + 1, 2]
    horizontal = np.hypot(p[: last + 1, 0], p[: last + 1, 1])
    falling = (z[1:] < z[:-1]) & (z[1:] < end_height)
    been_near = np.logical_or.accumulate(horizontal < basket_radius)[:-1]  # within the radius at a frame before
    left = been_near & (horizontal[1:] > basket_radius)
    done = np.flatnonzero(falling | left)
    return int(done[0]) + 1 if done.size else last


@dataclass
class _Table:
    """The columns of a CSV or Parquet table; ``where(i)`` names data row ``i`` ("line 7", "row 6")."""

    source: str
    names: list[str]
    columns: dict[str, Any]
    rows: int
    where: Callable[[int], str]
    text: bool  # cells are strings to parse

    def find(self, *aliases: str) -> str | None:
        for alias in aliases:
            if alias in self.names:
                return alias
        lower = {name.lower(): name for name in reversed(self.names)}
        return next((lower[a] for a in aliases if a in lower), None)

    def require(self, *aliases: str, expected: str) -> str:
        name = self.find(*aliases)
        if name is None:
            wanted = " or ".join(map(repr, aliases))
            present = ", ".join(self.names) or "none"
            raise DataError(f"{self.source}: no column {wanted}; {expected}; columns present: {present}")
        return name

    def numbers(self, name: str, *, whole: bool = False) -> np.ndarray:
        col = self.columns[name]
        expected = "a whole number" if whole else "a number"
        if isinstance(col, np.ndarray) and col.dtype.kind in "fiub":
            out = col.astype(np.float64)
        else:
            out = None
            if self.text:
                try:
                    out = np.fromiter(map(float, col), dtype=np.float64, count=len(col))
                except ValueError:
                    pass  # find and name the bad cell below
            if out is None:
                out = np.empty(len(col), dtype=np.float64)
                for i, value in enumerate(col):
                    try:
                        if not self.text and not isinstance(value, (int, float, np.integer, np.floating)):
                            raise TypeError(type(value).__name__)
                        out[i] = float(value)
                    except (TypeError, ValueError, OverflowError):
                        what = "is empty" if value is None or str(value).strip() == "" else f"{value!r} is not a number"
                        raise DataError(
                            f"{self.source}: {self.where(i)}, column {name!r}: {what}, expected {expected}"
                        ) from None
        bad = np.flatnonzero(~np.isfinite(out) | (whole & (out != np.round(out))))
        if bad.size:
            i = int(bad[0])
            raise DataError(f"{self.source}: {self.where(i)}, column {name!r}: {col[i]!r} is not {expected}")
        return out

    def strings(self, name: str) -> list[str]:
        out = []
        for i, value in enumerate(self.columns[name]):
            if isinstance(value, (float, np.floating)) and float(value).is_integer():
                value = int(value)  # a numeric id column names "7", not "7.0"
            text = "" if value is None else str(value).strip()
            if not text:
                raise DataError(f"{self.source}: {self.where(i)}, column {name!r}: the value is empty")
            out.append(text)
        return out


def _read_table(path: Path, what: str) -> _Table:
    """A CSV or Parquet file as a :class:`_Table` (``what`` says what the file should hold, for messages)."""
    source = str(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return _read_parquet_table(path)
    if suffix != ".csv":
        raise DataError(f"{source}: unsupported file type {path.suffix!r} for {what}; use .csv or .parquet")
    names, columns, lines = read_csv_columns(path, what)
    if not lines:
        raise DataError(f"{source}: the file holds no data rows (expected {what})")
    return _Table(source, names, columns, len(lines), lambda i: f"line {lines[i]}", text=True)


def _read_parquet_table(path: Path) -> _Table:
    source = str(path)
    pa, table, names = open_parquet(path)
    columns: dict[str, Any] = {}
    for j, name in enumerate(names):
        col = table.column(j)
        kind = col.type
        numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
        try:
            columns[name] = col.to_numpy() if numeric and col.null_count == 0 else col.to_pylist()
        except Exception as exc:
            raise DataError(f"{source}: cannot read column {name!r} ({type(exc).__name__}: {exc})") from exc
    if table.num_rows == 0:
        raise DataError(f"{source}: the file holds no data rows")
    return _Table(source, names, columns, table.num_rows, lambda i: f"row {i + 1}", text=False)


def _game_key(game: str) -> str:
    """Game ids match whatever their leading zeros ("0021500001" written by one tool, 21500001 by another)."""
    return (game.lstrip("0") or "0") if game.isdigit() else game


@dataclass
class _Moments:
    """Ball positions (feet) per (game key, period), in time order (decreasing game clock), without duplicates."""

    groups: dict[tuple[str | None, int], tuple[np.ndarray, np.ndarray]]  # -> (clocks (n,), ball (n, 3))
    games: dict[str | None, str | None]  # game key -> the game id as the file spells it
    has_game: bool


def _group_moments(games: list[str | None], quarters: np.ndarray, clocks: np.ndarray, ball: np.ndarray) -> _Moments:
    rows: dict[tuple[str | None, int], list[int]] = {}
    names: dict[str | None, str | None] = {}
    for i, (game, quarter) in enumerate(zip(games, quarters.tolist())):
        key = _game_key(game) if game is not None else None
        names.setdefault(key, game)
        rows.setdefault((key, int(quarter)), []).append(i)
    groups = {}
    for key, idx in rows.items():
        idx = np.asarray(idx)
        _, first = np.unique(clocks[idx], return_index=True)  # first occurrence of each clock, increasing clock
        keep = idx[first][::-1]
        groups[key] = (clocks[keep], ball[keep])
    return _Moments(groups, names, has_game=any(g is not None for g in games))


def _table_moments(path: Path) -> _Moments:
    table = _read_table(path, "tracking moments")
    quarter = table.require("quarter", "period", expected=_MOMENTS_EXPECTED)
    clock = table.require("game_clock", expected=_MOMENTS_EXPECTED)
    xyz = [table.require(f"ball_{c}", expected=_MOMENTS_EXPECTED) for c in "xyz"]
    game = table.find("game_id")
    games: list[str | None] = table.strings(game) if game is not None else [None] * table.rows
    ball = np.column_stack([table.numbers(c) for c in xyz])
    return _group_moments(games, table.numbers(quarter, whole=True), table.numbers(clock), ball)


def _json_number(value: Any, where: str, what: str, whole: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (whole and value != int(value)):
        raise DataError(f"{where}: {what} is {value!r}, expected {'a whole number' if whole else 'a finite number'}")
    return float(value)


def _json_moments(path: Path) -> _Moments:
    """Moments of an NBA-movement game file (``{"gameid", "events": [{"eventId", "moments": [...]}]}``)."""
    source = str(path)
    try:
        with open(path, encoding="utf-8-sig") as fh:
            data = json.load(fh)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{source}: cannot read as JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise DataError(
            f"{source}: expected a JSON object with an 'events' list (the NBA-movement layout: "
            '{"gameid": ..., "events": [{"eventId": ..., "moments": [...]}, ...]})'
        )
    gameid = data.get("gameid")
    game = None if gameid is None or str(gameid).strip() == "" else str(gameid).strip()
    quarters: list[float] = []
    clocks: list[float] = []
    ball: list[tuple[float, float, float]] = []
    layout = "[quarter, unix_time_ms, game_clock, shot_clock, null, [[team_id, player_id, x, y, z], ...]]"
    for e, event in enumerate(data["events"]):
        if not isinstance(event, dict):
            raise DataError(f"{source}: events[{e}] is a {type(event).__name__}, expected an object")
        name = f"event {str(event.get('eventId', '?'))!r} (events[{e}])"
        moments = event.get("moments")
        if not isinstance(moments, list):
            raise DataError(f"{source}: {name}: no 'moments' list")
        for m, moment in enumerate(moments):
            where = f"{source}: {name}, moment {m}"
            if not isinstance(moment, list) or len(moment) < 6 or not isinstance(moment[5], list):
                raise DataError(f"{where}: expected {layout}, got {str(moment)[:80]}")
            entry = next((x for x in moment[5] if isinstance(x, list) and x and x[0] == -1), None)
            if entry is None:
                continue  # no ball tracked at this moment
            if len(entry) < 5:
                raise DataError(f"{where}: the ball entry {entry} has {len(entry)} values, expected [-1, -1, x, y, z]")
            quarters.append(_json_number(moment[0], where, "the quarter", whole=True))
            clocks.append(_json_number(moment[2], where, "the game clock"))
            ball.append(tuple(_json_number(entry[k], where, f"ball {c}") for k, c in zip((2, 3, 4), "xyz")))
    if not ball:
        raise DataError(f"{source}: no moment holds a ball position (an entry with team_id -1)")
    return _group_moments(
        [game] * len(ball), np.asarray(quarters), np.asarray(clocks), np.asarray(ball, dtype=np.float64)
    )


def _load_moments(path: Path) -> _Moments:
    if path.suffix.lower() == ".json":
        return _json_moments(path)
    return _table_moments(path)


@dataclass
class _Event:
    event_id: str
    where: str  # "line 5"
    clock: float
    made: int
    quarter: int | None
    game: str | None


def _made(table: _Table, name: str) -> list[int]:
    out = []
    for i, value in enumerate(table.columns[name]):
        if isinstance(value, (bool, np.bool_)):
            out.append(int(value))
            continue
        if isinstance(value, (int, float, np.integer, np.floating)) and value in (0, 1):
            out.append(int(value))
            continue
        key = str(value).strip().lower() if isinstance(value, str) else None
        if key not in _MADE:
            raise DataError(
                f"{table.source}: {table.where(i)}, column {name!r}: {value!r} is not a shot result; "
                "expected 1/0, true/false or made/missed"
            )
        out.append(_MADE[key])
    return out


def _load_events(path: Path) -> tuple[list[_Event], dict[str, bool]]:
    """Shot events, and which of the optional columns (quarter, game_id) the file has."""
    table = _read_table(path, "shot events")
    event_id = table.require("event_id", expected=_EVENTS_EXPECTED)
    clock = table.require("game_clock", expected=_EVENTS_EXPECTED)
    made = table.require("made", expected=_EVENTS_EXPECTED)
    quarter = table.find("quarter", "period")
    game = table.find("game_id")
    ids = table.strings(event_id)
    clocks = table.numbers(clock)
    results = _made(table, made)
    quarters: list[int | None] = [None] * table.rows
    if quarter is not None:
        quarters = table.numbers(quarter, whole=True).astype(np.int64).tolist()
    games = table.strings(game) if game is not None else [None] * table.rows
    events = []
    seen: dict[tuple[str | None, str], int] = {}
    for i in range(table.rows):
        key = (_game_key(games[i]) if games[i] is not None else None, ids[i])
        if key in seen:
            raise DataError(
                f"{table.source}: {table.where(i)}: event {ids[i]!r} already appears on {table.where(seen[key])}"
                + (f" (game {games[i]})" if games[i] is not None else "")
                + "; event ids must be unique within a game"
            )
        seen[key] = i
        events.append(_Event(ids[i], table.where(i), float(clocks[i]), results[i], quarters[i], games[i]))
    return events, {"quarter": quarter is not None, "game_id": game is not None}


def _event_group(
    moments: _Moments, event: _Event, columns: dict[str, bool], sources: tuple[str, str]
) -> tuple[tuple[str | None, int] | None, str]:
    """The (game, period) of ``event``'s moments, or None and why there is none."""
    keys = list(moments.groups)
    if moments.has_game and event.game is not None:
        keys = [k for k in keys if k[0] == _game_key(event.game)]
    if event.quarter is not None:
        keys = [k for k in keys if k[1] == event.quarter]
    if len(keys) == 1:
        return keys[0], ""
    if not keys:
        where = " ".join(
            part
            for part in (
                f"game {event.game}" if event.game is not None and moments.has_game else "",
                f"quarter {event.quarter}" if event.quarter is not None else "",
            )
            if part
        )
        return None, f"no moments in {where or 'its game and quarter'}"
    missing = [
        f"{column!r}" + (" (or 'period')" if column == "quarter" else "")
        for column, index in (("game_id", 0), ("quarter", 1))
        if not columns[column] and len({k[index] for k in keys}) > 1
    ]
    pairs = ", ".join(f"({moments.games[g] if g is not None else '-'}, {q})" for g, q in sorted(keys, key=str))
    raise DataError(
        f"{sources[1]}: {event.where}, event {event.event_id!r}: the moments in {sources[0]} hold {len(keys)} "
        f"(game, quarter) pairs that could contain it ({pairs}); add a column {' and '.join(missing)} to the events "
        "file to tell which"
    )


def read_sportvu(
    moments: str | Path,
    events: str | Path,
    *,
    frame: Literal["hoop", "court"] = "hoop",
    end_height: float = 2.0,
    basket_radius: float = 2.5,
    max_time: float = 4.0,
    min_length: int = 2,
) -> SequenceTable:
    """Cut shot trajectories out of SportVU / NBA-movement ball tracking, in metres at ``FRAME_RATE``.

    ``moments`` is a CSV or Parquet table (columns ``quarter`` or ``period``, ``game_clock`` in seconds left in
    the period, ``ball_x``, ``ball_y``, ``ball_z`` in court feet, optionally ``game_id``) or an NBA-movement game
    JSON (the ball is the entry with team_id -1); repeated moments (same game, period and clock) are dropped.
    ``events`` is a CSV with ``event_id``, ``game_clock`` (of the release), ``made`` (1/0, true/false, made/missed)
    and optionally ``quarter`` (or ``period``) and ``game_id``.

    A shot starts at the moment nearest the release clock (within half a frame) and runs while consecutive moments
    are at most 1.5 frames apart; it ends by :func:`flight_end`, the rule of :func:`simulate_flights`. Positions are
    in the hoop frame of the basket nearer the ball at release (``frame="hoop"``) or the court in metres
    (``frame="court"``). Events that cannot be cut, or give fewer than ``min_length`` frames, are skipped with one
    warning. Labels: ``start_x``, ``start_y`` (first frame, m, in ``frame``), ``distance`` (of the first frame from
    the attacked rim's centre, horizontally, m), ``made`` (0/1) and ``length`` (frames).
    """
    if frame not in ("hoop", "court"):
        raise DataError(f"frame must be 'hoop' or 'court', got {frame!r}")
    for name, value in (("end_height", end_height), ("basket_radius", basket_radius), ("max_time", max_time)):
        try:
            positive = math.isfinite(float(value)) and float(value) > 0
        except (TypeError, ValueError):
            positive = False
        if not positive:
            raise DataError(f"{name} must be a positive number, got {value!r}")
    if min_length < 1:
        raise DataError(f"min_length must be at least 1, got {min_length}")
    moments_path, events_path = Path(moments), Path(events)
    for path in (moments_path, events_path):
        if not path.is_file():
            raise DataError(f"{path}: {'is a directory, expected a file' if path.is_dir() else 'no such file or directory'}")
    sources = (str(moments_path), str(events_path))
    tracked = _load_moments(moments_path)
    shots, columns = _load_events(events_path)
    if not tracked.has_game:
        named = sorted({_game_key(e.game) for e in shots if e.game is not None})
        if len(named) > 1:
            raise DataError(
                f"{sources[1]}: the events name {len(named)} games ({', '.join(named)}) but the moments in "
                f"{sources[0]} have no game_id column to tell them apart"
            )
    max_frames = round(max_time * FRAME_RATE)
    sequences: list[np.ndarray] = []
    ids: list[str] = []
    labels: dict[str, list[float]] = {"start_x": [], "start_y": [], "distance": [], "made": [], "length": []}
    skipped: list[str] = []
    for event in shots:
        key, reason = _event_group(tracked, event, columns, sources)
        game = tracked.games[key[0]] if key is not None and tracked.has_game else event.game
        sid = f"{game}:{event.event_id}" if game is not None else event.event_id
        if key is None:
            skipped.append(f"{sid!r} ({reason})")
            continue
        clocks, ball = tracked.groups[key]
        start = int(np.argmin(np.abs(clocks - event.clock)))
        if abs(clocks[start] - event.clock) > 0.5 * _PERIOD + _CLOCK_EPS:
            skipped.append(
                f"{sid!r} (no moment within {0.5 * _PERIOD:g} s of its release clock {event.clock:g} in quarter "
                f"{key[1]}; the nearest is at {clocks[start]:g})"
            )
            continue
        stop = start  # the last moment before a clock gap
        while (
            stop + 1 < len(clocks)
            and stop - start < max_frames
            and clocks[stop] - clocks[stop + 1] <= 1.5 * _PERIOD + _CLOCK_EPS
        ):
            stop += 1
        hoop = nearest_hoop(ball[start, 0], ball[start, 1])
        flight = court_to_hoop(ball[start : stop + 1], hoop)
        last = flight_end(flight, end_height=end_height, basket_radius=basket_radius, max_time=max_time)
        if last + 1 < min_length:
            cause = "the end rule" if last < stop - start else "a clock gap or the end of the data"
            skipped.append(f"{sid!r} (cut to {last + 1} frame(s) by {cause}, fewer than min_length={min_length})")
            continue
        flight = flight[: last + 1]
        out = flight if frame == "hoop" else ball[start : start + last + 1] * FEET
        sequences.append(out.astype(np.float32))
        ids.append(sid)
        labels["start_x"].append(out[0, 0])
        labels["start_y"].append(out[0, 1])
        labels["distance"].append(math.hypot(flight[0, 0], flight[0, 1]))
        labels["made"].append(event.made)
        labels["length"].append(last + 1)
    if not sequences:
        raise DataError(
            f"{sources[0]}: no shot could be cut for the {len(shots)} event(s) of {sources[1]}: " + "; ".join(skipped)
        )
    if skipped:
        warnings.warn(
            f"{sources[0]}: skipped {len(skipped)} of {len(shots)} shot event(s) of {sources[1]}: "
            + "; ".join(skipped),
            UserWarning,
            stacklevel=2,
        )
    label_arrays = {
        name: np.asarray(values, dtype=np.int64 if name in ("made", "length") else np.float32)
        for name, values in labels.items()
    }
    return SequenceTable(
        sequences=sequences, ids=ids, feature_names=list(FEATURES), labels=label_arrays, source=sources[0]
    )


def _sportvu_paths(cfg: DataConfig, items: list[Path]) -> DataConfig:
    """``--data DIR`` for ``data.kind=sportvu``: a directory with ``events.csv`` and one moments file."""
    path = single_path(cfg, items)
    events = path / "events.csv"
    moments = [path / n for n in ("moments.csv", "moments.parquet") if (path / n).is_file()]
    moments += sorted(path.glob("*.json")) if path.is_dir() else []
    if not path.is_dir() or not events.is_file() or len(moments) != 1:
        raise DataError(f"{path}: data.kind=sportvu reads a directory with events.csv and exactly one moments file")
    return replace(cfg, params={**cfg.params, "moments": str(moments[0]), "events": str(events)})


@register_data_kind("sportvu", from_paths=_sportvu_paths)
def sportvu_shots(
    moments: str,
    events: str,
    frame: Literal["hoop", "court"] = "hoop",
    end_height: float = 2.0,
    basket_radius: float = 2.5,
    max_time: float = 4.0,
    seed: int = 0,
) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Shots of :func:`read_sportvu` as ``(sequences, labels)``, the layout of :func:`simulate_shots`.

    ``seed`` is accepted for the data-generator registry, which passes one to every generator; reading is
    deterministic and does not use it.
    """
    del seed
    table = read_sportvu(
        moments, events, frame=frame, end_height=end_height, basket_radius=basket_radius, max_time=max_time
    )
    return table.sequences, table.labels
