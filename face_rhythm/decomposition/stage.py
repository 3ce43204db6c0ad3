"""The workflow's TCA stage, files in and files out: spectrogram.h5 files (and rois.h5) ->
tca.h5 and the figures (:func:`tca_stage`, called by ``workflow/scripts/tca.py``).

:func:`load_spectrograms` reads the spectrograms of one decomposition through
:func:`face_rhythm.spectral_analysis.open_spectrogram_file` and checks that they fit
together (same points, same frequencies) before any fitting.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from face_rhythm.errors import TCAError
from face_rhythm.provenance import run_info
from face_rhythm.rois import read_rois_h5
from face_rhythm.spectral_analysis import open_spectrogram_file

from .figures import figure_workers, save_tca_figures, use_headless_backend
from .params import TCAParams
from .pipeline import run_tca
from .results import TCAFile, write_tca_h5

logger = logging.getLogger(__name__)

__all__ = ["load_spectrograms", "read_time_bins", "tca_stage"]


def load_spectrograms(paths: Sequence[str | os.PathLike], sessions: Sequence[str],
                      videos: Sequence[str],
                      bins: Callable[[list[int]], list[np.ndarray]] | None = None
                      ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]], np.ndarray,
                                 dict[str, np.ndarray]]:
    """Read ``spectrogram.h5`` files for one TCA, checking that they fit together.

    Parameters
    ----------
    paths : sequence of path
        ``results/{session}/{video}/spectrogram.h5``, in time order.
    sessions, videos : sequence of str
        Session and video of each path.
    bins : callable, optional
        Given every file's number of time bins (after all files are checked), the sorted
        bin indices to read from each (read as contiguous runs); default all of them.

    Returns
    -------
    data : dict ``"session/video"`` -> (2, N, F, T) float32 (``T`` the bins read)
    element_meta : dict ``"session/video"`` -> {"session", "video", "time_axis_seconds",
        "path", "frame_rate", "n_time"}
    frequencies : (F,) Hz
    point_positions : dict session -> (N, 2) float32

    Raises
    ------
    TCAError
        Different point counts (the all-sessions TCA needs points in correspondence),
        different frequencies, or a file without point positions, before any fitting.
    face_rhythm.spectral_analysis.SpectrogramFileError
        A missing file, or one that is not a ``(2, N, F, T)`` face-rhythm spectrogram.h5.
    """
    paths = [Path(p) for p in paths]
    if not (len(paths) == len(sessions) == len(videos)):
        raise TCAError(f"{len(paths)} spectrogram files but {len(sessions)} sessions and "
                       f"{len(videos)} videos: one of each per file is needed")
    if not paths:
        raise TCAError("no spectrogram files given")
    data: dict[str, np.ndarray] = {}
    meta: dict[str, dict[str, Any]] = {}
    pts: dict[str, np.ndarray] = {}
    freqs0 = None
    n0 = None
    for p, s, v in zip(paths, sessions, videos):
        with open_spectrogram_file(p) as spec:  # checks the file and the (2, N, F, T) shape
            shape = spec.shape
            if spec.point_positions is None:
                raise TCAError(f"{p}: no dataset 'point_positions' (not a face-rhythm "
                               "spectrogram.h5)")
            freqs = np.asarray(spec.frequencies, dtype=np.float64)
            taxis = np.asarray(spec.x_axis_seconds, dtype=np.float64)
            pp = np.asarray(spec.point_positions, dtype=np.float32)
            fr = float("nan") if spec.frame_rate is None else float(spec.frame_rate)
            if n0 is None:
                n0, freqs0, p0 = shape[1], freqs, p
            elif shape[1] != n0:
                raise TCAError(f"{p} (session {s!r}) has {shape[1]} points but {p0} has {n0}: "
                               "a combined TCA needs the same points in every session "
                               "(align sessions first)")
            elif freqs.shape != freqs0.shape or not np.allclose(freqs, freqs0, rtol=1e-6):
                raise TCAError(f"{p}: frequencies differ from those of {p0} (same VQT "
                               "parameters and frame rate are needed)")
            if taxis.shape[0] != shape[3]:
                raise TCAError(f"{p}: x_axis_seconds has {taxis.shape[0]} entries but the "
                               f"spectrograms have {shape[3]} time points")
            key = f"{s}/{v}"
            if key in meta:
                raise TCAError(f"session {s!r} video {v!r} is listed twice")
        meta[key] = {"session": str(s), "video": str(v), "time_axis_seconds": taxis,
                     "path": str(p), "frame_rate": fr, "n_time": int(shape[3])}
        pts.setdefault(str(s), pp)
    chosen = None if bins is None else bins([m["n_time"] for m in meta.values()])
    for i, (key, m) in enumerate(meta.items()):
        with open_spectrogram_file(m["path"]) as spec:
            if chosen is None:
                data[key] = np.asarray(spec.spectrograms[()], dtype=np.float32)
            else:
                data[key] = read_time_bins(spec.spectrograms, chosen[i])
    return data, meta, freqs0, pts


def read_time_bins(dataset, idx: np.ndarray) -> np.ndarray:
    """Bins ``idx`` (sorted) of a ``(2, N, F, T)`` dataset, one slice per contiguous run:
    ``(2, N, F, len(idx))`` float32."""
    idx = np.asarray(idx, dtype=np.int64)
    out = np.empty(tuple(dataset.shape[:3]) + (idx.size,), dtype=np.float32)
    starts = np.flatnonzero(np.diff(idx, prepend=-2) != 1)
    ends = np.append(starts[1:], idx.size)
    for a, b in zip(starts, ends):
        out[..., a:b] = dataset[:, :, :, int(idx[a]):int(idx[b - 1]) + 1]
    return out


def tca_stage(spectrograms: Sequence[str | os.PathLike], rois: str | os.PathLike | Sequence,
              tca_h5: str | os.PathLike, figures: str | os.PathLike,
              config: Mapping[str, Any], *, session: str, videos: Sequence[str],
              sessions: Sequence[str] | None = None, threads: int = 1) -> TCAFile:
    """One decomposition of the workflow (rules ``tca``, ``tca_all_sessions``).

    Parameters
    ----------
    spectrograms : sequence of path
        ``results/{session}/{video}/spectrogram.h5``, in time order.
    rois : path or sequence of one path
        A ``rois.h5`` whose example frame is drawn under the spatial maps.
    tca_h5 : path
        Written (:func:`~.results.write_tca_h5`).
    figures : path
        Folder of ``component_XX.png`` and ``evr.png`` (replaced).
    config : mapping
        The ``tca`` config section (:meth:`~.params.TCAParams.from_config`).
    session : str
        The session (``"all_sessions"`` for the all-sessions TCA).
    videos : sequence of str
        Video of each spectrogram file.
    sessions : sequence of str, optional
        Session of each file (all-sessions TCA); default ``session`` for every file.
    threads : int
        torch threads, and the processes that draw the figures.

    Returns
    -------
    TCAFile
        What was written to ``tca_h5``.

    Raises
    ------
    TCAError
        ``combine: separate`` (one decomposition per video, where the workflow writes one
        file), or any parameter or input that does not fit (before the fit).
    """
    cfg = dict(config)
    params = TCAParams.from_config(cfg)
    if params.combine == "separate":
        raise TCAError("tca.rearrange.combine 'separate' gives one decomposition per video; "
                       "the workflow writes one tca.h5: use 'concatenate' or 'stack'")
    paths = [str(p) for p in spectrograms]
    sessions = list(sessions or [session] * len(paths))
    data, meta, freqs, points = load_spectrograms(paths, sessions, list(videos))
    rois = str(rois) if isinstance(rois, (str, os.PathLike)) else str(next(iter(rois)))
    frame = read_rois_h5(rois).example_frame
    _set_torch_threads(threads, load=params.backend == "pytorch")
    # the drawing processes are forked before the fit: their start (matplotlib, fonts)
    # overlaps with it, and they do not copy its memory
    with figure_workers(threads) as pool:
        (res,) = run_tca(data, params).values()
        info = run_info(config={"tca": cfg}, inputs=[*paths, rois],
                        extra={"session": session, "threads": threads,
                               "fit_seconds": res.fit_info["seconds"],
                               "n_iter": res.fit_info["n_iter"], "evr_total": res.evr_total})
        first_session = next(iter(points))
        tca = write_tca_h5(tca_h5, res, meta, freqs, points[first_session], run_info=info,
                           extra={"point_positions_per_session": points})
        if pool is None:
            use_headless_backend()
        save_tca_figures(tca, figures, example_frame=frame, n_workers=threads, pool=pool)
    logger.info("TCA of %d video(s): rank %d, total EVR %.4f, wrote %s", len(paths),
                res.weights.size, res.evr_total, tca_h5)
    return tca


def _set_torch_threads(threads: int, load: bool) -> None:
    """torch's thread count, importing torch only when ``load`` (a pytorch-backend fit): a
    numpy fit never loads it (about 200 MB of RSS)."""
    import sys

    if not load and "torch" not in sys.modules:
        return
    try:
        import torch  # lazy: heavy
    except ImportError:  # pragma: no cover
        return
    torch.set_num_threads(max(1, int(threads)))
