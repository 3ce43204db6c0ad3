"""Door: warps now live in :mod:`face_rhythm.registration.warps` (conventions there).

Every public name of that module is re-exported here (its ``__all__``), plus the two private
helpers that older code imported from this path.
"""

from face_rhythm.registration.warps import *
from face_rhythm.registration.warps import (  # noqa: F401
    __all__,
    _as_gray_float,
    _pixel_grid,
)
