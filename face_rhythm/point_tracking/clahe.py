"""CLAHE of a masked frame, equal to OpenCV's to the bit, computed only near the mask.

OpenCV's CLAHE (``cv2.createCLAHE(clip, (tx, ty)).apply``) of an (H, W) uint8 frame:

1. unless ``tx`` divides W and ``ty`` divides H, the frame is padded on the right by
   ``tx - W % tx`` columns and at the bottom by ``ty - H % ty`` rows (``BORDER_REFLECT_101``),
   and the padded frame is cut into ``tx * ty`` tiles of ``tw x th`` px;
2. each tile's look-up table (LUT): its 256-bin histogram, clipped at
   ``max(int(clip * tw * th / 256), 1)`` counts; the clipped counts are spread back over the
   bins (``excess // 256`` to every bin, then one more to each of bins ``0, step, 2 step...``,
   ``excess % 256`` of them, ``step = max(256 // (excess % 256), 1)``); the LUT is the
   cumulative sum times ``255 / (tw * th)`` (float32), rounded;
3. each pixel blends the LUTs of the four nearest tile centres at its value, with float32
   weights from ``x * (1 / tw) - 0.5`` and ``y * (1 / th) - 0.5``, rounded to uint8.

With the original's 150 x 150 grid on a 640 x 480 frame, tiles are 5 x 4 px and step 2 costs
most of the time: 22,500 LUTs of 256 entries each, of which a tile's pixels read a few. Here
(:class:`MaskedClahe`) a LUT is computed only for the tiles near the mask, and only over
the range of values the pixels that read it hold; pixels of tiles with no mask in their
3 x 3 neighbourhood are one constant (the LUT of an all-zero tile at 0). Everything else
follows the steps above with OpenCV's arithmetic, so the result is OpenCV's, to the bit
(``tests/point_tracking/test_tracking_speedups.py`` compares them on random frames, masks,
grids and clip limits). The loops are compiled with numba (``cache=True``: compiled once per
machine, then loaded).
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from ..errors import TrackingError
from .params import ClaheParams

__all__ = ["MaskedClahe", "grow_tiles", "tile_geometry"]

#: Tiles of at most this many px go through :class:`MaskedClahe` (LUTs dominate the cost);
#: larger tiles through OpenCV (pixels dominate, and OpenCV's blend is vectorised).
MAX_TILE_AREA = 256


def tile_geometry(shape: tuple[int, int], grid: tuple[int, int]) -> tuple[int, int, int, int]:
    """OpenCV's padded frame and tile size: ``(H_pad, W_pad, tile_w, tile_h)``."""
    h, w = shape
    tx, ty = grid
    if w % tx == 0 and h % ty == 0:
        he, we = h, w
    else:
        he, we = h + ty - h % ty, w + tx - w % tx
    return he, we, we // tx, he // ty


def grow_tiles(tiles: np.ndarray) -> np.ndarray:
    """A (rows, cols) bool grid grown by one tile in the 8 directions."""
    out = tiles.copy()
    out[1:] |= tiles[:-1]
    out[:-1] |= tiles[1:]
    grown = out.copy()
    out[:, 1:] |= grown[:, :-1]
    out[:, :-1] |= grown[:, 1:]
    return out


def _blend_axis(n: int, tile: int, n_tiles: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV's blend along one axis: first tile, second tile, weight of the second."""
    f = np.float32
    pos = np.arange(n, dtype=f) * (f(1) / f(tile)) - f(0.5)
    t1 = np.floor(pos).astype(np.int64)
    a = (pos - t1.astype(f)).astype(f)
    t2 = np.minimum(t1 + 1, n_tiles - 1)
    return np.maximum(t1, 0), t2, a


class MaskedClahe:
    """OpenCV's CLAHE of frames that are zero outside ``mask``, computed near the mask only.

    Parameters
    ----------
    mask : (H, W) bool
        Pixels outside are zero in every frame given to :meth:`apply` (the caller zeroes
        them; the mask already grown by any margin).
    clahe : ClaheParams

    Attributes
    ----------
    fill : int
        The value of every pixel whose 3 x 3 tiles are all zero.
    n_luts : int
        LUTs computed per frame (of ``tx * ty``).

    Notes
    -----
    Thread-safe: each thread gets its own working arrays.
    """

    def __init__(self, mask: np.ndarray, clahe: ClaheParams):
        h, w = mask.shape
        tx, ty = clahe.tile_grid_size
        he, we, tw, th = tile_geometry((h, w), (tx, ty))
        m = mask.astype(np.uint8)
        if (he, we) != (h, w):
            m = cv2.copyMakeBorder(m, 0, he - h, 0, we - w, cv2.BORDER_REFLECT_101)
        content = m.reshape(ty, th, tx, tw).any(axis=(1, 3))
        self.out_tiles = grow_tiles(content)        # pixels that can differ from `fill`
        need_lut = grow_tiles(self.out_tiles)      # the LUTs those pixels read
        self.lut_tiles = np.argwhere(need_lut).astype(np.int64)
        self.range_tiles = np.argwhere(grow_tiles(need_lut)).astype(np.int64)
        self.n_luts = int(self.lut_tiles.shape[0])
        self.shape, self.padded, self.tile = (h, w), (he, we), (tw, th)
        area = tw * th
        self.clip = max(int(clahe.clip_limit * area / 256), 1) if clahe.clip_limit > 0 else 0
        self.scale = np.float32(np.float32(255) / np.float32(area))
        self.rows = _blend_axis(h, th, ty)
        c1, c2, ca = _blend_axis(w, tw, tx)
        self.cols = (c1 * 256, c2 * 256, ca)       # offsets into a row of LUTs
        zero = np.zeros((2 * th, 2 * tw), np.uint8)
        self.fill = int(cv2.createCLAHE(clahe.clip_limit, (2, 2)).apply(zero)[0, 0])
        self._local = threading.local()

    def _buffers(self):
        loc = self._local
        if getattr(loc, "lut", None) is None:
            ty, tx = self.out_tiles.shape
            loc.lut = np.zeros(ty * tx * 256, np.uint8)
            loc.hist = np.zeros(256, np.int64)
            loc.tmin = np.zeros((ty, tx), np.uint8)
            loc.tmax = np.zeros((ty, tx), np.uint8)
            loc.ext = np.empty(self.padded, np.uint8)  # the padded frame, when padded
        return loc

    def apply(self, frame: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """CLAHE of one (H, W) uint8 frame (zero outside the mask) into ``out`` (H, W).

        ``out`` may be ``frame`` itself.
        """
        from ._clahe_kernels import blend, tile_luts

        h, w = self.shape
        frame = np.ascontiguousarray(frame)
        if frame.shape != (h, w) or frame.dtype != np.uint8:
            raise TrackingError(f"CLAHE: frame {frame.shape} {frame.dtype}, expected ({h}, {w})"
                                " uint8 (the mask's shape)")
        if out is None:
            out = np.empty((h, w), np.uint8)
        elif out.shape != (h, w) or out.dtype != np.uint8:
            raise TrackingError(f"CLAHE: out {out.shape} {out.dtype}, expected ({h}, {w}) uint8")
        he, we = self.padded
        tw, th = self.tile
        b = self._buffers()
        ext = frame if (he, we) == (h, w) else cv2.copyMakeBorder(
            frame, 0, he - h, 0, we - w, cv2.BORDER_REFLECT_101, dst=b.ext)
        tile_luts(ext, tw, th, self.clip, self.scale, self.lut_tiles, self.range_tiles,
                  b.tmin, b.tmax, b.lut, b.hist)
        blend(ext, h, w, tw, th, self.out_tiles, np.uint8(self.fill), *self.rows, *self.cols,
              b.lut, out)
        return out
