"""Checks of a run's inputs before any heavy job: the ``video_metadata`` rule.

A session's videos -> ``results/{session}/videos.tsv``. Every video of a session is probed before any long work starts: a missing or corrupt file,
zero frames, an absurd frame rate, a frame size that differs within the session, a video
shorter than the VQT window or a frame rate whose Nyquist frequency is below ``vqt.F_max``
stop the run here, with the file named. The checks meet several stages (videos against the
VQT window), so this module sits above the stage packages: it may import any of them, and none
of them imports it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from face_rhythm.spectral_analysis import SpectralParams, check_vqt_params

from .errors import SpectralParamsError, VideoError
from .video import validate_videos
from .video.results import write_videos_tsv

logger = logging.getLogger(__name__)

__all__ = ["check_session_videos"]


def check_session_videos(table_path: str | os.PathLike, session: str,
                         video_ids: Sequence[str], videos: Sequence[str],
                         fps: Sequence[float | None], backend: str, vqt: Mapping[str, Any],
                         idx_start: int) -> pd.DataFrame:
    """Validate a session's videos and write their metadata table.

    Parameters
    ----------
    table_path : path-like
        Output ``videos.tsv`` (:func:`~face_rhythm.video.write_videos_tsv`).
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

    Returns
    -------
    pandas.DataFrame
        The table written.

    Raises
    ------
    VideoError
        A video that cannot be used, or one too short / too slow for the spectrogram.
    """
    infos = validate_videos(list(videos), fps=list(fps), same_size=True, backend=backend)
    spectral = SpectralParams.from_config(vqt)
    for info in infos:
        fs = spectral.Fs_sample or info.frame_rate
        try:
            check_vqt_params(fs, spectral.params_VQT, info.n_frames - int(idx_start))
        except SpectralParamsError as exc:
            raise VideoError(info.path, f"cannot make its spectrogram: {exc}") from None
    table = write_videos_tsv(table_path, session, list(video_ids), infos)
    logger.info("session %s: %d video(s), %d frames in total\n%s", session, len(table),
                table.attrs["n_frames_total"], table.to_string(index=False))
    return table
