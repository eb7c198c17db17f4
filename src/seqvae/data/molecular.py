"""Real molecular-dynamics trajectories as VAE input, read through MDAnalysis (optional extra ``molecular``).

:func:`read_trajectory` opens any topology + trajectory pair MDAnalysis can read (PDB, GRO, PSF, TPR, ...
with DCD, XTC, TRR, NetCDF, multi-model PDB, ...), keeps the atoms of a selection (MDAnalysis selection
language, e.g. ``"name CA"`` or ``"protein and backbone"``), removes rigid-body motion by centring every frame
on the selection's centre (of mass when ``mass_weighted``) and rotating it onto a reference by least-squares
(Kabsch) superposition, and flattens each frame to ``x_0, y_0, z_0, x_1, ...`` (lengths in Angstrom, as
MDAnalysis reports them). The reference is a frame of the same trajectory (``reference_frame``, default the
first) or a separate structure file with the same selected atoms.

As a data kind (``data.kind: molecular``) the frames become vectors for the MLP VAE, like the simulated
polymer's; the labels are the frame index, the time (ps) and the RMSD to the reference after the fit.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from seqvae.errors import DataError

INSTALL_HINT = 'reading molecular trajectories needs MDAnalysis: pip install "seqvae[molecular]"'


@contextlib.contextmanager
def _quiet_mdanalysis() -> Iterator[None]:
    """Hide MDAnalysis' parser remarks (missing elements, no unit cell, guessed attributes) and its upstream
    deprecation notices: they concern fields a VAE on coordinates never reads, and were printed on every
    command that opened a trajectory. Problems that matter raise :class:`DataError` instead."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"MDAnalysis(\.|$)")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"MDAnalysis(\.|$)")
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*MDAnalysis.*")
        yield


def _mdanalysis() -> tuple[Any, Any]:
    try:
        with _quiet_mdanalysis():
            import MDAnalysis as mda
            from MDAnalysis.analysis import align as mda_align
    except ImportError as exc:  # pragma: no cover - the test environment has the extra
        raise DataError(INSTALL_HINT) from exc
    return mda, mda_align


def _universe(mda: Any, topology: str | Path, trajectory: str | Path | list[str | Path] | None) -> Any:
    paths = [Path(topology)]
    if trajectory is not None:
        paths += [Path(p) for p in (trajectory if isinstance(trajectory, (list, tuple)) else [trajectory])]
    for p in paths:
        if not p.is_file():
            raise DataError(f"{p}: no such file or directory" if not p.exists() else f"{p}: is a directory, expected a file")
    try:
        if trajectory is None:
            return mda.Universe(str(paths[0]))
        return mda.Universe(str(paths[0]), *[str(p) for p in paths[1:]])
    except Exception as exc:  # MDAnalysis raises many types for unreadable or mismatched files
        names = " + ".join(str(p) for p in paths)
        raise DataError(f"molecular trajectory: MDAnalysis cannot open {names}: {exc}") from exc


def _select(universe: Any, select: str, source: str) -> Any:
    try:
        atoms = universe.select_atoms(select)
    except Exception as exc:
        raise DataError(f"{source}: bad atom selection {select!r}: {exc}") from exc
    if len(atoms) == 0:
        raise DataError(f"{source}: atom selection {select!r} matches no atoms (of {len(universe.atoms)})")
    return atoms


def _centre(positions: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    return positions - np.average(positions, axis=0, weights=weights)


def read_trajectory(
    topology: str | Path,
    trajectory: str | Path | list[str | Path] | None = None,
    select: str = "all",
    reference: str | Path | None = None,
    reference_frame: int = 0,
    start: int | None = None,
    stop: int | None = None,
    step: int | None = None,
    mass_weighted: bool = False,
    align: bool = True,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Frames ``(N, 3 n_atoms)`` float32 of the selected atoms, centred and superposed on the reference.

    ``align=False`` only centres. Labels: ``frame`` (index in the trajectory), ``time`` (ps) and, when
    aligning, ``rmsd`` (Angstrom, to the reference after superposition).
    """
    with _quiet_mdanalysis():
        return _read_trajectory(
            topology, trajectory, select, reference, reference_frame, start, stop, step, mass_weighted, align
        )


def _read_trajectory(
    topology: str | Path,
    trajectory: str | Path | list[str | Path] | None,
    select: str,
    reference: str | Path | None,
    reference_frame: int,
    start: int | None,
    stop: int | None,
    step: int | None,
    mass_weighted: bool,
    align: bool,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    mda, mda_align = _mdanalysis()
    source = str(trajectory if trajectory is not None else topology)
    universe = _universe(mda, topology, trajectory)
    atoms = _select(universe, select, source)
    weights = np.asarray(atoms.masses, dtype=np.float64) if mass_weighted else None
    if weights is not None and not np.all(weights > 0):
        raise DataError(f"{source}: mass_weighted needs positive masses for every selected atom")
    n_frames = len(universe.trajectory)
    if reference is not None:
        ref_universe = _universe(mda, reference, None)
        ref_atoms = _select(ref_universe, select, str(reference))
        if len(ref_atoms) != len(atoms):
            raise DataError(
                f"reference {reference}: selection {select!r} has {len(ref_atoms)} atoms, the trajectory {len(atoms)}"
            )
        ref_positions = np.asarray(ref_atoms.positions, dtype=np.float64)
    else:
        if not -n_frames <= reference_frame < n_frames:
            raise DataError(f"{source}: reference_frame {reference_frame} is outside the {n_frames} frames")
        universe.trajectory[reference_frame]
        ref_positions = np.asarray(atoms.positions, dtype=np.float64)
    ref = _centre(ref_positions, weights)

    frames = range(n_frames)[slice(start, stop, step)]
    if len(frames) == 0:
        raise DataError(f"{source}: frames [{start}:{stop}:{step}] select none of the {n_frames} frames")
    values = np.empty((len(frames), 3 * len(atoms)), dtype=np.float32)
    times = np.empty(len(frames))
    rmsd = np.full(len(frames), np.nan)
    for row, ts in enumerate(universe.trajectory[slice(start, stop, step)]):
        pos = _centre(np.asarray(atoms.positions, dtype=np.float64), weights)
        if not np.all(np.isfinite(pos)):
            raise DataError(f"{source}: frame {ts.frame} has non-finite coordinates")
        if align:
            rotation, _ = mda_align.rotation_matrix(pos, ref, weights=weights)
            pos = pos @ np.asarray(rotation).T
            rmsd[row] = np.sqrt(np.average(np.sum((pos - ref) ** 2, axis=1), weights=weights))
        values[row] = pos.reshape(-1)
        times[row] = ts.time
    labels = {
        "frame": np.asarray(list(frames), dtype=np.int64),
        "time": times.astype(np.float32),
        "rmsd": rmsd.astype(np.float32),
    }
    if not align:
        del labels["rmsd"]
    return values, labels


def molecular_trajectory(
    topology: str,
    trajectory: str | list[str] | None = None,
    select: str = "all",
    reference: str | None = None,
    reference_frame: int = 0,
    start: int | None = None,
    stop: int | None = None,
    step: int | None = None,
    mass_weighted: bool = False,
    align: bool = True,
    seed: int = 0,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """:func:`read_trajectory` for the data-kind registry (``seed`` is accepted there and unused: reading is
    deterministic)."""
    del seed
    return read_trajectory(
        topology, trajectory, select, reference, reference_frame, start, stop, step, mass_weighted, align
    )
