"""The original's :class:`Image_Aligner`: geometric (ECC) then non-rigid (optical flow)
registration of images to a template, as remapping indices (conventions in :mod:`.warps`).

The original documents it (and :class:`~.roi_alignment.ROI_Alinger`) in ``face_rhythm.rois``.
That package sits below this one, so ``face_rhythm.rois`` reaches both names through a lazy
door (its module ``__getattr__``), imported on first access.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from face_rhythm.rois import clahe
from face_rhythm.runlog import progress_bar
from face_rhythm.util.fr_module import FR_Module

from .ecc import find_geometric_transformation
from .nonrigid import fit_nonrigid as _flow_remap
from .roi_alignment import _clip_points, _flow_kwargs, _flow_method, _gray, _remap_any
from .warps import (
    RegistrationError,
    compose_remappingIdx,
    compose_transform_matrices,
    mask_image_border,
    remap_points,
    remappingIdx_to_flowField,
    warp_matrix_to_remappingIdx,
)

logger = logging.getLogger(__name__)

__all__ = ["Image_Aligner"]

_GEOMETRIC_MODES = ("translation", "euclidean", "affine", "homography")


class Image_Aligner(FR_Module):
    """Register images to a template: geometric (ECC) then non-rigid (optical flow) (RH 2023).

    Parameters
    ----------
    verbose : bool
        Progress bars and INFO messages.

    Attributes
    ----------
    warp_matrices : (N, 2, 3) or (N, 3, 3)
        Template -> moving warp per image (after :meth:`fit_geometric`).
    remappingIdx_geo, remappingIdx_nonrigid : (N, H, W, 2) float32
        Remapping indices on the template grid (after the fits).
    """

    def __init__(self, verbose: bool = True) -> None:
        super().__init__()
        self._verbose = verbose
        self.warp_matrices = None
        self.remappingIdx_geo = None
        self.remappingIdx_nonrigid = None
        self._HW = None
        self.config = {"verbose": verbose}

    @classmethod
    def augment_images(cls, ims: Sequence[np.ndarray], use_CLAHE: bool = True,
                       CLAHE_grid_size: int = 1, CLAHE_clipLimit: int = 1,
                       CLAHE_normalize: bool = True) -> list[np.ndarray]:
        """CLAHE each image (:func:`face_rhythm.rois.clahe`, uint16 out) if ``use_CLAHE``.

        Returns
        -------
        list of np.ndarray
            One per input image (the inputs themselves when ``use_CLAHE`` is False).
        """
        if not use_CLAHE:
            return list(ims)
        return [clahe(im, grid_size=CLAHE_grid_size, clipLimit=CLAHE_clipLimit,
                      normalize=CLAHE_normalize) for im in ims]

    # ---------------------------------------------------------------- helpers
    def _prepare(self, ims_moving, template, template_method: str):
        ims = [np.asarray(im, dtype=np.float32) for im in ims_moving]
        if not ims:
            raise RegistrationError("ims_moving must be a non-empty list of images")
        if any(im.shape != ims[0].shape for im in ims):
            raise RegistrationError(f"ims_moving differ in shape: {[im.shape for im in ims]}")
        if template_method not in ("image", "sequential"):
            raise RegistrationError(f"template_method {template_method!r} not in "
                                    "['image', 'sequential']")
        n = len(ims)

        def index(t) -> int:
            i = int(n * t) if isinstance(t, float) else int(t)
            i = min(i, n - 1) if isinstance(t, float) and 0 <= t <= 1 else i
            if not 0 <= i < n:
                raise RegistrationError(f"template index {t} not in [0, {n})")
            return i

        if template_method == "sequential":
            if isinstance(template, np.ndarray):
                raise RegistrationError("template_method 'sequential' needs an index, not an "
                                        "image")
            template = index(template)
        elif isinstance(template, (int, float, np.integer, np.floating)):
            template = ims[index(template)]
        else:
            template = np.asarray(template, dtype=np.float32)
            if template.shape[:2] != ims[0].shape[:2]:
                raise RegistrationError(f"template {template.shape} and images "
                                        f"{ims[0].shape} differ in size")
        self._HW = ims[0].shape[:2]
        return ims, template

    @staticmethod
    def _pair_template(ims, template, template_method: str, i: int):
        """The image that image ``i`` is registered to (a neighbour in 'sequential')."""
        if template_method == "image":
            return template
        return ims[i + 1] if i < template else ims[i - 1] if i > template else None

    @staticmethod
    def _chain(raw: list, template: int, compose, identity) -> list:
        """Compose pairwise warps along the chain to the template image."""
        out = []
        for i in range(len(raw)):
            if i == template:
                out.append(identity)
                continue
            steps = range(i + 1, template) if i < template else range(i - 1, template, -1)
            acc = raw[i]
            for j in steps:
                acc = compose(acc, raw[j])
            out.append(acc)
        return out

    # ---------------------------------------------------------------- fits
    def fit_geometric(self, template: float | np.ndarray, ims_moving: Sequence[np.ndarray],
                      template_method: str = "sequential", mode_transform: str = "affine",
                      gaussFiltSize: int = 11,
                      mask_borders: tuple[int, int, int, int] = (0, 0, 0, 0),
                      n_iter: int = 1000, termination_eps: float = 1e-9,
                      auto_fix_gaussFilt_step: bool | int = 10) -> np.ndarray:
        """ECC (:func:`cv2.findTransformECC`) registration of each image to the template.

        Parameters
        ----------
        template : int, float or (H, W[, C]) array
            'image': an image, an index into ``ims_moving`` or a fraction in [0, 1] of it.
            'sequential': the index (or fraction) of the image the others chain to.
        ims_moving : list of (H, W[, C]) arrays
        template_method : {'sequential', 'image'}
            'sequential': each image is registered to its neighbour towards the template and
            the warps are composed.
        mode_transform : {'translation', 'euclidean', 'affine', 'homography'}
        gaussFiltSize : int
            Gaussian pre-filter size, px (made odd).
        mask_borders : (top, bottom, left, right)
            Border widths, px, excluded from the ECC correlation.
        n_iter, termination_eps
            ECC stopping criteria.
        auto_fix_gaussFilt_step : bool or int
            When ECC fails, retry (up to 10 times) with ``gaussFiltSize`` larger by this
            (True -> 2); False -> use the identity and warn.

        Returns
        -------
        remapIdx_geo : (N, H, W, 2) float32
        """
        if mode_transform not in _GEOMETRIC_MODES:
            raise RegistrationError(f"mode_transform {mode_transform!r} not in "
                                    f"{list(_GEOMETRIC_MODES)}")
        ims, template = self._prepare(ims_moving, template, template_method)
        h, w = self._HW
        self.mask_geo = mask_image_border(np.ones((h, w), dtype=np.uint8),
                                          border_outer=mask_borders, mask_value=0)
        step = 2 if auto_fix_gaussFilt_step is True else int(auto_fix_gaussFilt_step or 0)
        ident = np.eye(3)[:2] if mode_transform != "homography" else np.eye(3)
        raw = []
        for i, im in enumerate(progress_bar(ims, desc="geometric registration", unit="image",
                                            enabled=bool(self._verbose))):
            t = self._pair_template(ims, template, template_method, i)
            if t is None:
                raw.append(ident.copy())
                continue
            g = int(np.round(gaussFiltSize))
            for attempt in range(10 if step else 1):
                try:
                    warp = find_geometric_transformation(
                        t, im, warp_mode=mode_transform, n_iter=n_iter,
                        termination_eps=termination_eps, mask=self.mask_geo, gaussFiltSize=g)
                    break
                except cv2.error as e:
                    logger.warning("image %d: ECC failed with gaussFiltSize %d (%s)", i, g,
                                   str(e).strip().splitlines()[-1])
                    g += step
            else:
                logger.warning("image %d: ECC did not converge; using the identity warp", i)
                warp = ident.copy()
            raw.append(np.asarray(warp, dtype=np.float64))
        mats = raw if template_method == "image" else \
            self._chain(raw, template, compose_transform_matrices, ident.copy())
        self.warp_matrices = np.stack([np.asarray(m, dtype=np.float64) for m in mats])
        self.remappingIdx_geo = np.stack([warp_matrix_to_remappingIdx(m, w, h)
                                          for m in self.warp_matrices])
        return self.remappingIdx_geo

    def fit_nonrigid(self, template: float | np.ndarray, ims_moving: Sequence[np.ndarray],
                     remappingIdx_init: np.ndarray | None = None,
                     template_method: str = "sequential",
                     mode_transform: str = "createOptFlow_DeepFlow",
                     kwargs_mode_transform: Mapping[str, Any] | None = None) -> np.ndarray:
        """Dense optical-flow registration of each image to the template.

        Parameters
        ----------
        template, ims_moving, template_method
            As :meth:`fit_geometric`.
        remappingIdx_init : (N, H, W, 2), optional
            A remap already applied to ``ims_moving`` (e.g. ``remappingIdx_geo`` when the
            images are the output of :meth:`transform_images_geometric`); the result is
            composed with it: ``R(p) = R_init(R_nonrigid(p))``.
        mode_transform : {'createOptFlow_DeepFlow', 'calcOpticalFlowFarneback'}
        kwargs_mode_transform : dict, optional
            Farneback parameters (None -> the original's).

        Returns
        -------
        remapIdx_nonrigid : (N, H, W, 2) float32
        """
        method = _flow_method(mode_transform)
        kw = _flow_kwargs(mode_transform, kwargs_mode_transform)
        ims, template = self._prepare(ims_moving, template, template_method)
        if any(np.any(im < 0) or np.any(np.isnan(im)) for im in ims):
            logger.warning("ims_moving contain negative or NaN values")
        h, w = self._HW
        grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32),
                                    np.arange(h, dtype=np.float32)), axis=-1)
        raw = []
        for i, im in enumerate(progress_bar(ims, desc="non-rigid registration", unit="image",
                                            enabled=bool(self._verbose))):
            t = self._pair_template(ims, template, template_method, i)
            raw.append(grid.copy() if t is None else
                       _flow_remap(_gray(t), _gray(im), method=method, kwargs_method=kw))

        def compose(a, b):
            return compose_remappingIdx(a, b, method="linear", fill_value=None)

        out = raw if template_method == "image" else self._chain(raw, template, compose, grid)
        if remappingIdx_init is not None:
            init = np.asarray(remappingIdx_init, dtype=np.float32)
            if init.shape != (len(out), h, w, 2):
                raise RegistrationError(f"remappingIdx_init has shape {init.shape}, expected "
                                        f"{(len(out), h, w, 2)}")
            out = [compose(init[i], r) for i, r in enumerate(out)]
        self.remappingIdx_nonrigid = np.stack(out).astype(np.float32)
        return self.remappingIdx_nonrigid

    # ---------------------------------------------------------------- applying the warps
    def transform_images_geometric(self, ims_moving: Sequence[np.ndarray],
                                   remappingIdx: np.ndarray | None = None) -> list[np.ndarray]:
        """:meth:`transform_images` with ``remappingIdx_geo`` (default); sets
        ``ims_registered_geo``."""
        ri = self.remappingIdx_geo if remappingIdx is None else remappingIdx
        if ri is None:
            raise RegistrationError("transform_images_geometric: run fit_geometric first or "
                                    "give remappingIdx")
        self.ims_registered_geo = self.transform_images(ims_moving, ri)
        return self.ims_registered_geo

    def transform_images_nonrigid(self, ims_moving: Sequence[np.ndarray],
                                  remappingIdx: np.ndarray | None = None) -> list[np.ndarray]:
        """:meth:`transform_images` with ``remappingIdx_nonrigid`` (default); sets
        ``ims_registered_nonrigid``."""
        ri = self.remappingIdx_nonrigid if remappingIdx is None else remappingIdx
        if ri is None:
            raise RegistrationError("transform_images_nonrigid: run fit_nonrigid first or "
                                    "give remappingIdx")
        self.ims_registered_nonrigid = self.transform_images(ims_moving, ri)
        return self.ims_registered_nonrigid

    def transform_images(self, ims_moving: Sequence[np.ndarray],
                         remappingIdx: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Warp each image into the template frame by its remapping index.

        Parameters
        ----------
        ims_moving : list of (H, W) or (H, W, C) arrays
        remappingIdx : (N, H, W, 2) or list of (H, W, 2)

        Returns
        -------
        list of arrays
            Same shapes and dtypes; outside the moving image the fill is its mean.
        """
        if len(ims_moving) != len(remappingIdx):
            raise RegistrationError(f"{len(ims_moving)} images but {len(remappingIdx)} "
                                    "remapping indices")
        return [_remap_any(im, ri, border_value=float(np.mean(im)))
                for im, ri in zip(ims_moving, remappingIdx, strict=True)]

    def transform_points(self, points: np.ndarray, remappingIdx: np.ndarray) -> np.ndarray:
        """Carry ``(x, y)`` points through a remapping index (linear interpolation).

        Parameters
        ----------
        points : (n_points, 2) float
            On the remapping index's (template) grid.
        remappingIdx : (H, W, 2)

        Returns
        -------
        points_remap : (n_points, 2) float32
            ``remappingIdx`` at the points (in the moving image), clipped to the image.
        """
        ri = np.asarray(remappingIdx)
        out = remap_points(points, ri, interpolation="linear", fill_value=None)
        return _clip_points(out, ri.shape[0], ri.shape[1])

    def get_flowFields(self, remappingIdx: np.ndarray | None = None) -> list[np.ndarray]:
        """Displacement fields ``(dx, dy)`` px, (H, W, 2) each, of the remapping indices
        (default: the non-rigid ones if fitted, else the geometric ones)."""
        if remappingIdx is None:
            remappingIdx = self.remappingIdx_nonrigid if self.remappingIdx_nonrigid is not None \
                else self.remappingIdx_geo
            if remappingIdx is None:
                raise RegistrationError("get_flowFields: run fit_geometric or fit_nonrigid "
                                        "first, or give remappingIdx")
        return [remappingIdx_to_flowField(np.asarray(r)) for r in remappingIdx]
