"""Tests for the 2-D bead-spring polymer: force field, Langevin dynamics and alignment."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqvae.domains.polymer import data as P


def _random_chain(rng: np.random.Generator, n_beads: int = 12) -> np.ndarray:
    """A random-walk chain with bonds near r0 and turning angles up to 60 degrees (no overlaps)."""
    angles = np.cumsum(rng.uniform(-math.pi / 3, math.pi / 3, size=n_beads - 1))
    lengths = rng.uniform(0.9, 1.1, size=n_beads - 1)
    steps = lengths[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    x = np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])
    assert P.pairwise_distances(x).min() > 0.7
    return x + rng.normal(size=2)


def _rotation(angle: float) -> np.ndarray:
    return np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])


def test_forces_match_finite_difference_gradient():
    rng = np.random.default_rng(1)
    batch = np.stack([_random_chain(rng) for _ in range(4)])
    f = P.forces(batch)
    assert f.shape == batch.shape
    h = 1e-6
    num = np.zeros_like(batch)
    for b in range(batch.shape[1]):
        for k in range(2):
            plus, minus = batch.copy(), batch.copy()
            plus[:, b, k] += h
            minus[:, b, k] -= h
            num[:, b, k] = -(P.potential_energy(plus) - P.potential_energy(minus)) / (2 * h)
    rel = np.linalg.norm(f - num, axis=(1, 2)) / np.linalg.norm(f, axis=(1, 2))
    assert np.all(rel < 1e-5), rel
    # single configuration agrees with the batch
    np.testing.assert_allclose(P.forces(batch[0]), f[0])
    assert isinstance(P.potential_energy(batch[0]), float)


def test_forces_sum_to_zero_and_torque_free():
    x = _random_chain(np.random.default_rng(2))
    f = P.forces(x)
    np.testing.assert_allclose(f.sum(axis=0), 0.0, atol=1e-9)
    c = x - x.mean(axis=0)
    assert abs(np.sum(c[:, 0] * f[:, 1] - c[:, 1] * f[:, 0])) < 1e-9


def test_straight_chain_energy_is_lennard_jones_only():
    n = 5
    x = np.stack([np.arange(n, dtype=float), np.zeros(n)], axis=1)  # bonds at r0, all angles pi

    def lj(r: float) -> float:
        return 4.0 * (r**-12 - r**-6)

    # pairs with |i - j| > 2: (0,3), (1,4) at r = 3 and (0,4) at r = 4
    expected = 2 * lj(3.0) + lj(4.0)
    assert P.potential_energy(x) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(P.bond_lengths(x), 1.0)
    np.testing.assert_allclose(P.bond_angles(x), math.pi)
    # a bent chain adds exactly the harmonic angle term (3 beads: no Lennard-Jones pairs)
    bent = np.array([[-1.0, 0.0], [0.0, 0.0], [math.cos(1.0), math.sin(1.0)]])
    assert P.bond_angles(bent)[0] == pytest.approx(math.pi - 1.0)
    assert P.potential_energy(bent) == pytest.approx(0.5 * P.ANGLE_K * 1.0**2)
    # a stretched dimer: only the bond term
    dimer = np.array([[0.0, 0.0], [1.2, 0.0]])
    assert P.potential_energy(dimer) == pytest.approx(0.5 * P.BOND_K * 0.2**2)


def test_geometry_helpers_shapes():
    rng = np.random.default_rng(3)
    batch = np.stack([_random_chain(rng) for _ in range(3)])
    assert P.bond_lengths(batch).shape == (3, 11)
    assert P.bond_angles(batch).shape == (3, 10)
    assert P.pairwise_distances(batch).shape == (3, 66)
    rg = P.radius_of_gyration(batch)
    c = batch - batch.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(rg, np.sqrt((c**2).sum(axis=2).mean(axis=1)))
    with pytest.raises(ValueError):
        P.forces(np.zeros((12, 3)))


def test_velocity_verlet_conserves_energy():
    frames, info = P.simulate_polymer(
        n_frames=500, dt=0.002, friction=0.0, stride=20, equilibration=0, seed=4
    )
    total = info["kinetic_energy"] + info["potential_energy"]
    scale = 0.5 * 2 * 12 * 1.0  # the kinetic energy scale n_dof T / 2
    drift = np.max(np.abs(total - total[0])) / max(abs(total[0]), scale)
    assert drift < 0.01, drift
    assert np.all(np.isfinite(frames))


def test_langevin_kinetic_temperature():
    temperature = 1.5
    _, info = P.simulate_polymer(
        n_frames=2000, temperature=temperature, dt=0.005, friction=10.0, stride=5, equilibration=1000, seed=5
    )
    kinetic_t = 2.0 * info["kinetic_energy"].mean() / (2 * 12)
    assert abs(kinetic_t / temperature - 1.0) < 0.05, kinetic_t


def test_simulation_is_deterministic_and_bonds_near_rest_length():
    a, ia = P.simulate_polymer(n_frames=50, stride=20, equilibration=500, seed=6)
    b, ib = P.simulate_polymer(n_frames=50, stride=20, equilibration=500, seed=6)
    c, _ = P.simulate_polymer(n_frames=50, stride=20, equilibration=500, seed=7)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ia["potential_energy"], ib["potential_energy"])
    assert not np.allclose(a, c)
    assert a.shape == (50, 12, 2) and a.dtype == np.float64
    assert abs(P.bond_lengths(a).mean() - P.BOND_R0) < 0.05 * P.BOND_R0
    np.testing.assert_allclose(np.diff(ia["time"]), 20 * 0.005)
    with pytest.raises(ValueError):
        P.simulate_polymer(n_frames=0)


def test_alignment_invariant_to_rotation_and_translation():
    rng = np.random.default_rng(8)
    for _ in range(5):
        x = _random_chain(rng)
        ref = P.align_and_flatten(x[None])[0]
        copies = np.stack([x @ _rotation(rng.uniform(0, 2 * math.pi)).T + rng.normal(0, 5, size=2)
                           for _ in range(8)])
        np.testing.assert_allclose(P.align_and_flatten(copies), np.broadcast_to(ref, (8, 24)), atol=1e-6)


def test_aligned_frame_properties():
    rng = np.random.default_rng(9)
    batch = np.stack([_random_chain(rng) for _ in range(10)])
    a = P.align(batch)
    np.testing.assert_allclose(a.mean(axis=1), 0.0, atol=1e-12)
    sxx, syy = (a[..., 0] ** 2).mean(axis=1), (a[..., 1] ** 2).mean(axis=1)
    sxy = (a[..., 0] * a[..., 1]).mean(axis=1)
    np.testing.assert_allclose(sxy, 0.0, atol=1e-10)
    assert np.all(sxx > syy)
    assert np.all((a[..., 0] ** 3).sum(axis=1) > 0)  # the sign convention
    np.testing.assert_allclose(P.align(a), a, atol=1e-12)  # idempotent
    # a proper rigid motion: distances kept, and the least-squares map from input to output is a rotation
    np.testing.assert_allclose(P.pairwise_distances(a), P.pairwise_distances(batch), atol=1e-12)
    for x, y in zip(batch, a):
        c = x - x.mean(axis=0)
        r, *_ = np.linalg.lstsq(c, y, rcond=None)
        np.testing.assert_allclose(r.T @ r, np.eye(2), atol=1e-10)
        assert np.linalg.det(r) == pytest.approx(1.0)
    # a mirror image is not mapped onto the original (no reflection invariance)
    mirrored = batch * np.array([1.0, -1.0])
    assert not np.allclose(P.align(mirrored), a, atol=1e-3)


def test_flatten_round_trip():
    rng = np.random.default_rng(10)
    batch = np.stack([_random_chain(rng) for _ in range(3)])
    flat = P.align_and_flatten(batch)
    assert flat.shape == (3, 24)
    np.testing.assert_array_equal(P.unflatten(flat), P.align(batch))
    assert P.unflatten(flat[0]).shape == (1, 12, 2)
    with pytest.raises(ValueError):
        P.unflatten(np.zeros((2, 5)))


def test_polymer_configurations_generator():
    values, labels = P.polymer_configurations(n=40, stride=10, seed=11)
    assert values.shape == (40, 24) and values.dtype == np.float32
    assert labels["frame"].dtype == np.int64
    np.testing.assert_array_equal(labels["frame"], np.arange(40))
    np.testing.assert_allclose(labels["time"], 10 * 0.005 * np.arange(1, 41), rtol=1e-6)
    assert labels["radius_of_gyration"].dtype == np.float32
    assert labels["potential_energy"].dtype == np.float32
    rg = P.radius_of_gyration(P.unflatten(values.astype(np.float64)))
    np.testing.assert_allclose(rg, labels["radius_of_gyration"], rtol=1e-5)


def test_polymer_config_builds_the_chapters_model_on_aligned_frames():
    from seqvae.data.sources import generate
    from seqvae.models import build_model
    from seqvae.runconfig import load_run_config

    cfg = load_run_config("polymer")
    model = build_model(cfg.model, 24)
    linears = [m for m in model.encoder.modules() if m.__class__.__name__ == "Linear"]
    assert model.latent_dim == 2 and [m.out_features for m in linears[:4]] == [256] * 4
    values, labels = generate("polymer", {"n": 20, "stride": 10}, seed=0)
    assert values.shape == (20, 24) and len(labels["time"]) == 20
    frames = values.reshape(20, 12, 2).astype(np.float64)
    np.testing.assert_allclose(frames.mean(axis=1), 0.0, atol=1e-5)  # centred on the centre of mass
