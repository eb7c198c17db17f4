"""Two DDP processes on CPU (gloo) follow the same loss curve as one process with the same effective batch.

The reparameterisation noise is the one thing that legitimately differs between the two set-ups (each
process draws its own), so the script replaces it by a fixed function of each example; everything DDP
changes -- sharding, gradient averaging, the reduction of the logged epoch means -- stays in the test.
Each epoch is one optimiser step over the whole training split (one process: 160 examples; two: 80
each), so the steps see the same examples whatever order each sampler chose.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_training import read_epochs

SCRIPT = textwrap.dedent(
    '''
    import sys
    import torch
    from seqvae.distributions import gaussian_kl_per_dim
    from seqvae.models.base import VAE, ModelOutput

    def forward(self, batch):
        posterior = self.encode(batch)
        w = torch.randn(batch.values.shape[-1], self.latent_dim, generator=torch.Generator().manual_seed(0))
        eps = torch.sin(7.0 * batch.values @ w)  # noise fixed per example, wherever the example is
        z = posterior.mean + posterior.stddev * eps
        likelihood = self.decode(z, batch)
        prior = self.prior(batch)
        kl_per_dim = gaussian_kl_per_dim(posterior, prior)
        return ModelOutput(posterior=posterior, prior=prior, z=z, likelihood=likelihood,
                           recon_log_prob=self.log_likelihood(likelihood, batch), kl=kl_per_dim.sum(-1),
                           kl_per_dim=kl_per_dim)

    VAE.forward = forward

    from seqvae.runconfig import load_run_config
    from seqvae.training import fit

    out, devices, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    cfg = load_run_config("mlp-gaussian-mixture", [
        "data.params.n=200", "data.val_fraction=0.1", "data.test_fraction=0.1", "train.max_epochs=6",
        f"train.batch_size={batch}", f"train.devices={devices}",
        "train.strategy=" + ("ddp" if devices > 1 else "auto"), "train.progress_bar=false",
    ])
    fit(cfg, out)
    '''
)


@pytest.mark.filterwarnings("ignore")
def test_two_process_ddp_follows_the_single_process_loss_curve(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    curves = {}
    for devices, batch in ((1, 160), (2, 80)):
        out = tmp_path / f"d{devices}"
        done = subprocess.run([sys.executable, str(script), str(out), str(devices), str(batch)],
                              capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        rows = read_epochs(out / "logs" / "metrics.csv")
        curves[devices] = [(r["train/loss"], r["val/loss"]) for r in rows]
    assert len(curves[1]) == len(curves[2]) == 6
    assert len({round(c[0], 3) for c in curves[1]}) > 3  # the loss moves: the comparison is not trivial
    for (t1, v1), (t2, v2) in zip(curves[1], curves[2]):
        assert t2 == pytest.approx(t1, rel=1e-4)
        assert v2 == pytest.approx(v1, rel=1e-4)
