"""`seqvae sample RUN --keep content|dynamics`: the disentanglement protocol on a user's videos, on a tiny
trained DSAE. The kept half of the latents is each video's posterior mean, bit for bit; the other half is
exactly the prior draw of the given seed, new for every draw."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from seqvae import api
from seqvae.checkpoint import load_run
from seqvae.cli import app
from seqvae.domains.sprites.data import sprite_videos, write_sprites_npy
from seqvae.errors import DataError
from seqvae.experiments.common import experiment_config
from seqvae.training import fit

TINY_RUN = ["data.params.n=30", "data.params.size=16", "data.params.frames=4", "model.frame_size=16",
            "model.frames=4", "model.conv_channels=4", "model.fc_hidden=16", "model.frame_features=16",
            "model.f_dim=8", "model.z_dim=3", "model.hidden=8", "model.factorized_hidden=8", "model.prior_hidden=8",
            "train.max_epochs=1", "train.batch_size=10"]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("dsae_run")
    fit(experiment_config("sprites", 0, TINY_RUN, None, False), out)
    videos_dir = tmp_path_factory.mktemp("videos")
    frames, labels = sprite_videos(6, size=16, frames=4, seed=11)
    write_sprites_npy(videos_dir, frames, labels, split="train")
    return out, videos_dir


def _own_videos(run):
    loaded = load_run(run)
    examples = api.run_examples(loaded, None, "test")
    return loaded.model, examples.dataset.__getitems__(list(range(len(examples))))


@pytest.mark.parametrize("keep", ["content", "dynamics"])
def test_keep_holds_the_posterior_mean_and_draws_the_other_half_from_the_prior(tiny_run, tmp_path, keep):
    run, _ = tiny_run
    draws, seed = 3, 5
    result = api.sample_keep_run(run, keep, draws=draws, output=tmp_path / "k.npz", seed=seed)
    out = np.load(result["npz"])
    model, batch = _own_videos(run)
    n = len(batch)
    assert result["videos"] == n and out["x"].shape == (n * draws, *batch.values.shape[1:])
    np.testing.assert_array_equal(out["source"], np.repeat(np.arange(n), draws))
    with torch.no_grad():
        parts = model.encode_parts(batch)
        kept = (parts.f if keep == "content" else parts.z).numpy().repeat(draws, 0)
        gen = torch.Generator().manual_seed(seed)
        prior = (model.sample_dynamics(n * draws, batch.values.shape[1], gen) if keep == "content"
                 else model.sample_content(n * draws, gen)).numpy()  # fmt: skip
        decoded = model.decode_parts(torch.from_numpy(out["f"]), torch.from_numpy(out["z"])).numpy()
    kept_name, drawn_name = ("f", "z") if keep == "content" else ("z", "f")
    np.testing.assert_array_equal(out[kept_name], kept)  # kept: bit-identical to the posterior mean
    np.testing.assert_array_equal(out[drawn_name], prior)  # drawn: exactly the prior's draw for this seed
    np.testing.assert_allclose(out["x"], decoded, atol=1e-6)  # x is the decoding of the saved latents
    drawn = out[drawn_name].reshape(n, draws, -1)
    assert np.all(np.abs(drawn[:, 0] - drawn[:, 1]).max(-1) > 1e-3)  # a new draw for every video and draw
    assert np.all(np.abs(out["x"].reshape(n, draws, -1)[:, 0] - out["x"].reshape(n, draws, -1)[:, 2]).max(-1) > 0)
    assert set(out["split"].tolist()) == {"test"} and str(out["keep"]) == keep
    assert result["figure"].is_file()


def test_drawn_content_has_the_prior_statistics(tiny_run, tmp_path):
    run, _ = tiny_run
    out = np.load(api.sample_keep_run(run, "dynamics", draws=400, output=tmp_path / "d.npz", seed=1)["npz"])
    f = out["f"]  # 3 videos x 400 draws x 8 dims from N(0, I)
    assert abs(f.mean()) < 0.05 and abs(f.std() - 1.0) < 0.05
    assert np.abs(np.corrcoef(f.T) - np.eye(f.shape[1])).max() < 0.1


def test_cli_keep_reads_the_users_videos(tiny_run, tmp_path):
    run, videos = tiny_run
    target = tmp_path / "kc.npz"
    res = CliRunner().invoke(app, ["sample", str(run), "--keep", "content", "--data", str(videos), "-n", "2",
                                   "--out", str(target), "--seed", "3"])  # fmt: skip
    assert res.exit_code == 0, res.output
    out = np.load(target)
    assert out["x"].shape == (12, 4, 16, 16, 3) and set(out["split"].tolist()) == {"external"}
    frames, _ = sprite_videos(6, size=16, frames=4, seed=11)
    model = load_run(run).model
    from seqvae.data.batch import Batch

    with torch.no_grad():
        f = model.encode_parts(Batch(values=torch.from_numpy(np.round(frames * 255) / 255).float())).f.numpy()
    np.testing.assert_allclose(out["f"], f.repeat(2, 0), atol=1e-5)
    assert 0.0 <= out["x"].min() and out["x"].max() <= 1.0
    bad = CliRunner().invoke(app, ["sample", str(run), "--keep", "motion"])
    assert bad.exit_code != 0 and "--keep must be one of content, dynamics" in bad.output


def test_keep_refuses_models_without_two_latents(tmp_path):
    from seqvae.checkpoint import export_model
    from seqvae.models import build_model

    export_model(build_model({"kind": "mlp", "latent_dim": 2}, 4), tmp_path)
    with pytest.raises(DataError, match="needs a video model"):
        api.sample_keep_run(tmp_path, "content", data=None)
