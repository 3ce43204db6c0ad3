"""Paths and small files: find, check, list, save/load (pickle, JSON, YAML).

The reference package's path and file helpers (``face_rhythm.helpers.find_paths``,
``prepare_filepath_for_saving``, ``pickle_save``, ``json_load``, ``yaml_save``, ...);
:mod:`face_rhythm.helpers` re-exports them. Hashes, zip files and downloads are in
:mod:`face_rhythm.downloads`.

Files written with mode ``'w'``/``'wb'`` appear atomically (:mod:`face_rhythm.atomic`: temp
file, then rename), so a crash never leaves a half-written file under the final name. Paths are returned as ``str``
(absolute), as in the reference. A user's mistake raises a
:class:`~face_rhythm.errors.FaceRhythmError` subclass that is also the matching built-in
(``PathNotFoundError`` is a ``FileNotFoundError``, ``PathExistsError`` a ``FileExistsError``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import re
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from .atomic import atomic_path
from .errors import ConfigError, PathExistsError, PathNotFoundError
from .provenance import json_default

logger = logging.getLogger(__name__)

__all__ = [
    "find_paths",
    "get_dir_contents",
    "json_load",
    "json_save",
    "pickle_load",
    "pickle_save",
    "prepare_directory_for_loading",
    "prepare_directory_for_saving",
    "prepare_filepath_for_loading",
    "prepare_filepath_for_saving",
    "prepare_path",
    "yaml_load",
    "yaml_save",
]

# --------------------------------------------------------------------------- paths
def find_paths(dir_outer: str | os.PathLike | Sequence[str | os.PathLike],
               reMatch: str = "filename", reMatch_in_path: str | None = None,
               find_files: bool = True, find_folders: bool = False, depth: int = 0,
               natsorted: bool = True, alg_ns: Any = None, verbose: bool = False) -> list[str]:
    """Files and/or folders under one or more folders whose names match a regex.

    Parameters
    ----------
    dir_outer : path-like or list of path-like
        Folder(s) to search.
    reMatch : str
        Regular expression; an entry is kept when ``re.search(reMatch, name)`` matches its
        name (not its whole path).
    reMatch_in_path : str, optional
        A second regular expression that must also match somewhere in the entry's folder
        path (e.g. a session folder's name).
    find_files, find_folders : bool
        Which kinds of entries to return.
    depth : int
        Folder levels below ``dir_outer`` to descend: 0 searches ``dir_outer`` only, 2 it
        and two levels of subfolders.
    natsorted : bool
        Sort naturally with ``natsort`` (``img2`` before ``img10``); otherwise by walk order
        (each folder's entries sorted by name).
    alg_ns : natsort.ns, optional
        natsort algorithm; ``natsort.ns.PATH`` if None.
    verbose : bool
        Log each path found (INFO).

    Returns
    -------
    list of str
        Absolute paths of the matches.

    Raises
    ------
    PathNotFoundError
        A ``dir_outer`` that is not a folder.
    """
    outers = [dir_outer] if isinstance(dir_outer, (str, os.PathLike)) else list(dir_outer)
    pat, pat_path = re.compile(reMatch), (None if reMatch_in_path is None
                                          else re.compile(reMatch_in_path))
    found: list[str] = []

    def walk(folder: Path, level: int) -> None:
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            is_dir = entry.is_dir()
            wanted = (find_folders and is_dir) or (find_files and entry.is_file())
            if wanted and pat.search(entry.name) and (
                    pat_path is None or pat_path.search(str(entry.parent))):
                found.append(str(entry))
            if is_dir and level < depth:
                walk(entry, level + 1)

    for outer in outers:
        outer = Path(outer).expanduser().resolve()
        if not outer.is_dir():
            raise PathNotFoundError(f"find_paths: {outer}: no such folder")
        walk(outer, 0)
    if natsorted:
        import natsort

        found = natsort.natsorted(found, alg=natsort.ns.PATH if alg_ns is None else alg_ns)
    if verbose:
        for p in found:
            logger.info("found %s", p)
    return found


def prepare_path(path: str | os.PathLike, mkdir: bool = False, exist_ok: bool = True) -> str:
    """Check a file or folder path for saving or loading; return it absolute.

    An existing path is accepted when ``exist_ok``. A path that does not exist is taken as
    a file when its name has a suffix (``.h5``, ``.yaml``), else as a folder: for a file its
    parent folder must exist (or is created with ``mkdir``); a folder is created with
    ``mkdir``.

    Parameters
    ----------
    path : path-like
    mkdir : bool
        Create the missing parent folder (of a file) or folder.
    exist_ok : bool
        Accept a path that already exists.

    Returns
    -------
    str
        The absolute path.

    Raises
    ------
    PathExistsError
        ``path`` exists and ``exist_ok`` is False.
    PathNotFoundError
        The folder (or a file's parent folder) is missing and ``mkdir`` is False.
    """
    p = Path(path).expanduser().resolve()
    if p.exists():
        if not exist_ok:
            raise PathExistsError(f"{p}: already exists (exist_ok / allow_overwrite is False)")
        return str(p)
    folder = p.parent if p.suffix else p
    if not folder.is_dir():
        if not mkdir:
            raise PathNotFoundError(f"{p}: folder {folder} does not exist (use mkdir=True)")
        folder.mkdir(parents=True, exist_ok=True)
    return str(p)


def prepare_filepath_for_saving(filepath: str | os.PathLike, mkdir: bool = False,
                                allow_overwrite: bool = True) -> str:
    """Check a path to save a file to; return it absolute (see :func:`prepare_path`).

    Raises
    ------
    PathExistsError
        The file exists and ``allow_overwrite`` is False, or the path is a folder.
    PathNotFoundError
        Its folder is missing and ``mkdir`` is False.
    """
    p = Path(filepath).expanduser().resolve()
    if p.is_dir():
        raise PathExistsError(f"{p}: is a folder, not a file to save to")
    if not p.exists() and not p.parent.is_dir():
        if not mkdir:
            raise PathNotFoundError(f"{p}: folder {p.parent} does not exist (use mkdir=True)")
        p.parent.mkdir(parents=True, exist_ok=True)
    return prepare_path(p, mkdir=mkdir, exist_ok=allow_overwrite)


def prepare_filepath_for_loading(filepath: str | os.PathLike, must_exist: bool = True) -> str:
    """Check a path to load a file from; return it absolute.

    Raises
    ------
    PathNotFoundError
        ``must_exist`` and there is no file at the path (a folder is not a file).
    """
    p = Path(filepath).expanduser().resolve()
    if must_exist and not p.is_file():
        raise PathNotFoundError(f"{p}: no such file")
    return str(p)


def prepare_directory_for_saving(directory: str | os.PathLike, mkdir: bool = False,
                                 exist_ok: bool = True) -> str:
    """Check a folder to save into; return it absolute (created when ``mkdir``).

    Raises
    ------
    PathExistsError
        It exists and ``exist_ok`` is False, or it is a file.
    PathNotFoundError
        It is missing and ``mkdir`` is False.
    """
    p = Path(directory).expanduser().resolve()
    if p.is_file():
        raise PathExistsError(f"{p}: is a file, not a folder")
    if p.exists():
        if not exist_ok:
            raise PathExistsError(f"{p}: already exists (exist_ok is False)")
        return str(p)
    if not mkdir:
        raise PathNotFoundError(f"{p}: no such folder (use mkdir=True)")
    p.mkdir(parents=True, exist_ok=True)
    return str(p)


def prepare_directory_for_loading(directory: str | os.PathLike, must_exist: bool = True) -> str:
    """Check a folder to load from; return it absolute.

    Raises
    ------
    PathNotFoundError
        ``must_exist`` and it is not a folder.
    """
    p = Path(directory).expanduser().resolve()
    if must_exist and not p.is_dir():
        raise PathNotFoundError(f"{p}: no such folder")
    return str(p)


def get_dir_contents(directory: str | os.PathLike) -> tuple[list[str], list[str]]:
    """Names of the folders and of the files directly in ``directory`` (sorted).

    Returns
    -------
    folders, files : list of str
        Entry names (not paths), subfolders not descended into.
    """
    p = Path(prepare_directory_for_loading(directory))
    entries = sorted(p.iterdir(), key=lambda e: e.name)
    return [e.name for e in entries if e.is_dir()], [e.name for e in entries if e.is_file()]


# --------------------------------------------------------------------------- writing
@contextlib.contextmanager
def _open_for_writing(filepath: str | os.PathLike, mode: str, mkdir: bool,
                      allow_overwrite: bool, binary: bool) -> Iterator[IO]:
    """Open a file to write: atomically for ``'w'``, exclusively for ``'x'``, else append."""
    kind = mode.replace("b", "").replace("t", "")
    if kind not in ("w", "x", "a"):
        raise ConfigError(f"mode {mode!r}: expected 'w', 'x' or 'a' (optionally with 'b')")
    path = Path(prepare_filepath_for_saving(
        filepath, mkdir=mkdir, allow_overwrite=allow_overwrite and kind != "x"))
    flags = "b" if binary else ""
    if kind == "a":
        with open(path, "a" + flags) as f:
            yield f
        return
    with atomic_path(path) as tmp, open(tmp, "w" + flags) as f:
        yield f
        if kind == "x" and path.exists():
            raise PathExistsError(f"{path}: appeared while writing (mode 'x')")


def pickle_save(obj: Any, filepath: str | os.PathLike, mode: str = "wb",
                zipCompress: bool = False, mkdir: bool = False, allow_overwrite: bool = True,
                **kwargs_zipfile: Any) -> None:
    """Pickle ``obj`` to ``filepath``, optionally inside a zip file.

    Parameters
    ----------
    obj : object
    filepath : path-like
    mode : str
        ``'wb'`` (replace, atomically), ``'xb'`` (refuse an existing file) or ``'ab'``
        (append another pickle).
    zipCompress : bool
        Store the pickle as the one member ``data.pkl`` of a zip file (like
        ``numpy.savez_compressed``); read it back with ``pickle_load(..., zipCompressed=True)``.
    mkdir : bool
        Create the parent folder if missing.
    allow_overwrite : bool
        Replace an existing file.
    **kwargs_zipfile
        Passed to ``zipfile.ZipFile``; ``compression=zipfile.ZIP_DEFLATED`` unless given.
    """
    with _open_for_writing(filepath, mode, mkdir, allow_overwrite, binary=True) as f:
        if zipCompress:
            kwargs_zipfile.setdefault("compression", zipfile.ZIP_DEFLATED)
            with zipfile.ZipFile(f, "w", **kwargs_zipfile) as z:
                z.writestr("data.pkl", pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
        else:
            pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)


def pickle_load(filepath: str | os.PathLike, zipCompressed: bool = False,
                mode: str = "rb") -> Any:
    """Load a pickle written by :func:`pickle_save` (only load files you trust).

    Parameters
    ----------
    filepath : path-like
    zipCompressed : bool
        The file is a zip whose (first) member is the pickle.
    mode : str
        File mode, ``'rb'``.
    """
    path = prepare_filepath_for_loading(filepath)
    if zipCompressed:
        with zipfile.ZipFile(path, "r") as z:
            return pickle.loads(z.read(z.namelist()[0]))
    with open(path, mode) as f:
        return pickle.load(f)


def json_save(obj: Any, filepath: str | os.PathLike, indent: int = 4, mode: str = "w",
              mkdir: bool = False, allow_overwrite: bool = True) -> None:
    """Write ``obj`` as JSON (numpy values and paths converted to plain Python).

    Parameters
    ----------
    obj : object
    filepath : path-like
    indent : int
        Spaces per indentation level.
    mode : str
        ``'w'`` (replace, atomically), ``'x'`` (refuse an existing file) or ``'a'``; a
        ``'b'`` in the mode is ignored (JSON is text, UTF-8).
    mkdir, allow_overwrite : bool
        As for :func:`prepare_filepath_for_saving`.
    """
    with _open_for_writing(filepath, mode, mkdir, allow_overwrite, binary=False) as f:
        json.dump(obj, f, indent=indent, default=json_default)


def json_load(filepath: str | os.PathLike, mode: str = "r") -> Any:
    """Load a JSON file."""
    with open(prepare_filepath_for_loading(filepath), mode.replace("b", "")) as f:
        return json.load(f)


def _yaml_dumper() -> type:
    import yaml

    class _Dumper(yaml.Dumper):
        pass

    def as_builtin(dumper, data):
        return dumper.represent_data(json_default(data))

    import numpy as np

    _Dumper.add_multi_representer(np.generic, as_builtin)
    _Dumper.add_representer(np.ndarray, as_builtin)
    _Dumper.add_multi_representer(os.PathLike, as_builtin)
    return _Dumper


def yaml_save(obj: Any, filepath: str | os.PathLike, indent: int = 4, mode: str = "w",
              mkdir: bool = False, allow_overwrite: bool = True) -> None:
    """Write ``obj`` as YAML, keys in their order (numpy values as plain numbers/lists).

    Parameters
    ----------
    obj : object
    filepath : path-like
    indent : int
        Spaces per indentation level.
    mode : str
        ``'w'`` (replace, atomically), ``'x'`` (refuse an existing file) or ``'a'``; a
        ``'b'`` in the mode is ignored.
    mkdir, allow_overwrite : bool
        As for :func:`prepare_filepath_for_saving`.
    """
    import yaml

    with _open_for_writing(filepath, mode, mkdir, allow_overwrite, binary=False) as f:
        yaml.dump(obj, f, Dumper=_yaml_dumper(), indent=indent, sort_keys=False)


def yaml_load(filepath: str | os.PathLike, mode: str = "r", loader: Any = None) -> Any:
    """Load a YAML file.

    Parameters
    ----------
    filepath : path-like
    mode : str
        File mode, ``'r'``.
    loader : yaml loader class, optional
        ``yaml.FullLoader`` if None (the reference's default); ``yaml.SafeLoader`` for
        files you do not trust.
    """
    import yaml

    with open(prepare_filepath_for_loading(filepath), mode.replace("b", "")) as f:
        return yaml.load(f, Loader=yaml.FullLoader if loader is None else loader)
