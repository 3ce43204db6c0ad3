"""Streaming video input: metadata, validation, chunked prefetching reads, random access.

Backends
--------
``"decord"`` (the decord2 package) is the default decoder; ``"opencv"`` (``cv2.VideoCapture``)
is the fallback, chosen automatically (with a log line) when decord2 is not installed or
cannot open a file, or forced with ``backend="opencv"``; ``"ffmpeg"`` pipes frames out of an
``ffmpeg`` subprocess (see :mod:`face_rhythm.remote`) and is what ``sftp://user@host/path``
URLs use. All backends return the same frames: uint8 RGB, ``(n, H, W, 3)`` (both decord2 and
OpenCV convert YUV to RGB with FFmpeg's swscale; on the shared real clips the two agree to
the bit, see ``tests/test_video.py``).

With ``backend="auto"``, decord2 probes videos and serves random access, while long
sequential streams (:func:`iter_chunks`, slot loads of :class:`BufferedVideoReader`) are
decoded by OpenCV: decord2's reader decodes ahead into an unbounded queue whenever its
decoder thread lags, so its memory grows with the video length on a busy machine (measured
+500 MiB over a 10-minute 240x320 video), while OpenCV's stays flat at the same speed and
gives the same frames. See ``STREAM_WITH_OPENCV`` and :func:`open_stream`.

Grayscale output is the mean of the R, G and B channels rounded to the nearest integer
(``(R + G + B + 1) // 3``; a sum of three integers divided by 3 is never a tie), computed with
``cv2.transform`` for speed (exactly equal to the integer formula).

Memory
------
:func:`iter_chunks` / :func:`iter_frame_chunks` decode in a background thread. At most
``prefetch`` decoded chunks wait for the consumer (the chunk being decoded counts against that
limit), plus the chunk the consumer currently holds (and the previous one, until its loop
variable is rebound): peak memory is about ``(prefetch + 2) * chunk_size * H * W * 3`` bytes
whatever the video length. Chunk arrays are recycled: once the consumer has dropped every
reference to a chunk, the decoder fills it again (no new pages to fault in and zero, which
cost ~25% of the throughput on a 582x782 clip), and the BGR->RGB / ->gray conversion happens
frame by frame while the decoded frame is still in the CPU cache. OpenCV streams of 16 frames
or more decode in a helper thread (into a ring of 4 BGR frames) while the streaming thread
converts, so that decoding and conversion overlap as they do with decord2's decoder thread.

Validation
----------
:func:`probe_video` (cheap: no full decode) raises :class:`VideoError` ("<path>: <problem>") for
a missing file, a file that is not a video, a video without frames, a missing or implausible
frame rate (an explicit ``fps`` wins over the container), and a truncated file (the container
declares more frames than it holds, or the last frame cannot be decoded).
:func:`validate_videos` does it for a session and checks that all frame sizes agree.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import dataclasses
import logging
import math
import mmap
import os
import queue
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Self

import cv2
import numpy as np
import pandas as pd

from .errors import VideoError

logger = logging.getLogger(__name__)

__all__ = [
    "BACKENDS",
    "MAX_FRAME_RATE_HZ",
    "MIN_FRAME_RATE_HZ",
    "BufferedVideoReader",
    "FrameChunk",
    "FrameSource",
    "VideoError",
    "VideoInfo",
    "VideoReaderWrapper",
    "alloc_frames",
    "get_frames",
    "iter_chunks",
    "iter_frame_chunks",
    "iter_info_chunks",
    "locate_frames",
    "metadata_table",
    "open_stream",
    "open_video",
    "probe_video",
    "read_frames",
    "rgb_to_gray",
    "session_offsets",
    "validate_videos",
    "video_metadata",
]

#: Lowest frame rate accepted (Hz); slower containers are assumed to lie.
MIN_FRAME_RATE_HZ = 0.1
#: Highest frame rate accepted (Hz); e.g. a container reporting its 90 kHz time base.
MAX_FRAME_RATE_HZ = 20_000.0
#: Accepted values of ``backend``.
BACKENDS = ("auto", "decord", "opencv", "ffmpeg")

# A container may declare this many frames more than it holds before it counts as truncated
# (OpenCV estimates the count from duration x fps for containers without a frame count).
_TRUNCATION_TOLERANCE = 1
# OpenCV: frames to skip by decoding (grab) rather than by seeking.
_OPENCV_MAX_GRAB_GAP = 32
# OpenCV streams of at least this many frames decode in a helper thread, into a ring of
# _OPENCV_RING BGR frames, while the streaming thread converts them (see _pipelined_stream).
_OPENCV_PIPELINE_MIN = 16
_OPENCV_RING = 4

PathLike = str | os.PathLike


class _BackendUnavailable(Exception):
    """A backend cannot be used at all (not installed)."""


class _BackendFailed(Exception):
    """A backend could not open or decode a particular file."""


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


# --------------------------------------------------------------------------------------------
# helpers


def _is_remote(path: PathLike) -> bool:
    return isinstance(path, str) and path.lower().startswith("sftp://")


def _short(exc: BaseException, limit: int = 160) -> str:
    """First meaningful line of an exception message (decord's are multi-line traces)."""
    text = str(exc).strip() or type(exc).__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    line = lines[0] if lines else text
    # decord: "[hh:mm:ss] /src/file.cc:123: Check failed: (expr) (-1 vs. 0) ERROR reason"
    line = re.sub(r"^\[[\d:]+\]\s+\S+:\d+:\s*", "", line)
    if "ERROR" in line:
        line = line[line.index("ERROR") + 5:].strip(" :") or line
    elif "Check failed" in line:
        m = re.search(r"\(\S+ vs\. \S+\)\s*(.+)$", line)
        line = m.group(1) if m else line
    if "cannot find video stream" in line:
        line = "no video stream"
    return line if len(line) <= limit else line[: limit - 3] + "..."


_GRAY_WEIGHTS = np.full((1, 3), 1.0 / 3.0, np.float32)


def rgb_to_gray(frames: np.ndarray) -> np.ndarray:
    """Grayscale as the rounded mean of the R, G, B channels.

    Parameters
    ----------
    frames : np.ndarray
        ``(..., H, W, 3)`` uint8.

    Returns
    -------
    np.ndarray
        ``(..., H, W)`` uint8, equal to ``(R + G + B + 1) // 3``.
    """
    frames = np.asarray(frames)
    if frames.ndim < 3 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"rgb_to_gray needs (..., H, W, 3) uint8 frames, got {frames.shape} "
                         f"{frames.dtype}")
    out_shape = frames.shape[:-1]
    if frames.size == 0:
        return np.zeros(out_shape, np.uint8)
    flat = np.ascontiguousarray(frames).reshape(-1, frames.shape[-2], 3)
    gray = cv2.transform(flat, _GRAY_WEIGHTS)
    return gray.reshape(out_shape)


_MMAP_MIN_BYTES = 1 << 20


def alloc_frames(shape: tuple[int, ...]) -> np.ndarray:
    """Uninitialised uint8 array for decoded frames.

    Arrays of 1 MiB or more get their own anonymous memory map, which goes back to the
    operating system as soon as the array (and every view of it) is gone. Allocated with
    ``malloc`` instead, chunks handed from the decoding thread to the consumer fragment the
    heap and the process keeps growing with the video length (measured: +500 MiB over a
    10-minute 240x320 video with 14 MiB chunks, versus a flat profile with maps).
    """
    nbytes = int(np.prod(shape, dtype=np.int64))
    if nbytes < _MMAP_MIN_BYTES:
        return np.empty(shape, np.uint8)
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        with contextlib.suppress(OSError):
            buf.madvise(mmap.MADV_HUGEPAGE)
    return np.frombuffer(buf, dtype=np.uint8, count=nbytes).reshape(shape)


class _ChunkPool:
    """Chunk arrays for one stream, recycled once nobody else references them.

    A pooled array is free when the pool holds the only reference to it: every numpy view
    (``chunk[3]``, ``chunk[:n]``, ``torch.from_numpy(chunk)``) keeps a reference to it, so a
    chunk still in the queue or in the consumer's hands is never overwritten. When every pooled
    array is busy and the pool is full, the oldest one is left to its holder (a consumer that
    keeps chunks) and a fresh array takes its place.

    Parameters
    ----------
    capacity : int
        Arrays kept for reuse (the most chunks alive at once: ``prefetch + 2``, plus one).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self._arrays: list[np.ndarray] = [np.empty(0, np.uint8)]
        self._free_refs = self._refs(0)  # reference count of an array only the pool holds
        self._arrays.clear()

    def _refs(self, i: int) -> int:
        return sys.getrefcount(self._arrays[i])

    def get(self, shape: tuple[int, ...]) -> np.ndarray:
        """An uninitialised uint8 array of ``shape`` (a prefix view of a pooled one)."""
        for i in range(len(self._arrays)):
            arr = self._arrays[i]
            if arr.shape[1:] == shape[1:] and arr.shape[0] >= shape[0]:
                del arr
                if self._refs(i) <= self._free_refs:
                    arr = self._arrays[i]
                    return arr if arr.shape[0] == shape[0] else arr[: shape[0]]
        arr = alloc_frames(shape)
        if len(self._arrays) >= self.capacity:
            del self._arrays[0]
        self._arrays.append(arr)
        return arr


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


def _check_backend(backend: str) -> str:
    if backend == "torchcodec":  # the reference's default; not used here
        logger.info("backend 'torchcodec' is not supported; using 'auto' (decord2, OpenCV)")
        return "auto"
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r} is not one of {BACKENDS}")
    return backend


# --------------------------------------------------------------------------------------------
# frame sources (one opened video; not thread-safe)


class FrameSource:
    """One opened video. Not thread-safe: use one per thread.

    Attributes
    ----------
    path : str
    backend : str
    n_frames : int
    frame_rate : float
        Container frame rate in Hz (``nan`` when missing); not validated.
    height, width, n_channels : int
    """

    backend = "none"

    def __init__(self, path: str) -> None:
        self.path = path
        self.n_frames = 0
        self.frame_rate = float("nan")
        self.height = 0
        self.width = 0
        self.n_channels = 3

    def read_range(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start <= i < stop`` as ``(stop - start, H, W, 3)`` uint8 RGB."""
        raise NotImplementedError

    def read_indices(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) as ``(n, H, W, 3)`` uint8 RGB."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        out = np.empty((len(idx), self.height, self.width, 3), np.uint8)
        if len(idx) == 0:
            return out
        order = np.argsort(idx, kind="stable")
        sidx = idx[order]
        # contiguous runs of the sorted unique indices
        uniq = np.unique(sidx)
        breaks = np.flatnonzero(np.diff(uniq) != 1) + 1
        for run in np.split(uniq, breaks):
            frames = self.read_range(int(run[0]), int(run[-1]) + 1)
            pos = np.searchsorted(sidx, run[0]), np.searchsorted(sidx, run[-1], side="right")
            out[order[pos[0]:pos[1]]] = frames[sidx[pos[0]:pos[1]] - run[0]]
        return out

    def iter_range(self, start: int, stop: int, chunk_size: int) -> Iterator[np.ndarray]:
        """Consecutive chunks of at most ``chunk_size`` frames covering ``[start, stop)``."""
        for a in range(start, stop, chunk_size):
            yield self.read_range(a, min(a + chunk_size, stop))

    def _stream(self, start: int, stop: int, chunk_size: int, grayscale: bool,
                pool: _ChunkPool) -> Iterator[np.ndarray]:
        """As :meth:`iter_range`, grayscale on request; subclasses decode into ``pool``."""
        for frames in self.iter_range(start, stop, chunk_size):
            yield rgb_to_gray(frames) if grayscale else frames

    def _pooled_stream(self, start: int, stop: int, chunk_size: int, grayscale: bool,
                       pool: _ChunkPool) -> Iterator[np.ndarray]:
        """Chunks decoded by ``self._fill`` into recycled arrays."""
        self._check_range(start, stop)
        frame = (self.height, self.width) if grayscale else (self.height, self.width, 3)
        for a in range(start, stop, chunk_size):
            out = pool.get((min(chunk_size, stop - a), *frame))
            self._fill(a, out)
            yield out
            del out

    def _fill(self, start: int, out: np.ndarray) -> None:
        """Decode frames ``start, start + 1, ...`` into ``out`` (uint8, ``(n, H, W, 3)`` RGB or
        ``(n, H, W)`` gray): implemented by the sources whose :meth:`_stream` is
        :meth:`_pooled_stream`."""
        raise NotImplementedError(f"{type(self).__name__} does not decode into given arrays")

    def declared_frames(self) -> int | None:
        """Frame count the container header declares, when it differs in origin from
        ``n_frames`` (used to detect truncation); ``None`` when unknown."""
        return None

    def close(self) -> None:
        """Release the decoder."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _empty(self, n: int = 0) -> np.ndarray:
        return alloc_frames((n, self.height, self.width, 3))

    def _check_range(self, start: int, stop: int) -> None:
        if not 0 <= start <= stop <= self.n_frames:
            raise IndexError(f"{self.path}: frames [{start}, {stop}) out of range for "
                             f"{self.n_frames} frames")


_decord_module: Any = None


def _import_decord() -> Any:
    global _decord_module
    if _decord_module is None:
        try:
            import decord  # decord2 on PyPI
        except Exception as exc:  # noqa: BLE001 - ImportError, or a broken binary
            _decord_module = False
            logger.info("decord2 unavailable (%s); videos will be read with OpenCV", _short(exc))
        else:
            _decord_module = decord
    if _decord_module is False:
        raise _BackendUnavailable("decord2 is not installed")
    return _decord_module


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


def _decord_copy(frame: Any, out: np.ndarray) -> None:
    """Copy a decord NDArray into ``out`` (C-contiguous, same shape), without the temporary
    array of ``asnumpy()`` (through decord's own copy function when it is there)."""
    global _decord_copy_fn
    if _decord_copy_fn is None:
        try:
            from decord._ffi.base import _LIB, check_call

            def fn(nd: Any, dst: np.ndarray) -> None:
                check_call(_LIB.DECORDArrayCopyToBytes(
                    nd.handle, dst.ctypes.data_as(ctypes.c_void_p), ctypes.c_size_t(dst.nbytes)))

            _decord_copy_fn = fn
        except (ImportError, AttributeError):
            _decord_copy_fn = False
    if _decord_copy_fn and tuple(frame.shape) == out.shape and str(frame.dtype) == "uint8" \
            and out.flags.c_contiguous:
        _decord_copy_fn(frame, out)
    else:
        out[...] = frame.asnumpy()


_decord_copy_fn: Any = None


class _DecordSource(FrameSource):
    backend = "decord"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        decord = _import_decord()
        try:
            self._vr = decord.VideoReader(path, ctx=decord.cpu(0))
        except Exception as exc:  # noqa: BLE001 - decord raises RuntimeError, DECORDError
            raise _BackendFailed(_short(exc)) from None
        self.n_frames = len(self._vr)
        self.frame_rate = float(self._vr.get_avg_fps())
        self._pos = -1  # position of decord's cursor (next frame), -1: unknown
        if self.n_frames > 0:
            try:
                first = self._vr[0].asnumpy()
            except Exception as exc:  # noqa: BLE001
                raise _BackendFailed(f"cannot decode frame 0: {_short(exc)}") from None
            self.height, self.width = int(first.shape[0]), int(first.shape[1])
            self.n_channels = 3

    def _seek(self, idx: int) -> None:
        self._vr.seek_accurate(idx)
        self._pos = idx

    def _batch(self, indices: list[int]) -> np.ndarray:
        self._pos = -1
        try:
            arr = self._vr.get_batch(indices).asnumpy()
        except Exception as exc:  # noqa: BLE001
            raise VideoError(self.path, f"cannot decode frames {indices[0]}..{indices[-1]} "
                                        f"(truncated or corrupt file?): {_short(exc)}") from None
        if arr.dtype != np.uint8 or arr.shape[1:] != (self.height, self.width, 3):
            raise VideoError(self.path, f"decoded frames have shape {arr.shape[1:]} "
                                        f"{arr.dtype}, expected ({self.height}, {self.width}, 3)")
        return arr

    def read_range(self, start: int, stop: int) -> np.ndarray:
        # Sequential next() is about twice as fast as get_batch() on a consecutive range.
        self._check_range(start, stop)
        out = self._empty(stop - start)
        if stop > start:
            self._fill(start, out)
        return out

    def _fill(self, start: int, out: np.ndarray) -> None:
        """Decode frames ``start, start + 1, ...`` into ``out`` (``(n, H, W, 3)`` RGB, or
        ``(n, H, W)`` gray through a cached one-frame RGB buffer)."""
        gray = out.ndim == 3
        rgb = np.empty((self.height, self.width, 3), np.uint8) if gray else None
        try:
            if start != self._pos:
                self._seek(start)
            for k in range(len(out)):
                if rgb is None:
                    _decord_copy(self._vr.next(), out[k])
                else:
                    _decord_copy(self._vr.next(), rgb)
                    cv2.transform(rgb, _GRAY_WEIGHTS, dst=out[k])
                self._pos += 1
        except Exception as exc:  # noqa: BLE001 - decord raises DECORDError, RuntimeError, ...
            failed, self._pos = self._pos, -1
            raise VideoError(self.path, f"cannot decode frame {failed} (truncated or corrupt "
                                        f"file?): {_short(exc)}") from None

    def _stream(self, start: int, stop: int, chunk_size: int, grayscale: bool,
                pool: _ChunkPool) -> Iterator[np.ndarray]:
        return self._pooled_stream(start, stop, chunk_size, grayscale, pool)

    def read_indices(self, indices: Sequence[int]) -> np.ndarray:
        idx = [int(i) for i in np.asarray(indices, dtype=np.int64).reshape(-1)]
        if not idx:
            return self._empty()
        if min(idx) < 0 or max(idx) >= self.n_frames:
            raise IndexError(f"{self.path}: frame index out of range for {self.n_frames} frames")
        return self._batch(idx)

    def close(self) -> None:
        self._vr = None


class _OpenCVSource(FrameSource):
    backend = "opencv"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
        if not cap.isOpened():
            raise _BackendFailed("OpenCV cannot open it")
        self._cap = cap
        self.n_frames = max(round(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        self.frame_rate = float(cap.get(cv2.CAP_PROP_FPS))
        self.width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.n_channels = 3
        self._pos = 0
        self._bgr = np.empty((self.height, self.width, 3), np.uint8)

    def declared_frames(self) -> int | None:
        return self.n_frames

    def _seek(self, idx: int) -> None:
        if idx == self._pos:
            return
        if 0 < idx - self._pos <= _OPENCV_MAX_GRAB_GAP:
            while self._pos < idx:
                if not self._cap.grab():
                    self._fail(self._pos)
                self._pos += 1
            return
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, idx)
        self._pos = idx

    def _fail(self, idx: int) -> None:
        self._pos = -1  # unknown: force a seek next time
        raise VideoError(self.path, f"cannot decode frame {idx} of {self.n_frames} (truncated "
                                    "or corrupt file)")

    def _read_bgr(self, dst: np.ndarray, idx: int) -> None:
        """Decode the next frame (frame ``idx``) into ``dst``, ``(H, W, 3)`` BGR; a
        :class:`VideoError` when decoding fails or the frame has another size."""
        ok, img = self._cap.read(dst)
        if not ok or img is None:
            self._fail(idx)
        if img is dst:
            return
        if img.shape == dst.shape:
            np.copyto(dst, img)
        elif img.ndim == 2 and img.shape == dst.shape[:2]:
            cv2.cvtColor(img, cv2.COLOR_GRAY2BGR, dst=dst)
        else:
            raise VideoError(self.path, f"frame {idx} has shape {img.shape}, expected "
                                        f"{dst.shape}")

    def _read_into(self, out: np.ndarray, idx: int) -> None:
        """Decode the next frame into ``out``: ``(H, W, 3)`` RGB or ``(H, W)`` gray."""
        self._read_bgr(self._bgr, idx)
        img = self._bgr
        if out.ndim == 2:  # the channel mean does not depend on their order: no BGR->RGB
            cv2.transform(img, _GRAY_WEIGHTS, dst=out)
        else:
            cv2.cvtColor(img, cv2.COLOR_BGR2RGB, dst=out)
        self._pos += 1

    def _fill(self, start: int, out: np.ndarray) -> None:
        self._seek(start)
        for k in range(len(out)):
            self._read_into(out[k], start + k)

    def read_range(self, start: int, stop: int) -> np.ndarray:
        self._check_range(start, stop)
        out = self._empty(stop - start)
        if stop > start:
            self._fill(start, out)
        return out

    def _stream(self, start: int, stop: int, chunk_size: int, grayscale: bool,
                pool: _ChunkPool) -> Iterator[np.ndarray]:
        if stop - start < _OPENCV_PIPELINE_MIN:
            return self._pooled_stream(start, stop, chunk_size, grayscale, pool)
        return self._pipelined_stream(start, stop, chunk_size, grayscale, pool)

    def _pipelined_stream(self, start: int, stop: int, chunk_size: int, grayscale: bool,
                          pool: _ChunkPool) -> Iterator[np.ndarray]:
        """As :meth:`_pooled_stream`, with decoding (``cap.read``: decode + YUV->BGR) in a
        helper thread filling a ring of a few BGR frames, and the BGR->RGB / ->gray conversion
        in this thread: decoding and conversion use both cores, as decord2's own decoder
        thread does (OpenCV does both in the calling thread)."""
        self._check_range(start, stop)
        self._seek(start)
        ring = [np.empty_like(self._bgr) for _ in range(_OPENCV_RING)]
        free: queue.Queue = queue.Queue()
        ready: queue.Queue = queue.Queue()
        for i in range(len(ring)):
            free.put(i)
        n_read = [0]  # frames decoded; -1 after a failure (decoder position unknown)

        def decode() -> None:
            try:
                for idx in range(start, stop):
                    i = free.get()
                    if i is None:
                        return
                    self._read_bgr(ring[i], idx)  # a failure is forwarded below
                    n_read[0] += 1
                    ready.put(i)
            except BaseException as exc:  # noqa: BLE001 - forwarded to the consumer
                n_read[0] = -1
                ready.put(_Failure(exc))

        thread = threading.Thread(target=decode, name="face_rhythm-opencv-decode", daemon=True)
        thread.start()
        frame = (self.height, self.width) if grayscale else (self.height, self.width, 3)
        try:
            for a in range(start, stop, chunk_size):
                out = pool.get((min(chunk_size, stop - a), *frame))
                for k in range(len(out)):
                    i = ready.get()
                    if isinstance(i, _Failure):
                        raise i.exc
                    if grayscale:  # the channel mean does not depend on their order
                        cv2.transform(ring[i], _GRAY_WEIGHTS, dst=out[k])
                    else:
                        cv2.cvtColor(ring[i], cv2.COLOR_BGR2RGB, dst=out[k])
                    free.put(i)
                yield out
                del out
        finally:
            free.put(None)  # the helper reads at most the ring's frames more, then stops
            thread.join()
            self._pos = start + n_read[0] if n_read[0] >= 0 else -1

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def _open_backend(path: str, backend: str) -> FrameSource:
    if backend == "decord":
        return _DecordSource(path)
    if backend == "opencv":
        return _OpenCVSource(path)
    if backend == "ffmpeg":
        from .remote import FFmpegSource

        return FFmpegSource(path)
    raise ValueError(f"backend {backend!r} is not one of {BACKENDS}")


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
    if _is_remote(path):
        from .remote import FFmpegSource

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


# --------------------------------------------------------------------------------------------
# metadata and validation


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


def _as_path_list(paths: PathLike | Sequence[PathLike]) -> list[PathLike]:
    if isinstance(paths, (str, os.PathLike)):
        return [paths]
    out = list(paths)
    if not out:
        raise ValueError("no video paths given")
    return out


def _fps_list(fps: float | Sequence[float | None] | None, n: int) -> list[float | None]:
    if fps is None or np.isscalar(fps):
        return [fps] * n  # type: ignore[list-item]
    out = list(fps)  # type: ignore[arg-type]
    if len(out) != n:
        raise ValueError(f"fps has {len(out)} values for {n} videos")
    return out


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


def metadata_table(infos: Sequence[VideoInfo]) -> pd.DataFrame:
    """Table of :class:`VideoInfo`, one row per video (see :func:`video_metadata`)."""
    rows = [dataclasses.asdict(i) for i in infos]
    df = pd.DataFrame(rows, columns=[f.name for f in dataclasses.fields(VideoInfo)])
    df["duration_s"] = df["n_frames"] / df["frame_rate"]
    df["first_frame"] = session_offsets([i.n_frames for i in infos])[:-1]
    df.attrs["n_frames_total"] = int(df["n_frames"].sum()) if len(df) else 0
    return df


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


# --------------------------------------------------------------------------------------------
# chunked streaming with a prefetch thread


class _End:
    pass


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _plan(infos: Sequence[VideoInfo], start: int, stop: int | None) -> list[tuple[int, int, int]]:
    """Segments ``(video, local_start, local_stop)`` covering continuous ``[start, stop)``."""
    offsets = session_offsets([i.n_frames for i in infos])
    total = int(offsets[-1])
    stop = total if stop is None else stop
    if not (isinstance(start, (int, np.integer)) and isinstance(stop, (int, np.integer))):
        raise TypeError(f"start and stop must be integers, got {start!r}, {stop!r}")
    if not 0 <= start <= stop <= total:
        raise ValueError(f"frame range [{start}, {stop}) is outside the {total} frames of "
                         f"{infos[0].path if len(infos) == 1 else 'the session'}")
    segs = []
    for v in range(len(infos)):
        a = max(start, int(offsets[v]))
        b = min(stop, int(offsets[v + 1]))
        if a < b:
            segs.append((v, a - int(offsets[v]), b - int(offsets[v])))
    return segs


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
    return open_video(info.path, info.backend if backend == "auto" else backend)


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


def _threaded(gen_factory, prefetch: int) -> Iterator[FrameChunk]:
    """Run ``gen_factory()`` in a daemon thread; at most ``prefetch`` items in flight."""
    q: queue.Queue = queue.Queue()
    slots = threading.Semaphore(prefetch)
    stop = threading.Event()

    def acquire() -> bool:
        while not stop.is_set():
            if slots.acquire(timeout=0.1):
                return True
        return False

    def worker() -> None:
        gen = None
        try:
            gen = gen_factory()
            while True:
                if not acquire():
                    return
                try:
                    item = next(gen)
                except StopIteration:
                    q.put(_End())
                    return
                q.put(item)
                del item  # the pool may recycle it as soon as the consumer drops it
        except BaseException as exc:  # noqa: BLE001 - forwarded to the consumer
            q.put(_Failure(exc))
        finally:
            if gen is not None:
                gen.close()

    thread = threading.Thread(target=worker, name="face_rhythm-video-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, _End):
                return
            if isinstance(item, _Failure):
                raise item.exc
            slots.release()
            yield item
            del item
    finally:
        stop.set()
        thread.join(timeout=30)
        if thread.is_alive():
            logger.warning("video prefetch thread did not stop within 30 s")


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
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if not isinstance(prefetch, (int, np.integer)) or prefetch < 0:
        raise ValueError(f"prefetch must be a non-negative integer, got {prefetch!r}")
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


# --------------------------------------------------------------------------------------------
# random access


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


# --------------------------------------------------------------------------------------------
# reference-API readers


class VideoReaderWrapper:
    """Lazy, thread-safe reader of one video (named after the reference's decord wrapper).

    Opens the video on first use and keeps it open. Indexing returns numpy uint8 RGB frames:
    ``reader[i]`` -> ``(H, W, 3)``, ``reader[a:b]`` / ``reader[[i, j]]`` -> ``(n, H, W, 3)``.

    Parameters
    ----------
    path : path-like or str
    fps : float, optional
        Frame rate override in Hz.
    backend : str
        See :func:`open_video`.
    """

    def __init__(self, path: PathLike, fps: float | None = None, backend: str = "auto") -> None:
        self.path = str(path) if _is_remote(path) else str(Path(path).expanduser().resolve())
        self._fps = fps
        self._backend = _check_backend(backend)
        self._info: VideoInfo | None = None
        self._src: FrameSource | None = None  # random access (the probed backend)
        self._seq: FrameSource | None = None  # ranges (open_stream: OpenCV under "auto")
        self._lock = threading.RLock()

    @property
    def info(self) -> VideoInfo:
        """Validated :class:`VideoInfo` (probes the video on first access)."""
        with self._lock:
            if self._info is None:
                self._info = probe_video(self.path, fps=self._fps, backend=self._backend)
            return self._info

    def _source(self) -> FrameSource:
        if self._src is None:
            self._src = open_video(self.info.path, self.info.backend)
        return self._src

    def __len__(self) -> int:
        return self.info.n_frames

    def get_avg_fps(self) -> float:
        """Frame rate in Hz."""
        return self.info.frame_rate

    def read_range(self, start: int, stop: int) -> np.ndarray:
        """Frames ``[start, stop)`` as ``(n, H, W, 3)`` uint8 (sequential reads are fastest)."""
        with self._lock:
            if self._seq is None:
                self._seq = open_stream(self.info, self._backend)
            return self._seq.read_range(int(start), int(stop))

    def get_batch(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at ``indices`` as ``(n, H, W, 3)`` uint8."""
        idx, _ = _normalize_indices(indices, len(self), self.path)
        with self._lock:
            return self._source().read_indices(idx)

    def __getitem__(self, indices: int | slice | Sequence[int]) -> np.ndarray:
        idx, scalar = _normalize_indices(indices, len(self), self.path)
        if isinstance(indices, slice) and len(idx) and (np.diff(idx) == 1).all():
            frames = self.read_range(int(idx[0]), int(idx[-1]) + 1)
        else:
            with self._lock:
                frames = self._source().read_indices(idx)
        return frames[0] if scalar else frames

    def iter_chunks(self, chunk_size: int = 64, start: int = 0, stop: int | None = None,
                    grayscale: bool = False, prefetch: int = 2) -> Iterator[np.ndarray]:
        """As :func:`iter_chunks` (a separate decoder, in a background thread)."""
        chunks = iter_info_chunks([self.info], chunk_size, start, stop, grayscale, prefetch,
                                  self._backend)
        for c in chunks:
            yield c.frames

    def seek(self, idx: int) -> None:
        """No-op (compatibility with decord's reader)."""

    def close(self) -> None:
        """Close the decoders (they reopen on next use)."""
        with self._lock:
            for src in (self._src, self._seq):
                if src is not None:
                    src.close()
            self._src = self._seq = None

    def __repr__(self) -> str:
        return f"VideoReaderWrapper({self.path!r})"


class _ForeignReader:
    """Adapter for a reader object (e.g. ``decord.VideoReader``) given instead of a path."""

    def __init__(self, reader: Any, fps: float | None) -> None:
        self._r = reader
        self.path = str(getattr(reader, "path", f"<{type(reader).__name__} {id(reader):#x}>"))
        self._lock = threading.RLock()
        n = len(reader)
        if n <= 0:
            raise VideoError(self.path, "the video has no frames")
        first = self._to_numpy(reader[0])
        rate = _check_frame_rate(self.path, fps, float(reader.get_avg_fps()))
        self.info = VideoInfo(self.path, int(n), rate, int(first.shape[0]), int(first.shape[1]),
                              3, "reader")

    @staticmethod
    def _to_numpy(x: Any) -> np.ndarray:
        if hasattr(x, "asnumpy"):
            x = x.asnumpy()
        elif hasattr(x, "numpy"):
            x = x.detach().cpu().numpy() if hasattr(x, "detach") else x.numpy()
        return np.asarray(x, dtype=np.uint8)

    def __len__(self) -> int:
        return self.info.n_frames

    def get_avg_fps(self) -> float:
        return self.info.frame_rate

    def read_range(self, start: int, stop: int) -> np.ndarray:
        return self.get_batch(list(range(start, stop)))

    def get_batch(self, indices: Sequence[int]) -> np.ndarray:
        with self._lock:
            idx = [int(i) for i in indices]
            if hasattr(self._r, "get_batch"):
                return self._to_numpy(self._r.get_batch(idx))
            return np.stack([self._to_numpy(self._r[i]) for i in idx]) if idx else \
                np.empty((0, self.info.height, self.info.width, 3), np.uint8)

    def __getitem__(self, indices: Any) -> np.ndarray:
        idx, scalar = _normalize_indices(indices, len(self), self.path)
        frames = self.get_batch(idx.tolist())
        return frames[0] if scalar else frames

    def close(self) -> None:
        pass


class BufferedVideoReader:
    """Frames of one or more videos with a slot buffer and background prefetch (reference API).

    A thin layer over :class:`VideoReaderWrapper`: frames are cut into slots of
    ``buffer_size`` frames (a slot never spans two videos); reading a frame loads its slot,
    and schedules the next ``prefetch`` slots (in continuous order) on a background thread;
    slots more than ``posthold`` behind or ``prefetch`` ahead are freed. At most
    ``posthold + 1 + prefetch`` slots are held. Iterating (``for frame in reader``) streams
    frames with :func:`iter_info_chunks` (chunks of ``buffer_size``, ``prefetch`` ahead).

    Frames are numpy uint8 RGB arrays (the reference returns torch tensors).

    Parameters
    ----------
    video_readers : list, optional
        :class:`VideoReaderWrapper` objects, or other readers with ``__len__``,
        ``__getitem__`` and ``get_avg_fps`` (e.g. ``decord.VideoReader``). Wins over paths.
    paths_videos : path or list of paths, optional
    buffer_size : int
        Frames per slot.
    prefetch : int
        Slots loaded ahead (0: none).
    posthold : int
        Slots kept behind the current one.
    method_getitem : {"continuous", "by_video"}
        ``reader[i]`` / ``reader[a:b]`` index the concatenated videos; or
        ``reader[(video, frames)]`` (an int or slice alone selects videos -> a new reader).
    starting_seek_position : int
        First frame of iteration (continuous index).
    backend : str
        ``"auto"``, ``"decord"``, ``"opencv"``, ``"ffmpeg"`` (``"torchcodec"`` = ``"auto"``).
    fps : float or list, optional
        Frame rate override(s) in Hz.
    verbose : int
        0 silent, 1 warnings, 2 info (as log levels of this module's logger calls).
    **kwargs
        ``device``, ``decord_backend``, ``decord_ctx`` of the reference are accepted and
        ignored (CPU decoding to numpy).
    """

    def __init__(self, video_readers: Any = None, paths_videos: Any = None,
                 buffer_size: int = 1000, prefetch: int = 2, posthold: int = 1,
                 method_getitem: str = "continuous", starting_seek_position: int = 0,
                 backend: str = "auto", fps: float | Sequence[float | None] | None = None,
                 verbose: int = 1, **kwargs: Any) -> None:
        unknown = set(kwargs) - {"device", "decord_backend", "decord_ctx"}
        if unknown:
            raise TypeError(f"unexpected arguments {sorted(unknown)}")
        if kwargs.get("device", "cpu") not in ("cpu", None):
            logger.warning("device=%r ignored: frames are decoded on the CPU", kwargs["device"])
        if method_getitem not in ("continuous", "by_video"):
            raise ValueError(f"method_getitem {method_getitem!r} is not 'continuous' or "
                             "'by_video'")
        for name, val, lo in (("buffer_size", buffer_size, 1), ("prefetch", prefetch, 0),
                              ("posthold", posthold, 0)):
            if not isinstance(val, (int, np.integer)) or val < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {val!r}")
        self.backend = _check_backend(backend)
        if video_readers is not None:
            readers = video_readers if isinstance(video_readers, (list, tuple)) \
                else [video_readers]
            rates = _fps_list(fps, len(readers))
            self.videos = [r if isinstance(r, (VideoReaderWrapper, _ForeignReader))
                           else _ForeignReader(r, f) for r, f in zip(readers, rates)]
        elif paths_videos is not None:
            plist = _as_path_list(paths_videos)
            infos = validate_videos(plist, fps=fps, same_size=False, backend=self.backend)
            self.videos = []
            for info in infos:
                r = VideoReaderWrapper(info.path, fps=info.frame_rate, backend=self.backend)
                r._info = info
                self.videos.append(r)
        else:
            raise ValueError("give video_readers or paths_videos")
        if not self.videos:
            raise ValueError("no videos given")
        self.buffer_size = int(buffer_size)
        self.prefetch = int(prefetch)
        self.posthold = int(posthold)
        self.method_getitem = method_getitem
        self.verbose = verbose
        self.infos = [v.info for v in self.videos]
        self.paths_videos = [i.path for i in self.infos]
        self.num_videos = len(self.videos)
        self.metadata = metadata_table(self.infos)
        self.num_frames_total = int(sum(i.n_frames for i in self.infos))
        self.frame_rate = [i.frame_rate for i in self.infos]
        self.frame_height_width = [i.frame_height_width for i in self.infos]
        self.num_channels = [i.n_channels for i in self.infos]
        self._offsets = session_offsets([i.n_frames for i in self.infos])
        # slots: (video, slot) in continuous order
        self.boundaries = [[(s, min(s + self.buffer_size, i.n_frames) - 1)
                            for s in range(0, i.n_frames, self.buffer_size)] for i in self.infos]
        self._slot_keys = [(v, k) for v, b in enumerate(self.boundaries) for k in range(len(b))]
        self._slot_pos = {key: n for n, key in enumerate(self._slot_keys)}
        self.lookup = pd.DataFrame(
            [(v, k, int(self._offsets[v]) + a, int(self._offsets[v]) + b)
             for v, bounds in enumerate(self.boundaries) for k, (a, b) in enumerate(bounds)],
            columns=["video", "slot", "first_frame", "last_frame"])
        self._slots: dict[tuple[int, int], concurrent.futures.Future] = {}
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.RLock()
        self._iter_idx = 0
        self.set_iterator_frame_idx(starting_seek_position)

    # -- slots
    @property
    def slots(self) -> list[list[np.ndarray | None]]:
        """Loaded slot arrays per video (``None`` where not loaded or still loading)."""
        out: list[list[np.ndarray | None]] = [[None] * len(b) for b in self.boundaries]
        with self._lock:
            for (v, k), fut in self._slots.items():
                if fut.done() and fut.exception() is None:
                    out[v][k] = fut.result()
        return out

    def _load_slot(self, key: tuple[int, int]) -> np.ndarray:
        v, k = key
        a, b = self.boundaries[v][k]
        return self.videos[v].read_range(a, b + 1)

    def _request(self, key: tuple[int, int]) -> concurrent.futures.Future:
        with self._lock:
            fut = self._slots.get(key)
            if fut is None:
                if self._executor is None:
                    self._executor = concurrent.futures.ThreadPoolExecutor(
                        max_workers=1, thread_name_prefix="face_rhythm-slots")
                fut = self._executor.submit(self._load_slot, key)
                self._slots[key] = fut
            return fut

    def _get_slot(self, key: tuple[int, int]) -> np.ndarray:
        fut = self._request(key)
        pos = self._slot_pos[key]
        keep = set(self._slot_keys[max(pos - self.posthold, 0): pos + self.prefetch + 1])
        with self._lock:
            for other in list(self._slots):
                if other not in keep:
                    self._slots.pop(other).cancel()
        for ahead in self._slot_keys[pos + 1: pos + self.prefetch + 1]:
            self._request(ahead)
        return fut.result()

    def delete_all_slots(self) -> None:
        """Free every loaded slot."""
        with self._lock:
            for fut in self._slots.values():
                fut.cancel()
            self._slots.clear()

    def wait_for_loading(self) -> None:
        """Block until every background slot load has finished."""
        with self._lock:
            futs = list(self._slots.values())
        concurrent.futures.wait(futs)

    # -- indexing
    def _frames_of_video(self, v: int, idx: np.ndarray) -> np.ndarray:
        info = self.infos[v]
        out = np.empty((len(idx), info.height, info.width, 3), np.uint8)
        slot_of = idx // self.buffer_size
        for k in np.unique(slot_of):
            sel = slot_of == k
            out[sel] = self._get_slot((v, int(k)))[idx[sel] - int(k) * self.buffer_size]
        return out

    def get_frames_from_single_video_index(self, idx: Any) -> Any:
        """``(video, frames)`` -> frames ``(n, H, W, 3)`` (``(H, W, 3)`` for an int frame);
        an int or slice alone -> a new :class:`BufferedVideoReader` over those videos."""
        if isinstance(idx, (int, np.integer, slice)):
            sel = list(range(self.num_videos))[idx]
            sel = [sel] if isinstance(sel, int) else sel
            return BufferedVideoReader(
                video_readers=[self.videos[i] for i in sel], buffer_size=self.buffer_size,
                prefetch=self.prefetch, posthold=self.posthold, method_getitem="continuous",
                backend=self.backend, verbose=self.verbose)
        if not (isinstance(idx, tuple) and len(idx) == 2):
            raise TypeError(f"by_video index must be (video, frames), an int or a slice; "
                            f"got {idx!r}")
        v, fidx = idx
        v = range(self.num_videos)[v]
        frames, scalar = _normalize_indices(fidx, self.infos[v].n_frames, self.infos[v].path)
        out = self._frames_of_video(v, frames)
        return out[0] if scalar else out

    def get_frames_from_continuous_index(self, idx: Any) -> np.ndarray:
        """Frames by continuous index (int -> ``(H, W, 3)``; slice/list -> ``(n, H, W, 3)``)."""
        gidx, scalar = _normalize_indices(idx, self.num_frames_total, "session")
        video, local = locate_frames(gidx, self._offsets)
        if len(set(self.frame_height_width)) > 1 and len(np.unique(video)) > 1:
            raise VideoError("session", "frames requested across videos of different sizes")
        h, w = self.frame_height_width[int(video[0])] if len(video) else self.frame_height_width[0]
        out = np.empty((len(gidx), h, w, 3), np.uint8)
        for v in np.unique(video):
            sel = video == v
            out[sel] = self._frames_of_video(int(v), local[sel])
        return out[0] if scalar else out

    def __getitem__(self, idx: Any) -> Any:
        if self.method_getitem == "by_video":
            return self.get_frames_from_single_video_index(idx)
        return self.get_frames_from_continuous_index(idx)

    def __len__(self) -> int:
        return self.num_frames_total

    # -- iteration
    def set_iterator_frame_idx(self, idx: int) -> None:
        """First frame (continuous index) of the next iteration."""
        if not 0 <= int(idx) <= self.num_frames_total:
            raise ValueError(f"starting frame {idx} outside [0, {self.num_frames_total}]")
        self._iter_idx = int(idx)

    def iter_chunks(self, chunk_size: int | None = None, start: int | None = None,
                    stop: int | None = None, grayscale: bool = False) -> Iterator[FrameChunk]:
        """Stream :class:`FrameChunk` objects (``buffer_size`` frames by default), from the
        iterator position (see :meth:`set_iterator_frame_idx`) unless ``start`` is given."""
        size = int(chunk_size or self.buffer_size)
        first = self._iter_idx if start is None else int(start)
        if all(isinstance(v, VideoReaderWrapper) for v in self.videos):
            return iter_info_chunks(self.infos, size, first, stop, grayscale, self.prefetch,
                                    self.backend)
        return self._iter_foreign(size, first, stop, grayscale)

    def _iter_foreign(self, chunk_size: int, start: int, stop: int | None,
                      grayscale: bool) -> Iterator[FrameChunk]:
        for v, a, b in _plan(self.infos, start, stop):
            for s in range(a, b, chunk_size):
                frames = self.videos[v].read_range(s, min(s + chunk_size, b))
                yield FrameChunk(v, s, int(self._offsets[v]) + s,
                                 rgb_to_gray(frames) if grayscale else frames)

    def __iter__(self) -> Iterator[np.ndarray]:
        for chunk in self.iter_chunks():
            yield from chunk.frames

    # -- lifetime
    def close(self) -> None:
        """Free slots and stop the background thread."""
        self.delete_all_slots()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        ex = getattr(self, "_executor", None)
        if ex is not None:
            ex.shutdown(wait=False, cancel_futures=True)

    def __repr__(self) -> str:
        return (f"BufferedVideoReader({self.num_videos} videos, {self.num_frames_total} frames, "
                f"buffer_size={self.buffer_size}, prefetch={self.prefetch}, "
                f"method_getitem={self.method_getitem!r})")
