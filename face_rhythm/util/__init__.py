"""The original package's ``face_rhythm.util``: project files, savers, system info, batches.

- :class:`FR_Module`, the base class of the notebook classes, writes ``config.yaml``,
  ``run_info.json`` and ``analysis_files/<ClassName>.h5`` of a project folder
  (:func:`face_rhythm.project.prepare_project`); :func:`load_config_file`,
  :func:`load_run_info_file` and :func:`load_yaml_safe` read them back.
- :func:`get_default_parameters`: the params dict of :func:`face_rhythm.pipelines.pipeline_basic`.
- :class:`Figure_Saver` and :class:`Image_Saver` (PNG, GIF) write figures and images into the
  project's ``visualizations/`` folder (or any folder).
- :func:`system_info`: OS, CPU, RAM, GPU and package versions.
- :func:`batch_run`: one script over many parameter sets, through Snakemake, locally or on SLURM.

Only shared modules are imported here (``atomic``, ``errors``, ``h5_handling``,
``provenance``), so every stage package's notebook class may subclass :class:`FR_Module`.
"""

from __future__ import annotations

from .batch import batch_run
from .defaults import get_default_parameters
from .fr_module import FR_Module, load_config_file, load_run_info_file, load_yaml_safe
from .savers import Figure_Saver, Image_Saver, Saver_Viz_Base
from .system import system_info

__all__ = [
    "FR_Module",
    "Figure_Saver",
    "Image_Saver",
    "Saver_Viz_Base",
    "batch_run",
    "get_default_parameters",
    "load_config_file",
    "load_run_info_file",
    "load_yaml_safe",
    "system_info",
]
