"""Reading and writing results as HDF5, atomically.

Every output of the workflow is written with :func:`simple_save` (or inside
:func:`atomic_h5`): the file is built under a temporary name in the same folder and renamed
into place only when complete, so a killed job never leaves a file that looks finished.

Nested dicts become groups; numpy arrays, numbers and strings become datasets; ``None`` is
skipped. Strings and other scalars that describe a run (parameters, provenance) are better
stored as attributes or as a JSON string dataset, see :mod:`face_rhythm.provenance`.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .atomic import atomic_h5, atomic_path
from .errors import ConfigError, FaceRhythmError
from .provenance import find_run_info

logger = logging.getLogger(__name__)

__all__ = [
    "atomic_h5",
    "atomic_path",
    "h5Obj_to_dict",
    "load_top_datasets",
    "merge_dict_into_h5_file",
    "merge_helper",
    "read_file_run_info",
    "show_item_tree",
    "simple_load",
    "simple_save",
    "write_dict_to_h5",
]


def _write_item(group: h5py.Group, key: str, value: Any, compression: str | None) -> None:
    if value is None:
        return
    if isinstance(value, Mapping):
        sub = group.create_group(str(key), track_order=True)
        for k, v in value.items():
            _write_item(sub, str(k), v, compression)
        return
    if isinstance(value, (str, bytes)):
        group.create_dataset(str(key), data=value)
        return
    arr = np.asarray(value)
    if arr.dtype == object:
        if all(isinstance(v, str) for v in arr.ravel()):
            arr = arr.astype(h5py.string_dtype())
        else:
            raise TypeError(f"cannot store object array under {group.name}/{key}")
    if arr.dtype.kind == "U":
        arr = arr.astype(h5py.string_dtype())
    kwargs = {}
    if compression and arr.ndim > 0 and arr.size > 1024:
        kwargs = {"compression": compression, "chunks": True}
    group.create_dataset(str(key), data=arr, **kwargs)


def write_dict_to_h5(
    h5_obj: h5py.Group, input_dict: Mapping[str, Any], use_compression: bool = False
) -> None:
    """Write a nested dict into an open HDF5 group (groups for dicts, datasets for arrays)."""
    for k, v in input_dict.items():
        _write_item(h5_obj, str(k), v, "gzip" if use_compression else None)


def simple_save(
    dict_to_save: Mapping[str, Any],
    path: str | os.PathLike,
    use_compression: bool = False,
    verbose: bool = False,
) -> Path:
    """Save a nested dict of arrays to ``path`` as HDF5, atomically (temp file, then rename).

    Parameters
    ----------
    dict_to_save : mapping
        Nested dict; leaves are arrays, numbers or strings.
    path : path-like
        Destination; its folder is created if needed. An existing file is replaced.
    use_compression : bool
        gzip-compress datasets larger than 1024 elements.
    """
    path = Path(path)
    with atomic_h5(path) as f:
        write_dict_to_h5(f, dict_to_save, use_compression=use_compression)
    if verbose:
        logger.info("saved %s", path)
    return path


def h5Obj_to_dict(h_obj: h5py.Group) -> dict[str, Any]:
    """Read an open HDF5 group into a nested dict of numpy arrays (strings decoded)."""
    out: dict[str, Any] = {}
    for k, v in h_obj.items():
        if isinstance(v, h5py.Group):
            out[k] = h5Obj_to_dict(v)
        else:
            data = v[()]
            if isinstance(data, bytes):
                data = data.decode()
            elif isinstance(data, np.ndarray) and data.dtype.kind == "O":
                data = np.array([d.decode() if isinstance(d, bytes) else d for d in data.ravel()],
                                dtype=object).reshape(data.shape)
            out[k] = data
    return out


def simple_load(filepath: str | os.PathLike, return_dict: bool = True, verbose: bool = False):
    """Load an HDF5 file: a nested dict (default) or an open read-only ``h5py.File``."""
    filepath = Path(filepath)
    if not filepath.is_file():
        raise FileNotFoundError(f"{filepath}: no such HDF5 file")
    if not return_dict:
        return h5py.File(filepath, "r")
    with h5py.File(filepath, "r") as f:
        return h5Obj_to_dict(f)


def load_top_datasets(filepath: str | os.PathLike, required: str, what: str) -> dict[str, Any]:
    """The top-level datasets of an HDF5 result file as a dict, strings decoded.

    Parameters
    ----------
    filepath : path-like
    required : str
        A dataset that must be present (it identifies the kind of file).
    what : str
        The kind of file, for error messages (e.g. ``"registration.h5"``).

    Raises
    ------
    FileNotFoundError, FaceRhythmError
        A missing file, or one without ``required``; the message names the file.
    """
    filepath = Path(filepath)
    if not filepath.is_file():
        raise FileNotFoundError(f"{filepath}: {what} file not found")
    with h5py.File(filepath, "r") as f:
        if required not in f:
            raise FaceRhythmError(f"{filepath}: no {required!r} dataset (not a {what})")
        out = {k: f[k][()] for k in f if isinstance(f[k], h5py.Dataset)}
    for k, v in list(out.items()):
        if isinstance(v, bytes):
            out[k] = v.decode()
        elif isinstance(v, np.ndarray) and v.dtype.kind == "O":
            out[k] = [s.decode() if isinstance(s, bytes) else str(s) for s in v]
    return out


def merge_helper(d: Mapping[str, Any], group: h5py.Group) -> None:
    """Merge a nested dict into an open HDF5 group, recursively.

    A dict value whose key is an existing group is merged into that group (its other items
    stay); any other value replaces the item of the same name, or is added.
    """
    for k, v in d.items():
        k = str(k)
        if isinstance(v, Mapping) and k in group and isinstance(group[k], h5py.Group):
            merge_helper(v, group[k])
            continue
        if k in group:
            del group[k]
        _write_item(group, k, v, None)


def merge_dict_into_h5_file(d: Mapping[str, Any], filepath: str | os.PathLike | None = None,
                            h5Obj: h5py.Group | None = None) -> None:
    """Merge a nested dict into an existing HDF5 file or an open file object (reference API).

    Groups are merged recursively (:func:`merge_helper`): items of ``d`` replace items with the
    same path, other items are kept. Give exactly one of ``filepath`` and ``h5Obj``. With
    ``filepath`` the file is rewritten through a temporary copy, so a failure leaves the
    original intact; ``h5Obj`` (opened writable) is changed in place.
    """
    if (filepath is None) == (h5Obj is None):
        raise ConfigError("give exactly one of filepath and h5Obj")
    if h5Obj is not None:
        merge_helper(d, h5Obj)
        return
    filepath = Path(filepath)
    if not filepath.is_file():
        raise FileNotFoundError(f"{filepath}: no such HDF5 file to merge into")
    with atomic_path(filepath) as tmp:
        shutil.copyfile(filepath, tmp)
        with h5py.File(tmp, "r+") as dst:
            merge_helper(d, dst)


def show_item_tree(
    hObj: h5py.Group | Mapping | None = None,
    path: str | os.PathLike | None = None,
    depth: int | None = None,
    show_metadata: bool = True,
    indent_level: int = 0,
) -> str:
    """Return (and log) a text tree of an HDF5 file or nested dict: names, shapes, dtypes."""
    lines: list[str] = []

    def walk(obj, level):
        if depth is not None and level > depth:
            return
        for k, v in obj.items():
            pad = "    " * level
            if isinstance(v, (h5py.Group, Mapping)):
                lines.append(f"{pad}{k}/")
                walk(v, level + 1)
            elif isinstance(v, h5py.Dataset):
                lines.append(f"{pad}{k}: shape={v.shape} dtype={v.dtype}")
                if show_metadata:
                    for ak, av in v.attrs.items():
                        lines.append(f"{pad}    @{ak} = {av}")
            else:
                arr = np.asarray(v)
                lines.append(f"{pad}{k}: shape={arr.shape} dtype={arr.dtype}")

    if hObj is None:
        if path is None:
            raise ConfigError("give hObj or path")
        with h5py.File(path, "r") as f:
            walk(f, indent_level)
    else:
        walk(hObj, indent_level)
    text = "\n".join(lines)
    logger.info("%s", text)
    return text


def read_file_run_info(path: str | os.PathLike) -> dict[str, Any] | None:
    """Provenance of an output file on disk (HDF5 or NWB), or None when it has none.

    Opens ``path`` read-only and returns :func:`face_rhythm.provenance.find_run_info` of it:
    the ``run_info`` group of the workflow's HDF5 files, or an NWB export's ``general/notes``.
    Raises ``OSError`` when ``path`` is not a readable HDF5 file.
    """
    with h5py.File(path, "r") as f:
        return find_run_info(f)
