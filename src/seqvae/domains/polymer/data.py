"""A 2-D bead-spring polymer (the dmol.pub VAE chapter's example): force field, Langevin dynamics, alignment.

Units: reduced Lennard-Jones units throughout: lengths in ``sigma``, energies in ``epsilon``, masses in the
bead mass ``m``, temperature as ``k_B T / epsilon`` (``k_B = 1``) and time in ``sigma * sqrt(m / epsilon)``.

Force field for a chain of ``n_beads`` beads ``r_0 .. r_{n-1}`` in the plane:

* harmonic bonds between consecutive beads, ``U = BOND_K / 2 * (|r_{i+1} - r_i| - BOND_R0)^2`` with
  ``BOND_K = 100 epsilon / sigma^2`` and ``BOND_R0 = 1 sigma`` (bond-length fluctuations ~ 0.1 sigma at T = 1);
* harmonic angles at every interior bead, ``U = ANGLE_K / 2 * (theta_i - ANGLE_THETA0)^2`` with
  ``ANGLE_K = 2 epsilon / rad^2`` and ``ANGLE_THETA0 = pi`` (straight), where ``theta_i`` in ``[0, pi]`` is the
  angle between ``r_{i-1} - r_i`` and ``r_{i+1} - r_i``; a semiflexible chain (persistence length about
  ``2 ANGLE_K / T = 4`` bonds at T = 1), so 12 beads fold into varied shapes. With ``theta0 = pi`` the term is
  ``ANGLE_K / 2 * phi_i^2`` in the signed turning angle ``phi_i = atan2(b_{i-1} x b_i, b_{i-1} . b_i)`` and is
  smooth everywhere;
* full (untruncated) Lennard-Jones ``4 eps ((sigma/r)^12 - (sigma/r)^6)`` with ``LJ_EPSILON = LJ_SIGMA = 1``
  between non-bonded beads ``|i - j| > 2``.

Arrays: a configuration is ``(n_beads, 2)``; batches are ``(N, n_beads, 2)`` and every function accepts either,
returning a scalar-shaped result for a single configuration. ``forces`` and ``potential_energy`` share one
implementation, so they cannot disagree.

Dynamics: BAOAB Langevin splitting (Leimkuhler & Matthews 2013) with friction ``gamma``; ``gamma = 0`` makes the
O step the identity and the scheme plain velocity Verlet.

Alignment (invariance to translation and rotation, not to reflection): centre on the centre of mass (equal
masses), rotate so the gyration tensor's major axis lies along ``x``; the sign of that axis is fixed so the third
moment (skewness) of the bead coordinates along it is positive (ties: the first bead with a non-zero coordinate
along it is positive), and the minor axis is the major one turned by +90 degrees, so the map is always a proper
rotation (det +1). Configurations with an isotropic gyration tensor or zero skewness have no unique frame.
"""

from __future__ import annotations

import functools
import math
import time as _time
from typing import Any

import numpy as np

from seqvae.data.sources import register_data_kind

BOND_K = 100.0  # epsilon / sigma^2
BOND_R0 = 1.0  # sigma
ANGLE_K = 2.0  # epsilon / rad^2
ANGLE_THETA0 = math.pi  # rad
LJ_EPSILON = 1.0
LJ_SIGMA = 1.0
LJ_MIN_SEPARATION = 3  # Lennard-Jones acts between beads with |i - j| >= 3


def _as_batch(x: np.ndarray) -> tuple[np.ndarray, bool]:
    """Return ``x`` as a float64 ``(N, n_beads, 2)`` batch and whether the input was a single configuration."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x, single = x[None], True
    elif x.ndim == 3:
        single = False
    else:
        raise ValueError(f"expected shape (n_beads, 2) or (N, n_beads, 2), got {x.shape}")
    if x.shape[-1] != 2 or x.shape[-2] < 2:
        raise ValueError(f"expected at least 2 beads in 2-D, got shape {x.shape}")
    return x, single


@functools.lru_cache(maxsize=16)
def _lj_mask(n_beads: int) -> np.ndarray:
    """Boolean ``(n_beads, n_beads)`` mask of the Lennard-Jones pairs, ``|i - j| >= LJ_MIN_SEPARATION``."""
    k = np.arange(n_beads)
    return np.abs(k[:, None] - k[None, :]) >= LJ_MIN_SEPARATION


def _turning_angles(b1: np.ndarray, b2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signed turning angles between consecutive bond vectors, with their cross and dot products."""
    cross = b1[..., 0] * b2[..., 1] - b1[..., 1] * b2[..., 0]
    dot = np.sum(b1 * b2, axis=-1)
    return np.arctan2(cross, dot), cross, dot


def _energy_and_forces(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Potential energy ``(N,)`` and forces ``(N, n_beads, 2)`` of a float64 batch ``(N, n_beads, 2)``.

    Written on separate x and y components to keep the per-step numpy overhead small.
    """
    n_beads = x.shape[1]
    px, py = x[..., 0], x[..., 1]
    gx = np.zeros_like(px)
    gy = np.zeros_like(py)
    # bonds
    bx, by = px[:, 1:] - px[:, :-1], py[:, 1:] - py[:, :-1]
    length = np.sqrt(bx * bx + by * by)
    stretch = length - BOND_R0
    energy = (0.5 * BOND_K) * (stretch * stretch).sum(axis=1)
    c = BOND_K * stretch / length  # dU/db = c * b
    gx[:, 1:] += c * bx
    gx[:, :-1] -= c * bx
    gy[:, 1:] += c * by
    gy[:, :-1] -= c * by
    # angles: theta = pi - |phi|, U = k/2 (pi - |phi| - theta0)^2, phi = atan2(cross, dot)
    if n_beads >= 3:
        b1x, b1y, b2x, b2y = bx[:, :-1], by[:, :-1], bx[:, 1:], by[:, 1:]
        cross = b1x * b2y - b1y * b2x
        dot = b1x * b2x + b1y * b2y
        phi = np.arctan2(cross, dot)
        dev = (math.pi - ANGLE_THETA0) - np.abs(phi)
        energy += (0.5 * ANGLE_K) * (dev * dev).sum(axis=1)
        du_dphi = -ANGLE_K * dev * np.sign(phi)
        a = du_dphi / (cross * cross + dot * dot)
        ad, ac = a * dot, a * cross
        # dphi/db = (dot * dcross/db - cross * ddot/db) / (cross^2 + dot^2)
        g1x, g1y = ad * b2y - ac * b2x, -ad * b2x - ac * b2y  # dU/db1
        g2x, g2y = -ad * b1y - ac * b1x, ad * b1x - ac * b1y  # dU/db2
        # b1 = r_i - r_{i-1}, b2 = r_{i+1} - r_i for interior bead i
        gx[:, 1:-1] += g1x - g2x
        gy[:, 1:-1] += g1y - g2y
        gx[:, :-2] -= g1x
        gy[:, :-2] -= g1y
        gx[:, 2:] += g2x
        gy[:, 2:] += g2y
    # Lennard-Jones, on the dense (n, n) pair grid (cheaper than scatter-adds for short chains)
    mask = _lj_mask(n_beads)
    if mask.any():
        dx = px[:, None, :] - px[:, :, None]  # dx[:, i, j] = x_j - x_i
        dy = py[:, None, :] - py[:, :, None]
        r2 = np.where(mask, dx * dx + dy * dy, 1.0)
        s6 = (LJ_SIGMA * LJ_SIGMA / r2) ** 3
        s6 = np.where(mask, s6, 0.0)
        energy += (2.0 * LJ_EPSILON) * (s6 * s6 - s6).sum(axis=(1, 2))  # each pair counted twice
        # for the pair (i, j): dU/dr_j = (dU/dr / r) d_ij with dU/dr / r = -24 eps (2 s12 - s6) / r^2
        coef = (-24.0 * LJ_EPSILON) * (2.0 * s6 * s6 - s6) / r2
        gx -= (coef * dx).sum(axis=2)
        gy -= (coef * dy).sum(axis=2)
    return energy, -np.stack([gx, gy], axis=-1)


def potential_energy(x: np.ndarray) -> float | np.ndarray:
    """Total potential energy (epsilon) of a configuration ``(n_beads, 2)`` or a batch ``(N, n_beads, 2)``."""
    xb, single = _as_batch(x)
    energy, _ = _energy_and_forces(xb)
    return float(energy[0]) if single else energy


def forces(x: np.ndarray) -> np.ndarray:
    """Forces ``-grad U`` (epsilon / sigma) on every bead, the same shape as ``x``."""
    xb, single = _as_batch(x)
    _, f = _energy_and_forces(xb)
    return f[0] if single else f


def bond_lengths(x: np.ndarray) -> np.ndarray:
    """Lengths of the ``n_beads - 1`` bonds, shape ``(..., n_beads - 1)``."""
    xb, single = _as_batch(x)
    out = np.linalg.norm(xb[:, 1:] - xb[:, :-1], axis=-1)
    return out[0] if single else out


def bond_angles(x: np.ndarray) -> np.ndarray:
    """Bond angles (radians, in ``[0, pi]``, ``pi`` = straight) at the interior beads, ``(..., n_beads - 2)``."""
    xb, single = _as_batch(x)
    b = xb[:, 1:] - xb[:, :-1]
    phi, _, _ = _turning_angles(b[:, :-1], b[:, 1:])
    out = math.pi - np.abs(phi)
    return out[0] if single else out


def radius_of_gyration(x: np.ndarray) -> float | np.ndarray:
    """Radius of gyration (sigma) with equal bead masses, a float or ``(N,)``."""
    xb, single = _as_batch(x)
    c = xb - xb.mean(axis=1, keepdims=True)
    out = np.sqrt(np.mean(np.sum(c * c, axis=-1), axis=1))
    return float(out[0]) if single else out


def pairwise_distances(x: np.ndarray) -> np.ndarray:
    """Distances between all bead pairs ``i < j`` (upper triangle, row-major), ``(..., n(n-1)/2)``."""
    xb, single = _as_batch(x)
    i, j = np.triu_indices(xb.shape[1], k=1)
    out = np.linalg.norm(xb[:, j] - xb[:, i], axis=-1)
    return out[0] if single else out


PROPERTY_UNITS = {  # the observables of :func:`structure_properties` and their reduced units
    "pairwise_distance": "sigma",
    "bond_length": "sigma",
    "bond_angle": "rad",
    "radius_of_gyration": "sigma",
    "potential_energy": "epsilon",
}


def structure_properties(x: np.ndarray) -> dict[str, np.ndarray]:
    """The observables generated structures are judged by, for a batch ``(N, n_beads, 2)``: every pairwise
    distance ``(N, n(n-1)/2)``, bond lengths ``(N, n-1)``, bond angles ``(N, n-2)``, radius of gyration and
    potential energy ``(N,)`` (keys and units in :data:`PROPERTY_UNITS`)."""
    xb, _ = _as_batch(x)
    return {
        "pairwise_distance": pairwise_distances(xb),
        "bond_length": bond_lengths(xb),
        "bond_angle": bond_angles(xb),
        "radius_of_gyration": radius_of_gyration(xb),
        "potential_energy": potential_energy(xb),
    }


def initial_chain(n_beads: int = 12, zigzag: float = 0.1) -> np.ndarray:
    """A slightly zig-zag chain along ``x`` with every bond at ``BOND_R0`` (``zigzag``: half-angle, rad)."""
    if n_beads < 2:
        raise ValueError(f"n_beads must be at least 2, got {n_beads}")
    k = np.arange(n_beads)
    x = k * BOND_R0 * math.cos(zigzag)
    y = np.where(k % 2 == 0, 0.0, BOND_R0 * math.sin(zigzag))
    return np.stack([x, y], axis=1)


def simulate_polymer(
    n_frames: int = 2000,
    n_beads: int = 12,
    temperature: float = 1.0,
    dt: float = 0.005,
    friction: float = 1.0,
    stride: int = 50,
    equilibration: int = 5000,
    mass: float = 1.0,
    seed: int = 0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """BAOAB Langevin dynamics from a zig-zag chain: ``(n_frames, n_beads, 2)`` positions and per-frame info.

    ``info`` holds ``kinetic_energy``, ``potential_energy`` and ``time`` (reduced units, from the start of
    recording) for every frame, plus ``wall_seconds``. Velocities start Maxwell-Boltzmann at ``temperature``.
    """
    if n_frames < 1 or stride < 1 or equilibration < 0:
        raise ValueError("n_frames and stride must be positive and equilibration non-negative")
    if n_beads < 2:
        raise ValueError(f"n_beads must be at least 2, got {n_beads}")
    if temperature < 0 or dt <= 0 or friction < 0 or mass <= 0:
        raise ValueError("temperature and friction must be non-negative; dt and mass positive")
    t0 = _time.perf_counter()
    rng = np.random.default_rng(seed)
    x = initial_chain(n_beads)[None]
    v = rng.normal(0.0, math.sqrt(temperature / mass), size=x.shape)
    _, f = _energy_and_forces(x)
    c1 = math.exp(-friction * dt)
    c2 = math.sqrt(max(0.0, 1.0 - c1 * c1)) * math.sqrt(temperature / mass)
    noisy = friction > 0 and c2 > 0
    half = 0.5 * dt
    frames = np.empty((n_frames, n_beads, 2))
    kinetic = np.empty(n_frames)
    potential = np.empty(n_frames)
    total = equilibration + n_frames * stride
    record = 0
    for step in range(1, total + 1):
        v += (half / mass) * f  # B
        x += half * v  # A
        if noisy:  # O
            v *= c1
            v += c2 * rng.standard_normal(v.shape)
        x += half * v  # A
        u, f = _energy_and_forces(x)
        v += (half / mass) * f  # B
        if step > equilibration and (step - equilibration) % stride == 0:
            frames[record] = x[0]
            kinetic[record] = 0.5 * mass * np.sum(v * v)
            potential[record] = u[0]
            record += 1
    info = {
        "kinetic_energy": kinetic,
        "potential_energy": potential,
        "time": dt * stride * np.arange(1, n_frames + 1),
        "wall_seconds": _time.perf_counter() - t0,
    }
    return frames, info


def _major_axis(c: np.ndarray) -> np.ndarray:
    """Unit major axes ``(N, 2)`` of centred batches ``(N, n_beads, 2)``, signed by skewness (see module)."""
    sxx = np.mean(c[..., 0] ** 2, axis=1)
    syy = np.mean(c[..., 1] ** 2, axis=1)
    sxy = np.mean(c[..., 0] * c[..., 1], axis=1)
    angle = 0.5 * np.arctan2(2.0 * sxy, sxx - syy)
    e1 = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    p = np.einsum("nbk,nk->nb", c, e1)
    skew = np.sum(p**3, axis=1)
    scale = np.sum(np.abs(p) ** 3, axis=1)
    tie = np.abs(skew) <= 1e-9 * np.maximum(scale, 1e-300)
    # tie-break: the first bead with a non-negligible coordinate along the axis
    big = np.abs(p) > 1e-9 * np.maximum(np.max(np.abs(p), axis=1, keepdims=True), 1e-300)
    first = p[np.arange(len(p)), np.argmax(big, axis=1)]
    sign = np.where(tie, np.sign(first), np.sign(skew))
    sign = np.where(sign == 0, 1.0, sign)
    return e1 * sign[:, None]


def align(x: np.ndarray) -> np.ndarray:
    """Translate to the centre of mass and rotate (properly) onto the signed principal axes; same shape."""
    xb, single = _as_batch(x)
    c = xb - xb.mean(axis=1, keepdims=True)
    e1 = _major_axis(c)
    e2 = np.stack([-e1[:, 1], e1[:, 0]], axis=-1)  # +90 degrees: a proper rotation
    out = np.stack([np.einsum("nbk,nk->nb", c, e1), np.einsum("nbk,nk->nb", c, e2)], axis=-1)
    return out[0] if single else out


def align_and_flatten(frames: np.ndarray) -> np.ndarray:
    """Aligned configurations flattened to ``(N, 2 n_beads)`` as ``x_0, y_0, x_1, y_1, ...``."""
    xb, _ = _as_batch(frames)
    a = align(xb)
    return a.reshape(a.shape[0], -1)


def unflatten(v: np.ndarray) -> np.ndarray:
    """Inverse of the flattening: ``(N, 2 n_beads)`` (or ``(2 n_beads,)``) to ``(N, n_beads, 2)``."""
    v = np.asarray(v)
    if v.ndim == 1:
        v = v[None]
    if v.ndim != 2 or v.shape[1] % 2:
        raise ValueError(f"expected shape (N, 2 * n_beads), got {v.shape}")
    return v.reshape(v.shape[0], -1, 2)


@register_data_kind("polymer")
def polymer_configurations(
    n: int = 2000, n_beads: int = 12, temperature: float = 1.0, stride: int = 50, seed: int = 0
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Aligned, flattened polymer frames ``(n, 2 n_beads)`` float32 with labels ``frame`` (index), ``time``
    (reduced units), radius of gyration and potential energy."""
    frames, info = simulate_polymer(n_frames=n, n_beads=n_beads, temperature=temperature, stride=stride, seed=seed)
    values = align_and_flatten(frames).astype(np.float32)
    labels = {
        "frame": np.arange(n, dtype=np.int64),
        "time": info["time"].astype(np.float32),
        "radius_of_gyration": np.asarray(radius_of_gyration(frames), dtype=np.float32),
        "potential_energy": info["potential_energy"].astype(np.float32),
    }
    return values, labels
