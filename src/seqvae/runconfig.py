"""Loading a run config: a YAML file or shipped name, its preset overlay and ``KEY=VALUE`` overrides, validated.

This sits above the model layer (a ``--set model.kind=...`` keeps the written model settings the new kind
has, which needs the model classes) and below everything that trains; :mod:`seqvae.config` holds the
schema and parsing that every layer shares. Importing it imports no torch: the model classes are imported
only when an override changes the model's kind.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from seqvae.config import (
    EXPERIMENT_SECTION,
    RunConfig,
    apply_overrides,
    from_dict,
    load_yaml,
    parse_override,
    refuse_model_preset,
    resolve_config_path,
    select_preset,
)
from seqvae.errors import ConfigError


def load_run_config(
    path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    base: dict[str, Any] | None = None,
    preset: str | None = None,
) -> RunConfig:
    """Load a run config from YAML (a path or a shipped name) or ``base``, apply preset and overrides, validate.

    The result holds values only (a preset is the config's ``presets:`` overlay, merged here), so the
    ``run_config.json`` written from it rebuilds the run whatever later happens to the file."""
    if path is not None:
        resolved = resolve_config_path(path)
        raw = select_preset(load_yaml(resolved), preset, str(resolved))
    else:
        raw = select_preset(dict(base or {}), preset)
    raw.pop(EXPERIMENT_SECTION, None)  # the settings of the config's experiment, read by the experiment
    written = raw.get("model")
    raw = apply_overrides(raw, overrides)
    cfg = from_dict(RunConfig, raw)
    refuse_model_preset(cfg.model)
    if "kind" not in cfg.model:
        raise ConfigError("model.kind is required (e.g. model.kind=mlp)")
    return _model_for_new_kind(cfg, written, overrides)


def _model_for_new_kind(cfg: RunConfig, written: Any, overrides: list[str] | tuple[str, ...]) -> RunConfig:
    """A ``--set model.kind=...`` that replaces the written model keeps the settings the new kind has: the
    written keys it lacks (those of the model it replaces) are dropped; keys the overrides set stay (a typo
    among them is still refused)."""
    if not isinstance(written, dict) or written.get("kind") in (None, cfg.model.get("kind")):
        return cfg
    from seqvae.models import MODEL_REGISTRY  # only here: the model classes need torch

    kind = cfg.model["kind"]
    if kind not in MODEL_REGISTRY:  # "auto", or a name parse_model_config refuses
        return cfg
    valid = {f.name for f in dataclasses.fields(MODEL_REGISTRY[kind].config_class)}
    given = {path[1] for path, _ in map(parse_override, overrides) if len(path) > 1 and path[0] == "model"}
    model = {k: v for k, v in cfg.model.items() if k in valid or k in given or k not in written}
    return dataclasses.replace(cfg, model=model)
