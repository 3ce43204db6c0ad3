"""The ROI set: named polygons on a frame, and how they make the point grid and tracking mask.

:class:`RoiSet` validates its polygons against the frame (vertices outside
``[-0.5, W - 0.5] x [-0.5, H - 0.5]`` are an error, a self-intersecting polygon is a warning)
and derives the masks (:func:`~face_rhythm.rois.geometry.polygon_to_mask`), the tracking mask
(AND of ``mask_from``) and the grid of points (inside the AND of ``points_from``). Files are
read and written by :mod:`.files` (YAML, original ``ROIs.h5``) and :mod:`.results`
(``rois.h5``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import RoiError
from .geometry import (
    _as_vertices,
    combine_masks,
    grid_points,
    polygon_self_intersects,
    polygon_to_mask,
)

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_POINT_SPACING", "YAML_FORMAT_NAME", "RoiSet"]

#: Grid spacing in pixels when neither the config nor the ROI file gives one.
DEFAULT_POINT_SPACING = 9
#: The ``format:`` value of our YAML ROI file.
YAML_FORMAT_NAME = "face-rhythm-rois"


def _f32_list(arr: np.ndarray) -> list:
    """Nested lists of the shortest decimal that reads back to the same float32."""
    a = np.asarray(arr, dtype=np.float32)
    return [[float(np.format_float_positional(x, unique=True, trim="-")) for x in row]
            for row in a]


@dataclass
class RoiSet:
    """Named ROI polygons on a frame, and how they make the point grid and tracking mask.

    Attributes
    ----------
    polygons : dict[str, np.ndarray]
        ROI name -> vertices (n, 2) float32 ``(x, y)``.
    frame_height_width : tuple[int, int]
        ``(H, W)`` of the frames the ROIs were drawn on.
    point_spacing : int
        Grid spacing in pixels.
    points_from : list[str] | None
        ROIs whose masks are ANDed to hold the point grid (None or [] -> all ROIs).
    mask_from : list[str] | None
        ROIs whose masks are ANDed into the tracking mask (None -> all ROIs; [] -> whole
        frame).
    fixed_points : np.ndarray | None
        (N, 2) float32 points that replace the grid (imported files, ``set_point_positions``,
        ``fliplr``).
    fixed_masks : dict[str, np.ndarray] | None
        (H, W) bool masks that replace the filled polygons (imported files whose masks were
        not made by our filling).
    source : str
        Where the ROIs came from (file path or ``"config"``), used in error messages.
    """

    polygons: dict[str, np.ndarray]
    frame_height_width: tuple[int, int]
    point_spacing: int = DEFAULT_POINT_SPACING
    points_from: list[str] | None = None
    mask_from: list[str] | None = None
    fixed_points: np.ndarray | None = None
    fixed_masks: dict[str, np.ndarray] | None = None
    source: str = "ROIs"

    def __post_init__(self) -> None:
        src = self.source
        try:
            h, w = (int(s) for s in self.frame_height_width)
        except (TypeError, ValueError):
            raise RoiError(f"{src}: frame_height_width must be (H, W), got "
                           f"{self.frame_height_width!r}") from None
        if h < 1 or w < 1:
            raise RoiError(f"{src}: bad frame size {h}x{w}")
        self.frame_height_width = (h, w)
        if not isinstance(self.polygons, Mapping) or not self.polygons:
            raise RoiError(f"{src}: no ROI polygons given")
        polys: dict[str, np.ndarray] = {}
        for name, verts in self.polygons.items():
            what = f"{src}: ROI '{name}'"
            v = _as_vertices(verts, what)
            bad = (v[:, 0] < -0.5) | (v[:, 0] > w - 0.5) | (v[:, 1] < -0.5) | (v[:, 1] > h - 0.5)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise RoiError(
                    f"{what}: vertex {i} ({v[i, 0]:g}, {v[i, 1]:g}) is outside the {w}x{h} "
                    f"frame (x must be in [-0.5, {w - 0.5}], y in [-0.5, {h - 0.5}])")
            if np.linalg.matrix_rank(v.astype(np.float64) - v.mean(axis=0), tol=1e-6) < 2:
                raise RoiError(f"{what}: the polygon encloses no area (its {len(v)} vertices "
                               "are collinear or repeated); give vertices around a region")
            if polygon_self_intersects(v):
                logger.warning("%s: polygon is self-intersecting; filled with the even-odd "
                               "rule", what)
            polys[str(name)] = v.astype(np.float32)
        self.polygons = polys
        sp = self.point_spacing
        if isinstance(sp, bool) or not isinstance(sp, (int, np.integer, float)) or \
                int(sp) != sp or int(sp) < 1:
            raise RoiError(f"{src}: point_spacing must be a positive integer, got {sp!r}")
        self.point_spacing = int(sp)
        for attr in ("points_from", "mask_from"):
            names = getattr(self, attr)
            if names is None or (attr == "points_from" and len(names) == 0):
                names = list(polys)
            elif isinstance(names, str):
                names = [names]
            names = [str(n) for n in names]
            missing = [n for n in names if n not in polys]
            if missing:
                raise RoiError(f"{src}: {attr} names unknown ROI(s) {missing}; ROIs are "
                               f"{list(polys)}")
            setattr(self, attr, names)
        if self.fixed_points is not None:
            p = np.asarray(self.fixed_points, dtype=np.float32).reshape(-1, 2)
            if p.shape[0] == 0:
                raise RoiError(f"{src}: the given point positions are empty")
            if not np.all(np.isfinite(p)):
                raise RoiError(f"{src}: point positions contain NaN or infinity")
            out = (p[:, 0] < -0.5) | (p[:, 0] > w - 0.5) | (p[:, 1] < -0.5) | (p[:, 1] > h - 0.5)
            if out.any():
                i = int(np.flatnonzero(out)[0])
                raise RoiError(f"{src}: point {i} ({p[i, 0]:g}, {p[i, 1]:g}) is outside the "
                               f"{w}x{h} frame")
            self.fixed_points = p
        if self.fixed_masks is not None:
            fm = {}
            for name, m in self.fixed_masks.items():
                m = np.asarray(m, dtype=bool)
                if m.shape != (h, w):
                    raise RoiError(f"{src}: mask '{name}' has shape {m.shape}, frame is "
                                   f"{(h, w)}")
                fm[str(name)] = m
            missing = [n for n in polys if n not in fm]
            if missing:
                raise RoiError(f"{src}: masks missing for ROI(s) {missing}")
            self.fixed_masks = fm

    # -- derived arrays
    def masks(self) -> dict[str, np.ndarray]:
        """ROI name -> (H, W) bool mask (filled polygon, or the fixed mask)."""
        if self.fixed_masks is not None:
            return {n: self.fixed_masks[n].copy() for n in self.polygons}
        h, w = self.frame_height_width
        return {n: polygon_to_mask(v, h, w) for n, v in self.polygons.items()}

    def combined_mask(self, names: Sequence[str]) -> np.ndarray:
        """(H, W) bool AND of the masks of ``names`` (all-True when empty)."""
        names = list(names)
        if not names:
            return np.ones(self.frame_height_width, dtype=bool)
        if self.fixed_masks is not None:
            ms = [self.fixed_masks[n] for n in names]
        else:
            h, w = self.frame_height_width
            ms = [polygon_to_mask(self.polygons[n], h, w) for n in names]
        return combine_masks(ms, self.frame_height_width)

    def tracking_mask(self) -> np.ndarray:
        """(H, W) bool: AND of the ``mask_from`` masks; all-True when ``mask_from`` is []."""
        return self.combined_mask(self.mask_from or [])

    def points_mask(self) -> np.ndarray:
        """(H, W) bool: AND of the ``points_from`` masks (where the grid lives)."""
        return self.combined_mask(self.points_from or [])

    def grid(self) -> np.ndarray:
        """(N, 2) float32 grid inside :meth:`points_mask`, ignoring ``fixed_points``."""
        return grid_points(self.points_mask(), self.point_spacing)

    def points(self) -> np.ndarray:
        """(N, 2) float32 ``(x, y)`` points to track; RoiError when there are none."""
        if self.fixed_points is not None:
            return self.fixed_points.copy()
        p = self.grid()
        if p.shape[0] == 0:
            raise RoiError(
                f"{self.source}: point_spacing {self.point_spacing} leaves zero points inside "
                f"ROI(s) {self.points_from}; draw a larger ROI or use a smaller spacing")
        return p

    def validate(self) -> RoiSet:
        """Compute masks and points once so any problem is raised now; returns self.

        Also a :class:`RoiError` when no point of the grid lies inside the tracking mask
        (``mask_from`` disjoint from ``points_from``): every point would sit on a blanked-out
        image.
        """
        pts = self.points()
        if self.mask_from and self.fixed_points is None:
            mask = self.tracking_mask()
            h, w = mask.shape
            cols = np.clip(np.rint(pts[:, 0]).astype(int), 0, w - 1)
            rows = np.clip(np.rint(pts[:, 1]).astype(int), 0, h - 1)
            if not mask[rows, cols].any():
                raise RoiError(
                    f"{self.source}: none of the {len(pts)} points (points_from "
                    f"{self.points_from}) lies inside the tracking mask (mask_from "
                    f"{self.mask_from}); make those ROIs overlap, or set mask_from: []")
        return self

    # -- transforms
    def fliplr(self) -> RoiSet:
        """Mirror left-right: ``x -> (W - 1) - x`` for vertices and points, masks flipped.

        Computed in float64 then stored as float32, so flipping twice restores the vertices
        exactly whenever they are multiples of 1/1024 px (the drawing page writes quarter
        pixels); masks and grid points always come back exactly.
        """
        w = self.frame_height_width[1]

        def flip(a: np.ndarray) -> np.ndarray:
            a = np.asarray(a, dtype=np.float64).copy()
            a[:, 0] = (w - 1) - a[:, 0]
            return a.astype(np.float32)

        polys = {n: flip(v) for n, v in self.polygons.items()}
        fixed_masks = None if self.fixed_masks is None else \
            {n: m[:, ::-1].copy() for n, m in self.fixed_masks.items()}
        out = dataclasses.replace(self, polygons=polys, fixed_masks=fixed_masks,
                                  fixed_points=None)
        pts = self.fixed_points if self.fixed_points is not None else self.grid()
        if pts.shape[0]:
            flipped = flip(pts)
            if not np.array_equal(flipped, out.grid()):
                out.fixed_points = flipped
        return out

    # -- serialisation
    def to_yaml_dict(self) -> dict[str, Any]:
        """Plain-Python dict of the YAML file (see module docstring)."""
        d: dict[str, Any] = {
            "format": YAML_FORMAT_NAME,
            "version": 1,
            "frame_height_width": [int(s) for s in self.frame_height_width],
            "point_spacing": int(self.point_spacing),
            "points_from": list(self.points_from or []),
            "mask_from": list(self.mask_from or []),
            "polygons": {n: _f32_list(v) for n, v in self.polygons.items()},
        }
        if self.fixed_points is not None:
            d["point_positions"] = _f32_list(self.fixed_points)
        return d
