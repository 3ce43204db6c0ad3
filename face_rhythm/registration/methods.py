"""The simple backends (phase correlation, identity) and the backend table by name.

:data:`METHODS` maps the names used by :func:`~.register.register_images`, the notebook
``Aligner`` and the workflow's ``alignment.backend`` to the backend classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import ImageRegistrationMethod
from .ecc import ECC_cv2
from .phase_correlation import make_2D_frequency_filter, phase_correlation_shift
from .roma import RoMa
from .warps import RegistrationError, _as_gray_float

__all__ = ["METHODS", "NullRegistration", "PhaseCorrelationRegistration",
           "make_registration_method"]


class PhaseCorrelationRegistration(ImageRegistrationMethod):
    """Translation-only registration by the phase-correlation peak (sub-pixel).

    Parameters
    ----------
    device : str
        Unused (FFT on the CPU); kept for API compatibility.
    bandpass_freqs : [low, high], optional
        Frequency band (px of distance from the spectrum centre) of a Butterworth mask
        applied to both spectra.
    order : int
        Butterworth order of the band mask.
    window : bool
        Taper both images with a Tukey window (avoids the edge cross of periodic FFTs).
    """

    def __init__(self, device: str = "cpu", bandpass_freqs: Sequence[float] | None = None,
                 order: int = 5, verbose: bool = False, *, window: bool = True):
        super().__init__(device=device, verbose=verbose)
        if bandpass_freqs is not None and len(bandpass_freqs) != 2:
            raise RegistrationError(f"bandpass_freqs must be [low, high], got {bandpass_freqs}")
        self.bandpass_freqs = None if bandpass_freqs is None else [float(v) for v in
                                                                   bandpass_freqs]
        self.order = int(order)
        self.window = bool(window)

    def fit_rigid(self, im_template, im_moving, **kwargs) -> np.ndarray:
        """(3, 3) float64 translation warp ``[[1, 0, dx], [0, 1, dy], [0, 0, 1]]``."""
        t = _as_gray_float(im_template, "im_template")
        mask = None
        if self.bandpass_freqs is not None:
            mask = make_2D_frequency_filter(t.shape, low=self.bandpass_freqs[0],
                                            high=self.bandpass_freqs[1], order=self.order)
        dx, dy, _ = phase_correlation_shift(t, im_moving, mask_fft=mask, window=self.window)
        return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


class NullRegistration(ImageRegistrationMethod):
    """Identity registration (pre-registered images, debugging, baseline)."""

    def __init__(self, device: str | None = None, verbose: bool = False):
        super().__init__(device=device or "cpu", verbose=verbose)

    def fit_rigid(self, im_template, im_moving, **kwargs) -> np.ndarray:
        """(3, 3) identity."""
        return np.eye(3)




#: Backend name -> class (``PhaseCorrelationRegistration`` and ``Null`` are aliases).
METHODS: dict[str, type[ImageRegistrationMethod]] = {
    "ECC_cv2": ECC_cv2,
    "PhaseCorrelation": PhaseCorrelationRegistration,
    "PhaseCorrelationRegistration": PhaseCorrelationRegistration,
    "NullRegistration": NullRegistration,
    "Null": NullRegistration,
    "RoMa": RoMa,
}


def make_registration_method(method: str, **kwargs) -> ImageRegistrationMethod:
    """Construct a backend by name: ECC_cv2, PhaseCorrelation, NullRegistration (Null), RoMa."""
    methods = METHODS
    if method not in methods:
        raise RegistrationError(f"registration method {method!r} not in "
                                f"{sorted(set(methods))}")
    return methods[method](**kwargs)
