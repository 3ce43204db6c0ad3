"""The reference API's session readers, thin layers over the functions of
:mod:`face_rhythm.video`: :class:`BufferedVideoReader` (frames of one or more videos, with a
slot buffer and background prefetch) and :class:`Dataset_videos` (a session's videos,
validated up front, with their metadata)."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Self

import numpy as np
import pandas as pd

from ..errors import VideoError
from .backends import _check_backend
from .buffers import rgb_to_gray
from .info import (
    FrameChunk,
    VideoInfo,
    _as_path_list,
    _fps_list,
    _normalize_indices,
    locate_frames,
    metadata_table,
    session_offsets,
)
from .probe import validate_videos
from .readers import VideoReaderWrapper, _ForeignReader
from .streams import _plan, iter_info_chunks

logger = logging.getLogger(__name__)


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
            raise VideoError(f"method_getitem {method_getitem!r} is not 'continuous' or "
                             "'by_video'")
        for name, val, lo in (("buffer_size", buffer_size, 1), ("prefetch", prefetch, 0),
                              ("posthold", posthold, 0)):
            if not isinstance(val, (int, np.integer)) or val < lo:
                raise VideoError(f"{name} must be an integer >= {lo}, got {val!r}")
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
            raise VideoError("give video_readers or paths_videos")
        if not self.videos:
            raise VideoError("no videos given")
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
            raise VideoError(f"starting frame {idx} outside [0, {self.num_frames_total}]")
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


class Dataset_videos:
    """One or more videos used as input (reference API), validated up front.

    Parameters
    ----------
    bufferedVideoReader : BufferedVideoReader, optional
        Reuse its readers and metadata. Exactly one of this and ``paths_videos``.
    paths_videos : path or list of paths, optional
        Video files (or ``sftp://`` URLs).
    contiguous : bool
        Treat the videos as one continuous recording (frame indices continue from one video
        to the next). All videos must then have the same frame size.
    frame_rate_clamp : float, optional
        Frame rate in Hz to use instead of the median of the videos' rates (e.g. when the
        containers lie); it also overrides each video's rate in ``metadata``.
    verbose : bool or int
        0 silent, 1 warnings, 2 info (logged).
    backend : str
        Decoder, see :func:`face_rhythm.video.open_video`.

    Attributes
    ----------
    videos : list of VideoReaderWrapper
        Lazy per-video readers (``len``, indexing -> uint8 RGB numpy frames).
    paths_videos : list of str
        Absolute paths (or URLs).
    metadata : dict
        Per-video lists: ``paths_videos``, ``num_frames``, ``frame_rate``,
        ``frame_height_width``, ``num_channels``.
    table : pandas.DataFrame
        The same as a table (see :func:`face_rhythm.video.video_metadata`).
    num_frames_total : int
    frame_rate : float
        Hz: ``frame_rate_clamp`` or the median of the videos' rates.
    frame_height_width : (int, int)
        Shared by all videos (the first video's when non-contiguous videos differ).
    num_channels : int
    example_image : np.ndarray
        First frame of the first video, ``(H, W, 3)`` uint8.
    contiguous : bool
    infos : list of VideoInfo
    config, run_info, run_data : dict
        Inputs, derived facts, and heavy data (``example_image``), as the reference stores.
    """

    def __init__(self, bufferedVideoReader: BufferedVideoReader | None = None,
                 paths_videos: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
                 contiguous: bool = False, frame_rate_clamp: float | None = None,
                 verbose: bool | int = 1, backend: str = "auto") -> None:
        if (bufferedVideoReader is None) == (paths_videos is None):
            raise VideoError("give exactly one of bufferedVideoReader and paths_videos")
        self.contiguous = bool(contiguous)
        self.verbose = int(verbose)
        if bufferedVideoReader is not None:
            self.videos = list(bufferedVideoReader.videos)
            infos = list(bufferedVideoReader.infos)
            if frame_rate_clamp is not None:
                infos = validate_videos([i.path for i in infos], fps=frame_rate_clamp,
                                        same_size=False, backend=backend) \
                    if all(isinstance(v, VideoReaderWrapper) for v in self.videos) else \
                    [_with_rate(i, frame_rate_clamp) for i in infos]
            if self.contiguous:
                _check_same_size(infos)
        else:
            infos = validate_videos(paths_videos, fps=frame_rate_clamp,
                                    same_size=self.contiguous, backend=backend)
            self.videos = []
            for info in infos:
                reader = VideoReaderWrapper(info.path, fps=info.frame_rate, backend=backend)
                reader._info = info
                self.videos.append(reader)
        self.infos: list[VideoInfo] = infos
        self.paths_videos = [i.path for i in infos]
        self.table: pd.DataFrame = metadata_table(infos)
        self.metadata: dict[str, list[Any]] = {
            "paths_videos": self.paths_videos,
            "num_frames": [i.n_frames for i in infos],
            "frame_rate": [i.frame_rate for i in infos],
            "frame_height_width": [list(i.frame_height_width) for i in infos],
            "num_channels": [i.n_channels for i in infos],
        }
        self.num_frames_total = int(sum(i.n_frames for i in infos))
        rates = np.array([i.frame_rate for i in infos], dtype=np.float64)
        self.frame_rate = float(frame_rate_clamp) if frame_rate_clamp is not None \
            else float(np.median(rates))
        if frame_rate_clamp is None and np.ptp(rates) > 0.01 * self.frame_rate:
            logger.warning("videos have different frame rates %s Hz; using the median %.4g Hz",
                           sorted(set(rates.tolist())), self.frame_rate)
        sizes = {i.frame_height_width for i in infos}
        if len(sizes) > 1:
            logger.warning("videos have different frame sizes %s; frame_height_width is the "
                           "first video's", sorted(sizes))
        self.frame_height_width = tuple(infos[0].frame_height_width)
        self.num_channels = int(infos[0].n_channels)
        self.example_image = np.asarray(self.videos[0][0], dtype=np.uint8)
        self.config = {"paths_videos": self.paths_videos, "contiguous": self.contiguous,
                       "frame_rate_clamp": frame_rate_clamp, "verbose": self.verbose}
        self.run_info = {"num_frames_total": self.num_frames_total,
                         "frame_rate": self.frame_rate,
                         "frame_height_width": list(self.frame_height_width),
                         "num_channels": self.num_channels, "metadata": self.metadata}
        self.run_data = {"example_image": self.example_image}
        if self.verbose >= 2:
            logger.info("%d videos, %d frames in total, %.4g Hz, %dx%d (HxW)", len(infos),
                        self.num_frames_total, self.frame_rate, *self.frame_height_width)

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, idx: int) -> VideoReaderWrapper:
        return self.videos[idx]

    def __iter__(self) -> Iterator[VideoReaderWrapper]:
        return iter(self.videos)

    def __repr__(self) -> str:
        return (f"Dataset_videos({len(self.videos)} videos, {self.num_frames_total} frames, "
                f"{self.frame_rate:g} Hz, contiguous={self.contiguous})")


def _with_rate(info: VideoInfo, rate: float) -> VideoInfo:
    return dataclasses.replace(info, frame_rate=float(rate))


def _check_same_size(infos: Sequence[VideoInfo]) -> None:
    h0, w0 = infos[0].frame_height_width
    for info in infos[1:]:
        if info.frame_height_width != (h0, w0):
            raise VideoError(info.path, f"frame size {info.height}x{info.width} (HxW) differs "
                                        f"from {h0}x{w0} of {infos[0].path} in a contiguous "
                                        "session")
