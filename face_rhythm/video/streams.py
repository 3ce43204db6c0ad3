"""Chunked streaming of a video or a session of videos, decoded in a background thread.

Memory
------
:func:`iter_chunks` / :func:`iter_frame_chunks` decode in a background thread
(:mod:`face_rhythm.video.prefetch`). At most ``prefetch`` decoded chunks wait for the consumer
(the chunk being decoded counts against that limit), plus the chunk the consumer currently
holds (and the previous one, until its loop variable is rebound): peak memory is about
``(prefetch + 2) * chunk_size * H * W * 3`` bytes whatever the video length. Chunk arrays are
recycled (:class:`~face_rhythm.video.buffers._ChunkPool`) once the consumer has dropped every
reference to them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ..errors import VideoError
from .backends import _check_backend, open_stream
from .buffers import _ChunkPool
from .info import FrameChunk, PathLike, VideoInfo, _as_path_list, session_offsets
from .prefetch import _threaded
from .probe import validate_videos


def _plan(infos: Sequence[VideoInfo], start: int, stop: int | None) -> list[tuple[int, int, int]]:
    """Segments ``(video, local_start, local_stop)`` covering continuous ``[start, stop)``."""
    offsets = session_offsets([i.n_frames for i in infos])
    total = int(offsets[-1])
    stop = total if stop is None else stop
    if not (isinstance(start, (int, np.integer)) and isinstance(stop, (int, np.integer))):
        raise TypeError(f"start and stop must be integers, got {start!r}, {stop!r}")
    if not 0 <= start <= stop <= total:
        raise VideoError(f"frame range [{start}, {stop}) is outside the {total} frames of "
                         f"{infos[0].path if len(infos) == 1 else 'the session'}")
    segs = []
    for v in range(len(infos)):
        a = max(start, int(offsets[v]))
        b = min(stop, int(offsets[v + 1]))
        if a < b:
            segs.append((v, a - int(offsets[v]), b - int(offsets[v])))
    return segs


def _produce(infos: Sequence[VideoInfo], segs: list[tuple[int, int, int]], chunk_size: int,
             grayscale: bool, offsets: np.ndarray, backend: str,
             prefetch: int = 0) -> Iterator[FrameChunk]:
    # alive at once: `prefetch` queued or decoding, the consumer's chunk and its previous one
    pool = _ChunkPool(prefetch + 3)
    for v, a, b in segs:
        info = infos[v]
        with open_stream(info, backend) as src:
            pos = a
            for frames in src._stream(a, b, chunk_size, grayscale, pool):
                if len(frames) == 0:
                    raise VideoError(info.path, f"no frames decoded at frame {pos}")
                n = len(frames)
                yield FrameChunk(v, pos, int(offsets[v]) + pos, frames)
                del frames
                pos += n
            if pos != b:
                raise VideoError(info.path, f"decoded {pos - a} frames of {b - a} requested "
                                            f"from frame {a} (truncated file?)")


def iter_frame_chunks(paths: PathLike | Sequence[PathLike], chunk_size: int = 64, start: int = 0,
                      stop: int | None = None, grayscale: bool = False, prefetch: int = 2,
                      backend: str = "auto",
                      fps: float | Sequence[float | None] | None = None
                      ) -> Iterator[FrameChunk]:
    """Stream consecutive frames of one video or a session of videos, with prefetching.

    The videos are validated (:func:`probe_video`) when this function is called, before any
    decoding. A chunk never spans two videos (the last chunk of each video may be shorter).

    Parameters
    ----------
    paths : path-like or sequence of them
        One video, or the videos of a session in order.
    chunk_size : int
        Frames per chunk (> 0).
    start, stop : int
        Continuous frame range ``[start, stop)`` over the concatenated videos
        (``stop=None``: to the end).
    grayscale : bool
        ``(n, H, W)`` mean-of-RGB frames instead of ``(n, H, W, 3)`` RGB.
    prefetch : int
        Chunks decoded ahead in a background thread (0: in the caller's thread; OpenCV
        streams still decode up to 4 frames ahead in a helper thread).
    backend : str
        See :func:`open_video`.
    fps : float or sequence, optional
        Frame rate override(s), passed to :func:`probe_video`.

    Yields
    ------
    FrameChunk
        ``(video, start, index, frames)`` with uint8 frames. The frame arrays are recycled
        for later chunks only once no reference to them (or to a view of them) is left, so
        keeping a chunk is safe; raw pointers to its data are not.
    """
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size <= 0:
        raise VideoError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if not isinstance(prefetch, (int, np.integer)) or prefetch < 0:
        raise VideoError(f"prefetch must be a non-negative integer, got {prefetch!r}")
    plist = _as_path_list(paths)
    infos = validate_videos(plist, fps=fps, same_size=False, backend=_check_backend(backend))
    return iter_info_chunks(infos, chunk_size=chunk_size, start=start, stop=stop,
                            grayscale=grayscale, prefetch=prefetch, backend=backend)


def iter_info_chunks(infos: Sequence[VideoInfo], chunk_size: int = 64, start: int = 0,
                     stop: int | None = None, grayscale: bool = False,
                     prefetch: int = 2, backend: str = "auto") -> Iterator[FrameChunk]:
    """As :func:`iter_frame_chunks` for videos already validated (:func:`validate_videos`);
    ``backend`` as in :func:`open_stream`."""
    segs = _plan(infos, start, stop)
    offsets = session_offsets([i.n_frames for i in infos])
    backend = _check_backend(backend)

    def factory() -> Iterator[FrameChunk]:
        return _produce(infos, segs, int(chunk_size), grayscale, offsets, backend,
                        int(prefetch))

    if prefetch == 0:
        return factory()
    return _threaded(factory, int(prefetch))


def iter_chunks(path: PathLike | Sequence[PathLike], chunk_size: int = 64, start: int = 0,
                stop: int | None = None, grayscale: bool = False, prefetch: int = 2,
                backend: str = "auto",
                fps: float | Sequence[float | None] | None = None) -> Iterator[np.ndarray]:
    """Consecutive uint8 chunks ``(n, H, W)`` (grayscale) or ``(n, H, W, 3)`` (RGB).

    Same as :func:`iter_frame_chunks` but yields only the frame arrays. Validation happens
    at the call, decoding in a background thread holding at most ``prefetch`` chunks.
    """
    chunks = iter_frame_chunks(path, chunk_size=chunk_size, start=start, stop=stop,
                               grayscale=grayscale, prefetch=prefetch, backend=backend, fps=fps)

    def frames_only() -> Iterator[np.ndarray]:
        try:
            for c in chunks:
                yield c.frames
        finally:
            chunks.close()  # type: ignore[attr-defined]

    return frames_only()
