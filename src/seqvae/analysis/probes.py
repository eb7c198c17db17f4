"""How much of a known generating factor the latent space holds: cross-validated probes and errors."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from seqvae.data.arrays import Normalizer
from seqvae.data.sequences import SequenceDataset
from seqvae.models.base import VAE


def probe_r2(
    latents: np.ndarray, target: np.ndarray, kind: Literal["linear", "knn"] = "linear", folds: int = 5, seed: int = 0
) -> float:
    """Out-of-fold R² of predicting ``target`` from ``latents`` with a linear or k-nearest-neighbour regressor.

    Each example is predicted by a probe fitted on the other folds, so the score is not inflated by
    fitting; k-NN uses k = 10 on standardised latents.
    """
    x = np.asarray(latents, dtype=np.float64).reshape(len(latents), -1)
    y = np.asarray(target, dtype=np.float64)
    if len(x) < 2 * folds:
        raise ValueError(f"need at least {2 * folds} examples for a {folds}-fold probe, got {len(x)}")
    if kind == "linear":
        reg = LinearRegression()
    elif kind == "knn":
        reg = make_pipeline(StandardScaler(), KNeighborsRegressor(n_neighbors=min(10, len(x) // folds)))
    else:
        raise ValueError(f"unknown probe kind {kind!r}")
    pred = cross_val_predict(reg, x, y, cv=KFold(folds, shuffle=True, random_state=seed))
    return float(r2_score(y, pred))


@torch.no_grad()
def sequence_reconstruction_rmse(
    model: VAE, dataset: SequenceDataset, normalizer: Normalizer | None = None, batch_size: int = 256
) -> dict[str, float]:
    """RMSE of the decoded posterior means over real steps, in data units, and relative to the data's std.

    ``relative_rmse`` divides by the per-feature standard deviation of the same real steps (averaged
    in quadrature over features), so 0.1 means errors a tenth of the data's spread.
    """
    model.eval()
    sq_err = np.zeros(dataset.features)
    values = []
    count = 0
    for start in range(0, len(dataset), batch_size):
        batch = dataset.__getitems__(list(range(start, min(start + batch_size, len(dataset)))))
        recon = model.reconstruct(batch).cpu().numpy()
        x = batch.values.cpu().numpy()
        if normalizer is not None:
            recon, x = normalizer.inverse(recon), normalizer.inverse(x)
        mask = batch.mask.cpu().numpy()
        sq_err += ((recon - x) ** 2)[mask].sum(0)
        values.append(x[mask])
        count += int(mask.sum())
    real = np.concatenate(values)
    rmse = np.sqrt(sq_err.sum() / (count * dataset.features))
    spread = np.sqrt(real.var(0).mean())
    return {"rmse": float(rmse), "data_std": float(spread), "relative_rmse": float(rmse / spread)}
