"""The Sketch-RNN-style stroke VAE (kind: stroke-mdn): mixture density against closed forms, masking,
padding, causal teacher forcing, the bound ordering on a trained toy model, and sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from seqvae.config import ObjectiveConfig
from seqvae.data.sequences import SequenceBatch
from seqvae.distributions import StrokeMixtureHead, masked_log_prob
from seqvae.errors import ConfigError
from seqvae.models import build_model
from seqvae.models.sketch import StrokeMDNVAE
from seqvae.objectives import Objective, importance_log_likelihood, iwae_bound
from seqvae.runconfig import load_run_config

F64 = torch.float64
SMALL = {"kind": "stroke-mdn", "hidden": 16, "decoder_hidden": 24, "latent_dim": 3, "mixtures": 3}


def toy_strokes(n: int, seed: int, noise: float = 0.05) -> list[np.ndarray]:
    """A circle (first stroke) then a straight line (second stroke), in relative (dx, dy, pen_up) form.

    Row 0 is the absolute start (8-20 px), pen_up is 1 on the last point of each stroke; 16-30 steps.
    """
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        n1, n2 = int(rng.integers(12, 21)), int(rng.integers(4, 11))
        cx, cy, r = rng.uniform(8, 20), rng.uniform(8, 20), rng.uniform(3, 8)
        angles = rng.uniform(0, 2 * np.pi) + np.linspace(0, 2 * np.pi, n1)
        circle = np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], axis=1)
        start = circle[-1] + rng.uniform(-6, 6, size=2)
        heading = rng.uniform(0, 2 * np.pi)
        line = start + np.arange(n2)[:, None] * 1.5 * np.array([np.cos(heading), np.sin(heading)])
        points = np.concatenate([circle, line]) + noise * rng.normal(size=(n1 + n2, 2))
        offsets = np.diff(points, axis=0, prepend=np.zeros((1, 2)))
        pen = np.zeros(n1 + n2)
        pen[[n1 - 1, -1]] = 1.0
        out.append(np.concatenate([offsets, pen[:, None]], axis=1).astype(np.float32))
    return out


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.exp(x))


# --------------------------------------------------------------------------- the likelihood


@pytest.mark.parametrize("k", [1, 2])
def test_mixture_and_pen_log_density_match_closed_forms(k: int) -> None:
    g = torch.Generator().manual_seed(k)
    n, min_std, max_rho, scale = 5, 0.05, 0.9, 2.0
    params = torch.randn(n, 6 * k + 1, generator=g, dtype=F64) * 1.5
    pen_up = torch.tensor([[0.0], [1.0], [1.0], [0.0], [1.0]], dtype=F64)
    x = torch.cat([3 * torch.randn(n, 2, generator=g, dtype=F64), pen_up], 1)
    head = StrokeMixtureHead(k, min_std=min_std, max_rho=max_rho, scale=scale)
    dist = head(params)
    assert dist.batch_shape == (n,) and dist.event_shape == (3,)

    p = params.numpy()
    logits, mx, my, sx, sy, r = (p[:, i * k : (i + 1) * k] for i in range(6))
    log_w = logits - logsumexp(logits, axis=1, keepdims=True)
    std_x, std_y = _softplus(sx) * scale + min_std, _softplus(sy) * scale + min_std
    rho = max_rho * np.tanh(r)
    expected_xy = []
    for i in range(n):
        comps = []
        for j in range(k):
            sx_, sy_, r_ = std_x[i, j], std_y[i, j], rho[i, j]
            cov = [[sx_**2, r_ * sx_ * sy_], [r_ * sx_ * sy_, sy_**2]]
            mean = [scale * mx[i, j], scale * my[i, j]]
            comps.append(log_w[i, j] + multivariate_normal(mean, cov).logpdf(x[i, :2].numpy()))
        expected_xy.append(logsumexp(comps))
    prob_up = 1 / (1 + np.exp(-p[:, 6 * k]))
    pen = x[:, 2].numpy()
    expected_pen = np.log(np.where(pen == 1, prob_up, 1 - prob_up))

    np.testing.assert_allclose(dist.offset_log_prob(x).numpy(), expected_xy, rtol=1e-10)
    np.testing.assert_allclose(dist.pen_log_prob(x).numpy(), expected_pen, rtol=1e-10)
    np.testing.assert_allclose(dist.log_prob(x).numpy(), np.array(expected_xy) + expected_pen, rtol=1e-10)
    # mean: the weighted component means and P(pen up); point: the pen thresholded at 1/2
    w = np.exp(log_w)
    np.testing.assert_allclose(dist.mean[:, 0].numpy(), (w * scale * mx).sum(1), rtol=1e-10)
    np.testing.assert_allclose(dist.mean[:, 2].numpy(), prob_up, rtol=1e-10)
    assert dist.point()[:, 2].tolist() == (prob_up > 0.5).astype(float).tolist()


def test_temperature_sharpens_weights_and_scales_variances() -> None:
    params = torch.randn(4, 6 * 3 + 1, generator=torch.Generator().manual_seed(0), dtype=F64)
    dist = StrokeMixtureHead(3)(params)
    cool = dist.tempered(0.5)
    torch.testing.assert_close(cool.offsets.mixture_distribution.probs, torch.softmax(params[:, :3] / 0.5, -1))
    torch.testing.assert_close(
        cool.offsets.component_distribution.covariance_matrix, 0.5 * dist.offsets.component_distribution.covariance_matrix
    )
    torch.testing.assert_close(cool.pen.logits, dist.pen.logits / 0.5)
    assert dist.tempered(1.0) is dist
    with pytest.raises(ValueError, match="temperature"):
        dist.tempered(0.0)


# --------------------------------------------------------------------------- padding, masking, causality


@pytest.mark.parametrize(
    "raw",
    [SMALL, {**SMALL, "bidirectional": False}, {**SMALL, "layers": 2, "decoder_layers": 2, "dropout": 0.3}],
    ids=["bidirectional", "unidirectional", "stacked-dropout"],
)
def test_padding_changes_neither_loss_nor_gradients(raw: dict) -> None:
    torch.manual_seed(0)
    model = build_model(raw, 3)
    model.train()
    seqs = toy_strokes(6, seed=1)
    tight = SequenceBatch.from_sequences(seqs)
    loose = SequenceBatch.from_sequences(seqs, pad_to=tight.values.shape[1] + 15)
    loose.values[~loose.mask] = float("nan")  # whatever sits in the padding must not matter
    objective = Objective(ObjectiveConfig(beta=0.7))
    results = []
    for batch in (tight, loose):
        torch.manual_seed(5)  # same reparameterisation noise and dropout masks
        loss = objective(model, batch)["loss"].sum()
        grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
        results.append((loss.detach(), grads))
    (l1, g1), (l2, g2) = results
    assert torch.isfinite(l2)
    torch.testing.assert_close(l2, l1, rtol=1e-6, atol=1e-5)
    for a, b in zip(g1, g2):
        assert a is not None and b is not None and torch.isfinite(b).all()
        scale = max(1.0, float(a.abs().max()))
        assert float((a - b).abs().max()) <= 1e-5 * scale


def test_steps_beyond_each_length_do_not_contribute() -> None:
    torch.manual_seed(0)
    model = build_model(SMALL, 3).eval()
    batch = SequenceBatch.from_sequences(toy_strokes(5, seed=2), pad_to=40)
    changed = SequenceBatch(values=batch.values.clone(), lengths=batch.lengths)
    pad = ~changed.mask
    changed.values[pad] = torch.randn(int(pad.sum()), 3) * 50  # finite garbage this time
    z = torch.randn(5, 3)
    for b in (batch, changed):
        assert b.values.shape == (5, 40, 3)
    ll = [model.log_likelihood(model.decode(z, b), b) for b in (batch, changed)]
    torch.testing.assert_close(ll[1], ll[0], rtol=0, atol=0)
    # ... and they would, if they were counted: the per-step densities there differ
    steps = [model.decode(z, b).log_prob(torch.nan_to_num(b.values)) for b in (batch, changed)]
    assert not torch.allclose(steps[0][pad], steps[1][pad])
    # the same through the importance weights (IWAE and log p(x) decode batch.repeat(k))
    for b in (batch, changed):
        torch.manual_seed(3)
        ll.append(model.log_weights(b, 4))
    torch.testing.assert_close(ll[3], ll[2])
    # a shorter length drops exactly the per-step terms it cuts off
    shorter = SequenceBatch(values=batch.values, lengths=batch.lengths - 2)
    px = model.decode(z, batch)
    per_step = px.log_prob(batch.values)
    cut = torch.stack([per_step[i, n - 2 : n].sum() for i, n in enumerate(batch.lengths.tolist())])
    torch.testing.assert_close(model.log_likelihood(model.decode(z, shorter), shorter), ll[0] - cut)


@pytest.mark.parametrize("t", [0, 7])
def test_teacher_forcing_is_causal(t: int) -> None:
    torch.manual_seed(0)
    model = build_model(SMALL, 3).eval()
    batch = SequenceBatch.from_sequences(toy_strokes(4, seed=3))
    z = torch.randn(4, 3)
    edited = SequenceBatch(values=batch.values.clone(), lengths=batch.lengths)
    edited.values[:, t, :2] += 2.0
    edited.values[:, t, 2] = 1.0 - edited.values[:, t, 2]
    px_before, px_after = model.decode(z, batch), model.decode(z, edited)
    before, after = px_before.log_prob(batch.values), px_after.log_prob(edited.values)
    torch.testing.assert_close(after[:, :t], before[:, :t], rtol=0, atol=0)  # the past cannot see step t
    assert (after[:, t] - before[:, t]).abs().min() > 1e-4  # step t's own density changes
    # ... only through its value: the conditional p(x_t | x_<t, z) itself does not see x_t
    tril_after = px_after.offsets.component_distribution.scale_tril
    tril_before = px_before.offsets.component_distribution.scale_tril
    for a, b in ((px_after.mean, px_before.mean), (tril_after, tril_before)):
        torch.testing.assert_close(a[:, : t + 1], b[:, : t + 1], rtol=0, atol=0)
        assert not torch.allclose(a[:, t + 1], b[:, t + 1])
    # step t is fed back: later steps' conditionals change even where their values did not
    assert (after[:, t + 1] - before[:, t + 1]).abs().min() > 1e-6
    assert not torch.allclose(after[:, t + 1 :], before[:, t + 1 :])


def test_input_dropout_zeroes_fed_back_steps_and_one_makes_the_decoder_non_autoregressive() -> None:
    """Word dropout: p = 1 decodes every batch as if all previous steps were zero (training and evaluation),
    and generation feeds no draw back, so the same z gives the same conditionals whatever came before;
    0 < p < 1 drops inputs only while training."""
    torch.manual_seed(0)
    nar = build_model({**SMALL, "input_dropout": 1.0}, 3)
    plain = build_model(SMALL, 3)
    plain.load_state_dict(nar.state_dict())
    batch = SequenceBatch.from_sequences(toy_strokes(4, seed=3))
    zeros = SequenceBatch(values=torch.zeros_like(batch.values), lengths=batch.lengths)
    z = torch.randn(4, 3)
    for mode in (True, False):
        nar.train(mode), plain.train(mode)
        torch.testing.assert_close(nar.decode(z, batch).mean, plain.decode(z, zeros).mean)
    nar.eval()
    torch.manual_seed(1)
    values, _ = nar.generate(z, 6)
    assert values.shape == (4, 6, 3)
    params = nar.head(nar._step_params(z, torch.zeros(4, 6, 3), nar.initial_state(z), None)[0])
    torch.testing.assert_close(nar.decode(z, SequenceBatch(values=values, lengths=torch.full((4,), 6))).mean, params.mean)
    half = build_model({**SMALL, "input_dropout": 0.5}, 3).eval()
    plain.load_state_dict(half.state_dict())
    torch.testing.assert_close(half.decode(z, batch).mean, plain.decode(z, batch).mean)  # evaluation: no dropout
    with pytest.raises(ConfigError, match="input_dropout"):
        build_model({**SMALL, "input_dropout": 1.5}, 3)


# --------------------------------------------------------------------------- learning and the bounds


def _bounds(model: StrokeMDNVAE, batch: SequenceBatch) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        torch.manual_seed(11)
        out = model(batch)
        result = {
            "elbo": float((out.recon_log_prob - out.kl).mean()),
            "iwae": float(iwae_bound(model, batch, 16).mean()),
            "log_px": float(importance_log_likelihood(model, batch, 200).mean()),
        }
    model.train()
    return result


def test_training_on_toy_strokes_improves_log_likelihood_and_keeps_the_bounds_ordered() -> None:
    torch.manual_seed(0)
    train = toy_strokes(256, seed=0)
    test = SequenceBatch.from_sequences(toy_strokes(64, seed=1))
    model = build_model({**SMALL, "hidden": 32, "decoder_hidden": 48, "latent_dim": 4, "offset_scale": 4.0}, 3)
    before = _bounds(model, test)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    objective = Objective(ObjectiveConfig())
    rng = np.random.default_rng(0)
    for _ in range(200):
        batch = SequenceBatch.from_sequences([train[i] for i in rng.choice(len(train), 32, replace=False)])
        loss = objective(model, batch)["loss"].mean()
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
    after = _bounds(model, test)
    # nats per sequence of ~23 steps: about -138 at initialisation, about -34 after 200 steps (-20 after 300)
    assert after["log_px"] > before["log_px"] + 60.0, (before, after)
    for bounds in (before, after):
        assert bounds["elbo"] <= bounds["iwae"] + 0.2, bounds
        assert bounds["iwae"] <= bounds["log_px"] + 0.2, bounds


# --------------------------------------------------------------------------- generation, config


def test_generate_samples_strokes_of_the_requested_length_repeatably() -> None:
    torch.manual_seed(0)
    model = build_model({**SMALL, "max_length": 13}, 3).eval()
    z = torch.randn(6, 3)
    torch.manual_seed(42)
    values, lengths = model.generate(z, 9)
    assert values.shape == (6, 9, 3) and lengths.tolist() == [9] * 6
    assert torch.isfinite(values).all()
    assert set(values[..., 2].unique().tolist()) <= {0.0, 1.0}
    torch.manual_seed(42)
    again, _ = model.generate(z, 9)
    torch.testing.assert_close(again, values, rtol=0, atol=0)
    torch.manual_seed(43)
    other, _ = model.generate(z, 9)
    assert not torch.equal(other, values)  # a sample, not the decoder mean
    assert model.generate(z)[0].shape == (6, 13, 3)  # max_length without a length
    # a draw's first step is the (tempered) first-step distribution's sample: near-zero temperature -> its mode region
    cold, _ = model.generate(z, 1, temperature=1e-4)
    params, _ = model._step_params(z, torch.zeros(6, 1, 3), model.initial_state(z), None)
    px0 = model.head(params[:, 0])
    best = px0.offsets.mixture_distribution.probs.argmax(-1)
    locs = px0.offsets.component_distribution.loc[torch.arange(6), best]
    torch.testing.assert_close(cold[:, 0, :2], locs, atol=0.05, rtol=0)
    sampled = model.sample(3, generator=torch.Generator().manual_seed(0), length=5)
    assert sampled.values.shape == (3, 5, 3) and sampled.lengths.tolist() == [5] * 3


def test_reconstruction_is_a_one_step_ahead_point_prediction() -> None:
    torch.manual_seed(0)
    model = build_model(SMALL, 3).eval()
    batch = SequenceBatch.from_sequences(toy_strokes(3, seed=4))
    recon = model.reconstruct(batch)
    assert recon.shape == batch.values.shape
    px = model.decode(model.encode(batch).mean, batch)
    torch.testing.assert_close(recon[..., :2], px.offsets.mean)
    torch.testing.assert_close(recon[..., 2], (px.pen.probs > 0.5).float())


def test_config_presets_and_errors() -> None:
    cpu = build_model(load_run_config("strokes-mdn").model, 3)
    assert cpu.latent_dim == 16 and cpu.head.mixtures == 5 and cpu.encoder.rnn.hidden_size == 64
    assert cpu.encoder.bidirectional and cpu.config.generation_temperature == 0.5 and cpu.config.end_of_sequence is False
    big = build_model({**load_run_config("strokes-mdn", preset="paper").model, "mixtures": 4}, 3)
    assert big.latent_dim == 32 and big.decoder.hidden_size == 256 and big.head.mixtures == 4
    assert big.head.num_params == 6 * 4 + 1
    with pytest.raises(ConfigError, match="3 features"):
        build_model(SMALL, 2)
    with pytest.raises(ConfigError, match="end_of_sequence"):
        build_model({**SMALL, "end_of_sequence": True}, 3)
    with pytest.raises(ConfigError, match="max_rho"):
        build_model({**SMALL, "max_rho": 1.0}, 3)
    with pytest.raises(ConfigError, match="generation_temperature"):
        build_model({**SMALL, "generation_temperature": 0.0}, 3)
    with pytest.raises(ValueError, match="generate"):
        cpu.decode(torch.zeros(2, 16))


def test_masked_log_prob_of_a_stroke_distribution_sums_real_steps() -> None:
    head = StrokeMixtureHead(2)
    params = torch.randn(2, 4, 13, generator=torch.Generator().manual_seed(0))
    x = torch.randn(2, 4, 3)
    x[..., 2] = (x[..., 2] > 0).float()
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    x[0, 3] = float("nan")
    dist = head(params)
    per_step = dist.log_prob(torch.nan_to_num(x))
    expected = torch.stack([per_step[0, :3].sum(), per_step[1].sum()])
    torch.testing.assert_close(masked_log_prob(dist, x, mask), expected)
    assert math.isfinite(float(masked_log_prob(dist, x, mask).sum()))
