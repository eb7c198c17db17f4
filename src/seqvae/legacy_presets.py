"""Model presets of older runs: read paths only.

Until model configs were written out in full, a config could say ``model: {preset: NAME, ...}`` and the
name was looked up in tables kept in the model code; ``run_config.json`` and ``config.json`` recorded the
name, not its values. :data:`LEGACY_MODEL_PRESETS` is a frozen copy of those tables as they were when the
name lookup was removed. Only the readers of a run written before then use it (a resume reading
``run_config.json``, :func:`seqvae.checkpoint.load_run` reading ``config.json``), so such a run rebuilds as
it was trained; a new config naming a preset is refused (:func:`seqvae.config.refuse_model_preset`).

Never edit these values: a run that recorded a name was trained with exactly them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from seqvae.config import deep_merge
from seqvae.errors import ConfigError

LEGACY_MODEL_PRESETS: dict[str, dict[str, Any]] = {
    "strokes-paper": {
        "kind": "stacked-lstm", "hidden": 512, "layers": 2, "latent_dim": 64,
        "decoder_hidden": 512, "decoder_layers": 1, "end_of_sequence": False, "max_length": 60,
        "likelihood": {"kind": "gaussian", "std": 0.7071067811865476},
    },
    "strokes-cpu": {
        "kind": "stacked-lstm", "hidden": 128, "layers": 2, "latent_dim": 16,
        "decoder_hidden": 128, "decoder_layers": 1, "end_of_sequence": False, "max_length": 60,
    },
    "vrae-basketball": {
        "kind": "vrae", "hidden": 64, "layers": 1, "latent_dim": 2, "end_of_sequence": True, "max_length": 120,
    },
    "strokes-mdn": {
        "kind": "stroke-mdn", "hidden": 256, "latent_dim": 32, "decoder_hidden": 256, "mixtures": 10,
        "max_length": 100, "end_of_sequence": False,
    },
    "strokes-mdn-cpu": {
        "kind": "stroke-mdn", "hidden": 64, "latent_dim": 16, "decoder_hidden": 96, "mixtures": 5,
        "max_length": 100, "end_of_sequence": False,
    },
    "cvae-planning": {
        "kind": "cvae", "state_dim": 2, "grid": 32, "grid_channels": [8, 16, 32], "condition_dim": 64,
        "latent_dim": 3, "hidden": [128, 128], "prior": "standard", "likelihood": {"kind": "gaussian", "std": 0.05},
    },
    "dsae-paper": {
        "kind": "dsae", "frame_size": 64, "channels": 3, "frames": 8, "conv_channels": 256, "kernel": 5,
        "strides": [1, 2, 2, 2], "fc_hidden": 4096, "frame_features": 2048, "f_dim": 256, "z_dim": 32,
        "hidden": 512, "factorized_hidden": 512, "prior_hidden": 512, "posterior": "full",
        "likelihood_std": 0.35355339059327373,  # 1 / (2 sqrt 2), the source's
    },
    "dsae-cpu": {
        "kind": "dsae", "frame_size": 32, "channels": 3, "frames": 8, "conv_channels": 16, "kernel": 5,
        "strides": [1, 2, 2, 2], "fc_hidden": 512, "frame_features": 256, "f_dim": 64, "z_dim": 4,
        "hidden": 128, "factorized_hidden": 128, "prior_hidden": 128, "posterior": "full",
        "likelihood_std": 0.1,
    },
}


def expand_legacy_model(model: dict[str, Any]) -> dict[str, Any]:
    """A recorded ``model`` section with its ``preset`` name (if any) replaced by the values it had,
    underneath the keys the section sets itself, as the name lookup did when the run was trained."""
    if not isinstance(model, dict) or "preset" not in model:
        return model
    name = model["preset"]
    if name not in LEGACY_MODEL_PRESETS:
        known = ", ".join(sorted(LEGACY_MODEL_PRESETS))
        raise ConfigError(f"model.preset {name!r} is not a model preset seqvae ever shipped ({known})")
    preset = LEGACY_MODEL_PRESETS[name]
    rest = {k: v for k, v in model.items() if k != "preset"}
    merged = deep_merge(preset, rest)
    kind = rest.get("kind")
    if kind is not None and kind != preset["kind"]:
        # model.kind replaced the preset's model: the settings that the new kind has were kept, the others dropped
        from seqvae.models.base import MODEL_REGISTRY

        if kind not in MODEL_REGISTRY:
            known = ", ".join(sorted(MODEL_REGISTRY))
            raise ConfigError(f"model.kind {kind!r} is not a known model; choose one of: {known}")
        valid = {f.name for f in dataclasses.fields(MODEL_REGISTRY[kind].config_class)}
        return {k: v for k, v in merged.items() if k in valid}
    return merged


def expand_legacy_run(raw: dict[str, Any]) -> dict[str, Any]:
    """A recorded raw run config (``run_config.json``, the run sections of ``config.json``) with its model
    section's preset name expanded (:func:`expand_legacy_model`); a config without one is returned as is."""
    model = raw.get("model")
    if not isinstance(model, dict) or "preset" not in model:
        return raw
    return {**raw, "model": expand_legacy_model(model)}
