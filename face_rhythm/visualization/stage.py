"""The workflow's ``overlay_video`` stage: video + ``tracking.h5`` -> overlay video and figures.

:func:`overlay_video_stage` is what ``workflow/scripts/overlay_video.py`` calls: it reads the
tracked points with the point-tracking package's reader, writes the overlay video (an MJPG
stream under the ``.mp4`` name when the MP4 encoder is missing, so the workflow's file name
holds), the contact sheet and the displacement/violation figure.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from face_rhythm.point_tracking import read_tracking_file
from face_rhythm.video import read_frames

from .drawing import violations_to_dense
from .figures import contact_sheet_indices, plot_contact_sheet, plot_tracking_summary
from .overlay import write_overlay_video
from .params import OutputsParams
from .style import save_figure

logger = logging.getLogger(__name__)

__all__ = ["overlay_video_stage"]


def overlay_video_stage(video: str | os.PathLike, tracking: str | os.PathLike,
                        out_video: str | os.PathLike, out_contact_sheet: str | os.PathLike,
                        out_figure: str | os.PathLike,
                        outputs: Mapping[str, Any] | OutputsParams | None = None,
                        label: str | None = None) -> Path:
    """Overlay video, contact sheet and tracking summary figure of one video.

    Parameters
    ----------
    video : path-like or str
        The source video (a local path or an ``sftp://`` URL).
    tracking : path-like
        Its ``tracking.h5``: points (T, N, 2) px, frame rate (Hz), violations.
    out_video : path-like
        Overlay video (``overlay.mp4``); an MJPG fallback is renamed to this name.
    out_contact_sheet, out_figure : path-like
        PNG files: the contact sheet and the displacement/violations figure.
    outputs : mapping or OutputsParams, optional
        The ``outputs`` config section (overlay look, ``contact_sheet_frames``).
    label : str, optional
        Name in titles and messages (default: the tracking file's parent folder name).

    Returns
    -------
    Path
        ``out_video``.
    """
    params = OutputsParams.from_config(outputs)
    label = label or Path(tracking).parent.name
    track = read_tracking_file(tracking)
    points = np.asarray(track.points_tracked, dtype=np.float32)
    frame_rate = float(track.frame_rate)
    violations = violations_to_dense(track.violations, points.shape[0], points.shape[1])
    # Check everything cheap before the long loop: an impossible size fails here.
    params.overlay.output_size(1, 1)

    out = Path(out_video)
    written = write_overlay_video(video, points, out, frame_rate=frame_rate,
                                  violations=violations, params=params.overlay)
    if written != out:  # MJPG/AVI fallback: keep the name the workflow expects
        logger.warning("%s: MP4 encoder unavailable; %s holds an MJPG AVI stream", label, out)
        os.replace(written, out)

    idx = contact_sheet_indices(points.shape[0], params.contact_sheet_frames, violations)
    frames = read_frames(video, idx, fps=frame_rate)
    fig = plot_contact_sheet(frames, idx, points[idx], frame_rate, violations[idx],
                             title=f"{label}: tracked points (cyan; magenta = violation)")
    save_figure(fig, out_contact_sheet)
    fig = plot_tracking_summary(points, frame_rate, violations,
                                title=f"{label}: tracked point displacement")
    save_figure(fig, out_figure)
    return out
