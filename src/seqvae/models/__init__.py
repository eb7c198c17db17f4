"""Models: the shared VAE protocol and the registry of model kinds."""

from seqvae.models.base import MODEL_REGISTRY, VAE, ModelOutput, build_model, parse_model_config, register_model
from seqvae.models.conditional import ConditionalVAE
from seqvae.models.dsae import DSAE
from seqvae.models.linear import LinearGaussianVAE
from seqvae.models.mlp import MLPVAE
from seqvae.models.recurrent import VRAE, StackedLSTMVAE
from seqvae.models.sketch import StrokeMDNVAE

__all__ = [
    "MODEL_REGISTRY",
    "VAE",
    "ConditionalVAE",
    "DSAE",
    "LinearGaussianVAE",
    "MLPVAE",
    "StackedLSTMVAE",
    "StrokeMDNVAE",
    "VRAE",
    "ModelOutput",
    "build_model",
    "parse_model_config",
    "register_model",
]
