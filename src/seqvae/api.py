"""Library functions behind the CLI's run-directory commands: evaluate, sample, encode, interpolate."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from seqvae.analysis.evaluation import evaluate_in_data_units
from seqvae.analysis.latent import uniform_ball
from seqvae.checkpoint import LoadedModel, load_run
from seqvae.config import EvalConfig, SequenceDataConfig
from seqvae.data.arrays import ArrayDataset, read_array_file, save_npz_atomic, write_json_atomic
from seqvae.data.readers import SequenceTable, iter_parquet_sequences, read_sequences
from seqvae.data.sequences import SequenceDataset, length_mask
from seqvae.data.sources import load_data, load_sequences, prepare_sequences
from seqvae.data.streaming import NpzStreamWriter
from seqvae.errors import CheckpointError, DataError
from seqvae.plots import plot_sequence_strip, save_figure


def read_model_input(loaded: LoadedModel, path: str | Path, seed: int = 0) -> ArrayDataset | SequenceDataset:
    """Read a data file, check its width against the model and map it to model units.

    Sequence models get the run's own preparation (``to_absolute``, resampling) before normalising.
    """
    model = loaded.model
    if model.sequence_input:
        return _sequence_input(loaded, read_sequences(path, **_sequence_read_options(loaded)), path, seed)
    values = read_array_file(path)
    if values.shape[1] != model.features:
        raise DataError(f"{path}: has {values.shape[1]} features per example, the model expects {model.features}")
    if loaded.normalizer is not None:
        values = loaded.normalizer.transform(values)
    return ArrayDataset(torch.as_tensor(values, dtype=torch.float32))


def _sequence_read_options(loaded: LoadedModel) -> dict[str, Any]:
    seq_cfg = loaded.run.data.sequence if loaded.run is not None else SequenceDataConfig(min_length=1)
    return {
        "features": seq_cfg.features,
        "labels": seq_cfg.labels,
        "expected_features": None if seq_cfg.to_absolute or seq_cfg.features else loaded.model.features,
        "min_length": 1,
        "id_column": seq_cfg.id_column,
        "time_column": seq_cfg.time_column,
    }


def _sequence_input(loaded: LoadedModel, table: SequenceTable, path: str | Path, seed: int) -> SequenceDataset:
    """Sequences as read, prepared as the run prepared its data and mapped to model units."""
    model = loaded.model
    if table.features != model.features:
        raise DataError(f"{path}: has {table.features} features per step, the model expects {model.features}")
    seq_cfg = loaded.run.data.sequence if loaded.run is not None else SequenceDataConfig(min_length=1)
    table = prepare_sequences(table, seq_cfg, seed)
    seqs = [loaded.normalizer.transform(x) for x in table.sequences] if loaded.normalizer else table.sequences
    return SequenceDataset(seqs, table.labels, table.ids)


def model_input_blocks(
    loaded: LoadedModel, path: str | Path, seed: int = 0, batch_rows: int = 65536
) -> Iterator[ArrayDataset | SequenceDataset]:
    """``path`` in model units, a block at a time: a long-format Parquet file of sequences is streamed
    (:func:`~seqvae.data.readers.iter_parquet_sequences`, ``batch_rows`` rows per block); any other file
    is one block."""
    if loaded.model.sequence_input and Path(path).suffix.lower() == ".parquet":
        for table in iter_parquet_sequences(path, batch_rows=batch_rows, **_sequence_read_options(loaded)):
            yield _sequence_input(loaded, table, path, seed)
    else:
        yield read_model_input(loaded, path, seed)


def to_data_units(loaded: LoadedModel, values: np.ndarray) -> np.ndarray:
    """Model outputs back in the units of the data (the normaliser inverted)."""
    return loaded.normalizer.inverse(values) if loaded.normalizer is not None else values


def _sequence_arrays(loaded: LoadedModel, values: torch.Tensor, lengths: torch.Tensor | None) -> dict[str, np.ndarray]:
    """``x`` in data units; for sequences NaN after each end, plus ``lengths``."""
    x = to_data_units(loaded, values.cpu().numpy()).astype(np.float32)
    if lengths is None:
        return {"x": x}
    mask = length_mask(lengths.cpu(), x.shape[1]).numpy()
    x[~mask] = np.nan
    return {"x": x, "lengths": lengths.cpu().numpy()}


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
        dataset = read_model_input(loaded, data, seed)
        source = {"data": Path(data).name}
    else:
        assert run is not None
        bundle = load_data(run.data, run.seed, sequences=loaded.model.sequence_input)
        split = "test" if len(bundle.test) else "val"
        dataset = getattr(bundle, split)
        if len(dataset) == 0:
            raise DataError(f"{run_dir}: the run has no test or validation split; pass --data")
        source = {"split": split}
    metrics = evaluate_in_data_units(loaded.model, dataset, cfg, loaded.normalizer, seed, progress)
    metrics.update(source)
    metrics["seed"] = seed
    out = Path(output) if output is not None else loaded.path / "metrics.json"
    write_json_atomic(out, metrics)
    return metrics


def sample_run(
    run_dir: str | Path,
    n: int,
    output: str | Path | None = None,
    mean: bool = True,
    seed: int = 0,
    length: int | None = None,
) -> Path:
    """Draw ``n`` samples from the prior; write ``x`` (data units), ``z`` and, for sequences, ``lengths``.

    Sequences end where the model's stop head says (or after ``length`` steps, if given); ``x`` is
    NaN after each end.
    """
    loaded = load_run(run_dir)
    model = loaded.model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with torch.no_grad():
            z = model.prior(n=n).sample()
            if model.sequence_input:
                if not mean:
                    raise DataError("--draw is only for vector models; sequence models feed back and return decoder means")
                values, lengths = model.generate(z, length)
            else:
                px = model.decode(z)
                values, lengths = (model.point(px) if mean else px.sample()), None
    out = Path(output) if output is not None else loaded.path / "samples.npz"
    return save_npz_atomic(out, z=z.cpu().numpy(), **_sequence_arrays(loaded, values, lengths))


# examples per forward pass when encoding: a recurrent encoder's packed input projection for 4,096 sequences
# is hundreds of MB, and the allocator's reuse of such blocks lets peak RSS creep up with the number of
# blocks (300k sequences of 8-24 steps: peak 823 MB at 4,096, 599 MB at 256, which is also 25 % faster)
ENCODE_CHUNK = 256


def encode_file(
    run_dir: str | Path,
    data: str | Path | Sequence[str | Path],
    output: str | Path | None = None,
    seed: int = 0,
    chunk: int = ENCODE_CHUNK,
    progress: bool = False,
    batch_rows: int = 65536,
) -> tuple[Path, int]:
    """Encode every example of ``data`` (a file, or shard files encoded in order); write the posterior
    ``mean`` and ``std`` ``(N, latent_dim)`` (and, for sequences, their ``ids``) to an .npz.

    Latents are written block by block (:class:`~seqvae.data.streaming.NpzStreamWriter`), so memory is
    bounded by one shard, or by ``batch_rows`` rows of a long-format Parquet file, whatever the total.
    """
    loaded = load_run(run_dir)
    paths = [Path(p) for p in ([data] if isinstance(data, (str, Path)) else data)]
    if not paths:
        raise DataError("no data files to encode")
    out = Path(output) if output is not None else loaded.path / f"{paths[0].stem}.latents.npz"
    columns = [SpinnerColumn(), TextColumn("encoding {task.description}"), TextColumn("{task.completed:,} examples"),
               TimeElapsedColumn()]
    with NpzStreamWriter(out) as writer, Progress(*columns, disable=not progress, transient=True) as bar:
        for path in paths:
            task = bar.add_task(path.name, total=None)
            for dataset in model_input_blocks(loaded, path, seed, batch_rows):
                mean, std = encode_dataset(loaded, dataset, seed, chunk)
                ids = list(dataset.ids) if isinstance(dataset, SequenceDataset) else None
                writer.append(ids=ids, mean=mean.numpy(), std=std.numpy())
                bar.advance(task, len(dataset))
    return out, writer.rows


def encode_dataset(
    loaded: LoadedModel, dataset: ArrayDataset | SequenceDataset, seed: int = 0, chunk: int = ENCODE_CHUNK
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and standard deviations ``(N, latent_dim)`` of every example of ``dataset``."""
    means, stds = [], []
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for start in range(0, len(dataset), chunk):
            q = loaded.model.encode(dataset.__getitems__(list(range(start, min(start + chunk, len(dataset))))))
            means.append(q.mean)
            stds.append(q.stddev)
    return torch.cat(means), torch.cat(stds)


def _run_sequences(loaded: LoadedModel, data: str | Path | None, seed: int) -> SequenceDataset:
    """The sequences to pick from by index: ``data`` if given, else every sequence of the run's data."""
    if not loaded.model.sequence_input:
        raise DataError(f"{loaded.path}: interpolate and sample --near work on sequence models; this is a {loaded.model.kind} model")
    if data is not None:
        return read_model_input(loaded, data, seed)
    if loaded.run is None:
        raise CheckpointError(f"{loaded.path}: config.json holds no run config; pass --data")
    table = load_sequences(loaded.run.data, loaded.run.seed)
    seqs = [loaded.normalizer.transform(x) for x in table.sequences] if loaded.normalizer else table.sequences
    return SequenceDataset(seqs, table.labels, table.ids)


def _pick(dataset: SequenceDataset, index: int, what: str) -> None:
    if not 0 <= index < len(dataset):
        raise DataError(f"{what} {index} is out of range: the data hold {len(dataset)} sequences (0-based)")


def interpolate_run(
    run_dir: str | Path,
    a: int,
    b: int,
    steps: int,
    data: str | Path | None = None,
    length: int | None = None,
    output: str | Path | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Decode ``steps`` points on the straight line between the posterior means of sequences ``a`` and ``b``.

    Writes ``z`` ``(steps, L)``, ``x`` (data units, NaN after each end), ``lengths`` and ``alpha`` to an
    .npz and a figure of the decoded sequences next to it. Lengths: ``length`` if given, else the stop
    head's, else the two originals' lengths interpolated.
    """
    if steps < 2:
        raise DataError(f"--steps must be >= 2 (the two end points included), got {steps}")
    loaded = load_run(run_dir)
    dataset = _run_sequences(loaded, data, seed)
    _pick(dataset, a, "--a")
    _pick(dataset, b, "--b")
    mean, _ = encode_dataset(loaded, SequenceDataset(dataset.__getitems__([a, b]).unpad()), seed)
    alpha = torch.linspace(0.0, 1.0, steps)[:, None]
    z = (1 - alpha) * mean[0] + alpha * mean[1]
    if length is None and loaded.model.config.end_of_sequence is False:
        la, lb = int(dataset.lengths[a]), int(dataset.lengths[b])
        lengths = torch.round((1 - alpha[:, 0]) * la + alpha[:, 0] * lb).long()
        values, _ = loaded.model.generate(z, int(lengths.max()))
    else:
        values, lengths = loaded.model.generate(z, length)
    arrays = _sequence_arrays(loaded, values, lengths)
    out = Path(output) if output is not None else loaded.path / f"interpolation_{a}_{b}.npz"
    save_npz_atomic(out, z=z.numpy(), alpha=alpha[:, 0].numpy(), **arrays)
    originals = [to_data_units(loaded, x) for x in dataset.__getitems__([a, b]).unpad()]
    fig = plot_sequence_strip(
        _unpadded(arrays),
        titles=[f"α={t:.2f}" for t in alpha[:, 0].tolist()],
        reference={0: originals[0], steps - 1: originals[1]},
        title=f"latent interpolation: sequence {dataset.ids[a]} → {dataset.ids[b]} (grey: originals)",
    )
    figure = save_figure(fig, out.with_suffix(".png"))
    return {"npz": out, "figure": figure, "ids": (dataset.ids[a], dataset.ids[b])}


def sample_near_run(
    run_dir: str | Path,
    index: int,
    radius: float,
    n: int,
    data: str | Path | None = None,
    length: int | None = None,
    output: str | Path | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Decode ``n`` latent points drawn uniformly from the ball of ``radius`` around sequence ``index``'s
    posterior mean: variations of one sequence, e.g. for data augmentation (source 001).

    Writes ``z``, ``x`` (data units), ``lengths`` and ``distance`` (from the centre) to an .npz and a figure.
    """
    if radius < 0:
        raise DataError(f"--radius must be >= 0, got {radius}")
    loaded = load_run(run_dir)
    dataset = _run_sequences(loaded, data, seed)
    _pick(dataset, index, "--near")
    centre, _ = encode_dataset(loaded, SequenceDataset(dataset.__getitems__([index]).unpad()), seed)
    z, dist = uniform_ball(centre[0], n, radius, torch.Generator().manual_seed(seed))
    dist = dist[:, None]
    if length is None and loaded.model.config.end_of_sequence is False:
        length = int(dataset.lengths[index])
    values, lengths = loaded.model.generate(z, length)
    arrays = _sequence_arrays(loaded, values, lengths)
    out = Path(output) if output is not None else loaded.path / f"near_{index}.npz"
    save_npz_atomic(out, z=z.numpy(), distance=dist[:, 0].numpy(), **arrays)
    original = to_data_units(loaded, dataset.__getitems__([index]).unpad()[0])
    shown = _unpadded(arrays)[:15]
    fig = plot_sequence_strip(
        [original, *shown],
        titles=["original", *[f"|Δz|={d:.2f}" for d in dist[: len(shown), 0].tolist()]],
        title=f"neighbourhood of sequence {dataset.ids[index]} (radius {radius:g})",
    )
    figure = save_figure(fig, out.with_suffix(".png"))
    return {"npz": out, "figure": figure, "id": dataset.ids[index]}


def _unpadded(arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [x[: int(n)] for x, n in zip(arrays["x"], arrays["lengths"])]
