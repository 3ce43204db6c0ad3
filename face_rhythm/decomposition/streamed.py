"""Streamed TCA, arrays in and arrays out: the pieces of a decomposition whose peak memory
does not grow with the recording's length.

The tensor is the in-memory path's: every video's ``(2, N, F, T_v)`` spectrogram with ``xy``
folded into ``points`` (``(2N, F, T_v)``, index ``xy * N + point``), the videos concatenated in
time. The streamed path

1. fits the points and frequency factors ``A`` (2N, R), ``B`` (F, R) with the in-memory fit
   (:func:`~.fit.fit_cp`) on a seeded sample of blocks of time bins drawn from every video
   (:func:`sample_time_bins`; all bins when the sample is as long as the data, which then is
   the in-memory tensor itself);
2. solves every time bin's row of the time factor against the fixed ``A``, ``B``:
   ``min_c || X[:, :, t] - sum_r c_r a_r o b_r ||`` with ``c >= 0`` for the non-negative
   methods (:func:`solve_time_factors`: normal equations with the ``R x R`` Gram
   ``(A'A) * (B'B)``, vectorised over a chunk of time bins, exact on the active set);
3. accumulates, in the same pass, ``||X||^2``, ``sum X`` and ``<X, Y_r>`` per component
   (:func:`chunk_statistics`), from which :func:`full_fit_statistics` gives the relative
   error and the explained variance of each component and of the model, exactly as
   :func:`~.evr.explained_variance_ratios` defines them on the whole tensor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from face_rhythm.errors import TCAError

__all__ = ["add_statistics", "chunk_statistics", "full_fit_statistics", "mttkrp_time", "sample_time_bins",
           "solve_time_factors", "time_factor_gram"]


def sample_time_bins(lengths: Sequence[int], time_bins: int, block_bins: int,
                     seed: int) -> list[np.ndarray]:
    """Seeded sample of blocks of time bins from every video (stratified by length).

    Parameters
    ----------
    lengths : sequence of int
        ``T_v`` of each video, in order.
    time_bins : int
        About this many bins in all (rounded up to whole blocks). At least the total: every
        bin of every video, in order.
    block_bins : int
        Contiguous bins per block (one slice read per block).
    seed : int

    Returns
    -------
    list of (n_v,) int64
        Sorted bin indices of each video; every video gets at least one block.
    """
    lengths = [int(t) for t in lengths]
    if not lengths or min(lengths) < 1:
        raise TCAError(f"every video needs at least one time bin, got lengths {lengths}")
    if time_bins < 1 or block_bins < 1:
        raise TCAError(f"tca.streamed.time_bins ({time_bins}) and block_bins ({block_bins}) "
                       "must be positive")
    total = sum(lengths)
    if time_bins >= total:
        return [np.arange(t, dtype=np.int64) for t in lengths]
    blocks = [-(-t // block_bins) for t in lengths]
    want = -(-time_bins // block_bins)
    share = np.array(blocks, dtype=np.float64) * want / sum(blocks)
    n = np.maximum(1, np.floor(share).astype(np.int64))
    for i in np.argsort(-(share - np.floor(share)), kind="stable"):  # largest remainders
        if n.sum() >= want:
            break
        n[i] += 1
    n = np.minimum(n, blocks)
    rng = np.random.default_rng(int(seed))
    out = []
    for t, nb, k in zip(lengths, blocks, n):
        chosen = np.sort(rng.choice(nb, size=int(k), replace=False))
        idx = np.concatenate([np.arange(b * block_bins, min((b + 1) * block_bins, t))
                              for b in chosen])
        out.append(idx.astype(np.int64))
    return out


def time_factor_gram(factors: Sequence[np.ndarray]) -> np.ndarray:
    """``(A'A) * (B'B)`` (R, R) float64: the Gram of the Khatri-Rao product of the fixed
    factors (points ``(2N, R)``, frequency ``(F, R)``)."""
    g = None
    for f in factors:
        f = np.asarray(f, dtype=np.float64)
        g = f.T @ f if g is None else g * (f.T @ f)
    return g


def mttkrp_time(chunk: np.ndarray, factors: Sequence[np.ndarray]) -> np.ndarray:
    """``X_(t) @ khatri_rao(A, B)`` of one chunk: (t, R) float64.

    Parameters
    ----------
    chunk : (2N, F, t) float
        Time bins of one video (pass float64 to avoid a converted copy).
    factors : [(2N, R), (F, R)]
    """
    a, b = (np.asarray(f, dtype=np.float64) for f in factors)
    i, f, t = chunk.shape
    if a.shape[0] != i or b.shape[0] != f:
        raise TCAError(f"a chunk of shape {chunk.shape} does not fit factors of shapes "
                       f"{a.shape}, {b.shape}")
    x = np.asarray(chunk, dtype=np.float64).reshape(i, f * t)
    y = (a.T @ x).reshape(a.shape[1], f, t)  # (R, F, t)
    return np.einsum("rft,fr->tr", y, b)


def solve_time_factors(gram: np.ndarray, m: np.ndarray, non_negative: bool = True,
                       n_iter: int = 100) -> np.ndarray:
    """Least-squares time factors of a chunk against fixed factors: (t, R) float64.

    Minimises ``||X_(t) - C K'||`` over ``C`` (``K`` the Khatri-Rao product, ``K'K = gram``,
    ``X_(t) K = m``), row by row, all rows at once.

    Parameters
    ----------
    gram : (R, R)
    m : (t, R)
    non_negative : bool
        ``C >= 0`` (NNLS): HALS sweeps vectorised over the rows, then the exact solution on
        each row's active set (grouped by set, one ``R' x R'`` solve per group), kept where
        it satisfies the constraints. ``False``: the unconstrained solution.
    n_iter : int
        HALS sweeps before the active-set step.
    """
    g = np.asarray(gram, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    if not non_negative:
        return np.linalg.lstsq(g, m.T, rcond=None)[0].T
    diag = np.maximum(np.diag(g), 1e-300)
    c = np.maximum(np.linalg.lstsq(g, m.T, rcond=None)[0].T, 0.0)
    for _ in range(int(n_iter)):
        for r in range(g.shape[0]):
            c[:, r] = np.maximum(0.0, c[:, r] + (m[:, r] - c @ g[:, r]) / diag[r])
    return _refine_on_active_set(g, m, c)


def _refine_on_active_set(g: np.ndarray, m: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Exact NNLS rows where HALS found the right active set (positive solution, KKT)."""
    support = c > 0
    keys = support @ (1 << np.arange(g.shape[0]))
    out = c.copy()
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        s = support[rows[0]]
        if not s.any():
            continue
        sol = np.linalg.lstsq(g[np.ix_(s, s)], m[np.ix_(rows, np.flatnonzero(s))].T,
                              rcond=None)[0].T
        cand = np.zeros((rows.size, g.shape[0]))
        cand[:, s] = sol
        grad = cand @ g - m[rows]  # KKT: >= 0 where c = 0
        ok = np.all(sol > 0, axis=1) & np.all(grad[:, ~s] >= -1e-9 * (1 + np.abs(m[rows][:, ~s])),
                                              axis=1)
        out[rows[ok]] = cand[ok]
    return out


def chunk_statistics(chunk: np.ndarray, m: np.ndarray, c: np.ndarray) -> dict[str, np.ndarray]:
    """What the full-data fit needs from one chunk: ``ss_x`` (sum of squares), ``s_x``
    (sum), ``n`` (elements) and ``xy`` (R,) (``<X, Y_r>`` with ``Y_r`` the chunk's part of
    component ``r``, time factor ``c`` unnormalised), float64."""
    x = np.asarray(chunk, dtype=np.float64).reshape(-1)
    return {"ss_x": np.float64(np.dot(x, x)), "s_x": np.float64(x.sum()),
            "n": np.float64(x.size), "xy": np.einsum("tr,tr->r", c, m)}


def add_statistics(total: Mapping[str, np.ndarray] | None,
                   part: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Sum of two :func:`chunk_statistics` dicts (``None``: the first)."""
    if total is None:
        return {k: np.asarray(v, dtype=np.float64).copy() for k, v in part.items()}
    return {k: np.asarray(total[k], dtype=np.float64) + np.asarray(part[k], dtype=np.float64)
            for k in total}


def full_fit_statistics(factors: Sequence[np.ndarray], time_factors: Sequence[np.ndarray],
                        stats: Sequence[Mapping[str, np.ndarray]]
                        ) -> dict[str, np.ndarray | float]:
    """Weights, unit-norm time factors, relative error and EVR of the whole data.

    Parameters
    ----------
    factors : [(2N, R), (F, R)]
        Unit-norm points and frequency factors (fixed).
    time_factors : list of (T_v, R)
        Each video's unnormalised time factors (the scale of the model is in them).
    stats : list of dict
        Each video's :func:`chunk_statistics` (summed over its chunks).

    Returns
    -------
    dict
        ``weights`` (R,), ``time`` (list of (T_v, R), unit norm over all videos together),
        ``evr`` (R,) per component and ``evr_total`` (``1 - var(X - Y) / var(X)`` over all
        elements), ``relative_error`` (``||X - Y|| / ||X||``), ``ss_x``, ``n``.
    """
    a, b = (np.asarray(f, dtype=np.float64) for f in factors)
    cs = [np.asarray(c, dtype=np.float64) for c in time_factors]
    tot = None
    for s in stats:
        tot = add_statistics(tot, s)
    n, ss_x, s_x, xy = float(tot["n"]), float(tot["ss_x"]), float(tot["s_x"]), tot["xy"]
    c_sum = sum(c.sum(axis=0) for c in cs)
    c_gram = sum(c.T @ c for c in cs)
    weights = np.sqrt(np.diag(c_gram))
    sum_y = a.sum(axis=0) * b.sum(axis=0) * c_sum  # per component
    var_x = ss_x / n - (s_x / n) ** 2
    if var_x <= 0:
        raise TCAError("the tensor is constant: explained variance is undefined")
    ee_r = ss_x - 2 * xy + weights ** 2
    evr = 1.0 - (ee_r / n - ((s_x - sum_y) / n) ** 2) / var_x
    yy = float(np.sum((a.T @ a) * (b.T @ b) * c_gram))
    ee = ss_x - 2 * float(xy.sum()) + yy
    evr_total = 1.0 - (ee / n - ((s_x - float(sum_y.sum())) / n) ** 2) / var_x
    scale = np.divide(1.0, weights, out=np.zeros_like(weights), where=weights > 0)
    return {"weights": weights, "time": [c * scale[None, :] for c in cs], "evr": evr,
            "evr_total": float(evr_total), "ss_x": ss_x, "n": n,
            "relative_error": float(np.sqrt(max(ee, 0.0) / ss_x)) if ss_x > 0 else float("nan")}

