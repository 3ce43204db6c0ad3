"""Point tracks -> displacement traces, and the checks of tracks the spectral stage needs."""

from __future__ import annotations

import numpy as np

from face_rhythm.disk_arrays import is_read_only_map
from face_rhythm.errors import SpectralParamsError

__all__ = ["displacements_to_rows"]


def displacements_to_rows(points_tracked: np.ndarray, home: np.ndarray) -> np.ndarray:
    """Displacement traces from home positions, one row per point and coordinate.

    Parameters
    ----------
    points_tracked : (T, N, 2) array
        Tracked positions (x, y) in px, per frame.
    home : (N, 2) array
        Home (rest) positions (x, y) in px.

    Returns
    -------
    (2N, T) float32
        Rows ``0..N-1`` are the x displacements of points ``0..N-1``, rows ``N..2N-1`` their
        y displacements. The subtraction is done in float64.
    """
    pt = np.asarray(points_tracked)
    home = np.asarray(home, dtype=np.float64)
    if pt.ndim != 3 or pt.shape[2] != 2:
        raise SpectralParamsError(f"points_tracked has shape {pt.shape}; expected (T, N, 2)")
    if home.shape != (pt.shape[1], 2):
        raise SpectralParamsError(f"home positions have shape {home.shape}; expected "
                                  f"({pt.shape[1]}, 2) to match points_tracked {pt.shape}")
    n = pt.shape[1]
    out = np.empty((2 * n, pt.shape[0]), dtype=np.float32)
    for c in range(2):
        out[c * n:(c + 1) * n] = pt[:, :, c].T.astype(np.float64) - home[:, c, None]
    return out


def _check_inputs(points_tracked, home: np.ndarray) -> tuple[int, int]:
    """``(n_frames, n_points)`` of (T, N, 2) tracks and (N, 2) homes, or an error.

    NaN or infinite tracks are rejected here only for NumPy arrays in memory (an h5py dataset
    or a read-only memory map is checked a chunk at a time while it is read).
    """
    shape = tuple(points_tracked.shape)
    if len(shape) != 3 or shape[2] != 2:
        raise SpectralParamsError(f"points_tracked has shape {shape}; expected (T, N, 2)")
    if np.shape(home) != (shape[1], 2):
        raise SpectralParamsError(f"point_positions have shape {np.shape(home)}; expected "
                                  f"({shape[1]}, 2) to match points_tracked {shape}")
    if shape[0] < 1 or shape[1] < 1:
        raise SpectralParamsError(f"points_tracked has shape {shape}: no frames or no points")
    if not np.all(np.isfinite(home)):
        raise SpectralParamsError("point_positions contain NaN or infinite values")
    if isinstance(points_tracked, np.ndarray) and not is_read_only_map(points_tracked):
        bad = int(np.size(points_tracked) - np.count_nonzero(np.isfinite(points_tracked)))
        if bad:
            raise SpectralParamsError(f"points_tracked contains {bad} NaN or infinite values")
    return shape[0], shape[1]
