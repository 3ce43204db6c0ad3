"""Things people look at: points drawn on frames, overlay videos, contact sheets, figure style.

Colour convention
-----------------
Frames are RGB ``uint8`` (the project's convention) and every colour given to this module is
an ``(r, g, b)`` triple in ``[0, 255]`` (or a name from :data:`COLOR_NAMES`). Conversion to
OpenCV's BGR happens only where frames leave the module (video writer, ``cv2.imshow``).

Overlay videos
--------------
:func:`write_overlay_video` streams a video with :func:`face_rhythm.video.iter_chunks`, draws
the tracked points (violating points in a second colour) and a "frame / time" line, resizes to
the requested size and writes an MP4 (``mp4v``); when that encoder is missing it falls back to
MJPG in an AVI container. The file is written under a temporary name and renamed when
complete.

Figures
-------
:func:`figure_style` (a context manager) and :func:`new_figure` / :func:`save_figure` give
every figure of the workflow the same look: font sizes, no top/right spines, labelled axes,
PNG at 150 dpi written atomically. Figures are ``matplotlib.figure.Figure`` objects that are
never registered with pyplot, so scripts need no backend set-up and leak no memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import cv2
import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "COLOR_NAMES",
    "COMPONENT_COLORS",
    "STYLE",
    "FrameVisualizer",
    "OverlayParams",
    "contact_sheet_indices",
    "draw_points",
    "draw_text",
    "figure_style",
    "new_figure",
    "open_video_writer",
    "play_video_with_points",
    "plot_contact_sheet",
    "plot_tracking_summary",
    "save_figure",
    "violations_to_dense",
    "write_overlay_video",
]

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

# --------------------------------------------------------------------------------------------
# figure style


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
    from .h5_handling import atomic_path

    path = Path(path)
    fmts = list(formats) or [path.suffix.lstrip(".") or "png"]
    if path.suffix.lstrip(".").lower() != fmts[0].lower():
        raise ValueError(f"{path}: suffix does not match the first format {fmts[0]!r}")
    written = []
    with figure_style():
        for fmt in fmts:
            target = path.with_suffix(f".{fmt}")
            with atomic_path(target) as tmp:
                fig.savefig(tmp, format=fmt, dpi=dpi or STYLE["savefig.dpi"],
                            bbox_inches="tight")
                _umask_mode(tmp)
            written.append(target)
    return written


# --------------------------------------------------------------------------------------------
# drawing on frames


def _rgb(color: Any, what: str = "colour") -> tuple[int, int, int]:
    if isinstance(color, str):
        try:
            return COLOR_NAMES[color.lower()]
        except KeyError:
            raise ValueError(f"unknown {what} name {color!r}; use one of "
                             f"{sorted(COLOR_NAMES)} or an (r, g, b) tuple") from None
    c = np.asarray(color).ravel()
    if c.size != 3 or np.any(c < 0) or np.any(c > 255):
        raise ValueError(f"{what} must be 3 values in [0, 255], got {color!r}")
    return tuple(int(v) for v in c)  # type: ignore[return-value]


def _as_rgb_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        return cv2.cvtColor(image[..., 0], cv2.COLOR_GRAY2RGB)
    raise ValueError(f"image must be (H, W) or (H, W, 3), got shape {image.shape}")


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
    out = image if in_place else _as_rgb_image(image).copy()
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    h, w = out.shape[:2]
    per_point = isinstance(colors, np.ndarray) and colors.ndim == 2
    if per_point:
        if colors.shape != (len(pts), 3):
            raise ValueError(f"per-point colours must be ({len(pts)}, 3), got {colors.shape}")
        cols = [tuple(int(v) for v in c) for c in colors]
    else:
        one = _rgb(colors)
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
    out = image if in_place else _as_rgb_image(image).copy()
    org = (round(position[0]), round(position[1]))
    font = cv2.FONT_HERSHEY_SIMPLEX
    if background:
        (tw, th), base = cv2.getTextSize(str(text), font, scale, int(thickness))
        cv2.rectangle(out, (org[0] - 2, org[1] - th - 2), (org[0] + tw + 2, org[1] + base),
                      (0, 0, 0), -1)
    cv2.putText(out, str(text), org, font, scale, _rgb(color, "text colour"), int(thickness),
                cv2.LINE_AA)
    return out


def violations_to_dense(violations: Mapping[str, Any] | np.ndarray | None,
                        n_frames: int, n_points: int) -> np.ndarray:
    """Violation flags as a dense (n_frames, n_points) bool array.

    Parameters
    ----------
    violations : mapping, np.ndarray or None
        The ``violations`` group of ``tracking.h5`` as a dict with ``row`` (frame), ``col``
        (point), ``data`` and ``shape`` (sparse COO), a dense (n_frames, n_points) array, or
        None (no violations).
    n_frames, n_points : int
        Expected shape.
    """
    if violations is None:
        return np.zeros((n_frames, n_points), dtype=bool)
    if isinstance(violations, Mapping):
        shape = tuple(int(s) for s in np.asarray(violations["shape"]).ravel())
        if shape != (n_frames, n_points):
            raise ValueError(f"violations shape {shape} does not match the tracked points "
                             f"({n_frames} frames, {n_points} points)")
        dense = np.zeros(shape, dtype=bool)
        row = np.asarray(violations["row"], dtype=np.int64)
        col = np.asarray(violations["col"], dtype=np.int64)
        data = np.asarray(violations.get("data", np.ones(len(row))), dtype=bool)
        dense[row[data], col[data]] = True
        return dense
    dense = np.asarray(violations, dtype=bool)
    if dense.shape != (n_frames, n_points):
        raise ValueError(f"violations shape {dense.shape} does not match the tracked points "
                         f"({n_frames} frames, {n_points} points)")
    return dense


# --------------------------------------------------------------------------------------------
# video writing


def _umask_mode(path: Path) -> None:
    """Give ``path`` the usual permissions (0666 minus the umask); ``mkstemp`` makes 0600."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def _temp_video_path(path: Path) -> Path:
    # Same folder and the same suffix (OpenCV picks the container from the suffix).
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def open_video_writer(path: str | os.PathLike, frame_rate: float,
                      frame_height_width: tuple[int, int],
                      fourccs: Sequence[tuple[str, str]] = (("mp4v", ".mp4"), ("MJPG", ".avi")),
                      ) -> tuple[cv2.VideoWriter, Path, Path, str]:
    """Open a colour ``cv2.VideoWriter`` on a temporary file, trying codecs in order.

    Parameters
    ----------
    path : path-like
        Requested destination. Its suffix is replaced by each candidate's suffix.
    frame_rate : float
        Frames per second of the written file (Hz).
    frame_height_width : (int, int)
        Size of the frames that will be written.
    fourccs : sequence of (fourcc, suffix)
        Candidates, best first (default: MP4 with ``mp4v``, then MJPG in AVI).

    Returns
    -------
    (writer, tmp_path, final_path, fourcc)
        Write BGR frames to ``writer``; after ``writer.release()`` rename ``tmp_path`` to
        ``final_path`` (``final_path`` has the suffix of the codec that opened).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = (int(v) for v in frame_height_width)
    if h < 1 or w < 1:
        raise ValueError(f"{path}: frame size must be positive, got {frame_height_width}")
    if not np.isfinite(frame_rate) or frame_rate <= 0:
        raise ValueError(f"{path}: frame rate must be positive, got {frame_rate}")
    for fourcc, suffix in fourccs:
        final = path.with_suffix(suffix)
        tmp = _temp_video_path(final)
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*fourcc), float(frame_rate),
                                 (w, h), True)
        if writer.isOpened():
            if final != path:
                logger.warning("%s: codec %s unavailable, writing %s with %s instead", path,
                               fourccs[0][0], final, fourcc)
            return writer, tmp, final, fourcc
        writer.release()
        tmp.unlink(missing_ok=True)
        logger.info("%s: OpenCV cannot open a %s writer", final, fourcc)
    raise OSError(f"{path}: OpenCV cannot open a video writer with any of "
                  f"{[f for f, _ in fourccs]}")


@dataclasses.dataclass
class OverlayParams:
    """How an overlay video looks.

    Attributes
    ----------
    width, height : int or None
        Output frame size in pixels. One of them alone keeps the aspect ratio; neither keeps
        the source size. Width and height are rounded to even numbers (codecs like them even).
    frame_rate : float or None
        Frame rate of the written file in Hz (None: the source frame rate). A different value
        plays the video slower or faster; it never drops frames (use ``step`` for that).
    start, stop, step : int
        Frames ``range(start, stop, step)`` of the source are drawn (``stop`` None: to the end).
    point_radius : int or None
        Radius of the drawn points in output pixels (None: ``max(1, round(width / 200))``,
        1 px for a 160-px-wide video, 4 px for 782 px).
    color, violation_color : tuple or str
        RGB colours of tracked points and of points flagged as violations in that frame.
    alpha : float
        Opacity of the points.
    show_text : bool
        Draw "frame i  t = s" at the top left.
    fourcc : str
        Preferred codec (``mp4v`` in ``.mp4``); MJPG in ``.avi`` is the fallback.
    chunk_size : int
        Frames decoded per chunk.
    """

    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    start: int = 0
    stop: int | None = None
    step: int = 1
    point_radius: int | None = None
    color: Any = TRACKED_COLOR
    violation_color: Any = VIOLATION_COLOR
    alpha: float = 1.0
    show_text: bool = True
    fourcc: str = "mp4v"
    chunk_size: int = 64

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> OverlayParams:
        """Build from a config dict, rejecting unknown keys with a clear message."""
        d = dict(d or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown overlay parameter(s) {sorted(unknown)}; "
                             f"known: {sorted(names)}")
        return cls(**d)

    def radius(self, out_width: int) -> int:
        """Point radius in output pixels for an output ``out_width`` pixels wide."""
        if self.point_radius is not None:
            return int(self.point_radius)
        return max(1, round(out_width / 200))

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Output (height, width) for a source of ``height`` x ``width`` pixels."""
        if self.width and self.height:
            h, w = self.height, self.width
        elif self.width:
            w, h = self.width, self.width * height / width
        elif self.height:
            h, w = self.height, self.height * width / height
        else:
            h, w = height, width
        return max(2, round(h / 2) * 2), max(2, round(w / 2) * 2)


def _overlay_frame(frame: np.ndarray, pts: np.ndarray, bad: np.ndarray | None,
                   out_hw: tuple[int, int], params: OverlayParams, text: str | None) -> np.ndarray:
    """One overlay frame: resize, draw points (violations last, on top), text. RGB uint8."""
    h, w = frame.shape[:2]
    img = _as_rgb_image(frame)
    if (h, w) != out_hw:
        img = cv2.resize(img, (out_hw[1], out_hw[0]), interpolation=cv2.INTER_AREA)
    # pixel centres: x_out + 0.5 = (x_in + 0.5) * scale
    sx, sy = out_hw[1] / w, out_hw[0] / h
    p = (pts.astype(np.float64) + 0.5) * (sx, sy) - 0.5
    r = params.radius(out_hw[1])
    if bad is not None and bad.any():
        draw_points(img, p[~bad], params.color, r, alpha=params.alpha,
                    in_place=True)
        draw_points(img, p[bad], params.violation_color, r,
                    alpha=params.alpha, in_place=True)
    else:
        draw_points(img, p, params.color, r, alpha=params.alpha,
                    in_place=True)
    if text:
        scale = float(np.clip(out_hw[1] / 640, 0.3, 1.0))
        draw_text(img, text, (4, 4 + 22 * scale), scale=scale, in_place=True)
    return img


def write_overlay_video(video_path: str | os.PathLike, points_tracked: np.ndarray,
                        out_path: str | os.PathLike, frame_rate: float | None = None,
                        violations: Mapping[str, Any] | np.ndarray | None = None,
                        params: OverlayParams | Mapping[str, Any] | None = None,
                        progress: bool | None = None) -> Path:
    """Write a video of ``video_path`` with the tracked points drawn on every frame.

    Parameters
    ----------
    video_path : path-like
        Source video (read with :func:`face_rhythm.video.iter_chunks`).
    points_tracked : np.ndarray
        (T, N, 2) float (x, y) positions in source pixels; T must equal the video's frame
        count.
    out_path : path-like
        Destination (``.mp4``). If the MP4 encoder is missing, an MJPG ``.avi`` with the same
        stem is written instead (see the return value).
    frame_rate : float, optional
        Source frame rate in Hz, for the time text (default: the container's).
    violations : mapping or np.ndarray, optional
        Violation flags (see :func:`violations_to_dense`); flagged points use
        ``params.violation_color`` in the frames where they are flagged.
    params : OverlayParams or dict, optional
    progress : bool, optional
        Show a tqdm progress bar (None: only on a terminal).

    Returns
    -------
    Path
        The file written (``out_path``, or its ``.avi`` sibling after a fallback).
    """
    from tqdm.auto import tqdm

    from .video import iter_chunks, probe_video

    params = params if isinstance(params, OverlayParams) else OverlayParams.from_dict(params)
    video_path, out_path = Path(video_path), Path(out_path)
    info = probe_video(video_path, fps=frame_rate)
    pts = np.asarray(points_tracked)
    if pts.ndim != 3 or pts.shape[2] != 2:
        raise ValueError(f"points_tracked must be (T, N, 2), got shape {pts.shape}")
    if pts.shape[0] != info.n_frames:
        raise ValueError(f"{video_path}: {info.n_frames} frames but points_tracked has "
                         f"{pts.shape[0]}")
    bad = violations_to_dense(violations, pts.shape[0], pts.shape[1])
    if params.step < 1:
        raise ValueError(f"overlay step must be >= 1, got {params.step}")
    stop = info.n_frames if params.stop is None else min(int(params.stop), info.n_frames)
    start = int(params.start)
    if not 0 <= start < stop:
        raise ValueError(f"{video_path}: overlay frames start={start}, stop={stop} select "
                         f"nothing of {info.n_frames} frames")
    out_hw = params.output_size(info.height, info.width)
    fps_out = float(params.frame_rate or info.frame_rate)
    fourccs = [(params.fourcc, out_path.suffix or ".mp4")]
    if params.fourcc != "MJPG":
        fourccs.append(("MJPG", ".avi"))
    writer, tmp, final, fourcc = open_video_writer(out_path, fps_out, out_hw, fourccs)
    n_written = 0
    try:
        bar = tqdm(total=len(range(start, stop, params.step)), desc=f"overlay {video_path.name}",
                   disable=None if progress is None else not progress, unit="frame")
        idx = start
        for chunk in iter_chunks(video_path, chunk_size=params.chunk_size, start=start,
                                 stop=stop, fps=info.frame_rate):
            for frame in chunk:
                if (idx - start) % params.step == 0:
                    text = (f"frame {idx}  t = {idx / info.frame_rate:.3f} s"
                            if params.show_text else None)
                    img = _overlay_frame(frame, pts[idx], bad[idx], out_hw, params, text)
                    writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                    n_written += 1
                    bar.update(1)
                idx += 1
        bar.close()
        writer.release()
        _umask_mode(tmp)
        os.replace(tmp, final)
    except BaseException:
        writer.release()
        tmp.unlink(missing_ok=True)
        raise
    logger.info("wrote overlay %s: %d frames, %dx%d px, %.2f Hz, %s", final, n_written,
                out_hw[1], out_hw[0], fps_out, fourcc)
    return final


# --------------------------------------------------------------------------------------------
# figures about tracking


def contact_sheet_indices(n_frames: int, n_show: int = 6,
                          violations: np.ndarray | None = None) -> np.ndarray:
    """``n_show`` frame indices spread evenly over ``range(n_frames)`` (first and last incl.).

    With ``violations`` ((n_frames, N) bool) that flag anything, the frame with the most
    flagged points replaces the nearest of the inner evenly spaced frames, so the sheet shows
    the worst moment of the tracking.
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
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
        raise ValueError(f"contact sheet needs as many frames ({n}), indices ({len(indices)}) "
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
        raise ValueError(f"points_tracked must be (T, N, 2), got shape {pts.shape}")
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


# --------------------------------------------------------------------------------------------
# reference API: FrameVisualizer and play_video_with_points


def _per_batch(value: Any, n_batches: int, name: str, scalar_types: tuple) -> list:
    if isinstance(value, scalar_types) or value is None:
        return [value] * n_batches
    value = list(value)
    if len(value) != n_batches:
        raise ValueError(f"{name} has {len(value)} entries for {n_batches} batches")
    return value


class FrameVisualizer:
    """Draw points and text on frames; optionally show them and/or write them to a video.

    Images are RGB uint8 (H, W, 3) (grayscale (H, W) is accepted), colours are RGB. Frames
    are written to ``path_save`` through a temporary file that is renamed into place by
    :meth:`close`, so call it (or use the object as a context manager).

    Parameters
    ----------
    display : bool
        Show every frame with ``cv2.imshow``. Needs an OpenCV build with a GUI; with the
        headless build a warning is logged and display is turned off.
    handle_cv2Imshow : str
        Window name for ``cv2.imshow``.
    path_save : str, optional
        Video file to write (``.avi`` for MJPG, ``.mp4`` for mp4v).
    frame_height_width : (int, int)
        Size of the written frames; frames of another size are resized.
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
        self.frame_height_width = tuple(int(v) for v in frame_height_width)
        if len(self.frame_height_width) != 2 or min(self.frame_height_width) < 1:
            raise ValueError(f"frame_height_width must be two positive ints, got "
                             f"{frame_height_width}")
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
        if self.display:
            try:
                cv2.namedWindow(self.handle_cv2Imshow, cv2.WINDOW_NORMAL)
            except cv2.error:
                if verbose >= 1:
                    logger.warning("display=True needs OpenCV with GUI support (this build is "
                                   "headless); frames will not be shown")
                self.display = False

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
            One batch (N, 2) of (x, y) positions, or a list of batches.
        point_sizes : int or list of int, optional
            Radius in pixels, one for all or one per batch (default 1).
        points_colors : tuple, str, np.ndarray or list
            RGB colour for all points, or per batch a colour or an (n, 3) array.
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

        out = _as_rgb_image(image).copy()
        if points is not None:
            batches = [points] if isinstance(points, np.ndarray) else list(points)
            sizes = _per_batch(1 if point_sizes is None else point_sizes, len(batches),
                               "point_sizes", (int, np.integer))
            if (isinstance(points_colors, (tuple, str, np.ndarray))
                    and not (isinstance(points_colors, np.ndarray) and len(batches) > 1)):
                colors = [points_colors] * len(batches)
            else:
                colors = _per_batch(points_colors, len(batches), "points_colors", ())
            for b, s, c in zip(batches, sizes, colors):
                b = np.asarray(b)
                if self.error_checking and (b.ndim != 2 or b.shape[1] != 2):
                    raise ValueError(f"points must be (n_points, 2) (x, y), got {b.shape}")
                draw_points(out, b, c, int(s), alpha=1.0 if alpha is None else float(alpha),
                            in_place=True)
        if text is not None:
            if text_positions is None:
                raise ValueError("text_positions is required when text is given")
            pos = np.asarray(text_positions, dtype=np.float64).reshape(-1, 2)
            texts = [text] * len(pos) if isinstance(text, str) else list(text)
            if self.error_checking and len(texts) != len(pos):
                raise ValueError(f"{len(texts)} texts for {len(pos)} text_positions")
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
                    _umask_mode(self._tmp)
                    os.replace(self._tmp, self.path_save)
                    if self.verbose >= 2:
                        logger.info("wrote %s (%d frames)", self.path_save,
                                    self.n_frames_written)
                self._tmp = None
        if self.display:
            with contextlib.suppress(cv2.error):
                cv2.destroyWindow(self.handle_cv2Imshow)
            self.display = False

    def __del__(self) -> None:  # a forgotten close(): do not leave a temp file behind
        with contextlib.suppress(Exception):
            if self.video_writer is not None:
                self.video_writer.release()
                if self._tmp is not None:
                    self._tmp.unlink(missing_ok=True)


def play_video_with_points(bufferedVideoReader: Any, frameVisualizer: FrameVisualizer | None = None,
                           points: np.ndarray | Sequence[np.ndarray] | None = None,
                           idx_frames: Iterable[int] | None = None,
                           progress: bool | None = None) -> int:
    """Draw points on frames of a reader and show/write them with a :class:`FrameVisualizer`.

    Parameters
    ----------
    bufferedVideoReader : BufferedVideoReader or np.ndarray
        Anything with ``len()`` and integer indexing returning (H, W, 3) uint8 RGB frames
        (continuous index over the videos), e.g. :class:`face_rhythm.video.BufferedVideoReader`
        or an array (T, H, W, 3).
    frameVisualizer : FrameVisualizer
        Draws, displays and/or writes the frames (required).
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
    from tqdm.auto import tqdm

    if frameVisualizer is None:
        raise ValueError("play_video_with_points needs a FrameVisualizer (frameVisualizer=...)")
    n = len(bufferedVideoReader)
    if points is not None and not isinstance(points, np.ndarray):
        points = np.concatenate([np.asarray(p) for p in points], axis=0)
    if points is not None and len(points) != n:
        raise ValueError(f"points has {len(points)} frames but the reader has {n}")
    idx = np.arange(n) if idx_frames is None else np.asarray(list(idx_frames), dtype=np.int64)
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise ValueError(f"idx_frames out of range for a reader of {n} frames")
    count = 0
    for i in tqdm(idx, disable=None if progress is None else not progress, unit="frame"):
        frame = np.asarray(bufferedVideoReader[int(i)])
        frameVisualizer.visualize_image_with_points(
            frame, points=None if points is None else np.asarray(points[int(i)]))
        count += 1
    return count
