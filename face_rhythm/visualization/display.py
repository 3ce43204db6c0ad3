"""Showing frames to a person: OpenCV windows (:func:`prepare_cv2_imshow`,
:func:`play_video_cv2`) and a Jupyter image slider (:func:`display_toggle_image_stack`).

Machines without a display are common here (clusters, containers, the headless OpenCV
wheel): :func:`cv2_display_available` says whether an OpenCV window can open, without ever
asking a GUI toolkit that would abort the process; :func:`play_video_cv2` then still writes
its video file, and raises a :class:`~face_rhythm.errors.VisualizationError` only when it has
nothing it can do.
"""

from __future__ import annotations

import base64
import functools
import io
import logging
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from face_rhythm.video import read_frames

from ..errors import VisualizationError
from .style import umask_mode
from .writer import open_video_writer

logger = logging.getLogger(__name__)

__all__ = ["cv2_display_available", "display_toggle_image_stack", "in_jupyter",
           "play_video_cv2", "prepare_cv2_imshow", "stack_to_png_base64"]


@functools.lru_cache(maxsize=1)
def _cv2_has_gui() -> bool:
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip().upper() not in ("NONE", "")
    return False


def cv2_display_available() -> bool:
    """True when ``cv2.imshow`` can open a window: OpenCV has a GUI backend (not the headless
    wheel) and, on Linux, a ``DISPLAY`` or ``WAYLAND_DISPLAY`` is set."""
    if not _cv2_has_gui():
        return False
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        return False
    return True


def prepare_cv2_imshow() -> bool:
    """Show (and close) a tiny dummy frame so that later ``cv2.imshow`` calls work.

    Without a display (see :func:`cv2_display_available`) this logs a warning and does
    nothing. Returns whether a display is available.
    """
    if not cv2_display_available():
        logger.warning("prepare_cv2_imshow: no display for OpenCV windows (headless OpenCV "
                       "or no DISPLAY); cv2.imshow is not available")
        return False
    name = "face_rhythm_prepare"
    cv2.imshow(name, np.zeros((8, 8, 3), np.uint8))
    cv2.waitKey(1)
    cv2.destroyWindow(name)
    return True


def play_video_cv2(array: np.ndarray | None = None, path_video: str | os.PathLike | None = None,
                   frameRate: float = 30, path_save: str | os.PathLike | None = None,
                   show: bool = True, fourcc_code: str = "MJPG", text: Any = None,
                   kwargs_text: dict | None = None) -> str | None:
    """Play frames in an OpenCV window and/or write them to a video file.

    Parameters
    ----------
    array : np.ndarray, optional
        ``(n, H, W)`` grayscale or ``(n, H, W, 3)`` RGB frames (values clipped to [0, 255]).
    path_video : path-like, optional
        Video file read (:func:`face_rhythm.video.read_frames`) when ``array`` is None.
    frameRate : float
        Playback and file frame rate in Hz.
    path_save : path-like, optional
        Video file to write (complete when this returns; written through a temporary file).
    show : bool
        Show the frames in a window. Without a display this is skipped with a warning when
        ``path_save`` is given, and is an error otherwise.
    fourcc_code : str
        Codec of the written file (``"MJPG"`` in ``.avi``).
    text : str or list of str, optional
        Text drawn on every frame, or ``text[i]`` on frame ``i``.
    kwargs_text : dict, optional
        Arguments of ``cv2.putText`` (``org``, ``fontFace``, ``fontScale``, ``color`` (RGB),
        ``thickness``, ``lineType``); defaults: (10, 30), SIMPLEX, 1, white, 1.

    Returns
    -------
    str or None
        The written file's path (None when nothing was saved).
    """
    if array is None:
        if path_video is None:
            raise VisualizationError("play_video_cv2: give array or path_video")
        array = read_frames(path_video, slice(None))
    frames = np.asarray(array.detach().cpu() if hasattr(array, "detach") else array)
    if frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[-1] not in (1, 3)):
        raise VisualizationError(f"play_video_cv2: frames must be (n, H, W) or (n, H, W, 3), "
                                 f"got {frames.shape}")
    if not frameRate or frameRate <= 0:
        raise VisualizationError(f"play_video_cv2: frameRate must be positive, got {frameRate}")
    display = bool(show) and cv2_display_available()
    if show and not display:
        if path_save is None:
            raise VisualizationError("play_video_cv2: there is no display to show the video "
                                     "(headless OpenCV or no DISPLAY); give path_save to write "
                                     "it to a file instead")
        logger.warning("play_video_cv2: no display; writing %s without showing it", path_save)
    if not display and path_save is None:
        logger.warning("play_video_cv2: show=False and no path_save: nothing to do")
        return None
    n = len(frames)
    texts = [text] * n if isinstance(text, str) or text is None else list(text)
    if len(texts) != n:
        raise VisualizationError(f"play_video_cv2: {len(texts)} texts for {n} frames")
    kw = {"org": (10, 30), "fontFace": cv2.FONT_HERSHEY_SIMPLEX, "fontScale": 1,
          "color": (255, 255, 255), "thickness": 1, **(kwargs_text or {})}
    kw["color"] = tuple(kw["color"])[::-1]  # drawn on BGR frames
    writer = tmp = final = None
    if path_save is not None:
        h, w = frames.shape[1:3]
        dest = Path(path_save).resolve()
        writer, tmp, final, _ = open_video_writer(dest, float(frameRate), (h, w),
                                                  [(fourcc_code, dest.suffix or ".avi")])
    name = "face_rhythm_play_video"
    wait = max(1, round(1000 / frameRate))
    try:
        for frame, t in zip(frames, texts):
            f = np.clip(frame, 0, 255).astype(np.uint8)
            bgr = cv2.cvtColor(f if f.ndim == 2 else f[..., 0], cv2.COLOR_GRAY2BGR) \
                if f.ndim == 2 or f.shape[-1] == 1 else cv2.cvtColor(f, cv2.COLOR_RGB2BGR)
            if t is not None:
                cv2.putText(bgr, str(t), **kw)
            if writer is not None:
                writer.write(bgr)
            if display:
                cv2.imshow(name, bgr)
                cv2.waitKey(wait)
    except BaseException:
        if writer is not None:
            writer.release()
            tmp.unlink(missing_ok=True)
        raise
    finally:
        if display:
            cv2.destroyWindow(name)
    if writer is None:
        return None
    writer.release()
    umask_mode(tmp)
    os.replace(tmp, final)
    logger.info("wrote %s (%d frames, %.4g frames/s)", final, n, frameRate)
    return str(final)


# -- Jupyter

_RESAMPLING = ("nearest", "box", "bilinear", "hamming", "bicubic", "lanczos")


def in_jupyter() -> bool:
    """True inside a Jupyter kernel (an IPython shell with a kernel attached)."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def stack_to_png_base64(images: Sequence[Any], image_size: Any = None, clim: Any = None,
                        interpolation: str = "nearest") -> list[str]:
    """Each image scaled to uint8 (``clim`` or its own min..max -> 0..255), optionally
    resized, as a base64 PNG string (see :func:`display_toggle_image_stack`)."""
    from PIL import Image

    if interpolation not in _RESAMPLING:
        raise VisualizationError(f"interpolation {interpolation!r} is not one of {_RESAMPLING}")
    resample = getattr(Image.Resampling, interpolation.upper())
    out = []
    for im in images:
        a = np.asarray(im.detach().cpu() if hasattr(im, "detach") else im, dtype=np.float64)
        lo, hi = (np.nanmin(a), np.nanmax(a)) if clim is None else (float(clim[0]),
                                                                     float(clim[1]))
        a = np.clip((a - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
        pil = Image.fromarray(np.round(a * 255).astype(np.uint8))
        if image_size is not None:
            if isinstance(image_size, (int, float)):
                size = (max(1, round(pil.width * image_size)), max(1, round(pil.height
                                                                           * image_size)))
            else:
                size = (int(image_size[0]), int(image_size[1]))
            pil = pil.resize(size, resample=resample)
        buf = io.BytesIO()
        pil.save(buf, format="PNG")
        out.append(base64.b64encode(buf.getvalue()).decode("ascii"))
    return out


def display_toggle_image_stack(images: Sequence[Any], image_size: Any = None, clim: Any = None,
                               interpolation: str = "nearest") -> Any:
    """A slider to scrub through images in a Jupyter notebook.

    Parameters
    ----------
    images : list of np.ndarray or torch.Tensor
        2-D (grayscale) or 3-D ``(H, W, 3)`` images.
    image_size : (width, height) or float, optional
        Size of every displayed image, or a scale factor of each image's own size.
    clim : (min, max), optional
        Values mapped to 0 and 255 (default: each image's own min and max).
    interpolation : str
        Resampling when resizing: 'nearest', 'box', 'bilinear', 'hamming', 'bicubic',
        'lanczos' (PIL).

    Returns
    -------
    object
        The displayed widget (``ipywidgets`` when installed) or ``IPython.display.HTML``.

    Raises
    ------
    VisualizationError
        Outside a Jupyter kernel (there is nothing to show it in).
    """
    if not in_jupyter():
        raise VisualizationError("display_toggle_image_stack needs a Jupyter notebook (no "
                                 "Jupyter kernel is running); save the images instead, e.g. "
                                 "with face_rhythm.helpers.save_gif")
    images = list(images)
    if not images:
        raise VisualizationError("display_toggle_image_stack: no images")
    pngs = stack_to_png_base64(images, image_size, clim, interpolation)
    from IPython.display import HTML, display

    try:
        import ipywidgets as widgets
    except ImportError:
        widgets = None
    if widgets is not None:
        raw = [base64.b64decode(p) for p in pngs]
        img = widgets.Image(value=raw[0], format="png")
        slider = widgets.IntSlider(min=0, max=len(raw) - 1, value=0, description="image")
        slider.observe(lambda ch: setattr(img, "value", raw[ch["new"]]), names="value")
        box = widgets.VBox([slider, img])
        display(box)
        return box
    uid = uuid.uuid4().hex
    srcs = ",".join(f'"{p}"' for p in pngs)
    html = HTML(
        f'<div><input type="range" id="s{uid}" min="0" max="{len(pngs) - 1}" value="0">'
        f'<span id="n{uid}"> 0/{len(pngs) - 1}</span><br>'
        f'<img id="i{uid}" src="data:image/png;base64,{pngs[0]}"></div>'
        f'<script>(function(){{const im=[{srcs}];'
        f'document.getElementById("s{uid}").addEventListener("input",function(e){{'
        f'const k=parseInt(e.target.value);'
        f'document.getElementById("i{uid}").src="data:image/png;base64,"+im[k];'
        f'document.getElementById("n{uid}").textContent=" "+k+"/{len(pngs) - 1}";}});}})();'
        f'</script>')
    display(html)
    return html
