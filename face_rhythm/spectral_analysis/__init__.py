"""Spectral analysis of tracked point motion: normalised VQT spectrograms.

Each tracked point gives two displacement traces (x and y, relative to its home position).
Each trace goes through the variable-Q transform of the :mod:`vqt` package (``vqt.VQT``, a
bank of analytic windowed-cosine filters applied by FFT convolution, then average-pooled in
time by ``downsample_factor``; on the CPU its :class:`~.filterbank.FilterBank` twin computes
the same numbers faster and without torch); the raw spectrograms are then normalised as in the original
face-rhythm pipeline (:mod:`.normalization`) and stored as ``(2, N, F, T)`` (x rows first,
then y) in ``spectrogram.h5``.

The package owns the ``vqt:`` config section and the file ``spectrogram.h5``:

=================  ==========================================================================
module             holds
=================  ==========================================================================
``params``         :class:`SpectralParams` (the only defaults), :func:`check_vqt_params`,
                   :func:`expected_window_length`, :data:`DEFAULT_PARAMS_VQT`
``traces``         :func:`displacements_to_rows`: tracks (T, N, 2) -> traces (2N, T)
``filterbank``     :class:`FilterBank`, :func:`make_filter_bank` (vqt's filters without
                   vqt), :func:`filter_magnitudes` (the VQT on the CPU)
``vqt_model``      :func:`make_vqt`, :func:`vqt_rows` (time pieces), :func:`time_axis`,
                   :func:`resolve_device`
``normalization``  :func:`normalize_spectrogram` (the formula, in memory)
``streaming``      :func:`write_spectrograms` (batches of points, two exact passes, memory
                   bounded), :func:`compute_spectrograms`, :func:`effective_batch_size`
``results``        ``spectrogram.h5``: :func:`write_spectrogram_h5`,
                   :func:`read_spectrogram_file` -> :class:`SpectrogramFile`,
                   :func:`open_spectrogram_file`
``figures``        :func:`representative_points`, :func:`plot_point_spectrograms`
``stage``          :func:`spectrogram_from_tracking_file` (the workflow's step)
``notebook``       :class:`VQT_Analyzer` (the original's class)
``filters``        the original's helper VQT (``face_rhythm.helpers`` names, doors onto
                   ``vqt``): ``make_VQT_filters``, ``VQT``, ``torch_hilbert``, ``gaussian``,
                   ``bounded_logspace``
=================  ==========================================================================

Who may call it: the workflow script ``spectrogram.py`` (:func:`spectrogram_from_tracking_file`),
the video checks and the reference-frame alignment (:func:`check_vqt_params`,
:func:`make_vqt`), and every reader of ``spectrogram.h5`` (decomposition, NWB export, report)
through :func:`read_spectrogram_file` / :func:`open_spectrogram_file` only. It reads
``tracking.h5`` through :mod:`face_rhythm.point_tracking`.
"""

from face_rhythm.atomic import atomic_h5, atomic_path
from face_rhythm.errors import SpectralParamsError
from face_rhythm.lazy import lazy_exports
from face_rhythm.provenance import run_info, run_info_to_h5_dict
from face_rhythm.runlog import progress_bar

from .params import (
    DEFAULT_PARAMS_VQT,
    SpectralParams,
    _vqt_keys,
    check_vqt_params,
    expected_window_length,
    n_time_bins,
)

# The rest is imported on first access (PEP 562): torch, vqt and matplotlib load only in the
# jobs that compute or draw, not in those that only check a config (video_metadata).
_LAZY = {
    "filterbank": ("FilterBank", "make_filter_bank", "filter_magnitudes"),
    "figures": ("plot_point_spectrograms", "representative_points", "save_spectrogram_figure"),
    "normalization": ("normalize_spectrogram",),
    "notebook": ("VQT_Analyzer",),
    "results": ("SpectrogramFile", "SpectrogramFileError", "SpectrogramSummary",
                "open_spectrogram_file", "read_spectrogram_file", "write_spectrogram_h5"),
    "stage": ("read_tracking_h5", "spectrogram_from_tracking_file"),
    "streaming": ("MAX_BLOCK_BYTES", "MAX_WORK_BYTES", "compute_spectrograms",
                  "effective_batch_size", "write_spectrograms"),
    "traces": ("displacements_to_rows",),
    "vqt_model": ("_freqs", "make_vqt", "resolve_device", "time_axis", "vqt_rows"),
}
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY, {"filters", "params"})

__all__ = [
    "DEFAULT_PARAMS_VQT",
    "MAX_BLOCK_BYTES",
    "MAX_WORK_BYTES",
    "FilterBank",
    "SpectralParams",
    "SpectralParamsError",
    "SpectrogramFile",
    "SpectrogramFileError",
    "SpectrogramSummary",
    "VQT_Analyzer",
    "_freqs",
    "_vqt_keys",
    "atomic_h5",
    "atomic_path",
    "check_vqt_params",
    "compute_spectrograms",
    "displacements_to_rows",
    "effective_batch_size",
    "expected_window_length",
    "filter_magnitudes",
    "make_filter_bank",
    "make_vqt",
    "n_time_bins",
    "normalize_spectrogram",
    "open_spectrogram_file",
    "plot_point_spectrograms",
    "progress_bar",
    "read_spectrogram_file",
    "read_tracking_h5",
    "representative_points",
    "resolve_device",
    "run_info",
    "run_info_to_h5_dict",
    "save_spectrogram_figure",
    "spectrogram_from_tracking_file",
    "time_axis",
    "vqt_rows",
    "write_spectrogram_h5",
    "write_spectrograms",
]
