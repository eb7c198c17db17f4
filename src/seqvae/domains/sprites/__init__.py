"""Sprites videos (the DSAE seed): the sprite simulator and release reader, the experiment.

Importing the package registers its parts (data kinds, report view, experiment); its shipped YAML
configs sit next to its modules.
"""

from seqvae.domains.sprites import data, experiment  # noqa: F401  (registration)
