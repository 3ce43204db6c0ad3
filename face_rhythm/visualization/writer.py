"""Writing videos: a colour ``cv2.VideoWriter`` on a temporary file, codecs tried in order.

The file is written under a hidden temporary name in the destination folder (same suffix:
OpenCV picks the container from it) and renamed into place by the caller when complete.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..errors import VisualizationError

logger = logging.getLogger(__name__)

__all__ = ["open_video_writer"]


def _temp_video_path(path: Path) -> Path:
    # Same folder and the same suffix (OpenCV picks the container from the suffix).
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def open_video_writer(path: str | os.PathLike, frame_rate: float,
                      frame_height_width: tuple[int, int],
                      fourccs: Sequence[tuple[str, str]] = (("mp4v", ".mp4"), ("MJPG", ".avi")),
                      ) -> tuple[cv2.VideoWriter, Path, Path, str]:
    """Open a colour ``cv2.VideoWriter`` on a temporary file, trying codecs in order.

    Parameters
    ----------
    path : path-like
        Requested destination. Its suffix is replaced by each candidate's suffix.
    frame_rate : float
        Frames per second of the written file (Hz).
    frame_height_width : (int, int)
        Size of the frames that will be written.
    fourccs : sequence of (fourcc, suffix)
        Candidates, best first (default: MP4 with ``mp4v``, then MJPG in AVI).

    Returns
    -------
    (writer, tmp_path, final_path, fourcc)
        Write BGR frames to ``writer``; after ``writer.release()`` rename ``tmp_path`` to
        ``final_path`` (``final_path`` has the suffix of the codec that opened).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = (int(v) for v in frame_height_width)
    if h < 1 or w < 1:
        raise VisualizationError(f"{path}: frame size must be positive, got {frame_height_width}")
    if not np.isfinite(frame_rate) or frame_rate <= 0:
        raise VisualizationError(f"{path}: frame rate must be positive, got {frame_rate}")
    for fourcc, suffix in fourccs:
        final = path.with_suffix(suffix)
        tmp = _temp_video_path(final)
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*fourcc), float(frame_rate),
                                 (w, h), True)
        if writer.isOpened():
            if final != path:
                logger.warning("%s: codec %s unavailable, writing %s with %s instead", path,
                               fourccs[0][0], final, fourcc)
            return writer, tmp, final, fourcc
        writer.release()
        tmp.unlink(missing_ok=True)
        logger.info("%s: OpenCV cannot open a %s writer", final, fourcc)
    raise OSError(f"{path}: OpenCV cannot open a video writer with any of "
                  f"{[f for f, _ in fourccs]}")

