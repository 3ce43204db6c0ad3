"""The VQT filter bank: building a ``vqt.VQT`` model and running it on traces.

:func:`make_vqt` validates the parameters (:func:`~.params.check_vqt_params`) and builds the
model on a torch device; :func:`vqt_rows` applies it, or its
:class:`~.filterbank.FilterBank` on the CPU, to (rows, frames) traces, optionally in
overlapping time pieces (exact with ``padding='valid'``); :func:`time_axis` and
:func:`_freqs` are its time bins (frames) and centre frequencies (Hz). Each takes a
``vqt.VQT`` or a FilterBank.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from face_rhythm.devices import resolve_device as _resolve_device_name
from face_rhythm.errors import SpectralParamsError

from .filterbank import FilterBank, filter_magnitudes
from .params import check_vqt_params

if TYPE_CHECKING:  # torch (220 MB, 2 s) is loaded by the functions that use it
    import torch

logger = logging.getLogger(__name__)

__all__ = ["make_vqt", "resolve_device", "time_axis", "vqt_rows"]


def resolve_device(device: str | torch.device) -> torch.device:
    """``'auto'`` -> CUDA when available, else CPU; a CUDA request without CUDA is an error.

    A thin adapter over :func:`face_rhythm.devices.resolve_device` that returns a
    ``torch.device`` and raises :class:`~face_rhythm.errors.SpectralParamsError`.
    """
    import torch

    return torch.device(_resolve_device_name(device, key="vqt.device",
                                             error=SpectralParamsError))


def make_vqt(frame_rate: float, params_VQT: Mapping[str, Any], device: str = "cpu",
             n_frames: int | None = None):
    """Build a ``vqt.VQT`` filter bank for traces sampled at ``frame_rate`` Hz.

    Parameters
    ----------
    frame_rate : float
        Sampling rate in Hz (``Fs_sample``).
    params_VQT : mapping
        Other ``vqt.VQT`` keyword arguments (see :func:`~.params.check_vqt_params`).
    device : str
        ``cpu``, ``cuda`` or ``auto``; the model's filters are moved there.
    n_frames : int, optional
        Trace length, to reject windows longer than the trace before any work.

    Returns
    -------
    vqt.VQT
        Call it on a float32 tensor (rows, frames) on ``device`` -> (rows, F, T_out);
        ``.freqs`` (F,) Hz, ``.filters`` (F, win) complex64, ``.get_xAxis(n_frames)``.
    """
    import vqt

    kwargs = check_vqt_params(frame_rate, params_VQT, n_frames)
    dev = resolve_device(device)
    model = vqt.VQT(**kwargs)
    win = int(model.filters.shape[-1])
    if win % 2 != 1:
        logger.warning("VQT window of %d frames is even: its time axis is offset by 0.5 "
                       "frame", win)
    return model.to(dev)


def _model_device(model) -> torch.device:
    return model.filters.device


def device_name(model) -> str:
    """Where the VQT runs: ``'cpu'`` for a FilterBank, else the model's torch device."""
    return "cpu" if isinstance(model, FilterBank) else str(_model_device(model))


def window_array(model) -> np.ndarray | None:
    """The window of each filter, (F, win) float32 (None for custom filters)."""
    wins = model.wins if isinstance(model, FilterBank) else getattr(model, "wins", None)
    return None if wins is None else np.asarray(wins, dtype=np.float32)


def filters_array(model) -> np.ndarray:
    """The filters as a (F, win) complex64 NumPy array."""
    if isinstance(model, FilterBank):
        return model.filters
    return model.filters.detach().cpu().numpy()


def _piece_step(model, time_chunk_frames: int | None) -> int | None:
    """Valid outputs per time piece of :func:`vqt_rows`, or None for whole traces.

    ``None`` unless ``padding == 'valid'`` and ``time_chunk_frames`` is set; else a multiple
    of ``downsample_factor``, at least ``win_size``.
    """
    if model.padding != "valid" or time_chunk_frames is None:
        return None
    win = int(model.filters.shape[-1])
    ds = int(model.downsample_factor)
    return max(ds * math.ceil(win / ds), ((int(time_chunk_frames) - win + 1) // ds) * ds)


def _piece_frames(model, n_frames: int, time_chunk_frames: int | None) -> int:
    """Longest input piece :func:`vqt_rows` gives the VQT, plus the window (FFT length)."""
    win = int(model.filters.shape[-1])
    step = _piece_step(model, time_chunk_frames)
    if step is None:
        return n_frames + win - 1
    return min(n_frames - win + 1, step) + 2 * (win - 1)


def vqt_rows(model, rows: np.ndarray, time_chunk_frames: int | None = None,
             threads: int = 1) -> np.ndarray:
    """Raw VQT of traces, optionally in overlapping time pieces (exact for 'valid' padding).

    Parameters
    ----------
    model : vqt.VQT or FilterBank
        From :func:`make_vqt`, or its :class:`~.filterbank.FilterBank`. On the CPU with
        'valid' or 'same' padding and magnitudes (:func:`as_filter_bank`),
        :func:`~.filterbank.filter_magnitudes` computes it (without torch for a FilterBank);
        otherwise ``vqt.VQT`` on its device.
    rows : (R, n_frames) array
        Traces (float32).
    time_chunk_frames : int, optional
        Approximate input frames per piece. Pieces cover ``L`` valid outputs each (``L`` a
        multiple of ``downsample_factor``, at least ``win_size``) plus ``win_size - 1`` frames
        of overlap, so the concatenated result equals the whole-trace VQT. Ignored unless
        ``padding == 'valid'``.
    threads : int
        CPU threads of :func:`~.filterbank.filter_magnitudes`.

    Returns
    -------
    (R, F, T_out) ndarray
        Magnitude (float32) when ``take_abs``, else complex64.
    """
    bank = as_filter_bank(model)
    x = np.asarray(rows, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    if bank is not None:
        def apply(piece: np.ndarray) -> np.ndarray:
            return filter_magnitudes(bank, piece, threads)
    else:
        def apply(piece: np.ndarray) -> np.ndarray:
            import torch

            with torch.inference_mode():
                return model(torch.from_numpy(np.ascontiguousarray(piece)).to(
                    _model_device(model))).cpu().numpy()
    n = x.shape[-1]
    win = int(model.filters.shape[-1])
    step = _piece_step(model, time_chunk_frames)
    if step is None or n - win + 1 <= step:
        return apply(x)
    n_valid = n - win + 1
    out = None
    for s in range(0, n_valid, step):  # pieces go into one array (no list to concatenate)
        piece = apply(x[:, s:min(s + step, n_valid) + win - 1])
        if out is None:
            n_out = -(-n_valid // int(model.downsample_factor))
            out = np.empty(piece.shape[:-1] + (n_out,), dtype=piece.dtype)
        b = s // int(model.downsample_factor)
        out[..., b:b + piece.shape[-1]] = piece
    return out


def as_filter_bank(model) -> FilterBank | None:
    """``model`` as a :class:`~.filterbank.FilterBank` when the CPU path computes it.

    A FilterBank is returned as it is; a ``vqt.VQT`` on the CPU with ``padding`` 'valid' or
    'same', ``fft_conv`` and ``take_abs`` (the pipeline's settings) gives its bank; anything
    else (CUDA, complex output, 'full' padding) None: ``vqt.VQT`` itself computes it.
    """
    if isinstance(model, FilterBank):
        return model
    if (model.padding in ("valid", "same") and bool(model.fft_conv) and bool(model.take_abs)
            and _model_device(model).type == "cpu"):
        return FilterBank.from_model(model)
    return None


def time_axis(model, n_frames: int) -> np.ndarray:
    """Centre of each output time bin in frames (``vqt.VQT.get_xAxis``), (T_out,) float64."""
    if isinstance(model, FilterBank):
        return model.x_axis(n_frames)
    return np.atleast_1d(model.get_xAxis(int(n_frames)).cpu().numpy()).astype(np.float64)


def _freqs(model) -> np.ndarray:
    """Centre frequencies of the model's filters, (F,) float32 Hz."""
    if isinstance(model, FilterBank):
        return model.freqs
    import torch

    return np.asarray(torch.as_tensor(model.freqs).cpu().numpy(), dtype=np.float32)
