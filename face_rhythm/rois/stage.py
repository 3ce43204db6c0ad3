"""The workflow's ``rois`` stage, files in and files out: the session's first video (and an
optional ROI file) -> ``rois.h5`` and ``figures/rois.png``.

Not imported by the package ``__init__`` (it needs :mod:`face_rhythm.video`, which imports
pandas); import it as ``from face_rhythm.rois.stage import rois_stage``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from face_rhythm.provenance import run_info
from face_rhythm.video import read_frames

from .figures import save_rois_png
from .params import rois_from_config
from .results import save_rois_h5

logger = logging.getLogger(__name__)

__all__ = ["rois_stage"]

PathLike = str | os.PathLike


def rois_stage(video: PathLike, roi_files: PathLike | Sequence[PathLike], rois: PathLike,
               figure: PathLike, rois_config: Mapping[str, Any], backend: str) -> Path:
    """Build a session's ROIs and grid of points and write ``rois.h5`` and its figure.

    Parameters
    ----------
    video : path-like or str
        The session's first video (a local path or an ``sftp://`` URL); its frame 0 (grey)
        sets the frame size, is stored as the example frame and is drawn under the ROIs.
    roi_files : path-like or sequence of path-like
        The ROI file named by ``rois.file`` (empty when the polygons are inline); recorded
        in the provenance.
    rois, figure : path-like
        Outputs: ``rois.h5`` (:func:`~.results.save_rois_h5`) and a PNG of the ROIs
        (:func:`~.figures.save_rois_png`, drawn with OpenCV).
    rois_config : mapping
        The config's ``rois`` section (:class:`~.params.RoisParams`).
    backend : str
        Video backend of :func:`face_rhythm.video.read_frames`.

    Returns
    -------
    Path
        ``rois``.
    """
    if isinstance(roi_files, (str, os.PathLike)):
        roi_files = [roi_files]
    frame = read_frames(video, [0], grayscale=True, backend=backend)[0]
    roiset = rois_from_config(rois_config, frame_height_width=frame.shape[:2])
    info = run_info(config={"rois": rois_config}, inputs=[video, *roi_files])
    save_rois_h5(roiset, rois, run_info=info, example_image=frame)
    save_rois_png(frame, roiset, figure)
    return Path(rois)
