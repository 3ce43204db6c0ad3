"""The workflow's ``spectrogram`` step, files in and files out.

:func:`spectrogram_from_tracking_file`: ``tracking.h5`` (read through
:func:`face_rhythm.point_tracking.open_tracking_file`, a batch of points at a time when the
tracks are large) -> ``spectrogram.h5`` (:func:`~.results.write_spectrogram_h5`) and a PNG of
a few representative points (:func:`~.figures.save_spectrogram_figure`). Called by
``workflow/scripts/spectrogram.py``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from face_rhythm.errors import SpectralParamsError
from face_rhythm.point_tracking import open_tracking_file, read_tracking_file

from .figures import save_spectrogram_figure
from .params import SpectralParams
from .results import SpectrogramSummary, write_spectrogram_h5

logger = logging.getLogger(__name__)

__all__ = ["read_tracking_h5", "spectrogram_from_tracking_file"]

def _tracks(track, load: bool) -> tuple[Any, np.ndarray, float]:
    """``(points_tracked, point_positions, frame_rate)`` of a :class:`TrackingFile`.

    ``points_tracked`` is read into memory when ``load``, else left as it is (an open h5py
    dataset, which :func:`~.streaming.write_spectrograms` reads once, in chunks of frames: the
    job's memory does not grow with the video). The owner's reader has checked shapes and
    the frame rate.
    """
    pt = track.points_tracked
    if load:
        pt = np.asarray(pt[()], dtype=np.float32)
    return pt, np.asarray(track.point_positions, dtype=np.float32), float(track.frame_rate)


def read_tracking_h5(path: str | os.PathLike, f=None) -> tuple[np.ndarray, np.ndarray, float]:
    """Validated ``(points_tracked, point_positions, frame_rate)`` of a tracking.h5.

    A door kept for the old import path, over
    :func:`face_rhythm.point_tracking.read_tracking_file` (the file's owner).

    Parameters
    ----------
    path : path-like
        The tracking.h5.
    f : ignored
        The open file the old signature took; the file is read by its owner now.

    Returns
    -------
    points_tracked : (T, N, 2) float32, px
    point_positions : (N, 2) float32, px
    frame_rate : float, Hz
    """
    return _tracks(read_tracking_file(path), load=True)


def spectrogram_from_tracking_file(tracking_path: str | os.PathLike,
                                   spectrogram_path: str | os.PathLike,
                                   cfg: Mapping[str, Any] | SpectralParams | None,
                                   figure_path: str | os.PathLike | None = None,
                                   n_figure_points: int = 3,
                                   progress: bool | None = None,
                                   threads: int | None = None) -> SpectrogramSummary:
    """The workflow's ``spectrogram`` step: tracking.h5 -> spectrogram.h5 (+ PNG figure).

    Parameters
    ----------
    tracking_path : path-like
        ``results/{session}/{video}/tracking.h5``.
    spectrogram_path : path-like
        Destination ``spectrogram.h5`` (written atomically).
    cfg : mapping or SpectralParams
        The ``vqt:`` config section (recorded as given in ``run_info``).
    figure_path : path-like, optional
        PNG of the spectrograms of ``n_figure_points`` representative points.
    n_figure_points : int
    progress : bool or None
        Progress bar (``True``: also as log lines in a workflow job).
    threads : int, optional
        CPU threads of the VQT (the rule's ``threads``).

    Returns
    -------
    SpectrogramSummary

    Raises
    ------
    FileNotFoundError
        No tracking file.
    SpectralParamsError
        Parameters that do not fit the tracks; the message starts with the tracking file.
    """
    tracking_path = Path(tracking_path)
    if not tracking_path.is_file():
        raise FileNotFoundError(f"{tracking_path}: no such tracking file")
    params = SpectralParams.from_config(cfg)
    raw_cfg = params.to_dict() if isinstance(cfg, SpectralParams) else dict(cfg or {})
    with open_tracking_file(tracking_path) as track:
        pt, home, fr = _tracks(track, load=False)
        try:
            summary = write_spectrogram_h5(spectrogram_path, pt, home, fr, params,
                                           inputs=[tracking_path],
                                           config_for_provenance={"vqt": raw_cfg},
                                           progress=progress, threads=threads)
        except SpectralParamsError as e:
            raise SpectralParamsError(f"{tracking_path}: {e}") from None
    if figure_path is not None:
        save_spectrogram_figure(spectrogram_path, figure_path, summary.point_power,
                                n_figure_points,
                                title=f"{tracking_path.parent.parent.name}/"
                                      f"{tracking_path.parent.name}: normalised spectrograms")
    return summary
