"""The original's VQT helpers (``face_rhythm.helpers`` names), as doors onto the ``vqt`` package.

:func:`make_VQT_filters` and :class:`VQT` are the reference package's older, helper-level VQT:
gaussian windows, ``padding='valid'`` by default, batches of signals moved between a compute
and a return device. Both are built on ``vqt`` (``vqt.helpers.make_VQT_filters`` with
``window_type='gaussian'`` and ``vqt.VQT``), so the filters are the ``vqt`` package's: the
window of each filter is a gaussian mother window scaled to ``Q`` periods of its centre
frequency (``Q`` varies log-linearly from ``Q_lowF`` to ``Q_highF``), the filters are analytic
(Hilbert) windowed cosines with unit L1 norm. :func:`torch_hilbert` and :func:`gaussian` are
``vqt``'s, :func:`bounded_logspace` is :func:`numpy.geomspace`.

The workflow and :class:`~.notebook.VQT_Analyzer` use :func:`~.vqt_model.make_vqt` instead.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from face_rhythm.errors import SpectralParamsError
from face_rhythm.runlog import progress_bar

logger = logging.getLogger(__name__)

__all__ = ["VQT", "bounded_logspace", "gaussian", "make_VQT_filters", "torch_hilbert"]


def bounded_logspace(start: float, stop: float, num: int) -> np.ndarray:
    """Logarithmically spaced values from ``start`` to ``stop``, both included.

    Parameters
    ----------
    start, stop : float
        First and last value (> 0, same sign).
    num : int
        Number of values.

    Returns
    -------
    (num,) float64 ndarray
        ``output[0] == start`` and ``output[-1] == stop`` exactly.
    """
    return np.geomspace(start, stop, int(num), endpoint=True)


def gaussian(x: np.ndarray | None = None, mu: float = 0, sig: float = 1,
             plot_pref: bool = False) -> np.ndarray:
    """Normalised 1D gaussian ``exp(-((x - mu) / sig)**2 / 2) / (sqrt(2 pi) sig)``.

    Parameters
    ----------
    x : (n,) ndarray, optional
        Positions; default ``int(7 * sig)`` points over ``[-5 sig, 5 sig]``.
    mu : float
        Mean.
    sig : float
        Standard deviation (> 0).
    plot_pref : bool
        Plot it with matplotlib.

    Returns
    -------
    (n,) ndarray
        The density at ``x`` (integrates to 1 over a fine grid).
    """
    from vqt.helpers import gaussian as _gaussian

    if x is None:
        x = np.linspace(-sig * 5, sig * 5, max(int(sig * 7), 2), endpoint=True)
    gaus = _gaussian(x=np.asarray(x, dtype=np.float64), mu=mu, sig=sig)
    if plot_pref:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
        ax.plot(x, gaus)
        ax.set_xlabel("x")
        ax.set_title(f"mu={mu}, sigma={sig}")
    return gaus


def torch_hilbert(x, N: int | None = None, dim: int = 0):
    """Analytic signal of a real tensor along ``dim`` (``scipy.signal.hilbert`` in torch).

    Parameters
    ----------
    x : torch.Tensor
        Real signal of any rank (a numpy array is converted).
    N : int, optional
        Number of Fourier components (zero-pads or truncates); default ``x.shape[dim]``.
    dim : int
        Axis of the transform.

    Returns
    -------
    torch.Tensor
        Complex analytic signal ``x + i H(x)``; ``N`` long along ``dim``.
    """
    import torch
    from vqt.helpers import torch_hilbert as _hilbert

    x = torch.as_tensor(x)
    if x.is_complex():
        raise SpectralParamsError("torch_hilbert: x must be real, got a complex tensor")
    if N is not None and int(N) < 1:
        raise SpectralParamsError(f"torch_hilbert: N={N} must be >= 1")
    return _hilbert(x, N=None if N is None else int(N), dim=int(dim))


def _check_filter_args(Fs_sample, F_min, F_max, n_freq_bins, win_size, symmetry) -> None:
    if not Fs_sample > 0:
        raise SpectralParamsError(f"Fs_sample={Fs_sample} Hz must be > 0")
    if not 0 < F_min <= F_max:
        raise SpectralParamsError(f"need 0 < F_min <= F_max, got F_min={F_min}, "
                                  f"F_max={F_max} Hz")
    if F_max > Fs_sample / 2:
        raise SpectralParamsError(f"F_max={F_max} Hz is above the Nyquist frequency "
                                  f"{Fs_sample / 2:g} Hz (Fs_sample={Fs_sample} Hz)")
    if int(n_freq_bins) < 1:
        raise SpectralParamsError(f"n_freq_bins={n_freq_bins} must be >= 1")
    if win_size is not None and (int(win_size) < 3 or int(win_size) % 2 != 1):
        raise SpectralParamsError(f"win_size={win_size} must be an odd integer >= 3")
    if symmetry not in ("center", "left", "right"):
        raise SpectralParamsError(f"symmetry={symmetry!r} must be center, left or right")


def make_VQT_filters(Fs_sample: float = 1000, Q_lowF: float = 3, Q_highF: float = 20,
                     F_min: float = 10, F_max: float = 400, n_freq_bins: int = 55,
                     win_size: int = 501, symmetry: str = "center",
                     taper_asymmetric: bool = True, plot_pref: bool = False):
    """Bank of complex (analytic) gaussian-windowed sinusoid filters for a VQT.

    A door onto ``vqt.helpers.make_VQT_filters(window_type='gaussian')``. ``Q_lowF ==
    Q_highF`` gives a constant-Q filter bank.

    Parameters
    ----------
    Fs_sample : float
        Sampling rate in Hz.
    Q_lowF, Q_highF : float
        Q factor (cycles per window) at ``F_min`` and at ``F_max``.
    F_min, F_max : float
        Lowest and highest centre frequency in Hz (both included; ``F_max`` at most Nyquist).
    n_freq_bins : int
        Number of filters (geometrically spaced centre frequencies).
    win_size : int
        Filter length in samples, odd.
    symmetry : {"center", "left", "right"}
        Two-sided window, or only its left / right half non-zero.
    taper_asymmetric : bool
        With a one-sided window, halve its centre sample.
    plot_pref : bool
        Plot the filters (``vqt``'s figures).

    Returns
    -------
    filts_complex : (n_freq_bins, win_size) complex64 torch.Tensor
        Unit-L1-norm filters.
    freqs : (n_freq_bins,) float32 ndarray
        Centre frequencies in Hz.
    wins : (n_freq_bins, win_size) float32 torch.Tensor
        The window of each filter.
    """
    from vqt.helpers import make_VQT_filters as _make

    _check_filter_args(Fs_sample, F_min, F_max, n_freq_bins, win_size, symmetry)
    filts, freqs, wins = _make(
        Fs_sample=Fs_sample, Q_lowF=Q_lowF, Q_highF=Q_highF, F_min=F_min, F_max=F_max,
        n_freq_bins=int(n_freq_bins), win_size=None if win_size is None else int(win_size),
        window_type="gaussian", symmetry=symmetry, taper_asymmetric=bool(taper_asymmetric),
        plot_pref=bool(plot_pref))
    return filts, np.asarray(freqs.cpu().numpy(), dtype=np.float32), wins


class VQT:
    """Variable-Q transform of batches of signals (the original's helper class).

    A door onto ``vqt.VQT``: the filters of :func:`make_VQT_filters` (or ``filters``),
    FFT convolution, magnitude (or complex) output, then average pooling by
    ``downsample_factor``. Signals are processed ``batch_size`` at a time on
    ``DEVICE_compute`` and returned on ``DEVICE_return``.

    Parameters
    ----------
    Fs_sample, Q_lowF, Q_highF, F_min, F_max, n_freq_bins, win_size, symmetry, \
taper_asymmetric
        As :func:`make_VQT_filters` (ignored when ``filters`` is given).
    downsample_factor : int
        Time pooling factor (ceil mode: a partial last bin is kept).
    padding : {"valid", "same", "full"}
        ``valid``: ``n - win_size + 1`` outputs before pooling; ``same``: ``n``.
    DEVICE_compute, DEVICE_return : str
        Torch devices for the computation and for the result.
    batch_size : int
        Signals per batch.
    return_complex : bool
        Complex output (phase kept) instead of the magnitude.
    filters : (n_freq_bins, win_size) complex torch.Tensor, optional
        Custom filters.
    plot_pref : bool
        Plot the filters.
    progressBar : bool
        Show a progress bar over the batches.

    Attributes
    ----------
    filters : (n_freq_bins, win_size) complex64 torch.Tensor
    freqs : (n_freq_bins,) float32 ndarray
        Hz; only when the filters were made here.
    wins : (n_freq_bins, win_size) torch.Tensor
        Only when the filters were made here.
    using_custom_filters : bool
    model : vqt.VQT
    """

    def __init__(self, Fs_sample: float = 1000, Q_lowF: float = 3, Q_highF: float = 20,
                 F_min: float = 10, F_max: float = 400, n_freq_bins: int = 55,
                 win_size: int = 501, symmetry: str = "center", taper_asymmetric: bool = True,
                 downsample_factor: int = 4, padding: str = "valid",
                 DEVICE_compute: str = "cpu", DEVICE_return: str = "cpu",
                 batch_size: int = 1000, return_complex: bool = False, filters=None,
                 plot_pref: bool = False, progressBar: bool = True):
        import torch
        import vqt

        if padding not in ("valid", "same", "full"):
            raise SpectralParamsError(f"padding={padding!r} must be valid, same or full")
        if int(downsample_factor) < 1 or int(batch_size) < 1:
            raise SpectralParamsError(f"downsample_factor={downsample_factor} and "
                                      f"batch_size={batch_size} must be >= 1")
        self.using_custom_filters = filters is not None
        if filters is None:
            self.filters, self.freqs, self.wins = make_VQT_filters(
                Fs_sample=Fs_sample, Q_lowF=Q_lowF, Q_highF=Q_highF, F_min=F_min,
                F_max=F_max, n_freq_bins=n_freq_bins, win_size=win_size, symmetry=symmetry,
                taper_asymmetric=taper_asymmetric, plot_pref=plot_pref)
        else:
            self.filters = torch.as_tensor(filters)
            if self.filters.ndim != 2:
                raise SpectralParamsError(f"filters must be (n_freq_bins, win_size), got "
                                          f"shape {tuple(self.filters.shape)}")
            self.freqs = None
            self.wins = None
        self.Fs_sample, self.Q_lowF, self.Q_highF = Fs_sample, Q_lowF, Q_highF
        self.F_min, self.F_max, self.n_freq_bins = F_min, F_max, int(self.filters.shape[0])
        self.win_size = int(self.filters.shape[-1])
        self.symmetry, self.taper_asymmetric = symmetry, taper_asymmetric
        self.downsample_factor, self.padding = int(downsample_factor), padding
        self.DEVICE_compute, self.DEVICE_return = DEVICE_compute, DEVICE_return
        self.batch_size, self.return_complex = int(batch_size), bool(return_complex)
        self.plot_pref, self.progressBar = plot_pref, progressBar
        self.model = vqt.VQT(
            Fs_sample=Fs_sample, downsample_factor=self.downsample_factor, padding=padding,
            fft_conv=True, fast_length=True, take_abs=not self.return_complex,
            filters=self.filters.to(torch.complex64), verbose=0).to(DEVICE_compute)

    def __call__(self, X) -> tuple[Any, Any, np.ndarray | None]:
        """Transform signals.

        Parameters
        ----------
        X : (n_channels, n_samples) or (n_samples,) array or tensor
            Real signals sampled at ``Fs_sample``.

        Returns
        -------
        specs : (n_channels, n_freq_bins, n_out) torch.Tensor on ``DEVICE_return``
            Magnitudes (float32) or complex64 values.
        x_axis : (n_out,) torch.Tensor
            Centre of each output bin, in samples (divide by ``Fs_sample`` for seconds).
        freqs : (n_freq_bins,) ndarray or None
            Hz (None with custom filters).
        """
        import torch

        x = torch.as_tensor(X, dtype=torch.float32)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2:
            raise SpectralParamsError(f"X must be (n_channels, n_samples), got shape "
                                      f"{tuple(x.shape)}")
        if self.padding == "valid" and x.shape[-1] < self.win_size:
            raise SpectralParamsError(f"signals of {x.shape[-1]} samples are shorter than the "
                                      f"filters ({self.win_size} samples, padding='valid')")
        n_b = math.ceil(x.shape[0] / self.batch_size)
        starts = range(0, x.shape[0], self.batch_size)
        specs = [self.model(x[s:s + self.batch_size].to(self.DEVICE_compute))
                 .to(self.DEVICE_return)
                 for s in progress_bar(starts, total=n_b, desc="VQT", unit="batch",
                                       enabled=bool(self.progressBar))]
        x_axis = self.model.get_xAxis(int(x.shape[-1]))
        return torch.cat(specs, dim=0), x_axis, self.freqs

    def __repr__(self) -> str:
        if self.using_custom_filters:
            return f"VQT(custom filters {tuple(self.filters.shape)})"
        return (f"VQT(Fs_sample={self.Fs_sample}, Q_lowF={self.Q_lowF}, "
                f"Q_highF={self.Q_highF}, F_min={self.F_min}, F_max={self.F_max}, "
                f"n_freq_bins={self.n_freq_bins}, win_size={self.win_size}, "
                f"downsample_factor={self.downsample_factor}, padding={self.padding!r}, "
                f"return_complex={self.return_complex})")
