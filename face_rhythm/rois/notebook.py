"""The original package's notebook class :class:`ROIs`, a thin layer over the ROI functions."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from face_rhythm.provenance import package_versions
from face_rhythm.util.fr_module import FR_Module

from ..errors import RoiError
from .figures import plot_rois
from .files import load_example_image, load_rois, reference_mask_names, save_rois_yaml
from .geometry import combine_masks, grid_points
from .results import save_rois_h5
from .roiset import DEFAULT_POINT_SPACING, RoiSet
from .server import draw_rois_blocking

logger = logging.getLogger(__name__)

__all__ = ["ROIs"]


class ROIs(FR_Module):
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
    mask_images : dict or list, optional
        (H, W) bool masks that replace the filled polygons, one per ROI in order (a dict
        keyed by the ROI names, or by mask names such as ``mask_0``, or a list).
    verbose : int
        Kept for compatibility; messages go through :mod:`logging` (configure its level).
    point_spacing : int
        Grid spacing used by the GUI default and by :meth:`make_points` in 'custom' mode
        (keyword; not in the original's signature).

    Attributes
    ----------
    exampleImage, roi_points (ROI name -> vertices), mask_images (mask key -> (H, W) bool:
    ``mask_{i}`` in ROI order as the original names them, or the keys stored in an
    original ``ROIs.h5``; ``rois[i]`` is the i-th mask, ``len(rois)`` the number of masks),
    point_positions (N, 2) float32, num_points, img_hw, roiset (:class:`RoiSet`),
    config / run_info / run_data dicts: ``save_run_data`` (of
    :class:`~face_rhythm.util.FR_Module`) writes ``analysis_files/ROIs.h5`` in the original's
    layout (``mask_images/mask_{i}``, ``roi_points/ROI_{i}``, ``point_positions``,
    ``exampleImage``), readable again with ``ROIs(select_mode='file', path_file=...)``.
    """

    def __init__(self, select_mode: str = "gui", exampleImage: np.ndarray | None = None,
                 path_file: str | os.PathLike | None = None,
                 coords_rois: Mapping[str, Any] | None = None,
                 point_positions: np.ndarray | None = None,
                 mask_images: Mapping[str, np.ndarray] | Sequence[np.ndarray] | None = None,
                 verbose: int = 1, point_spacing: int = DEFAULT_POINT_SPACING) -> None:
        super().__init__()
        self.verbose = int(verbose)
        mask_keys = None
        self.exampleImage = None if exampleImage is None else np.asarray(exampleImage)
        if select_mode == "file":
            if path_file is None:
                raise RoiError("ROIs(select_mode='file') needs path_file")
            rs = load_rois(path_file)
            mask_keys = reference_mask_names(path_file)
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
            fixed, mask_keys = _match_masks(mask_images, list(rs.polygons))
            rs = dataclasses.replace(rs, fixed_masks=fixed)
        if point_positions is not None:
            rs.fixed_points = np.asarray(point_positions, dtype=np.float32).reshape(-1, 2)
        self.roiset = rs
        self._mask_keys = mask_keys or [f"mask_{i}" for i in range(len(rs.polygons))]
        self.config = {"select_mode": select_mode,
                       "path_file": None if path_file is None else str(path_file),
                       "coords_rois": None if coords_rois is None else {
                           str(n): np.asarray(v, dtype=float).tolist()
                           for n, v in coords_rois.items()},
                       "point_spacing": rs.point_spacing, "verbose": self.verbose}
        self._refresh()

    def _refresh(self) -> None:
        rs = self.roiset
        self.roi_points = {n: v.copy() for n, v in rs.polygons.items()}
        masks = rs.masks()  # keyed as the original: mask_{i}, or as stored in the file
        self.mask_images = {k: masks[n] for k, n in zip(self._mask_keys, rs.polygons,
                                                        strict=True)}
        try:
            self.point_positions = rs.points()
        except ValueError as e:
            logger.warning("%s", e)
            self.point_positions = np.zeros((0, 2), dtype=np.float32)
        self.num_points = int(self.point_positions.shape[0])
        self.img_hw = tuple(rs.frame_height_width)
        self.run_info = {"num_points": self.num_points, "img_hw": list(self.img_hw),
                         "roi_names": list(rs.polygons), "point_spacing": rs.point_spacing,
                         "versions": package_versions()}
        # the original's ROIs.h5 layout: mask_images/mask_{i} (or the keys read from the
        # file), roi_points/ROI_{i}
        self.run_data = {
            "mask_images": {k: np.asarray(m, dtype=bool) for k, m in self.mask_images.items()},
            "roi_points": {f"ROI_{i}": np.asarray(v, dtype=np.float64)
                           for i, v in enumerate(self.roi_points.values())},
            "point_positions": np.asarray(self.point_positions, dtype=np.float32),
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

    # -- the original's container protocol: the mask images, in ROI order
    def __getitem__(self, index: int | str) -> np.ndarray:
        """Mask image (H, W) bool by position (``rois[0]``) or by key (``rois['mask_0']``,
        or an ROI name such as ``rois['ROI_0']``)."""
        keys = list(self.mask_images)
        if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
            try:
                return self.mask_images[keys[int(index)]]
            except IndexError:
                raise RoiError(f"ROIs[{index}]: there are {len(keys)} masks") from None
        if index in self.mask_images:
            return self.mask_images[index]
        if index in self.roi_points:
            return self.mask_images[keys[list(self.roi_points).index(index)]]
        raise RoiError(f"ROIs[{index!r}]: no such mask; masks are {keys}, ROIs are "
                       f"{list(self.roi_points)}")

    def __len__(self) -> int:
        return len(self.mask_images)

    def __iter__(self):
        """Iterates over the mask keys (like the original's dict of masks)."""
        return iter(list(self.mask_images))

    def __repr__(self) -> str:
        return (f"ROIs({list(self.roi_points)}, img_hw={self.img_hw}, "
                f"num_points={self.num_points})")


def _match_masks(mask_images, roi_names: list[str]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Masks given to ``ROIs(mask_images=...)`` -> (ROI name -> mask, mask keys).

    A dict keyed by the ROI names is taken as is (its keys become ``mask_{i}``); any other
    dict, or a list of masks, is matched to the ROIs by position and keeps its keys.
    """
    if isinstance(mask_images, Mapping):
        keys, arrs = [str(k) for k in mask_images], list(mask_images.values())
        if keys == roi_names:
            keys = [f"mask_{i}" for i in range(len(keys))]
    else:
        arrs = list(mask_images)
        keys = [f"mask_{i}" for i in range(len(arrs))]
    if len(arrs) != len(roi_names):
        raise RoiError(f"ROIs: {len(arrs)} mask_images for {len(roi_names)} ROIs {roi_names}")
    return {n: np.asarray(m, dtype=bool) for n, m in zip(roi_names, arrs, strict=True)}, keys
