"""The TCA of the workflow, arrays in and results out: rearrange, normalise, fit, order by
EVR and rearrange back (:func:`run_tca`), with :class:`TCAResult` holding one decomposition."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .dims import _axis
from .evr import order_by_evr
from .fit import check_fit_inputs, fit_cp
from .normalization import normalize_tensor
from .params import TCAParams
from .rearrange import Rearrangement, rearrange_data, rearrange_factors

logger = logging.getLogger(__name__)

__all__ = ["TCAResult", "run_tca"]


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
