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


def plot_point_spectrograms(spec: np.ndarray, freqs: np.ndarray, x_axis_seconds: np.ndarray,
                            point_indices: Iterable[int] | None = None,
                            point_positions: np.ndarray | None = None,
                            title: str | None = None):
    """Figure of x and y spectrograms of a few points (log-frequency axis in Hz).

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
    from matplotlib.ticker import NullFormatter

    spec = np.abs(np.asarray(spec))
    if spec.ndim == 3:
        spec = spec[:, None]
    n = spec.shape[1]
    idx = list(point_indices) if point_indices is not None else list(range(n))
    fe = _edges_geometric(freqs)
    te = _edges_linear(x_axis_seconds)
    fig = Figure(figsize=(10, 1.0 + 2.2 * n), layout="constrained")
    axs = fig.subplots(n, 2, sharex=True, sharey=True, squeeze=False)
    vmax = float(np.percentile(spec, 99.5)) if spec.size else 1.0
    ticks = [t for t in 2.0 ** np.arange(-4, 12) if fe[0] <= t <= fe[-1]] or list(freqs[[0, -1]])
    for i in range(n):
        for c, name in enumerate(("x", "y")):
            ax = axs[i, c]
            mesh = ax.pcolormesh(te, fe, spec[c, i], cmap="magma", vmin=0,
                                 vmax=vmax if vmax > 0 else None, shading="flat")
            ax.set_yscale("log")
            ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
            ax.yaxis.set_minor_formatter(NullFormatter())
            label = f"point {idx[i]}"
            if point_positions is not None:
                px, py = np.asarray(point_positions)[i]
                label += f" ({px:.0f}, {py:.0f}) px"
            ax.set_title(f"{label}: {name} displacement", fontsize=9)
            if c == 0:
                ax.set_ylabel("frequency (Hz)")
            if i == n - 1:
                ax.set_xlabel("time (s)")
    fig.colorbar(mesh, ax=axs, shrink=0.8, label="normalised magnitude")
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
