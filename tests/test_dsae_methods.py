"""The DSAE's method options: KL weight on f, learned likelihood std, wider/deeper decoder and C-DSVAE's
contrastive and mutual-information terms (closed forms on toy batches, and which latent each gradient reaches)."""

from __future__ import annotations

import math

import pytest
import torch

from seqvae.data.batch import Batch
from seqvae.errors import ConfigError
from seqvae.models import DSAE, build_model
from seqvae.models.dsae import content_augment, info_nce, motion_augment, mws_mutual_information

TINY = {
    "kind": "dsae", "frame_size": 16, "conv_channels": 4, "strides": [2, 2], "fc_hidden": 16, "frame_features": 16,
    "f_dim": 6, "z_dim": 3, "hidden": 8, "factorized_hidden": 8, "prior_hidden": 8, "posterior": "factorized",
}  # fmt: skip


def tiny(seed: int = 0, **overrides: object) -> DSAE:
    torch.manual_seed(seed)
    model = build_model({**TINY, **overrides}, 3 * 16 * 16)
    assert isinstance(model, DSAE)
    return model


def videos(n: int = 6, frames: int = 4, seed: int = 0) -> Batch:
    return Batch(values=torch.rand(n, frames, 3, 16, 16, generator=torch.Generator().manual_seed(seed)))


def _grads(model: DSAE, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad()
    loss.backward()
    return {k: (p.grad.clone() if p.grad is not None else torch.zeros_like(p)) for k, p in model.named_parameters()}


def test_info_nce_closed_form_and_its_bounds():
    b, tau = 5, 0.5
    eye = torch.eye(b)
    # positives identical, negatives orthogonal: -log(e^(1/tau) / (e^(1/tau) + (b - 1) e^0))
    expected = math.log(1.0 + (b - 1) * math.exp(-1.0 / tau))
    torch.testing.assert_close(info_nce(eye, 3.0 * eye, tau), torch.full((b,), expected))
    # every pair equally similar: log b, the loss of a guess
    same = torch.ones(b, 4)
    torch.testing.assert_close(info_nce(same, same, tau), torch.full((b,), math.log(b)))


def test_mws_mutual_information_closed_forms():
    b = 4
    g = torch.Generator().manual_seed(0)
    # z's posterior the same for every video: z says nothing about x, so nothing about f either -> 0
    log_qf = torch.randn(b, b, generator=g)
    log_qz = torch.randn(b, 1, generator=g).expand(b, b)
    torch.testing.assert_close(mws_mutual_information(log_qf, log_qz), torch.zeros(b), atol=1e-6, rtol=0)
    # each code possible under its own video only: both identify the video -> MI = log b
    diag = torch.full((b, b), -1e4).fill_diagonal_(0.0)
    torch.testing.assert_close(mws_mutual_information(diag, diag), torch.full((b,), math.log(b)))


def test_augmentations_keep_what_they_promise():
    x = torch.rand(3, 5, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    c = content_augment(x, torch.Generator().manual_seed(2))
    m = motion_augment(x, torch.Generator().manual_seed(3))
    for i in range(3):
        # content: the same frames (a permutation of them); motion: each frame's channels permuted alike
        frames = {tuple(f.flatten().tolist()) for f in x[i]}
        assert {tuple(f.flatten().tolist()) for f in c[i]} == frames
        perm = [int(torch.nonzero((m[i, 0, k] == x[i, 0]).flatten(1).all(1))[0]) for k in range(3)]
        assert sorted(perm) == [0, 1, 2]
        torch.testing.assert_close(m[i], x[i][:, perm])
    assert not torch.equal(c, x) and not torch.equal(m, x)


def test_beta_f_scales_the_gradient_of_kl_f_only_and_keeps_the_value():
    batch = videos()
    outs, grads = [], []
    for beta_f in (1.0, 3.0):
        model = tiny(0, beta_f=beta_f)
        torch.manual_seed(5)
        out = model(batch)
        outs.append(out)
        grads.append(_grads(model, out.kl.sum()))
    torch.testing.assert_close(outs[0].kl, outs[1].kl)  # the reported ELBO does not change
    torch.testing.assert_close(outs[0].kl_per_dim, outs[1].kl_per_dim)
    # factorized q(z): kl_z does not depend on f's head, kl_f does not depend on z's head
    torch.testing.assert_close(grads[1]["f_out.weight"], 3.0 * grads[0]["f_out.weight"])
    torch.testing.assert_close(grads[1]["z_out.weight"], grads[0]["z_out.weight"])
    assert grads[0]["f_out.weight"].abs().sum() > 0


@pytest.mark.parametrize("posterior", ["factorized", "full"])
def test_contrastive_terms_change_the_gradient_not_the_value(posterior):
    batch = videos()
    plain, cdsvae = tiny(0, posterior=posterior), tiny(0, posterior=posterior, contrastive_weight=1.0, mi_weight=1.0)
    plain.train()
    cdsvae.train()
    torch.manual_seed(7)
    a = plain(batch)
    torch.manual_seed(7)
    b = cdsvae(batch)
    torch.testing.assert_close(a.recon_log_prob, b.recon_log_prob)
    torch.testing.assert_close(a.kl, b.kl)
    for name in ("nce_f", "nce_z", "mi_fz"):
        assert b.terms[name].shape == (6,) and torch.isfinite(b.terms[name]).all()
    assert (b.terms["nce_f"] >= 0).all() and (b.terms["nce_z"] >= 0).all()
    ga, gb = _grads(plain, -a.recon_log_prob.sum()), _grads(cdsvae, -b.recon_log_prob.sum())
    assert not torch.allclose(ga["f_out.weight"], gb["f_out.weight"])
    assert not torch.allclose(ga["z_out.weight"], gb["z_out.weight"])
    cdsvae.eval()  # evaluation: no augmentation, no extra terms
    assert "nce_f" not in cdsvae(batch).terms


def test_each_contrastive_term_reaches_its_own_latent():
    """Factorized q(z): the f term's gradient reaches f's head and not z's, the z term's the reverse."""
    batch = videos()
    model = tiny(0)
    model.train()
    x = model._video(batch)
    feats = model._features(x)
    qf = model._f_posterior(feats)
    f = qf.rsample()
    zm, zs, z = model._z_posterior(feats, f, sample=True)
    terms = model._contrastive_terms(x, feats, qf, f, zm, zs, z)
    g_f = torch.autograd.grad(terms["nce_f"].sum(), [model.f_out.weight, model.z_out.weight], allow_unused=True)
    g_z = torch.autograd.grad(terms["nce_z"].sum(), [model.f_out.weight, model.z_out.weight], allow_unused=True)
    assert g_f[0].abs().sum() > 0 and (g_f[1] is None or g_f[1].abs().sum() == 0)
    assert g_z[1].abs().sum() > 0 and (g_z[0] is None or g_z[0].abs().sum() == 0)


def test_learned_likelihood_std_starts_at_the_fixed_one_and_learns():
    batch = videos()
    fixed, learned = tiny(0, likelihood_std=0.2), tiny(0, likelihood_std=0.2, learn_likelihood_std=True)
    torch.testing.assert_close(learned.likelihood_std, torch.tensor(0.2))
    torch.manual_seed(1)
    a = fixed(batch)
    torch.manual_seed(1)
    b = learned(batch)
    torch.testing.assert_close(a.recon_log_prob, b.recon_log_prob)
    (-b.recon_log_prob.sum()).backward()
    assert learned.likelihood_raw_std.grad is not None and learned.likelihood_raw_std.grad.abs() > 0
    with torch.no_grad():
        learned.likelihood_raw_std.fill_(-50.0)
    torch.testing.assert_close(learned.likelihood_std, torch.tensor(0.01))  # the floor
    with pytest.raises(ConfigError, match="min_likelihood_std"):
        tiny(0, likelihood_std=0.005, learn_likelihood_std=True)


def test_wider_deeper_decoder_keeps_the_frame_shape():
    base, big = tiny(0), tiny(0, decoder_channels=8, decoder_refine=2)
    n_base = sum(p.numel() for p in base.decoder.parameters())
    n_big = sum(p.numel() for p in big.decoder.parameters())
    assert n_big > n_base
    refine = [m for m in big.decoder.deconv if isinstance(m, torch.nn.Sequential) and isinstance(m[0], torch.nn.Conv2d)]
    assert len(refine) == 2 and refine[0][0].in_channels == 8
    big.eval()
    frames = big.decode_parts(torch.zeros(2, 6), torch.zeros(2, 4, 3))
    assert frames.shape == (2, 4, 3, 16, 16) and 0 <= frames.min() and frames.max() <= 1
