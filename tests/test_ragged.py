"""Ragged data made cheap without changing the answer: the shrinking decoder, padding-independence of the
loss, and length buckets that visit every sequence exactly once per epoch (also split over DDP ranks)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqvae.data.sequences import LengthBucketSampler, SequenceBatch, SequenceDataset
from seqvae.models.base import build_model
from seqvae.objectives import elbo_terms

LENGTHS = [3, 17, 9, 1, 12, 17, 5, 8]


def _model(cell: str, skip: bool, teacher_forcing: float = 0.0, fused: bool = True):
    torch.manual_seed(0)
    cfg = {"kind": "vrae", "latent_dim": 3, "hidden": 16, "cell": cell, "decoder_layers": 2,
           "teacher_forcing": teacher_forcing, "skip_finished": skip, "fused_teacher_forcing": fused,
           "end_of_sequence": True, "likelihood": {"kind": "gaussian-learned"}}
    return build_model(cfg, 2)


def _ragged(extra_padding: int = 0) -> SequenceBatch:
    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(n, 2)).astype(np.float32) for n in LENGTHS]
    batch = SequenceDataset(seqs).__getitems__(list(range(len(seqs))))
    if extra_padding:  # the same contents padded further, with NaN where nothing is real
        pad = torch.full((len(seqs), extra_padding, 2), float("nan"))
        values = torch.cat([batch.values, pad], 1)
        mask = torch.cat([batch.mask, torch.zeros(len(seqs), extra_padding, dtype=torch.bool)], 1)
        batch = SequenceBatch(values=values, mask=mask, lengths=batch.lengths)
    return batch


def _loss_and_grads(model, batch, seed: int = 1):
    model.train()
    torch.manual_seed(seed)
    loss = elbo_terms(model(batch))["loss"]
    model.zero_grad()
    loss.mean().backward()
    return loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("teacher_forcing", [0.0, 0.5])
def test_skipping_finished_sequences_gives_the_padded_loss_and_gradients(cell: str, teacher_forcing: float) -> None:
    skip, full = _model(cell, True, teacher_forcing), _model(cell, False, teacher_forcing)
    full.load_state_dict(skip.state_dict())
    batch = _ragged()
    loss_a, grads_a = _loss_and_grads(skip, batch)
    loss_b, grads_b = _loss_and_grads(full, batch)
    torch.testing.assert_close(loss_a, loss_b, rtol=1e-5, atol=1e-5)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 5
    for k in grads_a:
        torch.testing.assert_close(grads_a[k], grads_b[k], rtol=1e-5, atol=1e-5)
    # the decoder's outputs on real steps are the padded computation's, each sequence in its own row
    skip.eval(), full.eval()
    z = torch.randn(len(LENGTHS), 3, generator=torch.Generator().manual_seed(2))
    pa = skip.decode(z, batch).steps.mean
    pb = full.decode(z, batch).steps.mean
    for i, n in enumerate(LENGTHS):
        torch.testing.assert_close(pa[i, :n], pb[i, :n], rtol=1e-5, atol=1e-6)


def test_loss_does_not_depend_on_how_far_a_batch_is_padded() -> None:
    model = _model("lstm", True)
    loss_a, grads_a = _loss_and_grads(model, _ragged())
    loss_b, grads_b = _loss_and_grads(model, _ragged(extra_padding=13))
    torch.testing.assert_close(loss_a, loss_b, rtol=1e-5, atol=1e-5)
    for k in grads_a:
        torch.testing.assert_close(grads_a[k], grads_b[k], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n", [1000, 997, 33])
@pytest.mark.parametrize("world", [1, 2, 3])
def test_buckets_visit_every_sequence_once_per_epoch_on_every_rank_split(monkeypatch, n: int, world: int) -> None:
    lengths = np.random.default_rng(n).integers(8, 256, size=n)
    per_rank = []
    for rank in range(world):
        sampler = LengthBucketSampler(lengths, batch_size=32, seed=5, pool_batches=4)
        monkeypatch.setattr(sampler, "_shard", lambda rank=rank: (rank, world))
        epochs = [list(sampler) for _ in range(2)]
        assert all(len(e) == len(sampler) for e in epochs)  # every rank takes the same number of steps
        per_rank.append(epochs)
    for epoch in range(2):
        seen = sorted(i for r in range(world) for b in per_rank[r][epoch] for i in b)
        assert seen == list(range(n))  # none missed, none twice
    if world == 1:
        assert per_rank[0][0] != per_rank[0][1]  # reshuffled between epochs


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("skip", [True, False])
def test_fused_teacher_forced_decoder_gives_the_step_loop_loss_and_gradients(cell: str, skip: bool) -> None:
    fused, loop = _model(cell, skip, 1.0, fused=True), _model(cell, skip, 1.0, fused=False)
    loop.load_state_dict(fused.state_dict())
    assert fused.state_dict().keys() == loop.state_dict().keys()  # the fused path owns no weights
    batch = _ragged(extra_padding=4)
    loss_a, grads_a = _loss_and_grads(fused, batch)
    loss_b, grads_b = _loss_and_grads(loop, batch)
    assert torch.isfinite(loss_a).all()
    torch.testing.assert_close(loss_a, loss_b, rtol=1e-5, atol=1e-5)
    assert grads_a.keys() == grads_b.keys() and any(k.startswith("cells.1.") for k in grads_a)
    for k in grads_a:
        torch.testing.assert_close(grads_a[k], grads_b[k], rtol=1e-5, atol=1e-5)
