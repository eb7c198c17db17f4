"""Run configs: strict parsing, overrides, presets and the shipped files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from seqvae.config import (
    RunConfig,
    TrainConfig,
    apply_overrides,
    from_dict,
    parse_override,
    resolve_config_path,
    select_preset,
    shipped_configs,
    to_dict,
)
from seqvae.errors import ConfigError
from seqvae.models import build_model
from seqvae.models.base import parse_model_config
from seqvae.runconfig import load_run_config


def _features(name: str, model: dict) -> int:
    """Values per example the shipped config's model expects."""
    if model["kind"] == "cvae":
        return model["state_dim"]
    if model["kind"] == "dsae":
        return model["channels"] * model["frame_size"] ** 2
    return 32 if "categorical" in name or "beta" in name else 3


@pytest.mark.parametrize("name", shipped_configs())
def test_every_shipped_config_and_preset_parses_builds_and_round_trips(name: str) -> None:
    raw = yaml.safe_load(resolve_config_path(name).read_text())
    for preset in ["fast", *(raw.get("presets") or {})]:
        cfg = load_run_config(name, preset=preset)
        assert from_dict(RunConfig, to_dict(cfg)) == cfg  # what config.json stores rebuilds the same config
        if cfg.model.get("kind") == "auto":  # resolved from the data (tests/test_defaults.py)
            continue
        parse_model_config(cfg.model)
        model = build_model(cfg.model, _features(name, cfg.model))
        assert model.latent_dim == cfg.model["f_dim" if cfg.model["kind"] == "dsae" else "latent_dim"]


def test_shipped_configs_include_the_dmol_experiments() -> None:
    assert {"dmol-categorical", "dmol-beta", "dmol-regression", "mlp-gaussian-mixture"} <= set(shipped_configs())


def test_paper_preset_merges_over_the_fast_settings() -> None:
    fast = load_run_config("dmol-regression")
    paper = load_run_config("dmol-regression", preset="paper")
    assert paper.model["hidden"] == [16, 16] and fast.model["hidden"] == [32, 32]
    assert paper.train.max_epochs == 64
    assert paper.model["likelihood"] == fast.model["likelihood"]  # untouched keys survive the merge
    with pytest.raises(ConfigError, match="unknown preset 'huge'; available: fast, paper"):
        load_run_config("dmol-regression", preset="huge")


def test_select_preset_drops_the_presets_section() -> None:
    raw = {"seed": 1, "train": {"lr": 0.1, "batch_size": 8}, "presets": {"big": {"train": {"lr": 0.01}}}}
    assert select_preset(raw, None) == {"seed": 1, "train": {"lr": 0.1, "batch_size": 8}}
    assert select_preset(raw, "big") == {"seed": 1, "train": {"lr": 0.01, "batch_size": 8}}
    with pytest.raises(ConfigError, match="presets must be a mapping"):
        select_preset({"presets": [1]}, "x")


def test_overrides_are_yaml_typed_and_create_nested_keys() -> None:
    assert parse_override("model.hidden=[8, 8]") == (["model", "hidden"], [8, 8])
    assert parse_override("train.lr=1e-3") == (["train", "lr"], 1e-3)
    assert parse_override("train.gradient_clip=null") == (["train", "gradient_clip"], None)
    assert parse_override("data.path=a=b.csv") == (["data", "path"], "a=b.csv")  # only the first '=' splits
    raw = {"model": {"kind": "mlp"}}
    out = apply_overrides(raw, ["model.likelihood.kind=bernoulli", "seed=3"])
    assert out == {"model": {"kind": "mlp", "likelihood": {"kind": "bernoulli"}}, "seed": 3}
    assert raw == {"model": {"kind": "mlp"}}  # the input is not modified
    cfg = load_run_config("mlp-gaussian-mixture", ["train.max_epochs=3", "objective.anneal.kind=linear"])
    assert cfg.train.max_epochs == 3 and cfg.objective.anneal.kind == "linear"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.latent_dim", "must look like key=value"),
        ("=3", "empty key"),
        ("train..lr=3", "empty key"),
        ("seed.x=1", "seed is not a mapping"),
        ("train.lr=[1", "not valid YAML"),
    ],
)
def test_malformed_overrides_are_refused(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides({"seed": 0}, [override])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.learning_rate=0.1", "unknown config key train.learning_rate; valid keys here:"),
        ("objective.anneal.kindd=linear", "unknown config key objective.anneal.kindd"),
        ("train.batch_size=8.5", "train.batch_size: expected an integer, got 8.5"),
        ("train.batch_size=true", "train.batch_size: expected an integer, got True"),
        ("train.progress_bar=1", "train.progress_bar: expected true or false"),
        ("train.optimizer=sgd", "train.optimizer: expected one of 'adam', 'adamw', got 'sgd'"),
        ("objective.kind=vae", "objective.kind: expected one of"),
        ("train.lr=fast", "train.lr: expected a number"),
        ("train.lr=0", "train.lr must be > 0"),
        ("train.lr=.nan", "train.lr: expected a finite number"),
        ("objective.beta=-1", "objective.beta must be >= 0"),
        ("objective.anneal.ratio=0", r"objective.anneal.ratio must be in \(0, 1\]"),
        ("data.val_fraction=0.9", "must leave a training split"),
        ("train=3", "train: expected a mapping of TrainConfig fields"),
    ],
)
def test_wrong_keys_and_types_are_refused_by_dotted_name(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_run_config("mlp-gaussian-mixture", [override])


def test_model_section_is_validated_against_its_kind() -> None:
    with pytest.raises(ConfigError, match="model.kind 'transformer' is not a known model; choose one of:"):
        parse_model_config({"kind": "transformer"})
    with pytest.raises(ConfigError, match="unknown config key model.hiden"):
        parse_model_config({"kind": "mlp", "hiden": [8]})
    with pytest.raises(ConfigError, match=r"model.kind is required"):
        load_run_config(base={"model": {"latent_dim": 2}})


def test_int_is_accepted_where_a_float_is_expected_and_union_types_work() -> None:
    cfg = from_dict(TrainConfig, {"lr": 1, "devices": "auto", "gradient_clip": 2})
    assert isinstance(cfg.lr, float) and cfg.lr == 1.0
    assert cfg.devices == "auto" and cfg.gradient_clip == 2.0
    assert from_dict(TrainConfig, {"devices": 4}).devices == 4
    with pytest.raises(ConfigError, match="train.devices: expected"):
        from_dict(TrainConfig, {"devices": [0, 1]}, prefix="train")


def test_config_files_are_found_by_path_or_name_and_errors_name_the_file(tmp_path: Path) -> None:
    good = tmp_path / "run.yaml"
    good.write_text("seed: 4\nmodel: {kind: mlp, latent_dim: 3}\ndata: {kind: gaussian-mixture}\ntrain: {lr: 3e-4}\n")
    cfg = load_run_config(str(good))
    assert cfg.seed == 4 and cfg.train.lr == 3e-4  # YAML 1.1 would read 3e-4 as a string
    with pytest.raises(ConfigError, match="neither a file nor a shipped config"):
        load_run_config(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_run_config(str(bad))
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_run_config(str(listy))
