"""Does the decoder use z? The shuffle diagnostic (seqvae.analysis.usage) against decoders whose use of each
unit is known, its place in the training summary, and (slow) the stacked-LSTM stroke model on many stroke
shapes: interpolants differ and every unit reported used or active raises the reconstruction error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from seqvae.analysis.usage import USED_UNIT_THRESHOLD, latent_usage, shuffle_permutation
from seqvae.data.arrays import ArrayDataset
from seqvae.data.sequences import SequenceDataset
from seqvae.models import build_model


def test_shuffle_effect_matches_the_linear_gaussian_closed_form():
    """pPCA decoder x ~ N(W z + b, σ²) whose column 2 is zero, encoder means that vary in all 3 units: unit 2
    is active but unused; each unit's effect is the closed form mean(|x - W z'|² - |x - W μ|²) / 2σ²."""
    torch.manual_seed(0)
    model = build_model({"kind": "linear-gaussian", "latent_dim": 3, "sigma": 0.3}, 5)
    with torch.no_grad():
        model.W[:, 2] = 0.0
        model.A.copy_(torch.linalg.pinv(model.W))  # units 0, 1: least-squares codes of x
        model.A[2] = torch.randn(5)  # unit 2: varies with x, and the decoder never reads it
    x = torch.randn(300, 2) @ model.W[:, :2].detach().T + 0.1 * torch.randn(300, 5)
    usage = latent_usage(model, ArrayDataset(x), max_examples=200, seed=3)
    assert usage["examples"] == 200
    x = x[:200]
    with torch.no_grad():
        mu = model.encode(ArrayDataset(x).batch()).mean
        perm = shuffle_permutation(200, 3)
        base = ((x - mu @ model.W.T - model.b) ** 2).sum(1)
        for d in range(3):
            z = mu.clone()
            z[:, d] = mu[perm, d]
            closed = float((((x - z @ model.W.T - model.b) ** 2).sum(1) - base).mean() / (2 * 0.3**2))
            assert usage["nll_increase_per_dim"][d] == pytest.approx(closed, rel=1e-3, abs=1e-3)
    effect = usage["nll_increase_per_dim"]
    assert effect[2] == pytest.approx(0.0, abs=1e-4) and float(mu[:, 2].var()) > 0.01  # active, not used
    assert min(effect[0], effect[1]) > USED_UNIT_THRESHOLD
    assert usage["used_units"] == 2
    assert usage["sq_error_increase_per_dim"][2] == pytest.approx(0.0, abs=1e-5)
    assert model.training  # the diagnostic leaves the model's mode as it found it


def test_a_decoder_that_ignores_z_has_no_used_units_on_padded_sequences():
    """Stacked-LSTM decoder with its input weights zeroed: every unit can be active, none is used; padded
    steps (NaN here) never reach the diagnostic."""
    torch.manual_seed(1)
    model = build_model({"preset": "strokes-cpu", "hidden": 16, "decoder_hidden": 16, "latent_dim": 4}, 2)
    with torch.no_grad():
        model.decoder.weight_ih_l0.zero_()
    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(int(rng.integers(5, 12)), 2)).astype(np.float32) for _ in range(40)]
    data = SequenceDataset(seqs)
    data.values[~data.mask] = float("nan")
    model.eval()
    usage = latent_usage(model, data)
    assert usage["used_units"] == 0
    assert np.isfinite(usage["nll"]) and np.isfinite(usage["sq_error"])
    assert max(abs(v) for v in usage["nll_increase_per_dim"]) < 1e-4
    assert latent_usage(model, SequenceDataset(seqs[:1])) is None  # nothing to shuffle with


def test_fit_reports_used_units_next_to_active_units(tmp_path):
    from seqvae.config import load_run_config
    from seqvae.training import fit

    cfg = load_run_config(
        None,
        ["data.kind=gaussian-mixture", "data.params.n=200", "model.kind=mlp", "model.latent_dim=2",
         "model.hidden=[16]", "train.max_epochs=2", "train.progress_bar=false"],
    )
    result = fit(cfg, tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "train_summary.json").read_text())
    usage = summary["latent_usage"]
    assert summary["used_units"] == usage["used_units"] == result.summary["used_units"]
    assert len(usage["nll_increase_per_dim"]) == 2
    assert usage["examples"] == min(512, len(result.bundle.val))
    assert usage["used_units"] == sum(v > usage["threshold_nats"] for v in usage["nll_increase_per_dim"])
