"""Door: the RoMa backend now lives in :mod:`face_rhythm.registration.roma`."""

from face_rhythm.atomic import atomic_path
from face_rhythm.registration.roma import (
    MULTISESSION_EXTRA_HINT,
    ImageRegistrationMethod,
    RegistrationError,
    RoMa,
    _as_gray_float,
    fetch_weights,
    hash_file,
)

__all__ = [
    "MULTISESSION_EXTRA_HINT",
    "ImageRegistrationMethod",
    "RegistrationError",
    "RoMa",
    "_as_gray_float",
    "atomic_path",
    "fetch_weights",
    "hash_file",
]
