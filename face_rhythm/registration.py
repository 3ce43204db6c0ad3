"""Image registration: backends, alignment scores, registration paths, results on disk.

Warp matrices, remapping indices and how to apply, compose and invert them live in
:mod:`face_rhythm.warps` (its docstring states the coordinate conventions used here);
phase correlation in :mod:`face_rhythm.phase_correlation`; the RoMa backend and its weight
download in :mod:`face_rhythm.roma`. All their public names are re-exported here.

Backends (:class:`ECC_cv2`, :class:`PhaseCorrelationRegistration`,
:class:`NullRegistration`, :class:`RoMa`) all return a (3, 3) float64 warp matrix from
``fit_rigid(im_template, im_moving)``. :class:`ImageAlignmentChecker` scores alignment by the
z-score of the phase-correlation peak at zero shift; :func:`register_images` ties it
together (fixed template or sequential chain, all-pairs search for better paths through other
images with :func:`scipy.sparse.csgraph.shortest_path`, optional non-rigid refinement).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
import torch

from .phase_correlation import (
    _window_2d,
    design_butter_bandpass,
    make_2D_frequency_filter,
    make_distance_grid,
    phase_correlation,
    phase_correlation_shift,
)
from .warps import (
    RegistrationError,
    _as_gray_float,
    apply_warp_transform,
    as_3x3,
    compose_remappingIdx,
    compose_transform_matrices,
    cv2RemappingIdx_to_pytorchFlowField,
    flowField_to_remappingIdx,
    invert_remappingIdx,
    invert_warp_matrix,
    mask_image_border,
    remap_images,
    remap_points,
    remappingIdx_to_flowField,
    transform_points,
    warp_matrix_to_remappingIdx,
)

if TYPE_CHECKING:
    from .roma import RoMa, fetch_weights, hash_file

    METHODS: dict[str, type[ImageRegistrationMethod]]

logger = logging.getLogger(__name__)

__all__ = [
    "METHODS",
    "MULTISESSION_EXTRA_HINT",
    "ECC_cv2",
    "ImageAlignmentChecker",
    "ImageRegistrationMethod",
    "NullRegistration",
    "PhaseCorrelationRegistration",
    "RegistrationError",
    "RegistrationResult",
    "RoMa",
    "apply_warp_transform",
    "as_3x3",
    "best_paths_to_template",
    "compose_remappingIdx",
    "compose_transform_matrices",
    "cv2RemappingIdx_to_pytorchFlowField",
    "design_butter_bandpass",
    "ecc_correlation",
    "fetch_weights",
    "find_geometric_transformation",
    "fit_nonrigid",
    "fit_warp_to_points",
    "flowField_to_remappingIdx",
    "get_path_between_nodes",
    "hash_file",
    "invert_remappingIdx",
    "invert_warp_matrix",
    "load_registration_h5",
    "make_2D_frequency_filter",
    "make_distance_grid",
    "make_registration_method",
    "mask_image_border",
    "phase_correlation",
    "phase_correlation_shift",
    "register_images",
    "remap_images",
    "remap_points",
    "remappingIdx_to_flowField",
    "save_registration_h5",
    "transform_points",
    "warp_matrix_to_remappingIdx",
]

MULTISESSION_EXTRA_HINT = "pip install face-rhythm[multisession]"


# ============================================================================ ECC


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


# ============================================================================ backends


class ImageRegistrationMethod:
    """Base class of registration backends.

    Subclasses either implement :meth:`_forward_rigid` (matched keypoints, fitted here with
    RANSAC) or override :meth:`fit_rigid`. All return (3, 3) float64 template -> moving
    warp matrices.

    Parameters
    ----------
    device : str
        Torch device of the backend.
    verbose : bool or int
    """

    def __init__(self, device: str = "cpu", verbose: bool | int = False):
        self.device = "cpu" if device is None else str(device)
        self.verbose = verbose

    def _forward_rigid(self, im_template, im_moving, **kwargs) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError(f"{type(self).__name__} does not produce keypoints")

    def fit_rigid(self, im_template, im_moving, inl_thresh: float = 2.0, max_iter: int = 10,
                  confidence: float = 0.99, constraint: str = "homography", **kwargs
                  ) -> np.ndarray:
        """Fit a constrained warp to matched keypoints with RANSAC.

        Parameters
        ----------
        im_template, im_moving : (H, W)
        inl_thresh : float
            RANSAC inlier threshold, px.
        max_iter : int
            RANSAC iterations (in thousands for OpenCV's estimators, at least 1000).
        confidence : float
        constraint : {"rigid", "euclidean", "similarity", "affine", "homography"}

        Returns
        -------
        (3, 3) float64
        """
        pts_t, pts_m = self._forward_rigid(im_template, im_moving, **kwargs)
        return fit_warp_to_points(pts_t, pts_m, constraint=constraint, inl_thresh=inl_thresh,
                                  max_iter=max_iter, confidence=confidence)


def _rigid_procrustes(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rotation + translation with dst ~ R src + t, (2, 3)."""
    cs, cd = src.mean(0), dst.mean(0)
    u, _, vt = np.linalg.svd((src - cs).T @ (dst - cd))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1.0, d]) @ u.T
    return np.hstack([r, (cd - r @ cs)[:, None]])


def fit_warp_to_points(pts_template: np.ndarray, pts_moving: np.ndarray,
                       constraint: str = "affine", inl_thresh: float = 2.0,
                       max_iter: int = 10, confidence: float = 0.99) -> np.ndarray:
    """Robustly fit a template -> moving warp to matched points (N, 2) each; (3, 3) float64."""
    src = np.asarray(pts_template, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(pts_moving, dtype=np.float64).reshape(-1, 2)
    if src.shape != dst.shape:
        raise RegistrationError(f"matched point arrays differ in shape: {src.shape} vs "
                                f"{dst.shape}")
    if src.shape[0] < 4:
        raise RuntimeError(f"only {src.shape[0]} matched points; at least 4 are needed")
    iters = max(1000, int(max_iter) * 1000)
    if constraint in ("rigid", "euclidean", "similarity"):
        m, inl = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC,
                                             ransacReprojThreshold=inl_thresh, maxIters=iters,
                                             confidence=confidence)
        if m is None:
            raise RuntimeError(f"RANSAC ({constraint}) found no model")
        if constraint != "similarity":
            keep = inl.ravel().astype(bool)
            m = _rigid_procrustes(src[keep], dst[keep])
        return as_3x3(m)
    if constraint == "affine":
        m, _ = cv2.estimateAffine2D(src, dst, method=cv2.RANSAC,
                                    ransacReprojThreshold=inl_thresh, maxIters=iters,
                                    confidence=confidence)
        if m is None:
            raise RuntimeError("RANSAC (affine) found no model")
        return as_3x3(m)
    if constraint == "homography":
        m, _ = cv2.findHomography(src, dst, method=cv2.USAC_MAGSAC,
                                  ransacReprojThreshold=inl_thresh, maxIters=iters,
                                  confidence=confidence)
        if m is None:
            raise RuntimeError("MAGSAC (homography) found no model")
        return as_3x3(m)
    raise RegistrationError(f"constraint {constraint!r} not in rigid, euclidean, similarity, "
                            "affine, homography")


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
                 auto_fix_gaussFilt_step: int | None = 10, init_phase_correlation: bool = True,
                 pyramid_levels: int = 3, max_retries: int = 5, device: str = "cpu",
                 verbose: bool | int = False):
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


class PhaseCorrelationRegistration(ImageRegistrationMethod):
    """Translation-only registration by the phase-correlation peak (sub-pixel).

    Parameters
    ----------
    device : str
        Unused (FFT on the CPU); kept for API compatibility.
    bandpass_freqs : [low, high], optional
        Frequency band (px of distance from the spectrum centre) of a Butterworth mask
        applied to both spectra.
    order : int
        Butterworth order of the band mask.
    window : bool
        Taper both images with a Tukey window (avoids the edge cross of periodic FFTs).
    """

    def __init__(self, device: str = "cpu", bandpass_freqs: Sequence[float] | None = None,
                 order: int = 5, window: bool = True, verbose: bool = False):
        super().__init__(device=device, verbose=verbose)
        if bandpass_freqs is not None and len(bandpass_freqs) != 2:
            raise RegistrationError(f"bandpass_freqs must be [low, high], got {bandpass_freqs}")
        self.bandpass_freqs = None if bandpass_freqs is None else [float(v) for v in
                                                                   bandpass_freqs]
        self.order = int(order)
        self.window = bool(window)

    def fit_rigid(self, im_template, im_moving, **kwargs) -> np.ndarray:
        """(3, 3) float64 translation warp ``[[1, 0, dx], [0, 1, dy], [0, 0, 1]]``."""
        t = _as_gray_float(im_template, "im_template")
        mask = None
        if self.bandpass_freqs is not None:
            mask = make_2D_frequency_filter(t.shape, low=self.bandpass_freqs[0],
                                            high=self.bandpass_freqs[1], order=self.order)
        dx, dy, _ = phase_correlation_shift(t, im_moving, mask_fft=mask, window=self.window)
        return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


class NullRegistration(ImageRegistrationMethod):
    """Identity registration (pre-registered images, debugging, baseline)."""

    def __init__(self, device: str | None = None, verbose: bool = False):
        super().__init__(device=device or "cpu", verbose=verbose)

    def fit_rigid(self, im_template, im_moving, **kwargs) -> np.ndarray:
        """(3, 3) identity."""
        return np.eye(3)


# face_rhythm.roma imports this module (for ImageRegistrationMethod), so its names, and
# METHODS (which holds RoMa), are resolved on first access (PEP 562 module __getattr__).
_ROMA_NAMES = ("RoMa", "fetch_weights", "hash_file")
_METHODS: dict[str, type[ImageRegistrationMethod]] = {}


def _methods() -> dict[str, type[ImageRegistrationMethod]]:
    """The backend table :data:`METHODS` (name -> class), built on first use."""
    if not _METHODS:
        from .roma import RoMa

        _METHODS.update({
            "ECC_cv2": ECC_cv2,
            "PhaseCorrelation": PhaseCorrelationRegistration,
            "PhaseCorrelationRegistration": PhaseCorrelationRegistration,
            "NullRegistration": NullRegistration,
            "Null": NullRegistration,
            "RoMa": RoMa,
        })
    return _METHODS


def __getattr__(name: str) -> Any:
    if name in _ROMA_NAMES:
        from . import roma

        return getattr(roma, name)
    if name == "METHODS":
        return _methods()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_registration_method(method: str, **kwargs) -> ImageRegistrationMethod:
    """Construct a backend by name: ECC_cv2, PhaseCorrelation, NullRegistration (Null), RoMa."""
    methods = _methods()
    if method not in methods:
        raise RegistrationError(f"registration method {method!r} not in "
                                f"{sorted(set(methods))}")
    return methods[method](**kwargs)


# ============================================================================ quality


class ImageAlignmentChecker:
    """Score alignment of image pairs by the phase-correlation peak at zero shift.

    For each pair the phase-correlation surface (images mean-subtracted and Tukey-windowed)
    is weighted by an "in" filter (distance from zero shift below ``radius_in``) and an
    "out" filter (above ``radius_out``). The score ``z_in = (max_in - ptile95_out) /
    std_out``: how far the peak near zero shift stands above the correlation noise
    elsewhere. Aligned pairs of textured images score tens to hundreds; unrelated or
    misaligned pairs score near or below zero.

    Parameters
    ----------
    hw : (H, W)
    radius_in : float or (low, high)
        Upper bound of the "in" band (lower bound 0), px; or an explicit band.
    radius_out : float or (low, high)
        Lower bound of the "out" band (upper bound min(H, W) / 2), px; or an explicit band.
    order : int
        Butterworth order of both filters.
    device : str
        Torch device for the filters and FFTs.
    window : bool
        Tukey-taper images before the FFT.
    """

    def __init__(self, hw: Sequence[int], radius_in: float | Sequence[float],
                 radius_out: float | Sequence[float], order: int = 5, device: str = "cpu",
                 window: bool = True):
        self.hw = tuple(int(v) for v in hw)
        self.order = int(order)
        self.device = str(device)
        self.window = bool(window)
        h, w = self.hw
        b_in = (0.0, float(radius_in)) if np.isscalar(radius_in) else tuple(radius_in)
        b_out = (float(radius_out), min(h, w) / 2) if np.isscalar(radius_out) \
            else tuple(radius_out)
        if not b_in[1] < min(h, w) / 2 or not b_out[0] < min(h, w) / 2:
            raise RegistrationError(f"alignment checker radii {b_in}, {b_out} do not fit images "
                                    f"of {h}x{w}")
        self.filt_in = torch.as_tensor(make_2D_frequency_filter(self.hw, *b_in, order=order),
                                       dtype=torch.float32, device=self.device)
        self.filt_out = torch.as_tensor(make_2D_frequency_filter(self.hw, *b_out, order=order),
                                        dtype=torch.float32, device=self.device)
        self._win = torch.as_tensor(_window_2d(h, w) if self.window else np.ones((h, w)),
                                    dtype=torch.float32, device=self.device)

    def _prep(self, images) -> torch.Tensor:
        if isinstance(images, (list, tuple)):
            images = np.stack([np.asarray(im.detach().cpu() if isinstance(im, torch.Tensor)
                                          else im, dtype=np.float32) for im in images])
        x = torch.as_tensor(images if isinstance(images, torch.Tensor) else
                            np.asarray(images, dtype=np.float32), device=self.device)
        x = x.to(torch.float32)
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3 or tuple(x.shape[-2:]) != self.hw:
            raise RegistrationError(f"images must be (N, {self.hw[0]}, {self.hw[1]}), got "
                                    f"{tuple(x.shape)}")
        x = torch.nan_to_num(x, nan=0.0)
        x = x - x.mean(dim=(-2, -1), keepdim=True)
        return x * self._win

    def score_alignment(self, images, images_ref=None) -> dict[str, Any]:
        """Statistics for every (image, reference) pair.

        Parameters
        ----------
        images : (N, H, W) or (H, W) or list
        images_ref : (M, H, W), optional
            Defaults to ``images`` (N x N scoring).

        Returns
        -------
        dict of numpy arrays, each (N, M) except ``pc`` (N, M, H, W):
            ``pc``, ``mean_in``, ``mean_out``, ``ptile95_out``, ``max_in``, ``std_in``,
            ``std_out``, ``max_diff``, ``z_in`` (the score) and ``r_in`` (max_in / max of
            the out region).
        """
        x = self._prep(images)
        r = x if images_ref is None else self._prep(images_ref)
        pc = phase_correlation(r[None, :, :, :], x[:, None, :, :])
        fi, fo = self.filt_in, self.filt_out
        si, so = fi.sum(), fo.sum()
        mean_in = (pc * fi).sum((-2, -1)) / si
        mean_out = (pc * fo).sum((-2, -1)) / so
        std_in = torch.sqrt(((pc - mean_in[..., None, None]) ** 2 * fi).sum((-2, -1)) / si)
        std_out = torch.sqrt(((pc - mean_out[..., None, None]) ** 2 * fo).sum((-2, -1)) / so)
        max_in = (pc * fi).amax(dim=(-2, -1))
        sel = fo > 0.5
        vals_out = pc[..., sel]
        ptile95_out = torch.quantile(vals_out, 0.95, dim=-1)
        max_out = vals_out.amax(dim=-1)
        max_diff = max_in - ptile95_out
        z_in = max_diff / (std_out + 1e-12)
        r_in = max_in / (max_out.abs() + 1e-12)
        out = {"pc": pc, "mean_in": mean_in, "mean_out": mean_out, "ptile95_out": ptile95_out,
               "max_in": max_in, "std_in": std_in, "std_out": std_out, "max_diff": max_diff,
               "z_in": z_in, "r_in": r_in}
        return {k: v.cpu().numpy() for k, v in out.items()}


def get_path_between_nodes(idx_start: int, idx_end: int, predecessors: np.ndarray,
                           max_length: int = 9999) -> list[int]:
    """Path ``[idx_start, ..., idx_end]`` from a shortest-path predecessor matrix.

    ``predecessors`` is from :func:`scipy.sparse.csgraph.shortest_path` run from
    ``idx_end`` on the *transposed* graph (or on a symmetric graph), so
    ``predecessors[idx_end, k]`` is the node after ``k`` on the way from ``k`` to
    ``idx_end``.

    Raises
    ------
    ValueError
        No path (the -9999 placeholder) or a path longer than ``max_length``.
    """
    pred = np.asarray(predecessors)
    if pred.ndim != 2 or pred.shape[0] != pred.shape[1]:
        raise ValueError(f"predecessors must be a square matrix, got shape {pred.shape}")
    n = pred.shape[0]
    if not (0 <= int(idx_start) < n and 0 <= int(idx_end) < n):
        raise ValueError(f"node indices {idx_start}, {idx_end} outside 0..{n - 1}")
    path = [int(idx_start)]
    cur = int(idx_start)
    while cur != int(idx_end):
        nxt = int(pred[int(idx_end), cur])
        if nxt == -9999:
            raise ValueError(f"no path from node {idx_start} to node {idx_end}")
        path.append(nxt)
        cur = nxt
        if len(path) > max_length:
            raise ValueError(f"path from {idx_start} to {idx_end} longer than {max_length}")
    return path


def best_paths_to_template(z: np.ndarray, template: int, z_threshold: float
                           ) -> tuple[list[list[int] | None], np.ndarray]:
    """Best registration path from every image to the template through the pair scores.

    Edge ``i -> j`` ("register i onto j") exists when ``z[i, j] >= z_threshold`` and costs
    ``1 - s`` with the bounded score ``s = z / (z + z_threshold)`` (so each hop costs at most
    0.5 and good hops cost little); Dijkstra finds the cheapest route to ``template``.

    Parameters
    ----------
    z : (N, N)
        ``z[i, j]``: alignment score of image i registered onto image j.
    template : int
    z_threshold : float

    Returns
    -------
    paths : list
        ``paths[i] = [i, ..., template]``, or None when no passing route exists.
    cost : (N,) float
        Path costs (inf where none).
    """
    z = np.asarray(z, dtype=np.float64)
    n = z.shape[0]
    good = np.isfinite(z) & (z >= z_threshold)
    np.fill_diagonal(good, False)
    zg = np.where(good, z, 1.0)
    cost = np.where(good, np.maximum(z_threshold / (zg + z_threshold), 1e-9), 0.0)
    graph = scipy.sparse.csr_matrix(cost.T)  # transposed: search from the template
    dist, pred = scipy.sparse.csgraph.shortest_path(graph, method="D", directed=True,
                                                    return_predecessors=True,
                                                    indices=[int(template)])
    pred_full = np.full((n, n), -9999, dtype=np.int64)
    pred_full[int(template)] = pred[0]
    paths: list[list[int] | None] = []
    for i in range(n):
        if i == template:
            paths.append([int(template)])
        elif np.isfinite(dist[0, i]):
            paths.append(get_path_between_nodes(i, int(template), pred_full))
        else:
            paths.append(None)
    return paths, dist[0]


# ============================================================================ non-rigid


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


# ============================================================================ high level


@dataclasses.dataclass
class RegistrationResult:
    """Registration of N images to a template.

    Attributes
    ----------
    warp_matrices : (N, 3, 3) float64
        Template -> image i coordinates (identity for the template).
    remappingIdx_nonrigid : list of (H, W, 2) float32 or None
        Full (geometric + non-rigid) remap fields when non-rigid refinement ran.
    z_initial : (N,) float64
        Alignment score after the first (direct or sequential) registration.
    z_final : (N,) float64
        Alignment score with the final warps (geometric, then non-rigid when it ran).
    passed : (N,) bool
        ``z_final >= z_threshold``.
    paths : list of list of int
        Registration route of each image, ``[i, ..., template]``.
    z_matrix : (N, N) float64 or None
        All-pairs scores (image i registered onto image j) when the path search ran.
    template_index : int
    method : str
    z_threshold : float
    """

    warp_matrices: np.ndarray
    z_initial: np.ndarray
    z_final: np.ndarray
    passed: np.ndarray
    paths: list[list[int]]
    template_index: int
    method: str
    z_threshold: float
    z_matrix: np.ndarray | None = None
    remappingIdx_nonrigid: list[np.ndarray] | None = None

    def remappingIdx(self, i: int, hw: Sequence[int]) -> np.ndarray:
        """(H, W, 2) remap field of image i (non-rigid when available)."""
        if self.remappingIdx_nonrigid is not None:
            return self.remappingIdx_nonrigid[i]
        return warp_matrix_to_remappingIdx(self.warp_matrices[i], int(hw[1]), int(hw[0]))


def _check_images(ims: Sequence[np.ndarray]) -> list[np.ndarray]:
    if len(ims) < 1:
        raise RegistrationError("no images to register")
    out = [_as_gray_float(im, f"image {i}") for i, im in enumerate(ims)]
    shapes = {im.shape for im in out}
    if len(shapes) != 1:
        raise RegistrationError(f"images must all have one shape, got {sorted(shapes)}")
    return out


def _resolve_template(template: float, n: int) -> int:
    if isinstance(template, (float, np.floating)) and not float(template).is_integer():
        if not 0 <= template <= 1:
            raise RegistrationError(f"fractional template {template} must be in [0, 1]")
        return min(int(n * float(template)), n - 1)
    t = int(template)
    if not 0 <= t < n:
        raise RegistrationError(f"template index {t} outside 0..{n - 1}")
    return t


def register_images(images: Sequence[np.ndarray], template: float = 0,
                    template_method: str = "image", method: str = "ECC_cv2",
                    kwargs_method: Mapping[str, Any] | None = None,
                    z_threshold: float = 4.0, use_match_search: bool = True,
                    all_to_all: bool = False, radius_in: float = 4.0, radius_out: float = 20.0,
                    order: int = 5, nonrigid: str | None = None,
                    kwargs_nonrigid: Mapping[str, Any] | None = None,
                    backend: ImageRegistrationMethod | None = None,
                    mask_borders: Sequence[int] = (0, 0, 0, 0),
                    kwargs_fit: Mapping[str, Any] | None = None) -> RegistrationResult:
    """Register images to a template, score them, and reroute bad ones through others.

    Parameters
    ----------
    images : sequence of (H, W)
        Same shape (e.g. sessions' reference frames).
    template : int or float
        Template index (a fraction in [0, 1] means ``int(N * f)``).
    template_method : {"image", "fixed", "sequential"}
        ``image``/``fixed``: every image registered directly onto the template;
        ``sequential``: each image onto its neighbour toward the template, warps composed
        along the chain.
    method : str
        Backend name (see :data:`METHODS`), constructed with ``kwargs_method``.
    z_threshold : float
        Alignment scores below this fail.
    use_match_search : bool
        When any image fails, register all pairs and route failing images along the best
        path of passing pairs (:func:`best_paths_to_template`).
    all_to_all : bool
        Always run the all-pairs search and use the best paths for every image.
    radius_in, radius_out, order
        :class:`ImageAlignmentChecker` parameters (px).
    nonrigid : {None, "farneback", "deepflow"}
        Optional dense refinement after the geometric warp.
    backend : ImageRegistrationMethod, optional
        A constructed backend (overrides ``method``/``kwargs_method``).
    mask_borders : (top, bottom, left, right)
        Border widths (px) set to the image mean before registration and scoring.
    kwargs_fit : dict, optional
        Passed to the backend's ``fit_rigid`` (e.g. ``constraint`` and RANSAC settings of
        keypoint backends such as RoMa).

    Returns
    -------
    RegistrationResult
    """
    ims = _check_images(images)
    n = len(ims)
    h, w = ims[0].shape
    if any(mask_borders):
        ims = [mask_image_border(im, tuple(mask_borders), mask_value=float(im.mean()))
               for im in ims]
    t_idx = _resolve_template(template, n)
    if template_method not in ("image", "fixed", "sequential"):
        raise RegistrationError(f"template_method {template_method!r} not in image, fixed, "
                                "sequential")
    if nonrigid not in (None, "farneback", "deepflow"):
        raise RegistrationError(f"nonrigid {nonrigid!r} not in None, 'farneback', 'deepflow'")
    reg = backend if backend is not None else make_registration_method(
        method, **dict(kwargs_method or {}))
    method_name = method if backend is None else type(backend).__name__
    checker = ImageAlignmentChecker((h, w), radius_in=radius_in, radius_out=radius_out,
                                    order=order)

    def fit(i: int, j: int) -> np.ndarray:
        """Warp registering image i onto image j (template j)."""
        if i == j:
            return np.eye(3)
        try:
            return as_3x3(reg.fit_rigid(ims[j], ims[i], **dict(kwargs_fit or {})))
        except RuntimeError as e:
            logger.warning("registration of image %d onto image %d failed: %s", i, j, e)
            return np.full((3, 3), np.nan)

    def warped(i: int, m: np.ndarray) -> np.ndarray:
        if not np.all(np.isfinite(m)):
            return np.full((h, w), np.nan, dtype=np.float32)
        return remap_images(ims[i], warp_matrix_to_remappingIdx(m, w, h), border_mode="constant",
                            border_value=float(ims[i].mean()))

    def score(imgs: list[np.ndarray], refs: list[np.ndarray]) -> np.ndarray:
        zs = []
        for a, b in zip(imgs, refs, strict=True):
            if not np.all(np.isfinite(a)):
                zs.append(-np.inf)
            else:
                zs.append(float(checker.score_alignment(a, b)["z_in"][0, 0]))
        return np.asarray(zs)

    # 1. direct / sequential registration
    mats = np.empty((n, 3, 3))
    paths: list[list[int]] = []
    if template_method == "sequential":
        step = {i: (i + 1 if i < t_idx else i - 1) for i in range(n) if i != t_idx}
        pair = {i: fit(i, j) for i, j in step.items()}
        for i in range(n):
            m, path, k = np.eye(3), [i], i
            while k != t_idx:
                m = m @ pair[k]
                k = step[k]
                path.append(k)
            mats[i] = m
            paths.append(path)
    else:
        for i in range(n):
            mats[i] = fit(i, t_idx)
            paths.append([i] if i == t_idx else [i, t_idx])
    z0 = score([warped(i, mats[i]) for i in range(n)], [ims[t_idx]] * n)
    z0[t_idx] = np.inf  # the template is aligned with itself by definition
    logger.info("initial alignment z-scores: %s", np.array2string(z0, precision=1))

    # 2. all-pairs search for better routes
    z_matrix = None
    fails = [i for i in range(n) if z0[i] < z_threshold and i != t_idx]
    if n > 2 and (all_to_all or (use_match_search and fails)):
        logger.info("path search over all %d image pairs (failing: %s)", n * (n - 1) // 2, fails)
        pair_m = np.tile(np.eye(3), (n, n, 1, 1))
        for i in range(n):
            for j in range(i + 1, n):
                m = fit(i, j)
                pair_m[i, j] = m
                pair_m[j, i] = invert_warp_matrix(m) if np.all(np.isfinite(m)) else m
        z_matrix = np.full((n, n), np.nan)
        for j in range(n):
            others = [i for i in range(n) if i != j]
            z_matrix[others, j] = score([warped(i, pair_m[i, j]) for i in others],
                                        [ims[j]] * len(others))
        new_paths, _ = best_paths_to_template(z_matrix, t_idx, z_threshold)
        targets = range(n) if all_to_all else fails
        for i in targets:
            p = new_paths[i]
            if p is None or i == t_idx:
                continue
            m = np.eye(3)
            for a, b in itertools.pairwise(p):
                m = m @ pair_m[a, b]
            mats[i] = m
            paths[i] = p
    z_final = score([warped(i, mats[i]) for i in range(n)], [ims[t_idx]] * n)
    z_final[t_idx] = z0[t_idx]

    # 3. optional non-rigid refinement
    remaps_nr = None
    if nonrigid is not None:
        remaps_nr = []
        refined = []
        for i in range(n):
            r_geo = warp_matrix_to_remappingIdx(mats[i], w, h)
            if i == t_idx or not np.all(np.isfinite(mats[i])):
                remaps_nr.append(r_geo)
                refined.append(warped(i, mats[i]))
                continue
            geo = remap_images(ims[i], r_geo, border_value=float(ims[i].mean()))
            r_nr = fit_nonrigid(ims[t_idx], geo, method=nonrigid, kwargs_method=kwargs_nonrigid)
            r_tot = compose_remappingIdx(r_geo, r_nr, fill_value=None)
            remaps_nr.append(r_tot)
            refined.append(remap_images(ims[i], r_tot, border_value=float(ims[i].mean())))
        z_final = score(refined, [ims[t_idx]] * n)
        z_final[t_idx] = z0[t_idx]
    logger.info("final alignment z-scores: %s (threshold %g); paths %s",
                np.array2string(z_final, precision=1), z_threshold, paths)
    return RegistrationResult(warp_matrices=mats, z_initial=z0, z_final=z_final,
                              passed=z_final >= z_threshold, paths=paths, template_index=t_idx,
                              method=method_name, z_threshold=float(z_threshold),
                              z_matrix=z_matrix, remappingIdx_nonrigid=remaps_nr)


# ============================================================================ files


def save_registration_h5(path: str | os.PathLike, result: RegistrationResult, index: int,
                         names: Sequence[str], registered_image: np.ndarray | None = None,
                         params: Mapping[str, Any] | None = None,
                         run_info: Mapping[str, Any] | None = None) -> Path:
    """Write one image's registration (``registration.h5``) atomically.

    Keys: ``warp_matrix`` (3, 3) float64 (template -> this session's coordinates);
    ``remappingIdx`` (H, W, 2) float32 when non-rigid refinement ran; ``z_initial``,
    ``z_final`` (float), ``passed`` (bool), ``z_threshold``; ``path`` (session names from
    this session to the template); ``session``, ``template_session``, ``method``;
    ``sessions`` and ``z_matrix`` (N, N) when the all-pairs search ran;
    ``registered_reference_frame`` (H, W) float32; ``params`` (JSON); ``run_info/``.
    """
    import json

    import h5py

    from .h5_handling import atomic_h5
    from .provenance import run_info_to_h5_dict

    names = [str(n) for n in names]
    str_dt = h5py.string_dtype()
    with atomic_h5(path) as f:
        f.create_dataset("warp_matrix", data=np.asarray(result.warp_matrices[index], np.float64))
        if result.remappingIdx_nonrigid is not None:
            f.create_dataset("remappingIdx",
                             data=np.asarray(result.remappingIdx_nonrigid[index], np.float32),
                             compression="gzip")
        f.create_dataset("z_initial", data=float(result.z_initial[index]))
        f.create_dataset("z_final", data=float(result.z_final[index]))
        f.create_dataset("passed", data=bool(result.passed[index]))
        f.create_dataset("z_threshold", data=float(result.z_threshold))
        f.create_dataset("path", data=np.array([names[k] for k in result.paths[index]],
                                               dtype=object), dtype=str_dt)
        f.create_dataset("session", data=names[index])
        f.create_dataset("template_session", data=names[result.template_index])
        f.create_dataset("method", data=str(result.method))
        if result.z_matrix is not None:
            f.create_dataset("sessions", data=np.array(names, dtype=object), dtype=str_dt)
            f.create_dataset("z_matrix", data=np.asarray(result.z_matrix, np.float64))
        if registered_image is not None:
            f.create_dataset("registered_reference_frame",
                             data=np.asarray(registered_image, np.float32), compression="gzip")
        f.create_dataset("params", data=json.dumps(dict(params or {}), default=str,
                                                   sort_keys=True))
        if run_info is not None:
            g = f.create_group("run_info")
            for k, v in run_info_to_h5_dict(run_info).items():
                g.create_dataset(k, data=v)
    logger.info("saved registration of %s (z=%.1f) to %s", names[index],
                float(result.z_final[index]), path)
    return Path(path)


def load_registration_h5(path: str | os.PathLike) -> dict[str, Any]:
    """Read ``registration.h5`` (see :func:`save_registration_h5`); strings decoded."""
    from face_rhythm.h5_handling import load_top_datasets

    return load_top_datasets(path, "warp_matrix", "registration.h5")
