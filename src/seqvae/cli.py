"""The ``seqvae`` command: parses arguments and calls the library, nothing more."""

from __future__ import annotations

import logging
import signal
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from seqvae.config import shipped_configs
from seqvae.errors import ConfigError, SeqVAEError

app = typer.Typer(
    name="seqvae",
    help="Variational autoencoders for sequential and structured data.\n\n"
    "Train from a YAML config, evaluate likelihood bounds, sample, encode data to latents, interpolate "
    "between sequences, "
    "or run a built-in end-to-end experiment. Every command takes --seed; the same seed gives "
    "the same result on CPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, soft_wrap=True)

SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (data split, initialisation, sampling).")]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", help="Override a config value, e.g. --set model.latent_dim=8 (repeatable)."),
]


def _quiet_lightning() -> None:
    # only Lightning's messages known to be harmless are hidden (one list, in seqvae._lightning_logs, which
    # imports no torch): a warning that can change a result is shown
    from seqvae._lightning_logs import hide_lightning_chatter

    hide_lightning_chatter()


def _fail(exc: Exception) -> None:
    from seqvae.training import TrainingInterrupted

    if isinstance(exc, TrainingInterrupted):
        console.print(f"[yellow]interrupted:[/] {exc}")
        raise typer.Exit(code=130)
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code=2)


@app.command()
def train(
    config: Annotated[Optional[str], typer.Option("--config", "-c", help=f"YAML config file, or the name of a shipped config ({', '.join(shipped_configs())}). Not needed with --resume.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run directory for logs, checkpoints and the exported model.")] = None,
    data: Annotated[Optional[Path], typer.Option(help="Train on this file instead of the config's data (sets data.kind=file, data.path). Sequence models read .npz, long-format .csv/.parquet (sequence_id, t, features) or a directory of per-sequence .csv/.npy files.")] = None,
    overrides: SetOpt = None,
    preset: Annotated[Optional[str], typer.Option(help="Named preset inside the config (e.g. 'paper').")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed; overrides the config's seed.")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue the run in this directory from its last finished epoch (e.g. after Ctrl+C); --set train.max_epochs=N extends it.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar when stderr is a terminal; with --no-progress, or into a file or pipe, one line per epoch instead (epoch, train and validation loss, KL, beta, seconds).")] = True,
    accelerator: Annotated[Optional[str], typer.Option(help="cpu, gpu, mps or auto (sets train.accelerator).")] = None,
    devices: Annotated[Optional[str], typer.Option(help="Devices per node: a number, a list like '0,2', or 'auto' (sets train.devices). Each device is one process with train.batch_size examples per step.")] = None,
    num_nodes: Annotated[Optional[int], typer.Option("--num-nodes", help="Machines taking part (sets train.num_nodes); launch with torchrun or srun, see the README.")] = None,
    strategy: Annotated[Optional[str], typer.Option(help="Lightning strategy, e.g. ddp (sets train.strategy).")] = None,
    compile: Annotated[bool, typer.Option("--compile", help="Compile the model's forward pass with torch.compile (sets train.compile=true): the first steps are slow while it compiles; see benchmarks/RESULTS.md for the effect per model.")] = False,
) -> None:
    """Train a model and export its best weights as model.safetensors + config.json in OUT.

    Checkpoints of the best and the last epoch are kept in OUT/checkpoints. Ctrl+C stops cleanly: the best model so far is exported, and `seqvae train --resume OUT` continues the run exactly where it stopped. With --devices N (and --num-nodes M) training runs data-parallel (DDP): the effective batch is N x M x train.batch_size.
    """
    from seqvae.config import load_run_config
    from seqvae.training import fit, read_run_config

    _quiet_lightning()
    try:
        if resume is not None and out is not None and Path(out).resolve() != Path(resume).resolve():
            raise ConfigError("--resume DIR continues the run in DIR; leave out --out or give the same directory")
        if resume is None and (config is None or out is None):
            raise ConfigError("train needs --config and --out (or --resume DIR to continue a run)")
        run_dir = Path(resume if resume is not None else out)
        extra = ["data.kind=file", f"data.path={data}", "data.params={}"] if data is not None else []
        extra += list(overrides or [])
        if seed is not None:
            extra.append(f"seed={seed}")
        if not progress:
            extra.append("train.progress_bar=false")
        if compile:
            extra.append("train.compile=true")
        for key, value in (("accelerator", accelerator), ("devices", devices), ("num_nodes", num_nodes), ("strategy", strategy)):
            if value is not None:
                extra.append(f"train.{key}={value}")
        if config is not None:
            cfg = load_run_config(config, extra, preset=preset)
        else:
            cfg = load_run_config(base=read_run_config(run_dir), overrides=extra)
        result = fit(cfg, run_dir, resume=resume is not None)
    except SeqVAEError as exc:  # TrainingInterrupted included: exit 130 with the resume command
        _fail(exc)
    if not result.is_main_process:
        return
    s = result.summary
    console.print(
        f"[green]trained[/] {s['epochs']} epochs ({s['steps']} steps); best val loss "
        f"{s['best_val_loss']} at epoch {s['best_epoch']}; active latent units "
        f"{s['active_units']}/{result.model.latent_dim}; model exported to {run_dir}"
    )
    if s.get("kl_per_dim"):
        kl = ", ".join(f"{v:.3g}" for v in s["kl_per_dim"][:16]) + (" ..." if len(s["kl_per_dim"]) > 16 else "")
        console.print(f"KL per latent dimension (validation, nats): {kl}")
    if s.get("skipped_steps"):
        console.print(f"[yellow]{s['skipped_steps']} steps skipped[/] for a non-finite loss or gradient (see the log)")


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by `seqvae train`.")],
    data: Annotated[Optional[Path], typer.Option(help="Evaluate on this file (.npy/.npz/.csv) instead of the run's test split.")] = None,
    iwae_samples: Annotated[Optional[int], typer.Option(help="K for the IWAE bound (default: config eval.iwae_samples).")] = None,
    ll_samples: Annotated[Optional[int], typer.Option(help="K for the importance-sampled log-likelihood (default: eval.ll_samples).")] = None,
    output: Annotated[Optional[Path], typer.Option(help="Where to write the metrics (default RUN_DIR/metrics.json).")] = None,
    seed: SeedOpt = 0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """ELBO, IWAE bound and importance-sampled log p(x) on the test split, written to metrics.json."""
    from seqvae import api

    try:
        metrics = api.evaluate_run(run_dir, data, iwae_samples, ll_samples, seed, output, progress=progress)
    except SeqVAEError as exc:
        _fail(exc)
    table = Table(title=f"evaluation of {run_dir} ({metrics['n_examples']} examples, nats/example)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("elbo", "iwae", "log_likelihood", "recon_log_prob", "kl"):
        table.add_row(key, f"{metrics[key]:.4f}")
    Console().print(table)


@app.command()
def sample(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by `seqvae train`.")],
    n: Annotated[int, typer.Option("-n", "--n", min=1, help="Number of samples.")] = 16,
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output .npz (default RUN_DIR/samples.npz).")] = None,
    mean: Annotated[bool, typer.Option("--mean/--draw", help="Decoder mean (default) or a draw from p(x|z) (vector models).")] = True,
    near: Annotated[Optional[int], typer.Option(help="Sample the latent neighbourhood of this sequence (0-based index into --data, or into the run's data) instead of the prior: data augmentation.")] = None,
    radius: Annotated[float, typer.Option(help="With --near: latent points are uniform in the ball of this radius around the sequence's posterior mean.")] = 0.5,
    data: Annotated[Optional[Path], typer.Option(help="With --near: the file holding the sequence (default: the run's own data).")] = None,
    length: Annotated[Optional[int], typer.Option(min=1, help="Sequence models: generate exactly this many steps (default: where the model's stop head ends each sequence, or the original's length).")] = None,
    seed: SeedOpt = 0,
) -> None:
    """Draw N samples from the prior (or from the neighbourhood of one sequence with --near) through the decoder.

    Writes an .npz with `x` (data units; for sequences NaN after each end), `lengths` and `z`; --near also writes a figure of the original and its variations.
    """
    from seqvae import api

    try:
        if near is not None:
            result = api.sample_near_run(run_dir, near, radius, n, data, length, output, seed)
            console.print(f"[green]wrote[/] {n} variations of sequence {result['id']} to {result['npz']} and {result['figure']}")
            return
        path = api.sample_run(run_dir, n, output, mean, seed, length)
    except SeqVAEError as exc:
        _fail(exc)
    console.print(f"[green]wrote[/] {n} samples to {path}")


@app.command()
def interpolate(
    run_dir: Annotated[Path, typer.Argument(help="Run directory of a trained sequence model.")],
    a: Annotated[int, typer.Option("--a", help="First sequence (0-based index into --data, or into the run's data).")],
    b: Annotated[int, typer.Option("--b", help="Second sequence.")],
    steps: Annotated[int, typer.Option(help="Points on the line, both ends included.")] = 8,
    data: Annotated[Optional[Path], typer.Option(help="File holding the sequences (default: the run's own data).")] = None,
    length: Annotated[Optional[int], typer.Option(min=1, help="Generate exactly this many steps (default: the stop head's ends, or the originals' lengths interpolated).")] = None,
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output .npz (default RUN_DIR/interpolation_A_B.npz); a .png of the same name is written next to it.")] = None,
    seed: SeedOpt = 0,
) -> None:
    """Decode the straight line between the latent means of two sequences.

    Writes `z`, `alpha`, `x` (data units, NaN after each end) and `lengths` to an .npz, and a figure of the decoded sequences with the two originals in grey.
    """
    from seqvae import api

    try:
        result = api.interpolate_run(run_dir, a, b, steps, data, length, output, seed)
    except SeqVAEError as exc:
        _fail(exc)
    ida, idb = result["ids"]
    console.print(f"[green]interpolated[/] {ida} → {idb} in {steps} steps: {result['npz']}, {result['figure']}")


@app.command()
def encode(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by `seqvae train`.")],
    data: Annotated[list[Path], typer.Option(help="Data file in the units the model was trained on (vectors: .npy/.npz/.csv; sequences: .npz/.csv/.parquet/directory). Repeat for shards: they are encoded in order into one output.")],
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output .npz (default: first DATA stem + .latents.npz in RUN_DIR).")] = None,
    seed: SeedOpt = 0,
    progress: Annotated[bool, typer.Option(help="Show progress.")] = True,
) -> None:
    """Encode DATA to posterior means and standard deviations (`mean`, `std` arrays in an .npz).

    Latents are written block by block: memory is bounded by one shard, or one block of rows of a long-format Parquet file (sorted by sequence id), however many sequences there are.
    """
    from seqvae import api

    try:
        path, count = api.encode_file(run_dir, data, output, seed, progress=progress)
    except SeqVAEError as exc:
        _fail(exc)
    console.print(f"[green]encoded[/] {count} examples to {path}")


@app.command()
def experiment(
    name: Annotated[Optional[str], typer.Argument(help="Experiment to run; omit to list them.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output directory (default runs/NAME).")] = None,
    overrides: SetOpt = None,
    preset: Annotated[Optional[str], typer.Option(help="Config preset: 'fast' (default) or 'paper'.")] = None,
    seed: SeedOpt = 0,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    data: Annotated[
        Optional[Path],
        typer.Option(help="Real data instead of the experiment's simulator (basketball: a sequence file, or a "
                     "directory with SportVU moments and events.csv)."),
    ] = None,
) -> None:
    """Run a built-in experiment end to end: data, training, analysis, metrics.json and figures."""
    from seqvae.experiments import available, run_experiment
    from seqvae.report import flatten

    _quiet_lightning()
    exps = available()
    if name is None:
        table = Table(title="experiments (seqvae experiment NAME --out DIR)")
        table.add_column("name")
        table.add_column("what it does")
        for exp in exps.values():
            table.add_row(exp.name, exp.help)
        Console().print(table)
        return
    out_dir = out or Path("runs") / name
    try:
        metrics = run_experiment(name, out_dir, seed, overrides or [], preset, progress, data)
    except SeqVAEError as exc:
        _fail(exc)
    if not metrics:  # an extra process of a multi-process run
        return
    table = Table(title=name, caption=f"all metrics: {out_dir / 'metrics.json'}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    # an experiment's headline numbers if it names them, else everything but the config (all in metrics.json)
    shown = metrics.get("summary") or {k: v for k, v in metrics.items() if k != "config"}
    for key, value in flatten(shown).items():
        if isinstance(value, list):
            continue
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    Console().print(table)
    if metrics.get("figures"):
        console.print(f"[green]figures[/] in {out_dir}: {', '.join(metrics['figures'])}")
    if (out_dir / "report.html").is_file():
        console.print(f"[green]report[/] {out_dir / 'report.html'} (open it in a browser)")


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (seqvae train --out, or seqvae experiment --out).")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Where to write the HTML (default RUN_DIR/report.html).")] = None,
    seed: SeedOpt = 0,
) -> None:
    """Write a run's self-contained HTML report (figures embedded; opens without network access).

    Config and metrics, learning curves, reconstructions, prior samples, an interpolation, the latent
    space coloured by every label and the KL per latent dimension.
    """
    from seqvae.report import build_report

    _quiet_lightning()
    try:
        path = build_report(run_dir, out, seed)
    except SeqVAEError as exc:
        _fail(exc)
    console.print(f"[green]report[/] {path} ({path.stat().st_size / 1e6:.1f} MB; open it in a browser)")


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Two or more run directories with metrics.json or train_summary.json.")],
    html: Annotated[Optional[Path], typer.Option(help="Also write the table as a self-contained HTML page.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Every numeric metric, not only the experiments' summaries.")] = False,
) -> None:
    """A table of metrics across runs (one column per run)."""
    from seqvae.report import compare_html, compare_runs

    try:
        keys, columns = compare_runs(runs, everything)
    except SeqVAEError as exc:
        _fail(exc)
    table = Table(title="metrics across runs")
    table.add_column("metric")
    for run in columns:
        table.add_column(Path(run).name or run, justify="right")
    for key in keys:
        cells = [columns[run].get(key) for run in columns]
        table.add_row(key, *("" if c is None else f"{c:.4g}" if isinstance(c, float) else str(c) for c in cells))
    Console().print(table)
    if html is not None:
        console.print(f"[green]written[/] {compare_html(keys, columns, html)}")


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # same clean stop as Ctrl+C: best model exported, run resumable


def main() -> None:
    """Console-script entry point."""
    # job schedulers and `kill` send SIGTERM; treat it like Ctrl+C unless someone else handles it
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        app()
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":
    main()
