"""The original's notebook API: :class:`PointTracker`, over the engine's functions.

:class:`PointTracker` takes what the original took (paths, ``sftp://`` URLs, arrays, a
``BufferedVideoReader`` or ``Dataset_videos``, reader objects), resolves them into videos to
stream (:func:`_resolve_videos`), and tracks them one by one or as one contiguous stream with
:func:`~face_rhythm.point_tracking.engine.track_frames` and friends.
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from face_rhythm.provenance import package_versions
from face_rhythm.util.fr_module import FR_Module
from face_rhythm.video import (
    VideoReaderWrapper,
    is_remote,
    iter_chunks,
    probe_video,
    rgb_to_gray,
)

from ..errors import TrackingError
from .engine import TrackingResult, track_array, track_frames, track_video
from .mesh import mesh_d0, mesh_neighbors
from .params import TrackingParams
from .preprocess import as_chunks, combine_masks, validate_frames_freeze, validate_points

__all__ = ["PointTracker"]


class PointTracker(FR_Module):
    """Track seed points through one or more videos (the original's notebook API).

    Parameters
    ----------
    buffered_video_reader : path, array, or a sequence of them, or a reader object
        The videos: file paths or ``sftp://`` URLs, in-memory arrays (T, H, W[, C]) uint8, a
        :class:`~face_rhythm.video.BufferedVideoReader` or
        :class:`~face_rhythm.data_importing.Dataset_videos` (their videos are streamed with
        the reader's backend and frame-rate overrides, reader objects such as
        ``decord.VideoReader`` through the reader itself), or any object with a
        ``paths_videos`` (or ``paths``) attribute listing the files.
    point_positions : (N, 2) array
        Seed points (x, y), e.g. ``ROIs.point_positions``.
    rois_masks : (H, W) bool, list of them, or an object with ``mask_images``, optional
        Intersected into one mask; pixels outside are zeroed before tracking.
    contiguous : bool
        Track all videos as one stream (points continue across videos, and a rewind may
        reach into the previous video); otherwise restart from the seed points per video.
    params_optical_flow, params_clahe, params_outlier_handling : dict, optional
        As in the original; missing keys take the project defaults
        (:data:`PROJECT_PARAMS`). ``params_clahe=None`` turns CLAHE off; leave it out for the
        default.
    frames_freeze : (n_frames,) bool, optional
        Frames whose optical-flow step is skipped: total frames of all videos when
        ``contiguous``, else one array per video (a single array if all videos have that
        length).
    relaxation_during_freeze_frames : bool
    idx_start : int or sequence of int
        First frame (per video, or of the whole stream when ``contiguous``).
    visualize_video : bool
        Live display is not available here (headless); overlay videos are made by the
        workflow (``face_rhythm.visualization``). Must be False.
    params_visualization : dict, optional
        Kept for API compatibility (stored only).
    verbose : bool or int
        2 or more shows a progress bar; messages go through :mod:`logging` (configure its
        level).

    Attributes
    ----------
    point_positions : (N, 2) float32
    num_points : int
    mask : (H, W) bool or None
    neighbors : (N, k) int64
    d_0 : (N, 2) float32
    points_tracked : dict {str(video index): (T, N, 2) float32}
        After :meth:`track_points`.
    violations : list of scipy.sparse.coo_array
    violations_sparseCOO : dict {str(video index): {row, col, data, shape}}
    violation_fraction : list of float
        Per video: fraction of frames with at least one violation (a float in [0, 1]).
    config, run_info, run_data : dict
        Constructor arguments; derived facts (frame counts, number of points, violation
        fractions, versions); the outputs, written by ``save_run_data`` (of
        :class:`~face_rhythm.util.FR_Module`) as ``analysis_files/PointTracker.h5`` in the
        original's layout: ``points_tracked/{video index}`` (T, N, 2) float32,
        ``violations/{video index}/{row, col, data, shape}``, ``point_positions``,
        ``neighbors``, ``mesh_d0``, ``mask`` (all True without ROI masks).
    """

    def __init__(self, buffered_video_reader: Any, point_positions: np.ndarray,
                 rois_masks: Any = None, contiguous: bool = False,
                 params_optical_flow: Mapping[str, Any] | None = None,
                 params_clahe: Mapping[str, Any] | None | str = "default",
                 params_outlier_handling: Mapping[str, Any] | None = None,
                 frames_freeze: np.ndarray | Sequence[np.ndarray] | None = None,
                 relaxation_during_freeze_frames: bool = True,
                 idx_start: int | Sequence[int] | np.ndarray = 0,
                 visualize_video: bool = False,
                 params_visualization: Mapping[str, Any] | None = None,
                 verbose: bool | int = 1):
        super().__init__()
        self.verbose = int(verbose)
        if visualize_video:
            raise TrackingError("visualize_video=True: live display is not available; "
                                "make overlay videos with face_rhythm.visualization")
        self.params = TrackingParams.from_reference(
            params_optical_flow, params_clahe, params_outlier_handling,
            relaxation_during_freeze_frames)
        nested = self.params.to_reference()
        self.params_optical_flow = nested["params_optical_flow"]
        self.params_outlier_handling = nested["params_outlier_handling"]
        self.params_clahe = nested["params_clahe"]
        self.params_visualization = {"alpha": 1.0, "point_sizes": 1,
                                     **dict(params_visualization or {})}
        self.contiguous = bool(contiguous)
        self.relaxation_during_freeze_frames = bool(relaxation_during_freeze_frames)
        self.videos = _resolve_videos(buffered_video_reader)
        self._shapes, self._lengths = zip(*[_video_shape(v) for v in self.videos])
        if len(set(self._shapes)) != 1:
            raise TrackingError(f"videos have different frame sizes: {sorted(set(self._shapes))}")
        frame_shape = self._shapes[0]
        if rois_masks is not None and hasattr(rois_masks, "mask_images"):
            rois_masks = rois_masks.mask_images
        self.mask = combine_masks(rois_masks, frame_shape)
        self.point_positions = validate_points(point_positions, frame_shape, self.mask)
        self.num_points = int(self.point_positions.shape[0])
        self.neighbors = mesh_neighbors(self.point_positions, self.params.mesh_n_neighbors,
                                        self.params.mesh_include_self)
        self.d_0 = mesh_d0(self.point_positions, self.neighbors)
        n_videos = len(self.videos)
        total = int(sum(self._lengths))
        if self.contiguous:
            if np.ndim(idx_start) != 0:
                raise TrackingError("idx_start: give one int when contiguous=True")
            self.idx_start = int(idx_start)
            if not 0 <= self.idx_start < total:
                raise TrackingError(f"idx_start={self.idx_start} is outside the {total} "
                                    "frames of all videos")
            self.frames_freeze = validate_frames_freeze(frames_freeze, total)
        else:
            starts = ([int(idx_start)] * n_videos if np.ndim(idx_start) == 0
                      else [int(v) for v in idx_start])
            if len(starts) != n_videos:
                raise TrackingError(f"idx_start: {len(starts)} values for {n_videos} videos")
            for i, (s, n) in enumerate(zip(starts, self._lengths, strict=True)):
                if not 0 <= s < n:
                    raise TrackingError(f"idx_start={s} is outside video {i}'s {n} frames")
            self.idx_start = starts
            if frames_freeze is None or isinstance(frames_freeze, np.ndarray):
                ffs = [frames_freeze] * n_videos
            else:
                ffs = list(frames_freeze)
                if len(ffs) != n_videos:
                    raise TrackingError(f"frames_freeze: {len(ffs)} arrays for {n_videos} "
                                        "videos")
            self.frames_freeze = [validate_frames_freeze(f, n, f"frames_freeze (video {i})")
                                  for i, (f, n) in enumerate(zip(ffs, self._lengths,
                                                                 strict=True))]
        self.config = {"contiguous": self.contiguous, "idx_start": self.idx_start,
                       "n_videos": n_videos, **nested,
                       "frames_freeze": None if frames_freeze is None else "given",
                       "visualize_video": bool(visualize_video),
                       "params_visualization": self.params_visualization,
                       "verbose": self.verbose}
        self.points_tracked: Any = None
        self.violations: list = []
        self.violations_sparseCOO: dict = {}
        self.violation_fraction: list[float] = []
        self.run_info: dict = {}
        self.run_data: dict = {}

    def track_points(self, n_workers: int | None = None, progress: bool | None = None
                     ) -> dict[str, np.ndarray]:
        """Track the points through every video; returns (and stores) ``points_tracked``.

        ``n_workers`` preprocessing threads ahead of the tracker (default: 2, or 1 on a
        single CPU; the positions do not depend on it); ``progress`` defaults to
        ``verbose >= 2``.
        """
        if n_workers is None:
            n_workers = min(2, os.cpu_count() or 1)
        if progress is None:
            progress = self.verbose >= 2
        results: list[TrackingResult]
        if self.contiguous:
            total = int(sum(self._lengths))
            chunks = _skip_frames(_chain_video_chunks(self.videos), self.idx_start)
            res = track_frames(chunks, total, self.point_positions, self.params,
                               mask=self.mask, idx_start=self.idx_start,
                               frames_freeze=self.frames_freeze, frame_shape=self._shapes[0],
                               n_workers=n_workers, progress=progress)
            results = _split_result(res, self._lengths)
        else:
            results = []
            for v, s, ff in zip(self.videos, self.idx_start, self.frames_freeze, strict=True):
                if isinstance(v, np.ndarray):
                    results.append(track_array(v, self.point_positions, self.params,
                                               mask=self.mask, idx_start=s, frames_freeze=ff,
                                               n_workers=n_workers))
                elif v.reader is None:
                    results.append(track_video(v.path, self.point_positions, self.params,
                                               mask=self.mask, idx_start=s, frames_freeze=ff,
                                               fps=v.fps, backend=v.backend,
                                               n_workers=n_workers, progress=progress))
                else:
                    shape, n = v.shape_and_length()
                    res = track_frames(v.gray_chunks(start=s), n, self.point_positions,
                                       self.params, mask=self.mask, idx_start=s,
                                       frames_freeze=ff, frame_shape=shape,
                                       n_workers=n_workers, progress=progress)
                    res.frame_rate = float(v.fps)
                    results.append(res)
        self.points_tracked = {str(i): r.points_tracked for i, r in enumerate(results)}
        self.violations_sparseCOO = {str(i): r.violations for i, r in enumerate(results)}
        self.violations = [r.violations_sparse() for r in results]
        self.violation_fraction = [r.violation_fraction for r in results]
        self.run_info = {"num_points": self.num_points,
                         "num_videos": len(self._lengths),
                         "n_frames": [int(n) for n in self._lengths],
                         "num_frames_total": int(sum(self._lengths)),
                         "violation_fraction": [float(f) for f in self.violation_fraction],
                         "n_rewinds": [int(r.n_rewinds) for r in results],
                         "versions": package_versions()}
        mask = self.mask if self.mask is not None else np.ones(self._shapes[0], dtype=bool)
        self.run_data = {"points_tracked": self.points_tracked,
                         "violations": self.violations_sparseCOO,
                         "point_positions": self.point_positions,
                         "neighbors": np.asarray(self.neighbors, dtype=np.int64),
                         "mesh_d0": np.asarray(self.d_0, dtype=np.float32),
                         "mask": np.asarray(mask, dtype=bool),
                         "params": json.dumps(self.params.to_reference())}
        return self.points_tracked

    def cleanup(self) -> None:
        """Delete every attribute (the large arrays with them) and collect garbage.

        Save what you need first (``save_run_data``); the tracker is unusable afterwards.
        """
        for name in list(vars(self)):
            delattr(self, name)
        gc.collect()


@dataclasses.dataclass(frozen=True)
class _VideoRef:
    """One video to stream: a file or ``sftp://`` URL with its frame-rate override and
    backend, or (``reader`` set) a reader object without a file (``read_range(a, b)`` gives
    RGB frames)."""

    path: str
    fps: float | None = None
    backend: str = "auto"
    reader: Any = None

    def shape_and_length(self) -> tuple[tuple[int, int], int]:
        info = self.reader.info if self.reader is not None else \
            probe_video(self.path, fps=self.fps, backend=self.backend)
        return (int(info.height), int(info.width)), int(info.n_frames)

    def gray_chunks(self, chunk_size: int = 32, start: int = 0) -> Iterator[np.ndarray]:
        if self.reader is None:
            yield from iter_chunks(self.path, chunk_size=chunk_size, start=start,
                                            grayscale=True, backend=self.backend, fps=self.fps)
            return
        n = len(self.reader)
        for a in range(start, n, chunk_size):
            yield rgb_to_gray(self.reader.read_range(a, min(a + chunk_size, n)))


def _resolve_videos(obj: Any) -> list[np.ndarray | _VideoRef]:
    """The videos of a tracker's input: arrays stay arrays; paths, URLs and the videos of a
    reader (``BufferedVideoReader``, ``Dataset_videos``: their frame-rate overrides and
    backend kept) become :class:`_VideoRef`."""
    if not isinstance(obj, (str, os.PathLike, np.ndarray)) and hasattr(obj, "videos") and \
            all(hasattr(v, "info") for v in obj.videos):
        backend = getattr(obj, "backend", "auto")
        infos = list(getattr(obj, "infos", None) or [v.info for v in obj.videos])
        refs = []
        for v, info in zip(obj.videos, infos, strict=True):
            if isinstance(v, VideoReaderWrapper):
                b = getattr(v, "_backend", backend)
                # the original's backend="decord" (no torchcodec) read bounded slots; decord's
                # sequential reader decodes ahead without bound (dmlc/decord#157: +0.9 GB on
                # a 10-s 480x640 video), so the tracker streams as "auto" does: the same
                # frames, decoded by OpenCV (video.backends.STREAM_WITH_OPENCV)
                refs.append(_VideoRef(str(info.path), float(info.frame_rate),
                                      "auto" if b == "decord" else b))
            else:
                refs.append(_VideoRef(str(info.path), float(info.frame_rate), reader=v))
        if not refs:
            raise TrackingError("no videos to track")
        return refs
    for attr in ("paths_videos", "paths"):
        if hasattr(obj, attr) and not isinstance(obj, (str, os.PathLike, np.ndarray)):
            obj = list(getattr(obj, attr))
            break
    if isinstance(obj, (str, os.PathLike, np.ndarray)):
        obj = [obj]
    videos = list(obj)
    if not videos:
        raise TrackingError("no videos to track")
    out: list[np.ndarray | _VideoRef] = []
    for v in videos:
        if isinstance(v, np.ndarray):
            if v.ndim not in (3, 4) or v.dtype != np.uint8:
                raise TrackingError(f"video array: {v.shape} {v.dtype}, expected (T, H, W[, C]) "
                                    "uint8")
            out.append(v)
        elif is_remote(v):
            out.append(_VideoRef(v))  # probed (and validated) over the network
        elif isinstance(v, (str, os.PathLike)):
            p = Path(v)
            if not p.is_file():
                raise TrackingError(f"{p}: no such video file")
            out.append(_VideoRef(str(p)))
        else:
            raise TrackingError(f"cannot read frames from a {type(v).__name__}")
    return out


def _video_shape(v: np.ndarray | _VideoRef) -> tuple[tuple[int, int], int]:
    if isinstance(v, np.ndarray):
        return (int(v.shape[1]), int(v.shape[2])), int(v.shape[0])
    return v.shape_and_length()


def _chain_video_chunks(videos: Sequence[np.ndarray | _VideoRef], chunk_size: int = 32
                        ) -> Iterator[np.ndarray]:
    for v in videos:
        if isinstance(v, np.ndarray):
            yield from as_chunks(v, chunk_size)
        else:
            yield from v.gray_chunks(chunk_size)


def _skip_frames(chunks: Iterable[np.ndarray], n: int) -> Iterator[np.ndarray]:
    for c in chunks:
        if n >= c.shape[0]:
            n -= c.shape[0]
            continue
        yield c[n:]
        n = 0


def _split_result(res: TrackingResult, lengths: Sequence[int]) -> list[TrackingResult]:
    out = []
    edges = np.concatenate([[0], np.cumsum(lengths)])
    v = res.violations
    for a, b in itertools.pairwise(edges):
        sel = (v["row"] >= a) & (v["row"] < b)
        viol = {"row": v["row"][sel] - a, "col": v["col"][sel], "data": v["data"][sel],
                "shape": np.array([b - a, res.point_positions.shape[0]], dtype=np.int64)}
        frac = float(np.unique(viol["row"]).size) / max(int(b - a), 1)
        out.append(dataclasses.replace(
            res, points_tracked=res.points_tracked[a:b], violations=viol,
            violation_fraction=frac, n_frames=int(b - a),
            idx_start=int(min(max(res.idx_start - a, 0), b - a)),
            last_points=res.points_tracked[b - 1].copy()))
    return out
