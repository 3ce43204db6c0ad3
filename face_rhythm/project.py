"""Project folder for notebook users (the original package's ``prepare_project``).

The Snakemake workflow does not need this: it keeps its own ``results/`` layout. Notebook
users who drive the classes by hand (and :func:`face_rhythm.pipelines.pipeline_basic`) get
the original layout, filled by the classes' ``save_config`` / ``save_run_info`` /
``save_run_data`` (:class:`face_rhythm.util.FR_Module`)::

    <project>/config.yaml                    # 'paths' + the parameters of each class
    <project>/run_info.json                  # derived facts of each class
    <project>/analysis_files/<Class>.h5      # HDF5 outputs of each class
    <project>/visualizations/                # figures and videos

``docs/project_folder.md`` relates it to the workflow's ``results/``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import yaml

from face_rhythm.errors import ConfigError
from face_rhythm.h5_handling import atomic_path

logger = logging.getLogger(__name__)

__all__ = ["prepare_project"]


def _paths(directory: Path) -> dict[str, str]:
    return {"project": str(directory), "config": str(directory / "config.yaml"),
            "run_info": str(directory / "run_info.json")}


def _write_yaml(d: dict[str, Any], path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(d, sort_keys=False))


def prepare_project(directory_project: str | os.PathLike = "./", overwrite_config: bool = False,
                    update_project_paths: bool = False, mkdir: bool = True,
                    initialize_visualization: bool = True,
                    verbose: int = 1) -> tuple[str, str, str]:
    """Create (or reuse) a project folder with ``config.yaml`` and ``run_info.json``.

    Parameters
    ----------
    directory_project : path-like
        Project folder ('./' = the current directory).
    overwrite_config : bool
        Replace an existing ``config.yaml`` with a fresh one (only the ``paths`` section),
        and ``run_info.json`` with an empty one (its facts belonged to the old config).
    update_project_paths : bool
        In an existing ``config.yaml``, rewrite ``paths`` (project, config, run_info) to this
        folder; ignored when ``overwrite_config``.
    mkdir : bool
        Create the folder if it does not exist (otherwise a missing folder is an error).
    initialize_visualization : bool
        Accepted for compatibility; nothing to initialise (figures are written to files).
    verbose : int
        Kept for compatibility; messages go through :mod:`logging`.

    Returns
    -------
    (path_config, path_run_info, directory_project) : tuple of str
        Absolute paths.

    Raises
    ------
    FileNotFoundError
        The folder does not exist and ``mkdir`` is False.
    ConfigError
        An existing ``config.yaml`` is not a YAML mapping (with ``update_project_paths``).
    """
    del initialize_visualization, verbose
    directory = Path(directory_project).expanduser().resolve()
    if not directory.is_dir():
        if not mkdir:
            raise FileNotFoundError(f"{directory}: project folder does not exist (mkdir=False)")
        directory.mkdir(parents=True)
        logger.info("created project folder %s", directory)
    for sub in ("analysis_files", "visualizations"):
        (directory / sub).mkdir(exist_ok=True)
    path_config = directory / "config.yaml"
    path_run_info = directory / "run_info.json"

    if overwrite_config or not path_config.is_file():
        _write_yaml({"paths": _paths(directory)}, path_config)
        logger.info("wrote %s", path_config)
    elif update_project_paths:
        cfg = yaml.safe_load(path_config.read_text()) or {}
        if not isinstance(cfg, dict):
            raise ConfigError(f"{path_config}: not a YAML mapping")
        cfg["paths"] = {**(cfg.get("paths") or {}), **_paths(directory)}
        _write_yaml(cfg, path_config)
        logger.info("updated paths in %s", path_config)
    if overwrite_config or not path_run_info.is_file():
        with atomic_path(path_run_info) as tmp:
            tmp.write_text(json.dumps({}, indent=2))
    return str(path_config), str(path_run_info), str(directory)
