"""Tiny molecular-dynamics files for the tests, written with MDAnalysis (PDB topology + DCD frames)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np


def write_trajectory(folder: Path, frames: np.ndarray, names: list[str]) -> tuple[str, str]:
    """``frames`` ``(F, n_atoms, 3)`` as ``folder/top.pdb`` (the first frame) and ``folder/traj.dcd``; atom types
    are the names' first letters, all atoms in one ALA residue."""
    import MDAnalysis as mda

    n = frames.shape[1]
    u = mda.Universe.empty(n, n_residues=1, atom_resindex=np.zeros(n, dtype=int), trajectory=True)
    u.add_TopologyAttr("name", names[:n])
    u.add_TopologyAttr("type", [name[0] for name in names[:n]])
    u.add_TopologyAttr("resname", ["ALA"])
    u.add_TopologyAttr("resid", [1])
    top, traj = folder / "top.pdb", folder / "traj.dcd"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u.atoms.positions = frames[0]
        u.atoms.write(str(top))
        with mda.Writer(str(traj), n) as writer:
            for f in frames:
                u.atoms.positions = f
                writer.write(u.atoms)
    return str(top), str(traj)
