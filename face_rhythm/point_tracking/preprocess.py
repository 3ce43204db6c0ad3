"""Frames and masks in: the ROI mask, input checks, and preprocessing ahead of the tracker.

Preprocessing (:class:`Preprocessor`) turns frames into what the tracker sees: grayscale as
the rounded mean of the colour channels, zero outside the ROI mask (grown by the mask margin),
then CLAHE. :func:`preprocess_chunks` runs it in worker threads, a few chunks ahead of the
tracker (OpenCV releases the GIL, so CLAHE of the next chunks overlaps with tracking).

With a mask and small tiles (the original's 150 x 150 grid), CLAHE is
:class:`~.clahe.MaskedClahe`: OpenCV's result to the bit, with look-up tables computed only
for the tiles near the mask and only over the values their neighbourhood holds. Otherwise it
is OpenCV's own CLAHE of the whole frame.
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
from .clahe import MAX_TILE_AREA, MaskedClahe, tile_geometry
from .params import ClaheParams, TrackingParams

__all__ = ["Preprocessor", "as_chunks", "combine_masks", "grow_mask", "preprocess_chunks",
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
        #: (y0, y1, x0, x1): the mask's bounding box when it is small (at most
        #: :data:`BOX_FRACTION` of the frame); outside it every pixel is 0, so only the box
        #: is converted to gray and masked
        self._box = _bounding_box(self.mask) if self.mask is not None else None
        if self._box is not None and _area(self._box) > BOX_FRACTION * self.mask.size:
            self._box = None
        if self._box is not None:
            y0, y1, x0, x1 = self._box
            self._box_mask = np.ascontiguousarray(self._mask_u8[y0:y1, x0:x1])
        self.clahe = clahe
        self._local = threading.local()
        #: CLAHE computed near the mask only (OpenCV's result, to the bit), for small tiles
        self.masked_clahe = None
        if self.mask is not None and clahe is not None:
            _, _, tw, th = tile_geometry(self.mask.shape, clahe.tile_grid_size)
            if tw * th <= MAX_TILE_AREA:
                self.masked_clahe = MaskedClahe(self.mask, clahe)

    def _clahe(self):
        c = getattr(self._local, "clahe", None)
        if c is None:
            c = cv2.createCLAHE(clipLimit=self.clahe.clip_limit,
                                tileGridSize=self.clahe.tile_grid_size)
            self._local.clahe = c
        return c

    @staticmethod
    def _checked(chunk: np.ndarray) -> np.ndarray:
        """``chunk`` as an array, or TrackingError: uint8 (n, H, W) or (n, H, W, 1|3|4)."""
        chunk = np.asarray(chunk)
        if chunk.dtype != np.uint8:
            raise TrackingError(f"frames: dtype {chunk.dtype}, expected uint8")
        if chunk.ndim not in (3, 4) or (chunk.ndim == 4 and chunk.shape[-1] not in (1, 3, 4)):
            raise TrackingError(f"frames: shape {chunk.shape}, expected (n, H, W[, C])")
        return chunk

    @classmethod
    def _gray(cls, chunk: np.ndarray) -> tuple[np.ndarray, bool]:
        """(n, H, W) uint8 view or new array, and whether it is new (ours to modify)."""
        chunk = cls._checked(chunk)
        if chunk.ndim == 3:
            return chunk, False
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
        if self._box is not None:
            out, owned = self._masked_gray_in_box(chunk), True
        else:
            out, owned = self._gray(chunk)
            if self._mask_u8 is not None:
                if out.shape[1:] != self._mask_u8.shape:
                    raise TrackingError(f"frames of shape {out.shape[1:]} do not match the "
                                        f"ROI mask shape {self._mask_u8.shape}")
                out = np.multiply(out, self._mask_u8, out=out if owned else None)
                owned = True
        if self.masked_clahe is not None:
            for i in range(out.shape[0]):
                self.masked_clahe.apply(out[i], out=out[i])
            return out
        if self.clahe is not None:
            c = self._clahe()
            dst = out if owned else np.empty(out.shape, dtype=np.uint8)
            for i in range(out.shape[0]):
                c.apply(out[i], dst=dst[i])
            out = dst
        return out

    def _masked_gray_in_box(self, chunk: np.ndarray) -> np.ndarray:
        """Gray and masked frames, (n, H, W) uint8 (new): computed in the mask's box only."""
        chunk = self._checked(chunk)
        if chunk.shape[1:3] != self._mask_u8.shape:
            raise TrackingError(f"frames of shape {chunk.shape[1:3]} do not match the ROI "
                                f"mask shape {self._mask_u8.shape}")
        y0, y1, x0, x1 = self._box
        out = np.zeros(chunk.shape[:3], dtype=np.uint8)
        box, src = out[:, y0:y1, x0:x1], chunk[:, y0:y1, x0:x1]
        if chunk.ndim == 3 or chunk.shape[-1] == 1:
            box[...] = src.reshape(box.shape)
        elif chunk.shape[-1] == 3:
            rgb_to_gray(src, out=box)
        else:  # RGBA: channel views are not OpenCV images
            box[...] = rgb_to_gray(np.ascontiguousarray(src[..., :3]))
        np.multiply(box, self._box_mask, out=box)
        return out

    @classmethod
    def from_params(cls, mask: np.ndarray | None, params: TrackingParams) -> Preprocessor:
        """The preprocessing that ``params`` asks for (CLAHE, mask margin)."""
        return cls(mask, params.clahe, params.effective_mask_margin)


#: Largest bounding box of the mask, as a fraction of the frame, for which only the box is
#: converted to gray and masked: the demo's face (7% of a 784 x 582 frame) took 1.36 instead
#: of 2.19 ms a frame, a face filling 62% of a 480 x 640 frame 3.7 instead of 3.2 CPU ms
#: (bench/bench_tracking.py --compare: frame by frame into a zeroed array costs more there).
BOX_FRACTION = 0.25


def _area(box: tuple[int, int, int, int]) -> int:
    return (box[1] - box[0]) * (box[3] - box[2])


def _bounding_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of the True pixels of an (H, W) mask ((0, 0, 0, 0) if none)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return 0, 0, 0, 0
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


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
