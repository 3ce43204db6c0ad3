"""Figures of a decomposition: one per component (x/y spatial maps, frequency profile, time
courses) and the EVR bar chart. matplotlib is imported inside the functions that draw."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from face_rhythm.errors import TCAError

from .results import TCAFile

__all__ = ["figure_workers", "hz_ticks", "plot_component", "plot_evr", "save_tca_figures",
           "use_headless_backend"]


def hz_ticks(f_min: float, f_max: float) -> np.ndarray:
    """A few readable tick positions (Hz) for a log frequency axis from ``f_min`` to ``f_max``.

    Powers of two (..., 0.25, 0.5, 1, 2, 4, 8, 16, 32, ...) inside the range; when fewer than
    two fall inside (a narrow range), three values spread evenly on the log scale, rounded to
    two significant digits.
    """
    f_min, f_max = float(min(f_min, f_max)), float(max(f_min, f_max))
    if not (np.isfinite(f_min) and np.isfinite(f_max)) or f_max <= 0:
        raise TCAError(f"frequency range ({f_min}, {f_max}) Hz is not a positive range")
    f_min = max(f_min, f_max * 1e-6)
    k = np.arange(np.floor(np.log2(f_min)), np.ceil(np.log2(f_max)) + 1)
    ticks = 2.0 ** k
    eps = 1e-9 * f_max
    ticks = ticks[(ticks >= f_min - eps) & (ticks <= f_max + eps)]
    if ticks.size < 2:
        g = np.geomspace(f_min, f_max, 3)
        ticks = np.unique([float(f"{v:.2g}") for v in g])
    return ticks


def _log_hz_axis(ax, frequencies: np.ndarray) -> None:
    """Log x axis in Hz with :func:`hz_ticks` labels in plain numbers, minor labels off."""
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    f = np.asarray(frequencies, dtype=np.float64)
    f = f[np.isfinite(f) & (f > 0)]
    ax.set_xscale("log")
    if f.size == 0:
        return
    fmt = ScalarFormatter()
    fmt.set_scientific(False)
    fmt.set_useOffset(False)
    ax.xaxis.set_major_locator(FixedLocator(hz_ticks(f.min(), f.max())))
    ax.xaxis.set_major_formatter(fmt)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(f.min() / 1.05, f.max() * 1.05)


def plot_component(example_frame: np.ndarray | None, point_positions: np.ndarray,
                   points_xy: np.ndarray, frequencies: np.ndarray, freq_factor: np.ndarray,
                   time_courses: Sequence[tuple[str, np.ndarray, np.ndarray]],
                   title: str = ""):
    """Figure of one component: x and y spatial maps, frequency profile, time courses.

    Layout: the x and y maps side by side with one horizontal colour bar under them, the
    frequency profile on a log axis with ticks at powers of two (Hz), then one time-course
    panel per video (more than 6 videos: one panel, videos end to end).

    Parameters
    ----------
    example_frame : (H, W) uint8 or None
        Drawn in grey under the points.
    point_positions : (N, 2) (x, y) px
    points_xy : (2, N)
        Loading of each point's x and y motion.
    frequencies : (F,) Hz
    freq_factor : (F,)
    time_courses : list of (label, times (T_v,) s, values (T_v,))
        One per video.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    return _ComponentFigure(example_frame, point_positions, points_xy, frequencies,
                            freq_factor, time_courses, title).fig


def _map_colours(pxy: np.ndarray) -> tuple[str, float, float]:
    """(colour map, vmin, vmax) of the spatial maps: diverging when a loading is negative."""
    vmax = float(np.max(np.abs(pxy))) or 1.0
    return ("RdBu_r", -vmax, vmax) if bool(np.min(pxy) < 0) else ("magma", 0.0, vmax)


class _ComponentFigure:
    """A :func:`plot_component` figure that keeps its artists, so that the figure of the next
    component of the same decomposition (same frame, points, frequencies, time axes) is drawn
    by changing their data (:meth:`update`) instead of building a new figure: the same pixels
    (tested), without the ~0.1 s of building the axes each time."""

    def __init__(self, example_frame, point_positions, points_xy, frequencies, freq_factor,
                 time_courses, title):
        import matplotlib.pyplot as plt

        pts = np.asarray(point_positions, dtype=np.float64)
        pxy = np.asarray(points_xy, dtype=np.float64)
        n_t = len(time_courses)
        one_axis = n_t > 6
        n_rows_t = 1 if one_axis else max(n_t, 1)
        height = 4.6 + 1.3 * n_rows_t
        # fixed margins (in inches, converted to figure fractions) instead of a layout engine:
        # constrained layout took 40% of the time of a component figure (bench_demo)
        fig = plt.figure(figsize=(12, height))
        gs = fig.add_gridspec(1 + n_rows_t, 3, height_ratios=[3.4] + [1] * n_rows_t,
                              left=0.06, right=0.985, bottom=0.5 / height,
                              top=1 - (0.75 if title else 0.45) / height, wspace=0.22,
                              hspace=0.45)
        cmap, vmin, vmax = _map_colours(pxy)
        self.maps, map_axes = [], []
        for j, lab in enumerate(("x", "y")):
            ax = fig.add_subplot(gs[0, j])
            if example_frame is not None:
                ax.imshow(example_frame, cmap="gray", interpolation="nearest")
            sc = ax.scatter(pts[:, 0], pts[:, 1], c=pxy[j], s=14, cmap=cmap, vmin=vmin,
                            vmax=vmax, edgecolors="none")
            if example_frame is None:
                ax.invert_yaxis()
                ax.set_aspect("equal")
            ax.set_title(f"{lab} motion")
            ax.set_xticks([])
            ax.set_yticks([])
            map_axes.append(ax)
            self.maps.append(sc)
        fig.colorbar(sc, ax=map_axes, location="bottom", shrink=0.6, aspect=35, pad=0.02,
                     label="spatial loading (unit-norm factor)")
        ax = fig.add_subplot(gs[0, 2])
        (self.freq_line,) = ax.plot(frequencies, freq_factor, "o-", ms=3)
        _log_hz_axis(ax, frequencies)
        ax.set_xlabel("frequency (Hz)")
        ax.set_ylabel("frequency loading")
        ax.set_title("frequency profile")
        ax.grid(True, which="major", color="0.9", lw=0.6)
        self.freq_ax = ax
        label_box = {"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1}
        self.time_lines, self.time_axes = [], []
        if one_axis:
            ax = fig.add_subplot(gs[1, :])
            offset = 0.0
            for label, t, v in time_courses:
                t = np.asarray(t, dtype=np.float64)
                self.time_lines.append(ax.plot(t - t[0] + offset, v, lw=1)[0])
                ax.axvline(offset, color="0.7", lw=0.5)
                ax.text(offset, 0.97, f" {label}", transform=ax.get_xaxis_transform(),
                        fontsize=7, va="top", bbox=label_box)
                offset += (t[-1] - t[0]) + (t[1] - t[0] if t.size > 1 else 1.0)
            ax.set_xlabel("time (s), videos end to end")
            ax.set_ylabel("loading")
            self.time_axes.append(ax)
        else:
            for i, (label, t, v) in enumerate(time_courses):
                ax = fig.add_subplot(gs[1 + i, :])
                self.time_lines.append(ax.plot(t, v, lw=1)[0])
                ax.text(0.005, 0.95, label, transform=ax.transAxes, fontsize=8, va="top",
                        bbox=label_box)
                ax.set_ylabel("loading", fontsize=8)
                ax.margins(x=0.005)
                if i == n_t - 1:
                    ax.set_xlabel("time (s)")
                self.time_axes.append(ax)
        self.title = fig.suptitle(title) if title else None
        self.fig = fig

    def update(self, points_xy, freq_factor, time_courses, title) -> None:
        """The figure of another component: new loadings, time courses and title (which is
        empty exactly when the first one was: the margins depend on it)."""
        if bool(title) != (self.title is not None):
            raise TCAError("a component figure with a title cannot be updated to one without "
                           "(or back): draw a new one")
        pxy = np.asarray(points_xy, dtype=np.float64)
        cmap, vmin, vmax = _map_colours(pxy)
        for sc, values in zip(self.maps, pxy):
            sc.set_array(values)
            sc.set_cmap(cmap)
            sc.set_clim(vmin, vmax)
        self.freq_line.set_ydata(freq_factor)
        lines = zip(self.time_lines, time_courses, strict=True)
        for line, (_, _, v) in lines:
            line.set_ydata(v)
        for ax in (self.freq_ax, *self.time_axes):
            ax.relim()
            ax.autoscale_view()
        if self.title is not None:
            self.title.set_text(title)


def plot_evr(evr: np.ndarray, evr_total: float, title: str = ""):
    """Bar chart of the EVR of each component, with the total reconstruction EVR."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2), layout="constrained")
    ax.bar(np.arange(1, len(evr) + 1), evr, color="C0")
    ax.set_xlabel("component")
    ax.set_ylabel("explained variance ratio")
    ax.set_xticks(np.arange(1, len(evr) + 1))
    ax.set_title(f"{title} total EVR {evr_total:.3f}".strip())
    return fig


def use_headless_backend() -> None:
    """Draw with matplotlib's Agg backend (no display): for the workflow, before any figure."""
    import matplotlib

    matplotlib.use("Agg")


#: zlib level of the component PNGs: 3 writes them 20% faster than PIL's default 6
#: (0.18 against 0.22 s a figure), for files 5% larger
PNG_COMPRESS_LEVEL = 3


def _render_evr(path: Path, dpi: int, evr: np.ndarray, evr_total: float) -> None:
    """Draw the EVR bar chart (:func:`plot_evr`) and save it as PNG."""
    import matplotlib.pyplot as plt

    fig = plot_evr(evr, evr_total)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def _in_worker(fn, *args) -> None:
    """``fn(*args)`` in a drawing process: matplotlib's Agg backend first (a process of ours,
    so switching its backend touches no user's session)."""
    use_headless_backend()
    fn(*args)


def _warm_up() -> None:
    """Import pyplot and load the fonts (what a drawing process's first figure would wait
    for), by drawing a tiny figure."""
    use_headless_backend()
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(2, 1))
    fig.text(0.1, 0.5, "component 1 (EVR 0.5) frequency (Hz)")
    fig.canvas.draw()
    plt.close(fig)


@contextlib.contextmanager
def figure_workers(n_workers: int) -> Iterator[Executor | None]:
    """Processes to draw figures in, forked now and warmed up in the background.

    For a caller that forks them before a long computation and draws after it
    (:func:`~.stage.tca_stage` forks them before the fit): their import of matplotlib and
    loading of fonts overlap with that computation, and they do not copy its memory.

    Parameters
    ----------
    n_workers : int
        Processes; <= 1, or where ``fork`` is not available: none (yields None).

    Yields
    ------
    concurrent.futures.Executor or None
        For :func:`save_tca_figures`'s ``pool``; shut down on exit.
    """
    if int(n_workers) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        yield None
        return
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=int(n_workers), mp_context=ctx) as ex:
        for _ in range(int(n_workers)):
            ex.submit(_warm_up)
        yield ex


def _render_components(jobs: Sequence[tuple[Path, int, tuple, str]]) -> None:
    """Draw component figures (:func:`plot_component` of each job's ``args``) and save them as
    PNG: the first is built, the others update its artists (:class:`_ComponentFigure`)."""
    import matplotlib.pyplot as plt

    comp = None
    for path, dpi, args, title in jobs:
        if comp is None:
            comp = _ComponentFigure(*args, title=title)
        else:
            comp.update(args[2], args[4], args[5], title)
        comp.fig.savefig(path, dpi=dpi, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    if comp is not None:
        plt.close(comp.fig)


def save_tca_figures(tca: TCAFile | Mapping[str, Any], out_dir: str | os.PathLike,
                     example_frame: np.ndarray | None = None, dpi: int = 100,
                     n_workers: int = 1, pool: Executor | None = None) -> list[Path]:
    """Write ``component_01.png``... and ``evr.png`` for one decomposition (atomically).

    Parameters
    ----------
    tca : TCAFile or mapping
        :func:`~.results.read_tca_file` / :func:`~.results.write_tca_h5` output, or the dict
        of :func:`~.results.tca_h5_dict`.
    out_dir : path-like
        The folder, built under a temporary name and renamed into place when complete.
    example_frame : (H, W) uint8, optional
        Drawn under the spatial maps.
    dpi : int
    n_workers : int
        Processes drawing the component figures side by side (forked; rendering holds the
        GIL). Each process builds one figure and draws its next components into it: about
        0.2 s a component on the demo against 0.32 s for a new figure each. 1: all in this
        process.
    pool : Executor, optional
        Processes to draw in (:func:`figure_workers`, forked earlier); default: ``n_workers``
        processes forked now.

    Returns
    -------
    list of Path
        The PNG files, components first.
    """
    import shutil
    import tempfile

    if not isinstance(tca, TCAFile):
        tca = TCAFile.from_dict(tca)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    names = []
    try:
        pxy = tca.factors_points_xy
        freqs = tca.frequencies
        ff = tca.factors["frequency"]
        evr = tca.evr
        R = len(evr)
        width = max(2, len(str(R)))
        jobs = []
        for r in range(R):
            tcs = [(f"{s}/{v}", tca.time_axis_seconds[s][v], tca.time_factors[s][v][:, r])
                   for s, vids in tca.time_factors.items() for v in vids]
            args = (example_frame, tca.point_positions, pxy[:, :, r], freqs, ff[:, r], tcs)
            names.append(f"component_{r + 1:0{width}d}.png")
            jobs.append((tmp / names[-1], dpi, args, f"component {r + 1} (EVR {evr[r]:.3f})"))
        evr_job = (tmp / "evr.png", dpi, evr, float(tca.evr_total))
        n_parts = max(min(int(n_workers), R), 1)
        with contextlib.ExitStack() as stack:
            if pool is None and n_parts > 1:
                pool = stack.enter_context(figure_workers(n_parts))
            if pool is None:
                _render_components(jobs)
                _render_evr(*evr_job)
            else:
                futures = [pool.submit(_in_worker, _render_components, jobs[i::n_parts])
                           for i in range(n_parts)]
                futures.append(pool.submit(_in_worker, _render_evr, *evr_job))
                for fut in futures:
                    fut.result()
        names.append("evr.png")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [out_dir / n for n in names]
