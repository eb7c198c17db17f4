"""Training and encoding throughput of seqvae's recurrent VAEs against plain PyTorch, and % of matmul peak.

Two configurations, both batch 64, Gaussian fixed-std likelihood, β-ELBO (β = 1, no annealing),
Adam (lr 1e-3), fixed-length sequences (every sequence has the same length, so both sides see
identical tensors and no padding):

* ``vrae-basketball``: seqvae's ``VRAE`` as source 000 sizes it (:data:`MODELS`; 3 features, T = 50,
  LSTM-64 encoder, latent 2, LSTM-64 decoder fed its own previous output, learned stop head).
* ``strokes-paper``: seqvae's ``StackedLSTMVAE`` as source 001 sizes it (:data:`MODELS`; 2 features,
  T = 60, 2 x LSTM-512 encoder, latent 64, LSTM-512 then LSTM-2 decoder, no stop head).

The "plain" side of each is a hand-written ``nn.Module`` in this file doing the same arithmetic:
``nn.LSTM`` encoder, ``nn.LSTMCell`` decoder loop fed back its own output (VRAE) or ``nn.LSTM``
decoders (strokes), the same ELBO (Gaussian log-likelihood summed over masked steps, the stop
term for the VRAE, analytic KL), ``torch.optim.Adam`` and a plain loop over pre-made batches.
Before timing, the benchmark asserts that both networks have the same parameter shapes and count,
copies seqvae's weights into the plain network and checks that both give the same loss on the
same batch and the same reparameterisation noise.

How training is timed (one method for both sides). seqvae trains through
``seqvae.training.fit`` (Lightning, progress bar off, default ``train.deterministic``, CSV logger,
checkpoints, export) on a :class:`DataBundle` of :class:`SequenceDataset`\\ s with an empty
validation split and exactly ``steps * batch`` training sequences, so the run is one epoch of
``steps`` optimiser steps. A Lightning ``Callback`` (attached by wrapping
``seqvae.training.build_trainer`` for the duration of the call; no seqvae file is changed) takes
the clock at every ``on_train_batch_end``. The timed window runs from the end of step ``warmup``
to the end of the last step, i.e. ``steps - warmup`` whole steps *including* the data loader,
Lightning's per-step hooks, forward, backward and ``Adam.step``. It excludes the fixed start-up
and tear-down of ``fit`` (Trainer construction, first ``warmup`` steps, end-of-epoch logging,
checkpoint writing, reloading the best checkpoint, safetensors export); that fixed cost is not
hidden: the JSON reports ``fit_total_s`` and ``fit_fixed_s = fit_total_s - window`` for each run.
The plain loop is timed the same way: clock after every ``opt.step()``, same warmup, same window.
Lightning turns on ``torch.use_deterministic_algorithms`` (train.deterministic defaults to true)
and leaves it on; the benchmark sets the same flag before any timing so both sides run under it.

Encoding: ``model.encode(batch)`` (eval mode, ``torch.no_grad``) over the same pre-made batches
(``SequenceBatch`` for seqvae, tensors for plain) against the plain encoder, ``steps`` batches
after one warm-up batch.

FLOPs (float32, one multiply-add = 2 FLOPs, elementwise work and biases ignored): an LSTM layer
with input size I and hidden size H costs ``2 * 4H * (I + H) * B`` per time step (the input and
recurrent gate matmuls); a Linear(in, out) costs ``2 * in * out * B`` per application. A training
step is counted as 3x its forward pass (backward ~ 2x forward: grad-input and grad-weight
matmuls); an encoding pass is the encoder's forward only. Achieved GFLOP/s = FLOPs / time per
step; % peak divides that by the machine's float32 matmul peak, measured in the same run at the
same thread count as the best of several ``torch.mm`` of two ``--mm-size`` square float32 matrices
(2 n^3 FLOPs each), before and after the model runs.

Timings alternate plain and seqvae (the order flips each repeat) in one process; medians of
``--repeats`` are reported. Writes a JSON file (versions, threads, CPU, all raw timings) and prints a
markdown table.

    python benchmarks/throughput.py --threads 1   # writes benchmarks/results/throughput.json
    python benchmarks/throughput.py --quick --threads 1 --out /tmp/tp.json   # smoke run, tiny sizes
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import seqvae.training as seqvae_training
from seqvae.config import RunConfig
from seqvae.data.prepare import DataBundle
from seqvae.data.sequences import SequenceBatch, SequenceDataset
from seqvae.models import build_model
from seqvae.models.base import VAE
from seqvae.objectives import Objective
from seqvae.runconfig import load_run_config
from seqvae.training import fit

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


# --------------------------------------------------------------------------- configurations


# the models measured, by name (the values of the model presets of these names, which models no longer name)
MODELS: dict[str, dict[str, Any]] = {
    "vrae-basketball": {"kind": "vrae", "hidden": 64, "layers": 1, "latent_dim": 2, "end_of_sequence": True, "max_length": 120},
    "strokes-paper": {
        "kind": "stacked-lstm", "hidden": 512, "layers": 2, "latent_dim": 64, "decoder_hidden": 512, "decoder_layers": 1,
        "end_of_sequence": False, "max_length": 60, "likelihood": {"kind": "gaussian", "std": 0.7071067811865476},
    },
}


@dataclass
class Setup:
    name: str
    preset: str  # a name in MODELS
    features: int
    length: int
    batch: int
    steps: int
    model_overrides: dict[str, Any] = field(default_factory=dict)


def setups(args: argparse.Namespace) -> list[Setup]:
    steps = list(args.steps) if args.steps else ([8, 4] if args.quick else [200, 16])
    if len(steps) == 1:
        steps = steps * 2
    if args.quick:  # tiny networks: a smoke run of the whole pipeline
        return [
            Setup("vrae-basketball (quick)", "vrae-basketball", 3, 10, 16, steps[0], {"hidden": 16}),
            Setup("strokes-paper (quick)", "strokes-paper", 2, 12, 16, steps[1],
                  {"hidden": 32, "latent_dim": 8, "decoder_hidden": 32}),
        ]
    return [
        Setup("vrae-basketball", "vrae-basketball", 3, 50, 64, steps[0]),
        Setup("strokes-paper", "strokes-paper", 2, 60, 64, steps[1]),
    ]


def run_config(setup: Setup) -> RunConfig:
    return load_run_config(
        base={
            "model": {**MODELS[setup.preset], **setup.model_overrides},
            "train": {"batch_size": setup.batch, "max_epochs": 1, "progress_bar": False, "lr": 1e-3, "optimizer": "adam"},
            "objective": {"kind": "elbo", "beta": 1.0, "anneal": {"kind": "constant"}},
        }
    )


def make_sequences(n: int, length: int, features: int, seed: int) -> np.ndarray:
    """``(n, length, features)`` float32: random walks (cumulative Gaussian steps) plus a sinusoid."""
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=np.float64)[None, :, None]
    freq = rng.uniform(0.05, 0.3, size=(n, 1, features))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, features))
    walk = np.cumsum(rng.normal(0.0, 0.1, size=(n, length, features)), axis=1)
    return (np.sin(freq * t + phase) + walk).astype(np.float32)


def make_bundle(values: np.ndarray) -> DataBundle:
    seqs = list(values)
    empty = SequenceDataset([])
    return DataBundle(train=SequenceDataset(seqs), val=empty, test=empty, normalizer=None,
                      features=values.shape[-1], raw=seqs)


# --------------------------------------------------------------------------- plain PyTorch networks


def gaussian_log_prob(x: Tensor, mean: Tensor, std: float) -> Tensor:
    """log N(x; mean, std^2) summed over features: ``(B, T)``."""
    return (-0.5 * ((x - mean) / std) ** 2 - math.log(std) - LOG_SQRT_2PI).sum(-1)


def kl_standard_normal(mu: Tensor, std: Tensor) -> Tensor:
    """KL(N(mu, std^2) || N(0, 1)) summed over latent dimensions: ``(B,)``."""
    return (0.5 * (mu**2 + std**2 - 1.0) - torch.log(std)).sum(-1)


class PlainVRAE(nn.Module):
    """LSTM encoder -> z -> (tanh h0, c0) -> LSTMCell decoder fed back its own output, stop head.

    Parameters are registered in the order seqvae's ``VRAE`` registers them, so weights copy over by position.
    """

    def __init__(self, features: int, hidden: int, latent: int, std: float, min_std: float = 1e-4) -> None:
        super().__init__()
        self.encoder = nn.LSTM(features, hidden, batch_first=True)
        self.to_posterior = nn.Linear(hidden, 2 * latent)
        self.stop = nn.Linear(hidden, 1)
        self.cell = nn.LSTMCell(features, hidden)
        self.to_state = nn.Linear(latent, 2 * hidden)
        self.out = nn.Linear(hidden, features)
        self.start = nn.Parameter(torch.zeros(features))
        self.std, self.min_std = std, min_std

    def encode(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        out, _ = self.encoder(x)
        mu, raw = self.to_posterior(out[torch.arange(len(x)), lengths - 1]).chunk(2, -1)
        return mu, F.softplus(raw) + self.min_std

    def forward(self, x: Tensor, lengths: Tensor, mask: Tensor, beta: float = 1.0) -> Tensor:
        mu, std = self.encode(x, lengths)
        z = mu + std * torch.randn_like(mu)
        h0, c = self.to_state(z).chunk(2, -1)
        h = torch.tanh(h0)
        prev = self.start.expand(len(x), -1)
        means, hiddens = [], []
        for _ in range(x.shape[1]):
            h, c = self.cell(prev, (h, c))
            prev = self.out(h)
            means.append(prev)
            hiddens.append(h)
        mean, hidden = torch.stack(means, 1), torch.stack(hiddens, 1)
        log_px = gaussian_log_prob(x, mean, self.std)
        stop_logits = self.stop(hidden).squeeze(-1)
        ends = (torch.arange(x.shape[1])[None, :] == (lengths[:, None] - 1)).to(x.dtype)
        log_px = log_px - F.binary_cross_entropy_with_logits(stop_logits, ends, reduction="none")
        recon = (log_px * mask).sum(1)
        return (-recon + beta * kl_standard_normal(mu, std)).mean()


class PlainStrokes(nn.Module):
    """2 x LSTM-H encoder -> z repeated over time -> LSTM-H -> LSTM-(features) -> per-output scale and shift."""

    def __init__(self, features: int, hidden: int, layers: int, latent: int, dec_hidden: int, std: float,
                 min_std: float = 1e-4) -> None:
        super().__init__()
        self.encoder = nn.LSTM(features, hidden, num_layers=layers, batch_first=True)
        self.to_posterior = nn.Linear(hidden, 2 * latent)
        self.decoder = nn.LSTM(latent, dec_hidden, batch_first=True)
        self.to_output = nn.LSTM(dec_hidden, features, batch_first=True)
        self.out_scale = nn.Parameter(torch.ones(features))
        self.out_shift = nn.Parameter(torch.zeros(features))
        self.std, self.min_std = std, min_std

    def encode(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        out, _ = self.encoder(x)
        mu, raw = self.to_posterior(out[torch.arange(len(x)), lengths - 1]).chunk(2, -1)
        return mu, F.softplus(raw) + self.min_std

    def forward(self, x: Tensor, lengths: Tensor, mask: Tensor, beta: float = 1.0) -> Tensor:
        mu, std = self.encode(x, lengths)
        z = mu + std * torch.randn_like(mu)
        hidden, _ = self.decoder(z[:, None, :].expand(-1, x.shape[1], -1))
        out, _ = self.to_output(hidden)
        mean = out * self.out_scale + self.out_shift
        recon = (gaussian_log_prob(x, mean, self.std) * mask).sum(1)
        return (-recon + beta * kl_standard_normal(mu, std)).mean()


def build_plain(model: VAE) -> nn.Module:
    c = model.config
    assert c.cell == "lstm" and not c.bidirectional and c.dropout == 0.0 and c.likelihood.kind == "gaussian"
    if model.kind == "vrae":
        assert c.layers == 1 and c.dec_layers == 1 and c.dec_hidden == c.hidden and c.end_of_sequence
        assert c.teacher_forcing == 0.0
        return PlainVRAE(model.features, c.hidden, c.latent_dim, c.likelihood.std, c.min_posterior_std)
    assert model.kind == "stacked-lstm" and c.dec_layers == 1 and not c.end_of_sequence
    return PlainStrokes(model.features, c.hidden, c.layers, c.latent_dim, c.dec_hidden, c.likelihood.std,
                        c.min_posterior_std)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def copy_weights(src: nn.Module, dst: nn.Module) -> None:
    """Copy parameters by registration order, checking every shape."""
    ps, pd = list(src.parameters()), list(dst.parameters())
    assert len(ps) == len(pd), f"{len(ps)} parameter tensors in seqvae vs {len(pd)} in plain"
    with torch.no_grad():
        for a, b in zip(ps, pd):
            assert a.shape == b.shape, f"shape mismatch {tuple(a.shape)} vs {tuple(b.shape)}"
            b.copy_(a)


def check_equivalence(cfg: RunConfig, model: VAE, plain: nn.Module, batch: SequenceBatch) -> dict[str, float]:
    """Same weights, same noise: seqvae's objective and the plain loss must agree."""
    assert n_params(model) == n_params(plain), f"parameters: seqvae {n_params(model)} vs plain {n_params(plain)}"
    copy_weights(model, plain)
    model.train()
    plain.train()
    torch.manual_seed(123)
    ours = Objective(cfg.objective)(model, batch, 0)["loss"].mean().item()
    torch.manual_seed(123)
    theirs = plain(batch.values, batch.lengths, batch.mask, cfg.objective.beta).item()
    rel = abs(ours - theirs) / max(1.0, abs(ours))
    assert rel < 1e-4, f"seqvae loss {ours} != plain loss {theirs}: the plain network does different arithmetic"
    return {"seqvae_loss": ours, "plain_loss": theirs, "rel_diff": rel}


# --------------------------------------------------------------------------- FLOPs


def lstm_flops(inp: int, hidden: int, batch: int) -> int:
    """One LSTM layer, one time step: gates = W_ih x + W_hh h, i.e. 2 * 4H * (I + H) * B FLOPs."""
    return 2 * 4 * hidden * (inp + hidden) * batch


def linear_flops(inp: int, out: int, batch: int) -> int:
    return 2 * inp * out * batch


def model_flops(model: VAE, batch: int, steps: int) -> dict[str, int]:
    """Forward FLOPs of the encoder and of the whole model on one batch of ``steps``-step sequences."""
    c, f = model.config, model.features
    enc = sum(lstm_flops(f if i == 0 else c.hidden, c.hidden, batch) for i in range(c.layers)) * steps
    enc += linear_flops(c.hidden, 2 * c.latent_dim, batch)
    if model.kind == "vrae":
        h = c.dec_hidden
        dec = linear_flops(c.latent_dim, 2 * h, batch)  # z -> (h0, c0)
        dec += (lstm_flops(f, h, batch) + linear_flops(h, model.head.num_params, batch) + linear_flops(h, 1, batch)) * steps
    else:
        h, p = c.dec_hidden, model.head.num_params
        dec = (lstm_flops(c.latent_dim, h, batch) + lstm_flops(h, p, batch)) * steps
    return {"encode_forward": enc, "forward": enc + dec, "train_step": 3 * (enc + dec)}


def matmul_peak(n: int, reps: int) -> list[float]:
    """GFLOP/s of ``reps`` float32 ``torch.mm`` calls of two n x n matrices (after one warm-up)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        out.append(2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return out


# --------------------------------------------------------------------------- timed runs


class StepClock(L.Callback):
    """The wall-clock time at the end of every training batch (after the optimiser step)."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self.ends.append(time.perf_counter())


@contextlib.contextmanager
def clock_in_fit(clock: StepClock) -> Iterator[None]:
    """Attach ``clock`` to the Trainer that ``seqvae.training.fit`` builds (restored afterwards)."""
    original = seqvae_training.build_trainer

    def build(*args: Any, **kwargs: Any) -> L.Trainer:
        trainer = original(*args, **kwargs)
        trainer.callbacks.append(clock)
        return trainer

    seqvae_training.build_trainer = build
    try:
        yield
    finally:
        seqvae_training.build_trainer = original


def window(ends: list[float], warmup: int, batch: int) -> dict[str, Any]:
    """Throughput over the steps after the first ``warmup``: from the end of step ``warmup`` to the last end."""
    steps = len(ends) - warmup
    seconds = ends[-1] - ends[warmup - 1]
    per_step = [b - a for a, b in zip(ends[:-1], ends[1:])]
    return {"timed_steps": steps, "window_s": seconds, "seq_per_s": steps * batch / seconds,
            "s_per_step": seconds / steps, "step_s": [round(s, 6) for s in per_step]}


def train_seqvae(cfg: RunConfig, bundle: DataBundle, warmup: int) -> dict[str, Any]:
    clock = StepClock()
    with tempfile.TemporaryDirectory() as tmp, clock_in_fit(clock):
        start = time.perf_counter()
        result = fit(cfg, tmp, bundle)
        total = time.perf_counter() - start
    assert result.summary["steps"] == len(clock.ends), (result.summary["steps"], len(clock.ends))
    out = window(clock.ends, warmup, cfg.train.batch_size)
    out.update(fit_total_s=total, fit_fixed_s=total - out["window_s"], steps=len(clock.ends))
    return out


def train_plain(cfg: RunConfig, features: int, batches: list[tuple[Tensor, Tensor, Tensor]], warmup: int) -> dict[str, Any]:
    torch.manual_seed(cfg.seed)
    model = build_plain(build_model(cfg.model, features))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    beta = cfg.objective.beta
    model.train()
    ends = []
    for x, lengths, mask in batches:
        loss = model(x, lengths, mask, beta)
        opt.zero_grad()
        loss.backward()
        opt.step()
        ends.append(time.perf_counter())
    out = window(ends, warmup, len(batches[0][0]))
    out["steps"] = len(ends)
    return out


@torch.no_grad()
def encode_seqvae(model: VAE, batches: list[SequenceBatch]) -> dict[str, Any]:
    model.eval()
    model.encode(batches[0])
    start = time.perf_counter()
    for batch in batches:
        model.encode(batch)
    seconds = time.perf_counter() - start
    n = sum(len(b) for b in batches)
    return {"batches": len(batches), "seconds": seconds, "seq_per_s": n / seconds}


@torch.no_grad()
def encode_plain(model: nn.Module, batches: list[tuple[Tensor, Tensor, Tensor]]) -> dict[str, Any]:
    model.eval()
    model.encode(batches[0][0], batches[0][1])
    start = time.perf_counter()
    for x, lengths, _ in batches:
        model.encode(x, lengths)
    seconds = time.perf_counter() - start
    n = sum(len(b[0]) for b in batches)
    return {"batches": len(batches), "seconds": seconds, "seq_per_s": n / seconds}


# --------------------------------------------------------------------------- main


def cpu_info() -> dict[str, Any]:
    info: dict[str, Any] = {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["model_name"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(AttributeError, RuntimeError):
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    return info


def bench_setup(setup: Setup, args: argparse.Namespace) -> dict[str, Any]:
    cfg = run_config(setup)
    values = make_sequences(setup.steps * setup.batch, setup.length, setup.features, seed=setup.steps)
    bundle = make_bundle(values)
    ds = bundle.train
    seq_batches = [ds.__getitems__(list(range(i, i + setup.batch))) for i in range(0, len(ds), setup.batch)]
    plain_batches = [(b.values, b.lengths, b.mask) for b in seq_batches]

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, setup.features)
    plain = build_plain(model)
    equivalence = check_equivalence(cfg, model, plain, seq_batches[0])
    flops = model_flops(model, setup.batch, setup.length)

    runs: dict[str, list[dict[str, Any]]] = {"train_seqvae": [], "train_plain": [], "encode_seqvae": [], "encode_plain": []}
    for r in range(args.repeats):
        order = ("plain", "seqvae") if r % 2 == 0 else ("seqvae", "plain")
        for side in order:
            if side == "plain":
                runs["train_plain"].append(train_plain(cfg, setup.features, plain_batches, args.warmup))
            else:
                runs["train_seqvae"].append(train_seqvae(cfg, bundle, args.warmup))
        for side in order:
            if side == "plain":
                runs["encode_plain"].append(encode_plain(plain, plain_batches))
            else:
                runs["encode_seqvae"].append(encode_seqvae(model, seq_batches))
        print(f"  {setup.name} repeat {r + 1}/{args.repeats}: train seq/s seqvae "
              f"{runs['train_seqvae'][-1]['seq_per_s']:.1f} plain {runs['train_plain'][-1]['seq_per_s']:.1f}", flush=True)

    med = {k: statistics.median(x["seq_per_s"] for x in v) for k, v in runs.items()}
    return {
        "config": setup.name, "preset": setup.preset, "model_overrides": setup.model_overrides,
        "features": setup.features, "length": setup.length, "batch_size": setup.batch, "steps": setup.steps,
        "warmup_steps": args.warmup, "parameters": n_params(model), "equivalence": equivalence,
        "flops": flops,
        "train_seqvae_seq_per_s": med["train_seqvae"], "train_plain_seq_per_s": med["train_plain"],
        "train_ratio": med["train_seqvae"] / med["train_plain"],
        "encode_seqvae_seq_per_s": med["encode_seqvae"], "encode_plain_seq_per_s": med["encode_plain"],
        "encode_ratio": med["encode_seqvae"] / med["encode_plain"],
        "train_gflops_seqvae": flops["train_step"] * med["train_seqvae"] / setup.batch / 1e9,
        "train_gflops_plain": flops["train_step"] * med["train_plain"] / setup.batch / 1e9,
        "encode_gflops_seqvae": flops["encode_forward"] * med["encode_seqvae"] / setup.batch / 1e9,
        "encode_gflops_plain": flops["encode_forward"] * med["encode_plain"] / setup.batch / 1e9,
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per side (default 3; 1 with --quick)")
    parser.add_argument("--steps", type=int, nargs="+", default=None,
                        help="training steps per timed run: one value for both configs, or one per config "
                             "(default 200 16; 8 4 with --quick)")
    parser.add_argument("--warmup", type=int, default=2, help="first training steps of each run left out of the window")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads for everything (default: torch's)")
    parser.add_argument("--mm-size", type=int, default=None, help="square matmul for the peak (default 2048; 256 with --quick)")
    parser.add_argument("--quick", action="store_true", help="tiny networks and few steps: a smoke run")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/throughput.json"))
    args = parser.parse_args()
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.mm_size is None:
        args.mm_size = 256 if args.quick else 2048
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    all_setups = setups(args)
    for s in all_setups:
        if s.steps <= args.warmup:
            parser.error(f"--steps must exceed --warmup ({args.warmup}) for every config")
    # fit() (train.deterministic, default true) switches this on and leaves it on: same state for both sides
    torch.use_deterministic_algorithms(run_config(all_setups[0]).train.deterministic)

    load_before = os.getloadavg()
    peak_runs = matmul_peak(args.mm_size, 5)  # before and after the model runs; the best counts
    rows = [bench_setup(s, args) for s in all_setups]
    peak_runs += matmul_peak(args.mm_size, 5)
    peak = max(peak_runs)
    for r in rows:
        for what in ("train", "encode"):
            for side in ("seqvae", "plain"):
                r[f"{what}_pct_peak_{side}"] = 100.0 * r[f"{what}_gflops_{side}"] / peak

    print()
    print(f"float32 matmul peak ({args.mm_size}x{args.mm_size} torch.mm, {torch.get_num_threads()} threads): {peak:.1f} GFLOP/s")
    print()
    print("| config | train seqvae seq/s | train plain seq/s | train ratio | encode seqvae seq/s | encode plain seq/s "
          "| encode ratio | train % peak seqvae / plain | encode % peak seqvae / plain |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['train_seqvae_seq_per_s']:.1f} | {r['train_plain_seq_per_s']:.1f} | {r['train_ratio']:.2f} "
              f"| {r['encode_seqvae_seq_per_s']:.0f} | {r['encode_plain_seq_per_s']:.0f} | {r['encode_ratio']:.2f} "
              f"| {r['train_pct_peak_seqvae']:.1f} / {r['train_pct_peak_plain']:.1f} "
              f"| {r['encode_pct_peak_seqvae']:.1f} / {r['encode_pct_peak_plain']:.1f} |")
    report = {
        "torch": torch.__version__, "lightning": L.__version__, "python": platform.python_version(),
        "platform": platform.platform(), "cpu": cpu_info(), "threads": torch.get_num_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
        "repeats": args.repeats, "warmup_steps": args.warmup, "quick": args.quick,
        "timing": "window from the end of training step `warmup` to the end of the last step (Lightning Callback "
                  "on_train_batch_end for seqvae, clock after opt.step() for plain); fit's fixed cost in fit_fixed_s",
        "flop_formula": "LSTM layer per step 2*4H*(I+H)*B, Linear 2*in*out*B, train step = 3 x forward",
        "matmul_peak": {"size": args.mm_size, "gflops": peak, "runs_gflops": peak_runs},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
