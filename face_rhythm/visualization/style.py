"""The look of every figure and overlay: colours, matplotlib style, saving figures.

Colours are ``(r, g, b)`` triples in ``[0, 255]`` (frames are RGB ``uint8``, the project's
convention) or a name from :data:`COLOR_NAMES`. :func:`figure_style` (a context manager) and
:func:`new_figure` / :func:`save_figure` give every figure of the workflow the same look: font
sizes, no top/right spines, labelled axes, PNG at 150 dpi written atomically. Figures are
``matplotlib.figure.Figure`` objects that are never registered with pyplot, so scripts need no
backend set-up and leak no memory (matplotlib is imported only when a figure is drawn).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from face_rhythm.atomic import atomic_path

from ..errors import VisualizationError

__all__ = ["COLOR_NAMES", "COMPONENT_COLORS", "STYLE", "TRACKED_COLOR", "VIOLATION_COLOR",
           "figure_style", "new_figure", "save_figure", "umask_mode"]

#: Named colours accepted wherever a colour is expected, as RGB.
COLOR_NAMES: dict[str, tuple[int, int, int]] = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "cyan": (0, 255, 255),
    "magenta": (255, 0, 255),
    "orange": (255, 140, 0),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
}

#: Colours of tracked points / violating points in overlays (RGB).
TRACKED_COLOR: tuple[int, int, int] = (0, 255, 255)
VIOLATION_COLOR: tuple[int, int, int] = (255, 0, 255)

#: One colour per component / series in figures (matplotlib "tab10", colour-blind friendlier
#: than the default cycle when combined with markers).
COMPONENT_COLORS: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)

#: matplotlib rcParams shared by every figure of the workflow.
STYLE: dict[str, Any] = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "image.cmap": "magma",
    "image.interpolation": "nearest",
}


def umask_mode(path: Path) -> None:
    """Give ``path`` the usual permissions (0666 minus the umask); ``mkstemp`` makes 0600."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


@contextlib.contextmanager
def figure_style(**overrides: Any) -> Iterator[None]:
    """Context in which matplotlib uses the workflow's figure style (:data:`STYLE`).

    Parameters
    ----------
    **overrides
        rcParams that win over :data:`STYLE` (dots in names as underscores are not
        translated: pass ``**{"font.size": 12}``).
    """
    import matplotlib as mpl

    params = {**STYLE, **overrides}
    params["axes.prop_cycle"] = mpl.cycler(color=list(COMPONENT_COLORS))
    with mpl.rc_context(params):
        yield


def new_figure(nrows: int = 1, ncols: int = 1, width_in: float = 6.4,
               height_in: float | None = None, **subplot_kw: Any):
    """A pyplot-free ``Figure`` in the workflow style, with a grid of axes.

    Parameters
    ----------
    nrows, ncols : int
        Grid of axes.
    width_in, height_in : float
        Figure size in inches; ``height_in`` defaults to ``0.75 * width_in * nrows / ncols``.
    **subplot_kw
        Passed to ``Figure.subplots`` (e.g. ``sharex=True``).

    Returns
    -------
    (Figure, axes)
        ``axes`` as returned by ``Figure.subplots`` (``squeeze=False``: a 2-D array).
    """
    from matplotlib.figure import Figure

    if height_in is None:
        height_in = 0.75 * width_in * nrows / max(ncols, 1)
    with figure_style():
        fig = Figure(figsize=(width_in, height_in), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    return fig, axes


def save_figure(fig, path: str | os.PathLike, formats: Sequence[str] = ("png",),
                dpi: int | None = None) -> list[Path]:
    """Save ``fig`` atomically as ``path`` (and beside it in each extra format).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : path-like
        Destination; its suffix is the first format (``.png``). Extra formats (e.g. ``"svg"``)
        are written beside it with the same stem.
    formats : sequence of str
        File formats; the first one must match ``path``'s suffix.
    dpi : int, optional
        Resolution of raster formats (default :data:`STYLE` ``savefig.dpi``).

    Returns
    -------
    list of Path
        The files written.
    """
    path = Path(path)
    fmts = list(formats) or [path.suffix.lstrip(".") or "png"]
    if path.suffix.lstrip(".").lower() != fmts[0].lower():
        raise VisualizationError(f"{path}: suffix does not match the first format {fmts[0]!r}")
    written = []
    with figure_style():
        for fmt in fmts:
            target = path.with_suffix(f".{fmt}")
            with atomic_path(target) as tmp:
                fig.savefig(tmp, format=fmt, dpi=dpi or STYLE["savefig.dpi"],
                            bbox_inches="tight")
                umask_mode(tmp)
            written.append(target)
    return written
