"""Exported models: ``model.safetensors`` + ``config.json`` (+ ``normalizer.json``), never pickle.

:func:`load_model` rebuilds a model from those files alone. Anything else handed to it (a
``torch.save`` file, a Lightning ``.ckpt``, a corrupt or foreign safetensors file) is refused with
a :class:`CheckpointError` saying what was found and what was expected.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from seqvae.config import ConfigError, RunConfig, from_dict, to_dict
from seqvae.data.prepare import Normalizer
from seqvae.errors import CheckpointError, DataError
from seqvae.io import write_bytes_atomic, write_json_atomic
from seqvae.legacy_presets import expand_legacy_run
from seqvae.models.base import VAE, build_model

FORMAT = "seqvae-model"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
NORMALIZER = "normalizer.json"

# first bytes of formats that can only be read by unpickling
_PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")


@dataclass
class LoadedModel:
    """A rebuilt model with the run config that trained it and its normaliser (if any)."""

    model: VAE
    run: RunConfig | None
    normalizer: Normalizer | None
    path: Path


def export_model(model: VAE, out_dir: str | Path, run: RunConfig | None = None, normalizer: Normalizer | None = None) -> Path:
    """Write the model's weights and config to ``out_dir``; every file is written atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    write_bytes_atomic(out / WEIGHTS, save(tensors, metadata={"format": FORMAT, "kind": model.kind}))
    config = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "kind": model.kind,
        "features": model.features,
        "model": model.config_dict(),
    }
    if run is not None:
        # the run's sections at the top, laid out as in run_config.json (seed, data, model, objective, train,
        # eval); the model as built (presets expanded) is then "model_config", which is what rebuilds it
        config["model_config"] = config.pop("model")
        config.update(to_dict(run))
    write_json_atomic(out / CONFIG, config)
    norm_path = out / NORMALIZER
    if normalizer is not None:
        write_json_atomic(norm_path, normalizer.to_dict())
    elif norm_path.exists():
        norm_path.unlink()
    return out


def _run_sections(config: dict[str, Any]) -> dict[str, Any] | None:
    """The run config inside a config.json: its top-level sections, or the ``run`` mapping older exports nest
    them in; None for a model exported without a run."""
    if config.get("run") is not None:  # written before the sections moved to the top
        return config["run"]
    if "model_config" not in config:  # a model exported without its run
        return None
    return {f.name: config[f.name] for f in dataclasses.fields(RunConfig) if f.name in config}


def _refuse_if_pickle(path: Path) -> None:
    with path.open("rb") as fh:
        head = fh.read(9)
    # a safetensors file starts with its JSON header's length (8 bytes, little-endian), then "{": a length
    # of 128 + 256 k starts with the byte 0x80, which is also pickle's first byte
    if head[8:9] == b"{" and int.from_bytes(head[:8], "little") + 8 <= path.stat().st_size:
        return
    if any(head.startswith(m) for m in _PICKLE_MAGIC):
        raise CheckpointError(
            f"{path} is a pickle-based file (torch.save or Lightning .ckpt); seqvae does not unpickle "
            f"files it is handed. Load an exported run directory holding {WEIGHTS} and {CONFIG}."
        )


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"{path.parent} is not a seqvae checkpoint: {CONFIG} is missing")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a seqvae model config (expected \"format\": \"{FORMAT}\")")
    if config.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {config.get('version')!r} is not supported")
    for key in ("kind", "features", "model"):
        if key not in config:
            raise CheckpointError(f"{path}: missing field {key!r}")
    return config


def resolve_checkpoint_dir(path: str | Path) -> Path:
    """The directory holding the exported files, given it or one of its files."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: no such file or directory")  # the wording of every missing path
    if p.is_file():
        if p.suffix != ".safetensors" and p.name != CONFIG:
            _refuse_if_pickle(p)
            raise CheckpointError(f"{p} is not a seqvae checkpoint; pass the run directory holding {WEIGHTS}")
        p = p.parent
    return p


# model config fields added after models were first exported, with the behaviour a model exported before
# them was trained with (an export holds every field of its model config, so an absent one is older)
LEGACY_MODEL_FIELDS: dict[str, dict[str, Any]] = {"mlp": {"posterior_std": "softplus"}, "mlp-sequence": {"posterior_std": "softplus"}}


def predated_fields(model_config: dict[str, Any]) -> dict[str, Any]:
    """The fields an exported ``model_config`` predates, with the values it was trained with."""
    legacy = LEGACY_MODEL_FIELDS.get(str(model_config.get("kind")), {})
    return {k: v for k, v in legacy.items() if k not in model_config}


def with_legacy_fields(model_config: dict[str, Any]) -> dict[str, Any]:
    """``model_config`` of an export, with the fields it predates set to what it was trained with."""
    return {**predated_fields(model_config), **model_config}


def load_model(path: str | Path, device: str | torch.device = "cpu") -> VAE:
    """Rebuild a model from an exported directory (or its ``model.safetensors``), in eval mode."""
    return load_run(path, device).model


def load_run(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the model, its run config and normaliser from an exported directory."""
    root = resolve_checkpoint_dir(path)
    config = _read_config(root / CONFIG)
    weights = root / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{root} is not a seqvae checkpoint: {WEIGHTS} is missing")
    _refuse_if_pickle(weights)
    try:
        state = load_file(str(weights), device=str(device))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights}: not a valid safetensors file ({exc})") from exc
    try:
        model = build_model(with_legacy_fields(config.get("model_config", config["model"])), int(config["features"]))
    except (ConfigError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{root / CONFIG}: cannot rebuild the model ({exc})") from exc
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{weights}: tensors do not match a {config['kind']} model "
            f"(missing: {missing[:5]}, unexpected: {unexpected[:5]})"
        )
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(
                f"{weights}: tensor {name} has shape {tuple(tensor.shape)}, the config implies {tuple(expected[name].shape)}"
            )
    model.load_state_dict(state)
    model.to(device).eval()
    run = None
    raw_run = _run_sections(config)
    if raw_run is not None:
        try:
            run = from_dict(RunConfig, expand_legacy_run(raw_run))  # an older run may name its model preset
        except ConfigError as exc:
            raise CheckpointError(f"{root / CONFIG}: run config is invalid ({exc})") from exc
    normalizer = None
    norm_path = root / NORMALIZER
    if norm_path.is_file():
        try:
            normalizer = Normalizer.from_dict(json.loads(norm_path.read_text()), str(norm_path))
        except (json.JSONDecodeError, DataError) as exc:
            raise CheckpointError(f"{norm_path}: invalid normaliser ({exc})") from exc
    return LoadedModel(model=model, run=run, normalizer=normalizer, path=root)


def read_lightning_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint this run wrote, read with ``weights_only=True`` (tensors and plain values only)."""
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for unsafe or corrupt files
        raise CheckpointError(f"{path}: cannot read Lightning checkpoint safely ({exc})") from exc
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise CheckpointError(f"{path}: no state_dict in checkpoint")
    return ckpt


def lightning_model_state(ckpt: dict[str, Any], prefix: str = "model.") -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
