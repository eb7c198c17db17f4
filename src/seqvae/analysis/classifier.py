"""Judge classifiers: how recognisable are reconstructions and samples, and what is augmentation worth?

A classifier trained on real examples scores originals, a model's reconstructions and its samples; the
ratio of accuracies says how much of what makes an example recognisable the model keeps. The
augmentation study trains the same classifier on a few labelled examples per class, with and without
model-generated neighbours of each, over several seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC


def image_classifier(seed: int = 0) -> Any:
    """An RBF support-vector classifier on standardised pixels (fit/predict, scikit-learn style)."""
    return make_pipeline(StandardScaler(), SVC(C=10.0, gamma="scale", random_state=seed))


def _flat(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, dtype=np.float64).reshape(len(images), -1)


def fit_classifier(images: np.ndarray, labels: np.ndarray, seed: int = 0) -> Any:
    """``image_classifier`` fitted on ``images`` ``(N, H, W)`` and their labels."""
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if len(np.unique(labels)) < 2:
        raise ValueError("a classifier needs at least two classes")
    return image_classifier(seed).fit(_flat(images), np.asarray(labels))


def accuracy(classifier: Any, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``images`` the classifier labels correctly."""
    return float(np.mean(classifier.predict(_flat(images)) == np.asarray(labels)))


def few_labels(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``per_class`` randomly chosen examples of every class (sorted)."""
    labels = np.asarray(labels)
    picks = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise ValueError(f"class {c} has {len(members)} examples, fewer than {per_class}")
        picks.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(picks))


Augmenter = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def augmentation_study(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    augment: Augmenter,
    per_class: int = 10,
    seeds: int = 5,
) -> dict[str, Any]:
    """Test accuracy of the classifier trained on ``per_class`` labelled examples per class, alone and with
    ``augment(indices, seed) -> (images, labels)`` added (e.g. VAE neighbourhood samples of those examples),
    for seeds 0..seeds-1; returns the per-seed accuracies, their mean and std, and the mean gain."""
    base, augmented = [], []
    for seed in range(seeds):
        idx = few_labels(train_labels, per_class, np.random.default_rng(seed))
        x, y = train_images[idx], np.asarray(train_labels)[idx]
        base.append(accuracy(fit_classifier(x, y, seed), test_images, test_labels))
        extra_x, extra_y = augment(idx, seed)
        both = fit_classifier(np.concatenate([x, extra_x]), np.concatenate([y, extra_y]), seed)
        augmented.append(accuracy(both, test_images, test_labels))
    gain = np.array(augmented) - np.array(base)
    return {
        "per_class": per_class,
        "seeds": seeds,
        "baseline": base,
        "augmented": augmented,
        "baseline_mean": float(np.mean(base)),
        "baseline_std": float(np.std(base)),
        "augmented_mean": float(np.mean(augmented)),
        "augmented_std": float(np.std(augmented)),
        "gain_mean": float(gain.mean()),
        "gain_std": float(gain.std()),
    }
