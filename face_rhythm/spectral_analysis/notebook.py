"""The original's notebook class :class:`VQT_Analyzer`, a thin layer over the functions.

It computes the same spectrograms as the workflow (:func:`~.streaming.compute_spectrograms`),
keeps them per video in dicts, and saves ``VQT_Analyzer.h5`` in the reference layout. Its
defaults are the reference class's (55 bins, 1-40 Hz, 90 fps), not the workflow's.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from face_rhythm.errors import SpectralParamsError
from face_rhythm.h5_handling import simple_save
from face_rhythm.provenance import package_versions
from face_rhythm.runlog import progress_bar
from face_rhythm.util.fr_module import FR_Module

from .figures import plot_point_spectrograms
from .filterbank import make_filter_bank
from .params import SpectralParams, _vqt_signature, check_vqt_params
from .traces import _check_inputs
from .vqt_model import _freqs, filters_array, make_vqt, time_axis, window_array

logger = logging.getLogger(__name__)

__all__ = ["VQT_Analyzer"]

#: ``params_VQT`` keys of older versions of the original (its helper ``VQT``) and where
#: they go now: an argument of :class:`VQT_Analyzer` (honoured when that argument is left at
#: its default) or nowhere.
_OLD_VQT_KEYS = {"DEVICE_compute": "device", "batch_size": "batch_size",
                 "return_complex": "return_complex", "progressBar": None}


def _vqt_signature_defaults() -> dict:
    """``vqt.VQT``'s own defaults (the original passes ``params_VQT`` straight to it)."""
    return {k: v for k, v in _vqt_signature().items()
            if k not in ("verbose", "Fs_sample") and v is not inspect.Parameter.empty}


def _pop_old_keys(pv: dict, given: dict) -> dict:
    """Remove the old keys from ``pv`` with a DeprecationWarning; return the arguments they
    set (only those whose argument in ``given`` is still at its default ``None``)."""
    import warnings

    out = {}
    for old, new in _OLD_VQT_KEYS.items():
        if old not in pv:
            continue
        value = pv.pop(old)
        where = (f"give VQT_Analyzer({new}=...) instead" if new is not None else
                 "progress bars follow VQT_Analyzer(verbose=...) (> 1 shows them)")
        warnings.warn(f"params_VQT[{old!r}] is deprecated and no longer a VQT parameter: "
                      f"{where}", DeprecationWarning, stacklevel=3)
        if new is not None and given.get(new) is None:
            out[new] = value
    return out


class VQT_Analyzer(FR_Module):
    """Normalised VQT spectrograms of point displacement traces (reference API).

    Parameters
    ----------
    params_VQT : dict
        ``vqt.VQT`` keyword arguments, including ``Fs_sample`` = the video frame rate in Hz
        (``None``: give ``frame_rate`` to :meth:`transform`). Missing keys take ``vqt.VQT``'s
        own defaults, as in the original (e.g. ``window_type='gaussian'``, not the workflow's
        ``hann``); the default dict is the reference class's. ``F_max`` may equal the Nyquist
        frequency. Keys of older versions (``DEVICE_compute``, ``batch_size``,
        ``return_complex``, ``progressBar``) raise a ``DeprecationWarning`` naming the argument
        they now are, and set it when it is left at its default.
    batch_size : int
        Points per batch.
    device : str
        ``cpu``, ``cuda`` or ``auto``.
    normalization_factor : float
        In [0, 1], strength of the per-timepoint power normalisation.
    spectrogram_exponent : float
        Exponent applied to magnitudes before normalisation.
    one_over_f_exponent : float
        Output multiplied by ``freqs ** one_over_f_exponent``.
    verbose : int
        0 silent; > 1 shows progress bars.
    return_complex : bool, optional
        Keep phases; default: ``not params_VQT['take_abs']``.

    Attributes
    ----------
    spectrograms, x_axis, freqs : dict
        Per input key after :meth:`transform_all`: (2, N, F, T) arrays, (T,) frames,
        (F,) Hz.
    vqt_model : vqt.VQT
    config, run_info, run_data : dict
        Constructor arguments; facts (``Fs_sample`` in Hz, frequencies, shapes, versions);
        the outputs, written by ``save_run_data`` (of :class:`~face_rhythm.util.FR_Module`)
        as ``analysis_files/VQT_Analyzer.h5``: ``spectrograms/{video}`` (2, N, F, T),
        ``x_axis/{video}`` (T,) frames, ``frequencies`` (F,) Hz, ``VQT/filters``,
        ``point_positions``.
    """

    def __init__(
        self,
        params_VQT: dict | None = None,
        batch_size: int = 10,
        device: str = "cpu",
        normalization_factor: float = 0.99,
        spectrogram_exponent: float = 1.0,
        one_over_f_exponent: float = 1.0,
        verbose: int = 1,
        return_complex: bool | None = None,
    ):
        super().__init__()
        if params_VQT is None:
            params_VQT = {
                "Fs_sample": 90, "Q_lowF": 3, "Q_highF": 20, "F_min": 1, "F_max": 40,
                "n_freq_bins": 55, "window_type": "hann", "symmetry": "center",
                "taper_asymmetric": True, "downsample_factor": 8, "padding": "valid",
                "fft_conv": True, "fast_length": True, "take_abs": True, "filters": None,
                "plot_pref": False,
            }
        pv = {**_vqt_signature_defaults(), **dict(params_VQT)}  # missing keys: vqt's defaults
        old = _pop_old_keys(pv, {"device": None if device == "cpu" else device,
                                 "batch_size": None if batch_size == 10 else batch_size,
                                 "return_complex": return_complex})
        device = old.get("device", device)
        batch_size = old.get("batch_size", batch_size)
        return_complex = old.get("return_complex", return_complex)
        self._fs = pv.pop("Fs_sample", None)
        take_abs = pv.get("take_abs", True)
        self._params = SpectralParams.from_config({
            "params_VQT": pv, "Fs_sample": None, "normalization_factor": normalization_factor,
            "spectrogram_exponent": spectrogram_exponent,
            "one_over_f_exponent": one_over_f_exponent, "batch_size": int(batch_size),
            "device": device,
            "return_complex": (not take_abs) if return_complex is None else bool(return_complex)})
        self._verbose = int(verbose)
        self.spectrograms: dict | None = None
        self.x_axis: dict | None = None
        self.freqs: dict | None = None
        self.point_positions: np.ndarray | None = None
        self.demo_figure = None
        self._vqt_model = None  # vqt.VQT, built on first use (torch: 220 MB, 2 s)
        self._bank = None  # what computes on the CPU (the workflow's filters, without torch)
        self.config = {"params_VQT": dict(params_VQT), "batch_size": batch_size,
                       "device": device, "normalization_factor": normalization_factor,
                       "spectrogram_exponent": spectrogram_exponent,
                       "one_over_f_exponent": one_over_f_exponent, "verbose": verbose}
        self.run_info: dict = {}
        self.run_data: dict = {}
        if self._fs is not None:
            self._compute_model(float(self._fs))

    @property
    def vqt_model(self):
        """The ``vqt.VQT`` of the sampling rate (built on first access; None without one).

        On the CPU with the pipeline's settings the spectrograms are computed by its
        :class:`~.filterbank.FilterBank` twin (:func:`~.filterbank.make_filter_bank`, the
        workflow's filters: equal to these to float32 rounding), so that the notebook and
        the workflow give the same numbers and torch is loaded only when this is asked for.
        """
        if self._vqt_model is None and self._fs is not None:
            self._vqt_model = make_vqt(float(self._fs), self._params.params_VQT,
                                       self._params.device)
        return self._vqt_model

    @vqt_model.setter
    def vqt_model(self, model) -> None:
        self._vqt_model, self._bank = model, None
        if model is not None:
            self._fs = float(model.Fs_sample)
            self._fill_filters(model)

    def _compute_model(self, fs: float, n_frames: int | None = None):
        """The filter bank (CPU) or ``vqt.VQT`` that computes at ``fs`` Hz."""
        if self._fs is None or not math.isclose(float(self._fs), fs):
            self._vqt_model, self._bank, self._fs = None, None, float(fs)
        if self._bank is None and self._vqt_model is None:
            if self._params.device == "cpu":
                self._bank = make_filter_bank(fs, self._params.params_VQT)
            self._fill_filters(self._bank if self._bank is not None else self.vqt_model)
        if n_frames is not None:
            check_vqt_params(fs, self._params.params_VQT, n_frames)
        return self._bank if self._bank is not None else self.vqt_model

    def _fill_filters(self, model) -> None:
        self.run_data["VQT"] = {"filters": filters_array(model), "wins": window_array(model)}
        self.run_data["frequencies"] = _freqs(model)

    def _model(self, frame_rate: float | None, n_frames: int):
        fs = frame_rate if frame_rate is not None else self._fs
        if fs is None:
            raise SpectralParamsError("VQT_Analyzer: no sampling rate; give "
                                      "params_VQT['Fs_sample'] or frame_rate=")
        return self._compute_model(float(fs), n_frames)

    def transform(self, points_tracked: np.ndarray, point_positions: np.ndarray,
                  frame_rate: float | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Spectrograms of one video's points.

        Parameters
        ----------
        points_tracked : (T, N, 2) array
        point_positions : (N, 2) array
        frame_rate : float, optional
            Hz; overrides ``params_VQT['Fs_sample']``.

        Returns
        -------
        spectrograms : (2, N, F, T_out) float32 (complex64 with complex output)
        x_axis : (T_out,) frames
        freqs : (F,) Hz
        """
        pt = np.asarray(points_tracked, dtype=np.float32)
        _check_inputs(pt, np.asarray(point_positions, dtype=np.float64))
        model = self._model(frame_rate, pt.shape[0])
        params = dataclasses.replace(self._params, Fs_sample=None)
        from .streaming import compute_spectrograms

        spec, freqs, x = compute_spectrograms(pt, point_positions, float(self._fs), params,
                                              model=model)
        return spec, x, freqs

    def __call__(self, points_tracked: dict, point_positions: np.ndarray,
                 name_points: str = "0"):
        """:meth:`transform` of ``points_tracked[name_points]``."""
        return self.transform(points_tracked[name_points], point_positions)

    def transform_all(self, points_tracked: Mapping[str, np.ndarray],
                      point_positions: np.ndarray, frame_rate: float | None = None) -> None:
        """Transform every video of a dict ``{name: (T, N, 2)}``; fills the attribute dicts."""
        self._check_inputs(points_tracked, point_positions)
        self.point_positions = np.asarray(point_positions, dtype=np.float32)
        self.spectrograms, self.x_axis, self.freqs = {}, {}, {}
        for key, pts in progress_bar(points_tracked.items(), desc="videos", unit="video",
                                     enabled=self._verbose > 1):
            self.spectrograms[key], self.x_axis[key], self.freqs[key] = self.transform(
                pts, point_positions, frame_rate)
        self.run_data.update({"spectrograms": self.spectrograms, "x_axis": self.x_axis,
                              "point_positions": self.point_positions})
        self.run_info.update({
            "Fs_sample": None if self._fs is None else float(self._fs),
            "num_points": int(self.point_positions.shape[0]),
            "frequencies": [float(f) for f in next(iter(self.freqs.values()), [])],
            "spectrogram_shapes": {k: list(v.shape) for k, v in self.spectrograms.items()},
            "versions": package_versions()})

    @staticmethod
    def _check_inputs(points_tracked, point_positions) -> None:
        if not isinstance(points_tracked, Mapping):
            raise TypeError(f"points_tracked must be a dict of (T, N, 2) arrays, not "
                            f"{type(points_tracked).__name__}")
        for k, v in points_tracked.items():
            if not (isinstance(v, np.ndarray) and v.ndim == 3 and v.shape[2] == 2):
                raise SpectralParamsError(f"points_tracked[{k!r}] must be a (T, N, 2) array, "
                                          f"not {getattr(v, 'shape', type(v))}")
        pp = np.asarray(point_positions)
        if pp.ndim != 2 or pp.shape[1] != 2:
            raise SpectralParamsError(f"point_positions must be (N, 2), not {pp.shape}")

    def demo_transform(self, points_tracked: Mapping[str, np.ndarray],
                       point_positions: np.ndarray, idx_point: int | Iterable[int] = (0,),
                       name_points: str = "0", plot: bool = True,
                       frame_rate: float | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Spectrogram of a few points (normalised among themselves), optionally plotted.

        ``idx_point``: one point index (an int, as the original's notebooks pass it) or a list
        of them; ``name_points``: the key of ``points_tracked`` to use.

        Returns
        -------
        spec : (2, F, T_out) for one point, (2, n, F, T_out) for several
        x_axis : (T_out,) frames
        freqs : (F,) Hz

        The figure (if ``plot``) is kept as ``self.demo_figure``.
        """
        self._check_inputs(points_tracked, point_positions)
        idx = ([int(idx_point)] if np.ndim(idx_point) == 0
               else [int(i) for i in np.ravel(idx_point)])
        pt = np.asarray(points_tracked[name_points])[:, idx, :]
        pp = np.asarray(point_positions)[idx]
        spec, x, freqs = self.transform(pt, pp, frame_rate)
        if plot:
            self.demo_figure = plot_point_spectrograms(
                spec, freqs, x / float(self._fs), point_indices=idx,
                point_positions=pp, title="demo spectrograms")
        n_f = len(freqs)
        model = self._model(frame_rate, pt.shape[0])
        total = sum(2 * v.shape[1] * n_f * len(time_axis(model, v.shape[0]))
                    * spec.itemsize for v in points_tracked.values())
        logger.info("demo spectrogram %s; all spectrograms would take %.3g GB", spec.shape,
                    total / 1e9)
        return (spec[:, 0] if len(idx) == 1 else spec), x, freqs

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``VQT_Analyzer.h5`` in the reference layout (atomically)."""
        return simple_save({k: v for k, v in self.run_data.items()}, path, write_mode="w")

    def cleanup(self) -> None:
        """Delete every attribute of the instance and collect garbage (frees the spectrograms
        and the model; the instance is unusable afterwards, as in the original)."""
        import gc

        logger.info("VQT_Analyzer: deleting all attributes")
        self.__dict__.clear()
        gc.collect()

    def __getitem__(self, key):
        return self.spectrograms[key]

    def __len__(self) -> int:
        return len(self.spectrograms or {})

    def __iter__(self):
        return iter((self.spectrograms or {}).items())

    def __repr__(self) -> str:
        return (f"VQT_Analyzer(Fs_sample={self._fs}, normalization_factor="
                f"{self._params.normalization_factor}, spectrogram_exponent="
                f"{self._params.spectrogram_exponent}, one_over_f_exponent="
                f"{self._params.one_over_f_exponent}, batch_size={self._params.batch_size}, "
                f"device={self._params.device!r})")
