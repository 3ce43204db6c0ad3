"""Provenance: what made an output file.

:func:`run_info` gathers the face-rhythm version, the versions of the numerical stack, the
config subset used, the input files (size and modification time, plus a SHA-256 for small
files) and a UTC timestamp. Outputs store it as the ``run_info`` group (JSON strings), so
``face-rhythm info FILE.h5`` can print it back.

Secrets never go in: keys whose name contains ``password``, ``secret`` or ``token`` are
replaced by ``"***"``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata as _md
import json
import os
import platform
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["describe_inputs", "find_run_info", "json_default", "package_versions", "read_run_info", "redact",
           "run_info", "run_info_to_h5_dict", "write_run_info"]

_PACKAGES = ("face-rhythm", "numpy", "scipy", "torch", "opencv-python-headless", "opencv-python",
             "decord2", "vqt", "tensorly", "h5py", "pandas", "snakemake")
_SECRET_WORDS = ("password", "secret", "token", "passphrase")
_HASH_LIMIT = 16 * 1024 * 1024


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on (``"missing"`` if absent)."""
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = _md.version(name)
        except _md.PackageNotFoundError:
            out[name] = "missing"
    out["python"] = sys.version.split()[0]
    out["platform"] = platform.platform()
    return out


def redact(obj: Any) -> Any:
    """Copy of a nested config with secret-looking values replaced by ``"***"``."""
    if isinstance(obj, Mapping):
        return {k: ("***" if any(w in str(k).lower() for w in _SECRET_WORDS) else redact(v))
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact(v) for v in obj]
    return obj


def describe_inputs(paths: Iterable[str | os.PathLike]) -> list[dict[str, Any]]:
    """Name, size (bytes), modification time (UTC ISO) and, for files ≤ 16 MiB, SHA-256."""
    out = []
    for p in paths:
        if "://" in str(p):  # a URL (sftp://): kept as given, not stat'ed over the network
            out.append({"path": str(p), "remote": True})
            continue
        p = Path(p)
        entry: dict[str, Any] = {"path": str(p)}
        if p.is_file():
            st = p.stat()
            entry["size_bytes"] = st.st_size
            entry["mtime_utc"] = _dt.datetime.fromtimestamp(st.st_mtime, _dt.UTC).isoformat()
            if st.st_size <= _HASH_LIMIT:
                entry["sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
        out.append(entry)
    return out


def run_info(config: Mapping[str, Any] | None = None,
             inputs: Iterable[str | os.PathLike] = (),
             extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A provenance record for one output: versions, config subset, inputs, UTC time."""
    return {
        "face_rhythm_version": package_versions()["face-rhythm"],
        "versions": package_versions(),
        "config": redact(dict(config or {})),
        "inputs": describe_inputs(inputs),
        "timestamp_utc": _dt.datetime.now(_dt.UTC).isoformat(),
        "extra": redact(dict(extra or {})),
    }


def json_default(obj: Any) -> Any:
    """The ``default=`` hook of :func:`json.dump` (and the YAML writers): numpy scalars and
    arrays, paths, tuples and sets -> plain Python; anything else is a ``TypeError``."""
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # numpy scalar or array
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, tuple):
        return list(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=str)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


def run_info_to_h5_dict(info: Mapping[str, Any]) -> dict[str, str]:
    """The form stored in HDF5 under ``run_info``: one JSON string per top-level key."""
    return {k: json.dumps(v, default=json_default, sort_keys=True) for k, v in info.items()}


def write_run_info(parent, info: Mapping[str, Any] | None, name: str = "run_info") -> None:
    """Store ``info`` as the group ``name`` of an open HDF5 file or group (the one writer).

    Parameters
    ----------
    parent : h5py.File or h5py.Group
        Open for writing; the group ``name`` is replaced if it exists.
    info : mapping or None
        From :func:`run_info`; ``None`` writes nothing.
    name : str, optional
        Name of the group.
    """
    if info is None:
        return
    if name in parent:
        del parent[name]
    group = parent.create_group(name, track_order=True)
    for key, value in run_info_to_h5_dict(info).items():
        group.create_dataset(key, data=value)


def read_run_info(h5_group) -> dict[str, Any]:
    """Inverse of :func:`run_info_to_h5_dict` for an open ``run_info`` group."""
    out = {}
    for k, v in h5_group.items():
        raw = v[()]
        out[k] = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    return out


def find_run_info(h5_file) -> dict[str, Any] | None:
    """Provenance of an open output file, or None when it has none.

    Reads the ``run_info`` group of the workflow's HDF5 files, or, for an NWB export
    (:mod:`face_rhythm.nwb`), the JSON record stored in ``general/notes``.
    """
    if "run_info" in h5_file:
        return read_run_info(h5_file["run_info"])
    notes = h5_file.get("general/notes")
    if notes is not None:
        raw = notes[()]
        try:
            info = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        except (TypeError, ValueError):
            return None
        if isinstance(info, dict) and "face_rhythm_version" in info:
            return info
    return None
