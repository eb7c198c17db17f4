"""analysis/latent.py: out-of-fold probes, the PCA sequence baseline, and sequence densities in data units."""

from __future__ import annotations

import numpy as np
import pytest

from seqvae.analysis.evaluation import normalizer_log_jacobian
from seqvae.analysis.latent import pca_sequence_baseline, probe_auc, probe_labels, probe_r2, reconstruction_rmse
from seqvae.data.arrays import ArrayDataset
from seqvae.data.prepare import Normalizer
from seqvae.data.sequences import SequenceDataset


def test_auc_probes_separate_a_readable_label_and_not_a_random_one():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(600, 2))
    ring = (np.hypot(z[:, 0], z[:, 1]) > 1.2).astype(int)  # readable, but not linearly
    noise = rng.integers(0, 2, 600)
    assert probe_auc(z, ring, "knn") > 0.95
    assert probe_auc(z, ring, "logistic") < 0.7  # a linear probe cannot see a ring
    assert abs(probe_auc(z, noise, "knn") - 0.5) < 0.08
    assert abs(probe_auc(z, noise, "logistic") - 0.5) < 0.08
    with pytest.raises(ValueError, match="binary"):
        probe_auc(z, rng.integers(0, 3, 600))


def test_probe_labels_picks_the_score_by_label_type():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(300, 2))
    labels = {"x": 2 * z[:, 0] + 1, "sign": (z[:, 1] > 0).astype(int), "const": np.ones(300)}
    out = probe_labels(z, labels)
    assert set(out) == {"x", "sign"}
    assert out["x"]["r2_linear"] > 0.999 and out["x"]["r2_knn"] > 0.95
    assert out["sign"]["auc_logistic"] > 0.99
    assert out["x"]["r2_linear"] == probe_r2(z, labels["x"], "linear")


def _family(n: int, lengths, rng, stretch: bool) -> tuple[list[np.ndarray], np.ndarray]:
    """Sequences spanned by two coefficients: in real time, or as time-stretched copies of one shape."""
    coef = rng.normal(size=(n, 2))
    seqs = []
    for (a, b), length in zip(coef, lengths):
        t = np.linspace(0, 1, length) if stretch else np.arange(length) / 40.0
        seqs.append(np.stack([a * t + b * t**2, a * np.sin(3 * t) - b], axis=1).astype(np.float32))
    return seqs, coef


def test_pca_baseline_is_exact_on_a_two_parameter_family():
    rng = np.random.default_rng(2)
    seqs, _ = _family(200, [40] * 200, rng, stretch=False)
    train, val = SequenceDataset(seqs[:150]), SequenceDataset(seqs[150:])
    two = pca_sequence_baseline(train, val, 2)
    one = pca_sequence_baseline(train, val, 1)
    assert two["rmse"] < 1e-5 and two["explained_variance"] > 0.99999
    assert one["rmse"] > 0.05
    assert two["scores"].shape == (50, 2)
    # in data units: a normaliser with one scale for all features scales the error by it
    norm = Normalizer(mean=np.array([5.0, -1.0], np.float32), std=np.array([3.0, 3.0], np.float32))
    scaled = pca_sequence_baseline(train, val, 1, norm)
    assert scaled["rmse"] == pytest.approx(3.0 * one["rmse"], rel=1e-4)


def test_resampled_pca_aligns_time_stretched_shots_that_padding_cannot():
    rng = np.random.default_rng(3)
    lengths = rng.integers(20, 60, 200)
    seqs, _ = _family(200, lengths, rng, stretch=True)
    train, val = SequenceDataset(seqs[:150]), SequenceDataset(seqs[150:])
    stretched = pca_sequence_baseline(train, val, 2, align="resample")
    padded = pca_sequence_baseline(train, val, 2, align="pad")
    assert stretched["rmse"] < 0.02 * padded["rmse"]
    assert [len(r) for r in stretched["reconstructions"]] == list(lengths[150:])
    assert reconstruction_rmse([(np.zeros((3, 2)), np.ones((3, 2)))])["rmse"] == 1.0


def test_sequence_densities_gain_one_jacobian_per_real_step():
    norm = Normalizer(mean=np.zeros(2, np.float32), std=np.array([2.0, 3.0], np.float32))
    seqs = [np.zeros((2, 2), np.float32), np.zeros((4, 2), np.float32)]
    per_step = -np.log(2.0) - np.log(3.0)
    assert normalizer_log_jacobian(norm, SequenceDataset(seqs)) == pytest.approx(3.0 * per_step)
    assert normalizer_log_jacobian(norm, ArrayDataset(np.zeros((5, 2), np.float32))) == pytest.approx(per_step)
    assert normalizer_log_jacobian(None, SequenceDataset(seqs)) == 0.0


def test_uniform_ball_fills_the_ball_uniformly():
    import torch

    from seqvae.analysis.latent import uniform_ball

    centres = torch.tensor([[0.0, 0.0], [3.0, -1.0]])
    z, dist = uniform_ball(centres, 20000, 0.5, torch.Generator().manual_seed(0))
    assert z.shape == (2, 20000, 2) and dist.shape == (2, 20000)
    offsets = z - centres[:, None, :]
    np.testing.assert_allclose(offsets.norm(dim=-1).numpy(), dist.numpy(), rtol=1e-5, atol=1e-6)
    assert float(dist.max()) <= 0.5
    # uniform in a disc: a quarter of the points lie within half the radius
    assert abs(float((dist < 0.25).float().mean()) - 0.25) < 0.01
    one, _ = uniform_ball(torch.zeros(3), 5, 1.0, torch.Generator().manual_seed(1))
    assert one.shape == (5, 3)
    with pytest.raises(ValueError, match="radius"):
        uniform_ball(torch.zeros(2), 3, -1.0)
