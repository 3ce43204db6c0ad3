"""The copy-free MTTKRP (matricised tensor times Khatri-Rao product) and its tensorly backend.

Most of the time of a ``CP_NN_HALS`` / ``CP`` iteration is tensorly's MTTKRP
(``unfolding_dot_khatri_rao``), which copies the whole tensor for every mode but the first.
:func:`mttkrp` computes the same values reading the tensor only through free reshapes;
:func:`_fast_tenalg_backend` is the tensorly tenalg backend that :func:`~.fit.fit_cp` installs
during a fit. tensorly is imported lazily, inside the functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["mttkrp", "mttkrp_partial"]


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
