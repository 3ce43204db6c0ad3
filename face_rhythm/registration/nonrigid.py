"""Non-rigid refinement: dense optical flow from the template to a roughly aligned image."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from .base import MULTISESSION_EXTRA_HINT
from .warps import RegistrationError, _as_gray_float, flowField_to_remappingIdx

__all__ = ["fit_nonrigid"]


def _to_u8(im: np.ndarray) -> np.ndarray:
    a = np.asarray(im, dtype=np.float32)
    a = np.nan_to_num(a, nan=float(np.nanmean(a)))
    lo, hi = np.percentile(a, [0.5, 99.5])
    return np.clip((a - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8)


def fit_nonrigid(im_template: np.ndarray, im_moving: np.ndarray, method: str = "farneback",
                 kwargs_method: Mapping[str, Any] | None = None) -> np.ndarray:
    """Dense optical flow from the template to a (roughly aligned) moving image.

    Parameters
    ----------
    im_template, im_moving : (H, W)
    method : {"farneback", "deepflow"}
        ``cv2.calcOpticalFlowFarneback``, or DeepFlow from opencv-contrib
        (``pip install face-rhythm[multisession]``).
    kwargs_method : dict, optional
        Farneback parameters (pyr_scale, levels, winsize, iterations, poly_n, poly_sigma).

    Returns
    -------
    remappingIdx : (H, W, 2) float32
        ``p + flow(p)``: where to sample the moving image for each template pixel.
    """
    t = _to_u8(_as_gray_float(im_template, "im_template"))
    m = _to_u8(_as_gray_float(im_moving, "im_moving"))
    if t.shape != m.shape:
        raise RegistrationError(f"template {t.shape} and moving {m.shape} images differ in shape")
    if method == "farneback":
        kw = {"pyr_scale": 0.5, "levels": 4, "winsize": 31, "iterations": 5, "poly_n": 7,
              "poly_sigma": 1.5}
        kw.update(kwargs_method or {})
        flow = cv2.calcOpticalFlowFarneback(t, m, None, kw["pyr_scale"], int(kw["levels"]),
                                            int(kw["winsize"]), int(kw["iterations"]),
                                            int(kw["poly_n"]), kw["poly_sigma"], 0)
    elif method == "deepflow":
        if not hasattr(cv2, "optflow"):
            raise ImportError("non-rigid 'deepflow' needs OpenCV's contrib modules "
                              f"(opencv-contrib-python-headless): {MULTISESSION_EXTRA_HINT}")
        flow = cv2.optflow.createOptFlow_DeepFlow().calc(t, m, None)
    else:
        raise RegistrationError(f"non-rigid method {method!r} not in ['farneback', 'deepflow']")
    return flowField_to_remappingIdx(flow.astype(np.float32))
