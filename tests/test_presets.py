"""One preset mechanism: the shipped configs write each model out in full (a config's ``presets:`` overlays,
selected by ``--preset``, are the only presets), with the values the removed ``model.preset`` names gave them;
a run records the values, never a name."""

from __future__ import annotations

import pytest

from seqvae.config import load_run_config, load_yaml, resolve_config_path, shipped_configs
from seqvae.legacy_presets import expand_legacy_model

# Each shipped config's model section as it was written while models could name a preset, per preset of the
# config: expanded with the frozen table of those names (seqvae.legacy_presets), each must give exactly the
# model the config writes out now (a value drifting in the YAML or in the frozen table fails).
WRITTEN_BEFORE: dict[tuple[str, str], dict] = {
    ("arm7", "fast"): {"angles": False, "condition_dim": 64, "grid": 32, "grid_channels": [8, 16, 32], "hidden": [256, 256], "kind": "cvae", "latent_dim": 4, "likelihood": {"kind": "gaussian", "std": 0.2}, "prior": "standard", "state_dim": 7},
    ("arm7", "paper"): {"angles": False, "condition_dim": 64, "grid": 32, "grid_channels": [8, 16, 32], "hidden": [256, 256], "kind": "cvae", "latent_dim": 4, "likelihood": {"kind": "gaussian", "std": 0.2}, "prior": "standard", "state_dim": 7},
    ("auto", "fast"): {"kind": "auto", "latent_dim": 8},
    ("basketball", "fast"): {"bidirectional": True, "end_of_sequence": False, "likelihood": {"kind": "gaussian", "std": 0.05}, "preset": "vrae-basketball"},
    ("basketball", "paper"): {"bidirectional": True, "end_of_sequence": False, "hidden": 128, "likelihood": {"kind": "gaussian", "std": 0.05}, "preset": "vrae-basketball"},
    ("dmol-beta", "fast"): {"activation": "relu", "hidden": [16, 16], "kind": "mlp", "latent_dim": 1, "likelihood": {"kind": "categorical"}},
    ("dmol-beta", "paper"): {"activation": "relu", "hidden": [16, 16], "kind": "mlp", "latent_dim": 1, "likelihood": {"kind": "categorical"}},
    ("dmol-categorical", "fast"): {"activation": "relu", "hidden": [16, 16], "kind": "mlp", "latent_dim": 1, "likelihood": {"kind": "categorical"}},
    ("dmol-categorical", "paper"): {"activation": "relu", "hidden": [16, 16], "kind": "mlp", "latent_dim": 1, "likelihood": {"kind": "categorical"}},
    ("dmol-regression", "fast"): {"activation": "relu", "hidden": [32, 32], "kind": "mlp", "latent_dim": 1, "likelihood": {"kind": "gaussian", "std": 0.1}},
    ("dmol-regression", "paper"): {"activation": "relu", "hidden": [16, 16], "kind": "mlp", "latent_dim": 1, "likelihood": {"kind": "gaussian", "std": 0.1}},
    ("mlp-gaussian-mixture", "fast"): {"hidden": [64, 64], "kind": "mlp", "latent_dim": 2, "likelihood": {"kind": "gaussian-learned", "std_mode": "feature"}},
    ("mlp-gaussian-mixture", "paper"): {"hidden": [64, 64], "kind": "mlp", "latent_dim": 2, "likelihood": {"kind": "gaussian-learned", "std_mode": "feature"}},
    ("planning", "fast"): {"preset": "cvae-planning"},
    ("planning", "paper"): {"preset": "cvae-planning"},
    ("polymer", "fast"): {"activation": "relu", "hidden": [256, 256, 256, 256], "kind": "mlp", "latent_dim": 2, "likelihood": {"kind": "gaussian-learned"}},
    ("polymer", "paper"): {"activation": "relu", "hidden": [256, 256, 256, 256], "kind": "mlp", "latent_dim": 2, "likelihood": {"kind": "gaussian-learned"}},
    ("sprites", "fast"): {"beta_f": 1.0, "contrastive_weight": 0.0, "layout": "channels-last", "mi_weight": 0.0, "posterior": "factorized", "preset": "dsae-cpu"},
    ("sprites", "paper"): {"beta_f": 1.0, "contrastive_weight": 0.0, "layout": "channels-last", "mi_weight": 0.0, "posterior": "full", "preset": "dsae-paper"},
    ("strokes", "fast"): {"likelihood": {"bernoulli_features": [2], "kind": "gaussian", "std": 0.1}, "preset": "strokes-cpu"},
    ("strokes", "paper"): {"likelihood": {"bernoulli_features": [2], "kind": "gaussian", "std": 0.7071067811865476}, "preset": "strokes-paper"},
    ("strokes-mdn", "fast"): {"input_dropout": 1.0, "preset": "strokes-mdn-cpu"},
    ("strokes-mdn", "paper"): {"input_dropout": 1.0, "preset": "strokes-mdn"},
    ("vrae-sinusoids", "fast"): {"bidirectional": True, "end_of_sequence": False, "likelihood": {"kind": "gaussian", "std": 0.05}, "max_length": 50, "preset": "vrae-basketball"},
    ("vrae-sinusoids", "paper"): {"bidirectional": True, "end_of_sequence": False, "likelihood": {"kind": "gaussian", "std": 0.05}, "max_length": 50, "preset": "vrae-basketball"},
}


@pytest.mark.parametrize(("name", "preset"), sorted(WRITTEN_BEFORE))
def test_each_shipped_model_is_written_out_as_its_model_preset_gave_it(name: str, preset: str) -> None:
    model = load_run_config(name, preset=preset).model
    assert model == expand_legacy_model(WRITTEN_BEFORE[name, preset])
    assert "preset" not in model


def test_no_shipped_config_names_a_model_preset() -> None:
    pairs = set()
    for name in shipped_configs():
        raw = load_yaml(resolve_config_path(name))
        overlays = raw.get("presets") or {}
        assert "preset" not in raw.get("model", {}), name
        assert all("preset" not in (overlay.get("model") or {}) for overlay in overlays.values()), name
        pairs |= {(name, p) for p in ("fast", *overlays)}
    assert set(WRITTEN_BEFORE) <= pairs  # every config and preset the table pins still ships
