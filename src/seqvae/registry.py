"""The one registry pattern: a named table filled by decorators, read like a mapping.

Every pluggable part of seqvae is a :class:`Registry`: models (``model.kind``), experiments
(``seqvae experiment NAME``), data kinds (``data.kind``), file readers, report views and the
directories of shipped configs. A module registers its parts when it is imported::

    @register_experiment("toy", "lines through the origin")
    def run(out_dir, seed, overrides, preset, progress): ...

The core never imports a domain. Domains (``seqvae.domains.*`` and third-party packages) are
*plugins*: packages named under the ``seqvae.domains`` entry-point group, imported the first time a
registry is listed or asked for a name the core did not register. A package of one module and one YAML file becomes part of seqvae by
declaring, in its ``pyproject.toml``::

    [project.entry-points."seqvae.domains"]
    toy = "toy_package"
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar, overload

from seqvae.errors import ConfigError


class UnknownName(ConfigError, KeyError):
    """A name no registry entry has (a :class:`ConfigError` naming the known ones; also a KeyError, so
    ``Mapping.get`` works)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

T = TypeVar("T")
PLUGIN_GROUP = "seqvae.domains"

_loaded = False
_loading = threading.RLock()


def plugin_modules() -> list[str]:
    """The module names of the ``seqvae.domains`` entry-point group (seqvae's own domains first)."""
    eps = sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: (e.dist is None or e.dist.name != "seqvae", e.name))
    return [ep.value.split(":")[0] for ep in eps]


def load_plugins(reload: bool = False) -> list[str]:
    """Import every package of the ``seqvae.domains`` entry-point group once (their imports register
    their parts); returns the module names imported. ``reload`` looks the group up again (a package
    installed since the first look)."""
    global _loaded
    with _loading:
        if _loaded and not reload:
            return []
        _loaded = True  # before importing: a plugin that reads a registry while importing must not recurse
        names = plugin_modules()
        for name in names:
            try:
                importlib.import_module(name)
            except ImportError as exc:
                raise ConfigError(f"seqvae plugin {name} cannot be imported: {exc}") from exc
        return names


class Registry(Mapping[str, T], Generic[T]):
    """Named entries of one kind (``what``, e.g. "model.kind"), registered by decorator or call.

    Listing it, or looking up a name not registered yet, first imports the plugins (a name the core
    registered resolves without them); an unknown name raises :class:`~seqvae.errors.ConfigError`
    naming the known ones.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, value: T) -> T: ...

    def register(self, name: str, value: Any = None) -> Any:
        """``@reg.register(name)`` as a decorator, or ``reg.register(name, value)``; a second entry of
        the same name replaces the first (a plugin may override a built-in)."""
        if value is not None:
            self._items[name] = value
            return value

        def deco(obj: T) -> T:
            self._items[name] = obj
            return obj

        return deco

    def unregister(self, name: str) -> None:
        self._items.pop(name, None)

    def __getitem__(self, name: str) -> T:
        if name not in self._items:  # a name registered by the core resolves without importing the plugins
            load_plugins()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise UnknownName(f"{self.what} {name!r} is not known; choose one of: {known}") from None

    def __contains__(self, name: object) -> bool:
        if name not in self._items:
            load_plugins()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        load_plugins()
        return iter(sorted(self._items))

    def __len__(self) -> int:
        load_plugins()
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {sorted(self._items)})"
