"""The workflow's files as the NWB export needs them, read through their owners' readers.

``tracking.h5`` (:func:`face_rhythm.point_tracking.read_tracking_file`), ``spectrogram.h5``
(:func:`face_rhythm.spectral_analysis.open_spectrogram_file`), ``tca.h5``
(:func:`face_rhythm.decomposition.read_tca_file`) and ``rois.h5``
(:func:`face_rhythm.rois.read_rois_h5`) become the small dataclasses of this module;
:func:`read_tracking_h5`, :func:`read_spectrogram_h5` and :func:`read_tca_h5` are the
export's doors to them (their names and signatures are the original's).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from face_rhythm.decomposition import read_tca_file
from face_rhythm.point_tracking import read_tracking_file
from face_rhythm.rois import read_rois_h5
from face_rhythm.spectral_analysis import open_spectrogram_file
from face_rhythm.visualization import violations_to_dense

from ..errors import NWBExportError

__all__ = ["TcaFactors", "VideoTracking", "read_home_positions", "read_spectrogram_h5",
           "read_tca_h5", "read_tracking_h5", "session_start_from_run_info"]


@dataclasses.dataclass
class VideoTracking:
    """Tracked points (and optionally spectrogram axes) of one video.

    Attributes
    ----------
    name : str
        Video id (``{video}`` wildcard).
    points_tracked : np.ndarray
        (T, N, 2) float32 (x, y) px.
    frame_rate : float
        Hz.
    violations : np.ndarray or None
        (T, N) bool.
    video_path : str or None
        Source video file.
    spectrogram_seconds : np.ndarray or None
        (T_spec,) seconds from the video start of each spectrogram time bin.
    spectrogram : np.ndarray or None
        (2, N, F, T_spec) float32 (stored only when asked).
    run_info : dict or None
        Provenance of the ``tracking.h5`` it was read from.
    """

    name: str
    points_tracked: np.ndarray
    frame_rate: float
    violations: np.ndarray | None = None
    video_path: str | None = None
    spectrogram_seconds: np.ndarray | None = None
    spectrogram: np.ndarray | None = None
    run_info: dict[str, Any] | None = None

    @property
    def duration_s(self) -> float:
        """Duration in seconds (n_frames / frame_rate)."""
        return self.points_tracked.shape[0] / self.frame_rate


@dataclasses.dataclass
class TcaFactors:
    """TCA factors of a session, rearranged to named dimensions.

    Attributes
    ----------
    spatial : np.ndarray
        (2N, R): rows are the x loadings of points 0..N-1 then their y loadings.
    spectral : np.ndarray
        (F, R) loadings on the VQT frequency bins.
    time : dict of str to np.ndarray
        Video id -> (T_spec_v, R) temporal factor of that video.
    explained_variance_ratio : np.ndarray or None
        (R,).
    """

    spatial: np.ndarray
    spectral: np.ndarray
    time: dict[str, np.ndarray]
    explained_variance_ratio: np.ndarray | None = None

    @property
    def rank(self) -> int:
        """Number of components R."""
        return int(self.spectral.shape[1])


def session_start_from_run_info(info: Mapping[str, Any] | None) -> _dt.datetime | None:
    """Modification time (UTC) of the first input of a ``run_info`` that is not an ``.h5``
    file (the video a ``tracking.h5`` was made from), or None when it does not say."""
    try:
        for entry in (info or {}).get("inputs", []):
            if not str(entry.get("path", "")).endswith(".h5") and "mtime_utc" in entry:
                return _dt.datetime.fromisoformat(entry["mtime_utc"])
    except (ValueError, TypeError, AttributeError):
        return None
    return None


def read_tracking_h5(path: str | os.PathLike, name: str,
                     video_path: str | None = None) -> VideoTracking:
    """Read ``results/{session}/{video}/tracking.h5`` into a :class:`VideoTracking`."""
    track = read_tracking_file(path)
    pts = np.asarray(track.points_tracked, dtype=np.float32)
    if pts.ndim != 3 or pts.shape[2] != 2:
        raise NWBExportError(f"{path}: points_tracked must be (T, N, 2), got {pts.shape}")
    return VideoTracking(name=name, points_tracked=pts, frame_rate=float(track.frame_rate),
                         violations=violations_to_dense(track.violations, pts.shape[0],
                                                        pts.shape[1]),
                         video_path=video_path, run_info=track.run_info)


def read_spectrogram_h5(path: str | os.PathLike,
                        load_spectrogram: bool = False) -> dict[str, np.ndarray]:
    """Frequencies (F,) Hz, time bins (T,) s and optionally spectrograms (2, N, F, T)."""
    with open_spectrogram_file(path) as spec:
        out = {"frequencies": np.asarray(spec.frequencies, np.float64),
               "x_axis_seconds": np.asarray(spec.x_axis_seconds, np.float64)}
        if load_spectrogram:
            out["spectrograms"] = np.asarray(spec.spectrograms[()], np.float32)
    return out


def read_home_positions(path: str | os.PathLike) -> np.ndarray:
    """(N, 2) float32 home positions (x, y) px of ``rois.h5``."""
    return np.asarray(read_rois_h5(path).point_positions, np.float32)


def _find_factor(group: Mapping[str, Any], *needles: str) -> np.ndarray | None:
    for key, val in group.items():
        k = key.lower()
        if any(n in k for n in needles) and isinstance(val, np.ndarray) and val.ndim == 2:
            return val
    return None


def read_tca_h5(path: str | os.PathLike, videos: Sequence[str], session: str | None = None,
                time_lengths: Sequence[int] | None = None) -> TcaFactors:
    """Read a session's ``tca.h5`` (:func:`face_rhythm.decomposition.read_tca_file`).

    Uses ``factors/(xy points)`` (2N, R), ``factors/frequency`` (F, R), ``evr`` (R,) and the
    per-video temporal factors ``time_factors/{session}/{video}`` (T_v, R). Without
    ``time_factors``, a single ``factors/time`` is split into videos by ``time_lengths``
    (spectrogram time bins per video, in order).
    """
    tca = read_tca_file(path)
    factors = dict(tca.factors)
    evr = (None if tca.evr is None
           else np.asarray(tca.evr, np.float64).ravel())
    time: dict[str, np.ndarray] = {}
    groups = tca.time_factors or {}
    if groups:
        if session is None:
            if len(groups) != 1:
                raise NWBExportError(f"{path}: time_factors holds sessions {list(groups)}; "
                                     "say which one")
            session = next(iter(groups))
        if session not in groups:
            raise KeyError(f"{path}: no time_factors for session {session!r}")
        for v in videos:
            if v not in groups[session]:
                raise KeyError(f"{path}: no time factor for video {v!r} of session "
                               f"{session!r}")
            time[v] = np.asarray(groups[session][v])
    spatial = _find_factor(factors, "point")
    spectral = _find_factor(factors, "freq")
    if not time:
        whole = _find_factor(factors, "time")
        if whole is not None and len(videos) == 1:
            time = {videos[0]: whole}
        elif whole is not None:
            if time_lengths is None or sum(time_lengths) != len(whole):
                raise NWBExportError(f"{path}: one temporal factor of {len(whole)} bins cannot "
                                     f"be split into videos of {time_lengths} bins")
            edges = np.cumsum([0, *time_lengths])
            time = {v: whole[a:b] for v, a, b in zip(videos, edges[:-1], edges[1:])}
    if spatial is None or spectral is None or not time:
        raise NWBExportError(f"{path}: cannot find spatial ('(xy points)'), spectral "
                             "('frequency') and temporal ('time') factors")
    return TcaFactors(spatial=np.asarray(spatial, np.float32),
                      spectral=np.asarray(spectral, np.float32),
                      time={k: np.asarray(v, np.float32) for k, v in time.items()},
                      explained_variance_ratio=evr)
