"""The README's main job, measured: `seqvae experiment basketball` with its defaults, per seed.

Runs the command as a user would (a fresh process each time), times it, and collects the headline
numbers from its metrics.json: k-NN / linear probe R² of the shot's start x and y from the 2-D latent
means, made/missed AUC, reconstruction RMSE in metres against PCA-2 (real-time and resampled), and
the test ELBO.

    python benchmarks/basketball_quality.py --seeds 0 1 2   # writes benchmarks/results/basketball_quality.json
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
    "seed", "wall_seconds", "make_rate", "start_x_r2_knn", "start_y_r2_knn", "start_x_r2_linear",
    "start_y_r2_linear", "made_auc_knn", "made_auc_logistic", "recon_rmse_m", "pca2_rmse_m",
    "pca2_resampled_rmse_m", "test_elbo",
)


def one_seed(seed: int, extra: list[str]) -> dict:
    seqvae = shutil.which("seqvae") or str(Path(sys.executable).with_name("seqvae"))
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [seqvae, "experiment", "basketball", "--out", tmp, "--seed", str(seed), "--no-progress", *extra]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        metrics = json.loads((Path(tmp) / "metrics.json").read_text())
    probes = metrics["validation"]["probes"]
    row = {"seed": seed, **metrics["summary"]}
    for axis in ("x", "y"):
        row[f"start_{axis}_r2_linear"] = probes[f"start_{axis}"]["r2_linear"]
    row["made_auc_logistic"] = probes["made"]["auc_logistic"]
    for align in ("pad", "resample"):
        row[f"pca2_{align}_made_auc_knn"] = metrics["pca"][align]["probes"]["made"]["auc_knn"]
    row["wall_seconds"] = round(wall, 1)
    row["claims"] = metrics["claims"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "basketball_quality.json")
    args = parser.parse_args()
    extra = [a for kv in args.overrides for a in ("--set", kv)]
    rows = [one_seed(s, extra) for s in args.seeds]
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in rows:
        cells = [f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c]) for c in COLUMNS]
        print("| " + " | ".join(cells) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    info = {
        "command": "seqvae experiment basketball --seed S " + " ".join(extra),
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }
    args.out.write_text(json.dumps({**info, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
