"""What a video and a session of videos are: metadata, frame-rate checks, frame indices.

:class:`VideoInfo` describes one validated video, :class:`FrameChunk` a run of its frames.
A session is videos concatenated in time: frame ``i`` of the session ("continuous index") is
frame ``i - offsets[v]`` of video ``v`` (:func:`session_offsets`, :func:`locate_frames`).
Nothing here opens a file; every other module of :mod:`face_rhythm.video` may use these.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..errors import VideoError

if TYPE_CHECKING:  # pandas (0.3 s to import) only where a table is made
    import pandas as pd

#: Lowest frame rate accepted (Hz); slower containers are assumed to lie.
MIN_FRAME_RATE_HZ = 0.1
#: Highest frame rate accepted (Hz); e.g. a container reporting its 90 kHz time base.
MAX_FRAME_RATE_HZ = 20_000.0


PathLike = str | os.PathLike


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """Metadata of one video.

    Attributes
    ----------
    path : str
        File path (absolute) or ``sftp://`` URL.
    n_frames : int
        Number of frames.
    frame_rate : float
        Frame rate in Hz (the ``fps`` override when one was given, else the container's).
    height, width : int
        Frame size in pixels.
    n_channels : int
        Channels of the frames the reader returns (3: RGB).
    backend : str
        Backend that decodes it: ``"decord"``, ``"opencv"`` or ``"ffmpeg"``.
    """

    path: str
    n_frames: int
    frame_rate: float
    height: int
    width: int
    n_channels: int
    backend: str

    @property
    def duration_s(self) -> float:
        """Duration in seconds (``n_frames / frame_rate``)."""
        return self.n_frames / self.frame_rate

    @property
    def frame_height_width(self) -> tuple[int, int]:
        """``(height, width)`` in pixels."""
        return (self.height, self.width)


class FrameChunk(NamedTuple):
    """Consecutive frames of one video, as yielded by :func:`iter_frame_chunks`.

    Attributes
    ----------
    video : int
        Index of the video in the session.
    start : int
        Index of the first frame within that video.
    index : int
        Continuous index of the first frame across all videos of the session.
    frames : np.ndarray
        ``(n, H, W)`` or ``(n, H, W, 3)`` uint8.
    """

    video: int
    start: int
    index: int
    frames: np.ndarray

    @property
    def stop(self) -> int:
        """Index (within the video) one past the last frame."""
        return self.start + len(self.frames)


def _check_frame_rate(path: PathLike, fps: float | None, container_fps: float) -> float:
    """The frame rate to use: the override if given, else the container's; both validated."""
    if fps is not None:
        try:
            f = float(fps)
        except (TypeError, ValueError):
            raise VideoError(path, f"frame rate override {fps!r} is not a number") from None
        if not (math.isfinite(f) and MIN_FRAME_RATE_HZ <= f <= MAX_FRAME_RATE_HZ):
            raise VideoError(path, f"frame rate override {fps!r} Hz is outside "
                                   f"[{MIN_FRAME_RATE_HZ:g}, {MAX_FRAME_RATE_HZ:g}] Hz")
        return f
    f = float(container_fps) if container_fps is not None else float("nan")
    if not math.isfinite(f) or f <= 0:
        raise VideoError(path, "the container has no frame rate; give it explicitly (fps)")
    if not MIN_FRAME_RATE_HZ <= f <= MAX_FRAME_RATE_HZ:
        raise VideoError(path, f"the container's frame rate {f:g} Hz is implausible (outside "
                               f"[{MIN_FRAME_RATE_HZ:g}, {MAX_FRAME_RATE_HZ:g}] Hz); give the "
                               "true rate explicitly (fps)")
    return f


def _as_path_list(paths: PathLike | Sequence[PathLike]) -> list[PathLike]:
    if isinstance(paths, (str, os.PathLike)):
        return [paths]
    out = list(paths)
    if not out:
        raise VideoError("no video paths given")
    return out


def _fps_list(fps: float | Sequence[float | None] | None, n: int) -> list[float | None]:
    if fps is None or np.isscalar(fps):
        return [fps] * n  # type: ignore[list-item]
    out = list(fps)  # type: ignore[arg-type]
    if len(out) != n:
        raise VideoError(f"fps has {len(out)} values for {n} videos")
    return out


def metadata_table(infos: Sequence[VideoInfo]) -> pd.DataFrame:
    """Table of :class:`VideoInfo`, one row per video (see :func:`video_metadata`)."""
    rows = [dataclasses.asdict(i) for i in infos]
    import pandas as pd

    df = pd.DataFrame(rows, columns=[f.name for f in dataclasses.fields(VideoInfo)])
    df["duration_s"] = df["n_frames"] / df["frame_rate"]
    df["first_frame"] = session_offsets([i.n_frames for i in infos])[:-1]
    df.attrs["n_frames_total"] = int(df["n_frames"].sum()) if len(df) else 0
    return df


def session_offsets(n_frames: Sequence[int]) -> np.ndarray:
    """Continuous index of each video's first frame, plus the total: ``(n_videos + 1,)`` int64."""
    return np.concatenate([[0], np.cumsum(np.asarray(n_frames, dtype=np.int64))]).astype(np.int64)


def locate_frames(index: int | Sequence[int] | np.ndarray,
                  offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map continuous frame indices to ``(video, frame within video)``.

    Parameters
    ----------
    index : int or array of int
        Continuous indices, ``0 <= index < offsets[-1]``.
    offsets : np.ndarray
        From :func:`session_offsets`.

    Returns
    -------
    video, local : np.ndarray of int64, shaped like ``index``
    """
    idx = np.asarray(index, dtype=np.int64)
    total = int(offsets[-1])
    if idx.size and (idx.min() < 0 or idx.max() >= total):
        raise IndexError(f"frame index out of range for {total} frames in the session")
    video = np.searchsorted(offsets, idx, side="right") - 1
    return video.astype(np.int64), idx - offsets[video]


def _normalize_indices(indices: int | slice | Sequence[int] | np.ndarray, n: int,
                       path: str) -> tuple[np.ndarray, bool]:
    """Indices as int64 array within [0, n) (negative counts from the end); scalar flag."""
    if isinstance(indices, slice):
        return np.arange(n, dtype=np.int64)[indices], False
    scalar = np.ndim(indices) == 0
    idx = np.asarray(indices).reshape(-1)
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"{path}: frame indices must be integers, got {idx.dtype}")
    idx = idx.astype(np.int64)
    idx = np.where(idx < 0, idx + n, idx)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"{path}: frame index out of range for {n} frames")
    return idx, scalar
