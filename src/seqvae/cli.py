"""The ``seqvae`` command: parses arguments and calls the library, nothing more."""

from __future__ import annotations

import shutil
import signal
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# imports neither torch nor Lightning
from seqvae._lightning_logs import hide_lightning_chatter
from seqvae.config import shipped_configs
from seqvae.errors import ConfigError, SeqVAEError

app = typer.Typer(
    name="seqvae",
    help="Variational autoencoders for sequential and structured data.\n\n"
    "Train from a YAML config, evaluate likelihood bounds, sample, encode data to latents, interpolate "
    "between sequences, "
    "or run a built-in end-to-end experiment. Every command that draws random numbers takes --seed; the "
    "same seed gives the same result on CPU.",
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


DataOpt = Annotated[
    Optional[list[Path]],
    typer.Option("--data", help="Read this instead of the run's own data, the way `train` reads the run's data kind: a file (.npy/.npz/.csv/.parquet) or a directory of per-sequence files; a Sprites-layout directory or its sprites_X_SPLIT.npy (video runs); a de Jong or SportVU directory; a trajectory and/or topology (molecular runs: repeat --data). Every example's split is then 'external'."),
]


def _fail(exc: Exception) -> None:
    # seqvae.training imports torch and Lightning: look at it only if it is loaded already
    training = sys.modules.get("seqvae.training")
    if training is not None and isinstance(exc, training.TrainingInterrupted):
        console.print(f"[yellow]interrupted:[/] {escape(str(exc))}")
        raise typer.Exit(code=130)
    console.print(f"[bold red]error:[/] {escape(str(exc))}")  # escaped: a message may hold [x, y]
    raise typer.Exit(code=2)


def _num(value: object) -> str:
    """A number for people: 4 significant digits (metrics.json and the summaries keep full precision)."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:  # fmt: skip
    """seqvae's own warnings as one ``warning:`` line (no source line); any other as Python shows it."""
    ours = category.__module__.startswith("seqvae") or Path(filename).resolve().is_relative_to(_PACKAGE)
    if not ours:
        (file or sys.stderr).write(warnings.formatwarning(message, category, filename, lineno, line))  # type: ignore[attr-defined]
        return
    console.print(f"[yellow]warning:[/] {escape(str(message))}")


_PACKAGE = Path(__file__).resolve().parent


def _remove_failed_run(run_dir: Path, existed: bool, exc: Exception) -> None:
    """A failed ``train`` or ``experiment`` leaves nothing behind: the run directory goes if this command created
    it and no checkpoint was written into it (an interrupted or diverged run keeps its checkpoints to resume from)."""
    if existed or not run_dir.is_dir():
        return
    training = sys.modules.get("seqvae.training")
    if training is not None and isinstance(exc, training.TrainingInterrupted):
        return
    if any(run_dir.rglob("*.ckpt")):  # an experiment's runs are in subdirectories
        return
    shutil.rmtree(run_dir, ignore_errors=True)


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
    from seqvae.runconfig import load_run_config

    hide_lightning_chatter()
    run_dir = Path(resume if resume is not None else out or ".")
    existed = run_dir.exists()
    try:
        if resume is not None and out is not None and Path(out).resolve() != Path(resume).resolve():
            raise ConfigError("--resume DIR continues the run in DIR; leave out --out or give the same directory")
        if resume is None and out is None:
            raise ConfigError("train needs --out (and --config, or --data alone for defaults derived from the data; or --resume DIR)")
        if resume is None and config is None:
            if data is None:
                raise ConfigError("train needs --config, or --data FILE alone for defaults derived from the data")
            config = "auto"  # model, output scale and budget from the data (seqvae.defaults)
        # stored absolute: the run's own data stay found from any directory (encode, reconstruct, report, resume)
        extra = ["data.kind=file", f"data.path={data.resolve()}", "data.params={}"] if data is not None else []
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
            # the config is checked before torch and Lightning are imported: a typo answers in well under a second
            cfg = load_run_config(config, extra, preset=preset)
            if cfg.model.get("kind") != "auto":  # "auto" is resolved from the data inside fit
                # the model section: its classes need torch, not Lightning
                from seqvae.models import parse_model_config

                parse_model_config(cfg.model)
            from seqvae.training import fit
        else:
            from seqvae.training import fit, read_run_config

            cfg = load_run_config(base=read_run_config(run_dir), overrides=extra)
        result = fit(cfg, run_dir, resume=resume is not None)
    except SeqVAEError as exc:  # TrainingInterrupted included: exit 130 with the resume command
        _remove_failed_run(run_dir, existed, exc)
        _fail(exc)
    if not result.is_main_process:
        return
    s = result.summary
    console.print(
        f"[green]trained[/] {s['epochs']} epochs ({s['steps']} steps); best val loss "
        f"{_num(s['best_val_loss'])} at epoch {s['best_epoch']}; active latent units "
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
    data: DataOpt = None,
    split: Annotated[Optional[str], typer.Option(help="Which of the run's splits: train, val, test or all (default: test, or val when the run has no test split).")] = None,
    iwae_samples: Annotated[Optional[int], typer.Option(help="K for the IWAE bound (default: config eval.iwae_samples).")] = None,
    ll_samples: Annotated[Optional[int], typer.Option(help="K for the importance-sampled log-likelihood (default: eval.ll_samples).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Where to write the metrics (default RUN_DIR/evaluation.json).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", hidden=True, help="Deprecated spelling of --out.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed of the Monte Carlo estimates (default: the run's seed).")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """ELBO, IWAE bound and importance-sampled log p(x) on the test split, written to evaluation.json.

    The run's data are rebuilt from its config with the run's seed, split as in training; an experiment's metrics.json is never touched.
    """
    from seqvae import api

    try:
        metrics = api.evaluate_run(run_dir, data or None, iwae_samples, ll_samples, seed, out or output,
                                   progress=progress, split=split)
    except SeqVAEError as exc:
        _fail(exc)
    where = metrics.get("data") or f"{metrics.get('split')} split"
    table = Table(title=f"evaluation of {run_dir} on {where} ({metrics['n_examples']} examples, nats/example)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("elbo", "iwae", "log_likelihood", "recon_log_prob", "kl"):
        table.add_row(key, f"{metrics[key]:.4f}")
    Console().print(table)


@app.command()
def sample(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by `seqvae train`.")],
    n: Annotated[Optional[int], typer.Option("-n", "--n", min=1, help="Number of samples (default 16); with --keep, videos drawn per input video (default 1).")] = None,
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output .npz (default RUN_DIR/samples.npz, with --keep RUN_DIR/keep_KEEP.npz).")] = None,
    mean: Annotated[bool, typer.Option("--mean/--draw", help="Decoder mean (default) or a draw from p(x|z) (vector models).")] = True,
    keep: Annotated[Optional[str], typer.Option(help="Video models with a static f and dynamics z (dsae): 'content' keeps each video's f and draws new dynamics from the prior; 'dynamics' keeps its z_1:T and draws f. Videos from --data (default: the run's test split).")] = None,
    near: Annotated[Optional[int], typer.Option(help="Sample the latent neighbourhood of this sequence (0-based index into --data, or into the run's data) instead of the prior: data augmentation.")] = None,
    radius: Annotated[float, typer.Option(help="With --near: latent points are uniform in the ball of this radius around the sequence's posterior mean.")] = 0.5,
    data: Annotated[Optional[list[Path]], typer.Option(help="With --near: the data holding the sequence (default: the run's own data); with --keep: the videos; read the way `train` reads the run's data kind.")] = None,
    length: Annotated[Optional[int], typer.Option(min=1, help="Sequence models: generate exactly this many steps (default: where the model's stop head ends each sequence, or the original's length).")] = None,
    seed: SeedOpt = 0,
) -> None:
    """Draw N samples from the prior (or from the neighbourhood of one sequence with --near) through the decoder.

    Writes an .npz with `x` (data units; for sequences NaN after each end), `lengths` and `z`; --near also writes a figure of the original and its variations. --keep content|dynamics (video models): keep one half of each video's latents and draw the other from its prior; the .npz holds `x`, `f`, `z`, `source`, `sequence_id` and `split`.
    """
    from seqvae import api

    try:
        if keep is not None:
            result = api.sample_keep_run(run_dir, keep, data or None, n or 1, output, seed)
            console.print(f"[green]wrote[/] {result['draws']} video(s) for each of {result['videos']} videos, "
                          f"{keep} kept, to {result['npz']} and {result['figure']}")
            return
        n = 16 if n is None else n
        if near is not None:
            result = api.sample_near_run(run_dir, near, radius, n, data or None, length, output, seed)
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
    data: Annotated[Optional[list[Path]], typer.Option(help="The data holding the sequences (default: the run's own data), read the way `train` reads the run's data kind.")] = None,
    length: Annotated[Optional[int], typer.Option(min=1, help="Generate exactly this many steps (default: the stop head's ends, or the originals' lengths interpolated).")] = None,
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output .npz (default RUN_DIR/interpolation_A_B.npz); a .png of the same name is written next to it.")] = None,
    seed: SeedOpt = 0,
) -> None:
    """Decode the straight line between the latent means of two sequences.

    Writes `z`, `alpha`, `x` (data units, NaN after each end) and `lengths` to an .npz, and a figure of the decoded sequences with the two originals in grey.
    """
    from seqvae import api

    try:
        result = api.interpolate_run(run_dir, a, b, steps, data or None, length, output, seed)
    except SeqVAEError as exc:
        _fail(exc)
    ida, idb = result["ids"]
    console.print(f"[green]interpolated[/] {ida} → {idb} in {steps} steps: {result['npz']}, {result['figure']}")


@app.command()
def encode(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by `seqvae train`.")],
    data: Annotated[Optional[list[Path]], typer.Option(help="Encode this instead of the run's own data, read the way `train` reads the run's data kind (a file, a directory, a trajectory and topology). Repeat for shards of a file: they are encoded in order into one output.")] = None,
    split: Annotated[str, typer.Option(help="Without --data: which of the run's splits to encode (train, val, test or all).")] = "all",
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output .npz (default: first DATA stem + .latents.npz, or latents.npz, in RUN_DIR).")] = None,
    seed: SeedOpt = 0,
    progress: Annotated[bool, typer.Option(help="Show progress.")] = True,
) -> None:
    """Encode the run's data (or DATA) to posterior means and standard deviations.

    The .npz holds `mean`, `std`, `sequence_id` (also as `ids`) and `split` (train/val/test as in training; 'external' for --data files) per example, in the data's order; `seqvae splits RUN` lists the splits alone. Latents are written block by block: memory is bounded by one shard, or one block of rows of a long-format Parquet file (sorted by sequence id), however many sequences there are.
    """
    from seqvae import api

    try:
        path, count = api.encode_file(run_dir, data or None, output, seed, progress=progress, split=split)
    except SeqVAEError as exc:
        _fail(exc)
    console.print(f"[green]encoded[/] {count} examples to {path}")


@app.command()
def reconstruct(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by `seqvae train`.")],
    data: DataOpt = None,
    split: Annotated[str, typer.Option(help="Without --data: which of the run's splits (train, val, test or all).")] = "all",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output .npz (default RUN_DIR/reconstructions.npz); the errors go to a .json of the same name.")] = None,
    seed: SeedOpt = 0,
) -> None:
    """Posterior-mean reconstructions in data units and their RMSE (overall, per feature, per split, per sequence).

    The .npz holds `reconstruction` and `original` with the real steps of every sequence concatenated (sum of lengths x features; the library's values + lengths layout, no padding; vector data: one step per example), `lengths`, `sequence_id`, `split` and `rmse` per sequence. RMSE is in data units over real steps only: sqrt(mean over every real step and feature of (reconstruction - original)^2). The JSON next to the .npz keeps full precision.
    """
    from seqvae import api

    try:
        r = api.reconstruct_run(run_dir, data or None, split, out, seed)
    except SeqVAEError as exc:
        _fail(exc)
    count = f"{r['n_sequences']} sequences, {r['n_steps']} steps" if r["n_steps"] != r["n_sequences"] else f"{r['n_sequences']} examples"
    table = Table(title=f"reconstruction RMSE of {run_dir} ({count}, data units)")
    table.add_column("over")
    table.add_column("RMSE", justify="right")
    table.add_row("all", f"{r['rmse']:.4g}")
    for name, value in r["rmse_by_split"].items():
        table.add_row(f"split {name}", f"{value:.4g}")
    shown = list(zip(r["feature_names"], r["rmse_per_feature"]))
    for name, value in shown[:12]:
        table.add_row(f"feature {name}", f"{value:.4g}")
    if len(shown) > 12:
        table.add_row(f"({len(shown) - 12} more features)", "")
    per_seq = r["per_sequence"]["rmse"]
    table.add_row("per sequence: median", f"{sorted(per_seq)[len(per_seq) // 2]:.4g}")
    table.add_row("per sequence: worst", f"{max(per_seq):.4g}")
    Console().print(table)
    console.print(f"[green]wrote[/] {r['npz']} and {r['json']} (relative RMSE {r['relative_rmse']:.3g} of the data's spread)")


@app.command()
def splits(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by `seqvae train`.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Also write sequence_id,split per example to this CSV.")] = None,
) -> None:
    """How many sequences the run's train, val and test splits hold (the split of training: same data, same seed)."""
    from seqvae import api

    try:
        result = api.run_splits(run_dir, out)
    except SeqVAEError as exc:
        _fail(exc)
    counts = result["counts"]
    Console().print(", ".join(f"{name} {count}" for name, count in counts.items()) + f" (data seed {result['data_seed']})")
    if out is not None:
        console.print(f"[green]wrote[/] {out}")


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
        typer.Option(help="Real data instead of the experiment's simulator. basketball: a sequence file in "
                     "the shot frame (metres), or a directory with events.csv and one moments file "
                     "(moments.csv, moments.parquet or a game .json) of SportVU tracking. strokes: a directory "
                     "of de Jong stroke files (PREFIX-N-inputdata.txt with rows dx dy eos eod, "
                     "PREFIX-N-targetdata.txt one-hot labels). sprites, sprites-posteriors: a directory with "
                     "sprites_X_train.npy (frames (N, T, H, W, 3), float in [0, 1] or uint8) and, optionally, "
                     "sprites_A_train.npy (attributes) and sprites_D_train.npy (actions); without labels the "
                     "judge-based metrics are skipped. The other experiments make their own data (train a "
                     "polymer or molecular model on your trajectory with seqvae train)."),
    ] = None,
) -> None:
    """Run a built-in experiment end to end: data, training, analysis, metrics.json and figures."""
    from seqvae.experiments import available, run_experiment
    from seqvae.report import flatten

    hide_lightning_chatter()
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
    existed = out_dir.exists()
    try:
        metrics = run_experiment(name, out_dir, seed, overrides or [], preset, progress, data)
    except SeqVAEError as exc:
        _remove_failed_run(out_dir, existed, exc)
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

    hide_lightning_chatter()
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
    warnings.showwarning = _show_warning
    try:
        app()
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":
    main()
