"""Regions of interest (ROIs): named polygons -> boolean masks -> a grid of points to track.

Conventions
-----------
* Vertices and points are ``(x, y)`` pixel coordinates, ``x`` = column, ``y`` = row, float32.
* **Pixel centres sit at integer coordinates**: pixel ``mask[r, c]`` is the unit square
  centred on ``(x=c, y=r)``; the frame covers ``x`` in ``[-0.5, W - 0.5]`` and ``y`` in
  ``[-0.5, H - 0.5]``. Vertices outside that rectangle are an error.
* **Filling** (:func:`polygon_to_mask`): a pixel belongs to the mask when its centre lies
  inside the polygon or on its boundary (a closed polygon; centres within 1e-6 px of an edge
  count as on it). Self-intersecting polygons are filled with the even-odd rule (and a
  warning is logged).
* **Grid** (:func:`grid_points`): the lattice ``x = x0 + i*spacing``, ``y = y0 + j*spacing``
  with ``(x0, y0)`` the minimum of the mask's bounding box and the maximum excluded
  (``np.arange(min, max, spacing)``), keeping the lattice points whose pixel is in the mask;
  ordered row by row (``y`` then ``x``). This reproduces the original package's grid.

Files
-----
* Our YAML file (written by ``face-rhythm rois draw`` or :func:`save_rois_yaml`)::

      format: face-rhythm-rois
      version: 1
      frame_height_width: [582, 782]
      point_spacing: 9
      points_from: [face]        # the grid fills the AND of these masks
      mask_from: [face]          # tracking mask = AND of these masks ([] -> whole frame)
      polygons:
        face: [[120.5, 80.0], [300.0, 95.25], [280.0, 400.0]]
      point_positions: [[x, y], ...]   # only when points were set explicitly

* Our HDF5 file (``results/{session}/rois.h5``, :func:`save_rois_h5`): ``point_positions``
  (N, 2) float32, ``mask`` (H, W) bool (tracking mask), ``masks/{name}`` (H, W) bool,
  ``polygons/{name}`` (n, 2) float32, ``point_spacing``, ``frame_height_width``,
  ``points_from``, ``mask_from`` (string arrays), optional ``example_image``, ``run_info/``.
* The original package's ``ROIs.h5`` (``mask_images/mask_{i}``, ``roi_points/ROI_{i}``,
  ``point_positions``, ``exampleImage``) is imported by :func:`load_rois`; its stored masks
  and points are kept exactly.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from face_rhythm.h5_handling import atomic_h5, atomic_path

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_POINT_SPACING",
    "YAML_FORMAT_NAME",
    "ROIs",
    "RoiSet",
    "combine_masks",
    "grid_points",
    "infer_point_spacing",
    "load_rois",
    "plot_rois",
    "polygon_self_intersects",
    "polygon_to_mask",
    "rois_from_config",
    "save_rois_h5",
    "save_rois_yaml",
]

DEFAULT_POINT_SPACING = 9
YAML_FORMAT_NAME = "face-rhythm-rois"
_EDGE_TOL = 1e-6


# ----------------------------------------------------------------------------- geometry


def _as_vertices(vertices: Any, what: str = "polygon") -> np.ndarray:
    """(n, 2) float64 array of finite vertices, or ValueError."""
    try:
        v = np.asarray(vertices, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what}: vertices are not numbers ({e})") from None
    if v.ndim != 2 or v.shape[1] != 2:
        raise ValueError(f"{what}: vertices must have shape (n, 2) as (x, y), got {v.shape}")
    if v.shape[0] < 3:
        raise ValueError(f"{what}: a polygon needs at least 3 vertices, got {v.shape[0]}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{what}: vertices contain NaN or infinity")
    return v


def polygon_to_mask(vertices: np.ndarray, height: int, width: int) -> np.ndarray:
    """Fill a polygon exactly on the pixel grid.

    Parameters
    ----------
    vertices : array_like, shape (n, 2)
        Polygon vertices as ``(x, y)`` pixel coordinates, ``n >= 3``; the polygon is closed
        implicitly (last vertex joins the first). Pixel centres are at integer coordinates.
    height, width : int
        Size of the mask in pixels.

    Returns
    -------
    mask : np.ndarray of bool, shape (height, width)
        True where the pixel centre ``(x=c, y=r)`` is inside the polygon or on its boundary
        (even-odd rule for self-intersecting polygons). Parts outside the frame are clipped.
    """
    v = _as_vertices(vertices)
    height, width = int(height), int(width)
    if height < 1 or width < 1:
        raise ValueError(f"polygon_to_mask: bad mask size {height}x{width}")
    mask = np.zeros((height, width), dtype=bool)
    x0, y0 = v[:, 0], v[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)

    # 1) interior: scanline crossings at every integer row, half-open in y so each crossing
    #    of the row by the boundary is counted once; fill [ceil(xa), floor(xb)] per pair.
    r_lo = max(0, math.ceil(float(y0.min())))
    r_hi = min(height - 1, math.floor(float(y0.max())))
    if r_lo <= r_hi:
        rows = np.arange(r_lo, r_hi + 1, dtype=np.float64)[:, None]
        ylo, yhi = np.minimum(y0, y1), np.maximum(y0, y1)
        dy = y1 - y0
        crosses = (ylo <= rows) & (rows < yhi) & (dy != 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (rows - y0) / dy
            xc = np.where(crosses, x0 + t * (x1 - x0), np.inf)
        xc.sort(axis=1)
        n_max = int(crosses.sum(axis=1).max()) if crosses.size else 0
        if n_max >= 2:
            xa, xb = xc[:, 0:n_max - 1:2], xc[:, 1:n_max:2]
            ok = np.isfinite(xa) & np.isfinite(xb)
            start = np.clip(np.ceil(np.where(ok, xa, 0.0)), 0, width).astype(np.int64)
            stop = np.clip(np.floor(np.where(ok, xb, -1.0)) + 1, 0, width).astype(np.int64)
            ok &= start < stop
            diff = np.zeros((rows.shape[0], width + 1), dtype=np.int32)
            ri = np.broadcast_to(np.arange(rows.shape[0])[:, None], ok.shape)
            np.add.at(diff, (ri[ok], start[ok]), 1)
            np.add.at(diff, (ri[ok], stop[ok]), -1)
            mask[r_lo:r_hi + 1] = np.cumsum(diff[:, :width], axis=1) > 0

    # 2) boundary: lattice points lying on an edge (vertices, horizontal/vertical edges and
    #    any other edge through pixel centres), stepping along the edge's longer axis.
    for ax, bx, ay, by in zip(x0, x1, y0, y1, strict=True):
        if abs(bx - ax) >= abs(by - ay):  # step over columns, compute rows
            lo, hi = (ax, bx) if ax <= bx else (bx, ax)
            cols = np.arange(max(0, math.ceil(lo - _EDGE_TOL)),
                             min(width - 1, math.floor(hi + _EDGE_TOL)) + 1)
            if cols.size == 0:
                continue
            if bx == ax:
                yy = np.full(cols.shape, ay)
            else:
                yy = ay + (cols - ax) * ((by - ay) / (bx - ax))
            rr = np.rint(yy)
            hit = (np.abs(yy - rr) <= _EDGE_TOL) & (rr >= 0) & (rr <= height - 1)
            mask[rr[hit].astype(np.int64), cols[hit]] = True
        else:  # step over rows, compute columns
            lo, hi = (ay, by) if ay <= by else (by, ay)
            rws = np.arange(max(0, math.ceil(lo - _EDGE_TOL)),
                            min(height - 1, math.floor(hi + _EDGE_TOL)) + 1)
            if rws.size == 0:
                continue
            xx = ax + (rws - ay) * ((bx - ax) / (by - ay))
            cc = np.rint(xx)
            hit = (np.abs(xx - cc) <= _EDGE_TOL) & (cc >= 0) & (cc <= width - 1)
            mask[rws[hit], cc[hit].astype(np.int64)] = True
    return mask


def grid_points(mask: np.ndarray, spacing: int) -> np.ndarray:
    """Points of a square lattice that fall inside a mask.

    Parameters
    ----------
    mask : np.ndarray of bool, shape (H, W)
    spacing : int
        Lattice spacing in pixels (>= 1).

    Returns
    -------
    points : np.ndarray of float32, shape (N, 2)
        ``(x, y)`` of the lattice points ``np.arange(min, max, spacing)`` along each axis of
        the mask's bounding box (maximum excluded) whose pixel is True, ordered by ``y`` then
        ``x``. ``N`` may be 0 (empty mask or a spacing larger than the mask).
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"grid_points: mask must be 2-D (H, W), got shape {mask.shape}")
    if int(spacing) != spacing or int(spacing) < 1:
        raise ValueError(f"grid_points: spacing must be a positive integer, got {spacing!r}")
    spacing = int(spacing)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return np.zeros((0, 2), dtype=np.float32)
    ys = np.arange(rows[0], rows[-1], spacing)
    xs = np.arange(cols[0], cols[-1], spacing)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    inside = mask[yy, xx]
    return np.stack([xx[inside], yy[inside]], axis=1).astype(np.float32)


def combine_masks(masks: Sequence[np.ndarray], height_width: tuple[int, int]) -> np.ndarray:
    """Logical AND of masks; all-True of shape ``height_width`` when ``masks`` is empty."""
    out = np.ones(tuple(int(s) for s in height_width), dtype=bool)
    for m in masks:
        m = np.asarray(m, dtype=bool)
        if m.shape != out.shape:
            raise ValueError(f"combine_masks: mask shape {m.shape} != frame {out.shape}")
        out &= m
    return out


def _orient(ax, ay, bx, by, cx, cy) -> float:
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


def _segments_touch(p, q, r, s) -> bool:
    """Do closed segments pq and rs share a point?"""
    d1 = _orient(*r, *s, *p)
    d2 = _orient(*r, *s, *q)
    d3 = _orient(*p, *q, *r)
    d4 = _orient(*p, *q, *s)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True

    def on(a, b, c) -> bool:  # c collinear with ab: inside its box?
        return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and \
            min(a[1], b[1]) <= c[1] <= max(a[1], b[1])

    return (d1 == 0 and on(r, s, p)) or (d2 == 0 and on(r, s, q)) or \
        (d3 == 0 and on(p, q, r)) or (d4 == 0 and on(p, q, s))


def polygon_self_intersects(vertices: np.ndarray) -> bool:
    """True when two non-adjacent edges of the (closed) polygon touch or cross."""
    v = np.asarray(vertices, dtype=np.float64)
    n = len(v)
    if n < 4:
        return False
    pts = [tuple(p) for p in v]
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # adjacent through the closing edge
            if _segments_touch(pts[i], pts[(i + 1) % n], pts[j], pts[(j + 1) % n]):
                return True
    return False


def infer_point_spacing(points: np.ndarray) -> int | None:
    """Lattice spacing of a grid of points (smallest positive step in x or y), or None."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    steps = []
    for k in range(2):
        u = np.unique(p[:, k])
        if u.size > 1:
            steps.append(np.diff(u).min())
    if not steps:
        return None
    s = float(min(steps))
    return round(s) if abs(s - round(s)) < 1e-6 and s >= 1 else None


# ----------------------------------------------------------------------------- RoiSet


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
            raise ValueError(f"{src}: frame_height_width must be (H, W), got "
                             f"{self.frame_height_width!r}") from None
        if h < 1 or w < 1:
            raise ValueError(f"{src}: bad frame size {h}x{w}")
        self.frame_height_width = (h, w)
        if not isinstance(self.polygons, Mapping) or not self.polygons:
            raise ValueError(f"{src}: no ROI polygons given")
        polys: dict[str, np.ndarray] = {}
        for name, verts in self.polygons.items():
            what = f"{src}: ROI '{name}'"
            v = _as_vertices(verts, what)
            bad = (v[:, 0] < -0.5) | (v[:, 0] > w - 0.5) | (v[:, 1] < -0.5) | (v[:, 1] > h - 0.5)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(
                    f"{what}: vertex {i} ({v[i, 0]:g}, {v[i, 1]:g}) is outside the {w}x{h} "
                    f"frame (x must be in [-0.5, {w - 0.5}], y in [-0.5, {h - 0.5}])")
            if polygon_self_intersects(v):
                logger.warning("%s: polygon is self-intersecting; filled with the even-odd "
                               "rule", what)
            polys[str(name)] = v.astype(np.float32)
        self.polygons = polys
        sp = self.point_spacing
        if isinstance(sp, bool) or not isinstance(sp, (int, np.integer, float)) or \
                int(sp) != sp or int(sp) < 1:
            raise ValueError(f"{src}: point_spacing must be a positive integer, got {sp!r}")
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
                raise ValueError(f"{src}: {attr} names unknown ROI(s) {missing}; ROIs are "
                                 f"{list(polys)}")
            setattr(self, attr, names)
        if self.fixed_points is not None:
            p = np.asarray(self.fixed_points, dtype=np.float32).reshape(-1, 2)
            if p.shape[0] == 0:
                raise ValueError(f"{src}: the given point positions are empty")
            if not np.all(np.isfinite(p)):
                raise ValueError(f"{src}: point positions contain NaN or infinity")
            out = (p[:, 0] < -0.5) | (p[:, 0] > w - 0.5) | (p[:, 1] < -0.5) | (p[:, 1] > h - 0.5)
            if out.any():
                i = int(np.flatnonzero(out)[0])
                raise ValueError(f"{src}: point {i} ({p[i, 0]:g}, {p[i, 1]:g}) is outside the "
                                 f"{w}x{h} frame")
            self.fixed_points = p
        if self.fixed_masks is not None:
            fm = {}
            for name, m in self.fixed_masks.items():
                m = np.asarray(m, dtype=bool)
                if m.shape != (h, w):
                    raise ValueError(f"{src}: mask '{name}' has shape {m.shape}, frame is "
                                     f"{(h, w)}")
                fm[str(name)] = m
            missing = [n for n in polys if n not in fm]
            if missing:
                raise ValueError(f"{src}: masks missing for ROI(s) {missing}")
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
        """(N, 2) float32 ``(x, y)`` points to track; ValueError when there are none."""
        if self.fixed_points is not None:
            return self.fixed_points.copy()
        p = self.grid()
        if p.shape[0] == 0:
            raise ValueError(
                f"{self.source}: point_spacing {self.point_spacing} leaves zero points inside "
                f"ROI(s) {self.points_from}; draw a larger ROI or use a smaller spacing")
        return p

    def validate(self) -> RoiSet:
        """Compute masks and points once so any problem is raised now; returns self."""
        self.points()
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


# ----------------------------------------------------------------------------- files


def save_rois_yaml(roiset: RoiSet, path: str | os.PathLike) -> Path:
    """Write ``roiset`` as our YAML ROI file, atomically. Returns the path.

    Fixed masks (from an imported ``ROIs.h5`` whose masks differ from the filled polygons)
    cannot be stored in YAML: a warning is logged and the polygons are written.
    """
    import yaml

    path = Path(path)
    if roiset.fixed_masks is not None:
        h, w = roiset.frame_height_width
        differ = [n for n, v in roiset.polygons.items()
                  if not np.array_equal(polygon_to_mask(v, h, w), roiset.fixed_masks[n])]
        if differ:
            logger.warning("%s: masks of ROI(s) %s differ from their filled polygons; the YAML "
                           "file keeps only the polygons (use save_rois_h5 to keep masks)",
                           path, differ)
    d = roiset.to_yaml_dict()

    class _Dumper(yaml.SafeDumper):
        pass

    def _list_repr(dumper, data):  # vertex pairs on one line each
        flow = all(not isinstance(x, (list, dict)) for x in data)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)

    _Dumper.add_representer(list, _list_repr)
    text = "# face-rhythm ROI file: polygons as (x, y) pixel coordinates, pixel centres at " \
           "integers\n" + yaml.dump(d, Dumper=_Dumper, sort_keys=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    logger.info("saved ROIs to %s", path)
    return path


def _check_frame(roiset: RoiSet, frame_height_width: Sequence[int] | None, path: Path) -> None:
    if frame_height_width is None:
        return
    want = tuple(int(s) for s in frame_height_width)
    if tuple(roiset.frame_height_width) != want:
        raise ValueError(f"{path}: ROI file is for frames of {roiset.frame_height_width[1]}x"
                         f"{roiset.frame_height_width[0]} (WxH) but the video frames are "
                         f"{want[1]}x{want[0]}")


def _load_yaml(path: Path) -> RoiSet:
    import yaml

    try:
        d = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(d, dict) or "polygons" not in d:
        raise ValueError(f"{path}: not a face-rhythm ROI file (no 'polygons' key)")
    if "frame_height_width" not in d:
        raise ValueError(f"{path}: ROI file lacks 'frame_height_width'")
    return RoiSet(
        polygons=d["polygons"] or {},
        frame_height_width=tuple(d["frame_height_width"]),
        point_spacing=d.get("point_spacing", DEFAULT_POINT_SPACING),
        points_from=d.get("points_from"),
        mask_from=d.get("mask_from"),
        fixed_points=d.get("point_positions"),
        source=str(path),
    )


def _natural_key(name: str) -> tuple:
    tail = name.rsplit("_", 1)[-1]
    return (0, int(tail), name) if tail.isdigit() else (1, 0, name)


def _decode(x: Any) -> Any:
    if isinstance(x, bytes):
        return x.decode()
    if isinstance(x, np.ndarray) and x.dtype.kind in "OS":
        return [s.decode() if isinstance(s, bytes) else str(s) for s in x.ravel()]
    return x


def _attach_stored(rs: RoiSet, masks: dict[str, np.ndarray] | None,
                   points: np.ndarray | None, path: Path) -> RoiSet:
    """Keep stored masks / points where they differ from what we would compute."""
    if masks is not None:
        computed = rs.masks()
        differ = {n: int((computed[n] != masks[n]).sum()) for n in rs.polygons}
        if any(differ.values()):
            logger.warning("%s: stored masks differ from the filled polygons by %s pixels; "
                           "keeping the stored masks", path, differ)
            rs.fixed_masks = masks
    if points is not None:
        p = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        if not np.array_equal(p, rs.grid()):
            rs.fixed_points = p
    return rs


def _load_h5(path: Path) -> RoiSet:
    import h5py

    with h5py.File(path, "r") as f:
        if "polygons" in f:  # ours
            polys = {k: f["polygons"][k][()] for k in f["polygons"]}
            hw = tuple(int(s) for s in f["frame_height_width"][()])
            masks = {k: f["masks"][k][()].astype(bool) for k in f["masks"]} \
                if "masks" in f else None
            rs = RoiSet(polygons=polys, frame_height_width=hw,
                        point_spacing=int(f["point_spacing"][()]),
                        points_from=_decode(f["points_from"][()]) if "points_from" in f else None,
                        mask_from=_decode(f["mask_from"][()]) if "mask_from" in f else None,
                        source=str(path))
            pts = f["point_positions"][()] if "point_positions" in f else None
            return _attach_stored(rs, masks, pts, path)
        if "roi_points" in f or "mask_images" in f:  # the original package's ROIs.h5
            return _load_reference_h5(f, path)
    raise ValueError(f"{path}: HDF5 file has neither 'polygons' (face-rhythm rois.h5) nor "
                     "'roi_points' (original ROIs.h5)")


def _load_reference_h5(f, path: Path) -> RoiSet:
    if "roi_points" not in f or "mask_images" not in f:
        raise ValueError(f"{path}: original-format ROIs.h5 needs both 'roi_points' and "
                         "'mask_images'")
    roi_keys = sorted(f["roi_points"], key=_natural_key)
    mask_keys = sorted(f["mask_images"], key=_natural_key)
    if len(roi_keys) != len(mask_keys):
        raise ValueError(f"{path}: {len(roi_keys)} polygons in 'roi_points' but "
                         f"{len(mask_keys)} masks in 'mask_images'")
    if not roi_keys:
        raise ValueError(f"{path}: no ROIs in 'roi_points'")
    masks_list = [f["mask_images"][k][()].astype(bool) for k in mask_keys]
    hw = masks_list[0].shape
    if len(hw) != 2 or any(m.shape != hw for m in masks_list):
        raise ValueError(f"{path}: masks in 'mask_images' are not all 2-D of one shape")
    h, w = hw
    polys, masks = {}, {}
    for rk, mk_arr in zip(roi_keys, masks_list, strict=True):
        v = np.asarray(f["roi_points"][rk][()], dtype=np.float64).reshape(-1, 2)
        clipped = np.clip(v, -0.5, [w - 0.5, h - 0.5])
        if not np.array_equal(clipped, v):
            logger.warning("%s: ROI '%s' has vertices outside the %dx%d frame; clipped", path,
                           rk, w, h)
        polys[rk] = clipped
        masks[rk] = mk_arr
    pts = f["point_positions"][()] if "point_positions" in f else None
    spacing = infer_point_spacing(pts) if pts is not None and len(pts) > 1 else None
    rs = RoiSet(polygons=polys, frame_height_width=(h, w),
                point_spacing=spacing or DEFAULT_POINT_SPACING, source=str(path))
    return _attach_stored(rs, masks, pts, path)


def load_rois(path: str | os.PathLike,
              frame_height_width: Sequence[int] | None = None) -> RoiSet:
    """Read an ROI file: our YAML (``.yaml``/``.yml``), our ``rois.h5`` or an original ``ROIs.h5``.

    Parameters
    ----------
    path : path-like
        ROI file; the format is chosen by suffix (``.h5``/``.hdf5`` -> HDF5, else YAML).
    frame_height_width : (H, W), optional
        When given, a file drawn on frames of another size is a ValueError.

    Returns
    -------
    RoiSet
        Validated (masks and points computed once, so bad files fail here).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: ROI file not found")
    if path.suffix.lower() in (".h5", ".hdf5", ".hdf"):
        rs = _load_h5(path)
    else:
        rs = _load_yaml(path)
    _check_frame(rs, frame_height_width, path)
    return rs.validate()


def save_rois_h5(roiset: RoiSet, path: str | os.PathLike,
                 run_info: Mapping[str, Any] | None = None,
                 example_image: np.ndarray | None = None) -> Path:
    """Write the workflow's ``rois.h5`` atomically (keys in the module docstring).

    Parameters
    ----------
    roiset : RoiSet
    path : path-like
    run_info : dict, optional
        From :func:`face_rhythm.provenance.run_info`; stored as JSON strings in ``run_info/``.
    example_image : np.ndarray, optional
        (H, W[, 3]) uint8 frame the ROIs were drawn on, stored as ``example_image``.
    """
    import h5py

    from face_rhythm.provenance import run_info_to_h5_dict

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
        if run_info is not None:
            g = f.create_group("run_info", track_order=True)
            for k, v in run_info_to_h5_dict(run_info).items():
                g.create_dataset(k, data=v)
    logger.info("saved %d points and %d ROI masks to %s", len(pts), len(masks), path)
    return path


def rois_from_config(cfg_section: Mapping[str, Any],
                     frame_height_width: Sequence[int]) -> RoiSet:
    """Build the ROIs from the config's ``rois`` section.

    Parameters
    ----------
    cfg_section : dict
        ``{file: null | path, polygons: {name: [[x, y], ...]}, point_spacing: int,
        points_from: [names], mask_from: [names]}``. Exactly one of ``file`` and
        ``polygons`` must be given (``polygons: {}`` counts as not given). Inline:
        ``point_spacing`` null -> 9, ``points_from`` null/[] -> all ROIs, ``mask_from`` null
        -> all ROIs, [] -> whole frame. With ``file``, the file's spacing / points_from /
        mask_from are used unless the config sets them (not null and not []), which
        overrides them with a warning.
    frame_height_width : (H, W)
        Frame size of the session's videos; the ROIs must match it.

    Returns
    -------
    RoiSet
        Validated.
    """
    cfg = dict(cfg_section or {})
    file, polys = cfg.get("file"), cfg.get("polygons")
    if file and polys:
        raise ValueError("config rois: give either 'file' or 'polygons', not both")
    if not file and not polys:
        raise ValueError("config rois: give 'file' (an ROI file, e.g. from `face-rhythm rois "
                         "draw`) or inline 'polygons'")
    hw = tuple(int(s) for s in frame_height_width)
    if file:
        rs = load_rois(file, frame_height_width=hw)
        changes = {}
        for key in ("point_spacing", "points_from", "mask_from"):
            val = cfg.get(key)
            if val is not None and val != [] and val != getattr(rs, key):
                logger.warning("config rois: %s=%r overrides %r from %s", key, val,
                               getattr(rs, key), file)
                changes[key] = val
        if changes:
            if "point_spacing" in changes or "points_from" in changes:
                changes["fixed_points"] = None
            rs = dataclasses.replace(rs, **changes)
        return rs.validate()
    if not isinstance(polys, Mapping):
        raise ValueError(  # noqa: TRY004 (a config error, reported like the others)
            "config rois.polygons: expected a mapping name -> [[x, y], ...]")
    spacing = cfg.get("point_spacing")
    return RoiSet(polygons=dict(polys), frame_height_width=hw,
                  point_spacing=DEFAULT_POINT_SPACING if spacing is None else spacing,
                  points_from=cfg.get("points_from"), mask_from=cfg.get("mask_from"),
                  source="config rois").validate()


# ----------------------------------------------------------------------------- figures

_COLOURS = ("#ff595e", "#1982c4", "#8ac926", "#ffca3a", "#6a4c93", "#ff924c", "#52d1dc")


def plot_rois(image: np.ndarray | None, roiset: RoiSet, ax=None, show_points: bool = True,
              **kwargs_imshow):
    """Draw ROI outlines and grid points over a frame.

    Parameters
    ----------
    image : np.ndarray or None
        (H, W) or (H, W, 3) frame; None draws on a blank frame of the ROI frame size.
    roiset : RoiSet
    ax : matplotlib Axes, optional
        Axes to draw into; a new Figure (not registered with pyplot) is made otherwise.
    show_points : bool
        Scatter the points (skipped silently when there are none).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    h, w = roiset.frame_height_width
    if ax is None:
        fig = Figure(figsize=(8, 8 * h / w), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    if image is None:
        image = np.zeros((h, w), dtype=np.uint8)
    image = np.asarray(image)
    kw = {"cmap": "gray"} if image.ndim == 2 else {}
    kw.update(kwargs_imshow)
    ax.imshow(image, **kw)
    for i, (name, v) in enumerate(roiset.polygons.items()):
        c = _COLOURS[i % len(_COLOURS)]
        closed = np.vstack([v, v[:1]])
        ax.plot(closed[:, 0], closed[:, 1], "-", color=c, lw=1.5, label=name)
    if show_points:
        try:
            pts = roiset.points()
        except ValueError:
            pts = np.zeros((0, 2), np.float32)
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], s=12, c="#00e5ff", edgecolors="k", linewidths=0.4,
                       label=f"{len(pts)} points")
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_axis_off()
    ax.legend(loc="upper right", fontsize="small", framealpha=0.6)
    return fig


# ----------------------------------------------------------------------------- notebook class


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
                raise ValueError("ROIs(select_mode='file') needs path_file")
            rs = load_rois(path_file)
            if self.exampleImage is None:
                self.exampleImage = _example_image_from_h5(Path(path_file))
        elif select_mode == "custom":
            if coords_rois is None or self.exampleImage is None:
                raise ValueError("ROIs(select_mode='custom') needs coords_rois and exampleImage")
            rs = RoiSet(polygons=dict(coords_rois),
                        frame_height_width=self.exampleImage.shape[:2],
                        point_spacing=point_spacing, source="coords_rois")
        elif select_mode == "gui":
            if self.exampleImage is None:
                raise ValueError("ROIs(select_mode='gui') needs exampleImage")
            from face_rhythm.roi_server import draw_rois_blocking

            rs = draw_rois_blocking(self.exampleImage, point_spacing=point_spacing)
        else:
            raise ValueError(f"ROIs: select_mode must be 'gui', 'file' or 'custom', got "
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
            raise ValueError(f"make_points: rois must be masks (H, W) or (K, H, W), got shape "
                             f"{arr.shape}")
        pts = grid_points(combine_masks(list(arr), arr.shape[1:]), point_spacing)
        if pts.shape[0] == 0:
            raise ValueError(f"make_points: point_spacing {point_spacing} leaves zero points "
                             "inside the masks")
        self.roiset.point_spacing = int(point_spacing)
        self.set_point_positions(pts)
        return pts

    def set_point_positions(self, point_positions: np.ndarray) -> None:
        """Replace the points with an explicit (N, 2) ``(x, y)`` array."""
        p = np.asarray(point_positions, dtype=np.float32)
        if p.ndim != 2 or p.shape[1] != 2:
            raise ValueError(f"set_point_positions: expected (N, 2), got {p.shape}")
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


def _example_image_from_h5(path: Path) -> np.ndarray | None:
    if path.suffix.lower() not in (".h5", ".hdf5", ".hdf"):
        return None
    import h5py

    with h5py.File(path, "r") as f:
        for k in ("example_image", "exampleImage"):
            if k in f:
                return f[k][()]
    return None
