"""Typed configuration: one dataclass per component, loaded from YAML, overridable with ``key=value``.

Parsing is strict: an unknown key or a value of the wrong type raises :class:`ConfigError`
naming the dotted key, so a typo in a config never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from seqvae.errors import ConfigError
from seqvae.registry import plugin_modules

T = TypeVar("T")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 floats: ``1e-3`` is a number (YAML 1.1 reads it as a string)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def yaml_load(text: str) -> Any:
    """Parse YAML text safely (no Python objects), reading ``1e-3`` as a float."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against annotation ``tp`` and return it converted (dataclasses, tuples)."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is typing.Union or origin is types.UnionType:
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value not in get_args(tp):
            choices = ", ".join(repr(a) for a in get_args(tp))
            raise ConfigError(f"{key}: expected one of {choices}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return from_dict(tp, value, prefix=key)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{key}: expected {len(args)} items, got {len(value)}")
            return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        out = [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        vt = get_args(tp)[1] if get_args(tp) else Any
        return {str(k): _coerce(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported annotation {tp!r}")  # pragma: no cover - programming error


def from_dict(cls: type[T], data: dict[str, Any] | None, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, refusing unknown keys and wrong types."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or cls.__name__}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(
            f"unknown config key {where}{unknown[0]!s}; valid keys here: {', '.join(sorted(names))}"
        )
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _coerce(value, hints[name], key)
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{prefix or cls.__name__}: {exc}") from exc
    return obj


def to_dict(obj: Any) -> Any:
    """Plain-JSON/YAML form of a (nested) config dataclass."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into a key path and a YAML-parsed value."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value (e.g. model.latent_dim=8)")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({exc})") from exc
    return key.split("."), value


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Return a copy of ``raw`` with each ``key=value`` override set (validated later by parsing)."""
    import copy

    out = copy.deepcopy(raw)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for i, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: {'.'.join(path[: i + 1])} is not a mapping")
            node = child
        node[path[-1]] = value
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections, got {type(data).__name__}")
    return data


# --------------------------------------------------------------------------- components


@dataclass
class AnnealConfig:
    """KL weight schedule: the multiplier applied to ``objective.beta`` at each step."""

    kind: Literal["constant", "linear", "cyclical"] = "constant"
    warmup_steps: int = 1000  # linear: steps from ``start`` to 1
    start: float = 0.0  # linear/cyclical: multiplier at the beginning of a ramp
    cycles: int = 4  # cyclical: number of cycles over ``total_steps``
    total_steps: int = 10000  # cyclical: steps covered by all cycles (then stays at 1)
    ratio: float = 0.5  # cyclical: fraction of each cycle spent ramping up
    # fractions of the whole training run (its optimiser steps); when set they replace warmup_steps /
    # total_steps, so the schedule finishes on any data size
    warmup_fraction: float | None = None  # linear: ramp over this fraction of training
    total_fraction: float | None = None  # cyclical: all cycles within this fraction of training

    def __post_init__(self) -> None:
        if self.warmup_steps < 0 or self.total_steps <= 0 or self.cycles <= 0:
            raise ConfigError("objective.anneal: warmup_steps >= 0, total_steps > 0 and cycles > 0 required")
        if not 0.0 < self.ratio <= 1.0:
            raise ConfigError(f"objective.anneal.ratio must be in (0, 1], got {self.ratio}")
        for name in ("warmup_fraction", "total_fraction"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ConfigError(f"objective.anneal.{name} must be in [0, 1], got {value}")
        if self.total_fraction == 0.0:
            raise ConfigError("objective.anneal.total_fraction must be > 0")


@dataclass
class ObjectiveConfig:
    """Training objective: β-ELBO (optionally with free bits and annealing) or IWAE."""

    kind: Literal["elbo", "iwae"] = "elbo"
    beta: float = 1.0
    free_bits: float = 0.0  # nats per latent dimension (Kingma et al. 2016); 0 disables
    iwae_samples: int = 5  # K for kind=iwae
    anneal: AnnealConfig = field(default_factory=AnnealConfig)

    def __post_init__(self) -> None:
        if self.beta < 0:
            raise ConfigError(f"objective.beta must be >= 0, got {self.beta}")
        if self.free_bits < 0:
            raise ConfigError(f"objective.free_bits must be >= 0, got {self.free_bits}")
        if self.iwae_samples < 1:
            raise ConfigError(f"objective.iwae_samples must be >= 1, got {self.iwae_samples}")


@dataclass
class TrainConfig:
    """What the Lightning Trainer needs; everything else is engineering Lightning already does."""

    max_epochs: int = 20
    max_steps: int = -1
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: Literal["adam", "adamw"] = "adam"
    weight_decay: float = 0.0
    gradient_clip: float | None = None
    early_stopping_patience: int | None = None  # epochs without improvement of the smoothed val/loss
    early_stopping_smoothing: float = 0.0  # EMA weight of past epochs in the early-stopping monitor (0 = raw)
    early_stopping_start: float = 0.0  # fraction of training (its optimiser steps) before which it never stops
    # "data": max_steps (when -1) and early_stopping_patience (when unset) are derived from the data set's
    # size before training (seqvae.defaults) and written into run_config.json as values
    budget: Literal["fixed", "data"] = "fixed"
    lr_schedule: Literal["constant", "cosine", "plateau"] = "constant"  # cosine: to lr*min_lr_fraction over training
    min_lr_fraction: float = 0.01
    lr_warmup_fraction: float = 0.0  # cosine: the lr rises linearly from 0 over this fraction of training first
    max_time: float | None = None  # minutes of wall-clock training; the best checkpoint so far is kept
    accelerator: str = "cpu"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    num_workers: int = 0
    extra_loggers: list[Literal["tensorboard", "mlflow"]] = field(default_factory=list)  # CSV is always written
    progress_bar: bool = True
    deterministic: bool = True
    max_nonfinite_steps: int = 10  # consecutive skipped steps (non-finite loss or gradient) before the run stops
    compile: bool = False  # torch.compile the model's forward (nn.Module.compile: weights and checkpoints unchanged)
    # last.ckpt / best.ckpt are written at most this often (0: every epoch), and always at the end and on
    # Ctrl+C; the states in between are kept in memory, so a kill (SIGKILL, power loss) loses at most this much
    checkpoint_every_seconds: float = 30.0
    # optimiser steps per Lightning iteration: the loader serves groups of this many batches (the same
    # batches in the same order) and the module steps through them, so Lightning's fixed cost per
    # iteration is shared; results do not depend on it. Vector models on one process only (sequence and
    # video models and DDP runs take one step per iteration)
    steps_per_iteration: int = 8

    def __post_init__(self) -> None:
        if self.max_nonfinite_steps < 1:
            raise ConfigError(f"train.max_nonfinite_steps must be >= 1, got {self.max_nonfinite_steps}")
        if self.steps_per_iteration < 1:
            raise ConfigError(f"train.steps_per_iteration must be >= 1, got {self.steps_per_iteration}")
        if self.checkpoint_every_seconds < 0:
            raise ConfigError(f"train.checkpoint_every_seconds must be >= 0, got {self.checkpoint_every_seconds}")
        if self.batch_size < 1:
            raise ConfigError(f"train.batch_size must be >= 1, got {self.batch_size}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        if self.max_epochs < 1 and self.max_steps < 1 and self.budget != "data":
            raise ConfigError("train: set max_epochs >= 1 or max_steps >= 1")
        if not 0.0 <= self.early_stopping_start <= 1.0:
            raise ConfigError(f"train.early_stopping_start must be in [0, 1], got {self.early_stopping_start}")
        if not 0.0 <= self.early_stopping_smoothing < 1.0:
            raise ConfigError(f"train.early_stopping_smoothing must be in [0, 1), got {self.early_stopping_smoothing}")
        if not 0.0 <= self.lr_warmup_fraction < 1.0:
            raise ConfigError(f"train.lr_warmup_fraction must be in [0, 1), got {self.lr_warmup_fraction}")
        if not 0.0 < self.min_lr_fraction <= 1.0:
            raise ConfigError(f"train.min_lr_fraction must be in (0, 1], got {self.min_lr_fraction}")
        if self.max_time is not None and self.max_time <= 0:
            raise ConfigError(f"train.max_time must be > 0 minutes, got {self.max_time}")


@dataclass
class SequenceDataConfig:
    """How sequence data are read and prepared (used when the model reads sequences)."""

    features: list[str] | None = None  # feature columns of a long table (default: all but id, time and labels)
    labels: list[str] = field(default_factory=list)  # per-sequence label columns/arrays kept for analysis
    id_column: str = "sequence_id"
    time_column: str = "t"
    min_length: int = 2  # shorter sequences are refused as errors in the data
    to_absolute: list[int] = field(default_factory=list)  # feature indices holding per-step offsets, summed up
    to_relative: list[int] = field(default_factory=list)  # feature indices turned into per-step offsets (step 0 kept)
    unscaled: list[int] = field(default_factory=list)  # feature indices normalisation leaves as they are (binary flags)
    resample: Literal["none", "linear", "random"] = "none"  # to ``length`` steps; random = source 001's scheme
    length: int | None = None
    bucket: bool = False  # batch sequences of similar length together (less padding)

    def __post_init__(self) -> None:
        if self.min_length < 1:
            raise ConfigError(f"data.sequence.min_length must be >= 1, got {self.min_length}")
        if self.resample != "none" and (self.length is None or self.length < 2):
            raise ConfigError("data.sequence.resample needs data.sequence.length >= 2 (the target number of steps)")
        for name in ("to_absolute", "to_relative", "unscaled"):
            if any(i < 0 for i in getattr(self, name)):
                raise ConfigError(f"data.sequence.{name} holds feature indices, which must be >= 0")
        if set(self.to_absolute) & set(self.to_relative):
            raise ConfigError("a feature cannot be in both data.sequence.to_absolute and data.sequence.to_relative")


@dataclass
class DataConfig:
    """Where the data comes from: a built-in generator (``kind``) or a file (``kind: file``)."""

    kind: str = "file"
    path: str | None = None  # for kind=file: vectors (.npy/.npz/.csv) or sequences (.npz/.csv/.parquet/directory)
    key: str | None = None  # array name inside an .npz (default: the only or first array)
    params: dict[str, Any] = field(default_factory=dict)  # generator arguments
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    normalize: bool = False  # per-feature standardisation fitted on the training split
    sequence: SequenceDataConfig = field(default_factory=SequenceDataConfig)

    def __post_init__(self) -> None:
        if not (0.0 <= self.val_fraction < 1.0 and 0.0 <= self.test_fraction < 1.0):
            raise ConfigError("data.val_fraction and data.test_fraction must be in [0, 1)")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ConfigError("data.val_fraction + data.test_fraction must leave a training split")


@dataclass
class EvalConfig:
    """Sample counts for the evaluation bounds."""

    iwae_samples: int = 64
    ll_samples: int = 1000
    batch_size: int = 256

    def __post_init__(self) -> None:
        if self.iwae_samples < 1 or self.ll_samples < 1 or self.batch_size < 1:
            raise ConfigError("eval: iwae_samples, ll_samples and batch_size must be >= 1")


@dataclass
class RunConfig:
    """Everything that defines a training run; saved next to the weights."""

    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: dict[str, Any] = field(default_factory=lambda: {"kind": "mlp"})
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


CONFIG_DIR = Path(__file__).parent / "configs"


def config_directories() -> list[Path]:
    """Where shipped configs are: the core's generic ones, then each plugin package's directory and its
    sub-packages' (a domain ships ``NAME.yaml`` next to its modules). Found without importing the plugins."""
    dirs = [CONFIG_DIR]
    for module in plugin_modules():
        try:
            spec = importlib.util.find_spec(module)
        except ImportError:
            continue
        if spec is None:
            continue
        roots = [Path(p) for p in (spec.submodule_search_locations or [])] or ([Path(spec.origin).parent] if spec.origin else [])
        for root in roots:
            dirs += [root, *sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))]
    return dirs


def _shipped() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for directory in config_directories():
        for path in sorted(directory.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def shipped_configs() -> list[str]:
    """Names of the configs that ship with seqvae and its domains (usable as ``--config NAME``)."""
    return sorted(_shipped())


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A path to an existing YAML file, or the shipped config of that name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = _shipped().get(str(name_or_path))
    if shipped is not None:
        return shipped
    known = ", ".join(shipped_configs()) or "none"
    raise ConfigError(f"config {name_or_path!s} is neither a file nor a shipped config (shipped: {known})")


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``update`` merged in recursively (update wins)."""
    out = dict(base)
    for k, v in update.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# a shipped config's section of settings for its experiment (``seqvae experiment NAME``), with its preset
# overlays under ``presets: {NAME: {experiment: ...}}`` like every section; not part of the run config
EXPERIMENT_SECTION = "experiment"


def select_preset(raw: dict[str, Any], preset: str | None, source: str = "config") -> dict[str, Any]:
    """Drop the ``presets:`` section of a raw config, merging in the named one if asked.

    A config file is the fast preset as written; ``presets: {paper: {...}}`` lists the changes
    that make another preset (e.g. the source paper's full-size settings).
    """
    raw = dict(raw)
    presets = raw.pop("presets", None) or {}
    if not isinstance(presets, dict):
        raise ConfigError(f"{source}: presets must be a mapping of name -> overrides")
    if preset is None or preset == "fast":
        return raw
    if preset not in presets:
        known = ", ".join(["fast", *presets])
        raise ConfigError(f"{source}: unknown preset {preset!r}; available: {known}")
    return deep_merge(raw, presets[preset])


# the shipped config (and preset) whose model each retired model.preset name was the base of: where the
# refusal below sends its user (seqvae.legacy_presets rebuilds the runs that recorded one)
SHIPPED_AS: dict[str, str] = {
    "strokes-paper": "strokes --preset paper", "strokes-cpu": "strokes", "vrae-basketball": "basketball",
    "strokes-mdn": "strokes-mdn --preset paper", "strokes-mdn-cpu": "strokes-mdn", "cvae-planning": "planning",
    "dsae-paper": "sprites --preset paper", "dsae-cpu": "sprites",
}


def refuse_model_preset(model: dict[str, Any]) -> None:
    """Refuse a ``model.preset`` name: models are written out in full (runs that recorded one are read by
    :mod:`seqvae.legacy_presets`)."""
    if "preset" not in model:
        return
    name = model["preset"]
    where = SHIPPED_AS.get(str(name), "strokes --preset paper")
    raise ConfigError(
        f"model.preset ({name!r}) was removed: a config writes its model out in full. The shipped configs do; "
        f"start from one (e.g. `seqvae train --config {where}`, the file {resolve_config_path(where.split()[0])})"
    )


