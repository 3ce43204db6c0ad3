"""ROI geometry on the pixel grid: polygons -> masks -> a lattice of points (arrays in, arrays out).

Conventions
-----------
* Vertices and points are ``(x, y)`` pixel coordinates, ``x`` = column, ``y`` = row.
* **Pixel centres sit at integer coordinates**: pixel ``mask[r, c]`` is the unit square
  centred on ``(x=c, y=r)``; the frame covers ``x`` in ``[-0.5, W - 0.5]`` and ``y`` in
  ``[-0.5, H - 0.5]``.
* **Filling** (:func:`polygon_to_mask`): a pixel belongs to the mask when its centre lies
  inside the polygon or on its boundary (a closed polygon; centres within 1e-6 px of an edge
  count as on it). Self-intersecting polygons are filled with the even-odd rule.
* **Grid** (:func:`grid_points`): the lattice ``x = x0 + i*spacing``, ``y = y0 + j*spacing``
  with ``(x0, y0)`` the minimum of the mask's bounding box and the maximum excluded
  (``np.arange(min, max, spacing)``), keeping the lattice points whose pixel is in the mask;
  ordered row by row (``y`` then ``x``). This reproduces the original package's grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import RoiError

__all__ = [
    "combine_masks",
    "grid_points",
    "infer_point_spacing",
    "polygon_self_intersects",
    "polygon_to_mask",
]

_EDGE_TOL = 1e-6


def _as_vertices(vertices: Any, what: str = "polygon") -> np.ndarray:
    """(n, 2) float64 array of finite vertices, or RoiError."""
    try:
        v = np.asarray(vertices, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise RoiError(f"{what}: vertices are not numbers ({e})") from None
    if v.ndim != 2 or v.shape[1] != 2:
        raise RoiError(f"{what}: vertices must have shape (n, 2) as (x, y), got {v.shape}")
    if v.shape[0] < 3:
        raise RoiError(f"{what}: a polygon needs at least 3 vertices, got {v.shape[0]}")
    if not np.all(np.isfinite(v)):
        raise RoiError(f"{what}: vertices contain NaN or infinity")
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
        raise RoiError(f"polygon_to_mask: bad mask size {height}x{width}")
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
        raise RoiError(f"grid_points: mask must be 2-D (H, W), got shape {mask.shape}")
    if int(spacing) != spacing or int(spacing) < 1:
        raise RoiError(f"grid_points: spacing must be a positive integer, got {spacing!r}")
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
            raise RoiError(f"combine_masks: mask shape {m.shape} != frame {out.shape}")
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
