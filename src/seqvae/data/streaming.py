"""Writing results too large to hold: an ``.npz`` assembled from row blocks appended one at a time.

:class:`NpzStreamWriter` keeps every named array in a temporary raw file next to the target while rows
are appended, and on :meth:`~NpzStreamWriter.close` streams them into an uncompressed ``.npz`` (the
``.npy`` header first, then the rows copied in chunks), written to a temporary name and renamed into
place: memory stays at one block whatever the number of rows, and a killed run leaves no partial file.
The result reads back with ``np.load`` like any ``.npz`` (``allow_pickle=False``: ids are fixed-width
unicode, not objects).
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from seqvae.io import atomic_path

COPY_BYTES = 1 << 22


class NpzStreamWriter:
    """Append ``(rows, ...)`` blocks of named arrays (and string ids) and write them as one ``.npz``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._dir = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        self._arrays: dict[str, dict[str, Any]] = {}
        self._ids: Any = None
        self._id_width = 1
        self.rows = 0
        self._closed = False

    def append(self, ids: list[str] | None = None, **blocks: np.ndarray) -> None:
        """Add the next rows of every array (all blocks and ``ids`` must have the same number of rows)."""
        counts = {len(b) for b in blocks.values()} | ({len(ids)} if ids is not None else set())
        if len(counts) != 1:
            raise ValueError(f"blocks of one append must have the same number of rows, got {sorted(counts)}")
        for name, block in blocks.items():
            block = np.ascontiguousarray(block)
            info = self._arrays.get(name)
            if info is None:
                if self.rows:
                    raise ValueError(f"array {name!r} starts after {self.rows} rows were written")
                info = {"dtype": block.dtype, "shape": block.shape[1:], "file": open(self._dir / f"{name}.raw", "wb")}
                self._arrays[name] = info
            if block.dtype != info["dtype"] or block.shape[1:] != info["shape"]:
                raise ValueError(f"array {name!r}: block {block.dtype}{block.shape[1:]} after {info['dtype']}{info['shape']}")
            info["file"].write(block.tobytes())
        if ids is not None:
            if self._ids is None:
                self._ids = open(self._dir / "ids.txt", "w", encoding="utf-8", newline="\n")
            for sid in ids:
                if "\n" in sid or "\x00" in sid:
                    raise ValueError(f"id {sid!r} holds a newline or NUL")
                self._ids.write(sid + "\n")
                self._id_width = max(self._id_width, len(sid))
        self.rows += counts.pop()

    def close(self) -> Path:
        """Write the ``.npz`` (atomically) and remove the temporary files; returns its path."""
        if self._closed:
            return self.path
        self._closed = True
        try:
            for info in self._arrays.values():
                info["file"].close()
            if self._ids is not None:
                self._ids.close()
            with atomic_path(self.path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                for name, info in self._arrays.items():
                    header = {"descr": np.lib.format.dtype_to_descr(info["dtype"]), "fortran_order": False,
                              "shape": (self.rows, *info["shape"])}
                    with zf.open(f"{name}.npy", "w", force_zip64=True) as out:
                        np.lib.format.write_array_header_2_0(out, header)
                        with open(self._dir / f"{name}.raw", "rb") as raw:
                            shutil.copyfileobj(raw, out, COPY_BYTES)
                if self._ids is not None:
                    self._write_ids(zf)
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)
        return self.path

    def _write_ids(self, zf: zipfile.ZipFile) -> None:
        width = self._id_width
        header = {"descr": f"<U{width}", "fortran_order": False, "shape": (self.rows,)}
        with zf.open("ids.npy", "w", force_zip64=True) as out, open(self._dir / "ids.txt", encoding="utf-8", newline="\n") as src:
            np.lib.format.write_array_header_2_0(out, header)
            chunk: list[str] = []
            for line in src:
                chunk.append(line[:-1])
                if len(chunk) >= 65536:
                    out.write(np.asarray(chunk, dtype=f"<U{width}").tobytes())
                    chunk = []
            if chunk:
                out.write(np.asarray(chunk, dtype=f"<U{width}").tobytes())

    def abort(self) -> None:
        """Drop everything written so far."""
        self._closed = True
        for info in self._arrays.values():
            info["file"].close()
        if self._ids is not None:
            self._ids.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> NpzStreamWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
