"""ROI figures: outlines and grid points over a frame.

:func:`plot_rois` draws a matplotlib figure (the notebook door); :func:`rois_image` draws
the same picture straight into the pixels with OpenCV and :func:`save_rois_png` writes it,
which is what the workflow's light jobs use (no matplotlib import: about 1.5 s less per job).
Both are imported where drawn.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from .roiset import RoiSet

__all__ = ["plot_rois", "rois_image", "save_figure", "save_rois_png"]

_COLOURS = ("#ff595e", "#1982c4", "#8ac926", "#ffca3a", "#6a4c93", "#ff924c", "#52d1dc")
_POINT_COLOUR = "#00e5ff"


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _roi_points(roiset: RoiSet) -> np.ndarray:
    try:
        return roiset.points()
    except ValueError:  # no points (e.g. a spacing larger than the ROIs)
        return np.zeros((0, 2), np.float32)


def plot_rois(image: np.ndarray | None, roiset: RoiSet, ax=None, show_points: bool = True,
              **kwargs_imshow):
    """Draw ROI outlines and grid points over a frame.

    Parameters
    ----------
    image : np.ndarray or None
        (H, W) or (H, W, 3) frame; None draws on a blank frame of the ROI frame size.
    roiset : RoiSet
    ax : matplotlib Axes, optional
        Axes to draw into; a new Figure (not registered with pyplot) is made otherwise.
    show_points : bool
        Scatter the points (skipped silently when there are none).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    h, w = roiset.frame_height_width
    if ax is None:
        fig = Figure(figsize=(8, 8 * h / w), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    if image is None:
        image = np.zeros((h, w), dtype=np.uint8)
    image = np.asarray(image)
    kw = {"cmap": "gray"} if image.ndim == 2 else {}
    kw.update(kwargs_imshow)
    ax.imshow(image, **kw)
    for i, (name, v) in enumerate(roiset.polygons.items()):
        c = _COLOURS[i % len(_COLOURS)]
        closed = np.vstack([v, v[:1]])
        ax.plot(closed[:, 0], closed[:, 1], "-", color=c, lw=1.5, label=name)
    if show_points:
        pts = _roi_points(roiset)
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], s=12, c=_POINT_COLOUR, edgecolors="k", linewidths=0.4,
                       label=f"{len(pts)} points")
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_axis_off()
    ax.legend(loc="upper right", fontsize="small", framealpha=0.6)
    return fig


def rois_image(image: np.ndarray | None, roiset: RoiSet, show_points: bool = True,
               min_width: int = 960) -> np.ndarray:
    """ROI outlines, grid points and a legend drawn into a copy of a frame (OpenCV).

    Parameters
    ----------
    image : (H, W) or (H, W, 3) uint8 array, or None
        The frame (RGB if colour); None draws on a black frame of the ROI frame size.
    roiset : RoiSet
    show_points : bool
        Draw the points (none drawn when there are none).
    min_width : int
        Frames narrower than this are enlarged (nearest pixel) so that the lines and the
        legend stay legible.

    Returns
    -------
    (H', W', 3) uint8 RGB array
        ``H' / H = W' / W`` = the enlargement (1 for frames at least ``min_width`` wide).
    """
    import cv2

    h, w = roiset.frame_height_width
    img = np.zeros((h, w), np.uint8) if image is None else np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB) if img.ndim == 2 else img[..., :3].copy()
    scale = max(1, int(np.ceil(min_width / max(img.shape[1], 1))))
    if scale > 1:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    shift = 4  # sub-pixel bits
    legend = []
    for i, (name, v) in enumerate(roiset.polygons.items()):
        c = _rgb(_COLOURS[i % len(_COLOURS)])
        xy = np.round((np.asarray(v, np.float64) + 0.5) * scale * (1 << shift)).astype(np.int32)
        cv2.polylines(img, [xy.reshape(-1, 1, 2)], True, c, 2, cv2.LINE_AA, shift)
        legend.append((str(name), c))
    pts = _roi_points(roiset) if show_points else np.zeros((0, 2), np.float32)
    for x, y in np.round((np.asarray(pts, np.float64) + 0.5) * scale
                         * (1 << shift)).astype(np.int64):
        cv2.circle(img, (int(x), int(y)), 3 << shift, _rgb(_POINT_COLOUR), -1, cv2.LINE_AA,
                   shift)
        cv2.circle(img, (int(x), int(y)), 3 << shift, (0, 0, 0), 1, cv2.LINE_AA, shift)
    if len(pts):
        legend.append((f"{len(pts)} points", _rgb(_POINT_COLOUR)))
    font, fs = cv2.FONT_HERSHEY_SIMPLEX, 0.6
    for j, (text, c) in enumerate(legend):
        (tw, th), _ = cv2.getTextSize(text, font, fs, 1)
        x0, y0 = img.shape[1] - tw - 12, 22 + 24 * j
        cv2.rectangle(img, (x0 - 6, y0 - th - 6), (x0 + tw + 6, y0 + 6), (0, 0, 0), -1)
        cv2.putText(img, text, (x0, y0), font, fs, c, 1, cv2.LINE_AA)
    return img


def save_rois_png(image: np.ndarray | None, roiset: RoiSet, path: str | os.PathLike) -> Path:
    """Write :func:`rois_image` as a PNG atomically. Returns ``path``."""
    import cv2

    path = Path(path)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rois_image(image, roiset), cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        raise OSError(f"{path}: OpenCV could not encode the ROI figure")
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buf.tobytes())
    return path


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write a figure as PNG atomically (tight bounding box). Returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return path
