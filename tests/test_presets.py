"""One preset mechanism: the shipped configs write each model out in full (a config's ``presets:`` overlays,
selected by ``--preset``, are the only presets), with the values the removed ``model.preset`` names gave them;
a run records the values, never a name."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from seqvae.checkpoint import load_run
from seqvae.config import load_yaml, resolve_config_path, shipped_configs
from seqvae.errors import ConfigError
from seqvae.legacy_presets import expand_legacy_model
from seqvae.models import build_model
from seqvae.runconfig import load_run_config
from seqvae.training import fit, read_run_config

TINY = ["train.max_epochs=1", "train.batch_size=16", "train.progress_bar=false", "objective.anneal.kind=constant"]

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


def test_a_config_naming_a_model_preset_is_refused_with_the_shipped_config_to_start_from(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("model: {preset: strokes-cpu, latent_dim: 8}\npresets: {big: {model: {preset: strokes-paper}}}\n")
    strokes = str(resolve_config_path("strokes"))
    with pytest.raises(ConfigError, match=r"model.preset \('strokes-cpu'\) was removed") as err:
        load_run_config(path)
    assert "`seqvae train --config strokes`" in str(err.value) and strokes in str(err.value)
    with pytest.raises(ConfigError, match=r"'strokes-paper'\) was removed.*--config strokes --preset paper"):
        load_run_config(path, preset="big")
    with pytest.raises(ConfigError, match=r"'vrae-basketball'\) was removed.*--config basketball"):
        load_run_config("vrae-sinusoids", ["model.preset=vrae-basketball"])
    with pytest.raises(ConfigError, match="model.preset"):
        build_model({"preset": "cvae-planning"}, 2)


def _old_run(run: Path, model: dict) -> None:
    """Make ``run`` look written before models were written out: its run config names ``model``'s preset."""
    for name in ("run_config.json", "config.json"):
        raw = json.loads((run / name).read_text())
        raw["model"] = model
        (run / name).write_text(json.dumps(raw))


def test_an_old_run_naming_a_model_preset_loads_and_resumes_as_it_was_trained(tmp_path: Path) -> None:
    torch.manual_seed(0)
    named = {"preset": "vrae-basketball", "hidden": 8, "end_of_sequence": False, "max_length": 50}
    values = {"kind": "vrae", "hidden": 8, "layers": 1, "latent_dim": 2, "end_of_sequence": False, "max_length": 50}
    assert expand_legacy_model(named) == values
    cfg = dataclasses.replace(load_run_config("vrae-sinusoids", [*TINY, "data.params.n=64"]), model=values)
    trained = fit(cfg, tmp_path)
    _old_run(tmp_path, named)
    loaded = load_run(tmp_path)
    assert loaded.run is not None and loaded.run.model == values
    assert loaded.model.config == trained.model.config
    state = load_file(tmp_path / "model.safetensors")
    assert all(torch.equal(state[k], v) for k, v in loaded.model.state_dict().items())
    assert read_run_config(tmp_path)["model"] == values
    resumed = fit(load_run_config(base=read_run_config(tmp_path), overrides=["train.max_epochs=2"]), tmp_path, resume=True)
    assert resumed.model.config == trained.model.config and resumed.summary["epochs"] == 2
    assert json.loads((tmp_path / "run_config.json").read_text())["model"] == values  # now recorded as values
    with pytest.raises(ConfigError, match="run_config.json: model.preset 'nope' is not a model preset seqvae ever shipped"):
        _old_run(tmp_path, {"preset": "nope"})
        read_run_config(tmp_path)


def test_editing_a_preset_changes_no_loaded_or_resumed_run(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    text = (
        "data: {kind: gaussian-mixture, params: {n: 256, dim: 2, components: 3}}\n"
        "model: {kind: mlp, latent_dim: 2, hidden: [8]}\n"
        "train: {max_epochs: 1, batch_size: 64, progress_bar: false}\n"
        "presets: {big: {model: {hidden: [16]}}}\n"
    )
    path.write_text(text)
    run = tmp_path / "run"
    fit(load_run_config(path, preset="big"), run)
    path.write_text(text.replace("hidden: [16]", "hidden: [32]"))
    assert load_run_config(path, preset="big").model["hidden"] == [32]  # the edit took
    assert "preset" not in (run / "run_config.json").read_text()  # the run recorded values, not the name
    loaded = load_run(run)
    assert loaded.model.config.hidden == [16] and loaded.run is not None and loaded.run.model["hidden"] == [16]
    resumed = fit(load_run_config(base=read_run_config(run), overrides=["train.max_epochs=2"]), run, resume=True)
    assert resumed.model.config.hidden == [16] and resumed.summary["epochs"] == 2
    assert load_run(run).model.config.hidden == [16]
