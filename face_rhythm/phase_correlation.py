"""Door: phase correlation now lives in :mod:`face_rhythm.registration.phase_correlation`.

Every public name of that module is re-exported here (its ``__all__``), plus the two private
helpers that older code imported from this path.
"""

from face_rhythm.registration.phase_correlation import *
from face_rhythm.registration.phase_correlation import (  # noqa: F401
    RegistrationError,
    __all__,
    _as_gray_float,
    _window_2d,
)
