"""What ``--compile`` (torch.compile) and the fused teacher-forced decoder change, per model.

Each model is trained for whole epochs (forward, backward, ``Adam.step``; batches made before the clock
starts, every epoch from the same weights) in several variants that alternate epoch by epoch:

* ``eager`` against ``compiled`` (``model.compile()``, what ``seqvae train --compile`` does) for the MLP VAE
  (8x8-digit sized: 64 -> 256 -> 256 -> 8, Bernoulli), the VRAE of source 000 (``vrae-basketball``) and the
  strokes model of source 001 (``strokes-cpu``), the sequence models on length-bucketed ragged batches
  (8 to ``--max-length`` steps, log-uniform). The first compiled epoch, which includes compiling (and a
  recompile per new batch shape until shapes are treated as dynamic), is reported apart as ``compile_s``;
* for the VRAE trained fully teacher-forced (``teacher_forcing: 1.0``): the decoder as one multi-layer
  ``nn.LSTM`` call (``fused``, the default) against the step loop of ``LSTMCell`` (``loop``).

Ratios are eager / compiled and loop / fused epoch times (> 1: the second is faster), medians over
``--repeats`` epochs.

    python benchmarks/compile.py                  # writes benchmarks/results/compile.json
    python benchmarks/compile.py --quick --json /tmp/compile.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from variable_length import MODELS as SEQUENCE_MODELS  # noqa: E402
from variable_length import epoch, ragged, seqvae_loss  # noqa: E402

from seqvae.data.batch import Batch  # noqa: E402
from seqvae.data.sequences import LengthBucketSampler, SequenceDataset  # noqa: E402
from seqvae.models.base import build_model  # noqa: E402

def mlp_batches(args: argparse.Namespace) -> tuple[Any, list[Batch]]:
    rng = np.random.default_rng(args.seed)
    x = torch.from_numpy((rng.random((args.n_vectors, 64)) < 0.3).astype(np.float32))
    model = build_model({"kind": "mlp", "latent_dim": 8, "hidden": [256, 256], "likelihood": {"kind": "bernoulli"}}, 64)
    return model, [Batch(values=x[i : i + args.batch]) for i in range(0, len(x), args.batch)]


def sequence_batches(name: str, args: argparse.Namespace, **extra: Any) -> tuple[Any, list[Any]]:
    spec = SEQUENCE_MODELS[name]  # the model written out in full (vrae-basketball, strokes-cpu sizes)
    features = spec["features"]
    size = {"hidden": 16} if args.quick else {}
    model = build_model({**spec["model"], "likelihood": {"kind": "gaussian"}, "max_length": args.max_length,
                         **size, **extra}, features)
    data = SequenceDataset(ragged(args.n, 8, args.max_length, features, args.seed))
    return model, [data.__getitems__(b) for b in LengthBucketSampler(data.lengths, args.batch, args.seed)]


def race(variants: dict[str, tuple[torch.nn.Module, list[Any]]], repeats: int, warm: set[str]) -> dict[str, Any]:
    """Median epoch seconds per variant; variants in ``warm`` get one untimed first epoch (reported)."""
    start = {k: v.clone() for k, v in next(iter(variants.values()))[0].state_dict().items()}
    step: Callable[[torch.nn.Module], Callable[[Any, int], torch.Tensor]] = lambda m: (lambda b, i: seqvae_loss(m, b, i))  # noqa: E731
    first = {}
    for k in warm:
        model, batches = variants[k]
        model.train()
        first[k] = epoch(step(model), batches, start, model)
    times: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(repeats):
        for k in (list(variants) if r % 2 == 0 else list(reversed(variants))):
            model, batches = variants[k]
            model.train()
            times[k].append(epoch(step(model), batches, start, model))
    return {"epoch_seconds": {k: statistics.median(v) for k, v in times.items()}, "raw_seconds": times,
            "first_epoch_seconds": first}


def bench_compile(name: str, args: argparse.Namespace) -> dict[str, Any]:
    eager, batches = mlp_batches(args) if name == "mlp" else sequence_batches(name, args)
    compiled = copy.deepcopy(eager)  # same weights; the data are built once
    torch._dynamo.reset()
    compiled.compile()
    res = race({"eager": (eager, batches), "compiled": (compiled, batches)}, args.repeats, {"compiled"})
    e = res["epoch_seconds"]
    res |= {"model": name, "batches": len(batches), "ratio_eager_vs_compiled": e["eager"] / e["compiled"],
            "compile_s": res["first_epoch_seconds"]["compiled"] - e["eager"]}
    return res


def bench_fused(args: argparse.Namespace) -> dict[str, Any]:
    fused, batches = sequence_batches("vrae", args, teacher_forcing=1.0)
    loop, _ = sequence_batches("vrae", args, teacher_forcing=1.0, fused_teacher_forcing=False)
    loop.load_state_dict(fused.state_dict())
    res = race({"fused": (fused, batches), "loop": (loop, batches)}, args.repeats, set())
    e = res["epoch_seconds"]
    return res | {"model": "vrae (teacher_forcing 1.0)", "batches": len(batches), "ratio_loop_vs_fused": e["loop"] / e["fused"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny networks and data: a smoke run")
    parser.add_argument("--n", type=int, default=None, help="sequences (default 512; quick 64)")
    parser.add_argument("--n-vectors", type=int, default=None, help="MLP examples (default 1797, the digits; quick 256)")
    parser.add_argument("--max-length", type=int, default=None, help="longest sequence (default 96; quick 24)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=None, help="timed epochs per variant (default 3; quick 1)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=["mlp", *SEQUENCE_MODELS], choices=["mlp", *SEQUENCE_MODELS])
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "compile.json")
    args = parser.parse_args()
    args.n = args.n or (64 if args.quick else 512)
    args.n_vectors = args.n_vectors or (256 if args.quick else 1797)
    args.max_length = args.max_length or (24 if args.quick else 96)
    args.repeats = args.repeats or (1 if args.quick else 3)
    torch.set_num_threads(args.threads)
    fused = bench_fused(args)
    rows = [bench_compile(name, args) for name in args.models]
    print("| model | epoch s eager | compiled | eager / compiled | compile s (first epoch extra) |")
    print("|---|---|---|---|---|")
    for r in rows:
        e = r["epoch_seconds"]
        print(f"| {r['model']} | {e['eager']:.3f} | {e['compiled']:.3f} | {r['ratio_eager_vs_compiled']:.2f} | {r['compile_s']:.1f} |")
    e = fused["epoch_seconds"]
    print(f"\n| {fused['model']} | epoch s fused | loop | loop / fused |\n|---|---|---|---|\n"
          f"| {fused['batches']} batches | {e['fused']:.3f} | {e['loop']:.3f} | {fused['ratio_loop_vs_fused']:.2f} |")
    out = {
        "command": " ".join(["python benchmarks/compile.py", *sys.argv[1:]]),
        "torch": torch.__version__, "threads": args.threads, "cpus": os.cpu_count(), "machine": platform.machine(),
        "rows": rows, "fused_teacher_forcing": fused,
        "ratio_eager_vs_compiled": {r["model"]: r["ratio_eager_vs_compiled"] for r in rows},
        "ratio_loop_vs_fused": fused["ratio_loop_vs_fused"],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
