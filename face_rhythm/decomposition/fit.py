"""Fitting: validate a tensor and method parameters, fit a CP model with tensorly.

:func:`fit_cp` runs one of :data:`METHODS` on the numpy or pytorch backend (CPU or CUDA,
seeded) with the copy-free MTTKRP of :mod:`.mttkrp` (and, on numpy, tensorly's 2-norm of the
whole tensor without its tensor-sized temporary, :func:`sum_squares`), and returns the
factors with unit-norm columns and the scale in the weights (applied once, nowhere else).
tensorly and torch are imported lazily.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from face_rhythm.devices import resolve_device as _resolve_device
from face_rhythm.errors import TCAError

from .mttkrp import _fast_tenalg_backend

logger = logging.getLogger(__name__)

__all__ = ["METHODS", "check_fit_inputs", "fit_cp", "resolve_device", "sum_squares"]

#: Decomposition classes of ``tensorly.decomposition`` that :func:`fit_cp` accepts.
METHODS = ("CP_NN_HALS", "CP", "RandomizedCP", "ConstrainedCP")
#: String values of ``params_method.init`` that tensorly's CP methods take.
INITS = ("svd", "random")
_BACKENDS = ("numpy", "pytorch")
_DTYPES = ("float32", "float64")


def resolve_device(backend: str, device: str | None) -> str:
    """The device a fit runs on: ``"cpu"``, ``"cuda"`` or ``"cuda:<i>"``.

    A thin adapter over :func:`face_rhythm.devices.resolve_device` for a tensorly backend:
    ``"auto"`` is ``"cuda"`` when torch sees a GPU (pytorch backend), else ``"cpu"``; the numpy
    backend runs on the CPU only. ``None`` or ``""`` mean ``"cpu"``.

    Raises
    ------
    TCAError
        An unknown backend, a GPU asked of the numpy backend, CUDA where torch sees none, or
        an unknown device name.
    """
    device = "cpu" if device in (None, "") else str(device)
    if backend not in _BACKENDS:
        raise TCAError(f"backend {backend!r} is not 'numpy' or 'pytorch'")
    if backend == "numpy":
        if device not in ("cpu", "auto"):
            raise TCAError(f"device {device!r} needs backend 'pytorch' (numpy runs on the CPU)")
        return "cpu"
    if device.startswith("cuda"):
        import torch  # lazy: only a CUDA request needs to ask torch

        if not torch.cuda.is_available():
            raise TCAError(f"device {device!r} requested but torch sees no CUDA device")
    return _resolve_device(device, key="device", error=TCAError)


#: ``__init__`` parameters of each method in tensorly :data:`_TABLE_TENSORLY` (a test checks
#: them against the installed tensorly): the session check and the config validation then
#: need no tensorly import (0.3 s). Another tensorly version is inspected instead.
_TABLE_TENSORLY = "0.10.0"
_METHOD_PARAMS = {
    "CP_NN_HALS": ("rank", "n_iter_max", "init", "svd", "tol", "sparsity_coefficients",
                   "fixed_modes", "nn_modes", "exact", "verbose", "normalize_factors",
                   "cvg_criterion", "random_state"),
    "CP": ("rank", "n_iter_max", "init", "svd", "normalize_factors", "orthogonalise", "tol",
           "random_state", "verbose", "sparsity", "l2_reg", "mask", "cvg_criterion",
           "fixed_modes", "svd_mask_repeats", "linesearch", "callback"),
    "RandomizedCP": ("rank", "n_samples", "n_iter_max", "init", "svd", "tol",
                     "max_stagnation", "random_state", "verbose", "callback", "sampling",
                     "n_samples_fit"),
    "ConstrainedCP": ("rank", "n_iter_max", "n_iter_max_inner", "init", "svd", "tol_outer",
                      "tol_inner", "random_state", "verbose", "return_errors",
                      "cvg_criterion", "fixed_modes", "non_negative", "l1_reg",
                      "group_lasso", "l2_reg", "l2_square_reg", "unimodality", "normalize",
                      "simplex", "normalized_sparsity", "soft_sparsity", "smoothness",
                      "monotonicity", "hard_sparsity"),
}


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise TCAError(f"method {method!r} is not one of {METHODS}")


def _method_class(method: str):
    _check_method(method)
    import tensorly.decomposition as tld

    return getattr(tld, method)


@functools.cache
def _tensorly_version() -> str | None:
    """The installed tensorly's version, read from its metadata once (no import)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tensorly")
    except PackageNotFoundError:  # pragma: no cover - tensorly is a dependency
        return None


def method_parameters(method: str) -> tuple[str, ...]:
    """The keyword arguments that tensorly's class ``method`` takes (``params_method`` keys).

    From a table for tensorly 0.10.0 (no import), else from the installed class's signature.
    """
    _check_method(method)
    if _tensorly_version() == _TABLE_TENSORLY:
        return _METHOD_PARAMS[method]
    sig = inspect.signature(_method_class(method).__init__)
    return tuple(p for p in sig.parameters if p != "self")


def _is_non_negative(method: str, params: Mapping[str, Any]) -> bool:
    if method == "CP_NN_HALS":
        return params.get("nn_modes", "all") not in (None, [], ())
    if method == "ConstrainedCP":
        return bool(params.get("non_negative"))
    return False


def check_fit_inputs(tensor: np.ndarray, method: str, params_method: Mapping[str, Any],
                     name: str = "tensor") -> dict[str, Any]:
    """Validate a tensor and method parameters before fitting; return the kwargs to use.

    Raises :class:`TCAError` for: an unknown method, parameter or ``init``, a rank that is not an
    integer in ``[1, min(tensor.shape)]``, NaN/Inf values, negative values with a
    non-negative method, a tensor with fewer than 2 dims.
    """
    allowed = list(method_parameters(method))
    params = dict(params_method)
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
    if not np.any(tensor):
        raise TCAError(f"{name} is all zeros: no point moved (a blank or still video?); "
                       "check the videos and the tracking")
    if _is_non_negative(method, params):
        mn = float(np.min(tensor))
        if mn < 0:
            raise TCAError(f"{name} has negative values (min {mn:.3g}) but {method} is "
                           "non-negative: drop mean subtraction or use method 'CP'")
    if method == "RandomizedCP" and "n_samples" not in params:
        raise TCAError("RandomizedCP needs params_method['n_samples'] (rows sampled per "
                       "least-squares step)")
    init = params.get("init")
    if isinstance(init, str) and init not in INITS:
        raise TCAError(f"params_method.init={init!r} is not one of {INITS} (or a CP tensor)")
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


#: Elements per block of :func:`sum_squares` (4 M: 16 MB of float32 squares at a time).
SUM_SQUARES_BLOCK = 1 << 22


def sum_squares(flat: np.ndarray) -> np.floating:
    """``np.sum(np.abs(flat) ** 2)`` of a contiguous 1-D real array, to the bit, in blocks.

    numpy sums a contiguous 1-D array pairwise, splitting ``n`` elements at ``n // 2``
    rounded down to a multiple of 8; splitting the same way down to blocks of at most
    :data:`SUM_SQUARES_BLOCK` and squaring one block at a time gives its result without the
    tensor-sized temporary of tensorly's ``norm`` (``abs``, squared in place by numpy).
    """
    n = flat.size
    if n <= SUM_SQUARES_BLOCK:
        return np.sum(np.square(flat))
    half = n // 2
    half -= half % 8
    return sum_squares(flat[:half]) + sum_squares(flat[half:])


def _light_numpy_backend():
    """tensorly's numpy backend whose 2-norm of a whole C-contiguous real tensor is
    ``sqrt(sum_squares(...))``: tensorly's own number, without copies of the tensor."""
    from tensorly.backend.numpy_backend import NumpyBackend

    backend = NumpyBackend()
    generic = backend.norm

    def norm(tensor, order=2, axis=None):
        if (order == 2 and axis in (None, ()) and isinstance(tensor, np.ndarray)
                and tensor.dtype.kind == "f" and tensor.flags.c_contiguous):
            return np.sqrt(sum_squares(tensor.reshape(-1)))
        return generic(tensor, order=order, axis=axis)

    backend.norm = norm
    return backend


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
    if dtype not in _DTYPES:
        raise TCAError(f"dtype {dtype!r} is not 'float32' or 'float64'")
    dev = resolve_device(backend, device)
    if seed is not None and "random_state" in method_parameters(method):
        params.setdefault("random_state", int(seed))
    import tensorly as tl

    cls = _method_class(method)
    t0 = time.perf_counter()
    with tl.backend_context(_light_numpy_backend() if backend == "numpy" else backend):
        if backend == "pytorch":
            import torch

            if seed is not None:
                torch.manual_seed(int(seed))
            x = torch.as_tensor(np.ascontiguousarray(tensor, dtype=dtype), device=dev)
        else:
            x = np.ascontiguousarray(tensor, dtype=dtype)
        fit_params = dict(params)
        if backend == "numpy" and fit_params.get("svd") == "randomized_svd":
            from .svd import randomized_svd  # the same factors, one tensor copy lighter

            fit_params["svd"] = randomized_svd
        model = cls(**fit_params)
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
