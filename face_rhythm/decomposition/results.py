"""``tca.h5``, the result file of the decomposition: one writer, one reader.

:func:`write_tca_h5` stores a :class:`~.pipeline.TCAResult` (the dict it stores is
:func:`tca_h5_dict`); :func:`read_tca_file` returns a :class:`TCAFile`. Scripts, the NWB
export, the figures and the report read ``tca.h5`` through :func:`read_tca_file` only.

Keys (``docs/outputs.md``): ``factors/{dim}`` (L, R) float32 with unit-norm columns, one per
decomposed dim (``(xy points)``: index ``xy * N + point``, ``frequency``, ``time``);
``factors_points_xy`` (2, N, R) float32; ``weights`` (R,) float64; ``evr`` (R,) float64,
descending, and ``evr_total``; ``order`` (R,) int64 (index in the unordered fit); ``rank``;
``dims``; ``frequencies`` (F,) Hz; ``point_positions`` (N, 2) float32 (x, y) px;
``time_factors/{session}/{video}`` (T_v, R) float32 and ``time_axis_seconds/{session}/{video}``
(T_v,) float64; ``sessions``, ``videos`` (per element, in order); ``rec_errors`` (n_iter,)
float64 and ``n_iter``; ``params`` (JSON: :class:`~.params.TCAParams`, the fit's facts and the
rearrangement); ``point_positions_per_session/{session}`` (N, 2) float32 (workflow); and the
``run_info`` group.

The streamed path (``docs/tca.md``) writes two kinds of part files before ``tca.h5``, through
:func:`write_tca_part_h5` / :func:`read_tca_part_file`: the fit (``kind = "fit"``:
``factors/(xy points)`` (2N, R) and ``factors/frequency`` (F, R) float64 unit-norm,
``weights``, ``rec_errors``, ``n_iter``, ``sample/{session}/{video}`` (bin indices),
``lengths/{session}/{video}``, ``sessions``, ``videos``, ``frequencies``,
``point_positions_per_session``, ``params`` JSON) and one video's time factors
(``kind = "time_factors"``: ``time_factors`` (T_v, R) float64 unnormalised,
``time_axis_seconds``, ``session``, ``video``, ``stats/{ss_x, s_x, n, xy}``), each with
``run_info``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from face_rhythm.errors import TCAError
from face_rhythm.h5_handling import h5Obj_to_dict, simple_save
from face_rhythm.provenance import find_run_info, run_info_to_h5_dict

from .dims import concatenated_name

if TYPE_CHECKING:
    from .pipeline import TCAResult

__all__ = ["TCAFile", "read_tca_file", "read_tca_part_file", "tca_h5_dict", "write_tca_h5",
           "write_tca_part_h5"]


def tca_h5_dict(result: TCAResult, element_meta: Mapping[str, Mapping[str, Any]],
                frequencies: np.ndarray, point_positions: np.ndarray,
                run_info: Mapping[str, Any] | None = None,
                extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The contents of ``tca.h5`` for one decomposition of ``[xy, points, frequency, time]``.

    Parameters
    ----------
    result : TCAResult
        From :func:`run_tca` with ``concatenate_dims=[["xy", "points"]]``.
    element_meta : mapping element key -> {"session", "video", "time_axis_seconds"}
        In element order.
    frequencies : (F,) Hz
    point_positions : (N, 2) float32 (x, y)
    run_info : dict, optional
        From :func:`face_rhythm.provenance.run_info`. Put the fit's wall time
        (``result.fit_info["seconds"]``) in its ``extra`` as ``fit_seconds``: nothing outside
        ``run_info`` depends on the clock, so two identical runs give equal files there.

    Returns
    -------
    dict
        The keys of ``tca.h5`` (``docs/outputs.md``); see the module docs.
    """
    r = result
    R = r.weights.size
    factors = {d: f.astype(np.float32) for d, f in r.factors.items()}
    out: dict[str, Any] = {
        "factors": factors,
        "weights": r.weights.astype(np.float64),
        "evr": r.evr.astype(np.float64),
        "evr_total": float(r.evr_total),
        "order": r.order.astype(np.int64),
        "rank": int(R),
        "dims": np.array(r.dims, dtype=object),
        "frequencies": np.asarray(frequencies, dtype=np.float64),
        "point_positions": np.asarray(point_positions, dtype=np.float32),
        "rec_errors": np.asarray(r.fit_info.get("rec_errors", []), dtype=np.float64),
        "n_iter": int(r.fit_info.get("n_iter", 0)),
        "params": json.dumps({**r.params.to_dict(), "fit": {
            k: v for k, v in r.fit_info.items() if k not in _NOT_IN_PARAMS},
            "rearrangement": r.rearrangement.to_dict()}, default=_json_default, sort_keys=True),
    }
    pts_name = concatenated_name("xy", "points")
    first = next(iter(r.rearranged.values()))
    if pts_name in first and first[pts_name].ndim == 3:
        out["factors_points_xy"] = first[pts_name].astype(np.float32)
    time_factors: dict[str, dict[str, np.ndarray]] = {}
    time_axes: dict[str, dict[str, np.ndarray]] = {}
    keys = list(element_meta)
    for i, key in enumerate(keys):
        meta = element_meta[key]
        s, v = str(meta["session"]), str(meta["video"])
        if r.rearrangement.method_handling_dictElements == "concatenate":
            tf = r.rearranged[key]["time"]
        elif r.rearrangement.method_handling_dictElements == "stack":
            tf = r.factors["time"] * r.factors[r.dims[0]][i][None, :]
        else:
            tf = r.factors["time"]
        time_factors.setdefault(s, {})[v] = np.asarray(tf, dtype=np.float32)
        time_axes.setdefault(s, {})[v] = np.asarray(meta["time_axis_seconds"], dtype=np.float64)
    out["time_factors"] = time_factors
    out["time_axis_seconds"] = time_axes
    out["sessions"] = np.array([str(element_meta[k]["session"]) for k in keys], dtype=object)
    out["videos"] = np.array([str(element_meta[k]["video"]) for k in keys], dtype=object)
    if extra:
        out.update(extra)
    if run_info is not None:
        out["run_info"] = run_info_to_h5_dict(run_info)
    return out


#: fit_info entries left out of the ``params`` JSON: arrays stored on their own, and the wall
#: time, which differs between identical runs (it belongs in ``run_info``).
_NOT_IN_PARAMS = ("rec_errors", "seconds")


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)


def write_tca_h5(path: str | os.PathLike, result: TCAResult,
                 element_meta: Mapping[str, Mapping[str, Any]], frequencies: np.ndarray,
                 point_positions: np.ndarray, run_info: Mapping[str, Any] | None = None,
                 extra: Mapping[str, Any] | None = None) -> TCAFile:
    """Write ``tca.h5`` for one decomposition (atomically: temporary file, then rename).

    Parameters
    ----------
    path : path-like
        Destination; its folder is created, an existing file replaced.
    result, element_meta, frequencies, point_positions, run_info, extra
        As for :func:`tca_h5_dict`, which builds what is stored.

    Returns
    -------
    TCAFile
        What was written, as :func:`read_tca_file` would read it back.
    """
    contents = tca_h5_dict(result, element_meta, frequencies, point_positions,
                           run_info=run_info, extra=extra)
    simple_save(contents, path, write_mode="w")
    return TCAFile.from_dict(contents, path=path, run_info=run_info)


@dataclasses.dataclass(frozen=True)
class TCAFile:
    """The contents of a ``tca.h5`` (:func:`read_tca_file`). Absent keys are ``None`` / empty.

    Attributes
    ----------
    path : Path or None
        The file read (``None`` when built from a dict).
    factors : dict dim -> (L, R) float32
        Unit-norm columns, one per decomposed dim (e.g. ``"(xy points)"``, ``"frequency"``,
        ``"time"``).
    rank : int
        Number of components R.
    dims : tuple of str
        The decomposed dims, in order.
    weights : (R,) float64 or None
    evr : (R,) float64 or None
        EVR of each component (descending).
    evr_total : float or None
        EVR of the full reconstruction.
    order : (R,) int64 or None
        Index of each component in the unordered fit.
    factors_points_xy : (2, N, R) float32 or None
        The ``(xy points)`` factor split into x and y loadings.
    frequencies : (F,) float64 or None
        Hz.
    point_positions : (N, 2) float32 or None
        (x, y) px.
    point_positions_per_session : dict session -> (N, 2) float32
    time_factors : dict session -> dict video -> (T_v, R) float32
    time_axis_seconds : dict session -> dict video -> (T_v,) float64
    sessions, videos : tuple of str
        Session and video of each element, in element order.
    rec_errors : (n_iter,) float64
        Relative reconstruction error per iteration (as tensorly reports it).
    n_iter : int
    params : dict
        The ``params`` JSON: :class:`~.params.TCAParams` fields, ``fit`` and ``rearrangement``.
    run_info : dict or None
        Provenance (:func:`face_rhythm.provenance.read_run_info`).
    """

    path: Path | None
    factors: dict[str, np.ndarray]
    rank: int
    dims: tuple[str, ...]
    weights: np.ndarray | None = None
    evr: np.ndarray | None = None
    evr_total: float | None = None
    order: np.ndarray | None = None
    factors_points_xy: np.ndarray | None = None
    frequencies: np.ndarray | None = None
    point_positions: np.ndarray | None = None
    point_positions_per_session: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    time_factors: dict[str, dict[str, np.ndarray]] = dataclasses.field(default_factory=dict)
    time_axis_seconds: dict[str, dict[str, np.ndarray]] = dataclasses.field(
        default_factory=dict)
    sessions: tuple[str, ...] = ()
    videos: tuple[str, ...] = ()
    rec_errors: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    n_iter: int = 0
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    run_info: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], path: str | os.PathLike | None = None,
                  run_info: Mapping[str, Any] | None = None) -> TCAFile:
        """From the dict of :func:`tca_h5_dict` or the file's datasets (``h5Obj_to_dict``).

        Raises
        ------
        TCAError
            No ``factors`` (not a face-rhythm ``tca.h5``).
        """
        where = f"{path}: " if path is not None else ""
        factors = d.get("factors")
        if not isinstance(factors, Mapping) or not factors:
            raise TCAError(f"{where}no 'factors' group (not a face-rhythm tca.h5)")
        factors = {str(k): np.asarray(v, dtype=np.float32) for k, v in factors.items()}
        sessions = tuple(_strings(d.get("sessions", ())))
        videos = tuple(_strings(d.get("videos", ())))
        elements = list(zip(sessions, videos))
        rank = int(d["rank"]) if "rank" in d else int(next(iter(factors.values())).shape[-1])
        dims = tuple(_strings(d["dims"])) if "dims" in d else tuple(factors)
        evr = d.get("evr", d.get("explained_variance_ratio"))
        params = d.get("params")
        if isinstance(params, bytes):
            params = params.decode()
        return cls(
            path=None if path is None else Path(path), factors=factors, rank=rank, dims=dims,
            weights=_array(d.get("weights"), np.float64),
            evr=None if evr is None else np.asarray(evr, dtype=np.float64).ravel(),
            evr_total=float(d["evr_total"]) if "evr_total" in d else None,
            order=_array(d.get("order"), np.int64),
            factors_points_xy=_array(d.get("factors_points_xy"), np.float32),
            frequencies=_array(d.get("frequencies"), np.float64),
            point_positions=_array(d.get("point_positions"), np.float32),
            point_positions_per_session={
                str(s): np.asarray(v, dtype=np.float32)
                for s, v in (d.get("point_positions_per_session") or {}).items()},
            time_factors=_nested(d.get("time_factors"), np.float32, elements),
            time_axis_seconds=_nested(d.get("time_axis_seconds"), np.float64, elements),
            sessions=sessions, videos=videos,
            rec_errors=np.asarray(d.get("rec_errors", np.zeros(0)), dtype=np.float64),
            n_iter=int(d.get("n_iter", 0)),
            params=json.loads(params) if isinstance(params, str) else dict(params or {}),
            run_info=None if run_info is None else dict(run_info))


def _read_h5(path: Path, missing: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The whole file as a dict (without ``run_info``) and its run_info; ``missing``: the
    message when there is no such file."""
    if not path.is_file():
        raise TCAError(f"{path}: {missing}")
    with h5py.File(path, "r") as f:
        info = find_run_info(f)
        d = h5Obj_to_dict(f)
    d.pop("run_info", None)
    return d, info


def read_tca_file(path: str | os.PathLike) -> TCAFile:
    """Read a ``tca.h5`` (written by :func:`write_tca_h5`) into a :class:`TCAFile`.

    Files with fewer keys (only ``factors``, say) are read too: what is absent is ``None``
    or empty.

    Raises
    ------
    TCAError
        A missing file, or one without ``factors``.
    """
    path = Path(path)
    d, info = _read_h5(path, "TCA file not found")
    return TCAFile.from_dict(d, path=path, run_info=info)


def _array(value: Any, dtype: type) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=dtype)


def _strings(value: Any) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(value).ravel()]


def _nested(value: Mapping[str, Mapping[str, Any]] | None, dtype: type,
            elements: list[tuple[str, str]]) -> dict[str, dict[str, np.ndarray]]:
    """session -> video -> array, in element order (HDF5 gives names sorted), then the rest."""
    value = {str(s): {str(v): a for v, a in vids.items()} for s, vids in (value or {}).items()}
    order = [e for e in elements if e[0] in value and e[1] in value[e[0]]]
    order += [(s, v) for s, vids in value.items() for v in vids if (s, v) not in order]
    out: dict[str, dict[str, np.ndarray]] = {}
    for s, v in order:
        out.setdefault(s, {})[v] = np.asarray(value[s][v], dtype=dtype)
    return out


#: The kinds of part files of the streamed path (:func:`write_tca_part_h5`).
PART_KINDS = ("fit", "time_factors")


def write_tca_part_h5(path: str | os.PathLike, kind: str, contents: Mapping[str, Any],
                      run_info: Mapping[str, Any] | None = None) -> Path:
    """Write a part file of the streamed path (atomically; keys in the module docs).

    Parameters
    ----------
    path : path-like
    kind : {"fit", "time_factors"}
    contents : mapping
        Nested dict of arrays, numbers and strings (``params`` may be a dict: stored as JSON).
    run_info : dict, optional
    """
    if kind not in PART_KINDS:
        raise TCAError(f"part file kind {kind!r} is not one of {PART_KINDS}")
    out = dict(contents)
    if isinstance(out.get("params"), Mapping):
        out["params"] = json.dumps(out["params"], default=_json_default, sort_keys=True)
    out["kind"] = kind
    if run_info is not None:
        out["run_info"] = run_info_to_h5_dict(run_info)
    return simple_save(out, path, write_mode="w")


def read_tca_part_file(path: str | os.PathLike, kind: str) -> dict[str, Any]:
    """Read a part file of the streamed path (``params`` decoded, ``run_info`` read).

    Raises
    ------
    TCAError
        A missing file, or one that is not a part file of this ``kind``.
    """
    path = Path(path)
    d, info = _read_h5(path, "TCA part file not found (run the rule that writes it)")
    got = d.get("kind")
    got = got.decode() if isinstance(got, bytes) else got
    if got != kind:
        raise TCAError(f"{path}: not a TCA {kind!r} part file (kind {got!r})")
    if isinstance(d.get("params"), (str, bytes)):
        p = d["params"]
        d["params"] = json.loads(p.decode() if isinstance(p, bytes) else p)
    d["run_info"] = info
    d["path"] = path
    return d
