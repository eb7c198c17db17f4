"""Learning curves of the Sprites disentanglement metrics: budget or method?

Trains the ``sprites`` experiment's DSAE in segments (``fit(..., resume=True)`` with a growing
``train.max_epochs``), keeps the model state of ``last.ckpt`` after every segment as
``snapshots/epoch_NNN.safetensors`` and scores each with one judge (trained once, kept as
``judge.safetensors``): fixed-f attribute accuracy, fixed-z action accuracy, the judge on reconstructions,
reconstruction error and the fixed-z action IS. One JSON line per snapshot in ``curves.jsonl``.
The run is restartable: run the same command again and it continues after the last snapshot.

    python benchmarks/dsae_curves.py --out runs/curves-factorized --every 7 --epochs 63
    python benchmarks/dsae_curves.py --out runs/curves-full --every 7 --epochs 63 --set model.posterior=full
    # two runs in one process, in turn (the one with fewer epochs first): equal budgets whenever it stops
    python benchmarks/dsae_curves.py --out runs/curves-factorized --variant runs/curves-full=model.posterior=full
    python benchmarks/dsae_curves.py --report runs/curves-factorized runs/curves-full --figure fig.png

``--report`` prints a markdown table of the given runs and draws the curves (one panel per metric).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

STEPS_PER_EPOCH_KEY = "steps"


def _judge(out: Path, cfg, bundle, seed: int, videos: int):
    from seqvae.analysis.judge import SPRITE_HEADS, VideoJudge
    from seqvae.domains.sprites.experiment import JUDGE_EPOCHS, fit_judge

    path = out / "judge.safetensors"
    if path.is_file():
        judge = VideoJudge(SPRITE_HEADS, channels=3, width=16)
        judge.load_state_dict(load_file(str(path)))
        return judge.eval(), json.loads((out / "judge.json").read_text())
    judge, info = fit_judge(cfg, bundle, videos, JUDGE_EPOCHS, seed)
    save_file({k: v.contiguous() for k, v in judge.state_dict().items()}, str(path))
    (out / "judge.json").write_text(json.dumps(info, indent=1))
    return judge, info


def _done(out: Path) -> set[int]:
    curves = out / "curves.jsonl"
    return {json.loads(line)["epoch"] for line in curves.read_text().splitlines()} if curves.is_file() else set()


def _segment(out: Path, overrides: list[str], epoch: int, args: argparse.Namespace, state: dict) -> None:
    """Train the run in ``out`` up to ``epoch`` epochs, snapshot and score it."""
    from seqvae.checkpoint import lightning_model_state, read_lightning_checkpoint
    from seqvae.data.sources import load_data
    from seqvae.domains.sprites.experiment import _summary, evaluate_dsae
    from seqvae.experiments.common import experiment_config
    from seqvae.models import build_model
    from seqvae.training import fit

    (out / "snapshots").mkdir(parents=True, exist_ok=True)
    run_dir = out / "run"
    cfg = experiment_config("sprites", args.seed, overrides, None, False,
                            extra=(f"train.max_epochs={epoch}", "train.checkpoint_every_seconds=0"))
    if state.get("bundle") is None:  # every variant trains on the same data (model overrides only)
        state["bundle"] = load_data(cfg.data, cfg.seed, sequences=False)
    bundle = state["bundle"]
    last = run_dir / "checkpoints" / "last.ckpt"
    start = time.perf_counter()
    if not last.is_file() or int(read_lightning_checkpoint(last).get("epoch", -1)) + 1 < epoch:
        fit(cfg, run_dir, bundle=bundle, resume=last.is_file())
    seconds = time.perf_counter() - start
    ckpt = read_lightning_checkpoint(last)
    weights = lightning_model_state(ckpt)
    save_file({k: v.contiguous() for k, v in weights.items()}, str(out / "snapshots" / f"epoch_{epoch:03d}.safetensors"))
    model = build_model(cfg.model, bundle.features)
    model.load_state_dict(weights)
    if state.get("judge") is None:
        state["judge"], state["judge_info"] = _judge(Path(args.judge_dir or out), cfg, bundle, args.seed, args.judge_videos)
    ev, _ = evaluate_dsae(model, state["judge"], bundle.test, cfg.seed, args.generated)
    row = {
        "epoch": epoch,
        "steps": int(ckpt.get("global_step", 0)),
        "overrides": overrides,
        "segment_seconds": seconds,
        "summary": _summary(ev, state["judge_info"]),
        "reconstruction_judge": ev["reconstruction"]["judge_accuracy"],
        "fixed_f_judge": ev["fixed_f"]["judge_accuracy"],
        "fixed_z_judge": ev["fixed_z"]["judge_accuracy"],
    }
    with (out / "curves.jsonl").open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    recon_min = min(row["reconstruction_judge"][k] for k in HEADS)
    print(f"{out.name} epoch {epoch} step {row['steps']}: fixed-f min {row['summary']['fixed_f_attribute_accuracy_min']:.3f} "
          f"fixed-z action {row['summary']['fixed_z_action_accuracy']:.3f} recon min {recon_min:.3f} ({seconds:.0f} s)",
          flush=True)


def train(args: argparse.Namespace) -> None:
    """Advance the variant with the fewest epochs by one segment until all reach ``--epochs``: every
    variant has had the same budget whenever the process stops."""
    torch.set_num_threads(1)
    variants = [(Path(args.out), list(args.set))] if args.out else []
    for spec in args.variant:
        path, _, sets = spec.partition("=")
        variants.append((Path(path), [s for s in sets.split(",") if s]))
    args.judge_dir = args.judge_dir or str(variants[0][0])
    state: dict = {}
    while True:
        todo = []
        for out, overrides in variants:
            done = _done(out)
            nxt = next((e for e in range(args.every, args.epochs + 1, args.every) if e not in done), None)
            if nxt is not None:
                todo.append((nxt, str(out), out, overrides))
        if not todo:
            return
        epoch, _, out, overrides = min(todo)
        _segment(out, overrides, epoch, args, state)


def _val_elbo(run_dir: Path) -> dict[int, float]:
    """Validation ELBO (nats per video) by optimiser step from the run's CSV log."""
    import csv

    path = run_dir / "logs" / "metrics.csv"
    if not path.is_file():
        return {}
    return {int(float(row["step"])): float(row["val/elbo"]) for row in csv.DictReader(path.open())
            if row.get("val/elbo") not in (None, "")}


HEADS = ("skin", "top", "bottom", "hair", "action")


def _rows(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "curves.jsonl").read_text().splitlines()]
    elbo = _val_elbo(run / "run")
    for r in rows:
        r["val_elbo"] = elbo.get(r["steps"], elbo.get(r["steps"] - 1))  # logged at the last step or after it
        r["recon_min"] = min(r["reconstruction_judge"][k] for k in HEADS)
    return sorted(rows, key=lambda r: r["epoch"])


def report(runs: list[str], figure: str | None) -> None:
    for run in runs:
        print(f"\n{run}\n")
        print("| steps | val ELBO (nats) | fixed f: attributes min / mean | fixed z: action | fixed z: IS | "
              "recon judge skin / top / bottom / hair / action | recon MSE |")
        print("|---|---|---|---|---|---|---|")
        for r in _rows(Path(run)):
            s = r["summary"]
            rj = " / ".join(f"{100 * r['reconstruction_judge'][k]:.1f}" for k in HEADS)
            elbo = f"{r['val_elbo']:.0f}" if r["val_elbo"] is not None else "-"
            print(f"| {r['steps']} | {elbo} | {100 * s['fixed_f_attribute_accuracy_min']:.1f} / "
                  f"{100 * s['fixed_f_attribute_accuracy_mean']:.1f} % | {100 * s['fixed_z_action_accuracy']:.1f} % | "
                  f"{s['fixed_z_action_is']:.2f} | {rj} % | {s['reconstruction_mse_per_pixel']:.5f} |")
    if figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        panels = [("fixed f: attribute accuracy (min)", lambda r: r["summary"]["fixed_f_attribute_accuracy_min"], 0.9),
                  ("fixed z: action accuracy", lambda r: r["summary"]["fixed_z_action_accuracy"], 0.8),
                  ("judge on reconstructions (min head)", lambda r: r["recon_min"], 0.95),
                  ("validation ELBO (nats / video)", lambda r: r["val_elbo"], None)]
        fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
        for ax, (title, get, target) in zip(axes, panels):
            for run in runs:
                rows = [r for r in _rows(Path(run)) if get(r) is not None]
                ax.plot([r["steps"] for r in rows], [get(r) for r in rows], "o-", label=Path(run).name)
            if target is not None:
                ax.axhline(target, color="grey", ls="--", lw=1)
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("training steps")
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(figure, dpi=110)
        print(f"\nfigure: {figure}")


def action_split(runs: list[str], seed: int = 0) -> None:
    """For the last snapshot of each run: how often the judge's action on fixed-z / fixed-f videos keeps the
    source's motion and its direction (action = 3 * motion + direction)."""
    import numpy as np

    from seqvae.analysis.judge import judge_probabilities
    from seqvae.data.sources import load_data
    from seqvae.experiments.common import experiment_config
    from seqvae.models import build_model

    torch.set_num_threads(1)
    judge = bundle = None
    for run in runs:
        rows = _rows(Path(run))
        last = rows[-1]
        cfg = experiment_config("sprites", seed, list(last.get("overrides", [])), None, False)
        if bundle is None:
            bundle = load_data(cfg.data, cfg.seed, sequences=False)
            judge, _ = _judge(Path(runs[0]), cfg, bundle, seed, 3000)
        model = build_model(cfg.model, bundle.features)
        model.load_state_dict(load_file(str(Path(run) / "snapshots" / f"epoch_{last['epoch']:03d}.safetensors")))
        model.eval()
        gen = torch.Generator().manual_seed(seed + 1)
        test = bundle.test
        batch = test.__getitems__(list(range(len(test))))
        action = test.labels["action"].numpy()
        out = {}
        for keep in ("dynamics", "content"):
            _, _, x = model.keep_and_resample(batch, keep, 1, gen)
            pred = judge_probabilities(judge, x.numpy(), "channels-last")["action"].argmax(1)
            out[keep] = {"action": float(np.mean(pred == action)), "motion": float(np.mean(pred // 3 == action // 3)),
                         "direction": float(np.mean(pred % 3 == action % 3))}
        print(f"{run} at {last['steps']} steps: z kept (new f): motion {100 * out['dynamics']['motion']:.1f} %, "
              f"direction {100 * out['dynamics']['direction']:.1f} %, action {100 * out['dynamics']['action']:.1f} %; "
              f"f kept (new z): motion {100 * out['content']['motion']:.1f} %, direction {100 * out['content']['direction']:.1f} %")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out")
    p.add_argument("--variant", action="append", default=[],
                   help="DIR=override,override: another run trained in turn with --out's (fewest epochs first)")
    p.add_argument("--judge-dir", help="directory holding judge.safetensors to reuse (default: the first run's)")
    p.add_argument("--every", type=int, default=7, help="epochs between snapshots")
    p.add_argument("--epochs", type=int, default=63)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], help="config override, e.g. model.posterior=full")
    p.add_argument("--judge-videos", type=int, default=3000)
    p.add_argument("--generated", type=int, default=100, help="videos generated from both priors per snapshot")
    p.add_argument("--report", nargs="+", help="curve directories to tabulate")
    p.add_argument("--figure")
    p.add_argument("--action-split", nargs="+", help="curve directories: motion / direction kept by the last snapshots")
    args = p.parse_args()
    if args.action_split:
        action_split(args.action_split, args.seed)
    elif args.report:
        report(args.report, args.figure)
    else:
        if not args.out and not args.variant:
            p.error("--out or --variant is required to train")
        train(args)


if __name__ == "__main__":
    main()
