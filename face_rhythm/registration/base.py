"""The registration backend interface and robust warp fits to matched keypoints.

Every backend (:mod:`.ecc`, :mod:`.methods`, :mod:`.roma`) subclasses
:class:`ImageRegistrationMethod` and returns a (3, 3) float64 template -> moving warp matrix
from ``fit_rigid(im_template, im_moving)`` (conventions in :mod:`.warps`).
"""

from __future__ import annotations

import cv2
import numpy as np

from .warps import RegistrationError, as_3x3

__all__ = ["MULTISESSION_EXTRA_HINT", "ImageRegistrationMethod", "fit_warp_to_points"]

MULTISESSION_EXTRA_HINT = "pip install face-rhythm[multisession]"


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

