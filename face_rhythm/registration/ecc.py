"""ECC registration (OpenCV's ``findTransformECC``): the fit, its correlation score, and
the coarse-to-fine backend :class:`ECC_cv2` with phase-correlation starts and retries."""

from __future__ import annotations

import logging

import cv2
import numpy as np

from .base import ImageRegistrationMethod
from .phase_correlation import phase_correlation_shift
from .warps import (
    RegistrationError,
    _as_gray_float,
    as_3x3,
    remap_images,
    warp_matrix_to_remappingIdx,
)

logger = logging.getLogger(__name__)

__all__ = ["ECC_cv2", "ecc_correlation", "find_geometric_transformation"]


_ECC_MODES = {"translation": cv2.MOTION_TRANSLATION, "euclidean": cv2.MOTION_EUCLIDEAN,
              "affine": cv2.MOTION_AFFINE, "homography": cv2.MOTION_HOMOGRAPHY}


def find_geometric_transformation(im_template: np.ndarray, im_moving: np.ndarray,
                                  warp_mode: str = "euclidean", n_iter: int = 5000,
                                  termination_eps: float = 1e-10,
                                  mask: np.ndarray | None = None, gaussFiltSize: int = 1,
                                  warp_init: np.ndarray | None = None) -> np.ndarray:
    """ECC registration (:func:`cv2.findTransformECC`) of ``im_moving`` to ``im_template``.

    Parameters
    ----------
    im_template, im_moving : (H, W) arrays
        Same shape; converted to float32.
    warp_mode : {"translation", "euclidean", "affine", "homography"}
    n_iter : int
        Maximum iterations.
    termination_eps : float
        Stop when the correlation coefficient improves by less than this.
    mask : (H, W) array, optional
        Non-zero where the template is valid.
    gaussFiltSize : int
        Gaussian pre-filter size (made odd; 1 = no smoothing).
    warp_init : (2, 3) or (3, 3), optional
        Starting warp (identity by default).

    Returns
    -------
    warp_matrix : (2, 3) float32, or (3, 3) for ``homography``
        Template -> moving coordinates (module convention).

    Raises
    ------
    cv2.error
        When ECC does not converge.
    """
    if warp_mode not in _ECC_MODES:
        raise RegistrationError(f"warp_mode {warp_mode!r} not in {sorted(_ECC_MODES)}")
    t = _as_gray_float(im_template, "im_template")
    m = _as_gray_float(im_moving, "im_moving")
    if t.shape != m.shape:
        raise RegistrationError(f"template {t.shape} and moving {m.shape} images differ in shape")
    if warp_init is None:
        warp = np.eye(3, dtype=np.float32)
    else:
        warp = as_3x3(warp_init).astype(np.float32)
    if warp_mode != "homography":
        warp = np.ascontiguousarray(warp[:2])
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, int(n_iter),
                float(termination_eps))
    g = max(1, int(np.round(gaussFiltSize)))
    g += 1 - g % 2
    msk = None if mask is None else (np.asarray(mask) > 0).astype(np.uint8)
    _, warp = cv2.findTransformECC(t, m, warp, _ECC_MODES[warp_mode], criteria, msk, g)
    return warp


def ecc_correlation(im_template: np.ndarray, im_moving: np.ndarray, warp_matrix: np.ndarray,
                    mask: np.ndarray | None = None) -> float:
    """Zero-mean normalised correlation of the template with the warped moving image, over
    the template pixels whose warped position falls inside the moving image (and ``mask``)."""
    t = _as_gray_float(im_template, "im_template")
    m = _as_gray_float(im_moving, "im_moving")
    h, w = t.shape
    ri = warp_matrix_to_remappingIdx(warp_matrix, w, h)
    valid = (ri[..., 0] >= 0) & (ri[..., 0] <= w - 1) & (ri[..., 1] >= 0) & (ri[..., 1] <= h - 1)
    if mask is not None:
        valid &= np.asarray(mask) > 0
    if valid.sum() < 16:
        return -1.0
    wm = remap_images(m, ri)
    a, b = t[valid].astype(np.float64), wm[valid].astype(np.float64)
    a, b = a - a.mean(), b - b.mean()
    return float((a @ b) / (np.sqrt((a @ a) * (b @ b)) + 1e-12))



class ECC_cv2(ImageRegistrationMethod):
    """ECC registration (:func:`find_geometric_transformation`), coarse to fine, with retries.

    Parameters
    ----------
    mode_transform : {"translation", "euclidean", "affine", "homography"}
    n_iter : int
        Maximum ECC iterations per pyramid level.
    termination_eps : float
        ECC convergence tolerance.
    gaussFiltSize : int
        Gaussian pre-filter size.
    auto_fix_gaussFilt_step : int or None
        On non-convergence retry with ``gaussFiltSize`` increased by this step (up to
        ``max_retries`` times); None disables retries.
    init_phase_correlation : bool
        Also start from the phase-correlation translation and keep the start that ends with
        the higher correlation (robust to shifts of many px).
    pyramid_levels : int
        Run ECC on images downsampled by 2**k, k = levels-1 .. 0, each level starting from
        the previous one's warp (a wider capture range for rotations); levels whose images
        would be smaller than 32 px are skipped. 1 = full resolution only.
    max_retries : int
    device, verbose
        Kept for API compatibility (ECC runs on the CPU).
    """

    def __init__(self, mode_transform: str = "euclidean", n_iter: int = 200,
                 termination_eps: float = 1e-9, gaussFiltSize: float = 1,
                 auto_fix_gaussFilt_step: int | None = 10, device: str = "cpu",
                 verbose: bool | int = False, *, init_phase_correlation: bool = True,
                 pyramid_levels: int = 3, max_retries: int = 5):
        super().__init__(device=device, verbose=verbose)
        if mode_transform not in _ECC_MODES:
            raise RegistrationError(f"ECC mode_transform {mode_transform!r} not in "
                                    f"{sorted(_ECC_MODES)}")
        if int(pyramid_levels) < 1:
            raise RegistrationError(f"pyramid_levels must be >= 1, got {pyramid_levels}")
        self.mode_transform = mode_transform
        self.n_iter = int(n_iter)
        self.termination_eps = float(termination_eps)
        self.gaussFiltSize = int(np.round(gaussFiltSize))
        self.auto_fix_gaussFilt_step = auto_fix_gaussFilt_step
        self.init_phase_correlation = bool(init_phase_correlation)
        self.pyramid_levels = int(pyramid_levels)
        self.max_retries = int(max_retries)

    def _pyramid(self, t: np.ndarray, m: np.ndarray, mask, g: int, init: np.ndarray
                 ) -> np.ndarray:
        """Coarse-to-fine ECC from ``init`` (3, 3); raises cv2.error if the finest fails."""
        h, w = t.shape
        warp = as_3x3(init)
        levels = [k for k in range(self.pyramid_levels) if min(h, w) / 2 ** k >= 32] or [0]
        for k in sorted(levels, reverse=True):
            if k == 0:
                return as_3x3(find_geometric_transformation(
                    t, m, warp_mode=self.mode_transform, n_iter=self.n_iter,
                    termination_eps=self.termination_eps, mask=mask, gaussFiltSize=g,
                    warp_init=warp))
            s = 2 ** k
            size = (max(w // s, 1), max(h // s, 1))
            tk = cv2.resize(t, size, interpolation=cv2.INTER_AREA)
            mk = cv2.resize(m, size, interpolation=cv2.INTER_AREA)
            mask_k = None if mask is None else cv2.resize(
                (np.asarray(mask) > 0).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
            sc = np.array([[s, 0, (s - 1) / 2], [0, s, (s - 1) / 2], [0, 0, 1.0]])
            sc_inv = np.linalg.inv(sc)
            try:
                wk = find_geometric_transformation(
                    tk, mk, warp_mode=self.mode_transform, n_iter=self.n_iter,
                    termination_eps=self.termination_eps, mask=mask_k, gaussFiltSize=g,
                    warp_init=sc_inv @ warp @ sc)
                warp = sc @ as_3x3(wk) @ sc_inv
            except cv2.error:  # keep the previous estimate and refine at the next level
                continue
        return warp  # pragma: no cover - level 0 always returns

    def fit_rigid(self, im_template, im_moving, mask: np.ndarray | None = None, **kwargs
                  ) -> np.ndarray:
        """ECC warp (3, 3) float64 template -> moving; RuntimeError after all retries fail."""
        t = _as_gray_float(im_template, "im_template")
        m = _as_gray_float(im_moving, "im_moving")
        if t.shape != m.shape:
            raise RegistrationError(f"template {t.shape} and moving {m.shape} images differ in "
                                    "shape")
        inits = [np.eye(3)]
        if self.init_phase_correlation:
            dx, dy, _ = phase_correlation_shift(t, m)
            if np.hypot(dx, dy) > 0.5:
                inits.append(np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], dtype=np.float64))
        g = self.gaussFiltSize
        last_err: Exception | None = None
        for attempt in range(self.max_retries + 1):
            best, best_cc = None, -np.inf
            for init in inits:
                try:
                    w = self._pyramid(t, m, mask, g, init)
                except cv2.error as e:
                    last_err = e
                    continue
                cc = ecc_correlation(t, m, w, mask=mask)
                if cc > best_cc:
                    best, best_cc = w, cc
            if best is not None:
                return best
            if not self.auto_fix_gaussFilt_step:
                break
            g = g + int(self.auto_fix_gaussFilt_step)
            logger.info("ECC did not converge (attempt %d); retrying with gaussFiltSize=%d",
                        attempt + 1, g)
        msg = " ".join(str(last_err).split())
        msg = msg[msg.find("error:"):] if "error:" in msg else msg
        raise RuntimeError(f"ECC ({self.mode_transform}) did not converge after "
                           f"{attempt + 1} attempt(s): {msg[:200]}")

