"""A user's own data through every command after training, by the CLI: train -> splits -> encode ->
reconstruct -> evaluate, for a long CSV with ids (sequence model), a molecular trajectory, a vector model
on an .npz with values + lengths, and a DSAE on a Sprites-layout directory.

Each asserts what can fail: every example comes back once with its id and the split training gave it;
reconstruction errors equal the ones computed here by hand from the written arrays and from the model;
reading the same data through --data (another path) gives the same numbers as the run's own data; an
experiment's metrics.json is left byte for byte.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file as load_safetensors
from typer.testing import CliRunner

from seqvae import api
from seqvae.checkpoint import load_run
from seqvae.cli import app
from seqvae.data.prepare import split_by_id, split_indices
from seqvae.data.readers import write_sequences_csv, write_sequences_npz
from seqvae.data.sequences import SequenceDataset

pytestmark = pytest.mark.filterwarnings("ignore::seqvae.training.PosteriorCollapseWarning")  # 2-epoch runs
runner = CliRunner()
TRAIN = {"max_epochs": 2, "batch_size": 8, "progress_bar": False}
EVAL = {"iwae_samples": 2, "ll_samples": 4, "batch_size": 64}


def invoke(*args: object) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def train(tmp_path: Path, config: dict) -> Path:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    run = tmp_path / "run"
    invoke("train", "--config", cfg, "--out", run, "--no-progress")
    return run


def npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def check_reconstruction_file(path: Path, report: dict) -> dict[str, np.ndarray]:
    """The .npz's arrays give back, by hand, every RMSE the JSON reports."""
    r = npz(path)
    recon, orig, lengths = r["reconstruction"].astype(np.float64), r["original"].astype(np.float64), r["lengths"]
    assert len(recon) == len(orig) == lengths.sum() and len(r["sequence_id"]) == len(r["split"]) == len(lengths)
    sq = (recon - orig) ** 2
    assert report["rmse"] == pytest.approx(np.sqrt(sq.mean()), rel=1e-9)
    ends = np.cumsum(lengths)[:-1]
    per_seq = [np.sqrt(part.mean()) for part in np.split(sq, ends)]
    np.testing.assert_allclose(r["rmse"], per_seq, rtol=1e-9)
    np.testing.assert_allclose(report["per_sequence"]["rmse"], per_seq, rtol=1e-9)
    per_feature = np.sqrt(sq.reshape(-1, sq.shape[-1]).mean(0))  # features last (videos here: channels-last)
    np.testing.assert_allclose(report["rmse_per_feature"], per_feature, rtol=1e-9)
    assert report["feature_names"] == r["feature_names"].tolist()
    for name, value in report["rmse_by_split"].items():
        rows = np.repeat(r["split"] == name, lengths)
        assert value == pytest.approx(np.sqrt(sq[rows].mean()), rel=1e-9), name
    return r


def check_run_split(run: Path, ids: list[str], expected: dict[str, list[str]]) -> None:
    """encode (no --data) and `seqvae splits` list every example once, with the split training used."""
    lat = npz(run / "latents.npz")
    assert lat["sequence_id"].tolist() == ids and lat["ids"].tolist() == ids
    for name, members in expected.items():
        assert sorted(lat["sequence_id"][lat["split"] == name].tolist()) == sorted(members), name
    out = invoke("splits", run, "--out", run / "splits.csv")
    assert ", ".join(f"{k} {len(expected[k])}" for k in ("train", "val", "test")) in out
    rows = [line.split(",") for line in (run / "splits.csv").read_text().splitlines()[1:]]
    assert rows == [[i, s] for i, s in zip(ids, lat["split"].tolist())]


def check_evaluate_keeps_metrics(run: Path, *extra: object, out: Path | None = None) -> dict:
    """evaluate writes its own file and leaves an experiment's metrics.json byte for byte."""
    metrics = run / "metrics.json"
    metrics.write_text('{"summary": {"claim": true}, "judge": {"accuracy": 0.9}}\n')
    before = metrics.read_bytes()
    invoke("evaluate", run, *extra, *(["--out", out] if out is not None else []))
    assert metrics.read_bytes() == before
    written = out if out is not None else run / "evaluation.json"
    evaluation = json.loads(written.read_text())
    assert evaluation["elbo"] <= evaluation["log_likelihood"] + 1.0  # bounds in the same units, roughly ordered
    return evaluation


# --------------------------------------------------------------------------- long CSV, sequence model


def test_long_csv_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ids = [f"walk-{i:02d}" for i in (5, 3, 11, 0, 8, 1, 14, 2, 9, 6, 12, 4, 10, 7, 13)]  # not sorted
    seqs = [np.cumsum(rng.normal(size=(int(rng.integers(3, 10)), 2)), axis=0).astype(np.float32) + 50 for _ in ids]
    csv = write_sequences_csv(tmp_path / "tracks.csv", seqs, ids=ids, feature_names=["x", "y"])
    run = train(tmp_path, {
        "seed": 1,
        "data": {"kind": "file", "path": str(csv), "normalize": True, "val_fraction": 0.2, "test_fraction": 0.2},
        "model": {"kind": "vrae", "latent_dim": 2, "hidden": 8, "end_of_sequence": False, "max_length": 12},
        "train": TRAIN, "eval": EVAL,
    })
    split = split_by_id(ids, 0.2, 0.2, 1)
    expected = {name: [ids[i] for i in idx] for name, idx in split.items()}

    invoke("encode", run)  # all rows of the run's own data, in the file's order
    check_run_split(run, ids, expected)
    assert npz(run / "latents.npz")["mean"].shape == (15, 2)
    only_test = invoke("encode", run, "--split", "test", "--out", tmp_path / "test.npz")
    assert "encoded 3 examples" in only_test
    assert sorted(npz(tmp_path / "test.npz")["sequence_id"].tolist()) == sorted(expected["test"])

    out = invoke("reconstruct", run, "--out", tmp_path / "R.npz")
    report = json.loads((tmp_path / "R.json").read_text())
    r = check_reconstruction_file(tmp_path / "R.npz", report)
    assert r["sequence_id"].tolist() == ids and r["feature_names"].tolist() == ["x", "y"]
    np.testing.assert_array_equal(r["original"], np.concatenate(seqs))  # the data as read: data units, no padding
    assert f"{report['rmse']:.4g}" in out and str(report["rmse"]) not in out  # rounded for people, full in JSON
    library = api.reconstruct_run(run, output=tmp_path / "again.npz")
    assert library["rmse"] == pytest.approx(report["rmse"], abs=1e-6)
    assert set(report["rmse_by_split"]) == {"train", "val", "test"} and report["data_seed"] == 1

    # by hand on one sequence: normalise, decode the posterior mean, map back
    loaded = load_run(run)
    k = 4
    x = loaded.normalizer.transform(seqs[k])
    with torch.no_grad():
        recon = loaded.model.reconstruct(SequenceDataset([x]).batch())[0].numpy()
    start = int(r["lengths"][:k].sum())
    by_hand = loaded.normalizer.inverse(recon)
    np.testing.assert_allclose(r["reconstruction"][start : start + len(seqs[k])], by_hand, rtol=1e-5, atol=1e-4)
    assert r["rmse"][k] == pytest.approx(np.sqrt(np.mean((by_hand - seqs[k].astype(np.float64)) ** 2)), rel=1e-4)

    # the same file elsewhere, read through --data: same examples, same numbers, split 'external'
    copy = tmp_path / "elsewhere" / "copy.csv"
    copy.parent.mkdir()
    shutil.copy(csv, copy)
    ext = api.reconstruct_run(run, copy, output=tmp_path / "ext.npz")
    assert ext["rmse"] == pytest.approx(report["rmse"], abs=1e-6)
    assert set(ext["per_sequence"]["split"]) == {"external"} and ext["per_sequence"]["sequence_id"] == ids
    same = api.reconstruct_run(run, csv, output=tmp_path / "same.npz")  # the run's own file: its real splits
    assert same["per_sequence"]["split"] == report["per_sequence"]["split"]
    invoke("encode", run, "--data", copy, "--out", tmp_path / "ext_lat.npz")
    np.testing.assert_allclose(npz(tmp_path / "ext_lat.npz")["mean"], npz(run / "latents.npz")["mean"], atol=1e-6)

    evaluation = check_evaluate_keeps_metrics(run)
    assert evaluation["split"] == "test" and evaluation["n_examples"] == 3
    assert evaluation["data_seed"] == 1 and evaluation["seed"] == 1  # the run's seed, not 0

    # one wording for a missing path, as train says it
    missing = tmp_path / "nope.csv"
    for args in (["encode", run, "--data", missing], ["reconstruct", run, "--data", missing],
                 ["evaluate", run, "--data", missing], ["train", "--config", tmp_path / "config.yaml",
                                                         "--out", tmp_path / "r2", "--data", missing]):
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 2 and f"{missing}: no such file or directory" in result.output, args
    result = runner.invoke(app, ["encode", str(tmp_path / "no-run"), "--data", str(csv)])
    assert result.exit_code == 2 and f"{tmp_path / 'no-run'}: no such file or directory" in result.output
    result = runner.invoke(app, ["reconstruct", str(run), "--data", str(copy), "--split", "test"])
    assert result.exit_code == 2 and "--split test picks from the run's own data" in result.output

    # the run directory copied elsewhere and resumed to 4 epochs exports what an uninterrupted 4-epoch run does
    moved = tmp_path / "moved" / "run"
    shutil.copytree(run, moved)
    invoke("train", "--resume", moved, "--set", "train.max_epochs=4", "--no-progress")
    straight = tmp_path / "straight"
    invoke("train", "--config", tmp_path / "config.yaml", "--out", straight, "--set", "train.max_epochs=4", "--no-progress")
    a, b = load_safetensors(moved / "model.safetensors"), load_safetensors(straight / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    summaries = [json.loads((d / "train_summary.json").read_text()) for d in (moved, straight)]
    assert summaries[0]["best_epoch"] == summaries[1]["best_epoch"] and summaries[0]["epochs"] == 4


# --------------------------------------------------------------------------- molecular trajectory


def test_molecular_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("MDAnalysis")
    from trajectory_files import write_trajectory

    rng = np.random.default_rng(1)
    n_atoms, n_frames = 6, 30
    base = rng.normal(scale=2.0, size=(n_atoms, 3))
    frames = base + rng.normal(scale=0.3, size=(n_frames, n_atoms, 3))
    top, traj = write_trajectory(tmp_path, frames, ["N", "CA", "C", "O", "CB", "N"])
    run = train(tmp_path, {
        "seed": 2,
        "data": {"kind": "molecular", "params": {"topology": str(top), "trajectory": str(traj)}, "normalize": True},
        "model": {"kind": "mlp", "latent_dim": 2, "hidden": [8]},
        "train": TRAIN, "eval": EVAL,
    })
    ids = [str(i) for i in range(n_frames)]
    split = split_indices(n_frames, 0.1, 0.1, 2)
    invoke("encode", run)
    check_run_split(run, ids, {name: [ids[i] for i in idx] for name, idx in split.items()})

    invoke("reconstruct", run, "--out", tmp_path / "R.npz")
    report = json.loads((tmp_path / "R.json").read_text())
    r = check_reconstruction_file(tmp_path / "R.npz", report)
    assert r["original"].shape == (n_frames, 3 * n_atoms) and (r["lengths"] == 1).all()
    assert api.reconstruct_run(run, output=tmp_path / "a.npz")["rmse"] == pytest.approx(report["rmse"], abs=1e-6)

    # the trajectory (.dcd, which no generic reader opens) elsewhere, with the run's topology; then both files
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(traj, other / "copy.dcd")
    shutil.copy(top, other / "copy.pdb")
    invoke("reconstruct", run, "--data", other / "copy.dcd", "--out", tmp_path / "ext.npz")
    ext = json.loads((tmp_path / "ext.json").read_text())
    assert ext["rmse"] == pytest.approx(report["rmse"], abs=1e-6) and ext["rmse_by_split"].keys() == {"external"}
    invoke("encode", run, "--data", other / "copy.dcd", "--data", other / "copy.pdb", "--out", tmp_path / "lat.npz")
    lat = npz(tmp_path / "lat.npz")
    np.testing.assert_allclose(lat["mean"], npz(run / "latents.npz")["mean"], atol=1e-5)
    assert set(lat["split"].tolist()) == {"external"}
    evaluation = check_evaluate_keeps_metrics(run, "--data", other / "copy.dcd")
    assert evaluation["n_examples"] == n_frames and evaluation["data"] == "copy.dcd"


# --------------------------------------------------------------------------- vector model on values + lengths


def test_vector_model_on_npz_with_lengths_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    seqs = [rng.normal(loc=[1.0, -2.0, 5.0], scale=[1.0, 0.5, 3.0], size=(int(rng.integers(2, 6)), 3)) for _ in range(10)]
    data = write_sequences_npz(tmp_path / "steps.npz", seqs, ids=[f"s{i}" for i in range(10)])
    run = train(tmp_path, {
        "seed": 3,
        "data": {"kind": "file", "path": str(data), "normalize": True},
        "model": {"kind": "mlp", "latent_dim": 2, "hidden": [8]},
        "train": TRAIN, "eval": EVAL,
    })
    n = sum(len(s) for s in seqs)  # a vector model reads each row of `values` as an example, as train does
    ids = [str(i) for i in range(n)]
    invoke("encode", run)
    check_run_split(run, ids, {name: [ids[i] for i in idx] for name, idx in split_indices(n, 0.1, 0.1, 3).items()})

    invoke("reconstruct", run, "--split", "all", "--out", tmp_path / "R.npz")
    report = json.loads((tmp_path / "R.json").read_text())
    r = check_reconstruction_file(tmp_path / "R.npz", report)
    # float32 normalise + inverse: an absolute round-off of a few 1e-8 at the data's scale (values near 0 included)
    np.testing.assert_allclose(r["original"], np.concatenate(seqs), rtol=1e-6, atol=1e-6)
    assert api.reconstruct_run(run, output=tmp_path / "a.npz")["rmse"] == pytest.approx(report["rmse"], abs=1e-6)

    copy = tmp_path / "copy.npz"
    shutil.copy(data, copy)
    invoke("encode", run, "--data", copy, "--out", tmp_path / "lat.npz")
    np.testing.assert_allclose(npz(tmp_path / "lat.npz")["mean"], npz(run / "latents.npz")["mean"], atol=1e-6)
    ext = api.reconstruct_run(run, copy, output=tmp_path / "ext.npz")
    assert ext["rmse"] == pytest.approx(report["rmse"], abs=1e-6)
    evaluation = check_evaluate_keeps_metrics(run, out=tmp_path / "ev.json")
    assert not (run / "evaluation.json").exists()
    assert evaluation["data_seed"] == 3 and evaluation["split"] == "test" and evaluation["n_examples"] == 4
    invoke("evaluate", run, "--output", tmp_path / "old-spelling.json")  # the deprecated spelling still works
    assert json.loads((tmp_path / "old-spelling.json").read_text())["elbo"] == evaluation["elbo"]


# --------------------------------------------------------------------------- DSAE on a Sprites directory


def test_dsae_on_sprites_directory_round_trip(tmp_path: Path) -> None:
    from seqvae.domains.sprites.data import sprite_videos, write_sprites_npy

    videos, labels = sprite_videos(12, size=8, frames=3, seed=4)
    folder = tmp_path / "sprites"
    for path in write_sprites_npy(folder, videos, labels).values():
        if not path.name.startswith("sprites_X_"):
            path.unlink()  # a user's videos without label files: sprites_X_train.npy alone
    assert [p.name for p in folder.iterdir()] == ["sprites_X_train.npy"]
    run = train(tmp_path, {
        "seed": 4,
        "data": {"kind": "sprites-npy", "params": {"directory": str(folder)}, "normalize": False,
                 "val_fraction": 0.2, "test_fraction": 0.2},
        "model": {"kind": "dsae", "frame_size": 8, "frames": 3, "layout": "channels-last", "conv_channels": 4,
                  "kernel": 3, "strides": [1, 2], "fc_hidden": 16, "frame_features": 8, "f_dim": 2, "z_dim": 2,
                  "hidden": 8, "factorized_hidden": 8, "prior_hidden": 8, "posterior": "factorized"},
        "train": {**TRAIN, "batch_size": 4}, "eval": EVAL,
    })
    ids = [str(i) for i in range(12)]
    invoke("encode", run)
    check_run_split(run, ids, {name: [ids[i] for i in idx] for name, idx in split_indices(12, 0.2, 0.2, 4).items()})

    invoke("reconstruct", run, "--out", tmp_path / "R.npz")
    report = json.loads((tmp_path / "R.json").read_text())
    r = check_reconstruction_file(tmp_path / "R.npz", report)
    assert r["original"].shape == (36, 8, 8, 3) and (r["lengths"] == 3).all()
    np.testing.assert_allclose(r["original"], videos.reshape(36, 8, 8, 3), atol=1e-6)
    assert report["feature_names"] == ["channel 0", "channel 1", "channel 2"]
    assert api.reconstruct_run(run, output=tmp_path / "a.npz")["rmse"] == pytest.approx(report["rmse"], abs=1e-6)

    copy = tmp_path / "held-out"
    shutil.copytree(folder, copy)
    for data in (copy, copy / "sprites_X_train.npy"):  # the directory, or its video file
        ext = api.reconstruct_run(run, data, output=tmp_path / "ext.npz")
        assert ext["rmse"] == pytest.approx(report["rmse"], abs=1e-6) and ext["n_sequences"] == 12
    invoke("encode", run, "--data", copy, "--out", tmp_path / "lat.npz")
    np.testing.assert_allclose(npz(tmp_path / "lat.npz")["mean"], npz(run / "latents.npz")["mean"], atol=1e-5)
    evaluation = check_evaluate_keeps_metrics(run, "--data", copy)
    assert evaluation["n_examples"] == 12


def test_weights_whose_header_length_starts_with_pickles_first_byte_load(tmp_path: Path) -> None:
    """A safetensors header of 128 + 256 k bytes starts the file with 0x80, pickle's first byte: still loads."""
    from safetensors.torch import save

    from seqvae.checkpoint import export_model
    from seqvae.models import build_model

    model = build_model({"kind": "mlp", "latent_dim": 2, "hidden": [4]}, 3)
    export_model(model, tmp_path)
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    for pad in range(300):
        payload = save(tensors, metadata={"format": "seqvae-model", "kind": "mlp", "pad": "x" * pad})
        if payload[0] == 0x80:
            break
    assert payload[0] == 0x80
    (tmp_path / "model.safetensors").write_bytes(payload)
    loaded = load_run(tmp_path)
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], value), name


def test_data_config_for_swaps_the_path_into_each_data_kind(tmp_path: Path) -> None:
    """--data goes where train would read it for the run's data kind; the rest of the section is kept."""
    from seqvae.config import DataConfig, SequenceDataConfig
    from seqvae.data.sources import data_config_for
    from seqvae.errors import DataError

    for name in ("traj.dcd", "top.pdb", "x.csv", "sprites_X_test.npy", "other.npy", "world.npz"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "strokes").mkdir()
    (tmp_path / "game").mkdir()
    for name in ("events.csv", "moments.csv"):
        (tmp_path / "game" / name).write_bytes(b"")
    seq = SequenceDataConfig(features=["x", "y"], min_length=3)
    mol = DataConfig(kind="molecular", params={"topology": "old.pdb", "trajectory": "old.dcd", "select": "name CA"},
                     normalize=True, sequence=seq)
    got = data_config_for(mol, tmp_path / "traj.dcd")
    assert got.params == {"topology": "old.pdb", "trajectory": str(tmp_path / "traj.dcd"), "select": "name CA"}
    assert got.normalize and got.sequence == seq
    got = data_config_for(mol, [tmp_path / "top.pdb", tmp_path / "traj.dcd"])
    assert got.params["topology"] == str(tmp_path / "top.pdb") and got.params["trajectory"] == str(tmp_path / "traj.dcd")
    assert data_config_for(mol, tmp_path / "top.pdb").params["trajectory"] is None  # frames of the topology file

    sprites = DataConfig(kind="sprites-npy", params={"directory": "old", "split": "train"})
    assert data_config_for(sprites, tmp_path).params == {"directory": str(tmp_path), "split": "train"}
    assert data_config_for(sprites, tmp_path / "sprites_X_test.npy").params == {"directory": str(tmp_path), "split": "test"}
    with pytest.raises(DataError, match="other.npy: videos are read in the Sprites layout"):
        data_config_for(sprites, tmp_path / "other.npy")  # not flattened into 24,576 'features'
    simulated = DataConfig(kind="sprites", params={"n": 3000, "size": 32})  # a run on the simulator's videos
    got = data_config_for(simulated, tmp_path / "sprites_X_test.npy")
    assert (got.kind, got.params) == ("sprites-npy", {"directory": str(tmp_path), "split": "test"})

    dejong = DataConfig(kind="de-jong", params={"directory": "old", "prefix": "trainimg"})
    assert data_config_for(dejong, tmp_path / "strokes").params == {"directory": str(tmp_path / "strokes"), "prefix": "trainimg"}
    sportvu = data_config_for(DataConfig(kind="sportvu", params={"moments": "m", "events": "e"}), tmp_path / "game")
    assert sportvu.params == {"moments": str(tmp_path / "game" / "moments.csv"), "events": str(tmp_path / "game" / "events.csv")}
    assert data_config_for(DataConfig(kind="planning", params={"grid": 8}), tmp_path / "world.npz").params == {
        "grid": 8, "path": str(tmp_path / "world.npz")}

    # a generator without files (and data.kind=file): read like `train --data FILE`, with the run's sequence settings
    for cfg in (DataConfig(kind="sinusoids", params={"n": 5}, sequence=seq), DataConfig(path="old.csv", sequence=seq)):
        got = data_config_for(cfg, tmp_path / "x.csv")
        assert (got.kind, got.path, got.params, got.sequence) == ("file", str(tmp_path / "x.csv"), {}, seq)
    with pytest.raises(DataError, match=r"nope\.csv: no such file or directory"):
        data_config_for(mol, tmp_path / "nope.csv")
    with pytest.raises(DataError, match="reads one file or directory at a time"):
        data_config_for(dejong, [tmp_path / "strokes", tmp_path / "game"])


def test_a_csv_header_names_the_features_of_a_vector_run(tmp_path: Path) -> None:
    """A table of rows with a header: reconstruct names each feature as the header does, from the run's own
    data and from the file passed again with --data."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3)) @ np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 2.0], [0.0, 0.0, 0.1]])
    table = tmp_path / "cells.csv"
    table.write_text("radius,texture,area\n" + "\n".join(",".join(f"{v:.6f}" for v in row) for row in x) + "\n")
    run = train(tmp_path, {"data": {"kind": "file", "path": str(table)},
                           "model": {"kind": "mlp", "latent_dim": 2, "hidden": [8]}, "train": TRAIN, "eval": EVAL})
    own = api.reconstruct_run(run, output=tmp_path / "own.npz")
    again = api.reconstruct_run(run, data=[table], output=tmp_path / "again.npz")
    for report, path in ((own, tmp_path / "own.npz"), (again, tmp_path / "again.npz")):
        assert report["feature_names"] == ["radius", "texture", "area"]
        assert npz(path)["feature_names"].tolist() == ["radius", "texture", "area"]
    headless = tmp_path / "plain.csv"
    headless.write_text("\n".join(",".join(f"{v:.6f}" for v in row) for row in x) + "\n")
    plain = api.reconstruct_run(run, data=[headless], output=tmp_path / "plain.npz")
    assert plain["feature_names"] != ["radius", "texture", "area"] and len(plain["feature_names"]) == 3
