"""Encoding in bounded memory: ``seqvae encode`` on long-format Parquet files of 10k, 100k and 1M sequences.

For each size a Parquet file of 2-feature sequences (8 to 24 steps, sorted by id, written in row groups
of 50 000 sequences by a separate process) is encoded by a trained VRAE in a fresh process running
``seqvae.api.encode_file`` (what ``seqvae encode`` runs), which reports its wall time and peak resident
set size (``getrusage``); the output .npz is then checked for its row count. Peak memory must not grow
with the number of sequences: ``rss_ratio_1m_vs_100k`` (the largest size against the one before) should
stay near 1.

    python benchmarks/encode_memory.py                 # writes benchmarks/results/encode_memory.json
    python benchmarks/encode_memory.py --quick --json /tmp/em.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

WRITE = r"""
import sys
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
path, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(seed)
block = 50_000
with pq.ParquetWriter(path, pa.schema([("sequence_id", pa.int64()), ("t", pa.int32()), ("x", pa.float32()),
                                       ("y", pa.float32())])) as writer:
    for start in range(0, n, block):
        m = min(block, n - start)
        lengths = rng.integers(8, 25, size=m)
        ids = np.repeat(np.arange(start, start + m), lengths)
        t = np.concatenate([np.arange(k) for k in lengths]).astype(np.int32)
        phase = np.repeat(rng.uniform(0, 6.28, size=m), lengths)
        x = np.sin(0.3 * t + phase).astype(np.float32)
        y = np.cos(0.2 * t + phase).astype(np.float32)
        writer.write_table(pa.table({"sequence_id": ids, "t": t, "x": x, "y": y}))

"""

ENCODE = r"""
import json, resource, sys, time
import torch
torch.set_num_threads(int(sys.argv[4]))
from seqvae.api import encode_file
start = time.perf_counter()
out, n = encode_file(sys.argv[1], sys.argv[2], sys.argv[3], batch_rows=int(sys.argv[5]))
seconds = time.perf_counter() - start
print(json.dumps({"sequences": n, "seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

TRAIN = r"""
import sys
import numpy as np
from seqvae.runconfig import load_run_config
from seqvae.training import fit
cfg = load_run_config("vrae-sinusoids", ["train.max_epochs=1", "train.progress_bar=false", "data.params.n=256"])
fit(cfg, sys.argv[1])
"""


def run(code: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    if done.returncode:
        raise SystemExit(done.stdout + done.stderr)
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="sequences per file (default 10k 100k 1M)")
    parser.add_argument("--quick", action="store_true", help="1k and 10k sequences: a smoke run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-rows", type=int, default=65536, help="Parquet rows read per block")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "encode_memory.json")
    args = parser.parse_args()
    sizes = args.sizes or ([1000, 10_000] if args.quick else [10_000, 100_000, 1_000_000])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        run(TRAIN, str(run_dir))
        for n in sizes:
            data = Path(tmp) / f"seq{n}.parquet"
            run(WRITE, str(data), str(n), "0")
            out = Path(tmp) / f"latents{n}.npz"
            result = json.loads(run(ENCODE, str(run_dir), str(data), str(out), str(args.threads), str(args.batch_rows)))
            with np.load(out, allow_pickle=False) as z:
                assert z["mean"].shape[0] == n and z["ids"].shape[0] == n
            result |= {"file_mb": data.stat().st_size / 2**20, "sequences_per_second": n / result["seconds"]}
            rows.append(result)
            data.unlink()
            out.unlink()
            print(f"{n:>9} sequences: {result['seconds']:.1f} s, {result['sequences_per_second']:.0f} seq/s, "
                  f"peak RSS {result['peak_rss_mb']:.0f} MB", flush=True)
    ratio = rows[-1]["peak_rss_mb"] / rows[-2]["peak_rss_mb"] if len(rows) > 1 else None
    print("| sequences | Parquet MB | seconds | sequences/s | peak RSS MB |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['sequences']:,} | {r['file_mb']:.0f} | {r['seconds']:.1f} | {r['sequences_per_second']:.0f} | "
              f"{r['peak_rss_mb']:.0f} |")
    if ratio is not None:
        print(f"peak RSS, largest vs previous size: {ratio:.3f}")
    out = {"command": " ".join(["python benchmarks/encode_memory.py", *sys.argv[1:]]), "threads": args.threads,
           "cpus": os.cpu_count(), "machine": platform.machine(), "batch_rows": args.batch_rows, "rows": rows,
           "rss_ratio_largest_vs_previous": ratio}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
