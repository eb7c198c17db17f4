"""Ragged sequences: what length bucketing, packing and the shrinking decoder buy, against padding.

A data set of sequences whose lengths are log-uniform between 8 and 256 steps (random walks plus a
sinusoid, as in ``throughput.py``) is trained for whole epochs (batch 64, Adam, β-ELBO, fixed-std
Gaussian likelihood) three ways, with the same weights at the start of every epoch:

* ``seqvae``: seqvae's model fed by :class:`~seqvae.data.sequences.LengthBucketSampler` batches, each
  trimmed to its longest member (what ``data.sequence.bucket: true`` gives), packed sequences in the
  encoder and, for the VRAE, a decoder that stops computing for sequences that have ended;
* ``seqvae_padded``: the same seqvae model on randomly drawn batches padded to the longest sequence
  of the data set, with ``skip_finished`` off (the obvious implementation);
* ``plain_padded``: a minimal hand-written PyTorch network doing the same arithmetic (``throughput.py``'s
  ``PlainVRAE`` / ``PlainStrokes``, weights copied from seqvae's) on those padded batches.

Two model sizes: the VRAE of source 000 (``vrae-basketball``: LSTM-64, latent 2, free-running
decoder) and the strokes model of source 001 at its CPU size (``strokes-cpu``: 2 x LSTM-128).
``loss_max_rel_diff`` compares, batch by batch, seqvae's loss on the bucketed batches with the loss of
the very same batches padded to the data set's longest sequence with ``skip_finished`` off (same
weights, same noise): the savings must not change the answer.

Times are wall-clock seconds per epoch (forward, backward, ``Adam.step``; no data loading on either
side: batches are made before the clock starts), medians over ``--repeats``; the sides alternate.

    python benchmarks/variable_length.py --threads 1          # writes benchmarks/results/variable_length.json
    python benchmarks/variable_length.py --quick --json /tmp/vl.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import throughput as tp  # noqa: E402  (the plain networks and weight copying)

from seqvae.data.sequences import LengthBucketSampler, SequenceBatch, SequenceDataset  # noqa: E402
from seqvae.models.base import build_model  # noqa: E402
from seqvae.objectives import elbo_terms  # noqa: E402

MODELS = {
    "vrae": {"preset": "vrae-basketball", "model": tp.MODELS["vrae-basketball"], "features": 3},
    "strokes": {
        "preset": "strokes-cpu",
        "model": {"kind": "stacked-lstm", "hidden": 128, "layers": 2, "latent_dim": 16, "decoder_hidden": 128,
                  "decoder_layers": 1, "end_of_sequence": False, "max_length": 60},
        "features": 2,
    },
}


def ragged(n: int, lo: int, hi: int, features: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = np.exp(rng.uniform(np.log(lo), np.log(hi + 1), size=n)).astype(int).clip(lo, hi)
    full = tp.make_sequences(n, hi, features, seed)
    return [full[i, : lengths[i]] for i in range(n)]


def padded(dataset: SequenceDataset, idx: list[int], to: int) -> SequenceBatch:
    b = dataset.__getitems__(idx)
    extra = to - b.values.shape[1]
    values = torch.nn.functional.pad(b.values, (0, 0, 0, extra))
    mask = torch.nn.functional.pad(b.mask, (0, extra))
    return SequenceBatch(values=values, mask=mask, lengths=b.lengths)


def seqvae_loss(model, batch: SequenceBatch, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    return elbo_terms(model(batch))["loss"].mean()


def epoch(step, batches: list[Any], start: dict[str, torch.Tensor], module: torch.nn.Module) -> float:
    module.load_state_dict(start)
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for i, b in enumerate(batches):
        loss = step(b, i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def bench(name: str, args: argparse.Namespace) -> dict[str, Any]:
    spec = MODELS[name]
    overrides: dict[str, Any] = {"likelihood": {"kind": "gaussian"}}
    if args.quick:
        overrides |= {"hidden": 16} if name == "vrae" else {"hidden": 16, "decoder_hidden": 16, "latent_dim": 4}
    fast = build_model({**spec["model"], **overrides, "max_length": args.max_length}, spec["features"])
    naive = build_model({**spec["model"], **overrides, "max_length": args.max_length,
                         **({"skip_finished": False} if name == "vrae" else {})}, spec["features"])
    naive.load_state_dict(fast.state_dict())
    plain = tp.build_plain(fast)
    tp.copy_weights(fast, plain)
    seqs = ragged(args.n, args.min_length, args.max_length, spec["features"], args.seed)
    data = SequenceDataset(seqs)
    longest = int(data.lengths.max())
    bucketed = [data.__getitems__(b) for b in LengthBucketSampler(data.lengths, args.batch, args.seed)]
    order = np.random.default_rng(args.seed).permutation(len(seqs))
    rand_idx = [order[i : i + args.batch].tolist() for i in range(0, len(order), args.batch)]
    padded_batches = [padded(data, idx, longest) for idx in rand_idx]
    plain_batches = [(b.values, b.lengths, b.mask.to(b.values.dtype)) for b in padded_batches]

    # the savings must not change the loss: the bucketed batches, trimmed + skipping vs padded + not skipping
    diffs = []
    with torch.no_grad():
        fast.train(), naive.train()
        for i, b in enumerate(bucketed):
            a = seqvae_loss(fast, b, i)
            c = seqvae_loss(naive, SequenceBatch(values=torch.nn.functional.pad(b.values, (0, 0, 0, longest - b.values.shape[1])),
                                                 mask=torch.nn.functional.pad(b.mask, (0, longest - b.values.shape[1])),
                                                 lengths=b.lengths), i)
            diffs.append(abs(float(a - c)) / max(abs(float(c)), 1e-12))

    start = {k: v.clone() for k, v in fast.state_dict().items()}
    plain_start = {k: v.clone() for k, v in plain.state_dict().items()}
    sides = {
        "seqvae": (lambda b, i: seqvae_loss(fast, b, i), bucketed, start, fast),
        "seqvae_padded": (lambda b, i: seqvae_loss(naive, b, i), padded_batches, start, naive),
        "plain_padded": (lambda b, i: plain(*b), plain_batches, plain_start, plain),
    }
    times: dict[str, list[float]] = {k: [] for k in sides}
    for r in range(args.repeats):
        for k in (list(sides) if r % 2 == 0 else list(reversed(sides))):
            step, batches, weights, module = sides[k]
            module.train()
            times[k].append(epoch(step, batches, weights, module))
    med = {k: statistics.median(v) for k, v in times.items()}
    steps_real = int(data.lengths.sum())
    return {
        "model": name,
        "preset": spec["preset"],
        "sequences": len(seqs),
        "lengths": {"min": int(data.lengths.min()), "median": float(data.lengths.float().median()), "max": longest},
        "padding_fraction": {
            "bucketed": 1 - steps_real / sum(b.values.shape[0] * b.values.shape[1] for b in bucketed),
            "padded": 1 - steps_real / (len(seqs) * longest),
        },
        "epoch_seconds": med,
        "raw_seconds": times,
        "speedup_vs_padded": med["seqvae_padded"] / med["seqvae"],
        "speedup_vs_plain_padded": med["plain_padded"] / med["seqvae"],
        "loss_max_rel_diff": max(diffs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny networks and data: a smoke run")
    parser.add_argument("--n", type=int, default=None, help="sequences (default 1024; quick 96)")
    parser.add_argument("--min-length", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=None, help="epochs timed per side (default 3; quick 1)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "variable_length.json")
    args = parser.parse_args()
    args.n = args.n or (96 if args.quick else 1024)
    args.repeats = args.repeats or (1 if args.quick else 3)
    torch.set_num_threads(args.threads)
    rows = [bench(name, args) for name in args.models]
    print("| model | sequences | padding bucketed / padded | epoch s: seqvae | seqvae padded | plain padded "
          "| speedup vs padded | vs plain padded | loss max rel diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        e = r["epoch_seconds"]
        print(f"| {r['preset']} | {r['sequences']} | {r['padding_fraction']['bucketed']:.2f} / "
              f"{r['padding_fraction']['padded']:.2f} | {e['seqvae']:.2f} | {e['seqvae_padded']:.2f} | "
              f"{e['plain_padded']:.2f} | {r['speedup_vs_padded']:.2f} | {r['speedup_vs_plain_padded']:.2f} | "
              f"{r['loss_max_rel_diff']:.1e} |")
    out = {
        "command": " ".join(["python benchmarks/variable_length.py", *sys.argv[1:]]),
        "torch": torch.__version__, "threads": args.threads, "cpus": os.cpu_count(), "machine": platform.machine(),
        "rows": rows,
        "speedup_vs_padded": {r["model"]: r["speedup_vs_padded"] for r in rows},
        "speedup_vs_plain_padded": {r["model"]: r["speedup_vs_plain_padded"] for r in rows},
        "loss_max_rel_diff": max(r["loss_max_rel_diff"] for r in rows),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
