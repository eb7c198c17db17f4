"""Training overhead of seqvae per epoch, against a plain PyTorch loop and (optionally) Pythae 0.1.2.

Two models, each trained for whole epochs on data held in memory:

* ``mlp``: the MLP VAE on scikit-learn's 8x8 digits (``load_digits``, pixels binarised at >= 8 of
  16), 64 -> 256 -> 256 -> 8-d latent and back, Bernoulli likelihood, batch 64, Adam (lr 1e-3),
  β = 1 without annealing; split 70 / 10 / 20 % (train / val / test, split seed 0 on every seed).
* ``vrae``: the VRAE of the basketball experiment (``src/seqvae/domains/basketball/basketball.yaml``
  as shipped: bidirectional LSTM-64 encoder, 2-d latent, Gaussian std 0.05,
  length-bucketed batches of 64, lr 3e-3, gradient clipping 1.0, linear KL warm-up), 3000 simulated
  shots (data seed 0 on every seed), 10 epochs instead of the config's 40 (epoch time does not
  depend on how many epochs run).

Sides (seqvae and plain start from the same initial weights for a given seed):

* ``seqvae``: :func:`seqvae.training.fit`, the path ``seqvae train --no-progress`` takes: Lightning
  Trainer, DataLoader, per-epoch validation (means, active units), CSV logging, one progress line per
  epoch, best + last checkpoints (kept in memory after every epoch and written at most every
  ``train.checkpoint_every_seconds``, default 30 s, and at the end; ``--checkpoint-every 0`` writes them
  after every epoch as before), best weights reloaded and exported as safetensors at the end.
* ``plain``: a hand-written loop over the *same* ``nn.Module`` (so the arithmetic is identical and
  only the training machinery differs): batches sliced from the in-memory tensors (a ``randperm``
  per epoch; :class:`LengthBucketSampler` index lists for the VRAE, the batches seqvae's loader
  makes), ``Objective`` for the loss, ``zero_grad`` / ``backward`` / ``clip_grad_norm_`` (when
  the config clips) / ``Adam.step``, and one pass of the same objective over the validation split
  at the end of every epoch (seqvae validates every epoch too). No checkpoints, no logging.
* ``pythae`` (MLP only, when ``pythae`` is importable: ``pip install pythae==0.1.2``, extra
  ``benchmark``): Pythae's ``TrainingPipeline`` with a ``pythae.models.VAE`` whose encoder and
  decoder are the same layer sizes (its encoder gives log-variance, seqvae's a softplus std;
  BCE reconstruction), same batch size, epochs, Adam and learning rate, the validation split as
  ``eval_data``, Pythae's defaults otherwise (keeps the best model by a deepcopy, tqdm bars, which
  go to /dev/null here, final model saved).

Epoch time: wall-clock seconds from the start of one epoch to the start of the next (so
everything each epoch does, validation and checkpoints included, is in), taken by a Lightning
callback, a Pythae callback and the plain loop itself; the first epoch (warm-up) is left out and
the median of the rest is the side's epoch time. ``fit_s`` (whole call, set-up and export
included) is reported too. Sides alternate within each seed and the order flips from seed to seed.
Ratios are of medians over seeds; ``ratio_vs_plain`` = seqvae / plain, ``ratio_vs_pythae`` =
seqvae / pythae (below 1 means seqvae is faster).

NLL: test-split importance-sampled negative log-likelihood, nats per example, with seqvae's
estimator :func:`seqvae.objectives.importance_log_likelihood` (K samples from q(z|x)) on each
side's trained network: seqvae's best-validation weights, the plain loop's last weights, Pythae's
best model (wrapped so the same estimator runs on it). K = 1000 on the whole MLP test split; the
VRAE's K = 1000 estimate costs about half a second per sequence on one core, so it scores the first
64 test sequences (``--vrae-nll-limit``), in the model's standardised units.

Defaults: seeds 0 1 2, MLP 50 epochs, VRAE 10 epochs. ``--quick``: seed 0, MLP 8 epochs, VRAE 3 epochs
on 600 shots, K = 100 (MLP) and 20 on 32 sequences (VRAE): a smoke run of every path, not a measurement.

``--profile`` additionally runs seqvae's fit and the plain loop on the MLP under cProfile and
reports milliseconds per training step by phase (data loading, forward + loss, backward, optimiser,
the non-finite-step guard, epoch means, checkpoints, logging, Lightning's remaining loop and hooks);
cProfile inflates Python-heavy code, so compare the two sides' phases, not absolute times.
``--ablate`` times the MLP (no profiler) under ``fit`` with its parts switched off one at a time by
monkeypatching (the non-finite guard, checkpoints, the CSV logger, every ``self.log`` but the
monitored ``val/loss``), a bare LightningModule + Trainer (automatic and manual optimisation), and
the plain loop with and without seqvae's DataLoader: the differences are milliseconds per step
that each part costs.

    python benchmarks/overhead.py --profile --ablate   # writes benchmarks/results/overhead.json
    python benchmarks/overhead.py --quick --json /tmp/overhead.json
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib
import importlib.util
import json
import logging
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Bernoulli, Independent

sys.path.insert(0, str(Path(__file__).parent))
import throughput as tp  # noqa: E402  (cpu_info, clock_in_fit)

from seqvae.config import RunConfig  # noqa: E402
from seqvae.data.batch import Batch  # noqa: E402
from seqvae.data.prepare import DataBundle, bundle_arrays
from seqvae.data.sequences import LengthBucketSampler  # noqa: E402
from seqvae.data.sources import load_data  # noqa: E402
from seqvae.distributions import diagonal_gaussian  # noqa: E402
from seqvae.models import build_model  # noqa: E402
from seqvae.models.base import VAE  # noqa: E402
from seqvae.objectives import Objective, importance_log_likelihood  # noqa: E402
from seqvae.runconfig import load_run_config
from seqvae.training import fit, make_optimizer  # noqa: E402

HAVE_PYTHAE = importlib.util.find_spec("pythae") is not None  # optional: pip install "seqvae[benchmark]"


# --------------------------------------------------------------------------- data and configs


def digits_bundle() -> DataBundle:
    from sklearn.datasets import load_digits

    digits = load_digits()
    values = (digits.data >= 8).astype(np.float32)
    return bundle_arrays(values, {"digit": digits.target}, val_fraction=0.1, test_fraction=0.2, normalize=False, seed=0)


CHECKPOINT_EVERY: float | None = None  # --checkpoint-every: train.checkpoint_every_seconds (None: the default)


def mlp_config(seed: int, epochs: int, batch: int) -> RunConfig:
    train = {"max_epochs": epochs, "batch_size": batch, "lr": 1e-3, "optimizer": "adam", "progress_bar": False}
    if CHECKPOINT_EVERY is not None:
        train["checkpoint_every_seconds"] = CHECKPOINT_EVERY
    return load_run_config(base={
        "seed": seed,
        "model": {"kind": "mlp", "latent_dim": 8, "hidden": [256, 256], "likelihood": {"kind": "bernoulli"}},
        "objective": {"kind": "elbo", "beta": 1.0, "anneal": {"kind": "constant"}},
        "train": train,
    })


def vrae_config(seed: int, epochs: int, shots: int) -> RunConfig:
    extra = [] if CHECKPOINT_EVERY is None else [f"train.checkpoint_every_seconds={CHECKPOINT_EVERY}"]
    return load_run_config("basketball", [f"seed={seed}", f"train.max_epochs={epochs}", "train.progress_bar=false",
                                          f"data.params.n={shots}", *extra])


def vrae_bundle(shots: int) -> DataBundle:
    cfg = vrae_config(0, 1, shots)
    return load_data(cfg.data, 0, sequences=True)


# --------------------------------------------------------------------------- timing helpers


def epoch_seconds(starts: list[float], end: float | None = None) -> list[float]:
    """Durations of the epochs that started at ``starts`` (the last one needs ``end``)."""
    marks = [*starts, end] if end is not None else starts
    return [b - a for a, b in zip(marks[:-1], marks[1:])]


def steady(durations: list[float]) -> float:
    """Median epoch time without the first (warm-up) epoch when there are at least two."""
    return statistics.median(durations[1:] if len(durations) > 1 else durations)


class EpochClock(L.Callback):
    """Wall-clock time at the start of every training epoch."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.cpu_starts: list[float] = []  # process CPU time: what a loaded, shared machine inflates least

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.starts.append(time.perf_counter())
        self.cpu_starts.append(time.process_time())


def train_seqvae(cfg: RunConfig, bundle: DataBundle) -> dict[str, Any]:
    clock = EpochClock()
    with tempfile.TemporaryDirectory() as tmp, tp.clock_in_fit(clock):
        start = time.perf_counter()
        result = fit(cfg, tmp, bundle)
        end = time.perf_counter()
    # the last epoch ends somewhere in fit's tear-down (checkpoint reload, export): left out
    durations = epoch_seconds(clock.starts)
    return {"model": result.model, "steps": result.summary["steps"], "fit_s": end - start,
            "epoch_s_all": durations, "epoch_s": steady(durations), "epoch_cpu_s": steady(epoch_seconds(clock.cpu_starts))}


def train_batches(bundle: DataBundle, cfg: RunConfig, sequences: bool) -> Callable[[int], list[list[int]]]:
    """The index lists of each epoch's batches: a seeded randperm, or length buckets (as seqvae's loader)."""
    n, size = len(bundle.train), cfg.train.batch_size
    if sequences and cfg.data.sequence.bucket:
        sampler = LengthBucketSampler(bundle.train.lengths, size, cfg.seed)

        def bucketed(epoch: int) -> list[list[int]]:
            sampler.set_epoch(epoch)
            return list(sampler)

        return bucketed

    def shuffled(epoch: int) -> list[list[int]]:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)).tolist()
        return [order[i : i + size] for i in range(0, n, size)]

    return shuffled


def train_plain(cfg: RunConfig, bundle: DataBundle, sequences: bool, loader: bool = False,
                default_adam: bool = False) -> dict[str, Any]:
    """The plain loop; with ``loader`` the training batches come from seqvae's DataLoader instead of
    direct slicing (to tell the DataLoader's cost from the rest of the framework's). Its optimiser is
    seqvae's (:func:`seqvae.training.make_optimizer`: fused Adam), or with ``default_adam`` torch's default
    ``Adam`` implementation, the one Pythae uses (the baseline of Pythae's own overhead)."""
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, bundle.features)
    objective = Objective(cfg.objective)
    if default_adam:
        opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    else:
        opt = make_optimizer(cfg.train, model.parameters())
    clip = cfg.train.gradient_clip
    batches = train_batches(bundle, cfg, sequences)
    if loader:
        from seqvae.data.arrays import make_loader

        data_loader = make_loader(bundle.train, cfg.train.batch_size, True, cfg.seed)
    train, val, eval_size = bundle.train, bundle.val, cfg.eval.batch_size
    val_batches = [list(range(i, min(i + eval_size, len(val)))) for i in range(0, len(val), eval_size)]
    params = list(model.parameters())
    starts, cpu_starts, step = [], [], 0
    for epoch in range(cfg.train.max_epochs):
        starts.append(time.perf_counter())
        cpu_starts.append(time.process_time())
        model.train()
        for batch in (data_loader if loader else map(train.__getitems__, batches(epoch))):
            model.on_train_step(step)  # as VAEModule.training_step (scheduled sampling)
            loss = objective(model, batch, step)["loss"].mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(params, clip)
            opt.step()
            step += 1
        model.eval()
        with torch.no_grad():
            for idx in val_batches:
                objective(model, val.__getitems__(idx), step)["loss"].mean()
    end = time.perf_counter()
    model.eval()
    durations = epoch_seconds(starts)  # same definition as seqvae's: the last epoch is left out
    return {"model": model, "steps": step, "fit_s": end - start, "epoch_s_all": durations, "epoch_s": steady(durations),
            "epoch_cpu_s": steady(epoch_seconds(cpu_starts))}


# --------------------------------------------------------------------------- Pythae (optional)


class PythaeAsSeqvae(VAE):
    """A trained Pythae VAE seen through seqvae's model protocol, so seqvae's estimator can score it."""

    def __init__(self, pmodel: Any, features: int, latent_dim: int) -> None:
        super().__init__(SimpleNamespace(latent_dim=latent_dim), features)
        self.pmodel = pmodel

    def encode(self, batch: Batch) -> Any:
        out = self.pmodel.encoder(batch.values)
        return diagonal_gaussian(out.embedding, torch.exp(0.5 * out.log_covariance))

    def decode(self, z: Tensor, batch: Batch | None = None) -> Any:
        return Independent(Bernoulli(logits=self.pmodel.decoder.net(z), validate_args=False), 1)


def pythae_model(features: int, hidden: list[int], latent: int) -> Any:
    from pythae.models import VAE as PythaeVAE
    from pythae.models import VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    from seqvae.models.mlp import mlp

    class Encoder(BaseEncoder):
        def __init__(self) -> None:
            super().__init__()
            self.body = mlp([features, *hidden], "relu", final_activation=True)
            self.embedding = nn.Linear(hidden[-1], latent)
            self.log_var = nn.Linear(hidden[-1], latent)

        def forward(self, x: Tensor) -> Any:
            h = self.body(x.reshape(len(x), -1))
            return ModelOutput(embedding=self.embedding(h), log_covariance=self.log_var(h))

    class Decoder(BaseDecoder):
        def __init__(self) -> None:
            super().__init__()
            self.net = mlp([latent, *hidden[::-1], features], "relu")

        def forward(self, z: Tensor) -> Any:
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)))

    config = VAEConfig(input_dim=(features,), latent_dim=latent, reconstruction_loss="bce")
    return PythaeVAE(config, encoder=Encoder(), decoder=Decoder())


def train_pythae(cfg: RunConfig, bundle: DataBundle) -> dict[str, Any]:
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    class Clock(TrainingCallback):
        def __init__(self) -> None:
            self.starts: list[float] = []
            self.cpu_starts: list[float] = []

        def on_epoch_begin(self, training_config: Any, **kwargs: Any) -> None:
            self.starts.append(time.perf_counter())
            self.cpu_starts.append(time.process_time())

    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    model = pythae_model(bundle.features, list(cfg.model["hidden"]), int(cfg.model["latent_dim"]))
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
        config = BaseTrainerConfig(
            output_dir=tmp, per_device_train_batch_size=cfg.train.batch_size,
            per_device_eval_batch_size=cfg.eval.batch_size, num_epochs=cfg.train.max_epochs,
            learning_rate=cfg.train.lr, optimizer_cls="Adam", seed=cfg.seed, no_cuda=True,
        )
        pipeline = TrainingPipeline(model=model, training_config=config)
        pipeline(train_data=bundle.train.values, eval_data=bundle.val.values, callbacks=[clock])
        best = pipeline.trainer._best_model
    end = time.perf_counter()
    best.eval()
    durations = epoch_seconds(clock.starts)
    return {"model": PythaeAsSeqvae(best, bundle.features, int(cfg.model["latent_dim"])), "steps": None,
            "fit_s": end - start, "epoch_s_all": durations, "epoch_s": steady(durations),
            "epoch_cpu_s": steady(epoch_seconds(clock.cpu_starts))}


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def test_nll(model: VAE, dataset: Any, k: int, batch_size: int, limit: int | None, seed: int = 0) -> float:
    """Mean importance-sampled -log p(x) over (the first ``limit`` of) ``dataset``, seqvae's estimator."""
    model.eval()
    n = len(dataset) if limit is None else min(limit, len(dataset))
    state = torch.get_rng_state()
    torch.manual_seed(seed)
    total = 0.0
    try:
        for start in range(0, n, batch_size):
            batch = dataset.__getitems__(list(range(start, min(start + batch_size, n))))
            total += float(importance_log_likelihood(model, batch, k).sum())
    finally:
        torch.set_rng_state(state)
    return -total / n


# --------------------------------------------------------------------------- profile


PHASES: list[tuple[str, list[tuple[str, str]]]] = [
    # (phase, [(file suffix, function name)]): cumulative times are summed over the listed functions
    ("data loading + collation (train + val)", [("torch/utils/data/dataloader.py", "__next__"),
                                                ("seqvae/data/arrays.py", "__getitems__")]),
    ("forward + loss (Objective)", [("seqvae/objectives.py", "__call__")]),
    ("backward", [("torch/autograd/__init__.py", "backward")]),
    ("optimizer (Adam update)", [("torch/optim/adam.py", "adam")]),
    ("zero_grad", [("torch/optim/optimizer.py", "zero_grad")]),
    ("non-finite guard (on_before_optimizer_step)", [("seqvae/training.py", "on_before_optimizer_step")]),
    ("epoch means (_EpochMeans.add)", [("seqvae/training.py", "add")]),
    ("checkpoints (save_checkpoint)", [("lightning/pytorch/trainer/trainer.py", "save_checkpoint")]),
    ("logging (log/log_dict, logger writes)", [("lightning/pytorch/core/module.py", "log"),
                                               ("lightning/pytorch/core/module.py", "log_dict"),
                                               ("lightning/pytorch/loggers/csv_logs.py", "log_metrics"),
                                               ("lightning/fabric/loggers/csv_logs.py", "save")]),
]


def _key_of(stats: pstats.Stats, suffix: str, name: str) -> list[tuple[str, int, str]]:
    return [k for k in stats.stats if k[2] == name and k[0].replace(os.sep, "/").endswith(suffix)]  # type: ignore[attr-defined]


def _phase_seconds(stats: pstats.Stats, funcs: list[tuple[str, str]]) -> float:
    """Cumulative seconds in ``funcs``, counting only calls that do not come from another of ``funcs``
    (log_dict calls log, DataLoader.__next__ calls __getitems__: neither is counted twice)."""
    keys = {k for f in funcs for k in _key_of(stats, *f)}
    total = 0.0
    for key in keys:
        _, _, _, ct, callers = stats.stats[key]  # type: ignore[attr-defined]
        if not callers:
            total += ct
            continue
        total += sum(c[3] for caller, c in callers.items() if caller not in keys)
    return total


def profile_phases(run: Callable[[], Any], steps_of: Callable[[Any], int], loop: tuple[str, str]) -> dict[str, Any]:
    """cProfile ``run()``; milliseconds per training step by phase. Phases do not nest: data loading is
    outside forward, the guard, means, checkpoints and logging are outside forward and backward, and the
    optimizer phase is the update itself (Lightning runs the closure inside ``Adam.step``)."""
    prof = cProfile.Profile()
    prof.enable()
    out = run()
    prof.disable()
    stats = pstats.Stats(prof)
    steps = steps_of(out)
    loop_s = _phase_seconds(stats, [loop])
    rows, known = {}, 0.0
    for phase, funcs in PHASES:
        seconds = _phase_seconds(stats, funcs)
        if seconds > 0:
            rows[phase] = 1e3 * seconds / steps
            known += seconds
    rows["rest of the training loop (hooks, loop machinery)"] = 1e3 * (loop_s - known) / steps
    return {"steps": steps, "loop_s": loop_s, "ms_per_step": rows, "loop_ms_per_step": 1e3 * loop_s / steps,
            "top_functions": top_functions(stats)}


def top_functions(stats: pstats.Stats, n: int = 25) -> list[dict[str, Any]]:
    """The ``n`` functions with the largest own time."""
    items = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:n]  # type: ignore[attr-defined]
    return [{"function": f"{Path(k[0]).name}:{k[1]}:{k[2]}", "calls": v[1], "tottime_s": round(v[2], 4),
             "cumtime_s": round(v[3], 4)} for k, v in items]


def run_profile(args: argparse.Namespace, bundle: DataBundle) -> dict[str, Any]:
    cfg = mlp_config(0, args.profile_epochs, args.batch)
    seqvae = profile_phases(lambda: train_seqvae(cfg, bundle), lambda r: r["steps"],
                            ("lightning/pytorch/loops/fit_loop.py", "run"))
    plain = profile_phases(lambda: train_plain(cfg, bundle, False), lambda r: r["steps"],
                           ("benchmarks/overhead.py", "train_plain"))
    return {"model": "mlp", "epochs": args.profile_epochs, "seqvae": seqvae, "plain": plain,
            "note": "cProfile inflates Python-heavy code (Lightning's loop) more than torch kernels; "
                    "compare phases between the two sides, not with the unprofiled epoch times"}


# --------------------------------------------------------------------------- ablation


@contextlib.contextmanager
def ablated(guard: bool = True, checkpoints: bool = True, logger: bool = True, metrics: bool = True) -> Iterator[None]:
    """``seqvae.training.fit`` with parts of its per-epoch/per-step work switched off (restored afterwards):
    the non-finite-step guard, the checkpoint callback, the CSV logger, and (``metrics``) every
    ``self.log`` but the monitored ``val/loss``."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    import seqvae.training as st

    build_original, guard_original = st.build_trainer, st.VAEModule.on_before_optimizer_step
    log_original = st.VAEModule.log

    def build(*a: Any, **kw: Any) -> L.Trainer:
        trainer = build_original(*a, **kw)
        if not checkpoints:
            trainer.callbacks[:] = [c for c in trainer.callbacks if not isinstance(c, ModelCheckpoint)]
        if not logger:
            trainer.loggers = []
        return trainer

    st.build_trainer = build
    if not guard:
        st.VAEModule.on_before_optimizer_step = lambda self, optimizer: None  # type: ignore[method-assign]
    if not metrics:  # log_dict goes through log

        def log_monitored_only(self: Any, name: str, value: Any, *a: Any, **kw: Any) -> None:
            if name == "val/loss":
                log_original(self, name, value, *a, **kw)

        st.VAEModule.log = log_monitored_only  # type: ignore[method-assign]
    try:
        yield
    finally:
        st.build_trainer = build_original
        st.VAEModule.on_before_optimizer_step = guard_original  # type: ignore[method-assign]
        st.VAEModule.log = log_original  # type: ignore[method-assign]


class BareModule(L.LightningModule):
    """The least a LightningModule can be: the objective's loss, nothing logged or checked; with
    ``manual`` Lightning's automatic optimisation (closure, its hooks) is off and the step does
    zero_grad / manual_backward / step itself."""

    def __init__(self, model: VAE, cfg: RunConfig, manual: bool = False) -> None:
        super().__init__()
        self.model, self.objective, self.lr = model, Objective(cfg.objective), cfg.train.lr
        self.automatic_optimization = not manual

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss = self.objective(self.model, batch, self.global_step)["loss"].mean()
        if not self.automatic_optimization:
            opt = self.optimizers()
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self.objective(self.model, batch, self.global_step)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return make_optimizer(SimpleNamespace(optimizer="adam", lr=self.lr, weight_decay=0.0), self.model.parameters())


def train_bare_lightning(cfg: RunConfig, bundle: DataBundle, manual: bool = False) -> dict[str, Any]:
    from seqvae.data.arrays import make_loader

    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    module = BareModule(build_model(cfg.model, bundle.features), cfg, manual)
    clock = EpochClock()
    trainer = L.Trainer(max_epochs=cfg.train.max_epochs, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, deterministic=True, callbacks=[clock])
    trainer.fit(module, make_loader(bundle.train, cfg.train.batch_size, True, cfg.seed),
                make_loader(bundle.val, cfg.eval.batch_size, False))
    durations = epoch_seconds(clock.starts)
    return {"steps": trainer.global_step, "fit_s": time.perf_counter() - start, "epoch_s_all": durations,
            "epoch_s": steady(durations), "epoch_cpu_s": steady(epoch_seconds(clock.cpu_starts))}


ABLATIONS: dict[str, Callable[[RunConfig, DataBundle], dict[str, Any]]] = {}


def _fit_variant(**off: bool) -> Callable[[RunConfig, DataBundle], dict[str, Any]]:
    def run(cfg: RunConfig, bundle: DataBundle) -> dict[str, Any]:
        with ablated(**off):
            out = train_seqvae(cfg, bundle)
        out.pop("model")
        return out

    return run


ABLATIONS.update({
    "fit (as shipped)": _fit_variant(),
    "fit, no non-finite guard": _fit_variant(guard=False),
    "fit, no checkpoints": _fit_variant(checkpoints=False),
    "fit, no CSV logger": _fit_variant(logger=False),
    "fit, only val/loss through self.log": _fit_variant(metrics=False),
    "fit, none of these four": _fit_variant(guard=False, checkpoints=False, logger=False, metrics=False),
    "Lightning, bare module and trainer": train_bare_lightning,
    "Lightning, bare, manual optimization": lambda cfg, bundle: train_bare_lightning(cfg, bundle, manual=True),
    "plain loop + seqvae's DataLoader": lambda cfg, bundle: {k: v for k, v in train_plain(cfg, bundle, False, True).items()
                                                             if k != "model"},
    "plain loop": lambda cfg, bundle: {k: v for k, v in train_plain(cfg, bundle, False).items() if k != "model"},
})


def run_ablation(args: argparse.Namespace, bundle: DataBundle) -> dict[str, Any]:
    """Epoch time of the MLP under fit with parts switched off, Lightning bare, and the plain loop;
    every variant once per repeat, the order rotating."""
    cfg = mlp_config(0, args.ablate_epochs, args.batch)
    names = list(ABLATIONS)
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for r in range(args.ablate_repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            runs[name].append(ABLATIONS[name](cfg, bundle))
    steps = runs["plain loop"][0]["steps"] // args.ablate_epochs
    # process CPU time per epoch: on a shared machine wall time mostly measures the other jobs
    med = {n: statistics.median(x["epoch_cpu_s"] for x in v) for n, v in runs.items()}
    full = med["fit (as shipped)"]
    return {
        "model": "mlp", "epochs": args.ablate_epochs, "repeats": args.ablate_repeats, "steps_per_epoch": steps,
        "epoch_ms": {n: 1e3 * v for n, v in med.items()},
        "ms_per_step": {n: 1e3 * v / steps for n, v in med.items()},
        "saved_ms_per_step_vs_fit": {n: 1e3 * (full - v) / steps for n, v in med.items()},
        "ratio_vs_plain": {n: v / med["plain loop"] for n, v in med.items()},
        "wall_epoch_ms": {n: 1e3 * statistics.median(x["epoch_s"] for x in v) for n, v in runs.items()},
        "runs": {n: [x["epoch_cpu_s"] for x in v] for n, v in runs.items()},
    }


def print_ablation(ab: dict[str, Any]) -> None:
    print(f"\nAblation (mlp, {ab['epochs']} epochs x {ab['repeats']} repeats, {ab['steps_per_epoch']} steps/epoch): "
          "median epoch CPU time")
    print("| variant | epoch CPU ms | CPU ms per step | saved vs fit, ms/step | vs plain |")
    print("|---|---|---|---|---|")
    for n in ab["epoch_ms"]:
        print(f"| {n} | {ab['epoch_ms'][n]:.1f} | {ab['ms_per_step'][n]:.2f} | {ab['saved_ms_per_step_vs_fit'][n]:.2f} "
              f"| {ab['ratio_vs_plain'][n]:.2f} |")


# --------------------------------------------------------------------------- main


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    if HAVE_PYTHAE:  # its modules log every epoch at INFO through handlers of their own
        for module in ("pythae.pipelines.training", "pythae.trainers.training_callbacks"):
            importlib.import_module(module)
    names = ["lightning.pytorch", "lightning.fabric",
             *(n for n in logging.root.manager.loggerDict if n.startswith("pythae"))]
    levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            for n, level in levels.items():
                logging.getLogger(n).setLevel(level)


def bench_model(name: str, args: argparse.Namespace, bundle: DataBundle) -> dict[str, Any]:
    sides = ["seqvae", "plain"] + (["plain_default_adam", "pythae"] if name == "mlp" and args.pythae else [])
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    for r, seed in enumerate(args.seeds):
        if name == "mlp":
            cfg = mlp_config(seed, args.mlp_epochs, args.batch)
            k, limit = args.k, None
        else:
            cfg = vrae_config(seed, args.vrae_epochs, args.shots)
            k, limit = args.vrae_k, args.vrae_nll_limit
        order = sides if r % 2 == 0 else sides[::-1]
        for side in order:
            if side == "seqvae":
                out = train_seqvae(cfg, bundle)
            elif side == "plain":
                out = train_plain(cfg, bundle, name == "vrae")
            elif side == "plain_default_adam":
                out = train_plain(cfg, bundle, name == "vrae", default_adam=True)
            else:
                out = train_pythae(cfg, bundle)
            t0 = time.perf_counter()
            out["nll"] = test_nll(out.pop("model"), bundle.test, k, 64, limit, seed=seed)
            out["nll_s"] = time.perf_counter() - t0
            out["seed"] = seed
            runs[side].append(out)
            print(f"  {name} seed {seed} {side:6s}: epoch {out['epoch_s'] * 1e3:7.1f} ms (CPU {out['epoch_cpu_s'] * 1e3:7.1f} ms)  "
                  f"fit {out['fit_s']:6.1f} s  "
                  f"NLL {out['nll']:.3f}", flush=True)
    med = {s: statistics.median(x["epoch_s"] for x in v) for s, v in runs.items()}
    cpu = {s: statistics.median(x["epoch_cpu_s"] for x in v) for s, v in runs.items()}
    nll = {s: statistics.median(x["nll"] for x in v) for s, v in runs.items()}
    steps = runs["seqvae"][0]["steps"]
    row: dict[str, Any] = {
        "model": name, "seeds": args.seeds, "train_examples": len(bundle.train), "batch_size": args.batch,
        "epochs": args.mlp_epochs if name == "mlp" else args.vrae_epochs, "steps_per_epoch": steps // (
            args.mlp_epochs if name == "mlp" else args.vrae_epochs),
        "nll_k": args.k if name == "mlp" else args.vrae_k,
        "nll_examples": len(bundle.test) if name == "mlp" or args.vrae_nll_limit is None
        else min(args.vrae_nll_limit, len(bundle.test)),
        "epoch_s": med, "epoch_cpu_s": cpu, "nll": nll, "ratio_vs_plain": med["seqvae"] / med["plain"],
        "ratio_vs_plain_per_seed": [a["epoch_s"] / b["epoch_s"] for a, b in zip(runs["seqvae"], runs["plain"])],
        "runs": runs,
    }
    # the machinery's fixed cost per optimiser step: the side's epoch minus the plain loop's with the same
    # arithmetic (same module, same optimiser implementation), over the steps of an epoch
    row["overhead_ms_per_step"] = (med["seqvae"] - med["plain"]) / row["steps_per_epoch"] * 1e3
    row["overhead_cpu_ms_per_step"] = (cpu["seqvae"] - cpu["plain"]) / row["steps_per_epoch"] * 1e3
    row["ratio_vs_plain_cpu"] = cpu["seqvae"] / cpu["plain"]
    if "pythae" in runs:
        row["ratio_vs_pythae"] = med["seqvae"] / med["pythae"]
        row["nll_gap_vs_pythae"] = nll["seqvae"] - nll["pythae"]
        row["pythae_overhead_ms_per_step"] = (med["pythae"] - med["plain_default_adam"]) / row["steps_per_epoch"] * 1e3
        row["pythae_overhead_cpu_ms_per_step"] = (cpu["pythae"] - cpu["plain_default_adam"]) / row["steps_per_epoch"] * 1e3
        row["ratio_vs_pythae_cpu"] = cpu["seqvae"] / cpu["pythae"]
    return row


def print_table(rows: list[dict[str, Any]]) -> None:
    print("\n| model | side | epoch ms (median) | fit s (median) | test NLL (nats) | vs plain | vs pythae |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        for side, sec in r["epoch_s"].items():
            fit_s = statistics.median(x["fit_s"] for x in r["runs"][side])
            vs_plain = f"{sec / r['epoch_s']['plain']:.2f}"
            vs_pythae = f"{sec / r['epoch_s']['pythae']:.2f}" if "pythae" in r["epoch_s"] else "-"
            print(f"| {r['model']} | {side} | {sec * 1e3:.1f} | {fit_s:.1f} | {r['nll'][side]:.3f} | {vs_plain} | {vs_pythae} |")
        over = f"machinery per step (wall / CPU): seqvae {r['overhead_ms_per_step']:.3f} / {r['overhead_cpu_ms_per_step']:.3f} ms"
        if "pythae_overhead_ms_per_step" in r:
            over += f", Pythae {r['pythae_overhead_ms_per_step']:.3f} / {r['pythae_overhead_cpu_ms_per_step']:.3f} ms"
        print(f"| {r['model']} | {over} | | | | | |")


def print_profile(prof: dict[str, Any]) -> None:
    print(f"\nProfile (cProfile, {prof['model']}, {prof['epochs']} epochs): ms per training step by phase")
    print("| phase | seqvae | plain |")
    print("|---|---|---|")
    phases = list(dict.fromkeys([*prof["seqvae"]["ms_per_step"], *prof["plain"]["ms_per_step"]]))
    for ph in phases:
        a = prof["seqvae"]["ms_per_step"].get(ph, 0.0)
        b = prof["plain"]["ms_per_step"].get(ph, 0.0)
        print(f"| {ph} | {a:.3f} | {b:.3f} |")
    print(f"| **whole training loop** | {prof['seqvae']['loop_ms_per_step']:.3f} | {prof['plain']['loop_ms_per_step']:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one seed, few epochs, small K: a smoke run under a minute")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "overhead.json")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0 1 2 (quick: 0)")
    parser.add_argument("--models", nargs="+", default=["mlp", "vrae"], choices=["mlp", "vrae"])
    parser.add_argument("--batch", type=int, default=64, help="MLP batch size (the VRAE uses its config's)")
    parser.add_argument("--mlp-epochs", type=int, default=None, help="default 50 (quick 8)")
    parser.add_argument("--vrae-epochs", type=int, default=None, help="default 10 (quick 3)")
    parser.add_argument("--shots", type=int, default=None, help="basketball shots simulated (default 3000, quick 600)")
    parser.add_argument("--k", type=int, default=None, help="importance samples for the MLP NLL (default 1000, quick 100)")
    parser.add_argument("--vrae-k", type=int, default=None, help="importance samples for the VRAE NLL (default 1000, quick 20)")
    parser.add_argument("--vrae-nll-limit", type=int, default=None,
                        help="score only the first N test sequences of the VRAE (default 64, quick 32)")
    parser.add_argument("--no-pythae", dest="pythae", action="store_false", help="skip Pythae even if importable")
    parser.add_argument("--profile", action="store_true", help="also cProfile the MLP's seqvae fit and plain loop")
    parser.add_argument("--profile-epochs", type=int, default=15)
    parser.add_argument("--ablate", action="store_true",
                        help="also time the MLP's fit with the guard / checkpoints / CSV logger off, bare Lightning, plain")
    parser.add_argument("--ablate-epochs", type=int, default=30)
    parser.add_argument("--ablate-repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--checkpoint-every", type=float, default=None,
                        help="train.checkpoint_every_seconds of the seqvae side (default: the config's, 30 s; "
                             "0 writes checkpoints after every epoch, as before that setting existed)")
    args = parser.parse_args()
    q = args.quick
    args.seeds = args.seeds if args.seeds is not None else ([0] if q else [0, 1, 2])
    args.mlp_epochs = args.mlp_epochs or (8 if q else 50)
    args.vrae_epochs = args.vrae_epochs or (3 if q else 10)
    args.shots = args.shots or (600 if q else 3000)
    args.k = args.k or (100 if q else 1000)
    args.vrae_k = args.vrae_k or (20 if q else 1000)
    args.vrae_nll_limit = args.vrae_nll_limit or (32 if q else 64)
    args.pythae = args.pythae and HAVE_PYTHAE
    global CHECKPOINT_EVERY
    CHECKPOINT_EVERY = args.checkpoint_every
    torch.set_num_threads(args.threads)
    # Lightning turns this on for train.deterministic (the default) and leaves it on: same for every side
    torch.use_deterministic_algorithms(True)

    rows, profile, ablation = [], None, None
    with quiet():
        for name in args.models:
            bundle = digits_bundle() if name == "mlp" else vrae_bundle(args.shots)
            rows.append(bench_model(name, args, bundle))
        if args.profile:
            profile = run_profile(args, digits_bundle())
        if args.ablate:
            ablation = run_ablation(args, digits_bundle())
    print_table(rows)
    if profile is not None:
        print_profile(profile)
    if ablation is not None:
        print_ablation(ablation)
    versions = {"torch": torch.__version__, "lightning": L.__version__, "python": platform.python_version()}
    if args.pythae:
        from importlib.metadata import version

        versions["pythae"] = version("pythae")
    out = {
        "command": " ".join(["python benchmarks/overhead.py", *sys.argv[1:]]),
        "machine": {**tp.cpu_info(), "platform": platform.platform(), "threads": args.threads,
                    "load_average": os.getloadavg()},
        "versions": versions,
        "pythae_available": HAVE_PYTHAE,
        "ratio_vs_plain": {r["model"]: r["ratio_vs_plain"] for r in rows},
        "ratio_vs_pythae": {r["model"]: r["ratio_vs_pythae"] for r in rows if "ratio_vs_pythae" in r},
        "overhead_ms_per_step": {r["model"]: r["overhead_ms_per_step"] for r in rows},
        "pythae_overhead_ms_per_step": {r["model"]: r["pythae_overhead_ms_per_step"] for r in rows
                                        if "pythae_overhead_ms_per_step" in r},
        "nll": {r["model"]: r["nll"] for r in rows},
        "epoch_s": {r["model"]: r["epoch_s"] for r in rows},
        "acceptance": acceptance(rows),
        "rows": rows,
    }
    if profile is not None:
        out["profile"] = profile
    if ablation is not None:
        out["ablation"] = ablation
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2, default=float) + "\n")
    print(f"\nwrote {args.json}")


def acceptance(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Issue 26 item 1-2: the MLP's machinery per step <= Pythae's and its epoch <= Pythae's, at an NLL
    within 0.1 nats; the VRAE <= 1.05x the plain loop."""
    result: dict[str, Any] = {}
    for r in rows:
        if r["model"] == "vrae":
            result["vrae_vs_plain_le_1.05"] = r["ratio_vs_plain"] <= 1.05
        if "ratio_vs_pythae" in r:
            result[f"{r['model']}_overhead_per_step_le_pythae"] = r["overhead_ms_per_step"] <= r["pythae_overhead_ms_per_step"]
            result[f"{r['model']}_vs_pythae_le_1"] = r["ratio_vs_pythae"] <= 1.0
            # seqvae's NLL no more than 0.1 nats worse (higher) than Pythae's
            result[f"{r['model']}_nll_within_0.1_of_pythae"] = r["nll_gap_vs_pythae"] <= 0.1
    return result


if __name__ == "__main__":
    main()
