"""Fully connected VAE for fixed-size vectors (dmol.pub examples, flattened polymer configurations)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from torch import Tensor, nn
from torch.distributions import Distribution

from seqvae.data.batch import Batch
from seqvae.distributions import LikelihoodConfig, build_likelihood, diagonal_gaussian, std_from_raw
from seqvae.errors import ConfigError, DataError
from seqvae.models.base import VAE, register_model

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
    "softplus": nn.Softplus,
}


def mlp(sizes: list[int], activation: str, final_activation: bool = False) -> nn.Sequential:
    """Linear layers between consecutive ``sizes`` with ``activation`` after all but the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_activation:
            layers.append(ACTIVATIONS[activation]())
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

    def __post_init__(self) -> None:
        if self.latent_dim < 1:
            raise ConfigError(f"model.latent_dim must be >= 1, got {self.latent_dim}")
        if any(h < 1 for h in self.hidden) or any(h < 1 for h in (self.decoder_hidden or [])):
            raise ConfigError("model.hidden sizes must be >= 1")


@register_model
class MLPVAE(VAE):
    """Encoder MLP -> (mu, softplus std) of q(z|x); decoder MLP -> likelihood head parameters."""

    kind = "mlp"
    config_class = MLPConfig

    def __init__(self, config: MLPConfig, features: int) -> None:
        super().__init__(config, features)
        self.head = build_likelihood(config.likelihood, features)
        dec_hidden = config.decoder_hidden if config.decoder_hidden is not None else config.hidden[::-1]
        self.encoder = mlp([features, *config.hidden, 2 * config.latent_dim], config.activation)
        self.decoder = mlp([config.latent_dim, *dec_hidden, self.head.num_params], config.activation)

    def encode(self, batch: Batch) -> Distribution:
        x = batch.values
        if x.dim() != 2 or x.shape[1] != self.features:
            raise DataError(
                f"mlp model expects inputs of shape (batch, {self.features}), got {tuple(x.shape)}"
            )
        mean, raw = self.encoder(x).chunk(2, dim=-1)
        return diagonal_gaussian(mean, std_from_raw(raw, self.config.min_posterior_std))

    def decode(self, z: Tensor, batch: Batch | None = None) -> Distribution:
        return self.head(self.decoder(z))
