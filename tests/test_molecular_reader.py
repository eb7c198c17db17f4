"""The MDAnalysis trajectory reader on tiny trajectories the tests write (PDB topology + DCD frames)."""

from __future__ import annotations

import numpy as np
import pytest

mda = pytest.importorskip("MDAnalysis")

from trajectory_files import write_trajectory  # noqa: E402

from seqvae.data.molecular import read_trajectory  # noqa: E402
from seqvae.data.sources import load_data  # noqa: E402
from seqvae.errors import DataError  # noqa: E402
from seqvae.runconfig import load_run_config

NAMES = ["N", "CA", "C", "N", "CA", "C", "N", "CA", "C", "O"]


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _write(tmp_path, frames: np.ndarray) -> tuple[str, str]:
    """``frames`` (F, n_atoms, 3) as ``top.pdb`` (first frame) and ``traj.dcd``."""
    return write_trajectory(tmp_path, frames, NAMES)


@pytest.fixture
def moving(tmp_path):
    """One structure under 6 random rigid motions, and a second, deformed structure under 2 more."""
    rng = np.random.default_rng(0)
    base = rng.normal(scale=3.0, size=(len(NAMES), 3))
    other = base + rng.normal(scale=0.5, size=base.shape)
    frames = [base @ _rotation(rng).T + rng.normal(scale=5.0, size=3) for _ in range(6)]
    frames += [other @ _rotation(rng).T + rng.normal(scale=5.0, size=3) for _ in range(2)]
    frames = np.asarray(frames)
    return _write(tmp_path, frames), base, other


def test_rigid_motions_map_to_one_aligned_vector(moving):
    (top, traj), base, other = moving
    values, labels = read_trajectory(top, traj)
    assert values.shape == (8, 3 * len(NAMES)) and values.dtype == np.float32
    # the first six frames are one structure: identical after superposition (DCD stores float32)
    np.testing.assert_allclose(values[1:6], np.repeat(values[:1], 5, axis=0), atol=2e-4)
    np.testing.assert_allclose(labels["rmsd"][:6], 0.0, atol=2e-4)
    np.testing.assert_array_equal(labels["frame"], np.arange(8))
    # the deformed structure: its RMSD after the fit equals the optimal (Kabsch) RMSD computed here
    a = other - other.mean(0)
    b = base - base.mean(0)
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt))
    r = u @ np.diag([1, 1, d]) @ vt
    best = np.sqrt(np.mean(np.sum((a @ r - b) ** 2, axis=1)))
    np.testing.assert_allclose(labels["rmsd"][6:], best, rtol=1e-4)
    # superposed frames are centred and their distances are those of the structure
    x = values.reshape(8, -1, 3)
    np.testing.assert_allclose(x.mean(axis=1), 0.0, atol=1e-4)
    dist = np.linalg.norm(x[7][:, None] - x[7][None], axis=-1)
    np.testing.assert_allclose(dist, np.linalg.norm(other[:, None] - other[None], axis=-1), atol=1e-3)


def test_selection_stride_and_reference(moving, tmp_path):
    (top, traj), base, _ = moving
    values, labels = read_trajectory(top, traj, select="name CA", start=1, step=2)
    assert values.shape == (4, 9)
    np.testing.assert_array_equal(labels["frame"], [1, 3, 5, 7])
    # aligning to a separate reference file gives the reference's own orientation
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    ref_top, _ = _write(ref_dir, base[None] + 10.0)
    aligned, _ = read_trajectory(top, traj, select="name CA", reference=ref_top)
    ca = base[[i for i, n in enumerate(NAMES) if n == "CA"]]
    np.testing.assert_allclose(aligned[0].reshape(-1, 3), ca - ca.mean(0), atol=2e-3)
    # without alignment frames are only centred, so rigid copies differ
    centred, lab = read_trajectory(top, traj, align=False)
    assert "rmsd" not in lab
    assert np.abs(centred[1] - centred[0]).max() > 0.1
    np.testing.assert_allclose(centred.reshape(8, -1, 3).mean(1), 0.0, atol=1e-4)


def test_data_kind_molecular_feeds_the_vector_pipeline(moving):
    (top, traj), _, _ = moving
    cfg = load_run_config(
        "polymer",
        ["data.kind=molecular", f"data.params={{topology: {top}, trajectory: {traj}, select: name CA}}",
         "data.val_fraction=0.25", "data.test_fraction=0.25"],
    )
    bundle = load_data(cfg.data, cfg.seed)
    assert bundle.features == 9
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 8
    assert set(bundle.labels) == {"frame", "time", "rmsd"}


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # MDAnalysis cleaning up a bad file
def test_bad_inputs_are_data_errors(moving, tmp_path):
    (top, traj), _, _ = moving
    with pytest.raises(DataError, match="no such file"):
        read_trajectory(top, tmp_path / "missing.dcd")
    with pytest.raises(DataError, match="matches no atoms"):
        read_trajectory(top, traj, select="name ZZ")
    with pytest.raises(DataError, match="bad atom selection"):
        read_trajectory(top, traj, select="name CA and and")
    with pytest.raises(DataError, match="outside the 8 frames"):
        read_trajectory(top, traj, reference_frame=8)
    with pytest.raises(DataError, match="select none"):
        read_trajectory(top, traj, start=9)
    junk = tmp_path / "junk.dcd"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(DataError, match="cannot open"):
        read_trajectory(top, junk)
    ref_dir = tmp_path / "r"
    ref_dir.mkdir()
    small_top, _ = _write(ref_dir, np.zeros((1, 4, 3)))
    with pytest.raises(DataError, match="has 1 atoms, the trajectory 3"):
        read_trajectory(top, traj, select="name CA", reference=small_top)


def test_reading_a_trajectory_prints_no_mdanalysis_warnings(moving):
    """Parser remarks and MDAnalysis' deprecation notices are not shown to users (a fresh interpreter, so
    that the import's own warnings count too); the data still come through."""
    import subprocess
    import sys

    (top, traj), _, _ = moving
    code = (
        "import warnings; warnings.simplefilter('always')\n"
        "from seqvae.data.molecular import read_trajectory\n"
        f"values, labels = read_trajectory({top!r}, {traj!r}, select='name CA')\n"
        "print(values.shape)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(8, 9)"
    assert "Warning" not in done.stderr, done.stderr
