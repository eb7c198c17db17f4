"""The built-in domains: one package per kind of data the seeds work on.

Each package (``basketball``, ``strokes``, ``sprites``, ``planning``, ``arm7``, ``polymer``, ``dmol``) holds
its simulator or reader, its figures, its experiment and its shipped YAML configs, and registers them with
the core's registries (:mod:`seqvae.registry`) when imported. The core never imports this package by name:
it is a plugin, named in seqvae's own ``seqvae.domains`` entry point, and loaded the first time a registry
is read. Importing it imports every sub-package found here, so a new domain is a new directory.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if _module.ispkg:
        importlib.import_module(f"{__name__}.{_module.name}")
