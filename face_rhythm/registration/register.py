"""Registering a set of images to a template: :func:`register_images` and its result.

Direct (or sequential) registration, scoring with :class:`~.quality.ImageAlignmentChecker`,
an all-pairs search for better routes through other images
(:func:`~.quality.best_paths_to_template`) and optional non-rigid refinement.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .base import ImageRegistrationMethod
from .methods import make_registration_method
from .nonrigid import fit_nonrigid
from .quality import ImageAlignmentChecker, best_paths_to_template
from .warps import (
    RegistrationError,
    _as_gray_float,
    as_3x3,
    compose_remappingIdx,
    invert_warp_matrix,
    mask_image_border,
    remap_images,
    warp_matrix_to_remappingIdx,
)

logger = logging.getLogger(__name__)

__all__ = ["RegistrationResult", "register_images"]


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
