"""The VQT's filter bank as arrays, built and applied on the CPU without torch or ``vqt``.

:class:`FilterBank` holds a bank of filters as NumPy arrays with what applying them needs.
For ``padding='valid'`` (the pipeline's setting) or ``'same'`` with magnitudes
:func:`filter_magnitudes` computes what ``vqt.VQT.forward`` computes, equal to float32
rounding and 2-3x faster:

- ``vqt.VQT`` zero-pads each trace to the linear convolution's length (``n + win - 1``, then
  a fast length). Here the convolution is circular and only as long as the kept outputs
  need: on ``n`` frames for 'valid' (its outputs ``win - 1 .. n - 1`` wrap nothing);
- the magnitudes are ``sqrt(re^2 + im^2)`` of the kept outputs only, where ``torch.abs``
  computes ``hypot`` of every output (slower than the inverse FFT itself);
- the work goes a block of rows at a time through buffers that stay in cache, the blocks
  split over threads (NumPy and ``scipy.fft`` release the GIL).

:func:`make_filter_bank` builds the filters of ``vqt.helpers.make_VQT_filters`` (vqt 0.1)
for the common window names (:data:`MOTHER_WINDOWS`), to float32 rounding (tested against
vqt for each): log-spaced centre frequencies, the mother window stretched to ``Q`` periods
of each (vqt's cubic spline of a 10,000-sample window is the window's formula to float32),
a cosine at the centre frequency (its float32 phase as vqt computes it: this is where
float32 rounding matters, ~500 rad at the top frequency), the analytic signal and unit L1
norm. So a workflow job that only applies filters imports neither torch nor ``vqt`` (4 s:
torch, ``scipy.signal``, ``matplotlib.pyplot``). Other windows and custom filters return
None: ``vqt`` builds those (:func:`~.vqt_model.make_vqt`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from face_rhythm.errors import SpectralParamsError

from .params import expected_window_length

__all__ = [
    "MOTHER_WINDOWS",
    "FilterBank",
    "cpu_threads",
    "fft_length",
    "filter_magnitudes",
    "make_filter_bank",
]

#: Bytes of complex work per block of rows in :func:`filter_magnitudes` (about one row of 36
#: filters x 8192 frames: the product, its inverse FFT and the magnitudes stay in cache).
BLOCK_BYTES = 4 << 20
#: Work buffers of all threads together: fewer threads for long whole traces ('same'
#: padding is not cut in time pieces: one row of a 1-hour 120 fps trace is ~300 MB of work).
WORK_BYTES = 64 << 20


@dataclasses.dataclass(frozen=True, eq=False)
class FilterBank:
    """A VQT filter bank and how it is applied (``vqt.VQT``'s settings), as arrays.

    Attributes
    ----------
    filters : (F, win) complex64 ndarray
        The filters (``vqt.VQT.filters``).
    freqs : (F,) float32 ndarray
        Centre frequencies in Hz.
    sample_rate : float
        ``Fs_sample`` in Hz.
    downsample_factor : int
        Output bins average this many frames.
    wins : (F, win) float32 ndarray or None
        The window of each filter (``vqt.VQT.wins``; None for custom filters).
    padding : {"valid", "same"}
        Which outputs of the convolution (``vqt.VQT``'s ``padding``): those where the
        filter lies inside the trace (``n - win + 1`` of them), or ``n`` centred ones.
    """

    filters: np.ndarray
    freqs: np.ndarray
    sample_rate: float
    downsample_factor: int
    wins: np.ndarray | None = None
    padding: str = "valid"
    _spectra: dict = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def from_model(cls, model) -> FilterBank:
        """The bank of a ``vqt.VQT`` (moved to the CPU)."""
        return cls(filters=model.filters.detach().cpu().numpy().astype(np.complex64),
                   freqs=np.asarray(model.freqs.cpu() if hasattr(model.freqs, "cpu")
                                    else model.freqs, dtype=np.float32),
                   sample_rate=float(model.Fs_sample),
                   downsample_factor=max(1, int(model.downsample_factor)),
                   wins=None if getattr(model, "wins", None) is None
                   else np.asarray(model.wins, dtype=np.float32), padding=str(model.padding))

    @property
    def win_size(self) -> int:
        return int(self.filters.shape[-1])

    def spectrum(self, n_fft: int) -> np.ndarray:
        """FFT of the filters at length ``n_fft``, (F, n_fft) complex64 (computed once)."""
        if n_fft not in self._spectra:
            import scipy.fft

            if len(self._spectra) >= 4:  # a trace's pieces share one or two lengths
                self._spectra.clear()
            self._spectra[n_fft] = scipy.fft.fft(self.filters, n=n_fft,
                                                 axis=-1).astype(np.complex64)
        return self._spectra[n_fft]

    def outputs(self, n_frames: int) -> tuple[int, int]:
        """``(start, count)``: the convolution outputs kept (``vqt``'s padding mode)."""
        win = self.win_size
        if self.padding == "valid":
            return win - 1, int(n_frames) - win + 1
        return math.ceil((win - 1) / 2), int(n_frames)  # "same"

    def x_axis(self, n_frames: int) -> np.ndarray:
        """Centre of each output bin in frames, (T,) float64 (``vqt.VQT.get_xAxis``).

        Output ``i`` of the convolution is centred on frame ``i - ceil((win - 1) / 2)`` (an
        even window adds 0.5); the bins average ``downsample_factor`` outputs (the last one what
        is left), rounded to float32 as vqt returns them.
        """
        win, ds = self.win_size, self.downsample_factor
        start, count = self.outputs(n_frames)
        if count < 1:
            return np.zeros(0)
        first = start - math.ceil((win - 1) / 2) + (0.5 if win % 2 == 0 else 0.0)
        starts = np.arange(0, count, ds, dtype=np.float64)
        ends = np.minimum(starts + ds, count)
        return (first + (starts + ends - 1) / 2).astype(np.float32).astype(np.float64)


def cpu_threads() -> int:
    """CPUs this process may use (its affinity: a SLURM job's allocation)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def fft_length(n: int) -> int:
    """Smallest 2-3-5-smooth length >= ``n`` (``vqt``'s ``next_fast_len``)."""
    n = max(1, int(n))
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def filter_magnitudes(bank: FilterBank, x: np.ndarray, threads: int = 1) -> np.ndarray:
    """``|x * filters|`` over the outputs of ``bank.padding``, averaged by ``downsample_factor``.

    ``vqt.VQT(..., padding=bank.padding, take_abs=True)(x)`` to float32 rounding (another FFT
    length and summation order; tested against vqt and against a float64 computation).

    Parameters
    ----------
    bank : FilterBank
    x : (R, n) float32 ndarray (``n >= win_size`` for 'valid')
        Traces.
    threads : int
        Threads over blocks of rows.

    Returns
    -------
    (R, F, ceil(n_out / downsample_factor)) float32 ndarray
        ``n_out`` = ``n - win + 1`` ('valid') or ``n`` ('same').
    """
    import scipy.fft

    x = np.ascontiguousarray(x, dtype=np.float32)
    n_rows, n = x.shape
    n_f, win = bank.filters.shape
    start, n_valid = bank.outputs(n)
    if n_valid < 1:
        raise SpectralParamsError(f"traces of {n} frames are shorter than the VQT window "
                                  f"({win} frames, padding={bank.padding!r})")
    ds = bank.downsample_factor
    # a circular convolution long enough to hold the kept outputs, none of them wrapped
    n_fft = fft_length(max(start + n_valid, n + win - 1 - start))
    spectrum = bank.spectrum(n_fft)[None]
    block = max(1, min(n_rows, BLOCK_BYTES // (n_f * n_fft * 8)))
    per_thread = block * n_f * (n_fft * 8 + n_valid * 12)  # product, squares, magnitudes
    threads = max(1, min(int(threads), n_rows, WORK_BYTES // per_thread))
    x_hat = scipy.fft.fft(x, n=n_fft, axis=-1, workers=threads).astype(np.complex64,
                                                                   copy=False)
    full, extra = divmod(n_valid, ds)
    out = np.empty((n_rows, n_f, full + (extra > 0)), dtype=np.float32)

    def rows(r0: int, r1: int) -> None:
        prod = np.empty((block, n_f, n_fft), dtype=np.complex64)
        power = np.empty((block, n_f, n_valid, 2), dtype=np.float32)
        mag = np.empty((block, n_f, n_valid), dtype=np.float32)
        for s in range(r0, r1, block):
            b = min(block, r1 - s)
            p = np.multiply(x_hat[s:s + b, None, :], spectrum, out=prod[:b])
            conv = scipy.fft.ifft(p, axis=-1, overwrite_x=True)
            parts = conv.view(np.float32).reshape(b, n_f, n_fft, 2)[:, :, start:start + n_valid]
            sq = np.multiply(parts, parts, out=power[:b])
            m = np.sqrt(np.add(sq[..., 0], sq[..., 1], out=mag[:b]), out=mag[:b])
            if full:
                out[s:s + b, :, :full] = m[..., :full * ds].reshape(b, n_f, full, ds).mean(-1)
            if extra:
                out[s:s + b, :, full] = m[..., full * ds:].mean(-1)

    edges = np.linspace(0, n_rows, threads + 1).round().astype(int)
    if threads == 1:
        rows(0, n_rows)
    else:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fr-vqt") as ex:
            for f in [ex.submit(rows, a, b) for a, b in itertools.pairwise(edges)]:
                f.result()
    return out


# ----------------------------------------------------------------------------- building
#: Length of the mother window vqt samples (``mother_resolution``).
_MOTHER_LENGTH = 10000


def _gaussian(x: np.ndarray) -> np.ndarray:  # vqt's ('gaussian', 0.15 * 10000)
    return np.exp(-0.5 * (x * (_MOTHER_LENGTH - 1) / (0.15 * _MOTHER_LENGTH)) ** 2)


#: scipy's symmetric windows (``get_window(name, 10000, fftbins=False)``) as functions of
#: ``x`` in [-0.5, 0.5] (sample ``n`` is at ``x = n / 9999 - 0.5``).
MOTHER_WINDOWS = {
    "hann": lambda x: 0.5 + 0.5 * np.cos(2 * np.pi * x),
    "hamming": lambda x: 0.54 + 0.46 * np.cos(2 * np.pi * x),
    "blackman": lambda x: 0.42 + 0.5 * np.cos(2 * np.pi * x) + 0.08 * np.cos(4 * np.pi * x),
    "boxcar": np.ones_like,
    "gaussian": _gaussian,
}


def _torch_linspace_pi(n: int) -> np.ndarray:
    """``torch.linspace(-pi, pi, n)`` (float32) to the bit: a float32 step, each half of the
    points counted from its own end."""
    lo, hi = np.float64(np.float32(-np.pi)), np.float64(np.float32(np.pi))
    step = np.float64(np.float32((np.float32(np.pi) - np.float32(-np.pi)) / np.float32(n - 1)))
    i = np.arange(n)
    return np.where(i < n // 2, lo + step * i, hi - step * (n - 1 - i)).astype(np.float32)


def make_filter_bank(frame_rate: float, params_VQT: Mapping[str, Any],
                     n_frames: int | None = None) -> FilterBank | None:
    """The filters ``vqt.VQT(Fs_sample=frame_rate, **params_VQT)`` builds, without vqt.

    Parameters
    ----------
    frame_rate : float
        ``Fs_sample`` in Hz.
    params_VQT : mapping
        ``vqt.VQT`` keyword arguments (defaults of :data:`~.params.DEFAULT_PARAMS_VQT`),
        checked by :func:`~.params.check_vqt_params` (against ``n_frames`` when given).

    Returns
    -------
    FilterBank or None
        None when vqt must build or apply them: a window outside :data:`MOTHER_WINDOWS`,
        custom ``filters``, or settings other than ``padding`` 'valid' or 'same', ``fft_conv``
        and ``take_abs``.
    """
    from .params import check_vqt_params

    p = check_vqt_params(frame_rate, params_VQT, n_frames)
    if (p.get("filters") is not None or p["window_type"] not in MOTHER_WINDOWS
            or p["padding"] not in ("valid", "same") or not p["fft_conv"]
            or not p["take_abs"]):
        return None
    fs, n_f = p["Fs_sample"], int(p["n_freq_bins"])
    freqs = np.geomspace(p["F_min"], p["F_max"], n_f, endpoint=True, dtype=np.float32)
    win = expected_window_length(fs, p)
    periods = fs * (1 / freqs)  # float32, as vqt computes them
    scales = np.geomspace(p["Q_lowF"], p["Q_highF"], n_f, endpoint=True,
                          dtype=np.float32) * periods
    lengths = np.clip(scales, 1, None).astype(int)  # vqt truncates the stretched lengths
    x = (np.linspace(0, 1, win, endpoint=True) - 0.5)[None, :] * (win / lengths[:, None])
    wins = np.where(np.abs(x) <= 0.5, MOTHER_WINDOWS[p["window_type"]](np.clip(x, -0.5, 0.5)),
                    0.0).astype(np.float32)
    if p["symmetry"] != "center":
        half = (np.arange(win) <= win // 2).astype(np.float32)
        wins *= half if p["symmetry"] == "left" else half[::-1]
        if p["taper_asymmetric"]:
            wins[:, win // 2] *= np.float32(0.5)
    phase = _torch_linspace_pi(win)[None, :] * freqs[:, None] * np.float32(win / fs)
    real = (np.cos(phase) * wins).astype(np.float64)
    gain = np.zeros(win)  # the analytic signal (scipy.signal.hilbert's spectrum weights)
    gain[0] = 1
    gain[1:(win + 1) // 2] = 2
    if win % 2 == 0:
        gain[win // 2] = 1
    analytic = np.fft.ifft(np.fft.fft(real, axis=-1) * gain, axis=-1)
    analytic /= np.abs(analytic).sum(axis=1, keepdims=True)
    return FilterBank(filters=analytic.astype(np.complex64), freqs=freqs, sample_rate=fs,
                      downsample_factor=int(p["downsample_factor"]), wins=wins,
                      padding=p["padding"])
