"""ROI figures: outlines and grid points over a frame (matplotlib imported where drawn)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from .roiset import RoiSet

__all__ = ["plot_rois", "save_figure"]

_COLOURS = ("#ff595e", "#1982c4", "#8ac926", "#ffca3a", "#6a4c93", "#ff924c", "#52d1dc")


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
        try:
            pts = roiset.points()
        except ValueError:
            pts = np.zeros((0, 2), np.float32)
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], s=12, c="#00e5ff", edgecolors="k", linewidths=0.4,
                       label=f"{len(pts)} points")
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_axis_off()
    ax.legend(loc="upper right", fontsize="small", framealpha=0.6)
    return fig


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write a figure as PNG atomically (tight bounding box). Returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return path
