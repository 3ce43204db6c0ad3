"""The report's figures about tracking: contact sheets and displacement/violation traces.

Figures are pyplot-free ``matplotlib.figure.Figure`` objects in the workflow style
(:mod:`face_rhythm.visualization.style`); save them with
:func:`~face_rhythm.visualization.style.save_figure`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import VisualizationError
from .style import TRACKED_COLOR, VIOLATION_COLOR, figure_style, new_figure

__all__ = ["contact_sheet_indices", "plot_colorwheel_figure", "plot_contact_sheet",
           "plot_tracking_summary"]


def contact_sheet_indices(n_frames: int, n_show: int = 6,
                          violations: np.ndarray | None = None) -> np.ndarray:
    """``n_show`` frame indices spread evenly over ``range(n_frames)`` (first and last incl.).

    With ``violations`` ((n_frames, N) bool) that flag anything, the frame with the most
    flagged points replaces the nearest of the inner evenly spaced frames, so the sheet shows
    the worst moment of the tracking.
    """
    if n_frames < 1:
        raise VisualizationError(f"n_frames must be >= 1, got {n_frames}")
    n = max(1, min(int(n_show), n_frames))
    idx = np.unique(np.round(np.linspace(0, n_frames - 1, n)).astype(np.int64))
    if violations is not None and np.any(violations) and len(idx) > 2:
        counts = np.asarray(violations, bool).reshape(n_frames, -1).sum(axis=1)
        worst = int(np.argmax(counts))
        if worst not in idx:
            inner = np.arange(1, len(idx) - 1)
            idx[inner[np.argmin(np.abs(idx[inner] - worst))]] = worst
            idx = np.sort(idx)
    return idx


def plot_contact_sheet(frames: np.ndarray, indices: Sequence[int], points: np.ndarray,
                       frame_rate: float, violations: np.ndarray | None = None,
                       ncols: int = 3, point_size: float = 6.0, title: str | None = None):
    """A grid of frames with their tracked points, titled with frame index and time.

    Parameters
    ----------
    frames : np.ndarray
        (n, H, W) or (n, H, W, 3) uint8: the frames at ``indices``.
    indices : sequence of int
        Frame indices of ``frames`` (for the titles).
    points : np.ndarray
        (n, N, 2) (x, y) positions in those frames.
    frame_rate : float
        Hz, for the time in the titles.
    violations : np.ndarray, optional
        (n, N) bool: points flagged as violating in those frames (drawn in magenta).
    ncols : int
        Columns of the grid.
    point_size : float
        Marker area in points^2.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    frames = np.asarray(frames)
    n = len(frames)
    if n == 0 or len(indices) != n or len(points) != n:
        raise VisualizationError(f"contact sheet needs as many frames ({n}), indices ({len(indices)}) "
                         f"and point sets ({len(points)}), at least one")
    h, w = frames.shape[1:3]
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = new_figure(nrows, ncols, width_in=3.0 * ncols,
                           height_in=3.0 * nrows * h / w + (0.5 if title else 0.3))
    tracked = np.array(TRACKED_COLOR) / 255
    violet = np.array(VIOLATION_COLOR) / 255
    with figure_style():
        for k, ax in enumerate(axes.ravel()):
            ax.set_axis_off()
            if k >= n:
                continue
            img = frames[k]
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
            p = np.asarray(points[k])
            bad = (np.zeros(len(p), bool) if violations is None
                   else np.asarray(violations[k], bool))
            ax.scatter(p[~bad, 0], p[~bad, 1], s=point_size, c=[tracked], linewidths=0)
            if bad.any():
                ax.scatter(p[bad, 0], p[bad, 1], s=point_size, c=[violet], linewidths=0)
            ax.set_xlim(-0.5, w - 0.5)
            ax.set_ylim(h - 0.5, -0.5)
            ax.set_title(f"frame {int(indices[k])}, t = {int(indices[k]) / frame_rate:.2f} s")
        if title:
            fig.suptitle(title)
    return fig


def plot_tracking_summary(points_tracked: np.ndarray, frame_rate: float,
                          violations: np.ndarray | None = None, title: str | None = None):
    """Displacement of the tracked points over time, and where violations happened.

    Top: median over points of the x and y displacement from the first frame (px), with the
    10-90 % band across points. Bottom: violation raster (points x time) when there were
    any, else a note that there were none.

    Parameters
    ----------
    points_tracked : np.ndarray
        (T, N, 2) (x, y) px.
    frame_rate : float
        Hz.
    violations : np.ndarray, optional
        (T, N) bool.

    Returns
    -------
    matplotlib.figure.Figure
    """
    pts = np.asarray(points_tracked, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[2] != 2 or pts.shape[0] < 1:
        raise VisualizationError(f"points_tracked must be (T, N, 2), got shape {pts.shape}")
    t = np.arange(pts.shape[0]) / frame_rate
    disp = pts - pts[:1]
    fig, axes = new_figure(2, 1, width_in=7.0, height_in=4.5, sharex=True)
    with figure_style():
        ax = axes[0, 0]
        for d, name in enumerate(("x", "y")):
            lo, med, hi = np.nanpercentile(disp[:, :, d], [10, 50, 90], axis=1)
            line, = ax.plot(t, med, lw=0.8, label=f"{name} (median)")
            ax.fill_between(t, lo, hi, color=line.get_color(), alpha=0.25, lw=0,
                            label=f"{name} (10-90 %)")
        ax.set_ylabel("displacement from frame 0 (px)")
        ax.legend(ncols=4, loc="lower left", bbox_to_anchor=(0.0, 1.0))
        ax = axes[1, 0]
        if violations is not None and np.any(violations):
            v = np.asarray(violations, bool)
            ax.imshow(v.T, aspect="auto", cmap="Greys", interpolation="nearest",
                      extent=(t[0], t[-1] + 1 / frame_rate, v.shape[1] - 0.5, -0.5))
            frac = v.any(axis=1).mean()
            ax.set_title(f"violations: {frac:.1%} of frames have at least one")
        else:
            ax.text(0.5, 0.5, "no violations", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_ylim(pts.shape[1] - 0.5, -0.5)
            ax.set_title("violations")
        ax.set_ylabel("point index")
        ax.set_xlabel("time (s)")
        if title:
            fig.suptitle(title)
    return fig


def plot_colorwheel_figure(image: np.ndarray, angles: np.ndarray, weights: np.ndarray,
                           colors: np.ndarray):
    """A colour wheel image above the weight of each base colour against angle.

    Parameters
    ----------
    image : np.ndarray
        (L, L, 3) wheel image (see :meth:`~face_rhythm.visualization.Colorwheel.image`).
    angles : np.ndarray
        (n,) angles in radians.
    weights : np.ndarray
        (n, n_colors) weight of each base colour at each angle.
    colors : np.ndarray
        (n_colors, 3) base colours in [0, 1], used to draw their curves.
    """
    fig, axes = new_figure(2, 1, width_in=4.0, height_in=7.0)
    with figure_style():
        axes[0, 0].imshow(image)
        axes[0, 0].set_axis_off()
        ax = axes[1, 0]
        for k in range(weights.shape[1]):
            ax.plot(angles, weights[:, k], color=np.clip(colors[k], 0, 1), lw=1)
        ax.set_xlabel("angle (rad)")
        ax.set_ylabel("weight")
    return fig
