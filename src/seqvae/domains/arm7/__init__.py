"""A 7-DOF arm (Franka Panda) in shelf worlds: the conditional sampler inside OMPL planners.

Importing the package registers its parts (data kinds, report view, experiment); its shipped YAML
configs sit next to its modules.
"""

from seqvae.domains.arm7 import experiment  # noqa: F401  (registration)
