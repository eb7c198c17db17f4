"""Bead-spring polymers (the dmol.pub chapter): the Langevin simulator, chain figures, the experiment.

Importing the package registers its parts (data kinds, report view, experiment); its shipped YAML
configs sit next to its modules.
"""

from seqvae.domains.polymer import data, experiment, figures  # noqa: F401  (registration)
