"""The Disentangled Sequential Autoencoder (kind: dsae): the source's layer shapes, the two dynamic
posteriors' dependencies, content/dynamics swaps and prior draws, the KL terms against closed forms,
importance weights over both latents, input checks, and learning on a toy video set."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from seqvae.checkpoint import export_model, load_model
from seqvae.config import ObjectiveConfig
from seqvae.data.batch import Batch
from seqvae.errors import ConfigError, DataError
from seqvae.models import DSAE, build_model, parse_model_config
from seqvae.objectives import Objective, logmeanexp
from seqvae.runconfig import load_run_config

TINY = {
    "kind": "dsae", "frame_size": 16, "conv_channels": 8, "strides": [2, 2], "fc_hidden": 32, "frame_features": 16,
    "f_dim": 6, "z_dim": 3, "hidden": 12, "factorized_hidden": 12, "prior_hidden": 12,
}  # fmt: skip


def tiny(seed: int = 0, **overrides: object) -> DSAE:
    torch.manual_seed(seed)
    model = build_model({**TINY, **overrides}, 3 * 16 * 16)
    assert isinstance(model, DSAE)
    return model


def random_videos(n: int, frames: int, size: int = 16, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(values=torch.rand(n, frames, 3, size, size, generator=g))


def toy_videos(n: int, frames: int = 6, size: int = 16, seed: int = 0) -> torch.Tensor:
    """A 4x4 square, red, green or blue (content), moving right along row 6 or down along column 6
    (dynamics), 2 px a frame, on black."""
    g = torch.Generator().manual_seed(seed)
    colour = torch.randint(0, 3, (n,), generator=g)
    down = torch.randint(0, 2, (n,), generator=g)
    x = torch.zeros(n, frames, 3, size, size)
    for i in range(n):
        for t in range(frames):
            r, c = (2 * t, 6) if down[i] else (6, 2 * t)
            x[i, t, colour[i], r : r + 4, c : c + 4] = 1.0
    return x


# --------------------------------------------------------------------------- the source's model


def test_paper_preset_has_the_sources_shapes_and_trains_one_step() -> None:
    torch.manual_seed(0)
    # the sprites paper model on channels-first videos (the .npy release's layout is channels-last)
    model = build_model({**load_run_config("sprites", preset="paper").model, "layout": "channels-first"}, 3 * 64 * 64)
    cfg = model.config
    assert (cfg.f_dim, cfg.z_dim, cfg.frames, cfg.frame_size, cfg.channels) == (256, 32, 8, 64, 3)
    assert model.latent_dim == 256
    assert cfg.posterior == "full" and cfg.likelihood_std == pytest.approx(1 / (2 * math.sqrt(2)))
    # the LSTM prior over z_t: an LSTMCell 32 -> 512 and a Gaussian head back to 32
    assert (model.prior_cell.input_size, model.prior_cell.hidden_size) == (32, 512)
    assert model.prior_out.out_features == 2 * 32
    # q(f): bi-LSTM over the 2048-d frame encodings; full q(z): bi-LSTM over [encoding, f] then an RNN
    assert model.f_lstm.bidirectional and (model.f_lstm.input_size, model.f_lstm.hidden_size) == (2048, 512)
    assert model.f_out.out_features == 2 * 256
    assert model.z_lstm.bidirectional and model.z_lstm.input_size == 2048 + 256
    assert (model.z_rnn.input_size, model.z_rnn.hidden_size) == (1024, 512)
    convs = [block[0] for block in model.encoder.conv]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [(256, (5, 5), (s, s)) for s in (1, 2, 2, 2)]
    assert all(isinstance(block[1], torch.nn.BatchNorm2d) for block in model.encoder.conv)
    assert all(block[2].negative_slope == 0.2 for block in model.encoder.conv)

    shapes: dict[str, tuple[int, ...]] = {}  # per-frame output shape of every encoder / decoder block
    stages = {"enc.conv": model.encoder.conv, "enc.fc": model.encoder.fc, "dec.fc": model.decoder.fc,
              "dec.deconv": model.decoder.deconv}  # fmt: skip
    for stage, blocks in stages.items():
        for i, block in enumerate(blocks):
            block.register_forward_hook(
                lambda mod, inp, out, key=f"{stage}{i}": shapes.__setitem__(key, tuple(out.shape[1:]))
            )
    batch = random_videos(2, 8, size=64)
    out = model(batch)
    assert shapes == {
        "enc.conv0": (256, 64, 64), "enc.conv1": (256, 32, 32), "enc.conv2": (256, 16, 16), "enc.conv3": (256, 8, 8),
        "enc.fc0": (4096,), "enc.fc1": (2048,),
        "dec.fc0": (4096,), "dec.fc1": (256 * 8 * 8,),
        "dec.deconv0": (256, 16, 16), "dec.deconv1": (256, 32, 32), "dec.deconv2": (256, 64, 64),
        "dec.deconv3": (3, 64, 64),
    }  # fmt: skip
    assert out.likelihood.mean.shape == batch.values.shape == (2, 8, 3, 64, 64)
    assert out.posterior.mean.shape == (2, 256) and out.kl_per_dim.shape == (2, 256 + 32)
    loss = -(out.recon_log_prob - out.kl).mean()
    assert torch.isfinite(loss)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not missing, f"no gradient reaches {missing}"
    assert all(bool(torch.isfinite(p.grad).all()) for p in model.parameters())


def test_cpu_preset_builds_and_runs() -> None:
    fast = {**load_run_config("sprites").model, "layout": "channels-first"}
    cfg = parse_model_config(fast)
    assert (cfg.frame_size, cfg.frames, cfg.strides, cfg.posterior) == (32, 8, [1, 2, 2, 2], "factorized")
    assert cfg.f_dim < 256 and cfg.z_dim < 32 and cfg.conv_channels < 256
    # tuned for the sprites experiment: a small z keeps the look in f, a tight likelihood keeps the small parts
    assert (cfg.conv_channels, cfg.f_dim, cfg.z_dim) == (16, 64, 4) and cfg.likelihood_std == pytest.approx(0.1)
    torch.manual_seed(0)
    model = build_model(fast, 3 * 32 * 32)
    out = model(random_videos(2, 8, size=32))
    assert out.likelihood.mean.shape == (2, 8, 3, 32, 32) and bool(torch.isfinite(out.kl).all())


# --------------------------------------------------------------------------- posteriors


def test_full_posterior_depends_on_f_and_all_frames() -> None:
    model = tiny(posterior="full").eval()
    batch = random_videos(3, 5)
    f = model.encode_parts(batch).f
    q = model.encode_dynamics(batch, f)
    assert q.batch_shape == (3, 5) and q.event_shape == (3,)
    assert not torch.allclose(model.encode_dynamics(batch, f + 1.0).mean, q.mean, atol=1e-4)
    moved = batch.values.clone()
    moved[:, 4] = torch.rand(moved[:, 4].shape, generator=torch.Generator().manual_seed(9))
    q_moved = model.encode_dynamics(Batch(values=moved), f)
    # the bi-LSTM carries frame 4 back to every earlier step
    assert not torch.allclose(q_moved.mean[:, 0], q.mean[:, 0], atol=1e-5)


def test_factorized_posterior_reads_only_its_own_frame() -> None:
    model = tiny(posterior="factorized").eval()
    batch = random_videos(3, 5)
    f = model.encode_parts(batch).f
    q = model.encode_dynamics(batch, f)
    assert torch.equal(model.encode_dynamics(batch, f + 1.0).mean, q.mean)
    s = 2
    moved = batch.values.clone()
    moved[:, s] = torch.rand(moved[:, s].shape, generator=torch.Generator().manual_seed(9))
    q_moved = model.encode_dynamics(Batch(values=moved), f)
    others = [t for t in range(5) if t != s]
    torch.testing.assert_close(q_moved.mean[:, others], q.mean[:, others], rtol=0, atol=1e-6)
    torch.testing.assert_close(q_moved.stddev[:, others], q.stddev[:, others], rtol=0, atol=1e-6)
    assert not torch.allclose(q_moved.mean[:, s], q.mean[:, s], atol=1e-4)


def test_posterior_with_feedback_draws_z_sequentially() -> None:
    model = tiny(posterior="full", posterior_feedback=True).eval()
    batch = random_videos(2, 4)
    f = model.encode_parts(batch).f
    a = model.encode_dynamics(batch, f, sample=True, generator=torch.Generator().manual_seed(1))
    b = model.encode_dynamics(batch, f, sample=True, generator=torch.Generator().manual_seed(2))
    # step 0 has no earlier z; later steps read the draws before them
    torch.testing.assert_close(a.mean[:, 0], b.mean[:, 0])
    assert not torch.allclose(a.mean[:, 1:], b.mean[:, 1:], atol=1e-5)
    loss = Objective(ObjectiveConfig())(model.train(), batch)["loss"].mean()
    loss.backward()
    assert model.z_rnn_cell.weight_ih.grad is not None and torch.isfinite(loss)


# --------------------------------------------------------------------------- swaps and prior draws


def test_swap_and_resampling_keep_the_right_part() -> None:
    model = tiny().eval()
    a, b = random_videos(3, 5, seed=1), random_videos(3, 5, seed=2)
    pa, pb = model.encode_parts(a), model.encode_parts(b)
    swapped = model.swap(a, b)
    assert swapped.shape == (3, 5, 3, 16, 16)
    torch.testing.assert_close(swapped, model.decode_parts(pa.f, pb.z), rtol=0, atol=1e-6)
    # decode_parts reads both parts: other dynamics, other frames
    assert not torch.allclose(model.decode_parts(pa.f, pb.z + 1.0), swapped, atol=1e-4)
    assert not torch.allclose(model.decode_parts(pa.f + 1.0, pb.z), swapped, atol=1e-4)
    torch.testing.assert_close(model.swap(a, a), model.reconstruct(a))

    new_dyn = model.resample_dynamics(a, torch.Generator().manual_seed(5))
    z = model.sample_dynamics(3, 5, torch.Generator().manual_seed(5))
    torch.testing.assert_close(new_dyn, model.decode_parts(pa.f, z))
    assert not torch.allclose(new_dyn, model.reconstruct(a), atol=1e-4)
    new_content = model.resample_content(a, torch.Generator().manual_seed(6))
    f = model.sample_content(3, torch.Generator().manual_seed(6))
    torch.testing.assert_close(new_content, model.decode_parts(f, pa.z))
    for frames in (swapped, new_dyn, new_content):
        assert bool(((frames >= 0) & (frames <= 1)).all())


def test_generate_videos_is_seeded_and_draws_f_then_z() -> None:
    model = tiny().eval()
    first = model.generate_videos(4, 7, torch.Generator().manual_seed(3))
    assert first.shape == (4, 7, 3, 16, 16) and bool(((first >= 0) & (first <= 1)).all())
    torch.testing.assert_close(model.generate_videos(4, 7, torch.Generator().manual_seed(3)), first, rtol=0, atol=0)
    assert not torch.allclose(model.generate_videos(4, 7, torch.Generator().manual_seed(4)), first, atol=1e-4)
    g = torch.Generator().manual_seed(3)
    f = model.sample_content(4, g)
    z = model.sample_dynamics(4, 7, g)
    torch.testing.assert_close(model.decode_parts(f, z), first)
    assert model.generate_videos(2).shape[1] == model.config.frames


def test_prior_over_dynamics_is_an_lstm_over_earlier_steps() -> None:
    model = tiny().eval()
    z = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))
    p = model.dynamics_prior(z)
    assert p.batch_shape == (2, 5)
    changed = z.clone()
    changed[:, 2] += 1.0
    q = model.dynamics_prior(changed)
    # z_2 enters p(z_t) only for t > 2
    torch.testing.assert_close(q.mean[:, :3], p.mean[:, :3], rtol=0, atol=0)
    assert not torch.allclose(q.mean[:, 3:], p.mean[:, 3:], atol=1e-5)


# --------------------------------------------------------------------------- KL and bounds


@pytest.mark.parametrize("posterior", ["full", "factorized"])
def test_kl_is_kl_f_plus_kl_z_against_closed_forms(posterior: str) -> None:
    model = tiny(posterior=posterior).eval()
    batch = random_videos(3, 5)
    torch.manual_seed(11)
    out = model(batch)
    kl_f, kl_z = out.terms["kl_f"], out.terms["kl_z"]
    torch.testing.assert_close(out.kl, kl_f + kl_z)
    torch.testing.assert_close(out.kl_per_dim.sum(-1), out.kl)
    standard = Independent(Normal(torch.zeros(3, 6), torch.ones(3, 6)), 1)
    torch.testing.assert_close(kl_f, kl_divergence(model.encode(batch), standard))
    # the same draw by hand: f ~ q(f|x), then z ~ q(z|x,f), then sum_t KL(q(z_t|.) || p(z_t|z_<t))
    torch.manual_seed(11)
    f = model.encode(batch).rsample()
    q = model.encode_dynamics(batch, f)
    z = q.mean + q.stddev * torch.randn_like(q.stddev)
    expected = kl_divergence(q, model.dynamics_prior(z)).sum(-1)
    torch.testing.assert_close(kl_z, expected)
    assert bool((kl_f > 0).all()) and bool((kl_z > 0).all())
    # the shared objectives read it: free bits over f's and z's dimensions, the latent means of f
    terms = Objective(ObjectiveConfig(free_bits=0.5))(model, batch)
    assert terms["mu"].shape == (3, 6) and terms["kl_per_dim"].shape == (3, 6 + 3)
    assert bool(torch.isfinite(terms["loss"]).all())


def test_importance_weights_cover_both_latents() -> None:
    """E_q[log w] over (f, z) is the ELBO: the mean of many weights matches forward()'s ELBO."""
    model = tiny().eval()
    batch = random_videos(2, 4)
    k, passes = 2000, 200
    with torch.no_grad():
        torch.manual_seed(0)
        w = model.log_weights(batch, k)
        outs = [model(batch) for _ in range(passes)]
        elbos = torch.stack([out.recon_log_prob - out.kl for out in outs])
    assert w.shape == (k, 2) and bool(torch.isfinite(w).all())
    se = torch.sqrt(w.var(0) / k + elbos.var(0) / passes)
    assert bool(((w.mean(0) - elbos.mean(0)).abs() < 4 * se + 1e-3).all())
    assert bool((logmeanexp(w, 0) >= w.mean(0)).all())


# --------------------------------------------------------------------------- inputs


def test_channels_last_layout_matches_channels_first() -> None:
    first, last = tiny(seed=4).eval(), tiny(seed=4, layout="channels-last").eval()
    batch = random_videos(2, 3)
    batch_last = Batch(values=batch.values.permute(0, 1, 3, 4, 2).contiguous())
    torch.testing.assert_close(last.reconstruct(batch_last), first.reconstruct(batch).permute(0, 1, 3, 4, 2))
    torch.manual_seed(0)
    a = first(batch).recon_log_prob
    torch.manual_seed(0)
    b = last(batch_last).recon_log_prob
    torch.testing.assert_close(a, b)


def test_export_and_load_round_trip(tmp_path: Path) -> None:
    model = tiny(posterior="factorized", strides=[1, 2, 2]).eval()
    model(random_videos(4, 3))  # eval mode: running statistics stay as they are
    with torch.no_grad():
        for module in model.modules():  # non-default BatchNorm statistics must travel too
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.1, 0.1)
    export_model(model, tmp_path)
    loaded = load_model(tmp_path)
    assert isinstance(loaded, DSAE) and loaded.config == model.config
    batch = random_videos(2, 3)
    torch.testing.assert_close(loaded.reconstruct(batch), model.reconstruct(batch), rtol=0, atol=0)


def test_bad_inputs_and_configs_are_refused() -> None:
    model = tiny()
    with pytest.raises(DataError, match="expects videos of shape"):
        model(Batch(values=torch.rand(2, 5, 3 * 16 * 16)))
    with pytest.raises(DataError, match="expects videos of shape"):
        model(Batch(values=torch.rand(2, 5, 3, 8, 8)))
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1, 3:] = False
    with pytest.raises(DataError, match="whole videos"):
        model(Batch(values=torch.rand(2, 5, 3, 16, 16), mask=mask))
    values = torch.rand(2, 5, 3, 16, 16)
    values[1, 2, 0, 3, 3] = float("nan")
    with pytest.raises(DataError, match="video 1"):
        model(Batch(values=values))
    with pytest.raises(ConfigError, match="values per frame"):
        build_model(TINY, 16 * 16)
    with pytest.raises(ConfigError, match="not divisible"):
        build_model({**TINY, "strides": [2, 2, 2, 2, 2]}, 3 * 16 * 16)
    with pytest.raises(ConfigError, match="posterior_feedback"):
        build_model({**TINY, "posterior": "factorized", "posterior_feedback": True}, 3 * 16 * 16)
    with pytest.raises(ConfigError, match="posterior"):
        build_model({**TINY, "posterior": "mean-field"}, 3 * 16 * 16)


# --------------------------------------------------------------------------- learning


@pytest.mark.slow  # ~2 min on an idle 2-core machine, 8 min under load
def test_learns_toy_videos() -> None:
    """Coloured squares moving right or down: in 200 steps the negative ELBO above its floor (the
    Gaussian's normalising constant) falls by far more than 30%, and reconstructions beat the mean video."""
    x = toy_videos(64)
    std = 0.2
    model = tiny(conv_channels=16, fc_hidden=64, frame_features=32, f_dim=4, z_dim=2, hidden=32,
                 prior_hidden=32, likelihood_std=std)  # fmt: skip
    objective = Objective(ObjectiveConfig())
    full = Batch(values=x)
    floor = x[0].numel() * math.log(std * math.sqrt(2 * math.pi))  # -log p(x|f,z) >= this, per video

    def evaluate() -> tuple[float, float]:
        model.eval()
        with torch.no_grad():
            torch.manual_seed(1)
            out = model(full)
            mse = float(((model.reconstruct(full) - x) ** 2).mean())
        model.train()
        return float(-(out.recon_log_prob - out.kl).mean()) - floor, mse

    before, _ = evaluate()
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        loss = objective(model, Batch(values=x[torch.randperm(64, generator=g)[:16]]))["loss"].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after, mse = evaluate()
    assert 0 < after < 0.3 * before, (before, after)
    assert mse < 0.25 * float(((x - x.mean(0)) ** 2).mean()), mse
