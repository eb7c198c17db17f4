"""Quality of the dmol.pub chapter experiments over several seeds, against their acceptance criteria.

For each seed, runs ``seqvae experiment dmol-categorical | dmol-beta | dmol-regression`` at the
shipped settings (or ``--preset paper``) and collects the figure of merit of each:

* dmol-categorical: total variation distance between the data's class histogram and the decoded
  prior samples' (accept <= 0.15);
* dmol-beta: test reconstruction loss and KL for beta = 0.2 and beta = 1 (accept: 0.2 has the
  lower reconstruction loss and the higher KL);
* dmol-regression: 1-D Wasserstein distance to the training data of VAE samples and of a single
  fitted Gaussian (accept VAE < Gaussian).

Prints a markdown table and writes JSON.

    python benchmarks/dmol_quality.py --seeds 0 1 2 3 4 5   # writes benchmarks/results/dmol_quality.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from seqvae.experiments import run_experiment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--preset", default=None, help="config preset (default: the shipped fast settings)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/dmol_quality.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            row: dict = {"seed": seed}
            start = time.perf_counter()
            m = run_experiment("dmol-categorical", Path(tmp) / f"cat-{seed}", seed, preset=args.preset, progress=False)
            row["tv"], row["tv_sampled"], row["categorical_passed"] = m["tv"], m["tv_sampled"], m["passed"]
            m = run_experiment("dmol-beta", Path(tmp) / f"beta-{seed}", seed, preset=args.preset, progress=False)
            for key, run in m["runs"].items():
                row[f"recon_beta_{key}"], row[f"kl_beta_{key}"] = run["recon"], run["kl"]
            row["beta_passed"] = m["passed"]
            m = run_experiment("dmol-regression", Path(tmp) / f"reg-{seed}", seed, preset=args.preset, progress=False)
            row["w1_vae"], row["w1_gaussian"], row["regression_passed"] = m["w1_vae"], m["w1_gaussian"], m["passed"]
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
            print(f"seed {seed} done in {row['seconds']:.0f} s", flush=True)

    cols = ["seed", "tv", "tv_sampled", "recon_beta_0.2", "recon_beta_1", "kl_beta_0.2", "kl_beta_1", "w1_vae", "w1_gaussian"]
    print("| " + " | ".join(cols) + " | all passed |")
    print("|" + "---|" * (len(cols) + 1))
    for r in rows:
        passed = r["categorical_passed"] and r["beta_passed"] and r["regression_passed"]
        cells = [str(r["seed"]), *(f"{r[c]:.3f}" for c in cols[1:])]
        print("| " + " | ".join(cells) + f" | {'yes' if passed else 'NO'} |")
    summary = {
        "max_tv": max(r["tv"] for r in rows),
        "median_w1_ratio": statistics.median(r["w1_vae"] / r["w1_gaussian"] for r in rows),
        "all_passed": all(r["categorical_passed"] and r["beta_passed"] and r["regression_passed"] for r in rows),
    }
    print(summary)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"preset": args.preset or "fast", "torch": torch.__version__, "rows": rows, "summary": summary}
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
