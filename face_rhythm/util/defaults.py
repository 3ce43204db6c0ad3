"""The default parameters of the original pipeline (:func:`get_default_parameters`).

The dict has one top-level section per step of :func:`face_rhythm.pipelines.pipeline_basic`
and is the ``defaults`` that :func:`face_rhythm.helpers.prepare_params` checks a user's
params against, so a params dict written for the original package (e.g. its
``scripts/params_pipeline_basic.json``) is valid here with the same keys.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from face_rhythm.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["get_default_parameters"]

#: The built-in defaults (see :func:`get_default_parameters` for each key's meaning).
_DEFAULTS: dict[str, Any] = {
    "steps": ["load_videos", "ROIs", "point_tracking", "VQT", "TCA"],
    "project": {
        "directory_project": None,
        "overwrite_config": False,
        "update_project_paths": True,
        "initialize_visualization": False,
        "use_GPU": False,
        "random_seed": None,
        "verbose": 2,
    },
    "figure_saver": {
        "formats_save": ["png"],
        "kwargs_savefig": {"bbox_inches": "tight", "pad_inches": 0.1, "transparent": True,
                           "dpi": 300},
        "overwrite": True,
        "verbose": 2,
    },
    "paths_videos": {
        "directory_videos": None,
        "filename_videos_strMatch": None,
        "depth": 0,
    },
    "BufferedVideoReader": {
        "buffer_size": 1000,
        "prefetch": 1,
        "posthold": 1,
        "method_getitem": "by_video",
        "verbose": 1,
    },
    "Dataset_videos": {
        "contiguous": False,
        "frame_rate_clamp": None,
        "verbose": 2,
    },
    "ROIs": {
        "initialize": {
            "select_mode": "file",
            "path_file": None,
            "verbose": 2,
        },
        "make_rois": {
            "rois_points_idx": [0],
            "point_spacing": 9,
        },
    },
    "PointTracker": {
        "contiguous": False,
        "params_optical_flow": {
            "method": "lucas_kanade",
            "mesh_rigidity": 0.025,
            "mesh_n_neighbors": 8,
            "relaxation": 0.0015,
            "kwargs_method": {
                "winSize": [20, 20],
                "maxLevel": 2,
                "criteria": [3, 2, 0.03],  # cv2 TERM_CRITERIA_COUNT | EPS, 2 iterations, eps
            },
        },
        "params_clahe": {"clipLimit": 40.0, "tileGridSize": [150, 150]},
        "params_outlier_handling": {
            "threshold_displacement": 150,
            "framesHalted_before": 10,
            "framesHalted_after": 10,
        },
        "frames_freeze": None,
        "relaxation_during_freeze_frames": True,
        "idx_start": 0,
        "visualize_video": False,
        "params_visualization": {"alpha": 0.2, "point_sizes": 2},
        "verbose": 2,
    },
    "VQT_Analyzer": {
        "params_VQT": {
            "Fs_sample": None,  # None: the videos' frame rate (Dataset_videos.frame_rate)
            "Q_lowF": 4,
            "Q_highF": 10,
            "F_min": 1.0,
            "F_max": 60.0,
            "n_freq_bins": 36,
            "win_size": None,
            "window_type": "hann",
            "symmetry": "center",
            "taper_asymmetric": True,
            "downsample_factor": 20,
            "padding": "valid",
            "fft_conv": True,
            "fast_length": True,
            "take_abs": True,
            "filters": None,
            "plot_pref": False,
        },
        "batch_size": 10,
        "normalization_factor": 0.95,
        "spectrogram_exponent": 1.0,
        "one_over_f_exponent": 0.5,
        "verbose": 2,
    },
    "TCA": {
        "verbose": 2,
        "rearrange_data": {
            "names_dims_array": ["xy", "points", "frequency", "time"],
            "names_dims_concat_array": [["xy", "points"]],
            "concat_complexDim": False,
            "name_dim_concat_complexDim": "time",
            "name_dim_dictElements": "session",
            "method_handling_dictElements": "separate",
            "name_dim_concat_dictElements": "time",
            "idx_windows": None,
            "name_dim_array_window": "time",
        },
        "normalize_data": {
            "mean_subtract": False,
            "std_divide": False,
            "dim_name": "time",
        },
        "fit": {
            "method": "CP_NN_HALS",
            "params_method": {
                "rank": 10,
                "n_iter_max": 200,
                "init": "random",
                "svd": "truncated_svd",
                "tol": 1e-09,
                "verbose": False,
            },
            "backend": "pytorch",
            "DEVICE": "cpu",
            "verbose": 2,
        },
        "rearrange_factors": {
            "undo_concat_complexDim": False,
            "undo_concat_dictElements": False,
        },
    },
}


def _fill(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep copy of ``base`` with ``over``'s values put in, recursing into shared dicts."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _fill(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def get_default_parameters(path_defaults: str | os.PathLike | None = None,
                           directory_project: str | os.PathLike | None = None,
                           directory_videos: str | os.PathLike | None = None,
                           filename_videos_strMatch: str | None = None,
                           path_ROIs: str | os.PathLike | None = None) -> dict[str, Any]:
    """Default parameters of the original pipeline, one section per step.

    Parameters
    ----------
    path_defaults : path-like, optional
        A JSON file with a params dict (e.g. the original's ``params_pipeline_basic.json``).
        Its values replace the built-in ones; keys it lacks keep the built-in values (the
        original's template lacked keys its pipeline reads).
    directory_project : path-like, optional
        Stored as ``params['project']['directory_project']`` (for
        :func:`face_rhythm.project.prepare_project`).
    directory_videos : path-like, optional
        Stored as ``params['paths_videos']['directory_videos']`` (searched with
        :func:`face_rhythm.helpers.find_paths`).
    filename_videos_strMatch : str, optional
        Regular expression the video file names must match, stored as
        ``params['paths_videos']['filename_videos_strMatch']``.
    path_ROIs : path-like, optional
        An ``ROIs.h5`` file, stored as ``params['ROIs']['initialize']['path_file']``
        (``select_mode='file'``).

    Returns
    -------
    params : dict
        A fresh deep copy (editing it changes nothing here). Sections and what consumes them:

        - ``steps``: list of the steps to run, in order: ``load_videos``, ``ROIs``,
          ``point_tracking``, ``VQT``, ``TCA``.
        - ``project``: ``directory_project``, ``overwrite_config``, ``update_project_paths``,
          ``initialize_visualization`` (keyword arguments of ``prepare_project``);
          ``use_GPU`` (bool: run VQT and TCA on CUDA when available); ``random_seed``
          (int or None: drawn at random and returned by the pipeline); ``verbose``.
        - ``figure_saver``: keyword arguments of :class:`face_rhythm.util.Figure_Saver`
          (``formats_save``, ``kwargs_savefig``, ``overwrite``, ``verbose``).
        - ``paths_videos``: ``directory_videos``, ``filename_videos_strMatch`` (regex) and
          ``depth`` (folder depth) for ``helpers.find_paths``.
        - ``BufferedVideoReader``: its keyword arguments (``buffer_size`` 1000 frames,
          ``prefetch`` 1, ``posthold`` 1, ``method_getitem`` ``'by_video'``, ``verbose``).
        - ``Dataset_videos``: its keyword arguments (``contiguous``, ``frame_rate_clamp`` in
          Hz or None, ``verbose``).
        - ``ROIs``: ``initialize`` = keyword arguments of ``ROIs`` (``select_mode``
          ``'file'``, ``path_file``, ``verbose``); ``make_rois`` = ``rois_points_idx`` (which
          ROIs seed the points, indices into the file's ROIs) and ``point_spacing`` (9 px).
        - ``PointTracker``: its keyword arguments: ``contiguous``; ``params_optical_flow``
          (``method``, ``mesh_rigidity`` 0.025, ``mesh_n_neighbors`` 8, ``relaxation``
          0.0015, ``kwargs_method`` of ``cv2.calcOpticalFlowPyrLK``: ``winSize`` [20, 20] px,
          ``maxLevel`` 2, ``criteria`` [3, 2, 0.03]); ``params_clahe`` (``clipLimit`` 40,
          ``tileGridSize`` [150, 150]); ``params_outlier_handling``
          (``threshold_displacement`` 150 px, ``framesHalted_before`` / ``_after`` 10
          frames); ``frames_freeze``, ``relaxation_during_freeze_frames``, ``idx_start``,
          ``visualize_video``, ``params_visualization``, ``verbose``.
        - ``VQT_Analyzer``: ``params_VQT`` (``vqt.VQT`` keyword arguments: ``Fs_sample`` in
          Hz, None meaning the videos' frame rate; ``Q_lowF`` 4, ``Q_highF`` 10, ``F_min``
          1 Hz, ``F_max`` 60 Hz (at most the Nyquist frequency), ``n_freq_bins`` 36,
          ``win_size`` None (from ``Q_lowF``), ``window_type`` ``'hann'``, ``symmetry``,
          ``taper_asymmetric``, ``downsample_factor`` 20, ``padding`` ``'valid'``,
          ``fft_conv``, ``fast_length``, ``take_abs``, ``filters``, ``plot_pref``);
          ``batch_size`` (points per batch), ``normalization_factor`` 0.95,
          ``spectrogram_exponent`` 1.0, ``one_over_f_exponent`` 0.5, ``verbose``. The
          original's older ``params_VQT`` keys (``DEVICE_compute``, ``batch_size``,
          ``return_complex``, ``progressBar``) are not defaults; ``VQT_Analyzer`` accepts
          them with a deprecation warning.
        - ``TCA``: ``verbose``; ``rearrange_data``, ``normalize_data``, ``fit`` (``method``
          ``'CP_NN_HALS'``, ``params_method`` with ``rank`` 10, ``n_iter_max`` 200, ``init``
          ``'random'``, ``tol`` 1e-9; ``backend`` ``'pytorch'``, ``DEVICE``, ``verbose``) and
          ``rearrange_factors``: keyword arguments of the ``TCA`` methods of those names.

    Raises
    ------
    ConfigError
        ``path_defaults`` is not a JSON object.
    FileNotFoundError
        ``path_defaults`` does not exist.
    """
    params = copy.deepcopy(_DEFAULTS)
    if path_defaults is not None:
        path = Path(path_defaults)
        try:
            loaded = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the parameters must be a JSON object")
        params = _fill(params, loaded)
        logger.info("loaded default parameters from %s", path)
    given = {
        ("project", "directory_project"): directory_project,
        ("paths_videos", "directory_videos"): directory_videos,
        ("paths_videos", "filename_videos_strMatch"): filename_videos_strMatch,
        ("ROIs", "initialize", "path_file"): path_ROIs,
    }
    for keys, value in given.items():
        if value is None:
            continue
        d = params
        for k in keys[:-1]:
            d = d.setdefault(k, {})
        d[keys[-1]] = str(value) if isinstance(value, os.PathLike) else value
    return params
