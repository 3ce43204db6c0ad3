"""Normalisation of the tensor before fitting: mean subtraction / std division along a dim."""

from __future__ import annotations

import numpy as np

__all__ = ["normalize_tensor"]


def normalize_tensor(tensor: np.ndarray, axis: int, mean_subtract: bool = False,
                     std_divide: bool = False) -> np.ndarray:
    """Mean-subtract and/or std-divide ``tensor`` along ``axis`` (a new array).

    Statistics are taken along ``axis`` for every fibre (e.g. ``axis`` = time: each
    point x frequency row is centred / scaled over time). Fibres with zero std are left
    unscaled. ``tensor`` is never modified; with neither option it is returned as it is
    (no copy; cast to float32 if it is an integer array).
    """
    if not (mean_subtract or std_divide):
        return np.asarray(tensor, dtype=np.result_type(tensor.dtype, np.float32))
    out = np.array(tensor, dtype=np.result_type(tensor.dtype, np.float32), copy=True)
    if mean_subtract:
        out -= out.mean(axis=axis, keepdims=True, dtype=np.float64).astype(out.dtype)
    if std_divide:
        sd = out.std(axis=axis, keepdims=True, dtype=np.float64)
        sd[sd == 0] = 1.0
        out /= sd.astype(out.dtype)
    return out
