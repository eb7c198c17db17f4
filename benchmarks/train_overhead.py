"""Training throughput of `seqvae.training.fit` against a hand-written PyTorch loop on the same work.

Both train the same MLP VAE (same data, batch size, objective, optimiser) for the same number of
epochs; the ratio seqvae/baseline of optimisation steps per second is the figure of merit (1.0 means
Lightning and seqvae add nothing). Timings are taken in the same process run, alternating, and the
median of ``--repeats`` is reported. Writes a JSON file and prints a markdown table.

    python benchmarks/train_overhead.py            # writes benchmarks/results/train_overhead.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch

from seqvae.config import load_run_config
from seqvae.data.arrays import make_loader
from seqvae.data.sources import load_data
from seqvae.models import build_model
from seqvae.objectives import Objective
from seqvae.training import fit


def run_baseline(cfg, bundle) -> tuple[float, int]:
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, bundle.features)
    objective = Objective(cfg.objective)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    loader = make_loader(bundle.train, cfg.train.batch_size, True, cfg.seed)
    steps = 0
    start = time.perf_counter()
    for _ in range(cfg.train.max_epochs):
        model.train()
        for batch in loader:
            loss = objective(model, batch, steps)["loss"].mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
        model.eval()
        with torch.no_grad():
            for batch in make_loader(bundle.val, cfg.eval.batch_size, False):
                objective(model, batch, steps)
    return time.perf_counter() - start, steps


def run_seqvae(cfg, bundle) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = fit(cfg, tmp, bundle)
        elapsed = time.perf_counter() - start
    return elapsed, result.summary["steps"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads for both sides")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/train_overhead.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    rows = []
    for batch_size, hidden in ((64, [64, 64]), (256, [256, 256])):
        cfg = load_run_config(
            "mlp-gaussian-mixture",
            [f"train.batch_size={batch_size}", f"model.hidden={hidden}", f"train.max_epochs={args.epochs}",
             "train.progress_bar=false", "objective.anneal.kind=constant", "data.params.n=8192"],
        )
        bundle = load_data(cfg.data, cfg.seed)
        base, ours = [], []
        for _ in range(args.repeats):
            t, n = run_baseline(cfg, bundle)
            base.append(n / t)
            t, n = run_seqvae(cfg, bundle)
            ours.append(n / t)
        b, o = statistics.median(base), statistics.median(ours)
        rows.append({"batch_size": batch_size, "hidden": hidden, "baseline_steps_per_s": b,
                     "seqvae_steps_per_s": o, "ratio": o / b})
    print("| batch | hidden | baseline steps/s | seqvae steps/s | ratio |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['batch_size']} | {r['hidden']} | {r['baseline_steps_per_s']:.0f} | {r['seqvae_steps_per_s']:.0f} | {r['ratio']:.2f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"torch": torch.__version__, "platform": platform.platform(), "cpus": os.cpu_count()}
    report = {"epochs": args.epochs, "threads": args.threads, "repeats": args.repeats, **meta, "rows": rows}
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
