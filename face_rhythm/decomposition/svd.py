"""The SVD of the CP fits' ``init: svd``: tensorly's randomized SVD, one tensor copy lighter.

tensorly's ``randomized_svd`` forms ``conj(A.T)`` for its power iterations: for a real
matrix a full copy of the unfolded tensor, next to the unfolding itself (measured: the
initialisation then peaks at about 4x the tensor). :func:`randomized_svd` is the same
algorithm, the same random draws and the same BLAS calls on the same memory layouts, without
that copy for real matrices, so the factors are identical (tested bitwise against tensorly's).
:func:`~.fit.fit_cp` uses it for ``svd: randomized_svd`` on the numpy backend.
"""

from __future__ import annotations

from typing import Any

__all__ = ["randomized_svd"]


def _range_finder(a: Any, n_dims: int, n_iter: int, random_state: Any) -> Any:
    """Orthonormal (dim_1, n_dims) basis of the range of ``a`` (Halko et al., alg. 4.4)."""
    import tensorly as tl

    rng = tl.check_random_state(random_state)
    q = tl.tensor(rng.normal(size=(tl.shape(a)[1], n_dims)), **tl.context(a))
    q, _ = tl.qr(tl.dot(a, q))
    a_h = tl.transpose(a)  # a is real: its conjugate transpose is this view, not a copy
    for _ in range(n_iter):
        q, _ = tl.qr(tl.dot(a_h, q))
        q, _ = tl.qr(tl.dot(a, q))
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
        reduced = tl.transpose(tl.dot(tl.conj(tl.transpose(q)), matrix_t))
        u, s, v = tl_svd.truncated_svd(reduced, n_eigenvecs=n_eigenvecs)
        v = tl.dot(v, tl.transpose(q))
    else:
        q = _range_finder(matrix, n_dims, n_iter, random_state)
        reduced = tl.dot(tl.conj(tl.transpose(q)), matrix)
        u, s, v = tl_svd.truncated_svd(reduced, n_eigenvecs=n_eigenvecs)
        u = tl.dot(q, u)
    return u, s, v
