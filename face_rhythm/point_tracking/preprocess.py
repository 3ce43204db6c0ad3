"""Frames and masks in: the ROI mask, input checks, and preprocessing ahead of the tracker.

Preprocessing (:class:`Preprocessor`) turns frames into what the tracker sees: grayscale as
the rounded mean of the colour channels, zero outside the ROI mask (grown by the mask margin),
then CLAHE. :func:`preprocess_chunks` runs it in worker threads, a few chunks ahead of the
tracker (OpenCV releases the GIL, so CLAHE of the next chunks overlaps with tracking).

With a mask, CLAHE runs only on the part of the frame that the mask can influence
(:class:`ClaheCrop`), and gives exactly the full frame's result: outside that part the frame
is zero, and CLAHE maps it to one constant. The cost of OpenCV's CLAHE grows with the number
of tiles (each tile's 256-entry look-up table): with the original's 150 x 150 grid on a
640 x 480 frame (22,500 tiles of 5 x 4 px, ~0.85 us each) the crop halves it.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np

from face_rhythm.rois import combine_masks as combine_roi_masks
from face_rhythm.video import rgb_to_gray

from ..errors import TrackingError
from .params import ClaheParams, TrackingParams

__all__ = ["ClaheCrop", "Preprocessor", "as_chunks", "combine_masks", "grow_mask", "preprocess_chunks",
           "validate_frames_freeze", "validate_points"]


# ----------------------------------------------------------------------------- masks, checks
def combine_masks(masks: np.ndarray | Sequence[np.ndarray] | Mapping[str, np.ndarray] | None,
                  frame_shape: tuple[int, int] | None = None) -> np.ndarray | None:
    """AND of ROI masks (:func:`face_rhythm.rois.combine_masks`), or None for no mask.

    Parameters
    ----------
    masks : (H, W) bool array, sequence or dict of them, or None
        ROI masks; ``None`` or an empty collection means "no mask".
    frame_shape : (int, int), optional
        Expected (H, W); a mismatch raises :class:`TrackingError`.

    Returns
    -------
    (H, W) bool array, or None when there is no mask (everything is tracked).
    """
    if masks is None:
        return None
    if isinstance(masks, Mapping):
        masks = list(masks.values())
    if isinstance(masks, np.ndarray) and masks.ndim == 2:
        masks = [masks]
    masks = [np.asarray(m) for m in masks]
    if not masks:
        return None
    shape = tuple(int(v) for v in (frame_shape if frame_shape is not None else masks[0].shape))
    try:
        out = combine_roi_masks(masks, shape)
    except ValueError as exc:
        raise TrackingError(f"ROI masks: {exc} (frame (H, W) = {shape})") from None
    if not out.any():
        raise TrackingError("ROI masks: the intersection of the masks is empty")
    return out


def grow_mask(mask: np.ndarray, margin: int) -> np.ndarray:
    """The mask dilated by ``margin`` px (a disc), (H, W) bool."""
    if margin <= 0:
        return mask
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    return cv2.dilate(mask.astype(np.uint8), disc).astype(bool)


def validate_points(points: np.ndarray, frame_shape: tuple[int, int],
                    mask: np.ndarray | None = None, what: str = "point_positions") -> np.ndarray:
    """Check tracked points and return them as (N, 2) float32 (x, y).

    Raises :class:`TrackingError` for a wrong shape, zero points, NaN/inf, points outside the
    frame ``[0, W-1] x [0, H-1]`` or (when ``mask`` is given) outside the mask.
    """
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise TrackingError(f"{what}: shape {pts.shape}, expected (N, 2) (x, y)")
    if pts.shape[0] == 0:
        raise TrackingError(f"{what}: zero points to track")
    if not np.issubdtype(pts.dtype, np.number):
        raise TrackingError(f"{what}: dtype {pts.dtype} is not numeric")
    pts = pts.astype(np.float32)
    bad = ~np.isfinite(pts).all(axis=1)
    if bad.any():
        raise TrackingError(f"{what}: {int(bad.sum())} point(s) have NaN/inf coordinates "
                            f"(first: index {int(np.flatnonzero(bad)[0])})")
    h, w = frame_shape
    out = (pts[:, 0] < 0) | (pts[:, 0] > w - 1) | (pts[:, 1] < 0) | (pts[:, 1] > h - 1)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise TrackingError(f"{what}: {int(out.sum())} point(s) outside the {w}x{h} frame "
                            f"(first: index {i} at x={pts[i, 0]:.1f}, y={pts[i, 1]:.1f})")
    if mask is not None:
        ij = np.rint(pts).astype(np.int64)
        outside = ~mask[ij[:, 1], ij[:, 0]]
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise TrackingError(f"{what}: {int(outside.sum())} point(s) outside the ROI mask "
                                f"(first: index {i} at x={pts[i, 0]:.1f}, y={pts[i, 1]:.1f})")
    return pts


def validate_frames_freeze(frames_freeze: Any, n_frames: int,
                           what: str = "frames_freeze") -> np.ndarray | None:
    """``None`` or a 1-D bool array of length ``n_frames``; anything else raises."""
    if frames_freeze is None:
        return None
    ff = np.asarray(frames_freeze)
    if ff.dtype != bool:
        raise TrackingError(f"{what}: dtype {ff.dtype}, expected bool (True = freeze)")
    if ff.ndim != 1 or ff.shape[0] != n_frames:
        raise TrackingError(f"{what}: shape {ff.shape}, expected ({n_frames},) "
                            "(one flag per frame)")
    return ff


# ----------------------------------------------------------------------------- preprocessing
def _grow_tiles(tiles: np.ndarray) -> np.ndarray:
    """Tiles (rows, cols) bool grown by one tile in the 8 directions."""
    out = tiles.copy()
    out[1:] |= tiles[:-1]
    out[:-1] |= tiles[1:]
    grown = out.copy()
    out[:, 1:] |= grown[:, :-1]
    out[:, :-1] |= grown[:, 1:]
    return out


def _span(flags: np.ndarray) -> tuple[int, int]:
    idx = np.flatnonzero(flags)
    return int(idx[0]), int(idx[-1]) + 1


class ClaheCrop:
    """The part of a masked frame that CLAHE needs, for a result equal to the whole frame's.

    OpenCV's CLAHE (``cv2.createCLAHE(clip, (tx, ty)).apply``) of an (H, W) frame: unless
    ``tx`` divides W and ``ty`` divides H, the frame is first padded on the right by
    ``tx - W % tx`` and at the bottom by ``ty - H % ty`` columns/rows (``BORDER_REFLECT_101``);
    the padded frame is cut into ``tx * ty`` tiles of (``tw``, ``th``) px; each tile's
    look-up table (LUT) comes from its clipped histogram, and each pixel blends the LUTs of
    the four nearest tile centres. All-zero tiles have the same LUT, so a pixel whose 3 x 3
    tiles are all zero becomes one constant (:attr:`fill`). Hence: the tiles that meet the mask
    (*content*), grown by one tile (*kept*: the only pixels that can differ from ``fill``),
    grown by one more (the *rect*: the LUTs they need). CLAHE of the rect with the same tile
    size gives the kept pixels exactly, as long as the blend weights are the same: OpenCV
    computes them from ``x * (1 / tw) - 0.5`` in float32, which is shifted exactly by whole
    tiles only when ``tw`` is a power of two. Along an axis whose tile size is not, the rect
    starts at 0. (Tested against the whole frame in tests/point_tracking.)

    Parameters
    ----------
    mask : (H, W) bool
        Pixels outside are zero (the mask already grown by any margin).
    clahe : ClaheParams

    Attributes
    ----------
    useful : bool
        The rect is smaller than the padded frame (otherwise CLAHE the whole frame).
    rect : (y0, y1, x0, x1)
        Pixels of the padded frame that go into CLAHE (may reach beyond H, W).
    keep : (y0, y1, x0, x1)
        Pixels of the frame taken from CLAHE of the rect; the rest is ``fill``.
    grid : (int, int)
        Tile grid (columns, rows) of the rect.
    fill : int
        CLAHE of an all-zero neighbourhood.
    """

    def __init__(self, mask: np.ndarray, clahe: ClaheParams):
        h, w = mask.shape
        tx, ty = clahe.tile_grid_size
        he, we = (h, w) if (w % tx == 0 and h % ty == 0) else (h + ty - h % ty, w + tx - w % tx)
        tw, th = we // tx, he // ty
        m = mask.astype(np.uint8)
        if (he, we) != (h, w):
            m = cv2.copyMakeBorder(m, 0, he - h, 0, we - w, cv2.BORDER_REFLECT_101)
        content = m.reshape(ty, th, tx, tw).any(axis=(1, 3))
        if not content.any():  # nothing to crop to: the whole frame is `fill`
            content[0, 0] = True
        kept = _grow_tiles(content)
        kept[-(-h // th):] = False  # tiles wholly in the padding are never output
        kept[:, -(-w // tw):] = False
        rect = _grow_tiles(kept)
        (r0, r1), (c0, c1) = _span(rect.any(1)), _span(rect.any(0))
        if th & (th - 1):
            r0 = 0
        if tw & (tw - 1):
            c0 = 0
        (k0, k1), (j0, j1) = _span(kept.any(1)), _span(kept.any(0))
        self.shape = (h, w)
        self.rect = (r0 * th, r1 * th, c0 * tw, c1 * tw)
        self.keep = (k0 * th, min(k1 * th, h), j0 * tw, min(j1 * tw, w))
        self.grid = (c1 - c0, r1 - r0)
        self.useful = (r1 - r0) * (c1 - c0) < tx * ty
        y0, y1, x0, x1 = self.rect
        self.mask = np.ascontiguousarray(m[y0:y1, x0:x1])
        zero = np.zeros((2 * th, 2 * tw), np.uint8)
        self.fill = int(cv2.createCLAHE(clahe.clip_limit, (2, 2)).apply(zero)[0, 0])
        #: the rect reaches into the padding: its source is this block of the frame, padded
        self._pad = None
        if y1 > h or x1 > w:
            ys = y0 if y1 <= h else min(y0, max(0, 2 * h - y1 - 1))
            xs = x0 if x1 <= w else min(x0, max(0, 2 * w - x1 - 1))
            self._pad = (ys, xs, max(y1 - h, 0), max(x1 - w, 0))

    def source(self, gray: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The masked rect of one gray (H, W) frame, written into ``out`` (rect-shaped)."""
        y0, y1, x0, x1 = self.rect
        if self._pad is None:
            return np.multiply(gray[y0:y1, x0:x1], self.mask, out=out)
        ys, xs, pb, pr = self._pad
        ext = cv2.copyMakeBorder(gray[ys:, xs:], 0, pb, 0, pr, cv2.BORDER_REFLECT_101)
        return np.multiply(ext[y0 - ys:y1 - ys, x0 - xs:x1 - xs], self.mask, out=out)

    def fill_outside(self, frames: np.ndarray) -> None:
        """Set every pixel of (n, H, W) ``frames`` outside :attr:`keep` to :attr:`fill`."""
        k0, k1, j0, j1 = self.keep
        frames[:, :k0] = self.fill
        frames[:, k1:] = self.fill
        frames[:, k0:k1, :j0] = self.fill
        frames[:, k0:k1, j1:] = self.fill


class Preprocessor:
    """Grayscale (mean of channels), zero outside the mask, CLAHE: frames -> uint8 (H, W).

    Thread-safe: each thread gets its own CLAHE object.

    Parameters
    ----------
    mask : (H, W) bool or None
        Pixels outside are set to 0 before CLAHE.
    clahe : ClaheParams or None
    margin : int
        Grow the mask by this many px first (see ``TrackingParams.mask_margin``).
    """

    def __init__(self, mask: np.ndarray | None, clahe: ClaheParams | None, margin: int = 0):
        if mask is not None:
            mask = grow_mask(np.asarray(mask, bool), margin)
        self.mask = None if mask is None or bool(np.all(mask)) else mask
        self._mask_u8 = None if self.mask is None else self.mask.astype(np.uint8)
        self.clahe = clahe
        self._local = threading.local()
        crop = None if self.mask is None or clahe is None else ClaheCrop(self.mask, clahe)
        #: CLAHE of the part of the frame the mask reaches (same result, fewer tiles)
        self.crop = crop if crop is not None and crop.useful else None

    def _clahe(self):
        c = getattr(self._local, "clahe", None)
        if c is None:
            grid = self.clahe.tile_grid_size if self.crop is None else self.crop.grid
            c = cv2.createCLAHE(clipLimit=self.clahe.clip_limit, tileGridSize=grid)
            self._local.clahe = c
        return c

    def _cropped(self, gray: np.ndarray) -> np.ndarray:
        """Mask and CLAHE through :attr:`crop`: (n, H, W) gray -> new (n, H, W)."""
        crop, loc = self.crop, self._local
        y0, y1, x0, x1 = crop.rect
        src = getattr(loc, "src", None)
        if src is None:
            src = loc.src = np.empty((y1 - y0, x1 - x0), np.uint8)
            loc.res = np.empty_like(src)
        c = self._clahe()
        out = np.empty(gray.shape, np.uint8)
        h, w = crop.shape
        k0, k1, j0, j1 = crop.keep
        for i in range(gray.shape[0]):
            masked = crop.source(gray[i], src)
            if y1 <= h and x1 <= w:  # straight into the frame; the ring is refilled below
                c.apply(masked, dst=out[i, y0:y1, x0:x1])
            else:
                res = c.apply(masked, dst=loc.res)
                out[i, k0:k1, j0:j1] = res[k0 - y0:k1 - y0, j0 - x0:j1 - x0]
        crop.fill_outside(out)
        return out

    @staticmethod
    def _gray(chunk: np.ndarray) -> tuple[np.ndarray, bool]:
        """(n, H, W) uint8 view or new array, and whether it is new (ours to modify)."""
        chunk = np.asarray(chunk)
        if chunk.dtype != np.uint8:
            raise TrackingError(f"frames: dtype {chunk.dtype}, expected uint8")
        if chunk.ndim == 3:
            return chunk, False
        if chunk.ndim != 4 or chunk.shape[-1] not in (1, 3, 4):
            raise TrackingError(f"frames: shape {chunk.shape}, expected (n, H, W[, C])")
        if chunk.shape[-1] == 1:
            return chunk[..., 0], False
        return rgb_to_gray(chunk[..., :3]), True

    def gray(self, chunk: np.ndarray) -> np.ndarray:
        """(n, H, W[, C]) uint8 -> (n, H, W) uint8: the rounded mean of the R, G, B channels."""
        g, owned = self._gray(chunk)
        return g if owned else g.copy()

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        """Preprocess a chunk (n, H, W[, C]) uint8 -> (n, H, W) uint8.

        The result is a new array, except for gray input when there is nothing to do (no
        mask, no CLAHE): then it is the input itself.
        """
        out, owned = self._gray(chunk)
        if self._mask_u8 is not None:
            if out.shape[1:] != self._mask_u8.shape:
                raise TrackingError(f"frames of shape {out.shape[1:]} do not match the ROI "
                                    f"mask shape {self._mask_u8.shape}")
            if self.crop is not None:
                return self._cropped(out)
            out = np.multiply(out, self._mask_u8, out=out if owned else None)
            owned = True
        if self.clahe is not None:
            c = self._clahe()
            dst = out if owned else np.empty(out.shape, dtype=np.uint8)
            for i in range(out.shape[0]):
                c.apply(out[i], dst=dst[i])
            out = dst
        return out

    @classmethod
    def from_params(cls, mask: np.ndarray | None, params: TrackingParams) -> Preprocessor:
        """The preprocessing that ``params`` asks for (CLAHE, mask margin)."""
        return cls(mask, params.clahe, params.effective_mask_margin)


def _map_ahead(fn: Callable[[Any], Any], items: Iterable[Any], n_workers: int,
               depth: int) -> Iterator[Any]:
    """``map(fn, items)`` computed ahead in ``n_workers`` threads, up to ``depth`` in flight."""
    if n_workers <= 0:
        yield from map(fn, items)
        return
    pending: collections.deque = collections.deque()
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="fr-preproc") as ex:
        try:
            for item in items:
                pending.append(ex.submit(fn, item))
                if len(pending) >= depth:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()


def preprocess_chunks(chunks: Iterable[np.ndarray], preprocessor: Preprocessor,
                      n_workers: int = 1, depth: int | None = None) -> Iterator[np.ndarray]:
    """Preprocess chunks of frames ahead of the consumer in worker threads (in order).

    OpenCV releases the GIL, so CLAHE of the next chunks overlaps with tracking.
    """
    depth = depth if depth is not None else n_workers + 1
    return _map_ahead(preprocessor, chunks, n_workers, max(depth, 1))


def as_chunks(frames: np.ndarray | Iterable[np.ndarray], chunk_size: int = 32
              ) -> Iterator[np.ndarray]:
    """Chunks (n, H, W[, C]) from a whole-video array or an iterable of single frames."""
    if isinstance(frames, np.ndarray):
        for i in range(0, frames.shape[0], chunk_size):
            yield frames[i:i + chunk_size]
        return
    buf: list[np.ndarray] = []
    for f in frames:
        buf.append(np.asarray(f))
        if len(buf) == chunk_size:
            yield np.stack(buf)
            buf = []
    if buf:
        yield np.stack(buf)
