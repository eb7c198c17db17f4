"""The dmol.pub VAE chapter's small experiments: categorical, beta and regression VAEs.

Importing the package registers its parts (data kinds, report view, experiment); its shipped YAML
configs sit next to its modules.
"""

from seqvae.domains.dmol import data, experiment, figures  # noqa: F401  (registration)
