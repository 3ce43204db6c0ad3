"""Overlay videos: a video with its tracked points drawn on every frame.

:func:`write_overlay_video` streams a video with :func:`face_rhythm.video.iter_chunks`, draws
the tracked points (violating points in a second colour) and a "frame / time" line, resizes to
the requested size and writes an MP4 (``mp4v``); when that encoder is missing it falls back to
MJPG in an AVI container. The file is written under a temporary name and renamed when
complete.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from face_rhythm.video import iter_chunks, probe_video

from ..errors import VisualizationError
from .drawing import as_rgb_image, draw_points, draw_text, violations_to_dense
from .params import OverlayParams
from .style import umask_mode
from .writer import open_video_writer

logger = logging.getLogger(__name__)

__all__ = ["write_overlay_video"]


def _overlay_frame(frame: np.ndarray, pts: np.ndarray, bad: np.ndarray | None,
                   out_hw: tuple[int, int], params: OverlayParams, text: str | None) -> np.ndarray:
    """One overlay frame: resize, draw points (violations last, on top), text. RGB uint8."""
    h, w = frame.shape[:2]
    img = as_rgb_image(frame)
    if (h, w) != out_hw:
        img = cv2.resize(img, (out_hw[1], out_hw[0]), interpolation=cv2.INTER_AREA)
    # pixel centres: x_out + 0.5 = (x_in + 0.5) * scale
    sx, sy = out_hw[1] / w, out_hw[0] / h
    p = (pts.astype(np.float64) + 0.5) * (sx, sy) - 0.5
    r = params.radius(out_hw[1])
    if bad is not None and bad.any():
        draw_points(img, p[~bad], params.color, r, alpha=params.alpha,
                    in_place=True)
        draw_points(img, p[bad], params.violation_color, r,
                    alpha=params.alpha, in_place=True)
    else:
        draw_points(img, p, params.color, r, alpha=params.alpha,
                    in_place=True)
    if text:
        scale = float(np.clip(out_hw[1] / 640, 0.3, 1.0))
        draw_text(img, text, (4, 4 + 22 * scale), scale=scale, in_place=True)
    return img


class _Encoder:
    """Frames written by a background thread (OpenCV's encoder releases the GIL), so that
    encoding overlaps decoding and drawing; at most ``depth`` frames wait in the queue."""

    def __init__(self, writer: cv2.VideoWriter, depth: int = 8) -> None:
        self._writer = writer
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="face_rhythm-encoder",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (frame := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._writer.write(frame)
                except (cv2.error, OSError, ValueError, TypeError, MemoryError) as err:
                    self._error = err  # re-raised in the caller's thread

    def put(self, frame: np.ndarray) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(frame)

    def close(self, abort: bool = False) -> None:
        """Wait until every frame is written (``abort``: drop what is still queued)."""
        if abort:
            self._error = self._error or RuntimeError("aborted")
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and not abort:
            raise self._error


def write_overlay_video(video_path: str | os.PathLike, points_tracked: np.ndarray,
                        out_path: str | os.PathLike, frame_rate: float | None = None,
                        violations: Mapping[str, Any] | np.ndarray | None = None,
                        params: OverlayParams | Mapping[str, Any] | None = None,
                        progress: bool | None = None) -> Path:
    """Write a video of ``video_path`` with the tracked points drawn on every frame.

    Parameters
    ----------
    video_path : path-like
        Source video (read with :func:`face_rhythm.video.iter_chunks`).
    points_tracked : np.ndarray
        (T, N, 2) float (x, y) positions in source pixels; T must equal the video's frame
        count.
    out_path : path-like
        Destination (``.mp4``). If the MP4 encoder is missing, an MJPG ``.avi`` with the same
        stem is written instead (see the return value).
    frame_rate : float, optional
        Source frame rate in Hz, for the time text (default: the container's).
    violations : mapping or np.ndarray, optional
        Violation flags (see :func:`violations_to_dense`); flagged points use
        ``params.violation_color`` in the frames where they are flagged.
    params : OverlayParams or dict, optional
    progress : bool, optional
        Show a tqdm progress bar (None: only on a terminal).

    Returns
    -------
    Path
        The file written (``out_path``, or its ``.avi`` sibling after a fallback).
    """
    params = OverlayParams.from_config(params)
    video_path, out_path = Path(video_path), Path(out_path)
    info = probe_video(video_path, fps=frame_rate)
    pts = np.asarray(points_tracked)
    if pts.ndim != 3 or pts.shape[2] != 2:
        raise VisualizationError(f"points_tracked must be (T, N, 2), got shape {pts.shape}")
    if pts.shape[0] != info.n_frames:
        raise VisualizationError(f"{video_path}: {info.n_frames} frames but points_tracked has "
                         f"{pts.shape[0]}")
    bad = violations_to_dense(violations, pts.shape[0], pts.shape[1])
    if params.step < 1:
        raise VisualizationError(f"overlay step must be >= 1, got {params.step}")
    stop = info.n_frames if params.stop is None else min(int(params.stop), info.n_frames)
    start = int(params.start)
    if not 0 <= start < stop:
        raise VisualizationError(f"{video_path}: overlay frames start={start}, stop={stop} select "
                         f"nothing of {info.n_frames} frames")
    out_hw = params.output_size(info.height, info.width)
    fps_out = float(params.frame_rate or info.frame_rate)
    fourccs = [(params.fourcc, out_path.suffix or ".mp4")]
    if params.fourcc != "MJPG":
        fourccs.append(("MJPG", ".avi"))
    writer, tmp, final, fourcc = open_video_writer(out_path, fps_out, out_hw, fourccs)
    n_written = 0
    encoder = _Encoder(writer)
    try:
        bar = tqdm(total=len(range(start, stop, params.step)), desc=f"overlay {video_path.name}",
                   disable=None if progress is None else not progress, unit="frame")
        idx = start
        for chunk in iter_chunks(video_path, chunk_size=params.chunk_size, start=start,
                                 stop=stop, fps=info.frame_rate):
            for frame in chunk:
                if (idx - start) % params.step == 0:
                    text = (f"frame {idx}  t = {idx / info.frame_rate:.3f} s"
                            if params.show_text else None)
                    img = _overlay_frame(frame, pts[idx], bad[idx], out_hw, params, text)
                    encoder.put(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                    n_written += 1
                    bar.update(1)
                idx += 1
        encoder.close()
        bar.close()
        writer.release()
        umask_mode(tmp)
        os.replace(tmp, final)
    except BaseException:
        encoder.close(abort=True)
        writer.release()
        tmp.unlink(missing_ok=True)
        raise
    logger.info("wrote overlay %s: %d frames, %dx%d px, %.2f Hz, %s", final, n_written,
                out_hw[1], out_hw[0], fps_out, fourcc)
    return final
