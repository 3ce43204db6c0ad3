"""How well a CP model explains the tensor: explained variance, relative error, matching.

Explained variance ratio (EVR) of a reconstruction ``Y`` of the fitted tensor ``X``:
``1 - var(X - Y) / var(X)`` with variances over all elements (``sklearn``'s
``explained_variance_score`` on the flattened tensor). Everything is computed in float64 in
chunks along the first dim, never on a float64 copy of the whole tensor.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from face_rhythm.errors import TCAError

__all__ = ["explained_variance_ratios", "factor_match_score", "order_by_evr",
           "relative_error"]


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
                              chunk_elements: int = 2**20) -> tuple[np.ndarray, float]:
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
                   chunk_elements: int = 2**20) -> float:
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
