"""Nested parameter dicts: update a value deep inside, flatten, search, fill in defaults.

These are the reference package's dict helpers (``face_rhythm.helpers.deep_update_dict``,
``flatten_dict``, ``find_subDict_key``, ``fill_in_dict``, ``check_keys_subset``,
``prepare_params``); :mod:`face_rhythm.helpers` re-exports them. ``prepare_params(params,
defaults)`` is how a notebook's params dict is checked against
``util.get_default_parameters()`` and completed before ``pipelines.pipeline_basic`` runs.

A dict "key path" is a list of keys from the top level down, e.g.
``['PointTracker', 'params_optical_flow', 'window_size']``.
"""

from __future__ import annotations

import copy
import logging
import re
import warnings
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from .errors import ConfigError, ParamsKeyError

logger = logging.getLogger(__name__)

__all__ = [
    "check_keys_subset",
    "deep_update_dict",
    "fill_in_dict",
    "find_subDict_key",
    "flatten_dict",
    "prepare_params",
]


def _as_path(key: str | Sequence[str]) -> list:
    if isinstance(key, (str, bytes)) or not isinstance(key, Sequence):
        return [key]
    if len(key) == 0:
        raise ConfigError("deep_update_dict: key must name at least one level")
    return list(key)


def deep_update_dict(dictionary: MutableMapping, key: str | Sequence[str], new_val: Any = None,
                     new_key: Any = None, in_place: bool = False) -> dict | None:
    """Set a value, or rename a key, inside a nested dict.

    Parameters
    ----------
    dictionary : dict
        The nested dict to update.
    key : list of str, or str
        Path of keys to the entry, one per level; a single key means the top level. Every
        key of the path must already exist.
    new_val : object, optional
        New value of the entry. With ``None``, ``new_key`` must be given and the entry keeps
        its value under the new key.
    new_key : object, optional
        Rename the last key of ``key`` to this (keeping its position is not guaranteed: the
        renamed entry is inserted last in its dict).
    in_place : bool
        Update ``dictionary`` itself and return None; otherwise update a deep copy and
        return it.

    Returns
    -------
    dict or None
        The updated deep copy, or None when ``in_place``.

    Raises
    ------
    ConfigError
        A key of the path that is missing (the message names the path), or neither
        ``new_val`` nor ``new_key`` given.

    Examples
    --------
    >>> deep_update_dict({'a': {'b': 1}}, ['a', 'b'], 2)
    {'a': {'b': 2}}
    """
    path = _as_path(key)
    if new_val is None and new_key is None:
        raise ConfigError(f"deep_update_dict: give new_val or new_key for key path {path}")
    out = dictionary if in_place else copy.deepcopy(dictionary)
    d = out
    for i, k in enumerate(path):
        if not isinstance(d, Mapping) or k not in d:
            raise ConfigError(f"deep_update_dict: key {k!r} not found at {path[:i]} "
                              f"(key path {path})")
        if i < len(path) - 1:
            d = d[k]
    last = path[-1]
    if new_key is None:
        d[last] = new_val
    else:
        old = d.pop(last)
        d[new_key] = old if new_val is None else new_val
    return None if in_place else out


def flatten_dict(d: Mapping, parent_key: str = "", sep: str = ".") -> dict:
    """Flatten a nested dict to one level, keys joined by ``sep``.

    Parameters
    ----------
    d : mapping
        The nested dict. Keys are converted with ``str``.
    parent_key : str
        Prefix of every key (used by the recursion).
    sep : str
        Separator between the levels' keys.

    Returns
    -------
    dict
        ``{"a.b.c": value}`` for every leaf (a value that is not a mapping). An empty
        sub-dict is kept as a leaf with value ``{}``.

    Examples
    --------
    >>> flatten_dict({'a': {'b': 1, 'c': {'d': 2}}, 'e': 3})
    {'a.b': 1, 'a.c.d': 2, 'e': 3}
    """
    out: dict = {}
    for k, v in d.items():
        name = f"{parent_key}{sep}{k}" if parent_key else str(k)
        if isinstance(v, Mapping) and len(v) > 0:
            out.update(flatten_dict(v, name, sep=sep))
        else:
            out[name] = v
    return out


def find_subDict_key(d: Mapping, s: str, max_depth: int = 9999999) -> list[tuple[list, Any]]:
    """Every entry of a nested dict whose key matches a regular expression.

    Parameters
    ----------
    d : mapping
        The nested dict to search.
    s : str
        Regular expression, matched with ``re.search`` against ``str(key)``.
    max_depth : int
        Levels to search: 1 is the top level only, 2 the top level and the one below, ...

    Returns
    -------
    list of (list, object)
        ``(key_path, value)`` for each match, in depth-first order (a match's own sub-dict
        is searched too).

    Examples
    --------
    >>> find_subDict_key({'a': {'win': 1}, 'window': 2}, 'win')
    [(['a', 'win'], 1), (['window'], 2)]
    """
    pattern = re.compile(s)
    found: list[tuple[list, Any]] = []

    def walk(sub: Mapping, prefix: list, depth: int) -> None:
        if depth <= 0:
            return
        for k, v in sub.items():
            if pattern.search(str(k)):
                found.append((prefix + [k], v))
            if isinstance(v, Mapping):
                walk(v, prefix + [k], depth - 1)

    walk(d, [], int(max_depth))
    return found


def fill_in_dict(d: MutableMapping, defaults: Mapping, verbose: bool = True,
                 hierarchy: list[str] | None = None) -> None:
    """Add the keys of ``defaults`` missing from ``d``, recursively, in place.

    Parameters
    ----------
    d : dict
        Filled in place. Where both ``d`` and ``defaults`` hold a dict under a key, that
        sub-dict is filled in turn; a value ``d`` already has is never replaced.
    defaults : mapping
        The default values (deep-copied into ``d``, so ``d`` shares nothing with them).
    verbose : bool
        Log (INFO) each default put in.
    hierarchy : list of str, optional
        Key path of ``d`` for the messages (used by the recursion); ``['dict']`` if None.
    """
    hierarchy = ["dict"] if hierarchy is None else list(hierarchy)
    for k, v in defaults.items():
        if k not in d:
            d[k] = copy.deepcopy(v)
            if verbose:
                logger.info("parameter %s not given; using the default %r",
                            ".".join(map(str, hierarchy + [k])), v)
        elif isinstance(d[k], MutableMapping) and isinstance(v, Mapping):
            fill_in_dict(d[k], v, verbose=verbose, hierarchy=hierarchy + [k])


def check_keys_subset(d: Mapping, default_dict: Mapping, error_on_missing_keys: bool = True,
                      hierarchy: list[str] | None = None) -> None:
    """Check, recursively, that every key of ``d`` is also a key of ``default_dict``.

    Sub-dicts are compared where both hold a dict under the same key (a default that is
    not a dict, e.g. ``None``, accepts any value).

    Parameters
    ----------
    d : mapping
        The dict to check (e.g. a user's params).
    default_dict : mapping
        The allowed keys (e.g. the defaults).
    error_on_missing_keys : bool
        Raise on the first unknown key; otherwise warn (``UserWarning``) for each.
    hierarchy : list of str, optional
        Key path of ``d`` for the messages (used by the recursion); ``['defaults']`` if None.

    Raises
    ------
    ParamsKeyError
        An unknown key (with ``error_on_missing_keys``); the message names its key path and
        the closest allowed key. It is an ``AssertionError`` too, as in the reference.
    """
    import difflib

    hierarchy = ["defaults"] if hierarchy is None else list(hierarchy)
    for k, v in d.items():
        where = ".".join(map(str, hierarchy + [k]))
        if k not in default_dict:
            close = difflib.get_close_matches(str(k), [str(x) for x in default_dict], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            msg = f"unknown parameter {where}: not a key of the defaults{hint}"
            if error_on_missing_keys:
                raise ParamsKeyError(msg)
            warnings.warn(msg, stacklevel=2)
            continue
        if isinstance(v, Mapping) and isinstance(default_dict[k], Mapping):
            check_keys_subset(v, default_dict[k], error_on_missing_keys=error_on_missing_keys,
                              hierarchy=hierarchy + [k])


def prepare_params(params: Mapping, defaults: Mapping, error_on_missing_keys: bool = True,
                   verbose: bool = True) -> dict:
    """Check ``params`` against ``defaults`` and fill in what is missing (a deep copy).

    1. every key of ``params`` must be a key of ``defaults`` (:func:`check_keys_subset`);
    2. a deep copy of ``params`` gets every missing key from ``defaults``
       (:func:`fill_in_dict`), at every level.

    Parameters
    ----------
    params : mapping
        The user's (possibly partial) nested params.
    defaults : mapping
        The full nested defaults, e.g. ``face_rhythm.util.get_default_parameters()``.
    error_on_missing_keys : bool
        Raise :class:`~face_rhythm.errors.ParamsKeyError` for a key of ``params`` that
        ``defaults`` lacks; otherwise warn and keep it.
    verbose : bool
        Log (INFO) each default filled in.

    Returns
    -------
    dict
        The completed params; neither ``params`` nor ``defaults`` is modified or shared.

    Examples
    --------
    >>> prepare_params({'a': {'b': 5}}, {'a': {'b': 1, 'c': 2}, 'd': 3}, verbose=False)
    {'a': {'b': 5, 'c': 2}, 'd': 3}
    """
    check_keys_subset(params, defaults, error_on_missing_keys=error_on_missing_keys)
    out = copy.deepcopy(dict(params))
    fill_in_dict(out, defaults, verbose=verbose)
    return out
