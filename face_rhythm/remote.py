"""Door of the original ``face_rhythm.remote`` import path: videos over SFTP and the ffmpeg
backend now live in :mod:`face_rhythm.video` (``sftp``: URLs and credentials; ``ffmpeg``:
:class:`FFmpegSource` and :class:`SFTPVideoFrameExtractor`)."""

import subprocess  # noqa: F401 - kept as an attribute: tests patch remote.subprocess.run

from .errors import RemoteVideoError, VideoError
from .video.buffers import alloc_frames
from .video.ffmpeg import FFmpegSource, SFTPVideoFrameExtractor
from .video.sftp import KEY_ENV, PASSWORD_ENV, SFTPLocation, _Credentials, is_remote, parse_sftp_url
from .video.sources import FrameSource

__all__ = [
    "KEY_ENV",
    "PASSWORD_ENV",
    "FFmpegSource",
    "FrameSource",
    "RemoteVideoError",
    "SFTPLocation",
    "SFTPVideoFrameExtractor",
    "VideoError",
    "_Credentials",
    "alloc_frames",
    "is_remote",
    "parse_sftp_url",
]
