"""Random access to frames of one video: by index (:func:`read_frames`) or by time
(:func:`get_frames`, the reference API of ``alignment.get_frames``)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from ..errors import VideoError
from .backends import open_video
from .buffers import rgb_to_gray
from .info import PathLike, _normalize_indices
from .probe import probe_video

logger = logging.getLogger(__name__)


def read_frames(path: PathLike, indices: int | slice | Sequence[int] | np.ndarray,
                grayscale: bool = False, backend: str = "auto",
                fps: float | None = None) -> np.ndarray:
    """Random access to frames of one video.

    Parameters
    ----------
    path : path-like or str
    indices : int, slice or sequence of int
        Frame indices (negative counts from the end), any order, repeats allowed.
    grayscale : bool
    backend : str
    fps : float, optional
        Frame rate override (only validated here).

    Returns
    -------
    np.ndarray
        uint8 ``(n, H, W, 3)`` / ``(n, H, W)``; a single frame ``(H, W, 3)`` / ``(H, W)`` when
        ``indices`` is an int.
    """
    info = probe_video(path, fps=fps, backend=backend)
    idx, scalar = _normalize_indices(indices, info.n_frames, info.path)
    with open_video(info.path, info.backend) as src:
        frames = src.read_indices(idx)
    if grayscale:
        frames = rgb_to_gray(frames)
    return frames[0] if scalar else frames


def get_frames(path: PathLike, time_start: float, time_end: float,
               verbose: bool = False) -> np.ndarray:
    """Frames of a local video between two times (reference API of ``alignment.get_frames``).

    Reads ``int((time_end - time_start) * fps)`` frames from frame ``floor(time_start * fps)``
    and stops early at the end of the file (no error). Unlike the reference (OpenCV's BGR),
    frames are RGB, the project's convention.

    Parameters
    ----------
    path : path-like
    time_start, time_end : float
        Window in seconds.
    verbose : bool
        Log the window read at INFO level.

    Returns
    -------
    np.ndarray
        ``(n_frames, H, W, 3)`` uint8 RGB.

    Raises
    ------
    VideoError
        No frame lies in the window (or the video is invalid).
    """
    info = probe_video(path)
    eps = 1e-6
    first = math.floor(float(time_start) * info.frame_rate + eps)
    n = int((float(time_end) - float(time_start)) * info.frame_rate + eps)
    first = max(first, 0)
    last = min(first + n, info.n_frames)
    if n <= 0 or last <= first:
        raise VideoError(info.path, f"no frames between {time_start} s and {time_end} s "
                                    f"({info.n_frames} frames at {info.frame_rate:g} Hz)")
    if verbose:
        logger.info("%s: reading frames %d..%d", info.path, first, last - 1)
    with open_video(info.path, info.backend) as src:
        return src.read_range(first, last)
