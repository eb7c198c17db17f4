"""Distribution distances used by the experiments, against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqvae.analysis.metrics import (
    class_histogram,
    marginal_wasserstein,
    sliced_wasserstein,
    total_variation,
    wasserstein_1d,
)


def test_total_variation_closed_forms() -> None:
    assert total_variation([1, 0, 0], [0, 0, 1]) == 1.0  # disjoint supports
    assert total_variation([2, 4, 6], [1, 2, 3]) == 0.0  # counts are normalised first
    assert total_variation([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(0.0, 10.0), min_size=2, max_size=8).filter(lambda v: sum(v) > 1e-3),
    st.integers(0, 2**31 - 1),
)
def test_total_variation_is_a_bounded_symmetric_distance(p: list[float], seed: int) -> None:
    q = np.random.default_rng(seed).random(len(p)) + 1e-3
    d = total_variation(p, q)
    assert 0.0 <= d <= 1.0
    assert d == pytest.approx(total_variation(q, p), abs=1e-12)
    assert total_variation(p, p) == pytest.approx(0.0, abs=1e-12)
    # equals the largest difference in probability any set of bins can show
    pn, qn = np.asarray(p) / sum(p), q / q.sum()
    assert d == pytest.approx(float(np.clip(pn - qn, 0, None).sum()), abs=1e-12)


def test_total_variation_refuses_bad_histograms() -> None:
    with pytest.raises(ValueError, match="different numbers of bins"):
        total_variation([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="negative"):
        total_variation([1, -1], [1, 1])
    with pytest.raises(ValueError, match="sums to zero"):
        total_variation([0, 0], [1, 1])
    with pytest.raises(ValueError, match="NaN"):
        total_variation([np.nan, 1], [1, 1])


def test_class_histogram_from_onehots_probabilities_and_indices() -> None:
    onehot = np.eye(4)[[0, 2, 2, 3]]
    np.testing.assert_array_equal(class_histogram(onehot), [1, 0, 2, 1])
    np.testing.assert_array_equal(class_histogram(np.array([0, 2, 2, 3]), classes=4), [1, 0, 2, 1])
    probs = np.array([[0.5, 0.5, 0, 0], [0, 0.25, 0.75, 0]])
    np.testing.assert_allclose(class_histogram(probs, normalize=True), [0.25, 0.375, 0.375, 0.0])
    with pytest.raises(ValueError, match="need the number of classes"):
        class_histogram(np.array([0, 1]))
    with pytest.raises(ValueError, match=r"lie in \[0, 3\)"):
        class_histogram(np.array([0, 3]), classes=3)
    with pytest.raises(ValueError, match="expected 5 classes"):
        class_histogram(onehot, classes=5)


def test_wasserstein_1d_closed_forms() -> None:
    x = np.random.default_rng(0).normal(size=500)
    assert wasserstein_1d(x, x + 0.7) == pytest.approx(0.7)  # a shift moves every unit of mass 0.7
    assert wasserstein_1d([0.0], [3.0]) == pytest.approx(3.0)
    # between point masses at 0 and 1 with weights (1/2, 1/2) and (1/4, 3/4): 1/4 of the mass moves 1
    assert wasserstein_1d([0, 1], [0, 1, 1, 1]) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="NaN"):
        wasserstein_1d([np.nan], [0.0])
    with pytest.raises(ValueError, match="1-D"):
        wasserstein_1d(np.zeros((3, 2)), np.zeros(3))


def test_marginal_and_sliced_wasserstein() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(400, 2))
    shifted = a + np.array([1.0, -2.0])
    np.testing.assert_allclose(marginal_wasserstein(a, shifted), [1.0, 2.0])
    # a translation t moves every projection on unit v by |t.v|; E|t.v| over directions in 2-D is 2|t|/pi
    sliced = sliced_wasserstein(a, shifted, n_projections=4000, seed=3)
    assert sliced == pytest.approx(2 * np.hypot(1.0, 2.0) / np.pi, rel=0.03)
    assert sliced_wasserstein(a, shifted, 16, seed=5) == sliced_wasserstein(a, shifted, 16, seed=5)
    # one dimension: the sliced distance is the plain one
    assert sliced_wasserstein(a[:, 0], shifted[:, 0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="different dimensions"):
        marginal_wasserstein(a, a[:, :1])
