"""Warps: warp matrices, remapping indices, flow fields; remapping images and points;
composing and inverting.

Conventions
-----------
* Images are (H, W) arrays (leading axes, e.g. (C, H, W) or (N, C, H, W), are independent
  planes); H is rows (y), W is columns (x). Coordinates and displacements are in pixels.
* Points are ``(x, y)`` pixel coordinates (x = column, y = row), shape (N, 2); pixel centres
  sit at integer coordinates (the centre of the top-left pixel is (0, 0)).
* A **warp matrix** ``W`` ((2, 3) affine or (3, 3) projective) registers a *moving*
  image to a *template* the way :func:`cv2.findTransformECC` does: it maps template
  coordinates to moving-image coordinates, ``p_moving ~ W @ [x, y, 1]``, so
  ``moving(W p) ~ template(p)``. Consequences:

  - ``remap_images(im_moving, warp_matrix_to_remappingIdx(W, w, h))`` brings the moving
    image into the template's frame;
  - ``transform_points(points_template, W)`` carries points drawn on the template into the
    moving image (this is how ROIs travel from the template session to another session);
  - ``invert_warp_matrix(W)`` maps moving coordinates back to template coordinates.

* A **remapping index** ``R`` is an (H, W, 2) float32 array over the *output* (template)
  grid whose entry ``R[r, c] = (x, y)`` is the coordinate in the source (moving) image to
  sample (``cv2.remap`` maps). ``remap_points(points_template, R)`` evaluates ``R`` at the
  points, i.e. carries template points into the moving image, like ``transform_points``.
* A **flow field** is an (H, W, 2) float32 displacement ``(dx, dy)`` in px:
  ``R = flow + pixel grid``. A PyTorch flow field (``grid_sample`` grid) is ``R`` scaled to
  [-1, 1] with ``align_corners=True``.
* "``X_AB`` warps A onto B" means: B is the template, A the moving image, and
  ``p_A = X_AB(p_B)``. Hence ``compose_transform_matrices(M_AB, M_BC) = M_AB @ M_BC`` and
  ``compose_remappingIdx(R_AB, R_BC)(p_C) = R_AB(R_BC(p_C))``.

Every name here is also importable from :mod:`face_rhythm.registration`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import scipy.interpolate

from face_rhythm.errors import RegistrationError

if TYPE_CHECKING:  # torch (1.5 s, 250 MB) is imported where a tensor is made
    import torch

__all__ = [
    "RegistrationError",
    "apply_warp_transform",
    "as_3x3",
    "compose_remappingIdx",
    "compose_transform_matrices",
    "cv2RemappingIdx_to_pytorchFlowField",
    "flowField_to_remappingIdx",
    "invert_remappingIdx",
    "invert_warp_matrix",
    "mask_image_border",
    "remap_images",
    "remap_points",
    "remappingIdx_to_flowField",
    "transform_points",
    "warp_matrix_to_remappingIdx",
]



def _torch():
    """The torch module, imported on first use."""
    import torch
    return torch


def _is_tensor(x: Any) -> bool:
    """Whether ``x`` is a torch tensor, without importing torch (no tensor exists before)."""
    mod = sys.modules.get("torch")
    return mod is not None and isinstance(x, mod.Tensor)

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
    is_torch = _is_tensor(warp_matrix)
    m = as_3x3(warp_matrix.detach().cpu().numpy() if is_torch else warp_matrix)
    if int(x) < 1 or int(y) < 1:
        raise RegistrationError(f"remapping grid size must be positive, got x={x}, y={y}")
    g = _pixel_grid(int(y), int(x))
    hom = g @ m[:2, :2].T + m[:2, 2]
    if not np.allclose(m[2], [0.0, 0.0, 1.0]):
        den = g @ m[2, :2] + m[2, 2]
        hom = hom / den[..., None]
    out = hom.astype(np.float32)
    return _torch().as_tensor(out, device=warp_matrix.device) if is_torch else out


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
    if _is_tensor(ri):
        return ri * _torch().as_tensor(scale, dtype=ri.dtype, device=ri.device) - 1.0
    return (np.asarray(ri) * np.asarray(scale, dtype=np.float32) - 1.0).astype(np.float32)


def flowField_to_remappingIdx(ff: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Displacement field (H, W, 2) (x, y) px -> remapping index (adds the pixel grid)."""
    g = _pixel_grid(ff.shape[0], ff.shape[1]).astype(np.float32)
    if _is_tensor(ff):
        return ff + _torch().as_tensor(g, dtype=ff.dtype, device=ff.device)
    return (np.asarray(ff) + g).astype(np.float32)


def remappingIdx_to_flowField(ri: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Remapping index (H, W, 2) -> displacement field (subtracts the pixel grid)."""
    g = _pixel_grid(ri.shape[0], ri.shape[1]).astype(np.float32)
    if _is_tensor(ri):
        return ri - _torch().as_tensor(g, dtype=ri.dtype, device=ri.device)
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
    is_torch = _is_tensor(images)
    if backend == "cv2":
        arr = images.detach().cpu().numpy() if is_torch else np.asarray(images)
        ri = remappingIdx.detach().cpu().numpy() if _is_tensor(remappingIdx) \
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
        return _torch().as_tensor(out) if is_torch else out
    if backend == "torch":
        torch = _torch()
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


# input check shared by registration, phase_correlation and roma
def _as_gray_float(im: Any, what: str) -> np.ndarray:
    a = im.detach().cpu().numpy() if _is_tensor(im) else np.asarray(im)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = a[..., :3].mean(axis=2)
    if a.ndim != 2:
        raise RegistrationError(f"{what} must be a 2-D (H, W) image, got shape {a.shape}")
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)):
        raise RegistrationError(f"{what} contains NaN or infinite values")
    return a
