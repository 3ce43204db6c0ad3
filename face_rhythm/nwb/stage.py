"""The workflow's ``nwb_export`` stage: a session's outputs -> ``{session}.nwb``, validated."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from face_rhythm.provenance import run_info
from face_rhythm.visualization import OutputsParams

from .export import export_session_nwb
from .params import SessionMetadata
from .results import validate_nwb

logger = logging.getLogger(__name__)

__all__ = ["nwb_export_stage"]

PathLike = str | os.PathLike


def nwb_export_stage(out_path: PathLike, session: str, videos: Sequence[str],
                     tracking: Sequence[PathLike], spectrograms: Sequence[PathLike],
                     rois: PathLike, tca: Sequence[PathLike] | None,
                     video_paths: Sequence[str],
                     outputs: Mapping[str, Any] | None = None) -> list[str]:
    """Export one session to NWB and validate the file (problems are logged as warnings).

    Parameters
    ----------
    out_path : path-like
        ``results/{session}/{session}.nwb``.
    session : str
    videos : sequence of str
        The session's video ids, in recording order.
    tracking, spectrograms : sequence of path-like
        ``tracking.h5`` and ``spectrogram.h5`` per video, in the order of ``videos``.
    rois : path-like
        The session's ``rois.h5``.
    tca : sequence of path-like, optional
        The session's ``tca.h5`` (empty or None: no TCA factors in the file).
    video_paths : sequence of str
        The source videos (local paths or ``sftp://`` URLs), linked as external files.
    outputs : mapping, optional
        The ``outputs`` config section (``nwb_metadata``, ``nwb_spectrograms``); stored as
        the file's provenance.

    Returns
    -------
    list of str
        Validation problems (:func:`face_rhythm.nwb.validate_nwb`); empty when valid.
    """
    cfg = dict(outputs or {})
    params = OutputsParams.from_config(cfg)
    videos = list(videos)
    tca = list(tca or [])
    inputs = [*tracking, *spectrograms, rois, *tca]
    path = export_session_nwb(
        out_path,
        session=session,
        tracking=dict(zip(videos, tracking)),
        spectrograms=dict(zip(videos, spectrograms)),
        rois=rois,
        tca=tca[0] if tca else None,
        video_paths=dict(zip(videos, video_paths)),
        metadata=SessionMetadata.from_config(params.nwb_metadata),
        include_spectrograms=bool(params.nwb_spectrograms),
        run_info=run_info(config={"outputs": cfg}, inputs=inputs),
    )
    problems = validate_nwb(path)
    for p in problems:
        logger.warning("%s: %s", path, p)
    logger.info("%s: %s", Path(path), "valid (pynwb schema and nwbinspector)" if not problems
                else f"{len(problems)} validation problem(s), see above")
    return problems
