"""Fuzzing every reader and the config loader: damaged input is read or refused with a seqvae error.

Each test writes a valid file, lets Hypothesis damage it (cells replaced by junk, lines dropped or
repeated, bytes flipped, inserted or cut off), and asserts that the reader either returns data that pass
its own promises (finite values, consistent shapes) or raises :class:`~seqvae.errors.SeqVAEError`; any
other exception is a bug. The sequence-file readers are fuzzed in ``test_readers.py``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqvae.data.arrays import read_array_file
from seqvae.domains.basketball.data import read_sportvu, simulate_shots
from seqvae.domains.sprites.data import read_sprites_npy, sprite_videos, write_sprites_npy
from seqvae.domains.strokes.data import handwritten_digits, read_de_jong, write_de_jong
from seqvae.errors import SeqVAEError
from seqvae.runconfig import load_run_config

FUZZ_EXAMPLES = int(os.environ.get("SEQVAE_FUZZ_EXAMPLES", "40"))  # e.g. 1000 for a long local hunt
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
JUNK = ["", "nan", "inf", "-inf", "1e309", "-1", "0", "abc", "1,2", '"', "\x00", "99999999999", "3.5.1", " ", "None"]


@st.composite
def text_damage(draw) -> list[tuple]:
    """Edits to a text file: replace a cell, drop / repeat a line, cut the file."""
    ops = st.one_of(
        st.tuples(st.just("cell"), st.integers(0, 10_000), st.integers(0, 50), st.sampled_from(JUNK)),
        st.tuples(st.just("drop"), st.integers(0, 10_000)),
        st.tuples(st.just("repeat"), st.integers(0, 10_000)),
        st.tuples(st.just("cut"), st.floats(0.0, 1.0)),
    )
    return draw(st.lists(ops, min_size=1, max_size=4))


def damage_text(text: str, ops: list[tuple], sep: str = ",") -> str:
    lines = text.splitlines()
    for op in ops:
        if not lines:
            break
        if op[0] == "cell":
            i = op[1] % len(lines)
            cells = lines[i].split(sep)
            cells[op[2] % len(cells)] = op[3]
            lines[i] = sep.join(cells)
        elif op[0] == "drop":
            del lines[op[1] % len(lines)]
        elif op[0] == "repeat":
            i = op[1] % len(lines)
            lines.insert(i, lines[i])
        else:
            joined = "\n".join(lines)
            lines = joined[: int(op[1] * len(joined))].splitlines()
    return "\n".join(lines) + "\n"


@st.composite
def byte_damage(draw) -> list[tuple]:
    ops = st.one_of(
        st.tuples(st.just("flip"), st.integers(0, 1 << 30), st.integers(1, 255)),
        st.tuples(st.just("insert"), st.integers(0, 1 << 30), st.binary(min_size=1, max_size=8)),
        st.tuples(st.just("cut"), st.floats(0.0, 1.0)),
    )
    return draw(st.lists(ops, min_size=1, max_size=4))


def damage_bytes(data: bytes, ops: list[tuple]) -> bytes:
    b = bytearray(data)
    for op in ops:
        if not b:
            break
        if op[0] == "flip":
            b[op[1] % len(b)] ^= op[2]
        elif op[0] == "insert":
            i = op[1] % len(b)
            b[i:i] = op[2]
        else:
            del b[int(op[1] * len(b)) :]
    return bytes(b)


def read_or_refuse(fn, *args, **kwargs):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    except SeqVAEError:
        return None


# --------------------------------------------------------------------------- vector files


@pytest.fixture(scope="module")
def vector_files(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("vectors")
    x = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    np.save(d / "x.npy", x)
    np.savez(d / "x.npz", values=x)
    np.savetxt(d / "x.csv", x, delimiter=",", header="a,b,c", comments="")
    return {name: (d / name).read_bytes() for name in ("x.npy", "x.npz", "x.csv")}


@FUZZ
@given(name=st.sampled_from(["x.npy", "x.npz", "x.csv"]), bops=byte_damage(), tops=text_damage())
def test_vector_files_are_read_or_refused(vector_files, name, bops, tops) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        if name.endswith(".csv"):
            path.write_text(damage_text(vector_files[name].decode(), tops))
        else:
            path.write_bytes(damage_bytes(vector_files[name], bops))
        out = read_or_refuse(read_array_file, path)
    if out is not None:
        assert out.ndim == 2 and out.shape[0] >= 1 and np.all(np.isfinite(out))


# --------------------------------------------------------------------------- de Jong strokes


@pytest.fixture(scope="module")
def de_jong_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("dejong")
    seqs, labels = handwritten_digits(n=3, seed=0)
    write_de_jong(d, seqs, labels["digit"])
    return d


@FUZZ
@given(which=st.integers(0, 100), tops=text_damage())
def test_de_jong_files_are_read_or_refused(de_jong_dir, which, tops) -> None:
    files = sorted(p.name for p in de_jong_dir.iterdir())
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "d"
        shutil.copytree(de_jong_dir, d)
        target = d / files[which % len(files)]
        target.write_text(damage_text(target.read_text(), tops, sep=" "))
        out = read_or_refuse(read_de_jong, d)
    if out is not None:
        sequences = out[0] if isinstance(out, tuple) else out.sequences
        assert all(np.all(np.isfinite(s)) for s in sequences)


# --------------------------------------------------------------------------- SportVU


@pytest.fixture(scope="module")
def sportvu_files(tmp_path_factory) -> tuple[str, str]:
    from test_basketball_reader import _game

    d = tmp_path_factory.mktemp("sportvu")
    moments, events, _ = _game(d, simulate_shots(n=4, seed=1), duplicates=5)
    return moments.read_text(), events.read_text()


@FUZZ
@given(which=st.sampled_from(["moments", "events"]), tops=text_damage())
def test_sportvu_files_are_read_or_refused(sportvu_files, which, tops) -> None:
    moments, events = sportvu_files
    with tempfile.TemporaryDirectory() as tmp:
        m, e = Path(tmp) / "moments.csv", Path(tmp) / "events.csv"
        m.write_text(damage_text(moments, tops) if which == "moments" else moments)
        e.write_text(damage_text(events, tops) if which == "events" else events)
        table = read_or_refuse(read_sportvu, m, e)
    if table is not None:
        assert all(np.all(np.isfinite(s)) and s.shape[1] == 3 for s in table.sequences)


@pytest.fixture(scope="module")
def sportvu_json(tmp_path_factory) -> tuple[dict, str]:
    import json

    from test_basketball_reader import HOOPS, _events, _json_game, _layout, _write_events

    d = tmp_path_factory.mktemp("sportvu_json")
    sims, labels = simulate_shots(n=3, seed=2)
    rows, releases = _layout(sims, HOOPS[:3], [1, 1, 1])
    release_row = next(i for i, r in enumerate(rows) if r[1] == releases[1])
    game = _json_game(d / "game.json", rows, split=release_row + 10, blind=release_row + 5)
    events = _write_events(d / "events.csv", _events(releases, labels["made"], [1, 1, 1], game=None))
    return json.loads(game.read_text()), events.read_text()


def _leaves(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, (*path, i))
    yield path


JSON_JUNK = [None, "x", "", -1, 0, 1e308, float("nan"), [], {}, [1, 2], {"a": 1}, True]


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 1 << 20), st.sampled_from(JSON_JUNK)), min_size=1, max_size=4),
       bops=st.one_of(st.none(), byte_damage()))
def test_sportvu_json_games_are_read_or_refused(sportvu_json, edits, bops) -> None:
    import copy
    import json

    game, events = sportvu_json
    game = copy.deepcopy(game)
    for where, junk in edits:
        leaves = [p for p in _leaves(game) if p]
        path = leaves[where % len(leaves)]
        node = game
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = copy.deepcopy(junk)
    text = json.dumps(game).encode()
    with tempfile.TemporaryDirectory() as tmp:
        g, e = Path(tmp) / "game.json", Path(tmp) / "events.csv"
        g.write_bytes(damage_bytes(text, bops) if bops else text)
        e.write_text(events)
        table = read_or_refuse(read_sportvu, g, e)
    if table is not None:
        assert all(np.all(np.isfinite(s)) and s.shape[1] == 3 for s in table.sequences)


# --------------------------------------------------------------------------- Sprites .npy


@pytest.fixture(scope="module")
def sprite_files(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("sprites")
    frames, labels = sprite_videos(n=3, size=16, seed=0)
    paths = write_sprites_npy(d, frames, labels)
    return {Path(p).name: Path(p).read_bytes() for p in paths.values()}


@FUZZ
@given(which=st.integers(0, 10), bops=byte_damage(), dropped=st.sets(st.sampled_from(["A", "D"])))
def test_sprite_arrays_are_read_or_refused(sprite_files, which, bops, dropped) -> None:
    """Label files may be absent (unlabelled videos): the labels read are then exactly the ones present."""
    names = sorted(sprite_files)
    kept = {n: d for n, d in sprite_files.items() if n.split("_")[1] not in dropped}
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in kept.items():
            (Path(tmp) / name).write_bytes(damage_bytes(data, bops) if name == names[which % len(names)] else data)
        out = read_or_refuse(read_sprites_npy, tmp)
    if out is not None:
        frames, labels = out
        assert np.all(np.isfinite(frames)) and frames.min() >= 0 and frames.max() <= 1
        assert all(len(v) == len(frames) for v in labels.values())
        expected = (set() if "A" in dropped else {"skin", "top", "bottom", "hair"}) | (
            set() if "D" in dropped else {"action", "motion", "direction"}
        )
        assert set(labels) == expected


# --------------------------------------------------------------------------- molecular trajectories


@pytest.fixture(scope="module")
def trajectory_files(tmp_path_factory) -> tuple[bytes, bytes]:
    pytest.importorskip("MDAnalysis")
    from test_molecular_reader import _write

    d = tmp_path_factory.mktemp("md")
    frames = np.random.default_rng(0).normal(scale=3.0, size=(4, 6, 3))
    top, traj = _write(d, frames)
    return Path(top).read_bytes(), Path(traj).read_bytes()


@FUZZ
@given(which=st.sampled_from(["top", "traj"]), bops=byte_damage(), tops=text_damage())
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_molecular_files_are_read_or_refused(trajectory_files, which, bops, tops) -> None:
    top_bytes, traj_bytes = trajectory_files
    with tempfile.TemporaryDirectory() as tmp:
        top, traj = Path(tmp) / "top.pdb", Path(tmp) / "traj.dcd"
        if which == "top":
            top.write_text(damage_text(top_bytes.decode(), tops, sep=" "))
            traj.write_bytes(traj_bytes)
        else:
            top.write_bytes(top_bytes)
            traj.write_bytes(damage_bytes(traj_bytes, bops))
        from seqvae.data.molecular import read_trajectory

        out = read_or_refuse(read_trajectory, top, traj)
    if out is not None:
        values, labels = out
        assert values.ndim == 2 and values.shape[1] % 3 == 0 and np.all(np.isfinite(values))


# --------------------------------------------------------------------------- config loader

VALID_YAML = """seed: 0
data:
  kind: gaussian-mixture
  params: {n: 64}
  normalize: true
model:
  kind: mlp
  latent_dim: 2
  hidden: [8]
  likelihood: {kind: gaussian}
objective: {beta: 1.0}
train: {max_epochs: 1, batch_size: 16}
"""
YAML_JUNK = ["", "-1", "0", "1e9", "nan", "[1, 2]", "{a: 1}", "'x'", "true", "null", "[", "}", ": :", "unknown_key: 3"]


@FUZZ
@given(
    edits=st.lists(st.tuples(st.integers(0, 100), st.sampled_from(YAML_JUNK)), min_size=1, max_size=3),
    overrides=st.lists(
        st.tuples(
            st.sampled_from(["seed", "model.latent_dim", "train.lr", "train.batch_size", "objective.beta", "data.kind",
                             "model.hidden", "nope.key", "train", "model.likelihood.kind", "", "a..b"]),
            st.sampled_from(YAML_JUNK + ["2", "0.5", "mlp"]),
        ),
        max_size=3,
    ),
)
def test_config_files_and_overrides_are_loaded_or_refused(edits, overrides) -> None:
    lines = VALID_YAML.splitlines()
    for i, junk in edits:
        k = i % len(lines)
        key, _, _ = lines[k].partition(":")
        lines[k] = f"{key}: {junk}" if i % 2 else junk
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_text("\n".join(lines) + "\n")
        out = read_or_refuse(load_run_config, path, [f"{k}={v}" for k, v in overrides])
    if out is not None:
        assert out.model is not None and out.train.batch_size >= 1 and out.train.lr > 0
