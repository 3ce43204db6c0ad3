"""The workflow's ``track_points`` stage: video + ``rois.h5`` -> ``tracking.h5``.

One video per call. With ``tracking.contiguous`` and the session's previous video (its
``tracking.h5`` and its frames), the points start where the previous video ended and frame 0
is tracked from the previous video's last frame (:func:`contiguous_start`); otherwise every
video starts from the home points at ``idx_start``. Positions are streamed into
``tracking.h5`` in chunks, so memory does not grow with the video.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from face_rhythm.rois import read_rois_h5
from face_rhythm.video import probe_video

from ..errors import TrackingError
from ..provenance import run_info
from .engine import track_video
from .params import TrackingConfig, check_device
from .results import open_tracking_file, write_tracking_h5

logger = logging.getLogger(__name__)

__all__ = ["contiguous_start", "read_home_and_mask", "track_points_stage"]


def read_home_and_mask(rois: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Home positions (N, 2) float32 (x, y) px and the tracking mask (H, W) bool of
    ``rois.h5``; :class:`TrackingError` when the file lacks the mask."""
    roi_file = read_rois_h5(rois)
    if roi_file.mask is None:
        raise TrackingError(f"{rois}: lacks ['mask'] (made by rule rois)")
    return (np.asarray(roi_file.point_positions, dtype=np.float32),
            np.asarray(roi_file.mask, dtype=bool))


def contiguous_start(config: TrackingConfig, previous_tracking: str | os.PathLike | None,
                     previous_video: str | os.PathLike | None
                     ) -> tuple[np.ndarray | None, str | os.PathLike | None, int]:
    """Where tracking of this video starts: ``(start_points, previous_video, idx_start)``.

    With ``config.contiguous`` and a previous ``tracking.h5``: the last row of its
    ``points_tracked`` (N, 2) float32, the previous video (whose last frame those points
    are in) and frame 0 (``idx_start`` applies to the first video of a contiguous session).
    Otherwise ``(None, None, config.idx_start)``: start from the home points.
    """
    if not (config.contiguous and previous_tracking):
        return None, None, config.idx_start
    with open_tracking_file(previous_tracking) as prev:
        start_points = np.asarray(prev.points_tracked[-1], dtype=np.float32)
    logger.info("contiguous: continuing from %s", previous_tracking)
    return start_points, previous_video, 0


def track_points_stage(video: str | os.PathLike, rois: str | os.PathLike,
                       tracking: str | os.PathLike,
                       config: Mapping[str, Any] | TrackingConfig | None = None, *,
                       fps: float | None = None, backend: str = "auto",
                       previous_tracking: str | os.PathLike | None = None,
                       previous_video: str | os.PathLike | None = None,
                       threads: int = 1) -> Path:
    """Track the session's grid of points through one video into ``tracking.h5``.

    Parameters
    ----------
    video : path-like or str
        The video (a local path or an ``sftp://`` URL).
    rois : path-like
        The session's ``rois.h5`` (``point_positions``, ``mask``).
    tracking : path-like
        The ``tracking.h5`` to write (atomically), see :mod:`.results`.
    config : mapping or TrackingConfig, optional
        The ``tracking`` config section (stored as given in ``run_info``).
    fps : float, optional
        Frame-rate override (Hz).
    backend : str
        Video backend (``auto``, ``decord``, ``opencv``, ``ffmpeg``).
    previous_tracking, previous_video : path-like, optional
        The session's previous video's ``tracking.h5`` and the video itself, for
        ``contiguous``; ignored otherwise.
    threads : int
        OpenCV threads and preprocessing workers.

    Returns
    -------
    Path
        ``tracking``.
    """
    cfg = TrackingConfig.from_config(config)
    params = cfg.params
    check_device(cfg.device)
    threads = max(int(threads), 1)
    cv2.setNumThreads(threads)
    home, mask = read_home_and_mask(rois)
    start_points, previous_video, idx_start = contiguous_start(cfg, previous_tracking,
                                                               previous_video)
    info = probe_video(video, fps=fps, backend=backend)
    n_frames, n_points = int(info.n_frames), int(home.shape[0])
    logger.info("%s: %d frames %dx%d at %.3f Hz; %d points; %s", video, n_frames, info.width,
                info.height, info.frame_rate, n_points, json.dumps(params.to_reference()))
    section = dict(config) if isinstance(config, Mapping) else cfg.to_config()
    inputs = [video, rois] + ([previous_tracking] if start_points is not None else [])
    done: list = []  # the TrackingResult, once tracked

    def track(out):
        done.append(track_video(video, home, params, mask=mask, idx_start=idx_start, fps=fps,
                                start_points=start_points, previous_video=previous_video,
                                out=out, chunk_size=cfg.chunk_size, n_workers=threads,
                                backend=backend, progress=True))  # a log line every 30 s
        return done[0]

    def provenance(res):
        return run_info(config={"tracking": section}, inputs=inputs,
                        extra={"fps_override": fps, "threads": threads,
                               "n_rewinds": res.n_rewinds})

    t0 = time.perf_counter()
    write_tracking_h5(tracking, track, shape=(n_frames, n_points), chunk_size=cfg.chunk_size,
                      params={**params.to_reference(), "idx_start": idx_start,
                              "contiguous": cfg.contiguous},
                      run_info=provenance)
    res = done[0]
    dt = time.perf_counter() - t0
    logger.info("tracked %d frames in %.1f s (%.0f frames/s); violation fraction %.4f, "
                "%d rewind(s)", n_frames - idx_start, dt, (n_frames - idx_start) / dt,
                res.violation_fraction, res.n_rewinds)
    return Path(tracking)
