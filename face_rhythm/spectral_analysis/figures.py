"""Figures of the spectral stage: spectrograms of a few representative points.

matplotlib is imported only where a figure is drawn; figures are ``matplotlib.figure.Figure``
objects (no pyplot, so no GUI backend is ever needed).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from face_rhythm.atomic import atomic_path

from .results import open_spectrogram_file

__all__ = ["plot_point_spectrograms", "representative_points", "save_spectrogram_figure"]


def representative_points(point_power: np.ndarray, n: int = 3) -> np.ndarray:
    """Indices of ``n`` points spanning the motion: the strongest, then lower quantiles.

    Parameters
    ----------
    point_power : (2, N) or (N,) array
        Spectral power per (x/y,) point; x and y are summed.
    n : int
        Number of points (at most N).

    Returns
    -------
    (n,) int array
        Distinct point indices at power quantiles 1.0, 0.9, 0.5, then evenly below.
    """
    p = np.asarray(point_power, dtype=np.float64)
    p = p.sum(axis=0) if p.ndim == 2 else p
    order = np.argsort(p, kind="stable")[::-1]  # strongest first
    n = int(min(max(n, 1), len(p)))
    qs = [0.0, 0.1, 0.5] + list(np.linspace(0.6, 1.0, max(0, n - 3) + 1, endpoint=False)[1:])
    out: list[int] = []
    for q in qs:
        i = int(order[min(len(p) - 1, round(q * (len(p) - 1)))])
        if i not in out:
            out.append(i)
    for i in order:  # fill up if quantiles collided
        if len(out) >= n:
            break
        if int(i) not in out:
            out.append(int(i))
    return np.asarray(out[:n], dtype=np.int64)


def _edges_geometric(f: np.ndarray) -> np.ndarray:
    """Bin edges (F + 1,) around log-spaced centres (geometric midpoints)."""
    f = np.asarray(f, dtype=np.float64)
    if len(f) == 1:
        return np.array([f[0] / 1.1, f[0] * 1.1])
    mid = np.sqrt(f[:-1] * f[1:])
    return np.concatenate([[f[0] ** 2 / mid[0]], mid, [f[-1] ** 2 / mid[-1]]])


def _edges_linear(t: np.ndarray, default_step: float = 1.0) -> np.ndarray:
    """Bin edges (T + 1,) around linearly spaced centres."""
    t = np.asarray(t, dtype=np.float64)
    if len(t) == 1:
        return np.array([t[0] - default_step / 2, t[0] + default_step / 2])
    mid = (t[:-1] + t[1:]) / 2
    return np.concatenate([[2 * t[0] - mid[0]], mid, [2 * t[-1] - mid[-1]]])


def _log_index(values: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Fractional bin index of ``values`` (Hz) on the log-spaced bins ``freqs``."""
    f = np.log(np.asarray(freqs, dtype=np.float64))
    if len(f) == 1:
        return np.zeros(len(values))
    return np.interp(np.log(values), f, np.arange(len(f)), left=np.nan, right=np.nan)


def plot_point_spectrograms(spec: np.ndarray, freqs: np.ndarray, x_axis_seconds: np.ndarray,
                            point_indices: Iterable[int] | None = None,
                            point_positions: np.ndarray | None = None,
                            title: str | None = None):
    """Figure of x and y spectrograms of a few points (log-frequency axis in Hz).

    Each spectrogram is drawn as an image with one row per frequency bin (the bins are
    log-spaced, so the rows are evenly spaced on a log axis); the frequency ticks sit at
    powers of two, placed by interpolating log frequency between bins. The margins are fixed
    (no layout engine: it took half the time of the figure).

    Parameters
    ----------
    spec : (2, n, F, T) array
        Spectrograms of the points to show (magnitude is plotted for complex input).
    freqs : (F,) Hz
    x_axis_seconds : (T,) s
    point_indices : n ints, optional
        Labels (index into the full point list).
    point_positions : (n, 2), optional
        Home positions (x, y) in px, for labels.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    spec = np.abs(np.asarray(spec))
    if spec.ndim == 3:
        spec = spec[:, None]
    n, n_freqs = spec.shape[1], spec.shape[2]
    idx = list(point_indices) if point_indices is not None else list(range(n))
    te = _edges_linear(x_axis_seconds)
    fe = _edges_geometric(freqs)
    height = 1.0 + 2.2 * n + (0.3 if title else 0.0)
    fig = Figure(figsize=(10, height))
    top = 1 - (0.35 + (0.3 if title else 0.0)) / height
    bottom = 0.55 / height
    fig.subplots_adjust(left=0.08, right=0.86, bottom=bottom, top=top, wspace=0.08,
                        hspace=0.3)
    axs = fig.subplots(n, 2, sharex=True, sharey=True, squeeze=False)
    vmax = float(np.percentile(spec, 99.5)) if spec.size else 1.0
    ticks = [t for t in 2.0 ** np.arange(-4, 12) if fe[0] <= t <= fe[-1]] or list(freqs[[0, -1]])
    tick_rows = _log_index(np.asarray(ticks, dtype=np.float64), freqs)
    keep = np.isfinite(tick_rows)
    for i in range(n):
        for c, name in enumerate(("x", "y")):
            ax = axs[i, c]
            image = ax.imshow(spec[c, i], cmap="magma", vmin=0,
                              vmax=vmax if vmax > 0 else None, origin="lower",
                              aspect="auto", interpolation="nearest",
                              extent=(te[0], te[-1], -0.5, n_freqs - 0.5))
            ax.set_yticks(tick_rows[keep], [f"{t:g}" for t, k in zip(ticks, keep) if k])
            label = f"point {idx[i]}"
            if point_positions is not None:
                px, py = np.asarray(point_positions)[i]
                label += f" ({px:.0f}, {py:.0f}) px"
            ax.set_title(f"{label}: {name} displacement", fontsize=9)
            if c == 0:
                ax.set_ylabel("frequency (Hz)")
            if i == n - 1:
                ax.set_xlabel("time (s)")
    cax = fig.add_axes((0.88, bottom, 0.015, top - bottom))
    fig.colorbar(image, cax=cax, label="normalised magnitude")
    if title:
        fig.suptitle(title)
    return fig


def save_spectrogram_figure(spectrogram_path: str | os.PathLike,
                            figure_path: str | os.PathLike, point_power: np.ndarray,
                            n_points: int = 3, title: str | None = None) -> Path:
    """PNG of the spectrograms of ``n_points`` representative points of a spectrogram.h5.

    Parameters
    ----------
    spectrogram_path : path-like
        The file :func:`~.results.write_spectrogram_h5` wrote (only the chosen points are
        read).
    figure_path : path-like
        Destination PNG (written atomically, 100 dpi).
    point_power : (2, N) array
        Power per row (``SpectrogramSummary.point_power``), to choose the points
        (:func:`representative_points`).
    n_points : int
    title : str, optional

    Returns
    -------
    Path
        ``figure_path``.
    """
    idx = representative_points(point_power, n_points)
    with open_spectrogram_file(spectrogram_path) as sf:
        spec = np.stack([sf.spectrograms[:, int(i)] for i in idx], axis=1)
        home_sel = None if sf.point_positions is None else sf.point_positions[idx]
        fig = plot_point_spectrograms(spec, sf.frequencies, sf.x_axis_seconds,
                                      point_indices=idx, point_positions=home_sel, title=title)
    figure_path = Path(figure_path)
    with atomic_path(figure_path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return figure_path
