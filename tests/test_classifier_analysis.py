"""analysis/classifier.py: the judge classifier and the few-label augmentation study."""

from __future__ import annotations

import numpy as np
import pytest

from seqvae.analysis.classifier import accuracy, augmentation_study, few_labels, fit_classifier


def _blobs(n: int, rng: np.random.Generator, noise: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """Three classes of 6x6 'images': a bright bar in a class-specific row, plus pixel noise."""
    labels = rng.integers(0, 3, n)
    images = rng.normal(0, noise, (n, 6, 6))
    for i, c in enumerate(labels):
        images[i, 1 + 2 * c, :] += 2.0
    return images, labels


def test_classifier_learns_separable_classes_and_not_noise():
    rng = np.random.default_rng(0)
    x, y = _blobs(300, rng)
    tx, ty = _blobs(300, rng)
    clf = fit_classifier(x, y)
    assert accuracy(clf, tx, ty) > 0.95
    shuffled = fit_classifier(x, rng.permutation(y))
    assert accuracy(shuffled, tx, ty) < 0.6
    with pytest.raises(ValueError, match="labels"):
        fit_classifier(x, y[:-1])


def test_few_labels_takes_exactly_k_per_class():
    labels = np.repeat(np.arange(4), 30)
    idx = few_labels(labels, 5, np.random.default_rng(1))
    assert np.array_equal(np.bincount(labels[idx]), [5, 5, 5, 5])
    assert len(np.unique(idx)) == 20
    with pytest.raises(ValueError, match="fewer than"):
        few_labels(labels, 31, np.random.default_rng(1))


def test_augmentation_with_true_neighbours_helps_and_with_wrong_labels_hurts():
    rng = np.random.default_rng(2)
    x, y = _blobs(600, rng, noise=1.2)
    tx, ty = _blobs(600, rng, noise=1.2)

    def neighbours(idx: np.ndarray, seed: int, wrong: bool = False):
        r = np.random.default_rng(100 + seed)
        reps = 10
        base = np.repeat(x[idx], reps, axis=0)
        labels = np.repeat(y[idx], reps)
        fresh = base * 0.0
        for i, c in enumerate(labels):  # fresh draws of the same class, like a good generative model's
            fresh[i] = r.normal(0, 1.2, (6, 6))
            fresh[i, 1 + 2 * c, :] += 2.0
        return fresh, (labels + 1) % 3 if wrong else labels

    good = augmentation_study(x, y, tx, ty, neighbours, per_class=2, seeds=5)
    bad = augmentation_study(x, y, tx, ty, lambda i, s: neighbours(i, s, wrong=True), per_class=2, seeds=5)
    assert good["baseline"] == bad["baseline"]  # same labelled subsets and classifier per seed
    assert good["gain_mean"] > 0.05
    assert bad["augmented_mean"] < bad["baseline_mean"]
    assert len(good["augmented"]) == 5 and good["augmented_mean"] == pytest.approx(np.mean(good["augmented"]))
