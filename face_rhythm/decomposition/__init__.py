"""Tensor component analysis (TCA) of spectrograms with tensorly.

The spectral stage gives, per video, an array with named dims ``[xy, points, frequency, time]``
(``(2, N, F, T)``, non-negative). TCA fits a rank-``R`` CP model

    X[i, f, t] ~ sum_r w_r * A[i, r] * B[f, r] * C[t, r]

and each component ``r`` is a rhythmic motif: where on the face (``A``), at which frequencies
(``B``, Hz), and when (``C``, seconds).

This package owns the decomposition and its result file, ``tca.h5``. Its rooms:

=====================  =======================================================================
module                 holds
=====================  =======================================================================
``dims``               named dims: fold / split, complex unfold / re-form, inclusive windows
``rearrange``          :func:`rearrange_data` (dict of arrays -> tensor(s)), the
                       :class:`Rearrangement`, :func:`rearrange_factors` (its inverse)
``normalization``      :func:`normalize_tensor` (mean subtraction / std division along a dim)
``mttkrp``             the copy-free MTTKRP (:func:`mttkrp`) and its tensorly backend
``svd``                the randomized SVD of ``init: svd`` (tensorly's, one tensor copy
                       lighter)
``fit``                :func:`check_fit_inputs`, :func:`fit_cp` (tensorly ``CP_NN_HALS``,
                       ``CP``, ``RandomizedCP``, ``ConstrainedCP``; numpy or pytorch, CPU or
                       CUDA, seeded), :func:`resolve_device`
``evr``                explained variance ratios, :func:`order_by_evr`, :func:`relative_error`,
                       :func:`factor_match_score`
``params``             :class:`TCAParams` (the only place the defaults live) from the ``tca``
                       config section
``pipeline``           :func:`run_tca`: rearrange, normalise, fit, order by EVR, rearrange back
``results``            ``tca.h5``: :func:`write_tca_h5` and :func:`read_tca_file` (:class:`TCAFile`)
``figures``            component figures and the EVR chart
``stage``              :func:`tca_stage`, the workflow's step (spectrogram.h5 files -> tca.h5)
``streamed``           the streamed path's arrays: sample of time bins, per-bin NNLS of the
                       time factors, full-data statistics (``docs/tca.md``)
``streamed_stage``     its three workflow steps: :func:`tca_fit_stage`,
                       :func:`tca_time_factors_stage`, :func:`tca_collect_stage`
``notebook``           :class:`TCA`, the original package's notebook API
``cp_tools``           the original's CP helpers (``face_rhythm.helpers`` names):
                       ``cp_to_dense``, ``tensorly_cp_to_device``, ``cp_reconstruction_EVR``,
                       ``order_cp_factors_by_EVR``
=====================  =======================================================================

Who may call it: the workflow script ``tca.py`` (through :func:`tca_stage`), notebooks, and
the consumers of ``tca.h5`` (NWB export, report), which read it with :func:`read_tca_file`
only. It reads the spectral stage's files through :mod:`face_rhythm.spectral_analysis` and the
ROI file through :mod:`face_rhythm.rois`.

Explained variance ratio (EVR) of a reconstruction ``Y`` of the fitted tensor ``X``:
``1 - var(X - Y) / var(X)`` with variances over all elements.
"""

from face_rhythm.errors import TCAError
from face_rhythm.lazy import lazy_exports

# eager: the function ``mttkrp`` shares its module's name, and a lazy name would be shadowed by
# the submodule as soon as anything imports it (mttkrp is light: tensorly loads in its calls)
from .mttkrp import _fast_tenalg_backend, mttkrp, mttkrp_partial

# Imported on first access (PEP 562): the workflow's parse (decomposition_common.smk) and the
# session check (preflight) read the tca section without loading tensorly, torch or matplotlib.
_LAZY = {
    "dims": ("concatenate_dims", "concatenated_name", "refold_complex", "split_dim",
             "unfold_complex", "window_array"),
    "evr": ("explained_variance_ratios", "factor_match_score", "order_by_evr",
            "relative_error"),
    "figures": ("hz_ticks", "plot_component", "plot_evr", "save_tca_figures"),
    "fit": ("METHODS", "check_fit_inputs", "fit_cp", "resolve_device"),
    "normalization": ("normalize_tensor",),
    "notebook": ("TCA",),
    "params": ("STRATEGIES", "TCAParams", "TCAStreamedParams", "TCAWorkflowParams"),
    "pipeline": ("TCAResult", "run_tca"),
    "rearrange": ("Rearrangement", "rearrange_data", "rearrange_factors"),
    "results": ("TCAFile", "read_tca_file", "read_tca_part_file", "tca_h5_dict",
                "write_tca_h5", "write_tca_part_h5"),
    "stage": ("load_spectrograms", "read_time_bins", "tca_stage"),
    "streamed": ("full_fit_statistics", "mttkrp_time", "sample_time_bins",
                 "solve_time_factors", "time_factor_gram"),
    "streamed_stage": ("streamed_sample_mb", "tca_collect_stage", "tca_fit_stage",
                       "tca_time_factors_stage"),
}
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY, {"checks", "cp_tools"})

__all__ = [
    "METHODS",
    "STRATEGIES",
    "TCA",
    "Rearrangement",
    "TCAError",
    "TCAFile",
    "TCAParams",
    "TCAResult",
    "TCAStreamedParams",
    "TCAWorkflowParams",
    "_fast_tenalg_backend",
    "check_fit_inputs",
    "concatenate_dims",
    "concatenated_name",
    "explained_variance_ratios",
    "factor_match_score",
    "fit_cp",
    "full_fit_statistics",
    "hz_ticks",
    "load_spectrograms",
    "mttkrp",
    "mttkrp_partial",
    "mttkrp_time",
    "normalize_tensor",
    "order_by_evr",
    "plot_component",
    "plot_evr",
    "read_tca_file",
    "read_tca_part_file",
    "read_time_bins",
    "rearrange_data",
    "rearrange_factors",
    "refold_complex",
    "relative_error",
    "resolve_device",
    "run_tca",
    "sample_time_bins",
    "save_tca_figures",
    "solve_time_factors",
    "split_dim",
    "streamed_sample_mb",
    "tca_collect_stage",
    "tca_fit_stage",
    "tca_h5_dict",
    "tca_stage",
    "tca_time_factors_stage",
    "time_factor_gram",
    "unfold_complex",
    "window_array",
    "write_tca_h5",
    "write_tca_part_h5",
]
