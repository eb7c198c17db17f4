"""Source 004's polymer VAE, measured: `seqvae experiment polymer` with its defaults, per seed.

Runs the command as a user would (a fresh process each time), times it, and collects from its
metrics.json the acceptance numbers of issue 8: the mean 1-D Wasserstein distance over the bond-length
and radius-of-gyration distributions of generated structures (VAE decoder means of prior draws, and a
multivariate Gaussian fitted to the same aligned coordinates) to the MD training frames, the fraction of
structures with a bond stretched beyond 1.5 x its rest length, and the radius of gyration and potential
energy reached by latent optimisation against the training ranges (reduced LJ units).

    python benchmarks/polymer_quality.py --seeds 0 1 2   # writes benchmarks/results/polymer_quality.json
"""

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
from pathlib import Path

import torch

COLUMNS = (
    "seed", "wall_seconds", "vae_mean_w1_bond_rg", "gaussian_mean_w1_bond_rg", "vae_stretched_fraction",
    "gaussian_stretched_fraction", "training_rg_min", "optimised_rg_min", "optimised_rg_min_energy",
    "training_energy_min", "training_energy_max", "optimised_rg_max", "training_rg_max", "active_units", "test_elbo",
)


def one_seed(seed: int, extra: list[str]) -> dict:
    seqvae = shutil.which("seqvae") or str(Path(sys.executable).with_name("seqvae"))
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [seqvae, "experiment", "polymer", "--out", tmp, "--seed", str(seed), "--no-progress", *extra]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        metrics = json.loads((Path(tmp) / "metrics.json").read_text())
    row = {"seed": seed, **metrics["summary"], "active_units": metrics["train"]["active_units"]}
    row["wall_seconds"] = round(wall, 1)
    row["generated"] = metrics["generated"]  # W1 per property, stretched fractions, energies of each source
    row["claims"] = metrics["claims"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "polymer_quality.json")
    args = parser.parse_args()
    extra = [a for kv in args.overrides for a in ("--set", kv)]
    rows = [one_seed(s, extra) for s in args.seeds]
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in rows:
        cells = [f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in COLUMNS]
        print("| " + " | ".join(cells) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    info = {
        "command": "seqvae experiment polymer --seed S " + " ".join(extra),
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }
    args.out.write_text(json.dumps({**info, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
