"""Contrast: CLAHE (OpenCV's contrast-limited adaptive histogram equalisation) of an image.

Arrays in, arrays out. It lives here, below :mod:`face_rhythm.registration`, because the
original package documents it as ``face_rhythm.rois.clahe``; registration's reference frames
use the same function (``face_rhythm.registration.clahe`` is this one).
"""

from __future__ import annotations

import numpy as np

from ..errors import RoiError

__all__ = ["clahe"]


def _clahe_2d(plane: np.ndarray, op, normalize: bool) -> np.ndarray:
    a = np.asarray(plane, dtype=np.float64)
    if normalize:
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        a = (a - lo) / max(hi - lo, 1e-12) * 65535
    a = np.clip(np.nan_to_num(a), 0, 65535).astype(np.uint16)
    return op.apply(a)


def clahe(im: np.ndarray, grid_size: int = 50, clipLimit: float = 0,
          normalize: bool = True) -> np.ndarray:
    """Contrast Limited Adaptive Histogram Equalization of an image (``cv2.createCLAHE``).

    Parameters
    ----------
    im : np.ndarray
        (H, W) image, or (H, W, C) with each channel equalised on its own. Any real dtype.
    grid_size : int
        Tiles per axis (``tileGridSize=(grid_size, grid_size)``).
    clipLimit : float
        Contrast limit per tile (0 = no limit beyond OpenCV's own).
    normalize : bool
        Stretch each plane's [min, max] to the full uint16 range first (else values are
        clipped to [0, 65535] and cast).

    Returns
    -------
    im_out : np.ndarray
        uint16, the shape of ``im``.
    """
    import cv2  # lazily: importing face_rhythm.rois stays light

    a = np.asarray(im)
    if a.ndim not in (2, 3):
        raise RoiError(f"clahe: expected an (H, W) or (H, W, C) image, got shape {a.shape}")
    if int(grid_size) < 1:
        raise RoiError(f"clahe: grid_size must be >= 1, got {grid_size}")
    op = cv2.createCLAHE(clipLimit=float(clipLimit),
                         tileGridSize=(int(grid_size), int(grid_size)))
    if a.ndim == 2:
        return _clahe_2d(a, op, normalize)
    return np.stack([_clahe_2d(a[..., c], op, normalize) for c in range(a.shape[2])], axis=2)
