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

logger = logging.getLogger(__name__)

__all__ = ["normalize_spectrogram"]


def normalize_spectrogram(spec: np.ndarray, freqs: np.ndarray,
                          normalization_factor: float, spectrogram_exponent: float = 1.0,
                          one_over_f_exponent: float = 0.0) -> np.ndarray:
    """The normalisation formula applied to a whole raw spectrogram held in memory.

    Parameters
    ----------
    spec : (R, F, T) array (or CPU tensor), real (magnitudes) or complex
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
    raw = np.asarray(spec)
    out, total = _powered(raw, spectrogram_exponent, np.iscomplexobj(raw))
    if np.shares_memory(out, raw):
        out = out.copy()  # the caller's array is not normalised in place
    _normalize_block_inplace(out, _denominator(total / raw.shape[0], normalization_factor),
                             _one_over_f(freqs, one_over_f_exponent))
    return out


def _powered(raw: np.ndarray, exponent: float, keep_phase: bool
             ) -> tuple[np.ndarray, np.ndarray]:
    """``|raw| ** exponent`` (with ``raw``'s phase when ``keep_phase``) and its sum over rows
    and frequencies per time point. The first may be ``raw`` itself (real, exponent 1).

    Returns
    -------
    (R, F, T) float32 (complex64 when ``keep_phase``), and (T,) float64
    """
    mag = np.abs(raw) if np.iscomplexobj(raw) else raw.astype(np.float32, copy=False)
    s_exp = mag if float(exponent) == 1 else mag ** np.float32(exponent)
    total = s_exp.sum(axis=(0, 1), dtype=np.float64)
    if keep_phase:
        s_exp = (s_exp * np.exp(1j * np.angle(raw))).astype(np.complex64)
    return s_exp, total


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
