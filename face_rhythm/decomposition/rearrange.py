"""Rearrangement: a dict of named-dim arrays -> the tensor(s) to decompose, and back.

:func:`rearrange_data` windows each array, unfolds complex values, folds named dim pairs
(``xy`` into ``points`` gives ``(xy points)``) and combines the dict elements by
``concatenate`` (along a named dim, lengths remembered), ``stack`` (a new leading dim) or
``separate`` (one tensor each). The :class:`Rearrangement` it returns is what
:func:`rearrange_factors` needs to undo all of it on the fitted factors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from face_rhythm.errors import TCAError

from .dims import (
    _axis,
    concatenate_dims,
    concatenated_name,
    refold_complex,
    split_dim,
    unfold_complex,
    window_array,
)

__all__ = ["Rearrangement", "rearrange_data", "rearrange_factors"]

#: How :func:`rearrange_data` combines the elements of the dict.
_COMBINE = ("concatenate", "stack", "separate")
_CONCAT_KEY = "concatenated"
_STACK_KEY = "stacked"


@dataclasses.dataclass
class Rearrangement:
    """How a dict of named-dim arrays became the tensor(s) to decompose (to undo it).

    Attributes
    ----------
    names_dims_array : list of str
        Dims of the input arrays.
    names_dims_concat_array : list of [str, str]
        Dim pairs folded together, in order.
    concat_lengths : list of int
        Length of the first dim of each pair (to split it back).
    concat_complexDim : bool
        Whether complex values were unfolded into ``name_dim_concat_complexDim``.
    name_dim_concat_complexDim : str
    name_dim_dictElements : str
        Name of the dict-element dim (``stack``), e.g. ``"videos"``.
    method_handling_dictElements : {"concatenate", "stack", "separate"}
    name_dim_concat_dictElements : str
        Dim (after dim concatenation) along which elements were concatenated.
    keys : list of str
        Element keys in order.
    element_lengths : list of int
        Length of each element along ``name_dim_concat_dictElements``.
    idx_windows : list of (int, int) or None
        Inclusive windows per element along ``name_dim_array_window``.
    name_dim_array_window : str
    names_dims_preDecomp : list of str
        Dims of the tensor(s) handed to the decomposition.
    """

    names_dims_array: list[str]
    names_dims_concat_array: list[list[str]]
    concat_lengths: list[int]
    concat_complexDim: bool
    name_dim_concat_complexDim: str
    name_dim_dictElements: str
    method_handling_dictElements: str
    name_dim_concat_dictElements: str
    keys: list[str]
    element_lengths: list[int]
    idx_windows: list[tuple[int, int]] | None
    name_dim_array_window: str
    names_dims_preDecomp: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        return dataclasses.asdict(self)


def rearrange_data(
    data: Mapping[str, np.ndarray],
    names_dims_array: Sequence[str] = ("xy", "points", "frequency", "time"),
    names_dims_concat_array: Sequence[Sequence[str]] = (("xy", "points"),),
    concat_complexDim: bool = False,
    name_dim_concat_complexDim: str = "time",
    name_dim_dictElements: str = "trials",
    method_handling_dictElements: str = "concatenate",
    name_dim_concat_dictElements: str = "time",
    idx_windows: Sequence[Sequence[int]] | Mapping[str, Sequence[int]] | None = None,
    name_dim_array_window: str = "time",
) -> tuple[dict[str, np.ndarray], Rearrangement]:
    """Turn a dict of named-dim arrays into the tensor(s) to decompose.

    Order: window -> complex unfold -> dim concatenation -> combine elements.

    Parameters
    ----------
    data : mapping str -> ndarray
        Arrays of equal rank (e.g. one ``(2, N, F, T)`` spectrogram per video). Keys are kept
        as element names.
    names_dims_array : sequence of str
        Dim names of the arrays.
    names_dims_concat_array : sequence of [dim_a, dim_b]
        Pairs folded with :func:`concatenate_dims`, in order.
    concat_complexDim : bool
        Unfold complex values into ``name_dim_concat_complexDim`` (real/imag interleaved).
        Requires complex input. Default ``False`` (the reference default is ``True``, which
        fails on real spectrograms).
    name_dim_concat_complexDim : str
    name_dim_dictElements : str
        Name of the new leading dim for ``stack``.
    method_handling_dictElements : {"concatenate", "stack", "separate"}
    name_dim_concat_dictElements : str
        Dim along which ``concatenate`` joins elements (a name after dim concatenation).
    idx_windows : list of (start, end) or mapping key -> (start, end), optional
        Inclusive windows per element along ``name_dim_array_window``.
    name_dim_array_window : str

    Returns
    -------
    tensors : dict str -> ndarray
        ``{"concatenated": X}``, ``{"stacked": X}`` or one tensor per key (``separate``).
        A contiguous input element is not copied (``X`` is then a view of it): never
        modify the tensors in place.
    rearrangement : Rearrangement
    """
    if not isinstance(data, Mapping) or len(data) == 0:
        raise TCAError("data must be a non-empty dict of arrays")
    names = [str(n) for n in names_dims_array]
    if len(set(names)) != len(names):
        raise TCAError(f"dim names {names} are not unique")
    if method_handling_dictElements not in _COMBINE:
        raise TCAError(f"method_handling_dictElements {method_handling_dictElements!r} "
                       f"is not one of {_COMBINE}")
    keys = [str(k) for k in data]
    arrays = []
    for k, v in data.items():
        a = np.asarray(v)
        if a.ndim != len(names):
            raise TCAError(f"data[{k!r}] has shape {a.shape} ({a.ndim} dims) but "
                           f"names_dims_array has {len(names)} names {names}")
        arrays.append(a)

    if idx_windows is not None:
        if isinstance(idx_windows, Mapping):
            missing = [k for k in keys if k not in idx_windows]
            if missing:
                raise TCAError(f"idx_windows has no window for element(s) {missing}")
            wins = [tuple(int(i) for i in idx_windows[k]) for k in keys]
        else:
            wins = [tuple(int(i) for i in w) for w in idx_windows]
        if len(wins) != len(keys) or any(len(w) != 2 for w in wins):
            raise TCAError(f"idx_windows needs one (start, end) pair per element "
                           f"({len(keys)}), got {idx_windows!r}")
        ax = _axis(names, name_dim_array_window)
        arrays = [window_array(a, ax, *w) for a, w in zip(arrays, wins)]
    else:
        wins = None

    if concat_complexDim:
        ax = _axis(names, name_dim_concat_complexDim)
        for k, a in zip(keys, arrays):
            if not np.iscomplexobj(a):
                raise TCAError(f"data[{k!r}]: concat_complexDim=True needs complex values, "
                               f"got dtype {a.dtype}")
        arrays = [unfold_complex(a, ax) for a in arrays]
    elif any(np.iscomplexobj(a) for a in arrays):
        raise TCAError("data are complex: set concat_complexDim=True (or pass magnitudes)")

    pairs = [[str(p[0]), str(p[1])] for p in names_dims_concat_array]
    if any(len(p) != 2 for p in names_dims_concat_array):
        raise TCAError(f"names_dims_concat_array entries must be pairs, got "
                       f"{names_dims_concat_array!r}")
    concat_lengths = []
    cur_names = names
    for a_name, b_name in pairs:
        ia = _axis(cur_names, a_name)
        concat_lengths.append(int(arrays[0].shape[ia]))
        new = []
        for a in arrays:
            out, new_names = concatenate_dims(a, cur_names, a_name, b_name)
            new.append(out)
        arrays, cur_names = new, new_names

    method = method_handling_dictElements
    if method == "concatenate":
        ax = _axis(cur_names, name_dim_concat_dictElements, "rearranged")
        _check_same_shape(keys, arrays, cur_names, skip_axis=ax)
        lengths = [int(a.shape[ax]) for a in arrays]
        # one element: no copy (the folded dims are a view of it when they can be)
        tensors = {_CONCAT_KEY: (np.ascontiguousarray(arrays[0]) if len(arrays) == 1
                                 else np.concatenate(arrays, axis=ax))}
        pre_names = list(cur_names)
    elif method == "stack":
        _check_same_shape(keys, arrays, cur_names, skip_axis=None)
        lengths = [1] * len(arrays)
        if name_dim_dictElements in cur_names:
            raise TCAError(f"name_dim_dictElements {name_dim_dictElements!r} clashes with "
                           f"an array dim {cur_names}")
        tensors = {_STACK_KEY: np.stack(arrays, axis=0)}
        pre_names = [name_dim_dictElements] + list(cur_names)
    else:
        lengths = [int(a.shape[0]) for a in arrays]
        tensors = {k: np.ascontiguousarray(a) for k, a in zip(keys, arrays)}
        pre_names = list(cur_names)

    rearr = Rearrangement(
        names_dims_array=names, names_dims_concat_array=pairs, concat_lengths=concat_lengths,
        concat_complexDim=bool(concat_complexDim),
        name_dim_concat_complexDim=str(name_dim_concat_complexDim),
        name_dim_dictElements=str(name_dim_dictElements), method_handling_dictElements=method,
        name_dim_concat_dictElements=str(name_dim_concat_dictElements), keys=keys,
        element_lengths=lengths, idx_windows=wins,
        name_dim_array_window=str(name_dim_array_window), names_dims_preDecomp=pre_names)
    return tensors, rearr


def _check_same_shape(keys, arrays, names, skip_axis):
    ref = list(arrays[0].shape)
    for k, a in zip(keys, arrays):
        for ax, (n0, n1) in enumerate(zip(ref, a.shape)):
            if ax != skip_axis and n0 != n1:
                raise TCAError(f"element {k!r} has {n1} along dim {names[ax]!r} but element "
                               f"{keys[0]!r} has {n0}; elements must agree to be combined")


def rearrange_factors(
    factors: Mapping[str, Mapping[str, np.ndarray]],
    rearrangement: Rearrangement,
    undo_concat_dictElements: bool = True,
    undo_concat_complexDim: bool = True,
    undo_concat_dims: bool = True,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, list[str]]]]:
    """Undo :func:`rearrange_data` on fitted factors.

    Parameters
    ----------
    factors : mapping key -> (mapping dim -> (L, R) ndarray)
        Factors keyed like the tensors of :func:`rearrange_data`, one per pre-decomposition
        dim.
    rearrangement : Rearrangement
    undo_concat_dictElements : bool
        ``concatenate``: split the concatenated dim back per element (keys become the
        element keys; the other dims' factors are shared).
    undo_concat_complexDim : bool
        Re-form complex factors from interleaved real/imag rows.
    undo_concat_dims : bool
        Split each ``(a b)`` factor to ``(len_a, len_b, R)``.

    Returns
    -------
    factors : dict key -> dict dim -> ndarray
        Keys of the factors are the pre-decomposition dim names; a split factor has one
        axis per sub-dim, then the rank axis.
    names : dict key -> dict dim -> list of str
        Axis names of each returned factor (ending with ``"rank"``).
    """
    r = rearrangement
    out: dict[str, dict[str, np.ndarray]] = {}
    out_names: dict[str, dict[str, list[str]]] = {}
    for key, fdict in factors.items():
        missing = [d for d in r.names_dims_preDecomp if d not in fdict]
        if missing:
            raise TCAError(f"factors[{key!r}] lacks dim(s) {missing}")
        if (undo_concat_dictElements and r.method_handling_dictElements == "concatenate"
                and key == _CONCAT_KEY):
            d = r.name_dim_concat_dictElements
            f = np.asarray(fdict[d])
            if f.shape[0] != sum(r.element_lengths):
                raise TCAError(f"factor {d!r} has {f.shape[0]} rows, expected "
                               f"{sum(r.element_lengths)} (sum of element lengths)")
            bounds = np.cumsum([0] + list(r.element_lengths))
            groups = {k: {**fdict, d: f[bounds[i]:bounds[i + 1]]} for i, k in enumerate(r.keys)}
        else:
            groups = {key: dict(fdict)}
        for gk, g in groups.items():
            arrs = {d: np.asarray(g[d]) for d in r.names_dims_preDecomp}
            sub = {d: [d, "rank"] for d in r.names_dims_preDecomp}
            if undo_concat_dims:
                for (a_name, b_name), len_a in zip(reversed(r.names_dims_concat_array),
                                                   reversed(r.concat_lengths)):
                    cname = concatenated_name(a_name, b_name)
                    for d, names_d in sub.items():
                        if cname in names_d:
                            j = sub[d].index(cname)
                            arrs[d] = split_dim(arrs[d], j, len_a)
                            sub[d] = sub[d][:j] + [a_name, b_name] + sub[d][j + 1:]
            if undo_concat_complexDim and r.concat_complexDim:
                cd = r.name_dim_concat_complexDim
                hits = [d for d in arrs if cd in sub[d]]
                if not hits:
                    raise TCAError(f"complex dim {cd!r} is inside a concatenated dim; "
                                   "set undo_concat_dims=True to re-form complex factors")
                for d in hits:
                    arrs[d] = refold_complex(arrs[d], sub[d].index(cd))
            out[gk] = arrs
            out_names[gk] = sub
    return out, out_names
