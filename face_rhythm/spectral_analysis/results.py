"""``spectrogram.h5``, the result file of the spectral stage: one writer, one reader.

:func:`write_spectrogram_h5` computes the spectrograms of one video and streams them into the
file (written atomically); :func:`read_spectrogram_file` returns a :class:`SpectrogramFile`
with everything in memory, :func:`open_spectrogram_file` the same with ``spectrograms`` as an
open, unread ``h5py.Dataset`` (read a few points at a time). Scripts, the decomposition, the
NWB export, the figures and the report read ``spectrogram.h5`` through these two only.

Keys (``docs/outputs.md``): ``spectrograms`` (2, N, F, T) float32 or complex64 (x rows,
then y; attribute ``dims``); ``frequencies`` (F,) float32 Hz; ``x_axis_frames`` (T,) float64;
``x_axis_seconds`` (T,) float64; ``frame_rate`` (Hz used); ``point_positions`` (N, 2)
float32 (x, y) px; ``filters`` (F, win) complex64; ``mean_power_per_timepoint`` (T,) float64
(``m[t]`` of the normalisation); ``params`` (JSON: the effective parameters); ``run_info/``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from face_rhythm.atomic import atomic_h5
from face_rhythm.errors import SpectralParamsError
from face_rhythm.provenance import find_run_info, run_info, write_run_info

from .filterbank import FilterBank
from .params import SpectralParams
from .traces import _check_inputs

logger = logging.getLogger(__name__)

__all__ = ["SpectrogramFile", "SpectrogramFileError", "SpectrogramSummary",
           "open_spectrogram_file", "read_spectrogram_file", "write_spectrogram_h5"]

#: Datasets every spectrogram.h5 has (the other keys are optional to the reader).
REQUIRED_KEYS = ("spectrograms", "frequencies", "x_axis_seconds")


class SpectrogramFileError(SpectralParamsError):
    """A ``spectrogram.h5`` that is missing or is not a face-rhythm spectrogram file."""


@dataclasses.dataclass(frozen=True)
class SpectrogramSummary:
    """What :func:`write_spectrogram_h5` wrote.

    Attributes
    ----------
    path : Path
    shape : tuple
        (2, N, F, T_out).
    freqs : (F,) float32 Hz
    x_axis_seconds : (T_out,) float64 s
    frame_rate : float
        Sampling rate used (Hz).
    point_power : (2, N) float64
        Sum over frequencies and time of |output| per row.
    seconds : float
        Wall time of the computation.
    """

    path: Path
    shape: tuple[int, ...]
    freqs: np.ndarray
    x_axis_seconds: np.ndarray
    frame_rate: float
    point_power: np.ndarray
    seconds: float


@dataclasses.dataclass(frozen=True)
class SpectrogramFile:
    """The contents of one ``spectrogram.h5`` (:func:`read_spectrogram_file`).

    Attributes
    ----------
    path : Path
    spectrograms : (2, N, F, T) float32 or complex64 array, or h5py.Dataset
        x rows first, then y; an open dataset from :func:`open_spectrogram_file`.
    frequencies : (F,) float32
        Centre frequencies in Hz.
    x_axis_seconds : (T,) float64
        Centre of each time bin in s.
    x_axis_frames : (T,) float64 or None
        Centre of each time bin in frames.
    frame_rate : float or None
        Sampling rate used in Hz.
    point_positions : (N, 2) float32 or None
        Home positions (x, y) in px.
    filters : (F, win) complex64 or None
        The VQT filter bank.
    mean_power_per_timepoint : (T,) float64 or None
        ``m[t]`` of the normalisation.
    params : dict
        The effective parameters (:class:`~.params.SpectralParams` plus ``Fs_sample`` and
        ``win_size`` in ``params_VQT``); ``{}`` when the file has none.
    run_info : dict or None
        Provenance (:func:`face_rhythm.provenance.find_run_info`).
    """

    path: Path
    spectrograms: Any
    frequencies: np.ndarray
    x_axis_seconds: np.ndarray
    x_axis_frames: np.ndarray | None = None
    frame_rate: float | None = None
    point_positions: np.ndarray | None = None
    filters: np.ndarray | None = None
    mean_power_per_timepoint: np.ndarray | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    run_info: dict[str, Any] | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """(2, N, F, T) of the spectrograms."""
        return tuple(self.spectrograms.shape)


def _chunks(shape: tuple[int, ...], b: int, itemsize: int,
            target_bytes: int = 4 << 20) -> tuple[int, ...]:
    """HDF5 chunks (1, b, F, tc) of about ``target_bytes``: whole chunks per batch."""
    _, _, f, t = shape
    tc = max(1, min(t, target_bytes // max(1, b * f * itemsize)))
    return (1, b, f, tc)


def write_spectrogram_h5(path: str | os.PathLike, points_tracked, home: np.ndarray,
                         frame_rate: float, cfg: Mapping[str, Any] | SpectralParams | None = None,
                         inputs: Iterable[str | os.PathLike] = (),
                         config_for_provenance: Mapping[str, Any] | None = None,
                         extra: Mapping[str, Any] | None = None,
                         progress: bool | None = None,
                         threads: int | None = None) -> SpectrogramSummary:
    """Compute and write ``spectrogram.h5`` atomically, streaming batches into the dataset.

    Parameters
    ----------
    path : path-like
        Destination (appears only when complete). Keys: see the module docstring.
    points_tracked : (T, N, 2) array-like
        Tracked positions in px: NumPy array or h5py dataset (read a batch at a time).
    home : (N, 2) array
        Home positions in px.
    frame_rate : float
        The video's frame rate in Hz (``Fs_sample`` in ``cfg`` overrides it).
    cfg : mapping or SpectralParams
        The ``vqt:`` config section.
    inputs, config_for_provenance, extra
        For :func:`face_rhythm.provenance.run_info`.
    progress : bool or None
        Progress bar of the VQT pass (:func:`~.streaming.write_spectrograms`).
    threads : int, optional
        CPU threads of the VQT (default: the CPUs this process may use).

    Returns
    -------
    SpectrogramSummary
    """
    # the writer's VQT (a filter bank on the CPU, or vqt.VQT): the readers do not load it
    from .streaming import _batch_for, _model_for, write_spectrograms
    from .vqt_model import _freqs, device_name, filters_array, time_axis

    params = SpectralParams.from_config(cfg)
    home = np.asarray(home, dtype=np.float64)
    n_frames, n_points = _check_inputs(points_tracked, home)
    model, fs = _model_for(points_tracked, frame_rate, params)
    if threads is not None and not isinstance(model, FilterBank):
        import torch  # vqt.VQT itself computes (CUDA, other paddings, complex output)

        torch.set_num_threads(max(1, int(threads)))
    if params.Fs_sample is not None and not math.isclose(fs, frame_rate, rel_tol=1e-6):
        logger.warning("vqt.Fs_sample=%g Hz overrides the video frame rate %g Hz", fs,
                       frame_rate)
    freqs = _freqs(model)
    x = time_axis(model, n_frames)
    dtype = np.complex64 if params.return_complex else np.float32
    shape = (2, n_points, len(freqs), len(x))
    win = int(model.filters.shape[-1])
    eff = params.to_dict()
    eff["params_VQT"] = {**eff["params_VQT"], "Fs_sample": fs, "win_size": win}
    info = run_info(config=config_for_provenance if config_for_provenance is not None
                    else {"vqt": params.to_dict()}, inputs=inputs,
                    extra={"n_frames": n_frames, "n_points": n_points,
                           "frame_rate_video": float(frame_rate), "Fs_sample": fs,
                           "win_size": win, "device": device_name(model),
                           **dict(extra or {})})
    t0 = time.perf_counter()
    path = Path(path)
    with atomic_h5(path) as f:
        ds = f.create_dataset("spectrograms", shape=shape, dtype=dtype,
                              chunks=_chunks(shape, _batch_for(model, n_frames, n_points,
                                                               len(x), params),
                                             np.dtype(dtype).itemsize))
        ds.attrs["dims"] = json.dumps(["xy", "points", "frequency", "time"])
        res = write_spectrograms(ds, points_tracked, home, model, params, progress, threads)
        f.create_dataset("frequencies", data=freqs)
        f.create_dataset("x_axis_frames", data=x)
        f.create_dataset("x_axis_seconds", data=x / fs)
        f.create_dataset("frame_rate", data=float(fs))
        f.create_dataset("point_positions", data=home.astype(np.float32))
        f.create_dataset("filters", data=filters_array(model))
        f.create_dataset("mean_power_per_timepoint", data=res["mean_power"])
        f.create_dataset("params", data=json.dumps(eff, sort_keys=True, default=str))
        write_run_info(f, info)
    seconds = time.perf_counter() - t0
    logger.info("wrote %s %s %s in %.1f s", path, shape, np.dtype(dtype).name, seconds)
    return SpectrogramSummary(path=path, shape=shape, freqs=freqs, x_axis_seconds=x / fs,
                              frame_rate=fs, point_power=res["point_power"], seconds=seconds)


def _optional(f: h5py.File, key: str) -> np.ndarray | None:
    return f[key][()] if key in f else None


def _read(f: h5py.File, path: Path, load: bool) -> SpectrogramFile:
    """The :class:`SpectrogramFile` of an open file (``spectrograms`` read when ``load``)."""
    for key in REQUIRED_KEYS:
        if key not in f:
            raise SpectrogramFileError(f"{path}: no dataset {key!r} (not a face-rhythm "
                                       "spectrogram.h5)")
    spec = f["spectrograms"]
    if spec.ndim != 4 or spec.shape[0] != 2:
        raise SpectrogramFileError(f"{path}: spectrograms have shape {spec.shape}, expected "
                                   "(2, N, F, T)")
    raw_params = _optional(f, "params")
    params = {} if raw_params is None else json.loads(
        raw_params.decode() if isinstance(raw_params, bytes) else raw_params)
    fr = _optional(f, "frame_rate")
    return SpectrogramFile(
        path=path, spectrograms=spec[()] if load else spec,
        frequencies=np.asarray(f["frequencies"][()]),
        x_axis_seconds=np.asarray(f["x_axis_seconds"][()]),
        x_axis_frames=_optional(f, "x_axis_frames"),
        frame_rate=None if fr is None else float(fr),
        point_positions=_optional(f, "point_positions"),
        filters=_optional(f, "filters"),
        mean_power_per_timepoint=_optional(f, "mean_power_per_timepoint"),
        params=params, run_info=find_run_info(f))


def _check_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise SpectrogramFileError(f"{path}: spectrogram file not found")
    return path


def read_spectrogram_file(path: str | os.PathLike) -> SpectrogramFile:
    """Read a whole ``spectrogram.h5`` into memory.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    SpectrogramFile
        ``spectrograms`` as a (2, N, F, T) NumPy array.

    Raises
    ------
    SpectrogramFileError
        The file is missing or lacks ``spectrograms``, ``frequencies`` or ``x_axis_seconds``.
    """
    path = _check_path(path)
    with h5py.File(path, "r") as f:
        return _read(f, path, load=True)


@contextlib.contextmanager
def open_spectrogram_file(path: str | os.PathLike) -> Iterator[SpectrogramFile]:
    """Open a ``spectrogram.h5`` for reading a few points at a time (a context manager).

    Yields
    ------
    SpectrogramFile
        As :func:`read_spectrogram_file`, with ``spectrograms`` an open, unread
        ``h5py.Dataset`` (valid inside the ``with`` block only).
    """
    path = _check_path(path)
    with h5py.File(path, "r") as f:
        yield _read(f, path, load=False)
