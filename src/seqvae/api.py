"""Library functions behind the CLI's run-directory commands: evaluate, reconstruct, encode, sample,
interpolate and splits.

Each reads either the run's own data (its saved config rebuilds them, seeded with the run's seed and
split as in training) or the user's files, read the way ``train`` reads the run's data kind
(:func:`seqvae.data.sources.data_config_for`) and mapped to model units by the run's normaliser. Every
output names each example's ``sequence_id`` and ``split``: ``train``, ``val`` or ``test`` for the
run's own data, ``external`` for other files.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from seqvae.analysis.evaluation import evaluate_in_data_units
from seqvae.analysis.latent import reconstruction_errors, sequence_reconstructions, uniform_ball
from seqvae.checkpoint import LoadedModel, load_run
from seqvae.config import EvalConfig, SequenceDataConfig
from seqvae.data.arrays import ArrayDataset, check_finite, read_array_file, read_array_names
from seqvae.data.prepare import bundle_sequences, prepare_sequences
from seqvae.data.readers import SequenceTable, iter_parquet_sequences, read_sequences
from seqvae.data.sequences import SequenceDataset, length_mask
from seqvae.data.sources import data_config_for, load_arrays, load_data, load_sequences, missing_path, same_source
from seqvae.data.streaming import NpzStreamWriter
from seqvae.errors import CheckpointError, DataError
from seqvae.io import save_npz_atomic, write_bytes_atomic, write_json_atomic
from seqvae.plots import plot_sequence_strip, save_figure

SPLITS = ("train", "val", "test")
SPLIT_CHOICES = (*SPLITS, "all")
EXTERNAL = "external"  # the split of an example read from a file that is not the run's own data
_SPLIT_DTYPE = "<U8"

DataArg = str | Path | Sequence[str | Path] | None


@dataclass
class Examples:
    """Examples in model units, in the order of their source, with each one's id and split."""

    dataset: ArrayDataset | SequenceDataset
    ids: list[str]
    split: np.ndarray  # one of SPLITS or EXTERNAL per example
    feature_names: list[str] | None = None
    source: dict[str, Any] = field(default_factory=dict)  # what was read: {"split", "data_seed"} or {"data"}

    def __len__(self) -> int:
        return len(self.ids)


def _paths(data: DataArg) -> list[Path]:
    if data is None:
        return []
    return [Path(p) for p in ([data] if isinstance(data, (str, Path)) else data)]


def _check_split(split: str) -> None:
    if split not in SPLIT_CHOICES:
        raise DataError(f"--split must be one of {', '.join(SPLIT_CHOICES)}, got {split!r}")


def _only_all(split: str) -> None:
    if split != "all":
        raise DataError(
            f"--split {split} picks from the run's own data; leave out --data (with --data every example's "
            f"split is {EXTERNAL!r})"
        )


def run_examples(loaded: LoadedModel, data: DataArg = None, split: str = "all") -> Examples:
    """The examples a run-directory command works on.

    With ``data`` (a path or several, e.g. a molecular topology and trajectory): read like ``train`` reads
    the run's data kind (:func:`~seqvae.data.sources.data_config_for`), through the same readers and
    checks, prepared as the run prepared its data and normalised with the run's normaliser. A file that
    is the run's own data file counts as the run's data. Without ``data``: the run's own data, rebuilt from
    its saved config with the run's seed, restricted to ``split`` (``train``, ``val``, ``test`` or ``all``).
    """
    _check_split(split)
    paths = _paths(data)
    run = loaded.run
    if run is None:
        if not paths:
            raise CheckpointError(f"{loaded.path}: config.json holds no run config; pass --data")
        _only_all(split)
        blocks = [_examples_of(_read_file_without_run(loaded, p), {"data": p.name}) for p in paths]
        return blocks[0] if len(blocks) == 1 else _join(blocks)
    if paths:
        cfg = data_config_for(run.data, paths)
        if not same_source(cfg, run.data):
            _only_all(split)
            return _file_examples(loaded, cfg, paths)
    return _own_examples(loaded, split)


def _own_examples(loaded: LoadedModel, split: str) -> Examples:
    """The run's own data, split as in training (same config, same seed), in the order they were read."""
    run, model = loaded.run, loaded.model
    assert run is not None
    names = None
    if model.sequence_input:
        table = load_sequences(run.data, run.seed)
        names = list(table.feature_names)
        bundle = bundle_sequences(table, run.data, run.seed)
    else:
        bundle = load_data(run.data, run.seed, sequences=False)
        names = list(bundle.feature_names) or None
    if bundle.features != model.features:
        raise DataError(
            f"{loaded.path}: the run's data, rebuilt from its config, have {bundle.features} features; "
            f"the model expects {model.features}; pass the data with --data"
        )
    saved, rebuilt = loaded.normalizer, bundle.normalizer
    if (saved is None) != (rebuilt is None) or (
        saved is not None
        and not (np.allclose(saved.mean, rebuilt.mean, rtol=1e-5, atol=1e-6) and np.allclose(saved.std, rebuilt.std, rtol=1e-5, atol=1e-6))
    ):
        raise DataError(
            f"{loaded.path}: the run's data, rebuilt from its config, are not the data it was trained on (their "
            "normaliser differs from the saved one); pass the data with --data"
        )
    chosen = SPLITS if split == "all" else (split,)
    parts = [(s, getattr(bundle, s), bundle.splits[s]) for s in chosen if len(bundle.splits[s])]
    if not parts:
        raise DataError(f"{loaded.path}: the run's data have no {split} split (its fraction is 0)")
    positions = np.concatenate([idx for _, _, idx in parts])
    order = np.argsort(positions, kind="stable")
    dataset = _concat([ds for _, ds, _ in parts], order)
    splits = np.concatenate([np.full(len(idx), s, dtype=_SPLIT_DTYPE) for s, _, idx in parts])[order]
    ids = [bundle.ids[i] for i in positions[order]] if bundle.ids else [str(i) for i in positions[order]]
    return Examples(dataset, ids, splits, names, {"split": split, "data_seed": run.seed})


def _concat(datasets: list[Any], order: np.ndarray) -> ArrayDataset | SequenceDataset:
    """The examples of ``datasets`` (all of one type) one after another, then taken in ``order``."""
    idx = torch.as_tensor(order, dtype=torch.long)
    labels = {k: torch.cat([ds.labels[k] for ds in datasets])[idx] for k in datasets[0].labels}
    if isinstance(datasets[0], SequenceDataset):
        seqs = [s for ds in datasets for s in ds.sequences()]
        ids = [i for ds in datasets for i in ds.ids]
        return SequenceDataset([seqs[i] for i in order], labels, [ids[i] for i in order])
    values = torch.cat([ds.values for ds in datasets])[idx]
    condition = None if datasets[0].condition is None else torch.cat([ds.condition for ds in datasets])[idx]
    return ArrayDataset(values, labels, condition)


def _join(blocks: list[Examples]) -> Examples:
    dataset = _concat([b.dataset for b in blocks], np.arange(sum(len(b) for b in blocks)))
    ids = [i for b in blocks for i in b.ids]
    return Examples(dataset, ids, np.concatenate([b.split for b in blocks]), blocks[0].feature_names,
                    {"data": ", ".join(str(b.source.get("data")) for b in blocks)})


def _examples_of(dataset: ArrayDataset | SequenceDataset, source: dict[str, Any]) -> Examples:
    ids = list(dataset.ids) if isinstance(dataset, SequenceDataset) else [str(i) for i in range(len(dataset))]
    return Examples(dataset, ids, np.full(len(ids), EXTERNAL, dtype=_SPLIT_DTYPE), None, source)


def _file_examples(loaded: LoadedModel, cfg: Any, paths: list[Path]) -> Examples:
    """``paths`` read through the run's data kind (``cfg``, from ``data_config_for``) in model units."""
    run, model = loaded.run, loaded.model
    assert run is not None
    label = ", ".join(map(str, paths))
    source = {"data": paths[0].name if len(paths) == 1 else [p.name for p in paths]}
    if model.sequence_input:
        # min_length is what training refuses; a shorter sequence can still be encoded or reconstructed
        table = load_sequences(replace(cfg, sequence=replace(cfg.sequence, min_length=1)), run.seed)
        dataset = _sequence_input(loaded, table, label, run.seed, prepared=True)
        return Examples(dataset, list(table.ids), np.full(len(dataset), EXTERNAL, dtype=_SPLIT_DTYPE),
                        list(table.feature_names), source)
    values, labels = load_arrays(cfg, run.seed)
    if isinstance(values, list):
        raise DataError(f"{label}: holds sequences; this {model.kind} model reads vectors")
    values = np.asarray(values, dtype=np.float32)
    labels = dict(labels)
    condition = labels.pop("condition", None)
    if values.ndim == 2:
        width = values.shape[1]
    elif values.ndim == 5:  # videos (N, T, ...frame): features are the values of one frame
        width = int(np.prod(values.shape[2:]))
    else:
        raise DataError(f"{label}: examples of shape {values.shape[1:]}; the model expects {model.features} features")
    if width != model.features:
        raise DataError(f"{label}: has {width} features per example, the model expects {model.features}")
    if len(values) == 0:
        raise DataError(f"{label}: holds no examples")
    check_finite(values.reshape(len(values), -1), label)
    if loaded.normalizer is not None:
        values = loaded.normalizer.transform(values)
    labs = {
        k: torch.as_tensor(np.asarray(v))
        for k, v in labels.items()
        if np.asarray(v).dtype.kind in "fiub" and len(v) == len(values)
    }
    cond = None if condition is None else torch.as_tensor(np.asarray(condition, dtype=np.float32))
    dataset = ArrayDataset(torch.as_tensor(values, dtype=torch.float32), labs, cond)
    examples = _examples_of(dataset, source)
    names = read_array_names(paths[0]) if cfg.kind == "file" and len(paths) == 1 else []
    examples.feature_names = names if len(names) == width else None
    return examples


def read_model_input(loaded: LoadedModel, path: str | Path, seed: int = 0) -> ArrayDataset | SequenceDataset:
    """Read a data file, check its width against the model and map it to model units.

    With a run config the file is read like ``train`` reads the run's data kind (:func:`run_examples`);
    a model exported without one reads vectors (.npy/.npz/.csv) or sequences as they are.
    """
    if loaded.run is not None:
        return run_examples(loaded, path).dataset
    return _read_file_without_run(loaded, path, seed)


def _read_file_without_run(loaded: LoadedModel, path: str | Path, seed: int = 0) -> ArrayDataset | SequenceDataset:
    """A file in model units for a model exported without a run config (vectors or sequences as they are)."""
    if not Path(path).exists():
        raise DataError(missing_path(path))
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


def _sequence_input(
    loaded: LoadedModel, table: SequenceTable, path: str | Path, seed: int, prepared: bool = False
) -> SequenceDataset:
    """Sequences as read, prepared as the run prepared its data (unless already ``prepared``) and mapped to
    model units."""
    model = loaded.model
    if table.features != model.features:
        raise DataError(f"{path}: has {table.features} features per step, the model expects {model.features}")
    if not prepared:
        seq_cfg = loaded.run.data.sequence if loaded.run is not None else SequenceDataConfig(min_length=1)
        table = prepare_sequences(table, seq_cfg, seed)
    seqs = [loaded.normalizer.transform(x) for x in table.sequences] if loaded.normalizer else table.sequences
    return SequenceDataset(seqs, table.labels, table.ids)


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
    data: DataArg = None,
    iwae_samples: int | None = None,
    ll_samples: int | None = None,
    seed: int | None = None,
    output: str | Path | None = None,
    progress: bool = False,
    split: str | None = None,
) -> dict[str, Any]:
    """Evaluate a trained run on its test split (or ``split``, or ``data``) and write ``evaluation.json``.

    Densities are reported in nats per example in data units (the normaliser's Jacobian is added). The
    result goes to ``output`` (default ``RUN_DIR/evaluation.json``), so an experiment's ``metrics.json``
    is never touched. ``seed`` (default: the run's seed) drives the Monte Carlo estimates; the run's own
    data are rebuilt with the run's seed, recorded as ``data_seed``.
    """
    loaded = load_run(run_dir)
    run = loaded.run
    defaults = run.eval if run is not None else EvalConfig()
    cfg = EvalConfig(
        iwae_samples=iwae_samples or defaults.iwae_samples,
        ll_samples=ll_samples or defaults.ll_samples,
        batch_size=defaults.batch_size,
    )
    if split is None:
        split = "all"
        if data is None and run is not None:
            if run.data.test_fraction == 0 and run.data.val_fraction == 0:
                raise DataError(f"{run_dir}: the run has no test or validation split; pass --data or --split train")
            split = "test" if run.data.test_fraction > 0 else "val"
    examples = run_examples(loaded, data, split)
    eval_seed = seed if seed is not None else (run.seed if run is not None else 0)
    metrics = evaluate_in_data_units(loaded.model, examples.dataset, cfg, loaded.normalizer, eval_seed, progress)
    metrics.update(examples.source)
    metrics["seed"] = eval_seed
    out = Path(output) if output is not None else loaded.path / "evaluation.json"
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


class _LatentWriter(NpzStreamWriter):
    """The stream writer, with the ids written twice: as ``ids`` (the library's .npz layout) and as
    ``sequence_id`` (the name every run-directory command's output uses)."""

    def _write_ids(self, zf: Any) -> None:
        super()._write_ids(zf)
        super()._write_ids(_RenamedMember(zf, "ids.npy", "sequence_id.npy"))


class _RenamedMember:
    """A zip file whose member ``old`` is opened as ``new``."""

    def __init__(self, zf: Any, old: str, new: str) -> None:
        self._zf, self._old, self._new = zf, old, new

    def open(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._zf.open(self._new if name == self._old else name, *args, **kwargs)


def _encode_blocks(
    loaded: LoadedModel, paths: list[Path], split: str, batch_rows: int
) -> Iterator[tuple[str, Examples]]:
    """What to encode, a block at a time: the run's data (``split``), or each file in turn (shards; a
    long-format Parquet file streamed ``batch_rows`` rows at a time), or all files at once for a data
    kind that reads several (a molecular topology and trajectory)."""
    run = loaded.run
    if not paths:
        yield "run data", run_examples(loaded, None, split)
        return
    if run is not None and data_config_for(run.data, paths[0]).kind != "file":
        yield paths[0].name, run_examples(loaded, paths, split)
        return
    for path in paths:
        own = run is not None and same_source(data_config_for(run.data, path), run.data)
        if not own and loaded.model.sequence_input and path.suffix.lower() == ".parquet":
            _only_all(split)
            seed = run.seed if run is not None else 0
            for table in iter_parquet_sequences(path, batch_rows=batch_rows, **_sequence_read_options(loaded)):
                yield path.name, _examples_of(_sequence_input(loaded, table, path, seed), {"data": path.name})
        else:
            yield path.name, run_examples(loaded, path, split)


def encode_file(
    run_dir: str | Path,
    data: DataArg = None,
    output: str | Path | None = None,
    seed: int = 0,
    chunk: int = ENCODE_CHUNK,
    progress: bool = False,
    batch_rows: int = 65536,
    split: str = "all",
) -> tuple[Path, int]:
    """Encode every example of ``data`` (a file, shard files encoded in order, or what the run's data kind
    reads, e.g. a topology and a trajectory), or of the run's own data (``split``: train, val, test or all)
    when ``data`` is None; write the posterior ``mean`` and ``std`` ``(N, latent_dim)``, ``sequence_id``
    (also as ``ids``) and ``split`` to an .npz.

    Latents are written block by block (:class:`~seqvae.data.streaming.NpzStreamWriter`), so memory is
    bounded by one shard, or by ``batch_rows`` rows of a long-format Parquet file, whatever the total.
    """
    loaded = load_run(run_dir)
    _check_split(split)
    paths = _paths(data)
    if data is not None and not paths:
        raise DataError("no data files to encode")
    out = Path(output) if output is not None else loaded.path / (f"{paths[0].stem}.latents.npz" if paths else "latents.npz")
    columns = [SpinnerColumn(), TextColumn("encoding {task.description}"), TextColumn("{task.completed:,} examples"),
               TimeElapsedColumn()]
    with _LatentWriter(out) as writer, Progress(*columns, disable=not progress, transient=True) as bar:
        tasks: dict[str, Any] = {}
        for name, block in _encode_blocks(loaded, paths, split, batch_rows):
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=None)
            mean, std = encode_dataset(loaded, block.dataset, seed, chunk)
            writer.append(ids=block.ids, mean=mean.numpy(), std=std.numpy(), split=block.split.astype(_SPLIT_DTYPE))
            bar.advance(tasks[name], len(block))
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


def _run_sequences(loaded: LoadedModel, data: DataArg, seed: int = 0) -> Examples:
    """The sequences to pick from by index: ``data`` if given, else every sequence of the run's data."""
    if not loaded.model.sequence_input:
        raise DataError(f"{loaded.path}: interpolate and sample --near work on sequence models; this is a {loaded.model.kind} model")
    return run_examples(loaded, data, "all")


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

    Writes ``z`` ``(steps, L)``, ``x`` (data units, NaN after each end), ``lengths``, ``alpha`` and the two
    originals' ``sequence_id`` and ``split`` to an .npz and a figure of the decoded sequences next to it. Lengths: ``length`` if given, else the stop
    head's, else the two originals' lengths interpolated.
    """
    if steps < 2:
        raise DataError(f"--steps must be >= 2 (the two end points included), got {steps}")
    loaded = load_run(run_dir)
    examples = _run_sequences(loaded, data, seed)
    dataset = examples.dataset
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
    save_npz_atomic(out, z=z.numpy(), alpha=alpha[:, 0].numpy(), **arrays,
                    sequence_id=np.asarray([examples.ids[a], examples.ids[b]]), split=examples.split[[a, b]])
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

    Writes ``z``, ``x`` (data units), ``lengths``, ``distance`` (from the centre) and the original's
    ``sequence_id`` and ``split`` to an .npz and a figure.
    """
    if radius < 0:
        raise DataError(f"--radius must be >= 0, got {radius}")
    loaded = load_run(run_dir)
    examples = _run_sequences(loaded, data, seed)
    dataset = examples.dataset
    _pick(dataset, index, "--near")
    centre, _ = encode_dataset(loaded, SequenceDataset(dataset.__getitems__([index]).unpad()), seed)
    z, dist = uniform_ball(centre[0], n, radius, torch.Generator().manual_seed(seed))
    dist = dist[:, None]
    if length is None and loaded.model.config.end_of_sequence is False:
        length = int(dataset.lengths[index])
    values, lengths = loaded.model.generate(z, length)
    arrays = _sequence_arrays(loaded, values, lengths)
    out = Path(output) if output is not None else loaded.path / f"near_{index}.npz"
    save_npz_atomic(out, z=z.numpy(), distance=dist[:, 0].numpy(), **arrays,
                    sequence_id=np.asarray([examples.ids[index]]), split=examples.split[[index]])
    original = to_data_units(loaded, dataset.__getitems__([index]).unpad()[0])
    shown = _unpadded(arrays)[:15]
    fig = plot_sequence_strip(
        [original, *shown],
        titles=["original", *[f"|Δz|={d:.2f}" for d in dist[: len(shown), 0].tolist()]],
        title=f"neighbourhood of sequence {dataset.ids[index]} (radius {radius:g})",
    )
    figure = save_figure(fig, out.with_suffix(".png"))
    return {"npz": out, "figure": figure, "id": dataset.ids[index]}


KEEP_CHOICES = ("content", "dynamics")


def sample_keep_run(
    run_dir: str | Path,
    keep: str,
    data: DataArg = None,
    draws: int = 1,
    output: str | Path | None = None,
    seed: int = 0,
    split: str = "test",
    batch_size: int = 100,
) -> dict[str, Any]:
    """The disentanglement test on videos (a model with a static f and dynamics z_{1:T}, e.g. the DSAE):
    ``keep="content"`` keeps each video's f (posterior mean) and draws new dynamics from the prior;
    ``keep="dynamics"`` keeps its z_{1:T} (posterior means) and draws f from the prior.

    Reads ``data`` like ``train`` reads the run's data kind (default: the run's own ``split``). Writes
    ``draws`` videos per input video (video-major) to an .npz: ``x`` (data units, the model's layout),
    ``f`` and ``z`` (the latents decoded: the kept half equals the video's posterior mean, the other half
    is the draw), ``source`` (the input video's row), ``sequence_id``, ``split`` and ``keep``; and a
    figure of the first videos (original above its new versions)."""
    if keep not in KEEP_CHOICES:
        raise DataError(f"--keep must be one of {', '.join(KEEP_CHOICES)}, got {keep!r}")
    if draws < 1:
        raise DataError(f"-n must be >= 1 with --keep (videos drawn per input video), got {draws}")
    loaded = load_run(run_dir)
    model = loaded.model
    if not model.supports_keep:
        raise DataError(f"{loaded.path}: --keep needs a video model with a static and a dynamic latent (dsae); "
                        f"this is a {model.kind} model")  # fmt: skip
    examples = run_examples(loaded, data, split if data is None else "all")
    dataset = examples.dataset
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    fs, zs, xs = [], [], []
    for start in range(0, len(dataset), batch_size):
        batch = dataset.__getitems__(list(range(start, min(start + batch_size, len(dataset)))))
        f, z, x = model.keep_and_resample(batch, keep, draws, gen)
        fs.append(f.cpu().numpy())
        zs.append(z.cpu().numpy())
        xs.append(to_data_units(loaded, x.cpu().numpy()).astype(np.float32))
    source = np.repeat(np.arange(len(dataset)), draws)
    out = Path(output) if output is not None else loaded.path / f"keep_{keep}.npz"
    x_all = np.concatenate(xs)
    save_npz_atomic(out, x=x_all, f=np.concatenate(fs), z=np.concatenate(zs), source=source,
                    sequence_id=np.asarray(examples.ids, dtype=str)[source], split=examples.split[source].astype(str),
                    keep=np.asarray(keep))  # fmt: skip
    from seqvae.plots import plot_video_strips

    rows, labels = [], []
    for i in range(min(4, len(dataset))):
        rows.append(to_data_units(loaded, dataset.values[i].cpu().numpy()))
        labels.append(f"video {examples.ids[i]}")
        for d in range(min(draws, 3)):
            rows.append(x_all[i * draws + d])
            labels.append(f"{keep} kept, draw {d + 1}")
    other = "dynamics" if keep == "content" else "content"
    layout = getattr(model.config, "layout", "channels-last")
    figure = save_figure(plot_video_strips(rows, labels, f"{keep} kept, new {other} from the prior", layout),
                         out.with_suffix(".png"))  # fmt: skip
    return {"npz": out, "figure": figure, "videos": len(dataset), "draws": draws}


def _unpadded(arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [x[: int(n)] for x, n in zip(arrays["x"], arrays["lengths"])]


def _feature_axis(loaded: LoadedModel, examples: Examples) -> tuple[int, list[str]]:
    """The axis of one example's ``(T, ...)`` array that holds its features, and their names: the last
    for vectors and sequences; the colour channel for videos."""
    values = examples.dataset.values
    if values.dim() == 5:
        channels_last = getattr(loaded.model.config, "layout", "channels-last") == "channels-last"
        axis = -1 if channels_last else 1
        return axis, [f"channel {i}" for i in range(values.shape[axis + 1 if axis > 0 else axis])]
    width = int(values.shape[-1])
    names = examples.feature_names
    return -1, list(names) if names is not None and len(names) == width else [f"f{i}" for i in range(width)]


RMSE_DEFINITION = (
    "data units, real steps only: rmse = sqrt(mean over every real step of every sequence and every feature "
    "of (reconstruction - original)^2); per feature, per split and per sequence the same over those values"
)


def reconstruct_run(
    run_dir: str | Path,
    data: DataArg = None,
    split: str = "all",
    output: str | Path | None = None,
    seed: int = 0,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Posterior-mean reconstructions of the run's own data (``split``) or of ``data``, in data units, and
    their root-mean-square errors.

    Each example is encoded, its posterior mean decoded (the likelihood's mean), and both the result and
    the original are mapped back through the normaliser. Errors count real steps only:

    - ``rmse``: sqrt(mean over every real step of every sequence and every feature of (reconstruction -
      original)²); each value counts once, so longer sequences weigh more;
    - ``rmse_per_feature`` (in the order of ``feature_names``; per colour channel for videos),
      ``rmse_by_split`` and ``per_sequence["rmse"]``:
      the same over those values; ``relative_rmse``: ``rmse`` over the data's spread (per-feature std
      averaged in quadrature).

    Writes ``output`` (default ``RUN_DIR/reconstructions.npz``): ``reconstruction`` and ``original``, the
    real steps of every sequence concatenated ``(sum T_i, F)`` (the library's values + lengths layout;
    vector data are one step per example, videos ``(sum T_i, H, W, C)``), ``lengths``, ``sequence_id``,
    ``split``, ``rmse`` (per sequence) and ``feature_names``; and a JSON of the same name (``.json``) with
    every number below at full precision. Returns that JSON's content plus the ``npz`` and ``json`` paths.
    """
    loaded = load_run(run_dir)
    examples = run_examples(loaded, data, split)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        pairs = sequence_reconstructions(loaded.model, examples.dataset, loaded.normalizer, batch_size)
    axis, names = _feature_axis(loaded, examples)
    errors = reconstruction_errors(pairs, axis)
    sse = np.array([float(np.sum((r.astype(np.float64) - x.astype(np.float64)) ** 2)) for r, x in pairs])
    count = np.array([r.size for r, _ in pairs], dtype=np.float64)
    by_split = {
        name: float(np.sqrt(sse[examples.split == name].sum() / count[examples.split == name].sum()))
        for name in (*SPLITS, EXTERNAL)
        if (examples.split == name).any()
    }
    out = Path(output) if output is not None else loaded.path / "reconstructions.npz"
    lengths = np.array([len(x) for _, x in pairs], dtype=np.int64)
    save_npz_atomic(
        out,
        reconstruction=np.concatenate([r for r, _ in pairs]).astype(np.float32),
        original=np.concatenate([x for _, x in pairs]).astype(np.float32),
        lengths=lengths,
        sequence_id=np.asarray(examples.ids, dtype=str),
        split=examples.split.astype(str),
        rmse=errors["per_sequence"],
        feature_names=np.asarray(names, dtype=str),
    )
    result: dict[str, Any] = {
        "rmse": errors["rmse"],
        "relative_rmse": errors["relative_rmse"],
        "data_std": errors["data_std"],
        "feature_names": names,
        "rmse_per_feature": [float(v) for v in errors["per_feature"]],  # in the order of feature_names
        "rmse_by_split": by_split,
        "n_sequences": errors["n_sequences"],
        "n_steps": errors["n_steps"],
        "definition": RMSE_DEFINITION,
        **examples.source,
        "seed": seed,
        "reconstructions": out.name,
        "per_sequence": {
            "sequence_id": list(examples.ids),
            "split": examples.split.astype(str).tolist(),
            "length": lengths.tolist(),
            "rmse": errors["per_sequence"].tolist(),
        },
    }
    json_path = out.with_suffix(".json")
    write_json_atomic(json_path, result)
    return {**result, "npz": out, "json": json_path}


def run_splits(run_dir: str | Path, output: str | Path | None = None) -> dict[str, Any]:
    """Which of the run's own sequences (or examples) are in its train, val and test splits, as in training.

    Returns ``ids``, ``split`` (one per example, in the data's order) and ``counts`` per split; with
    ``output`` also writes them as a CSV (``sequence_id,split``).
    """
    loaded = load_run(run_dir)
    examples = run_examples(loaded, None, "all")
    split = examples.split.astype(str)
    if output is not None:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["sequence_id", "split"])
        writer.writerows(zip(examples.ids, split.tolist()))
        write_bytes_atomic(Path(output), buf.getvalue().encode("utf-8"))
    counts = {name: int((split == name).sum()) for name in SPLITS}
    return {"ids": list(examples.ids), "split": split, "counts": counts, "data_seed": examples.source.get("data_seed")}
