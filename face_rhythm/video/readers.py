"""Reader objects of one video (reference API): :class:`VideoReaderWrapper` for a path or URL,
:class:`TorchCodecVideoReader` (the original's torchcodec reader, here the same decoders giving
torch tensors), :class:`_ForeignReader` for a reader object given instead (e.g.
``decord.VideoReader``).

Both index like a sequence of frames (``reader[i]`` -> ``(H, W, 3)``, ``reader[a:b]`` ->
``(n, H, W, 3)``, uint8 RGB) and read ranges (``read_range``); they are thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import VideoError
from .backends import _check_backend, open_stream, open_video
from .info import PathLike, VideoInfo, _check_frame_rate, _normalize_indices
from .probe import probe_video
from .sftp import is_remote
from .sources import FrameSource
from .streams import iter_info_chunks


class VideoReaderWrapper:
    """Lazy, thread-safe reader of one video (named after the reference's decord wrapper).

    Opens the video on first use and keeps it open. Indexing returns numpy uint8 RGB frames:
    ``reader[i]`` -> ``(H, W, 3)``, ``reader[a:b]`` / ``reader[[i, j]]`` -> ``(n, H, W, 3)``.

    Parameters
    ----------
    *args
        ``path`` (path-like or str, also by keyword as ``path`` or decord's ``uri``); further
        arguments of ``decord.VideoReader`` (``ctx``, ``width``, ``height``,
        ``num_threads``, ``fault_tol``) are accepted and ignored.
    fps : float, optional
        Frame rate override in Hz (keyword).
    backend : str
        See :func:`open_video` (keyword).
    **kwargs
        As ``*args``.
    """

    def __init__(self, *args: Any, fps: float | None = None, backend: str = "auto",
                 **kwargs: Any) -> None:
        path = args[0] if args else kwargs.pop("path", kwargs.pop("uri", None))
        if path is None:
            raise VideoError("VideoReaderWrapper needs the path of a video")
        unknown = set(kwargs) - {"path", "uri", "ctx", "width", "height", "num_threads",
                                 "fault_tol"}
        if unknown:
            raise TypeError(f"VideoReaderWrapper: unexpected arguments {sorted(unknown)}")
        self.path = str(path) if is_remote(path) else str(Path(path).expanduser().resolve())
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


class TorchCodecVideoReader(VideoReaderWrapper):
    """The original's torchcodec reader interface, backed by this package's decoders.

    torchcodec itself is not used: its PyPI wheels fail to load on a plain Linux machine
    (the original's default backend therefore fails there). Frames are decoded by decord2,
    or OpenCV when decord2 cannot (see :func:`face_rhythm.video.open_video`), and returned as
    the original returns them: ``torch.Tensor`` uint8 RGB, ``reader[i]`` -> ``(H, W, C)``,
    ``reader[a:b]`` / ``reader[[i, j]]`` -> ``(n, H, W, C)``. The original's workaround for
    torchcodec's end-of-file bug is not needed (every frame decodes). It is thread-safe, a
    :class:`VideoReaderWrapper` (``read_range`` / ``get_batch`` give numpy), so
    :class:`~face_rhythm.video.BufferedVideoReader`, ``Dataset_videos`` and ``PointTracker``
    stream it like any file.

    Parameters
    ----------
    path_video : str or path-like
        Video file.
    device : str
        Device of the returned tensors: ``"cpu"``, or ``"cuda[:i]"`` (frames decoded on the
        CPU, then copied).
    num_ffmpeg_threads : int
        Accepted for compatibility (the decoders choose their threads).
    """

    def __init__(self, path_video: PathLike, device: str = "cpu",
                 num_ffmpeg_threads: int = 0) -> None:
        super().__init__(path_video)
        self.path_video = self.path
        self.device = str(device)
        self.num_ffmpeg_threads = int(num_ffmpeg_threads)
        if self.device != "cpu":
            import torch

            if not torch.cuda.is_available():
                raise VideoError(self.path, f"device={device!r}: CUDA is not available here")

    def get_avg_fps(self) -> float:
        """Average frame rate of the video in Hz."""
        return self.info.frame_rate

    def __getitem__(self, indices: int | slice | Sequence[int]) -> Any:
        import torch

        t = torch.from_numpy(np.ascontiguousarray(super().__getitem__(indices)))
        return t if self.device == "cpu" else t.to(self.device)

    def __repr__(self) -> str:
        return f"TorchCodecVideoReader({self.path!r}, device={self.device!r})"


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
