"""Sequence data layer and recurrent VAEs: masks, normalisation, resampling, splits, stop head, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from seqvae.api import _sequence_arrays
from seqvae.checkpoint import load_run
from seqvae.cli import app
from seqvae.config import DataConfig, ObjectiveConfig, SequenceDataConfig
from seqvae.data.prepare import bundle_sequences, fit_sequence_normalizer, split_by_id
from seqvae.data.readers import write_sequences_csv, write_sequences_npz
from seqvae.data.sequences import (
    LengthBucketSampler,
    SequenceBatch,
    SequenceDataset,
    resample_linear,
    resample_random,
    to_absolute,
    to_relative,
)
from seqvae.data.sources import load_sequences
from seqvae.data.toy import sinusoids
from seqvae.errors import ConfigError, DataError
from seqvae.models import build_model
from seqvae.models.recurrent import SequenceLikelihood, VRAEConfig, teacher_forcing_probability
from seqvae.objectives import Objective
from seqvae.runconfig import load_run_config

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def random_sequences(n: int, features: int, seed: int, lo: int = 3, hi: int = 12) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(int(rng.integers(lo, hi + 1)), features)).astype(np.float32) for _ in range(n)]


# --------------------------------------------------------------------------- batches and datasets


def test_padding_mask_and_unpad_round_trip() -> None:
    seqs = random_sequences(5, 3, seed=0)
    batch = SequenceBatch.from_sequences(seqs, pad_to=20)
    assert batch.values.shape == (5, 20, 3)
    assert batch.lengths.tolist() == [len(s) for s in seqs]
    assert batch.mask.sum().item() == sum(len(s) for s in seqs)
    assert not batch.values[~batch.mask].any()  # zeros after each end
    for a, b in zip(batch.unpad(), seqs):
        np.testing.assert_array_equal(a, b)
    # index/repeat keep the type and the mask
    sub = batch.index(torch.tensor([2, 0]))
    assert isinstance(sub, SequenceBatch) and sub.lengths.tolist() == [len(seqs[2]), len(seqs[0])]
    assert isinstance(batch.repeat(3), SequenceBatch) and len(batch.repeat(3)) == 15


def test_dataset_batches_are_trimmed_to_their_longest_member() -> None:
    seqs = [np.ones((n, 2), dtype=np.float32) * n for n in (4, 9, 2, 6)]
    ds = SequenceDataset(seqs, labels={"n": np.array([4, 9, 2, 6])}, ids=["a", "b", "c", "d"])
    batch = ds.__getitems__([0, 2])
    assert batch.values.shape == (2, 4, 2)
    assert batch.labels["n"].tolist() == [4, 2]
    assert ds.batch().values.shape == (4, 9, 2)


def test_length_buckets_cover_every_sequence_once_and_reduce_padding() -> None:
    lengths = np.random.default_rng(0).integers(5, 200, size=1000)
    sampler = LengthBucketSampler(lengths, batch_size=32, seed=3, pool_batches=8)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    padded = sum(len(b) * lengths[b].max() for b in batches)
    rng = np.random.default_rng(1)
    order = rng.permutation(1000)
    random_padded = sum(len(b) * lengths[b].max() for b in np.array_split(order, len(batches)))
    assert padded < 0.7 * random_padded
    again = LengthBucketSampler(lengths, batch_size=32, seed=3, pool_batches=8)
    assert list(again) == batches  # seeded by (seed, epoch)
    assert list(again) != batches  # the next epoch is a different order


def test_normaliser_is_fitted_on_real_steps_of_the_training_split_only() -> None:
    seqs, labels = sinusoids(60, seed=2)
    seqs = [s + np.float32(i) for i, s in enumerate(seqs)]  # every sequence has its own offset
    cfg = DataConfig(kind="sinusoids", normalize=True, val_fraction=0.2, test_fraction=0.2)
    from seqvae.data.readers import SequenceTable

    table = SequenceTable(seqs, [f"s{i}" for i in range(60)], ["x", "y"], labels, "test")
    bundle = bundle_sequences(table, cfg, seed=4)
    train = np.concatenate([seqs[i] for i in bundle.splits["train"]])
    np.testing.assert_allclose(bundle.normalizer.mean, train.mean(0), rtol=1e-6)
    np.testing.assert_allclose(bundle.normalizer.std, train.std(0), rtol=1e-6)
    everything = np.concatenate(seqs)
    assert not np.allclose(bundle.normalizer.mean, everything.mean(0), rtol=1e-3)
    # the padded training set gives the same statistics: padding never enters them
    refit = fit_sequence_normalizer(bundle.train)
    np.testing.assert_allclose(refit.mean, 0.0, atol=1e-5)
    np.testing.assert_allclose(refit.std, 1.0, atol=1e-5)
    # round trip to 1e-6 relative
    for i, s in zip(bundle.splits["val"], bundle.val.sequences()):
        np.testing.assert_allclose(bundle.normalizer.inverse(s), seqs[i], rtol=1e-6, atol=1e-5)


# --------------------------------------------------------------------------- resampling, transforms, splits


def test_linear_resampling_is_exact_on_linear_sequences() -> None:
    t = np.linspace(0.0, 1.0, 17)
    seq = np.stack([3 * t + 1, -2 * t], axis=1)
    out = resample_linear(seq, 60)
    s = np.linspace(0.0, 1.0, 60)
    np.testing.assert_allclose(out, np.stack([3 * s + 1, -2 * s], axis=1), atol=1e-6)


def test_random_resampling_reaches_the_length_and_keeps_the_ends() -> None:
    rng = np.random.default_rng(0)
    short = np.cumsum(rng.normal(size=(23, 2)), axis=0).astype(np.float32)
    long = np.cumsum(rng.normal(size=(140, 2)), axis=0).astype(np.float32)
    up = resample_random(short, 60, np.random.default_rng(1))
    down = resample_random(long, 60, np.random.default_rng(1))
    assert up.shape == down.shape == (60, 2)
    for src, out in ((short, up), (long, down)):
        np.testing.assert_array_equal(out[0], src[0])
        np.testing.assert_array_equal(out[-1], src[-1])
    # insertion keeps every original point in order; deletion keeps a subsequence of them
    kept = [i for i, row in enumerate(short) if any(np.allclose(row, r) for r in up)]
    assert kept == list(range(len(short)))
    rows = {tuple(r) for r in long.tolist()}
    assert all(tuple(r) in rows for r in down.tolist())
    again = resample_random(short, 60, np.random.default_rng(1))
    np.testing.assert_array_equal(again, up)
    with pytest.raises(DataError, match="at least 2 steps"):
        resample_random(short[:1], 60, np.random.default_rng(0))


def test_relative_and_absolute_coordinates_round_trip() -> None:
    rng = np.random.default_rng(0)
    rel = rng.normal(size=(30, 3))
    absolute = to_absolute(rel, columns=[0, 1], origin=np.array([5.0, -1.0]))
    np.testing.assert_allclose(absolute[:, 0], 5.0 + np.cumsum(rel[:, 0]))
    np.testing.assert_array_equal(absolute[:, 2], rel[:, 2])  # other columns untouched
    np.testing.assert_allclose(to_relative(absolute, columns=[0, 1], origin=np.array([5.0, -1.0])), rel, atol=1e-12)


def test_split_by_id_ignores_file_order_and_is_seeded() -> None:
    ids = [f"seq{i}" for i in range(50)]
    a = split_by_id(ids, 0.2, 0.2, seed=1)
    shuffled = list(reversed(ids))
    b = split_by_id(shuffled, 0.2, 0.2, seed=1)
    for name in ("train", "val", "test"):
        assert {ids[i] for i in a[name]} == {shuffled[i] for i in b[name]}
    assert sorted(np.concatenate(list(a.values())).tolist()) == list(range(50))
    assert len(a["val"]) == len(a["test"]) == 10
    c = split_by_id(ids, 0.2, 0.2, seed=2)
    assert set(a["test"]) != set(c["test"])


def test_sequence_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="resample needs data.sequence.length"):
        SequenceDataConfig(resample="random")
    cfg = DataConfig(kind="sinusoids", params={"n": 10}, sequence=SequenceDataConfig(to_absolute=[5]))
    with pytest.raises(ConfigError, match="feature 5 does not exist"):
        load_sequences(cfg, 0)


# --------------------------------------------------------------------------- models


MODEL_CASES = [
    {"kind": "vrae"},
    {"kind": "vrae", "bidirectional": True, "layers": 2, "cell": "gru"},
    {"kind": "vrae", "teacher_forcing": 0.5, "decoder_layers": 2},
    {"kind": "stacked-lstm", "hidden": 16, "latent_dim": 3},
    {"kind": "stacked-lstm", "hidden": 16, "bidirectional": True, "likelihood": {"kind": "gaussian-learned", "std_mode": "output"}},
]


@pytest.mark.parametrize("raw", MODEL_CASES, ids=lambda r: "-".join(f"{k}={v}" for k, v in r.items() if k != "likelihood"))
def test_padding_changes_neither_loss_nor_gradients(raw: dict) -> None:
    torch.manual_seed(0)
    model = build_model(raw, 3)
    model.train()
    seqs = random_sequences(6, 3, seed=1)
    tight = SequenceBatch.from_sequences(seqs)
    loose = SequenceBatch.from_sequences(seqs, pad_to=tight.values.shape[1] + 20)
    loose.values[~loose.mask] = float("nan")  # whatever sits in the padding must not matter
    objective = Objective(ObjectiveConfig(beta=0.7))
    results = []
    for batch in (tight, loose):
        torch.manual_seed(5)  # same reparameterisation noise (and teacher-forcing draws)
        loss = objective(model, batch)["loss"].sum()
        grads = torch.autograd.grad(loss, [p for p in model.parameters()], allow_unused=True)
        results.append((loss.detach(), grads))
    (l1, g1), (l2, g2) = results
    assert torch.isfinite(l2)
    torch.testing.assert_close(l2, l1, rtol=1e-6, atol=1e-5)
    for a, b in zip(g1, g2):
        if a is None:
            assert b is None
            continue
        scale = max(1.0, float(a.abs().max()))
        assert float((a - b).abs().max()) <= 1e-5 * scale


def test_stop_head_likelihood_and_generated_lengths_match_closed_forms() -> None:
    steps = torch.distributions.Independent(torch.distributions.Normal(torch.zeros(2, 4, 1), 1.0), 1)
    logits = torch.tensor([[-3.0, 2.0, -1.0, 0.5], [-2.0, -2.0, -2.0, -2.0]])
    px = SequenceLikelihood(steps, logits)
    lengths = torch.tensor([3, 4])
    mask = torch.arange(4)[None] < lengths[:, None]
    ls = torch.nn.functional.logsigmoid
    expected = torch.stack(
        [ls(-logits[0, 0]) + ls(-logits[0, 1]) + ls(logits[0, 2]), ls(-logits[1, :3]).sum() + ls(logits[1, 3])]
    )
    torch.testing.assert_close(px.stop_log_prob(lengths, mask), expected)
    assert px.stopped_lengths().tolist() == [2, 4]  # first p(stop) > 1/2 at step 1; never -> all 4 steps


def test_scheduled_sampling_probabilities() -> None:
    lin = VRAEConfig(teacher_forcing=0.8, teacher_forcing_schedule="linear", teacher_forcing_steps=100)
    assert [teacher_forcing_probability(lin, s) for s in (0, 50, 100, 500)] == pytest.approx([0.8, 0.4, 0.0, 0.0])
    sig = VRAEConfig(teacher_forcing=1.0, teacher_forcing_schedule="inverse-sigmoid", teacher_forcing_steps=10)
    values = [teacher_forcing_probability(sig, s) for s in (0, 10, 50, 100, 10_000)]
    assert values[0] == pytest.approx(10 / 11)
    assert values[1] == pytest.approx(10 / (10 + np.e))
    assert all(a > b for a, b in zip(values, values[1:])) and values[-1] < 1e-30
    assert teacher_forcing_probability(VRAEConfig(teacher_forcing=0.3), 10**6) == 0.3


def test_shipped_models_hold_the_source_sizes() -> None:
    # source 001's model on its (x, y) strokes: the strokes paper model without the pen flag's Bernoulli
    paper = build_model({**load_run_config("strokes", preset="paper").model, "likelihood": {"kind": "gaussian"}}, 2)
    assert paper.encoder.rnn.hidden_size == 512 and paper.encoder.rnn.num_layers == 2
    assert paper.latent_dim == 64 and paper.decoder.hidden_size == 512 and paper.to_output.hidden_size == 2
    vrae = build_model({**load_run_config("basketball").model, "latent_dim": 3}, 3)
    assert vrae.latent_dim == 3 and vrae.cells[0].hidden_size == 64
    with pytest.raises(ConfigError, match=r"model.preset \('strokes-paper'\) was removed.*--config strokes --preset paper"):
        build_model({"preset": "strokes-paper"}, 2)


def test_generation_ends_at_the_requested_length_or_the_stop_head() -> None:
    torch.manual_seed(0)
    model = build_model({"kind": "vrae", "max_length": 30}, 2).eval()
    z = torch.randn(5, 2)
    values, lengths = model.generate(z, length=7)
    assert values.shape == (5, 7, 2) and lengths.tolist() == [7] * 5
    values, lengths = model.generate(z)
    assert values.shape[1] == 30
    mask = torch.arange(30)[None] < lengths[:, None]
    assert not values[~mask].any()
    px = model.decode(z, length=30)
    assert lengths.tolist() == px.stopped_lengths().tolist()


# --------------------------------------------------------------------------- training and the CLI


@pytest.fixture(scope="module")
def seq_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[np.ndarray]]:
    tmp = tmp_path_factory.mktemp("seq")
    seqs, labels = sinusoids(120, seed=0)
    seqs = [s * 3.0 + 10.0 for s in seqs]  # far from zero mean / unit std: the normaliser matters
    data = write_sequences_npz(tmp / "circles.npz", seqs, ids=[f"c{i}" for i in range(120)], labels=labels)
    out = tmp / "run"
    invoke(
        "train", "--config", "vrae-sinusoids", "--data", str(data), "--out", str(out), "--no-progress",
        "--set", "train.max_epochs=2", "--set", "model.hidden=16", "--set", "data.sequence.labels=[amplitude]",
    )
    return out, data, seqs


def test_trained_sequence_model_reloads_and_speaks_data_units(seq_run, tmp_path: Path) -> None:
    out, data, seqs = seq_run
    loaded = load_run(out)
    assert loaded.model.kind == "vrae" and loaded.normalizer is not None
    assert json.loads((out / "config.json").read_text())["data"]["path"] == str(data)
    # samples: the written x is the normaliser's inverse of the model's own generation
    invoke("sample", str(out), "-n", "4", "--length", "12", "--out", str(tmp_path / "s.npz"), "--seed", "3")
    written = np.load(tmp_path / "s.npz")
    assert written["x"].shape == (4, 12, 2) and written["lengths"].tolist() == [12] * 4
    values, lengths = loaded.model.generate(torch.as_tensor(written["z"]), 12)
    expected = loaded.normalizer.inverse(values.numpy())
    np.testing.assert_allclose(written["x"], expected, rtol=1e-6, atol=1e-5)
    assert abs(float(np.nanmean(written["x"])) - 10.0) < 3.0  # data units, not standardised ones
    # encode: the file's sequences, normalised with the stored normaliser
    invoke("encode", str(out), "--data", str(data), "--out", str(tmp_path / "z.npz"))
    z = np.load(tmp_path / "z.npz")
    assert z["mean"].shape == (120, 2) and z["ids"][0] == "c0"
    direct = loaded.model.encode(SequenceBatch.from_sequences([loaded.normalizer.transform(seqs[5])])).mean
    np.testing.assert_allclose(z["mean"][5], direct[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    invoke("evaluate", str(out), "--data", str(data), "--iwae-samples", "4", "--ll-samples", "8")


def test_interpolate_decodes_the_line_between_two_sequences(seq_run, tmp_path: Path) -> None:
    out, data, seqs = seq_run
    target = tmp_path / "line.npz"
    invoke("interpolate", str(out), "--a", "3", "--b", "17", "--steps", "5", "--data", str(data), "--out", str(target))
    line = np.load(target)
    loaded = load_run(out)
    ends = loaded.model.encode(SequenceBatch.from_sequences([loaded.normalizer.transform(seqs[i]) for i in (3, 17)])).mean
    np.testing.assert_allclose(line["z"][0], ends[0].detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(line["z"][-1], ends[1].detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(line["z"][2], 0.5 * (line["z"][0] + line["z"][-1]), atol=1e-5)
    # no stop head in this config: lengths run from len(a) to len(b)
    assert line["lengths"][0] == len(seqs[3]) and line["lengths"][-1] == len(seqs[17])
    recon = loaded.model.reconstruct(SequenceBatch.from_sequences([loaded.normalizer.transform(seqs[3])]))
    np.testing.assert_allclose(line["x"][0, : len(seqs[3])], loaded.normalizer.inverse(recon[0].numpy()), rtol=1e-5, atol=1e-4)
    assert target.with_suffix(".png").stat().st_size > 5000
    result = runner.invoke(app, ["interpolate", str(out), "--a", "3", "--b", "500", "--data", str(data)])
    assert result.exit_code == 2 and "--b 500 is out of range" in result.output


def test_sample_near_stays_in_the_ball(seq_run, tmp_path: Path) -> None:
    out, data, seqs = seq_run
    target = tmp_path / "near.npz"
    invoke("sample", str(out), "--near", "8", "--radius", "0.3", "-n", "50", "--out", str(target), "--data", str(data))
    near = np.load(target)
    loaded = load_run(out)
    centre = loaded.model.encode(SequenceBatch.from_sequences([loaded.normalizer.transform(seqs[8])])).mean[0].detach().numpy()
    dist = np.linalg.norm(near["z"] - centre, axis=1)
    np.testing.assert_allclose(dist, near["distance"], atol=1e-5)
    assert dist.max() <= 0.3 + 1e-6 and dist.max() > 0.2  # fills the ball, not just its centre
    assert near["x"].shape == (50, len(seqs[8]), 2)


def test_sequence_arrays_put_nan_after_each_end() -> None:
    class _Loaded:
        normalizer = None

    arrays = _sequence_arrays(_Loaded(), torch.ones(2, 4, 1), torch.tensor([2, 4]))
    assert np.isnan(arrays["x"][0, 2:]).all() and not np.isnan(arrays["x"][1]).any()


def test_long_csv_trains_through_the_cli(tmp_path: Path) -> None:
    seqs, _ = sinusoids(40, seed=1)
    data = write_sequences_csv(tmp_path / "long.csv", seqs, ids=[f"s{i}" for i in range(40)], feature_names=["x", "y"])
    out = tmp_path / "run"
    invoke(
        "train", "--config", "vrae-sinusoids", "--data", str(data), "--out", str(out), "--no-progress",
        "--set", "train.max_epochs=1", "--set", "model.hidden=8", "--set", "data.sequence.features=[x,y]",
    )
    assert load_run(out).model.features == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("sequence_id,t,x,y\na,0,1,2\na,1,1,nan\nb,0,1,2\n")
    result = runner.invoke(app, ["train", "--config", "vrae-sinusoids", "--data", str(bad), "--out", str(tmp_path / "r2")])
    assert result.exit_code == 2 and "bad.csv" in result.output and "line 3" in result.output


@pytest.mark.slow
def test_vrae_learns_the_two_generating_parameters(tmp_path: Path) -> None:
    """Acceptance: `seqvae train` on circles of random radius and starting angle (2-D latent)."""
    from seqvae.analysis.latent import probe_r2, sequence_reconstruction_rmse
    from seqvae.data.sources import load_data

    out = tmp_path / "sin"
    invoke("train", "--config", "vrae-sinusoids", "--out", str(out), "--no-progress")
    loaded = load_run(out)
    bundle = load_data(loaded.run.data, loaded.run.seed, sequences=True)
    quality = sequence_reconstruction_rmse(loaded.model, bundle.val, loaded.normalizer)
    assert quality["relative_rmse"] < 0.10
    mu = loaded.model.encode(bundle.val.batch()).mean.detach().numpy()
    for name in ("amplitude", "phase"):
        target = bundle.val.labels[name].numpy()
        assert max(probe_r2(mu, target, "linear"), probe_r2(mu, target, "knn")) >= 0.9, name


def test_unscaled_features_pass_normalisation_and_to_relative_inverts_to_absolute() -> None:
    from seqvae.config import DataConfig, SequenceDataConfig
    from seqvae.data.prepare import bundle_sequences, prepare_sequences
    from seqvae.data.readers import SequenceTable
    from seqvae.data.sequences import to_absolute

    rng = np.random.default_rng(0)
    seqs = []
    for _ in range(40):
        xy = np.cumsum(rng.normal(5.0, 2.0, (30, 2)), axis=0)
        pen = (rng.random((30, 1)) < 0.1).astype(np.float64)
        seqs.append(np.concatenate([xy, pen], axis=1).astype(np.float32))
    table = SequenceTable([s.copy() for s in seqs], [str(i) for i in range(40)], ["x", "y", "pen"], {}, "test")
    cfg = DataConfig(kind="file", normalize=True, sequence=SequenceDataConfig(to_relative=[0, 1], unscaled=[2]))
    prepared = prepare_sequences(table, cfg.sequence, seed=0)
    for orig, rel in zip(seqs, prepared.sequences):
        np.testing.assert_allclose(to_absolute(rel, [0, 1]), orig, rtol=1e-5, atol=1e-3)
        np.testing.assert_array_equal(rel[:, 2], orig[:, 2])
    bundle = bundle_sequences(prepared, cfg, seed=0)
    assert bundle.normalizer.mean[2] == 0.0 and bundle.normalizer.std[2] == 1.0
    assert bundle.normalizer.std[0] != 1.0
    values = bundle.train.values.numpy()[bundle.train.mask.numpy()]
    assert set(np.unique(values[:, 2])) <= {0.0, 1.0}  # the flag is still binary for a Bernoulli head
    with pytest.raises(ConfigError, match="both"):
        SequenceDataConfig(to_absolute=[0], to_relative=[0])
