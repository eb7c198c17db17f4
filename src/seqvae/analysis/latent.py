"""What a latent space holds: cross-validated probes of known labels, reconstruction error, and a PCA
baseline with the same number of dimensions on the same data.

Every score here is out-of-fold: each example is predicted by a probe fitted on the other folds, so a
flexible probe cannot inflate it by memorising.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from seqvae.data.arrays import ArrayDataset
from seqvae.data.prepare import Normalizer
from seqvae.data.sequences import SequenceBatch, SequenceDataset, resample_linear
from seqvae.models.base import VAE

KNN_NEIGHBOURS = 10

__all__ = [
    "latent_means",
    "pca_sequence_baseline",
    "probe_auc",
    "probe_labels",
    "probe_r2",
    "reconstruction_errors",
    "reconstruction_rmse",
    "sequence_reconstructions",
    "uniform_ball",
    "sequence_reconstruction_rmse",
]


def _neighbours(n: int, folds: int) -> int:
    return max(1, min(KNN_NEIGHBOURS, n - n // folds - 1))


def probe_r2(
    latents: np.ndarray, target: np.ndarray, kind: Literal["linear", "knn"] = "linear", folds: int = 5, seed: int = 0
) -> float:
    """Out-of-fold R² of predicting ``target`` from ``latents`` with a linear or k-nearest-neighbour regressor
    (k = 10 on standardised latents)."""
    x = np.asarray(latents, dtype=np.float64).reshape(len(latents), -1)
    y = np.asarray(target, dtype=np.float64)
    if len(x) < 2 * folds:
        raise ValueError(f"need at least {2 * folds} examples for a {folds}-fold probe, got {len(x)}")
    if kind == "linear":
        reg = LinearRegression()
    elif kind == "knn":
        reg = make_pipeline(StandardScaler(), KNeighborsRegressor(n_neighbors=_neighbours(len(x), folds)))
    else:
        raise ValueError(f"unknown probe kind {kind!r}")
    pred = cross_val_predict(reg, x, y, cv=KFold(folds, shuffle=True, random_state=seed))
    return float(r2_score(y, pred))


def probe_auc(
    latents: np.ndarray, target: np.ndarray, kind: Literal["logistic", "knn"] = "logistic", folds: int = 5, seed: int = 0
) -> float:
    """Out-of-fold ROC AUC of predicting a binary ``target`` from ``latents`` (0.5 = chance).

    ``logistic`` is a linear classifier on standardised latents, ``knn`` votes among k = 10 neighbours.
    """
    x = np.asarray(latents, dtype=np.float64).reshape(len(latents), -1)
    y = np.asarray(target)
    classes = np.unique(y)
    if len(classes) != 2:
        raise ValueError(f"an AUC probe needs a binary target, got {len(classes)} distinct values")
    y = (y == classes[1]).astype(np.int64)
    if min(y.sum(), len(y) - y.sum()) < folds:
        raise ValueError(f"need at least {folds} examples of each class for a {folds}-fold probe")
    if kind == "logistic":
        clf = make_pipeline(StandardScaler(), LogisticRegression())
    elif kind == "knn":
        clf = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=_neighbours(len(x), folds)))
    else:
        raise ValueError(f"unknown probe kind {kind!r}")
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    proba = cross_val_predict(clf, x, y, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, proba))


def is_binary(values: np.ndarray) -> bool:
    return len(np.unique(np.asarray(values))) == 2


def probe_labels(
    latents: np.ndarray, labels: Mapping[str, np.ndarray], folds: int = 5, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Probe every label: binary labels get ``auc_logistic`` and ``auc_knn``, others ``r2_linear`` and
    ``r2_knn``. Constant labels are left out."""
    out: dict[str, dict[str, float]] = {}
    for name, values in labels.items():
        values = np.asarray(values)
        if values.ndim != 1 or len(np.unique(values)) < 2:
            continue
        if is_binary(values):
            out[name] = {f"auc_{k}": probe_auc(latents, values, k, folds, seed) for k in ("logistic", "knn")}
        else:
            out[name] = {f"r2_{k}": probe_r2(latents, values, k, folds, seed) for k in ("linear", "knn")}
    return out


def uniform_ball(
    centres: torch.Tensor, n: int, radius: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points drawn uniformly from the ball of ``radius`` around each row of ``centres`` ``(B, D)``
    (or one centre ``(D,)``): latent neighbours of an example (source 001's augmentation). Returns
    ``(z, distance)`` of shapes ``(B, n, D)`` and ``(B, n)`` (without the B axis for one centre)."""
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    single = centres.dim() == 1
    c = centres[None] if single else centres
    b, d = c.shape
    direction = torch.randn(b, n, d, generator=generator, dtype=c.dtype)
    direction = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    dist = radius * torch.rand(b, n, generator=generator, dtype=c.dtype) ** (1.0 / d)
    z = c[:, None, :] + dist[..., None] * direction.to(c.device)
    return (z[0], dist[0]) if single else (z, dist)


def _batches(dataset: SequenceDataset | ArrayDataset, batch_size: int) -> Iterator[Any]:
    for start in range(0, len(dataset), batch_size):
        yield dataset.__getitems__(list(range(start, min(start + batch_size, len(dataset)))))


@torch.no_grad()
def latent_means(model: VAE, dataset: SequenceDataset | ArrayDataset, batch_size: int = 256) -> np.ndarray:
    """Posterior means ``(N, latent_dim)`` of every example of ``dataset``, in order."""
    model.eval()
    return np.concatenate([model.encode(b).mean.cpu().numpy() for b in _batches(dataset, batch_size)])


def reconstruction_rmse(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """RMSE over all steps and features of (reconstruction, original) pairs, and relative to the data's
    spread (per-feature std averaged in quadrature)."""
    recon = np.concatenate([r.reshape(-1, r.shape[-1]) for r, _ in pairs]).astype(np.float64)
    real = np.concatenate([x.reshape(-1, x.shape[-1]) for _, x in pairs]).astype(np.float64)
    rmse = float(np.sqrt(np.mean((recon - real) ** 2)))
    spread = float(np.sqrt(real.var(0).mean()))
    return {"rmse": rmse, "data_std": spread, "relative_rmse": rmse / spread if spread > 0 else float("nan")}


def _real_steps(batch: SequenceBatch, arr: np.ndarray) -> list[np.ndarray]:
    lengths = getattr(batch, "lengths", None)
    if lengths is None:  # vectors (N, F) are one step each; videos (N, T, ...) have T steps each
        return [a[None] if arr.ndim == 2 else a for a in arr]
    lengths = lengths.cpu().numpy()
    return [arr[i, : lengths[i]] for i in range(len(lengths))]


@torch.no_grad()
def sequence_reconstructions(
    model: VAE, dataset: SequenceDataset | ArrayDataset, normalizer: Normalizer | None = None, batch_size: int = 256
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(reconstruction, original) per sequence over its real steps: the decoded posterior mean, in data
    units when a ``normalizer`` is given.

    Vector data give one step per example, ``(1, F)``; videos ``(T, ...)`` per video.
    """
    model.eval()
    pairs = []
    for batch in _batches(dataset, batch_size):
        recon = model.reconstruct(batch).cpu().numpy()
        x = batch.values.cpu().numpy()
        if recon.shape != x.shape:
            raise ValueError(f"{model.kind} reconstructions have shape {recon.shape}, the inputs {x.shape}")
        if normalizer is not None:
            recon, x = normalizer.inverse(recon), normalizer.inverse(x)
        pairs.extend(zip(_real_steps(batch, recon), _real_steps(batch, x)))
    return pairs


def sequence_reconstruction_rmse(
    model: VAE, dataset: SequenceDataset, normalizer: Normalizer | None = None, batch_size: int = 256
) -> dict[str, float]:
    """RMSE of the decoded posterior means over real steps, in data units, and relative to the data's std.

    ``relative_rmse`` divides by the per-feature standard deviation of the same real steps (averaged
    in quadrature over features), so 0.1 means errors a tenth of the data's spread.
    """
    return reconstruction_rmse(sequence_reconstructions(model, dataset, normalizer, batch_size))


def reconstruction_errors(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], feature_axis: int = -1
) -> dict[str, Any]:
    """Root-mean-square errors of (reconstruction, original) pairs, each ``(T_i, ...)`` over real steps only.

    ``rmse`` = sqrt(mean over every real step of every sequence and every feature of (recon - x)²): each
    value counts once, so a long sequence weighs more than a short one. ``per_sequence`` (N,) is the same
    over one sequence's values, ``per_feature`` over all steps of one feature (``feature_axis`` of each
    pair: the last for ``(T, F)`` sequences; for videos e.g. the colour channel). ``data_std`` and
    ``relative_rmse`` as in :func:`reconstruction_rmse`. Float64 throughout.
    """
    if not pairs:
        raise ValueError("no sequences to measure")
    moved = [(np.moveaxis(np.asarray(r, np.float64), feature_axis, -1), np.moveaxis(np.asarray(x, np.float64), feature_axis, -1))
             for r, x in pairs]
    sq = np.concatenate([((r - x) ** 2).reshape(-1, r.shape[-1]) for r, x in moved])
    per_sequence = np.array([np.sqrt(np.mean((r - x) ** 2)) for r, x in moved])
    out: dict[str, Any] = dict(reconstruction_rmse(moved))
    out.update(
        {
            "per_feature": np.sqrt(sq.mean(axis=0)),
            "per_sequence": per_sequence,
            "n_sequences": len(moved),
            "n_steps": int(sum(len(x) for _, x in moved)),
        }
    )
    return out


def _align(seqs: list[np.ndarray], align: str, length: int) -> np.ndarray:
    """``(N, length * F)`` vectors: each sequence held at its last step to ``length``, or resampled to it."""
    if align == "resample":
        rows = [resample_linear(s, length) for s in seqs]
    else:
        rows = [np.concatenate([s[:length], np.repeat(s[-1:], max(0, length - len(s)), axis=0)]) for s in seqs]
    return np.stack([r.reshape(-1) for r in rows]).astype(np.float64)


def _unalign(vectors: np.ndarray, lengths: Sequence[int], align: str, length: int, features: int) -> list[np.ndarray]:
    out = []
    for vec, n in zip(vectors, lengths):
        seq = vec.reshape(length, features)
        if align == "resample":
            out.append(resample_linear(seq, n))
        else:
            out.append(np.concatenate([seq[:n], np.repeat(seq[-1:], max(0, n - length), axis=0)]))
    return out


def pca_sequence_baseline(
    train: SequenceDataset,
    evaluate: SequenceDataset,
    components: int,
    normalizer: Normalizer | None = None,
    align: Literal["pad", "resample"] = "pad",
) -> dict[str, object]:
    """PCA with ``components`` dimensions on the same (normalised) sequences a model sees, as a baseline.

    Each sequence becomes one vector: with ``align='pad'`` its steps in time, held at the last step up to
    the longest training length (the same frames the model reads); with ``align='resample'`` linearly
    resampled to that many steps (time stretched so starts and ends line up, which the model does not
    get). PCA is fitted on ``train``; ``evaluate`` is projected (``scores``, usable with
    :func:`probe_labels`) and reconstructed to each sequence's own length. The reconstruction error is
    measured like :func:`sequence_reconstruction_rmse`, in data units when a ``normalizer`` is given.
    """
    if align not in ("pad", "resample"):
        raise ValueError(f"align must be 'pad' or 'resample', got {align!r}")
    train_seqs, eval_seqs = train.sequences(), evaluate.sequences()
    features = train_seqs[0].shape[1]
    length = max(len(s) for s in train_seqs)
    pca = PCA(n_components=components).fit(_align(train_seqs, align, length))
    scores = pca.transform(_align(eval_seqs, align, length))
    recon = _unalign(pca.inverse_transform(scores), [len(s) for s in eval_seqs], align, length, features)
    if normalizer is not None:
        recon = [normalizer.inverse(r) for r in recon]
        eval_seqs = [normalizer.inverse(s) for s in eval_seqs]
    result: dict[str, object] = dict(reconstruction_rmse(list(zip(recon, eval_seqs))))
    result.update(
        {
            "components": components,
            "align": align,
            "explained_variance": float(pca.explained_variance_ratio_.sum()),
            "scores": scores,
            "reconstructions": recon,
        }
    )
    return result


def optimise_latent(
    objective: Callable[[torch.Tensor], torch.Tensor],
    z0: torch.Tensor,
    steps: int = 300,
    lr: float = 0.05,
) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Minimise ``objective(z)`` (one value per row of ``z``) by Adam on the latent points ``z0`` ``(B, D)``.

    The rows are optimised independently (the objectives are summed, so each row's gradient is its own).
    Returns the final points, the objective history ``(steps + 1, B)`` and the path of the points
    ``(steps + 1, B, D)``; the model behind ``objective`` is not changed (its parameters get no gradient).
    """
    if steps < 0 or lr <= 0:
        raise ValueError(f"steps must be >= 0 and lr > 0, got steps={steps}, lr={lr}")
    z = z0.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    history, path = [], []
    for _ in range(steps):
        value = objective(z)
        history.append(value.detach().cpu().numpy())
        path.append(z.detach().cpu().numpy().copy())
        opt.zero_grad()
        grads = torch.autograd.grad(value.sum(), z)
        z.grad = grads[0]
        opt.step()
    with torch.no_grad():
        history.append(objective(z).cpu().numpy())
    path.append(z.detach().cpu().numpy().copy())
    return z.detach(), np.stack(history), np.stack(path)
