"""Start-up time of the ``seqvae`` command: ``--help`` and a failing ``train`` (unknown config keys).

Each command runs N times, each time in a fresh Python process (``python -m seqvae.cli ...``, so
``PYTHONPATH`` picks which source tree is measured: ``PYTHONPATH=/path/to/old/src`` measures an older
checkout with the same interpreter). Reported per command: the median wall-clock seconds and the
median CPU seconds (user + system of the child, from ``resource.getrusage(RUSAGE_CHILDREN)`` before
and after each run). The failing ``train`` must exit with code 2 and leave no output directory.

    python benchmarks/startup.py [-n 5] [--json OUT.json]

Target (issue 22): under 1 s of CPU for both commands.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {
    "help": ["--help"],
    # a bad key in the train / data / objective sections: checked by the config loader alone
    "train_bad_key": ["train", "--config", "mlp-gaussian-mixture", "--out", "{tmp}/run", "--set", "train.bogus=1"],
    # a bad key in the model section: its config classes live next to the torch modules, so torch is imported
    "train_bad_model_key": ["train", "--config", "mlp-gaussian-mixture", "--out", "{tmp}/run", "--set", "model.bogus=1"],
}
EXPECTED_RC = {"help": 0, "train_bad_key": 2, "train_bad_model_key": 2}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(args: list[str], expected_rc: int) -> tuple[float, float, bool]:
    """Run ``python -m seqvae.cli ARGS`` once in a fresh process: (wall s, CPU s, out dir left behind)."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "seqvae.cli", *(a.format(tmp=tmp) for a in args)]
        cpu0, wall0 = _cpu(), time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "COLUMNS": "100"})
        wall, cpu = time.perf_counter() - wall0, _cpu() - cpu0
        if proc.returncode != expected_rc:
            raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}, expected {expected_rc}:\n{proc.stderr}")
        return wall, cpu, (Path(tmp) / "run").exists()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=5, help="fresh processes per command (median reported)")
    parser.add_argument("--json", type=Path, help="write the results here")
    opts = parser.parse_args()
    results: dict[str, dict] = {}
    for name, args in COMMANDS.items():
        runs = [time_command(args, EXPECTED_RC[name]) for _ in range(opts.n)]
        walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
        results[name] = {
            "command": "seqvae " + " ".join(a.replace("{tmp}/", "") for a in args),
            "wall_s_median": statistics.median(walls),
            "cpu_s_median": statistics.median(cpus),
            "wall_s": walls,
            "cpu_s": cpus,
            "left_out_dir": any(r[2] for r in runs),
        }
    print(f"{'command':<75} {'wall s':>8} {'CPU s':>8}  out dir left")
    for r in results.values():
        print(f"{r['command']:<75} {r['wall_s_median']:8.2f} {r['cpu_s_median']:8.2f}  {r['left_out_dir']}")
    if opts.json is not None:
        meta = {"n": opts.n, "python": sys.version.split()[0], "machine": platform.machine(),
                "cpus": os.cpu_count(), "load_avg_1min": os.getloadavg()[0], "pythonpath": os.environ.get("PYTHONPATH")}
        opts.json.parent.mkdir(parents=True, exist_ok=True)
        opts.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
        print(f"wrote {opts.json}")


if __name__ == "__main__":
    main()
