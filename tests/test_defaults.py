"""Data-aware defaults (seqvae.defaults): model choice, output scale, budget, schedules as fractions, splits."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from seqvae.config import AnnealConfig
from seqvae.data.batch import Batch
from seqvae.data.prepare import bundle_arrays, split_by_id, split_indices
from seqvae.data.readers import write_sequences_npz
from seqvae.data.sequences import resample_linear
from seqvae.defaults import (
    SmoothedEarlyStopping,
    apply_data_defaults,
    file_holds_sequences,
    needs_data_defaults,
    ppca_sigma,
    step_budget,
    unfinished_schedules,
)
from seqvae.errors import ConfigError
from seqvae.models import build_model, parse_model_config
from seqvae.models.linear import LinearGaussianConfig, LinearGaussianVAE
from seqvae.models.mlp import interpolate_steps
from seqvae.models.recurrent import VRAEConfig, teacher_forcing_probability
from seqvae.objectives import kl_weight
from seqvae.runconfig import load_run_config


def curly_trajectories(n: int = 600, steps: int = 40, seed: int = 0, noise: float = 0.01) -> np.ndarray:
    """2-D paths of constant speed and turn rate from a random start and heading: ``(n, steps, 2)``.
    Five parameters per path, curved enough that PCA needs many more components than a nonlinear model."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, steps)
    out = np.empty((n, steps, 2), dtype=np.float32)
    for i in range(n):
        start, heading = rng.normal(0, 1, 2), rng.uniform(0, 2 * np.pi)
        speed, turn = rng.uniform(0.5, 2.0), rng.normal(0, 6.0)
        angle = heading + turn * t
        pos = start + np.cumsum(speed * np.stack([np.cos(angle), np.sin(angle)], 1), 0) / steps
        out[i] = pos + rng.normal(0, noise, pos.shape)
    return out


# --------------------------------------------------------------------------- what the data are


def test_file_kind_decides_vectors_or_sequences(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(6, 4, 2)).astype(np.float32)
    np.save(tmp_path / "rows.npy", x[:, 0])
    np.save(tmp_path / "frames.npy", x)
    np.savez(tmp_path / "rows.npz", x=x[:, 0])
    np.savez(tmp_path / "padded.npz", values=x, lengths=np.array([4, 3, 2, 4, 4, 1]))
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n3,4\n")
    (tmp_path / "long.csv").write_text("sequence_id,t,a\ns1,0,1\ns1,1,2\n")
    assert [file_holds_sequences(tmp_path / f) for f in ("rows.npy", "rows.npz", "rows.csv")] == [False] * 3
    assert [file_holds_sequences(tmp_path / f) for f in ("frames.npy", "padded.npz", "long.csv")] == [True] * 3
    assert file_holds_sequences(tmp_path)  # a directory of per-sequence files


# --------------------------------------------------------------------------- output scale


def test_ppca_sigma_is_the_root_mean_discarded_eigenvalue() -> None:
    x = np.random.default_rng(1).normal(size=(200, 12)) @ np.diag(np.linspace(3, 0.2, 12))
    n = len(x)
    for k in (1, 4, 8):
        sk = PCA(k).fit(x).noise_variance_ * (n - 1) / n  # sklearn divides by n - 1
        assert ppca_sigma(x, k) == pytest.approx(math.sqrt(sk), rel=1e-10)
    assert ppca_sigma(x, 12) == 0.0


def test_pca_init_starts_at_the_ppca_solution_and_its_exact_posterior() -> None:
    """With init: pca the MLP VAE's linear paths are PPCA's ML solution for the head's sigma, and q(z|x) is the
    exact posterior p(z|x) of that linear-Gaussian model (closed form in LinearGaussianVAE)."""
    torch.manual_seed(0)
    x = torch.randn(300, 6, dtype=torch.float64) @ torch.diag(torch.tensor([3.0, 2.0, 1.0, 0.3, 0.2, 0.1], dtype=torch.float64))
    sigma = ppca_sigma(x.numpy(), 2)
    model = build_model(
        {"kind": "mlp", "latent_dim": 2, "hidden": [16], "linear_skip": True, "init": "pca",
         "likelihood": {"kind": "gaussian-learned", "init_std": sigma, "min_std": sigma / 10}}, 6,
    ).double()
    model.init_from_data(Batch(values=x))
    assert float(model.head(torch.zeros(1, 6)).stddev[0, 0].detach()) == pytest.approx(sigma, rel=1e-6)
    sigma = float(model.head(torch.zeros(1, 6)).stddev[0, 0].detach())  # the float32 parameter's value
    lg = LinearGaussianVAE(LinearGaussianConfig(latent_dim=2, sigma=sigma), 6).double()
    with torch.no_grad():
        lg.W.copy_(model.dec_linear.weight)
        lg.b.copy_(model.dec_linear.bias)
    # the PPCA marginal covariance W W^T + sigma^2 I equals the sample covariance on the kept directions
    cov = np.cov(x.numpy().T, bias=True)
    eig = np.linalg.eigvalsh(cov)[::-1]
    model_eig = np.linalg.eigvalsh(lg.marginal().covariance_matrix.detach().numpy())[::-1]
    assert model_eig[:2] == pytest.approx(eig[:2], rel=1e-8)
    assert model_eig[2:] == pytest.approx([sigma**2] * 4, rel=1e-6)
    batch = Batch(values=x[:20])
    q, exact = model.encode(batch), lg.exact_posterior(x[:20])
    assert torch.allclose(q.mean, exact.mean, atol=1e-8)
    assert torch.allclose(q.stddev, exact.covariance_matrix.diagonal(dim1=-2, dim2=-1).sqrt(), atol=1e-6)
    assert torch.allclose(model.decode(q.mean).mean, q.mean @ lg.W.T + lg.b, atol=1e-10)


def test_gaussian_learned_std_starts_at_init_std() -> None:
    model = build_model({"kind": "mlp", "latent_dim": 2, "likelihood": {"kind": "gaussian-learned", "init_std": 0.05, "min_std": 0.005}}, 3)
    assert model.head(torch.zeros(1, 3)).stddev.flatten().tolist() == pytest.approx([0.05] * 3, rel=1e-5)
    with pytest.raises(Exception, match="init_std must be > likelihood.min_std"):
        parse_model_config({"kind": "mlp", "likelihood": {"kind": "gaussian-learned", "init_std": 0.001, "min_std": 0.01}})


# --------------------------------------------------------------------------- resolving a config


def test_auto_config_resolves_to_values_and_keeps_what_the_user_set(tmp_path: Path) -> None:
    data = curly_trajectories(n=50, steps=12)
    lengths = np.random.default_rng(0).integers(6, 13, size=50)
    path = write_sequences_npz(tmp_path / "paths.npz", [d[:n] for d, n in zip(data, lengths)])
    cfg = load_run_config("auto", [f"data.path={path}", "model.hidden=[32]", "model.latent_dim=3"])
    assert needs_data_defaults(cfg)
    resolved, bundle = apply_data_defaults(cfg)
    m = resolved.model
    assert m["kind"] == "mlp-sequence" and m["hidden"] == [32] and m["latent_dim"] == 3
    assert m["length"] == int(bundle.train.lengths.max())
    assert m["likelihood"]["init_std"] > m["likelihood"]["min_std"] > 0
    assert resolved.train.max_steps == step_budget(len(bundle.train), 64)[0] and resolved.train.early_stopping_patience >= 5
    assert not needs_data_defaults(resolved)  # run_config.json holds values: a resume resolves nothing again
    parse_model_config(m)
    np.save(tmp_path / "rows.npy", data.reshape(50, -1))
    vec, _ = apply_data_defaults(load_run_config("auto", [f"data.path={tmp_path / 'rows.npy'}"]))
    assert vec.model["kind"] == "mlp" and vec.model["latent_dim"] == 8 and vec.model["hidden"] == [64, 64]


def test_step_budget_scales_with_the_data() -> None:
    assert step_budget(480, 64) == (1600, 20)  # 200 passes of 8 steps
    assert step_budget(30, 64) == (1000, 100)  # the floor: 1000 steps of one batch
    assert step_budget(3000, 64)[0] == 200 * 47
    assert step_budget(10**6, 64)[0] == 30000


def test_model_kind_override_keeps_the_settings_the_new_kind_has() -> None:
    cfg = parse_model_config(load_run_config("strokes", ["model.kind=vrae", "model.bidirectional=true"]).model)
    assert cfg.kind == "vrae" and cfg.hidden == 128 and cfg.bidirectional and cfg.latent_dim == 16
    with pytest.raises(ConfigError, match="unknown config key model.bidirectionl"):  # a typo among the overrides
        parse_model_config(load_run_config("strokes", ["model.kind=vrae", "model.bidirectionl=true"]).model)
    cli = load_run_config("vrae-sinusoids", ["model.kind=stacked-lstm"])
    assert parse_model_config(cli.model).kind == "stacked-lstm"


# --------------------------------------------------------------------------- schedules as fractions


def test_schedules_given_as_fractions_finish_on_any_run_length() -> None:
    anneal = AnnealConfig(kind="linear", warmup_fraction=0.2)
    for total in (100, 10_000):
        assert kl_weight(int(0.1 * total), anneal, total) == pytest.approx(0.5)
        assert kl_weight(int(0.2 * total), anneal, total) == 1.0
    assert kl_weight(500, anneal) == 0.5  # no run length known: the step count (1000) applies
    cyc = AnnealConfig(kind="cyclical", cycles=2, ratio=0.5, total_fraction=0.5)
    assert [kl_weight(s, cyc, 400) for s in (25, 100, 125, 200)] == pytest.approx([0.5, 0.0, 0.5, 1.0])
    tf = VRAEConfig(teacher_forcing=1.0, teacher_forcing_schedule="linear", teacher_forcing_fraction=0.5)
    assert [teacher_forcing_probability(tf, s, 1000) for s in (0, 250, 500)] == [1.0, 0.5, 0.0]


def test_unfinished_warm_up_is_reported() -> None:
    cfg = load_run_config("polymer")  # 1000 warm-up steps
    text = unfinished_schedules(cfg, 300, 300.0)
    assert len(text) == 1 and "ended at 0.299 (target beta 1)" in text[0]  # the weight of the last step taken
    assert unfinished_schedules(cfg, 1500, 1500.0) == []
    frac = load_run_config("polymer", ["objective.anneal.warmup_fraction=0.5"])
    assert unfinished_schedules(frac, 300, 300.0) == []


def test_smoothed_early_stopping_ignores_one_noisy_epoch() -> None:
    class Trainer:
        should_stop = False

    raw, smooth = SmoothedEarlyStopping(monitor="v", patience=1), SmoothedEarlyStopping(monitor="v", patience=1, smoothing=0.5)
    values = [1.0, 0.8, 0.85, 0.7]  # one worse epoch among improving ones
    stops = {}
    for name, cb in (("raw", raw), ("smooth", smooth)):
        stops[name] = [cb._evaluate_stopping_criteria(torch.tensor(v))[0] for v in values]
    assert stops["raw"] == [False, False, True, False]
    assert not any(stops["smooth"])
    assert smooth.smoothed == pytest.approx(((1.0 * 0.5 + 0.8 * 0.5) * 0.5 + 0.85 * 0.5) * 0.5 + 0.7 * 0.5)


# --------------------------------------------------------------------------- one split for every view


def test_vectors_and_sequences_of_one_file_split_alike() -> None:
    ids = [str(i) for i in range(97)]
    a, b = split_indices(97, 0.1, 0.2, seed=5), split_by_id(ids, 0.1, 0.2, seed=5)
    assert all(np.array_equal(a[k], b[k]) for k in ("train", "val", "test"))
    bundle = bundle_arrays(np.zeros((97, 3), np.float32), {}, 0.1, 0.2, False, 5)
    assert all(np.array_equal(bundle.splits[k], b[k]) for k in b)


def test_interpolation_resamples_and_back() -> None:
    lengths = torch.tensor([5, 3, 1])
    x = torch.arange(5, dtype=torch.float64)[None, :, None].expand(3, 5, 1).contiguous()
    grid = interpolate_steps(x, lengths, torch.full_like(lengths, 9), 9)
    assert torch.allclose(grid[0, :, 0], torch.linspace(0, 4, 9, dtype=torch.float64))
    assert torch.allclose(grid[1, :, 0], torch.linspace(0, 2, 9, dtype=torch.float64))
    assert torch.allclose(grid[2, :, 0], torch.zeros(9, dtype=torch.float64))
    back = interpolate_steps(grid, torch.full_like(lengths, 9), lengths, 5)
    assert torch.allclose(back[0], x[0]) and torch.allclose(back[1, :3], x[1, :3]) and bool((back[1, 3:] == 0).all())
    assert torch.allclose(grid[0], torch.from_numpy(resample_linear(x[0].numpy(), 9)).double())  # the readers' resampling


# --------------------------------------------------------------------------- acceptance (issue 21, item 2)


def ppca_test_log_likelihood(train: np.ndarray, test: np.ndarray, k: int) -> float:
    """Mean exact log p(x) on ``test`` of PPCA fitted by maximum likelihood on ``train`` (the best
    linear-Gaussian model with ``k`` components)."""
    from scipy.stats import multivariate_normal

    mu = train.mean(0)
    _, s, vt = np.linalg.svd(train - mu, full_matrices=False)
    lam = s**2 / len(train)
    s2 = lam[k:].sum() / (train.shape[1] - k)
    w = vt[:k].T * np.sqrt(np.maximum(lam[:k] - s2, 0.0))
    return float(multivariate_normal(mu, w @ w.T + s2 * np.eye(train.shape[1])).logpdf(test).mean())


@pytest.mark.slow
def test_defaults_beat_pca_and_the_linear_gaussian_model_on_curved_paths(tmp_path: Path, one_thread: None) -> None:
    """`seqvae train --data FILE --out RUN` alone (latent 8): test RMSE <= 1.05 x PCA-8's (fitted on the same
    training split, data units) and test ELBO >= PPCA-8's exact test log-likelihood (both in model units)."""
    from typer.testing import CliRunner

    from seqvae.checkpoint import load_model
    from seqvae.cli import app
    from seqvae.data.sources import load_data

    data = curly_trajectories()
    path = tmp_path / "paths.npz"
    np.savez(path, values=data, lengths=np.full(len(data), data.shape[1]))
    result = CliRunner().invoke(app, ["train", "--data", str(path), "--out", str(tmp_path / "run"), "--no-progress"])
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "run" / "run_config.json").read_text())
    assert run["model"]["kind"] == "mlp-sequence" and run["model"]["latent_dim"] == 8
    cfg = load_run_config(base=run)
    assert not needs_data_defaults(cfg)  # the run's config holds values: a resume resolves nothing again
    bundle = load_data(cfg.data, cfg.seed, sequences=True)  # the run's own split
    model = load_model(tmp_path / "run").eval()
    test, train = bundle.test.batch(), bundle.train.batch()
    with torch.no_grad():
        recon = model.reconstruct(test).numpy()
        torch.manual_seed(0)
        elbo = torch.stack([(lambda o: o.recon_log_prob - o.kl)(model(test)) for _ in range(64)]).mean()
    norm = bundle.normalizer
    rmse = float(np.sqrt(((norm.inverse(recon) - norm.inverse(test.values.numpy())) ** 2).mean()))
    flat_train = norm.inverse(train.values.numpy()).reshape(len(train), -1)
    flat_test = norm.inverse(test.values.numpy()).reshape(len(test), -1)
    mu, sd = flat_train.mean(0), flat_train.std(0)
    pca = PCA(8).fit((flat_train - mu) / sd)
    pca_rmse = float(np.sqrt(((pca.inverse_transform(pca.transform((flat_test - mu) / sd)) * sd + mu - flat_test) ** 2).mean()))
    assert rmse <= 1.05 * pca_rmse, (rmse, pca_rmse)
    ll = ppca_test_log_likelihood(train.values.reshape(len(train), -1).double().numpy(),
                                  test.values.reshape(len(test), -1).double().numpy(), 8)
    assert float(elbo) >= ll, (float(elbo), ll)
    print(f"curved paths: RMSE {rmse:.4f} vs PCA-8 {pca_rmse:.4f}; test ELBO {float(elbo):.1f} vs PPCA-8 exact {ll:.1f}")


def test_reconstruction_at_the_posterior_mean_is_log_p_x_given_the_mean() -> None:
    from torch.distributions import Independent, Normal

    from seqvae.objectives import posterior_mean_log_likelihood

    torch.manual_seed(0)
    model = LinearGaussianVAE(LinearGaussianConfig(latent_dim=2, sigma=0.3), 4)
    with torch.no_grad():
        model.A.normal_()
    x = torch.randn(5, 4)
    mean = x @ model.A.T + model.c
    expected = Independent(Normal(mean @ model.W.T + model.b, 0.3), 1).log_prob(x)
    assert torch.allclose(posterior_mean_log_likelihood(model, Batch(values=x)), expected, atol=1e-5)


def test_randomized_components_of_wide_data_match_the_exact_ones() -> None:
    """Above the exact-SVD limit (long sequences flattened) the leading components come from a randomized SVD:
    the same eigenvalues, directions (up to sign) and discarded variance as the full SVD."""
    from seqvae.models.mlp import principal_components

    rng = np.random.default_rng(0)
    n, d, rank = 300, 500, 4
    x = rng.normal(size=(n, rank)) @ (rng.normal(size=(rank, d)) * np.linspace(3, 1, rank)[:, None])
    x = x + 0.1 * rng.normal(size=(n, d))
    x = x - x.mean(0)
    exact = principal_components(x, rank, exact_limit=10_000)
    fast = principal_components(x, rank, exact_limit=100)
    np.testing.assert_allclose(fast[0], exact[0], rtol=1e-6)
    np.testing.assert_allclose(np.abs(np.sum(fast[1] * exact[1], axis=1)), 1.0, atol=1e-6)
    assert fast[2] == exact[2]
    full = np.linalg.svd(x, compute_uv=False) ** 2 / n
    assert exact[2] == pytest.approx(full.sum(), rel=1e-12)
    assert exact[2] - exact[0].sum() == pytest.approx(full[rank:].sum(), rel=1e-9)
