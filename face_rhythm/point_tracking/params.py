"""Tracking parameters: the only place their defaults live.

:class:`TrackingParams` holds every parameter of the tracker (flat, in pixels and frames);
:class:`TrackingConfig` is the workflow's whole ``tracking`` config section (the tracker's
parameters plus ``contiguous``, ``idx_start``, ``chunk_size`` and ``device``). Both are built
from the original's nested dicts (``params_optical_flow``, ``params_clahe``,
``params_outlier_handling``) under the one parameter policy of :mod:`face_rhythm.params`: an
unknown key raises :class:`~face_rhythm.errors.TrackingError` naming the section and the key,
with a close-match suggestion.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from ..devices import resolve_device
from ..errors import TrackingError
from ..params import check_keys, from_mapping

logger = logging.getLogger(__name__)

__all__ = ["PROJECT_PARAMS", "REFERENCE_PARAMS", "SECTION_KEYS", "ClaheParams", "TrackingConfig",
           "TrackingParams", "check_device"]

_OPTICAL_FLOW_KEYS = frozenset({"method", "mesh_rigidity", "mesh_n_neighbors",
                                "mesh_include_self", "relaxation", "kwargs_method"})
_KWARGS_METHOD_KEYS = frozenset({"winSize", "maxLevel", "criteria", "minEigThreshold"})
_OUTLIER_KEYS = frozenset({"threshold_displacement", "framesHalted_before",
                           "framesHalted_after"})
_CLAHE_KEYS = frozenset({"clipLimit", "tileGridSize"})
#: Keys of the ``tracking`` section that are :class:`TrackingConfig` fields of their own.
_STAGE_KEYS = frozenset({"contiguous", "idx_start", "chunk_size", "device"})
#: Every key of the workflow's ``tracking`` config section.
SECTION_KEYS = frozenset({"params_optical_flow", "params_clahe", "params_outlier_handling",
                          "relaxation_during_freeze_frames", "mask_margin"}) | _STAGE_KEYS


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
        check_keys(of, _OPTICAL_FLOW_KEYS, "params_optical_flow", TrackingError)
        method = of.get("method", "lucas_kanade")
        if method != "lucas_kanade":
            raise TrackingError(f"params_optical_flow.method={method!r}: only 'lucas_kanade' "
                                "is supported")
        km = dict(of.get("kwargs_method") or {})
        check_keys(km, _KWARGS_METHOD_KEYS, "params_optical_flow.kwargs_method",
                   TrackingError)
        oh = dict(params_outlier_handling or {})
        check_keys(oh, _OUTLIER_KEYS, "params_outlier_handling", TrackingError)
        if isinstance(params_clahe, str):
            if params_clahe != "default":
                raise TrackingError(f"params_clahe={params_clahe!r}: give a dict or None")
            clahe = base.clahe
        elif params_clahe is None:
            clahe = None
        else:
            pc = dict(params_clahe)
            check_keys(pc, _CLAHE_KEYS, "params_clahe", TrackingError)
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

        The section's other keys (``contiguous``, ``idx_start``, ``chunk_size``, ``device``:
        see :class:`TrackingConfig`) are allowed and not used here; any other key raises
        :class:`TrackingError` with a close-match suggestion.
        """
        check_keys(tracking, SECTION_KEYS, "tracking", TrackingError)
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


#: The project's defaults, chosen by measurement (docs/tracking.md).
PROJECT_PARAMS = TrackingParams()

#: The original face-rhythm pipeline's defaults (facts.md), for comparisons and benchmarks.
REFERENCE_PARAMS = TrackingParams(
    win_size=(20, 20), max_level=2, criteria=(3, 2, 0.03), mesh_rigidity=0.025,
    mesh_n_neighbors=8, mesh_include_self=True, relaxation=0.0015,
    clahe=ClaheParams(40.0, (150, 150)), threshold_displacement=150.0,
    frames_halted_before=10, frames_halted_after=10, relaxation_during_freeze_frames=True,
    mask_margin=0)


@dataclasses.dataclass(frozen=True)
class TrackingConfig:
    """The workflow's ``tracking`` config section (see config/README.md).

    Attributes
    ----------
    params : TrackingParams
        The tracker's parameters (``params_optical_flow``, ``params_clahe``,
        ``params_outlier_handling``, ``relaxation_during_freeze_frames``, ``mask_margin``).
    contiguous : bool
        Continue each video from the points where the session's previous video ended.
    idx_start : int
        First frame tracked (of the first video, when ``contiguous``); earlier frames hold
        the start positions.
    chunk_size : int
        Frames per block decoded and written to ``tracking.h5``.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"``; tracking always runs on the CPU
        (:func:`check_device`).
    """

    params: TrackingParams = PROJECT_PARAMS
    contiguous: bool = False
    idx_start: int = 0
    chunk_size: int = 32
    device: str = "cpu"

    def __post_init__(self):
        object.__setattr__(self, "contiguous", bool(self.contiguous))
        if int(self.idx_start) < 0:
            raise TrackingError(f"tracking.idx_start={self.idx_start}: must be >= 0")
        object.__setattr__(self, "idx_start", int(self.idx_start))
        if int(self.chunk_size) < 1:
            raise TrackingError(f"tracking.chunk_size={self.chunk_size}: must be >= 1")
        object.__setattr__(self, "chunk_size", int(self.chunk_size))

    @classmethod
    def from_config(cls, tracking: Mapping[str, Any] | TrackingConfig | None) -> TrackingConfig:
        """The section as a :class:`TrackingConfig`; absent keys take the defaults.

        Raises :class:`TrackingError` for an unknown key (with a close-match suggestion) or a
        value out of range.
        """
        if isinstance(tracking, cls):
            return tracking
        tracking = dict(tracking or {})
        params = TrackingParams.from_config(tracking)
        stage = {k: v for k, v in tracking.items() if k in _STAGE_KEYS}
        return from_mapping(cls, {**stage, "params": params}, "tracking", error=TrackingError)

    def to_config(self) -> dict[str, Any]:
        """The section as a JSON-ready dict (inverse of :meth:`from_config`)."""
        return {**self.params.to_reference(), "contiguous": self.contiguous,
                "idx_start": self.idx_start, "chunk_size": self.chunk_size,
                "device": self.device}


def check_device(device: str) -> str:
    """The device tracking runs on: always ``"cpu"``.

    OpenCV's pyramidal LK, CLAHE and the mesh arithmetic run on the CPU (the pip OpenCV has
    no CUDA module, and for ~1000 points the mesh arithmetic is faster in numpy than on a
    GPU after transfers). ``"auto"`` says so at info level, ``"cuda"`` with a warning. The
    name returned is the one resolver's (:func:`face_rhythm.devices.resolve_device`) for the
    CPU.
    """
    if device not in ("cpu", "cuda", "auto"):
        raise TrackingError(f"tracking.device={device!r}: expected 'cpu', 'cuda' or 'auto'")
    if device == "cuda":
        logger.warning("tracking.device='cuda': the tracker runs on the CPU (no GPU path)")
    elif device == "auto":
        logger.info("tracking.device='auto': tracking on the CPU")
    return resolve_device("cpu", key="tracking.device", error=TrackingError)
