"""The batched streaming core: normalised spectrograms of many points, exactly, in bounded memory.

``m[t]`` of the normalisation (:mod:`.normalization`) is a mean over *all* rows, but
spectrograms are computed a batch of points at a time so that a long video never needs every
spectrogram in memory (twice). The normalisation is therefore done in two exact passes over a
*sink* (a NumPy array, or the HDF5 dataset being written inside
:func:`face_rhythm.atomic.atomic_h5`):

1. for each batch of points: VQT, ``s = |S| ** exponent``, accumulate ``sum_{r,f} s`` per
   time point in float64, and write ``s`` (complex: ``s * exp(i angle S)``) into the sink;
2. ``m = acc / n_rows``; for each batch: read the block back, divide by
   ``normalization_factor * m[t] + (1 - normalization_factor)``, multiply by
   ``freqs ** one_over_f_exponent`` and write it back in place.

The VQT is computed once; pass 2 is cheap element-wise work plus I/O. The result equals the
in-memory formula to float32 rounding (tested against an independent NumPy computation).
Where the denominator is exactly 0 (``normalization_factor == 1`` and no motion at all at
that time point) the output is 0 rather than NaN.

Tracks given as an h5py dataset (the workflow's ``tracking.h5``, stored frame by frame) are
read once, a chunk of frames at a time, into a temporary file laid out point by point, from
which each batch reads its rows (:func:`_track_rows`): the tracks are never all in memory.

Long traces are also cut in *time*: with ``padding='valid'`` the VQT of a trace equals the
concatenation of the VQTs of overlapping pieces (overlap ``win_size - 1`` frames, piece
lengths multiples of ``downsample_factor``), so each piece is computed separately
(``time_chunk_frames``, :func:`~.vqt_model.vqt_rows`). This bounds the FFT work memory by the
chunk length instead of the video length. Other paddings process whole traces. Batches are
also capped so that one output block stays under :data:`MAX_BLOCK_BYTES` and the FFT work
under :data:`MAX_WORK_BYTES` (:func:`effective_batch_size`).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from face_rhythm.disk_arrays import drop_pages, finish, is_read_only_map, new_result
from face_rhythm.errors import SpectralParamsError
from face_rhythm.runlog import progress_bar

from .filterbank import FilterBank, cpu_threads, make_filter_bank
from .normalization import _denominator, _normalize_block_inplace, _one_over_f, _powered
from .params import SpectralParams
from .traces import _check_inputs, displacements_to_rows
from .vqt_model import _freqs, _piece_frames, as_filter_bank, make_vqt, time_axis, vqt_rows

logger = logging.getLogger(__name__)

__all__ = ["MAX_BLOCK_BYTES", "MAX_WORK_BYTES", "compute_spectrograms", "effective_batch_size",
           "write_spectrograms"]

#: Largest output block (2, batch, F, T_out) held at once; longer videos get smaller batches.
MAX_BLOCK_BYTES = 64 << 20
#: Budget for ``vqt.VQT``'s FFT work arrays of one batch (about 3 complex64 (rows, F, n_fft));
#: a :class:`~.filterbank.FilterBank` works a few MB at a time whatever the batch. With the
#: imports (~250 MB with torch) a spectrogram job then peaks under 500 MB at any video length
#: (bench/bench_memory.py); smaller batches cost no speed (measured).
MAX_WORK_BYTES = 64 << 20
#: Frames of tracks read at a time from a file (about this many bytes; about 4x that in
#: working memory) while they are rearranged point by point into a temporary file
#: (:func:`_track_rows`).
TRACK_CHUNK_BYTES = 8 << 20


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


@functools.cache
def _return_freed_buffers_to_os() -> bool:
    """Fix glibc's mmap threshold at 128 KiB (once per process; False where not glibc).

    glibc raises its threshold after each large ``free`` (up to 32 MiB), so that the next
    batches' FFT buffers come from the heap, which it keeps: a VQT pass then holds about
    twice its work budget (measured: peak 580 MB instead of 474 MB for 1138 points, 30 s at
    90 fps). A fixed threshold returns every large buffer to the OS when it is freed.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024))
    except (OSError, AttributeError):
        return False


def _batches(n: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(s + size, n)) for s in range(0, n, size)]


def effective_batch_size(batch_size: int, n_freqs: int, n_times: int, itemsize: int,
                         n_points: int | None = None, fft_frames: int = 0,
                         block_bytes: int | None = None) -> int:
    """Points per batch: ``batch_size`` capped by two memory budgets.

    One output block ``2 * b * n_freqs * n_times * itemsize`` stays under ``block_bytes``
    (default :data:`MAX_BLOCK_BYTES`) and the FFT work ``2 * b * n_freqs * fft_frames * 24`` bytes under
    :data:`MAX_WORK_BYTES` (with the default config and 8192-frame time chunks: 4 points; a
    1-hour 90 fps video's output blocks alone allow 14 points).
    """
    per_point = 2 * n_freqs * n_times * itemsize
    block_bytes = MAX_BLOCK_BYTES if block_bytes is None else int(block_bytes)
    b = min(int(batch_size), block_bytes // max(per_point, 1))
    if fft_frames:
        b = min(b, MAX_WORK_BYTES // max(2 * n_freqs * int(fft_frames) * 24, 1))
    b = max(1, b)
    return min(b, n_points) if n_points else b


def _batch_for(model, n_frames: int, n_points: int, n_times: int,
               params: SpectralParams) -> int:
    """:func:`effective_batch_size` for this model, video length and parameters.

    A :class:`~.filterbank.FilterBank` works a block of rows at a time (a few MB whatever the
    batch), so only its output block is budgeted, at a quarter of :data:`MAX_BLOCK_BYTES`:
    the batch's traces, their spectra and the output (held about three times over) then stay
    near 50 MB at any video length, glibc keeping them for the next batch. ``vqt.VQT`` holds
    about three complex (rows, F, n_fft) arrays per piece.
    """
    itemsize = np.dtype(np.complex64 if params.return_complex else np.float32).itemsize
    if isinstance(model, FilterBank):
        return effective_batch_size(params.batch_size, len(model.freqs), n_times, itemsize,
                                    n_points, block_bytes=MAX_BLOCK_BYTES // 4)
    return effective_batch_size(params.batch_size, len(model.freqs), n_times, itemsize,
                                n_points, _piece_frames(model, n_frames,
                                                        params.time_chunk_frames))


@contextlib.contextmanager
def _track_rows(points_tracked, home: np.ndarray, tmp_dir: str | os.PathLike | None = None
                ) -> Iterator[Callable[[int, int], np.ndarray]]:
    """``rows(p0, p1)``: the (2 (p1 - p0), T) float32 displacement traces of points p0..p1
    (:func:`~.traces.displacements_to_rows`), NaN-checked.

    A NumPy array is sliced directly. Anything else (an h5py dataset of a ``tracking.h5``,
    stored frame by frame, or a read-only memory map such as the tracker's large results,
    whose pages are given back as they are read: :func:`~face_rhythm.disk_arrays.drop_pages`)
    is read once, :data:`TRACK_CHUNK_BYTES` of frames at a time, into
    a temporary file laid out point by point (``(2, N, T)`` float32, in ``tmp_dir``, deleted
    on exit), from which each batch reads two contiguous ranges: memory does not grow with
    the video, and the tracks are read once instead of once per batch. The values are those
    of the in-memory path (the subtraction is element by element).
    """
    if isinstance(points_tracked, np.ndarray) and not is_read_only_map(points_tracked):
        def rows(p0: int, p1: int) -> np.ndarray:
            pts = points_tracked[:, p0:p1, :]
            if not np.all(np.isfinite(pts)):
                raise SpectralParamsError(f"points_tracked[:, {p0}:{p1}] contains NaN or "
                                          "infinite values")
            return displacements_to_rows(pts, home[p0:p1])

        yield rows
        return
    n_frames, n_points = int(points_tracked.shape[0]), int(points_tracked.shape[1])
    step = max(1, TRACK_CHUNK_BYTES // max(8 * n_points, 1))
    row_bytes = 4 * n_frames
    with tempfile.TemporaryFile(prefix=".tracks-", dir=tmp_dir) as f:
        fd = f.fileno()
        for t0 in range(0, n_frames, step):
            t1 = min(t0 + step, n_frames)
            pts = np.asarray(points_tracked[t0:t1], dtype=np.float32)
            if not np.all(np.isfinite(pts)):
                raise SpectralParamsError(f"points_tracked[{t0}:{t1}] (frames) contains NaN "
                                          "or infinite values")
            d = displacements_to_rows(pts, home)
            drop_pages(points_tracked, t0, t1)
            for r in range(2 * n_points):
                os.pwrite(fd, d[r], r * row_bytes + 4 * t0)  # a contiguous row, no copy

        def rows(p0: int, p1: int) -> np.ndarray:
            b = p1 - p0
            out = np.empty((2 * b, n_frames), dtype=np.float32)
            for c in range(2):
                f.seek((c * n_points + p0) * row_bytes)
                if f.readinto(memoryview(out[c * b:(c + 1) * b]).cast("B")) != b * row_bytes:
                    raise OSError(f"{f.name}: short read of the temporary tracks")
            return out

        yield rows


def _vqt_pass(sink, rows: Callable[[int, int], np.ndarray], model, params: SpectralParams,
              batches: list[tuple[int, int]], n_t: int, progress: bool | None,
              threads: int) -> np.ndarray:
    """Pass 1: ``|S| ** exponent`` of every batch into ``sink``; returns sum_{r,f} per t."""
    acc = np.zeros(n_t, dtype=np.float64)
    ex = float(params.spectrogram_exponent)
    n_f = len(_freqs(model))
    for p0, p1 in progress_bar(batches, desc="VQT (batches of points)", unit="batch",
                               enabled=progress):
        raw = vqt_rows(model, rows(p0, p1), params.time_chunk_frames, threads)
        if raw.shape[-1] != n_t:
            raise RuntimeError(f"VQT gave {raw.shape[-1]} time bins, time axis has {n_t}")
        s_exp, total = _powered(raw, ex, params.return_complex)
        acc += total
        sink[:, p0:p1] = s_exp.reshape(2, p1 - p0, n_f, n_t)
    return acc


def write_spectrograms(sink, points_tracked, home: np.ndarray, model,
                       params: SpectralParams, progress: bool | None = None,
                       threads: int | None = None) -> dict[str, Any]:
    """Compute normalised spectrograms batch by batch into ``sink`` (two exact passes).

    Parameters
    ----------
    sink : (2, N, F, T_out) array-like
        Writable NumPy array or h5py dataset (float32, or complex64 when
        ``params.return_complex``); blocks ``sink[:, p0:p1]`` are written, read back and
        rewritten (see the module docstring).
    points_tracked : (T, N, 2) array-like
        Tracked positions in px: a NumPy array (or memmap), sliced a batch of points at a
        time; or an h5py dataset, read once in chunks of frames into a temporary file beside
        the sink's file (:func:`_track_rows`).
    home : (N, 2) array
        Home positions in px.
    model : vqt.VQT or FilterBank
        From :func:`~.vqt_model.make_vqt` (on the CPU, its :class:`~.filterbank.FilterBank`
        computes), or a FilterBank (:func:`~.filterbank.make_filter_bank`).
    params : SpectralParams
    progress : bool or None
        Progress bar (:func:`face_rhythm.runlog.progress_bar`: ``None`` only on a terminal,
        ``True`` also as log lines in a workflow job).
    threads : int, optional
        CPU threads of the VQT (default: the CPUs this process may use).

    Returns
    -------
    dict
        ``mean_power`` (T_out,) float64 = m[t]; ``point_power`` (2, N) float64 = sum over
        f, t of |output| per row; ``seconds_vqt``, ``seconds_normalize``.
    """
    home = np.asarray(home, dtype=np.float64)
    n_frames, n_points = _check_inputs(points_tracked, home)
    model = as_filter_bank(model) or model  # the filters' FFTs are then kept across batches
    if not isinstance(model, FilterBank):
        # vqt.VQT's batches free ~64 MB of FFT buffers each; a FilterBank's work buffers are
        # a few MB, which glibc's own threshold keeps for reuse (a fixed one made every
        # buffer fresh pages: the VQT took twice as long)
        _return_freed_buffers_to_os()
    threads = cpu_threads() if threads is None else max(1, int(threads))
    freqs = _freqs(model)
    n_t = len(time_axis(model, n_frames))
    expected = (2, n_points, len(freqs), n_t)
    if tuple(sink.shape) != expected:
        raise SpectralParamsError(f"sink has shape {tuple(sink.shape)}; expected {expected}")
    batch = _batch_for(model, n_frames, n_points, n_t, params)
    if batch < params.batch_size and batch < n_points:
        logger.info("batches of %d points instead of %d (memory budgets %d + %d MiB)", batch,
                    params.batch_size, MAX_BLOCK_BYTES >> 20, MAX_WORK_BYTES >> 20)
    batches = _batches(n_points, batch)
    t0 = time.perf_counter()
    sink_file = getattr(getattr(sink, "file", None), "filename", None)  # h5py: its folder
    with _track_rows(points_tracked, home,
                     Path(sink_file).parent if sink_file else None) as rows:
        acc = _vqt_pass(sink, rows, model, params, batches, n_t, progress, threads)
    t1 = time.perf_counter()
    mean_power = acc / (2 * n_points)
    denom = _denominator(mean_power, params.normalization_factor)
    fa = _one_over_f(freqs, params.one_over_f_exponent)
    point_power = np.zeros((2, n_points), dtype=np.float64)
    for p0, p1 in batches:
        block = np.asarray(sink[:, p0:p1])
        _normalize_block_inplace(block, denom, fa)
        point_power[:, p0:p1] = np.abs(block).sum(axis=(2, 3), dtype=np.float64)
        sink[:, p0:p1] = block
    t2 = time.perf_counter()
    logger.info("spectrograms %s: VQT %.2f s, normalisation %.2f s (%.3g point-frames/s)",
                expected, t1 - t0, t2 - t1, n_points * n_frames / max(t2 - t0, 1e-9))
    return {"mean_power": mean_power, "point_power": point_power,
            "seconds_vqt": t1 - t0, "seconds_normalize": t2 - t1}


def _model_for(points_tracked, frame_rate: float, params: SpectralParams):
    """The VQT for these tracks and its sampling rate (``params.Fs_sample`` wins).

    On the CPU with the pipeline's settings a :class:`~.filterbank.FilterBank` built without
    vqt (:func:`~.filterbank.make_filter_bank`); otherwise a ``vqt.VQT``.
    """
    fs = float(params.Fs_sample) if params.Fs_sample is not None else frame_rate
    n_frames = points_tracked.shape[0]
    bank = make_filter_bank(fs, params.params_VQT, n_frames) if params.device == "cpu" else None
    if bank is not None:  # neither torch nor vqt is loaded
        return bank, fs
    return make_vqt(fs, params.params_VQT, params.device, n_frames=n_frames), fs


def compute_spectrograms(points_tracked: np.ndarray, home: np.ndarray, frame_rate: float,
                         cfg: Mapping[str, Any] | SpectralParams | None = None,
                         model=None, threads: int | None = None
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised spectrograms of all points, in memory.

    Parameters
    ----------
    points_tracked : (T, N, 2) array
        Tracked positions (x, y) in px.
    home : (N, 2) array
        Home positions in px.
    frame_rate : float
        Frame rate in Hz (``cfg['Fs_sample']``, if set, overrides it).
    cfg : mapping or SpectralParams, optional
        The ``vqt:`` config section (defaults: :class:`~.params.SpectralParams`).
    model : vqt.VQT or FilterBank, optional
        A prebuilt model (then ``cfg.params_VQT`` and ``frame_rate`` do not rebuild it).
    threads : int, optional
        CPU threads of the VQT (default: the CPUs this process may use).

    Returns
    -------
    spectrograms : (2, N, F, T_out) float32 (complex64 if ``return_complex``)
        From :data:`face_rhythm.disk_arrays.SPILL_BYTES` (64 MB) on, a read-only memory map
        of a temporary file.
    freqs : (F,) float32, Hz
    x_axis_frames : (T_out,) float64, centre of each time bin in frames
    """
    params = SpectralParams.from_config(cfg)
    home = np.asarray(home, dtype=np.float64)
    n_frames, n_points = _check_inputs(points_tracked, home)
    if model is None:
        model, _ = _model_for(points_tracked, frame_rate, params)
    freqs = _freqs(model)
    x = time_axis(model, n_frames)
    dtype = np.complex64 if params.return_complex else np.float32
    out = new_result((2, n_points, len(freqs), len(x)), dtype)  # large: on disk
    write_spectrograms(out, points_tracked, home, model, params, threads=threads)
    return finish(out), freqs, x
