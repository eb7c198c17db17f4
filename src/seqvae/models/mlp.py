"""Fully connected VAE for fixed-size vectors (dmol.pub examples, flattened polymer configurations)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from seqvae.data.batch import Batch
from seqvae.distributions import LikelihoodConfig, build_likelihood, diagonal_gaussian, std_from_raw
from seqvae.errors import ConfigError, DataError
from seqvae.models.base import VAE, register_model, sample_sequences

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
    "softplus": nn.Softplus,
}


def mlp(sizes: list[int], activation: str, final_activation: bool = False, dropout: float = 0.0) -> nn.Sequential:
    """Linear layers between consecutive ``sizes`` with ``activation`` (then dropout, if any) after all but the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_activation:
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


@dataclass
class MLPConfig:
    """Fully connected VAE: encoder ``hidden`` layers, decoder mirrored unless ``decoder_hidden`` is set."""

    kind: str = "mlp"
    latent_dim: int = 2
    hidden: list[int] = field(default_factory=lambda: [256, 256])
    decoder_hidden: list[int] | None = None
    activation: Literal["relu", "tanh", "elu", "gelu", "silu", "leaky_relu", "softplus"] = "relu"
    likelihood: LikelihoodConfig = field(default_factory=LikelihoodConfig)
    min_posterior_std: float = 1e-4
    # q(z|x)'s std from the encoder's raw output: exp(raw / 2) (raw is a log-variance) or softplus(raw).
    # exp gave 0.09-0.16 nats lower test NLL on three vector sets (benchmarks/RESULTS.md, "Training overhead")
    posterior_std: Literal["exp", "softplus"] = "exp"
    dropout: float = 0.0  # after each hidden layer of encoder and decoder, while training
    # a linear path beside each MLP (q's mean: A x + c + MLP(x); p's mean: W z + b + MLP(z)), so the linear-
    # Gaussian model (PPCA) is a special case; with init: pca the linear paths start at PPCA's maximum-
    # likelihood solution on the training data and the MLPs' last layers at zero (fresh runs only)
    linear_skip: bool = False
    init: Literal["random", "pca"] = "random"

    def __post_init__(self) -> None:
        if self.init == "pca" and not self.linear_skip:
            raise ConfigError("model.init: pca needs model.linear_skip: true (the linear path it initialises)")
        if self.latent_dim < 1:
            raise ConfigError(f"model.latent_dim must be >= 1, got {self.latent_dim}")
        if any(h < 1 for h in self.hidden) or any(h < 1 for h in (self.decoder_hidden or [])):
            raise ConfigError("model.hidden sizes must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")


@register_model
class MLPVAE(VAE):
    """Encoder MLP -> (mu, softplus std) of q(z|x); decoder MLP -> likelihood head parameters."""

    kind = "mlp"
    config_class = MLPConfig

    def __init__(self, config: MLPConfig, features: int) -> None:
        super().__init__(config, features)
        self.head = build_likelihood(config.likelihood, features)
        dec_hidden = config.decoder_hidden if config.decoder_hidden is not None else config.hidden[::-1]
        self.encoder = mlp([features, *config.hidden, 2 * config.latent_dim], config.activation, dropout=config.dropout)
        self.decoder = mlp([config.latent_dim, *dec_hidden, self.head.num_params], config.activation, dropout=config.dropout)
        _add_linear_paths(self, features, self.head.num_params)

    def encode(self, batch: Batch) -> Distribution:
        x = batch.values
        if x.dim() != 2 or x.shape[1] != self.features:
            raise DataError(
                f"mlp model expects inputs of shape (batch, {self.features}), got {tuple(x.shape)}"
            )
        return _posterior(self, x)

    def decode(self, z: Tensor, batch: Batch | None = None) -> Distribution:
        return self.head(_decoder_params(self, z))

    def init_from_data(self, dataset: Any) -> None:
        """``init: pca``: start the linear paths at PPCA's solution on ``dataset`` (the training split)."""
        _init_pca(self, dataset.values.reshape(len(dataset.values), -1))


def _add_linear_paths(model: VAE, inputs: int, outputs: int) -> None:
    if model.config.linear_skip:
        model.enc_linear = nn.Linear(inputs, model.config.latent_dim)
        model.dec_linear = nn.Linear(model.config.latent_dim, outputs)


def _posterior(model: VAE, flat: Tensor) -> Distribution:
    mean, raw = model.encoder(flat).chunk(2, dim=-1)
    if model.config.linear_skip:
        mean = mean + model.enc_linear(flat)
    return diagonal_gaussian(mean, std_from_raw(raw, model.config.min_posterior_std, model.config.posterior_std))


def _decoder_params(model: VAE, z: Tensor) -> Tensor:
    params = model.decoder(z)
    return params + model.dec_linear(z) if model.config.linear_skip else params


EXACT_SVD_LIMIT = 1000  # min(N, D) above which the leading components come from a randomized SVD


def principal_components(centred: np.ndarray, k: int, exact_limit: int = EXACT_SVD_LIMIT) -> tuple[np.ndarray, np.ndarray, float]:
    """The ``k`` largest covariance eigenvalues ``(k,)``, their directions ``(k, D)`` and the total variance
    of the centred rows ``(N, D)``. A full SVD up to ``exact_limit`` examples or features; above that Halko
    et al.'s randomized SVD (scikit-learn), O(N D k) instead of O(N D min(N, D)), so that long sequences
    resampled and flattened (D in the tens of thousands) start in seconds. The variance left beyond the
    ``k`` components is ``total - eigenvalues.sum()`` either way."""
    n, d = centred.shape
    total = float((centred**2).sum() / max(n, 1))
    k = min(k, n, d)
    if min(n, d) <= exact_limit or k >= min(n, d) // 4:
        _, sv, vt = np.linalg.svd(centred, full_matrices=False)
        return sv[:k] ** 2 / max(n, 1), vt[:k], total
    from sklearn.utils.extmath import randomized_svd

    _, sv, vt = randomized_svd(centred, k, n_oversamples=max(10, k), n_iter=7, random_state=0)
    return sv**2 / max(n, 1), vt, total


@torch.no_grad()
def _init_pca(model: VAE, x: Tensor) -> None:
    """Linear paths at PPCA's maximum-likelihood solution (Tipping & Bishop 1999) for the head's current std
    sigma: W = U_K (Lambda_K - sigma^2)^1/2, b = mean; the exact posterior mean diag(sqrt(l - s^2) / l) U^T (x - b)
    and std sigma / sqrt(l); the MLPs' last layers at zero, so the model starts as that linear-Gaussian model."""
    from seqvae.distributions import GaussianFixedStd, GaussianLearnedStd, raw_from_std

    head = model.head
    if head.num_params != head.features or not isinstance(head, (GaussianLearnedStd, GaussianFixedStd)):
        raise ConfigError("model.init: pca needs a Gaussian likelihood with one std per feature (std_mode: feature)")
    if isinstance(head, GaussianLearnedStd):
        sigma = float(std_from_raw(head.raw_std, head.min_std).mean())
    else:
        sigma = float(head.std)
    data = x.detach().double().cpu().numpy()
    mu = data.mean(0)
    k = model.config.latent_dim
    lam, vt, _ = principal_components(data - mu, k)
    w = np.zeros((data.shape[1], k))
    a = np.zeros((k, data.shape[1]))
    post_std = np.ones(k)
    for j in range(min(k, len(lam))):
        if lam[j] <= sigma**2:  # PPCA keeps no direction whose variance the noise explains
            continue
        w[:, j] = vt[j] * math.sqrt(lam[j] - sigma**2)
        a[j] = vt[j] * math.sqrt(lam[j] - sigma**2) / lam[j]
        post_std[j] = sigma / math.sqrt(lam[j])
    ref = model.dec_linear.weight
    model.dec_linear.weight.copy_(torch.as_tensor(w, dtype=ref.dtype))
    model.dec_linear.bias.copy_(torch.as_tensor(mu, dtype=ref.dtype))
    model.enc_linear.weight.copy_(torch.as_tensor(a, dtype=ref.dtype))
    model.enc_linear.bias.copy_(torch.as_tensor(-a @ mu, dtype=ref.dtype))
    for net in (model.encoder, model.decoder):
        net[-1].weight.zero_()
        net[-1].bias.zero_()
    floor, kind = model.config.min_posterior_std, model.config.posterior_std
    raw = [raw_from_std(s, floor, kind) for s in post_std]
    model.encoder[-1].bias[k:].copy_(torch.as_tensor(raw, dtype=ref.dtype))


# --------------------------------------------------------------------------- sequences on a fixed grid


def interpolate_steps(x: Tensor, src_len: Tensor, dst_len: Tensor, dst_max: int) -> Tensor:
    """Each row's first ``src_len`` steps of ``x`` ``(B, T, F)`` linearly interpolated at ``dst_len`` evenly
    spaced positions over the same span: ``(B, dst_max, F)``, zeros past each row's ``dst_len``."""
    src_len, dst_len = src_len.long(), dst_len.long()
    i = torch.arange(dst_max, device=x.device, dtype=torch.float64)
    span = (src_len - 1).clamp(min=0).to(torch.float64)
    pos = torch.minimum(i[None, :] * span[:, None] / (dst_len - 1).clamp(min=1).to(torch.float64)[:, None], span[:, None])
    lo = pos.floor().long()
    hi = torch.minimum(lo + 1, (src_len - 1).clamp(min=0)[:, None])
    w = (pos - lo).to(x.dtype)[..., None]
    feats = x.shape[-1]
    out = torch.gather(x, 1, lo[..., None].expand(-1, -1, feats)) * (1 - w) + torch.gather(x, 1, hi[..., None].expand(-1, -1, feats)) * w
    return out * (i[None, :] < dst_len[:, None]).to(x.dtype)[..., None]


@dataclass
class SequenceMLPConfig(MLPConfig):
    """A non-autoregressive sequence VAE: each sequence is linearly resampled to ``length`` steps, flattened
    and read by the MLP encoder; the MLP decoder emits all ``length`` steps at once, resampled back to each
    sequence's own steps, where the likelihood scores the real data. For fixed-length data (every sequence
    ``length`` steps) both resamplings are the identity and this is the MLP VAE over the flattened sequence,
    whose linear special case is PCA / the linear-Gaussian model."""

    kind: str = "mlp-sequence"
    length: int = 50  # steps of the internal grid (data-aware defaults: the longest training sequence)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.length < 1:
            raise ConfigError(f"model.length must be >= 1, got {self.length}")


@register_model
class SequenceMLPVAE(VAE):
    """MLP VAE over sequences resampled to a fixed grid (``model.kind: mlp-sequence``)."""

    kind = "mlp-sequence"
    config_class = SequenceMLPConfig
    sequence_input = True

    def __init__(self, config: SequenceMLPConfig, features: int) -> None:
        super().__init__(config, features)
        self.head = build_likelihood(config.likelihood, features)  # per step, like the recurrent models
        t = config.length
        dec_hidden = config.decoder_hidden if config.decoder_hidden is not None else config.hidden[::-1]
        self.encoder = mlp([t * features, *config.hidden, 2 * config.latent_dim], config.activation, dropout=config.dropout)
        self.decoder = mlp([config.latent_dim, *dec_hidden, t * self.head.num_params], config.activation, dropout=config.dropout)
        _add_linear_paths(self, t * features, t * self.head.num_params)

    def init_from_data(self, dataset: Any) -> None:
        """``init: pca``: start the linear paths at PPCA's solution on ``dataset``'s sequences on the grid."""
        grids = [self.to_grid(dataset.__getitems__(list(range(i, min(i + 1024, len(dataset)))))) for i in range(0, len(dataset), 1024)]
        _init_pca(self, torch.cat(grids).reshape(len(dataset), -1))

    def _lengths(self, batch: Batch) -> Tensor:
        x = batch.values
        if x.dim() != 3 or x.shape[-1] != self.features:
            raise DataError(f"{self.kind} model expects sequences of shape (batch, time, {self.features}), got {tuple(x.shape)}")
        if batch.lengths is not None:
            return batch.lengths
        return torch.full((len(x),), x.shape[1], dtype=torch.long, device=x.device)

    def to_grid(self, batch: Batch) -> Tensor:
        """Each sequence of ``batch`` linearly resampled to the model's ``length`` steps, ``(B, length, F)``."""
        x, lengths = batch.values, self._lengths(batch)
        t = self.config.length
        if batch.mask is not None:
            x = torch.where(batch.mask[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
        if x.shape[1] == t and bool((lengths == t).all()):
            return x
        return interpolate_steps(x, lengths, torch.full_like(lengths, t), t)

    def encode(self, batch: Batch) -> Distribution:
        grid = self.to_grid(batch)
        return _posterior(self, grid.reshape(len(grid), -1))

    def decode(self, z: Tensor, batch: Batch | None = None, length: int | None = None) -> Distribution:
        """p(x|z) over ``batch``'s steps (each sequence's own length), or over ``length`` (default: the grid) steps."""
        t = self.config.length
        params = _decoder_params(self, z).reshape(len(z), t, self.head.num_params)
        if batch is not None:
            lengths, steps = self._lengths(batch), batch.values.shape[1]
            if len(lengths) != len(z):
                raise DataError(f"decode: {len(z)} latent codes for a batch of {len(lengths)} sequences")
        else:
            steps = int(length or t)
            lengths = torch.full((len(z),), steps, dtype=torch.long, device=z.device)
        if not (steps == t and bool((lengths == t).all())):
            params = interpolate_steps(params, torch.full_like(lengths, t), lengths, steps)
        return self.head(params)

    @torch.no_grad()
    def generate(self, z: Tensor, length: int | None = None) -> tuple[Tensor, Tensor]:
        """Point values ``(N, T, F)`` over ``length`` steps (default: the grid's) and their lengths."""
        steps = int(length or self.config.length)
        values = self.point(self.decode(z, length=steps))
        return values, torch.full((len(z),), steps, dtype=torch.long, device=z.device)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, mean: bool = True, length: int | None = None) -> Any:
        """``n`` sequences decoded from z ~ N(0, I), ``length`` steps each (default: the grid's)."""
        return sample_sequences(self, n, generator, length)
