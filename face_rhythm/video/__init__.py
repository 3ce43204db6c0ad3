"""Streaming video input: metadata, validation, chunked prefetching reads, random access.

The video package owns everything between a video file (or ``sftp://`` URL) and uint8 frames:
which decoder reads it, validating it before any long work, streaming it in recycled chunks
with a prefetch thread, random access, the reference API's readers, and the per-session
metadata table ``results/{session}/videos.tsv``. Every stage that reads frames calls the
names exported here (``iter_chunks``, ``read_frames``, ``probe_video``, ...); it imports no
other stage package. The ``video_metadata`` rule, which also checks each video against the
spectrogram's window, is :func:`face_rhythm.preflight.check_session_videos` (it sits above the
stage packages). :mod:`face_rhythm.video.results` (``videos.tsv``) is imported as
``from face_rhythm.video.results import read_videos_tsv``.

Rooms, lowest first (each imports only the ones above it):

=================  ==========================================================================
``info``           :class:`VideoInfo`, :class:`FrameChunk`, frame-rate checks, session indices
``buffers``        grayscale conversion, frame-array allocation, the recycling chunk pool
``prefetch``       a generator run in a background thread, a bounded number of items ahead
``sources``        :class:`FrameSource` and the decord2 / OpenCV sources
``sftp``           ``sftp://`` URLs (:func:`is_remote`) and credentials
``ffmpeg``         :class:`FFmpegSource` (local files and SFTP) and SFTPVideoFrameExtractor
``backends``       backend choice: :func:`open_video`, :func:`open_stream`
``probe``          validation: :func:`probe_video`, :func:`validate_videos`
``streams``        :func:`iter_chunks`, :func:`iter_frame_chunks`, :func:`iter_info_chunks`
``frames``         random access: :func:`read_frames`, :func:`get_frames`
``readers``        :class:`VideoReaderWrapper` (one video, reference API)
``notebook``       :class:`BufferedVideoReader`, :class:`Dataset_videos` (reference API)
``results``        ``videos.tsv``: ``write_videos_tsv``, ``read_videos_tsv``
=================  ==========================================================================

Backends
--------
``"decord"`` (the decord2 package) is the default decoder; ``"opencv"`` (``cv2.VideoCapture``)
is the fallback, chosen automatically (with a log line) when decord2 is not installed or
cannot open a file, or forced with ``backend="opencv"``; ``"ffmpeg"`` pipes frames out of an
``ffmpeg`` subprocess and is what ``sftp://user@host/path`` URLs use. All backends return the
same frames: uint8 RGB, ``(n, H, W, 3)``. With ``backend="auto"``, decord2 probes videos and
serves random access, while long sequential streams are decoded by OpenCV (bounded memory;
see ``STREAM_WITH_OPENCV`` and :func:`open_stream`).

Memory: streams hold at most about ``(prefetch + 2) * chunk_size * H * W * 3`` bytes whatever
the video length (see :mod:`face_rhythm.video.streams`).
"""

import logging

from ..errors import RemoteVideoError, VideoError
from .backends import BACKENDS, STREAM_WITH_OPENCV, open_stream, open_video
from .buffers import _ChunkPool, alloc_frames, rgb_to_gray
from .ffmpeg import FFmpegSource, SFTPVideoFrameExtractor
from .frames import get_frames, read_frames
from .info import (
    MAX_FRAME_RATE_HZ,
    MIN_FRAME_RATE_HZ,
    FrameChunk,
    VideoInfo,
    locate_frames,
    metadata_table,
    session_offsets,
)
from .notebook import BufferedVideoReader, Dataset_videos
from .prefetch import _threaded
from .probe import probe_video, validate_videos, video_metadata
from .readers import VideoReaderWrapper
from .sftp import KEY_ENV, PASSWORD_ENV, SFTPLocation, is_remote, parse_sftp_url
from .sources import FrameSource, _BackendUnavailable, _import_decord
from .streams import iter_chunks, iter_frame_chunks, iter_info_chunks

#: The old private name of :func:`is_remote` (the same function).
_is_remote = is_remote

logger = logging.getLogger(__name__)

__all__ = [
    "BACKENDS",
    "KEY_ENV",
    "MAX_FRAME_RATE_HZ",
    "MIN_FRAME_RATE_HZ",
    "PASSWORD_ENV",
    "STREAM_WITH_OPENCV",
    "BufferedVideoReader",
    "Dataset_videos",
    "FFmpegSource",
    "FrameChunk",
    "FrameSource",
    "RemoteVideoError",
    "SFTPLocation",
    "SFTPVideoFrameExtractor",
    "VideoError",
    "VideoInfo",
    "VideoReaderWrapper",
    "_BackendUnavailable",
    "_ChunkPool",
    "_import_decord",
    "_is_remote",
    "_threaded",
    "alloc_frames",
    "get_frames",
    "is_remote",
    "iter_chunks",
    "iter_frame_chunks",
    "iter_info_chunks",
    "locate_frames",
    "metadata_table",
    "open_stream",
    "open_video",
    "parse_sftp_url",
    "probe_video",
    "read_frames",
    "rgb_to_gray",
    "session_offsets",
    "validate_videos",
    "video_metadata",
]
