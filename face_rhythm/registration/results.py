"""The registration stage's files: ``reference_frame.h5`` and ``registration.h5``.

One writer and one reader each; nothing else opens these files with h5py.

=======================  ==========================  ===========================================
file                     write                       read
=======================  ==========================  ===========================================
``reference_frame.h5``   :func:`save_reference_      :func:`read_reference_frame_file` ->
                         frame_h5`                   :class:`ReferenceFrameFile`
                                                     (:func:`load_reference_frame_h5`: a dict)
``registration.h5``      :func:`save_registration_   :func:`read_registration_file` ->
                         h5`                         :class:`RegistrationFile`
                                                     (:func:`load_registration_h5`: a dict)
=======================  ==========================  ===========================================
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from face_rhythm.atomic import atomic_h5
from face_rhythm.h5_handling import load_top_datasets
from face_rhythm.provenance import find_run_info, write_run_info

from .params import ReferenceFrameParams
from .reference_frame import ReferenceFrame, to_uint8
from .register import RegistrationResult
from .warps import warp_matrix_to_remappingIdx

logger = logging.getLogger(__name__)

__all__ = [
    "ReferenceFrameFile",
    "RegistrationFile",
    "load_reference_frame_h5",
    "load_registration_h5",
    "read_reference_frame_file",
    "read_registration_file",
    "save_reference_frame_h5",
    "save_registration_h5",
]


# ----------------------------------------------------------------------------- reference_frame.h5


def _params_json(params: ReferenceFrameParams) -> str:
    return json.dumps(dataclasses.asdict(params), default=str, sort_keys=True)


def save_reference_frame_h5(ref: ReferenceFrame, path: str | os.PathLike,
                            run_info: Mapping[str, Any] | None = None,
                            videos: Sequence[str] | None = None) -> Path:
    """Write ``reference_frame.h5`` atomically.

    Keys: ``reference_frame`` (H, W) float32 [0, 1]; ``reference_frame_uint8``;
    ``mean_still_frame`` (H, W) uint8; ``mean_frame`` (H, W) float32; ``spectral_power``
    (n,) f32; ``kept`` (n,) bool; ``video_index``, ``frame_index`` (n,) int64;
    ``frame_rate`` (Hz); ``threshold``; ``videos`` (strings); ``params`` (JSON);
    ``run_info/``.
    """
    with atomic_h5(path) as f:
        f.create_dataset("reference_frame", data=ref.image.astype(np.float32), compression="gzip")
        f.create_dataset("reference_frame_uint8", data=to_uint8(ref.image), compression="gzip")
        f.create_dataset("mean_still_frame",
                         data=np.clip(np.rint(ref.mean_still), 0, 255).astype(np.uint8),
                         compression="gzip")
        f.create_dataset("mean_frame", data=ref.mean_all.astype(np.float32), compression="gzip")
        f.create_dataset("spectral_power", data=ref.power.astype(np.float32))
        f.create_dataset("kept", data=ref.kept.astype(bool))
        f.create_dataset("video_index", data=ref.video_index.astype(np.int64))
        f.create_dataset("frame_index", data=ref.frame_index.astype(np.int64))
        f.create_dataset("frame_rate", data=float(ref.frame_rate))
        f.create_dataset("threshold", data=float(ref.threshold))
        f.create_dataset("params", data=_params_json(ref.params))
        if videos is not None:
            f.create_dataset("videos", data=np.array([str(v) for v in videos], dtype=object),
                             dtype=h5py.string_dtype())
        write_run_info(f, run_info)
    logger.info("saved reference frame to %s", path)
    return Path(path)


def load_reference_frame_h5(path: str | os.PathLike) -> dict[str, Any]:
    """Read ``reference_frame.h5`` into a dict (see :func:`save_reference_frame_h5`)."""
    return load_top_datasets(path, "reference_frame", "reference_frame.h5")


@dataclasses.dataclass(frozen=True)
class ReferenceFrameFile:
    """The contents of ``reference_frame.h5`` (see :func:`save_reference_frame_h5`).

    Attributes
    ----------
    reference_frame : (H, W) float32
        The reference frame in [0, 1].
    reference_frame_uint8 : (H, W) uint8
        The same stretched to 0-255.
    mean_still_frame : (H, W) uint8
        Mean of the kept (still) frames, grey levels.
    mean_frame : (H, W) float32
        Mean of all frames used, grey levels 0-255.
    spectral_power : (n,) float32
        Spectral power per frame (NaN at the video edges).
    kept : (n,) bool
        Frames averaged into the reference.
    video_index, frame_index : (n,) int64
        Which video and frame each entry is.
    frame_rate : float
        Hz.
    threshold : float
        Power at the kept percentile.
    videos : tuple of str
        The session's videos (empty when not stored).
    params : dict
        The :class:`~.params.ReferenceFrameParams` used.
    run_info : dict or None
        Provenance.
    """

    reference_frame: np.ndarray
    reference_frame_uint8: np.ndarray
    mean_still_frame: np.ndarray
    mean_frame: np.ndarray
    spectral_power: np.ndarray
    kept: np.ndarray
    video_index: np.ndarray
    frame_index: np.ndarray
    frame_rate: float
    threshold: float
    videos: tuple[str, ...] = ()
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    run_info: dict[str, Any] | None = None


def _read_run_info(path: str | os.PathLike) -> dict[str, Any] | None:
    with h5py.File(path, "r") as f:
        return find_run_info(f)


def read_reference_frame_file(path: str | os.PathLike) -> ReferenceFrameFile:
    """Read ``reference_frame.h5``.

    Raises
    ------
    FileNotFoundError, ValueError
        A missing file, or one that is not a ``reference_frame.h5`` (the message names it).
    """
    d = load_reference_frame_h5(path)
    return ReferenceFrameFile(
        reference_frame=np.asarray(d["reference_frame"], np.float32),
        reference_frame_uint8=np.asarray(d["reference_frame_uint8"], np.uint8),
        mean_still_frame=np.asarray(d["mean_still_frame"], np.uint8),
        mean_frame=np.asarray(d["mean_frame"], np.float32),
        spectral_power=np.asarray(d["spectral_power"], np.float32),
        kept=np.asarray(d["kept"], bool),
        video_index=np.asarray(d["video_index"], np.int64),
        frame_index=np.asarray(d["frame_index"], np.int64),
        frame_rate=float(d["frame_rate"]), threshold=float(d["threshold"]),
        videos=tuple(d.get("videos", ())), params=json.loads(d.get("params", "{}")),
        run_info=_read_run_info(path))


# ----------------------------------------------------------------------------- registration.h5


def save_registration_h5(path: str | os.PathLike, result: RegistrationResult, index: int,
                         names: Sequence[str], registered_image: np.ndarray | None = None,
                         params: Mapping[str, Any] | None = None,
                         run_info: Mapping[str, Any] | None = None) -> Path:
    """Write one image's registration (``registration.h5``) atomically.

    Keys: ``warp_matrix`` (3, 3) float64 (template -> this session's coordinates);
    ``remappingIdx`` (H, W, 2) float32 when non-rigid refinement ran; ``z_initial``,
    ``z_final`` (float), ``passed`` (bool), ``z_threshold``; ``path`` (session names from
    this session to the template); ``session``, ``template_session``, ``method``;
    ``sessions`` and ``z_matrix`` (N, N) when the all-pairs search ran;
    ``registered_reference_frame`` (H, W) float32; ``params`` (JSON); ``run_info/``.
    """
    names = [str(n) for n in names]
    str_dt = h5py.string_dtype()
    with atomic_h5(path) as f:
        f.create_dataset("warp_matrix", data=np.asarray(result.warp_matrices[index], np.float64))
        if result.remappingIdx_nonrigid is not None:
            f.create_dataset("remappingIdx",
                             data=np.asarray(result.remappingIdx_nonrigid[index], np.float32),
                             compression="gzip")
        f.create_dataset("z_initial", data=float(result.z_initial[index]))
        f.create_dataset("z_final", data=float(result.z_final[index]))
        f.create_dataset("passed", data=bool(result.passed[index]))
        f.create_dataset("z_threshold", data=float(result.z_threshold))
        f.create_dataset("path", data=np.array([names[k] for k in result.paths[index]],
                                               dtype=object), dtype=str_dt)
        f.create_dataset("session", data=names[index])
        f.create_dataset("template_session", data=names[result.template_index])
        f.create_dataset("method", data=str(result.method))
        if result.z_matrix is not None:
            f.create_dataset("sessions", data=np.array(names, dtype=object), dtype=str_dt)
            f.create_dataset("z_matrix", data=np.asarray(result.z_matrix, np.float64))
        if registered_image is not None:
            f.create_dataset("registered_reference_frame",
                             data=np.asarray(registered_image, np.float32), compression="gzip")
        f.create_dataset("params", data=json.dumps(dict(params or {}), default=str,
                                                   sort_keys=True))
        write_run_info(f, run_info)
    logger.info("saved registration of %s (z=%.1f) to %s", names[index],
                float(result.z_final[index]), path)
    return Path(path)


def load_registration_h5(path: str | os.PathLike) -> dict[str, Any]:
    """Read ``registration.h5`` (see :func:`save_registration_h5`); strings decoded."""
    return load_top_datasets(path, "warp_matrix", "registration.h5")


@dataclasses.dataclass(frozen=True)
class RegistrationFile:
    """The contents of one session's ``registration.h5`` (see :func:`save_registration_h5`).

    Attributes
    ----------
    warp_matrix : (3, 3) float64
        Template -> this session's coordinates (NaN when the registration failed).
    z_initial, z_final : float
        Alignment z-scores of the first and the final registration.
    passed : bool
        ``z_final >= z_threshold``.
    z_threshold : float
    path : tuple of str
        Session names from this session to the template (the registration route).
    session, template_session, method : str
    remappingIdx : (H, W, 2) float32 or None
        Full remap field when non-rigid refinement ran.
    sessions : tuple of str or None
        Row / column names of ``z_matrix``.
    z_matrix : (N, N) float64 or None
        All-pairs scores, when the path search ran.
    registered_reference_frame : (H, W) float32 or None
        This session's reference frame warped into the template's frame.
    params : dict
        The ``alignment`` section used.
    run_info : dict or None
        Provenance.
    """

    warp_matrix: np.ndarray
    z_initial: float
    z_final: float
    passed: bool
    z_threshold: float
    path: tuple[str, ...]
    session: str
    template_session: str
    method: str
    remappingIdx: np.ndarray | None = None
    sessions: tuple[str, ...] | None = None
    z_matrix: np.ndarray | None = None
    registered_reference_frame: np.ndarray | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    run_info: dict[str, Any] | None = None

    def remapping_index(self, hw: Sequence[int]) -> np.ndarray:
        """(H, W, 2) float32 remap field (template grid -> this session): the non-rigid one
        when stored, else the warp matrix's over an (H, W) grid."""
        if self.remappingIdx is not None:
            return self.remappingIdx
        return warp_matrix_to_remappingIdx(self.warp_matrix, int(hw[1]), int(hw[0]))


def read_registration_file(path: str | os.PathLike) -> RegistrationFile:
    """Read ``registration.h5``.

    Raises
    ------
    FileNotFoundError, ValueError
        A missing file, or one that is not a ``registration.h5`` (the message names it).
    """
    d = load_registration_h5(path)

    def opt(key: str, dtype) -> np.ndarray | None:
        return None if key not in d else np.asarray(d[key], dtype)

    return RegistrationFile(
        warp_matrix=np.asarray(d["warp_matrix"], np.float64),
        z_initial=float(d["z_initial"]), z_final=float(d["z_final"]),
        passed=bool(d["passed"]), z_threshold=float(d["z_threshold"]),
        path=tuple(d["path"]), session=str(d["session"]),
        template_session=str(d["template_session"]), method=str(d["method"]),
        remappingIdx=opt("remappingIdx", np.float32),
        sessions=tuple(d["sessions"]) if "sessions" in d else None,
        z_matrix=opt("z_matrix", np.float64),
        registered_reference_frame=opt("registered_reference_frame", np.float32),
        params=json.loads(d.get("params", "{}")), run_info=_read_run_info(path))
