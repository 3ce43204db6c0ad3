"""Door: phase correlation now lives in :mod:`face_rhythm.registration.phase_correlation`."""

from face_rhythm.registration.phase_correlation import (
    RegistrationError,
    _as_gray_float,
    _window_2d,
    design_butter_bandpass,
    make_2D_frequency_filter,
    make_distance_grid,
    phase_correlation,
    phase_correlation_shift,
)

__all__ = [
    "RegistrationError",
    "_as_gray_float",
    "_window_2d",
    "design_butter_bandpass",
    "make_2D_frequency_filter",
    "make_distance_grid",
    "phase_correlation",
    "phase_correlation_shift",
]
