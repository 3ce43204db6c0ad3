"""``results/{session}/videos.tsv``: the validated metadata of a session's videos.

Written once per session by the ``video_metadata`` rule (:func:`write_videos_tsv`), read by
everyone else with :func:`read_videos_tsv`. A tab-separated table, one row per video, columns
:data:`VIDEOS_TSV_COLUMNS`: ``session, video, path, n_frames, frame_rate`` (Hz), ``height,
width`` (pixels), ``n_channels, backend, duration_s`` (s), ``first_frame`` (continuous index of
the video's first frame in the session).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import pandas as pd

from ..atomic import atomic_path
from ..errors import VideoError
from .info import VideoInfo, metadata_table

__all__ = ["VIDEOS_TSV_COLUMNS", "VideosFile", "read_videos_tsv", "write_videos_tsv"]

#: Columns of ``videos.tsv``, in order.
VIDEOS_TSV_COLUMNS = ("session", "video", *(f.name for f in dataclasses.fields(VideoInfo)),
                      "duration_s", "first_frame")


@dataclasses.dataclass(frozen=True, eq=False)
class VideosFile:
    """The content of a ``videos.tsv``.

    Attributes
    ----------
    session : str
        The session (every row of the file has it).
    video_ids : tuple of str
        Video names within the session, in table (time) order.
    infos : tuple of VideoInfo
        One per video, in the same order.
    first_frames : tuple of int
        Continuous index of each video's first frame in the session.
    table : pandas.DataFrame
        The file as read (columns :data:`VIDEOS_TSV_COLUMNS`).
    """

    session: str
    video_ids: tuple[str, ...]
    infos: tuple[VideoInfo, ...]
    first_frames: tuple[int, ...]
    table: pd.DataFrame

    @property
    def n_frames_total(self) -> int:
        """Frames of all the session's videos."""
        return int(sum(i.n_frames for i in self.infos))


def write_videos_tsv(path: str | os.PathLike, session: str, video_ids: Sequence[str],
                     infos: Sequence[VideoInfo]) -> pd.DataFrame:
    """Write the metadata table of a session's videos, atomically.

    Parameters
    ----------
    path : path-like
        Destination ``videos.tsv``.
    session : str
    video_ids : sequence of str
        One name per video, in the order of ``infos``.
    infos : sequence of VideoInfo
        The validated videos (:func:`~face_rhythm.video.validate_videos`).

    Returns
    -------
    pandas.DataFrame
        The table written (``attrs["n_frames_total"]``: the sum of frames).
    """
    if len(video_ids) != len(infos):
        raise VideoError(f"{path}: {len(video_ids)} video names for {len(infos)} videos")
    table = metadata_table(infos)
    table.insert(0, "video", list(video_ids))
    table.insert(0, "session", session)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    return table


def read_videos_tsv(path: str | os.PathLike) -> VideosFile:
    """Read a ``videos.tsv`` written by :func:`write_videos_tsv`.

    Raises
    ------
    VideoError
        A column is missing, or the rows name more than one session.
    """
    text_cols = {"session": str, "video": str, "path": str, "backend": str}
    table = pd.read_csv(path, sep="\t", dtype=text_cols, keep_default_na=False)
    missing = [c for c in VIDEOS_TSV_COLUMNS if c not in table.columns]
    if missing:
        raise VideoError(path, f"not a videos.tsv: no column(s) {missing}")
    sessions = sorted(set(table["session"]))
    if len(sessions) > 1:
        raise VideoError(path, f"rows of several sessions {sessions}")
    infos = tuple(VideoInfo(path=str(r.path), n_frames=int(r.n_frames),
                            frame_rate=float(r.frame_rate), height=int(r.height),
                            width=int(r.width), n_channels=int(r.n_channels),
                            backend=str(r.backend))
                  for r in table.itertuples(index=False))
    return VideosFile(session=sessions[0] if sessions else "",
                      video_ids=tuple(str(v) for v in table["video"]), infos=infos,
                      first_frames=tuple(int(f) for f in table["first_frame"]), table=table)
