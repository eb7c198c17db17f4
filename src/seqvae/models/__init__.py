"""Models: the shared VAE protocol and the registry of model kinds."""

from seqvae.models.base import MODEL_REGISTRY, VAE, ModelOutput, build_model, parse_model_config, register_model
from seqvae.models.linear import LinearGaussianVAE
from seqvae.models.mlp import MLPVAE

__all__ = [
    "MODEL_REGISTRY",
    "VAE",
    "LinearGaussianVAE",
    "MLPVAE",
    "ModelOutput",
    "build_model",
    "parse_model_config",
    "register_model",
]
