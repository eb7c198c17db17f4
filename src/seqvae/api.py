"""Library functions behind the CLI's run-directory commands: evaluate, sample, encode."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqvae.analysis.evaluation import evaluate_model
from seqvae.checkpoint import LoadedModel, load_run
from seqvae.config import EvalConfig
from seqvae.data.arrays import ArrayDataset, read_array_file, write_bytes_atomic, write_json_atomic
from seqvae.data.sources import load_data
from seqvae.errors import CheckpointError, DataError


def save_npz_atomic(path: Path, **arrays: np.ndarray) -> Path:
    """Write an .npz through a temporary file and rename."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes_atomic(path, buf.getvalue())
    return path


def read_model_input(loaded: LoadedModel, path: str | Path) -> torch.Tensor:
    """Read a data file, check its width against the model and map it to model units."""
    values = read_array_file(path)
    if values.shape[1] != loaded.model.features:
        raise DataError(f"{path}: has {values.shape[1]} features per example, the model expects {loaded.model.features}")
    if loaded.normalizer is not None:
        values = loaded.normalizer.transform(values)
    return torch.as_tensor(values, dtype=torch.float32)


def normalizer_log_jacobian(loaded: LoadedModel) -> float:
    """log |d x_model / d x_data| per example: converts model-unit densities to data units."""
    if loaded.normalizer is None:
        return 0.0
    return float(-np.log(loaded.normalizer.std).sum())


def evaluate_run(
    run_dir: str | Path,
    data: str | Path | None = None,
    iwae_samples: int | None = None,
    ll_samples: int | None = None,
    seed: int = 0,
    output: str | Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate a trained run on its test split (or ``data``) and write ``metrics.json``.

    Densities are reported in nats per example in data units (the normaliser's Jacobian is added).
    """
    loaded = load_run(run_dir)
    run = loaded.run
    if run is None and data is None:
        raise CheckpointError(f"{run_dir}: config.json holds no run config; pass --data to evaluate on a file")
    defaults = run.eval if run is not None else EvalConfig()
    cfg = EvalConfig(
        iwae_samples=iwae_samples or defaults.iwae_samples,
        ll_samples=ll_samples or defaults.ll_samples,
        batch_size=defaults.batch_size,
    )
    if data is not None:
        dataset = ArrayDataset(read_model_input(loaded, data))
        source = {"data": Path(data).name}
    else:
        assert run is not None
        bundle = load_data(run.data, run.seed)
        split = "test" if len(bundle.test) else "val"
        dataset = getattr(bundle, split)
        if len(dataset) == 0:
            raise DataError(f"{run_dir}: the run has no test or validation split; pass --data")
        source = {"split": split}
    metrics = evaluate_model(loaded.model, dataset, cfg, seed, progress=progress)
    jac = normalizer_log_jacobian(loaded)
    for key in ("elbo", "iwae", "log_likelihood", "recon_log_prob"):
        metrics[key] += jac
    metrics.update(source)
    metrics["seed"] = seed
    out = Path(output) if output is not None else loaded.path / "metrics.json"
    write_json_atomic(out, metrics)
    return metrics


def sample_run(
    run_dir: str | Path, n: int, output: str | Path | None = None, mean: bool = True, seed: int = 0
) -> Path:
    """Draw ``n`` samples from the prior; write ``x`` (data units) and ``z`` to an .npz."""
    loaded = load_run(run_dir)
    model = loaded.model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with torch.no_grad():
            z = model.prior(n=n).sample()
            px = model.decode(z)
            x = model.point(px) if mean else px.sample()
    x_np = x.cpu().numpy()
    if loaded.normalizer is not None:
        x_np = loaded.normalizer.inverse(x_np)
    out = Path(output) if output is not None else loaded.path / "samples.npz"
    return save_npz_atomic(out, x=x_np.astype(np.float32), z=z.cpu().numpy())


def encode_file(
    run_dir: str | Path, data: str | Path, output: str | Path | None = None, seed: int = 0, chunk: int = 4096
) -> tuple[Path, int]:
    """Encode every row of ``data``; write posterior ``mean`` and ``std`` ``(N, latent_dim)`` to an .npz."""
    loaded = load_run(run_dir)
    values = read_model_input(loaded, data)
    means, stds = [], []
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for start in range(0, len(values), chunk):
            batch = ArrayDataset(values[start : start + chunk]).batch()
            q = loaded.model.encode(batch)
            means.append(q.mean)
            stds.append(q.stddev)
    out = Path(output) if output is not None else loaded.path / f"{Path(data).stem}.latents.npz"
    save_npz_atomic(out, mean=torch.cat(means).numpy(), std=torch.cat(stds).numpy())
    return out, len(values)
