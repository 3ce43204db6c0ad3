"""Image and movie arrays of the original package's helpers: text on frames
(:func:`add_text_to_images`), grayscale to RGB, animated GIFs (:func:`save_gif`, with PIL) and
videos tiled into one (:func:`make_tiled_video_array`).

Frames are RGB (or grayscale) arrays ``(n_frames, H, W[, C])``; colours are RGB.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from face_rhythm.atomic import atomic_path

from ..errors import VisualizationError

logger = logging.getLogger(__name__)

__all__ = ["add_text_to_images", "grayscale_to_rgb", "make_tiled_video_array", "save_gif",
           "text_line_origins"]


def grayscale_to_rgb(array: Any) -> Any:
    """Repeat a grayscale image ``(H, W)`` or movie ``(n, H, W)`` into 3 channels.

    Parameters
    ----------
    array : np.ndarray, torch.Tensor or list of them
        A list is stacked first (along a new first axis).

    Returns
    -------
    np.ndarray or torch.Tensor
        Same type and dtype as the input, shape ``array.shape + (3,)``.
    """
    if isinstance(array, (list, tuple)):
        if not array:
            raise VisualizationError("grayscale_to_rgb: empty list")
        if hasattr(array[0], "detach"):
            import torch

            array = torch.stack(list(array), dim=0)
        else:
            array = np.stack([np.asarray(a) for a in array], axis=0)
    if hasattr(array, "detach"):  # torch.Tensor
        import torch

        return torch.stack([array, array, array], dim=-1)
    array = np.asarray(array)
    return np.stack([array, array, array], axis=-1)


def text_line_origins(lines: Sequence[str], position: tuple[float, float], font: int,
                      font_size: float, line_width: int) -> list[tuple[int, int]]:
    """``cv2.putText`` origins (baseline starts) of ``lines`` whose block's top-left corner is
    at ``position`` (x, y); lines are spaced by the text height plus its baseline plus 2 px."""
    x, y = (int(v) for v in np.round(np.asarray(position, np.float64)))
    out = []
    for line in lines:
        (_, h), base = cv2.getTextSize(str(line), font, font_size, int(line_width))
        out.append((x, y + h))
        y += h + base + 2
    return out


def add_text_to_images(images: np.ndarray, text: Any, position: tuple[int, int] = (10, 10),
                       font_size: float = 1, color: tuple[int, int, int] = (255, 255, 255),
                       line_width: int = 1, font: int | None = None, show: bool = False,
                       frameRate: float = 30) -> np.ndarray:
    """Write lines of text on each frame (a copy) with ``cv2.putText``.

    Parameters
    ----------
    images : np.ndarray
        ``(n_frames, H, W, C)`` (or ``(n_frames, H, W)``) frames.
    text : list of list of str, list of str, or str
        Per frame, the lines drawn on it (``text[i]``: a list of lines or one string);
        one string: the same on every frame.
    position : (x, y)
        Top-left corner of the text block, in pixels.
    font_size : float
        ``fontScale`` of ``cv2.putText``.
    color : (r, g, b)
        Text colour (channel values in the images' order: RGB).
    line_width : int
        Stroke thickness in pixels.
    font : int, optional
        OpenCV font (default ``cv2.FONT_HERSHEY_SIMPLEX``).
    show : bool
        Also play the annotated frames (:func:`~face_rhythm.visualization.play_video_cv2`).
    frameRate : float
        Playback rate in Hz when ``show``.

    Returns
    -------
    np.ndarray
        The annotated copy, same shape and dtype as ``images``.
    """
    out = np.array(images, copy=True)
    if out.ndim not in (3, 4):
        raise VisualizationError(f"add_text_to_images: images must be (n, H, W[, C]), got "
                                 f"{out.shape}")
    if isinstance(text, str):
        text = [[text]] * len(out)
    text = [[t] if isinstance(t, str) else list(t) for t in text]
    if len(text) != len(out):
        raise VisualizationError(f"add_text_to_images: {len(text)} texts for {len(out)} frames")
    font = cv2.FONT_HERSHEY_SIMPLEX if font is None else font
    col = tuple(float(c) for c in np.ravel(color))
    for i, lines in enumerate(text):
        frame = np.ascontiguousarray(out[i])
        for line, org in zip(lines, text_line_origins(lines, position, font, font_size,
                                                      line_width)):
            cv2.putText(frame, str(line), org, font, font_size, col, int(line_width),
                        cv2.LINE_AA)
        out[i] = frame
    if show:
        from .display import play_video_cv2

        play_video_cv2(out, frameRate=frameRate, show=True)
    return out


def save_gif(array: Any, path: str | os.PathLike, frameRate: float = 5.0, loop: int = 0,
             backend: str = "PIL", kwargs_backend: dict | None = None) -> None:
    """Save frames as an animated GIF (written atomically).

    Parameters
    ----------
    array : np.ndarray or list
        ``(n, H, W)`` grayscale or ``(n, H, W, 3)`` RGB frames (a list is stacked). Floating
        values are taken in [0, 1], integers in [0, 255] (both clipped).
    path : path-like
        Output GIF.
    frameRate : float
        Frames per second (each frame lasts ``1000 / frameRate`` ms; GIF stores 10 ms units).
    loop : int
        0 loops forever, ``k >= 1`` plays ``k`` times.
    backend : {"PIL", "imageio"}
        Writer (``imageio`` must be installed for the second).
    kwargs_backend : dict, optional
        Extra arguments of ``PIL.Image.save`` / ``imageio.mimsave``.
    """
    arr = np.stack([np.asarray(a) for a in array]) if isinstance(array, (list, tuple)) \
        else np.asarray(array.detach().cpu() if hasattr(array, "detach") else array)
    if arr.ndim == 3:
        arr = grayscale_to_rgb(arr)
    if arr.ndim != 4 or arr.shape[-1] not in (3, 4) or len(arr) == 0:
        raise VisualizationError(f"save_gif: array must be (n, H, W) or (n, H, W, 3), got "
                                 f"{arr.shape}")
    if np.issubdtype(arr.dtype, np.floating):
        arr = np.round(np.clip(arr, 0, 1) * 255)
    arr = np.clip(arr, 0, 255).astype(np.uint8)
    if not frameRate or frameRate <= 0:
        raise VisualizationError(f"save_gif: frameRate must be positive, got {frameRate}")
    if int(loop) < 0:
        raise VisualizationError(f"save_gif: loop must be >= 0, got {loop}")
    kw = dict(kwargs_backend or {})
    # GIF's loop count is the number of repeats after the first play (absent: play once)
    if int(loop) != 1:
        kw.setdefault("loop", 0 if int(loop) == 0 else int(loop) - 1)
    duration = 1000.0 / float(frameRate)
    path = os.fspath(path)
    with atomic_path(path) as tmp:
        if backend == "PIL":
            from PIL import Image

            frames = [Image.fromarray(f) for f in arr]
            frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                           duration=duration, **kw)
        elif backend == "imageio":
            try:
                import imageio.v3 as iio
            except ImportError:
                raise VisualizationError("save_gif: backend 'imageio' needs the imageio package "
                                         "(pip install imageio); backend 'PIL' needs nothing "
                                         "more") from None
            iio.imwrite(tmp, arr, extension=".gif", duration=duration, **kw)
        else:
            raise VisualizationError(f"save_gif: backend {backend!r} is not 'PIL' or 'imageio'")
    logger.info("wrote %s (%d frames, %.4g frames/s)", path, len(arr), frameRate)


def make_tiled_video_array(videos: Sequence[np.ndarray], shape: tuple[int, int] | None = None,
                           verbose: bool = True) -> np.ndarray:
    """Tile videos into one video: ``videos[k]`` goes to row ``k % n_rows``, column
    ``k // n_rows`` (top to bottom, then left to right).

    Each row is as tall as its tallest video and each column as wide as its widest; a video
    sits in the top-left corner of its cell; the rest (and the frames after a shorter video
    ends) are zeros.

    Parameters
    ----------
    videos : list of np.ndarray
        ``(frames, H, W, C)`` or ``(frames, H, W)`` arrays of one dtype (3-D ones get C = 1;
        all must then have the same C).
    shape : (n_rows, n_cols), optional
        Grid; default ``n_cols = ceil(sqrt(n))``, ``n_rows = ceil(n / n_cols)``.
    verbose : bool
        Log the layout (info level).

    Returns
    -------
    np.ndarray
        ``(max_frames, sum of row heights, sum of column widths, C)``.
    """
    vids = [np.asarray(v) for v in videos]
    if not vids:
        raise VisualizationError("make_tiled_video_array: no videos")
    vids = [v[..., None] if v.ndim == 3 else v for v in vids]
    if any(v.ndim != 4 for v in vids):
        raise VisualizationError(f"make_tiled_video_array: videos must be (frames, H, W[, C]), "
                                 f"got {[v.shape for v in vids]}")
    if len({v.dtype for v in vids}) > 1 or len({v.shape[3] for v in vids}) > 1:
        raise VisualizationError("make_tiled_video_array: videos differ in dtype or channels: "
                                 f"{[(v.dtype.name, v.shape[3]) for v in vids]}")
    n = len(vids)
    if shape is None:
        n_cols = int(np.ceil(np.sqrt(n)))
        shape = (int(np.ceil(n / n_cols)), n_cols)
    n_rows, n_cols = (int(s) for s in shape)
    if n_rows * n_cols < n:
        raise VisualizationError(f"make_tiled_video_array: a {n_rows}x{n_cols} grid cannot "
                                 f"hold {n} videos")
    rows, cols = np.arange(n) % n_rows, np.arange(n) // n_rows
    heights = np.zeros(n_rows, np.int64)
    widths = np.zeros(n_cols, np.int64)
    for v, r, c in zip(vids, rows, cols):
        heights[r] = max(heights[r], v.shape[1])
        widths[c] = max(widths[c], v.shape[2])
    tops = np.concatenate([[0], np.cumsum(heights)])
    lefts = np.concatenate([[0], np.cumsum(widths)])
    out = np.zeros((max(v.shape[0] for v in vids), int(tops[-1]), int(lefts[-1]),
                    vids[0].shape[3]), vids[0].dtype)
    for v, r, c in zip(vids, rows, cols):
        out[:v.shape[0], tops[r]:tops[r] + v.shape[1], lefts[c]:lefts[c] + v.shape[2]] = v
    if verbose:
        logger.info("tiled %d videos in a %dx%d grid -> %s", n, n_rows, n_cols, out.shape)
    return out
