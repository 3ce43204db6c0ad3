"""Door of the original ``face_rhythm.data_importing`` import path: the reference's
``Dataset_videos`` (the videos of a session) now lives in :mod:`face_rhythm.video.notebook`."""

from .video import (
    BufferedVideoReader,
    Dataset_videos,
    VideoError,
    VideoInfo,
    VideoReaderWrapper,
    metadata_table,
    validate_videos,
)

__all__ = [
    "BufferedVideoReader",
    "Dataset_videos",
    "VideoError",
    "VideoInfo",
    "VideoReaderWrapper",
    "metadata_table",
    "validate_videos",
]
