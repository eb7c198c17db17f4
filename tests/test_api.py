"""Run-directory functions behind `seqvae evaluate | sample | encode`, checked in data units against closed forms.

The model is pPCA with an exact-posterior encoder, exported together with a non-trivial
normaliser, so every number the CLI reports in data units has an exact value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from seqvae.api import encode_file, evaluate_run, sample_run
from seqvae.checkpoint import export_model
from seqvae.data.prepare import Normalizer
from seqvae.models import build_model
from seqvae.models.linear import LinearGaussianVAE

MEAN = np.array([3.0, -1.0, 10.0])
STD = np.array([0.5, 2.0, 10.0])


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LinearGaussianVAE, np.ndarray]:
    torch.manual_seed(0)
    model = build_model({"kind": "linear-gaussian", "latent_dim": 2, "sigma": 0.4, "learn_sigma": False}, 3)
    assert isinstance(model, LinearGaussianVAE)
    q, _ = torch.linalg.qr(torch.randn(3, 2))
    with torch.no_grad():
        model.W.copy_(q * torch.tensor([1.5, 0.8]))
        model.b.copy_(torch.tensor([0.3, -0.2, 0.1]))
    model.use_exact_posterior_encoder()
    out = tmp_path_factory.mktemp("api") / "run"
    export_model(model, out, None, Normalizer(MEAN.copy(), STD.copy()))
    torch.manual_seed(1)
    with torch.no_grad():
        x_model = model.marginal().sample((400,)).numpy().astype(np.float64)
    x_data = MEAN + STD * x_model
    np.save(out.parent / "x.npy", x_data.astype(np.float32))
    return out, model, x_data


def data_space_marginal(model: LinearGaussianVAE) -> multivariate_normal:
    """x = MEAN + STD * x_model with x_model ~ N(b, W W^T + sigma^2 I)."""
    m = model.marginal()
    cov = m.covariance_matrix.detach().double().numpy()
    return multivariate_normal(MEAN + STD * m.mean.detach().double().numpy(), cov * np.outer(STD, STD))


def test_evaluate_reports_exact_log_likelihood_in_data_units(run) -> None:
    out, model, x = run
    metrics = evaluate_run(out, out.parent / "x.npy", iwae_samples=8, ll_samples=16, seed=0)
    exact = float(data_space_marginal(model).logpdf(x.astype(np.float32).astype(np.float64)).mean())
    # exact posterior: every importance weight equals p(x), so IWAE and the IS estimate are exact;
    # the normaliser's Jacobian (-sum log STD = -2.30 nats) is included
    for key in ("iwae", "log_likelihood"):
        assert metrics[key] == pytest.approx(exact, abs=1e-4), key
    # the analytic-KL ELBO equals log p(x) only in expectation (one z draw per example)
    assert metrics["elbo"] == pytest.approx(exact, abs=0.05)
    assert metrics["n_examples"] == 400 and metrics["data"] == "x.npy"
    assert (out / "evaluation.json").is_file() and not (out / "metrics.json").exists()


def test_samples_come_back_in_data_units(run, tmp_path: Path) -> None:
    out, model, _ = run
    path = sample_run(out, 20000, tmp_path / "s.npz", mean=False, seed=3)
    with np.load(path) as npz:
        x, z = npz["x"], npz["z"]
    assert x.shape == (20000, 3) and z.shape == (20000, 2)
    target = data_space_marginal(model)
    np.testing.assert_allclose(x.mean(0), target.mean, atol=4 * np.sqrt(np.diag(target.cov) / 20000).max())
    np.testing.assert_allclose(x.std(0), np.sqrt(np.diag(target.cov)), rtol=0.03)
    again = sample_run(out, 20000, tmp_path / "t.npz", mean=False, seed=3)
    with np.load(again) as npz:
        assert np.array_equal(npz["x"], x)  # seeded


def test_encode_gives_the_exact_posterior_of_normalised_data(run, tmp_path: Path) -> None:
    out, model, x = run
    path, n = encode_file(out, out.parent / "x.npy", tmp_path / "z.npz")
    with np.load(path) as npz:
        mean, std = npz["mean"], npz["std"]
    x_model = torch.as_tensor(((x.astype(np.float32) - MEAN) / STD), dtype=torch.float32)
    exact = model.exact_posterior(x_model)
    assert n == 400
    np.testing.assert_allclose(mean, exact.mean.detach().numpy(), atol=1e-4)
    np.testing.assert_allclose(std, np.sqrt(np.diagonal(exact.covariance_matrix.detach().numpy(), axis1=-2, axis2=-1)), rtol=1e-4)


def test_exact_encoder_needs_orthogonal_columns() -> None:
    model = build_model({"kind": "linear-gaussian", "latent_dim": 2}, 3)
    assert isinstance(model, LinearGaussianVAE)
    with torch.no_grad():
        model.W.copy_(torch.tensor([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="orthogonal"):
        model.use_exact_posterior_encoder()
