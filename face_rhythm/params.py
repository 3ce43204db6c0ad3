"""The one parameter policy: config sections -> parameter dataclasses.

Every stage keeps its defaults in one frozen dataclass (its ``params`` module) and builds it
from a config section with :func:`from_mapping`. The rules are the same everywhere:

* an unknown key is a :class:`~face_rhythm.errors.ConfigError` naming the section and the key,
  with the closest allowed key as a suggestion (``"tca.params_method: unknown key 'n_iter_max'
  (did you mean 'n_iter_max_'?)"``);
* a key that is absent keeps the dataclass default (scripts add no defaults of their own);
* a config name that differs from the field name (the original's camelCase, e.g.
  ``winSize``) is declared once, in the dataclass's ``aliases`` argument;
* nested sections become nested dataclasses, lists become tuples where the field is a tuple.

The schema's defaults (``workflow/schemas/config.schema.yaml``) are tested equal to the
dataclass defaults (:func:`defaults`), so the two cannot drift.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from .errors import ConfigError, FaceRhythmError

__all__ = ["check_keys", "defaults", "from_mapping", "unknown_key_message"]

T = TypeVar("T")


def unknown_key_message(section: str, key: str, allowed: Iterable[str]) -> str:
    """``"<section>: unknown key '<key>' (did you mean '<close>'?); allowed: ..."``."""
    allowed = sorted(str(a) for a in allowed)
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{section}: unknown key {key!r}{hint}; allowed: {', '.join(allowed)}"


def check_keys(mapping: Mapping[str, Any], allowed: Iterable[str], section: str,
               error: type[FaceRhythmError] = ConfigError) -> None:
    """Raise ``error`` for the first key of ``mapping`` not in ``allowed`` (sorted order)."""
    allowed = set(allowed)
    for key in sorted(map(str, mapping)):
        if key not in allowed:
            raise error(unknown_key_message(section, key, allowed))


def _field_types(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError, AttributeError):  # unresolvable forward references: no conversion beyond the value
        return {}


def _convert(value: Any, tp: Any, section: str, error: type[FaceRhythmError]) -> Any:
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
        return from_mapping(tp, value, section, error=error)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and args:
        if value is None:
            return None
        for a in args:
            if dataclasses.is_dataclass(a) and isinstance(value, Mapping):
                return from_mapping(a, value, section, error=error)
            if typing.get_origin(a) is tuple and isinstance(value, list):
                return tuple(value)
        return value
    if (origin is tuple or tp is tuple) and isinstance(value, list):
        return tuple(value)
    return value


def from_mapping(cls: type[T], mapping: Mapping[str, Any] | T | None, section: str, *,
                 aliases: Mapping[str, str] | None = None,
                 error: type[FaceRhythmError] = ConfigError) -> T:
    """Build the parameter dataclass ``cls`` from a config section.

    Parameters
    ----------
    cls : dataclass type
        The stage's parameters; its field defaults are the only defaults.
    mapping : mapping, instance of ``cls`` or None
        The config section (``None``: all defaults; an instance is returned as it is).
    section : str
        Name of the section for messages (e.g. ``"vqt"`` or ``"tracking.params_clahe"``).
    aliases : mapping, optional
        Config key -> field name, for keys spelled differently from the field.
    error : type, optional
        The error class to raise (a :class:`~face_rhythm.errors.FaceRhythmError`).

    Returns
    -------
    cls
        The parameters, with absent keys at their defaults.

    Raises
    ------
    FaceRhythmError
        A key that is neither a field nor an alias (with a close-match suggestion), or a
        value the dataclass rejects.
    """
    if mapping is None:
        mapping = {}
    if isinstance(mapping, cls):
        return mapping
    if not isinstance(mapping, Mapping):
        raise error(f"{section}: expected a mapping of keys, got {type(mapping).__name__}")
    aliases = dict(aliases or {})
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    check_keys(mapping, set(fields) | set(aliases), section, error)
    types_ = _field_types(cls)
    kwargs: dict[str, Any] = {}
    for key, value in mapping.items():
        name = aliases.get(key, key)
        kwargs[name] = _convert(value, types_.get(name, Any), f"{section}.{key}", error)
    try:
        return cls(**kwargs)
    except FaceRhythmError:
        raise
    except (TypeError, ValueError) as exc:
        raise error(f"{section}: {exc}") from None


def defaults(cls: type) -> dict[str, Any]:
    """Field name -> default value of a parameter dataclass (nested dataclasses as dicts)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            continue
        out[f.name] = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
    return out
