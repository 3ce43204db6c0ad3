"""The original package's notebook class :class:`ROIs`, a thin layer over the ROI functions."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RoiError
from .figures import plot_rois
from .files import load_example_image, load_rois, save_rois_yaml
from .geometry import combine_masks, grid_points
from .results import save_rois_h5
from .roiset import DEFAULT_POINT_SPACING, RoiSet
from .server import draw_rois_blocking

logger = logging.getLogger(__name__)

__all__ = ["ROIs"]


class ROIs:
    """Face ROIs and the points to track inside them (the original package's notebook API).

    Parameters
    ----------
    select_mode : {'gui', 'file', 'custom'}
        'gui': open the drawing page in the browser (prints its URL, returns when the user
        presses "Save and finish"); 'file': load ``path_file`` (our YAML / rois.h5 or an
        original ``ROIs.h5``); 'custom': polygons from ``coords_rois``.
    exampleImage : np.ndarray, optional
        (H, W[, 3]) uint8 frame: shown in the GUI, defines the frame size for 'custom'.
    path_file : path-like, optional
        ROI file for 'file' mode.
    coords_rois : dict, optional
        Name -> (n, 2) ``(x, y)`` vertices for 'custom' mode.
    point_positions : np.ndarray, optional
        (N, 2) points that replace the grid.
    mask_images : dict, optional
        Name -> (H, W) bool masks that replace the filled polygons.
    point_spacing : int
        Grid spacing used by the GUI default and by :meth:`make_points` in 'custom' mode.
    verbose : int
        Kept for compatibility; messages go through :mod:`logging` (configure its level).

    Attributes
    ----------
    exampleImage, roi_points (name -> vertices), mask_images (name -> mask),
    point_positions (N, 2) float32, num_points, img_hw, roiset (:class:`RoiSet`),
    config / run_info / run_data dicts.
    """

    def __init__(self, select_mode: str = "gui", exampleImage: np.ndarray | None = None,
                 path_file: str | os.PathLike | None = None,
                 coords_rois: Mapping[str, Any] | None = None,
                 point_positions: np.ndarray | None = None,
                 mask_images: Mapping[str, np.ndarray] | None = None,
                 point_spacing: int = DEFAULT_POINT_SPACING, verbose: int = 1) -> None:
        self.verbose = int(verbose)
        self.exampleImage = None if exampleImage is None else np.asarray(exampleImage)
        if select_mode == "file":
            if path_file is None:
                raise RoiError("ROIs(select_mode='file') needs path_file")
            rs = load_rois(path_file)
            if self.exampleImage is None:
                self.exampleImage = load_example_image(path_file)
        elif select_mode == "custom":
            if coords_rois is None or self.exampleImage is None:
                raise RoiError("ROIs(select_mode='custom') needs coords_rois and exampleImage")
            rs = RoiSet(polygons=dict(coords_rois),
                        frame_height_width=self.exampleImage.shape[:2],
                        point_spacing=point_spacing, source="coords_rois")
        elif select_mode == "gui":
            if self.exampleImage is None:
                raise RoiError("ROIs(select_mode='gui') needs exampleImage")
            rs = draw_rois_blocking(self.exampleImage, point_spacing=point_spacing)
        else:
            raise RoiError(f"ROIs: select_mode must be 'gui', 'file' or 'custom', got "
                           f"{select_mode!r}")
        if mask_images is not None:
            rs = dataclasses.replace(rs, fixed_masks={n: np.asarray(m, dtype=bool)
                                                      for n, m in mask_images.items()})
        if point_positions is not None:
            rs.fixed_points = np.asarray(point_positions, dtype=np.float32).reshape(-1, 2)
        self.roiset = rs
        self.config = {"select_mode": select_mode,
                       "path_file": None if path_file is None else str(path_file),
                       "point_spacing": rs.point_spacing}
        self._refresh()

    def _refresh(self) -> None:
        rs = self.roiset
        self.roi_points = {n: v.copy() for n, v in rs.polygons.items()}
        self.mask_images = rs.masks()
        try:
            self.point_positions = rs.points()
        except ValueError as e:
            logger.warning("%s", e)
            self.point_positions = np.zeros((0, 2), dtype=np.float32)
        self.num_points = int(self.point_positions.shape[0])
        self.img_hw = tuple(rs.frame_height_width)
        self.run_info = {"num_points": self.num_points, "img_hw": list(self.img_hw),
                         "roi_names": list(rs.polygons), "point_spacing": rs.point_spacing}
        self.run_data = {"mask_images": self.mask_images, "roi_points": self.roi_points,
                         "point_positions": self.point_positions,
                         "exampleImage": self.exampleImage}

    def make_points(self, rois: Sequence[np.ndarray] | np.ndarray,
                    point_spacing: int = 10) -> np.ndarray:
        """Grid of points inside the AND of ``rois`` (list of masks, one mask or (K, H, W)).

        Stores and returns ``point_positions`` (N, 2) float32.
        """
        arr = np.asarray(rois, dtype=bool)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise RoiError(f"make_points: rois must be masks (H, W) or (K, H, W), got shape "
                           f"{arr.shape}")
        pts = grid_points(combine_masks(list(arr), arr.shape[1:]), point_spacing)
        if pts.shape[0] == 0:
            raise RoiError(f"make_points: point_spacing {point_spacing} leaves zero points "
                           "inside the masks")
        self.roiset.point_spacing = int(point_spacing)
        self.set_point_positions(pts)
        return pts

    def set_point_positions(self, point_positions: np.ndarray) -> None:
        """Replace the points with an explicit (N, 2) ``(x, y)`` array."""
        p = np.asarray(point_positions, dtype=np.float32)
        if p.ndim != 2 or p.shape[1] != 2:
            raise RoiError(f"set_point_positions: expected (N, 2), got {p.shape}")
        self.roiset.fixed_points = p.copy()
        self._refresh()

    def plot_rois(self, image: np.ndarray | None = None, **kwargs_imshow):
        """Outlines and points over ``image`` (default: the example image). Returns (fig, ax)."""
        fig = plot_rois(self.exampleImage if image is None else image, self.roiset,
                        **kwargs_imshow)
        return fig, fig.axes[0]

    def fliplr(self) -> None:
        """Mirror image, polygons, masks and points left-right, in place."""
        self.roiset = self.roiset.fliplr()
        if self.exampleImage is not None:
            self.exampleImage = self.exampleImage[:, ::-1].copy()
        self._refresh()

    def save(self, path: str | os.PathLike) -> Path:
        """Save as our YAML (``.yaml``/``.yml``) or ``rois.h5`` (``.h5``) file."""
        path = Path(path)
        if path.suffix.lower() in (".h5", ".hdf5"):
            return save_rois_h5(self.roiset, path, example_image=self.exampleImage)
        return save_rois_yaml(self.roiset, path)

    def __repr__(self) -> str:
        return (f"ROIs({list(self.roi_points)}, img_hw={self.img_hw}, "
                f"num_points={self.num_points})")
