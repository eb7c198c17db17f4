"""The README's command-line tour runs, in its own order, in a fresh directory: every `seqvae` line exits 0.

The commands are read from the first ```bash block after "## Command-line tour" in README.md and run as
written, with the additions of :data:`SMALL` appended so that each finishes in seconds (later ``--set``
values win, so ``train.max_epochs=1`` replaces the README's own). The user's files the tour names
(``points.csv``, ``tracks.csv``, ``a.parquet``, ``b.parquet``) are written first by :func:`write_user_files`.
Commands run in this process (one import of torch and Lightning for the whole tour), except data-parallel
training (``--strategy ddp``), which Lightning launches as processes of its own: that line runs as
``python -m seqvae.cli ...`` with two gloo processes on CPU. A few of the tour's claims are checked on the
files the commands wrote.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from seqvae.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
FEW_EPOCHS = ["--set", "train.max_epochs=1", "--no-progress"]
# (command, does the line read --data?) -> what is appended; the first entry whose command matches wins
SMALL: list[tuple[str, bool | None, list[str]]] = [
    ("train", True, FEW_EPOCHS),  # a user's file: data.params would be refused
    ("train", False, [*FEW_EPOCHS, "--set", "data.params.n=300"]),
    ("experiment basketball", None, [*FEW_EPOCHS, "--set", "data.params.n=200"]),
    ("experiment dmol-", None, [*FEW_EPOCHS, "--set", "data.params.n=300"]),
    ("experiment strokes", None, [*FEW_EPOCHS, "--set", "data.params.n=200"]),
    ("evaluate", None, ["--iwae-samples", "4", "--ll-samples", "8", "--no-progress"]),
]


def tour_commands() -> list[list[str]]:
    """The argument lists of the tour's `seqvae` lines, in order (comments and continuations handled)."""
    text = README.read_text()
    start = text.index("## Command-line tour")
    block = re.search(r"```bash\n(.*?)```", text[start:], re.S)
    assert block is not None, "the tour has no ```bash block"
    commands = []
    for line in block.group(1).replace("\\\n", " ").splitlines():
        argv = shlex.split(line, comments=True)
        if argv and argv[0] == "seqvae":
            commands.append(argv[1:])
    return commands


def small(argv: list[str]) -> list[str]:
    """``argv`` with the additions of :data:`SMALL` that make it quick."""
    line = " ".join(argv)
    for prefix, reads_data, extra in SMALL:
        if line.startswith(prefix) and (reads_data is None or reads_data == ("--data" in argv)):
            return [*argv, *extra]
    return argv


def write_user_files(where: Path) -> None:
    """Small stand-ins for the files a user brings: 2-D points, a long CSV of tracks and two Parquet shards."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    np.savetxt(where / "points.csv", rng.normal(size=(40, 2)), delimiter=",", header="x,y", comments="")
    rows = []
    for i in range(60):  # tracks of 20-35 steps with a column the model must not see (speed)
        t = np.arange(rng.integers(20, 36))
        x, y = np.cos(0.3 * t + i), np.sin(0.3 * t + i) * (1 + i % 3)
        rows += [f"track{i},{k},{x[k]:.5f},{y[k]:.5f},{abs(x[k]) + 1:.3f}" for k in t]
    (where / "tracks.csv").write_text("sequence_id,t,x,y,speed\n" + "\n".join(rows) + "\n")
    for shard, first in (("a", 0), ("b", 10)):
        ids, ts, xs, ys = [], [], [], []
        for i in range(first, first + 10):  # circles, as the sinusoids run was trained on
            t = np.arange(30 + i % 15)
            ids += [f"s{i:03d}"] * len(t)
            ts += t.tolist()
            xs += (np.cos(2 * np.pi * t / 20 + i) * (0.5 + i % 3 * 0.5)).tolist()
            ys += (np.sin(2 * np.pi * t / 20 + i) * (0.5 + i % 3 * 0.5)).tolist()
        pq.write_table(pa.table({"sequence_id": ids, "t": ts, "x": xs, "y": ys}), where / f"{shard}.parquet")


def run_ddp(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "seqvae.cli", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip


def test_tour_is_read_from_the_readme() -> None:
    commands = tour_commands()
    assert len(commands) >= 10 and commands[0] == ["--help"]
    trained = {argv[argv.index("--out") + 1] for argv in commands if argv[0] in ("train", "experiment") and "--out" in argv}
    for argv in commands:  # every run a command reads was trained by an earlier line
        if argv[0] in ("evaluate", "sample", "encode", "interpolate", "report", "reconstruct", "splits"):
            assert argv[1] in trained, f"`seqvae {' '.join(argv)}` reads {argv[1]}, which the tour never trains"
        if argv[0] in ("train", "experiment") and "--out" in argv:
            trained.add(argv[argv.index("--out") + 1])
    # ... and before it is read
    seen: set[str] = set()
    for argv in commands:
        if argv[0] in ("evaluate", "sample", "encode", "interpolate", "report", "reconstruct", "splits"):
            assert argv[1] in seen, f"`seqvae {' '.join(argv)}` comes before {argv[1]} is trained"
        if argv[0] == "compare":
            missing = [r for r in argv[1:] if not r.startswith("-") and r.startswith("runs/") and r not in seen]
            assert not missing, f"`seqvae {' '.join(argv)}` comes before {missing} are trained"
        if argv[0] in ("train", "experiment") and "--out" in argv:
            seen.add(argv[argv.index("--out") + 1])


@pytest.mark.slow
def test_every_tour_command_exits_0_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    torch.set_num_threads(1)
    monkeypatch.chdir(tmp_path)
    write_user_files(tmp_path)
    runner = CliRunner()
    for argv in tour_commands():
        args = small(argv)
        if "ddp" in args:
            done = run_ddp(args, tmp_path)
            assert done.returncode == 0, f"seqvae {' '.join(args)}\n{done.stdout}\n{done.stderr[-3000:]}"
            continue
        result = runner.invoke(app, args)
        assert result.exit_code == 0, f"seqvae {' '.join(args)}\n{result.output}\n{result.exception!r}"
    # claims of the tour's comments
    sampled = np.load(tmp_path / "runs/sin/samples.npz")
    assert sampled["x"].shape[:2] == (16, 40) and (sampled["lengths"] == 40).all()  # --length 40: 40 steps each
    assert not np.isnan(sampled["x"]).any()
    tracks = __import__("json").loads((tmp_path / "runs/tracks/run_config.json").read_text())
    assert tracks["data"]["sequence"]["features"] == ["x", "y"]  # speed was ignored, not refused
