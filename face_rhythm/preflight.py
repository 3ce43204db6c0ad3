"""Checks of a run's inputs before any heavy job: the videos table and the ``video_metadata``
rule.

* :func:`read_videos_table` (run by the workflow at parse time) reads ``videos.tsv`` and
  reports every problem of the table at once: an empty file, a row with more cells than the
  header, a missing column or cell, a bad name, a duplicate row, an ``fps`` that is not a
  positive number (each with its line and column).
* :func:`check_session` (the ``video_metadata`` rule, one light job per session that every
  ``rois`` and ``track_points`` job waits for) checks everything the session's run will meet
  and writes ``results/{session}/videos.tsv`` only when all is well: every video (missing,
  empty, a directory, unreadable, not a video, truncated, a frame that cannot be decoded,
  blank frames, a frame size that differs within the session), the VQT window, Nyquist
  frequency and downsampling against each video, the ROI source (the file, its frame size,
  the polygons, the points and the tracking mask), the mesh neighbours against the points,
  and the ``tca`` section against the tensor the session will make. Every problem found is
  logged on its own line and raised together as one
  :class:`~face_rhythm.errors.PreflightError`.

The checks meet several stages, so this module sits above the stage packages: it calls each
stage's own checks (:func:`~face_rhythm.video.probe_video`,
:func:`~face_rhythm.spectral_analysis.check_vqt_params`,
:func:`~face_rhythm.rois.rois_from_config`,
:func:`~face_rhythm.point_tracking.check_mesh_size`,
:func:`~face_rhythm.decomposition.checks.check_tca_for_data`), and no stage imports it.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import FaceRhythmError, PreflightError, VideoError
from .video import is_remote, open_video, probe_video, rgb_to_gray
from .video.results import write_videos_tsv

logger = logging.getLogger(__name__)

__all__ = ["NAME_PATTERN", "check_session", "check_session_videos", "read_videos_table"]

#: Session and video names (they become folder names and Snakemake wildcards).
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_REQUIRED = ("session", "video", "path")
#: Frames sampled per video: decoded (a file corrupt in the middle fails here) and tested for
#: blank content.
N_SAMPLE_FRAMES = 5


def _table_problems(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    if path.is_dir():
        return [f"{path}: is a directory, not a videos table (config key 'videos')"], []
    if not path.is_file():
        return [f"{path}: videos table not found (config key 'videos')"], []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{path}: cannot read the videos table ({exc})"], []
    lines = [(i, ln.rstrip("\r\n")) for i, ln in enumerate(text.splitlines(), start=1)
             if ln.strip() and not ln.lstrip().startswith("#")]
    hint = "'session<TAB>video<TAB>path[<TAB>fps]' and one row per video"
    if not lines:
        return [f"{path}: the videos table is empty; give a header line {hint}"], []
    header = [c.strip() for c in lines[0][1].split("\t")]
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        tabs = "" if len(header) > 1 else " (is it tab-separated?)"
        msg = (f"{path}: videos table lacks column(s) {missing}{tabs}; the header must be "
               f"{hint}")
        return [msg], []
    problems, rows = [], []
    for lineno, line in lines[1:]:
        cells = [c.strip() for c in line.split("\t")]
        where = f"{path}, line {lineno}"
        if len(cells) > len(header):
            problems.append(f"{where}: {len(cells)} cells but the header has {len(header)} "
                            "columns; remove the extra cell(s) (a stray tab?)")
            continue
        row = dict(zip(header, cells + [""] * (len(header) - len(cells))))
        for col in _REQUIRED:
            if not row[col]:
                problems.append(f"{where}, column '{col}': empty; give the {col}")
            elif col != "path" and not re.fullmatch(NAME_PATTERN, row[col]):
                problems.append(f"{where}, column '{col}': {col} name {row[col]!r} must match "
                                f"{NAME_PATTERN}")
        fps = row.get("fps", "")
        if fps:
            try:
                value = float(fps)
            except ValueError:
                value = None
                problems.append(f"{where}, column 'fps': {fps!r} is not a number; give the "
                                "frame rate in Hz or leave the cell empty")
            if value is not None and not (math.isfinite(value) and value > 0):
                problems.append(f"{where}, column 'fps': fps must be positive, got {fps}")
            row["fps"] = value
        else:
            row["fps"] = None
        row["_line"] = lineno
        rows.append(row)
    return problems, rows


def read_videos_table(path: str | os.PathLike) -> pd.DataFrame:
    """The videos table, checked: every problem at once, one line each.

    Parameters
    ----------
    path : path-like
        Tab-separated ``session, video, path[, fps]`` (lines starting with ``#`` are comments).

    Returns
    -------
    pandas.DataFrame
        Columns ``session, video, path, fps`` (``fps`` float, NaN where not given) and any
        extra columns, indexed by ``(session, video)`` (columns kept).

    Raises
    ------
    PreflightError
        Listing every problem, each naming the file, line and column.
    """
    path = Path(path)
    problems, rows = _table_problems(path)
    if not problems and not rows:
        problems.append(f"{path}: videos table has no rows; add one row per video")
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row["session"], row["video"])
        if key in seen and all(key):
            problems.append(f"{path}, line {row['_line']}: duplicate row for session "
                            f"{key[0]!r}, video {key[1]!r} (first on line {seen[key]})")
        seen.setdefault(key, row["_line"])
    if problems:
        raise PreflightError(problems, f"videos table {path}")
    table = pd.DataFrame([{k: v for k, v in r.items() if k != "_line"} for r in rows])
    table["fps"] = pd.to_numeric(table["fps"]).astype(float)
    return table.set_index(["session", "video"], drop=False)


def _check_video(path: str, fps: float | None, backend: str) -> tuple[Any, np.ndarray]:
    """Probe a video and decode a few frames; (VideoInfo, (n, H, W) uint8 grey samples)."""
    if not is_remote(path) and os.path.isfile(path) and not os.access(path, os.R_OK):
        raise FaceRhythmError(f"{path}: cannot be read (permission denied); fix its "
                              "permissions or copy it")
    info = probe_video(path, fps=fps, backend=backend)
    idx = np.unique(np.linspace(0, info.n_frames - 1, N_SAMPLE_FRAMES).round().astype(int))
    try:
        with open_video(info.path, info.backend) as src:
            frames = src.read_indices(idx)
    except (FaceRhythmError, IndexError, RuntimeError) as exc:
        raise FaceRhythmError(f"{path}: corrupt: a frame among {idx.tolist()} cannot be "
                              f"decoded ({getattr(exc, 'problem', exc)})") from None
    return info, rgb_to_gray(frames)


def _blank_problem(path: str, samples: np.ndarray, mask: np.ndarray | None,
                   what: str) -> str | None:
    """A message when the sampled frames are blank (one grey level) or frozen in ``mask``."""
    m = np.ones(samples.shape[1:], bool) if mask is None else mask
    if samples.shape[1:] != m.shape or not m.any():
        return None
    inside = samples[:, m]
    if int(inside.max()) == int(inside.min()):
        return (f"{path}: the video is blank: {len(samples)} frames sampled through it are "
                f"all grey level {int(inside.min())} inside {what}; nothing can be tracked "
                "there (a lens cap, a dark recording?): replace the video or remove its row")
    return None


def check_session(table_path: str | os.PathLike, session: str, video_ids: Sequence[str],
                  videos: Sequence[str], fps: Sequence[float | None], backend: str,
                  vqt: Mapping[str, Any], idx_start: int,
                  rois: Mapping[str, Any] | None = None,
                  tracking: Mapping[str, Any] | None = None,
                  tca: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Check everything a session's run will meet; write its ``videos.tsv`` when all is well.

    Parameters
    ----------
    table_path : path-like
        Output ``videos.tsv`` (:func:`~face_rhythm.video.results.write_videos_tsv`).
    session : str
    video_ids : sequence of str
        Video names, in table order.
    videos : sequence of str
        Local paths or ``sftp://`` URLs, in the same order.
    fps : sequence of (float or None)
        Per-video frame-rate overrides in Hz (``None``: the container's).
    backend : str
        Decoder (config ``video_backend``).
    vqt : mapping
        The config's ``vqt`` section (:meth:`SpectralParams.from_config`).
    idx_start : int
        First frame tracked in each video (config ``tracking.idx_start``).
    rois : mapping, optional
        The config's ``rois`` section, when this session's ROIs are built from it (not with
        alignment, where they come from the template session); ``None``: not checked.
    tracking, tca : mapping, optional
        The config's ``tracking`` and ``tca`` sections (``None``: not checked).

    Returns
    -------
    pandas.DataFrame
        The table written.

    Raises
    ------
    PreflightError
        Every problem found, one line each.
    """
    # the stages' checks, imported here: the workflow reads the videos table at parse time
    # through this module, without torch and tensorly
    from face_rhythm.decomposition.checks import check_tca_for_data
    from face_rhythm.point_tracking import TrackingParams, check_mesh_size
    from face_rhythm.rois import rois_from_config
    from face_rhythm.spectral_analysis import SpectralParams, check_vqt_params, n_time_bins

    problems: list[str] = []
    try:
        spectral = SpectralParams.from_config(vqt)
    except FaceRhythmError as exc:
        spectral = None
        problems.append(f"config vqt: {exc}")
    infos, samples, n_times, n_freqs = [], [], [], 1
    for path, rate in zip(videos, fps):
        try:
            info, frames = _check_video(str(path), rate, backend)
        except FaceRhythmError as exc:
            problems.append(str(exc))
            continue
        except Exception as exc:  # a decoder's own error on a damaged file
            logger.debug("probing %s", path, exc_info=True)
            problems.append(f"{path}: cannot be read as a video ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''})")
            continue
        if infos and info.frame_height_width != infos[0].frame_height_width:
            problems.append(f"{path}: frame size {info.height}x{info.width} (HxW) differs "
                            f"from {infos[0].height}x{infos[0].width} of the session's "
                            f"first video {infos[0].path}")
        infos.append(info)
        samples.append(frames)
        n_frames = info.n_frames - int(idx_start)
        if n_frames < 1:
            problems.append(f"{path}: config tracking.idx_start={idx_start} is at or past "
                            f"the video's {info.n_frames} frames")
            continue
        if spectral is None:
            continue
        fs = spectral.Fs_sample or info.frame_rate
        try:
            n_freqs = int(check_vqt_params(fs, spectral.params_VQT, n_frames)["n_freq_bins"])
        except FaceRhythmError as exc:
            problems.append(f"{path}: cannot make its spectrogram: {exc}")
            continue
        # counted without building the filter bank (no torch in this job); vqt cannot make
        # a spectrogram of a single time bin
        n_out = n_time_bins(fs, spectral.params_VQT, n_frames)
        ds = int(spectral.params_VQT.get("downsample_factor") or 1)
        if n_out < 2 or ds > n_frames:
            problems.append(f"{path}: cannot make its spectrogram: config "
                            f"vqt.params_VQT.downsample_factor={ds} is longer than its "
                            f"{n_frames} frames (it leaves {n_out} time bin(s)); lower it")
            continue
        n_times.append(n_out)
    roiset, points = None, None
    if rois is not None and infos:
        try:
            roiset = rois_from_config(rois, frame_height_width=infos[0].frame_height_width)
            points = roiset.points()
        except FaceRhythmError as exc:
            problems.append(str(exc))
    for info, frames in zip(infos, samples):
        if roiset is not None:
            msg = (_blank_problem(info.path, frames, roiset.tracking_mask(), "the tracking "
                                  f"mask (rois.mask_from {roiset.mask_from})")
                   or _blank_problem(info.path, frames[:1], roiset.points_mask(),
                                     f"the ROI(s) of the points {roiset.points_from} (no "
                                     "texture to track)"))
        else:
            msg = _blank_problem(info.path, frames, None, "the frame")
        if msg:
            problems.append(msg)
    if tracking is not None:
        try:
            tp = TrackingParams.from_config(tracking)
            if points is not None:
                check_mesh_size(len(points), tp.mesh_n_neighbors, tp.mesh_include_self)
        except FaceRhythmError as exc:
            problems.append(f"config tracking: {exc}")
    complete = points is not None and spectral is not None and len(n_times) == len(videos)
    if tca is not None and complete and all(n_times):
        problems += check_tca_for_data(tca, len(points), n_freqs, n_times)
    if problems:  # the workflow's log gets one ERROR line each (runlog.setup_logging)
        raise PreflightError(problems, f"session {session}")
    table = write_videos_tsv(table_path, session, list(video_ids), infos)
    logger.info("session %s: %d video(s), %d frames in total, %s points: all checks "
                "passed\n%s", session, len(table), table.attrs["n_frames_total"],
                "?" if points is None else len(points), table.to_string(index=False))
    return table


def check_session_videos(table_path: str | os.PathLike, session: str,
                         video_ids: Sequence[str], videos: Sequence[str],
                         fps: Sequence[float | None], backend: str, vqt: Mapping[str, Any],
                         idx_start: int) -> pd.DataFrame:
    """The video checks of :func:`check_session` only (no ROI, tracking or TCA section).

    Raises
    ------
    VideoError
        Listing every problem of the videos (one line each), as before the other checks.
    """
    try:
        return check_session(table_path, session, video_ids, videos, fps, backend, vqt,
                             idx_start)
    except PreflightError as exc:
        raise VideoError(str(exc)) from None
