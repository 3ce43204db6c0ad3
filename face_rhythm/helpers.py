"""Re-exports for compatibility with the reference package's ``face_rhythm.helpers`` paths.

Nothing is defined here: each name lives in its topic module.
"""

from __future__ import annotations

from .video import BufferedVideoReader, VideoReaderWrapper  # noqa: F401
