"""Validation of videos before any long work: probe one, validate a session.

:func:`probe_video` (cheap: no full decode) raises :class:`VideoError` ("<path>: <problem>") for
a missing file, a file that is not a video, a video without frames, a missing or implausible
frame rate (an explicit ``fps`` wins over the container), and a truncated file (the container
declares more frames than it holds, or the last frame cannot be decoded).
:func:`validate_videos` does it for a session and checks that all frame sizes agree.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import VideoError
from .backends import _check_backend, open_video
from .info import PathLike, VideoInfo, _as_path_list, _check_frame_rate, _fps_list, metadata_table
from .sources import FrameSource, _BackendFailed, _OpenCVSource

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


# A container may declare this many frames more than it holds before it counts as truncated
# (OpenCV estimates the count from duration x fps for containers without a frame count).
_TRUNCATION_TOLERANCE = 1


def _validated_info(src: FrameSource, fps: float | None) -> VideoInfo:
    """Check an opened source (frames, frame rate, truncation) and describe it."""
    path = src.path
    if src.n_frames <= 0:
        raise VideoError(path, "the video has no frames")
    if src.height <= 0 or src.width <= 0:
        raise VideoError(path, f"invalid frame size {src.height}x{src.width}")
    rate = _check_frame_rate(path, fps, src.frame_rate)
    declared = src.declared_frames()
    if declared is None and src.backend == "decord":
        try:  # the container's declared count (decord counts only the frames present)
            cv = _OpenCVSource(path)
        except _BackendFailed:
            cv = None
        if cv is not None:
            declared = cv.declared_frames()
            cv.close()
    if declared is not None and declared > src.n_frames + _TRUNCATION_TOLERANCE:
        raise VideoError(path, f"truncated or corrupt: the container declares {declared} frames "
                               f"but only {src.n_frames} are present")
    try:
        last = src.read_range(src.n_frames - 1, src.n_frames)
    except (VideoError, IndexError) as exc:
        raise VideoError(path, f"truncated or corrupt: cannot decode the last frame "
                               f"({src.n_frames - 1}) of {src.n_frames} "
                               f"({getattr(exc, 'problem', exc)})") from None
    if last.shape != (1, src.height, src.width, 3):
        raise VideoError(path, f"last frame has shape {last.shape[1:]}, expected "
                               f"({src.height}, {src.width}, 3)")
    return VideoInfo(path=path, n_frames=int(src.n_frames), frame_rate=rate,
                     height=int(src.height), width=int(src.width),
                     n_channels=int(src.n_channels), backend=src.backend)


def probe_video(path: PathLike, fps: float | None = None, backend: str = "auto") -> VideoInfo:
    """Open and validate one video, cheaply (header, first and last frame; no full decode).

    Parameters
    ----------
    path : path-like or str
        Local file or ``sftp://`` URL.
    fps : float, optional
        Frame rate override in Hz (for containers that lie); wins over the container's.
    backend : {"auto", "decord", "opencv", "ffmpeg"}
        With ``"auto"``, a file that decord2 opens but cannot decode to its last frame is
        retried with OpenCV before being declared truncated.

    Returns
    -------
    VideoInfo

    Raises
    ------
    VideoError
        Missing file, not a video, zero frames, missing/implausible frame rate, truncated.
    """
    backend = _check_backend(backend)
    src = open_video(path, backend)
    try:
        return _validated_info(src, fps)
    except VideoError as exc:
        if backend != "auto" or src.backend != "decord" or "cannot decode" not in str(exc):
            raise
        first = exc
    finally:
        src.close()
    try:  # decord2 failed to decode: try OpenCV once
        cv = _OpenCVSource(src.path)
    except _BackendFailed:
        raise first from None
    with cv:
        info = _validated_info(cv, fps)
    logger.warning("%s: decord2 failed (%s); reading it with OpenCV instead", src.path,
                   first.problem)
    return info


def validate_videos(paths: PathLike | Sequence[PathLike],
                    fps: float | Sequence[float | None] | None = None,
                    same_size: bool = True, backend: str = "auto") -> list[VideoInfo]:
    """Probe every video of a session; raise on the first problem.

    Parameters
    ----------
    paths : path-like or sequence of them
    fps : float or sequence of (float or None), optional
        One override for all videos, or one per video (``None`` = use the container's).
    same_size : bool
        Require all videos to have the frame size of the first (a contiguous session).
    backend : str

    Returns
    -------
    list of VideoInfo

    Raises
    ------
    VideoError
        As :func:`probe_video`, or a frame size that differs from the first video's.
    """
    plist = _as_path_list(paths)
    rates = _fps_list(fps, len(plist))
    infos = [probe_video(p, fps=r, backend=backend) for p, r in zip(plist, rates)]
    if same_size:
        h0, w0 = infos[0].frame_height_width
        for info in infos[1:]:
            if info.frame_height_width != (h0, w0):
                raise VideoError(info.path, f"frame size {info.height}x{info.width} (HxW) differs "
                                            f"from {h0}x{w0} of the session's first video "
                                            f"{infos[0].path}")
    return infos


def video_metadata(paths: PathLike | Sequence[PathLike],
                   fps: float | Sequence[float | None] | None = None,
                   backend: str = "auto") -> pd.DataFrame:
    """Validated metadata of each video, as a table.

    Returns
    -------
    pandas.DataFrame
        One row per video; columns ``path, n_frames, frame_rate (Hz), height, width,
        n_channels, backend, duration_s, first_frame`` (continuous index of the video's first
        frame in the session). ``df.attrs["n_frames_total"]`` is the sum of frames.
    """
    return metadata_table(validate_videos(paths, fps=fps, same_size=False, backend=backend))
