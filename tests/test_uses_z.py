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
    model = build_model({"kind": "stacked-lstm", "hidden": 16, "layers": 2, "latent_dim": 4, "decoder_hidden": 16,
                         "decoder_layers": 1, "end_of_sequence": False, "max_length": 60}, 2)
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
    from seqvae.runconfig import load_run_config
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


def _vrae(**kw):
    cfg = {"kind": "vrae", "hidden": 8, "latent_dim": 2, "end_of_sequence": False, **kw}
    torch.manual_seed(0)
    return build_model(cfg, 2)


def test_vrae_input_dropout_one_feeds_zeros_in_both_decoding_paths():
    """Word dropout p = 1 with full teacher forcing: the fused call and the step loop both decode as if every
    true previous step were zero; evaluation feeds the data again."""
    x = torch.randn(3, 6, 2)
    batch = SequenceDataset(list(x.numpy())).__getitems__([0, 1, 2])
    z = torch.randn(3, 2)
    fused = _vrae(teacher_forcing=1.0, input_dropout=1.0)
    loop = _vrae(teacher_forcing=1.0, input_dropout=1.0, fused_teacher_forcing=False)
    plain = _vrae(teacher_forcing=1.0)
    for m in (fused, loop, plain):
        m.train()
    want, _ = plain._decode_params(z, 6, torch.zeros_like(x))
    for m in (fused, loop):
        got, _ = m._decode_params(z, 6, x)
        assert torch.allclose(got, want, atol=1e-5)
    fused.eval()
    assert not torch.allclose(fused.decode(z, batch).mean, plain.train().decode(z, batch).mean, atol=1e-3)


def test_non_autoregressive_vrae_decodes_from_z_alone():
    """autoregressive: false — the same z gives the same sequence whatever the data, teacher forcing or not,
    and generation equals reconstruction's decoding; different z give different sequences."""
    m = _vrae(autoregressive=False, teacher_forcing=1.0)
    z = torch.randn(2, 2)
    a = SequenceDataset(list(torch.randn(2, 5, 2).numpy())).__getitems__([0, 1])
    b = SequenceDataset(list(torch.randn(2, 5, 2).numpy())).__getitems__([0, 1])
    m.train()
    pa, pb = m.decode(z, a).mean, m.decode(z, b).mean
    assert torch.equal(pa, pb)
    m.eval()
    values, _ = m.generate(z, 5)
    assert torch.allclose(values, m.point(m.decode(z, a)), atol=1e-6)
    assert not torch.allclose(values[0], values[1], atol=1e-3)


def _curve_strokes(n: int, classes: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Strokes of ``classes`` random smooth curves (cubic splines through 5 random points), each example
    rotated, scaled, shifted and wobbled a little, 15-40 points, on a 0-100 canvas."""
    from scipy.interpolate import CubicSpline

    rng = np.random.default_rng(seed)
    ctrl = rng.uniform(-0.5, 0.5, size=(classes, 5, 2))
    labels = rng.integers(0, classes, size=n)
    out = []
    for c in labels:
        angle = rng.normal(0, 0.1)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        pts = ((ctrl[c] + rng.normal(0, 0.03, (5, 2))) @ rot.T) * rng.uniform(0.9, 1.1, 2) + rng.normal(0, 0.05, 2)
        t = int(rng.integers(15, 41))
        xy = CubicSpline(np.linspace(0, 1, 5), pts)(np.linspace(0, 1, t)) + rng.normal(0, 0.005, (t, 2))
        out.append((100 * (xy + 0.5)).astype(np.float32))
    return out, labels


@pytest.mark.slow
def test_stacked_lstm_on_many_stroke_shapes_uses_every_unit_it_reports(tmp_path, one_thread):
    """Issue 21, acceptance 3 on generated strokes: decoded interpolants between two strokes differ (largest
    RMS distance between any two of 8 interpolants > 0.1 x the data's spread), and every unit reported used
    raises the test reconstruction error when shuffled, as does every unit reported active."""
    from seqvae.analysis.latent import latent_means
    from seqvae.data.prepare import bundle_sequences
    from seqvae.data.readers import SequenceTable
    from seqvae.runconfig import load_run_config
    from seqvae.training import fit

    cfg = load_run_config(
        "strokes",
        ["data.sequence.unscaled=[]", "model.likelihood.bernoulli_features=[]", "model.latent_dim=8",
         "model.hidden=64", "model.decoder_hidden=64", "train.max_epochs=25", "train.progress_bar=false"],
    )
    seqs, labels = _curve_strokes(600, 12, seed=0)
    table = SequenceTable(seqs, [str(i) for i in range(len(seqs))], ["x", "y"], {"shape": labels}, "curves")
    bundle = bundle_sequences(table, cfg.data, cfg.seed)
    result = fit(cfg, tmp_path / "run", bundle=bundle)
    model, summary = result.model, result.summary

    test = bundle.test
    shape = test.labels["shape"]
    pair = [0, int(np.flatnonzero(shape != shape[0])[0])]
    mu = torch.as_tensor(latent_means(model, type(test)(test.__getitems__(pair).unpad())))
    alphas = torch.linspace(0, 1, 8)[:, None]
    values, _ = model.generate((1 - alphas) * mu[0] + alphas * mu[1], int(test.lengths.max()))
    flat = bundle.normalizer.inverse(values.numpy()).reshape(8, -1)
    spread = float(np.concatenate(bundle.raw).std(0).mean())
    distance = np.sqrt(((flat[:, None] - flat[None]) ** 2).mean(-1)).max()
    assert distance > 0.1 * spread

    usage = latent_usage(model, test)  # test split: the training summary measured the validation split
    effect = np.array(usage["nll_increase_per_dim"])
    used = np.array(summary["latent_usage"]["nll_increase_per_dim"]) > USED_UNIT_THRESHOLD
    assert summary["used_units"] == used.sum() >= model.latent_dim // 2
    assert (effect[used] > USED_UNIT_THRESHOLD).all()
    assert (np.array(usage["sq_error_increase_per_dim"])[used] > 0.01).all()  # > 1 % more squared error
    assert summary["active_units"] <= summary["used_units"]  # no unit active that the decoder ignores
