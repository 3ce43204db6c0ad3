"""The ROI stage's result file, ``results/{session}/rois.h5``: one writer, one reader.

Layout (written by :func:`save_rois_h5`, read by :func:`read_rois_h5`):

=======================  ==============================================================
key                      content
=======================  ==============================================================
``point_positions``      (N, 2) float32 ``(x, y)`` px, the points to track (home positions)
``mask``                 (H, W) bool tracking mask (AND of the ``mask_from`` masks)
``masks/{name}``         (H, W) bool mask of each ROI
``polygons/{name}``      (n, 2) float32 ``(x, y)`` vertices of each ROI
``point_spacing``        int64 grid spacing, px
``frame_height_width``   (2,) int64 ``(H, W)``
``points_from``          strings: ROIs whose masks are ANDed to hold the grid
``mask_from``            strings: ROIs whose masks are ANDed into ``mask`` ([] = whole frame)
``example_image``        optional (H, W[, 3]) uint8 frame the ROIs were drawn on
``run_info/``            provenance (:func:`face_rhythm.provenance.write_run_info`)
=======================  ==============================================================

Everyone (workflow scripts and rules, NWB export, figures, the notebook class) reads the
file through :func:`read_rois_h5`; nothing else opens it with raw h5py.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..atomic import atomic_h5
from ..errors import RoiError
from ..provenance import read_run_info, write_run_info
from .roiset import RoiSet

logger = logging.getLogger(__name__)

__all__ = ["RoisFile", "read_rois_h5", "save_rois_h5"]


@dataclass(frozen=True)
class RoisFile:
    """The contents of a ``rois.h5`` file (see the module docstring for the layout).

    Attributes
    ----------
    path : Path
        The file read.
    point_positions : np.ndarray of float32, shape (N, 2)
        ``(x, y)`` px points to track.
    mask : np.ndarray of bool, shape (H, W), or None
        Tracking mask; None when the file has none.
    masks : dict[str, np.ndarray]
        ROI name -> (H, W) bool mask, in file order (empty when the file has none).
    polygons : dict[str, np.ndarray]
        ROI name -> (n, 2) float32 ``(x, y)`` vertices, in file order.
    point_spacing : int or None
        Grid spacing, px.
    frame_height_width : tuple[int, int] or None
        ``(H, W)`` of the frames the ROIs belong to.
    points_from, mask_from : list[str] or None
        ROI names ANDed for the grid and for the tracking mask (None when not stored).
    example_frame : np.ndarray or None
        (H, W) (or (H, W, 3)) uint8 frame the ROIs were drawn on (stored as
        ``example_image``).
    run_info : dict
        Provenance (empty when the file has none).
    """

    path: Path
    point_positions: np.ndarray
    mask: np.ndarray | None = None
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    polygons: dict[str, np.ndarray] = field(default_factory=dict)
    point_spacing: int | None = None
    frame_height_width: tuple[int, int] | None = None
    points_from: list[str] | None = None
    mask_from: list[str] | None = None
    example_frame: np.ndarray | None = None
    run_info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_points(self) -> int:
        """Number of points N."""
        return int(self.point_positions.shape[0])


def _decode(x: Any) -> Any:
    """Bytes -> str and HDF5 string arrays -> list of str; anything else unchanged."""
    if isinstance(x, bytes):
        return x.decode()
    if isinstance(x, np.ndarray) and x.dtype.kind in "OS":
        return [s.decode() if isinstance(s, bytes) else str(s) for s in x.ravel()]
    return x


def save_rois_h5(roiset: RoiSet, path: str | os.PathLike,
                 run_info: Mapping[str, Any] | None = None,
                 example_image: np.ndarray | None = None) -> Path:
    """Write the workflow's ``rois.h5`` atomically (layout in the module docstring).

    Parameters
    ----------
    roiset : RoiSet
    path : path-like
    run_info : dict, optional
        From :func:`face_rhythm.provenance.run_info`; stored as JSON strings in ``run_info/``.
    example_image : np.ndarray, optional
        (H, W[, 3]) uint8 frame the ROIs were drawn on, stored as ``example_image``.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    pts = roiset.points()
    masks = roiset.masks()
    str_dt = h5py.string_dtype()
    with atomic_h5(path) as f:
        f.create_dataset("point_positions", data=pts.astype(np.float32))
        f.create_dataset("mask", data=roiset.tracking_mask(), compression="gzip")
        g = f.create_group("masks", track_order=True)
        for n, m in masks.items():
            g.create_dataset(n, data=m, compression="gzip")
        g = f.create_group("polygons", track_order=True)
        for n, v in roiset.polygons.items():
            g.create_dataset(n, data=v.astype(np.float32))
        f.create_dataset("point_spacing", data=np.int64(roiset.point_spacing))
        f.create_dataset("frame_height_width", data=np.asarray(roiset.frame_height_width,
                                                               dtype=np.int64))
        f.create_dataset("points_from", data=np.array(roiset.points_from or [], dtype=object),
                         dtype=str_dt)
        f.create_dataset("mask_from", data=np.array(roiset.mask_from or [], dtype=object),
                         dtype=str_dt)
        if example_image is not None:
            f.create_dataset("example_image", data=np.asarray(example_image),
                             compression="gzip")
        write_run_info(f, run_info)
    logger.info("saved %d points and %d ROI masks to %s", len(pts), len(masks), path)
    return path


def read_rois_h5(path: str | os.PathLike) -> RoisFile:
    """Read a ``rois.h5`` written by :func:`save_rois_h5` (the one reader of that file).

    Parameters
    ----------
    path : path-like

    Returns
    -------
    RoisFile
        Every array loaded; keys the file lacks are None (or empty), except
        ``point_positions``, which every ``rois.h5`` has.

    Raises
    ------
    FileNotFoundError
        No such file.
    RoiError
        The file has no ``point_positions``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: rois.h5 not found")
    with h5py.File(path, "r") as f:
        if "point_positions" not in f:
            raise RoiError(f"{path}: lacks 'point_positions' (not a face-rhythm rois.h5)")

        def opt(key: str) -> Any:
            return f[key][()] if key in f else None

        def group(key: str, dtype: type) -> dict[str, np.ndarray]:
            return {k: np.asarray(f[key][k][()], dtype=dtype) for k in f[key]} \
                if key in f else {}

        mask, hw = opt("mask"), opt("frame_height_width")
        spacing, points_from, mask_from = opt("point_spacing"), opt("points_from"), \
            opt("mask_from")
        return RoisFile(
            path=path,
            point_positions=np.asarray(f["point_positions"][()], dtype=np.float32).reshape(-1, 2),
            mask=None if mask is None else np.asarray(mask, dtype=bool),
            masks=group("masks", bool),
            polygons=group("polygons", np.float32),
            point_spacing=None if spacing is None else int(spacing),
            frame_height_width=None if hw is None else tuple(int(s) for s in hw),
            points_from=None if points_from is None else list(_decode(points_from)),
            mask_from=None if mask_from is None else list(_decode(mask_from)),
            example_frame=opt("example_image"),
            run_info=read_run_info(f["run_info"]) if "run_info" in f else {},
        )
