"""Sequence file readers and writers: exact round-trips, one test per error, refusal of object arrays, fuzzed inputs."""

from __future__ import annotations

import csv
import io
import os
import pickle
import re
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqvae.data.readers import SequenceTable, read_sequences, write_sequences_csv, write_sequences_npz
from seqvae.errors import DataError, SeqVAEError


def _seqs(features: int, lengths: tuple[int, ...] = (3, 1, 6, 2), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(t, features)) * 10.0 ** rng.integers(-3, 4)).astype(np.float32) for t in lengths]


def _assert_same(table: SequenceTable, seqs: list[np.ndarray]) -> None:
    assert len(table) == len(seqs)
    for got, want in zip(table.sequences, seqs):
        assert got.dtype == np.float32
        assert got.shape == want.shape
        assert np.array_equal(got, want)


def _text(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _object_array(items: list) -> np.ndarray:
    arr = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        arr[i] = item
    return arr


# --------------------------------------------------------------------------- round-trips


@pytest.mark.parametrize("features", [1, 3])
def test_npz_writer_round_trip_is_exact(tmp_path: Path, features: int) -> None:
    seqs = _seqs(features)
    labels = {
        "digit": np.array([3, 1, 4, 1]),
        "writer": np.array(["ann", "bo", "cy", "di"]),
        "w": np.array([0.1, 2, 3, 4.5]),
    }
    names = ["x", "y", "pen"][:features]
    out = write_sequences_npz(tmp_path / "s.npz", seqs, ids=["a", "b", "c", "d"], labels=labels, feature_names=names)
    assert out == tmp_path / "s.npz"
    table = read_sequences(out, expected_features=features)
    _assert_same(table, seqs)
    assert table.ids == ["a", "b", "c", "d"]
    assert table.feature_names == names and table.features == features
    assert set(table.labels) == set(labels)
    for name, values in labels.items():
        assert np.array_equal(table.labels[name], values) and table.labels[name].dtype.kind == values.dtype.kind
    assert table.source == str(out)
    # only the listed labels are kept; no leftover temporary files
    assert set(read_sequences(out, labels=["digit"]).labels) == {"digit"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npz"]


@pytest.mark.parametrize("features", [1, 3])
def test_csv_writer_round_trip_is_exact(tmp_path: Path, features: int) -> None:
    seqs = _seqs(features, seed=1)
    seqs[0][0, 0] = np.float32(0.1)  # not a short decimal in float32
    seqs[1][0, -1] = np.finfo(np.float32).max
    labels = {
        "digit": np.array([3, 1, 4, 1]),
        "writer": np.array(["a,n", "b o", 'c"y', "d"]),
        "w": np.array([0.1, 2, 3, 4.5]),
    }
    out = write_sequences_csv(tmp_path / "s.csv", seqs, ids=["s1", "s 2", "s,3", "4"], labels=labels)
    assert out.read_text().splitlines()[0] == ",".join(
        ["sequence_id", "t", *[f"f{j}" for j in range(features)], "digit", "writer", "w"]
    )
    table = read_sequences(out, labels=["digit", "writer", "w"])
    _assert_same(table, seqs)
    assert table.ids == ["s1", "s 2", "s,3", "4"]
    assert table.feature_names == [f"f{j}" for j in range(features)]
    assert np.array_equal(table.labels["digit"], labels["digit"]) and table.labels["digit"].dtype.kind == "i"
    assert table.labels["writer"].tolist() == labels["writer"].tolist()
    assert table.labels["w"].tolist() == [0.1, 2.0, 3.0, 4.5]


@pytest.mark.parametrize("features", [1, 3])
def test_parquet_long_table_round_trip(tmp_path: Path, features: int) -> None:
    seqs = _seqs(features, lengths=(2, 4, 1), seed=2)
    ids, times = ["b", "a", "c"], [[0.0, 0.5], [1, 2, 3, 10], [-5]]
    # rows of one sequence are interleaved with the others: order is by first appearance
    order = [(1, 0), (0, 0), (1, 1), (2, 0), (0, 1), (1, 2), (1, 3)]
    cols: dict[str, list] = {"sequence_id": [], "t": [], "group": []}
    names = [f"feat{j}" for j in range(features)]
    for name in names:
        cols[name] = []
    for s, k in order:
        cols["sequence_id"].append(ids[s])
        cols["t"].append(float(times[s][k]))
        cols["group"].append(f"g{s}")
        for j, name in enumerate(names):
            cols[name].append(seqs[s][k, j])
    table = pa.table({k: pa.array(v, type=pa.float32() if k in names else None) for k, v in cols.items()})
    pq.write_table(table, tmp_path / "s.parquet")
    got = read_sequences(tmp_path / "s.parquet", labels=["group"], expected_features=features)
    assert got.ids == ["a", "b", "c"]
    _assert_same(got, [seqs[1], seqs[0], seqs[2]])
    assert got.feature_names == names
    assert got.labels["group"].tolist() == ["g1", "g0", "g2"]


def test_parquet_integer_ids_and_timestamps(tmp_path: Path) -> None:
    t0 = np.datetime64("2024-01-01T00:00:00", "ms")
    table = pa.table(
        {
            "sequence_id": pa.array([7, 7, 8], pa.int64()),
            "t": pa.array([t0, t0 + np.timedelta64(40, "ms"), t0], pa.timestamp("ms")),
            "x": pa.array([1, 2, 3], pa.int32()),
        }
    )
    pq.write_table(table, tmp_path / "s.parquet")
    got = read_sequences(tmp_path / "s.parquet")
    assert got.ids == ["7", "8"]
    _assert_same(got, [np.array([[1], [2]], np.float32), np.array([[3]], np.float32)])


@pytest.mark.parametrize("features", [1, 3])
def test_object_arrays_are_refused_and_the_suggested_conversion_round_trips(tmp_path: Path, features: int) -> None:
    seqs = _seqs(features, seed=3)
    items = [s[:, 0].astype(np.float64) for s in seqs] if features == 1 else seqs
    np.savez(tmp_path / "r.npz", sequences=_object_array(items), ids=np.array([10, 11, 12, 13]))
    np.save(tmp_path / "r.npy", _object_array(items))
    for name in ("r.npz", "r.npy"):
        with pytest.raises(DataError, match=rf"r\.{name[2:]}: array '(sequences|array)' is an object array.*"
                           r"never does on data files.*'values'.*'lengths'.*write_sequences_npz"):
            read_sequences(tmp_path / name)
    # what the message tells the owner of a trusted file to do
    trusted = list(np.load(tmp_path / "r.npz", allow_pickle=True)["sequences"])
    write_sequences_npz(tmp_path / "converted.npz", trusted, ids=["10", "11", "12", "13"])
    table = read_sequences(tmp_path / "converted.npz", expected_features=features)
    _assert_same(table, seqs)
    assert table.ids == ["10", "11", "12", "13"]


@pytest.mark.parametrize("features", [1, 3])
def test_padded_npz_ignores_padding(tmp_path: Path, features: int) -> None:
    seqs = _seqs(features, seed=4)
    lengths = np.array([len(s) for s in seqs])
    values = np.full((len(seqs), lengths.max(), features), np.nan, dtype=np.float32)  # NaN padding is fine
    for i, s in enumerate(seqs):
        values[i, : len(s)] = s
    np.savez(tmp_path / "p.npz", values=values, lengths=lengths, ids=np.array(["w", "x", "y", "z"]), cls=np.arange(4))
    table = read_sequences(tmp_path / "p.npz", labels=["cls"])
    _assert_same(table, seqs)
    assert table.ids == ["w", "x", "y", "z"]
    assert table.labels["cls"].tolist() == [0, 1, 2, 3]


def test_fixed_length_npy_and_npz(tmp_path: Path) -> None:
    values = np.arange(24, dtype=np.float64).reshape(2, 4, 3)
    np.save(tmp_path / "a.npy", values)
    table = read_sequences(tmp_path / "a.npy", min_length=4)
    assert table.ids == ["0", "1"]
    _assert_same(table, list(values.astype(np.float32)))
    np.save(tmp_path / "one.npy", values[0])
    one = read_sequences(tmp_path / "one.npy")
    assert one.ids == ["0"] and one.features == 3
    _assert_same(one, [values[0].astype(np.float32)])
    np.savez(tmp_path / "v.npz", values=values)  # 3-D values without lengths: every step is real
    _assert_same(read_sequences(tmp_path / "v.npz"), list(values.astype(np.float32)))


def test_npz_feature_selection_by_name(tmp_path: Path) -> None:
    seqs = _seqs(3, seed=5)
    write_sequences_npz(tmp_path / "s.npz", seqs, feature_names=["x", "y", "pen"])
    table = read_sequences(tmp_path / "s.npz", features=["pen", "x"])
    assert table.feature_names == ["pen", "x"]
    _assert_same(table, [s[:, [2, 0]] for s in seqs])
    with pytest.raises(DataError, match=r"s\.npz.*'z' not found.*x, y, pen"):
        read_sequences(tmp_path / "s.npz", features=["x", "z"])


def test_directory_of_csv_and_npy_files(tmp_path: Path) -> None:
    d = tmp_path / "seqs"
    d.mkdir()
    _text(d / "b.csv", "x,t,y", "1,0,2", "3,0.5,4", "5,9,6")  # header with a time column: checked and dropped
    np.save(d / "a.npy", np.array([[7.0, 8.0]]))
    _text(d / "c.csv", "0.5,1.5", "2.5,3.5")  # no header
    (d / "README.txt").write_text("not data")
    (d / "sub").mkdir()
    table = read_sequences(d)
    assert table.ids == ["a", "b", "c"]
    assert table.feature_names == ["x", "y"]
    _assert_same(
        table,
        [
            np.array([[7, 8]], np.float32),
            np.array([[1, 2], [3, 4], [5, 6]], np.float32),
            np.array([[0.5, 1.5], [2.5, 3.5]], np.float32),
        ],
    )
    uni = tmp_path / "uni"
    uni.mkdir()
    np.save(uni / "s1.npy", np.arange(4.0))
    _text(uni / "s2.csv", "value", "1", "2")
    table = read_sequences(uni, expected_features=1)
    assert table.ids == ["s1", "s2"] and table.feature_names == ["value"]
    _assert_same(table, [np.arange(4.0, dtype=np.float32)[:, None], np.array([[1], [2]], np.float32)])


def test_directory_csv_labels_and_feature_selection(tmp_path: Path) -> None:
    _text(tmp_path / "r1.csv", "t,x,y,who", "0,1,2,ann", "1,3,4,ann")
    _text(tmp_path / "r2.csv", "t,x,y,who", "0,5,6,bo")
    table = read_sequences(tmp_path, features=["y", "x"], labels=["who"])
    assert table.feature_names == ["y", "x"]
    _assert_same(table, [np.array([[2, 1], [4, 3]], np.float32), np.array([[6, 5]], np.float32)])
    assert table.labels["who"].tolist() == ["ann", "bo"]
    only_y = read_sequences(tmp_path, features=["y"], labels=["who"])  # features select: column x is ignored
    assert only_y.feature_names == ["y"]
    _assert_same(only_y, [np.array([[2], [4]], np.float32), np.array([[6]], np.float32)])
    _text(tmp_path / "r2.csv", "t,x,y,who", "0,5,6,bo", "1,5,6,cy")
    with pytest.raises(DataError, match=r"r2\.csv: line 3, sequence 'r2': label 'who' is 'cy' but 'bo' on line 2"):
        read_sequences(tmp_path, labels=["who"])


def test_long_csv_order_custom_columns_and_feature_order(tmp_path: Path) -> None:
    path = _text(
        tmp_path / "s.csv",
        "track,time,v,u",
        "q,0.1,1,10",
        "p,5,2,20",
        "q,0.2,3,30",
        "p,6,4,40",
    )
    table = read_sequences(path, features=["u", "v"], id_column="track", time_column="time")
    assert table.ids == ["q", "p"]
    _assert_same(table, [np.array([[10, 1], [30, 3]], np.float32), np.array([[20, 2], [40, 4]], np.float32)])
    assert table.feature_names == ["u", "v"]


# --------------------------------------------------------------------------- errors


def _long_csv(tmp_path: Path, *rows: str, header: str = "sequence_id,t,x,y") -> Path:
    return _text(tmp_path / "walk.csv", header, *rows)


@pytest.mark.parametrize("cell", ["nan", "inf", "-Infinity", "1e39"])
def test_csv_non_finite_value_names_line_id_and_column(tmp_path: Path, cell: str) -> None:
    path = _long_csv(tmp_path, "a,0,1,2", "b,0,1,2", f"b,1,3,{cell}")
    with pytest.raises(
        DataError, match=r"walk\.csv: line 4, sequence 'b', column 'y': (non-finite value|value .* overflows)"
    ):
        read_sequences(path)


@pytest.mark.parametrize(("row", "column"), [("a,1,1,oops", "y"), ("a,1,,2", "x"), ("a,one,1,2", "t")])
def test_csv_non_numeric_value_names_line_id_and_column(tmp_path: Path, row: str, column: str) -> None:
    path = _long_csv(tmp_path, "a,0,1,2", row)
    with pytest.raises(
        DataError, match=rf"walk\.csv: line 3, sequence 'a', column '{column}': ('.*' is not a number|is empty)"
    ):
        read_sequences(path)


def test_parquet_bad_values_name_row_id_and_column(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"sequence_id": ["a", "a", "b"], "t": [0, 1, 0], "x": [0.0, float("inf"), 1.0]}), path)
    with pytest.raises(DataError, match=r"t\.parquet: row 2, sequence 'a', column 'x': non-finite value inf"):
        read_sequences(path)
    pq.write_table(pa.table({"sequence_id": ["a", "b"], "t": [0, 0], "x": [1.0, None]}), path)
    with pytest.raises(DataError, match=r"t\.parquet: row 2, sequence 'b', column 'x': is empty"):
        read_sequences(path)
    pq.write_table(pa.table({"sequence_id": ["a", "b"], "t": [0, 0], "x": ["1.0", "2"]}), path)
    with pytest.raises(DataError, match=r"t\.parquet: row 1, sequence 'a', column 'x': '1.0' is not a number"):
        read_sequences(path)


def test_npz_and_npy_non_finite_values_name_sequence_step_and_feature(tmp_path: Path) -> None:
    seqs = _seqs(2, seed=6)
    seqs[2][4, 1] = np.nan
    np.savez(
        tmp_path / "o.npz", values=np.concatenate(seqs), lengths=np.array([len(x) for x in seqs]),
        ids=np.array(["a", "b", "c", "d"]),
    )
    with pytest.raises(
        DataError, match=r"o\.npz: sequence 'c' \(index 2\), step 4 \(0-based\), feature 'f1': non-finite value nan"
    ):
        read_sequences(tmp_path / "o.npz")
    values = np.zeros((2, 3, 2))
    values[1, 2, 0] = -np.inf
    np.save(tmp_path / "v.npy", values)
    with pytest.raises(
        DataError, match=r"v\.npy: sequence '1' \(index 1\), step 2 \(0-based\), feature 'f0': non-finite value -inf"
    ):
        read_sequences(tmp_path / "v.npy")
    d = tmp_path / "dir"
    d.mkdir()
    np.save(d / "s1.npy", np.array([[0.0], [np.nan]]))
    with pytest.raises(
        DataError, match=r"s1\.npy: sequence 's1' \(index 0\), step 1 \(0-based\), feature 'f0': non-finite"
    ):
        read_sequences(d)


def test_directory_csv_errors_name_the_file_and_line(tmp_path: Path) -> None:
    _text(tmp_path / "a.csv", "x,y", "1,2", "3,nan")
    with pytest.raises(DataError, match=r"a\.csv: line 3, sequence 'a', column 'y': non-finite value nan"):
        read_sequences(tmp_path)
    _text(tmp_path / "a.csv", "1,2", "3,four")
    with pytest.raises(DataError, match=r"a\.csv: line 2, sequence 'a', column 'f1': 'four' is not a number"):
        read_sequences(tmp_path)
    _text(tmp_path / "a.csv", "t,x", "0,1", "2,2", "1,3")
    with pytest.raises(DataError, match=r"a\.csv: sequence 'a', line 4: t 1 is not after 2 on line 3"):
        read_sequences(tmp_path)
    _text(tmp_path / "a.csv", "1,2", "3")
    with pytest.raises(DataError, match=r"a\.csv: line 2 has 1 fields, expected 2"):
        read_sequences(tmp_path)


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (
            lambda d: np.savez(
                d / "e.npz", values=np.zeros((3, 1)), lengths=np.array([2, 0, 1]), ids=np.array(["p", "q", "r"])
            ),
            r"e\.npz: sequence 'q' \(index 1\) is empty",
        ),
        (
            lambda d: np.savez(d / "e.npz", values=np.zeros((2, 3, 2)), lengths=np.array([2, 0])),
            r"e\.npz: sequence '1' \(index 1\) is empty",
        ),
        (lambda d: _text(d / "e.csv", "sequence_id,t,x"), r"e\.csv: the file holds no data rows"),
        (lambda d: (d / "e.csv").write_text(""), r"e\.csv: the file is empty"),
    ],
)
def test_empty_sequences_and_files_are_errors(tmp_path: Path, make, pattern: str) -> None:
    make(tmp_path)
    path = next(tmp_path.iterdir())
    with pytest.raises(DataError, match=pattern):
        read_sequences(path)


def test_empty_per_sequence_files_are_errors(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    np.save(d / "a.npy", np.zeros((2, 1)))
    _text(d / "b.csv", "x")
    with pytest.raises(DataError, match=r"b\.csv: the file holds a header but no rows \(sequence 'b' has no steps\)"):
        read_sequences(d)
    (d / "b.csv").write_text("\n")
    with pytest.raises(DataError, match=r"b\.csv: the file is empty \(sequence 'b'"):
        read_sequences(d)
    (d / "b.csv").unlink()
    np.save(d / "c.npy", np.zeros((0, 1)))
    with pytest.raises(DataError, match=r"c\.npy: sequence 'c' is empty"):
        read_sequences(d)
    for p in d.iterdir():
        p.unlink()
    (d / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"d: the directory holds no \.csv or \.npy files"):
        read_sequences(d)


def test_sequences_shorter_than_min_length(tmp_path: Path) -> None:
    path = _long_csv(tmp_path, "a,0,1,2", "a,1,1,2", "solo,0,1,2")
    assert len(read_sequences(path, min_length=1)) == 2
    with pytest.raises(DataError, match=r"walk\.csv: sequence 'solo' has 1 step, expected at least 2"):
        read_sequences(path, min_length=2)
    write_sequences_npz(tmp_path / "s.npz", _seqs(1, lengths=(5, 3)), ids=["long", "short"])
    with pytest.raises(DataError, match=r"s\.npz: sequence 'short' has 3 steps, expected at least 4"):
        read_sequences(tmp_path / "s.npz", min_length=4)


def test_wrong_and_inconsistent_feature_counts(tmp_path: Path) -> None:
    path = _long_csv(tmp_path, "a,0,1,2")
    with pytest.raises(DataError, match=r"walk\.csv: sequence 'a' has 2 features \(x, y\), expected 3"):
        read_sequences(path, expected_features=3)
    d = tmp_path / "d"
    d.mkdir()
    _text(d / "a.csv", "1,2,3")
    np.save(d / "b.npy", np.zeros((3, 2)))
    with pytest.raises(DataError, match=r"b\.npy: sequence 'b' has 2 features but sequence 'a' \(a\.csv\) has 3"):
        read_sequences(d)
    (d / "b.npy").unlink()
    np.save(d / "a.npy", np.zeros((3, 3)))
    with pytest.raises(DataError, match=r"a\.npy: sequence id 'a' \(the file stem\) is also the id of a\.csv"):
        read_sequences(d)
    (d / "a.npy").unlink()
    _text(d / "b.csv", "p,q,r", "1,2,3")
    _text(d / "c.csv", "p,q,s", "1,2,3")
    with pytest.raises(DataError, match=r"c\.csv: feature columns p, q, s differ from p, q, r in b\.csv"):
        read_sequences(d)


@pytest.mark.parametrize(("second", "line"), [("a,0,3,4", "line 4"), ("a,-1,3,4", "line 4")])
def test_unsorted_or_repeated_time(tmp_path: Path, second: str, line: str) -> None:
    path = _long_csv(tmp_path, "a,0,1,2", "b,0,5,6", second)
    with pytest.raises(
        DataError,
        match=rf"walk\.csv: sequence 'a', {line}: t -?\d+ is not after 0 on line 2; times must strictly increase",
    ):
        read_sequences(path)
    pq.write_table(
        pa.table({"sequence_id": ["a", "a", "a"], "t": [0.0, 2.0, 1.5], "x": [1.0, 2.0, 3.0]}), tmp_path / "t.parquet"
    )
    with pytest.raises(DataError, match=r"t\.parquet: sequence 'a', row 3: t 1.5 is not after 2 on row 2"):
        read_sequences(tmp_path / "t.parquet")


def test_column_errors(tmp_path: Path) -> None:
    path = _long_csv(tmp_path, "a,0,1,2,x1", header="sequence_id,t,x,y,extra")
    # features select columns: the text column 'extra' is ignored unless it is named as a label
    selected = read_sequences(path, features=["y"])
    assert selected.feature_names == ["y"] and selected.labels == {}
    _assert_same(selected, [np.array([[2]], np.float32)])
    assert read_sequences(path, features=["x", "y"], labels=["extra"]).labels["extra"].tolist() == ["x1"]
    with pytest.raises(
        DataError, match=r"walk\.csv: feature column\(s\) 'z' not found; columns present: sequence_id, t, x, y, extra"
    ):
        read_sequences(path, features=["x", "z"], labels=["extra"])
    with pytest.raises(DataError, match=r"walk\.csv: label column\(s\) 'speaker' not found"):
        read_sequences(path, labels=["speaker"])
    with pytest.raises(
        DataError, match=r"walk\.csv: line 2, sequence 'a', column 'extra': 'x1' is not a number; if it is a label"
    ):
        read_sequences(path)
    no_id = _long_csv(tmp_path, "0,1,2", header="t,x,y")
    with pytest.raises(DataError, match=r"walk\.csv: no id column 'sequence_id'.*columns present: t, x, y"):
        read_sequences(no_id)
    no_t = _long_csv(tmp_path, "a,1,2", header="sequence_id,x,y")
    with pytest.raises(DataError, match=r"walk\.csv: no time column 't'"):
        read_sequences(no_t)
    dup = _long_csv(tmp_path, "a,0,1,2", header="sequence_id,t,x,x")
    with pytest.raises(DataError, match=r"walk\.csv: column 'x' appears more than once"):
        read_sequences(dup)
    pq.write_table(pa.table({"id": ["a"], "t": [0], "x": [1.0]}), tmp_path / "t.parquet")
    with pytest.raises(DataError, match=r"t\.parquet: no id column 'sequence_id'"):
        read_sequences(tmp_path / "t.parquet")


def test_label_must_be_constant_within_a_sequence(tmp_path: Path) -> None:
    path = _long_csv(tmp_path, "a,0,1,2,cat", "b,0,1,2,dog", "a,1,1,2,cow", header="sequence_id,t,x,y,animal")
    with pytest.raises(
        DataError, match=r"walk\.csv: line 4, sequence 'a': label 'animal' is 'cow' but 'cat' on line 2"
    ):
        read_sequences(path, labels=["animal"])
    pq.write_table(
        pa.table({"sequence_id": ["a", "a"], "t": [0, 1], "x": [1.0, 2.0], "k": [1, 2]}), tmp_path / "t.parquet"
    )
    with pytest.raises(DataError, match=r"t\.parquet: row 2, sequence 'a': label 'k' is 2 but 1 on row 1"):
        read_sequences(tmp_path / "t.parquet", labels=["k"])


def test_npz_layout_errors(tmp_path: Path) -> None:
    p = tmp_path / "bad.npz"
    np.savez(p, values=np.zeros((5, 2)), lengths=np.array([2, 2]))
    with pytest.raises(DataError, match=r"bad\.npz: 'lengths' sum to 4 but the concatenated 'values' have 5 rows"):
        read_sequences(p)
    np.savez(p, values=np.zeros((2, 3, 2)), lengths=np.array([2, 4]))
    with pytest.raises(DataError, match=r"bad\.npz: 'lengths'\[1\] is 4 but the padded 'values' have only 3 steps"):
        read_sequences(p)
    np.savez(p, values=np.zeros((2, 3, 2)), lengths=np.array([2, 3, 1]))
    with pytest.raises(DataError, match=r"bad\.npz: 'lengths' has 3 entries but the padded 'values'"):
        read_sequences(p)
    np.savez(p, values=np.zeros((4, 2)), lengths=np.array([2, 2]), mask=np.ones((2, 2)))
    with pytest.raises(
        DataError, match=r"bad\.npz: array 'mask' with shape \(2, 2\) is not part of the sequence layout"
    ):
        read_sequences(p)
    np.savez(p, values=np.zeros((4, 2)), lengths=np.array([2, 2]), ids=np.array(["s", "s"]))
    with pytest.raises(DataError, match=r"bad\.npz: sequence id 's' occurs more than once"):
        read_sequences(p)
    np.savez(p, values=np.zeros((4, 2)), lengths=np.array([2, 2]))
    with pytest.raises(DataError, match=r"bad\.npz: label array\(s\) 'speaker' not found"):
        read_sequences(p, labels=["speaker"])
    np.savez(p, a=np.zeros((4, 2)), b=np.zeros(2))
    with pytest.raises(DataError, match=r"bad\.npz: no array named 'sequences', 'x' or 'values'.*arrays present: a, b"):
        read_sequences(p)
    np.savez(p, x=np.zeros((4, 2)))
    with pytest.raises(DataError, match=r"bad\.npz: array 'x' has shape \(4, 2\)"):
        read_sequences(p)
    np.savez(p, sequences=_object_array([np.zeros((2, 2)), "text"]))
    with pytest.raises(DataError, match=r"bad\.npz: array 'sequences' is an object array"):
        read_sequences(p)


def test_ragged_csv_row_names_the_line(tmp_path: Path) -> None:
    path = _long_csv(tmp_path, "a,0,1,2", "a,1,1,2,9", "a,2,1")
    with pytest.raises(DataError, match=r"walk\.csv: line 3 has 5 fields, expected 4 \(the header on line 1 names 4\)"):
        read_sequences(path)


@pytest.mark.parametrize("name", ["c.npz", "c.npy", "c.parquet", "c.csv"])
def test_corrupt_files_raise_data_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"PK\x03\x04 this is not what it claims to be \xff\xfe\x00")
    with pytest.raises(DataError, match=re.escape(name)):
        read_sequences(path)


def test_truncated_and_damaged_archives(tmp_path: Path) -> None:
    good = write_sequences_npz(tmp_path / "g.npz", _seqs(2))
    raw = good.read_bytes()
    (tmp_path / "t.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=r"t\.npz: cannot read as an \.npz archive"):
        read_sequences(tmp_path / "t.npz")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("values.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': 'zz'}  \n")
    (tmp_path / "h.npz").write_bytes(buf.getvalue())
    with pytest.raises(DataError, match=r"h\.npz: cannot read"):
        read_sequences(tmp_path / "h.npz")
    (tmp_path / "h.npy").write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': 'zz'}  \n")
    with pytest.raises(DataError, match=r"h\.npy: cannot read as a \.npy array"):
        read_sequences(tmp_path / "h.npy")
    (tmp_path / "z.npy").write_bytes(raw)  # an archive renamed to .npy
    with pytest.raises(DataError, match=r"z\.npy"):
        read_sequences(tmp_path / "z.npy")


def test_unknown_suffix_and_missing_path(tmp_path: Path) -> None:
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(
        DataError, match=r"data\.json: unsupported file type '\.json'; use \.npz, \.npy, \.csv, \.parquet"
    ):
        read_sequences(tmp_path / "data.json")
    with pytest.raises(DataError, match=r"nope\.csv: no such file or directory"):
        read_sequences(tmp_path / "nope.csv")


def test_parquet_without_pyarrow_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pq.write_table(pa.table({"sequence_id": ["a"], "t": [0], "x": [1.0]}), tmp_path / "t.parquet")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(
        DataError, match=r't\.parquet: reading \.parquet files needs pyarrow: pip install "seqvae\[data\]"'
    ):
        read_sequences(tmp_path / "t.parquet")


def test_writers_refuse_what_they_could_not_read_back(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="NaN or inf"):
        write_sequences_npz(tmp_path / "a.npz", [np.array([[np.nan]])])
    with pytest.raises(DataError, match="sequence 1 has 2 features"):
        write_sequences_csv(tmp_path / "a.csv", [np.zeros((2, 1)), np.zeros((2, 2))])
    with pytest.raises(DataError, match="unique"):
        write_sequences_csv(tmp_path / "a.csv", [np.zeros((2, 1))] * 2, ids=["s", "s"])
    with pytest.raises(DataError, match="reserved"):
        write_sequences_npz(tmp_path / "a.npz", [np.zeros((2, 1))], labels={"lengths": [1]})
    with pytest.raises(DataError, match="label 'k' must be 1"):
        write_sequences_npz(tmp_path / "a.npz", [np.zeros((2, 1))], labels={"k": [1, 2]})
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- pickles


class _TouchPayload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


class _SystemPayload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("payload", [_TouchPayload, _SystemPayload])
@pytest.mark.parametrize("suffix", [".npz", ".npy"])
def test_malicious_pickle_is_refused_without_executing(tmp_path: Path, payload: type, suffix: str) -> None:
    marker = tmp_path / "executed"
    evil = _object_array([np.zeros((3, 2)), payload(marker)])
    path = tmp_path / f"evil{suffix}"
    if suffix == ".npz":
        np.savez(path, sequences=evil)
    else:
        np.save(path, evil)
    with pytest.raises(
        DataError,
        match=rf"evil\{suffix}: array '(sequences|array)' is an object array.*never does on data files",
    ):
        read_sequences(path)
    assert not marker.exists()
    # the payload is live: numpy's own unpickling would have run it
    loaded = np.load(path, allow_pickle=True)
    if suffix == ".npz":
        loaded["sequences"]
    assert marker.exists()


def _npy_with_pickle(path: Path, payload: bytes, shape: tuple[int, ...] = (2,)) -> Path:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": shape})
    path.write_bytes(buf.getvalue() + payload)
    return path


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_object_arrays_of_every_protocol_are_refused_from_the_header(tmp_path: Path, protocol: int) -> None:
    # the payload is never read: the .npy header's object dtype is enough to refuse the file
    payload = pickle.dumps(_object_array([np.arange(6.0).reshape(3, 2), {"not": "an array"}]), protocol=protocol)
    with pytest.raises(DataError, match=r"p\.npy: array 'array' is an object array"):
        read_sequences(_npy_with_pickle(tmp_path / "p.npy", payload))


# --------------------------------------------------------------------------- fuzzing


def _assert_valid(table: SequenceTable, min_length: int, expected_features: int | None) -> None:
    assert isinstance(table, SequenceTable)
    assert len(table) == len(table.ids) == len(set(table.ids)) > 0
    assert all(isinstance(i, str) for i in table.ids)
    assert len(table.feature_names) == table.features >= 1
    if expected_features is not None:
        assert table.features == expected_features
    for seq in table.sequences:
        assert seq.dtype == np.float32 and seq.ndim == 2
        assert seq.shape[1] == table.features and seq.shape[0] >= min_length
        assert np.isfinite(seq).all()
    for values in table.labels.values():
        assert len(values) == len(table)


_FINITE = st.floats(-1e6, 1e6, width=32)
_TABLE_MUTATIONS = [
    "nan",
    "inf",
    "empty",
    "text",
    "big",
    "time_text",
    "time_random",
    "drop_column",
    "extra_column",
    "short_row",
    "long_row",
    "label_change",
    "empty_id",
    "permute_columns",
    "repeat_header_name",
]


@st.composite
def _long_tables(draw):
    """A valid long table (header, rows, expected ids/sequences/labels), then 0-3 random mutations."""
    n = draw(st.integers(1, 3))
    ids = draw(st.lists(st.sampled_from(["a", "b", "c", "7", "x y", "q,r"]), min_size=n, max_size=n, unique=True))
    text_labels = draw(st.booleans())
    per_seq, seqs = [], {}
    for k, sid in enumerate(ids):
        length = draw(st.integers(1, 4))
        times = sorted(draw(st.lists(st.integers(-5, 20), min_size=length, max_size=length, unique=True)))
        values = np.array(draw(st.lists(st.tuples(_FINITE, _FINITE), min_size=length, max_size=length)), np.float32)
        label = f"L{k}" if text_labels else str(k)
        per_seq.append([[sid, str(t), repr(float(x)), repr(float(y)), label] for t, (x, y) in zip(times, values)])
        seqs[sid] = values
    order = draw(st.permutations([k for k, rows in enumerate(per_seq) for _ in rows]))  # interleave sequences
    rows, first_seen = [], []
    for k in order:
        rows.append(per_seq[k].pop(0))
        if ids[k] not in first_seen:
            first_seen.append(ids[k])
    header = ["sequence_id", "t", "x", "y", "lab"]
    mutations = draw(st.lists(st.sampled_from(_TABLE_MUTATIONS), max_size=3))
    for m in mutations:
        r = draw(st.integers(0, len(rows) - 1))
        col = {c: j for j, c in enumerate(header)}
        if m in ("nan", "inf", "empty", "text", "big") and len(rows[r]) == len(header):
            j = col.get(draw(st.sampled_from(["x", "y"])))
            if j is not None:
                rows[r][j] = {"nan": "nan", "inf": "-inf", "empty": "", "text": "abc", "big": "1e39"}[m]
        elif m in ("time_text", "time_random", "label_change", "empty_id") and len(rows[r]) == len(header):
            name = {"time_text": "t", "time_random": "t", "label_change": "lab", "empty_id": "sequence_id"}[m]
            if name in col:
                value = {"time_text": "soon", "label_change": "other", "empty_id": ""}.get(m)
                rows[r][col[name]] = value if value is not None else str(draw(st.integers(-5, 20)))
        elif m == "drop_column" and len(header) > 1:
            j = draw(st.integers(0, len(header) - 1))
            header = header[:j] + header[j + 1 :]
            rows = [row[:j] + row[j + 1 :] for row in rows]
        elif m == "extra_column":
            header = header + ["extra"]
            rows = [row + [draw(st.sampled_from(["1", "z"]))] for row in rows]
        elif m == "short_row":
            rows[r] = rows[r][:-1]
        elif m == "long_row":
            rows[r] = rows[r] + ["9"]
        elif m == "permute_columns" and all(len(row) == len(header) for row in rows):
            perm = draw(st.permutations(range(len(header))))
            header = [header[j] for j in perm]
            rows = [[row[j] for j in perm] for row in rows]
        elif m == "repeat_header_name" and len(header) > 1:
            header = header[:-1] + [header[0]]
    expected = (first_seen, [seqs[sid] for sid in first_seen], text_labels)
    return header, rows, mutations, expected


_READ_ARGS = st.fixed_dictionaries(
    {
        "features": st.sampled_from([None, ["x", "y"], ["y"], ["x", "lab"]]),
        "labels": st.sampled_from([(), ("lab",), ("extra",)]),
        "min_length": st.sampled_from([1, 2]),
        "expected_features": st.sampled_from([None, 2]),
    }
)
# arguments under which an unmutated table must be read
_VALID_ARGS = st.fixed_dictionaries(
    {
        "features": st.sampled_from([None, ["x", "y"]]),
        "labels": st.just(("lab",)),
        "min_length": st.just(1),
        "expected_features": st.sampled_from([None, 2]),
    }
)


def _read_or_refuse(path: Path, args: dict) -> SequenceTable | None:
    try:
        table = read_sequences(path, **args)
    except SeqVAEError:
        return None
    _assert_valid(table, args["min_length"], args["expected_features"])
    return table


def _parquet_column(cells: list[str]) -> pa.Array:
    try:
        return pa.array([float(c) for c in cells], pa.float64())
    except ValueError:
        return pa.array([c if c else None for c in cells], pa.string())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=_long_tables(), args=_READ_ARGS | _VALID_ARGS)
def test_malformed_long_tables_are_read_or_refused(table, args) -> None:
    header, rows, mutations, (ids, seqs, text_labels) = table
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.csv"
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
        must_read = not mutations and args["labels"] == ("lab",) and args["features"] in (None, ["x", "y"])
        must_read = must_read and args["min_length"] <= min(len(s) for s in seqs)
        from_csv = _read_or_refuse(path, args)
        if must_read:
            assert from_csv is not None, f"a valid table was refused: {args}"
            assert from_csv.ids == ids and from_csv.feature_names == ["x", "y"]
            _assert_same(from_csv, seqs)
            assert from_csv.labels["lab"].dtype.kind == ("U" if text_labels else "i")
        if all(len(r) == len(header) for r in rows) and len(set(header)) == len(header):
            columns = {c: _parquet_column([r[j] for r in rows]) for j, c in enumerate(header)}
            pq.write_table(pa.table(columns), Path(tmp) / "f.parquet")
            from_parquet = _read_or_refuse(Path(tmp) / "f.parquet", args)
            if must_read:
                assert from_parquet is not None
            if from_csv is not None and from_parquet is not None:
                assert from_parquet.ids == from_csv.ids
                for a, b in zip(from_parquet.sequences, from_csv.sequences):
                    assert np.array_equal(a, b)


_NPZ_MUTATIONS = ["nan", "length_off", "zero_length", "other_width", "dup_ids", "short_label", "matrix", "bad_names"]


@st.composite
def _npz_files(draw):
    """Arrays of an .npz in one of four layouts (object arrays: always refused), the sequences they hold, 0-2 mutations."""
    n = draw(st.integers(1, 4))
    features = draw(st.integers(1, 3))
    layout = draw(st.sampled_from(["concat", "padded", "object", "fixed"]))
    lengths = [draw(st.integers(1, 4))] * n if layout == "fixed" else [draw(st.integers(1, 4)) for _ in range(n)]
    seqs = [
        np.array(draw(st.lists(_FINITE, min_size=t * features, max_size=t * features)), np.float32).reshape(t, features)
        for t in lengths
    ]
    ids = [f"s{i}" for i in draw(st.permutations(range(n)))]
    mutations = draw(st.lists(st.sampled_from(_NPZ_MUTATIONS), max_size=2))
    if "nan" in mutations:
        seqs[draw(st.integers(0, n - 1))][0, -1] = np.nan
    if "other_width" in mutations and layout == "object":
        seqs[-1] = np.zeros((lengths[-1], features + 1), np.float32)
    claimed = np.array(lengths)
    if "length_off" in mutations:
        claimed[draw(st.integers(0, n - 1))] += draw(st.sampled_from([-1, 1, 5]))
    if "zero_length" in mutations:
        claimed[draw(st.integers(0, n - 1))] = 0
    arrays: dict[str, np.ndarray] = {"ids": np.array(["s0"] * n if "dup_ids" in mutations else ids)}
    if layout == "concat":
        arrays["values"], arrays["lengths"] = np.concatenate(seqs), claimed
    elif layout == "padded":
        padded = np.full((n, max(lengths), features), np.nan, np.float32)
        for i, s in enumerate(seqs):
            padded[i, : len(s)] = s
        arrays["values"], arrays["lengths"] = padded, claimed
    elif layout == "object":
        arrays["sequences"] = _object_array(seqs)
    else:
        arrays["x"] = np.stack(seqs)
    arrays["lab"] = np.arange(n + 1 if "short_label" in mutations else n)
    if "matrix" in mutations:
        arrays["mask"] = np.ones((n, 2))
    names = ["x", "y", "z"][:features]
    arrays["feature_names"] = np.array(names + ["w"] if "bad_names" in mutations else names)
    return arrays, mutations, (ids, seqs, names)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(npz=_npz_files(), args=_READ_ARGS | _VALID_ARGS)
def test_malformed_npz_files_are_read_or_refused(npz, args) -> None:
    arrays, mutations, (ids, seqs, names) = npz
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.npz"
        np.savez(path, **arrays)
        table = _read_or_refuse(path, args)
    fits = args["features"] is None or args["features"] == names
    fits = fits and args["expected_features"] in (None, len(names)) and args["min_length"] <= min(len(s) for s in seqs)
    if "sequences" in arrays:  # the object layout: always refused, never unpickled
        assert table is None
    elif not mutations and fits and args["labels"] in ((), ("lab",)):
        assert table is not None, f"a valid file was refused: {args}"
        assert table.ids == ids and table.feature_names == names
        _assert_same(table, seqs)
        assert table.labels["lab"].tolist() == list(range(len(ids)))


@settings(max_examples=100, deadline=None)
@given(data=st.data(), kind=st.sampled_from(["npz", "object.npz", "npy", "parquet", "csv"]))
def test_damaged_bytes_are_read_or_refused(data, kind: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"f.{kind.split('.')[-1]}"
        seqs = _seqs(2, lengths=(3, 2))
        if kind == "npz":
            write_sequences_npz(path, seqs)
        elif kind == "object.npz":
            np.savez(path, sequences=_object_array(seqs))
        elif kind == "npy":
            np.save(path, np.stack([seqs[0][:2], seqs[1]]))
        elif kind == "csv":
            write_sequences_csv(path, seqs)
        else:
            pq.write_table(pa.table({"sequence_id": ["a", "a", "b"], "t": [0, 1, 0], "x": [1.0, 2.0, 3.0]}), path)
        raw = bytearray(path.read_bytes())
        for _ in range(data.draw(st.integers(1, 4))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        if data.draw(st.booleans()):
            raw = raw[: data.draw(st.integers(0, len(raw)))]
        path.write_bytes(bytes(raw))
        _read_or_refuse(path, {"features": None, "labels": (), "min_length": 1, "expected_features": None})


def test_feature_names_reach_the_bundle_and_the_axis_labels(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from seqvae.config import DataConfig
    from seqvae.data.sources import load_data
    from seqvae.plots import plot_sequence_strip

    seqs = _seqs(3, lengths=(4, 5, 6, 7, 3, 5, 4, 6, 5, 4))
    write_sequences_csv(tmp_path / "named.csv", seqs, feature_names=["lon", "lat", "alt"])
    np.savez(tmp_path / "plain.npz", values=np.concatenate(seqs), lengths=np.array([len(s) for s in seqs]))
    named = load_data(DataConfig(path=str(tmp_path / "named.csv")), 0, sequences=True)
    plain = load_data(DataConfig(path=str(tmp_path / "plain.npz")), 0, sequences=True)
    picked = load_data(_data_config(tmp_path / "named.csv", ["lat", "alt"]), 0, sequences=True)
    assert named.feature_names == ["lon", "lat", "alt"] and picked.feature_names == ["lat", "alt"]
    assert plain.feature_names == []  # the .npz names none: the made-up f0, f1, f2 are not shown
    ax = plot_sequence_strip(named.raw[:2], feature_names=named.feature_names).axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("lon", "lat")
    ax = plot_sequence_strip(plain.raw[:2], feature_names=plain.feature_names).axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("feature 0", "feature 1")
    ax = plot_sequence_strip([s[:, 1:2] for s in named.raw[:2]], feature_names=["lat"]).axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("time step", "lat")


def _data_config(path: Path, features: list[str]):
    from seqvae.runconfig import load_run_config

    return load_run_config(
        base={"data": {"kind": "file", "path": str(path), "sequence": {"features": features}}, "model": {"kind": "vrae"}}
    ).data
