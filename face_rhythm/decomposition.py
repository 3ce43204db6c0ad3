"""Tensor component analysis (TCA) of spectrograms with tensorly.

The spectral stage gives, per video, an array with named dims ``[xy, points, frequency, time]``
(``(2, N, F, T)``, non-negative). TCA fits a rank-``R`` CP model

    X[i, f, t] ~ sum_r w_r * A[i, r] * B[f, r] * C[t, r]

and each component ``r`` is a rhythmic motif: where on the face (``A``), at which frequencies
(``B``, Hz), and when (``C``, seconds).

Steps (each a small function, undone on the factors where it changes the dims):

1. :func:`rearrange_data` - window each array along a dim (inclusive indices), unfold complex
   values into a dim (real/imag interleaved), concatenate named dim pairs (``xy`` into
   ``points`` gives ``(xy points)`` with index ``xy * N + point``), and combine the dict
   elements by ``concatenate`` (along a named dim, lengths remembered), ``stack`` (new leading
   dim) or ``separate`` (one tensor each). Returns the tensor(s) and a :class:`Rearrangement`.
2. :func:`normalize_tensor` - optional mean subtraction / std division along a named dim (a
   new array; the input is never modified).
3. :func:`fit_cp` - tensorly ``CP_NN_HALS`` (default), ``CP``, ``RandomizedCP`` or
   ``ConstrainedCP`` on the numpy or pytorch backend, CPU or CUDA, seeded. Factors come back
   with unit-norm columns and the scale in ``weights`` (applied once, nowhere else).
   tensorly's MTTKRP, most of an iteration's time, is replaced during the fit by
   :func:`mttkrp` (same values, no copies of the tensor; about 4.5x faster fits).
4. :func:`explained_variance_ratios` / :func:`order_by_evr` - explained variance ratio of each
   rank-1 reconstruction and of the full reconstruction, components sorted by it.
5. :func:`rearrange_factors` - split concatenated elements back, undo dim concatenation
   (``(xy points)`` -> ``(2, N, R)``), re-form complex factors.

:func:`run_tca` chains them for the workflow (:class:`TCAParams` from the ``tca`` config
section); :class:`TCA` is the notebook API of the original package over the same functions.

Explained variance ratio (EVR) of a reconstruction ``Y`` of the fitted tensor ``X``:
``1 - var(X - Y) / var(X)`` with variances over all elements (``sklearn``'s
``explained_variance_score`` on the flattened tensor).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import TCAError

logger = logging.getLogger(__name__)

__all__ = [
    "METHODS",
    "TCA",
    "Rearrangement",
    "TCAError",
    "TCAParams",
    "TCAResult",
    "check_fit_inputs",
    "concatenate_dims",
    "concatenated_name",
    "explained_variance_ratios",
    "factor_match_score",
    "fit_cp",
    "hz_ticks",
    "load_spectrograms",
    "mttkrp",
    "mttkrp_partial",
    "normalize_tensor",
    "order_by_evr",
    "plot_component",
    "plot_evr",
    "rearrange_data",
    "rearrange_factors",
    "refold_complex",
    "relative_error",
    "resolve_device",
    "run_tca",
    "save_tca_figures",
    "split_dim",
    "tca_h5_dict",
    "unfold_complex",
    "window_array",
]

#: Decomposition classes of ``tensorly.decomposition`` that :func:`fit_cp` accepts.
METHODS = ("CP_NN_HALS", "CP", "RandomizedCP", "ConstrainedCP")
_COMBINE = ("concatenate", "stack", "separate")
_CONCAT_KEY = "concatenated"
_STACK_KEY = "stacked"


# ----------------------------------------------------------------------------- named dims
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


# ----------------------------------------------------------------------------- rearrangement
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
        tensors = {_CONCAT_KEY: np.concatenate(arrays, axis=ax)}
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


# ----------------------------------------------------------------------------- normalisation
def normalize_tensor(tensor: np.ndarray, axis: int, mean_subtract: bool = False,
                     std_divide: bool = False) -> np.ndarray:
    """Mean-subtract and/or std-divide ``tensor`` along ``axis`` (a new array).

    Statistics are taken along ``axis`` for every fibre (e.g. ``axis`` = time: each
    point x frequency row is centred / scaled over time). Fibres with zero std are left
    unscaled. ``tensor`` is never modified.
    """
    out = np.array(tensor, dtype=np.result_type(tensor.dtype, np.float32), copy=True)
    if mean_subtract:
        out -= out.mean(axis=axis, keepdims=True, dtype=np.float64).astype(out.dtype)
    if std_divide:
        sd = out.std(axis=axis, keepdims=True, dtype=np.float64)
        sd[sd == 0] = 1.0
        out /= sd.astype(out.dtype)
    return out


# ----------------------------------------------------------------------------- fitting
def resolve_device(backend: str, device: str | None) -> str:
    """``"auto"`` -> ``"cuda"`` when torch sees a GPU (pytorch backend), else ``"cpu"``."""
    device = "cpu" if device in (None, "") else str(device)
    if backend not in ("numpy", "pytorch"):
        raise TCAError(f"backend {backend!r} is not 'numpy' or 'pytorch'")
    if backend == "numpy":
        if device not in ("cpu", "auto"):
            raise TCAError(f"device {device!r} needs backend 'pytorch' (numpy runs on the CPU)")
        return "cpu"
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise TCAError(f"device {device!r} requested but torch sees no CUDA device")
    return device


def _method_class(method: str):
    if method not in METHODS:
        raise TCAError(f"method {method!r} is not one of {METHODS}")
    import tensorly.decomposition as tld

    return getattr(tld, method)


def _is_non_negative(method: str, params: Mapping[str, Any]) -> bool:
    if method == "CP_NN_HALS":
        return params.get("nn_modes", "all") not in (None, [], ())
    if method == "ConstrainedCP":
        return bool(params.get("non_negative"))
    return False


def check_fit_inputs(tensor: np.ndarray, method: str, params_method: Mapping[str, Any],
                     name: str = "tensor") -> dict[str, Any]:
    """Validate a tensor and method parameters before fitting; return the kwargs to use.

    Raises :class:`TCAError` for: an unknown method or parameter, a rank that is not an
    integer in ``[1, min(tensor.shape)]``, NaN/Inf values, negative values with a
    non-negative method, a tensor with fewer than 2 dims.
    """
    cls = _method_class(method)
    params = dict(params_method)
    sig = inspect.signature(cls.__init__)
    allowed = [p for p in sig.parameters if p != "self"]
    unknown = [k for k in params if k not in allowed]
    if unknown:
        raise TCAError(f"params_method has key(s) {unknown} that {method} does not take "
                       f"(it takes {allowed})")
    if "rank" not in params:
        raise TCAError("params_method must give 'rank'")
    rank = params["rank"]
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)):
        raise TCAError(f"rank must be an integer, got {rank!r}")
    tensor = np.asarray(tensor)
    if tensor.ndim < 2:
        raise TCAError(f"{name} has shape {tensor.shape}: at least 2 dims are needed")
    if not 1 <= int(rank) <= min(tensor.shape):
        raise TCAError(f"rank {rank} is not in [1, {min(tensor.shape)}] for {name} of shape "
                       f"{tensor.shape} (the smallest dim bounds the rank)")
    if np.iscomplexobj(tensor):
        raise TCAError(f"{name} is complex: unfold it (concat_complexDim) first")
    if not np.all(np.isfinite(tensor)):
        n_bad = int(np.size(tensor) - np.count_nonzero(np.isfinite(tensor)))
        raise TCAError(f"{name} has {n_bad} NaN/Inf value(s)")
    if _is_non_negative(method, params):
        mn = float(np.min(tensor))
        if mn < 0:
            raise TCAError(f"{name} has negative values (min {mn:.3g}) but {method} is "
                           "non-negative: drop mean subtraction or use method 'CP'")
    if method == "RandomizedCP" and "n_samples" not in params:
        raise TCAError("RandomizedCP needs params_method['n_samples'] (rows sampled per "
                       "least-squares step)")
    params["rank"] = int(rank)
    return params


def _normalize_cp(weights: np.ndarray, factors: list[np.ndarray],
                  signed: bool) -> tuple[np.ndarray, list[np.ndarray]]:
    """Unit-norm factor columns, scale into weights; deterministic signs for signed CP."""
    w = np.asarray(weights, dtype=np.float64).copy()
    out = []
    for f in factors:
        f = np.asarray(f, dtype=np.float64)
        n = np.linalg.norm(f, axis=0)
        w *= n
        out.append(np.divide(f, n, out=np.zeros_like(f), where=n > 0))
    if signed:
        # make every mode but the last have a non-negative column sum; signs go to the last
        for f in out[:-1]:
            s = np.where(f.sum(axis=0) < 0, -1.0, 1.0)
            f *= s
            out[-1] *= s
        s = np.where(w < 0, -1.0, 1.0)
        w *= s
        out[-1] *= s
    return w, out


def _khatri_rao_tl(mats: Sequence[Any], weights: Any, rank: int, like: Any) -> Any:
    """Khatri-Rao product (C order, first matrix slowest) of backend tensors, times weights.

    One broadcast multiply per matrix (tensorly's ``khatri_rao`` is several times slower
    here). ``mats`` empty gives the ``(1, R)`` row of weights (ones when ``weights`` is None).
    """
    import tensorly as tl

    out = tl.ones((1, rank), **tl.context(like)) if weights is None else \
        tl.reshape(weights, (1, rank))
    for m in mats:
        out = tl.reshape(tl.reshape(out, (-1, 1, rank)) * tl.reshape(m, (1, -1, rank)),
                         (-1, rank))
    return out


def _contract_mode(shape: Sequence[int]) -> int:
    """The mode an MTTKRP contracts first: the longer of the first and the last mode."""
    return 0 if shape[0] >= shape[-1] else len(shape) - 1


def mttkrp(tensor: Any, weights: Any, factors: Sequence[Any], mode: int,
           partial: Any = None) -> Any:
    """Matricised tensor times Khatri-Rao product without unfolding copies of the tensor.

    Equals tensorly's ``unfolding_dot_khatri_rao(tensor, (weights, factors), mode)``, i.e.
    ``unfold(tensor, mode) @ khatri_rao(factors except mode) * weights``, for a C-contiguous
    tensor on any tensorly backend (numpy, pytorch CPU or CUDA). tensorly's version copies the
    whole tensor for every mode but the first (``moveaxis`` + ``reshape``) and builds a
    Khatri-Rao matrix as long as the tensor over the mode; here the tensor is only ever read
    through free reshapes:

    - for the contraction mode ``c`` (the longer of the first and last modes), one GEMM of the
      tensor reshaped to ``(L_c, rest)`` (or ``(rest, L_c)``) with the Khatri-Rao product of
      the other factors;
    - for any other mode, one GEMM contracts mode ``c`` with its factor, giving the small
      partial tensor ``T`` of shape ``(*other dims, R)``; a broadcast product with the
      remaining factors and a sum finish it.

    Parameters
    ----------
    tensor : (L_0, ..., L_{n-1}) backend tensor
    weights : (R,) backend tensor or None
    factors : list of (L_i, R) backend tensors
    mode : int
    partial : backend tensor, optional
        ``T`` from :func:`mttkrp_partial` for the current factor of mode ``c`` (to share
        one GEMM between the modes that do not change that factor).

    Returns
    -------
    (L_mode, R) backend tensor

    Notes
    -----
    For 2-dim tensors tensorly leaves the weights out (its Khatri-Rao product of a single
    matrix ignores them); this function applies them, so the tensorly backend used by
    :func:`fit_cp` hands 2-dim tensors to tensorly's own function.
    """
    import tensorly as tl

    shape = tuple(tl.shape(tensor))
    n = len(shape)
    rank = int(tl.shape(factors[0])[1])
    mode = mode % n
    c = _contract_mode(shape)
    others = [i for i in range(n) if i != c]
    if mode == c:
        kr = _khatri_rao_tl([factors[i] for i in others], weights, rank, tensor)
        if c == 0:
            return tl.dot(tl.reshape(tensor, (shape[0], -1)), kr)
        return tl.transpose(tl.dot(tl.transpose(kr), tl.reshape(tensor, (-1, shape[-1]))))
    t = mttkrp_partial(tensor, factors[c]) if partial is None else partial
    pos = others.index(mode)
    rest = [i for i in others if i != mode]
    t = tl.moveaxis(t, pos, 0)
    t = tl.reshape(t, (shape[mode], -1, rank))
    kr = _khatri_rao_tl([factors[i] for i in rest], weights, rank, tensor)
    return tl.sum(t * tl.reshape(kr, (1, -1, rank)), axis=1)


def mttkrp_partial(tensor: Any, factor_c: Any) -> Any:
    """The partial tensor ``T`` of :func:`mttkrp`: the tensor contracted with the factor of
    its contraction mode (one GEMM, no copy of the tensor), shape ``(*other dims, R)``."""
    import tensorly as tl

    shape = tuple(tl.shape(tensor))
    rank = int(tl.shape(factor_c)[1])
    if _contract_mode(shape) == 0:
        t = tl.dot(tl.transpose(factor_c), tl.reshape(tensor, (shape[0], -1)))  # (R, rest)
        return tl.reshape(tl.transpose(t), shape[1:] + (rank,))
    t = tl.dot(tl.reshape(tensor, (-1, shape[-1])), factor_c)  # (rest, R)
    return tl.reshape(t, shape[:-1] + (rank,))


_FAST_TENALG: dict[str, Any] = {}


def _fast_tenalg_backend():
    """A tensorly tenalg backend whose ``unfolding_dot_khatri_rao`` is :func:`mttkrp`.

    It caches the partial tensor ``T`` of the last call and reuses it while the same tensor
    object and the same factor values of the contraction mode come back (compared by value:
    tensorly may update factors in place), so an ALS/HALS sweep costs two passes over the
    tensor instead of one per mode. A cache hit gives exactly the values a recomputation
    would (same operations on the same inputs), so results do not depend on it.
    """
    if "cls" not in _FAST_TENALG:
        from tensorly.tenalg.core_tenalg import CoreTenalgBackend

        class _FaceRhythmTenalg(CoreTenalgBackend, backend_name="face_rhythm_mttkrp"):
            def __init__(self):
                self._key: tuple | None = None

            def unfolding_dot_khatri_rao(self, tensor, cp_tensor, mode):
                import tensorly as tl

                weights, factors = cp_tensor
                shape = tuple(tl.shape(tensor))
                if len(shape) < 3:  # tensorly ignores the weights there: keep its answer
                    return super().unfolding_dot_khatri_rao(tensor, cp_tensor, mode)
                c = _contract_mode(shape)
                if mode % len(shape) == c:
                    return mttkrp(tensor, weights, factors, mode)
                fc = factors[c]
                key = self._key
                if (key is None or key[0] is not tensor or tuple(tl.shape(key[1])) !=
                        tuple(tl.shape(fc)) or not bool(tl.all(key[1] == fc))):
                    key = self._key = (tensor, tl.copy(fc), mttkrp_partial(tensor, fc))
                return mttkrp(tensor, weights, factors, mode, partial=key[2])

        _FAST_TENALG["cls"] = _FaceRhythmTenalg
    return _FAST_TENALG["cls"]()


def fit_cp(tensor: np.ndarray, method: str = "CP_NN_HALS",
           params_method: Mapping[str, Any] | None = None, backend: str = "numpy",
           device: str = "cpu", seed: int | None = 0, dtype: str = "float32",
           name: str = "tensor", fast_mttkrp: bool = True
           ) -> tuple[np.ndarray, list[np.ndarray], dict[str, Any]]:
    """Fit a CP decomposition with tensorly.

    Parameters
    ----------
    tensor : ndarray
        Real tensor, any number of dims >= 2.
    method : {"CP_NN_HALS", "CP", "RandomizedCP", "ConstrainedCP"}
        Class of ``tensorly.decomposition``.
    params_method : dict
        Keyword arguments of that class (``rank`` required), passed through unchanged.
    backend : {"numpy", "pytorch"}
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` (pytorch only for CUDA).
    seed : int or None
        ``random_state`` of the fit unless ``params_method`` gives one; also seeds torch.
        The same seed gives identical factors on the CPU.
    dtype : {"float32", "float64"}
        Precision of the fit.
    fast_mttkrp : bool
        Compute tensorly's MTTKRP (``unfolding_dot_khatri_rao``, most of the time of a
        ``CP_NN_HALS`` / ``CP`` iteration) with :func:`mttkrp` (no copies of the tensor, two
        passes over it per sweep instead of one per mode): same algorithm, same iterates up
        to float rounding, about 3x faster on a ``(2276, 36, 252)`` tensor. ``False`` uses
        tensorly's own.

    Returns
    -------
    weights : (R,) float64
        Component scales (factor column norms multiplied together).
    factors : list of (L_i, R) float64
        Unit-L2-norm columns. For signed methods every mode but the last has non-negative
        column sums.
    info : dict
        ``method``, ``backend``, ``device``, ``dtype``, ``mttkrp`` (``"face_rhythm"`` or
        ``"tensorly"``), ``seconds``, ``rec_errors`` (relative
        reconstruction error per iteration, as tensorly reports it) and ``n_iter`` (their
        count: the iterations run; 0 when tensorly records no errors, e.g. ``tol=0``).
    """
    params = check_fit_inputs(tensor, method, params_method or {}, name=name)
    if dtype not in ("float32", "float64"):
        raise TCAError(f"dtype {dtype!r} is not 'float32' or 'float64'")
    dev = resolve_device(backend, device)
    if seed is not None and "random_state" in inspect.signature(
            _method_class(method).__init__).parameters:
        params.setdefault("random_state", int(seed))
    import tensorly as tl

    cls = _method_class(method)
    t0 = time.perf_counter()
    with tl.backend_context(backend):
        if backend == "pytorch":
            import torch

            if seed is not None:
                torch.manual_seed(int(seed))
            x = torch.as_tensor(np.ascontiguousarray(tensor, dtype=dtype), device=dev)
        else:
            x = np.ascontiguousarray(tensor, dtype=dtype)
        model = cls(**params)
        if fast_mttkrp:
            with tl.tenalg.backend_context(_fast_tenalg_backend(), local_threadsafe=True):
                cp = model.fit_transform(x)
        else:
            cp = model.fit_transform(x)
        weights, factors = cp
        weights = tl.to_numpy(weights) if weights is not None else np.ones(params["rank"])
        factors = [tl.to_numpy(f) for f in factors]
        errors = getattr(model, "errors_", None)
        errors = [float(tl.to_numpy(e)) for e in errors] if errors is not None else []
    seconds = time.perf_counter() - t0
    raw = (np.asarray(weights), [np.asarray(f) for f in factors])
    w, f = _normalize_cp(raw[0], raw[1], signed=not _is_non_negative(method, params))
    info = {"method": method, "backend": backend, "device": dev, "dtype": dtype,
            "seconds": seconds, "n_iter": len(errors), "rec_errors": np.asarray(errors),
            "mttkrp": "face_rhythm" if fast_mttkrp else "tensorly",
            "params_method": {k: v for k, v in params.items()}}
    logger.info("%s rank %d on %s %s (%s): %.2f s, %d iterations, final rel. error %s",
                method, params["rank"], name, tuple(np.shape(tensor)), dev, seconds,
                len(errors), f"{errors[-1]:.4g}" if errors else "n/a")
    return w, f, info


# ----------------------------------------------------------------------------- EVR
def _khatri_rao_rest(factors: Sequence[np.ndarray]) -> np.ndarray:
    """Column-wise Kronecker product of ``factors`` in C order: (prod L_i, R)."""
    out = np.asarray(factors[0], dtype=np.float64)
    for f in factors[1:]:
        f = np.asarray(f, dtype=np.float64)
        out = (out[:, None, :] * f[None, :, :]).reshape(-1, f.shape[1])
    return out


def _unfolded_model(tensor: np.ndarray, weights: np.ndarray, factors: Sequence[np.ndarray]
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tensor as ``(L_0, rest)`` (a view), the weighted first factor ``(L_0, R)`` and the
    Khatri-Rao product of the other factors ``(rest, R)``, float64: the model is
    ``a0 @ kr.T``."""
    x = np.asarray(tensor)
    w = np.asarray(weights, dtype=np.float64)
    a0 = np.asarray(factors[0], dtype=np.float64) * w[None, :]
    kr = _khatri_rao_rest(factors[1:]) if len(factors) > 1 else np.ones((1, w.size))
    if a0.shape[0] * kr.shape[0] != x.size:
        raise TCAError(f"factors of shapes {[np.shape(f) for f in factors]} do not match a "
                       f"tensor of shape {x.shape}")
    return x.reshape(x.shape[0], kr.shape[0]), a0, kr


def explained_variance_ratios(tensor: np.ndarray, weights: np.ndarray,
                              factors: Sequence[np.ndarray],
                              chunk_elements: int = 2**22) -> tuple[np.ndarray, float]:
    """EVR of each rank-1 component and of the full reconstruction.

    ``EVR(Y) = 1 - var(X - Y) / var(X)`` over all elements, computed in float64 in chunks
    along the first dim (no copy of the whole tensor in float64, input never modified).

    Parameters
    ----------
    tensor : ndarray
        The tensor that was fitted, ``(L_0, ..., L_{n-1})``.
    weights : (R,)
    factors : list of (L_i, R)

    Returns
    -------
    evr : (R,) float64
        Per component (in the given order).
    evr_total : float
        Of the rank-R reconstruction.
    """
    x2, a0, kr = _unfolded_model(tensor, weights, factors)
    n_rest = kr.shape[0]
    R = a0.shape[1]
    s_x = s_xx = 0.0
    s_e = np.zeros(R + 1)
    s_ee = np.zeros(R + 1)
    step = max(1, int(chunk_elements // max(n_rest, 1)))
    for i in range(0, x2.shape[0], step):
        xc = np.asarray(x2[i:i + step], dtype=np.float64)
        ac = a0[i:i + step]
        s_x += xc.sum()
        s_xx += np.square(xc).sum()
        for r in range(R):
            e = xc - np.outer(ac[:, r], kr[:, r])
            s_e[r] += e.sum()
            s_ee[r] += np.square(e).sum()
        e = xc - ac @ kr.T
        s_e[R] += e.sum()
        s_ee[R] += np.square(e).sum()
    n = float(x2.size)
    var_x = s_xx / n - (s_x / n) ** 2
    if var_x <= 0:
        raise TCAError("the tensor is constant: explained variance is undefined")
    var_e = s_ee / n - (s_e / n) ** 2
    evr = 1.0 - var_e / var_x
    return evr[:R], float(evr[R])


def relative_error(tensor: np.ndarray, weights: np.ndarray, factors: Sequence[np.ndarray],
                   chunk_elements: int = 2**22) -> float:
    """Relative reconstruction error ``||X - Y||_F / ||X||_F`` of a CP model, in float64.

    Computed directly from the residual, in chunks along the first dim (no float64 copy of
    the whole tensor), whatever the fit recorded (tensorly records no errors with ``tol=0``).

    Parameters
    ----------
    tensor : (L_0, ..., L_{n-1}) ndarray
    weights : (R,)
    factors : list of (L_i, R)

    Returns
    -------
    float
        0 for an exact model; ``nan`` for an all-zero tensor.
    """
    x2, a0, kr = _unfolded_model(tensor, weights, factors)
    n_rest = kr.shape[0]
    s_xx = s_ee = 0.0
    step = max(1, int(chunk_elements // max(n_rest, 1)))
    for i in range(0, x2.shape[0], step):
        xc = np.asarray(x2[i:i + step], dtype=np.float64)
        s_xx += float(np.square(xc).sum())
        s_ee += float(np.square(xc - a0[i:i + step] @ kr.T).sum())
    return float(np.sqrt(s_ee / s_xx)) if s_xx > 0 else float("nan")


def order_by_evr(tensor: np.ndarray, weights: np.ndarray, factors: Sequence[np.ndarray]
                 ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray, float]:
    """Sort components by descending EVR (stable for ties).

    Returns
    -------
    order : (R,) int
        ``order[i]`` is the index (in the input) of the i-th component after sorting.
    weights : (R,)
    factors : list of (L_i, R)
    evr : (R,) sorted
    evr_total : float
    """
    evr, total = explained_variance_ratios(tensor, weights, factors)
    order = np.argsort(-evr, kind="stable")
    return (order, np.asarray(weights)[order], [np.asarray(f)[:, order] for f in factors],
            evr[order], total)


def factor_match_score(factors_true: Sequence[np.ndarray], factors_est: Sequence[np.ndarray],
                       absolute_value: bool = True) -> tuple[float, list[int]]:
    """Factor match score: tensorly's congruence coefficient over all modes.

    The mean over components (best permutation) of the product over modes of the cosine
    similarity between true and estimated columns. 1 = identical up to scale and order.

    Returns
    -------
    score : float
    permutation : list of int
        ``permutation[i]`` = column of ``factors_est`` matching column ``i`` of the truth.
    """
    import tensorly as tl
    from tensorly.metrics.factors import congruence_coefficient

    with tl.backend_context("numpy"):
        score, perm = congruence_coefficient([np.asarray(f, dtype=np.float64)
                                              for f in factors_true],
                                             [np.asarray(f, dtype=np.float64)
                                              for f in factors_est],
                                             absolute_value=absolute_value)
    return float(score), [int(p) for p in perm]


# ----------------------------------------------------------------------------- parameters
@dataclasses.dataclass
class TCAParams:
    """Parameters of one TCA run (the ``tca`` config section).

    Attributes
    ----------
    rank : int
        Number of components.
    method : str
        One of :data:`METHODS`.
    params_method : dict
        Extra keyword arguments for the tensorly class (``rank`` and ``random_state`` are
        filled from ``rank`` and ``seed``).
    backend : {"numpy", "pytorch"}
    device : {"cpu", "cuda", "auto", ...}
    seed : int
    mean_subtract, std_divide : bool
        Normalisation along ``normalize_dim`` (std division hurts a weak region: keep False).
    normalize_dim : str
        A dim name after rearrangement, e.g. ``"time"`` or ``"(xy points)"``.
    concatenate_dims : list of [str, str]
    combine : {"concatenate", "stack", "separate"}
    dtype : {"float32", "float64"}
    """

    rank: int = 6
    method: str = "CP_NN_HALS"
    params_method: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {"n_iter_max": 200, "init": "svd", "svd": "randomized_svd",
                                 "tol": 1e-9})
    backend: str = "numpy"
    device: str = "cpu"
    seed: int = 0
    mean_subtract: bool = False
    std_divide: bool = False
    normalize_dim: str = "time"
    concatenate_dims: list[list[str]] = dataclasses.field(
        default_factory=lambda: [["xy", "points"]])
    combine: str = "concatenate"
    dtype: str = "float32"

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> TCAParams:
        """Build from the ``tca`` config section (unknown keys raise, workflow keys skipped)."""
        cfg = dict(cfg or {})
        known = {"per_session", "all_sessions", "rank", "method", "params_method", "backend",
                 "device", "seed", "normalize", "rearrange", "dtype"}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise TCAError(f"tca config: unknown key(s) {unknown}")
        d = cls()
        norm = dict(cfg.get("normalize") or {})
        rearr = dict(cfg.get("rearrange") or {})
        p = cls(
            rank=int(cfg.get("rank", d.rank)), method=str(cfg.get("method", d.method)),
            params_method=dict(cfg["params_method"]) if cfg.get("params_method") is not None
            else d.params_method,
            backend=str(cfg.get("backend", d.backend)), device=str(cfg.get("device", d.device)),
            seed=int(cfg.get("seed", d.seed)),
            mean_subtract=bool(norm.get("mean_subtract", d.mean_subtract)),
            std_divide=bool(norm.get("std_divide", d.std_divide)),
            normalize_dim=str(norm.get("dim", d.normalize_dim)),
            concatenate_dims=[list(map(str, x)) for x in
                              rearr.get("concatenate_dims", d.concatenate_dims)],
            combine=str(rearr.get("combine", d.combine)), dtype=str(cfg.get("dtype", d.dtype)))
        p.validate()
        return p

    def validate(self) -> None:
        """Raise :class:`TCAError` on a bad value (before any work)."""
        _method_class(self.method)
        if isinstance(self.rank, bool) or int(self.rank) < 1:
            raise TCAError(f"tca rank must be a positive integer, got {self.rank!r}")
        if "rank" in self.params_method and int(self.params_method["rank"]) != int(self.rank):
            raise TCAError(f"tca params_method.rank={self.params_method['rank']} contradicts "
                           f"rank={self.rank}")
        if self.combine not in _COMBINE:
            raise TCAError(f"tca combine {self.combine!r} is not one of {_COMBINE}")
        if self.backend not in ("numpy", "pytorch"):
            raise TCAError(f"tca backend {self.backend!r} is not 'numpy' or 'pytorch'")
        if self.backend == "numpy" and self.device not in ("cpu", "auto"):
            raise TCAError(f"tca device {self.device!r} needs backend 'pytorch'")
        if self.dtype not in ("float32", "float64"):
            raise TCAError(f"tca dtype {self.dtype!r} is not 'float32' or 'float64'")
        if self.mean_subtract and _is_non_negative(self.method, self.params_method):
            raise TCAError(f"tca normalize.mean_subtract makes negative values, which "
                           f"{self.method} cannot fit: use method 'CP' or drop mean_subtract")

    def method_kwargs(self) -> dict[str, Any]:
        """``params_method`` with ``rank`` filled in."""
        return {**self.params_method, "rank": int(self.rank)}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- workflow core
@dataclasses.dataclass
class TCAResult:
    """One fitted decomposition, components ordered by EVR.

    Attributes
    ----------
    dims : list of str
        Dims of the decomposed tensor, e.g. ``["(xy points)", "frequency", "time"]``.
    factors : dict dim -> (L, R) float64
        Unit-norm columns.
    weights : (R,) float64
    evr : (R,) float64
        EVR of each component (descending).
    evr_total : float
        EVR of the full reconstruction.
    order : (R,) int
        Index of each component in the unordered fit.
    rearranged : dict element key -> dict dim -> ndarray
        :func:`rearrange_factors` output (e.g. ``(xy points)`` as ``(2, N, R)``, the time
        factor split per element).
    rearranged_names : dict element key -> dict dim -> list of str
    rearrangement : Rearrangement
    fit_info : dict
    params : TCAParams
    """

    dims: list[str]
    factors: dict[str, np.ndarray]
    weights: np.ndarray
    evr: np.ndarray
    evr_total: float
    order: np.ndarray
    rearranged: dict[str, dict[str, np.ndarray]]
    rearranged_names: dict[str, dict[str, list[str]]]
    rearrangement: Rearrangement
    fit_info: dict[str, Any]
    params: TCAParams


def run_tca(data: Mapping[str, np.ndarray], params: TCAParams,
            names_dims_array: Sequence[str] = ("xy", "points", "frequency", "time"),
            concat_dim: str = "time", name_dim_elements: str = "videos"
            ) -> dict[str, TCAResult]:
    """Rearrange, normalise, fit, order by EVR and rearrange back (the workflow path).

    Parameters
    ----------
    data : mapping element key -> ndarray
        E.g. ``{"session/video": (2, N, F, T) float32}`` in time order.
    params : TCAParams
    names_dims_array : sequence of str
    concat_dim : str
        Dim along which ``combine="concatenate"`` joins elements.
    name_dim_elements : str
        Name of the element dim for ``combine="stack"``.

    Returns
    -------
    dict tensor key -> TCAResult
        One entry (``"concatenated"`` / ``"stacked"``) or one per element (``separate``).
    """
    params.validate()
    tensors, rearr = rearrange_data(
        data, names_dims_array=names_dims_array,
        names_dims_concat_array=params.concatenate_dims, concat_complexDim=False,
        name_dim_dictElements=name_dim_elements, method_handling_dictElements=params.combine,
        name_dim_concat_dictElements=concat_dim)
    kwargs = params.method_kwargs()
    for key, x in tensors.items():  # validate everything before any long fit
        check_fit_inputs(x, params.method, kwargs, name=f"tensor {key!r}")
    if params.mean_subtract or params.std_divide:
        ax = _axis(rearr.names_dims_preDecomp, params.normalize_dim, "rearranged")
        tensors = {k: normalize_tensor(x, ax, params.mean_subtract, params.std_divide)
                   for k, x in tensors.items()}
        for key, x in tensors.items():
            check_fit_inputs(x, params.method, kwargs, name=f"normalised tensor {key!r}")
    out = {}
    for key, x in tensors.items():
        w, f, info = fit_cp(x, params.method, kwargs, backend=params.backend,
                            device=params.device, seed=params.seed, dtype=params.dtype,
                            name=f"tensor {key!r}")
        xf = np.asarray(x, dtype=params.dtype)
        order, w, f, evr, total = order_by_evr(xf, w, f)
        logger.info("tensor %r: EVR per component %s, total %.4f", key,
                    np.array2string(evr, precision=4), total)
        fdict = dict(zip(rearr.names_dims_preDecomp, f))
        rearranged, names = rearrange_factors({key: fdict}, rearr)
        out[key] = TCAResult(dims=list(rearr.names_dims_preDecomp), factors=fdict, weights=w,
                             evr=evr, evr_total=total, order=order, rearranged=rearranged,
                             rearranged_names=names, rearrangement=rearr, fit_info=info,
                             params=params)
    return out


def load_spectrograms(paths: Sequence[str | os.PathLike], sessions: Sequence[str],
                      videos: Sequence[str]
                      ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]], np.ndarray,
                                 dict[str, np.ndarray]]:
    """Read ``spectrogram.h5`` files for one TCA, checking that they fit together.

    Parameters
    ----------
    paths : sequence of path
        ``results/{session}/{video}/spectrogram.h5``, in time order.
    sessions, videos : sequence of str
        Session and video of each path.

    Returns
    -------
    data : dict ``"session/video"`` -> (2, N, F, T) float32
    element_meta : dict ``"session/video"`` -> {"session", "video", "time_axis_seconds",
        "path", "frame_rate"}
    frequencies : (F,) Hz
    point_positions : dict session -> (N, 2) float32

    Raises
    ------
    TCAError
        Missing keys, a spectrogram that is not ``(2, N, F, T)``, different point counts (the
        all-sessions TCA needs points in correspondence) or different frequencies, before any
        fitting.
    """
    import h5py

    paths = [Path(p) for p in paths]
    if not (len(paths) == len(sessions) == len(videos)):
        raise TCAError(f"{len(paths)} spectrogram files but {len(sessions)} sessions and "
                       f"{len(videos)} videos: one of each per file is needed")
    if not paths:
        raise TCAError("no spectrogram files given")
    data: dict[str, np.ndarray] = {}
    meta: dict[str, dict[str, Any]] = {}
    pts: dict[str, np.ndarray] = {}
    freqs0 = None
    n0 = None
    for p, s, v in zip(paths, sessions, videos):
        if not p.is_file():
            raise TCAError(f"{p}: spectrogram file not found")
        with h5py.File(p, "r") as f:
            for k in ("spectrograms", "frequencies", "x_axis_seconds", "point_positions"):
                if k not in f:
                    raise TCAError(f"{p}: no dataset {k!r} (not a face-rhythm spectrogram.h5)")
            shape = f["spectrograms"].shape
            if len(shape) != 4 or shape[0] != 2:
                raise TCAError(f"{p}: spectrograms have shape {shape}, expected (2, N, F, T)")
            freqs = np.asarray(f["frequencies"][()], dtype=np.float64)
            taxis = np.asarray(f["x_axis_seconds"][()], dtype=np.float64)
            pp = np.asarray(f["point_positions"][()], dtype=np.float32)
            fr = float(f["frame_rate"][()]) if "frame_rate" in f else float("nan")
            if n0 is None:
                n0, freqs0, p0 = shape[1], freqs, p
            elif shape[1] != n0:
                raise TCAError(f"{p} (session {s!r}) has {shape[1]} points but {p0} has {n0}: "
                               "a combined TCA needs the same points in every session "
                               "(align sessions first)")
            elif freqs.shape != freqs0.shape or not np.allclose(freqs, freqs0, rtol=1e-6):
                raise TCAError(f"{p}: frequencies differ from those of {p0} (same VQT "
                               "parameters and frame rate are needed)")
            if taxis.shape[0] != shape[3]:
                raise TCAError(f"{p}: x_axis_seconds has {taxis.shape[0]} entries but the "
                               f"spectrograms have {shape[3]} time points")
            key = f"{s}/{v}"
            if key in data:
                raise TCAError(f"session {s!r} video {v!r} is listed twice")
            data[key] = np.asarray(f["spectrograms"][()], dtype=np.float32)
        meta[key] = {"session": str(s), "video": str(v), "time_axis_seconds": taxis,
                     "path": str(p), "frame_rate": fr}
        pts.setdefault(str(s), pp)
    return data, meta, freqs0, pts


def tca_h5_dict(result: TCAResult, element_meta: Mapping[str, Mapping[str, Any]],
                frequencies: np.ndarray, point_positions: np.ndarray,
                run_info: Mapping[str, Any] | None = None,
                extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The contents of ``tca.h5`` for one decomposition of ``[xy, points, frequency, time]``.

    Parameters
    ----------
    result : TCAResult
        From :func:`run_tca` with ``concatenate_dims=[["xy", "points"]]``.
    element_meta : mapping element key -> {"session", "video", "time_axis_seconds"}
        In element order.
    frequencies : (F,) Hz
    point_positions : (N, 2) float32 (x, y)
    run_info : dict, optional
        From :func:`face_rhythm.provenance.run_info`. Put the fit's wall time
        (``result.fit_info["seconds"]``) in its ``extra`` as ``fit_seconds``: nothing outside
        ``run_info`` depends on the clock, so two identical runs give equal files there.

    Returns
    -------
    dict
        Keys listed in ``config/README.md`` (section ``tca``); see the module docs.
    """
    from .provenance import run_info_to_h5_dict

    r = result
    R = r.weights.size
    factors = {d: f.astype(np.float32) for d, f in r.factors.items()}
    out: dict[str, Any] = {
        "factors": factors,
        "weights": r.weights.astype(np.float64),
        "evr": r.evr.astype(np.float64),
        "evr_total": float(r.evr_total),
        "order": r.order.astype(np.int64),
        "rank": int(R),
        "dims": np.array(r.dims, dtype=object),
        "frequencies": np.asarray(frequencies, dtype=np.float64),
        "point_positions": np.asarray(point_positions, dtype=np.float32),
        "rec_errors": np.asarray(r.fit_info.get("rec_errors", []), dtype=np.float64),
        "n_iter": int(r.fit_info.get("n_iter", 0)),
        "params": json.dumps({**r.params.to_dict(), "fit": {
            k: v for k, v in r.fit_info.items() if k not in _NOT_IN_PARAMS},
            "rearrangement": r.rearrangement.to_dict()}, default=_json_default, sort_keys=True),
    }
    pts_name = concatenated_name("xy", "points")
    first = next(iter(r.rearranged.values()))
    if pts_name in first and first[pts_name].ndim == 3:
        out["factors_points_xy"] = first[pts_name].astype(np.float32)
    time_factors: dict[str, dict[str, np.ndarray]] = {}
    time_axes: dict[str, dict[str, np.ndarray]] = {}
    keys = list(element_meta)
    for i, key in enumerate(keys):
        meta = element_meta[key]
        s, v = str(meta["session"]), str(meta["video"])
        if r.rearrangement.method_handling_dictElements == "concatenate":
            tf = r.rearranged[key]["time"]
        elif r.rearrangement.method_handling_dictElements == "stack":
            tf = r.factors["time"] * r.factors[r.dims[0]][i][None, :]
        else:
            tf = r.factors["time"]
        time_factors.setdefault(s, {})[v] = np.asarray(tf, dtype=np.float32)
        time_axes.setdefault(s, {})[v] = np.asarray(meta["time_axis_seconds"], dtype=np.float64)
    out["time_factors"] = time_factors
    out["time_axis_seconds"] = time_axes
    out["sessions"] = np.array([str(element_meta[k]["session"]) for k in keys], dtype=object)
    out["videos"] = np.array([str(element_meta[k]["video"]) for k in keys], dtype=object)
    if extra:
        out.update(extra)
    if run_info is not None:
        out["run_info"] = run_info_to_h5_dict(run_info)
    return out


#: fit_info entries left out of the ``params`` JSON: arrays stored on their own, and the wall
#: time, which differs between identical runs (it belongs in ``run_info``).
_NOT_IN_PARAMS = ("rec_errors", "seconds")


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)


# ----------------------------------------------------------------------------- figures
def hz_ticks(f_min: float, f_max: float) -> np.ndarray:
    """A few readable tick positions (Hz) for a log frequency axis from ``f_min`` to ``f_max``.

    Powers of two (..., 0.25, 0.5, 1, 2, 4, 8, 16, 32, ...) inside the range; when fewer than
    two fall inside (a narrow range), three values spread evenly on the log scale, rounded to
    two significant digits.
    """
    f_min, f_max = float(min(f_min, f_max)), float(max(f_min, f_max))
    if not (np.isfinite(f_min) and np.isfinite(f_max)) or f_max <= 0:
        raise TCAError(f"frequency range ({f_min}, {f_max}) Hz is not a positive range")
    f_min = max(f_min, f_max * 1e-6)
    k = np.arange(np.floor(np.log2(f_min)), np.ceil(np.log2(f_max)) + 1)
    ticks = 2.0 ** k
    eps = 1e-9 * f_max
    ticks = ticks[(ticks >= f_min - eps) & (ticks <= f_max + eps)]
    if ticks.size < 2:
        g = np.geomspace(f_min, f_max, 3)
        ticks = np.unique([float(f"{v:.2g}") for v in g])
    return ticks


def _log_hz_axis(ax, frequencies: np.ndarray) -> None:
    """Log x axis in Hz with :func:`hz_ticks` labels in plain numbers, minor labels off."""
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    f = np.asarray(frequencies, dtype=np.float64)
    f = f[np.isfinite(f) & (f > 0)]
    ax.set_xscale("log")
    if f.size == 0:
        return
    fmt = ScalarFormatter()
    fmt.set_scientific(False)
    fmt.set_useOffset(False)
    ax.xaxis.set_major_locator(FixedLocator(hz_ticks(f.min(), f.max())))
    ax.xaxis.set_major_formatter(fmt)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(f.min() / 1.05, f.max() * 1.05)


def plot_component(example_frame: np.ndarray | None, point_positions: np.ndarray,
                   points_xy: np.ndarray, frequencies: np.ndarray, freq_factor: np.ndarray,
                   time_courses: Sequence[tuple[str, np.ndarray, np.ndarray]],
                   title: str = ""):
    """Figure of one component: x and y spatial maps, frequency profile, time courses.

    Layout: the x and y maps side by side with one horizontal colour bar under them, the
    frequency profile on a log axis with ticks at powers of two (Hz), then one time-course
    panel per video (more than 6 videos: one panel, videos end to end).

    Parameters
    ----------
    example_frame : (H, W) uint8 or None
        Drawn in grey under the points.
    point_positions : (N, 2) (x, y) px
    points_xy : (2, N)
        Loading of each point's x and y motion.
    frequencies : (F,) Hz
    freq_factor : (F,)
    time_courses : list of (label, times (T_v,) s, values (T_v,))
        One per video.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    pts = np.asarray(point_positions, dtype=np.float64)
    pxy = np.asarray(points_xy, dtype=np.float64)
    n_t = len(time_courses)
    one_axis = n_t > 6
    n_rows_t = 1 if one_axis else max(n_t, 1)
    fig = plt.figure(figsize=(12, 4.6 + 1.3 * n_rows_t), layout="constrained")
    fig.get_layout_engine().set(w_pad=0.06, h_pad=0.06, wspace=0.04, hspace=0.04)
    gs = fig.add_gridspec(1 + n_rows_t, 3, height_ratios=[3.4] + [1] * n_rows_t)
    vmax = float(np.max(np.abs(pxy))) or 1.0
    signed = bool(np.min(pxy) < 0)
    cmap, vmin = ("RdBu_r", -vmax) if signed else ("magma", 0.0)
    map_axes = []
    for j, lab in enumerate(("x", "y")):
        ax = fig.add_subplot(gs[0, j])
        if example_frame is not None:
            ax.imshow(example_frame, cmap="gray", interpolation="nearest")
        sc = ax.scatter(pts[:, 0], pts[:, 1], c=pxy[j], s=14, cmap=cmap, vmin=vmin, vmax=vmax,
                        edgecolors="none")
        if example_frame is None:
            ax.invert_yaxis()
            ax.set_aspect("equal")
        ax.set_title(f"{lab} motion")
        ax.set_xticks([])
        ax.set_yticks([])
        map_axes.append(ax)
    fig.colorbar(sc, ax=map_axes, location="bottom", shrink=0.6, aspect=35, pad=0.02,
                 label="spatial loading (unit-norm factor)")
    ax = fig.add_subplot(gs[0, 2])
    ax.plot(frequencies, freq_factor, "o-", ms=3)
    _log_hz_axis(ax, frequencies)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("frequency loading")
    ax.set_title("frequency profile")
    ax.grid(True, which="major", color="0.9", lw=0.6)
    label_box = {"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1}
    if one_axis:
        ax = fig.add_subplot(gs[1, :])
        offset = 0.0
        for label, t, v in time_courses:
            t = np.asarray(t, dtype=np.float64)
            ax.plot(t - t[0] + offset, v, lw=1)
            ax.axvline(offset, color="0.7", lw=0.5)
            ax.text(offset, 0.97, f" {label}", transform=ax.get_xaxis_transform(), fontsize=7,
                    va="top", bbox=label_box)
            offset += (t[-1] - t[0]) + (t[1] - t[0] if t.size > 1 else 1.0)
        ax.set_xlabel("time (s), videos end to end")
        ax.set_ylabel("loading")
    else:
        for i, (label, t, v) in enumerate(time_courses):
            ax = fig.add_subplot(gs[1 + i, :])
            ax.plot(t, v, lw=1)
            ax.text(0.005, 0.95, label, transform=ax.transAxes, fontsize=8, va="top",
                    bbox=label_box)
            ax.set_ylabel("loading", fontsize=8)
            ax.margins(x=0.005)
            if i == n_t - 1:
                ax.set_xlabel("time (s)")
    if title:
        fig.suptitle(title)
    return fig


def plot_evr(evr: np.ndarray, evr_total: float, title: str = ""):
    """Bar chart of the EVR of each component, with the total reconstruction EVR."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2), layout="constrained")
    ax.bar(np.arange(1, len(evr) + 1), evr, color="C0")
    ax.set_xlabel("component")
    ax.set_ylabel("explained variance ratio")
    ax.set_xticks(np.arange(1, len(evr) + 1))
    ax.set_title(f"{title} total EVR {evr_total:.3f}".strip())
    return fig


def save_tca_figures(h5_dict: Mapping[str, Any], out_dir: str | os.PathLike,
                     example_frame: np.ndarray | None = None, dpi: int = 100) -> list[Path]:
    """Write ``component_01.png``... and ``evr.png`` for a :func:`tca_h5_dict` (atomically).

    The folder is built under a temporary name and renamed into place when complete.
    """
    import shutil
    import tempfile

    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    names = []
    try:
        pxy = h5_dict["factors_points_xy"]
        freqs = h5_dict["frequencies"]
        ff = h5_dict["factors"]["frequency"]
        evr = h5_dict["evr"]
        R = len(evr)
        width = max(2, len(str(R)))
        for r in range(R):
            tcs = [(f"{s}/{v}", h5_dict["time_axis_seconds"][s][v],
                    h5_dict["time_factors"][s][v][:, r])
                   for s, vids in h5_dict["time_factors"].items() for v in vids]
            fig = plot_component(example_frame, h5_dict["point_positions"], pxy[:, :, r], freqs,
                                 ff[:, r], tcs, title=f"component {r + 1} (EVR {evr[r]:.3f})")
            name = f"component_{r + 1:0{width}d}.png"
            fig.savefig(tmp / name, dpi=dpi)
            plt.close(fig)
            names.append(name)
        fig = plot_evr(evr, float(h5_dict["evr_total"]))
        fig.savefig(tmp / "evr.png", dpi=dpi)
        plt.close(fig)
        names.append("evr.png")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [out_dir / n for n in names]


# ----------------------------------------------------------------------------- notebook class
class TCA:
    """Tensor component analysis of spectrograms (notebook API of the original package).

    Parameters
    ----------
    verbose : bool or int
        0 silent, 1 warnings, 2 info (sets this module's logger level).

    Attributes
    ----------
    config, run_info, run_data : dict
        Parameters of each call, facts of the run, and the factors for saving.
    data : dict str -> ndarray
        Tensors after :meth:`rearrange_data` (and :meth:`normalize_data`).
    factors : dict key -> dict dim -> (L, R)
    factor_weights : dict key -> (R,)
    factors_raw : dict key -> (weights, list of factors)
        As tensorly returned them.
    evrs_ordered, evr_total : dict key -> EVRs
    factors_rearranged : dict
    """

    def __init__(self, verbose: bool | int = 1):
        self._verbose = int(verbose)
        self.config: dict[str, Any] = {"verbose": int(verbose)}
        self.run_info: dict[str, Any] = {}
        self.run_data: dict[str, Any] = {}
        self.data: dict[str, np.ndarray] = {}
        self.rearrangement: Rearrangement | None = None
        self.factors: dict[str, dict[str, np.ndarray]] = {}
        self.factor_weights: dict[str, np.ndarray] = {}
        self.factors_raw: dict[str, Any] = {}
        self.evrs_ordered: dict[str, np.ndarray] = {}
        self.evr_total: dict[str, float] = {}
        self.factors_rearranged: dict[str, dict[str, np.ndarray]] = {}
        self.names_dims_array_postDecomp: dict[str, dict[str, list[str]]] = {}
        self.name_dim_dictElements_postDecomp: str | None = None
        if self._verbose >= 2:
            logger.setLevel(logging.INFO)
        elif self._verbose == 1:
            logger.setLevel(logging.WARNING)
        else:
            logger.setLevel(logging.ERROR)

    @property
    def names_dims_array_preDecomp(self) -> list[str]:
        """Dims of the tensors in :attr:`data`."""
        if self.rearrangement is None:
            raise TCAError("call rearrange_data first")
        return list(self.rearrangement.names_dims_preDecomp)

    def rearrange_data(self, data: Mapping[str, np.ndarray],
                       names_dims_array: Sequence[str] = ("xy", "points", "frequency", "time"),
                       names_dims_concat_array: Sequence[Sequence[str]] = (("xy", "points"),),
                       concat_complexDim: bool = False, name_dim_concat_complexDim: str = "time",
                       name_dim_dictElements: str = "trials",
                       method_handling_dictElements: str = "concatenate",
                       name_dim_concat_dictElements: str = "time",
                       idx_windows: Sequence[Sequence[int]] | None = None,
                       name_dim_array_window: str = "time") -> dict[str, np.ndarray]:
        """Build the tensor(s) to decompose; see :func:`rearrange_data`. Sets :attr:`data`."""
        kw: dict[str, Any] = {
            "names_dims_array": list(names_dims_array),
            "names_dims_concat_array": [list(p) for p in names_dims_concat_array],
            "concat_complexDim": concat_complexDim,
            "name_dim_concat_complexDim": name_dim_concat_complexDim,
            "name_dim_dictElements": name_dim_dictElements,
            "method_handling_dictElements": method_handling_dictElements,
            "name_dim_concat_dictElements": name_dim_concat_dictElements,
            "idx_windows": idx_windows, "name_dim_array_window": name_dim_array_window}
        self.data, self.rearrangement = rearrange_data(data, **kw)
        self.config["rearrange_data"] = kw
        self.run_info["rearrange_data"] = {
            "shapes": {k: list(v.shape) for k, v in self.data.items()},
            "names_dims_array_preDecomp": self.names_dims_array_preDecomp}
        return self.data

    def normalize_data(self, mean_subtract: bool = False, std_divide: bool = False,
                       dim_name: str = "time") -> dict[str, np.ndarray]:
        """Normalise :attr:`data` along ``dim_name`` (new arrays; inputs untouched)."""
        ax = _axis(self.names_dims_array_preDecomp, dim_name, "rearranged")
        self.data = {k: normalize_tensor(v, ax, mean_subtract, std_divide)
                     for k, v in self.data.items()}
        self.config["normalize_data"] = {"mean_subtract": mean_subtract,
                                         "std_divide": std_divide, "dim_name": dim_name}
        return self.data

    def fit(self, data: Mapping[str, np.ndarray] | None = None, method: str = "CP_NN_HALS",
            params_method: Mapping[str, Any] | None = None, backend: str = "pytorch",
            DEVICE: str = "cpu", verbose: bool | int = 1, seed: int | None = 0,
            dtype: str = "float32") -> dict[str, dict[str, np.ndarray]]:
        """Fit each tensor; see :func:`fit_cp`. Sets :attr:`factors`, :attr:`factor_weights`.

        ``params_method`` defaults to the reference's CP_NN_HALS set (rank 6, 100
        iterations, SVD init, tol 1e-7). Every tensor is validated before the first fit.
        """
        if params_method is None:
            params_method = {"rank": 6, "n_iter_max": 100, "init": "svd",
                             "svd": "truncated_svd", "tol": 1e-7, "sparsity_coefficients": None,
                             "fixed_modes": None, "nn_modes": "all", "exact": False,
                             "verbose": False, "cvg_criterion": "abs_rec_error"}
        data = self.data if data is None else dict(data)
        if not data:
            raise TCAError("no data: call rearrange_data first or pass data")
        names = (self.names_dims_array_preDecomp if self.rearrangement is not None
                 else None)
        for k, x in data.items():
            check_fit_inputs(x, method, params_method, name=f"tensor {k!r}")
        self.factors, self.factor_weights, self.factors_raw = {}, {}, {}
        for k, x in data.items():
            w, f, info = fit_cp(x, method, params_method, backend=backend, device=DEVICE,
                                seed=seed, dtype=dtype, name=f"tensor {k!r}")
            dims = names if names is not None and len(names) == len(f) else \
                [f"dim{i}" for i in range(len(f))]
            self.factors[k] = dict(zip(dims, f))
            self.factor_weights[k] = w
            self.factors_raw[k] = (w, f)
            self.run_info.setdefault("fit", {})[k] = {
                kk: vv for kk, vv in info.items() if kk != "rec_errors"}
        self.config["fit"] = {"method": method, "params_method": dict(params_method),
                              "backend": backend, "DEVICE": DEVICE, "seed": seed,
                              "dtype": dtype}
        self._fitted_data = data
        self.run_data["factors"] = self.factors
        return self.factors

    def order_factors_by_EVR(self, data: Mapping[str, np.ndarray] | None = None,
                             factors: Mapping[str, Mapping[str, np.ndarray]] | None = None,
                             weights: Mapping[str, np.ndarray] | None = None,
                             overwrite_factors: bool = True):
        """Sort components by descending EVR per tensor; see :func:`order_by_evr`.

        Returns
        -------
        orders, factors_ordered, weights_ordered, evrs_ordered : dicts keyed like the data
        """
        data = getattr(self, "_fitted_data", self.data) if data is None else data
        factors = self.factors if factors is None else factors
        weights = self.factor_weights if weights is None else weights
        orders, f_out, w_out, e_out, totals = {}, {}, {}, {}, {}
        for k, fdict in factors.items():
            dims = list(fdict)
            order, w, f, evr, total = order_by_evr(np.asarray(data[k]), weights[k],
                                                   [fdict[d] for d in dims])
            orders[k], f_out[k], w_out[k], e_out[k], totals[k] = (
                order, dict(zip(dims, f)), w, evr, total)
        if overwrite_factors:
            self.factors, self.factor_weights = f_out, w_out
            self.evrs_ordered, self.evr_total = e_out, totals
            self.run_data["factors"] = self.factors
            self.run_info["evr"] = {k: {"evr": e_out[k].tolist(), "evr_total": totals[k]}
                                    for k in e_out}
        return orders, f_out, w_out, e_out

    def rearrange_factors(self, factors: Mapping[str, Mapping[str, np.ndarray]] | None = None,
                          undo_concat_dictElements: bool = True,
                          undo_concat_complexDim: bool = True) -> dict:
        """Undo the rearrangement on the factors; see :func:`rearrange_factors`."""
        if self.rearrangement is None:
            raise TCAError("call rearrange_data first")
        factors = self.factors if factors is None else factors
        self.factors_rearranged, self.names_dims_array_postDecomp = rearrange_factors(
            factors, self.rearrangement, undo_concat_dictElements=undo_concat_dictElements,
            undo_concat_complexDim=undo_concat_complexDim)
        r = self.rearrangement
        self.name_dim_dictElements_postDecomp = (
            r.name_dim_dictElements if (r.method_handling_dictElements != "concatenate"
                                        or undo_concat_dictElements) else None)
        self.run_data["factors_rearranged"] = self.factors_rearranged
        return self.factors_rearranged

    def plot_factors(self, factors: Mapping | None = None, figure_saver=None,
                     show_figures: bool = True) -> list:
        """One figure per leaf factor: each component's loading, normalised to max |1|.

        ``figure_saver``: a callable ``(fig, name)``, an object with ``save(fig, name)``, or
        a folder path (PNG files). Returns the figures.
        """
        import matplotlib.pyplot as plt

        if factors is None:
            factors = self.factors_rearranged or self.factors
        figs = []

        def leaves(d, prefix):
            for k, v in d.items():
                if isinstance(v, Mapping):
                    yield from leaves(v, f"{prefix}{k}/")
                else:
                    yield f"{prefix}{k}", np.asarray(v)

        for name, f in leaves(factors, ""):
            f = np.abs(f) if np.iscomplexobj(f) else f
            f2 = f.reshape(-1, f.shape[-1])
            m = np.max(np.abs(f2), axis=0)
            fig, ax = plt.subplots(figsize=(7, 3), layout="constrained")
            ax.plot(f2 / np.where(m > 0, m, 1.0))
            ax.set_title(name)
            ax.set_ylabel("loading (max-normalised)")
            figs.append(fig)
            if figure_saver is not None:
                safe = name.replace("/", "_").replace(" ", "_").replace("(", "").replace(")", "")
                if callable(figure_saver):
                    figure_saver(fig, safe)
                elif hasattr(figure_saver, "save"):
                    figure_saver.save(fig, name=safe)
                else:
                    d = Path(figure_saver)
                    d.mkdir(parents=True, exist_ok=True)
                    fig.savefig(d / f"{safe}.png", dpi=100)
        if show_figures:
            plt.ion()
        else:
            for fig in figs:
                plt.close(fig)
        return figs

    def __repr__(self) -> str:
        keys = list(self.data)
        return f"TCA(tensors={keys}, fitted={bool(self.factors)})"
