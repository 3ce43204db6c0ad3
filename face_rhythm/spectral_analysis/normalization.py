"""The normalisation of raw VQT spectrograms (the original face-rhythm formula).

For raw spectrograms ``S`` (rows, F, T)::

    s       = |S| ** spectrogram_exponent
    m[t]    = mean over ALL rows r of  sum_f s[r, f, t]
    out     = s / (normalization_factor * m[t] + (1 - normalization_factor))
    out    *= freqs[f] ** one_over_f_exponent

Complex input keeps the phase of ``S``. :func:`normalize_spectrogram` applies it to a
spectrogram held in memory; the streaming core (:mod:`.streaming`) uses the block helpers
below on one batch of points at a time, with the same float32 arithmetic.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

logger = logging.getLogger(__name__)

__all__ = ["normalize_spectrogram"]


def normalize_spectrogram(spec: np.ndarray | torch.Tensor, freqs: np.ndarray,
                          normalization_factor: float, spectrogram_exponent: float = 1.0,
                          one_over_f_exponent: float = 0.0) -> np.ndarray:
    """The normalisation formula applied to a whole raw spectrogram held in memory.

    Parameters
    ----------
    spec : (R, F, T) array, real (magnitudes) or complex
        Raw VQT output of all rows.
    freqs : (F,) array
        Centre frequencies in Hz.
    normalization_factor, spectrogram_exponent, one_over_f_exponent : float
        See :class:`~.params.SpectralParams`.

    Returns
    -------
    (R, F, T) float32 or complex64
        ``|S|^e / (nf * m[t] + 1 - nf) * f^a`` with ``m[t]`` the mean over rows of the sum over
        frequencies of ``|S|^e``; complex input keeps its phase.
    """
    s = torch.as_tensor(spec)
    is_c = torch.is_complex(s)
    mag = torch.abs(s) if is_c else s.to(torch.float32)
    s_exp = mag if spectrogram_exponent == 1 else mag ** float(spectrogram_exponent)
    m = torch.sum(s_exp, dim=(0, 1), dtype=torch.float64).cpu().numpy() / s_exp.shape[0]
    if is_c:
        s_exp = torch.polar(s_exp, torch.angle(s))
    out = s_exp.cpu().numpy()
    _normalize_block_inplace(out, _denominator(m, normalization_factor),
                             _one_over_f(freqs, one_over_f_exponent))
    return out


def _denominator(m: np.ndarray, nf: float) -> np.ndarray:
    """``nf * m[t] + 1 - nf`` as float32, (T,); exact zeros become inf (output 0, not NaN)."""
    d = (float(nf) * np.asarray(m, dtype=np.float64) + (1.0 - float(nf))).astype(np.float32)
    n_zero = int(np.count_nonzero(d == 0))
    if n_zero:
        logger.warning("%d time point(s) have no motion at all and normalization_factor=1: "
                       "their spectrogram is set to 0", n_zero)
        d[d == 0] = np.inf  # x / inf = 0 (x is 0 there anyway)
    return d


def _one_over_f(freqs: np.ndarray, a: float) -> np.ndarray | None:
    """``freqs ** a`` as float32, (F,), or None when ``a == 0``."""
    if a == 0:
        return None
    return (np.asarray(freqs, dtype=np.float64) ** float(a)).astype(np.float32)


def _normalize_block_inplace(block: np.ndarray, denom: np.ndarray,
                             fa: np.ndarray | None) -> None:
    """block (..., F, T) /= denom[t]; *= f^a[f] (float32 arithmetic, in place)."""
    block /= denom
    if fa is not None:
        block *= fa[:, None]
