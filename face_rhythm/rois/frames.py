"""One frame to draw ROIs on: a video frame or an image file, as uint8 RGB (and as PNG bytes)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..errors import RoiError, VideoError

logger = logging.getLogger(__name__)

__all__ = ["IMAGE_SUFFIXES", "load_frame"]

#: Suffixes read as still images (plus ``.npy``); anything else is opened as a video.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def load_frame(path: str | os.PathLike, frame: int = 0) -> np.ndarray:
    """One frame of a video, or an image file, as uint8 RGB.

    Parameters
    ----------
    path : path-like
        Video (anything decord or OpenCV reads) or image (png, jpg, tif, bmp, webp, npy).
    frame : int
        Frame index for videos (0-based); must be 0 for images.

    Returns
    -------
    np.ndarray of uint8, shape (H, W, 3)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such video or image file")
    frame = int(frame)
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES or suffix == ".npy":
        if frame != 0:
            raise VideoError(path, f"--frame {frame} given for an image (only frame 0)")
        if suffix == ".npy":
            img = np.load(path)
        else:
            import cv2

            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                raise VideoError(path, "cannot read image")
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        return _to_rgb_uint8(img, path)
    return _video_frame(path, frame)


def _to_rgb_uint8(img: np.ndarray, path: Path) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise RoiError(f"{path}: expected an (H, W), (H, W, 3) or (H, W, 4) image, got "
                       f"{img.shape}")
    img = img[:, :, :3]
    if img.dtype != np.uint8:
        lo, hi = float(np.nanmin(img)), float(np.nanmax(img))
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        img = ((img.astype(np.float64) - lo) * scale).clip(0, 255).astype(np.uint8)
    return np.ascontiguousarray(img)


def _video_frame(path: Path, frame: int) -> np.ndarray:
    try:
        import decord
        from decord._ffi.base import DECORDError
    except ImportError:
        decord = None
    if decord is not None:
        try:
            vr = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
        except (DECORDError, RuntimeError, OSError) as e:  # cannot open: try OpenCV
            logger.debug("decord cannot open %s (%s); trying OpenCV", path, e)
        else:
            n_frames = len(vr)
            if not 0 <= frame < n_frames:
                raise VideoError(path, f"frame {frame} out of range (video has {n_frames} "
                                       "frames)")
            return _to_rgb_uint8(vr[frame].asnumpy(), path)
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoError(path, "cannot open as a video or image")
        n_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if frame < 0 or (n_frames > 0 and frame >= n_frames):
            raise VideoError(path, f"frame {frame} out of range (video has {n_frames} "
                                   "frames)")
        cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
        ok, img = cap.read()
        if not ok:
            raise VideoError(path, f"cannot read frame {frame}")
        return _to_rgb_uint8(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), path)
    finally:
        cap.release()


def _png_bytes(image: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("cannot encode the frame as PNG")
    return buf.tobytes()
