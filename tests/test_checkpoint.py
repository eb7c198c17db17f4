"""Export/load round-trips and refusal of anything that is not a safe seqvae checkpoint."""

from __future__ import annotations

import ast
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from seqvae.checkpoint import export_model, load_model, load_run
from seqvae.data.batch import Batch
from seqvae.data.prepare import Normalizer
from seqvae.errors import CheckpointError
from seqvae.models import build_model
from seqvae.runconfig import load_run_config
from seqvae.training import fit

SRC = Path(__file__).resolve().parents[1] / "src" / "seqvae"

MODEL_CONFIGS = [
    {"kind": "mlp", "latent_dim": 3, "hidden": [8, 6], "likelihood": {"kind": "gaussian", "std": 0.1}},
    {"kind": "mlp", "latent_dim": 2, "hidden": [8], "likelihood": {"kind": "gaussian-learned", "std_mode": "feature"}},
    {"kind": "mlp", "latent_dim": 2, "hidden": [8], "activation": "tanh", "likelihood": {"kind": "gaussian-learned", "std_mode": "output"}},
    {"kind": "mlp", "latent_dim": 1, "hidden": [4, 4], "likelihood": {"kind": "bernoulli"}},
    {"kind": "mlp", "latent_dim": 1, "hidden": [16, 16], "likelihood": {"kind": "categorical"}},
    {"kind": "linear-gaussian", "latent_dim": 2, "sigma": 0.3},
]


@pytest.mark.parametrize("raw", MODEL_CONFIGS, ids=lambda r: f"{r['kind']}-{r.get('likelihood', {}).get('kind', '')}")
def test_export_load_round_trip_is_exact(tmp_path: Path, raw: dict) -> None:
    torch.manual_seed(0)
    model = build_model(raw, 6)
    with torch.no_grad():  # move every parameter off its initial value so defaults cannot pass
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    export_model(model, tmp_path)
    loaded = load_model(tmp_path)
    assert type(loaded) is type(model)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    x = torch.rand(5, 6)
    model.eval()
    torch.manual_seed(1)
    a = model(Batch(x))
    torch.manual_seed(1)
    b = loaded(Batch(x))
    assert torch.equal(a.recon_log_prob, b.recon_log_prob)
    assert torch.equal(a.kl, b.kl)


def test_trained_model_round_trip_and_normaliser(tmp_path: Path) -> None:
    cfg = load_run_config(
        "mlp-gaussian-mixture",
        ["train.max_epochs=2", "train.progress_bar=false", "data.params.n=300"],
    )
    result = fit(cfg, tmp_path)
    loaded = load_run(tmp_path)
    assert loaded.run == cfg
    assert loaded.normalizer is not None
    np.testing.assert_array_equal(loaded.normalizer.mean, result.bundle.normalizer.mean)
    np.testing.assert_array_equal(loaded.normalizer.std, result.bundle.normalizer.std)
    batch = result.bundle.test.batch()
    torch.manual_seed(3)
    expected = result.model.sample(7)
    torch.manual_seed(3)
    got = loaded.model.sample(7)
    assert torch.equal(expected, got)
    assert torch.equal(result.model.reconstruct(batch), loaded.model.reconstruct(batch))
    # the exported weights are the best checkpoint's weights
    best = torch.load(tmp_path / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    for name, tensor in loaded.model.state_dict().items():
        assert torch.equal(best[f"model.{name}"], tensor)


def _exported(tmp_path: Path) -> Path:
    model = build_model(MODEL_CONFIGS[0], 4)
    export_model(model, tmp_path / "run")
    return tmp_path / "run"


def test_missing_config_is_refused(tmp_path: Path) -> None:
    run = _exported(tmp_path)
    (run / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_model(run)


def test_foreign_json_is_refused(tmp_path: Path) -> None:
    run = _exported(tmp_path)
    (run / "config.json").write_text(json.dumps({"hello": "world"}))
    with pytest.raises(CheckpointError, match="not a seqvae model config"):
        load_model(run)
    (run / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(run)


def test_corrupt_weights_are_refused(tmp_path: Path) -> None:
    run = _exported(tmp_path)
    (run / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage}")
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_model(run)


def test_shape_mismatch_names_the_tensor(tmp_path: Path) -> None:
    run = _exported(tmp_path)
    config = json.loads((run / "config.json").read_text())
    config["model"]["latent_dim"] = 5
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"tensor (encoder|decoder)\.\d+\.(weight|bias) has shape"):
        load_model(run)


class _Payload:
    """Unpickling this would create a marker file: proof that a loader executed code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_pickle_payloads_are_refused_without_executing(tmp_path: Path, how: str) -> None:
    marker = tmp_path / "executed"
    evil = tmp_path / "model.ckpt"
    if how == "pickle":
        evil.write_bytes(pickle.dumps(_Payload(marker)))
    else:
        torch.save({"state_dict": _Payload(marker)}, evil)
    with pytest.raises(CheckpointError, match="pickle"):
        load_model(evil)
    # the same payload disguised as model.safetensors next to a valid config
    run = _exported(tmp_path)
    (run / "model.safetensors").write_bytes(evil.read_bytes())
    with pytest.raises(CheckpointError, match="pickle"):
        load_model(run)
    assert not marker.exists()


def test_normaliser_file_is_validated(tmp_path: Path) -> None:
    model = build_model(MODEL_CONFIGS[0], 2)
    export_model(model, tmp_path, normalizer=Normalizer(np.zeros(2), np.ones(2)))
    (tmp_path / "normalizer.json").write_text(json.dumps({"mean": [0, 0], "std": [1, -1]}))
    with pytest.raises(CheckpointError, match="normaliser"):
        load_run(tmp_path)


def _unsafe_torch_loads(path: Path) -> list[str]:
    found = []
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = getattr(func.value, "id", "") if isinstance(func, ast.Attribute) else ""
            if name == "load" and owner == "torch":
                safe = any(
                    kw.arg == "weights_only" and isinstance(kw.value, ast.Constant) and kw.value.value is True
                    for kw in node.keywords
                )
                if not safe:
                    found.append(f"{path}:{node.lineno}")
            if owner == "pickle" and name in ("load", "loads"):
                found.append(f"{path}:{node.lineno}")
    return found


def test_no_unsafe_deserialisation_in_the_package() -> None:
    offenders = [hit for py in SRC.rglob("*.py") for hit in _unsafe_torch_loads(py)]
    assert offenders == []


def test_an_export_from_before_posterior_std_loads_with_the_softplus_it_was_trained_with(tmp_path: Path) -> None:
    """MLP exports hold every model config field; one without ``posterior_std`` predates the log-variance
    default and rebuilds with softplus, giving the posterior it was trained with."""
    torch.manual_seed(0)
    model = build_model({"kind": "mlp", "latent_dim": 2, "hidden": [8], "posterior_std": "softplus"}, 5)
    export_model(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model"].pop("posterior_std") == "softplus"
    (tmp_path / "config.json").write_text(json.dumps(config))
    loaded = load_model(tmp_path)
    assert loaded.config.posterior_std == "softplus"
    x = Batch(values=torch.randn(4, 5))
    assert torch.equal(loaded.encode(x).stddev, model.encode(x).stddev)
    assert build_model({"kind": "mlp", "latent_dim": 2, "hidden": [8]}, 5).config.posterior_std == "exp"  # new runs
