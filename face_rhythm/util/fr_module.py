"""The original's project files: ``config.yaml``, ``run_info.json``, ``analysis_files/*.h5``.

:class:`FR_Module` is the base class of the notebook classes (``Dataset_videos``, ``ROIs``,
``PointTracker``, ``VQT_Analyzer``, ``TCA``). Each keeps three dicts and writes them into the
project folder made by :func:`face_rhythm.project.prepare_project`::

    <project>/config.yaml                    # {'paths': {...}, '<ClassName>': self.config}
    <project>/run_info.json                  # {'<ClassName>': self.run_info, ...}
    <project>/analysis_files/<ClassName>.h5  # self.run_data (h5_handling.simple_save)

The two text files are read, updated under the class's key and rewritten atomically
(:func:`face_rhythm.atomic.atomic_path`), so a killed process never leaves half a file.
Values are written as plain YAML / JSON: tuples become lists, numpy scalars numbers, small
numpy arrays lists.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from face_rhythm.atomic import atomic_path
from face_rhythm.errors import ConfigError
from face_rhythm.h5_handling import simple_save

logger = logging.getLogger(__name__)

__all__ = ["FR_Module", "load_config_file", "load_run_info_file", "load_yaml_safe", "to_plain"]

#: Arrays with more elements are not spelled out in config.yaml / run_info.json.
_MAX_LIST = 100_000


def to_plain(obj: Any) -> Any:
    """Copy of ``obj`` made of YAML/JSON types only (dict, list, str, int, float, bool, None).

    Tuples and sets become lists, numpy scalars Python numbers, paths strings, numpy arrays
    (and tensors) nested lists; an array of more than 100,000 elements becomes a one-line
    description (``'<array shape=(480, 640) dtype=uint8>'``) with a warning. Keys that are not
    str / int / float / bool become strings.
    """
    if isinstance(obj, Mapping):
        return {(k if isinstance(k, (str, int, float, bool)) or k is None else str(k)):
                to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (str, bool, int, float)) or obj is None:
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_plain(v) for v in obj]
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # a torch tensor
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        if obj.size > _MAX_LIST:
            logger.warning("an array of shape %s is described, not written, in the text file",
                           obj.shape)
            return f"<array shape={tuple(obj.shape)} dtype={obj.dtype}>"
        return obj.tolist()
    return str(obj)


def load_yaml_safe(path: str | os.PathLike, verbose: int = 0) -> dict[str, Any]:
    """Load a YAML file; falls back to ``yaml.Loader`` when ``yaml.FullLoader`` fails.

    The fallback reads files written by the original with Python object tags (e.g. numpy
    arrays); it can build arbitrary Python objects, so use it on your own files only.

    Parameters
    ----------
    path : path-like
        The ``.yaml`` file.
    verbose : int
        > 0 logs the fallback as a warning, > 1 also logs the file read.

    Returns
    -------
    data : dict
        The parsed file; an empty file gives ``{}``.
    """
    text = Path(path).read_text()
    try:
        data = yaml.load(text, Loader=yaml.FullLoader)
    except yaml.YAMLError as e:
        if verbose > 0:
            logger.warning("%s: FullLoader failed (%s); reading with yaml.Loader", path,
                           str(e).splitlines()[0])
        data = yaml.load(text, Loader=yaml.Loader)  # the documented fallback
    if verbose > 1:
        logger.info("loaded %s", path)
    return {} if data is None else data


def load_config_file(path: str | os.PathLike, verbose: int = 0) -> dict[str, Any]:
    """Load a project's ``config.yaml`` as a dict (``{}`` for an empty file).

    Parameters
    ----------
    path : path-like
        The ``config.yaml`` file.
    verbose : int
        > 1 logs the file read.

    Returns
    -------
    config : dict
        ``'paths'`` (project, config, run_info) and one section per saved class.
    """
    config = load_yaml_safe(path, verbose=verbose)
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: not a YAML mapping")
    return config


def load_run_info_file(path: str | os.PathLike, verbose: int = 0) -> dict[str, Any]:
    """Load a project's ``run_info.json`` as a dict (``{}`` for an empty file).

    Parameters
    ----------
    path : path-like
        The ``run_info.json`` file.
    verbose : int
        > 1 logs the file read.

    Returns
    -------
    run_info : dict
        One entry per saved class, e.g. ``run_info['Dataset_videos']['frame_rate']`` (Hz).
    """
    text = Path(path).read_text()
    try:
        run_info = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(run_info, dict):
        raise ConfigError(f"{path}: not a JSON object")
    if verbose > 1:
        logger.info("loaded %s", path)
    return run_info


def _paths_from_config(path_config: str | os.PathLike) -> dict[str, Path]:
    """Project, config and run_info paths from ``config['paths']`` (else beside the file)."""
    path_config = Path(path_config)
    if not path_config.is_file():
        raise FileNotFoundError(f"{path_config}: no config.yaml (make one with "
                                "face_rhythm.project.prepare_project)")
    paths = load_config_file(path_config).get("paths") or {}
    project = Path(paths.get("project") or path_config.parent)
    return {"project": project, "config": path_config,
            "run_info": Path(paths.get("run_info") or project / "run_info.json")}


def _update_file(path: Path, key: str, value: Any, overwrite: bool, verbose: int,
                 load, dump) -> bool:
    """Set ``file[key] = value`` in a YAML / JSON file, atomically; False if kept."""
    content = load(path) if path.is_file() else {}
    if key in content and not overwrite:
        if verbose > 0:
            logger.warning("%s already has a '%s' section; kept (overwrite=False)", path, key)
        return False
    if key in content and verbose > 1:
        logger.info("replacing the '%s' section of %s", key, path)
    content[key] = to_plain(value)
    with atomic_path(path) as tmp:
        tmp.write_text(dump(content))
    if verbose > 1:
        logger.info("saved the '%s' section of %s", key, path)
    return True


def _h5_ready(obj: Any) -> Any:
    """``run_data`` in the form ``simple_save`` stores: str keys, sparse matrices as COO parts.

    A scipy sparse matrix becomes ``{'row', 'col', 'data', 'shape'}``; a list or tuple of
    dicts (or of arrays of different shapes) becomes ``{'0': ..., '1': ...}``.
    """
    if isinstance(obj, Mapping):
        return {str(k): _h5_ready(v) for k, v in obj.items()}
    if hasattr(obj, "tocoo") and hasattr(obj, "nnz"):  # scipy.sparse
        coo = obj.tocoo()
        return {"row": coo.row, "col": coo.col, "data": coo.data,
                "shape": np.asarray(coo.shape, dtype=np.int64)}
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # a torch tensor
        return obj.detach().cpu().numpy()
    if isinstance(obj, (list, tuple)) and obj:
        parts = [_h5_ready(v) for v in obj]
        if all(isinstance(v, Mapping) for v in parts) or (
                all(isinstance(v, np.ndarray) for v in parts)
                and len({(v.shape, v.dtype) for v in parts}) > 1):
            return {str(i): v for i, v in enumerate(parts)}
        return parts
    return obj


class FR_Module:
    """Base class of the notebook classes: saves ``config``, ``run_info`` and ``run_data``.

    A subclass fills the three dicts; the ``save_*`` methods write them into the project
    folder, under the subclass's name (:attr:`module_name`). The project is found from the
    ``path_config`` argument (its ``paths`` section, written by ``prepare_project``), or,
    when no path is given, from an attribute ``path_config`` of the instance.

    Attributes
    ----------
    config : dict or None
        Parameters used to run the module; saved by :meth:`save_config`.
    run_info : dict or None
        Derived facts (frame counts, frame rate in Hz, number of points, ...); saved by
        :meth:`save_run_info`.
    run_data : dict or None
        The module's output arrays; saved by :meth:`save_run_data`.
    module_name : str
        Name of the concrete class: the key in config.yaml / run_info.json and the name of
        the .h5 file.
    """

    config: dict[str, Any] | None = None
    run_info: dict[str, Any] | None = None
    run_data: dict[str, Any] | None = None

    def __init__(self) -> None:
        self.config = {}
        self.run_info = {}
        self.run_data = {}

    @property
    def module_name(self) -> str:
        """Name of the concrete class (e.g. ``'PointTracker'``), unless set otherwise."""
        return self.__dict__.get("_module_name") or type(self).__name__

    @module_name.setter
    def module_name(self, value: str) -> None:
        self.__dict__["_module_name"] = str(value)

    # --- where the files are -----------------------------------------------------------
    def _config_path(self, path_config: str | os.PathLike | None, what: str) -> Path:
        path_config = path_config if path_config is not None else getattr(
            self, "path_config", None)
        if path_config is None:
            raise ConfigError(f"{self.module_name}.{what}: give path_config (the project's "
                              "config.yaml) or the file's own path")
        return Path(path_config)

    def _contents(self, name: str, what: str) -> dict[str, Any]:
        value = getattr(self, name, None)
        if value is None:
            raise ConfigError(f"{self.module_name}.{what}: self.{name} is None; nothing to save")
        return value

    # --- the three files ---------------------------------------------------------------
    def save_config(self, path_config: str | os.PathLike | None = None, overwrite: bool = True,
                    verbose: int = 1) -> None:
        """Put ``self.config`` into config.yaml as ``config[module_name]``.

        Parameters
        ----------
        path_config : path-like, optional
            The project's config.yaml (created if missing). Default: ``self.path_config``.
        overwrite : bool
            Replace an existing section of this class; if False it is kept (a warning).
        verbose : int
            0 silent, 1 warnings, 2 also info (logged).
        """
        path = self._config_path(path_config, "save_config")
        _update_file(path, self.module_name, self._contents("config", "save_config"),
                     overwrite, verbose, load_config_file,
                     lambda d: yaml.safe_dump(d, sort_keys=False))

    def save_run_info(self, path_run_info: str | os.PathLike | None = None,
                      path_config: str | os.PathLike | None = None, overwrite: bool = True,
                      verbose: int = 1) -> None:
        """Put ``self.run_info`` into run_info.json as ``run_info[module_name]``.

        Parameters
        ----------
        path_run_info : path-like, optional
            The run_info.json file (created if missing). Give this or ``path_config``.
        path_config : path-like, optional
            The project's config.yaml; the file is its ``paths: run_info``.
        overwrite : bool
            Replace an existing entry of this class; if False it is kept (a warning).
        verbose : int
            0 silent, 1 warnings, 2 also info (logged).
        """
        if path_run_info is not None and path_config is not None:
            raise ConfigError(f"{self.module_name}.save_run_info: give path_run_info or "
                              "path_config, not both")
        if path_run_info is None:
            path_run_info = _paths_from_config(
                self._config_path(path_config, "save_run_info"))["run_info"]
        _update_file(Path(path_run_info), self.module_name,
                     self._contents("run_info", "save_run_info"), overwrite, verbose,
                     load_run_info_file, lambda d: json.dumps(d, indent=4))

    def save_run_data(self, path_run_data: str | os.PathLike | None = None,
                      path_config: str | os.PathLike | None = None, overwrite: bool = True,
                      use_compression: bool = False, track_order: bool = True,
                      verbose: int = 1) -> Path:
        """Save ``self.run_data`` as HDF5, by default ``<project>/analysis_files/<name>.h5``.

        Parameters
        ----------
        path_run_data : path-like, optional
            The .h5 file. Give this or ``path_config``.
        path_config : path-like, optional
            The project's config.yaml; the file is
            ``<paths: project>/analysis_files/<module_name>.h5``.
        overwrite : bool
            Replace an existing file; if False an existing file is an error.
        use_compression : bool
            gzip-compress the datasets.
        track_order : bool
            Keep the dicts' key order in the file.
        verbose : int
            0 silent, 1 warnings, 2 also info (logged).

        Returns
        -------
        path : pathlib.Path
            The file written; read it back with ``h5_handling.simple_load``.

        Raises
        ------
        FileExistsError
            The file exists and ``overwrite`` is False.
        """
        if path_run_data is not None and path_config is not None:
            raise ConfigError(f"{self.module_name}.save_run_data: give path_run_data or "
                              "path_config, not both")
        if path_run_data is None:
            project = _paths_from_config(
                self._config_path(path_config, "save_run_data"))["project"]
            path_run_data = project / "analysis_files" / f"{self.module_name}.h5"
        path = Path(path_run_data)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path}: exists (overwrite=False)")
        data = _h5_ready(self._contents("run_data", "save_run_data"))
        kwargs = {"use_compression": use_compression, "track_order": track_order,
                  "write_mode": "w", "verbose": verbose > 1}
        accepted = inspect.signature(simple_save).parameters
        simple_save(data, path, **{k: v for k, v in kwargs.items() if k in accepted})
        if verbose > 1:
            logger.info("saved %s run_data to %s", self.module_name, path)
        return path
