"""Encoding more than fits in memory: Parquet read a block at a time, latents written a block at a time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

from seqvae import api  # noqa: E402
from seqvae.data.readers import iter_parquet_sequences, read_sequences, write_sequences_npz  # noqa: E402
from seqvae.data.streaming import NpzStreamWriter  # noqa: E402
from seqvae.errors import DataError  # noqa: E402
from seqvae.runconfig import load_run_config
from seqvae.training import fit  # noqa: E402


def _long_table(n: int, seed: int = 0, order: list[int] | None = None) -> tuple[pa.Table, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    seqs = [rng.normal(size=(int(rng.integers(1, 9)), 2)).astype(np.float32) for _ in range(n)]
    rows = {"sequence_id": [], "t": [], "x": [], "y": [], "kind": []}
    for i in order if order is not None else range(n):
        for t, (x, y) in enumerate(seqs[i]):
            rows["sequence_id"].append(f"s{i:05d}")
            rows["t"].append(t)
            rows["x"].append(float(x))
            rows["y"].append(float(y))
            rows["kind"].append(i % 3)
    return pa.table(rows), seqs


@pytest.mark.parametrize("batch_rows", [1, 7, 64, 100_000])
def test_parquet_blocks_join_to_the_whole_file(tmp_path: Path, batch_rows: int) -> None:
    table, _ = _long_table(60)
    path = tmp_path / "long.parquet"
    pq.write_table(table, path, row_group_size=50)
    whole = read_sequences(path, labels=["kind"])
    blocks = list(iter_parquet_sequences(path, labels=["kind"], batch_rows=batch_rows))
    assert sum(len(b) for b in blocks) == len(whole) == 60
    ids = [i for b in blocks for i in b.ids]
    assert ids == whole.ids
    for got, want in zip([s for b in blocks for s in b.sequences], whole.sequences):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.concatenate([b.labels["kind"] for b in blocks]), whole.labels["kind"])
    if batch_rows <= 7:
        assert len(blocks) > 10  # it really went block by block


def test_parquet_streaming_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    # 12 row groups of 2,000 sequences x 20 steps (incompressible values): reading them must not keep the
    # earlier groups' buffers alive (one iter_batches over the whole file does: ~7x a group here)
    groups, per_group, steps = 12, 2000, 20
    rng = np.random.default_rng(0)
    schema = pa.schema([("sequence_id", pa.int64()), ("t", pa.int32()), ("x", pa.float32()), ("y", pa.float32())])
    path = tmp_path / "big.parquet"
    with pq.ParquetWriter(path, schema) as writer:
        for g in range(groups):
            ids = np.repeat(np.arange(g * per_group, (g + 1) * per_group), steps)
            writer.write_table(pa.table({"sequence_id": ids, "t": np.tile(np.arange(steps, dtype=np.int32), per_group),
                                         "x": rng.random(len(ids), dtype=np.float32),
                                         "y": rng.random(len(ids), dtype=np.float32)}, schema=schema))
    group_bytes = per_group * steps * (8 + 4 + 4 + 4)
    base, peak, seen = pa.total_allocated_bytes(), 0, 0
    for block in iter_parquet_sequences(path, batch_rows=4096):
        seen += len(block.sequences)
        peak = max(peak, pa.total_allocated_bytes() - base)
    assert seen == groups * per_group
    assert peak < 3 * group_bytes, (peak, group_bytes)


def test_parquet_streaming_refuses_ids_out_of_order_and_names_rows(tmp_path: Path) -> None:
    table, _ = _long_table(6, order=[0, 1, 3, 2, 4, 5])
    path = tmp_path / "unsorted.parquet"
    pq.write_table(table, path)
    with pytest.raises(DataError, match="'s00002' comes after 's00003'.*sort the table"):
        list(iter_parquet_sequences(path, batch_rows=3))
    bad, _ = _long_table(5)
    x = bad.column("x").to_pylist()
    x[9] = float("nan")
    pq.write_table(bad.set_column(2, "x", pa.array(x)), tmp_path / "nan.parquet")
    with pytest.raises(DataError, match="non-finite"):
        list(iter_parquet_sequences(tmp_path / "nan.parquet", batch_rows=4))
    with pytest.raises(DataError, match="no id column"):
        list(iter_parquet_sequences(path, id_column="nope"))


def test_stream_writer_round_trips_and_leaves_nothing_behind(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(7, 3)).astype(np.float32)
    out = tmp_path / "out.npz"
    with NpzStreamWriter(out) as w:
        w.append(ids=["a", "bb"] + ["c"] * 3, mean=a, std=a * 2)
        w.append(ids=[f"long-id-{i}" for i in range(7)], mean=b, std=b * 2)
    with np.load(out, allow_pickle=False) as z:
        np.testing.assert_array_equal(z["mean"], np.concatenate([a, b]))
        np.testing.assert_array_equal(z["std"], 2 * np.concatenate([a, b]))
        assert z["ids"].tolist() == ["a", "bb", "c", "c", "c", *[f"long-id-{i}" for i in range(7)]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npz"]
    with pytest.raises(RuntimeError), NpzStreamWriter(tmp_path / "aborted.npz") as w:
        w.append(mean=a)
        raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npz"]  # no partial output, no temporary files


@pytest.mark.filterwarnings("ignore::seqvae.training.PosteriorCollapseWarning")  # one epoch
def test_streamed_and_sharded_encoding_equals_encoding_in_memory(tmp_path: Path) -> None:
    cfg = load_run_config("vrae-sinusoids", ["train.max_epochs=1", "train.progress_bar=false", "data.params.n=64"])
    run = tmp_path / "run"
    fit(cfg, run)
    table, seqs = _long_table(40, seed=1)
    whole_npz = tmp_path / "whole.npz"
    write_sequences_npz(whole_npz, seqs, ids=[f"s{i:05d}" for i in range(40)])
    parquet = tmp_path / "long.parquet"
    pq.write_table(table.drop(["kind"]), parquet, row_group_size=16)
    ref_path, n = api.encode_file(run, whole_npz, tmp_path / "ref.npz")
    streamed, n2 = api.encode_file(run, parquet, tmp_path / "streamed.npz", batch_rows=5)
    shard_a, shard_b = tmp_path / "a.npz", tmp_path / "b.npz"
    write_sequences_npz(shard_a, seqs[:25], ids=[f"s{i:05d}" for i in range(25)])
    write_sequences_npz(shard_b, seqs[25:], ids=[f"s{i:05d}" for i in range(25, 40)])
    sharded, n3 = api.encode_file(run, [shard_a, shard_b], tmp_path / "sharded.npz")
    assert n == n2 == n3 == 40
    with np.load(ref_path) as ref, np.load(streamed) as s, np.load(sharded) as h:
        for z in (s, h):
            assert z["ids"].tolist() == ref["ids"].tolist()
            np.testing.assert_allclose(z["mean"], ref["mean"], rtol=0, atol=1e-6)
            np.testing.assert_allclose(z["std"], ref["std"], rtol=0, atol=1e-6)
