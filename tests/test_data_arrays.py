"""Vector data: splits, normalisation, loaders, file readers and the built-in generators."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from seqvae.config import DataConfig
from seqvae.data.arrays import ArrayDataset, make_loader, read_array_file
from seqvae.data.prepare import Normalizer, bundle_arrays, split_indices
from seqvae.data.sources import generate, load_data
from seqvae.domains.dmol.data import dmol_bimodal, dmol_categorical
from seqvae.errors import ConfigError, DataError
from seqvae.io import write_json_atomic

# --------------------------------------------------------------------------- splits and loaders


def test_splits_partition_the_examples_reproducibly() -> None:
    a = split_indices(1000, 0.1, 0.2, seed=3)
    assert (len(a["train"]), len(a["val"]), len(a["test"])) == (700, 100, 200)
    together = np.concatenate([a["train"], a["val"], a["test"]])
    assert np.array_equal(np.sort(together), np.arange(1000))  # disjoint and complete
    b = split_indices(1000, 0.1, 0.2, seed=3)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["test"], split_indices(1000, 0.1, 0.2, seed=4)["test"])
    # a tiny data set still gets one validation and one test example
    small = split_indices(5, 0.1, 0.1, seed=0)
    assert (len(small["train"]), len(small["val"]), len(small["test"])) == (3, 1, 1)
    assert len(split_indices(10, 0.0, 0.0, seed=0)["train"]) == 10
    with pytest.raises(DataError, match="at least 3 examples"):
        split_indices(2, 0.1, 0.1, seed=0)


def test_loader_serves_batches_and_shuffles_by_seed() -> None:
    ds = ArrayDataset(torch.arange(50, dtype=torch.float32)[:, None], {"id": torch.arange(50)})

    def order(seed: int) -> list[int]:
        return torch.cat([b.labels["id"] for b in make_loader(ds, 16, True, seed)]).tolist()

    first = order(1)
    assert sorted(first) == list(range(50)) and first != list(range(50))
    assert order(1) == first and order(2) != first
    # each pass over a plain loader is a new epoch with a new order, and the order of an epoch is
    # a function of (seed, epoch) alone: what lets a resumed run see the data the original would have
    loader = make_loader(ds, 16, True, seed=1)
    epoch0, epoch1 = ([int(i) for b in loader for i in b.labels["id"]] for _ in range(2))
    assert epoch0 == first and epoch1 != epoch0
    loader.sampler.set_epoch(1)
    assert [int(i) for b in loader for i in b.labels["id"]] == epoch1
    batches = list(make_loader(ds, 16, False))
    assert [len(b) for b in batches] == [16, 16, 16, 2]
    # labels travel with their rows
    assert all(torch.equal(b.values[:, 0].long(), b.labels["id"]) for b in batches)
    with pytest.raises(DataError, match="label 'y' has 3 entries for 50 examples"):
        ArrayDataset(ds.values, {"y": torch.zeros(3)})


# --------------------------------------------------------------------------- normalisation


def test_normaliser_is_fitted_on_the_training_split_only_and_inverts_exactly() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal([5.0, -3.0], [2.0, 0.5], size=(400, 2)).astype(np.float32)
    values[:5] += 1000.0  # outliers: wherever they land, only the training split may shape the normaliser
    bundle = bundle_arrays(values, {}, 0.1, 0.1, normalize=True, seed=1)
    train = values[bundle.splits["train"]].astype(np.float64)
    np.testing.assert_allclose(bundle.normalizer.mean, train.mean(0), rtol=1e-6)
    np.testing.assert_allclose(bundle.normalizer.std, train.std(0), rtol=1e-6)
    assert abs(float(bundle.train.values.mean())) < 1e-5
    back = bundle.normalizer.inverse(bundle.test.values.numpy())
    np.testing.assert_allclose(back, values[bundle.splits["test"]], rtol=1e-5, atol=1e-3)
    # tensors and arrays are handled alike
    t = torch.as_tensor(values[:7])
    torch.testing.assert_close(bundle.normalizer.inverse(bundle.normalizer.transform(t)), t, rtol=1e-5, atol=1e-3)


def test_normaliser_masks_padding_and_guards_constant_features() -> None:
    values = np.zeros((2, 3, 2))
    values[0, :2] = [[1.0, 7.0], [3.0, 7.0]]
    values[1, :1] = [[5.0, 7.0]]
    values[~np.array([[1, 1, 0], [1, 0, 0]], bool)] = 99.0  # padding must not count
    norm = Normalizer.fit(values, mask=np.array([[1, 1, 0], [1, 0, 0]]))
    np.testing.assert_allclose(norm.mean, [3.0, 7.0])
    assert norm.std[0] == pytest.approx(np.std([1.0, 3.0, 5.0])) and norm.std[1] == 1e-8  # constant: floor
    with pytest.raises(DataError, match="empty training split"):
        Normalizer.fit(values, mask=np.zeros((2, 3)))


def test_normaliser_json_round_trip_and_validation() -> None:
    norm = Normalizer(np.array([0.5, -1.25]), np.array([2.0, 0.125]))
    again = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert np.array_equal(again.mean, norm.mean) and np.array_equal(again.std, norm.std)
    with pytest.raises(DataError, match="expected 'mean' and 'std'"):
        Normalizer.from_dict({"mean": [0.0]})
    with pytest.raises(DataError, match="std > 0"):
        Normalizer.from_dict({"mean": [0.0, 1.0], "std": [1.0, 0.0]})
    with pytest.raises(DataError, match="equal-length"):
        Normalizer.from_dict({"mean": [0.0, 1.0], "std": [1.0]})


def test_json_is_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "m.json"
    write_json_atomic(path, {"b": 1, "a": [1.5]})
    write_json_atomic(path, {"c": 2})
    assert json.loads(path.read_text()) == {"c": 2}
    assert [p.name for p in path.parent.iterdir()] == ["m.json"]  # no temporary files left behind
    with pytest.raises(TypeError):
        write_json_atomic(path, {"x": object()})
    assert json.loads(path.read_text()) == {"c": 2}  # a failed write leaves the old file intact
    assert [p.name for p in path.parent.iterdir()] == ["m.json"]


# --------------------------------------------------------------------------- file readers


@pytest.fixture
def table() -> np.ndarray:
    return np.random.default_rng(2).normal(size=(6, 3)).astype(np.float32)


def test_readers_round_trip_every_format(tmp_path: Path, table: np.ndarray) -> None:
    np.save(tmp_path / "a.npy", table)
    np.savez(tmp_path / "b.npz", other=np.zeros(2), x=table)
    np.savez(tmp_path / "c.npz", table=table)
    np.savetxt(tmp_path / "d.csv", table, delimiter=",", header="f0,f1,f2", comments="", fmt="%.9g")
    np.savetxt(tmp_path / "e.tsv", table, delimiter="\t", fmt="%.9g")
    for name in ("a.npy", "b.npz", "c.npz", "d.csv", "e.tsv"):
        assert np.array_equal(read_array_file(tmp_path / name), table), name
    np.testing.assert_array_equal(read_array_file(tmp_path / "b.npz", key="other"), np.zeros((2, 1)))
    np.save(tmp_path / "img.npy", np.ones((4, 2, 3)))
    assert read_array_file(tmp_path / "img.npy").shape == (4, 6)  # examples are flattened


@pytest.mark.parametrize(
    ("name", "write", "message"),
    [
        ("missing.npy", None, r"missing\.npy: no such file or directory"),
        ("nan.csv", "1,2\n3,nan\n", r"nan.csv: non-finite value nan in example 1, feature 1 \(0-based\)"),
        ("ragged.csv", "1,2\n3\n", "row 2 has 1 values, expected 2"),
        ("words.csv", "a,b\n1,2\nx,3\n", "row 3 is not numeric"),
        ("header.csv", "a,b\n", "a header but no rows"),
        ("empty.csv", "# only a comment\n", "holds no rows"),
        ("data.json", "{}", "unsupported file type '.json'"),
        ("bad.npy", "not numpy", "cannot read as a numeric array"),
    ],
)
def test_reader_errors_name_the_file_and_row(tmp_path: Path, name: str, write: str | None, message: str) -> None:
    path = tmp_path / name
    if write is not None:
        path.write_text(write)
    with pytest.raises(DataError, match=message):
        read_array_file(path)


def test_reader_refuses_pickled_and_non_numeric_arrays(tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="cannot read as a numeric array"):
        read_array_file(tmp_path / "obj.npy")
    np.save(tmp_path / "str.npy", np.array(["a", "b"]))
    with pytest.raises(DataError, match="expected a numeric array"):
        read_array_file(tmp_path / "str.npy")
    np.save(tmp_path / "scalar.npy", np.float32(3.0))
    with pytest.raises(DataError, match="single number"):
        read_array_file(tmp_path / "scalar.npy")
    np.savez(tmp_path / "k.npz", a=np.zeros(3))
    with pytest.raises(DataError, match="no array named 'b'; arrays present: a"):
        read_array_file(tmp_path / "k.npz", key="b")
    np.save(tmp_path / "inf.npy", np.array([[0.0, np.inf]]))
    with pytest.raises(DataError, match="value inf in example 0, feature 1"):
        read_array_file(tmp_path / "inf.npy")


def test_file_data_config_loads_splits_and_normalises(tmp_path: Path, table: np.ndarray) -> None:
    np.save(tmp_path / "x.npy", np.tile(table, (10, 1)))
    bundle = load_data(DataConfig(kind="file", path=str(tmp_path / "x.npy"), normalize=True), seed=0)
    assert bundle.features == 3 and len(bundle.train) + len(bundle.val) + len(bundle.test) == 60
    with pytest.raises(ConfigError, match="data.path is required"):
        load_data(DataConfig(kind="file"), seed=0)
    with pytest.raises(ConfigError, match="data.params is only for generators"):
        load_data(DataConfig(kind="file", path=str(tmp_path / "x.npy"), params={"n": 3}), seed=0)


# --------------------------------------------------------------------------- generators


def test_generators_are_seeded_and_validate_their_parameters() -> None:
    a, _ = generate("gaussian-mixture", {"n": 64, "dim": 3}, seed=1)
    b, _ = generate("gaussian-mixture", {"n": 64, "dim": 3}, seed=1)
    c, _ = generate("gaussian-mixture", {"n": 64, "dim": 3}, seed=2)
    assert a.shape == (64, 3) and np.array_equal(a, b) and not np.array_equal(a, c)
    d, _ = generate("gaussian-mixture", {"n": 64, "dim": 3, "seed": 1}, seed=9)  # params may pin the seed
    assert np.array_equal(a, d)
    with pytest.raises(ConfigError, match="data.kind 'mnist' is not known; choose one of: file, basketball, de-jong, dmol-bimodal"):
        generate("mnist", {}, seed=0)
    with pytest.raises(ConfigError, match="unknown config key data.params.size for data.kind=dmol-bimodal"):
        generate("dmol-bimodal", {"size": 3}, seed=0)
    with pytest.raises(ConfigError, match=r"cannot generate data from data.params \(n=-4\)"):
        generate("dmol-bimodal", {"n": -4}, seed=0)


def test_dmol_data_match_the_chapter() -> None:
    x, labels = dmol_bimodal(200_000, seed=0)
    # 0.5 N(-1, 0.5^2) + 0.5 N(1, 0.25^2): mean 0, variance 0.5 (0.25 + 1) + 0.5 (0.0625 + 1)
    assert abs(float(x.mean())) < 0.01
    assert float(x.var()) == pytest.approx(1.15625, rel=0.01)
    assert float(x[labels["mode"] == 1].std()) == pytest.approx(0.25, rel=0.02)
    onehot, lab = dmol_categorical(1024, classes=32, seed=0)
    assert onehot.shape == (1024, 32) and np.array_equal(onehot.sum(1), np.ones(1024))
    assert np.array_equal(onehot.argmax(1), lab["class"])
    assert lab["class"].min() == 0 and lab["class"].max() == 31  # the bins span the data's range
