"""Phase correlation: translation between images in the frequency domain.

Distance grids, Butterworth band-pass design and 2-D radial frequency masks, the
phase-correlation surface and its sub-pixel peak.

Conventions
-----------
* Images are (H, W) (``phase_correlation`` broadcasts leading axes); distances, shifts and
  frequency cut-offs are in pixels (cut-offs: px of distance from the spectrum centre).
* Frequency masks and correlation surfaces are fftshifted: zero frequency / zero shift at
  (H//2, W//2).
* Shifts are ``(dx, dy)`` (x = column, y = row) with ``im_moving(p + d) ~ im_template(p)``.

Every name here is also importable from :mod:`face_rhythm.registration`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.signal
import torch

from .warps import RegistrationError, _as_gray_float

__all__ = [
    "design_butter_bandpass",
    "make_2D_frequency_filter",
    "make_distance_grid",
    "phase_correlation",
    "phase_correlation_shift",
]


def make_distance_grid(shape: Sequence[int] = (512, 512), p: float = 2,
                       idx_center: Sequence[float] | None = None,
                       use_fftshift_center: bool = False) -> np.ndarray:
    """(H, W) Minkowski-``p`` distances (px) to a centre.

    Parameters
    ----------
    shape : (H, W)
    p : float
        Minkowski order (1 Manhattan, 2 Euclidean, ``np.inf`` Chebyshev; large p ~ Chebyshev).
    idx_center : (row, col), optional
        Centre; default the geometric middle ((H-1)/2, (W-1)/2).
    use_fftshift_center : bool
        Centre on (H//2, W//2), the zero frequency / zero shift of fftshifted arrays.
    """
    h, w = (int(s) for s in shape)
    if use_fftshift_center:
        cy, cx = h // 2, w // 2
    elif idx_center is not None:
        cy, cx = (float(v) for v in idx_center)
    else:
        cy, cx = (h - 1) / 2, (w - 1) / 2
    dy = np.abs(np.arange(h, dtype=np.float64) - cy)[:, None] * np.ones((1, w))
    dx = np.abs(np.arange(w, dtype=np.float64) - cx)[None, :] * np.ones((h, 1))
    if np.isinf(p):
        return np.maximum(dx, dy)
    mx = np.maximum(np.maximum(dx, dy), 1e-300)
    return mx * ((dx / mx) ** p + (dy / mx) ** p) ** (1.0 / p)


def _butter_sos(lowcut: float, highcut: float, fs: float, order: int):
    nyq = fs / 2
    if lowcut <= 0 and highcut >= nyq:
        return None
    if lowcut <= 0:
        return scipy.signal.butter(order, highcut, btype="lowpass", fs=fs, output="sos")
    if highcut >= nyq:
        return scipy.signal.butter(order, lowcut, btype="highpass", fs=fs, output="sos")
    return scipy.signal.butter(order, [lowcut, highcut], btype="bandpass", fs=fs, output="sos")


def design_butter_bandpass(lowcut: float, highcut: float, fs: float, order: int = 5
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Butterworth band-pass ``(b, a)``; lowpass when ``lowcut <= 0``, highpass when
    ``highcut >= fs / 2`` (same units as ``fs``)."""
    if fs <= 0 or highcut <= lowcut:
        raise RegistrationError(f"band-pass needs fs > 0 and lowcut < highcut, got "
                                f"lowcut={lowcut}, highcut={highcut}, fs={fs}")
    sos = _butter_sos(lowcut, highcut, fs, order)
    if sos is None:
        return np.array([1.0]), np.array([1.0])
    return scipy.signal.sos2tf(sos)


def make_2D_frequency_filter(hw: Sequence[int], low: float = 5.0, high: float = 6.0,
                             order: int = 3, distance_p: float = 100) -> np.ndarray:
    """2-D radial Butterworth band mask, centred like an fftshifted array.

    The 1-D Butterworth magnitude response of :func:`design_butter_bandpass` (sampling rate
    ``max(hw)``, so the distance axis runs to ``max(hw) / 2`` px) evaluated at the
    Minkowski-``distance_p`` distance of each element from the fftshift centre.

    Parameters
    ----------
    hw : (H, W)
    low, high : float
        Cut-offs in px of distance from the centre (low <= 0: lowpass; high >= max(hw)/2:
        highpass).
    order : int
        Butterworth order.
    distance_p : float
        Minkowski order of the distance (100 ~ Chebyshev, i.e. square bands).

    Returns
    -------
    (H, W) float64 in [0, 1]
    """
    h, w = (int(s) for s in hw)
    fs = float(max(h, w))
    grid = make_distance_grid((h, w), p=distance_p, use_fftshift_center=True)
    sos = _butter_sos(float(low), float(high), fs, int(order))
    if sos is None:
        return np.ones((h, w))
    n = int(max(h, w) * 10)
    freqs, resp = scipy.signal.sosfreqz(sos, worN=n, fs=fs)
    return np.clip(np.interp(grid, freqs, np.abs(resp)), 0.0, 1.0)


def phase_correlation(im_template: np.ndarray | torch.Tensor, im_moving: np.ndarray | torch.Tensor,
                      mask_fft: np.ndarray | torch.Tensor | None = None,
                      return_filtered_images: bool = False, eps: float = 1e-8):
    """Phase correlation of two images along their last two axes (leading axes broadcast).

    Parameters
    ----------
    im_template, im_moving : (..., H, W)
    mask_fft : (H, W), optional
        Fftshifted frequency mask (e.g. :func:`make_2D_frequency_filter`); normalised to sum
        1 and un-shifted before multiplying both spectra.
    return_filtered_images : bool
        Also return the masked template and moving images (image domain, real part).
    eps : float
        Floor of the cross-power magnitude.

    Returns
    -------
    cc : (..., H, W)
        Real phase-correlation surface, fftshifted: zero shift at (H//2, W//2). A moving
        image that is the template shifted by ``(dx, dy)`` peaks at ``(W//2 - dx, H//2 - dy)``.
        numpy when ``im_template`` is numpy, else torch. With ``return_filtered_images``:
        ``(cc, template_filtered, moving_filtered)``.
    """
    return_numpy = not isinstance(im_template, torch.Tensor)
    t = torch.as_tensor(np.asarray(im_template) if return_numpy else im_template)
    m = torch.as_tensor(im_moving if isinstance(im_moving, torch.Tensor)
                        else np.asarray(im_moving), device=t.device)
    t = t.to(torch.float64) if t.dtype == torch.float64 else t.to(torch.float32)
    m = m.to(t.dtype)
    axes = (-2, -1)
    ft = torch.fft.fft2(t, dim=axes)
    fm = torch.fft.fft2(m, dim=axes)
    if mask_fft is not None:
        mk = torch.as_tensor(np.asarray(mask_fft) if not isinstance(mask_fft, torch.Tensor)
                             else mask_fft, device=t.device).to(t.dtype)
        mk = torch.fft.ifftshift(mk / mk.sum(), dim=axes)
        ft = ft * mk
        fm = fm * mk
    r = ft * torch.conj(fm)
    r = r / (torch.abs(r) + eps)
    cc = torch.fft.fftshift(torch.fft.ifft2(r, dim=axes), dim=axes).real
    if return_filtered_images:
        tf = torch.fft.ifft2(ft, dim=axes).real
        mf = torch.fft.ifft2(fm, dim=axes).real
        out = (cc, tf, mf)
        return tuple(o.cpu().numpy() for o in out) if return_numpy else out
    return cc.cpu().numpy() if return_numpy else cc


def _window_2d(h: int, w: int, alpha: float = 0.25) -> np.ndarray:
    return np.outer(scipy.signal.windows.tukey(h, alpha), scipy.signal.windows.tukey(w, alpha))


def _prep_for_fft(im: np.ndarray, window: bool) -> np.ndarray:
    a = np.asarray(im, dtype=np.float64)
    a = a - a.mean()
    if window:
        a = a * _window_2d(*a.shape)
    return a


def phase_correlation_shift(im_template: np.ndarray, im_moving: np.ndarray,
                            mask_fft: np.ndarray | None = None, window: bool = True
                            ) -> tuple[float, float, float]:
    """Translation ``(dx, dy)`` px with ``im_moving(p + d) ~ im_template(p)``, sub-pixel.

    Integer peak of :func:`phase_correlation` refined by a parabola through its neighbours
    along each axis.

    Returns
    -------
    dx, dy : float
        Shift of the moving image relative to the template, px.
    peak : float
        Height of the phase-correlation peak.
    """
    t = _prep_for_fft(_as_gray_float(im_template, "im_template"), window)
    m = _prep_for_fft(_as_gray_float(im_moving, "im_moving"), window)
    if t.shape != m.shape:
        raise RegistrationError(f"template {t.shape} and moving {m.shape} images differ in shape")
    cc = phase_correlation(t, m, mask_fft=mask_fft)
    h, w = cc.shape
    py, px = np.unravel_index(int(np.argmax(cc)), cc.shape)

    def refine(c_m, c_0, c_p):
        den = c_m - 2 * c_0 + c_p
        return 0.0 if abs(den) < 1e-12 else float(np.clip(0.5 * (c_m - c_p) / den, -0.5, 0.5))

    sx = refine(cc[py, (px - 1) % w], cc[py, px], cc[py, (px + 1) % w])
    sy = refine(cc[(py - 1) % h, px], cc[py, px], cc[(py + 1) % h, px])
    dx = -((px + sx) - w // 2)
    dy = -((py + sy) - h // 2)
    return float(dx), float(dy), float(cc[py, px])
