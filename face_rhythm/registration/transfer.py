"""Carrying ROIs and points drawn on the template session into another session.

:func:`transfer_rois` warps a :class:`face_rhythm.rois.RoiSet` with the warp from
:func:`~.register.register_images` (polygons and points by the exact warp, masks by inverse
remapping); point ``i`` stays point ``i``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from face_rhythm.rois import RoiSet

from .warps import (
    RegistrationError,
    as_3x3,
    invert_remappingIdx,
    invert_warp_matrix,
    remap_images,
    remap_points,
    transform_points,
    warp_matrix_to_remappingIdx,
)

logger = logging.getLogger(__name__)

__all__ = ["transfer_rois"]


def transfer_rois(roiset, warp_matrix: np.ndarray | None = None,
                  remappingIdx: np.ndarray | None = None,
                  frame_height_width: Sequence[int] | None = None, source: str = "transferred"):
    """Warp a template session's ROIs and points into another session.

    Parameters
    ----------
    roiset : face_rhythm.rois.RoiSet
        ROIs drawn on the template session.
    warp_matrix : (2, 3) or (3, 3), optional
        Template -> session coordinates (``RegistrationResult.warp_matrices[i]``).
    remappingIdx : (H, W, 2), optional
        Template grid -> session coordinates (non-rigid registration); used instead of
        ``warp_matrix`` when given.
    frame_height_width : (H, W), optional
        Session frame size (default: the template's).
    source : str
        Name for messages.

    Returns
    -------
    face_rhythm.rois.RoiSet
        Polygons and points warped (point i is the same facial location as the template's
        point i; ``fixed_points`` always set), masks warped by inverse remapping
        (``fixed_masks``). Vertices pushed outside the frame are clipped to it (warning);
        points are never dropped or clipped (warning when outside the frame).
    """
    if (warp_matrix is None) == (remappingIdx is None):
        raise RegistrationError("give exactly one of warp_matrix and remappingIdx")
    h_t, w_t = roiset.frame_height_width
    h, w = (int(v) for v in (frame_height_width or (h_t, w_t)))
    if remappingIdx is not None:
        ri = np.asarray(remappingIdx, dtype=np.float32)
        if ri.shape != (h_t, w_t, 2):
            raise RegistrationError(f"remappingIdx shape {ri.shape} does not match the ROI "
                                        f"frame {(h_t, w_t)}")

        def fwd(p):
            return remap_points(p, ri)

        inv = invert_remappingIdx(ri, fill_value=None)
        if (h, w) != (h_t, w_t):
            raise RegistrationError("non-rigid transfer needs equal frame sizes")
    else:
        m = as_3x3(warp_matrix)
        if not np.all(np.isfinite(m)):
            raise RegistrationError(f"{source}: warp matrix is not finite (registration "
                                        "failed)")

        def fwd(p):
            return transform_points(p, m)

        inv = warp_matrix_to_remappingIdx(invert_warp_matrix(m), w, h)
    polys = {}
    for name, v in roiset.polygons.items():
        wv = fwd(v).astype(np.float64)
        clipped = np.clip(wv, -0.5, [w - 0.5, h - 0.5])
        if not np.allclose(clipped, wv):
            logger.warning("%s: ROI '%s' moves partly outside the %dx%d frame; vertices "
                           "clipped", source, name, w, h)
        polys[name] = clipped.astype(np.float32)
    masks = {}
    for name, mk in roiset.masks().items():
        warped = remap_images(mk.astype(np.float32), inv, border_value=0.0)
        masks[name] = warped > 0.5
    pts = fwd(roiset.points()).astype(np.float32)
    outside = (pts[:, 0] < -0.5) | (pts[:, 0] > w - 0.5) | (pts[:, 1] < -0.5) | \
        (pts[:, 1] > h - 0.5)
    if outside.any():
        logger.warning("%s: %d of %d points fall outside the %dx%d frame after the warp",
                       source, int(outside.sum()), len(pts), w, h)
    return RoiSet(polygons=polys, frame_height_width=(h, w),
                  point_spacing=roiset.point_spacing, points_from=roiset.points_from,
                  mask_from=roiset.mask_from, fixed_points=pts, fixed_masks=masks,
                  source=source)
