"""The three-point shot simulator: closed-form flight, energy, contacts, shot statistics, court geometry."""

from __future__ import annotations

import numpy as np
import pytest

from seqvae.domains.basketball import data as bb


def _shots(n: int = 1200, seed: int = 0):
    return bb.simulate_shots(n=n, seed=seed)


@pytest.fixture(scope="module")
def shots():
    return _shots()


def test_drag_free_flight_is_the_closed_form_parabola():
    rng = np.random.default_rng(3)
    p0 = np.column_stack([rng.uniform(3, 9, 20), rng.uniform(-7, 7, 20), rng.uniform(2.0, 2.6, 20)])
    v0 = np.column_stack([rng.uniform(-8, -5, 20), rng.uniform(-1, 1, 20), rng.uniform(5, 8, 20)])
    flights = bb.simulate_flights(p0, v0, drag=0.0, contacts=False)
    for p, v, traj in zip(p0, v0, flights.trajectories):
        t = np.arange(len(traj))[:, None] / bb.FRAME_RATE
        expected = p + v * t + 0.5 * np.array([0.0, 0.0, -bb.GRAVITY]) * t**2
        np.testing.assert_allclose(traj, expected, rtol=0, atol=1e-6)
        assert len(traj) > 20


def test_release_speed_matches_the_closed_form_and_hits_the_target_with_drag():
    d, h, a = np.array([7.5, 8.5]), np.array([2.3, 2.5]), np.radians([48.0, 52.0])
    v = bb.release_speed(d, h, a, drag=0.0)
    # closed form: tan(a) d - g d^2 / (2 v^2 cos^2 a) = H - h
    rise = d * np.tan(a) - bb.GRAVITY * d**2 / (2 * v**2 * np.cos(a) ** 2)
    np.testing.assert_allclose(rise, bb.RIM_HEIGHT - h, atol=1e-9)
    v_drag = bb.release_speed(d, h, a)
    assert np.all(v_drag > v)  # drag costs speed
    reach = bb._range_at_height(v_drag, h, a, bb.DRAG_K, bb.RIM_HEIGHT, 0.0005)
    np.testing.assert_allclose(reach, d, atol=1e-3)


def test_energy_never_increases_with_drag_and_contacts(shots):
    sequences, labels = shots
    rng = np.random.default_rng(0)
    n = 300
    xy = bb.sample_release_points(n, rng)
    h = np.full(n, 2.35)
    angle = np.radians(np.full(n, 50.0))
    speed = bb.release_speed(np.hypot(xy[:, 0], xy[:, 1]), h, angle) * (1 + 0.02 * rng.standard_normal(n))
    heading = np.arctan2(-xy[:, 1], -xy[:, 0])
    v0 = np.column_stack([speed * np.cos(angle) * np.cos(heading), speed * np.cos(angle) * np.sin(heading), speed * np.sin(angle)])
    flights = bb.simulate_flights(np.column_stack([xy, h]), v0)
    assert (flights.contacts > 0).mean() > 0.3  # the rule is exercised through contacts, not only in flight
    for energy in flights.energy:
        assert np.all(np.diff(energy) <= 1e-9)
    free = bb.simulate_flights(np.column_stack([xy, h]), v0, contacts=False)
    assert all(np.all(np.diff(e) < 0) for e in free.energy)  # drag removes energy on every frame


def test_contacts_reverse_the_normal_velocity_with_restitution():
    # a ball falling straight onto the top of the ring's front point
    top = bb.RIM_RADIUS + bb.RIM_TUBE
    depth = 1e-4
    p = np.array([[top, 0.0, bb.RIM_HEIGHT + bb.BALL_RADIUS + bb.RIM_TUBE - depth]])
    v = np.array([[0.0, 0.0, -3.0]])
    p2, v2, hit = bb.resolve_contacts(p, v)
    assert hit[0]
    np.testing.assert_allclose(p2[0, 2] - p[0, 2], depth, rtol=1e-9)  # pushed out of the ring
    # the bounce keeps restitution x the normal speed, less the kinetic energy that pays for the push up
    bounce = np.sqrt((3.0 * bb.RIM_CONTACT.restitution) ** 2 - 2 * bb.GRAVITY * depth)
    np.testing.assert_allclose(v2[0], [0.0, 0.0, bounce], atol=1e-9)
    # a ball flying into the backboard's face, away from the ring
    p = np.array([[bb.BACKBOARD_X + bb.BALL_RADIUS - 1e-3, 0.7, 3.6]])
    v = np.array([[-4.0, 1.0, 0.5]])
    _, v2, hit = bb.resolve_contacts(p, v)
    assert hit[0]
    f, e = bb.BACKBOARD_CONTACT.friction, bb.BACKBOARD_CONTACT.restitution
    np.testing.assert_allclose(v2[0], [4.0 * e, 1.0 * f, 0.5 * f], atol=1e-12)
    # a ball moving away from a surface it touches is left alone
    _, v3, _ = bb.resolve_contacts(p, -v)
    np.testing.assert_array_equal(v3, -v)


@pytest.mark.parametrize("seed", [0, 1])
def test_make_rate_is_realistic(seed):
    _, labels = _shots(1000, seed) if seed else _shots()
    assert 0.25 <= labels["made"].mean() <= 0.50
    assert 0.2 < labels["rim_contact"].mean() < 0.95  # misses off the rim and makes both happen


def test_every_shot_starts_behind_the_line_on_the_court(shots):
    sequences, labels = shots
    start = np.stack([s[0] for s in sequences])
    np.testing.assert_allclose(start[:, 0], labels["start_x"], atol=1e-6)
    np.testing.assert_allclose(start[:, 1], labels["start_y"], atol=1e-6)
    np.testing.assert_allclose(labels["distance"], np.hypot(start[:, 0], start[:, 1]), rtol=1e-5)
    assert bb.three_point_distance(start[:, 0], start[:, 1]).min() >= 0.05 - 1e-6
    assert start[:, 0].min() > bb.BASELINE_X and np.abs(start[:, 1]).max() < bb.SIDELINE_Y
    corners = start[:, 0] < bb.CORNER_X
    assert 0.15 < corners.mean() < 0.35  # the whole line is used, corners included
    assert start[:, 1].min() < -6.7 and start[:, 1].max() > 6.7


def test_trajectories_end_by_the_documented_rule(shots):
    sequences, labels = shots
    lengths = np.array([len(s) for s in sequences])
    np.testing.assert_array_equal(lengths, labels["length"])
    assert len(np.unique(lengths)) > 15  # variable lengths
    assert 30 <= np.median(lengths) <= 70  # about 1.2 to 2.8 s at 25 Hz
    for seq in sequences[:200]:
        assert bb.flight_end(seq.astype(np.float64)) == len(seq) - 1
    made = labels["made"] == 1
    # a made shot passes down through the ring: some frame near the rim plane sits inside it
    for seq in [s for s, m in zip(sequences, made) if m][:100]:
        rho = np.hypot(seq[:, 0], seq[:, 1])
        near_plane = np.abs(seq[:, 2] - bb.RIM_HEIGHT) < 0.35
        assert np.any(near_plane & (rho < bb.RIM_RADIUS))


def test_same_seed_same_shots_and_bad_parameters_are_refused():
    a, la = bb.simulate_shots(n=50, seed=7)
    b, lb = bb.simulate_shots(n=50, seed=7)
    c, _ = bb.simulate_shots(n=50, seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert all(np.array_equal(la[k], lb[k]) for k in la)
    assert not np.array_equal(a[0][:5], c[0][:5])
    with pytest.raises(ValueError, match="corner_fraction"):
        bb.simulate_shots(n=5, corner_fraction=1.5)
    with pytest.raises(ValueError, match="behind"):
        bb.simulate_shots(n=5, behind=(-0.5, 0.3))
