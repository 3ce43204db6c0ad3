"""Point tracking: pyramidal Lucas-Kanade with mesh rigidity, relaxation and outlier handling.

The tracker follows a grid of face points from frame to frame:

1. preprocessing (worker threads, ahead of the tracker): grayscale as the mean of the
   colour channels, zero outside the ROI mask, CLAHE (optional);
2. pyramidal Lucas-Kanade (OpenCV) from the previous frame to this frame, for the previous
   points (points whose LK fails keep their previous position);
3. frozen frames (``frames_freeze``): the optical-flow step is skipped; with
   ``relaxation_during_freeze_frames`` the forces below still act, otherwise the points are
   copied from the previous frame and nothing else happens;
4. points flagged as violating (see 7) take their previous positions;
5. mesh rigidity: ``p_i -= rigidity * ((p_i - mean_j p_j) - d0_i)`` over the ``k`` nearest
   neighbours ``j`` of ``i`` (by home position), ``d0_i = mean_j (h_i - h_j)``;
6. relaxation toward the home positions: ``p -= relaxation * (p - home)``;
7. outliers: points farther than ``threshold_displacement`` px from home, plus their
   neighbours, are flagged over frames ``[t - before, t + after)``; tracking rewinds to
   ``t - before`` and replays with the flagged points held (forces still act).

Everything per frame is vectorised over points (no Python loops over points); frames are
streamed, and memory does not grow with video length except for the output array, which
may be an HDF5 dataset written in chunks.

Decisions that differ from the original face-rhythm (see ``docs/tracking.md``):

- a point is *not* its own mesh neighbour by default (``mesh_include_self=False``); the
  original counts the point itself among the ``k`` (set ``mesh_include_self=True`` for that);
- the violation fraction is the real fraction of frames with any flagged point (the original
  cast it to ``int``);
- the rewind never reaches further back than ``framesHalted_before`` frames behind the
  furthest frame tracked so far (a replay that finds a new violation does not cascade
  further back), which bounds memory; a rewind happens only when it flags something new, so
  tracking always terminates;
- frames before ``idx_start`` hold the starting positions.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import scipy.sparse
from scipy.spatial import cKDTree

from . import rois as fr_rois
from . import video as fr_video
from .errors import TrackingError
from .runlog import progress_bar

logger = logging.getLogger(__name__)

__all__ = [
    "PROJECT_PARAMS",
    "REFERENCE_PARAMS",
    "ClaheParams",
    "PointTracker",
    "Preprocessor",
    "TrackingError",
    "TrackingParams",
    "TrackingResult",
    "apply_mesh_forces",
    "as_chunks",
    "check_device",
    "combine_masks",
    "grow_mask",
    "mesh_d0",
    "mesh_neighbors",
    "mesh_operator",
    "preprocess_chunks",
    "track_array",
    "track_frames",
    "track_video",
    "validate_frames_freeze",
    "validate_points",
]


# ----------------------------------------------------------------------------- parameters
@dataclasses.dataclass(frozen=True)
class ClaheParams:
    """Contrast-limited adaptive histogram equalisation (``cv2.createCLAHE``).

    Attributes
    ----------
    clip_limit : float
        Contrast limit (OpenCV ``clipLimit``), > 0.
    tile_grid_size : (int, int)
        Number of tiles (columns, rows) (OpenCV ``tileGridSize``): ``(8, 8)`` cuts the frame
        into 8 x 8 tiles. The original's ``(150, 150)`` makes tiles of a few pixels.
    """

    clip_limit: float = 40.0
    tile_grid_size: tuple[int, int] = (8, 8)

    def __post_init__(self):
        if not (np.isfinite(self.clip_limit) and self.clip_limit > 0):
            raise TrackingError(f"params_clahe.clipLimit={self.clip_limit}: must be > 0")
        tg = tuple(int(v) for v in self.tile_grid_size)
        if len(tg) != 2 or min(tg) < 1:
            raise TrackingError(f"params_clahe.tileGridSize={self.tile_grid_size}: "
                                "need two integers >= 1")
        object.__setattr__(self, "tile_grid_size", tg)


_CRITERIA_TYPES = {cv2.TERM_CRITERIA_COUNT, cv2.TERM_CRITERIA_EPS,
                   cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS}


@dataclasses.dataclass(frozen=True)
class TrackingParams:
    """Every parameter of the tracker (units: pixels and frames).

    Build it from the workflow's ``tracking`` config section with :meth:`from_config`, or
    from the original's nested dicts with :meth:`from_reference`.

    Attributes
    ----------
    win_size : (int, int)
        Lucas-Kanade window (width, height) in px at each pyramid level.
    max_level : int
        Highest pyramid level (0 = no pyramid).
    criteria : (int, int, float)
        OpenCV termination criteria ``(type, max_count, epsilon)``; ``type`` 1 = count,
        2 = eps, 3 = both.
    min_eig_threshold : float
        OpenCV ``minEigThreshold``: points on textureless patches fail and keep their
        previous position.
    mesh_rigidity : float
        Strength of the mesh force, in [0, 1] (0 = off).
    mesh_n_neighbors : int
        Neighbours per point for the mesh force and for flagging neighbours of violators.
    mesh_include_self : bool
        Count the point itself among its ``mesh_n_neighbors`` (the original's quirk).
    relaxation : float
        Fraction of the offset from home removed each frame, in [0, 1] (0 = off).
    clahe : ClaheParams or None
        CLAHE settings, ``None`` for no CLAHE.
    threshold_displacement : float
        Distance from home (px) beyond which a point violates.
    frames_halted_before, frames_halted_after : int
        The violation window ``[t - before, t + after)`` in frames.
    relaxation_during_freeze_frames : bool
        On ``frames_freeze`` frames, still apply rigidity and relaxation (True) or copy the
        previous points unchanged (False).
    mask_margin : int or None
        Pixels are zeroed outside the ROI mask grown by this many px. ``0`` zeroes exactly
        outside the mask (the original); ``None`` (default) grows it by half the LK window,
        so that the artificial edge of the zeroed area never lies inside the window of a
        point at rest (that edge does not move and pins points near the border).
    """

    win_size: tuple[int, int] = (17, 17)
    max_level: int = 1
    criteria: tuple[int, int, float] = (3, 10, 0.03)
    min_eig_threshold: float = 1e-4
    mesh_rigidity: float = 0.025
    mesh_n_neighbors: int = 8
    mesh_include_self: bool = False
    relaxation: float = 0.0015
    clahe: ClaheParams | None = ClaheParams(40.0, (8, 8))
    threshold_displacement: float = 150.0
    frames_halted_before: int = 10
    frames_halted_after: int = 10
    relaxation_during_freeze_frames: bool = True
    mask_margin: int | None = None

    def __post_init__(self):
        ws = tuple(int(v) for v in self.win_size)
        if len(ws) != 2 or min(ws) < 3:
            raise TrackingError(f"kwargs_method.winSize={self.win_size}: need two integers >= 3")
        object.__setattr__(self, "win_size", ws)
        if int(self.max_level) < 0:
            raise TrackingError(f"kwargs_method.maxLevel={self.max_level}: must be >= 0")
        object.__setattr__(self, "max_level", int(self.max_level))
        try:
            ctype, ccount, ceps = self.criteria
            crit = (int(ctype), int(ccount), float(ceps))
        except (TypeError, ValueError):
            raise TrackingError(f"kwargs_method.criteria={self.criteria}: need "
                                "(type, max_count, epsilon)") from None
        if crit[0] not in _CRITERIA_TYPES or crit[1] < 1 or not crit[2] >= 0:
            raise TrackingError(f"kwargs_method.criteria={self.criteria}: type must be 1, 2 "
                                "or 3, max_count >= 1, epsilon >= 0")
        object.__setattr__(self, "criteria", crit)
        for name in ("mesh_rigidity", "relaxation"):
            v = float(getattr(self, name))
            if not 0 <= v <= 1:
                raise TrackingError(f"params_optical_flow.{name}={v}: must be in [0, 1]")
            object.__setattr__(self, name, v)
        if int(self.mesh_n_neighbors) < 0:
            raise TrackingError(f"params_optical_flow.mesh_n_neighbors={self.mesh_n_neighbors}: "
                                "must be >= 0")
        object.__setattr__(self, "mesh_n_neighbors", int(self.mesh_n_neighbors))
        if self.mesh_rigidity > 0 and self.mesh_n_neighbors == 0:
            raise TrackingError("params_optical_flow: mesh_rigidity > 0 needs "
                                "mesh_n_neighbors >= 1")
        if not float(self.threshold_displacement) > 0:
            raise TrackingError("params_outlier_handling.threshold_displacement="
                                f"{self.threshold_displacement}: must be > 0")
        object.__setattr__(self, "threshold_displacement", float(self.threshold_displacement))
        for name in ("frames_halted_before", "frames_halted_after"):
            if int(getattr(self, name)) < 0:
                raise TrackingError(f"params_outlier_handling.{name}={getattr(self, name)}: "
                                    "must be >= 0")
            object.__setattr__(self, name, int(getattr(self, name)))
        if not float(self.min_eig_threshold) >= 0:
            raise TrackingError(f"minEigThreshold={self.min_eig_threshold}: must be >= 0")
        if self.mask_margin is not None:
            if int(self.mask_margin) < 0:
                raise TrackingError(f"mask_margin={self.mask_margin}: must be >= 0 or None")
            object.__setattr__(self, "mask_margin", int(self.mask_margin))

    @property
    def effective_mask_margin(self) -> int:
        """The margin in px actually used (``mask_margin``, or half the LK window)."""
        if self.mask_margin is not None:
            return self.mask_margin
        return max(self.win_size) // 2 + 1

    # ------------------------------------------------------------------ conversions
    @classmethod
    def from_reference(cls, params_optical_flow: Mapping[str, Any] | None = None,
                       params_clahe: Mapping[str, Any] | None | str = "default",
                       params_outlier_handling: Mapping[str, Any] | None = None,
                       relaxation_during_freeze_frames: bool | None = None,
                       mask_margin: int | None | str = "default",
                       defaults: TrackingParams | None = None) -> TrackingParams:
        """Parameters from the original's nested dicts; missing keys take ``defaults``.

        ``params_clahe=None`` turns CLAHE off; ``"default"`` keeps the default's CLAHE (the
        same for ``mask_margin``, where ``None`` means half the LK window).
        Unknown keys raise :class:`TrackingError` (they are usually typos).
        """
        base = defaults if defaults is not None else PROJECT_PARAMS
        of = dict(params_optical_flow or {})
        _check_keys(of, {"method", "mesh_rigidity", "mesh_n_neighbors", "mesh_include_self",
                         "relaxation", "kwargs_method"}, "params_optical_flow")
        method = of.get("method", "lucas_kanade")
        if method != "lucas_kanade":
            raise TrackingError(f"params_optical_flow.method={method!r}: only 'lucas_kanade' "
                                "is supported")
        km = dict(of.get("kwargs_method") or {})
        _check_keys(km, {"winSize", "maxLevel", "criteria", "minEigThreshold"},
                    "params_optical_flow.kwargs_method")
        oh = dict(params_outlier_handling or {})
        _check_keys(oh, {"threshold_displacement", "framesHalted_before",
                         "framesHalted_after"}, "params_outlier_handling")
        if isinstance(params_clahe, str):
            if params_clahe != "default":
                raise TrackingError(f"params_clahe={params_clahe!r}: give a dict or None")
            clahe = base.clahe
        elif params_clahe is None:
            clahe = None
        else:
            pc = dict(params_clahe)
            _check_keys(pc, {"clipLimit", "tileGridSize"}, "params_clahe")
            b = base.clahe or ClaheParams()
            clahe = ClaheParams(float(pc.get("clipLimit", b.clip_limit)),
                                tuple(pc.get("tileGridSize", b.tile_grid_size)))
        rdf = (base.relaxation_during_freeze_frames if relaxation_during_freeze_frames is None
               else bool(relaxation_during_freeze_frames))
        return cls(
            win_size=tuple(km.get("winSize", base.win_size)),
            max_level=km.get("maxLevel", base.max_level),
            criteria=tuple(km.get("criteria", base.criteria)),
            min_eig_threshold=float(km.get("minEigThreshold", base.min_eig_threshold)),
            mesh_rigidity=of.get("mesh_rigidity", base.mesh_rigidity),
            mesh_n_neighbors=of.get("mesh_n_neighbors", base.mesh_n_neighbors),
            mesh_include_self=bool(of.get("mesh_include_self", base.mesh_include_self)),
            relaxation=of.get("relaxation", base.relaxation),
            clahe=clahe,
            threshold_displacement=oh.get("threshold_displacement",
                                          base.threshold_displacement),
            frames_halted_before=oh.get("framesHalted_before", base.frames_halted_before),
            frames_halted_after=oh.get("framesHalted_after", base.frames_halted_after),
            relaxation_during_freeze_frames=rdf,
            mask_margin=base.mask_margin if isinstance(mask_margin, str) else mask_margin,
        )

    @classmethod
    def from_config(cls, tracking: Mapping[str, Any]) -> TrackingParams:
        """Parameters from the workflow's ``tracking`` config section (see config/README.md).

        Keys that are not tracking parameters (``contiguous``, ``idx_start``, ``chunk_size``,
        ``device``) are ignored here.
        """
        return cls.from_reference(
            tracking.get("params_optical_flow"),
            tracking.get("params_clahe", "default"),
            tracking.get("params_outlier_handling"),
            tracking.get("relaxation_during_freeze_frames"),
            tracking.get("mask_margin", "default"),
        )

    def to_reference(self) -> dict[str, Any]:
        """The nested-dict form (``params_optical_flow``, ``params_clahe``, ...), JSON-ready."""
        return {
            "params_optical_flow": {
                "method": "lucas_kanade",
                "mesh_rigidity": self.mesh_rigidity,
                "mesh_n_neighbors": self.mesh_n_neighbors,
                "mesh_include_self": self.mesh_include_self,
                "relaxation": self.relaxation,
                "kwargs_method": {"winSize": list(self.win_size), "maxLevel": self.max_level,
                                  "criteria": list(self.criteria),
                                  "minEigThreshold": self.min_eig_threshold},
            },
            "params_clahe": None if self.clahe is None else {
                "clipLimit": self.clahe.clip_limit,
                "tileGridSize": list(self.clahe.tile_grid_size)},
            "params_outlier_handling": {
                "threshold_displacement": self.threshold_displacement,
                "framesHalted_before": self.frames_halted_before,
                "framesHalted_after": self.frames_halted_after},
            "relaxation_during_freeze_frames": self.relaxation_during_freeze_frames,
            "mask_margin": self.mask_margin,
        }

    def replace(self, **changes: Any) -> TrackingParams:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def _check_keys(d: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise TrackingError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


#: The project's defaults, chosen by measurement (docs/tracking.md).
PROJECT_PARAMS = TrackingParams()

#: The original face-rhythm pipeline's defaults (facts.md), for comparisons and benchmarks.
REFERENCE_PARAMS = TrackingParams(
    win_size=(20, 20), max_level=2, criteria=(3, 2, 0.03), mesh_rigidity=0.025,
    mesh_n_neighbors=8, mesh_include_self=True, relaxation=0.0015,
    clahe=ClaheParams(40.0, (150, 150)), threshold_displacement=150.0,
    frames_halted_before=10, frames_halted_after=10, relaxation_during_freeze_frames=True,
    mask_margin=0)


# ----------------------------------------------------------------------------- setup
def check_device(device: str) -> str:
    """The device tracking runs on: always ``"cpu"``.

    OpenCV's pyramidal LK, CLAHE and the mesh arithmetic run on the CPU (the pip OpenCV has
    no CUDA module, and for ~1000 points the mesh arithmetic is faster in numpy than on a
    GPU after transfers). ``"auto"`` says so at info level, ``"cuda"`` with a warning.
    """
    if device not in ("cpu", "cuda", "auto"):
        raise TrackingError(f"tracking.device={device!r}: expected 'cpu', 'cuda' or 'auto'")
    if device == "cuda":
        logger.warning("tracking.device='cuda': the tracker runs on the CPU (no GPU path)")
    elif device == "auto":
        logger.info("tracking.device='auto': tracking on the CPU")
    return "cpu"


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
        out = fr_rois.combine_masks(masks, shape)
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


def mesh_neighbors(points: np.ndarray, n_neighbors: int,
                   include_self: bool = False) -> np.ndarray:
    """Indices of each point's nearest points by position.

    Parameters
    ----------
    points : (N, 2) array
        Home positions (x, y).
    n_neighbors : int
        ``k``, neighbours per point.
    include_self : bool
        Count the point itself among its ``k`` (the original's behaviour).

    Returns
    -------
    (N, k) int64
        Neighbour indices, nearest first.
    """
    pts = np.asarray(points, dtype=np.float64)
    n, k = pts.shape[0], int(n_neighbors)
    if k == 0:
        return np.empty((n, 0), dtype=np.int64)
    available = n if include_self else n - 1
    if k > available:
        raise TrackingError(f"mesh_n_neighbors={k}: only {available} neighbour(s) available "
                            f"for {n} points")
    tree = cKDTree(pts)
    _, idx = tree.query(pts, k=k if include_self else k + 1)
    idx = np.asarray(idx, dtype=np.int64).reshape(n, -1)
    if include_self:
        return idx
    is_self = idx == np.arange(n)[:, None]
    no_self = ~is_self.any(axis=1)  # duplicate positions: drop the farthest instead
    is_self[no_self, -1] = True
    return idx[~is_self].reshape(n, k)


def mesh_operator(neighbors: np.ndarray) -> scipy.sparse.csr_array:
    """Sparse ``L = I - A`` with ``A`` the mean over neighbours: ``(L @ p)_i = p_i - mean_j p_j``.

    Parameters
    ----------
    neighbors : (N, k) int

    Returns
    -------
    (N, N) float32 CSR array. (A gather ``p[neighbors].mean(1)`` costs ~10x more per frame.)
    """
    n, k = neighbors.shape
    if k == 0:
        return scipy.sparse.csr_array((n, n), dtype=np.float32)
    a = scipy.sparse.csr_array((np.full(n * k, 1.0 / k, dtype=np.float32), neighbors.ravel(),
                                np.arange(0, n * k + 1, k)), shape=(n, n))
    return (scipy.sparse.identity(n, dtype=np.float32, format="csr") - a).tocsr()


def mesh_d0(points: np.ndarray, neighbors: np.ndarray) -> np.ndarray:
    """Rest offsets ``d0_i = mean_j (p_i - p_j)`` over neighbours, (N, 2) float32."""
    pts = np.asarray(points, dtype=np.float32)
    if neighbors.shape[1] == 0:
        return np.zeros_like(pts)
    return (pts - pts[neighbors].mean(axis=1)).astype(np.float32)


def apply_mesh_forces(points: np.ndarray, home: np.ndarray, neighbors: np.ndarray,
                      d0: np.ndarray, rigidity: float, relaxation: float,
                      operator: scipy.sparse.csr_array | None = None) -> np.ndarray:
    """Apply mesh rigidity, then relaxation toward home, in place.

    ``p_i -= rigidity * ((p_i - mean_j p_j) - d0_i)`` (all points at once, from the same
    positions), then ``p -= relaxation * (p - home)``.

    Parameters
    ----------
    points : (N, 2) float32
        Positions, modified in place and returned.
    home, d0 : (N, 2) float32
    neighbors : (N, k) int
    rigidity, relaxation : float
    operator : sparse (N, N), optional
        :func:`mesh_operator` of ``neighbors``, precomputed for speed.
    """
    if rigidity and neighbors.shape[1]:
        if operator is None:
            operator = mesh_operator(neighbors)
        offset = operator @ points
        offset -= d0
        offset *= rigidity
        points -= offset
    if relaxation:
        points -= relaxation * (points - home)
    return points


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
        self.clahe = clahe
        self._local = threading.local()

    def _clahe(self):
        c = getattr(self._local, "clahe", None)
        if c is None:
            c = cv2.createCLAHE(clipLimit=self.clahe.clip_limit,
                                tileGridSize=self.clahe.tile_grid_size)
            self._local.clahe = c
        return c

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
        return fr_video.rgb_to_gray(chunk[..., :3]), True

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


# ----------------------------------------------------------------------------- results
@dataclasses.dataclass
class TrackingResult:
    """Output of one tracking run (one video, or one contiguous stream).

    Attributes
    ----------
    points_tracked : (T, N, 2) float32 array, h5py dataset, or None
        Positions (x, y) per frame; frames before ``idx_start`` hold the start positions.
    violations : dict
        Sparse COO flags over frames x points: ``row`` (frames, int64), ``col`` (points,
        int64), ``data`` (bool), ``shape`` (T, N).
    violation_fraction : float
        Fraction of the T frames with at least one flagged point.
    point_positions : (N, 2) float32
        Home positions.
    neighbors : (N, k) int64
    mesh_d0 : (N, 2) float32
    n_frames : int
    idx_start : int
    last_points : (N, 2) float32
        Positions in the last frame (to continue a contiguous stream).
    n_rewinds : int
        Number of rewind-and-replay events.
    params : TrackingParams
    """

    points_tracked: Any
    violations: dict[str, np.ndarray]
    violation_fraction: float
    point_positions: np.ndarray
    neighbors: np.ndarray
    mesh_d0: np.ndarray
    n_frames: int
    idx_start: int
    last_points: np.ndarray
    n_rewinds: int
    params: TrackingParams
    frame_rate: float | None = None

    def violations_sparse(self):
        """The violation flags as a ``scipy.sparse.coo_array`` (frames x points)."""
        import scipy.sparse
        v = self.violations
        return scipy.sparse.coo_array((v["data"], (v["row"], v["col"])),
                                      shape=tuple(int(s) for s in v["shape"]))


# ----------------------------------------------------------------------------- the engine
class _Sink:
    """Collects final positions in blocks and writes them to ``out[start:stop]``."""

    def __init__(self, out: Any, n_points: int, block: int):
        self.out = out
        self.block = np.empty((block, n_points, 2), dtype=np.float32)
        self.start = 0
        self.n = 0

    def put(self, pos: np.ndarray) -> None:
        self.block[self.n] = pos
        self.n += 1
        if self.n == self.block.shape[0]:
            self.flush()

    def put_repeated(self, pos: np.ndarray, count: int) -> None:
        for _ in range(count):
            self.put(pos)

    def flush(self) -> None:
        if self.n:
            self.out[self.start:self.start + self.n] = self.block[:self.n]
            self.start += self.n
            self.n = 0


def _frames_of(chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    for chunk in chunks:
        yield from chunk


def _run_engine(frames: Iterator[np.ndarray], n_frames: int, home: np.ndarray,
                start_points: np.ndarray, params: TrackingParams, neighbors: np.ndarray,
                d0: np.ndarray, idx_start: int, frames_freeze: np.ndarray | None,
                initial_frame: np.ndarray | None, out: Any, chunk_size: int,
                progress: bool) -> tuple[dict[str, np.ndarray], float, np.ndarray, int]:
    """The tracking loop over preprocessed frames ``idx_start, idx_start+1, ...``.

    Keeps ring buffers of the last ``before + 2`` frames and positions (all a rewind can
    need), and writes positions to ``out`` once no rewind can change them.
    """

    n_pts = home.shape[0]
    before, after = params.frames_halted_before, params.frames_halted_after
    thr2 = params.threshold_displacement ** 2
    rig, rel = params.mesh_rigidity, params.relaxation
    freeze_forces = params.relaxation_during_freeze_frames
    lk_kwargs = {"winSize": params.win_size, "maxLevel": params.max_level,
                 "criteria": params.criteria, "minEigThreshold": params.min_eig_threshold}
    operator = mesh_operator(neighbors)
    ring = before + 2
    ring_frames: list[np.ndarray | None] = [None] * ring
    ring_pos = np.empty((ring, n_pts, 2), dtype=np.float32)
    sink = _Sink(out, n_pts, chunk_size)
    sink.put_repeated(start_points, idx_start)  # frames before idx_start: at rest

    if initial_frame is not None:  # continue a stream: frame idx_start is tracked too
        ring_frames[(idx_start - 1) % ring] = initial_frame
        ring_pos[(idx_start - 1) % ring] = start_points
        first = idx_start
    else:
        ring_frames[idx_start % ring] = next(frames)
        ring_pos[idx_start % ring] = start_points
        sink.put(start_points)
        first = idx_start + 1
    t_max = first - 1    # furthest frame loaded (and tracked)
    t_final = first - 1  # positions of frames <= t_final are in the sink

    events: list[tuple[int, int, np.ndarray]] = []      # (start, stop, points) all flags
    active: list[tuple[int, int, np.ndarray]] = []      # those that may still matter
    n_rewinds = 0
    bar = progress_bar(total=n_frames - idx_start, desc="tracking", unit="frame",
                       enabled=bool(progress))
    held = np.zeros(n_pts, dtype=bool)
    t = first
    while t < n_frames:
        if t > t_max:
            ring_frames[t % ring] = next(frames)
            t_max = t
            # frames <= t - before - 1 can no longer be rewound: final
            while t_final < t - before - 1:
                t_final += 1
                sink.put(ring_pos[t_final % ring])
            bar.update(1)
            if active:  # events ending before the earliest possible rewind are done
                lo = t_max - before
                active = [e for e in active if e[1] > lo]
        prev = ring_pos[(t - 1) % ring]
        frozen = frames_freeze is not None and frames_freeze[t]
        if frozen and not freeze_forces:
            ring_pos[t % ring] = prev
            t += 1
            continue
        if frozen:
            new = prev.copy()
        else:
            nxt, status, _ = cv2.calcOpticalFlowPyrLK(
                ring_frames[(t - 1) % ring], ring_frames[t % ring], prev, None, **lk_kwargs)
            new = nxt.reshape(n_pts, 2)
            lost = status.reshape(n_pts) == 0
            if lost.any():
                new[lost] = prev[lost]
        if active:
            held[:] = False
            for s0, s1, pts in active:
                if s0 <= t < s1:
                    held[pts] = True
            if held.any():
                new[held] = prev[held]
        if rig or rel:
            apply_mesh_forces(new, home, neighbors, d0, rig, rel, operator)
        ring_pos[t % ring] = new
        diff = new - home
        viol = np.einsum("ij,ij->i", diff, diff) > thr2
        if viol.any():
            flagged = viol.copy()
            flagged[neighbors[viol].ravel()] = True
            if active:
                new_flags = flagged & ~held if held.any() else flagged
            else:
                new_flags = flagged
            if new_flags.any():
                r = max(t_max - before, first)  # t_max - before <= t
                ev = (r, min(t + after, n_frames), np.flatnonzero(flagged))
                events.append(ev)
                active.append(ev)
                n_rewinds += 1
                logger.debug("frame %d: %d point(s) beyond %.1f px; rewinding to frame %d",
                             t, int(viol.sum()), params.threshold_displacement, r)
                t = r
                continue
        t += 1
    while t_final < n_frames - 1:
        t_final += 1
        sink.put(ring_pos[t_final % ring])
    sink.flush()
    bar.update(bar.total - bar.n)
    bar.close()
    last = ring_pos[(n_frames - 1) % ring].copy()
    violations = _events_to_coo(events, n_frames, n_pts)
    fraction = (float(np.unique(violations["row"]).size) / n_frames) if n_frames else 0.0
    return violations, fraction, last, n_rewinds


def _events_to_coo(events: list[tuple[int, int, np.ndarray]], n_frames: int,
                   n_points: int) -> dict[str, np.ndarray]:
    if events:
        rows = np.concatenate([np.repeat(np.arange(s0, s1), pts.size) for s0, s1, pts in events])
        cols = np.concatenate([np.tile(pts, s1 - s0) for s0, s1, pts in events])
        flat = np.unique(rows.astype(np.int64) * n_points + cols)
        rows, cols = np.divmod(flat, n_points)
    else:
        rows = cols = np.empty(0, dtype=np.int64)
    return {"row": rows.astype(np.int64), "col": cols.astype(np.int64),
            "data": np.ones(rows.size, dtype=bool),
            "shape": np.array([n_frames, n_points], dtype=np.int64)}


def track_frames(chunks: Iterable[np.ndarray], n_frames: int, point_positions: np.ndarray,
                 params: TrackingParams = PROJECT_PARAMS, *,
                 mask: np.ndarray | Sequence[np.ndarray] | None = None,
                 idx_start: int = 0, frames_freeze: np.ndarray | None = None,
                 start_points: np.ndarray | None = None,
                 initial_frame: np.ndarray | None = None,
                 frame_shape: tuple[int, int] | None = None,
                 out: Any = None, chunk_size: int = 32, n_workers: int = 1,
                 preprocessed: bool = False, progress: bool = False) -> TrackingResult:
    """Track points through a stream of frames (the core entry point).

    Parameters
    ----------
    chunks : iterable of (n, H, W[, C]) uint8 arrays
        Frames ``idx_start, idx_start + 1, ..., n_frames - 1`` in chunks (RGB or gray).
    n_frames : int
        Total number of frames of the video (stream), including those before ``idx_start``.
    point_positions : (N, 2) array
        Home positions (x, y) in px.
    params : TrackingParams
    mask : (H, W) bool, or a sequence of masks (intersected), optional
    idx_start : int
        First frame; earlier frames get the start positions.
    frames_freeze : (n_frames,) bool, optional
        Frames whose optical-flow step is skipped.
    start_points : (N, 2), optional
        Positions at ``idx_start`` (default: the home positions); with ``initial_frame``, the
        positions in that frame.
    initial_frame : (H, W) uint8, optional
        A *preprocessed* frame just before ``idx_start`` (e.g. the previous video's last
        frame, for contiguous tracking); frame ``idx_start`` is then tracked from it.
    frame_shape : (H, W), optional
        Needed to validate points before any frame is read; otherwise taken from the mask
        or the first chunk.
    out : array-like (n_frames, N, 2), optional
        Where positions go (a numpy array or an h5py dataset, written in chunks); by default
        a new float32 array.
    chunk_size : int
        Frames per block written to ``out``.
    n_workers : int
        Preprocessing threads ahead of the tracker (0 = preprocess inline).
    preprocessed : bool
        ``chunks`` are already preprocessed (gray, masked, CLAHE).
    progress : bool
        Show a progress bar.

    Returns
    -------
    TrackingResult
    """
    n_frames = int(n_frames)
    idx_start = int(idx_start)
    if n_frames < 1:
        raise TrackingError(f"n_frames={n_frames}: nothing to track")
    if not 0 <= idx_start < n_frames:
        raise TrackingError(f"idx_start={idx_start} is outside the video's {n_frames} frames")
    if initial_frame is None and idx_start == n_frames - 1:
        logger.warning("idx_start=%d is the last frame: nothing moves", idx_start)
    chunk_iter = iter(chunks)
    if frame_shape is None:
        m = combine_masks(mask)
        if m is not None:
            frame_shape = m.shape
        else:
            first_chunk = next(chunk_iter)
            frame_shape = np.asarray(first_chunk).shape[1:3]
            chunk_iter = _prepend(first_chunk, chunk_iter)
    frame_shape = tuple(int(v) for v in frame_shape)
    combined = combine_masks(mask, frame_shape)
    home = validate_points(point_positions, frame_shape, combined)
    start = home if start_points is None else validate_points(start_points, frame_shape,
                                                              None, "start_points")
    if start.shape != home.shape:
        raise TrackingError(f"start_points: shape {start.shape}, expected {home.shape}")
    ff = validate_frames_freeze(frames_freeze, n_frames)
    neighbors = mesh_neighbors(home, params.mesh_n_neighbors, params.mesh_include_self)
    d0 = mesh_d0(home, neighbors)
    if initial_frame is not None:
        initial_frame = np.asarray(initial_frame)
        if initial_frame.shape != frame_shape or initial_frame.dtype != np.uint8:
            raise TrackingError(f"initial_frame: {initial_frame.shape} {initial_frame.dtype},"
                                f" expected {frame_shape} uint8 (preprocessed)")
    if out is None:
        out = np.empty((n_frames, home.shape[0], 2), dtype=np.float32)
    elif tuple(out.shape) != (n_frames, home.shape[0], 2):
        raise TrackingError(f"out: shape {tuple(out.shape)}, expected "
                            f"{(n_frames, home.shape[0], 2)}")
    if preprocessed:
        pre_chunks: Iterable[np.ndarray] = chunk_iter
    else:
        pre_chunks = preprocess_chunks(chunk_iter, Preprocessor.from_params(combined, params),
                                       n_workers=n_workers)
    frames = _checked_frames(_frames_of(pre_chunks), frame_shape, n_frames - idx_start)
    try:
        violations, fraction, last, n_rewinds = _run_engine(
            frames, n_frames, home, start, params, neighbors, d0, idx_start, ff,
            initial_frame, out, chunk_size, progress)
    finally:  # stop the preprocessing and decoding threads if we stopped early
        for it in (pre_chunks, chunk_iter):
            close = getattr(it, "close", None)
            if close is not None:
                close()
    if n_rewinds:
        logger.info("outliers: %d rewind(s); %.4f of frames have flagged points",
                    n_rewinds, fraction)
    return TrackingResult(points_tracked=out, violations=violations,
                          violation_fraction=fraction, point_positions=home,
                          neighbors=neighbors, mesh_d0=d0, n_frames=n_frames,
                          idx_start=idx_start, last_points=last, n_rewinds=n_rewinds,
                          params=params)


def _prepend(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _checked_frames(frames: Iterator[np.ndarray], frame_shape: tuple[int, int],
                    expected: int) -> Iterator[np.ndarray]:
    n = 0
    for f in frames:
        if f.shape != frame_shape:
            raise TrackingError(f"frame {n}: shape {f.shape}, expected {frame_shape}")
        n += 1
        yield f
    if n < expected:
        raise TrackingError(f"the video ended after {n} of {expected} expected frames")


def track_array(video: np.ndarray, point_positions: np.ndarray,
                params: TrackingParams = PROJECT_PARAMS, *,
                mask: np.ndarray | Sequence[np.ndarray] | None = None, idx_start: int = 0,
                frames_freeze: np.ndarray | None = None, chunk_size: int = 32,
                n_workers: int = 1) -> TrackingResult:
    """Track points through a video held in memory, (T, H, W[, C]) uint8.

    See :func:`track_frames` for the parameters and the result.
    """
    video = np.asarray(video)
    if video.ndim not in (3, 4):
        raise TrackingError(f"video: shape {video.shape}, expected (T, H, W[, C])")
    n = video.shape[0]
    if not 0 <= int(idx_start) < max(n, 1):
        raise TrackingError(f"idx_start={idx_start} is outside the video's {n} frames")
    return track_frames(as_chunks(video[int(idx_start):], chunk_size), n, point_positions,
                        params, mask=mask, idx_start=idx_start, frames_freeze=frames_freeze,
                        frame_shape=video.shape[1:3], chunk_size=chunk_size,
                        n_workers=n_workers)


def track_video(path: str | os.PathLike, point_positions: np.ndarray,
                params: TrackingParams = PROJECT_PARAMS, *,
                mask: np.ndarray | Sequence[np.ndarray] | None = None, idx_start: int = 0,
                frames_freeze: np.ndarray | None = None, fps: float | None = None,
                start_points: np.ndarray | None = None,
                previous_video: str | os.PathLike | None = None,
                out: Any = None, chunk_size: int = 32, n_workers: int = 1,
                progress: bool = False, backend: str = "auto") -> TrackingResult:
    """Track points through a video file, streamed with :func:`face_rhythm.video.iter_chunks`.

    Parameters
    ----------
    path : path-like
        The video.
    point_positions, params, mask, idx_start, frames_freeze, start_points, out, chunk_size,
    n_workers, progress
        As in :func:`track_frames`.
    fps : float, optional
        Frame-rate override (Hz), stored in the result.
    previous_video : path-like, optional
        For contiguous tracking: the video before this one; its last frame is the frame
        ``start_points`` were in, and frame ``idx_start`` of ``path`` is tracked from it.
    backend : str
        Video backend (``auto``, ``decord``, ``opencv``, ``ffmpeg``), see
        :func:`face_rhythm.video.open_video`.

    Returns
    -------
    TrackingResult
        With ``frame_rate`` set from the video (or ``fps``).
    """
    info = fr_video.probe_video(path, fps=fps, backend=backend)
    n = int(info.n_frames)
    if not 0 <= int(idx_start) < n:
        raise TrackingError(f"{path}: idx_start={idx_start} is outside the video's {n} frames")
    frame_shape = (int(info.height), int(info.width))
    combined = combine_masks(mask, frame_shape)
    validate_points(point_positions, frame_shape, combined)
    validate_frames_freeze(frames_freeze, n)
    initial_frame = None
    if previous_video is not None:
        prev_info = fr_video.probe_video(previous_video, backend=backend)
        if (int(prev_info.height), int(prev_info.width)) != frame_shape:
            raise TrackingError(f"{previous_video}: frame size {prev_info.width}x"
                                f"{prev_info.height} differs from {path}")
        last = fr_video.read_frames(previous_video, [-1], grayscale=True, backend=backend)
        initial_frame = Preprocessor.from_params(combined, params)(last)[0]
    chunks = fr_video.iter_chunks(path, chunk_size=chunk_size, start=int(idx_start),
                                  grayscale=True, backend=backend, fps=fps)
    res = track_frames(chunks, n, point_positions, params, mask=combined,
                       idx_start=idx_start, frames_freeze=frames_freeze,
                       start_points=start_points, initial_frame=initial_frame,
                       frame_shape=frame_shape, out=out, chunk_size=chunk_size,
                       n_workers=n_workers, progress=progress)
    res.frame_rate = float(info.frame_rate)
    return res


# ----------------------------------------------------------------------------- notebook class
class PointTracker:
    """Track seed points through one or more videos (the original's notebook API).

    Parameters
    ----------
    buffered_video_reader : path, array, or a sequence of them, or a reader object
        The videos: file paths or ``sftp://`` URLs, in-memory arrays (T, H, W[, C]) uint8, a
        :class:`~face_rhythm.video.BufferedVideoReader` or
        :class:`~face_rhythm.data_importing.Dataset_videos` (their videos are streamed with
        the reader's backend and frame-rate overrides, reader objects such as
        ``decord.VideoReader`` through the reader itself), or any object with a
        ``paths_videos`` (or ``paths``) attribute listing the files.
    point_positions : (N, 2) array
        Seed points (x, y), e.g. ``ROIs.point_positions``.
    rois_masks : (H, W) bool, list of them, or an object with ``mask_images``, optional
        Intersected into one mask; pixels outside are zeroed before tracking.
    contiguous : bool
        Track all videos as one stream (points continue across videos, and a rewind may
        reach into the previous video); otherwise restart from the seed points per video.
    params_optical_flow, params_clahe, params_outlier_handling : dict, optional
        As in the original; missing keys take the project defaults
        (:data:`PROJECT_PARAMS`). ``params_clahe=None`` turns CLAHE off; leave it out for the
        default.
    frames_freeze : (n_frames,) bool, optional
        Frames whose optical-flow step is skipped: total frames of all videos when
        ``contiguous``, else one array per video (a single array if all videos have that
        length).
    relaxation_during_freeze_frames : bool
    idx_start : int or sequence of int
        First frame (per video, or of the whole stream when ``contiguous``).
    visualize_video : bool
        Live display is not available here (headless); overlay videos are made by the
        workflow (``face_rhythm.visualization``). Must be False.
    params_visualization : dict, optional
        Kept for API compatibility (stored only).
    verbose : bool or int
        2 or more shows a progress bar; messages go through :mod:`logging` (configure its
        level).

    Attributes
    ----------
    point_positions : (N, 2) float32
    num_points : int
    mask : (H, W) bool or None
    neighbors : (N, k) int64
    d_0 : (N, 2) float32
    points_tracked : dict {str(video index): (T, N, 2) float32}
        After :meth:`track_points`.
    violations : list of scipy.sparse.coo_array
    violations_sparseCOO : dict {str(video index): {row, col, data, shape}}
    violation_fraction : list of float
    """

    def __init__(self, buffered_video_reader: Any, point_positions: np.ndarray,
                 rois_masks: Any = None, contiguous: bool = False,
                 params_optical_flow: Mapping[str, Any] | None = None,
                 params_clahe: Mapping[str, Any] | None | str = "default",
                 params_outlier_handling: Mapping[str, Any] | None = None,
                 frames_freeze: np.ndarray | Sequence[np.ndarray] | None = None,
                 relaxation_during_freeze_frames: bool = True,
                 idx_start: int | Sequence[int] | np.ndarray = 0,
                 visualize_video: bool = False,
                 params_visualization: Mapping[str, Any] | None = None,
                 verbose: bool | int = 1):
        self.verbose = int(verbose)
        if visualize_video:
            raise TrackingError("visualize_video=True: live display is not available; "
                                "make overlay videos with face_rhythm.visualization")
        self.params = TrackingParams.from_reference(
            params_optical_flow, params_clahe, params_outlier_handling,
            relaxation_during_freeze_frames)
        nested = self.params.to_reference()
        self.params_optical_flow = nested["params_optical_flow"]
        self.params_outlier_handling = nested["params_outlier_handling"]
        self.params_clahe = nested["params_clahe"]
        self.params_visualization = {"alpha": 1.0, "point_sizes": 1,
                                     **dict(params_visualization or {})}
        self.contiguous = bool(contiguous)
        self.relaxation_during_freeze_frames = bool(relaxation_during_freeze_frames)
        self.videos = _resolve_videos(buffered_video_reader)
        self._shapes, self._lengths = zip(*[_video_shape(v) for v in self.videos])
        if len(set(self._shapes)) != 1:
            raise TrackingError(f"videos have different frame sizes: {sorted(set(self._shapes))}")
        frame_shape = self._shapes[0]
        if rois_masks is not None and hasattr(rois_masks, "mask_images"):
            rois_masks = rois_masks.mask_images
        self.mask = combine_masks(rois_masks, frame_shape)
        self.point_positions = validate_points(point_positions, frame_shape, self.mask)
        self.num_points = int(self.point_positions.shape[0])
        self.neighbors = mesh_neighbors(self.point_positions, self.params.mesh_n_neighbors,
                                        self.params.mesh_include_self)
        self.d_0 = mesh_d0(self.point_positions, self.neighbors)
        n_videos = len(self.videos)
        total = int(sum(self._lengths))
        if self.contiguous:
            if np.ndim(idx_start) != 0:
                raise TrackingError("idx_start: give one int when contiguous=True")
            self.idx_start = int(idx_start)
            if not 0 <= self.idx_start < total:
                raise TrackingError(f"idx_start={self.idx_start} is outside the {total} "
                                    "frames of all videos")
            self.frames_freeze = validate_frames_freeze(frames_freeze, total)
        else:
            starts = ([int(idx_start)] * n_videos if np.ndim(idx_start) == 0
                      else [int(v) for v in idx_start])
            if len(starts) != n_videos:
                raise TrackingError(f"idx_start: {len(starts)} values for {n_videos} videos")
            for i, (s, n) in enumerate(zip(starts, self._lengths, strict=True)):
                if not 0 <= s < n:
                    raise TrackingError(f"idx_start={s} is outside video {i}'s {n} frames")
            self.idx_start = starts
            if frames_freeze is None or isinstance(frames_freeze, np.ndarray):
                ffs = [frames_freeze] * n_videos
            else:
                ffs = list(frames_freeze)
                if len(ffs) != n_videos:
                    raise TrackingError(f"frames_freeze: {len(ffs)} arrays for {n_videos} "
                                        "videos")
            self.frames_freeze = [validate_frames_freeze(f, n, f"frames_freeze (video {i})")
                                  for i, (f, n) in enumerate(zip(ffs, self._lengths,
                                                                 strict=True))]
        self.config = {"contiguous": self.contiguous, "idx_start": self.idx_start,
                       "n_videos": n_videos, **nested}
        self.points_tracked: Any = None
        self.violations: list = []
        self.violations_sparseCOO: dict = {}
        self.violation_fraction: list[float] = []
        self.run_info: dict = {}
        self.run_data: dict = {}

    def track_points(self, n_workers: int = 1, progress: bool | None = None
                     ) -> dict[str, np.ndarray]:
        """Track the points through every video; returns (and stores) ``points_tracked``.

        ``n_workers`` preprocessing threads; ``progress`` defaults to ``verbose >= 2``.
        """
        if progress is None:
            progress = self.verbose >= 2
        results: list[TrackingResult]
        if self.contiguous:
            total = int(sum(self._lengths))
            chunks = _skip_frames(_chain_video_chunks(self.videos), self.idx_start)
            res = track_frames(chunks, total, self.point_positions, self.params,
                               mask=self.mask, idx_start=self.idx_start,
                               frames_freeze=self.frames_freeze, frame_shape=self._shapes[0],
                               n_workers=n_workers, progress=progress)
            results = _split_result(res, self._lengths)
        else:
            results = []
            for v, s, ff in zip(self.videos, self.idx_start, self.frames_freeze, strict=True):
                if isinstance(v, np.ndarray):
                    results.append(track_array(v, self.point_positions, self.params,
                                               mask=self.mask, idx_start=s, frames_freeze=ff,
                                               n_workers=n_workers))
                elif v.reader is None:
                    results.append(track_video(v.path, self.point_positions, self.params,
                                               mask=self.mask, idx_start=s, frames_freeze=ff,
                                               fps=v.fps, backend=v.backend,
                                               n_workers=n_workers, progress=progress))
                else:
                    shape, n = v.shape_and_length()
                    res = track_frames(v.gray_chunks(start=s), n, self.point_positions,
                                       self.params, mask=self.mask, idx_start=s,
                                       frames_freeze=ff, frame_shape=shape,
                                       n_workers=n_workers, progress=progress)
                    res.frame_rate = float(v.fps)
                    results.append(res)
        self.points_tracked = {str(i): r.points_tracked for i, r in enumerate(results)}
        self.violations_sparseCOO = {str(i): r.violations for i, r in enumerate(results)}
        self.violations = [r.violations_sparse() for r in results]
        self.violation_fraction = [r.violation_fraction for r in results]
        self.run_info = {"num_points": self.num_points,
                         "n_frames": [int(n) for n in self._lengths],
                         "violation_fraction": self.violation_fraction,
                         "n_rewinds": [r.n_rewinds for r in results]}
        self.run_data = {"points_tracked": self.points_tracked,
                         "violations": self.violations_sparseCOO,
                         "point_positions": self.point_positions,
                         "neighbors": self.neighbors, "mesh_d0": self.d_0,
                         "mask": self.mask,
                         "params": json.dumps(self.params.to_reference())}
        return self.points_tracked

    def cleanup(self) -> None:
        """Drop the large arrays held by the tracker."""
        for name in ("points_tracked", "violations", "violations_sparseCOO", "run_data",
                     "videos"):
            setattr(self, name, None)


@dataclasses.dataclass(frozen=True)
class _VideoRef:
    """One video to stream: a file or ``sftp://`` URL with its frame-rate override and
    backend, or (``reader`` set) a reader object without a file (``read_range(a, b)`` gives
    RGB frames)."""

    path: str
    fps: float | None = None
    backend: str = "auto"
    reader: Any = None

    def shape_and_length(self) -> tuple[tuple[int, int], int]:
        info = self.reader.info if self.reader is not None else \
            fr_video.probe_video(self.path, fps=self.fps, backend=self.backend)
        return (int(info.height), int(info.width)), int(info.n_frames)

    def gray_chunks(self, chunk_size: int = 32, start: int = 0) -> Iterator[np.ndarray]:
        if self.reader is None:
            yield from fr_video.iter_chunks(self.path, chunk_size=chunk_size, start=start,
                                            grayscale=True, backend=self.backend, fps=self.fps)
            return
        n = len(self.reader)
        for a in range(start, n, chunk_size):
            yield fr_video.rgb_to_gray(self.reader.read_range(a, min(a + chunk_size, n)))


def _resolve_videos(obj: Any) -> list[np.ndarray | _VideoRef]:
    """The videos of a tracker's input: arrays stay arrays; paths, URLs and the videos of a
    reader (``BufferedVideoReader``, ``Dataset_videos``: their frame-rate overrides and
    backend kept) become :class:`_VideoRef`."""
    if not isinstance(obj, (str, os.PathLike, np.ndarray)) and hasattr(obj, "videos") and \
            all(hasattr(v, "info") for v in obj.videos):
        backend = getattr(obj, "backend", "auto")
        infos = list(getattr(obj, "infos", None) or [v.info for v in obj.videos])
        refs = []
        for v, info in zip(obj.videos, infos, strict=True):
            if isinstance(v, fr_video.VideoReaderWrapper):
                refs.append(_VideoRef(str(info.path), float(info.frame_rate),
                                      getattr(v, "_backend", backend)))
            else:
                refs.append(_VideoRef(str(info.path), float(info.frame_rate), reader=v))
        if not refs:
            raise TrackingError("no videos to track")
        return refs
    for attr in ("paths_videos", "paths"):
        if hasattr(obj, attr) and not isinstance(obj, (str, os.PathLike, np.ndarray)):
            obj = list(getattr(obj, attr))
            break
    if isinstance(obj, (str, os.PathLike, np.ndarray)):
        obj = [obj]
    videos = list(obj)
    if not videos:
        raise TrackingError("no videos to track")
    out: list[np.ndarray | _VideoRef] = []
    for v in videos:
        if isinstance(v, np.ndarray):
            if v.ndim not in (3, 4) or v.dtype != np.uint8:
                raise TrackingError(f"video array: {v.shape} {v.dtype}, expected (T, H, W[, C]) "
                                    "uint8")
            out.append(v)
        elif fr_video._is_remote(v):
            out.append(_VideoRef(v))  # probed (and validated) over the network
        elif isinstance(v, (str, os.PathLike)):
            p = Path(v)
            if not p.is_file():
                raise TrackingError(f"{p}: no such video file")
            out.append(_VideoRef(str(p)))
        else:
            raise TrackingError(f"cannot read frames from a {type(v).__name__}")
    return out


def _video_shape(v: np.ndarray | _VideoRef) -> tuple[tuple[int, int], int]:
    if isinstance(v, np.ndarray):
        return (int(v.shape[1]), int(v.shape[2])), int(v.shape[0])
    return v.shape_and_length()


def _chain_video_chunks(videos: Sequence[np.ndarray | _VideoRef], chunk_size: int = 32
                        ) -> Iterator[np.ndarray]:
    for v in videos:
        if isinstance(v, np.ndarray):
            yield from as_chunks(v, chunk_size)
        else:
            yield from v.gray_chunks(chunk_size)


def _skip_frames(chunks: Iterable[np.ndarray], n: int) -> Iterator[np.ndarray]:
    for c in chunks:
        if n >= c.shape[0]:
            n -= c.shape[0]
            continue
        yield c[n:]
        n = 0


def _split_result(res: TrackingResult, lengths: Sequence[int]) -> list[TrackingResult]:
    out = []
    edges = np.concatenate([[0], np.cumsum(lengths)])
    v = res.violations
    for a, b in itertools.pairwise(edges):
        sel = (v["row"] >= a) & (v["row"] < b)
        viol = {"row": v["row"][sel] - a, "col": v["col"][sel], "data": v["data"][sel],
                "shape": np.array([b - a, res.point_positions.shape[0]], dtype=np.int64)}
        frac = float(np.unique(viol["row"]).size) / max(int(b - a), 1)
        out.append(dataclasses.replace(
            res, points_tracked=res.points_tracked[a:b], violations=viol,
            violation_fraction=frac, n_frames=int(b - a),
            idx_start=int(min(max(res.idx_start - a, 0), b - a)),
            last_points=res.points_tracked[b - 1].copy()))
    return out
