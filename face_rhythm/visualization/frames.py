"""The original package's frame API: :class:`FrameVisualizer` and :func:`play_video_with_points`.

A thin layer over :mod:`~face_rhythm.visualization.drawing` (points and text on RGB frames)
and :mod:`~face_rhythm.visualization.writer` (videos written through a temporary file).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Self

import cv2
import numpy as np
from tqdm.auto import tqdm

from ..errors import VisualizationError
from .display import cv2_display_available
from .drawing import as_rgb_image, draw_points, draw_text
from .style import umask_mode
from .writer import open_video_writer

logger = logging.getLogger(__name__)

__all__ = ["FrameVisualizer", "play_video_with_points"]


def _per_batch(value: Any, n_batches: int, name: str, scalar_types: tuple) -> list:
    if isinstance(value, scalar_types) or value is None:
        return [value] * n_batches
    value = list(value)
    if len(value) != n_batches:
        raise VisualizationError(f"{name} has {len(value)} entries for {n_batches} batches")
    return value


def _is_one_color(c: Any) -> bool:
    if isinstance(c, str):
        return True
    try:
        a = np.asarray(c)
    except ValueError:  # ragged: a list of batches' colours
        return False
    return a.dtype != object and a.ndim == 1 and a.size == 3


def _batch_colors(colors: Any, batches: list[np.ndarray]) -> list[Any]:
    """One colour (RGB triple or name) or an (n_i, 3) per-point array for each batch."""
    n = len(batches)
    if _is_one_color(colors):
        return [colors] * n
    if isinstance(colors, np.ndarray) and colors.ndim == 2 and colors.shape[1] == 3:
        if n == 1:  # per-point colours of the only batch
            return [colors]
        if len(colors) == n:  # one colour per batch
            return list(colors)
    elif not isinstance(colors, np.ndarray):
        colors = list(colors)
        if n == 1 and len(colors) == len(batches[0]) != 1 and all(map(_is_one_color, colors)) \
                and not all(isinstance(c, str) for c in colors):
            colors = [colors]  # a list of per-point colours for the only batch
        if len(colors) == n:
            out = []
            for c, b in zip(colors, batches):
                if _is_one_color(c):
                    out.append(c)
                    continue
                arr = np.asarray(c)
                if arr.ndim != 2 or arr.shape != (len(b), 3):
                    raise VisualizationError(f"points_colors: per-point colours must be "
                                             f"({len(b)}, 3), got {arr.shape}")
                out.append(arr)
            return out
    raise VisualizationError(f"points_colors: give one (r, g, b) colour, one per batch of "
                             f"points ({n}), or per-point (n, 3) colours; got {colors!r:.80}")


def _as_height_width(value: Any) -> tuple[int, int]:
    """(H, W) from ``[H, W]``, ``(H, W)``, an array, or a list of equal per-video pairs."""
    a = np.asarray(value.cpu() if hasattr(value, "cpu") else value)
    if a.ndim == 2 and a.shape[1] == 2 and len(a):
        if (a != a[0]).any():
            raise VisualizationError(f"frame_height_width: videos have different sizes "
                                     f"{a.tolist()}; give one (H, W)")
        a = a[0]
    if a.shape != (2,) or not np.issubdtype(a.dtype, np.number) or a.min() < 1:
        raise VisualizationError(f"frame_height_width must be two positive ints (H, W), got "
                                 f"{value!r}")
    return int(a[0]), int(a[1])


def _as_frame(image: Any) -> np.ndarray:
    """A numpy frame from a numpy array or torch tensor; a leading axis of 1 is dropped."""
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    image = np.asarray(image)
    return image[0] if image.ndim == 4 and image.shape[0] == 1 else image


class FrameVisualizer:
    """Draw points and text on frames; optionally show them and/or write them to a video.

    Images are RGB uint8 (H, W, 3) (grayscale (H, W), torch tensors and a leading axis of 1,
    as a :class:`~face_rhythm.video.BufferedVideoReader` returns, are accepted), colours are
    RGB. Frames are written to ``path_save`` through a temporary file that is renamed into
    place by :meth:`close`; :func:`play_video_with_points` closes the visualizer when it ends,
    a context manager on exit, and a forgotten visualizer when it is garbage-collected.

    Parameters
    ----------
    display : bool
        Show every frame with ``cv2.imshow``. Needs a display and an OpenCV build with a GUI;
        without them a warning is logged and display is turned off.
    handle_cv2Imshow : str
        Window name for ``cv2.imshow``.
    path_save : str, optional
        Video file to write (``.avi`` for MJPG, ``.mp4`` for mp4v).
    frame_height_width : (int, int) or [H, W]
        Size of the written frames (e.g. ``BufferedVideoReader.frame_height_width``; a list
        of equal per-video pairs is accepted too); frames of another size are resized.
    frame_rate : float, optional
        Frame rate of the written video (default 60) and of display pacing (None: as fast
        as possible).
    fourcc : str
        Codec (default ``"MJPG"``).
    error_checking : bool
        Validate the arguments of :meth:`visualize_image_with_points`.
    verbose : int
        0 silent, 1 warnings, 2 info.
    point_sizes, points_colors, alpha, text, text_positions, text_color, text_size,
    text_thickness :
        When not None, override the same arguments of every
        :meth:`visualize_image_with_points` call.
    """

    def __init__(self, display: bool = False, handle_cv2Imshow: str = "FaceRhythmPointVisualizer",
                 path_save: str | os.PathLike | None = None,
                 frame_height_width: tuple[int, int] = (480, 640),
                 frame_rate: float | None = None, fourcc: str = "MJPG",
                 error_checking: bool = True, verbose: int = 1,
                 point_sizes: int | list[int] | None = None,
                 points_colors: Any = None, alpha: float | None = None,
                 text: str | list[str] | None = None, text_positions: np.ndarray | None = None,
                 text_color: Any = None, text_size: float | list[float] | None = None,
                 text_thickness: int | list[int] | None = None) -> None:
        self.display = bool(display)
        self.handle_cv2Imshow = handle_cv2Imshow
        self.frame_height_width = _as_height_width(frame_height_width)
        self.frame_rate = frame_rate
        self.fourcc = fourcc
        self.error_checking = error_checking
        self.verbose = verbose
        self._overrides = {"point_sizes": point_sizes, "points_colors": points_colors,
                           "alpha": alpha, "text": text, "text_positions": text_positions,
                           "text_color": text_color, "text_size": text_size,
                           "text_thickness": text_thickness}
        self.n_frames_written = 0
        self.video_writer: cv2.VideoWriter | None = None
        self._tmp: Path | None = None
        self.path_save: str | None = None
        if path_save is not None:
            final = Path(path_save).resolve()
            suffix = final.suffix or ".avi"
            writer, tmp, final, _ = open_video_writer(
                final, float(frame_rate or 60.0), self.frame_height_width, [(fourcc, suffix)])
            self.video_writer, self._tmp, self.path_save = writer, tmp, str(final)
        if self.display and not cv2_display_available():
            if verbose >= 1:
                logger.warning("display=True needs a display and OpenCV with GUI support "
                               "(headless OpenCV or no DISPLAY here); frames will not be shown")
            self.display = False
        if self.display:
            cv2.namedWindow(self.handle_cv2Imshow, cv2.WINDOW_NORMAL)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(discard=exc_type is not None)

    def visualize_image_with_points(self, image: np.ndarray, points: Any = None,
                                    point_sizes: int | list[int] | None = None,
                                    points_colors: Any = (0, 255, 255),
                                    alpha: float | None = None,
                                    text: str | list[str] | None = None,
                                    text_positions: np.ndarray | None = None,
                                    text_color: Any = "white", text_size: Any = 1,
                                    text_thickness: Any = 1) -> np.ndarray:
        """Draw points and text on a copy of ``image``; show and/or write it.

        Parameters
        ----------
        image : np.ndarray
            (H, W, 3) uint8 RGB (or (H, W) grayscale).
        points : np.ndarray or list of np.ndarray, optional
            One batch (N, 2) of (x, y) positions, a list of batches, or an array
            (n_batches, N, 2).
        point_sizes : int or list of int, optional
            Radius in pixels, one for all or one per batch (default 1).
        points_colors : tuple, str, np.ndarray or list
            One RGB colour (a tuple, list or array of 3 values in [0, 255], or a name) for
            all points; or a list with, per batch, a colour or per-point colours (an (n, 3)
            array or a list of n colours); for a single batch also its (n, 3) per-point
            colours directly.
        alpha : float, optional
            Opacity of the points (None: 1).
        text : str or list of str, optional
            Text drawn at each row of ``text_positions``.
        text_positions : np.ndarray, optional
            (n_text, 2) (x, y) positions; required with ``text``.
        text_color, text_size, text_thickness :
            One value for all text items or one per item.

        Returns
        -------
        np.ndarray
            (H, W, 3) uint8 RGB image with the drawing.
        """
        ov = self._overrides
        point_sizes = ov["point_sizes"] if ov["point_sizes"] is not None else point_sizes
        points_colors = ov["points_colors"] if ov["points_colors"] is not None else points_colors
        alpha = ov["alpha"] if ov["alpha"] is not None else alpha
        text = ov["text"] if ov["text"] is not None else text
        text_positions = (ov["text_positions"] if ov["text_positions"] is not None
                          else text_positions)
        text_color = ov["text_color"] if ov["text_color"] is not None else text_color
        text_size = ov["text_size"] if ov["text_size"] is not None else text_size
        text_thickness = ov["text_thickness"] if ov["text_thickness"] is not None \
            else text_thickness

        out = as_rgb_image(_as_frame(image)).copy()
        if points is not None:
            if hasattr(points, "detach"):
                points = points.detach().cpu().numpy()
            if isinstance(points, np.ndarray):
                batches = list(points) if points.ndim == 3 else [points]
            else:
                batches = [np.asarray(b) for b in points]
            sizes = _per_batch(1 if point_sizes is None else point_sizes, len(batches),
                               "point_sizes", (int, np.integer))
            colors = _batch_colors((0, 255, 255) if points_colors is None else points_colors,
                                   batches)
            for b, s, c in zip(batches, sizes, colors):
                b = np.asarray(b)
                if self.error_checking and (b.ndim != 2 or b.shape[1] != 2):
                    raise VisualizationError(f"points must be (n_points, 2) (x, y), got {b.shape}")
                draw_points(out, b, c, int(s), alpha=1.0 if alpha is None else float(alpha),
                            in_place=True)
        if text is not None:
            if text_positions is None:
                raise VisualizationError("text_positions is required when text is given")
            pos = np.asarray(text_positions, dtype=np.float64).reshape(-1, 2)
            texts = [text] * len(pos) if isinstance(text, str) else list(text)
            if self.error_checking and len(texts) != len(pos):
                raise VisualizationError(f"{len(texts)} texts for {len(pos)} text_positions")
            colors_t = _per_batch(text_color, len(pos), "text_color", (str, tuple))
            sizes_t = _per_batch(text_size, len(pos), "text_size", (int, float, np.number))
            thick_t = _per_batch(text_thickness, len(pos), "text_thickness", (int, np.integer))
            for s, p, c, z, k in zip(texts, pos, colors_t, sizes_t, thick_t):
                draw_text(out, s, (p[0], p[1]), c, float(z), int(k), background=False,
                          in_place=True)
        self._emit(out)
        return out

    def _emit(self, img: np.ndarray) -> None:
        if self.video_writer is None and not self.display:
            return
        bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        if self.video_writer is not None:
            h, w = self.frame_height_width
            if bgr.shape[:2] != (h, w):
                bgr = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA)
            self.video_writer.write(bgr)
            self.n_frames_written += 1
        if self.display:
            cv2.imshow(self.handle_cv2Imshow, bgr)
            wait = max(1, int(1000 / self.frame_rate)) if self.frame_rate else 1
            cv2.waitKey(wait)

    def close(self, discard: bool = False) -> None:
        """Close the display window and finish the video file (renamed into place).

        Parameters
        ----------
        discard : bool
            Delete the partial video instead (used when an error interrupted writing).
        """
        if self.video_writer is not None:
            self.video_writer.release()
            self.video_writer = None
            if self._tmp is not None and self.path_save is not None:
                if discard:
                    self._tmp.unlink(missing_ok=True)
                else:
                    umask_mode(self._tmp)
                    os.replace(self._tmp, self.path_save)
                    if self.verbose >= 2:
                        logger.info("wrote %s (%d frames)", self.path_save,
                                    self.n_frames_written)
                self._tmp = None
        if self.display:
            with contextlib.suppress(cv2.error):
                cv2.destroyWindow(self.handle_cv2Imshow)
            self.display = False

    def __call__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        """Same as :meth:`visualize_image_with_points`."""
        return self.visualize_image_with_points(*args, **kwargs)

    def __repr__(self) -> str:
        return (f"FrameVisualizer(display={self.display}, path_save={self.path_save!r}, "
                f"frame_height_width={self.frame_height_width}, frame_rate={self.frame_rate}, "
                f"n_frames_written={self.n_frames_written})")

    def __del__(self) -> None:  # a forgotten close(): finish the video with what was written
        with contextlib.suppress(Exception):
            self.close()


def play_video_with_points(bufferedVideoReader: Any, frameVisualizer: FrameVisualizer | None = None,
                           points: np.ndarray | Sequence[np.ndarray] | None = None,
                           idx_frames: Iterable[int] | None = None,
                           progress: bool | None = None) -> int:
    """Draw points on frames of a reader and show/write them with a :class:`FrameVisualizer`.

    Parameters
    ----------
    bufferedVideoReader : BufferedVideoReader or np.ndarray
        Anything with ``len()`` and integer indexing returning uint8 RGB frames (H, W, 3) or
        (1, H, W, 3), numpy or torch (continuous index over the videos), e.g.
        :class:`face_rhythm.video.BufferedVideoReader` or an array (T, H, W, 3).
    frameVisualizer : FrameVisualizer
        Draws, displays and/or writes the frames (required). It is closed at the end, as in
        the original: its video file is complete when this function returns.
    points : np.ndarray or list of np.ndarray, optional
        (T, N, 2) (x, y) positions indexed like the reader, or a list of per-video
        (T_v, N, 2) arrays (concatenated in order).
    idx_frames : iterable of int, optional
        Frames to play (default: all).
    progress : bool, optional
        tqdm progress bar (None: only on a terminal).

    Returns
    -------
    int
        Number of frames played.
    """
    if frameVisualizer is None:
        raise VisualizationError("play_video_with_points needs a FrameVisualizer (frameVisualizer=...)")
    n = len(bufferedVideoReader)
    if points is not None and not isinstance(points, np.ndarray):
        points = np.concatenate([np.asarray(p) for p in points], axis=0)
    if points is not None and len(points) != n:
        raise VisualizationError(f"points has {len(points)} frames but the reader has {n}")
    idx = np.arange(n) if idx_frames is None else np.asarray(list(idx_frames), dtype=np.int64)
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise VisualizationError(f"idx_frames out of range for a reader of {n} frames")
    count = 0
    for i in tqdm(idx, disable=None if progress is None else not progress, unit="frame"):
        frameVisualizer.visualize_image_with_points(
            _as_frame(bufferedVideoReader[int(i)]),
            points=None if points is None else np.asarray(points[int(i)]))
        count += 1
    frameVisualizer.close()
    return count
