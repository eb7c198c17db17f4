"""Basketball shots (the VRAE seed): the shot simulator and SportVU reader, court figures, the experiment.

Importing the package registers its parts (data kinds, report view, experiment); its shipped YAML
configs sit next to its modules.
"""

from seqvae.domains.basketball import data, experiment, figures  # noqa: F401  (registration)
