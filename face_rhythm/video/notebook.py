"""The reference API's session readers, thin layers over the functions of
:mod:`face_rhythm.video`: :class:`BufferedVideoReader` (frames of one or more videos, with a
slot buffer and background prefetch) and :class:`Dataset_videos` (a session's videos,
validated up front, with their metadata)."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from face_rhythm.provenance import package_versions
from face_rhythm.util.fr_module import FR_Module

from ..errors import VideoError
from .buffered import BufferedVideoReader
from .info import VideoInfo, metadata_table
from .probe import validate_videos
from .readers import VideoReaderWrapper

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


class Dataset_videos(FR_Module):
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
        Inputs, derived facts (frame counts, ``frame_rate`` in Hz, sizes, versions) and heavy
        data (``example_image``), written into a project folder by the
        :class:`~face_rhythm.util.FR_Module` methods ``save_config`` / ``save_run_info`` /
        ``save_run_data`` (``analysis_files/Dataset_videos.h5``).
    """

    def __init__(self, bufferedVideoReader: BufferedVideoReader | None = None,
                 paths_videos: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
                 contiguous: bool = False, frame_rate_clamp: float | None = None,
                 verbose: bool | int = 1, backend: str = "auto") -> None:
        super().__init__()
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
                       "frame_rate_clamp": frame_rate_clamp, "verbose": self.verbose,
                       "backend": backend}
        self.run_info = {"paths_videos": self.paths_videos,
                         "num_frames_total": self.num_frames_total,
                         "frame_rate": self.frame_rate,
                         "frame_height_width": list(self.frame_height_width),
                         "num_channels": self.num_channels, "metadata": self.metadata,
                         "versions": package_versions()}
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
