"""End-to-end pipelines over the notebook classes (the original's ``face_rhythm.pipelines``).

:func:`pipeline_basic` runs what the original's ``interactive_pipeline_basic`` notebook does,
without a display, from one params dict (made by :func:`face_rhythm.util.get_default_parameters`
and checked with :func:`face_rhythm.helpers.prepare_params`), and writes the original's
project folder (see ``docs/project_folder.md``)::

    <project>/config.yaml                      # the parameters of each step
    <project>/run_info.json                    # derived facts of each step
    <project>/analysis_files/Dataset_videos.h5
    <project>/analysis_files/ROIs.h5
    <project>/analysis_files/PointTracker.h5
    <project>/analysis_files/VQT_Analyzer.h5
    <project>/analysis_files/TCA.h5
    <project>/visualizations/                  # the TCA factor figures

Each step reads what it needs from the project folder (``VQT`` reads ``PointTracker.h5``,
``TCA`` reads ``VQT_Analyzer.h5``, ``point_tracking`` reads ``ROIs.h5`` when the ``ROIs``
step is not run), so a run can be resumed from any step. The Snakemake workflow is the way to
run many sessions, resumably, on a cluster; this function is for one project at a time.
"""

from __future__ import annotations

import copy
import logging
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from face_rhythm.decomposition import TCA
from face_rhythm.devices import resolve_device
from face_rhythm.errors import ConfigError
from face_rhythm.files import find_paths
from face_rhythm.h5_handling import simple_load
from face_rhythm.point_tracking import PointTracker
from face_rhythm.project import prepare_project
from face_rhythm.rois import ROIs
from face_rhythm.spectral_analysis import VQT_Analyzer
from face_rhythm.util import Figure_Saver, load_run_info_file
from face_rhythm.video import BufferedVideoReader, Dataset_videos

logger = logging.getLogger(__name__)

__all__ = ["STEPS", "pipeline_basic"]

#: The steps of :func:`pipeline_basic`, in the order they run.
STEPS = ("load_videos", "ROIs", "point_tracking", "VQT", "TCA")

#: ``params_VQT`` keys of older versions of the original and the argument they now are.
_OLD_VQT_KEYS = {"DEVICE_compute": "device", "batch_size": "batch_size",
                 "return_complex": "return_complex", "progressBar": None}


def pipeline_basic(params: Mapping[str, Any]) -> dict[str, Any]:
    """Run the basic pipeline: load videos, ROIs, point tracking, VQT, TCA. RH 2023

    The ROIs must be drawn beforehand and saved as an ``ROIs.h5`` (or our ROI YAML / rois.h5)
    file named by ``params['ROIs']['initialize']['path_file']`` (``select_mode`` ``'file'``;
    ``'gui'`` is refused: the pipeline runs without a display). Each step saves its
    ``config``, ``run_info`` and ``run_data`` into the project folder.

    Parameters
    ----------
    params : dict
        Every section of :func:`face_rhythm.util.get_default_parameters`:

        - ``steps``: which of ``load_videos``, ``ROIs``, ``point_tracking``, ``VQT``, ``TCA``
          to run (they always run in that order).
        - ``project``: ``directory_project`` (required) and the other keyword arguments of
          :func:`~face_rhythm.project.prepare_project`; ``use_GPU`` (run VQT and TCA on CUDA
          when torch sees a GPU); ``random_seed`` (int, or None to draw one).
        - ``figure_saver``: keyword arguments of :class:`~face_rhythm.util.Figure_Saver`.
        - ``paths_videos``: ``directory_videos``, ``filename_videos_strMatch`` (a regular
          expression), ``depth`` for :func:`face_rhythm.helpers.find_paths`; or directly a
          list of video paths.
        - ``BufferedVideoReader``, ``Dataset_videos``, ``PointTracker``: keyword arguments of
          those classes.
        - ``ROIs``: ``initialize`` (keyword arguments of :class:`~face_rhythm.rois.ROIs`) and
          ``make_rois``: ``rois_points_idx`` (which ROIs of the file seed the grid of points)
          and ``point_spacing`` (px). The tracking mask is ROI 1 when the file has two or
          more ROIs (the original notebooks' convention: ROI 0 where the points are, ROI 1
          the face to keep), else ROI 0.
        - ``VQT_Analyzer``: keyword arguments of :class:`~face_rhythm.spectral_analysis.
          VQT_Analyzer`. ``params_VQT['Fs_sample']`` is set to the videos' frame rate
          (``run_info['Dataset_videos']['frame_rate']``); a different value given there is
          replaced, with a warning (the original's template fixed it at 120 Hz).
        - ``TCA``: ``verbose`` and the keyword arguments of its methods ``rearrange_data``,
          ``normalize_data`` (optional), ``fit`` and ``rearrange_factors``.

    Returns
    -------
    results : dict
        ``path_config`` (str), ``path_run_info`` (str), ``directory_project`` (str),
        ``SEED`` (int, the random seed used) and ``params`` (the params dict used, with the
        frame rate put into ``params_VQT``).

    Raises
    ------
    ConfigError
        A missing section or key, an unknown step, or ROIs asked from the GUI.
    """
    params = copy.deepcopy(dict(params))
    steps = _steps(params)
    project = dict(_section(params, "project"))
    if project.get("directory_project") is None:
        raise ConfigError("params['project']['directory_project'] is not set")
    path_config, path_run_info, directory_project = prepare_project(
        directory_project=project["directory_project"],
        overwrite_config=project.get("overwrite_config", False),
        update_project_paths=project.get("update_project_paths", True),
        mkdir=True, initialize_visualization=project.get("initialize_visualization", False),
        verbose=project.get("verbose", 1))
    analysis = Path(directory_project) / "analysis_files"
    seed = _set_random_seed(project.get("random_seed"))
    device = resolve_device("auto" if project.get("use_GPU", False) else "cpu",
                            key="project.use_GPU")
    verbose = int(project.get("verbose", 1))

    def save(module: Any) -> None:
        module.save_config(path_config=path_config, overwrite=True, verbose=verbose)
        module.save_run_info(path_config=path_config, overwrite=True, verbose=verbose)
        module.save_run_data(path_config=path_config, overwrite=True, verbose=verbose)

    videos = rois = None
    if "load_videos" in steps or "point_tracking" in steps:
        videos, data = _load_videos(params)
        if "load_videos" in steps:
            save(data)
        del data
    if "ROIs" in steps:
        rois = _make_rois(params)
        save(rois)
    if "point_tracking" in steps:
        if rois is None:
            rois = ROIs(select_mode="file", path_file=analysis / "ROIs.h5", verbose=verbose)
        masks = list(rois.mask_images.values())
        pt = PointTracker(buffered_video_reader=videos, point_positions=rois.point_positions,
                          rois_masks=[masks[1] if len(masks) > 1 else masks[0]],
                          **_section(params, "PointTracker"))
        pt.track_points()
        save(pt)
        pt.cleanup()
        del pt
    if videos is not None:
        videos.close()
    if "VQT" in steps or "TCA" in steps:
        _seed_torch(seed, load=device != "cpu")
    if "VQT" in steps:
        save(_run_vqt(params, analysis, path_run_info, device))
    if "TCA" in steps:
        figure_saver = Figure_Saver(path_config=path_config,
                                    **dict(params.get("figure_saver") or {}))
        save(_run_tca(params, analysis, device, seed, figure_saver))
    logger.info("pipeline_basic: ran %s in %s", list(steps), directory_project)
    return {"path_config": path_config, "path_run_info": path_run_info,
            "directory_project": directory_project, "SEED": seed, "params": params}


def _section(params: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    if name not in params or not isinstance(params[name], Mapping):
        raise ConfigError(f"params['{name}'] is missing (make params with "
                          "face_rhythm.util.get_default_parameters)")
    return params[name]


def _steps(params: Mapping[str, Any]) -> list[str]:
    steps = params.get("steps", list(STEPS))
    steps = [steps] if isinstance(steps, str) else list(steps)
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ConfigError(f"params['steps']: unknown steps {unknown}; known: {list(STEPS)}")
    return steps


def _analysis_file(analysis: Path, name: str, step: str) -> Path:
    path = analysis / f"{name}.h5"
    if not path.is_file():
        raise ConfigError(f"{path}: missing; run the '{step}' step first")
    return path


def _set_random_seed(seed: int | None) -> int:
    """Seed Python's and numpy's generators; draw a seed when ``seed`` is None.

    torch (220 MB) is seeded by :func:`_seed_torch` before the VQT and TCA steps, when they
    use it: the steps before (videos, ROIs, tracking) draw nothing from it, so its
    generator's state is the same, and a CPU run does not load it at all.
    """
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**31 - 1))
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    return seed


def _seed_torch(seed: int, load: bool) -> None:
    """Seed torch's generator if torch is loaded, or is loaded now when ``load`` (a GPU run).

    On the CPU the steps compute without torch (the VQT's filter bank, tensorly's numpy
    backend), so nothing can draw from its generator; its pytorch backend seeds itself.
    """
    import sys

    if not load and "torch" not in sys.modules:
        return
    import torch  # lazy: heavy

    torch.manual_seed(seed)


def _video_paths(spec: Any) -> list[str]:
    """Video paths from ``params['paths_videos']`` (a find_paths spec, or paths)."""
    if isinstance(spec, (str, Path)):
        return [str(spec)]
    if isinstance(spec, Sequence):
        return [str(p) for p in spec]
    if not isinstance(spec, Mapping) or spec.get("directory_videos") is None:
        raise ConfigError("params['paths_videos']['directory_videos'] is not set")
    paths = find_paths(dir_outer=spec["directory_videos"],
                       reMatch=spec.get("filename_videos_strMatch") or ".*",
                       depth=int(spec.get("depth", 0) or 0), find_files=True,
                       find_folders=False, natsorted=True)
    if not paths:
        raise ConfigError(f"params['paths_videos']: no file in {spec['directory_videos']} "
                          f"matches {spec.get('filename_videos_strMatch')!r}")
    return list(paths)


def _load_videos(params: Mapping[str, Any]) -> tuple[BufferedVideoReader, Dataset_videos]:
    paths = _video_paths(params.get("paths_videos"))
    logger.info("pipeline_basic: %d videos: %s", len(paths), paths)
    videos = BufferedVideoReader(paths_videos=paths,
                                 **dict(params.get("BufferedVideoReader") or {}))
    data = Dataset_videos(bufferedVideoReader=videos,
                          **dict(params.get("Dataset_videos") or {}))
    return videos, data


def _make_rois(params: Mapping[str, Any]) -> ROIs:
    sec = _section(params, "ROIs")
    init = dict(sec.get("initialize") or {})
    if init.get("select_mode", "gui") == "gui":
        raise ConfigError("params['ROIs']['initialize']['select_mode']: pipeline_basic runs "
                          "without a display; draw the ROIs first and give select_mode "
                          "'file' with path_file")
    rois = ROIs(**init)
    make = dict(sec.get("make_rois") or {})
    if make:
        masks = list(rois.mask_images.values())
        idx = make.get("rois_points_idx")
        idx = list(range(len(masks))) if idx is None else [int(i) for i in np.ravel(idx)]
        bad = [i for i in idx if not -len(masks) <= i < len(masks)]
        if bad:
            raise ConfigError(f"params['ROIs']['make_rois']['rois_points_idx']: {bad} not "
                              f"among the {len(masks)} ROIs of {init.get('path_file')}")
        rois.make_points(rois=[masks[i] for i in idx],
                         point_spacing=make.get("point_spacing", 9))
    return rois


def _run_vqt(params: Mapping[str, Any], analysis: Path, path_run_info: str,
             device: str) -> VQT_Analyzer:
    kwargs = copy.deepcopy(dict(_section(params, "VQT_Analyzer")))
    pv = dict(kwargs.get("params_VQT") or {})
    for old, new in _OLD_VQT_KEYS.items():  # the original's older template
        if old in pv:
            value = pv.pop(old)
            if new is not None:
                kwargs.setdefault(new, value)
    info = load_run_info_file(path_run_info).get("Dataset_videos") or {}
    if "frame_rate" not in info:
        raise ConfigError(f"{path_run_info}: no Dataset_videos frame_rate; run the "
                          "'load_videos' step first")
    frame_rate = float(info["frame_rate"])
    given = pv.get("Fs_sample")
    if given is not None and not np.isclose(float(given), frame_rate):
        logger.warning("params_VQT['Fs_sample']=%s Hz replaced by the videos' frame rate "
                       "%.6g Hz", given, frame_rate)
    pv["Fs_sample"] = frame_rate
    params["VQT_Analyzer"].setdefault("params_VQT", {})["Fs_sample"] = frame_rate
    kwargs["params_VQT"] = pv
    if device != "cpu":
        kwargs.setdefault("device", device)
    tracked = simple_load(_analysis_file(analysis, "PointTracker", "point_tracking"))
    spec = VQT_Analyzer(**kwargs)
    spec.transform_all(points_tracked=tracked["points_tracked"],
                       point_positions=tracked["point_positions"])
    return spec


def _run_tca(params: Mapping[str, Any], analysis: Path, device: str, seed: int,
             figure_saver: Figure_Saver) -> TCA:
    sec = _section(params, "TCA")
    spectrograms = simple_load(_analysis_file(analysis, "VQT_Analyzer", "VQT"))["spectrograms"]
    tca = TCA(verbose=sec.get("verbose", 1))
    tca.rearrange_data(data=spectrograms, **dict(sec.get("rearrange_data") or {}))
    if sec.get("normalize_data"):
        tca.normalize_data(**dict(sec["normalize_data"]))
    fit = dict(sec.get("fit") or {})
    if device != "cpu" and fit.get("DEVICE", "cpu") == "cpu":
        fit["DEVICE"] = device
    fit.setdefault("seed", seed)
    tca.fit(**fit)
    tca.rearrange_factors(**dict(sec.get("rearrange_factors") or {}))
    tca.plot_factors(figure_saver=figure_saver, show_figures=False)
    return tca
