"""Drawing on frames: points (sub-pixel, anti-aliased circles) and text, in RGB.

Frames are RGB ``uint8`` (H, W, 3) (grayscale (H, W) is converted); colours are RGB triples
or names from :data:`~face_rhythm.visualization.style.COLOR_NAMES`. Conversion to OpenCV's
BGR happens only where frames leave the package (video writer, ``cv2.imshow``).
:func:`violations_to_dense` turns ``tracking.h5``'s sparse violation flags into the dense
(frames, points) mask the drawings use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from ..errors import VisualizationError
from .style import COLOR_NAMES, TRACKED_COLOR

__all__ = ["as_rgb_image", "draw_points", "draw_text", "rgb", "violations_to_dense"]


def rgb(color: Any, what: str = "colour") -> tuple[int, int, int]:
    """An RGB triple of ints in [0, 255] from a colour name or 3 values."""
    if isinstance(color, str):
        try:
            return COLOR_NAMES[color.lower()]
        except KeyError:
            raise VisualizationError(f"unknown {what} name {color!r}; use one of "
                                     f"{sorted(COLOR_NAMES)} or an (r, g, b) tuple") from None
    c = np.asarray(color).ravel()
    if c.size != 3 or np.any(c < 0) or np.any(c > 255):
        raise VisualizationError(f"{what} must be 3 values in [0, 255], got {color!r}")
    return tuple(int(v) for v in c)  # type: ignore[return-value]


def as_rgb_image(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB view or copy of a (H, W), (H, W, 1) or (H, W, 3) uint8 image."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise VisualizationError(f"image must be uint8, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        return cv2.cvtColor(image[..., 0], cv2.COLOR_GRAY2RGB)
    raise VisualizationError(f"image must be (H, W) or (H, W, 3), got shape {image.shape}")


_SHIFT = 4  # sub-pixel bits for cv2.circle: centres are drawn at 1/16 px


def draw_points(image: np.ndarray, points: np.ndarray, colors: Any = TRACKED_COLOR,
                radius: int = 2, thickness: int = -1, alpha: float = 1.0,
                in_place: bool = False) -> np.ndarray:
    """Draw filled circles at ``points`` on an RGB image.

    Parameters
    ----------
    image : np.ndarray
        (H, W, 3) uint8 RGB, or (H, W) grayscale (converted to RGB).
    points : np.ndarray
        (N, 2) (x, y) pixel coordinates, float or int; NaN rows are skipped. Points outside
        the image are clamped to its border.
    colors : tuple, str or np.ndarray
        One RGB colour for all points, or (N, 3) per-point colours.
    radius : int
        Circle radius in pixels.
    thickness : int
        -1 fills the circle, a positive value draws a ring of that width.
    alpha : float
        Opacity in (0, 1]; values below 1 blend a drawn copy with the image (slower).
    in_place : bool
        Draw into ``image`` itself (must be RGB uint8 and contiguous).

    Returns
    -------
    np.ndarray
        (H, W, 3) uint8 RGB image with the points drawn.
    """
    out = image if in_place else as_rgb_image(image).copy()
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if not 0 < alpha <= 1:
        raise VisualizationError(f"alpha must be in (0, 1], got {alpha}")
    h, w = out.shape[:2]
    per_point = isinstance(colors, np.ndarray) and colors.ndim == 2
    if per_point:
        if colors.shape != (len(pts), 3):
            raise VisualizationError(f"per-point colours must be ({len(pts)}, 3), got "
                                     f"{colors.shape}")
        cols = [tuple(int(v) for v in c) for c in colors]
    else:
        one = rgb(colors)
    canvas = out.copy() if alpha < 1 else out
    ok = np.isfinite(pts).all(axis=1)
    pts_c = np.empty_like(pts)
    pts_c[:, 0] = np.clip(pts[:, 0], 0, w - 1)
    pts_c[:, 1] = np.clip(pts[:, 1], 0, h - 1)
    fixed = np.round(np.where(ok[:, None], pts_c, 0.0) * (1 << _SHIFT)).astype(np.int64)
    r = int(radius) << _SHIFT
    for i in np.flatnonzero(ok):
        cv2.circle(canvas, (int(fixed[i, 0]), int(fixed[i, 1])), r,
                   cols[i] if per_point else one, int(thickness), cv2.LINE_AA, _SHIFT)
    if alpha < 1:
        cv2.addWeighted(canvas, alpha, out, 1 - alpha, 0, dst=out)
    return out


def draw_text(image: np.ndarray, text: str, position: tuple[float, float] = (5, 15),
              color: Any = "white", scale: float = 0.5, thickness: int = 1,
              background: bool = True, in_place: bool = False) -> np.ndarray:
    """Write one line of text on an RGB image (``position`` = (x, y) of the baseline start).

    ``background`` fills a black box under the text so it reads on any background.
    """
    out = image if in_place else as_rgb_image(image).copy()
    org = (round(position[0]), round(position[1]))
    font = cv2.FONT_HERSHEY_SIMPLEX
    if background:
        (tw, th), base = cv2.getTextSize(str(text), font, scale, int(thickness))
        cv2.rectangle(out, (org[0] - 2, org[1] - th - 2), (org[0] + tw + 2, org[1] + base),
                      (0, 0, 0), -1)
    cv2.putText(out, str(text), org, font, scale, rgb(color, "text colour"), int(thickness),
                cv2.LINE_AA)
    return out


def _shape_error(shape: tuple, n_frames: int, n_points: int) -> VisualizationError:
    return VisualizationError(f"violations shape {shape} does not match the tracked points "
                              f"({n_frames} frames, {n_points} points)")


def violations_to_dense(violations: Any, n_frames: int, n_points: int) -> np.ndarray:
    """Violation flags as a dense (n_frames, n_points) bool array.

    Parameters
    ----------
    violations : scipy.sparse array, mapping, np.ndarray or None
        A sparse (frames x points) array (``TrackingFile.violations`` of
        :func:`face_rhythm.point_tracking.read_tracking_file`), the ``violations`` group of
        ``tracking.h5`` as a dict with ``row`` (frame), ``col`` (point), ``data`` and
        ``shape`` (sparse COO), a dense (n_frames, n_points) array, or None (no violations).
    n_frames, n_points : int
        Expected shape.
    """
    if violations is None:
        return np.zeros((n_frames, n_points), dtype=bool)
    if hasattr(violations, "tocoo"):  # scipy.sparse array or matrix
        coo = violations.tocoo()
        violations = {"row": coo.row, "col": coo.col, "data": coo.data, "shape": coo.shape}
    if isinstance(violations, Mapping):
        shape = tuple(int(s) for s in np.asarray(violations["shape"]).ravel())
        if shape != (n_frames, n_points):
            raise _shape_error(shape, n_frames, n_points)
        dense = np.zeros(shape, dtype=bool)
        row = np.asarray(violations["row"], dtype=np.int64)
        col = np.asarray(violations["col"], dtype=np.int64)
        data = np.asarray(violations.get("data", np.ones(len(row))), dtype=bool)
        dense[row[data], col[data]] = True
        return dense
    dense = np.asarray(violations, dtype=bool)
    if dense.shape != (n_frames, n_points):
        raise _shape_error(dense.shape, n_frames, n_points)
    return dense
