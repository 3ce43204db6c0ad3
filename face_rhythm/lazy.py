"""Lazy package exports (PEP 562): a package names what it exports, and each name's module is
imported on first access.

A job imports only what it uses: a check of a config (``video_metadata``) or a reader of a
result file loads neither torch, tensorly nor matplotlib, and a notebook still finds every
documented name at ``face_rhythm.<package>.<name>``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, namespace: MutableMapping[str, Any],
                 modules: Mapping[str, Iterable[str]], submodules: Iterable[str] = (),
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose names load on first access.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    namespace : mutable mapping
        The package's ``globals()``: a name, once loaded, is stored there (later accesses
        are plain lookups).
    modules : mapping of str to iterable of str
        Submodule name -> the names it exports through the package.
    submodules : iterable of str
        Further submodules reachable as attributes (every key of ``modules`` already is).

    Returns
    -------
    (callable, callable)
        ``__getattr__(name)`` and ``__dir__()`` for the package module.
    """
    owner = {name: module for module, names in modules.items() for name in names}
    if clash := sorted(set(owner) & (set(modules) | set(submodules))):
        # importing the submodule would bind its name in the package, shadowing the export
        raise ImportError(f"{package}: lazy export(s) {clash} named like a submodule; "
                          "import them eagerly")
    reachable = frozenset(modules) | frozenset(submodules)

    def __getattr__(name: str) -> Any:
        if name in owner:
            value = getattr(import_module(f"{package}.{owner[name]}"), name)
        elif name in reachable:
            value = import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(owner) | reachable)

    return __getattr__, __dir__
