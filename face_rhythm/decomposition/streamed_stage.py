"""The streamed TCA of the workflow, files in and files out (``docs/tca.md``): three steps
whose peak memory does not grow with the total recording length.

- :func:`tca_fit_stage` (rule ``tca_fit``): the points and frequency factors, fitted with
  the in-memory fit on a seeded sample of time bins read from every video's
  ``spectrogram.h5`` -> the fit part file.
- :func:`tca_time_factors_stage` (rule ``tca_time_factors``, one job per video): that video's
  time factors against the fixed factors (NNLS per time bin, chunked over time) and its part
  of the full-data statistics -> a time-factor part file.
- :func:`tca_collect_stage` (rule ``tca_collect``): the full-data relative error and EVR,
  components ordered by EVR -> the same ``tca.h5`` as the in-memory path (and figures).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from face_rhythm.errors import TCAError
from face_rhythm.provenance import run_info
from face_rhythm.rois import read_rois_h5
from face_rhythm.runlog import progress_bar
from face_rhythm.spectral_analysis import open_spectrogram_file

from .dims import concatenated_name
from .figures import save_tca_figures, use_headless_backend
from .fit import _is_non_negative, check_fit_inputs, fit_cp
from .params import TCAParams, TCAStreamedParams
from .pipeline import TCAResult
from .rearrange import Rearrangement, rearrange_factors
from .results import TCAFile, read_tca_part_file, write_tca_h5, write_tca_part_h5
from .stage import _set_torch_threads, load_spectrograms
from .streamed import (
    add_statistics,
    chunk_statistics,
    full_fit_statistics,
    mttkrp_time,
    sample_time_bins,
    solve_time_factors,
    time_factor_gram,
)

logger = logging.getLogger(__name__)

__all__ = ["streamed_sample_mb", "tca_collect_stage", "tca_fit_stage",
           "tca_time_factors_stage"]

_PTS = concatenated_name("xy", "points")
_DIMS = [_PTS, "frequency", "time"]


def _params(config: Mapping[str, Any] | None) -> tuple[TCAParams, TCAStreamedParams]:
    """The fit's and the sample's parameters; refuses what the streamed path cannot do."""
    params = TCAParams.from_config(config)
    streamed = TCAStreamedParams.from_config(config)
    if params.combine != "concatenate":
        raise TCAError(f"tca.rearrange.combine {params.combine!r}: the streamed strategy "
                       "concatenates videos in time; use combine 'concatenate' or "
                       "tca.strategy 'in_memory'")
    if params.concatenate_dims != [["xy", "points"]]:
        raise TCAError(f"tca.rearrange.concatenate_dims {params.concatenate_dims}: the "
                       "streamed strategy needs [[xy, points]] (or tca.strategy 'in_memory')")
    if params.mean_subtract or params.std_divide:
        raise TCAError("tca.normalize (mean_subtract / std_divide) needs statistics over the "
                       "whole tensor: set both false or use tca.strategy 'in_memory'")
    return params, streamed


def streamed_sample_mb(spectrograms: Sequence[str | os.PathLike],
                       config: Mapping[str, Any] | None) -> float:
    """MB of the sample tensor :func:`tca_fit_stage` fits (for the rule's ``mem_mb``):
    ``2N x F x min(time_bins, total bins) x 4`` bytes (shapes read from the files' headers;
    0 when a file does not exist yet)."""
    streamed = TCAStreamedParams.from_config(config)
    total, row = 0, 0
    for p in spectrograms:
        if not Path(p).is_file():
            return 0.0
        with open_spectrogram_file(p) as spec:
            _, n, f, t = spec.shape
        total, row = total + t, 2 * n * f
    bins = min(total, -(-streamed.time_bins // streamed.block_bins) * streamed.block_bins)
    return row * bins * 4 / 1e6


def tca_fit_stage(spectrograms: Sequence[str | os.PathLike], fit_h5: str | os.PathLike,
                  config: Mapping[str, Any], *, session: str, videos: Sequence[str],
                  sessions: Sequence[str] | None = None, threads: int = 1) -> dict[str, Any]:
    """Fit the points and frequency factors on a seeded sample of time bins (rule
    ``tca_fit``).

    Parameters
    ----------
    spectrograms : sequence of path
        ``spectrogram.h5`` of every video of the decomposition, in time order.
    fit_h5 : path
        The fit part file (:func:`~.results.write_tca_part_h5`, ``kind="fit"``).
    config : mapping
        The ``tca`` section (``strategy``, ``streamed``: ``docs/tca.md``).
    session : str
        The decomposition (a session, or ``"all_sessions"``).
    videos, sessions : sequence of str
        Video and session of each file (``sessions`` default: ``session`` for all).
    threads : int

    Returns
    -------
    dict
        What was written.

    Raises
    ------
    TCAError
        Options the streamed path cannot do, files that do not fit together, a rank the
        sample cannot hold, before the fit.
    """
    cfg = dict(config)
    params, streamed = _params(cfg)
    paths = [str(p) for p in spectrograms]
    sessions = list(sessions or [session] * len(paths))
    chosen: list[np.ndarray] = []

    def bins(lengths: list[int]) -> list[np.ndarray]:
        chosen.extend(sample_time_bins(lengths, streamed.time_bins, streamed.block_bins,
                                       params.seed))
        return chosen

    data, meta, freqs, points = load_spectrograms(paths, sessions, list(videos), bins=bins)
    x = _sample_tensor(data)
    del data
    kwargs = params.method_kwargs()
    check_fit_inputs(x, params.method, kwargs, name=f"sampled tensor of {session!r}")
    _set_torch_threads(threads, load=params.backend == "pytorch")
    w, f, info = fit_cp(x, params.method, kwargs, backend=params.backend,
                        device=params.device, seed=params.seed, dtype=params.dtype,
                        name=f"sampled tensor of {session!r}")
    lengths = {m["session"]: {} for m in meta.values()}
    sample = {m["session"]: {} for m in meta.values()}
    for (m, idx) in zip(meta.values(), chosen):
        lengths[m["session"]][m["video"]] = np.int64(m["n_time"])
        sample[m["session"]][m["video"]] = idx
    contents = {
        "factors": {_PTS: f[0], "frequency": f[1]}, "weights": w,
        "rec_errors": np.asarray(info["rec_errors"], dtype=np.float64),
        "n_iter": int(info["n_iter"]), "sample": sample, "lengths": lengths,
        "sessions": np.array([m["session"] for m in meta.values()], dtype=object),
        "videos": np.array([m["video"] for m in meta.values()], dtype=object),
        "frequencies": np.asarray(freqs, dtype=np.float64),
        "point_positions_per_session": points,
        "params": {**params.to_dict(), "streamed": streamed.to_dict(),
                   "fit": {k: v for k, v in info.items() if k not in ("rec_errors", "seconds")},
                   "sample_shape": list(x.shape)}}
    ri = run_info(config={"tca": cfg}, inputs=paths,
                  extra={"session": session, "threads": threads,
                         "fit_seconds": info["seconds"], "n_iter": info["n_iter"]})
    write_tca_part_h5(fit_h5, "fit", contents, run_info=ri)
    logger.info("streamed TCA fit of %s: %d of %d time bins sampled, %s, wrote %s", session,
                x.shape[-1], sum(m["n_time"] for m in meta.values()), x.shape, fit_h5)
    return contents


def _sample_tensor(data: Mapping[str, np.ndarray]) -> np.ndarray:
    """(2, N, F, t_v) arrays -> the ``(2N, F, sum t_v)`` tensor, filled in place."""
    arrays = list(data.values())
    _, n, f, _ = arrays[0].shape
    x = np.empty((2 * n, f, sum(a.shape[-1] for a in arrays)), dtype=np.float32)
    t0 = 0
    for a in arrays:
        x[:, :, t0:t0 + a.shape[-1]] = a.reshape(2 * n, f, a.shape[-1])
        t0 += a.shape[-1]
    return x


def tca_time_factors_stage(spectrogram: str | os.PathLike, fit_h5: str | os.PathLike,
                           out_h5: str | os.PathLike, config: Mapping[str, Any], *,
                           session: str, video: str, threads: int = 1) -> dict[str, Any]:
    """One video's time factors against the fixed factors (rule ``tca_time_factors``).

    Reads the video's ``spectrogram.h5`` in chunks of ``tca.streamed.chunk_mb`` over time;
    for each chunk, one contraction with the fixed factors and a vectorised NNLS (plain
    least squares for the signed methods) give its rows of the time factor, and the chunk's
    ``||X||^2``, ``sum X``, ``<X, Y_r>`` are added to the video's statistics.

    Parameters
    ----------
    spectrogram : path
    fit_h5 : path
        From :func:`tca_fit_stage`.
    out_h5 : path
        The time-factor part file (``kind="time_factors"``).
    config : mapping
        The ``tca`` section.
    session, video : str
        Of this video.
    threads : int

    Raises
    ------
    TCAError
        A spectrogram whose points or frequencies differ from the fit's.
    """
    params, streamed = _params(config)
    fit = read_tca_part_file(fit_h5, "fit")
    a, b = (np.asarray(fit["factors"][d], dtype=np.float64) for d in (_PTS, "frequency"))
    gram = time_factor_gram([a, b])
    nonneg = _is_non_negative(params.method, params.method_kwargs())
    _set_torch_threads(threads, load=params.backend == "pytorch")
    stats = None
    with open_spectrogram_file(spectrogram) as spec:
        _, n, f, t = spec.shape
        if 2 * n != a.shape[0] or f != b.shape[0] or not np.allclose(
                np.asarray(spec.frequencies, dtype=np.float64), fit["frequencies"], rtol=1e-6):
            raise TCAError(f"{spectrogram}: {n} points x {f} frequencies do not match the fit "
                           f"{fit['path']} ({a.shape[0] // 2} points x {b.shape[0]}); rerun "
                           "tca_fit")
        taxis = np.asarray(spec.x_axis_seconds, dtype=np.float64)
        step = max(1, int(streamed.chunk_mb * 1e6 // (2 * n * f * 4)))
        c = np.empty((t, a.shape[1]), dtype=np.float64)
        for t0 in progress_bar(range(0, t, step), desc=f"time factors {session}/{video}",
                               total=math.ceil(t / step)):
            chunk = spec.spectrograms[:, :, :, t0:t0 + step].astype(np.float64)
            chunk = chunk.reshape(2 * n, f, -1)  # float64 once: the sums stay exact
            m = mttkrp_time(chunk, [a, b])
            c[t0:t0 + chunk.shape[-1]] = solve_time_factors(gram, m, non_negative=nonneg)
            stats = add_statistics(stats, chunk_statistics(chunk, m, c[t0:t0 + chunk.shape[-1]]))
    contents = {"time_factors": c, "time_axis_seconds": taxis, "session": str(session),
                "video": str(video), "stats": stats}
    ri = run_info(config={"tca": dict(config)}, inputs=[str(spectrogram), str(fit_h5)],
                  extra={"session": session, "video": video, "chunk_bins": step})
    write_tca_part_h5(out_h5, "time_factors", contents, run_info=ri)
    logger.info("time factors of %s/%s: %d bins in chunks of %d, wrote %s", session, video,
                t, step, out_h5)
    return contents


def tca_collect_stage(fit_h5: str | os.PathLike, time_factors: Sequence[str | os.PathLike],
                      tca_h5: str | os.PathLike, figures: str | os.PathLike | None,
                      config: Mapping[str, Any], *, session: str,
                      rois: str | os.PathLike | Sequence | None = None) -> TCAFile:
    """The full-data fit, ordered by EVR, as ``tca.h5`` (rule ``tca_collect``).

    Parameters
    ----------
    fit_h5 : path
    time_factors : sequence of path
        Every video's part file, in the fit's element order.
    tca_h5 : path
        Written with :func:`~.results.write_tca_h5` (read it with :func:`read_tca_file`);
        ``params.fit`` holds ``strategy``, ``relative_error`` and the sample.
    figures : path or None
        Folder of ``component_XX.png`` and ``evr.png`` (``None``: none).
    config : mapping
    session : str
    rois : path, optional
        A ``rois.h5`` whose example frame is drawn under the spatial maps.
    """
    params, streamed = _params(config)
    fit = read_tca_part_file(fit_h5, "fit")
    parts = [read_tca_part_file(p, "time_factors") for p in time_factors]
    want = list(zip(map(str, fit["sessions"]), map(str, fit["videos"])))
    got = [(str(p["session"]), str(p["video"])) for p in parts]
    if got != want:
        raise TCAError(f"time-factor files are for {got} but the fit {fit_h5} is for {want}")
    a, b = (np.asarray(fit["factors"][d], dtype=np.float64) for d in (_PTS, "frequency"))
    full = full_fit_statistics([a, b], [p["time_factors"] for p in parts],
                               [p["stats"] for p in parts])
    order = np.argsort(-full["evr"], kind="stable")
    time = np.concatenate(full["time"], axis=0)[:, order]
    factors = {_PTS: a[:, order], "frequency": b[:, order], "time": time}
    keys = [f"{s}/{v}" for s, v in want]
    lengths = [int(p["time_factors"].shape[0]) for p in parts]
    rearr = Rearrangement(
        names_dims_array=["xy", "points", "frequency", "time"],
        names_dims_concat_array=[["xy", "points"]], concat_lengths=[2],
        concat_complexDim=False, name_dim_concat_complexDim="time",
        name_dim_dictElements="videos", method_handling_dictElements="concatenate",
        name_dim_concat_dictElements="time", keys=keys, element_lengths=lengths,
        idx_windows=None, name_dim_array_window="time", names_dims_preDecomp=list(_DIMS))
    rearranged, names = rearrange_factors({"concatenated": factors}, rearr)
    fit_info = {**fit["params"]["fit"], "rec_errors": fit["rec_errors"],
                "n_iter": int(fit["n_iter"]), "strategy": "streamed",
                "relative_error": full["relative_error"],
                "sample_shape": fit["params"]["sample_shape"], "streamed": streamed.to_dict(),
                "sample_weights": np.asarray(fit["weights"])[order]}
    res = TCAResult(dims=list(_DIMS), factors=factors, weights=full["weights"][order],
                    evr=full["evr"][order], evr_total=full["evr_total"], order=order,
                    rearranged=rearranged, rearranged_names=names, rearrangement=rearr,
                    fit_info=fit_info, params=params)
    meta = {k: {"session": p["session"], "video": p["video"],
                "time_axis_seconds": p["time_axis_seconds"]} for k, p in zip(keys, parts)}
    points = {str(s): np.asarray(v, dtype=np.float32)
              for s, v in fit["point_positions_per_session"].items()}
    first = points.get(want[0][0], next(iter(points.values())))
    ri = run_info(config={"tca": dict(config)},
                  inputs=[str(fit_h5), *map(str, time_factors)],
                  extra={"session": session, "strategy": "streamed",
                         "evr_total": full["evr_total"],
                         "relative_error": full["relative_error"],
                         "streamed": streamed.to_dict()})
    tca = write_tca_h5(tca_h5, res, meta, fit["frequencies"], first, run_info=ri,
                       extra={"point_positions_per_session": points})
    if figures is not None:
        frame = None
        if rois is not None:
            rois = rois if isinstance(rois, (str, os.PathLike)) else next(iter(rois))
            frame = read_rois_h5(rois).example_frame
        use_headless_backend()
        save_tca_figures(tca, figures, example_frame=frame)
    logger.info("streamed TCA of %s (%d videos): relative error %.4g, EVR per component %s, "
                "total %.4f, wrote %s", session, len(parts), full["relative_error"],
                np.array2string(res.evr, precision=4), full["evr_total"], tca_h5)
    return tca
