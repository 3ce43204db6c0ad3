"""The tracking engine: pyramidal Lucas-Kanade with mesh rigidity, relaxation and outliers.

The tracker follows a grid of face points from frame to frame:

1. preprocessing (worker threads, ahead of the tracker): grayscale as the mean of the
   colour channels, zero outside the ROI mask, CLAHE (optional);
2. pyramidal Lucas-Kanade (OpenCV) from the previous frame to this frame, for the previous
   points (points whose LK fails keep their previous position);
3. frozen frames (``frames_freeze``): the optical-flow step is skipped; with
   ``relaxation_during_freeze_frames`` the forces below still act, otherwise the points are
   copied from the previous frame and nothing else happens;
4. points flagged as violating (see 7) take their previous positions;
5. mesh rigidity: ``p_i -= rigidity * ((p_i - mean_j p_j) - d0_i)`` over the ``k`` nearest
   neighbours ``j`` of ``i`` (by home position), ``d0_i = mean_j (h_i - h_j)``;
6. relaxation toward the home positions: ``p -= relaxation * (p - home)``;
7. outliers: points farther than ``threshold_displacement`` px from home, plus their
   neighbours, are flagged over frames ``[t - before, t + after)``; tracking rewinds to
   ``t - before`` and replays with the flagged points held (forces still act).

Everything per frame is vectorised over points (no Python loops over points); frames are
streamed, and memory does not grow with video length except for the output array, which
may be an HDF5 dataset written in chunks.

Decisions that differ from the original face-rhythm (see ``docs/tracking.md``):

- a point is *not* its own mesh neighbour by default (``mesh_include_self=False``); the
  original counts the point itself among the ``k`` (set ``mesh_include_self=True`` for that);
- the violation fraction is the real fraction of frames with any flagged point (the original
  cast it to ``int``);
- the rewind never reaches further back than ``framesHalted_before`` frames behind the
  furthest frame tracked so far (a replay that finds a new violation does not cascade
  further back), which bounds memory; a rewind happens only when it flags something new, so
  tracking always terminates;
- frames before ``idx_start`` hold the starting positions.
"""


from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from face_rhythm.video import iter_chunks, probe_video, read_frames

from ..disk_arrays import finish, new_result
from ..errors import TrackingError
from ..runlog import progress_bar
from .mesh import apply_mesh_forces, mesh_d0, mesh_neighbors, mesh_operator
from .optical_flow import LucasKanade, lk_thread_count, single_threaded_opencv
from .params import PROJECT_PARAMS, TrackingParams
from .preprocess import (
    Preprocessor,
    as_chunks,
    combine_masks,
    preprocess_chunks,
    validate_frames_freeze,
    validate_points,
)

logger = logging.getLogger(__name__)

__all__ = ["TrackingResult", "track_array", "track_frames", "track_video"]


# ----------------------------------------------------------------------------- results
@dataclasses.dataclass
class TrackingResult:
    """Output of one tracking run (one video, or one contiguous stream).

    Attributes
    ----------
    points_tracked : (T, N, 2) float32 array, h5py dataset, or None
        Positions (x, y) per frame; frames before ``idx_start`` hold the start positions.
    violations : dict
        Sparse COO flags over frames x points: ``row`` (frames, int64), ``col`` (points,
        int64), ``data`` (bool), ``shape`` (T, N).
    violation_fraction : float
        Fraction of the T frames with at least one flagged point.
    point_positions : (N, 2) float32
        Home positions.
    neighbors : (N, k) int64
    mesh_d0 : (N, 2) float32
    n_frames : int
    idx_start : int
    last_points : (N, 2) float32
        Positions in the last frame (to continue a contiguous stream).
    n_rewinds : int
        Number of rewind-and-replay events.
    params : TrackingParams
    """

    points_tracked: Any
    violations: dict[str, np.ndarray]
    violation_fraction: float
    point_positions: np.ndarray
    neighbors: np.ndarray
    mesh_d0: np.ndarray
    n_frames: int
    idx_start: int
    last_points: np.ndarray
    n_rewinds: int
    params: TrackingParams
    frame_rate: float | None = None

    def violations_sparse(self):
        """The violation flags as a ``scipy.sparse.coo_array`` (frames x points)."""
        import scipy.sparse
        v = self.violations
        return scipy.sparse.coo_array((v["data"], (v["row"], v["col"])),
                                      shape=tuple(int(s) for s in v["shape"]))


# ----------------------------------------------------------------------------- the engine
class _Sink:
    """Collects final positions in blocks and writes them to ``out[start:stop]``."""

    def __init__(self, out: Any, n_points: int, block: int):
        self.out = out
        self.block = np.empty((block, n_points, 2), dtype=np.float32)
        self.start = 0
        self.n = 0

    def put(self, pos: np.ndarray) -> None:
        self.block[self.n] = pos
        self.n += 1
        if self.n == self.block.shape[0]:
            self.flush()

    def put_repeated(self, pos: np.ndarray, count: int) -> None:
        for _ in range(count):
            self.put(pos)

    def flush(self) -> None:
        if self.n:
            self.out[self.start:self.start + self.n] = self.block[:self.n]
            self.start += self.n
            self.n = 0


def _frames_of(chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    for chunk in chunks:
        yield from chunk


def _run_engine(frames: Iterator[np.ndarray], n_frames: int, home: np.ndarray,
                start_points: np.ndarray, params: TrackingParams, neighbors: np.ndarray,
                d0: np.ndarray, idx_start: int, frames_freeze: np.ndarray | None,
                initial_frame: np.ndarray | None, out: Any, chunk_size: int,
                progress: bool, lk: LucasKanade
                ) -> tuple[dict[str, np.ndarray], float, np.ndarray, int]:
    """The tracking loop over preprocessed frames ``idx_start, idx_start+1, ...``.

    Keeps ring buffers of the last ``before + 2`` frames and positions (all a rewind can
    need), and writes positions to ``out`` once no rewind can change them.
    """

    n_pts = home.shape[0]
    before, after = params.frames_halted_before, params.frames_halted_after
    thr2 = params.threshold_displacement ** 2
    rig, rel = params.mesh_rigidity, params.relaxation
    freeze_forces = params.relaxation_during_freeze_frames
    operator = mesh_operator(neighbors)
    ring = before + 2
    ring_frames: list[np.ndarray | None] = [None] * ring
    ring_pos = np.empty((ring, n_pts, 2), dtype=np.float32)
    sink = _Sink(out, n_pts, chunk_size)
    sink.put_repeated(start_points, idx_start)  # frames before idx_start: at rest

    if initial_frame is not None:  # continue a stream: frame idx_start is tracked too
        ring_frames[(idx_start - 1) % ring] = initial_frame
        ring_pos[(idx_start - 1) % ring] = start_points
        first = idx_start
    else:
        ring_frames[idx_start % ring] = next(frames)
        ring_pos[idx_start % ring] = start_points
        sink.put(start_points)
        first = idx_start + 1
    t_max = first - 1    # furthest frame loaded (and tracked)
    t_final = first - 1  # positions of frames <= t_final are in the sink

    events: list[tuple[int, int, np.ndarray]] = []      # (start, stop, points) all flags
    active: list[tuple[int, int, np.ndarray]] = []      # those that may still matter
    n_rewinds = 0
    bar = progress_bar(total=n_frames - idx_start, desc="tracking", unit="frame",
                       enabled=bool(progress))
    held = np.zeros(n_pts, dtype=bool)
    t = first
    while t < n_frames:
        if t > t_max:
            ring_frames[t % ring] = next(frames)
            t_max = t
            # frames <= t - before - 1 can no longer be rewound: final
            while t_final < t - before - 1:
                t_final += 1
                sink.put(ring_pos[t_final % ring])
            bar.update(1)
            if active:  # events ending before the earliest possible rewind are done
                lo = t_max - before
                active = [e for e in active if e[1] > lo]
        prev = ring_pos[(t - 1) % ring]
        frozen = frames_freeze is not None and frames_freeze[t]
        if frozen and not freeze_forces:
            ring_pos[t % ring] = prev
            t += 1
            continue
        if frozen:
            new = prev.copy()
        else:
            new, lost = lk(ring_frames[(t - 1) % ring], ring_frames[t % ring], prev)
            if lost.any():
                new[lost] = prev[lost]
        if active:
            held[:] = False
            for s0, s1, pts in active:
                if s0 <= t < s1:
                    held[pts] = True
            if held.any():
                new[held] = prev[held]
        if rig or rel:
            apply_mesh_forces(new, home, neighbors, d0, rig, rel, operator)
        ring_pos[t % ring] = new
        diff = new - home
        viol = np.einsum("ij,ij->i", diff, diff) > thr2
        if viol.any():
            flagged = viol.copy()
            flagged[neighbors[viol].ravel()] = True
            if active:
                new_flags = flagged & ~held if held.any() else flagged
            else:
                new_flags = flagged
            if new_flags.any():
                r = max(t_max - before, first)  # t_max - before <= t
                ev = (r, min(t + after, n_frames), np.flatnonzero(flagged))
                events.append(ev)
                active.append(ev)
                n_rewinds += 1
                logger.debug("frame %d: %d point(s) beyond %.1f px; rewinding to frame %d",
                             t, int(viol.sum()), params.threshold_displacement, r)
                t = r
                continue
        t += 1
    while t_final < n_frames - 1:
        t_final += 1
        sink.put(ring_pos[t_final % ring])
    sink.flush()
    bar.update(bar.total - bar.n)
    bar.close()
    last = ring_pos[(n_frames - 1) % ring].copy()
    violations = _events_to_coo(events, n_frames, n_pts)
    fraction = (float(np.unique(violations["row"]).size) / n_frames) if n_frames else 0.0
    return violations, fraction, last, n_rewinds


def _events_to_coo(events: list[tuple[int, int, np.ndarray]], n_frames: int,
                   n_points: int) -> dict[str, np.ndarray]:
    if events:
        rows = np.concatenate([np.repeat(np.arange(s0, s1), pts.size) for s0, s1, pts in events])
        cols = np.concatenate([np.tile(pts, s1 - s0) for s0, s1, pts in events])
        flat = np.unique(rows.astype(np.int64) * n_points + cols)
        rows, cols = np.divmod(flat, n_points)
    else:
        rows = cols = np.empty(0, dtype=np.int64)
    return {"row": rows.astype(np.int64), "col": cols.astype(np.int64),
            "data": np.ones(rows.size, dtype=bool),
            "shape": np.array([n_frames, n_points], dtype=np.int64)}


def track_frames(chunks: Iterable[np.ndarray], n_frames: int, point_positions: np.ndarray,
                 params: TrackingParams = PROJECT_PARAMS, *,
                 mask: np.ndarray | Sequence[np.ndarray] | None = None,
                 idx_start: int = 0, frames_freeze: np.ndarray | None = None,
                 start_points: np.ndarray | None = None,
                 initial_frame: np.ndarray | None = None,
                 frame_shape: tuple[int, int] | None = None,
                 out: Any = None, chunk_size: int = 32, n_workers: int = 1,
                 preprocessed: bool = False, progress: bool = False,
                 lk_threads: int | None = None) -> TrackingResult:
    """Track points through a stream of frames (the core entry point).

    Parameters
    ----------
    chunks : iterable of (n, H, W[, C]) uint8 arrays
        Frames ``idx_start, idx_start + 1, ..., n_frames - 1`` in chunks (RGB or gray).
    n_frames : int
        Total number of frames of the video (stream), including those before ``idx_start``.
    point_positions : (N, 2) array
        Home positions (x, y) in px.
    params : TrackingParams
    mask : (H, W) bool, or a sequence of masks (intersected), optional
    idx_start : int
        First frame; earlier frames get the start positions.
    frames_freeze : (n_frames,) bool, optional
        Frames whose optical-flow step is skipped.
    start_points : (N, 2), optional
        Positions at ``idx_start`` (default: the home positions); with ``initial_frame``, the
        positions in that frame.
    initial_frame : (H, W) uint8, optional
        A *preprocessed* frame just before ``idx_start`` (e.g. the previous video's last
        frame, for contiguous tracking); frame ``idx_start`` is then tracked from it.
    frame_shape : (H, W), optional
        Needed to validate points before any frame is read; otherwise taken from the mask
        or the first chunk.
    out : array-like (n_frames, N, 2), optional
        Where positions go (a numpy array or an h5py dataset, written in chunks); by default
        a new float32 array, or, from :data:`face_rhythm.disk_arrays.SPILL_BYTES` (64 MB)
        on, a read-only memory map of a temporary file (:mod:`face_rhythm.disk_arrays`).
    chunk_size : int
        Frames per block written to ``out``.
    n_workers : int
        Preprocessing threads ahead of the tracker (0 = preprocess inline).
    preprocessed : bool
        ``chunks`` are already preprocessed (gray, masked, CLAHE).
    progress : bool
        Show a progress bar.
    lk_threads : int, optional
        Threads for Lucas-Kanade, each tracking a part of the points (the same result as one
        call, see :mod:`.optical_flow`); with more than one, OpenCV's own thread pool is off
        during the run. Default 1: one OpenCV call per frame, on OpenCV's pool (measured on
        a busy 2-core machine: the split was no faster and cost ~10% more CPU).

    Returns
    -------
    TrackingResult
    """
    n_frames = int(n_frames)
    idx_start = int(idx_start)
    if n_frames < 1:
        raise TrackingError(f"n_frames={n_frames}: nothing to track")
    if not 0 <= idx_start < n_frames:
        raise TrackingError(f"idx_start={idx_start} is outside the video's {n_frames} frames")
    if initial_frame is None and idx_start == n_frames - 1:
        logger.warning("idx_start=%d is the last frame: nothing moves", idx_start)
    chunk_iter = iter(chunks)
    if frame_shape is None:
        m = combine_masks(mask)
        if m is not None:
            frame_shape = m.shape
        else:
            first_chunk = next(chunk_iter)
            frame_shape = np.asarray(first_chunk).shape[1:3]
            chunk_iter = _prepend(first_chunk, chunk_iter)
    frame_shape = tuple(int(v) for v in frame_shape)
    combined = combine_masks(mask, frame_shape)
    home = validate_points(point_positions, frame_shape, combined)
    start = home if start_points is None else validate_points(start_points, frame_shape,
                                                              None, "start_points")
    if start.shape != home.shape:
        raise TrackingError(f"start_points: shape {start.shape}, expected {home.shape}")
    ff = validate_frames_freeze(frames_freeze, n_frames)
    neighbors = mesh_neighbors(home, params.mesh_n_neighbors, params.mesh_include_self)
    d0 = mesh_d0(home, neighbors)
    if initial_frame is not None:
        initial_frame = np.asarray(initial_frame)
        if initial_frame.shape != frame_shape or initial_frame.dtype != np.uint8:
            raise TrackingError(f"initial_frame: {initial_frame.shape} {initial_frame.dtype},"
                                f" expected {frame_shape} uint8 (preprocessed)")
    if out is None:  # in memory, or on disk when large (returned as a read-only map)
        out = new_result((n_frames, home.shape[0], 2), np.float32)
    elif tuple(out.shape) != (n_frames, home.shape[0], 2):
        raise TrackingError(f"out: shape {tuple(out.shape)}, expected "
                            f"{(n_frames, home.shape[0], 2)}")
    if preprocessed:
        pre_chunks: Iterable[np.ndarray] = chunk_iter
    else:
        pre_chunks = preprocess_chunks(chunk_iter, Preprocessor.from_params(combined, params),
                                       n_workers=n_workers)
    frames = _checked_frames(_frames_of(pre_chunks), frame_shape, n_frames - idx_start)
    n_lk = lk_thread_count(1 if lk_threads is None else lk_threads, home.shape[0])
    try:
        with LucasKanade(params, home.shape[0], n_lk) as lk, \
                (single_threaded_opencv() if n_lk > 1 else contextlib.nullcontext()):
            violations, fraction, last, n_rewinds = _run_engine(
                frames, n_frames, home, start, params, neighbors, d0, idx_start, ff,
                initial_frame, out, chunk_size, progress, lk)
    finally:  # stop the preprocessing and decoding threads if we stopped early
        for it in (pre_chunks, chunk_iter):
            close = getattr(it, "close", None)
            if close is not None:
                close()
    if n_rewinds:
        logger.info("outliers: %d rewind(s); %.4f of frames have flagged points",
                    n_rewinds, fraction)
    return TrackingResult(points_tracked=finish(out), violations=violations,
                          violation_fraction=fraction, point_positions=home,
                          neighbors=neighbors, mesh_d0=d0, n_frames=n_frames,
                          idx_start=idx_start, last_points=last, n_rewinds=n_rewinds,
                          params=params)


def _prepend(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _checked_frames(frames: Iterator[np.ndarray], frame_shape: tuple[int, int],
                    expected: int) -> Iterator[np.ndarray]:
    n = 0
    for f in frames:
        if f.shape != frame_shape:
            raise TrackingError(f"frame {n}: shape {f.shape}, expected {frame_shape}")
        n += 1
        yield f
    if n < expected:
        raise TrackingError(f"the video ended after {n} of {expected} expected frames")


def track_array(video: np.ndarray, point_positions: np.ndarray,
                params: TrackingParams = PROJECT_PARAMS, *,
                mask: np.ndarray | Sequence[np.ndarray] | None = None, idx_start: int = 0,
                frames_freeze: np.ndarray | None = None, chunk_size: int = 32,
                n_workers: int = 1) -> TrackingResult:
    """Track points through a video held in memory, (T, H, W[, C]) uint8.

    See :func:`track_frames` for the parameters and the result.
    """
    video = np.asarray(video)
    if video.ndim not in (3, 4):
        raise TrackingError(f"video: shape {video.shape}, expected (T, H, W[, C])")
    n = video.shape[0]
    if not 0 <= int(idx_start) < max(n, 1):
        raise TrackingError(f"idx_start={idx_start} is outside the video's {n} frames")
    return track_frames(as_chunks(video[int(idx_start):], chunk_size), n, point_positions,
                        params, mask=mask, idx_start=idx_start, frames_freeze=frames_freeze,
                        frame_shape=video.shape[1:3], chunk_size=chunk_size,
                        n_workers=n_workers)


def track_video(path: str | os.PathLike, point_positions: np.ndarray,
                params: TrackingParams = PROJECT_PARAMS, *,
                mask: np.ndarray | Sequence[np.ndarray] | None = None, idx_start: int = 0,
                frames_freeze: np.ndarray | None = None, fps: float | None = None,
                start_points: np.ndarray | None = None,
                previous_video: str | os.PathLike | None = None,
                out: Any = None, chunk_size: int = 32, n_workers: int = 1,
                progress: bool = False, backend: str = "auto",
                lk_threads: int | None = None) -> TrackingResult:
    """Track points through a video file, streamed with :func:`face_rhythm.video.iter_chunks`.

    Parameters
    ----------
    path : path-like
        The video.
    point_positions, params, mask, idx_start, frames_freeze, start_points, out, chunk_size,
    n_workers, progress, lk_threads
        As in :func:`track_frames`.
    fps : float, optional
        Frame-rate override (Hz), stored in the result.
    previous_video : path-like, optional
        For contiguous tracking: the video before this one; its last frame is the frame
        ``start_points`` were in, and frame ``idx_start`` of ``path`` is tracked from it.
    backend : str
        Video backend (``auto``, ``decord``, ``opencv``, ``ffmpeg``), see
        :func:`face_rhythm.video.open_video`.

    Returns
    -------
    TrackingResult
        With ``frame_rate`` set from the video (or ``fps``).
    """
    info = probe_video(path, fps=fps, backend=backend)
    n = int(info.n_frames)
    if not 0 <= int(idx_start) < n:
        raise TrackingError(f"{path}: idx_start={idx_start} is outside the video's {n} frames")
    frame_shape = (int(info.height), int(info.width))
    combined = combine_masks(mask, frame_shape)
    validate_points(point_positions, frame_shape, combined)
    validate_frames_freeze(frames_freeze, n)
    initial_frame = None
    if previous_video is not None:
        prev_info = probe_video(previous_video, backend=backend)
        if (int(prev_info.height), int(prev_info.width)) != frame_shape:
            raise TrackingError(f"{previous_video}: frame size {prev_info.width}x"
                                f"{prev_info.height} differs from {path}")
        last = read_frames(previous_video, [-1], grayscale=True, backend=backend)
        initial_frame = Preprocessor.from_params(combined, params)(last)[0]
    chunks = iter_chunks(path, chunk_size=chunk_size, start=int(idx_start),
                                  grayscale=True, backend=backend, fps=fps)
    res = track_frames(chunks, n, point_positions, params, mask=combined,
                       idx_start=idx_start, frames_freeze=frames_freeze,
                       start_points=start_points, initial_frame=initial_frame,
                       frame_shape=frame_shape, out=out, chunk_size=chunk_size,
                       n_workers=n_workers, progress=progress, lk_threads=lk_threads)
    res.frame_rate = float(info.frame_rate)
    return res
