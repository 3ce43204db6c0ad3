"""Export a session's results to one NWB file (Neurodata Without Borders, via ``pynwb``).

Layout of the file (all under the standard processing module ``behavior``)
----------------------------------------------------------------------------
``acquisition/video_{video}``
    ``ImageSeries`` pointing at the source video (``external_file``, path relative to the NWB
    file), with its frame rate.
``intervals/videos``
    One row per video: ``start_time``, ``stop_time`` (s, on the session timeline), ``video``.
``processing/behavior/tracked_points`` (``BehavioralTimeSeries``)
    ``points_{video}``: ``TimeSeries`` (T, N, 2) float32 pixels, (x, y) per point, with
    ``timestamps`` in seconds. ``violations_{video}``: (T, N) uint8, 1 where the tracker
    flagged a point as violating in that frame.
``processing/behavior/points``
    Table, one row per point: home position ``x``, ``y`` (px).
``processing/behavior/spectrogram_frequencies``
    Table, one row per VQT frequency bin: ``frequency_hz``.
``processing/behavior/tca_time_courses`` (``BehavioralTimeSeries``)
    ``tca_time_{video}``: ``TimeSeries`` (T_spec, R) of the TCA temporal factors, timestamps
    in seconds.
``processing/behavior/tca_spatial_loadings``
    Table, one row per (xy, point): ``xy`` ("x"/"y"), ``point``, ``x``, ``y`` (home, px),
    ``component_0`` ... ``component_{R-1}``.
``processing/behavior/tca_spectral_loadings``
    Table, one row per frequency bin: ``frequency_hz``, ``component_0`` ... .
``processing/behavior/tca_components``
    Table, one row per component: ``explained_variance_ratio`` (when known).

Time
----
Videos of a session are placed one after the other on one timeline: video ``k`` starts at the
summed durations (n_frames / frame_rate) of videos ``0..k-1``. ``session_start_time`` defaults
to the modification time of the first video (read from ``tracking.h5``'s provenance), else now.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .h5_handling import atomic_path, h5Obj_to_dict

logger = logging.getLogger(__name__)

__all__ = [
    "SessionMetadata",
    "TcaFactors",
    "VideoTracking",
    "build_nwbfile",
    "export_session_nwb",
    "read_nwb_positions",
    "read_spectrogram_h5",
    "read_tca_h5",
    "read_tracking_h5",
    "validate_nwb",
]

_BEHAVIOR = "behavior"


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
    """

    name: str
    points_tracked: np.ndarray
    frame_rate: float
    violations: np.ndarray | None = None
    video_path: str | None = None
    spectrogram_seconds: np.ndarray | None = None
    spectrogram: np.ndarray | None = None

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


@dataclasses.dataclass
class SessionMetadata:
    """Descriptive metadata of the NWB file (all optional; DANDI wants subject and species).

    Attributes
    ----------
    session_description, experimenter, institution, lab, experiment_description : str
    keywords : list of str
    subject_id, species, sex, age : str
        ``species`` as a Latin binomial (``"Mus musculus"``), ``age`` ISO 8601 (``"P90D"``),
        ``sex`` one of ``M``, ``F``, ``U``, ``O``. Defaults: subject_id = session id,
        sex ``"U"`` (unknown), age ``"P0D/"`` (unknown: zero days or older).
    session_start_time : str or datetime, optional
        ISO 8601 with time zone; default: first video's modification time.
    """

    session_description: str | None = None
    experimenter: list[str] | None = None
    institution: str | None = None
    lab: str | None = None
    experiment_description: str | None = None
    keywords: list[str] | None = None
    subject_id: str | None = None
    species: str | None = None
    sex: str | None = None
    age: str | None = None
    session_start_time: Any = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> SessionMetadata:
        """Build from a config dict; unknown keys are an error naming them."""
        d = dict(d or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown NWB metadata key(s) {sorted(unknown)}; known: "
                             f"{sorted(names)}")
        if isinstance(d.get("experimenter"), str):
            d["experimenter"] = [d["experimenter"]]
        return cls(**d)


# --------------------------------------------------------------------------------------------
# reading the workflow's files


def _require(f: h5py.File, key: str, path: Path) -> Any:
    if key not in f:
        raise KeyError(f"{path}: no '{key}' in this file")
    return f[key]


def _video_mtime_from_run_info(f: h5py.File) -> _dt.datetime | None:
    if "run_info" not in f or "inputs" not in f["run_info"]:
        return None
    try:
        raw = f["run_info/inputs"][()]
        inputs = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        for entry in inputs:
            if not str(entry.get("path", "")).endswith(".h5") and "mtime_utc" in entry:
                return _dt.datetime.fromisoformat(entry["mtime_utc"])
    except (ValueError, TypeError, AttributeError):
        return None
    return None


def read_tracking_h5(path: str | os.PathLike, name: str,
                     video_path: str | None = None) -> VideoTracking:
    """Read ``results/{session}/{video}/tracking.h5`` into a :class:`VideoTracking`."""
    from .visualization import violations_to_dense

    path = Path(path)
    with h5py.File(path, "r") as f:
        pts = np.asarray(_require(f, "points_tracked", path)[()], dtype=np.float32)
        if pts.ndim != 3 or pts.shape[2] != 2:
            raise ValueError(f"{path}: points_tracked must be (T, N, 2), got {pts.shape}")
        fr = float(np.asarray(_require(f, "frame_rate", path)[()]))
        viol = h5Obj_to_dict(f["violations"]) if "violations" in f else None
    return VideoTracking(name=name, points_tracked=pts, frame_rate=fr,
                         violations=violations_to_dense(viol, pts.shape[0], pts.shape[1]),
                         video_path=video_path)


def read_spectrogram_h5(path: str | os.PathLike,
                        load_spectrogram: bool = False) -> dict[str, np.ndarray]:
    """Frequencies (F,) Hz, time bins (T,) s and optionally spectrograms (2, N, F, T)."""
    path = Path(path)
    with h5py.File(path, "r") as f:
        out = {"frequencies": np.asarray(_require(f, "frequencies", path)[()], np.float64),
               "x_axis_seconds": np.asarray(_require(f, "x_axis_seconds", path)[()],
                                            np.float64)}
        if load_spectrogram:
            out["spectrograms"] = np.asarray(_require(f, "spectrograms", path)[()], np.float32)
    return out


def _find_factor(group: Mapping[str, Any], *needles: str) -> np.ndarray | None:
    for key, val in group.items():
        k = key.lower()
        if any(n in k for n in needles) and isinstance(val, np.ndarray) and val.ndim == 2:
            return val
    return None


def read_tca_h5(path: str | os.PathLike, videos: Sequence[str], session: str | None = None,
                time_lengths: Sequence[int] | None = None) -> TcaFactors:
    """Read a session's ``tca.h5`` (:func:`face_rhythm.decomposition.tca_h5_dict`).

    Uses ``factors/(xy points)`` (2N, R), ``factors/frequency`` (F, R), ``evr`` (R,) and the
    per-video temporal factors ``time_factors/{session}/{video}`` (T_v, R). Without
    ``time_factors``, a single ``factors/time`` is split into videos by ``time_lengths``
    (spectrogram time bins per video, in order).
    """
    path = Path(path)
    with h5py.File(path, "r") as f:
        factors = h5Obj_to_dict(_require(f, "factors", path))
        evr = None
        for k in ("evr", "explained_variance_ratio"):
            if k in f:
                evr = np.asarray(f[k][()], np.float64).ravel()
                break
        time: dict[str, np.ndarray] = {}
        if "time_factors" in f:
            groups = f["time_factors"]
            if session is None:
                if len(groups) != 1:
                    raise ValueError(f"{path}: time_factors holds sessions {list(groups)}; "
                                     "say which one")
                session = next(iter(groups))
            if session not in groups:
                raise KeyError(f"{path}: no time_factors for session {session!r}")
            for v in videos:
                if v not in groups[session]:
                    raise KeyError(f"{path}: no time factor for video {v!r} of session "
                                   f"{session!r}")
                time[v] = np.asarray(groups[session][v][()])
    spatial = _find_factor(factors, "point")
    spectral = _find_factor(factors, "freq")
    if not time:
        whole = _find_factor(factors, "time")
        if whole is not None and len(videos) == 1:
            time = {videos[0]: whole}
        elif whole is not None:
            if time_lengths is None or sum(time_lengths) != len(whole):
                raise ValueError(f"{path}: one temporal factor of {len(whole)} bins cannot be "
                                 f"split into videos of {time_lengths} bins")
            edges = np.cumsum([0, *time_lengths])
            time = {v: whole[a:b] for v, a, b in zip(videos, edges[:-1], edges[1:])}
    if spatial is None or spectral is None or not time:
        raise ValueError(f"{path}: cannot find spatial ('(xy points)'), spectral ('frequency') "
                         f"and temporal ('time') factors")
    return TcaFactors(spatial=np.asarray(spatial, np.float32),
                      spectral=np.asarray(spectral, np.float32),
                      time={k: np.asarray(v, np.float32) for k, v in time.items()},
                      explained_variance_ratio=evr)


# --------------------------------------------------------------------------------------------
# building the file


def _component_columns(values: np.ndarray, what: str) -> list:
    from hdmf.common import VectorData

    return [VectorData(name=f"component_{r}", data=np.asarray(values[:, r], np.float32),
                       description=f"{what} loading of TCA component {r} (arbitrary units; "
                                   "components ordered by explained variance)")
            for r in range(values.shape[1])]


def _timing(t: np.ndarray, explicit: bool) -> dict[str, Any]:
    """``starting_time`` + ``rate`` for regularly sampled times (NWB best practice), else (or
    when ``explicit``) the ``timestamps`` themselves; seconds either way."""
    t = np.asarray(t, np.float64)
    if not explicit and len(t) >= 2:
        step = np.diff(t)
        if np.all(step > 0) and np.ptp(step) <= 1e-9 * max(1.0, float(np.abs(t).max())):
            return {"starting_time": float(t[0]), "rate": float(1.0 / step.mean())}
    return {"timestamps": t}


def build_nwbfile(session: str, videos: Sequence[VideoTracking],
                  point_positions: np.ndarray | None = None,
                  frequencies: np.ndarray | None = None,
                  tca: TcaFactors | None = None,
                  metadata: SessionMetadata | Mapping[str, Any] | None = None,
                  nwb_dir: str | os.PathLike | None = None,
                  run_info: Mapping[str, Any] | None = None,
                  compress: bool = True, explicit_timestamps: bool = False):
    """Assemble an in-memory ``pynwb.NWBFile`` for one session (see the module docstring).

    Parameters
    ----------
    session : str
        Session id.
    videos : sequence of VideoTracking
        In recording order; all with the same number of points N.
    point_positions : np.ndarray, optional
        (N, 2) home positions (x, y) px (default: the first video's frame-0 positions).
    frequencies : np.ndarray, optional
        (F,) VQT centre frequencies, Hz.
    tca : TcaFactors, optional
    metadata : SessionMetadata or dict, optional
    nwb_dir : path-like, optional
        Folder the file will live in (external video paths are stored relative to it).
    run_info : mapping, optional
        Provenance (:func:`face_rhythm.provenance.run_info`), stored as JSON in ``notes``.
    compress : bool
        gzip the large datasets.
    explicit_timestamps : bool
        Store every time series' ``timestamps`` (s) even when the sampling is regular. By
        default regular series store ``starting_time`` (s) and ``rate`` (Hz), as NWB best
        practice asks; ``TimeSeries.get_timestamps()`` gives the seconds back either way.

    Returns
    -------
    pynwb.NWBFile
    """
    from hdmf.backends.hdf5 import H5DataIO
    from hdmf.common import DynamicTable, VectorData
    from pynwb import NWBFile, TimeSeries
    from pynwb.behavior import BehavioralTimeSeries
    from pynwb.epoch import TimeIntervals
    from pynwb.file import Subject
    from pynwb.image import ImageSeries

    from . import __version__

    if not videos:
        raise ValueError(f"session {session!r}: no videos to export")
    md = metadata if isinstance(metadata, SessionMetadata) else SessionMetadata.from_dict(metadata)
    n_points = videos[0].points_tracked.shape[1]
    for v in videos:
        if v.points_tracked.ndim != 3 or v.points_tracked.shape[1:] != (n_points, 2):
            raise ValueError(f"video {v.name!r}: points_tracked {v.points_tracked.shape} does "
                             f"not match ({n_points} points, 2)")
        if not (np.isfinite(v.frame_rate) and v.frame_rate > 0):
            raise ValueError(f"video {v.name!r}: frame rate must be positive, got "
                             f"{v.frame_rate}")

    def wrap(a: np.ndarray):
        return H5DataIO(a, compression="gzip", compression_opts=4) if compress else a

    start = md.session_start_time
    if isinstance(start, str):
        start = _dt.datetime.fromisoformat(start)
    if start is None:
        start = _dt.datetime.now(_dt.UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=_dt.UTC)
    # NWB inspectors treat a missing subject as critical: always describe one.
    # Unknown sex is "U"; unknown age is the open range "P0D/" (zero days or older).
    subject = Subject(subject_id=md.subject_id or session, species=md.species,
                      sex=md.sex or "U", age=md.age or "P0D/",
                      description=None if md.subject_id else
                      f"the animal of session {session} (no subject metadata given; "
                      f"subject_id defaults to the session id)")
    nwb = NWBFile(
        session_description=md.session_description
        or f"face-rhythm analysis of session {session}: tracked facial points, VQT "
           f"spectrograms and tensor component analysis (TCA) factors",
        identifier=str(uuid.uuid4()),
        session_start_time=start,
        session_id=session,
        experimenter=md.experimenter,
        institution=md.institution,
        lab=md.lab,
        experiment_description=md.experiment_description,
        keywords=md.keywords or ["face-rhythm", "facial movement", "point tracking",
                                 "spectrogram", "tensor component analysis"],
        subject=subject,
        source_script=f"face-rhythm {__version__}",
        source_script_file_name="face_rhythm/nwb.py",
        was_generated_by=[["face-rhythm", str(__version__)]],
        notes=json.dumps(run_info, sort_keys=True, default=str) if run_info else None,
    )
    behavior = nwb.create_processing_module(
        name=_BEHAVIOR, description="face-rhythm: facial point tracking, VQT spectrograms and "
                                    "tensor component analysis of the face video(s)")

    # session timeline: videos one after the other
    offsets = np.cumsum([0.0] + [v.duration_s for v in videos[:-1]])
    intervals = TimeIntervals(name="videos", description="one row per video of the session, "
                                                         "on the session timeline (s)")
    intervals.add_column(name="video", description="video id")
    for v, off in zip(videos, offsets):
        intervals.add_row(start_time=float(off), stop_time=float(off + v.duration_s),
                          video=v.name)
    nwb.add_time_intervals(intervals)

    tracked = BehavioralTimeSeries(name="tracked_points")
    for v, off in zip(videos, offsets):
        t = off + np.arange(v.points_tracked.shape[0], dtype=np.float64) / v.frame_rate
        tracked.add_timeseries(TimeSeries(
            name=f"points_{v.name}", data=wrap(np.asarray(v.points_tracked, np.float32)),
            unit="pixels", **_timing(t, explicit_timestamps),
            description=f"positions of {n_points} tracked face points in video {v.name}; axis 1: "
                        "point index (rows of the 'points' table), axis 2: (x, y) = (column, "
                        "row) in pixels of the video frame",
            comments=f"frame rate {v.frame_rate} Hz; video starts at {off:.6f} s of the session"))
        if v.violations is not None:
            tracked.add_timeseries(TimeSeries(
                name=f"violations_{v.name}", data=wrap(np.asarray(v.violations, np.uint8)),
                unit="n.a.", **_timing(t, explicit_timestamps),
                description=f"1 where the tracker flagged a point as violating (displaced beyond "
                            f"the outlier threshold, held in place) in video {v.name}"))
        if v.video_path is not None:
            vp = Path(v.video_path)
            rel = os.path.relpath(vp.resolve(), Path(nwb_dir).resolve()) if nwb_dir else str(vp)
            nwb.add_acquisition(ImageSeries(
                name=f"video_{v.name}", external_file=[rel], format="external",
                starting_frame=[0], num_samples=int(v.points_tracked.shape[0]),
                rate=float(v.frame_rate), starting_time=float(off),
                unit="n.a.", description=f"source face video {v.name} (path relative to this "
                                         "NWB file)"))
    behavior.add(tracked)

    home = (videos[0].points_tracked[0] if point_positions is None
            else np.asarray(point_positions, np.float32))
    if home.shape != (n_points, 2):
        raise ValueError(f"point_positions must be ({n_points}, 2), got {home.shape}")
    behavior.add(DynamicTable(name="points", description="tracked face points: home position "
                                                         "(where tracking starts) in pixels",
                              columns=[VectorData(name="x", data=home[:, 0],
                                                  description="home x (column) in pixels"),
                                       VectorData(name="y", data=home[:, 1],
                                                  description="home y (row) in pixels")]))
    if frequencies is not None:
        freqs = np.asarray(frequencies, np.float64).ravel()
        behavior.add(DynamicTable(
            name="spectrogram_frequencies",
            description="centre frequencies of the VQT spectrogram bins of the point "
                        "displacements",
            columns=[VectorData(name="frequency_hz", data=freqs,
                                description="centre frequency in Hz")]))
    spec_series = [v for v in videos if v.spectrogram is not None]
    if spec_series:
        spectra = BehavioralTimeSeries(name="spectrograms")
        for v, off in zip(videos, offsets):
            if v.spectrogram is None or v.spectrogram_seconds is None:
                continue
            s = np.moveaxis(np.asarray(v.spectrogram, np.float32), -1, 0)  # (T, 2, N, F)
            spectra.add_timeseries(TimeSeries(
                name=f"spectrogram_{v.name}", data=wrap(s), unit="a.u.",
                **_timing(off + np.asarray(v.spectrogram_seconds, np.float64),
                          explicit_timestamps),
                description=f"VQT spectrogram of point displacements in video {v.name}; axes: "
                            "time, (x, y), point, frequency bin (see spectrogram_frequencies)"))
        behavior.add(spectra)

    if tca is not None:
        r = tca.rank
        if tca.spatial.shape != (2 * n_points, r):
            raise ValueError(f"TCA spatial factor {tca.spatial.shape} is not (2 x {n_points} "
                             f"points, {r})")
        if frequencies is not None and tca.spectral.shape[0] != len(frequencies):
            raise ValueError(f"TCA spectral factor has {tca.spectral.shape[0]} bins, the "
                             f"spectrogram {len(frequencies)}")
        courses = BehavioralTimeSeries(name="tca_time_courses")
        for v, off in zip(videos, offsets):
            tc = tca.time.get(v.name)
            if tc is None:
                continue
            if v.spectrogram_seconds is not None and len(v.spectrogram_seconds) == len(tc):
                ts = off + np.asarray(v.spectrogram_seconds, np.float64)
            else:
                raise ValueError(f"TCA time factor of video {v.name!r} has {len(tc)} bins but "
                                 "the spectrogram time axis "
                                 f"{None if v.spectrogram_seconds is None else len(v.spectrogram_seconds)}")
            courses.add_timeseries(TimeSeries(
                name=f"tca_time_{v.name}", data=np.asarray(tc, np.float32), unit="a.u.",
                **_timing(ts, explicit_timestamps),
                description=f"temporal factors of the {r} TCA components in video {v.name}; "
                            "axis 1: component"))
        behavior.add(courses)
        xy = np.repeat(np.array(["x", "y"], dtype=object), n_points)
        idx = np.tile(np.arange(n_points), 2)
        behavior.add(DynamicTable(
            name="tca_spatial_loadings",
            description="spatial factors of the TCA components: one row per (direction, point)",
            columns=[VectorData(name="xy", data=xy.tolist(),
                                description="direction of motion: x (horizontal) or y "
                                            "(vertical)"),
                     VectorData(name="point", data=idx,
                                description="point index (row of the 'points' table)"),
                     VectorData(name="x", data=home[idx, 0], description="home x in pixels"),
                     VectorData(name="y", data=home[idx, 1], description="home y in pixels"),
                     *_component_columns(tca.spatial, "spatial")]))
        spectral_cols = []
        if frequencies is not None:
            spectral_cols.append(VectorData(name="frequency_hz",
                                            data=np.asarray(frequencies, np.float64).ravel(),
                                            description="centre frequency in Hz"))
        behavior.add(DynamicTable(
            name="tca_spectral_loadings",
            description="spectral factors of the TCA components: one row per frequency bin",
            columns=[*spectral_cols, *_component_columns(tca.spectral, "spectral")]))
        if tca.explained_variance_ratio is not None and len(tca.explained_variance_ratio) == r:
            behavior.add(DynamicTable(
                name="tca_components", description="TCA components, ordered by explained "
                                                   "variance",
                columns=[VectorData(name="explained_variance_ratio",
                                    data=np.asarray(tca.explained_variance_ratio, np.float64),
                                    description="fraction of the data variance explained by "
                                                "the rank-1 reconstruction of the component")]))
    return nwb


def export_session_nwb(out_path: str | os.PathLike, session: str,
                       tracking: Mapping[str, str | os.PathLike],
                       spectrograms: Mapping[str, str | os.PathLike] | None = None,
                       rois: str | os.PathLike | None = None,
                       tca: str | os.PathLike | None = None,
                       video_paths: Mapping[str, str] | None = None,
                       metadata: SessionMetadata | Mapping[str, Any] | None = None,
                       include_spectrograms: bool = False,
                       run_info: Mapping[str, Any] | None = None) -> Path:
    """Read a session's workflow outputs and write ``out_path`` (NWB), atomically.

    Parameters
    ----------
    out_path : path-like
        Destination ``.nwb``.
    session : str
    tracking : mapping video -> path
        ``tracking.h5`` per video, in recording order.
    spectrograms : mapping video -> path, optional
        ``spectrogram.h5`` per video (frequencies, time axes, optionally the spectrograms).
    rois : path-like, optional
        ``rois.h5`` (home point positions).
    tca : path-like, optional
        ``tca.h5`` of the session.
    video_paths : mapping video -> path, optional
        Source videos, linked as external files.
    metadata : SessionMetadata or dict, optional
    include_spectrograms : bool
        Also store the full spectrograms (large).
    run_info : mapping, optional
        Provenance stored in the file's ``notes``.

    Returns
    -------
    Path
    """
    from pynwb import NWBHDF5IO

    out_path = Path(out_path)
    if out_path.suffix != ".nwb":
        raise ValueError(f"{out_path}: NWB files must end in .nwb")
    names = list(tracking)
    for group, label in ((spectrograms, "spectrograms"), (video_paths, "video_paths")):
        if group is not None and set(group) != set(names):
            raise ValueError(f"{label} videos {sorted(group)} differ from tracking videos "
                             f"{sorted(names)}")
    md = metadata if isinstance(metadata, SessionMetadata) else SessionMetadata.from_dict(metadata)
    if md.session_start_time is None:
        with h5py.File(tracking[names[0]], "r") as f:
            md.session_start_time = _video_mtime_from_run_info(f)
    videos = [read_tracking_h5(tracking[v], v, None if video_paths is None else video_paths[v])
              for v in names]
    freqs = None
    if spectrograms is not None:
        for v in videos:
            s = read_spectrogram_h5(spectrograms[v.name], load_spectrogram=include_spectrograms)
            if freqs is not None and not np.allclose(freqs, s["frequencies"]):
                raise ValueError(f"{spectrograms[v.name]}: frequencies differ from the first "
                                 "video's")
            freqs = s["frequencies"]
            v.spectrogram_seconds = s["x_axis_seconds"]
            v.spectrogram = s.get("spectrograms")
    home = None
    if rois is not None:
        with h5py.File(rois, "r") as f:
            home = np.asarray(_require(f, "point_positions", Path(rois))[()], np.float32)
    factors = None
    if tca is not None:
        lengths = ([len(v.spectrogram_seconds) for v in videos]
                   if all(v.spectrogram_seconds is not None for v in videos) else None)
        factors = read_tca_h5(tca, names, session, lengths)
    nwb = build_nwbfile(session, videos, point_positions=home, frequencies=freqs, tca=factors,
                        metadata=md, nwb_dir=out_path.parent, run_info=run_info)
    with atomic_path(out_path) as tmp:
        tmp_nwb = tmp.with_suffix(".nwb")  # pynwb warns about other suffixes
        try:
            with NWBHDF5IO(str(tmp_nwb), "w") as io:
                io.write(nwb)
            os.replace(tmp_nwb, tmp)
        finally:
            tmp_nwb.unlink(missing_ok=True)
    logger.info("wrote %s (%d video(s), %d points%s)", out_path, len(videos),
                videos[0].points_tracked.shape[1],
                f", TCA rank {factors.rank}" if factors is not None else "")
    return out_path


# --------------------------------------------------------------------------------------------
# reading back and checking


def read_nwb_positions(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Tracked positions from an exported file: video -> (timestamps (T,) s, (T, N, 2) px)."""
    from pynwb import NWBHDF5IO

    out = {}
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        tracked = nwb.processing[_BEHAVIOR]["tracked_points"]
        for name, ts in tracked.time_series.items():
            if name.startswith("points_"):
                out[name[len("points_"):]] = (np.asarray(ts.get_timestamps()),
                                              np.asarray(ts.data[:]))
    return out


def validate_nwb(path: str | os.PathLike) -> list[str]:
    """Problems found in an NWB file: pynwb schema validation errors and nwbinspector
    messages of importance CRITICAL or worse. Empty when the file is valid.

    Needs ``nwbinspector`` for the best-practice checks (skipped, with a log line, if it is
    not installed).
    """
    import pynwb

    problems: list[str] = []
    try:
        result = pynwb.validate(path=str(path))
    except TypeError:  # pynwb < 3: validate(paths=[...]) -> (errors, status)
        result = pynwb.validate(paths=[str(path)])
    errors = result[0] if isinstance(result, tuple) else result
    problems += [f"pynwb: {e}" for e in errors]
    try:
        from nwbinspector import Importance, inspect_nwbfile
    except ImportError:
        logger.info("nwbinspector not installed: best-practice checks skipped")
        return problems
    for msg in inspect_nwbfile(nwbfile_path=str(path)):
        if msg.importance.value >= Importance.CRITICAL.value:
            problems.append(f"nwbinspector {msg.importance.name} {msg.check_function_name}: "
                            f"{msg.location}: {msg.message}")
    return problems
