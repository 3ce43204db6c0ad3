"""Building the NWB file of a session (in memory, ``pynwb.NWBFile``) from its outputs.

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

import datetime as _dt
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from face_rhythm import __version__

from ..errors import NWBExportError
from .inputs import TcaFactors, VideoTracking
from .params import SessionMetadata

__all__ = ["BEHAVIOR", "build_nwbfile"]

#: Name of the processing module everything is stored under.
BEHAVIOR = "behavior"


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

    if not videos:
        raise NWBExportError(f"session {session!r}: no videos to export")
    md = SessionMetadata.from_config(metadata)
    n_points = videos[0].points_tracked.shape[1]
    for v in videos:
        if v.points_tracked.ndim != 3 or v.points_tracked.shape[1:] != (n_points, 2):
            raise NWBExportError(f"video {v.name!r}: points_tracked {v.points_tracked.shape} does "
                             f"not match ({n_points} points, 2)")
        if not (np.isfinite(v.frame_rate) and v.frame_rate > 0):
            raise NWBExportError(f"video {v.name!r}: frame rate must be positive, got "
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
        source_script_file_name="face_rhythm/nwb/build.py",
        was_generated_by=[["face-rhythm", str(__version__)]],
        notes=json.dumps(run_info, sort_keys=True, default=str) if run_info else None,
    )
    behavior = nwb.create_processing_module(
        name=BEHAVIOR, description="face-rhythm: facial point tracking, VQT spectrograms and "
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
        raise NWBExportError(f"point_positions must be ({n_points}, 2), got {home.shape}")
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
            raise NWBExportError(f"TCA spatial factor {tca.spatial.shape} is not (2 x {n_points} "
                             f"points, {r})")
        if frequencies is not None and tca.spectral.shape[0] != len(frequencies):
            raise NWBExportError(f"TCA spectral factor has {tca.spectral.shape[0]} bins, the "
                             f"spectrogram {len(frequencies)}")
        courses = BehavioralTimeSeries(name="tca_time_courses")
        for v, off in zip(videos, offsets):
            tc = tca.time.get(v.name)
            if tc is None:
                continue
            if v.spectrogram_seconds is not None and len(v.spectrogram_seconds) == len(tc):
                ts = off + np.asarray(v.spectrogram_seconds, np.float64)
            else:
                raise NWBExportError(f"TCA time factor of video {v.name!r} has {len(tc)} bins but "
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
