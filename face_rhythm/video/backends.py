"""Which decoder reads a video, and opening it.

``"decord"`` (the decord2 package) is the default decoder; ``"opencv"`` (``cv2.VideoCapture``)
is the fallback, chosen automatically (with a log line) when decord2 is not installed or
cannot open a file, or forced with ``backend="opencv"``; ``"ffmpeg"`` pipes frames out of an
``ffmpeg`` subprocess (:mod:`face_rhythm.video.ffmpeg`) and is what ``sftp://user@host/path``
URLs use.

With ``backend="auto"``, decord2 probes videos and serves random access, while long
sequential streams are decoded by OpenCV (:func:`open_stream`, ``STREAM_WITH_OPENCV``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import VideoError
from .ffmpeg import FFmpegSource
from .info import PathLike, VideoInfo
from .sftp import is_remote
from .sources import (
    FrameSource,
    _BackendFailed,
    _BackendUnavailable,
    _DecordSource,
    _OpenCVSource,
)

logger = logging.getLogger(__name__)


#: Accepted values of ``backend``.
BACKENDS = ("auto", "decord", "opencv", "ffmpeg")


def _check_backend(backend: str) -> str:
    if backend == "torchcodec":  # the reference's default; not used here
        logger.info("backend 'torchcodec' is not supported; using 'auto' (decord2, OpenCV)")
        return "auto"
    if backend not in BACKENDS:
        raise VideoError(f"backend {backend!r} is not one of {BACKENDS}")
    return backend


# Why sequential streaming uses OpenCV when backend="auto": decord's VideoReader.next()
# pushes one more compressed packet to its decoder thread every time that thread has no frame
# ready yet, in a tight loop, and the decoder decodes every pushed packet into an unbounded
# queue of RGB frames. Whenever its thread lags (a busy machine, or right after opening or
# seeking), the surplus of decoded frames stays queued until the end of the video
# (dmlc/decord#157, #208). Measured here (2 shared cores) on a 10-minute 240x320 video: the
# process grew by ~500 MiB with decord, stayed flat (+20 MiB) with OpenCV, whose frames are
# identical and whose speed is the same. Re-seeking to flush the queue made it worse (every
# seek starts a new burst). decord stays the backend for probing and random access.
STREAM_WITH_OPENCV = True


def _open_backend(path: str, backend: str) -> FrameSource:
    if backend == "decord":
        return _DecordSource(path)
    if backend == "opencv":
        return _OpenCVSource(path)
    if backend == "ffmpeg":
        return FFmpegSource(path)
    raise VideoError(f"backend {backend!r} is not one of {BACKENDS}")


def open_video(path: PathLike, backend: str = "auto") -> FrameSource:
    """Open a video for decoding (no validation beyond "it opens"; see :func:`probe_video`).

    Parameters
    ----------
    path : path-like or str
        Local file, or ``sftp://user@host[:port]/path`` (always read with ffmpeg).
    backend : {"auto", "decord", "opencv", "ffmpeg"}
        ``"auto"``: decord2, falling back to OpenCV (logged) when decord2 is missing or
        cannot open the file.

    Returns
    -------
    FrameSource
        Close it (or use it as a context manager) when done.

    Raises
    ------
    VideoError
        Missing file, a directory, an empty file, or no backend can open it.
    """
    backend = _check_backend(backend)
    if is_remote(path):
        return FFmpegSource(str(path))
    p = Path(path).expanduser()
    if not p.exists():
        raise VideoError(p, "file not found")
    if p.is_dir():
        raise VideoError(p, "is a directory, not a video file")
    if p.stat().st_size == 0:
        raise VideoError(p, "empty file (0 bytes)")
    p = p.resolve()
    spath = str(p)
    if backend != "auto":
        try:
            return _open_backend(spath, backend)
        except (_BackendUnavailable, _BackendFailed) as exc:
            raise VideoError(p, f"not a readable video ({backend}: {exc})") from None
    try:
        return _DecordSource(spath)
    except (_BackendUnavailable, _BackendFailed) as exc:
        first = exc
    try:
        src = _OpenCVSource(spath)
    except _BackendFailed as exc:
        raise VideoError(p, f"not a readable video (decord2: {first}; {exc})") from None
    logger.warning("%s: decord2 failed (%s); reading it with OpenCV instead", p, first)
    return src


def open_stream(info: VideoInfo, backend: str = "auto") -> FrameSource:
    """Open a validated video for sequential reading.

    With ``backend="auto"``, a video probed with decord2 is streamed with OpenCV (same frames,
    bounded memory; see ``STREAM_WITH_OPENCV``), falling back to decord2 if OpenCV cannot open
    it. Any other ``backend`` is used as given.
    """
    if backend == "auto" and info.backend == "decord" and STREAM_WITH_OPENCV:
        try:
            src = _OpenCVSource(info.path)
        except _BackendFailed:
            src = None
        if src is not None and src.n_frames >= info.n_frames and \
                (src.height, src.width) == info.frame_height_width:
            return src
        if src is not None:
            src.close()
        logger.warning("%s: streaming with decord2 (OpenCV cannot read it the same way); memory "
                       "is then not strictly bounded (decord read-ahead)", info.path)
    elif backend == "decord":
        logger.warning("%s: streaming with decord2 as asked; its reader decodes ahead without "
                       "bound (dmlc/decord#157), so memory can grow with the video. "
                       "backend='auto' streams the same frames with OpenCV", info.path)
    return open_video(info.path, info.backend if backend == "auto" else backend)
