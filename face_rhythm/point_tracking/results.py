"""``tracking.h5``, the tracking stage's result file: its one writer and its one reader.

Layout (one file per video, ``results/{session}/{video}/tracking.h5``):

=========================  ===================================================================
``points_tracked``         (T, N, 2) float32, positions (x, y) in px per frame; chunked by
                           ``chunk_size`` frames (streamed in while tracking)
``point_positions``        (N, 2) float32, home positions (x, y) px
``neighbors``              (N, k) int64, mesh neighbours of each point
``violations/``            sparse COO flags, frames x points: ``row`` (frame), ``col`` (point),
                           ``data`` (bool), ``shape`` (T, N)
``violation_fraction``     float64, fraction of frames with any flagged point
``frame_rate``             float64, Hz
``params``                 JSON string: the tracker's parameters (nested form), ``idx_start``,
                           ``contiguous``
``run_info/``              provenance (:func:`face_rhythm.provenance.write_run_info`)
=========================  ===================================================================

Everyone reads the file through :func:`read_tracking_file` (all in memory) or
:func:`open_tracking_file` (``points_tracked`` left on disk, for long videos); only
:func:`write_tracking_h5` writes it. Files written by hand (tests, older runs) may lack the
optional datasets: their fields are ``None``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from ..atomic import atomic_h5
from ..errors import TrackingError
from ..provenance import read_run_info, write_run_info

if TYPE_CHECKING:  # the readers need neither the tracking engine nor the video package
    import scipy.sparse

    from .engine import TrackingResult

__all__ = ["REQUIRED_KEYS", "TrackingFile", "open_tracking_file", "read_tracking_file",
           "write_tracking_h5"]

#: Datasets every tracking.h5 has (the rest are optional for readers).
REQUIRED_KEYS = ("points_tracked", "point_positions", "frame_rate")


@dataclasses.dataclass(frozen=True)
class TrackingFile:
    """The contents of one ``tracking.h5``.

    Attributes
    ----------
    path : Path
        The file read.
    points_tracked : (T, N, 2) float32 array, or h5py.Dataset
        Positions (x, y) px per frame; an open, unread dataset from :func:`open_tracking_file`
        (valid only inside its ``with`` block).
    point_positions : (N, 2) float32
        Home positions (x, y) px.
    frame_rate : float
        Frames per second (Hz).
    neighbors : (N, k) int64 or None
        Mesh neighbours of each point.
    violations : scipy.sparse.coo_array (T, N) bool, or None
        Outlier flags, frames x points.
    violation_fraction : float or None
        Fraction of frames with any flagged point.
    params : dict or None
        The tracker's parameters (nested form of
        :meth:`~face_rhythm.point_tracking.TrackingParams.to_reference`) plus ``idx_start`` and
        ``contiguous``.
    run_info : dict or None
        Provenance (:func:`face_rhythm.provenance.read_run_info`).
    """

    path: Path
    points_tracked: Any
    point_positions: np.ndarray
    frame_rate: float
    neighbors: np.ndarray | None = None
    violations: scipy.sparse.coo_array | None = None
    violation_fraction: float | None = None
    params: dict[str, Any] | None = None
    run_info: dict[str, Any] | None = None

    @property
    def n_frames(self) -> int:
        """T, the number of frames."""
        return int(self.points_tracked.shape[0])

    @property
    def n_points(self) -> int:
        """N, the number of points."""
        return int(self.points_tracked.shape[1])


def _violations_dict(violations: Any, n_frames: int, n_points: int) -> dict[str, np.ndarray]:
    """``{row, col, data, shape}`` from the engine's dict or a scipy.sparse array."""
    if hasattr(violations, "tocoo"):
        coo = violations.tocoo()
        violations = {"row": coo.row, "col": coo.col, "data": coo.data, "shape": coo.shape}
    if violations is None:
        violations = {"row": [], "col": [], "data": [], "shape": (n_frames, n_points)}
    return {"row": np.asarray(violations["row"], dtype=np.int64),
            "col": np.asarray(violations["col"], dtype=np.int64),
            "data": np.asarray(violations["data"], dtype=bool),
            "shape": np.asarray(violations["shape"], dtype=np.int64).ravel()}


def write_tracking_h5(path: str | os.PathLike,
                      result: TrackingResult | Callable[[h5py.Dataset], TrackingResult], *,
                      params: Mapping[str, Any] | None = None,
                      run_info: (Mapping[str, Any] | Callable[[TrackingResult], Mapping[str, Any]]
                                 | None) = None,
                      shape: tuple[int, int] | None = None, chunk_size: int = 32) -> Path:
    """Write ``tracking.h5`` atomically (the one writer).

    Parameters
    ----------
    path : path-like
        The file; built under a temporary name and renamed into place when complete.
    result : TrackingResult, or a callable ``track(out) -> TrackingResult``
        The tracking run. A callable is given the empty ``points_tracked`` dataset
        (``shape`` + (2,), float32) to stream positions into (e.g.
        ``lambda out: track_video(..., out=out)``), so memory does not grow with the video.
    params : mapping, optional
        Stored as the ``params`` JSON (default: ``result.params.to_reference()``).
    run_info : mapping, or a callable ``info(result) -> mapping``, optional
        Provenance from :func:`face_rhythm.provenance.run_info`; a callable is called once
        tracking is done (to record, e.g., the number of rewinds).
    shape : (int, int), optional
        ``(T, N)``, frames and points; required when ``result`` is a callable.
    chunk_size : int
        Frames per HDF5 chunk of ``points_tracked``.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    if shape is None:
        if callable(result):
            raise TrackingError(f"{path}: write_tracking_h5 needs shape=(T, N) to stream into")
        shape = tuple(int(s) for s in np.shape(result.points_tracked)[:2])
    n_frames, n_points = (int(s) for s in shape)
    with atomic_h5(path) as f:
        ds = f.create_dataset("points_tracked", shape=(n_frames, n_points, 2), dtype=np.float32,
                              chunks=(max(min(int(chunk_size), n_frames), 1), n_points, 2))
        if callable(result):
            result = result(ds)
        else:
            ds[...] = np.asarray(result.points_tracked, dtype=np.float32)
        f.create_dataset("point_positions", data=np.asarray(result.point_positions, np.float32))
        f.create_dataset("neighbors", data=np.asarray(result.neighbors, np.int64))
        group = f.create_group("violations", track_order=True)
        for key, value in _violations_dict(result.violations, n_frames, n_points).items():
            group.create_dataset(key, data=value)
        f.create_dataset("violation_fraction", data=np.float64(result.violation_fraction))
        frame_rate = np.nan if result.frame_rate is None else result.frame_rate
        f.create_dataset("frame_rate", data=np.float64(frame_rate))
        nested = result.params.to_reference() if params is None else dict(params)
        f.create_dataset("params", data=json.dumps(nested))
        write_run_info(f, run_info(result) if callable(run_info) else run_info)
    return path


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _tracking_file(f: h5py.File, path: Path, load: bool) -> TrackingFile:
    for key in REQUIRED_KEYS:
        if key not in f:
            raise TrackingError(f"{path}: no '{key}' dataset (not a tracking.h5?)")
    pt = f["points_tracked"]
    home = np.asarray(f["point_positions"][()], dtype=np.float32)
    if pt.ndim != 3 or pt.shape[2] != 2 or home.shape != (pt.shape[1], 2):
        raise TrackingError(f"{path}: points_tracked {pt.shape} and point_positions "
                            f"{home.shape} must be (T, N, 2) and (N, 2)")
    frame_rate = float(np.asarray(f["frame_rate"][()]))
    if not (math.isfinite(frame_rate) and frame_rate > 0):
        raise TrackingError(f"{path}: frame_rate={frame_rate} Hz must be a positive number")
    violations = None
    if "violations" in f:
        v = {k: f["violations"][k][()] for k in ("row", "col", "data", "shape")}
        import scipy.sparse  # only for files with violations (0.2 s to import)

        violations = scipy.sparse.coo_array(
            (np.asarray(v["data"], dtype=bool),
             (np.asarray(v["row"], dtype=np.int64), np.asarray(v["col"], dtype=np.int64))),
            shape=tuple(int(s) for s in np.asarray(v["shape"]).ravel()))
    return TrackingFile(
        path=path,
        points_tracked=_read_float32(pt) if load else pt,
        point_positions=home,
        frame_rate=frame_rate,
        neighbors=np.asarray(f["neighbors"][()], dtype=np.int64) if "neighbors" in f else None,
        violations=violations,
        violation_fraction=(float(f["violation_fraction"][()]) if "violation_fraction" in f
                            else None),
        params=json.loads(_text(f["params"][()])) if "params" in f else None,
        run_info=read_run_info(f["run_info"]) if "run_info" in f else None,
    )


def _read_float32(ds: h5py.Dataset) -> np.ndarray:
    """The whole dataset as float32, read straight into the result (no second copy)."""
    if ds.dtype != np.float32 or ds.size == 0:
        return np.asarray(ds[()], dtype=np.float32)
    out = np.empty(ds.shape, dtype=np.float32)
    ds.read_direct(out)
    return out


def _open(path: str | os.PathLike) -> h5py.File:
    path = Path(path)
    if not path.is_file():
        raise TrackingError(f"{path}: no such tracking file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise TrackingError(f"{path}: not a readable HDF5 file ({exc})") from None


def read_tracking_file(path: str | os.PathLike) -> TrackingFile:
    """Read a ``tracking.h5`` into memory (the one reader).

    Parameters
    ----------
    path : path-like

    Returns
    -------
    TrackingFile
        ``points_tracked`` as a (T, N, 2) float32 array.

    Raises
    ------
    TrackingError
        No such file, not HDF5, a required dataset missing (``points_tracked``,
        ``point_positions``, ``frame_rate``), inconsistent shapes, or a frame rate that is not
        a positive number.
    """
    with _open(path) as f:
        return _tracking_file(f, Path(path), load=True)


@contextlib.contextmanager
def open_tracking_file(path: str | os.PathLike) -> Iterator[TrackingFile]:
    """``with open_tracking_file(path) as t:`` a :class:`TrackingFile` whose
    ``points_tracked`` is the open, unread h5py dataset (read slices of it; it closes with
    the block). Everything else is in memory, as from :func:`read_tracking_file`."""
    with _open(path) as f:
        yield _tracking_file(f, Path(path), load=False)
