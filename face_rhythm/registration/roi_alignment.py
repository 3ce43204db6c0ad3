"""The original's :class:`ROI_Alinger`: carry a template's ROIs and points onto new images
by dense optical flow (the spelling "Alinger" is the original's).

A thin layer over this package's warps (:mod:`.warps`) and optical flow (:mod:`.nonrigid`);
the masks come from :mod:`face_rhythm.rois`. The original documents it as
``face_rhythm.rois.ROI_Alinger``, reached there through a lazy door.

Conventions (:mod:`.warps`): a remapping index ``R`` (H, W, 2) lives on the template grid and
holds, per template pixel, the ``(x, y)`` in the moving image to sample, so
``remap_images(moving, R)`` brings the moving image into the template frame and
``remap_points(points_template, R)`` carries template points into the moving image.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from face_rhythm.rois import ROIs, polygon_to_mask
from face_rhythm.runlog import progress_bar

from .nonrigid import fit_nonrigid as _flow_remap
from .warps import (
    RegistrationError,
    remap_images,
    remap_points,
    remappingIdx_to_flowField,
)

logger = logging.getLogger(__name__)

__all__ = ["ROI_Alinger"]

#: The original's optical-flow names -> :func:`.nonrigid.fit_nonrigid` methods.
_FLOW_METHODS = {"calcOpticalFlowFarneback": "farneback", "createOptFlow_DeepFlow": "deepflow"}
#: The original's Farneback parameters when none are given.
_FARNEBACK_DEFAULTS = {"pyr_scale": 0.3, "levels": 3, "winsize": 128, "iterations": 7,
                       "poly_n": 7, "poly_sigma": 1.5}


def _flow_method(name: str) -> str:
    if name not in _FLOW_METHODS:
        raise RegistrationError(f"optical-flow method {name!r} not in {list(_FLOW_METHODS)}")
    return _FLOW_METHODS[name]


def _flow_kwargs(name: str, kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    if name != "calcOpticalFlowFarneback":
        if kwargs:
            logger.warning("DeepFlow takes no parameters; ignoring %s", sorted(kwargs))
        return {}
    kw = dict(_FARNEBACK_DEFAULTS if kwargs is None else kwargs)
    if kw.pop("flags", None) not in (None, 0, cv2.OPTFLOW_FARNEBACK_GAUSSIAN):
        logger.warning("Farneback 'flags' other than the Gaussian window are not supported")
    return kw


def _gray(im: np.ndarray) -> np.ndarray:
    a = np.asarray(im, dtype=np.float32)
    return a.mean(axis=2) if a.ndim == 3 else a


def _minmax_u8(im: np.ndarray) -> np.ndarray:
    """Stretch an image's own [min, max] to uint8 0-255."""
    a = _gray(im).astype(np.float64)
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    return np.clip(np.rint((a - lo) / max(hi - lo, 1e-12) * 255), 0, 255).astype(np.uint8)


def _remap_any(im: np.ndarray, remappingIdx: np.ndarray, border_value: float = 0) -> np.ndarray:
    """Warp (H, W) or (H, W, C) ``im`` by ``remappingIdx`` (linear, constant border)."""
    a = np.asarray(im)
    if a.ndim == 3:
        out = remap_images(np.ascontiguousarray(np.moveaxis(a, -1, 0)), remappingIdx,
                           border_value=border_value)
        return np.moveaxis(out, 0, -1)
    return remap_images(a, remappingIdx, border_value=border_value)


def _clip_points(points: np.ndarray, h: int, w: int) -> np.ndarray:
    p = np.asarray(points, dtype=np.float32).copy()
    p[:, 0] = np.clip(p[:, 0], 0, w - 1)
    p[:, 1] = np.clip(p[:, 1], 0, h - 1)
    return p


class ROI_Alinger:
    """Warp a template's ROIs and points onto new images by dense optical flow (RH 2022 API).

    Parameters
    ----------
    method : {'createOptFlow_DeepFlow', 'calcOpticalFlowFarneback'}
        Optical flow. DeepFlow needs OpenCV's contrib modules
        (``pip install face-rhythm[multisession]``).
    kwargs_method : dict, optional
        Farneback parameters (``pyr_scale``, ``levels``, ``winsize``, ``iterations``,
        ``poly_n``, ``poly_sigma``); None -> the original's (0.3, 3, 128, 7, 7, 1.5).
    verbose : int
        0 quiet, 1 warnings, 2 progress (through :mod:`logging` and progress bars).
    """

    def __init__(self, method: str = "createOptFlow_DeepFlow",
                 kwargs_method: Mapping[str, Any] | None = None, verbose: int = 1) -> None:
        _flow_method(method)
        self._method = method
        self._kwargs_method = kwargs_method
        self._verbose = int(verbose)

    def align_and_make_ROIs(self, ROIs_object_template: ROIs,
                            images_new: Sequence[np.ndarray] | np.ndarray,
                            image_template: np.ndarray | int | None = None,
                            template_method: str = "image",
                            shifts: np.ndarray | Sequence[Sequence[float]] | None = None,
                            normalize: bool = True) -> None:
        """Register the template image to each new image and carry the ROIs over.

        Parameters
        ----------
        ROIs_object_template : ROIs
            ROIs drawn on the template image.
        images_new : list of (H, W[, C]) arrays, or (N, H, W[, C])
            Images to carry the ROIs onto; the template's size.
        image_template : (H, W[, C]) array or int, optional
            ``template_method='image'``: the template image (default
            ``ROIs_object_template.exampleImage``). ``'sequential'``: the index in
            ``images_new`` of the image the ROIs were drawn on (default 0).
        template_method : {'image', 'sequential'}
        shifts : (N, 2) array, optional
            ``(dx, dy)`` px added to each flow (e.g. from a phase-correlation step that
            shifted the new images).
        normalize : bool
            Stretch each image's [min, max] to 0-255 before the flow (the flow then also
            stretches its 0.5-99.5 percentiles).

        Sets
        ----
        flows : list of (H, W, 2) float32
            Displacement ``(dx, dy)`` px from each template pixel to the new image.
        pointPositions_new : list of (N_points, 2) float32
        roiPoints_new : list of dict (ROI name -> (n, 2) float32 vertices)
        maskImages_new : list of dict (``mask_{i}`` -> (H, W) bool)
        ROIs_objects_new : list of ROIs
            Custom-mode ROIs on each new image, with the warped points.
        images_warped : list of arrays
            Each new image brought into the template frame.
        """
        if isinstance(images_new, np.ndarray) and images_new.ndim == 4:
            images_new = list(images_new)
        ims = [np.asarray(im) for im in images_new]
        if not ims or any(im.ndim not in (2, 3) for im in ims):
            raise RegistrationError("images_new must be a non-empty list of (H, W[, C]) images")
        if template_method == "image":
            tmpl = ROIs_object_template.exampleImage if image_template is None \
                else image_template
            if tmpl is None:
                raise RegistrationError("align_and_make_ROIs: no image_template and the ROIs "
                                        "object has no exampleImage")
            tmpl = np.asarray(tmpl)
        elif template_method == "sequential":
            idx = 0 if image_template is None else int(image_template)
            if not 0 <= idx < len(ims):
                raise RegistrationError(f"image_template index {idx} not in [0, {len(ims)})")
            tmpl = ims[idx]
        else:
            raise RegistrationError(f"template_method {template_method!r} not in "
                                    "['image', 'sequential']")
        h, w = tmpl.shape[:2]
        bad = [i for i, im in enumerate(ims) if im.shape[:2] != (h, w)]
        if bad:
            raise RegistrationError(f"images_new {bad} are not the template's size {h}x{w}")
        sh = np.zeros((len(ims), 2)) if shifts is None else \
            np.asarray(shifts, dtype=np.float64).reshape(-1, 2)
        if sh.shape[0] != len(ims):
            raise RegistrationError(f"shifts has {sh.shape[0]} rows for {len(ims)} images")
        method, kw = _flow_method(self._method), _flow_kwargs(self._method, self._kwargs_method)
        t_in = _minmax_u8(tmpl) if normalize else _gray(tmpl)

        self._image_template, self._images_new = tmpl, ims
        self.remappingIdx = []
        for im in progress_bar(ims, desc="optical flow", unit="image",
                               enabled=self._verbose > 1):
            m_in = _minmax_u8(im) if normalize else _gray(im)
            self.remappingIdx.append(_flow_remap(t_in, m_in, method=method, kwargs_method=kw))
        self.remappingIdx = [(r + s).astype(np.float32)
                             for r, s in zip(self.remappingIdx, sh.astype(np.float32),
                                             strict=True)]
        self.flows = [remappingIdx_to_flowField(r) for r in self.remappingIdx]

        pts = ROIs_object_template.point_positions
        polys = ROIs_object_template.roi_points
        self.pointPositions_new = [_clip_points(remap_points(pts, r), h, w)
                                   for r in self.remappingIdx]
        self.roiPoints_new = [{n: _clip_points(remap_points(v, r), h, w)
                               for n, v in polys.items()} for r in self.remappingIdx]
        self.maskImages_new = [{f"mask_{i}": polygon_to_mask(v, h, w)
                                for i, v in enumerate(rp.values())}
                               for rp in self.roiPoints_new]
        self.ROIs_objects_new = [
            ROIs(select_mode="custom", exampleImage=im, coords_rois=rp, point_positions=pp,
                 verbose=self._verbose)
            for im, rp, pp in zip(ims, self.roiPoints_new, self.pointPositions_new, strict=True)]
        self.images_warped = [_remap_any(im, r, border_value=float(np.mean(im)))
                              for im, r in zip(ims, self.remappingIdx, strict=True)]
        logger.info("aligned %d ROIs and %d points onto %d images", len(polys), len(pts),
                    len(ims))
