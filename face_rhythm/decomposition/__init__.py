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

from .dims import (
    concatenate_dims,
    concatenated_name,
    refold_complex,
    split_dim,
    unfold_complex,
    window_array,
)
from .evr import explained_variance_ratios, factor_match_score, order_by_evr, relative_error
from .figures import hz_ticks, plot_component, plot_evr, save_tca_figures
from .fit import METHODS, check_fit_inputs, fit_cp, resolve_device
from .mttkrp import _fast_tenalg_backend, mttkrp, mttkrp_partial
from .normalization import normalize_tensor
from .notebook import TCA
from .params import TCAParams, TCAWorkflowParams
from .pipeline import TCAResult, run_tca
from .rearrange import Rearrangement, rearrange_data, rearrange_factors
from .results import TCAFile, read_tca_file, tca_h5_dict, write_tca_h5
from .stage import load_spectrograms, tca_stage

__all__ = [
    "METHODS",
    "TCA",
    "Rearrangement",
    "TCAError",
    "TCAFile",
    "TCAParams",
    "TCAResult",
    "TCAWorkflowParams",
    "_fast_tenalg_backend",
    "check_fit_inputs",
    "concatenate_dims",
    "concatenated_name",
    "explained_variance_ratios",
    "factor_match_score",
    "fit_cp",
    "hz_ticks",
    "load_spectrograms",
    "mttkrp",
    "mttkrp_partial",
    "normalize_tensor",
    "order_by_evr",
    "plot_component",
    "plot_evr",
    "read_tca_file",
    "rearrange_data",
    "rearrange_factors",
    "refold_complex",
    "relative_error",
    "resolve_device",
    "run_tca",
    "save_tca_figures",
    "split_dim",
    "tca_h5_dict",
    "tca_stage",
    "unfold_complex",
    "window_array",
    "write_tca_h5",
]
