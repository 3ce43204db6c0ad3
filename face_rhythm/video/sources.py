"""Frame sources: one opened video, decoded by decord2 or OpenCV (not thread-safe).

:class:`FrameSource` is the interface every backend implements (the ffmpeg one is in
:mod:`face_rhythm.video.ffmpeg`). Both decord2 and OpenCV convert YUV to RGB with FFmpeg's
swscale, so they return the same uint8 RGB frames ``(n, H, W, 3)`` (on the shared real clips
the two agree to the bit, see ``tests/video/test_video.py``).

Sources decode into the caller's arrays (``_fill``), so streams recycle their chunk arrays,
and the BGR->RGB / ->gray conversion happens frame by frame while the decoded frame is still
in the CPU cache. OpenCV streams of 16 frames or more decode in a helper thread (into a ring
of 4 BGR frames) while the streaming thread converts, so that decoding and conversion overlap
as they do with decord2's decoder thread.
"""

from __future__ import annotations

import ctypes
import logging
import queue
import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Self

import cv2
import numpy as np

from ..errors import VideoError
from .buffers import _ChunkPool, alloc_frames, gray_frame, rgb_to_gray
from .prefetch import _Failure

logger = logging.getLogger(__name__)


# OpenCV: frames to skip by decoding (grab) rather than by seeking.
_OPENCV_MAX_GRAB_GAP = 32
# OpenCV streams of at least this many frames decode in a helper thread, into a ring of
# _OPENCV_RING BGR frames, while the streaming thread converts them (see _pipelined_stream).
_OPENCV_PIPELINE_MIN = 16
_OPENCV_RING = 4


class _BackendUnavailable(Exception):
    """A backend cannot be used at all (not installed)."""


class _BackendFailed(Exception):
    """A backend could not open or decode a particular file."""


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
            self._stop_read_ahead()

    def _stop_read_ahead(self) -> None:
        """Stop decord's background decoding after a random access.

        After any read, decord's reader goes on decoding the rest of the video into an
        unbounded queue (dmlc/decord#157, #208): one frame read from a 1000-frame 784x582
        video grew the process by 1.3 GB within 2 s. A ``seek(0)`` clears the queue (the
        workaround of dmlc/decord#197). Sequential streams (:meth:`_pooled_stream`) don't
        call this; they end with :meth:`close`.
        """
        try:
            self._vr.seek(0)
        except Exception as exc:  # noqa: BLE001 - a failed reset only costs memory, not frames
            logger.debug("%s: decord seek(0) after a read failed: %s", self.path, _short(exc))
        self._pos = -1

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
        self._stop_read_ahead()
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
            self._stop_read_ahead()
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
                    gray_frame(rgb, out[k])
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
            gray_frame(img, out)
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
                        gray_frame(ring[i], out[k])
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
