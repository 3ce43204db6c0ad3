"""Exporting a session: read its workflow outputs, build the NWB file, write it atomically."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from face_rhythm.atomic import atomic_path

from ..errors import NWBExportError
from .build import build_nwbfile
from .inputs import (
    read_home_positions,
    read_spectrogram_h5,
    read_tca_h5,
    read_tracking_h5,
    session_start_from_run_info,
)
from .params import SessionMetadata

logger = logging.getLogger(__name__)

__all__ = ["export_session_nwb", "write_nwbfile"]


def write_nwbfile(nwb, out_path: str | os.PathLike) -> Path:
    """Write an in-memory ``pynwb.NWBFile`` to ``out_path`` (``.nwb``), atomically."""
    from pynwb import NWBHDF5IO

    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        tmp_nwb = tmp.with_suffix(".nwb")  # pynwb warns about other suffixes
        try:
            with NWBHDF5IO(str(tmp_nwb), "w") as io:
                io.write(nwb)
            os.replace(tmp_nwb, tmp)
        finally:
            tmp_nwb.unlink(missing_ok=True)
    return out_path


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
    out_path = Path(out_path)
    if out_path.suffix != ".nwb":
        raise NWBExportError(f"{out_path}: NWB files must end in .nwb")
    names = list(tracking)
    for group, label in ((spectrograms, "spectrograms"), (video_paths, "video_paths")):
        if group is not None and set(group) != set(names):
            raise NWBExportError(f"{label} videos {sorted(group)} differ from tracking videos "
                                 f"{sorted(names)}")
    md = SessionMetadata.from_config(metadata)
    videos = [read_tracking_h5(tracking[v], v, None if video_paths is None else video_paths[v])
              for v in names]
    if md.session_start_time is None:
        md = dataclasses.replace(md,
                                 session_start_time=session_start_from_run_info(videos[0].run_info))
    freqs = None
    if spectrograms is not None:
        for v in videos:
            s = read_spectrogram_h5(spectrograms[v.name], load_spectrogram=include_spectrograms)
            if freqs is not None and not np.allclose(freqs, s["frequencies"]):
                raise NWBExportError(f"{spectrograms[v.name]}: frequencies differ from the "
                                     "first video's")
            freqs = s["frequencies"]
            v.spectrogram_seconds = s["x_axis_seconds"]
            v.spectrogram = s.get("spectrograms")
    home = None if rois is None else read_home_positions(rois)
    factors = None
    if tca is not None:
        lengths = ([len(v.spectrogram_seconds) for v in videos]
                   if all(v.spectrogram_seconds is not None for v in videos) else None)
        factors = read_tca_h5(tca, names, session, lengths)
    nwb = build_nwbfile(session, videos, point_positions=home, frequencies=freqs, tca=factors,
                        metadata=md, nwb_dir=out_path.parent, run_info=run_info)
    write_nwbfile(nwb, out_path)
    logger.info("wrote %s (%d video(s), %d points%s)", out_path, len(videos),
                videos[0].points_tracked.shape[1],
                f", TCA rank {factors.rank}" if factors is not None else "")
    return out_path
