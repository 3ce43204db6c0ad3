"""Named dimensions: fold, split, window and complex-unfold arrays whose axes have names.

Arrays in, arrays out. A dim made by folding ``a`` into ``b`` is named ``"(a b)"``
(:func:`concatenated_name`) and has index ``i_a * len_b + i_b``; :func:`split_dim` undoes it
on a factor. Windows are INCLUSIVE ``(start, end)`` index pairs (the original's convention).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from face_rhythm.errors import TCAError

__all__ = ["concatenate_dims", "concatenated_name", "refold_complex", "split_dim",
           "unfold_complex", "window_array"]


def concatenated_name(dim_a: str, dim_b: str) -> str:
    """Name of the dim made by folding ``dim_a`` into ``dim_b``: ``"(dim_a dim_b)"``."""
    return f"({dim_a} {dim_b})"


def _axis(names: Sequence[str], name: str, what: str = "array") -> int:
    names = list(names)
    if name not in names:
        raise TCAError(f"dim {name!r} is not one of the {what} dims {names}")
    return names.index(name)


def concatenate_dims(array: np.ndarray, names: Sequence[str], dim_a: str,
                     dim_b: str) -> tuple[np.ndarray, list[str]]:
    """Fold dim ``dim_a`` into dim ``dim_b``.

    Parameters
    ----------
    array : ndarray
        Array whose axes are named by ``names``.
    names : sequence of str
        Dim names, one per axis.
    dim_a, dim_b : str
        The new dim sits where ``dim_b`` was (counting without ``dim_a``); its length is
        ``len_a * len_b`` and its index is ``i_a * len_b + i_b``.

    Returns
    -------
    array : ndarray
        ``ndim - 1`` axes (a view when possible).
    names : list of str
        With ``dim_a`` removed and ``dim_b`` renamed ``"(dim_a dim_b)"``.
    """
    names = list(names)
    if dim_a == dim_b:
        raise TCAError(f"cannot concatenate dim {dim_a!r} with itself")
    ia, ib = _axis(names, dim_a), _axis(names, dim_b)
    rest = [n for n in names if n != dim_a]
    pos = rest.index(dim_b)
    order = [names.index(n) for n in rest[:pos]] + [ia, ib] + \
            [names.index(n) for n in rest[pos + 1:]]
    moved = np.transpose(array, order)
    shape = moved.shape[:pos] + (moved.shape[pos] * moved.shape[pos + 1],) + moved.shape[pos + 2:]
    new_names = rest[:pos] + [concatenated_name(dim_a, dim_b)] + rest[pos + 1:]
    return moved.reshape(shape), new_names


def split_dim(array: np.ndarray, axis: int, len_a: int) -> np.ndarray:
    """Undo a dim concatenation on one axis: ``(..., len_a * len_b, ...)`` -> ``(..., len_a, len_b, ...)``.

    Applied to a factor ``(len_a * len_b, R)`` with ``axis=0`` it gives ``(len_a, len_b, R)``,
    e.g. the ``(xy points)`` factor becomes ``(2, N, R)`` (x part, then y part).
    """
    axis = axis % array.ndim
    n = array.shape[axis]
    if len_a <= 0 or n % len_a:
        raise TCAError(f"cannot split an axis of length {n} into {len_a} equal parts")
    return array.reshape(array.shape[:axis] + (len_a, n // len_a) + array.shape[axis + 1:])


def unfold_complex(array: np.ndarray, axis: int) -> np.ndarray:
    """Complex array -> real array with real and imaginary parts interleaved along ``axis``.

    Output length along ``axis`` is ``2 L``: index ``2 t`` is ``real[t]``, ``2 t + 1`` is
    ``imag[t]``. Inverse: :func:`refold_complex`.
    """
    if not np.iscomplexobj(array):
        raise TCAError(f"complex unfolding needs complex input, got dtype {array.dtype}")
    axis = axis % array.ndim
    parts = np.stack([array.real, array.imag], axis=axis + 1)
    shape = array.shape[:axis] + (2 * array.shape[axis],) + array.shape[axis + 1:]
    return parts.reshape(shape)


def refold_complex(array: np.ndarray, axis: int = 0) -> np.ndarray:
    """Inverse of :func:`unfold_complex`: interleaved real/imag along ``axis`` -> complex."""
    axis = axis % array.ndim
    if array.shape[axis] % 2:
        raise TCAError(f"cannot re-form complex values from an odd length {array.shape[axis]}")
    sl_re = [slice(None)] * array.ndim
    sl_im = [slice(None)] * array.ndim
    sl_re[axis], sl_im[axis] = slice(0, None, 2), slice(1, None, 2)
    return array[tuple(sl_re)] + 1j * array[tuple(sl_im)]


def window_array(array: np.ndarray, axis: int, start: int, end: int) -> np.ndarray:
    """Slice ``array`` along ``axis`` from ``start`` to ``end`` INCLUSIVE (a view)."""
    n = array.shape[axis]
    start, end = int(start), int(end)
    if not 0 <= start <= end < n:
        raise TCAError(f"window ({start}, {end}) (inclusive) does not fit an axis of length {n}")
    sl = [slice(None)] * array.ndim
    sl[axis] = slice(start, end + 1)
    return array[tuple(sl)]
