"""The SVD of the CP fits' ``init: svd``: tensorly's randomized SVD, one tensor copy lighter.

tensorly's ``randomized_svd`` forms ``conj(A.T)`` for its power iterations: for a real
matrix a full copy of the unfolded tensor, next to the unfolding itself (measured: the
initialisation then peaks at about 4x the tensor). :func:`randomized_svd` is the same
algorithm, the same random draws and the same BLAS calls on the same memory layouts, without
that copy for real matrices, so the factors are identical (tested bitwise against tensorly's).
:func:`~.fit.fit_cp` uses it for ``svd: randomized_svd`` on the numpy backend.

A long recording's range basis is tall: ``(time x points, rank + 5)``. numpy computes the QR
of a float32 matrix in float64, through two copies of it (measured: ~190 MB for a 27 MB
basis, the peak of the workflow's ``tca`` job at 60 s). From :data:`TALL_ROWS` rows the basis
is orthonormalised block by block instead (:func:`tall_q`, a tall-skinny QR, also in
float64). Its Q differs from numpy's by an orthogonal ``k x k`` factor (column signs, and
rounding), which the randomized SVD does not see: ``U``, ``S``, ``V`` only depend on the
subspace, up to the signs of singular pairs, which tensorly's ``svd_interface`` fixes after
(``svd_flip``); they are equal to float32 rounding (tested; bitwise in the runs measured).
"""

from __future__ import annotations

import itertools
from typing import Any

__all__ = ["TALL_ROWS", "randomized_svd", "tall_q"]

#: Rows from which the range basis is orthonormalised block by block (:func:`tall_q`).
TALL_ROWS = 1 << 18
#: Rows per block of :func:`tall_q`.
TALL_BLOCK = 1 << 16


def tall_q(y: Any, block: int = TALL_BLOCK) -> Any:
    """Orthonormal basis ``Q`` (n, k) of the columns of a tall numpy matrix ``y`` (n, k).

    A tall-skinny QR in float64: the R of each block of rows, the QR of those R stacked,
    then each block's Q times its part of that one (each block's QR is computed twice
    rather than kept). Working memory: a few blocks, not copies of ``y``.

    Returns
    -------
    (n, k) array of ``y``'s dtype, ``Q.T @ Q = I`` and ``Q @ Q.T @ y = y`` to rounding.
    """
    import numpy as np

    n, k = y.shape
    n_blocks = max(1, n // max(int(block), k))
    edges = np.linspace(0, n, n_blocks + 1).round().astype(np.int64)  # blocks of >= k rows
    f64 = np.float64
    rs = [np.linalg.qr(y[a:b].astype(f64), mode="r") for a, b in itertools.pairwise(edges)]
    qs, _ = np.linalg.qr(np.concatenate(rs))
    out = np.empty((n, k), dtype=y.dtype)
    for i, (a, b) in enumerate(itertools.pairwise(edges)):
        qi, _ = np.linalg.qr(y[a:b].astype(f64))
        out[a:b] = qi @ qs[i * k:(i + 1) * k]
    return out


def _qr_q(y: Any) -> Any:
    """The Q of ``y``: tensorly's QR, or :func:`tall_q` from :data:`TALL_ROWS` rows."""
    import numpy as np
    import tensorly as tl

    if isinstance(y, np.ndarray) and y.ndim == 2 and y.shape[0] >= TALL_ROWS \
            and not np.iscomplexobj(y):
        return tall_q(y)
    return tl.qr(y)[0]


def _range_finder(a: Any, n_dims: int, n_iter: int, random_state: Any) -> Any:
    """Orthonormal (dim_1, n_dims) basis of the range of ``a`` (Halko et al., alg. 4.4)."""
    import tensorly as tl

    rng = tl.check_random_state(random_state)
    q = tl.tensor(rng.normal(size=(tl.shape(a)[1], n_dims)), **tl.context(a))
    q = _qr_q(tl.dot(a, q))
    a_h = tl.transpose(a)  # a is real: its conjugate transpose is this view, not a copy
    for _ in range(n_iter):
        q = _qr_q(tl.dot(a_h, q))
        q = _qr_q(tl.dot(a, q))
    return q


def randomized_svd(matrix: Any, n_eigenvecs: int | None = None, n_oversamples: int = 5,
                   n_iter: int = 2, random_state: Any = None, **kwargs: Any):
    """Truncated randomized SVD ``U, S, V`` of a 2-D tensor (tensorly's, without a copy).

    Parameters and results are those of ``tensorly.tenalg.svd.randomized_svd``; complex
    matrices are handed to it unchanged.

    Returns
    -------
    U : (dim_1, n_eigenvecs)
    S : (n_eigenvecs,)
    V : (n_eigenvecs, dim_2)
    """
    import numpy as np
    import tensorly as tl
    from tensorly.tenalg import svd as tl_svd

    if np.iscomplexobj(matrix):
        return tl_svd.randomized_svd(matrix, n_eigenvecs=n_eigenvecs,
                                     n_oversamples=n_oversamples, n_iter=n_iter,
                                     random_state=random_state, **kwargs)
    n_eigenvecs, min_dim, max_dim = tl_svd.svd_checks(matrix, n_eigenvecs=n_eigenvecs)
    dim_1, dim_2 = tl.shape(matrix)
    n_dims = min(n_eigenvecs + n_oversamples, max_dim)
    if ((dim_1 > dim_2 and n_eigenvecs > min(min_dim, n_dims))
            or (dim_1 < dim_2 and n_eigenvecs < min(min_dim, n_dims))):
        matrix_t = tl.transpose(matrix)  # keeps the reduced matrix small
        q = _range_finder(matrix_t, n_dims, n_iter, random_state)
        reduced = tl.transpose(tl.dot(tl.transpose(q), matrix_t))  # q is real: no conj copy
        u, s, v = tl_svd.truncated_svd(reduced, n_eigenvecs=n_eigenvecs)
        v = tl.dot(v, tl.transpose(q))
    else:
        q = _range_finder(matrix, n_dims, n_iter, random_state)
        reduced = tl.dot(tl.transpose(q), matrix)
        u, s, v = tl_svd.truncated_svd(reduced, n_eigenvecs=n_eigenvecs)
        u = tl.dot(q, u)
    return u, s, v
