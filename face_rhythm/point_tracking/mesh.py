"""The mesh: each point's nearest neighbours and the rigidity and relaxation forces.

Arrays in, arrays out (positions (x, y) in px). Per frame, the rigidity force is one sparse
matrix product over all points (:func:`mesh_operator`), no Python loop over points.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import TrackingError

if TYPE_CHECKING:  # scipy is imported where it is used: the session check needs only counts
    import scipy.sparse

__all__ = ["apply_mesh_forces", "check_mesh_size", "mesh_d0", "mesh_neighbors",
           "mesh_operator"]


def check_mesh_size(n_points: int, n_neighbors: int, include_self: bool = False) -> None:
    """Raise :class:`TrackingError` if ``n_points`` points cannot each have ``n_neighbors``
    neighbours (:func:`mesh_neighbors`'s one failure, checked without building the mesh)."""
    k = int(n_neighbors)
    available = int(n_points) if include_self else int(n_points) - 1
    if k > 0 and k > available:
        raise TrackingError(f"mesh_n_neighbors={k}: only {available} neighbour(s) available "
                            f"for {n_points} points")


def mesh_neighbors(points: np.ndarray, n_neighbors: int,
                   include_self: bool = False) -> np.ndarray:
    """Indices of each point's nearest points by position.

    Parameters
    ----------
    points : (N, 2) array
        Home positions (x, y).
    n_neighbors : int
        ``k``, neighbours per point.
    include_self : bool
        Count the point itself among its ``k`` (the original's behaviour).

    Returns
    -------
    (N, k) int64
        Neighbour indices, nearest first.
    """
    from scipy.spatial import cKDTree

    pts = np.asarray(points, dtype=np.float64)
    n, k = pts.shape[0], int(n_neighbors)
    if k == 0:
        return np.empty((n, 0), dtype=np.int64)
    check_mesh_size(n, k, include_self)
    tree = cKDTree(pts)
    _, idx = tree.query(pts, k=k if include_self else k + 1)
    idx = np.asarray(idx, dtype=np.int64).reshape(n, -1)
    if include_self:
        return idx
    is_self = idx == np.arange(n)[:, None]
    no_self = ~is_self.any(axis=1)  # duplicate positions: drop the farthest instead
    is_self[no_self, -1] = True
    return idx[~is_self].reshape(n, k)


def mesh_operator(neighbors: np.ndarray) -> scipy.sparse.csr_array:
    """Sparse ``L = I - A`` with ``A`` the mean over neighbours: ``(L @ p)_i = p_i - mean_j p_j``.

    Parameters
    ----------
    neighbors : (N, k) int

    Returns
    -------
    (N, N) float32 CSR array. (A gather ``p[neighbors].mean(1)`` costs ~10x more per frame.)
    """
    import scipy.sparse

    n, k = neighbors.shape
    if k == 0:
        return scipy.sparse.csr_array((n, n), dtype=np.float32)
    a = scipy.sparse.csr_array((np.full(n * k, 1.0 / k, dtype=np.float32), neighbors.ravel(),
                                np.arange(0, n * k + 1, k)), shape=(n, n))
    return (scipy.sparse.identity(n, dtype=np.float32, format="csr") - a).tocsr()


def mesh_d0(points: np.ndarray, neighbors: np.ndarray) -> np.ndarray:
    """Rest offsets ``d0_i = mean_j (p_i - p_j)`` over neighbours, (N, 2) float32."""
    pts = np.asarray(points, dtype=np.float32)
    if neighbors.shape[1] == 0:
        return np.zeros_like(pts)
    return (pts - pts[neighbors].mean(axis=1)).astype(np.float32)


def apply_mesh_forces(points: np.ndarray, home: np.ndarray, neighbors: np.ndarray,
                      d0: np.ndarray, rigidity: float, relaxation: float,
                      operator: scipy.sparse.csr_array | None = None) -> np.ndarray:
    """Apply mesh rigidity, then relaxation toward home, in place.

    ``p_i -= rigidity * ((p_i - mean_j p_j) - d0_i)`` (all points at once, from the same
    positions), then ``p -= relaxation * (p - home)``.

    Parameters
    ----------
    points : (N, 2) float32
        Positions, modified in place and returned.
    home, d0 : (N, 2) float32
    neighbors : (N, k) int
    rigidity, relaxation : float
    operator : sparse (N, N), optional
        :func:`mesh_operator` of ``neighbors``, precomputed for speed.
    """
    if rigidity and neighbors.shape[1]:
        if operator is None:
            operator = mesh_operator(neighbors)
        offset = operator @ points
        offset -= d0
        offset *= rigidity
        points -= offset
    if relaxation:
        points -= relaxation * (points - home)
    return points
