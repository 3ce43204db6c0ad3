"""The original's CP helpers (``face_rhythm.helpers`` names) over tensorly and :mod:`.evr`.

A CP model here is either a list of factor matrices ``[(L_0, R), (L_1, R), ...]`` (weights
ones unless given) or a ``tensorly.cp_tensor.CPTensor`` (``(weights, factors)``); numpy arrays
or torch tensors. Explained variance ratio (EVR) of a reconstruction ``Y`` of ``X`` is
``1 - var(X - Y) / var(X)`` over all elements (:mod:`.evr`, in float64).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from face_rhythm.errors import TCAError

from .evr import _unfolded_model, explained_variance_ratios

__all__ = ["cp_reconstruction_EVR", "cp_to_dense", "order_cp_factors_by_EVR",
           "tensorly_cp_to_device"]


def _is_torch(x: Any) -> bool:
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _to_numpy(x: Any) -> np.ndarray:
    if _is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _weights_factors(cp: Any, weights: Any = None) -> tuple[Any, list]:
    """(weights or None, list of factors) of a CPTensor, a (weights, factors) pair or a list."""
    if hasattr(cp, "factors") and hasattr(cp, "weights"):
        w, factors = cp.weights, list(cp.factors)
    elif (isinstance(cp, tuple) and len(cp) == 2 and not _is_torch(cp[0])
          and isinstance(cp[1], (list, tuple)) and np.ndim(cp[0]) == 1):
        w, factors = cp
        factors = list(factors)
    elif isinstance(cp, Sequence):
        w, factors = None, list(cp)
    else:
        raise TCAError(f"a CP model must be a list of (L_i, R) factors or a tensorly "
                       f"CPTensor, got {type(cp).__name__}")
    if weights is not None:
        w = weights
    if not factors or any(np.ndim(f) != 2 for f in factors):
        raise TCAError(f"CP factors must be 2D (L_i, R) matrices, got shapes "
                       f"{[tuple(np.shape(f)) for f in factors]}")
    ranks = {int(np.shape(f)[1]) for f in factors}
    if len(ranks) != 1:
        raise TCAError(f"CP factors have different ranks {sorted(ranks)}")
    if w is not None and int(np.size(_to_numpy(w))) != ranks.pop():
        raise TCAError(f"{np.size(_to_numpy(w))} weights for factors of rank "
                       f"{np.shape(factors[0])[1]}")
    return w, factors


def cp_to_dense(cp, weights=None):
    """Dense tensor of a CP model, ``sum_r w_r f_0[:, r] o f_1[:, r] o ...``.

    Parameters
    ----------
    cp : list of (L_i, R) ndarray or torch.Tensor, or tensorly CPTensor
    weights : (R,) array, optional
        Default ones (or the CPTensor's).

    Returns
    -------
    (L_0, L_1, ...) ndarray, or torch.Tensor for torch factors
    """
    import tensorly as tl

    w, factors = _weights_factors(cp, weights)
    if any(_is_torch(f) for f in factors):
        import torch

        dev = next(f for f in factors if _is_torch(f)).device
        factors = [torch.as_tensor(f, device=dev) for f in factors]
        w = (torch.ones(factors[0].shape[1], dtype=factors[0].dtype, device=dev) if w is None
             else torch.as_tensor(w, dtype=factors[0].dtype, device=dev))
        with tl.backend_context("pytorch"):
            return tl.cp_to_tensor((w, factors))
    factors = [np.asarray(f) for f in factors]
    w = np.ones(factors[0].shape[1], dtype=factors[0].dtype) if w is None else np.asarray(w)
    with tl.backend_context("numpy"):
        return tl.cp_to_tensor((w, factors))


def tensorly_cp_to_device(cp, device: str = "cpu"):
    """Move a tensorly CPTensor's factors and weights to a torch device (in place).

    Parameters
    ----------
    cp : tensorly.cp_tensor.CPTensor
        With torch tensors (numpy arrays are converted).
    device : str
        Torch device, e.g. ``'cpu'`` or ``'cuda:0'``.

    Returns
    -------
    tensorly.cp_tensor.CPTensor
        The same object.
    """
    import torch

    if not (hasattr(cp, "factors") and hasattr(cp, "weights")):
        raise TCAError(f"tensorly_cp_to_device needs a tensorly CPTensor, got "
                       f"{type(cp).__name__}")
    cp.factors = [torch.as_tensor(f).to(device) for f in cp.factors]
    cp.weights = torch.as_tensor(cp.weights).to(device)
    return cp


def cp_reconstruction_EVR(tensor_dense, tensor_CP):
    """EVR of the full CP reconstruction: ``1 - var(X - Y) / var(X)``.

    Parameters
    ----------
    tensor_dense : ndarray or torch.Tensor
        ``X``, shape ``(L_0, L_1, ...)``.
    tensor_CP : list of (L_i, R) factors or tensorly CPTensor
        The model ``Y`` (weights ones for a list).

    Returns
    -------
    float, or a 0-d torch.Tensor when ``tensor_dense`` is a torch tensor
        1 for an exact model.
    """
    w, factors = _weights_factors(tensor_CP)
    f_np = [_to_numpy(f) for f in factors]
    w_np = np.ones(f_np[0].shape[1]) if w is None else _to_numpy(w)
    _, total = explained_variance_ratios(_to_numpy(tensor_dense), w_np, f_np)
    if _is_torch(tensor_dense):
        import torch

        return torch.as_tensor(total, dtype=torch.float64)
    return float(total)


def order_cp_factors_by_EVR(tensor_dense, cp_factors, cp_weights=None,
                            orthogonalizable_EVR: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Order CP components by descending EVR of each one alone.

    Parameters
    ----------
    tensor_dense : ndarray or torch.Tensor
        The fitted tensor ``X``.
    cp_factors : list of (L_i, R) factors or tensorly CPTensor
    cp_weights : (R,) array, optional
        Default ones (or the CPTensor's).
    orthogonalizable_EVR : bool
        Score each component at its least-squares scale ``a_r = <X, c_r> / <c_r, c_r>``
        (the EVR ``X`` projected on that component alone would have), rather than at its
        fitted weight; components that only explain ``X`` together with others score low.

    Returns
    -------
    order : (R,) int ndarray
        ``order[i]`` is the input index of the i-th component by EVR.
    evrs : (R,) float64 ndarray
        EVRs in that order.
    """
    w, factors = _weights_factors(cp_factors, cp_weights)
    f_np = [_to_numpy(f).astype(np.float64) for f in factors]
    w_np = np.ones(f_np[0].shape[1]) if w is None else _to_numpy(w).astype(np.float64)
    x = _to_numpy(tensor_dense)
    if orthogonalizable_EVR:
        x2, a0, kr = _unfolded_model(x, w_np, f_np)
        xc = np.einsum("ir,ir->r", a0, np.asarray(x2, dtype=np.float64) @ kr)  # <X, c_r>
        cc = (a0 ** 2).sum(0) * (kr ** 2).sum(0)  # <c_r, c_r>
        w_np = w_np * np.divide(xc, cc, out=np.zeros_like(cc), where=cc > 0)
    evr, _ = explained_variance_ratios(x, w_np, f_np)
    order = np.argsort(-evr, kind="stable")
    return order, evr[order]
