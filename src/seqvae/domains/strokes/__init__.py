"""Pen strokes (the sequence-VAE seed): the de Jong reader and digit generator, digit figures, the experiment.

Importing the package registers its parts (data kinds, report view, experiment); its shipped YAML
configs sit next to its modules.
"""

from seqvae.domains.strokes import data, experiment, figures  # noqa: F401  (registration)
