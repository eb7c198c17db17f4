"""Handwritten digits as pen strokes: Edwin de Jong's MNIST stroke-sequence files, a generator, rendering.

Units and frame: **MNIST pixels** in image coordinates: ``x`` to the right (column), ``y`` DOWN (row), a
point at integer ``(x, y)`` sits on the centre of pixel ``(row y, column x)``; digits lie roughly within
0..27, like the 28x28 MNIST images they were traced from.

Representation (shared by the reader, the generator, :func:`fix_length` and :func:`render_strokes`):

* **absolute** form: float32 ``(T, 3)`` with columns ``x, y, pen_up``; ``pen_up`` is 1.0 on the LAST point
  of each stroke (the pen lifts after that point; the digit's final point always has 1.0) and 0.0
  elsewhere. The segment from a point with ``pen_up = 1`` to the next point is a jump, not drawn.
* **relative** (de Jong) form: float32 ``(T, 3)`` with columns ``dx, dy, pen_up``: row 0 holds the first
  point's position (its offset from the origin), row ``t > 0`` holds ``point_t - point_{t-1}``.
  :func:`strokes_to_relative` and :func:`strokes_to_absolute` convert between the two.

De Jong's layout (https://github.com/edwin-de-jong/mnist-digits-stroke-sequence-data), three text files per
digit ``{prefix}-{index}-{kind}.txt`` in one directory, ``prefix`` ``trainimg`` or ``testimg`` there (any
prefix is read), ``index`` a number as written (zero padding is kept):

* ``inputdata``: rows ``dx dy eos eod`` separated by whitespace, row 0 the absolute start. De Jong's
  files end each stroke with a separate row ``0 0 1 0`` (eos: end of stroke) and the digit with
  ``0 0 1 1`` (eod: end of digit, only on the last row); a point row that carries ``eos = 1`` itself is
  read as the last point of its stroke as well.
* ``targetdata``: the same rows preceded by the one-hot class label (10 columns for digits, any number of
  classes elsewhere; every row the same).
* ``points``: a header ``x,y`` then one ``x,y`` row per point; a row ``-1,-1`` (any row with both values
  negative, e.g. the ``-2,-2`` end marker of some versions) marks a pen lift.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from seqvae.config import DataConfig
from seqvae.data.readers import SequenceTable
from seqvae.data.sequences import resample_random, to_absolute, to_relative
from seqvae.data.sources import register_data_kind, single_path
from seqvae.errors import DataError

__all__ = [
    "Canvas",
    "FEATURES",
    "MAIN_STYLE_STROKES",
    "MNIST_SIZE",
    "fix_length",
    "drawable_digit",
    "handwritten_digits",
    "read_de_jong",
    "render_batch",
    "render_strokes",
    "split_strokes",
    "stroke_count",
    "stroke_table",
    "strokes_to_absolute",
    "strokes_to_relative",
    "write_de_jong",
    "writes_upward",
]

FEATURES = ("x", "y", "pen_up")
MNIST_SIZE = 28
KINDS = ("inputdata", "targetdata", "points")

# --------------------------------------------------------------------------- representation


def _strokes(points: Any, what: str = "points", columns: str = "x, y, pen_up") -> np.ndarray:
    """``points`` as a float64 ``(T, 3)`` array with T >= 1, or a ValueError saying what is wrong."""
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] == 0:
        raise ValueError(f"{what} must be a non-empty (T, 3) array of {columns}; got shape {arr.shape}")
    return arr


def strokes_to_relative(points: np.ndarray) -> np.ndarray:
    """Absolute ``(x, y, pen_up)`` to de Jong's ``(dx, dy, pen_up)``: row 0 is the start, then steps."""
    return to_relative(_strokes(points), columns=[0, 1]).astype(np.float32)


def strokes_to_absolute(offsets: np.ndarray) -> np.ndarray:
    """De Jong's ``(dx, dy, pen_up)`` to absolute ``(x, y, pen_up)`` (inverse of :func:`strokes_to_relative`)."""
    return to_absolute(_strokes(offsets, "offsets", "dx, dy, pen_up"), columns=[0, 1]).astype(np.float32)


def _stroke_ends(pen: np.ndarray) -> np.ndarray:
    """Indices of the last point of every stroke (``pen_up`` set, and always the final point)."""
    up = np.asarray(pen) > 0.5
    up[-1] = True
    return np.flatnonzero(up)


def split_strokes(points: np.ndarray) -> list[np.ndarray]:
    """The strokes of an absolute-form digit as a list of ``(n_i, 2)`` float32 ``x, y`` arrays."""
    arr = _strokes(points)
    ends = _stroke_ends(arr[:, 2])
    return [s[:, :2].astype(np.float32) for s in np.split(arr, ends[:-1] + 1)]


def stroke_count(points: np.ndarray) -> int:
    """Number of strokes (pen-down runs) in an absolute-form digit."""
    return len(_stroke_ends(_strokes(points)[:, 2]))


def _join(strokes: Sequence[np.ndarray]) -> np.ndarray:
    """``(n_i, 2)`` strokes to one absolute-form ``(T, 3)`` float32 array."""
    parts = []
    for s in strokes:
        pen = np.zeros((len(s), 1))
        pen[-1] = 1.0
        parts.append(np.hstack([np.asarray(s, dtype=np.float64), pen]))
    return np.concatenate(parts).astype(np.float32)


def stroke_table(
    sequences: Sequence[np.ndarray],
    labels: Mapping[str, np.ndarray] | None = None,
    ids: Sequence[str] | None = None,
    source: str = "strokes",
) -> SequenceTable:
    """Absolute-form digits (and per-digit labels) as a :class:`SequenceTable` with features x, y, pen_up."""
    seqs = [_strokes(s, f"sequence {i}").astype(np.float32) for i, s in enumerate(sequences)]
    names = [str(i) for i in ids] if ids is not None else [f"digit-{i}" for i in range(len(seqs))]
    if len(names) != len(seqs):
        raise ValueError(f"{len(names)} ids for {len(seqs)} sequences")
    labs = {k: np.asarray(v) for k, v in (labels or {}).items()}
    for name, lab in labs.items():
        if len(lab) != len(seqs):
            raise ValueError(f"label {name!r} has {len(lab)} entries for {len(seqs)} sequences")
    return SequenceTable(sequences=seqs, ids=names, feature_names=list(FEATURES), labels=labs, source=source)


# --------------------------------------------------------------------------- de Jong files: reading


_DE_JONG_NAME = re.compile(rf"(.+)-(\d+)-({'|'.join(KINDS)})\.txt")


def _de_jong_files(directory: Path) -> dict[str, dict[str, dict[str, str]]]:
    """Every de Jong file in ``directory``: ``{prefix: {kind: {index as written: file name}}}``.

    The index keeps the text of the name (``0001`` stays ``0001``); a prefix may hold hyphens (the
    index is the last run of digits before the kind).
    """
    found: dict[str, dict[str, dict[str, str]]] = {}
    with os.scandir(directory) as entries:
        for entry in entries:
            m = _DE_JONG_NAME.fullmatch(entry.name)
            if m:
                kinds = found.setdefault(m.group(1), {kind: {} for kind in KINDS})
                kinds[m.group(3)][m.group(2)] = entry.name
    return found


def _choose_prefix(directory: Path, found: Mapping[str, Any], prefix: str | None, use: str) -> str:
    """``prefix`` if given, else the directory's only prefix (``trainimg``, de Jong's training set, among several)."""
    if prefix is not None:
        return prefix
    if len(found) == 1:
        return next(iter(found))
    if "trainimg" in found:
        return "trainimg"
    if not found:
        raise DataError(f"{directory}: no de Jong files (<prefix>-<index>-{use}.txt)")
    raise DataError(
        f"{directory}: de Jong files with several prefixes ({', '.join(sorted(found))}); "
        "choose one with data.params.prefix=NAME (read_de_jong(..., prefix=NAME))"
    )


def _index_order(index: str) -> tuple[int, str]:
    """Numeric order of index texts (10 after 9), the text breaking ties (``1`` before ``01``)."""
    return int(index), index


def _lookup(directory: Path, files: Mapping[str, str], wanted: Sequence[int | str]) -> list[str]:
    """The index texts of ``files`` for the wanted indices (ints match any zero padding), or a DataError."""
    by_number: dict[int, list[str]] = {}
    for text in files:
        by_number.setdefault(int(text), []).append(text)
    out = []
    for want in wanted:
        if isinstance(want, str) and want in files:
            out.append(want)
            continue
        texts = by_number.get(int(want), [])
        if len(texts) > 1:
            raise DataError(f"{directory}: index {want} is ambiguous: files {', '.join(sorted(files[t] for t in texts))}")
        if not texts:
            out.append(str(want))  # missing: reported by the caller with the file name it looked for
        else:
            out.append(texts[0])
    return list(dict.fromkeys(out))


def _read_text(path: Path) -> list[str]:
    """The lines of a text file, or a DataError if it cannot be read, is not UTF-8 or has no content."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not a text file ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read the file ({err.strerror})") from None
    if not text.strip():
        raise DataError(f"{path}: the file is empty, expected one row per point")
    return text.splitlines()


def _line_of(lines: list[str], row: int) -> int:
    """The 1-based line number of non-blank row ``row`` (0-based) of ``lines``."""
    return [i for i, line in enumerate(lines, 1) if line.strip()][row]


def _bad_cell(path: Path, lines: list[str], width: int, expected: str, sep: str | None = None) -> DataError:
    """The DataError for the first line of ``lines`` whose cells are not ``width`` finite numbers."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        cells = line.split(sep)
        if len(cells) != width:
            return DataError(f"{path}: line {number} has {len(cells)} columns, expected {width} ({expected})")
        for j, cell in enumerate(cells):
            try:
                value = float(cell)
            except ValueError:
                return DataError(
                    f"{path}: line {number}, column {j + 1}: {cell.strip()!r} is not a number ({expected})"
                )
            if not math.isfinite(value):
                return DataError(f"{path}: line {number}, column {j + 1}: {cell.strip()!r} is not a finite number")
    raise AssertionError("_bad_cell called on rows that parse")


def _numbers(path: Path, lines: list[str], width: int, expected: str, sep: str | None = None) -> np.ndarray:
    """The non-blank rows of ``lines`` as float64 ``(n, width)``: plain splitting, faster than np.loadtxt here."""
    if sep is None:
        rows = [cells for cells in map(str.split, lines) if cells]
    else:
        rows = [line.split(sep) for line in lines if line.strip()]
    try:
        if any(len(cells) != width for cells in rows):
            raise ValueError
        values = np.array(rows, dtype=np.float64).reshape(-1, width)
        if not np.isfinite(values).all():
            raise ValueError
    except ValueError:
        raise _bad_cell(path, lines, width, expected, sep) from None
    return values


def _flag_error(path: Path, flags: np.ndarray, lines: list[str]) -> DataError:
    """The DataError for eos/eod columns that are not 0/1, or an eod that is not on the last row only."""
    bad = np.argwhere((flags != 0) & (flags != 1))
    if bad.size:
        row, col = bad[0]
        name = ("eos", "eod")[col]
        return DataError(
            f"{path}: line {_line_of(lines, row)}, column {col + 3} ({name}): {flags[row, col]:g}, expected 0 or 1"
        )
    early = np.flatnonzero(flags[:-1, 1])
    if early.size:
        line = _line_of(lines, early[0])
        return DataError(f"{path}: line {line}: eod is 1 before the last row; expected it on the last row only")
    line = _line_of(lines, len(flags) - 1)
    return DataError(f"{path}: line {line}: eod is 0 on the last row, expected 1 (end of digit)")


def _parse_inputdata(path: Path) -> np.ndarray:
    """An inputdata file as an absolute-form ``(T, 3)`` float32 digit."""
    lines = _read_text(path)
    values = _numbers(path, lines, 4, "dx dy eos eod")
    step, flags = values[:, :2], values[:, 2:]
    if ((flags != 0) & (flags != 1)).any() or flags[:-1, 1].any() or flags[-1, 1] != 1:
        raise _flag_error(path, flags, lines)
    pen = flags[:, 0].copy()
    # after the first row, a row "0 0" with eos or eod set is a marker: the stroke before it ends
    marker = (step[:, 0] == 0) & (step[:, 1] == 0) & (flags.max(axis=1) == 1)
    marker[0] = False
    if marker.any():
        keep = ~marker
        last_kept = np.maximum.accumulate(np.where(keep, np.arange(len(keep)), -1))
        pen[last_kept[marker]] = 1.0
        step, pen = step[keep], pen[keep]
    out = np.empty((len(step), 3), dtype=np.float32)
    out[:, :2] = np.cumsum(step, axis=0)
    out[:, 2] = pen
    out[-1, 2] = 1.0
    return out


def _parse_points(path: Path) -> np.ndarray:
    """A points file (header ``x,y``; ``-1,-1`` rows between strokes) as an absolute-form digit."""
    lines = _read_text(path)
    first = next(i for i, line in enumerate(lines) if line.strip())
    head = lines[first].split(",")
    try:
        [float(c) for c in head]
    except ValueError:
        if len(head) != 2:
            raise DataError(f"{path}: line {first + 1}: header {lines[first].strip()!r}, expected 'x,y'") from None
        lines = [""] * (first + 1) + lines[first + 1 :]  # keep line numbers
    values = _numbers(path, lines, 2, "x,y", sep=",")
    lift = (values[:, 0] < 0) & (values[:, 1] < 0)
    half = np.flatnonzero((values[:, 0] < 0) != (values[:, 1] < 0))
    if half.size:
        number = _line_of(lines, half[0])
        raise DataError(
            f"{path}: line {number}: {lines[number - 1].strip()!r} has one negative coordinate; "
            "expected a point (x,y >= 0) or a pen lift (-1,-1)"
        )
    if lift.all():
        raise DataError(f"{path}: the file holds no points, only pen lifts")
    keep = ~lift
    last_kept = np.maximum.accumulate(np.where(keep, np.arange(len(keep)), -1))
    pen = np.zeros(len(values))
    lifted = last_kept[np.flatnonzero(lift)]
    pen[lifted[lifted >= 0]] = 1.0
    out = np.column_stack([values[keep], pen[keep]])
    out[-1, 2] = 1.0
    return out.astype(np.float32)


def _parse_target(path: Path) -> int:
    """The class label of a targetdata file: its one-hot leading columns, the same on every row.

    A row is the one-hot label followed by the inputdata row (``dx dy eos eod``), so a row of ``n > 10``
    cells holds ``n - 4`` classes (de Jong's files: 10); a row of exactly 10 cells is a label alone.
    """
    rows = [(i, line.strip()) for i, line in enumerate(_read_text(path), 1) if line.strip()]
    first_line, first = rows[0]
    label, classes = _one_hot(path, first_line, first)
    head = re.match(rf"(?:\S+\s+){{{classes - 1}}}\S+", first)
    prefix = head.group(0) if head else None
    for number, text in rows[1:]:
        if prefix is not None and text.startswith(prefix) and (len(text) == len(prefix) or text[len(prefix)].isspace()):
            continue  # the same one-hot cells as the first row, as text
        other, _ = _one_hot(path, number, text, classes)
        if other != label:
            raise DataError(
                f"{path}: line {number}: label {other}, but line {first_line} says {label}; "
                "every row must carry the same label"
            )
    return label


def _one_hot(path: Path, number: int, line: str, classes: int | None = None) -> tuple[int, int]:
    """The class a row's leading one-hot columns encode and their count, or a DataError naming the line."""
    cells = line.split()
    if len(cells) < 10:
        raise DataError(f"{path}: line {number} has {len(cells)} columns, expected at least 10 (a one-hot label)")
    if classes is None:
        classes = 10 if len(cells) == 10 else len(cells) - 4
    head = " ".join(cells[:classes])
    try:
        values = [float(c) for c in cells[:classes]]
    except ValueError:
        values = []
    if sorted(values) != [0.0] * (classes - 1) + [1.0]:
        raise DataError(f"{path}: line {number}: the first {classes} columns {head!r} are not a one-hot label")
    return values.index(1.0), classes


def read_de_jong(
    directory: str | Path,
    prefix: str | None = None,
    *,
    use: Literal["inputdata", "points"] = "inputdata",
    limit: int | None = None,
    indices: Sequence[int | str] | None = None,
) -> SequenceTable:
    """Read de Jong's per-digit stroke files as absolute-form digits (x, y, pen_up), labels from targetdata.

    Files are ``{prefix}-{index}-{kind}.txt``: any prefix (``None``: the directory's only one, or
    ``trainimg`` among several), indices as written (``0001`` or ``1``), read in numeric order; ids are
    ``{prefix}-{index}`` with the index text as found. ``indices`` picks digits by number (any zero
    padding) or by their exact index text.
    """
    if use not in ("inputdata", "points"):
        raise ValueError(f"use must be 'inputdata' or 'points', got {use!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: no such directory (expected de Jong's {prefix or '<prefix>'}-<index>-{use}.txt files)")
    every = _de_jong_files(directory)
    prefix = _choose_prefix(directory, every, prefix, use)
    found = every.get(prefix, {kind: {} for kind in KINDS})
    files = found[use]
    if indices is None:
        chosen = sorted(files, key=_index_order)
        if not chosen:
            others = [k for k in KINDS if found[k]]
            hint = f"; the directory has {prefix} {' and '.join(others)} files" if others else ""
            if not others and every:
                hint = f"; the directory has files with prefix {', '.join(sorted(every))} (data.params.prefix)"
            raise DataError(f"{directory}: no files named {prefix}-<index>-{use}.txt{hint}")
    else:
        if not len(indices):
            raise ValueError("indices lists no digits")
        chosen = sorted(_lookup(directory, files, indices), key=_index_order)
        missing = [i for i in chosen if i not in files]
        if missing:
            path = directory / f"{prefix}-{missing[0]}-{use}.txt"
            raise DataError(f"{path}: no such file (digit {missing[0]} was asked for)")
    if limit is not None:
        chosen = chosen[:limit]
    parse = _parse_inputdata if use == "inputdata" else _parse_points
    sequences = [parse(directory / files[i]) for i in chosen]
    labels: dict[str, np.ndarray] = {}
    if found["targetdata"]:
        targets_of = _lookup(directory, found["targetdata"], chosen)
        absent = [t for t in targets_of if t not in found["targetdata"]]
        if absent:
            path = directory / f"{prefix}-{absent[0]}-targetdata.txt"
            raise DataError(f"{path}: no such file; the other digits have targetdata files with their labels")
        targets = [_parse_target(directory / found["targetdata"][t]) for t in targets_of]
        labels["digit"] = np.array(targets, dtype=np.int64)
    ids = [f"{prefix}-{i}" for i in chosen]
    return SequenceTable(
        sequences=sequences, ids=ids, feature_names=list(FEATURES), labels=labels, source=str(directory)
    )


# --------------------------------------------------------------------------- de Jong files: writing


def _num(value: float) -> str:
    """A number as the shortest text that reads back exactly ("6" for 6.0)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _f32(value: float) -> str:
    """A float32 value as the shortest text that reads back to the same float32."""
    text = str(np.float32(value))
    return text[:-2] if text.endswith(".0") else text


def _de_jong_rows(points: np.ndarray) -> list[tuple[float, float, int, int]]:
    """De Jong's inputdata rows for an absolute-form digit: a row per point, a ``0 0 1 *`` row per pen lift."""
    xy = points[:, :2].astype(np.float32).astype(np.float64)
    steps = np.diff(xy, axis=0, prepend=np.zeros((1, 2)))
    rows: list[tuple[float, float, int, int]] = []
    ends = set(_stroke_ends(points[:, 2]).tolist())
    for t, (dx, dy) in enumerate(steps):
        rows.append((dx, dy, 0, 0))
        if t in ends:
            rows.append((0.0, 0.0, 1, int(t == len(points) - 1)))
    return rows


def write_de_jong(
    directory: str | Path,
    sequences: Sequence[np.ndarray],
    labels: Sequence[int] | np.ndarray | Mapping[str, Any] | None = None,
    prefix: str = "trainimg",
    start_index: int = 0,
    index_width: int = 0,
) -> list[str]:
    """Write absolute-form digits as de Jong's inputdata, points and (with labels) targetdata files; returns ids.

    Coordinates must be >= 0 (negative pairs mark pen lifts in the points files). Offsets are written
    exactly (shortest round-tripping text), points as float32, so reading back gives the same float32 digits.
    Labels are class numbers >= 0, one-hot over ``max(10, largest + 1)`` columns (de Jong's 10 for digits).
    ``index_width`` zero-pads the indices in the file names (4: ``trainimg-0007-inputdata.txt``).
    """
    if isinstance(labels, Mapping):
        labels = labels["digit"]
    if labels is not None:
        labels = np.asarray(labels)
        if len(labels) != len(sequences):
            raise ValueError(f"{len(labels)} labels for {len(sequences)} sequences")
        if len(labels) and (labels.dtype.kind not in "iu" or labels.min() < 0):
            raise ValueError(f"labels must be class numbers >= 0, got {labels.tolist()[:10]}")
    classes = max(10, int(labels.max()) + 1) if labels is not None and len(labels) else 10
    checked = [_strokes(seq, f"sequence {k}") for k, seq in enumerate(sequences)]
    for k, points in enumerate(checked):
        if (points[:, :2] < 0).any():
            raise ValueError(f"sequence {k} has negative coordinates, which de Jong's points files cannot hold")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ids = []
    for k, points in enumerate(checked):
        index = f"{start_index + k:0{index_width}d}"
        rows = _de_jong_rows(points)
        body = [f"{_num(dx)} {_num(dy)} {eos} {eod}" for dx, dy, eos, eod in rows]
        (directory / f"{prefix}-{index}-inputdata.txt").write_text("\n".join(body) + "\n")
        if labels is not None:
            digit = int(labels[k])
            hot = " ".join("1" if j == digit else "0" for j in range(classes))
            (directory / f"{prefix}-{index}-targetdata.txt").write_text("".join(f"{hot} {line}\n" for line in body))
        lines = ["x,y"]
        ends = set(_stroke_ends(points[:, 2]).tolist())
        for t, (x, y) in enumerate(points[:, :2]):
            lines.append(f"{_f32(x)},{_f32(y)}")
            if t in ends:
                lines.append("-1,-1")
        (directory / f"{prefix}-{index}-points.txt").write_text("\n".join(lines) + "\n")
        ids.append(f"{prefix}-{index}")
    return ids


# --------------------------------------------------------------------------- fixed length


def _generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """``rng`` itself, or a Generator seeded with it (None: 0)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(0 if rng is None else rng)


def fix_length(
    points: np.ndarray,
    length: int = 60,
    method: Literal["random", "linear"] = "random",
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Bring an absolute-form digit to exactly ``length`` points, keeping its strokes and pen lifts.

    ``"random"`` is source 001's scheme, made pen-aware: insert the midpoint of a randomly chosen pair of
    neighbouring points of the same stroke (never across a pen lift; a digit of single-point strokes
    repeats a point instead), or delete random interior points (a deleted stroke end passes its lift to
    its predecessor; no stroke loses its last point while ``length`` allows). A one-stroke digit goes
    through :func:`~seqvae.data.sequences.resample_random` itself. ``"linear"`` places points evenly by
    arc length along each stroke (at least 2 per stroke when ``length`` allows, each further point where
    the spacing is widest); with fewer points than strokes the whole path becomes one stroke. The first
    and last points are kept exactly. ``rng``: a Generator or a seed (None: seed 0, reproducible).
    """
    arr = _strokes(points)
    if length < 2:
        raise ValueError(f"length must be at least 2, got {length}")
    if method == "random":
        return _fix_random(arr, length, _generator(rng))
    if method == "linear":
        return _fix_linear(arr, length)
    raise ValueError(f"method must be 'random' or 'linear', got {method!r}")


def _fix_random(arr: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """:func:`fix_length` by random midpoint insertion or interior deletion, never across a pen lift."""
    pen = np.zeros(len(arr))
    pen[_stroke_ends(arr[:, 2])] = 1.0
    if len(arr) >= 2 and pen[:-1].sum() == 0:  # one stroke: exactly the source's scheme
        out = np.zeros((length, 3), dtype=np.float32)
        out[:, :2] = resample_random(arr[:, :2], length, rng)
        out[-1, 2] = 1.0
        return out
    rows = np.column_stack([arr[:, :2], pen])
    if len(rows) < length:
        rows = _insert_midpoints(rows, length - len(rows), rng)
    elif len(rows) > length:
        rows = _delete_points(rows, len(rows) - length, rng)
    return rows.astype(np.float32)


def _insert_midpoints(rows: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Insert ``count`` midpoints of random drawn neighbour pairs (points in a linked list: O(1) each)."""
    pts = [tuple(r) for r in rows]
    nxt = list(range(1, len(pts))) + [-1]
    drawn = [i for i in range(len(pts) - 1) if pts[i][2] == 0.0]  # left ends of the drawn segments
    for _ in range(count):
        if drawn:  # split segment a -> b at its midpoint m: segments a -> m and m -> b
            a = drawn[int(rng.integers(len(drawn)))]
            b = nxt[a]
            pts.append((0.5 * (pts[a][0] + pts[b][0]), 0.5 * (pts[a][1] + pts[b][1]), 0.0))
        else:  # only single-point strokes: repeat a point, which then ends its stroke
            a = int(rng.integers(len(pts)))
            b = nxt[a]
            pts.append(pts[a])
            pts[a] = (pts[a][0], pts[a][1], 0.0)
            drawn.append(a)
        m = len(pts) - 1
        nxt.append(b)
        nxt[a] = m
        if pts[m][2] == 0.0:
            drawn.append(m)
    order, i = [], 0
    while i != -1:
        order.append(pts[i])
        i = nxt[i]
    return np.array(order, dtype=np.float64)


def _delete_points(rows: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Delete ``count`` random interior points, keeping a point of every stroke while that is possible."""
    stroke = np.concatenate([[0], np.cumsum(rows[:-1, 2] > 0.5)]).tolist()
    size = np.bincount(stroke).tolist()
    candidates = list(range(1, len(rows) - 1))
    keep = np.ones(len(rows), dtype=bool)
    for _ in range(count):
        pool = [c for c in candidates if size[stroke[c]] > 1] or candidates
        c = pool[int(rng.integers(len(pool)))]
        candidates.remove(c)
        keep[c] = False
        size[stroke[c]] -= 1
    out = rows.copy()
    # a deleted stroke end passes its lift to the previous kept point
    last_kept = np.maximum.accumulate(np.where(keep, np.arange(len(keep)), -1))
    out[last_kept[np.flatnonzero(~keep & (rows[:, 2] > 0.5))], 2] = 1.0
    return out[keep]


def _fix_linear(arr: np.ndarray, length: int) -> np.ndarray:
    """:func:`fix_length` by even arc-length spacing within each stroke."""
    strokes = split_strokes(arr)
    if length < len(strokes):  # cannot keep every lift: resample the whole path as one stroke
        strokes = [arr[:, :2]]
    lengths = np.array([_arc(s)[-1] for s in strokes])
    counts = np.full(len(strokes), 2 if length >= 2 * len(strokes) else 1)
    for _ in range(length - int(counts.sum())):  # each further point goes where the spacing is widest
        gap = np.where(counts > 1, lengths / np.maximum(counts - 1, 1), np.where(lengths > 0, np.inf, 0.0))
        counts[int(np.argmax(gap))] += 1
    parts = []
    for k, (s, n) in enumerate(zip(strokes, counts)):
        parts.append(_along(np.asarray(s, dtype=np.float64), int(n), last=k == len(strokes) - 1))
    out = _join(parts).astype(np.float64)
    out[0, :2], out[-1, :2] = arr[0, :2], arr[-1, :2]
    return out.astype(np.float32)


def _arc(xy: np.ndarray) -> np.ndarray:
    """Cumulative arc length along a polyline, starting at 0."""
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(np.asarray(xy, dtype=np.float64), axis=0).T))])


def _along(xy: np.ndarray, n: int, last: bool = False) -> np.ndarray:
    """``n`` points evenly spaced by arc length along a polyline, its ends included (one point: an end)."""
    s = _arc(xy)
    if n == 1:
        return xy[[-1 if last else 0]]
    keep = np.concatenate([[True], np.diff(s) > 0])
    s, xy = s[keep], xy[keep]
    if len(s) == 1:
        return np.repeat(xy, n, axis=0)
    at = np.linspace(0.0, s[-1], n)
    out = np.column_stack([np.interp(at, s, xy[:, 0]), np.interp(at, s, xy[:, 1])])
    out[0], out[-1] = xy[0], xy[-1]
    return out


# --------------------------------------------------------------------------- rendering


def _segments(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end points of the pen-down segments; a single-point stroke is a zero-length segment."""
    xy, pen = points[:, :2], points[:, 2] > 0.5
    pen = pen.copy()
    pen[-1] = True
    down = np.flatnonzero(~pen[:-1])
    lone = np.flatnonzero(pen & np.concatenate([[True], pen[:-1]]))  # stroke of one point
    a = np.concatenate([xy[down], xy[lone]])
    b = np.concatenate([xy[down + 1], xy[lone]])
    return a, b


def _fit(xy: np.ndarray, size: int, pad: float) -> np.ndarray:
    """Scale and centre ``xy`` into the box ``[pad, size - 1 - pad]`` keeping its aspect ratio."""
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    extent = float((hi - lo).max())
    room = size - 1 - 2 * pad
    if room <= 0:
        raise ValueError(f"pad {pad} leaves no room in a {size}-pixel image")
    scale = room / extent if extent > 0 else 1.0
    return (xy - (lo + hi) / 2) * scale + (size - 1) / 2


@dataclass(frozen=True)
class Canvas:
    """Where a data set's drawings live: the bounding box of their points (data units) and which way y points.

    MNIST-like data are in image coordinates (y down); characters on a 109- or 1024-unit canvas often have
    y up. :meth:`of` measures both from the data; :meth:`image_xy` maps data coordinates into an image
    (x right, y down) showing the whole canvas, so rendering and figures work at any scale.
    """

    x: tuple[float, float]
    y: tuple[float, float]
    y_up: bool = False

    @classmethod
    def of(cls, sequences: Sequence[np.ndarray], y_up: bool | None = None) -> Canvas:
        """The canvas of absolute-form drawings: their joint bounding box; ``y_up`` measured if None
        (:func:`writes_upward`)."""
        if not len(sequences):
            raise ValueError("a canvas needs at least one drawing")
        xy = np.concatenate([_strokes(s, f"sequence {i}")[:, :2] for i, s in enumerate(sequences)])
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        up = writes_upward(sequences) if y_up is None else bool(y_up)
        return cls((float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1])), up)

    @property
    def extent(self) -> float:
        """The longer side of the box (1 for a box of one point)."""
        side = max(self.x[1] - self.x[0], self.y[1] - self.y[0])
        return side if side > 0 else 1.0

    def limits(self, margin: float = 0.05) -> tuple[tuple[float, float], tuple[float, float]]:
        """``(x0, x1), (y0, y1)`` of the box widened by ``margin`` of its extent on every side (for figures)."""
        m = margin * self.extent
        return (self.x[0] - m, self.x[1] + m), (self.y[0] - m, self.y[1] + m)

    def image_xy(self, xy: np.ndarray, size: int = MNIST_SIZE, pad: float = 0.0) -> np.ndarray:
        """Data coordinates to pixel coordinates (x right, y down) of a ``size``-pixel image that shows the
        whole canvas centred, ``pad`` pixels from the sides, aspect kept."""
        room = size - 1 - 2 * pad
        if room <= 0:
            raise ValueError(f"pad {pad} leaves no room in a {size}-pixel image")
        centre = np.array([sum(self.x) / 2, sum(self.y) / 2])
        out = (np.asarray(xy, dtype=np.float64) - centre) * (room / self.extent)
        if self.y_up:
            out[:, 1] = -out[:, 1]
        return out + (size - 1) / 2


def writes_upward(sequences: Sequence[np.ndarray]) -> bool:
    """Whether y points up in these drawings, judged from how people write: mostly-vertical strokes run
    top to bottom, so if clearly more of them run towards smaller y (60 % or more), y points up; otherwise
    image coordinates (y down) are assumed."""
    down = up = 0
    for seq in sequences:
        for stroke in split_strokes(np.asarray(seq)):
            dx, dy = (stroke[-1] - stroke[0]).astype(np.float64)
            if abs(dy) > abs(dx):
                down += dy > 0
                up += dy < 0
    return bool(up >= 0.6 * (up + down) and up > 0)


def render_strokes(
    points: np.ndarray,
    size: int = MNIST_SIZE,
    thickness: float = 1.0,
    pad: float | None = None,
    fit: bool = True,
    canvas: Canvas | None = None,
) -> np.ndarray:
    """Draw a digit's pen-down segments (not the jumps) as an anti-aliased float32 ``(size, size)`` image in [0, 1].

    ``fit``: scale and centre the digit into the image, ``pad`` pixels from each side (default
    ``round(size / 7)``, MNIST's 20-pixel box in 28), keeping its aspect ratio; otherwise the whole
    ``canvas`` is drawn into the image (``pad`` default 0), or without a canvas the MNIST pixel
    coordinates as they are (scaled by ``size / 28``). With a y-up ``canvas`` the drawing is turned the
    right way up either way, so the image does not depend on the data's units or y direction. A pixel's
    value falls linearly from 1 at ``thickness / 2`` pixels from the pen's path to 0 one pixel further.
    """
    arr = _strokes(points)
    if size < 1 or thickness <= 0:
        raise ValueError(f"size must be positive and thickness > 0, got size={size}, thickness={thickness}")
    xy = arr[:, :2]
    if fit:
        if canvas is not None and canvas.y_up:
            xy = xy * np.array([1.0, -1.0])
        xy = _fit(xy, size, round(size / 7) if pad is None else float(pad))
    elif canvas is not None:
        xy = canvas.image_xy(xy, size, 0.0 if pad is None else float(pad))
    else:
        xy = (xy + 0.5) * (size / MNIST_SIZE) - 0.5
    a, b = _segments(np.column_stack([xy, arr[:, 2]]))
    return _draw(a, b, size, thickness)


def _draw(a: np.ndarray, b: np.ndarray, size: int, thickness: float) -> np.ndarray:
    """Anti-aliased coverage of each pixel centre near the segments: vectorised point-segment distances."""
    image = np.zeros((size, size), dtype=np.float32)
    reach = thickness / 2 + 0.5  # farthest a lit pixel centre can be from the path
    ends = np.vstack([a, b])
    lo = np.clip(np.floor(ends.min(axis=0) - reach).astype(int), 0, size - 1)
    hi = np.clip(np.ceil(ends.max(axis=0) + reach).astype(int), 0, size - 1)
    if (ends.max(axis=0) + reach < 0).any() or (ends.min(axis=0) - reach > size - 1).any():
        return image
    px = np.arange(lo[0], hi[0] + 1, dtype=np.float64)[None, :, None]  # x of each column
    py = np.arange(lo[1], hi[1] + 1, dtype=np.float64)[:, None, None]  # y of each row
    d = b - a
    norm = np.einsum("ij,ij->i", d, d)
    u = d / np.where(norm > 0, norm, np.inf)[:, None]  # projection onto a segment: t = (p - a) . u
    t = np.clip(px * u[:, 0] + (py * u[:, 1] - np.einsum("ij,ij->i", a, u)), 0.0, 1.0)
    dist2 = (px - (a[:, 0] + t * d[:, 0])) ** 2 + (py - (a[:, 1] + t * d[:, 1])) ** 2
    near = np.sqrt(dist2.min(axis=2))
    image[lo[1] : hi[1] + 1, lo[0] : hi[0] + 1] = np.clip(reach - near, 0.0, 1.0)
    return image


def render_batch(
    sequences: Sequence[np.ndarray],
    size: int = MNIST_SIZE,
    thickness: float = 1.0,
    pad: float | None = None,
    fit: bool = True,
    canvas: Canvas | None = None,
) -> np.ndarray:
    """Render many digits with :func:`render_strokes` into a float32 ``(N, size, size)`` array."""
    out = np.zeros((len(sequences), size, size), dtype=np.float32)
    for i, seq in enumerate(sequences):
        out[i] = render_strokes(seq, size, thickness, pad, fit, canvas)
    return out


# --------------------------------------------------------------------------- generator of handwritten digits
#
# Templates live in a frame where the digit spans y in [-1, 1] (y down, like the image) and x roughly
# [-0.5, 0.5]. A template is a list of strokes; a stroke is a list of pieces (control points of a smooth
# curve) joined at corners, where the pen slows down and turns sharply.

_Template = list[list[np.ndarray]]


def _p(*points: tuple[float, float]) -> np.ndarray:
    """Control points as an ``(n, 2)`` float64 array."""
    return np.array(points, dtype=np.float64)


def _zero(rng: np.random.Generator) -> tuple[int, _Template]:
    """An oval started at the top, drawn counter-clockwise (style 0) or clockwise (style 1), closed loosely."""
    style = int(rng.random() < 0.15)
    sign = -1.0 if style == 0 else 1.0  # angle decreasing from the top goes left first (counter-clockwise)
    start = -math.pi / 2 + rng.normal(0.15 * -sign, 0.2)
    sweep = 2 * math.pi + rng.uniform(-0.45, 0.55)
    angle = start + sign * sweep * np.linspace(0.0, 1.0, 14)
    rx, egg = rng.uniform(0.42, 0.62), rng.uniform(-0.12, 0.12)
    x = rx * np.cos(angle) * (1 + egg * np.sin(angle))
    return style, [[np.column_stack([x, np.sin(angle)])]]


def _one(rng: np.random.Generator) -> tuple[int, _Template]:
    """A down stroke (style 0), with a flag at the top (style 1), or flag and a separate base (style 2)."""
    style = int(rng.choice(3, p=[0.6, 0.3, 0.1]))
    bend = rng.normal(0.0, 0.06)
    down = _p((0.05, -1.0), (bend, 0.0), (-0.05, 1.0))
    if style == 0:
        return style, [[down]]
    flag = _p((rng.uniform(-0.38, -0.2), rng.uniform(-0.75, -0.5)), (0.05, -1.0))
    strokes = [[flag, down]]
    if style == 2:
        strokes.append([_p((-0.3, 1.0), (0.3, 1.0))])
    return style, strokes


def _two(rng: np.random.Generator) -> tuple[int, _Template]:
    """An arc over the top, a diagonal to the bottom left and a base (style 1: a small loop at the turn)."""
    style = int(rng.random() < 0.25)
    arc = _p((-0.45, -0.55), (-0.2, -0.92), (0.15, -0.98), (0.42, -0.65), (0.35, -0.2), (0.0, 0.3))
    if style == 0:
        body = np.vstack([arc, _p((-0.5, 0.97))])
        return style, [[body, _p((-0.5, 0.97), (0.05, 0.98), (0.55, 0.95))]]
    loop = _p((-0.3, 0.8), (-0.36, 0.98), (-0.5, 0.92), (-0.45, 0.76), (-0.28, 0.86), (0.0, 0.97), (0.55, 0.95))
    return style, [[np.vstack([arc, loop])]]


def _three(rng: np.random.Generator) -> tuple[int, _Template]:
    """Two bowls meeting in the middle (style 0) or a flat top, a diagonal and a bowl (style 1)."""
    style = int(rng.random() < 0.2)
    mid = (rng.uniform(-0.15, 0.1), rng.uniform(-0.2, 0.0))
    bowl = _p(mid, (0.38, 0.15), (0.45, 0.58), (0.12, 0.97), (-0.25, 0.97), (-0.47, 0.72))
    if style == 0:
        top = _p((-0.42, -0.72), (-0.1, -1.0), (0.3, -0.92), (0.38, -0.55), mid)
        return style, [[top, bowl]]
    return style, [[_p((-0.45, -1.0), (0.45, -1.0)), _p((0.45, -1.0), mid), bowl]]


def _four(rng: np.random.Generator) -> tuple[int, _Template]:
    """An open L then the vertical, lifting the pen between them (style 0), or all in one stroke (style 1)."""
    style = int(rng.random() < 0.25)
    bar = rng.uniform(0.15, 0.4)
    top = rng.uniform(-0.35, 0.2)  # near 0.25 the top closes and the 4 looks like a 9
    stem = rng.uniform(0.15, 0.35)
    if style == 0:
        ell = [_p((top, -1.0), (-0.55, bar)), _p((-0.55, bar), (0.55, bar))]
        return style, [ell, [_p((stem, rng.uniform(-1.0, -0.6)), (stem, 0.2), (stem - 0.03, 1.0))]]
    return style, [[
        _p((-0.38, -1.0), (-0.45, bar)),
        _p((-0.45, bar), (stem + 0.05, bar)),
        _p((stem + 0.05, bar), (stem, -0.95)),
        _p((stem, -0.95), (stem, 0.1), (stem - 0.03, 1.0)),
    ]]


def _five(rng: np.random.Generator) -> tuple[int, _Template]:
    """The down stroke and bowl, then the top bar as a second stroke (style 0), or bar first in one (style 1)."""
    style = int(rng.random() < 0.25)
    corner = (rng.uniform(-0.45, -0.3), rng.uniform(-0.2, 0.0))
    bowl = _p(corner, (0.05, -0.3), (0.42, -0.05), (0.48, 0.45), (0.15, 0.92), (-0.2, 0.97), (-0.48, 0.75))
    neck = _p((-0.3, -1.0), corner)
    bar = _p((-0.3, -1.0), (rng.uniform(0.3, 0.55), -1.02))
    if style == 0:
        return style, [[neck, bowl], [bar]]
    return style, [[bar[::-1], neck, bowl]]


def _six(rng: np.random.Generator) -> tuple[int, _Template]:
    """A long curve down the left side into a loop at the bottom."""
    loop = rng.uniform(-0.1, 0.15)
    return 0, [[_p(
        (0.38, -1.0), (0.0, -0.78), (-0.33, -0.35), (-0.45, 0.35), (-0.15, 0.95), (0.25, 0.9),
        (0.45, 0.5), (0.25, loop + 0.05), (-0.15, loop), (-0.42, 0.35),
    )]]


def _seven(rng: np.random.Generator) -> tuple[int, _Template]:
    """A top bar then the diagonal (style 0); style 1 adds a crossbar stroke, style 2 a tick before the bar."""
    style = int(rng.choice(3, p=[0.65, 0.2, 0.15]))
    right = (0.5, -1.0)
    bar = _p((-0.5, -0.95), right)
    diagonal = _p(right, (rng.uniform(0.05, 0.3), -0.1), (-0.05, 1.0))
    strokes = [[bar, diagonal]]
    if style == 1:
        strokes.append([_p((-0.15, 0.05), (0.45, 0.0))])
    elif style == 2:
        strokes = [[_p((-0.5, -0.7), (-0.5, -0.95)), bar, diagonal]]
    return style, strokes


def _eight(rng: np.random.Generator) -> tuple[int, _Template]:
    """A figure eight in one stroke, started at the top right (style 0) or mirrored from the top left (style 1)."""
    style = int(rng.random() < 0.2)
    waist = (0.0, rng.uniform(-0.15, 0.05))
    path = _p(
        (0.35, -0.78), (0.0, -1.0), (-0.38, -0.72), (-0.28, -0.3), waist, (0.42, 0.38), (0.38, 0.85),
        (0.0, 1.0), (-0.4, 0.8), (-0.4, 0.38), waist, (0.33, -0.42), (0.38, -0.8), (0.12, -1.0),
    )
    if style == 1:
        path[:, 0] *= -1
    return style, [[path]]


def _nine(rng: np.random.Generator) -> tuple[int, _Template]:
    """A loop drawn counter-clockwise from its right side, then a straight (style 0) or curved (style 1) tail."""
    style = int(rng.random() < 0.25)
    join = (0.42, rng.uniform(-0.7, -0.5))
    loop = _p(join, (0.1, -1.0), (-0.3, -0.9), (-0.42, -0.5), (-0.1, rng.uniform(-0.25, -0.05)), (0.3, -0.28), join)
    if style == 0:
        tail = _p(join, (0.38, 0.2), (0.3, 1.0))
    else:
        tail = _p(join, (0.4, 0.3), (0.15, 0.95), (-0.25, 0.85))
    return style, [[loop, tail]]


_TEMPLATES = (_zero, _one, _two, _three, _four, _five, _six, _seven, _eight, _nine)
MAIN_STYLE_STROKES = {0: 1, 1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 6: 1, 7: 1, 8: 1, 9: 1}


_U = np.linspace(0.0, 1.0, 10, endpoint=False)
_HERMITE = np.stack([2 * _U**3 - 3 * _U**2 + 1, _U**3 - 2 * _U**2 + _U, -2 * _U**3 + 3 * _U**2, _U**3 - _U**2], axis=1)


def _spline(ctrl: np.ndarray) -> np.ndarray:
    """A dense polyline through the control points: centripetal Catmull-Rom, 10 samples per span."""
    if len(ctrl) == 2:
        return ctrl[0] + np.linspace(0.0, 1.0, 11)[:, None] * (ctrl[1] - ctrl[0])
    ext = np.vstack([2 * ctrl[0] - ctrl[1], ctrl, 2 * ctrl[-1] - ctrl[-2]])
    step = np.diff(ext, axis=0)  # (n + 1, 2)
    gap = np.maximum(np.hypot(step[:, 0], step[:, 1]), 1e-9) ** 0.5  # knot spacing
    vel = step / gap[:, None]
    # Hermite tangents of span i (ctrl[i] -> ctrl[i + 1]), scaled to the span's knot interval
    mid = gap[1:-1, None]
    m1 = (vel[:-2] - (step[:-2] + step[1:-1]) / (gap[:-2] + gap[1:-1])[:, None] + vel[1:-1]) * mid
    m2 = (vel[1:-1] - (step[1:-1] + step[2:]) / (gap[1:-1] + gap[2:])[:, None] + vel[2:]) * mid
    spans = np.stack([ctrl[:-1], m1, ctrl[1:], m2], axis=1)  # (n - 1, 4, 2)
    dense = np.einsum("uk,skd->sud", _HERMITE, spans).reshape(-1, 2)
    return np.vstack([dense, ctrl[-1:]])


def _deform(strokes: _Template, rng: np.random.Generator, wobble: float, noise: float) -> _Template:
    """Move control points by a smooth random field plus independent noise; pieces stay joined at corners."""
    k = rng.uniform(1.0, 2.5, size=2)
    phase = rng.uniform(0, 2 * math.pi, size=2)
    amp = rng.normal(0.0, wobble, size=2)
    out = []
    for stroke in strokes:
        pieces = []
        for piece in stroke:
            moved = piece + rng.normal(0.0, noise, size=piece.shape)
            moved[:, 0] += amp[0] * np.sin(k[0] * piece[:, 1] + phase[0])
            moved[:, 1] += amp[1] * np.sin(k[1] * piece[:, 0] * 2 + phase[1])
            if pieces:
                moved[0] = pieces[-1][-1]
            pieces.append(moved)
        out.append(pieces)
    return out


def _pen_path(stroke: list[np.ndarray], matrix: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """A stroke's dense polyline in pixels and the indices of its corners (where pieces join)."""
    parts, corners, size = [], [], 0
    for piece in stroke:
        dense = _spline(piece @ matrix.T)
        if parts:
            corners.append(size - 1)  # the previous piece's last point is this one's first
            dense = dense[1:]
        parts.append(dense)
        size += len(dense)
    return np.vstack(parts), corners


def _pen_points(path: np.ndarray, corners: list[int], writer: dict[str, float]) -> np.ndarray:
    """Points along a dense path at equal time steps of a pen that slows at the ends, corners and bends."""
    seg = np.hypot(*np.diff(path, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] < 1e-6:
        return path[:1]
    events = s[[0, -1, *corners]]
    near = np.exp(-(((s[:, None] - events[None]) / writer["slow_width"]) ** 2)).max(axis=1)
    d = np.diff(path, axis=0)
    angle = np.abs(np.arctan2(d[:-1, 0] * d[1:, 1] - d[:-1, 1] * d[1:, 0], (d[:-1] * d[1:]).sum(axis=1)))
    turn = angle / np.maximum(0.5 * (seg[1:] + seg[:-1]), 1e-6)
    bend = np.concatenate([[0.0], np.convolve(turn, np.ones(5) / 5, mode="same"), [0.0]])
    speed = np.maximum((1.0 - writer["slow_depth"] * near) / (1.0 + writer["bend_slow"] * bend), 0.1)
    time = np.concatenate([[0.0], np.cumsum(seg / (0.5 * (speed[1:] + speed[:-1])))])
    n = max(2, int(round(s[-1] / writer["spacing"])) + 1)
    at = np.interp(np.linspace(0.0, time[-1], n), time, s)
    return np.column_stack([np.interp(at, s, path[:, 0]), np.interp(at, s, path[:, 1])])


def _writer(rng: np.random.Generator) -> dict[str, float]:
    """One writer's habits: slant, size, aspect, rotation, pen speed profile and point spacing."""
    return {
        "slant": float(np.clip(rng.normal(0.15, 0.2), -0.35, 0.6)),
        "height": float(rng.uniform(15.5, 20.0)),
        "aspect": float(np.exp(rng.normal(0.0, 0.15))),
        "rotation": float(rng.normal(0.0, 4.0)),
        "spacing": float(rng.uniform(0.85, 1.35)),
        "slow_depth": float(rng.uniform(0.3, 0.7)),
        "slow_width": float(rng.uniform(1.0, 2.5)),
        "bend_slow": float(rng.uniform(0.5, 2.0)),
        "jitter": float(rng.uniform(0.05, 0.2)),
    }


def _writer_matrix(w: dict[str, float]) -> np.ndarray:
    """Template frame to pixels (before centring): aspect, slant, rotation and size."""
    half = w["height"] / 2
    shape = np.array([[w["aspect"], -w["slant"]], [0.0, 1.0]]) * half
    a = math.radians(w["rotation"])
    turn = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return turn @ shape


def _one_digit(
    digit: int, rng: np.random.Generator, wobble: float, noise: float
) -> tuple[np.ndarray, int, dict[str, float]]:
    """An absolute-form digit, its style and its writer."""
    style, template = _TEMPLATES[digit](rng)
    writer = _writer(rng)
    matrix = _writer_matrix(writer)
    strokes = []
    for stroke in _deform(template, rng, wobble, noise):
        path, corners = _pen_path(stroke, matrix)
        strokes.append(_pen_points(path, corners, writer))
    xy = np.vstack(strokes)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    shrink = min(1.0, 20.0 / max(float((hi - lo).max()), 1e-9))
    centre = 13.5 + rng.normal(0.0, 0.6, size=2)
    out = []
    for s in strokes:
        s = (s - (lo + hi) / 2) * shrink + centre
        s = s + rng.uniform(-writer["jitter"], writer["jitter"], size=s.shape)
        out.append(np.clip(s, 0.0, MNIST_SIZE - 0.01))
    return _join(out), style, writer


@register_data_kind("handwritten-digits")
def handwritten_digits(
    n: int = 2000,
    classes: Sequence[int] = range(10),
    length: int | None = None,
    seed: int = 0,
    *,
    wobble: float = 0.08,
    noise: float = 0.065,
) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Simulated handwritten digits as absolute-form pen strokes in MNIST pixels, with their labels.

    Each digit follows a per-class template of how people write it (sometimes an alternative style),
    deformed smoothly (``wobble``, ``noise``: template-frame units, the digit being 2 tall) and drawn
    by a random writer: slant, size, aspect, rotation, and a pen that slows at stroke ends and corners
    (points closer together there), about 1-1.5 px apart, with small jitter. The classes are balanced.
    With ``length``, every digit goes through ``fix_length(..., method="random")``.
    Labels: ``digit``, ``style`` (0 = main style), ``strokes``, ``writer_slant`` (x shift per unit of
    height, positive leaning right), ``writer_height`` (px), ``writer_aspect`` (width factor),
    ``rotation`` (degrees, clockwise on the image) and ``spacing`` (px between points on average).
    """
    classes = [int(c) for c in classes]
    if n < 1 or not classes or any(not 0 <= c <= 9 for c in classes):
        raise ValueError(f"need n >= 1 and classes among 0-9, got n={n}, classes={classes}")
    rng = np.random.default_rng(seed)
    digits = rng.permutation(np.resize(np.array(classes, dtype=np.int64), n))
    resample = np.random.default_rng([seed, 1])
    sequences, styles, writers = [], [], []
    for d in digits:
        points, style, writer = _one_digit(int(d), rng, wobble, noise)
        if length is not None:
            points = fix_length(points, length, "random", resample)
        sequences.append(points)
        styles.append(style)
        writers.append(writer)
    labels = {
        "digit": digits,
        "style": np.array(styles, dtype=np.int64),
        "strokes": np.array([stroke_count(s) for s in sequences], dtype=np.int64),
        "writer_slant": np.array([w["slant"] for w in writers], dtype=np.float32),
        "writer_height": np.array([w["height"] for w in writers], dtype=np.float32),
        "writer_aspect": np.array([w["aspect"] for w in writers], dtype=np.float32),
        "rotation": np.array([w["rotation"] for w in writers], dtype=np.float32),
        "spacing": np.array([w["spacing"] for w in writers], dtype=np.float32),
    }
    return sequences, labels


def _de_jong_paths(cfg: DataConfig, items: list[Path]) -> DataConfig:
    """``--data DIR`` for ``data.kind=de-jong``: the directory of stroke files."""
    path = single_path(cfg, items)
    if not path.is_dir():
        raise DataError(f"{path}: data.kind=de-jong reads the directory of stroke files, not a file")
    return replace(cfg, params={**cfg.params, "directory": str(path)})


@register_data_kind("de-jong", from_paths=_de_jong_paths)
def de_jong_digits(
    directory: str,
    prefix: str | None = None,
    use: Literal["inputdata", "points"] = "inputdata",
    limit: int | None = None,
    length: int | None = 60,
    seed: int = 0,
) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """De Jong's files as ``(digits, labels)``, the layout of :func:`handwritten_digits`, each digit brought
    to ``length`` points by the source's random scheme (seeded; ``None`` keeps the lengths). ``prefix``
    (``data.params.prefix``): the file names' prefix, by default the directory's only one (``trainimg``
    among several)."""
    table = read_de_jong(directory, prefix, use=use, limit=limit)
    digits = table.sequences
    if length is not None:
        rng = np.random.default_rng([seed, 2])
        digits = [fix_length(d, length, "random", rng).astype(np.float32) for d in digits]
    return digits, dict(table.labels)


def drawable_digit(points: np.ndarray, relative: bool = False) -> np.ndarray:
    """Model output as an absolute-form digit: pen state thresholded at 1/2, offsets summed when
    ``relative``, and the last point ending its stroke."""
    p = np.array(points, dtype=np.float64, copy=True)
    p[:, 2] = (p[:, 2] >= 0.5).astype(np.float64)
    if relative:
        p = strokes_to_absolute(p.astype(np.float32)).astype(np.float64)
    if len(p):
        p[-1, 2] = 1.0
    return p
