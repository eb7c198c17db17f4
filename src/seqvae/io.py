"""Writing files safely: every output goes to a temporary file next to its target and is renamed into place.

A crash or a kill never leaves a half-written file, and the file gets the mode the user's umask gives (as
``open(path, "w")`` would): ``tempfile.mkstemp`` makes private 0600 files, which on a shared machine
nobody else could read, so the temporary file is created here with ``os.open(..., 0o666)`` instead
and the kernel applies the umask (and a directory's default ACL) itself.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, empty file next to ``path`` (unique name, ``O_EXCL``), mode ``0o666`` less the umask."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name next to {path}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """The path of an empty temporary file to fill; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file and rename, so a crash leaves no half file."""
    write_bytes_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def save_npz_atomic(path: str | Path, **arrays: np.ndarray) -> Path:
    """Write arrays to an .npz through a temporary file and rename."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes_atomic(Path(path), buf.getvalue())
    return Path(path)
