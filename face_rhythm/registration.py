"""Image registration and warps: matrices, remapping indices, backends, scores and paths.

Conventions
-----------
* Points are ``(x, y)`` pixel coordinates (x = column, y = row); pixel centres sit at integer
  coordinates.
* A **warp matrix** ``W`` ((2, 3) affine or (3, 3) projective) registers a *moving* image to
  a *template* the way :func:`cv2.findTransformECC` does: it maps template coordinates to
  moving-image coordinates, ``p_moving ~ W @ [x, y, 1]``, so ``moving(W p) ~ template(p)``.
  Consequences:

  - ``remap_images(im_moving, warp_matrix_to_remappingIdx(W, w, h))`` brings the moving
    image into the template's frame;
  - ``transform_points(points_template, W)`` carries points drawn on the template into the
    moving image (this is how ROIs travel from the template session to another session);
  - ``invert_warp_matrix(W)`` maps moving coordinates back to template coordinates.

* A **remapping index** ``R`` is an (H, W, 2) float32 array over the *output* (template)
  grid whose entry ``R[r, c] = (x, y)`` is the coordinate in the source (moving) image to
  sample (``cv2.remap`` maps). ``remap_points(points_template, R)`` evaluates ``R`` at the
  points, i.e. carries template points into the moving image, like ``transform_points``.
* "``X_AB`` warps A onto B" means: B is the template, A the moving image, and
  ``p_A = X_AB(p_B)``. Hence ``compose_transform_matrices(M_AB, M_BC) = M_AB @ M_BC`` and
  ``compose_remappingIdx(R_AB, R_BC)(p_C) = R_AB(R_BC(p_C))``.

Backends (:class:`ECC_cv2`, :class:`PhaseCorrelationRegistration`,
:class:`NullRegistration`, :class:`RoMa`) all return a (3, 3) float64 warp matrix from
``fit_rigid(im_template, im_moving)``. :class:`ImageAlignmentChecker` scores alignment by the
z-score of the phase-correlation peak at zero shift; :func:`register_images` ties it
together (fixed template or sequential chain, all-pairs search for better paths through other
images with :func:`scipy.sparse.csgraph.shortest_path`, optional non-rigid refinement).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import scipy.interpolate
import scipy.signal
import scipy.sparse
import scipy.sparse.csgraph
import torch

from .h5_handling import atomic_path

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


class RegistrationError(ValueError):
    """Bad input to a registration function (shape, dtype, unknown option)."""


# ============================================================================ warps


def as_3x3(warp_matrix: np.ndarray) -> np.ndarray:
    """A (2, 3) or (3, 3) warp matrix as (3, 3) float64 (affine rows padded with [0, 0, 1])."""
    m = np.asarray(warp_matrix, dtype=np.float64)
    if m.shape == (2, 3):
        return np.vstack([m, [0.0, 0.0, 1.0]])
    if m.shape == (3, 3):
        return m.copy()
    raise RegistrationError(f"warp matrix must have shape (2, 3) or (3, 3), got {m.shape}")


def _pixel_grid(h: int, w: int) -> np.ndarray:
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    return np.stack([xs, ys], axis=-1)


def warp_matrix_to_remappingIdx(warp_matrix: np.ndarray | torch.Tensor, x: int, y: int
                                ) -> np.ndarray | torch.Tensor:
    """Remapping index of a warp matrix over a ``y`` x ``x`` output grid.

    Parameters
    ----------
    warp_matrix : (2, 3) or (3, 3) array or tensor
        Template -> moving coordinates (see module docstring).
    x, y : int
        Width and height of the output (template) grid, px.

    Returns
    -------
    remapIdx : (y, x, 2) float32, numpy or torch like the input
        ``remapIdx[r, c] = (x', y')`` = the moving-image coordinate to sample for output pixel
        (c, r).
    """
    is_torch = isinstance(warp_matrix, torch.Tensor)
    m = as_3x3(warp_matrix.detach().cpu().numpy() if is_torch else warp_matrix)
    if int(x) < 1 or int(y) < 1:
        raise RegistrationError(f"remapping grid size must be positive, got x={x}, y={y}")
    g = _pixel_grid(int(y), int(x))
    hom = g @ m[:2, :2].T + m[:2, 2]
    if not np.allclose(m[2], [0.0, 0.0, 1.0]):
        den = g @ m[2, :2] + m[2, 2]
        hom = hom / den[..., None]
    out = hom.astype(np.float32)
    return torch.as_tensor(out, device=warp_matrix.device) if is_torch else out


def transform_points(points: np.ndarray, warp_matrix: np.ndarray) -> np.ndarray:
    """Apply a warp matrix exactly to points: ``p' = W @ [x, y, 1]`` (projective divide).

    Parameters
    ----------
    points : (N, 2) array
        ``(x, y)`` points in template coordinates.
    warp_matrix : (2, 3) or (3, 3)

    Returns
    -------
    (N, 2) float32
        The points in moving-image coordinates.
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    m = as_3x3(warp_matrix)
    hom = p @ m[:, :2].T + m[:, 2]
    return (hom[:, :2] / hom[:, 2:3]).astype(np.float32)


_INTERP_CV2 = {"linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST,
               "cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}
_BORDER_CV2 = {"constant": cv2.BORDER_CONSTANT, "reflect": cv2.BORDER_REFLECT101,
               "replicate": cv2.BORDER_REPLICATE, "wrap": cv2.BORDER_WRAP}
_BORDER_TORCH = {"constant": "zeros", "reflect": "reflection", "replicate": "border"}
_INTERP_TORCH = {"linear": "bilinear", "nearest": "nearest", "cubic": "bicubic"}


def cv2RemappingIdx_to_pytorchFlowField(ri: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Pixel remapping index (H, W, 2) -> ``grid_sample`` grid in [-1, 1] (align_corners=True)."""
    h, w = ri.shape[0], ri.shape[1]
    scale = [2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)]
    if isinstance(ri, torch.Tensor):
        return ri * torch.as_tensor(scale, dtype=ri.dtype, device=ri.device) - 1.0
    return (np.asarray(ri) * np.asarray(scale, dtype=np.float32) - 1.0).astype(np.float32)


def flowField_to_remappingIdx(ff: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Displacement field (H, W, 2) (x, y) px -> remapping index (adds the pixel grid)."""
    g = _pixel_grid(ff.shape[0], ff.shape[1]).astype(np.float32)
    if isinstance(ff, torch.Tensor):
        return ff + torch.as_tensor(g, dtype=ff.dtype, device=ff.device)
    return (np.asarray(ff) + g).astype(np.float32)


def remappingIdx_to_flowField(ri: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Remapping index (H, W, 2) -> displacement field (subtracts the pixel grid)."""
    g = _pixel_grid(ri.shape[0], ri.shape[1]).astype(np.float32)
    if isinstance(ri, torch.Tensor):
        return ri - torch.as_tensor(g, dtype=ri.dtype, device=ri.device)
    return (np.asarray(ri) - g).astype(np.float32)


def _check_remap(remappingIdx, what: str = "remappingIdx") -> None:
    shape = tuple(remappingIdx.shape)
    if len(shape) != 3 or shape[2] != 2:
        raise RegistrationError(f"{what} must have shape (H, W, 2), got {shape}")


def remap_images(images: np.ndarray | torch.Tensor, remappingIdx: np.ndarray | torch.Tensor,
                 backend: str = "cv2", interpolation_method: str = "linear",
                 border_mode: str = "constant", border_value: float = 0,
                 device: str = "cpu") -> np.ndarray | torch.Tensor:
    """Warp images by a remapping index (sample each output pixel at ``remappingIdx``).

    Parameters
    ----------
    images : array or tensor, (H, W), (C, H, W) or (N, C, H, W)
        Images whose last two axes are (H_in, W_in); leading axes are independent planes
        (pass colour (H, W, 3) frames as ``np.moveaxis(frame, -1, 0)``).
    remappingIdx : (H_out, W_out, 2)
        Source coordinates (x, y) per output pixel.
    backend : {"cv2", "torch"}
        ``cv2.remap`` per plane, or ``torch.nn.functional.grid_sample``.
    interpolation_method : {"linear", "nearest", "cubic", "lanczos"}
    border_mode : {"constant", "reflect", "replicate", "wrap"}
    border_value : float
        Fill for ``constant`` borders.
    device : str
        Torch device for the torch backend.

    Returns
    -------
    Warped images, shape ``images.shape[:-2] + (H_out, W_out)``; numpy in -> numpy out (same
    dtype, values rounded and clipped for integer dtypes), torch in -> torch out.
    """
    _check_remap(remappingIdx)
    if images.ndim < 2 or images.ndim > 4:
        raise RegistrationError(f"images must be (H, W), (C, H, W) or (N, C, H, W), got shape "
                                f"{tuple(images.shape)}")
    if interpolation_method not in _INTERP_CV2:
        raise RegistrationError(f"interpolation_method {interpolation_method!r} not in "
                                f"{sorted(_INTERP_CV2)}")
    if border_mode not in _BORDER_CV2:
        raise RegistrationError(f"border_mode {border_mode!r} not in {sorted(_BORDER_CV2)}")
    is_torch = isinstance(images, torch.Tensor)
    if backend == "cv2":
        arr = images.detach().cpu().numpy() if is_torch else np.asarray(images)
        ri = remappingIdx.detach().cpu().numpy() if isinstance(remappingIdx, torch.Tensor) \
            else np.asarray(remappingIdx)
        ri = ri.astype(np.float32, copy=False)
        mx, my = np.ascontiguousarray(ri[..., 0]), np.ascontiguousarray(ri[..., 1])
        lead = arr.shape[:-2]
        planes = arr.reshape((-1,) + arr.shape[-2:])
        work_dtype = arr.dtype if arr.dtype in (np.uint8, np.uint16, np.float32) else np.float32
        out = np.empty((planes.shape[0],) + ri.shape[:2], dtype=work_dtype)
        for i, p in enumerate(planes):
            out[i] = cv2.remap(p.astype(work_dtype, copy=False), mx, my,
                               interpolation=_INTERP_CV2[interpolation_method],
                               borderMode=_BORDER_CV2[border_mode], borderValue=border_value)
        out = out.reshape(lead + ri.shape[:2])
        if out.dtype != arr.dtype:
            if np.issubdtype(arr.dtype, np.integer):
                info = np.iinfo(arr.dtype)
                out = np.clip(np.rint(out), info.min, info.max)
            out = out.astype(arr.dtype)
        return torch.as_tensor(out) if is_torch else out
    if backend == "torch":
        if interpolation_method not in _INTERP_TORCH or border_mode not in _BORDER_TORCH:
            raise RegistrationError("torch backend supports interpolation linear/nearest/cubic "
                                    "and borders constant/reflect/replicate")
        x = images if is_torch else torch.as_tensor(np.asarray(images))
        in_dtype = x.dtype
        x = x.to(device=device, dtype=torch.float32)
        lead = tuple(x.shape[:-2])
        x4 = x.reshape((-1, 1) + tuple(x.shape[-2:]))
        ri = torch.as_tensor(remappingIdx, dtype=torch.float32, device=device)
        h_in, w_in = x.shape[-2], x.shape[-1]
        scale = torch.tensor([2.0 / max(w_in - 1, 1), 2.0 / max(h_in - 1, 1)], device=device)
        grid = (ri * scale - 1.0)[None].expand(x4.shape[0], -1, -1, -1)
        if border_mode == "constant" and border_value != 0:
            x4 = x4 - border_value
        y = torch.nn.functional.grid_sample(x4, grid, mode=_INTERP_TORCH[interpolation_method],
                                            padding_mode=_BORDER_TORCH[border_mode],
                                            align_corners=True)
        if border_mode == "constant" and border_value != 0:
            y = y + border_value
        y = y.reshape(lead + tuple(ri.shape[:2]))
        if not in_dtype.is_floating_point:
            y = y.round().clamp(0, 255 if in_dtype == torch.uint8 else float("inf"))
        y = y.to(in_dtype)
        return y if is_torch else y.cpu().numpy()
    raise RegistrationError(f"remap backend must be 'cv2' or 'torch', got {backend!r}")


def invert_remappingIdx(remappingIdx: np.ndarray, method: str = "linear",
                        fill_value: float | None = np.nan) -> np.ndarray:
    """Invert a (one-to-one) remapping index field by scattered interpolation.

    If ``R_AB`` warps image A onto B (``p_A = R_AB(p_B)``), the result ``R_BA`` warps B onto
    A (``p_B = R_BA(p_A)``), over a grid of the same (H, W).

    Parameters
    ----------
    remappingIdx : (H, W, 2)
    method : {"linear", "nearest", "cubic"}
        :func:`scipy.interpolate.griddata` method.
    fill_value : float or None
        Value outside the convex hull of the mapped grid (None -> nearest-neighbour fill).

    Returns
    -------
    (H, W, 2) float32
    """
    _check_remap(remappingIdx)
    ri = np.asarray(remappingIdx, dtype=np.float64)
    h, w = ri.shape[:2]
    grid = _pixel_grid(h, w)
    src = ri.reshape(-1, 2)
    vals = grid.reshape(-1, 2)
    ok = np.all(np.isfinite(src), axis=1)
    fv = np.nan if fill_value is None else fill_value
    out = scipy.interpolate.griddata(src[ok], vals[ok], (grid[..., 0], grid[..., 1]),
                                     method=method, fill_value=fv)
    if fill_value is None:
        bad = ~np.all(np.isfinite(out), axis=-1)
        if bad.any():
            near = scipy.interpolate.griddata(src[ok], vals[ok], (grid[..., 0], grid[..., 1]),
                                              method="nearest")
            out[bad] = near[bad]
    return out.astype(np.float32)


def invert_warp_matrix(warp_matrix: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) or (3, 3) warp matrix, same shape as the input (float64)."""
    m = np.asarray(warp_matrix, dtype=np.float64)
    if m.shape == (2, 3):
        return cv2.invertAffineTransform(m)
    if m.shape == (3, 3):
        inv = np.linalg.inv(m)
        return inv / inv[2, 2] if abs(inv[2, 2]) > 1e-12 else inv
    raise RegistrationError(f"warp matrix must have shape (2, 3) or (3, 3), got {m.shape}")


def compose_transform_matrices(matrix_AB: np.ndarray, matrix_BC: np.ndarray) -> np.ndarray:
    """Compose "A onto B" and "B onto C" warps into "A onto C": ``M_AC = M_AB @ M_BC``.

    Returns (2, 3) when both inputs are (2, 3), otherwise (3, 3) scaled so that
    ``M[2, 2] = 1``. Float64.
    """
    a, b = as_3x3(matrix_AB), as_3x3(matrix_BC)
    c = a @ b
    if abs(c[2, 2]) > 1e-12:  # projective matrices are defined up to scale: fix c[2, 2] = 1
        c = c / c[2, 2]
    two = np.asarray(matrix_AB).shape == (2, 3) and np.asarray(matrix_BC).shape == (2, 3)
    return c[:2] if two else c


def compose_remappingIdx(remap_AB: np.ndarray, remap_BC: np.ndarray, method: str = "linear",
                         fill_value: float | None = np.nan, bounds_error: bool = False
                         ) -> np.ndarray:
    """Compose remapping fields: ``R_AC(p_C) = R_AB(R_BC(p_C))``.

    Parameters
    ----------
    remap_AB : (H_B, W_B, 2)
        Warps A onto B (defined on B's grid, values in A coordinates).
    remap_BC : (H_C, W_C, 2)
        Warps B onto C (defined on C's grid, values in B coordinates).
    method : {"linear", "nearest", "cubic"}
        :class:`scipy.interpolate.RegularGridInterpolator` method.
    fill_value : float or None
        Outside B's grid (None -> extrapolate).
    bounds_error : bool
        Raise when ``remap_BC`` points outside B's grid.

    Returns
    -------
    (H_C, W_C, 2) float32
    """
    _check_remap(remap_AB, "remap_AB")
    _check_remap(remap_BC, "remap_BC")
    ab = np.asarray(remap_AB, dtype=np.float64)
    h, w = ab.shape[:2]
    interp = scipy.interpolate.RegularGridInterpolator(
        (np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64)), ab, method=method,
        bounds_error=bounds_error, fill_value=fill_value)
    bc = np.asarray(remap_BC, dtype=np.float64)
    out = interp(np.stack([bc[..., 1], bc[..., 0]], axis=-1))
    return out.astype(np.float32)


def remap_points(points: np.ndarray, remappingIdx: np.ndarray, interpolation: str = "linear",
                 fill_value: float | None = None) -> np.ndarray:
    """Evaluate a remapping field at points: template points -> moving-image points.

    Parameters
    ----------
    points : (N, 2)
        ``(x, y)`` in the remap field's (template) grid.
    remappingIdx : (H, W, 2)
    interpolation : str
        :class:`scipy.interpolate.RegularGridInterpolator` method ("linear", "nearest",
        "slinear", "cubic", "quintic", "pchip").
    fill_value : float or None
        Outside the grid; None extrapolates.

    Returns
    -------
    (N, 2) float32
    """
    _check_remap(remappingIdx)
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    ri = np.asarray(remappingIdx, dtype=np.float64)
    h, w = ri.shape[:2]
    interp = scipy.interpolate.RegularGridInterpolator(
        (np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64)), ri,
        method=interpolation, bounds_error=False, fill_value=fill_value)
    return interp(np.stack([p[:, 1], p[:, 0]], axis=-1)).astype(np.float32)


def apply_warp_transform(im_in: np.ndarray, warp_matrix: np.ndarray,
                         interpolation_method: int = cv2.INTER_LINEAR,
                         borderMode: int = cv2.BORDER_CONSTANT, borderValue: float = 0
                         ) -> np.ndarray:
    """Warp a moving image into the template frame: ``out(p) = im_in(W p)``.

    Wraps ``cv2.warpAffine`` / ``cv2.warpPerspective`` with ``WARP_INVERSE_MAP``. Output has
    the input's shape and dtype.
    """
    im = np.asarray(im_in)
    m = np.asarray(warp_matrix, dtype=np.float64)
    h, w = im.shape[:2]
    flags = int(interpolation_method) | cv2.WARP_INVERSE_MAP
    if m.shape == (2, 3):
        return cv2.warpAffine(im, m, (w, h), flags=flags, borderMode=borderMode,
                              borderValue=borderValue)
    if m.shape == (3, 3):
        return cv2.warpPerspective(im, m, (w, h), flags=flags, borderMode=borderMode,
                                   borderValue=borderValue)
    raise RegistrationError(f"warp matrix must have shape (2, 3) or (3, 3), got {m.shape}")


def mask_image_border(im: np.ndarray, border_outer: int | Sequence[int] | None = None,
                      border_inner: int | None = None, mask_value: float = 0) -> np.ndarray:
    """Copy of ``im`` with an outer border (top, bottom, left, right) and/or a centre square
    of side ``border_inner`` set to ``mask_value``."""
    out = np.array(im, copy=True)
    h, w = out.shape[:2]
    if border_outer is not None:
        t, b, l_, r = ((border_outer,) * 4 if np.isscalar(border_outer)
                       else tuple(int(v) for v in border_outer))
        out[:t] = mask_value
        if b:
            out[h - b:] = mask_value
        out[:, :l_] = mask_value
        if r:
            out[:, w - r:] = mask_value
    if border_inner:
        cy, cx, s = h // 2, w // 2, int(border_inner) // 2
        out[cy - s:cy + s, cx - s:cx + s] = mask_value
    return out


_ECC_MODES = {"translation": cv2.MOTION_TRANSLATION, "euclidean": cv2.MOTION_EUCLIDEAN,
              "affine": cv2.MOTION_AFFINE, "homography": cv2.MOTION_HOMOGRAPHY}


def _as_gray_float(im: Any, what: str) -> np.ndarray:
    a = im.detach().cpu().numpy() if isinstance(im, torch.Tensor) else np.asarray(im)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = a[..., :3].mean(axis=2)
    if a.ndim != 2:
        raise RegistrationError(f"{what} must be a 2-D (H, W) image, got shape {a.shape}")
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)):
        raise RegistrationError(f"{what} contains NaN or infinite values")
    return a


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


# ============================================================================ frequency domain


def make_distance_grid(shape: Sequence[int] = (512, 512), p: float = 2,
                       idx_center: Sequence[float] | None = None,
                       use_fftshift_center: bool = False) -> np.ndarray:
    """(H, W) Minkowski-``p`` distances (px) to a centre.

    Parameters
    ----------
    shape : (H, W)
    p : float
        Minkowski order (1 Manhattan, 2 Euclidean, ``np.inf`` Chebyshev; large p ~ Chebyshev).
    idx_center : (row, col), optional
        Centre; default the geometric middle ((H-1)/2, (W-1)/2).
    use_fftshift_center : bool
        Centre on (H//2, W//2), the zero frequency / zero shift of fftshifted arrays.
    """
    h, w = (int(s) for s in shape)
    if use_fftshift_center:
        cy, cx = h // 2, w // 2
    elif idx_center is not None:
        cy, cx = (float(v) for v in idx_center)
    else:
        cy, cx = (h - 1) / 2, (w - 1) / 2
    dy = np.abs(np.arange(h, dtype=np.float64) - cy)[:, None] * np.ones((1, w))
    dx = np.abs(np.arange(w, dtype=np.float64) - cx)[None, :] * np.ones((h, 1))
    if np.isinf(p):
        return np.maximum(dx, dy)
    mx = np.maximum(np.maximum(dx, dy), 1e-300)
    return mx * ((dx / mx) ** p + (dy / mx) ** p) ** (1.0 / p)


def _butter_sos(lowcut: float, highcut: float, fs: float, order: int):
    nyq = fs / 2
    if lowcut <= 0 and highcut >= nyq:
        return None
    if lowcut <= 0:
        return scipy.signal.butter(order, highcut, btype="lowpass", fs=fs, output="sos")
    if highcut >= nyq:
        return scipy.signal.butter(order, lowcut, btype="highpass", fs=fs, output="sos")
    return scipy.signal.butter(order, [lowcut, highcut], btype="bandpass", fs=fs, output="sos")


def design_butter_bandpass(lowcut: float, highcut: float, fs: float, order: int = 5
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Butterworth band-pass ``(b, a)``; lowpass when ``lowcut <= 0``, highpass when
    ``highcut >= fs / 2`` (same units as ``fs``)."""
    if fs <= 0 or highcut <= lowcut:
        raise RegistrationError(f"band-pass needs fs > 0 and lowcut < highcut, got "
                                f"lowcut={lowcut}, highcut={highcut}, fs={fs}")
    sos = _butter_sos(lowcut, highcut, fs, order)
    if sos is None:
        return np.array([1.0]), np.array([1.0])
    return scipy.signal.sos2tf(sos)


def make_2D_frequency_filter(hw: Sequence[int], low: float = 5.0, high: float = 6.0,
                             order: int = 3, distance_p: float = 100) -> np.ndarray:
    """2-D radial Butterworth band mask, centred like an fftshifted array.

    The 1-D Butterworth magnitude response of :func:`design_butter_bandpass` (sampling rate
    ``max(hw)``, so the distance axis runs to ``max(hw) / 2`` px) evaluated at the
    Minkowski-``distance_p`` distance of each element from the fftshift centre.

    Parameters
    ----------
    hw : (H, W)
    low, high : float
        Cut-offs in px of distance from the centre (low <= 0: lowpass; high >= max(hw)/2:
        highpass).
    order : int
        Butterworth order.
    distance_p : float
        Minkowski order of the distance (100 ~ Chebyshev, i.e. square bands).

    Returns
    -------
    (H, W) float64 in [0, 1]
    """
    h, w = (int(s) for s in hw)
    fs = float(max(h, w))
    grid = make_distance_grid((h, w), p=distance_p, use_fftshift_center=True)
    sos = _butter_sos(float(low), float(high), fs, int(order))
    if sos is None:
        return np.ones((h, w))
    n = int(max(h, w) * 10)
    freqs, resp = scipy.signal.sosfreqz(sos, worN=n, fs=fs)
    return np.clip(np.interp(grid, freqs, np.abs(resp)), 0.0, 1.0)


def phase_correlation(im_template: np.ndarray | torch.Tensor, im_moving: np.ndarray | torch.Tensor,
                      mask_fft: np.ndarray | torch.Tensor | None = None,
                      return_filtered_images: bool = False, eps: float = 1e-8):
    """Phase correlation of two images along their last two axes (leading axes broadcast).

    Parameters
    ----------
    im_template, im_moving : (..., H, W)
    mask_fft : (H, W), optional
        Fftshifted frequency mask (e.g. :func:`make_2D_frequency_filter`); normalised to sum
        1 and un-shifted before multiplying both spectra.
    return_filtered_images : bool
        Also return the masked template and moving images (image domain, real part).
    eps : float
        Floor of the cross-power magnitude.

    Returns
    -------
    cc : (..., H, W)
        Real phase-correlation surface, fftshifted: zero shift at (H//2, W//2). A moving
        image that is the template shifted by ``(dx, dy)`` peaks at ``(W//2 - dx, H//2 - dy)``.
        numpy when ``im_template`` is numpy, else torch. With ``return_filtered_images``:
        ``(cc, template_filtered, moving_filtered)``.
    """
    return_numpy = not isinstance(im_template, torch.Tensor)
    t = torch.as_tensor(np.asarray(im_template) if return_numpy else im_template)
    m = torch.as_tensor(im_moving if isinstance(im_moving, torch.Tensor)
                        else np.asarray(im_moving), device=t.device)
    t = t.to(torch.float64) if t.dtype == torch.float64 else t.to(torch.float32)
    m = m.to(t.dtype)
    axes = (-2, -1)
    ft = torch.fft.fft2(t, dim=axes)
    fm = torch.fft.fft2(m, dim=axes)
    if mask_fft is not None:
        mk = torch.as_tensor(np.asarray(mask_fft) if not isinstance(mask_fft, torch.Tensor)
                             else mask_fft, device=t.device).to(t.dtype)
        mk = torch.fft.ifftshift(mk / mk.sum(), dim=axes)
        ft = ft * mk
        fm = fm * mk
    r = ft * torch.conj(fm)
    r = r / (torch.abs(r) + eps)
    cc = torch.fft.fftshift(torch.fft.ifft2(r, dim=axes), dim=axes).real
    if return_filtered_images:
        tf = torch.fft.ifft2(ft, dim=axes).real
        mf = torch.fft.ifft2(fm, dim=axes).real
        out = (cc, tf, mf)
        return tuple(o.cpu().numpy() for o in out) if return_numpy else out
    return cc.cpu().numpy() if return_numpy else cc


def _window_2d(h: int, w: int, alpha: float = 0.25) -> np.ndarray:
    return np.outer(scipy.signal.windows.tukey(h, alpha), scipy.signal.windows.tukey(w, alpha))


def _prep_for_fft(im: np.ndarray, window: bool) -> np.ndarray:
    a = np.asarray(im, dtype=np.float64)
    a = a - a.mean()
    if window:
        a = a * _window_2d(*a.shape)
    return a


def phase_correlation_shift(im_template: np.ndarray, im_moving: np.ndarray,
                            mask_fft: np.ndarray | None = None, window: bool = True
                            ) -> tuple[float, float, float]:
    """Translation ``(dx, dy)`` px with ``im_moving(p + d) ~ im_template(p)``, sub-pixel.

    Integer peak of :func:`phase_correlation` refined by a parabola through its neighbours
    along each axis.

    Returns
    -------
    dx, dy : float
        Shift of the moving image relative to the template, px.
    peak : float
        Height of the phase-correlation peak.
    """
    t = _prep_for_fft(_as_gray_float(im_template, "im_template"), window)
    m = _prep_for_fft(_as_gray_float(im_moving, "im_moving"), window)
    if t.shape != m.shape:
        raise RegistrationError(f"template {t.shape} and moving {m.shape} images differ in shape")
    cc = phase_correlation(t, m, mask_fft=mask_fft)
    h, w = cc.shape
    py, px = np.unravel_index(int(np.argmax(cc)), cc.shape)

    def refine(c_m, c_0, c_p):
        den = c_m - 2 * c_0 + c_p
        return 0.0 if abs(den) < 1e-12 else float(np.clip(0.5 * (c_m - c_p) / den, -0.5, 0.5))

    sx = refine(cc[py, (px - 1) % w], cc[py, px], cc[py, (px + 1) % w])
    sy = refine(cc[(py - 1) % h, px], cc[py, px], cc[(py + 1) % h, px])
    dx = -((px + sx) - w // 2)
    dy = -((py + sy) - h // 2)
    return float(dx), float(dy), float(cc[py, px])


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


def hash_file(path: str | os.PathLike, type_hash: str = "SHA256", buffer_size: int = 1 << 20
              ) -> str:
    """Hex digest of a file (``type_hash`` any :mod:`hashlib` name: SHA256, MD5, ...)."""
    h = hashlib.new(type_hash.lower().replace("-", ""))
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(buffer_size), b""):
            h.update(block)
    return h.hexdigest()


def _expected_hashes(entry: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for algo in ("sha256", "md5"):
        v = entry.get(algo)
        if v:
            out[algo] = str(v).lower()
    if "hash" in entry and entry.get("hash") and "md5" not in out:  # reference table style
        out[str(entry.get("hash_type", "md5")).lower()] = str(entry["hash"]).lower()
    return out


def _verify(path: Path, expected: Mapping[str, str]) -> tuple[bool, str]:
    algo = "sha256" if "sha256" in expected else next(iter(expected))
    got = hash_file(path, algo)
    return got == expected[algo], f"{algo} {got} (expected {expected[algo]})"


def fetch_weights(entry: Mapping[str, Any], fallback: Mapping[str, Any] | None = None,
                  cache_dir: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Download (once) and verify a weights file; return its local path.

    Parameters
    ----------
    entry : dict
        ``{"url": ..., "filename": ..., "sha256": hex}`` (``"md5"`` accepted when no SHA-256
        is pinned; at least one hash is required).
    fallback : dict, optional
        Same keys; a mirror tried when the primary download fails or does not verify.
    cache_dir : path-like, optional
        Where weights live; default ``torch.hub.get_dir()/checkpoints`` (``TORCH_HOME``).
    progress : bool
        Show the download progress bar.

    Returns
    -------
    Path
        Verified file. A cached file is re-hashed only when its size or mtime changed since
        the last verification (recorded in ``<file>.verified``).

    Raises
    ------
    RuntimeError
        Every source failed (the message names the file, URLs and hashes).
    """
    cache = Path(cache_dir) if cache_dir is not None else Path(torch.hub.get_dir()) / "checkpoints"
    expected = _expected_hashes(entry)
    if not expected:
        raise RegistrationError(f"weights entry {entry.get('filename')!r} has no sha256 or md5 "
                                "hash; refusing to load unverified weights")
    path = cache / str(entry["filename"])
    stamp = path.with_name(path.name + ".verified")
    if path.is_file():
        st = path.stat()
        key = f"{st.st_size} {st.st_mtime_ns}"
        if stamp.is_file() and stamp.read_text().strip() == key:
            return path
        ok, msg = _verify(path, expected)
        if ok:
            stamp.write_text(key)
            return path
        logger.warning("%s: cached weights fail verification (%s); downloading again", path, msg)
        path.unlink()
    errors = []
    for src in [entry] + ([fallback] if fallback else []):
        url = src.get("url")
        if not url:
            continue
        exp = _expected_hashes(src) or expected
        try:
            with atomic_path(path) as tmp:
                logger.info("downloading %s -> %s", url, path)
                torch.hub.download_url_to_file(str(url), str(tmp), progress=progress)
                ok, msg = _verify(tmp, exp)
                if not ok:
                    raise RuntimeError(f"hash mismatch: {msg}")
        except (OSError, RuntimeError, ValueError) as e:  # network, hash: try the next source
            errors.append(f"{url}: {e}")
            logger.warning("weights download from %s failed: %s", url, e)
            continue
        st = path.stat()
        stamp.write_text(f"{st.st_size} {st.st_mtime_ns}")
        return path
    raise RuntimeError(f"could not get verified weights {entry.get('filename')!r} into {cache}: "
                       + "; ".join(errors))


def _import_romatch():
    try:
        import romatch
    except ImportError as e:
        raise ImportError(f"the RoMa registration backend needs the 'romatch' package: "
                          f"{MULTISESSION_EXTRA_HINT}") from e
    return romatch


class RoMa(ImageRegistrationMethod):
    """Dense feature-matching registration with RoMa (optional extra, GPU recommended).

    Requires ``romatch`` (``pip install face-rhythm[multisession]``). On first use the RoMa
    and DINOv2 weights (~1.5 GB) are downloaded by :func:`fetch_weights` into
    ``torch.hub.get_dir()/checkpoints`` (set ``TORCH_HOME`` to move it) and verified by hash
    (SHA-256 when pinned in ``weight_urls``, else the published MD5).

    Parameters
    ----------
    model_type : {"outdoor", "indoor"}
    n_points : int
        Matches sampled per image pair.
    batch_size : int
        Kept for API compatibility.
    device : str
        Torch device (RoMa on CPU takes minutes per pair).
    weight_urls, fallback_weight_urls : dict, optional
        ``{"romatch": {"outdoor": entry, "indoor": entry}, "dinov2": entry}`` with entries
        as in :func:`fetch_weights`.
    cache_dir : path-like, optional
    """

    DEFAULT_WEIGHT_URLS: ClassVar[dict[str, Any]] = {
        "dinov2": {"filename": "dinov2_vitl14_pretrain.pth",
                   "md5": "19a02c10947ed50096ce382b46b15662", "sha256": None,
                   "url": "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/"
                          "dinov2_vitl14_pretrain.pth"},
        "romatch": {
            "indoor": {"filename": "roma_indoor.pth", "md5": "349a17aaa21883bb164b1a5884febb21",
                       "sha256": None,
                       "url": "https://github.com/Parskatt/storage/releases/download/roma/"
                              "roma_indoor.pth"},
            "outdoor": {"filename": "roma_outdoor.pth",
                        "md5": "9a451dfb65745e777bf916db6ea84933", "sha256": None,
                        "url": "https://github.com/Parskatt/storage/releases/download/roma/"
                               "roma_outdoor.pth"},
        },
    }
    DEFAULT_FALLBACK_WEIGHT_URLS: ClassVar[dict[str, Any]] = {
        "dinov2": {"filename": "dinov2_vitl14_pretrain.pth",
                   "md5": "19a02c10947ed50096ce382b46b15662", "sha256": None,
                   "url": "https://osf.io/tmj5c/download"},
        "romatch": {
            "indoor": {"filename": "roma_indoor.pth", "md5": "349a17aaa21883bb164b1a5884febb21",
                       "sha256": None, "url": "https://osf.io/uzx64/download"},
            "outdoor": {"filename": "roma_outdoor.pth",
                        "md5": "9a451dfb65745e777bf916db6ea84933", "sha256": None,
                        "url": "https://osf.io/cmzpa/download"},
        },
    }

    def __init__(self, model_type: str = "outdoor", n_points: int = 10000,
                 batch_size: int = 1000, device: str = "cpu",
                 weight_urls: Mapping[str, Any] | None = None,
                 fallback_weight_urls: Mapping[str, Any] | None = None,
                 cache_dir: str | os.PathLike | None = None, verbose: bool = False):
        super().__init__(device=device, verbose=verbose)
        if model_type not in ("outdoor", "indoor"):
            raise RegistrationError(f"RoMa model_type must be 'outdoor' or 'indoor', got "
                                    f"{model_type!r}")
        romatch = _import_romatch()
        self.roma_model_type = model_type
        self.n_points = int(n_points)
        self.batch_size = int(batch_size)
        self.weight_urls = dict(weight_urls or self.DEFAULT_WEIGHT_URLS)
        self.fallback_weight_urls = dict(fallback_weight_urls or self.DEFAULT_FALLBACK_WEIGHT_URLS)
        p_roma = fetch_weights(self.weight_urls["romatch"][model_type],
                               self.fallback_weight_urls.get("romatch", {}).get(model_type),
                               cache_dir=cache_dir, progress=bool(verbose))
        p_dino = fetch_weights(self.weight_urls["dinov2"],
                               self.fallback_weight_urls.get("dinov2"), cache_dir=cache_dir,
                               progress=bool(verbose))
        weights = torch.load(p_roma, map_location=self.device, weights_only=True)
        dinov2_weights = torch.load(p_dino, map_location=self.device, weights_only=True)
        factory = romatch.roma_outdoor if model_type == "outdoor" else romatch.roma_indoor
        self.model = factory(device=self.device, weights=weights, dinov2_weights=dinov2_weights)

    def _forward_rigid(self, im_template, im_moving, **kwargs) -> tuple[np.ndarray, np.ndarray]:
        from PIL import Image

        def to_pil(im):
            a = _as_gray_float(im, "image")
            lo, hi = float(a.min()), float(a.max())
            u8 = np.clip((a - lo) / max(hi - lo, 1e-12) * 255, 0, 255).astype(np.uint8)
            return Image.fromarray(np.stack([u8] * 3, axis=-1))

        ia, ib = to_pil(im_template), to_pil(im_moving)
        (wa, ha), (wb, hb) = ia.size, ib.size
        warp, certainty = self.model.match(ia, ib, device=self.device)
        matches, _ = self.model.sample(warp, certainty, num=self.n_points)
        ka, kb = self.model.to_pixel_coordinates(matches, ha, wa, hb, wb)
        return ka.detach().cpu().numpy(), kb.detach().cpu().numpy()


METHODS: dict[str, type[ImageRegistrationMethod]] = {
    "ECC_cv2": ECC_cv2,
    "PhaseCorrelation": PhaseCorrelationRegistration,
    "PhaseCorrelationRegistration": PhaseCorrelationRegistration,
    "NullRegistration": NullRegistration,
    "Null": NullRegistration,
    "RoMa": RoMa,
}


def make_registration_method(method: str, **kwargs) -> ImageRegistrationMethod:
    """Construct a backend by name: ECC_cv2, PhaseCorrelation, NullRegistration (Null), RoMa."""
    if method not in METHODS:
        raise RegistrationError(f"registration method {method!r} not in "
                                f"{sorted(set(METHODS))}")
    return METHODS[method](**kwargs)


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
