"""Linear-Gaussian VAE (probabilistic PCA with an amortised linear encoder).

p(z) = N(0, I), p(x|z) = N(W z + b, sigma^2 I), q(z|x) = N(A x + c, diag(s^2)). Its marginal
p(x) = N(b, W W^T + sigma^2 I) and exact posterior are known in closed form, which makes it the
reference against which the sampling-based bounds in ``objectives.py`` are checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal

from seqvae.data.batch import Batch
from seqvae.distributions import diagonal_gaussian
from seqvae.errors import ConfigError
from seqvae.models.base import VAE, register_model


@dataclass
class LinearGaussianConfig:
    """Latent size and the decoder noise (``sigma``; learned when ``learn_sigma``)."""

    kind: str = "linear-gaussian"
    latent_dim: int = 2
    sigma: float = 0.5
    learn_sigma: bool = True

    def __post_init__(self) -> None:
        if self.latent_dim < 1 or self.sigma <= 0:
            raise ConfigError("model.latent_dim must be >= 1 and model.sigma > 0")


@register_model
class LinearGaussianVAE(VAE):
    """pPCA as a VAE; :meth:`exact_log_marginal` and :meth:`exact_posterior` are closed forms."""

    kind = "linear-gaussian"
    config_class = LinearGaussianConfig

    def __init__(self, config: LinearGaussianConfig, features: int) -> None:
        super().__init__(config, features)
        d, k = features, config.latent_dim
        self.W = nn.Parameter(torch.randn(d, k) / math.sqrt(k))
        self.b = nn.Parameter(torch.zeros(d))
        log_sigma = torch.tensor(math.log(config.sigma))
        if config.learn_sigma:
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)
        self.A = nn.Parameter(torch.zeros(k, d))
        self.c = nn.Parameter(torch.zeros(k))
        self.log_s = nn.Parameter(torch.zeros(k))

    @property
    def sigma(self) -> Tensor:
        return self.log_sigma.exp()

    def encode(self, batch: Batch) -> Distribution:
        mean = batch.values @ self.A.T + self.c
        return diagonal_gaussian(mean, self.log_s.exp().expand_as(mean))

    def decode(self, z: Tensor, batch: Batch | None = None) -> Distribution:
        mean = z @ self.W.T + self.b
        return Independent(Normal(mean, self.sigma.expand_as(mean)), 1)

    def marginal(self) -> MultivariateNormal:
        """The exact p(x) = N(b, W W^T + sigma^2 I)."""
        cov = self.W @ self.W.T + self.sigma**2 * torch.eye(self.features, dtype=self.W.dtype)
        return MultivariateNormal(self.b, covariance_matrix=cov)

    def exact_log_marginal(self, x: Tensor) -> Tensor:
        """log p(x) in closed form, shape ``(B,)``."""
        return self.marginal().log_prob(x)

    def exact_posterior(self, x: Tensor) -> MultivariateNormal:
        """p(z|x) = N(M^-1 W^T (x - b) / sigma^2, M^-1) with M = I + W^T W / sigma^2."""
        s2 = self.sigma**2
        m = torch.eye(self.latent_dim, dtype=self.W.dtype) + self.W.T @ self.W / s2
        cov = torch.linalg.inv(m)
        mean = (x - self.b) @ self.W @ cov.T / s2
        return MultivariateNormal(mean, covariance_matrix=cov)

    @torch.no_grad()
    def use_exact_posterior_encoder(self) -> None:
        """Set q(z|x) to the exact p(z|x); possible when W's columns are orthogonal (diagonal posterior covariance)."""
        gram = self.W.T @ self.W
        off = gram - torch.diag(torch.diagonal(gram))
        if float(off.abs().max()) > 100 * torch.finfo(gram.dtype).eps * float(torch.diagonal(gram).abs().max()):
            raise ValueError("the exact posterior has a full covariance unless W's columns are orthogonal")
        s2 = self.sigma**2
        cov = 1.0 / (1.0 + torch.diagonal(gram) / s2)  # diagonal of (I + W^T W / sigma^2)^-1
        a = (self.W * cov / s2).T  # posterior mean = cov W^T (x - b) / sigma^2 = A x + c
        self.A.copy_(a)
        self.c.copy_(-a @ self.b)
        self.log_s.copy_(0.5 * torch.log(cov))
