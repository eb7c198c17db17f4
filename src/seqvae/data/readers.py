"""Readers and writers of variable-length multivariate sequence files: .npz, .npy, long .csv/.parquet, directories.

Every reader returns a :class:`SequenceTable` of finite float32 ``(T_i, F)`` arrays; every problem with the
input is a :class:`~seqvae.errors.DataError` naming the file, the sequence, the line or row and what was expected.
Object arrays (ragged sequences stored as Python objects) are refused: reading them would mean unpickling,
which seqvae never does on data files; the error says how to store them as ``values`` + ``lengths`` instead.
"""

from __future__ import annotations

import csv
import decimal
import io
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqvae.errors import DataError
from seqvae.io import save_npz_atomic, write_bytes_atomic
from seqvae.registry import Registry

__all__ = ["SequenceTable", "iter_parquet_sequences", "read_sequences", "write_sequences_csv", "write_sequences_npz"]

SUPPORTED = ".npz, .npy, .csv, .parquet, or a directory of per-sequence .csv/.npy files"
# file suffix -> reader(path, options) -> parsed sequences; a plugin may register more suffixes
SEQUENCE_READERS: Registry[Callable[..., Any]] = Registry("sequence file type")
_NUMERIC_KINDS = "fiub"
_F32_MAX = float(np.finfo(np.float32).max)
# arrays of a values+lengths .npz that are not labels
_NPZ_RESERVED = ("values", "lengths", "ids", "feature_names")


@dataclass
class SequenceTable:
    """Variable-length sequences ``(T_i, F)`` with their ids, feature names and per-sequence labels."""

    sequences: list[np.ndarray]
    ids: list[str]
    feature_names: list[str]
    labels: dict[str, np.ndarray]
    source: str
    named_features: bool = True  # False: the file names no features and feature_names are made up (f0, f1, ...)

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def features(self) -> int:
        return len(self.feature_names)


@dataclass
class _Options:
    features: tuple[str, ...] | None
    labels: tuple[str, ...]
    id_column: str
    time_column: str


@dataclass
class _Parsed:
    """What a format reader found, before the checks every format shares."""

    sequences: list[np.ndarray]
    ids: list[str]
    names: list[str] | None  # None: no feature names in the file
    labels: dict[str, np.ndarray]
    selected: bool = False  # the reader already applied ``features``
    header: bool = False  # a per-sequence CSV had a header row


def read_sequences(
    path: str | Path,
    *,
    features: Sequence[str] | None = None,
    labels: Sequence[str] = (),
    expected_features: int | None = None,
    min_length: int = 1,
    id_column: str = "sequence_id",
    time_column: str = "t",
) -> SequenceTable:
    """Read variable-length sequences from .npz, .npy, long .csv/.parquet, or a directory of per-sequence files."""
    path = Path(path)
    source = str(path)
    if isinstance(features, str):
        features = [features]
    if isinstance(labels, str):
        labels = [labels]
    if min_length < 1:
        raise DataError(f"min_length must be at least 1, got {min_length}")
    if expected_features is not None and expected_features < 1:
        raise DataError(f"expected_features must be at least 1, got {expected_features}")
    opts = _Options(
        features=tuple(features) if features is not None else None,
        labels=tuple(labels),
        id_column=id_column,
        time_column=time_column,
    )
    if opts.features is not None:
        if not opts.features:
            raise DataError("features lists no columns; pass None to use every non-id/time/label column")
        _check_no_repeats("features", opts.features)
    _check_no_repeats("labels", opts.labels)
    if not path.exists():
        raise DataError(missing_path(source))
    if path.is_dir():
        parsed = _read_directory(path, opts)
    else:
        reader = SEQUENCE_READERS.get(path.suffix.lower())
        if reader is None:
            raise DataError(f"{source}: unsupported file type {path.suffix!r}; use {SUPPORTED}")
        parsed = reader(path, opts)
    return _finish(source, parsed, opts, expected_features, min_length)


def missing_path(path: str | Path) -> str:
    """The one wording of a missing file or directory, for every reader and command."""
    return f"{path}: no such file or directory"


def _check_no_repeats(what: str, names: Sequence[str]) -> None:
    repeated = sorted({n for n in names if list(names).count(n) > 1})
    if repeated:
        raise DataError(f"{what} lists {', '.join(map(repr, repeated))} more than once")


def _finish(
    source: str, parsed: _Parsed, opts: _Options, expected_features: int | None, min_length: int
) -> SequenceTable:
    """Checks shared by every format: ids, emptiness, feature count, feature selection, length, finiteness."""
    seqs, ids = parsed.sequences, parsed.ids
    if not seqs:
        raise DataError(f"{source}: the file holds no sequences")
    seen: set[str] = set()
    for sid in ids:
        if sid in seen:
            raise DataError(f"{source}: sequence id {sid!r} occurs more than once; ids must be unique")
        seen.add(sid)
    width = None
    for i, (sid, seq) in enumerate(zip(ids, seqs)):
        if seq.shape[0] == 0:
            raise DataError(f"{source}: sequence {sid!r} (index {i}) is empty (0 steps)")
        if width is None:
            width = seq.shape[1]
        elif seq.shape[1] != width:
            raise DataError(
                f"{source}: sequence {sid!r} (index {i}) has {seq.shape[1]} features but sequence {ids[0]!r} "
                f"has {width}; all sequences must have the same number of features"
            )
    assert width is not None
    names = list(parsed.names) if parsed.names is not None else [f"f{j}" for j in range(width)]
    if len(names) != width:
        raise DataError(f"{source}: 'feature_names' has {len(names)} names but the sequences have {width} features")
    if opts.features is not None and not parsed.selected:
        index = _feature_index(source, names, opts.features)
        seqs = [s[:, index] for s in seqs]
        names = list(opts.features)
        width = len(names)
    if expected_features is not None and width != expected_features:
        raise DataError(
            f"{source}: sequence {ids[0]!r} has {width} features ({', '.join(names)}), expected {expected_features}"
        )
    out = []
    for i, (sid, seq) in enumerate(zip(ids, seqs)):
        if len(seq) < min_length:
            raise DataError(
                f"{source}: sequence {sid!r} has {len(seq)} step{'s' if len(seq) != 1 else ''}, "
                f"expected at least {min_length}"
            )
        out.append(_finite_float32(source, sid, i, seq, names))
    for name, lab in parsed.labels.items():
        if len(lab) != len(out):
            raise DataError(f"{source}: label {name!r} has {len(lab)} entries for {len(out)} sequences")
    return SequenceTable(
        sequences=out, ids=list(ids), feature_names=names, labels=parsed.labels, source=source,
        named_features=parsed.names is not None,
    )


def _feature_index(source: str, names: list[str], wanted: Sequence[str]) -> list[int]:
    missing = [f for f in wanted if f not in names]
    if missing:
        raise DataError(
            f"{source}: feature(s) {', '.join(map(repr, missing))} not found; features present: {', '.join(names)}"
        )
    return [names.index(f) for f in wanted]


def _finite_float32(source: str, sid: str, index: int, seq: np.ndarray, names: list[str]) -> np.ndarray:
    """``seq`` as float32, or a DataError naming the first step and feature that is NaN, inf or too large."""
    out = np.ascontiguousarray(seq, dtype=np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        step, feat = np.argwhere(bad)[0]
        value = seq[step, feat]
        what = f"non-finite value {value}" if not np.isfinite(value) else f"value {value} overflows float32"
        raise DataError(
            f"{source}: sequence {sid!r} (index {index}), step {step} (0-based), feature {names[feat]!r}: {what}"
        )
    return out


# --------------------------------------------------------------------------- long-format tables (CSV, Parquet)


def read_csv_columns(path: Path, what: str = "") -> tuple[list[str], dict[str, list[str]], list[int]]:
    """A CSV file with a header row as column names, columns of text cells and each row's line number;
    the header's names must be unique and every row as wide as it (``what`` names the expected columns)."""
    source = str(path)
    records = _csv_records(path)
    if not records:
        raise DataError(f"{source}: the file is empty; expected a header row naming the columns{what and ' of ' + what}")
    header_line, header = records[0]
    names = [c.strip() for c in header]
    _check_unique_columns(source, names)
    rows = records[1:]
    _check_row_widths(source, rows, len(names), header_line)
    columns = {name: [row[j] for _, row in rows] for j, name in enumerate(names)}
    return names, columns, [line for line, _ in rows]


@SEQUENCE_READERS.register(".csv")
def _read_csv(path: Path, opts: _Options) -> _Parsed:
    names, columns, lines = read_csv_columns(path)
    return _columns_to_sequences(str(path), names, columns, lambda i: f"line {lines[i]}", opts, text=True)


def _csv_records(path: Path) -> list[tuple[int, list[str]]]:
    """The non-blank records of a CSV file with the 1-based line each starts on."""
    records = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            previous = 0
            for row in reader:
                if len(row) > 1 or (row and row[0].strip()):  # skip blank lines
                    records.append((previous + 1, row))
                previous = reader.line_num
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read as CSV ({exc})") from exc
    return records


def _check_row_widths(source: str, rows: list[tuple[int, list[str]]], width: int, header_line: int | None) -> None:
    for line, row in rows:
        if len(row) != width:
            origin = f"the header on line {header_line} names" if header_line is not None else "the first row has"
            raise DataError(f"{source}: line {line} has {len(row)} fields, expected {width} ({origin} {width})")


def _check_unique_columns(source: str, names: list[str]) -> None:
    for j, name in enumerate(names):
        if name in names[:j]:
            raise DataError(f"{source}: column {name!r} appears more than once in the header")


def open_parquet(path: Path) -> tuple[Any, Any, list[str]]:
    """The ``pyarrow`` module, the table of a Parquet file and its column names (checked for repeats)."""
    source = str(path)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DataError(f'{source}: reading .parquet files needs pyarrow: pip install "seqvae[data]"') from exc
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises its own error types (ArrowInvalid, ArrowIOError, ...)
        raise DataError(f"{source}: cannot read as a Parquet file ({type(exc).__name__}: {exc})") from exc
    names = [str(n) for n in table.column_names]
    _check_unique_columns(source, names)
    return pa, table, names


@SEQUENCE_READERS.register(".parquet")
def _read_parquet(path: Path, opts: _Options) -> _Parsed:
    source = str(path)
    pa, table, names = open_parquet(path)
    columns = _parquet_columns(source, pa, table, names, opts)
    return _columns_to_sequences(source, names, columns, lambda i: f"row {i + 1}", opts, text=False)


def _parquet_columns(source: str, pa: Any, table: Any, names: list[str], opts: _Options) -> dict[str, Any]:
    """The columns of a pyarrow table as numpy arrays (clean numeric columns) or Python lists (the rest)."""
    columns: dict[str, Any] = {}
    name = ""
    try:
        for j, name in enumerate(names):
            col = table.column(j)
            if name == opts.time_column and pa.types.is_temporal(col.type):
                try:
                    col = col.cast(pa.int64())  # timestamps/durations: only their order matters
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    pass
            kind = col.type
            numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
            if numeric and col.null_count == 0 and name not in opts.labels and name != opts.id_column:
                columns[name] = col.to_numpy()
            else:
                columns[name] = col.to_pylist()
    except Exception as exc:
        raise DataError(f"{source}: cannot read column {name!r} ({type(exc).__name__}: {exc})") from exc
    return columns


def iter_parquet_sequences(
    path: str | Path,
    *,
    features: Sequence[str] | None = None,
    labels: Sequence[str] = (),
    expected_features: int | None = None,
    min_length: int = 1,
    id_column: str = "sequence_id",
    time_column: str = "t",
    batch_rows: int = 65536,
) -> Iterator[SequenceTable]:
    """The sequences of a long-format Parquet file, a block at a time, in bounded memory.

    Reads ``batch_rows`` rows at a time and yields the sequences completed so far as a
    :class:`SequenceTable` (checked exactly as :func:`read_sequences` checks them). The rows of each
    sequence must be together and the sequences in increasing id order (as a sort by id, then time,
    leaves them); an id that comes back after another is a :class:`DataError`.
    """
    path = Path(path)
    source = str(path)
    if batch_rows < 1:
        raise DataError(f"batch_rows must be at least 1, got {batch_rows}")
    opts = _Options(
        features=tuple([features] if isinstance(features, str) else features) if features is not None else None,
        labels=tuple([labels] if isinstance(labels, str) else labels),
        id_column=id_column,
        time_column=time_column,
    )
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DataError(f'{source}: reading .parquet files needs pyarrow: pip install "seqvae[data]"') from exc
    if not path.is_file():
        raise DataError(missing_path(source) if not path.exists() else f"{source}: is a directory, expected a .parquet file")
    try:
        pfile = pq.ParquetFile(path)
        names = [str(n) for n in pfile.schema_arrow.names]
    except Exception as exc:
        raise DataError(f"{source}: cannot read as a Parquet file ({type(exc).__name__}: {exc})") from exc
    _check_unique_columns(source, names)
    if id_column not in names:
        raise DataError(f"{source}: no id column {id_column!r}; columns: {', '.join(names)}")
    carry = None  # rows of the last, possibly unfinished, sequence
    offset = 0  # rows before the current block, for messages
    last_id: Any = None
    yielded = 0
    # one reader per row group: a single iter_batches over the whole file keeps its pre-buffered row groups
    # alive (pyarrow 26: allocations grow to the file's size), one per group frees each when it is done
    batches = (
        batch
        for group in range(pfile.metadata.num_row_groups)
        for batch in pfile.iter_batches(batch_size=batch_rows, row_groups=[group])
    )
    while True:
        try:
            batch = next(batches, None)
        except Exception as exc:
            raise DataError(f"{source}: cannot read rows after row {offset} ({type(exc).__name__}: {exc})") from exc
        block = pa.Table.from_batches([batch]) if batch is not None else None
        if carry is not None:
            block = pa.concat_tables([carry, block]) if block is not None else carry
        if block is None:
            break
        if block.num_rows == 0:  # an empty row group
            carry = None
            continue
        ids = block.column(id_column).to_pylist()
        starts = [0] + [i for i in range(1, len(ids)) if ids[i] != ids[i - 1]]
        run_ids = [ids[i] for i in starts]
        for prev, cur in zip([last_id, *run_ids[:-1]], run_ids):
            if prev is not None and _id_order_broken(prev, cur):
                raise DataError(
                    f"{source}: sequence id {cur!r} comes after {prev!r}: streaming needs each sequence's rows together "
                    f"and the ids in increasing order (sort the table by {id_column!r}, then {time_column!r})"
                )
        done = starts[-1] if batch is not None else len(ids)  # the last run may go on in the next block
        carry = block.slice(done) if batch is not None else None
        if done:
            part = block.slice(0, done)
            columns = _parquet_columns(source, pa, part, names, opts)
            parsed = _columns_to_sequences(source, names, columns, lambda i, o=offset: f"row {o + i + 1}", opts, text=False)
            yield _finish(source, parsed, opts, expected_features, min_length)
            yielded += len(parsed.ids)
            offset += done
            last_id = run_ids[-2] if batch is not None and len(run_ids) > 1 else run_ids[-1]
        if batch is None:
            break
    if not yielded:
        raise DataError(f"{source}: the file holds no sequences")


def _id_order_broken(prev: Any, cur: Any) -> bool:
    try:
        return not prev < cur
    except TypeError:  # mixed types
        return str(cur) <= str(prev)


def _columns_to_sequences(
    source: str,
    names: list[str],
    columns: Mapping[str, Sequence[Any]],
    where: Callable[[int], str],
    opts: _Options,
    *,
    text: bool,
    single_id: str | None = None,
) -> _Parsed:
    """Group the rows of a long table into sequences: the validation shared by CSV, Parquet and per-sequence files.

    ``where(i)`` names data row ``i`` in messages ("line 7", "row 6"); ``text`` says cells are strings to parse.
    With ``single_id`` every row belongs to that one sequence and the time column is optional.
    """
    feature_cols, label_cols, has_time = _pick_columns(source, names, opts, single=single_id is not None)
    n_rows = len(columns[names[0]]) if names else 0
    if n_rows == 0:
        empty = f" (sequence {single_id!r} is empty)" if single_id is not None else ""
        raise DataError(f"{source}: the file holds no data rows{empty}")
    ids = [single_id] * n_rows if single_id is not None else _id_values(source, columns[opts.id_column], where)
    hint = "" if opts.features is not None else "; if it is a label column pass labels=[...], or choose features=[...]"
    values = np.empty((n_rows, len(feature_cols)), dtype=np.float64)
    for j, name in enumerate(feature_cols):
        values[:, j] = _numeric_column(source, name, columns[name], ids, where, text, hint)
    bad = ~(np.isfinite(values) & (np.abs(values) <= _F32_MAX))
    if bad.any():
        row, j = np.argwhere(bad)[0]
        value = values[row, j]
        what = f"non-finite value {value}" if not np.isfinite(value) else f"value {value} overflows float32"
        raise DataError(f"{source}: {where(row)}, sequence {ids[row]!r}, column {feature_cols[j]!r}: {what}")
    time = None
    if has_time:
        time = _numeric_column(source, opts.time_column, columns[opts.time_column], ids, where, text, "")
        bad_t = np.flatnonzero(~np.isfinite(time))
        if bad_t.size:
            row = bad_t[0]
            raise DataError(
                f"{source}: {where(row)}, sequence {ids[row]!r}, column {opts.time_column!r}: "
                f"time {time[row]} is not a finite number"
            )
    groups: dict[str, list[int]] = {}
    for i, sid in enumerate(ids):
        groups.setdefault(sid, []).append(i)
    seqs = []
    label_values: dict[str, list[Any]] = {name: [] for name in label_cols}
    for sid, rows in groups.items():
        idx = np.asarray(rows)
        if time is not None:
            _check_increasing(source, sid, time[idx], idx, where, opts.time_column)
        seqs.append(values[idx].astype(np.float32))
        for name in label_cols:
            label_values[name].append(_constant_label(source, sid, name, columns[name], rows, where, text))
    labels = {name: _label_array(source, name, vals, text) for name, vals in label_values.items()}
    return _Parsed(seqs, list(groups), list(feature_cols), labels, selected=True)


def _pick_columns(source: str, names: list[str], opts: _Options, *, single: bool) -> tuple[list[str], list[str], bool]:
    """Feature and label columns of a long table, after checking required and missing columns."""
    present = ", ".join(names) if names else "none"
    reserved = []
    if not single:
        if opts.id_column not in names:
            raise DataError(
                f"{source}: no id column {opts.id_column!r} naming the sequence of each row; columns present: {present}"
            )
        if opts.time_column not in names:
            raise DataError(f"{source}: no time column {opts.time_column!r}; columns present: {present}")
        reserved.append(opts.id_column)
    has_time = opts.time_column in names
    if has_time:
        reserved.append(opts.time_column)
    missing = [name for name in opts.labels if name not in names]
    if missing:
        raise DataError(
            f"{source}: label column(s) {', '.join(map(repr, missing))} not found; columns present: {present}"
        )
    clash = [name for name in opts.labels if name in reserved]
    if clash:
        raise DataError(f"{source}: column {clash[0]!r} cannot be both a label and the id or time column")
    if opts.features is None:
        feature_cols = [n for n in names if n not in reserved and n not in opts.labels]
        if not feature_cols:
            raise DataError(f"{source}: no feature columns; columns present: {present}")
        return feature_cols, list(opts.labels), has_time
    missing = [name for name in opts.features if name not in names]
    if missing:
        raise DataError(
            f"{source}: feature column(s) {', '.join(map(repr, missing))} not found; columns present: {present}"
        )
    clash = [name for name in opts.features if name in reserved or name in opts.labels]
    if clash:
        raise DataError(f"{source}: column {clash[0]!r} cannot be both a feature and the id, time or a label column")
    # ``features`` selects columns: the table's other columns (not id, time or labels) are ignored
    return list(opts.features), list(opts.labels), has_time


def _id_values(source: str, column: Sequence[Any], where: Callable[[int], str]) -> list[str]:
    ids = []
    for i, value in enumerate(column):
        if value is None or (isinstance(value, str) and not value.strip()):
            raise DataError(f"{source}: {where(i)}: the sequence id is empty")
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # a float id column (e.g. after NaN-padding elsewhere) still names "7", not "7.0"
        ids.append(value if isinstance(value, str) else str(value))
    return ids


def _numeric_column(
    source: str, name: str, column: Any, ids: list[str], where: Callable[[int], str], text: bool, hint: str
) -> np.ndarray:
    if isinstance(column, np.ndarray) and column.dtype.kind in _NUMERIC_KINDS:
        return column.astype(np.float64)
    if text:
        try:
            return np.fromiter(map(float, column), dtype=np.float64, count=len(column))
        except ValueError:
            pass  # find and name the bad cell below
    out = np.empty(len(column), dtype=np.float64)
    for i, value in enumerate(column):
        try:
            out[i] = _to_float(value, text)
        except (TypeError, ValueError, OverflowError, decimal.InvalidOperation):
            what = "is empty" if value is None or value == "" else f"{value!r} is not a number"
            raise DataError(f"{source}: {where(i)}, sequence {ids[i]!r}, column {name!r}: {what}{hint}") from None
    return out


def _to_float(value: Any, text: bool) -> float:
    if text:
        return float(value)
    if isinstance(value, (int, float, np.integer, np.floating, decimal.Decimal)):
        return float(value)
    raise TypeError(type(value).__name__)


def _check_increasing(
    source: str, sid: str, times: np.ndarray, rows: np.ndarray, where: Callable[[int], str], column: str
) -> None:
    back = np.flatnonzero(np.diff(times) <= 0)
    if back.size:
        k = back[0] + 1
        raise DataError(
            f"{source}: sequence {sid!r}, {where(rows[k])}: {column} {times[k]:g} is not after {times[k - 1]:g} "
            f"on {where(rows[k - 1])}; times must strictly increase within a sequence"
        )


def _same(a: Any, b: Any) -> bool:
    return a == b or (a != a and b != b)  # NaN labels are equal to each other


def _constant_label(
    source: str, sid: str, name: str, column: Sequence[Any], rows: list[int], where: Callable[[int], str], text: bool
) -> Any:
    first = column[rows[0]]
    for r in rows:
        value = column[r]
        if value is None or (text and value == ""):
            raise DataError(f"{source}: {where(r)}, sequence {sid!r}: label {name!r} is empty")
        if not _same(value, first):
            raise DataError(
                f"{source}: {where(r)}, sequence {sid!r}: label {name!r} is {value!r} but {first!r} on "
                f"{where(rows[0])}; a label must be constant within a sequence"
            )
    return first


def _label_array(source: str, name: str, values: list[Any], text: bool) -> np.ndarray:
    """Per-sequence label values as an array: CSV text becomes int, float or str, whichever fits all values."""
    if text:
        for kind in (int, float):
            try:
                return np.asarray([kind(v) for v in values])
            except (ValueError, OverflowError):
                pass
        return np.asarray(values, dtype=str)
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{source}: label column {name!r} holds values of mixed shapes ({exc})") from exc
    if arr.ndim != 1 or arr.dtype.kind not in "biufUS":
        raise DataError(f"{source}: label column {name!r} must hold numbers or strings, got {arr.dtype}")
    return _bytes_to_str(arr)


# --------------------------------------------------------------------------- directory of per-sequence files


def _read_directory(path: Path, opts: _Options) -> _Parsed:
    files = sorted(
        p for p in path.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in (".csv", ".npy")
    )
    if not files:
        raise DataError(f"{path}: the directory holds no .csv or .npy files (one per sequence)")
    seqs: list[np.ndarray] = []
    ids: list[str] = []
    labels: dict[str, list[Any]] = {name: [] for name in opts.labels}
    names: list[str] | None = None
    names_from: Path | None = None
    stems: dict[str, Path] = {}
    for file in files:
        sid = file.stem
        if sid in stems:
            raise DataError(f"{file}: sequence id {sid!r} (the file stem) is also the id of {stems[sid].name}")
        stems[sid] = file
        if file.suffix.lower() == ".npy":
            if opts.labels:
                raise DataError(
                    f"{file}: a .npy file holds no labels, so label(s) {', '.join(opts.labels)} are missing"
                )
            seq, file_names = _sequence_npy(file, len(seqs), opts)
        else:
            parsed = _read_sequence_csv(file, opts)
            seq = parsed.sequences[0]
            file_names = parsed.names if parsed.header or opts.features is not None else None
            for name in opts.labels:
                labels[name].append(parsed.labels[name][0])
        if seqs and seq.shape[1] != seqs[0].shape[1]:
            raise DataError(
                f"{file}: sequence {sid!r} has {seq.shape[1]} features but sequence {ids[0]!r} ({files[0].name}) "
                f"has {seqs[0].shape[1]}; all sequences must have the same number of features"
            )
        if file_names is not None:
            if names is None:
                names, names_from = file_names, file
            elif file_names != names:
                raise DataError(
                    f"{file}: feature columns {', '.join(file_names)} differ from {', '.join(names)} in "
                    f"{names_from.name if names_from else '?'}"
                )
        seqs.append(seq)
        ids.append(sid)
    label_arrays = {name: np.asarray(vals) for name, vals in labels.items()}
    return _Parsed(seqs, ids, names, label_arrays, selected=True)


def _sequence_npy(file: Path, index: int, opts: _Options) -> tuple[np.ndarray, list[str] | None]:
    source = str(file)
    arr = _load_npy(file)
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise DataError(f"{source}: expected a numeric (T, F) array for sequence {file.stem!r}, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(f"{source}: sequence {file.stem!r} has shape {arr.shape}, expected (T,) or (T, F)")
    if arr.shape[0] == 0:
        raise DataError(f"{source}: sequence {file.stem!r} is empty (0 steps)")
    names = [f"f{j}" for j in range(arr.shape[1])]
    if opts.features is not None:
        arr = arr[:, _feature_index(source, names, opts.features)]
        names = list(opts.features)
    _finite_float32(source, file.stem, index, arr, names)
    return arr, (names if opts.features is not None else None)


def _read_sequence_csv(file: Path, opts: _Options) -> _Parsed:
    """One sequence from a CSV file: rows are steps, an optional header names the features."""
    source, sid = str(file), file.stem
    records = _csv_records(file)
    if not records:
        raise DataError(f"{source}: the file is empty (sequence {sid!r} has no steps)")
    first_line, first = records[0]
    header = not all(_is_number(cell) for cell in first)
    if header:
        names, rows, header_line = [c.strip() for c in first], records[1:], first_line
    else:
        names, rows, header_line = [f"f{j}" for j in range(len(first))], records, None
    _check_unique_columns(source, names)
    if not rows:
        raise DataError(f"{source}: the file holds a header but no rows (sequence {sid!r} has no steps)")
    _check_row_widths(source, rows, len(names), header_line)
    columns = {name: [row[j] for _, row in rows] for j, name in enumerate(names)}
    lines = [line for line, _ in rows]
    parsed = _columns_to_sequences(source, names, columns, lambda i: f"line {lines[i]}", opts, text=True, single_id=sid)
    parsed.header = header
    return parsed


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- .npy and .npz


@SEQUENCE_READERS.register(".npy")
def _read_npy(path: Path, opts: _Options) -> _Parsed:
    source = str(path)
    arr = _load_npy(path)
    if opts.labels:
        raise DataError(f"{source}: a .npy file holds no labels, so label(s) {', '.join(opts.labels)} are missing")
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise DataError(f"{source}: expected a numeric array, got dtype {arr.dtype}")
    elif arr.ndim == 3:
        seqs = list(arr)
    elif arr.ndim == 2:
        seqs = [arr]
    elif arr.ndim == 1:
        seqs = [arr[:, None]]
    else:
        raise DataError(f"{source}: array of shape {arr.shape}; expected (N, T, F) sequences or one (T, F) sequence")
    return _Parsed(seqs, [str(i) for i in range(len(seqs))], None, {})


def _load_npy(path: Path) -> np.ndarray:
    """A numeric .npy array, read with ``np.load(allow_pickle=False)``; object arrays are refused."""
    source = str(path)
    try:
        with open(path, "rb") as fh:
            header = _npy_header(fh)
            if header is not None:
                _check_header(source, "array", header, path.stat().st_size)
        arr = np.load(path, allow_pickle=False)
    except DataError:
        raise
    except Exception as exc:  # numpy raises ValueError, OSError, EOFError, ... for corrupt files
        raise DataError(f"{source}: cannot read as a .npy array ({type(exc).__name__}: {exc})") from exc
    if not isinstance(arr, np.ndarray):
        raise DataError(f"{source}: expected a .npy array, found an .npz archive")
    return arr


def _npy_header(fh: Any) -> tuple[tuple[int, ...], bool, np.dtype] | None:
    """(shape, fortran_order, dtype) of the .npy stream at ``fh``, or None for a format version this does not parse."""
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fh)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(fh)
    return None


def _check_header(source: str, key: str, header: tuple[tuple[int, ...], bool, np.dtype], stored: int) -> None:
    """Refuse object arrays, and a header whose shape needs more bytes than the file holds, before numpy reads it."""
    shape, _, dtype = header
    if dtype.hasobject:
        raise DataError(
            f"{source}: array {key!r} is an object array (e.g. ragged sequences saved as Python objects); reading it "
            "would mean unpickling, which seqvae never does on data files. Store the sequences as 'values' (all steps "
            "concatenated, (sum T_i, F)) and 'lengths' (N,): seqvae.data.readers.write_sequences_npz(path, sequences) "
            "writes that layout; to convert a file you trust, load it yourself with np.load(..., allow_pickle=True) "
            "and pass the list of arrays to write_sequences_npz"
        )
    needed = dtype.itemsize
    for dim in shape:
        needed *= dim
    if needed > stored:
        raise DataError(
            f"{source}: array {key!r} declares shape {shape} ({needed} bytes) but holds only {stored} bytes"
        )


@SEQUENCE_READERS.register(".npz")
def _read_npz(path: Path, opts: _Options) -> _Parsed:
    source = str(path)
    arrays = _load_npz(path)
    if not arrays:
        raise DataError(f"{source}: the .npz archive holds no arrays")
    present = ", ".join(arrays)
    used = {"ids", "feature_names"}
    if "values" in arrays:
        seqs = _split_values(source, arrays["values"], arrays.get("lengths"))
        used |= {"values", "lengths"}
    elif "lengths" in arrays:
        raise DataError(f"{source}: has 'lengths' but no 'values' array; arrays present: {present}")
    else:
        others = [k for k in arrays if k not in used]
        key = (
            "sequences" if "sequences" in arrays else "x" if "x" in arrays else others[0] if len(others) == 1 else None
        )
        if key is None:
            raise DataError(
                f"{source}: no array named 'sequences', 'x' or 'values' (with 'lengths'); arrays present: {present}"
            )
        seqs = _fixed_length_sequences(source, key, arrays[key])
        used.add(key)
    n = len(seqs)
    ids = _npz_ids(source, arrays["ids"], n) if "ids" in arrays else [str(i) for i in range(n)]
    names = _npz_names(source, arrays["feature_names"]) if "feature_names" in arrays else None
    labels = {}
    for key, arr in arrays.items():
        if key in used:
            continue
        if arr.ndim != 1 or len(arr) != n:
            raise DataError(
                f"{source}: array {key!r} with shape {arr.shape} is not part of the sequence layout and not a label "
                f"(a label is 1-D with one entry per sequence, {n})"
            )
        if not opts.labels or key in opts.labels:
            labels[key] = _npz_label(source, key, arr)
    missing = [name for name in opts.labels if name not in labels]
    if missing:
        raise DataError(
            f"{source}: label array(s) {', '.join(map(repr, missing))} not found; arrays present: {present}"
        )
    return _Parsed(seqs, ids, names, labels)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an .npz archive, read with ``allow_pickle=False``; object arrays are refused."""
    source = str(path)
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as zf, np.load(path, allow_pickle=False) as npz:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                if not info.filename.endswith(".npy"):
                    raise DataError(f"{source}: archive member {info.filename!r} is not a .npy array")
                key = info.filename[: -len(".npy")]
                with zf.open(info) as fh:
                    header = _npy_header(fh)
                if header is not None:
                    _check_header(source, key, header, info.file_size)
                arrays[key] = npz[key]
    except DataError:
        raise
    except Exception as exc:  # zipfile, zlib and numpy raise many types for corrupt archives
        raise DataError(f"{source}: cannot read as an .npz archive ({type(exc).__name__}: {exc})") from exc
    return arrays


def _split_values(source: str, values: np.ndarray, lengths: np.ndarray | None) -> list[np.ndarray]:
    """Sequences of a ``values`` array: padded (N, T, F) with optional lengths, or concatenated (sum T_i, F)."""
    if values.dtype.kind not in _NUMERIC_KINDS:
        raise DataError(f"{source}: array 'values' must be numeric, got dtype {values.dtype}")
    if lengths is None:
        if values.ndim == 3:
            return list(values)
        raise DataError(
            f"{source}: array 'values' has shape {values.shape}; without a 'lengths' array it must be (N, T, F)"
        )
    if lengths.ndim != 1 or lengths.dtype.kind not in "iuf":
        raise DataError(f"{source}: 'lengths' must be a 1-D integer array, got shape {lengths.shape} {lengths.dtype}")
    if lengths.dtype.kind == "f" and not np.all(np.isfinite(lengths) & (lengths == np.round(lengths))):
        raise DataError(f"{source}: 'lengths' must hold whole numbers")
    if (lengths < 0).any():
        i = int(np.flatnonzero(lengths < 0)[0])
        raise DataError(f"{source}: 'lengths'[{i}] is {lengths[i]}, expected a length >= 1")
    lengths = lengths.astype(np.int64)
    if values.ndim == 3:
        if len(lengths) != len(values):
            raise DataError(
                f"{source}: 'lengths' has {len(lengths)} entries but the padded 'values' {values.shape} "
                f"holds {len(values)} sequences"
            )
        too_long = np.flatnonzero(lengths > values.shape[1])
        if too_long.size:
            i = int(too_long[0])
            raise DataError(
                f"{source}: 'lengths'[{i}] is {lengths[i]} but the padded 'values' have only {values.shape[1]} steps"
            )
        return [values[i, :length] for i, length in enumerate(lengths)]
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise DataError(f"{source}: array 'values' has shape {values.shape}; expected (N, T, F) or (sum T_i, F)")
    if int(lengths.sum()) != len(values):
        raise DataError(
            f"{source}: 'lengths' sum to {int(lengths.sum())} but the concatenated 'values' have {len(values)} rows "
            "(padded values must be 3-D: (N, T, F))"
        )
    return np.split(values, np.cumsum(lengths)[:-1]) if len(lengths) else []


def _fixed_length_sequences(source: str, key: str, arr: np.ndarray) -> list[np.ndarray]:
    """Sequences of a numeric (N, T, F) array."""
    if arr.dtype.kind in _NUMERIC_KINDS and arr.ndim == 3:
        return list(arr)
    raise DataError(
        f"{source}: array {key!r} has shape {arr.shape} and dtype {arr.dtype}; expected a numeric (N, T, F) array, "
        "or 'values' with 'lengths'"
    )


def _object_items(source: str, key: str, arr: np.ndarray) -> np.ndarray:
    """A 1-D object array of strings or numbers as a plain str or numeric array."""
    items = arr.tolist()
    if all(isinstance(v, str) for v in items):
        return np.asarray(items, dtype=str)
    if all(isinstance(v, (int, float, np.integer, np.floating)) for v in items):
        try:
            return np.asarray(items)
        except OverflowError:
            pass
    raise DataError(f"{source}: array {key!r} must hold strings or numbers")


def _npz_ids(source: str, arr: np.ndarray, n: int) -> list[str]:
    if arr.ndim != 1 or len(arr) != n:
        raise DataError(f"{source}: 'ids' has shape {arr.shape}, expected one id per sequence ({n})")
    if arr.dtype.kind == "U":
        return [str(v) for v in arr]
    if arr.dtype.kind == "S":
        return [v.decode("utf-8", "replace") for v in arr]
    if arr.dtype.kind in "iu":
        return [str(int(v)) for v in arr]
    raise DataError(f"{source}: 'ids' must be strings or integers, got dtype {arr.dtype}")


def _npz_names(source: str, arr: np.ndarray) -> list[str]:
    if arr.ndim != 1 or arr.dtype.kind not in "US":
        raise DataError(f"{source}: 'feature_names' must be a 1-D array of strings, got {arr.shape} {arr.dtype}")
    names = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in arr.tolist()]
    _check_unique_columns(source, names)
    return names


def _npz_label(source: str, key: str, arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind not in "biufUS":
        raise DataError(f"{source}: label {key!r} must hold numbers or strings, got dtype {arr.dtype}")
    return _bytes_to_str(arr)


def _bytes_to_str(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind != "S":
        return arr
    return np.asarray([v.decode("utf-8", "replace") for v in arr.tolist()], dtype=str)


# --------------------------------------------------------------------------- writers


def write_sequences_npz(
    path: str | Path,
    sequences: Sequence[Any],
    ids: Sequence[str] | None = None,
    labels: Mapping[str, Any] | None = None,
    feature_names: Sequence[str] | None = None,
) -> Path:
    """Write sequences as an .npz of concatenated ``values`` (sum T_i, F) and ``lengths`` (N,), atomically."""
    seqs, id_list, label_arrays, names = _prepare(sequences, ids, labels, feature_names)
    clash = [name for name in label_arrays if name in _NPZ_RESERVED]
    if clash:
        raise DataError(f"label name {clash[0]!r} is reserved in .npz files ({', '.join(_NPZ_RESERVED)})")
    return save_npz_atomic(
        path,
        values=np.concatenate(seqs),
        lengths=np.asarray([len(s) for s in seqs], dtype=np.int64),
        ids=np.asarray(id_list, dtype=str),
        feature_names=np.asarray(names, dtype=str),
        **label_arrays,
    )


def write_sequences_csv(
    path: str | Path,
    sequences: Sequence[Any],
    ids: Sequence[str] | None = None,
    labels: Mapping[str, Any] | None = None,
    feature_names: Sequence[str] | None = None,
) -> Path:
    """Write sequences as a long CSV (``sequence_id, t, features..., labels...``; t = 0, 1, ...), atomically."""
    seqs, id_list, label_arrays, names = _prepare(sequences, ids, labels, feature_names)
    header = ["sequence_id", "t", *names, *label_arrays]
    _check_unique_columns("CSV header", header)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for i, (sid, seq) in enumerate(zip(id_list, seqs)):
        tail = [str(lab[i].item()) for lab in label_arrays.values()]
        for t, row in enumerate(seq.tolist()):
            writer.writerow([sid, t, *map(repr, row), *tail])  # repr of the float32 value as a double: exact
    path = Path(path)
    write_bytes_atomic(path, buf.getvalue().encode("utf-8"))
    return path


def _prepare(
    sequences: Sequence[Any],
    ids: Sequence[str] | None,
    labels: Mapping[str, Any] | None,
    feature_names: Sequence[str] | None,
) -> tuple[list[np.ndarray], list[str], dict[str, np.ndarray], list[str]]:
    """Validate what a writer was given, so that every file written can be read back."""
    seqs = []
    for i, seq in enumerate(sequences):
        arr = np.asarray(seq)
        if arr.dtype.kind not in _NUMERIC_KINDS:
            raise DataError(f"sequence {i} has dtype {arr.dtype}, expected numbers")
        arr = arr.astype(np.float32)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[0] == 0:
            raise DataError(f"sequence {i} has shape {arr.shape}, expected a non-empty (T, F) array")
        if seqs and arr.shape[1] != seqs[0].shape[1]:
            raise DataError(f"sequence {i} has {arr.shape[1]} features, sequence 0 has {seqs[0].shape[1]}")
        if not np.isfinite(arr).all():
            raise DataError(f"sequence {i} holds NaN or inf (in float32)")
        seqs.append(arr)
    if not seqs:
        raise DataError("no sequences to write")
    n, width = len(seqs), seqs[0].shape[1]
    id_list = [str(v) for v in ids] if ids is not None else [str(i) for i in range(n)]
    if len(id_list) != n:
        raise DataError(f"{len(id_list)} ids for {n} sequences")
    if len(set(id_list)) != n or any(not v.strip() for v in id_list):
        raise DataError("ids must be unique and non-empty")
    names = [str(v) for v in feature_names] if feature_names is not None else [f"f{j}" for j in range(width)]
    if len(names) != width or len(set(names)) != width:
        raise DataError(f"feature_names must be {width} distinct names, got {names}")
    label_arrays = {}
    for name, values in (labels or {}).items():
        arr = np.asarray(values)
        if arr.dtype.hasobject and arr.ndim == 1:
            arr = _object_items("labels", name, arr)
        if arr.shape != (n,) or arr.dtype.kind not in "biufU":
            raise DataError(f"label {name!r} must be {n} numbers or strings, got shape {arr.shape} {arr.dtype}")
        label_arrays[str(name)] = arr
    return seqs, id_list, label_arrays, names
