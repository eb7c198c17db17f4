"""The README's main job, measured: `seqvae experiment basketball` with its defaults, per seed.

Runs the command as a user would (a fresh process each time), times it, and collects the headline
numbers from its metrics.json: k-NN / linear probe R² of the shot's start x and y from the 2-D latent
means, made/missed AUC, reconstruction RMSE in metres against PCA-2 (real-time and resampled), and
the test ELBO.

    python benchmarks/basketball_quality.py --seeds 0 1 2   # writes benchmarks/results/basketball_quality.json
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import experiment_seeds  # noqa: E402

COLUMNS = (
    "seed", "wall_seconds", "make_rate", "start_x_r2_knn", "start_y_r2_knn", "start_x_r2_linear",
    "start_y_r2_linear", "made_auc_knn", "made_auc_logistic", "recon_rmse_m", "pca2_rmse_m",
    "pca2_resampled_rmse_m", "test_elbo",
)


def row(metrics: dict) -> dict:
    probes = metrics["validation"]["probes"]
    out = dict(metrics["summary"])
    for axis in ("x", "y"):
        out[f"start_{axis}_r2_linear"] = probes[f"start_{axis}"]["r2_linear"]
    out["made_auc_logistic"] = probes["made"]["auc_logistic"]
    for align in ("pad", "resample"):
        out[f"pca2_{align}_made_auc_knn"] = metrics["pca"][align]["probes"]["made"]["auc_knn"]
    out["claims"] = metrics["claims"]
    return out


if __name__ == "__main__":
    experiment_seeds.main("basketball", COLUMNS, row, __doc__.splitlines()[0])
