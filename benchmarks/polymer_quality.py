"""Source 004's polymer VAE, measured: `seqvae experiment polymer` with its defaults, per seed.

Runs the command as a user would (a fresh process each time), times it, and collects from its
metrics.json the acceptance numbers of issue 8: the mean 1-D Wasserstein distance over the bond-length
and radius-of-gyration distributions of generated structures (VAE decoder means of prior draws, and a
multivariate Gaussian fitted to the same aligned coordinates) to the MD training frames, the fraction of
structures with a bond stretched beyond 1.5 x its rest length, and the radius of gyration and potential
energy reached by latent optimisation against the training ranges (reduced LJ units).

    python benchmarks/polymer_quality.py --seeds 0 1 2   # writes benchmarks/results/polymer_quality.json
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import experiment_seeds  # noqa: E402

COLUMNS = (
    "seed", "wall_seconds", "vae_mean_w1_bond_rg", "gaussian_mean_w1_bond_rg", "vae_stretched_fraction",
    "gaussian_stretched_fraction", "training_rg_min", "optimised_rg_min", "optimised_rg_min_energy",
    "training_energy_min", "training_energy_max", "optimised_rg_max", "training_rg_max", "active_units", "test_elbo",
)


def row(metrics: dict) -> dict:
    return {
        **metrics["summary"],
        "active_units": metrics["train"]["active_units"],
        "generated": metrics["generated"],  # W1 per property, stretched fractions, energies of each source
        "claims": metrics["claims"],
    }


if __name__ == "__main__":
    experiment_seeds.main("polymer", COLUMNS, row, __doc__.splitlines()[0], float_format=".4g")
