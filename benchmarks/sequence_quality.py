"""Quality of the VRAE on the circle family (issue acceptance): reconstruction error and latent probes.

For each seed: `seqvae train --config vrae-sinusoids` (2-D latent), then on the validation split the
reconstruction RMSE relative to the data's std and the out-of-fold R² of linear and k-NN probes
predicting the two generating parameters (amplitude, phase) from the posterior means.

    python benchmarks/sequence_quality.py --seeds 0 1 2    # writes benchmarks/results/sequence_quality.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from seqvae.analysis.latent import probe_r2, sequence_reconstruction_rmse
from seqvae.checkpoint import load_run
from seqvae.data.sources import load_data
from seqvae.runconfig import load_run_config
from seqvae.training import fit


def one_seed(seed: int, config: str) -> dict:
    cfg = load_run_config(config, [f"seed={seed}", "train.progress_bar=false"])
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        fit(cfg, tmp)
        seconds = time.perf_counter() - start
        loaded = load_run(tmp)
    bundle = load_data(loaded.run.data, loaded.run.seed, sequences=True)
    row = {"seed": seed, "train_seconds": round(seconds, 1)}
    row.update(sequence_reconstruction_rmse(loaded.model, bundle.val, loaded.normalizer))
    with torch.no_grad():
        mu = loaded.model.encode(bundle.val.batch()).mean.numpy()
    for name in ("amplitude", "phase"):
        y = bundle.val.labels[name].numpy()
        row[f"{name}_r2_linear"] = probe_r2(mu, y, "linear")
        row[f"{name}_r2_knn"] = probe_r2(mu, y, "knn")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--config", default="vrae-sinusoids")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "sequence_quality.json")
    args = parser.parse_args()
    rows = [one_seed(s, args.config) for s in args.seeds]
    cols = ["seed", "relative_rmse", "amplitude_r2_linear", "amplitude_r2_knn", "phase_r2_linear", "phase_r2_knn", "train_seconds"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for row in rows:
        print("| " + " | ".join(f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c]) for c in cols) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"config": args.config, "torch": torch.__version__, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
