"""The notebook API of the original package: :class:`TCA`, a thin layer over the functions.

Each method calls one function of the package (:func:`~.rearrange.rearrange_data`,
:func:`~.normalization.normalize_tensor`, :func:`~.fit.fit_cp`, :func:`~.evr.order_by_evr`,
:func:`~.rearrange.rearrange_factors`) and keeps what it returns on the instance, with the
parameters of each call in :attr:`TCA.config`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from face_rhythm.errors import TCAError
from face_rhythm.provenance import package_versions
from face_rhythm.util.fr_module import FR_Module

from .dims import _axis
from .evr import order_by_evr
from .fit import check_fit_inputs, fit_cp
from .normalization import normalize_tensor
from .rearrange import Rearrangement, rearrange_data, rearrange_factors

#: The package's logger: ``verbose`` sets its level (the fit logs through a child of it).
logger = logging.getLogger(__package__)

#: Above this many GB of tensors, :meth:`TCA.fit` says where the streamed TCA is.
LARGE_TENSOR_GB = 2.0

__all__ = ["TCA"]


class TCA(FR_Module):
    """Tensor component analysis of spectrograms (notebook API of the original package).

    Parameters
    ----------
    verbose : bool or int
        0 silent, 1 warnings, 2 info (sets the level of the package's logger).

    Attributes
    ----------
    config, run_info, run_data : dict
        Parameters of each call, facts of the run (shapes, EVRs, versions), and the factors,
        written by ``save_run_data`` (of :class:`~face_rhythm.util.FR_Module`) as
        ``analysis_files/TCA.h5``: ``factors/{key}/{dim}`` (L, R), ``factor_weights/{key}``
        (R,), ``factors_rearranged``, and the dimension names.
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
        super().__init__()
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
        if method_handling_dictElements in ("concatenate", "stack"):  # the original's key
            self.data = {"0": next(iter(self.data.values()))}
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
        size_gb = sum(int(x.nbytes) for x in data.values()) / 1e9  # numpy or torch
        if size_gb > LARGE_TENSOR_GB:
            logger.warning("TCA in memory of %.1f GB of tensors: the fit holds a few times "
                           "that. For long recordings, the workflow's `tca.strategy: "
                           "streamed` fits on a sample and streams the rest (docs/tca.md)",
                           size_gb)
        self.factors, self.factor_weights, self.factors_raw = {}, {}, {}
        self._DEVICE = str(DEVICE)
        self._cleanup()
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
        self._cleanup()
        self.run_data["factors"] = self.factors
        self.run_data["factor_weights"] = self.factor_weights
        if names is not None:
            self.run_data["names_dims_array_preDecomp"] = list(names)
        self.run_info["versions"] = package_versions()
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
        """Undo the rearrangement on the factors, in the original's layout.

        Shapes: every factor stays ``(L, R)`` with its pre-decomposition name (e.g.
        ``"(xy points)"`` is ``(2N, R)``, x rows then y rows). ``undo_concat_dictElements``
        (``concatenate`` only; a no-op otherwise) replaces the concatenated dim's factor of
        tensor ``"0"`` by a dict under ``name_dim_dictElements``:
        ``{"<dim>_<element key>": (L_element, R)}``. ``undo_concat_complexDim`` (when the
        data were complex-unfolded; a no-op otherwise) re-forms complex factors of half the
        length. Sets :attr:`factors_rearranged`, :attr:`names_dims_array_postDecomp` (list)
        and :attr:`name_dim_dictElements_postDecomp`.
        """
        if self.rearrangement is None:
            raise TCAError("call rearrange_data first")
        factors = self.factors if factors is None else factors
        r = self.rearrangement
        self.factors_rearranged = _reference_factors(
            factors, r, undo_concat_dictElements, undo_concat_complexDim)
        self.names_dims_array_postDecomp = list(r.names_dims_preDecomp)
        self.name_dim_dictElements_postDecomp = r.name_dim_dictElements
        self.run_data["factors_rearranged"] = self.factors_rearranged
        self.run_data["names_dims_array_postDecomp"] = self.names_dims_array_postDecomp
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

    def _cleanup(self) -> None:
        """Free memory after a fit: garbage-collect, and empty the CUDA cache when the fit ran
        on a CUDA device (the original notebooks call it after saving)."""
        import gc
        import sys

        for _ in range(3):
            gc.collect()
        torch = sys.modules.get("torch")
        if "cuda" in str(getattr(self, "_DEVICE", "")) and torch is not None \
                and torch.cuda.is_available():
            torch.cuda.empty_cache()

    def __repr__(self) -> str:
        keys = list(self.data)
        return f"TCA(tensors={keys}, fitted={bool(self.factors)})"


def _reference_factors(factors: Mapping[str, Mapping[str, np.ndarray]], r: Rearrangement,
                       undo_dict: bool, undo_complex: bool) -> dict:
    """Factors in the original's ``factors_rearranged`` layout (see
    :meth:`TCA.rearrange_factors`): dims stay folded (``(L, R)``)."""
    out: dict[str, dict[str, Any]] = {}
    for key, fdict in factors.items():
        fd = {d: np.array(f) for d, f in fdict.items()}
        if undo_complex and r.concat_complexDim:
            # re-form complex values on the split dims, then fold them back to (L, R)
            sep = dataclasses.replace(r, method_handling_dictElements="separate")
            back, _ = rearrange_factors({key: fd}, sep, undo_concat_dictElements=False,
                                        undo_concat_complexDim=True, undo_concat_dims=True)
            fd = {d: a.reshape(-1, a.shape[-1]) for d, a in back[key].items()}
        if undo_dict and r.method_handling_dictElements == "concatenate":
            d = r.name_dim_concat_dictElements
            f = fd.pop(d)
            scale = f.shape[0] / sum(r.element_lengths)  # 1/2 after complex re-forming
            bounds = np.cumsum([0] + [round(n * scale) for n in r.element_lengths])
            fd[r.name_dim_dictElements] = {f"{d}_{k}": f[bounds[i]:bounds[i + 1]]
                                           for i, k in enumerate(r.keys)}
        out[key] = fd
    return out
