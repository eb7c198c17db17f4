"""Shared by the per-experiment quality benchmarks: run ``seqvae experiment NAME --seed S`` as a user
would (a fresh process each time), time it, print a markdown table and write the rows as JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch


def run_seed(name: str, seed: int, extra: list[str]) -> tuple[dict[str, Any], float]:
    """``metrics.json`` of one fresh ``seqvae experiment`` process and its wall time in seconds."""
    seqvae = shutil.which("seqvae") or str(Path(sys.executable).with_name("seqvae"))
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [seqvae, "experiment", name, "--out", tmp, "--seed", str(seed), "--no-progress", *extra]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        return json.loads((Path(tmp) / "metrics.json").read_text()), wall


def main(
    name: str,
    columns: Sequence[str],
    row: Callable[[dict[str, Any]], dict[str, Any]],
    description: str,
    float_format: str = ".3f",
) -> None:
    """Parse ``--seeds/--set/--out``, run every seed, print ``columns`` of each ``row(metrics)`` and write JSON."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / f"{name}_quality.json")
    args = parser.parse_args()
    extra = [a for kv in args.overrides for a in ("--set", kv)]
    rows = []
    for seed in args.seeds:
        metrics, wall = run_seed(name, seed, extra)
        rows.append({"seed": seed, **row(metrics), "wall_seconds": round(wall, 1)})
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        cells = [format(r[c], float_format) if isinstance(r[c], float) else str(r[c]) for c in columns]
        print("| " + " | ".join(cells) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    info = {
        "command": f"seqvae experiment {name} --seed S " + " ".join(extra),
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }
    args.out.write_text(json.dumps({**info, "rows": rows}, indent=2) + "\n")
