"""The original's HDF5 helpers: nested dicts <-> HDF5 files, trees, merging, closing.

Nested dicts become groups; numpy arrays, numbers and strings become datasets; ``None`` is
skipped. Every file is written atomically: it is built under a temporary name in the same
folder and renamed into place only when complete (:mod:`face_rhythm.atomic`), so a killed job
never leaves a file that looks finished. ``write_mode='a'`` (append) works on a temporary
copy of the file, renamed over it when done. Strings and other scalars that describe a run
(parameters, provenance) are better stored as attributes or as a JSON string dataset, see
:mod:`face_rhythm.provenance`.

The documented signatures of the original package hold: ``simple_save(dict_to_save, path,
use_compression=False, track_order=True, write_mode='w-', verbose=False)`` refuses to
replace an existing file unless ``write_mode='w'``; ``write_dict_to_h5(path_save,
input_dict, ...)`` writes a file (an open ``h5py`` group is also accepted);
``show_item_tree`` and ``show_group_items`` print (``sys.stdout``) and return the text;
:func:`item_tree` only returns it.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .atomic import atomic_h5, atomic_path
from .disk_arrays import drop_pages, is_read_only_map
from .errors import ConfigError, FaceRhythmError, PathExistsError
from .provenance import find_run_info

logger = logging.getLogger(__name__)

__all__ = [
    "atomic_h5",
    "atomic_path",
    "close_all_h5",
    "h5Obj_to_dict",
    "item_tree",
    "load_top_datasets",
    "make_h5_tree",
    "merge_dict_into_h5_file",
    "merge_helper",
    "read_file_run_info",
    "show_group_items",
    "show_item_tree",
    "simple_load",
    "simple_save",
    "write_dict_to_h5",
]

WRITE_MODES = ("w", "w-", "x", "a")


def _write_item(group: h5py.Group, key: str, value: Any, use_compression: bool | None,
                track_order: bool = True) -> None:
    """Write one dict item under ``group``: a sub-dict as a group, anything else a dataset.

    An existing group of the same name is written into (append); an existing dataset of the
    same name is an error.
    """
    if value is None:
        return
    key = str(key)
    if isinstance(value, Mapping):
        if key in group and isinstance(group[key], h5py.Group):
            sub = group[key]
        else:
            if key in group:
                raise PathExistsError(f"{group.name}/{key}: a dataset already exists there")
            sub = group.create_group(key, track_order=track_order)
        for k, v in value.items():
            _write_item(sub, str(k), v, use_compression, track_order)
        return
    if key in group:
        raise PathExistsError(f"{group.file.filename}: {group.name.rstrip('/')}/{key} "
                              "already exists (write_mode='a' adds only new items)")
    if isinstance(value, (str, bytes)):
        group.create_dataset(key, data=value)
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
    if use_compression and arr.ndim > 0 and arr.size > 0 and arr.dtype.kind in "biufc":
        kwargs = {"compression": "gzip", "compression_opts": 9, "chunks": True}
    if arr.ndim > 0 and is_read_only_map(arr):  # a long result kept on disk: stream it
        dset = group.create_dataset(key, shape=arr.shape, dtype=arr.dtype, **kwargs)
        step = max(1, (8 << 20) // max(arr[:1].nbytes, 1))
        for a in range(0, arr.shape[0], step):
            dset[a:a + step] = arr[a:a + step]
            drop_pages(arr, a, a + step)
        return
    group.create_dataset(key, data=arr, **kwargs)


def make_h5_tree(dict_obj: Mapping[str, Any], h5_obj: h5py.Group, group_string: str = "",
                 use_compression: bool = False, track_order: bool = True) -> None:
    """Write a nested dict into an open HDF5 file or group: groups for dicts, datasets else.

    Called by :func:`write_dict_to_h5`; use that to write a file.

    Parameters
    ----------
    dict_obj : mapping
        Nested dict; leaves are arrays, numbers or strings (``None`` is skipped).
    h5_obj : h5py.File or h5py.Group
        Open for writing.
    group_string : str
        Path of the group inside ``h5_obj`` to write into (created if missing); ``''`` or
        ``'/'`` is ``h5_obj`` itself.
    use_compression : bool
        gzip (level 9) every numeric dataset that is not a scalar.
    track_order : bool
        Groups created keep their items in insertion order.

    Raises
    ------
    PathExistsError
        An item whose name is already a dataset in the target group.
    TypeError
        A value HDF5 cannot store (e.g. a list of arbitrary objects).
    """
    group = h5_obj
    if group_string not in ("", "/"):
        name = group_string.strip("/")
        group = h5_obj[name] if name in h5_obj else h5_obj.create_group(
            name, track_order=track_order)
    for k, v in dict_obj.items():
        _write_item(group, str(k), v, use_compression, track_order)


def _write_file(path: str | os.PathLike, input_dict: Mapping[str, Any], use_compression: bool,
                track_order: bool, write_mode: str) -> Path:
    """Write ``input_dict`` to the file ``path`` atomically, honouring ``write_mode``."""
    if path is None:
        raise ConfigError("give the path of the HDF5 file to write")
    path = Path(path)
    if write_mode not in WRITE_MODES:
        raise ConfigError(f"write_mode={write_mode!r}: expected one of {WRITE_MODES}")
    if write_mode in ("w-", "x") and path.exists():
        raise PathExistsError(f"{path}: already exists (write_mode={write_mode!r} refuses to "
                              "overwrite; use write_mode='w')")
    with atomic_path(path) as tmp:
        if write_mode == "a" and path.exists():
            shutil.copyfile(path, tmp)
            with h5py.File(tmp, "r+") as f:
                make_h5_tree(input_dict, f, use_compression=use_compression,
                             track_order=track_order)
        else:
            with h5py.File(tmp, "w", track_order=track_order) as f:
                make_h5_tree(input_dict, f, use_compression=use_compression,
                             track_order=track_order)
    return path


def write_dict_to_h5(path_save: str | os.PathLike | h5py.Group, input_dict: Mapping[str, Any],
                     use_compression: bool = False, track_order: bool = True,
                     write_mode: str = "w-", show_item_tree_pref: bool = True) -> None:
    """Write a nested dict to an HDF5 file (atomically), mirroring its hierarchy.

    Parameters
    ----------
    path_save : path-like or h5py.Group
        The file to write. An open, writable ``h5py`` file or group is also accepted: the
        dict is then written into it (:func:`make_h5_tree`) and nothing is printed.
    input_dict : mapping
        Nested dict; leaves are arrays, numbers or strings.
    use_compression : bool
        gzip (level 9) every numeric dataset that is not a scalar.
    track_order : bool
        Keep the dicts' insertion order in the file.
    write_mode : str
        ``'w'`` replace an existing file; ``'w-'`` (or ``'x'``) refuse to; ``'a'`` add the
        dict's items to an existing file (an existing dataset of the same name is an error).
    show_item_tree_pref : bool
        Print the file's tree (:func:`show_item_tree`) after writing.

    Raises
    ------
    PathExistsError
        The file exists and ``write_mode`` is ``'w-'``, or ``'a'`` meets an existing dataset;
        the file is unchanged.
    """
    if isinstance(path_save, h5py.Group):
        make_h5_tree(input_dict, path_save, use_compression=use_compression,
                     track_order=track_order)
        return
    path = _write_file(path_save, input_dict, use_compression, track_order, write_mode)
    if show_item_tree_pref:
        show_item_tree(path=path)


def simple_save(dict_to_save: Mapping[str, Any], path: str | os.PathLike | None = None,
                use_compression: bool = False, track_order: bool = True,
                write_mode: str = "w-", verbose: bool = False) -> Path:
    """Save a nested dict of arrays to ``path`` as HDF5, atomically (temp file, then rename).

    Parameters
    ----------
    dict_to_save : mapping
        Nested dict; leaves are arrays, numbers or strings (``None`` is skipped).
    path : path-like
        Destination; its folder is created if needed.
    use_compression : bool
        gzip (level 9) every numeric dataset that is not a scalar.
    track_order : bool
        Keep the dicts' insertion order in the file.
    write_mode : str
        ``'w'`` replace an existing file; ``'w-'`` (the default, or ``'x'``) refuse to;
        ``'a'`` add the dict's items to an existing file (created if missing).
    verbose : bool
        Print the file's tree (:func:`show_item_tree`) after writing.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    PathExistsError
        The file exists and ``write_mode`` is ``'w-'``, or ``'a'`` meets an existing dataset;
        the file is unchanged.
    """
    path = _write_file(path, dict_to_save, use_compression, track_order, write_mode)
    if verbose:
        show_item_tree(path=path)
    return path


def h5Obj_to_dict(hObj: h5py.Group) -> dict[str, Any]:
    """Read an open HDF5 file or group into a nested dict of numpy arrays.

    Parameters
    ----------
    hObj : h5py.File or h5py.Group

    Returns
    -------
    dict
        Groups as dicts; each dataset read whole (``dataset[()]``): arrays, numpy scalars,
        and strings decoded to ``str`` (string arrays as object arrays of ``str``).
    """
    out: dict[str, Any] = {}
    for k, v in hObj.items():
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
    """Load an HDF5 file: a nested dict (default) or an open read-only ``h5py.File``.

    Parameters
    ----------
    filepath : path-like
    return_dict : bool
        Return :func:`h5Obj_to_dict` of the file; otherwise the open file (close it).
    verbose : bool
        Print the file's tree first (:func:`show_item_tree`).

    Raises
    ------
    FileNotFoundError
        No such file.
    """
    filepath = Path(filepath)
    if not filepath.is_file():
        raise FileNotFoundError(f"{filepath}: no such HDF5 file")
    if verbose:
        show_item_tree(path=filepath)
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
        _write_item(group, k, v, False)


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


def _leaf_text(v: Any) -> str:
    if isinstance(v, h5py.Dataset):
        return f"shape={v.shape} dtype={v.dtype}"
    arr = np.asarray(v)
    return f"shape={arr.shape} dtype={arr.dtype}"


def _attr_lines(obj: Any, pad: str, print_metadata: bool) -> list[str]:
    attrs = getattr(obj, "attrs", None)
    if attrs is None:
        return []
    return [f"{pad}@{ak} = {av}" if print_metadata else f"{pad}@{ak}: {_leaf_text(av)}"
            for ak, av in attrs.items()]


def item_tree(hObj: h5py.Group | Mapping | None = None, path: str | os.PathLike | None = None,
              depth: int | None = None, show_metadata: bool = True,
              print_metadata: bool = False, indent_level: int = 0) -> str:
    """The text of :func:`show_item_tree`, without printing it."""
    lines: list[str] = []

    def walk(obj, level):
        if depth is not None and level - indent_level > depth:
            return
        for k, v in obj.items():
            pad = "    " * level
            if isinstance(v, (h5py.Group, Mapping)):
                lines.append(f"{pad}{k}/")
                if show_metadata:
                    lines.extend(_attr_lines(v, pad + "    ", print_metadata))
                walk(v, level + 1)
            else:
                lines.append(f"{pad}{k}: {_leaf_text(v)}")
                if show_metadata:
                    lines.extend(_attr_lines(v, pad + "    ", print_metadata))

    if path is not None:
        with h5py.File(path, "r") as f:
            walk(f, indent_level)
    elif hObj is None:
        raise ConfigError("show_item_tree: give hObj or path")
    else:
        walk(hObj, indent_level)
    return "\n".join(lines)


def show_item_tree(hObj: h5py.Group | Mapping | None = None,
                   path: str | os.PathLike | None = None, depth: int | None = None,
                   show_metadata: bool = True, print_metadata: bool = False,
                   indent_level: int = 0) -> str:
    """Print (``sys.stdout``) the groups and datasets of an HDF5 file or a nested dict.

    One line per item, indented 4 spaces per level: ``name/`` for a group or dict,
    ``name: shape=(2, 3) dtype=float32`` for a dataset or leaf.

    Parameters
    ----------
    hObj : h5py.File, h5py.Group or mapping, optional
        What to show; ignored when ``path`` is given.
    path : path-like, optional
        An HDF5 file, opened read-only.
    depth : int, optional
        Levels below the top to show (0: the top level only); None: all.
    show_metadata : bool
        List each item's HDF5 attributes (``@name``) under it.
    print_metadata : bool
        Show the attributes' values; otherwise their shape and dtype.
    indent_level : int
        Indentation of the top level (used by the recursion; leave at 0).

    Returns
    -------
    str
        The text printed.
    """
    text = item_tree(hObj, path=path, depth=depth, show_metadata=show_metadata,
                     print_metadata=print_metadata, indent_level=indent_level)
    sys.stdout.write(text + "\n")
    return text


def show_group_items(hObj: h5py.Group | Mapping) -> str:
    """Print (``sys.stdout``) the top-level items of an HDF5 file / group or a dict.

    One numbered line per item: ``1. name: <group>`` or ``2. name: shape=(2,) dtype=int64``.
    :func:`show_item_tree` lists everything.

    Returns
    -------
    str
        The text printed.
    """
    lines = [f"{i}. {k}: <group>" if isinstance(v, (h5py.Group, Mapping))
             else f"{i}. {k}: {_leaf_text(v)}" for i, (k, v) in enumerate(hObj.items(), 1)]
    text = "\n".join(lines)
    sys.stdout.write(text + "\n")
    return text


def close_all_h5() -> int:
    """Close every open ``h5py.File`` object of this Python process.

    Walks the live objects (``gc.get_objects``) and closes each open ``h5py.File``, e.g.
    files a notebook opened with ``simple_load(..., return_dict=False)`` and lost.

    Returns
    -------
    int
        The number of files closed.
    """
    n = 0
    for obj in gc.get_objects():
        try:
            # type(), not isinstance: the latter reads obj.__class__ of lazy proxies
            if issubclass(type(obj), h5py.File) and obj.id.valid:
                obj.close()
                n += 1
        except Exception as e:  # noqa: BLE001 - a half-dead handle must not stop the sweep
            logger.debug("close_all_h5: could not close %r: %s", obj, e)
    logger.info("close_all_h5: closed %d HDF5 file(s)", n)
    return n


def read_file_run_info(path: str | os.PathLike) -> dict[str, Any] | None:
    """Provenance of an output file on disk (HDF5 or NWB), or None when it has none.

    Opens ``path`` read-only and returns :func:`face_rhythm.provenance.find_run_info` of it:
    the ``run_info`` group of the workflow's HDF5 files, or an NWB export's ``general/notes``.
    Raises ``OSError`` when ``path`` is not a readable HDF5 file.
    """
    with h5py.File(path, "r") as f:
        return find_run_info(f)
