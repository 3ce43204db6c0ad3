"""The compiled loops of :class:`face_rhythm.point_tracking.clahe.MaskedClahe` (numba).

Imported on first use only (numba takes ~0.4 s to import). ``cache=True``: compiled once per
machine into ``__pycache__`` (or numba's user cache), then loaded. No ``fastmath``: the
float32 arithmetic is done in OpenCV's order, without fused multiply-adds.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["blend", "tile_luts"]

_NEVER = 1 << 30


def _jit(fn):
    try:
        return numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # numba found no writable cache folder: compile in each process
        return numba.njit(nogil=True)(fn)


@_jit
def tile_luts(ext, tw, th, clip, scale, lut_tiles, range_tiles, tmin, tmax, lut, hist):
    """LUTs (``lut``: tiles x 256, flat) of the tiles ``lut_tiles`` (K, 2) (row, col).

    Each LUT is filled only over ``[lo, hi]``: the smallest and largest value of its 3 x 3
    tiles (every pixel that reads it lies there, and so does every pixel counted in it),
    from ``tmin`` / ``tmax``, first computed for ``range_tiles``. ``hist`` (256,) int64 is
    zero on entry and on exit.
    """
    ty, tx = tmin.shape
    for n in range(range_tiles.shape[0]):
        i, j = range_tiles[n, 0], range_tiles[n, 1]
        lo, hi = 255, 0
        for y in range(i * th, i * th + th):
            for x in range(j * tw, j * tw + tw):
                v = ext[y, x]
                lo = min(lo, v)
                hi = max(hi, v)
        tmin[i, j] = lo
        tmax[i, j] = hi
    area = tw * th
    for n in range(lut_tiles.shape[0]):
        i, j = lut_tiles[n, 0], lut_tiles[n, 1]
        lo, hi = 255, 0
        for a in range(max(i - 1, 0), min(i + 2, ty)):
            for b in range(max(j - 1, 0), min(j + 2, tx)):
                lo = min(lo, tmin[a, b])
                hi = max(hi, tmax[a, b])
        y0, x0 = i * th, j * tw
        for y in range(y0, y0 + th):
            for x in range(x0, x0 + tw):
                hist[ext[y, x]] += 1
        # clip; no bin below lo has a count (lo <= the tile's own smallest value)
        excess = 0
        if clip > 0 and area > 256:  # walk the bins
            for v in range(lo, hi + 1):
                if hist[v] > clip:
                    excess += hist[v] - clip
                    hist[v] = clip
        elif clip > 0:  # walk the pixels (a bin is clipped on its first visit)
            for y in range(y0, y0 + th):
                for x in range(x0, x0 + tw):
                    v = ext[y, x]
                    if hist[v] > clip:
                        excess += hist[v] - clip
                        hist[v] = clip
        batch = excess // 256
        resid = excess - batch * 256
        step = max(256 // resid, 1) if resid > 0 else 256
        n_extra = min(resid, (lo - 1) // step + 1) if resid > 0 and lo > 0 else 0
        cum = batch * lo + n_extra
        nxt = n_extra * step if n_extra < resid else _NEVER  # next bin given one more
        base = (i * tx + j) * 256
        if nxt == _NEVER and batch == 0:  # no counts spread back (the usual case)
            for v in range(lo, hi + 1):
                cum += hist[v]
                lut[base + v] = np.uint8(np.rint(np.float32(cum) * scale))
        else:
            for v in range(lo, hi + 1):
                cum += hist[v] + batch
                if v == nxt:
                    cum += 1
                    n_extra += 1
                    nxt = n_extra * step if n_extra < resid else _NEVER
                lut[base + v] = np.uint8(np.rint(np.float32(cum) * scale))
        if area > 256:
            hist[lo:hi + 1] = 0
        else:
            for y in range(y0, y0 + th):
                for x in range(x0, x0 + tw):
                    hist[ext[y, x]] = 0


@_jit
def blend(ext, h, w, tw, th, out_tiles, fill, row1, row2, row_a, col1, col2, col_a, lut, out):
    """Each pixel of ``out`` (h, w): the four nearest LUTs at its value, blended as OpenCV
    does (float32), or ``fill`` in tiles not in ``out_tiles``. ``col1``/``col2`` are the
    columns' tiles times 256."""
    tx = out_tiles.shape[1]
    one = np.float32(1.0)
    for y in range(h):
        i = y // th
        b1 = row1[y] * tx * 256
        b2 = row2[y] * tx * 256
        ya = row_a[y]
        ya1 = one - ya
        for j in range(tx):
            xs = j * tw
            xe = min(xs + tw, w)
            if not out_tiles[i, j]:
                for x in range(xs, xe):
                    out[y, x] = fill
                continue
            for x in range(xs, xe):
                v = np.intp(ext[y, x])
                o1 = col1[x] + v
                o2 = col2[x] + v
                xa = col_a[x]
                xa1 = one - xa
                r = ((np.float32(lut[b1 + o1]) * xa1 + np.float32(lut[b1 + o2]) * xa) * ya1
                     + (np.float32(lut[b2 + o1]) * xa1 + np.float32(lut[b2 + o2]) * xa) * ya)
                out[y, x] = np.uint8(np.rint(r))
