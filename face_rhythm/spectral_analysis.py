"""Spectral analysis of tracked point motion: normalised VQT spectrograms.

Each tracked point gives two displacement traces (x and y, relative to its home position).
Each trace goes through the variable-Q transform of the :mod:`vqt` package (``vqt.VQT``, a
bank of analytic windowed-cosine filters applied by FFT convolution, then average-pooled in
time by ``downsample_factor``). The raw spectrogram ``S`` (rows, freqs, time) is then
normalised as in the original face-rhythm pipeline:

    s       = |S| ** spectrogram_exponent
    m[t]    = mean over ALL rows r of  sum_f s[r, f, t]
    out     = s / (normalization_factor * m[t] + (1 - normalization_factor))
    out    *= freqs[f] ** one_over_f_exponent

and reshaped to ``(2, N, F, T)`` (x rows first, then y rows). For complex output the
magnitude is normalised as above and the phase of ``S`` is kept.

Exactness with batching
-----------------------
``m[t]`` is a mean over *all* rows, but spectrograms are computed a batch of points at a time
so that a long video never needs every spectrogram in memory (twice). The normalisation is
therefore done in two exact passes over a *sink* (a NumPy array, or the HDF5 dataset being
written inside :func:`face_rhythm.h5_handling.atomic_h5`):

1. for each batch of points: VQT, ``s = |S| ** exponent``, accumulate ``sum_{r,f} s`` per
   time point in float64, and write ``s`` (complex: ``s * exp(i angle S)``) into the sink;
2. ``m = acc / n_rows``; for each batch: read the block back, divide by
   ``normalization_factor * m[t] + (1 - normalization_factor)``, multiply by
   ``freqs ** one_over_f_exponent`` and write it back in place.

The VQT is computed once; pass 2 is cheap element-wise work plus I/O. The result equals the
in-memory formula to float32 rounding (tested against an independent NumPy computation).
Where the denominator is exactly 0 (``normalization_factor == 1`` and no motion at all at
that time point) the output is 0 rather than NaN.

Long traces are also cut in *time*: with ``padding='valid'`` the VQT of a trace equals the
concatenation of the VQTs of overlapping pieces (overlap ``win_size - 1`` frames, piece
lengths multiples of ``downsample_factor``), so each piece is computed separately
(``time_chunk_frames``). This bounds the FFT work memory by the chunk length instead of the
video length. Other paddings process whole traces. Batches are also capped so that one
output block stays under :data:`MAX_BLOCK_BYTES` and the FFT work under
:data:`MAX_WORK_BYTES` (:func:`effective_batch_size`).

Public functions: :func:`displacements_to_rows`, :func:`make_vqt`, :func:`check_vqt_params`,
:func:`vqt_rows`, :func:`time_axis`, :func:`normalize_spectrogram`,
:func:`effective_batch_size`,
:func:`compute_spectrograms`, :func:`write_spectrograms`, :func:`write_spectrogram_h5`,
:func:`spectrogram_from_tracking_file`, :func:`plot_point_spectrograms`,
:func:`representative_points`; class :class:`VQT_Analyzer` (reference API).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import math
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import SpectralParamsError
from .h5_handling import atomic_h5, atomic_path
from .provenance import run_info, run_info_to_h5_dict
from .runlog import progress_bar

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_PARAMS_VQT",
    "SpectralParams",
    "SpectralParamsError",
    "SpectrogramSummary",
    "VQT_Analyzer",
    "check_vqt_params",
    "compute_spectrograms",
    "displacements_to_rows",
    "effective_batch_size",
    "expected_window_length",
    "make_vqt",
    "normalize_spectrogram",
    "plot_point_spectrograms",
    "read_tracking_h5",
    "representative_points",
    "resolve_device",
    "spectrogram_from_tracking_file",
    "time_axis",
    "vqt_rows",
    "write_spectrogram_h5",
    "write_spectrograms",
]

#: Pipeline defaults of ``params_VQT`` (the original pipeline's, see docs: F_max lowered
#: from 60 Hz to 40 Hz so that 90 fps videos stay below Nyquist).
DEFAULT_PARAMS_VQT: dict[str, Any] = {
    "Q_lowF": 4.0,
    "Q_highF": 10.0,
    "F_min": 1.0,
    "F_max": 40.0,
    "n_freq_bins": 36,
    "window_type": "hann",
    "symmetry": "center",
    "taper_asymmetric": True,
    "downsample_factor": 20,
    "padding": "valid",
    "fft_conv": True,
    "fast_length": True,
    "take_abs": True,
}

def _vqt_keys() -> set[str]:
    """Keys ``vqt.VQT`` accepts (read from its signature, so a new vqt release is followed)."""
    import vqt

    return set(inspect.signature(vqt.VQT.__init__).parameters) - {"self"}


# ----------------------------------------------------------------------------- parameters
@dataclasses.dataclass(frozen=True)
class SpectralParams:
    """Parameters of the spectral stage (the ``vqt:`` section of the workflow config).

    Attributes
    ----------
    params_VQT : dict
        Keyword arguments of ``vqt.VQT`` except ``Fs_sample`` (missing keys take
        :data:`DEFAULT_PARAMS_VQT`). Every key is passed through.
    Fs_sample : float or None
        Sampling rate in Hz; ``None`` = the video's frame rate (the usual choice).
    normalization_factor : float
        In [0, 1]; 0 = no per-timepoint normalisation, 1 = every time point has mean
        summed power 1.
    spectrogram_exponent : float
        Exponent (> 0) applied to the magnitude before normalisation.
    one_over_f_exponent : float
        The output is multiplied by ``freqs ** one_over_f_exponent`` (0 disables).
    batch_size : int
        Points per batch (each batch holds ``2 * batch_size`` traces: x and y).
    device : {"cpu", "cuda", "auto"}
        Torch device of the VQT; ``auto`` = CUDA when available.
    return_complex : bool
        Keep the phase (complex64 output); needs ``params_VQT.take_abs = false``.
    time_chunk_frames : int or None
        Approximate frames per time piece with ``padding='valid'`` (see module docstring);
        ``None`` processes whole traces.
    """

    params_VQT: Mapping[str, Any] = dataclasses.field(
        default_factory=lambda: dict(DEFAULT_PARAMS_VQT))
    Fs_sample: float | None = None
    normalization_factor: float = 0.95
    spectrogram_exponent: float = 1.0
    one_over_f_exponent: float = 0.5
    batch_size: int = 100
    device: str = "cpu"
    return_complex: bool = False
    time_chunk_frames: int | None = 8192

    def __post_init__(self):
        nf = self.normalization_factor
        if not (isinstance(nf, (int, float)) and 0.0 <= float(nf) <= 1.0):
            raise SpectralParamsError(f"vqt.normalization_factor={nf!r} must be in [0, 1]")
        ex = self.spectrogram_exponent
        if not (isinstance(ex, (int, float)) and math.isfinite(ex) and ex > 0):
            raise SpectralParamsError(f"vqt.spectrogram_exponent={ex!r} must be a number > 0")
        a = self.one_over_f_exponent
        if not (isinstance(a, (int, float)) and math.isfinite(a)):
            raise SpectralParamsError(f"vqt.one_over_f_exponent={a!r} must be a finite number")
        if not (isinstance(self.batch_size, (int, np.integer)) and self.batch_size >= 1):
            raise SpectralParamsError(f"vqt.batch_size={self.batch_size!r} must be an int >= 1")
        if self.device not in ("cpu", "cuda", "auto") and not str(self.device).startswith(
                "cuda:"):
            raise SpectralParamsError(f"vqt.device={self.device!r} must be cpu, cuda or auto")
        if self.Fs_sample is not None and not (
                isinstance(self.Fs_sample, (int, float)) and math.isfinite(self.Fs_sample)
                and self.Fs_sample > 0):
            raise SpectralParamsError(f"vqt.Fs_sample={self.Fs_sample!r} must be > 0 or null")
        tc = self.time_chunk_frames
        if tc is not None and not (isinstance(tc, (int, np.integer)) and tc >= 1):
            raise SpectralParamsError(f"vqt.time_chunk_frames={tc!r} must be an int >= 1 "
                                      "or null")
        merged = {**DEFAULT_PARAMS_VQT, **dict(self.params_VQT)}
        unknown = sorted(set(merged) - _vqt_keys())
        if unknown:
            raise SpectralParamsError(f"vqt.params_VQT: unknown key(s) {unknown}; vqt.VQT "
                                      f"accepts {sorted(_vqt_keys())}")
        if self.return_complex and merged.get("take_abs", True):
            raise SpectralParamsError("vqt.return_complex=true needs "
                                      "vqt.params_VQT.take_abs=false (magnitudes have no phase)")
        object.__setattr__(self, "params_VQT", merged)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | SpectralParams | None) -> SpectralParams:
        """Build from a config mapping (the ``vqt:`` section); unknown keys are an error."""
        if isinstance(cfg, SpectralParams):
            return cfg
        cfg = dict(cfg or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(cfg) - names)
        if unknown:
            raise SpectralParamsError(f"vqt: unknown key(s) {unknown}; known: {sorted(names)}")
        if cfg.get("params_VQT") is None:
            cfg.pop("params_VQT", None)
        return cls(**cfg)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-able) of all parameters."""
        d = dataclasses.asdict(self)
        d["params_VQT"] = dict(self.params_VQT)
        return d


# ----------------------------------------------------------------------------- traces
def displacements_to_rows(points_tracked: np.ndarray, home: np.ndarray) -> np.ndarray:
    """Displacement traces from home positions, one row per point and coordinate.

    Parameters
    ----------
    points_tracked : (T, N, 2) array
        Tracked positions (x, y) in px, per frame.
    home : (N, 2) array
        Home (rest) positions (x, y) in px.

    Returns
    -------
    (2N, T) float32
        Rows ``0..N-1`` are the x displacements of points ``0..N-1``, rows ``N..2N-1`` their
        y displacements. The subtraction is done in float64.
    """
    pt = np.asarray(points_tracked)
    home = np.asarray(home, dtype=np.float64)
    if pt.ndim != 3 or pt.shape[2] != 2:
        raise SpectralParamsError(f"points_tracked has shape {pt.shape}; expected (T, N, 2)")
    if home.shape != (pt.shape[1], 2):
        raise SpectralParamsError(f"home positions have shape {home.shape}; expected "
                                  f"({pt.shape[1]}, 2) to match points_tracked {pt.shape}")
    n = pt.shape[1]
    out = np.empty((2 * n, pt.shape[0]), dtype=np.float32)
    for c in range(2):
        out[c * n:(c + 1) * n] = pt[:, :, c].T.astype(np.float64) - home[:, c, None]
    return out


def resolve_device(device: str | torch.device) -> torch.device:
    """``'auto'`` -> CUDA when available, else CPU; a CUDA request without CUDA is an error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SpectralParamsError(f"vqt.device={device!r} but CUDA is not available here "
                                  "(use 'cpu' or 'auto')")
    return dev


# ----------------------------------------------------------------------------- VQT model
def expected_window_length(frame_rate: float, params_VQT: Mapping[str, Any]) -> int:
    """Filter length in frames that ``vqt.VQT`` will use (``win_size`` or its default rule).

    The default is the odd number >= ``Q_lowF * frame_rate / F_min`` (at least 3).
    """
    p = {**DEFAULT_PARAMS_VQT, **dict(params_VQT)}
    if p.get("filters") is not None:
        return int(p["filters"].shape[-1])
    if p.get("win_size") is not None:
        return int(p["win_size"])
    win = int(np.ceil(p["Q_lowF"] * (frame_rate / p["F_min"])))
    if win % 2 != 1:
        win += 1
    return max(win, 3)


def check_vqt_params(frame_rate: float, params_VQT: Mapping[str, Any],
                     n_frames: int | None = None) -> dict[str, Any]:
    """Validate VQT parameters for a sampling rate (and trace length); return vqt.VQT kwargs.

    Parameters
    ----------
    frame_rate : float
        Sampling rate of the traces in Hz (becomes ``Fs_sample``).
    params_VQT : mapping
        ``vqt.VQT`` keyword arguments; missing keys take :data:`DEFAULT_PARAMS_VQT`.
        A ``Fs_sample`` key, if present and not None, must equal ``frame_rate``.
    n_frames : int, optional
        Trace length in frames; when given, a filter window longer than it is an error.

    Returns
    -------
    dict
        Complete keyword arguments for ``vqt.VQT`` (``Fs_sample`` set, ``verbose=0`` unless
        given).

    Raises
    ------
    SpectralParamsError
        F_max at or above Nyquist, F_min <= 0, F_min >= F_max, unknown keys, bad window,
        padding or symmetry, or a window longer than the trace.
    """
    p = {**DEFAULT_PARAMS_VQT, **dict(params_VQT)}
    unknown = sorted(set(p) - _vqt_keys())
    if unknown:
        raise SpectralParamsError(f"params_VQT: unknown key(s) {unknown}; vqt.VQT accepts "
                                  f"{sorted(_vqt_keys())}")
    if not (isinstance(frame_rate, (int, float, np.floating, np.integer))
            and math.isfinite(frame_rate) and frame_rate > 0):
        raise SpectralParamsError(f"frame rate (Fs_sample) {frame_rate!r} Hz must be a "
                                  "positive number")
    fs = float(frame_rate)
    given_fs = p.pop("Fs_sample", None)
    if given_fs is not None and not math.isclose(float(given_fs), fs, rel_tol=1e-9):
        raise SpectralParamsError(f"params_VQT.Fs_sample={given_fs} Hz differs from the frame "
                                  f"rate {fs} Hz; give one sampling rate")
    f_min, f_max, nbin = p["F_min"], p["F_max"], p["n_freq_bins"]
    nyq = fs / 2
    if not f_min > 0:
        raise SpectralParamsError(f"params_VQT.F_min={f_min} Hz must be > 0")
    if not f_max < nyq:
        raise SpectralParamsError(f"params_VQT.F_max={f_max} Hz must be below the Nyquist "
                                  f"frequency {nyq:g} Hz (sampling rate {fs:g} Hz)")
    if not (isinstance(nbin, (int, np.integer)) and nbin >= 1):
        raise SpectralParamsError(f"params_VQT.n_freq_bins={nbin!r} must be an int >= 1")
    if nbin > 1 and not f_min < f_max:
        raise SpectralParamsError(f"params_VQT.F_min={f_min} Hz must be below "
                                  f"F_max={f_max} Hz")
    for q in ("Q_lowF", "Q_highF"):
        if not p[q] > 0:
            raise SpectralParamsError(f"params_VQT.{q}={p[q]} must be > 0")
    ds = p["downsample_factor"]
    if not (isinstance(ds, (int, np.integer)) and ds >= 1):
        raise SpectralParamsError(f"params_VQT.downsample_factor={ds!r} must be an int >= 1")
    if p["symmetry"] not in ("center", "left", "right"):
        raise SpectralParamsError(f"params_VQT.symmetry={p['symmetry']!r} must be center, "
                                  "left or right")
    paddings = ("full", "valid", "same") if p["fft_conv"] else ("valid", "same")
    if p["padding"] not in paddings:
        raise SpectralParamsError(f"params_VQT.padding={p['padding']!r} must be one of "
                                  f"{paddings} (fft_conv={p['fft_conv']})")
    if p.get("filters") is None:
        wt = p["window_type"]
        if not isinstance(wt, str):
            raise SpectralParamsError(f"params_VQT.window_type={wt!r} must be a window name "
                                      "(vqt 0.1 cannot use array windows)")
        if wt != "gaussian":
            import scipy.signal

            try:
                scipy.signal.windows.get_window(wt, 16, fftbins=False)
            except (ValueError, TypeError) as e:
                raise SpectralParamsError(f"params_VQT.window_type={wt!r} is not a scipy "
                                          f"window: {e}") from None
    win = expected_window_length(fs, p)
    if n_frames is not None and win > int(n_frames):
        raise SpectralParamsError(
            f"VQT window of {win} frames (Q_lowF={p['Q_lowF']} cycles at F_min={f_min} Hz, "
            f"{win / fs:.3g} s at {fs:g} Hz) is longer than the trace of {int(n_frames)} "
            f"frames ({int(n_frames) / fs:.3g} s); raise F_min, lower Q_lowF or use a longer "
            "video")
    p["Fs_sample"] = fs
    p.setdefault("verbose", 0)
    return p


def make_vqt(frame_rate: float, params_VQT: Mapping[str, Any], device: str = "cpu",
             n_frames: int | None = None):
    """Build a ``vqt.VQT`` filter bank for traces sampled at ``frame_rate`` Hz.

    Parameters
    ----------
    frame_rate : float
        Sampling rate in Hz (``Fs_sample``).
    params_VQT : mapping
        Other ``vqt.VQT`` keyword arguments (see :func:`check_vqt_params`).
    device : str
        ``cpu``, ``cuda`` or ``auto``; the model's filters are moved there.
    n_frames : int, optional
        Trace length, to reject windows longer than the trace before any work.

    Returns
    -------
    vqt.VQT
        Call it on a float32 tensor (rows, frames) on ``device`` -> (rows, F, T_out);
        ``.freqs`` (F,) Hz, ``.filters`` (F, win) complex64, ``.get_xAxis(n_frames)``.
    """
    import vqt

    kwargs = check_vqt_params(frame_rate, params_VQT, n_frames)
    dev = resolve_device(device)
    model = vqt.VQT(**kwargs)
    win = int(model.filters.shape[-1])
    if win % 2 != 1:
        logger.warning("VQT window of %d frames is even: its time axis is offset by 0.5 "
                       "frame", win)
    return model.to(dev)


def _model_device(model) -> torch.device:
    return model.filters.device


def vqt_rows(model, rows: torch.Tensor | np.ndarray,
             time_chunk_frames: int | None = None) -> torch.Tensor:
    """Raw VQT of traces, optionally in overlapping time pieces (exact for 'valid' padding).

    Parameters
    ----------
    model : vqt.VQT
        From :func:`make_vqt`.
    rows : (R, n_frames) tensor or array
        Traces (moved to the model's device as float32).
    time_chunk_frames : int, optional
        Approximate input frames per piece. Pieces cover ``L`` valid outputs each (``L`` a
        multiple of ``downsample_factor``, at least ``win_size``) plus ``win_size - 1`` frames
        of overlap, so the concatenated result equals the whole-trace VQT. Ignored unless
        ``padding == 'valid'``.

    Returns
    -------
    (R, F, T_out) tensor on the model's device
        Magnitude (float32) when ``take_abs``, else complex64.
    """
    x = torch.as_tensor(rows, dtype=torch.float32).to(_model_device(model))
    if x.ndim == 1:
        x = x[None]
    n = x.shape[-1]
    win = int(model.filters.shape[-1])
    ds = int(model.downsample_factor)
    if model.padding != "valid" or time_chunk_frames is None:
        return model(x)
    n_valid = n - win + 1
    step = max(ds * math.ceil(win / ds), ((int(time_chunk_frames) - win + 1) // ds) * ds)
    if n_valid <= step:
        return model(x)
    pieces = [model(x[:, s:min(s + step, n_valid) + win - 1]) for s in range(0, n_valid, step)]
    return torch.cat(pieces, dim=-1)


def time_axis(model, n_frames: int) -> np.ndarray:
    """Centre of each output time bin in frames (``vqt.VQT.get_xAxis``), (T_out,) float64."""
    return np.atleast_1d(model.get_xAxis(int(n_frames)).cpu().numpy()).astype(np.float64)


def _freqs(model) -> np.ndarray:
    return np.asarray(torch.as_tensor(model.freqs).cpu().numpy(), dtype=np.float32)


# ----------------------------------------------------------------------------- normalisation
def normalize_spectrogram(spec: np.ndarray | torch.Tensor, freqs: np.ndarray,
                          normalization_factor: float, spectrogram_exponent: float = 1.0,
                          one_over_f_exponent: float = 0.0) -> np.ndarray:
    """The normalisation formula applied to a whole raw spectrogram held in memory.

    Parameters
    ----------
    spec : (R, F, T) array, real (magnitudes) or complex
        Raw VQT output of all rows.
    freqs : (F,) array
        Centre frequencies in Hz.
    normalization_factor, spectrogram_exponent, one_over_f_exponent : float
        See :class:`SpectralParams`.

    Returns
    -------
    (R, F, T) float32 or complex64
        ``|S|^e / (nf * m[t] + 1 - nf) * f^a`` with ``m[t]`` the mean over rows of the sum over
        frequencies of ``|S|^e``; complex input keeps its phase.
    """
    s = torch.as_tensor(spec)
    is_c = torch.is_complex(s)
    mag = torch.abs(s) if is_c else s.to(torch.float32)
    s_exp = mag if spectrogram_exponent == 1 else mag ** float(spectrogram_exponent)
    m = torch.sum(s_exp, dim=(0, 1), dtype=torch.float64).cpu().numpy() / s_exp.shape[0]
    if is_c:
        s_exp = torch.polar(s_exp, torch.angle(s))
    out = s_exp.cpu().numpy()
    _normalize_block_inplace(out, _denominator(m, normalization_factor),
                             _one_over_f(freqs, one_over_f_exponent))
    return out


def _denominator(m: np.ndarray, nf: float) -> np.ndarray:
    d = (float(nf) * np.asarray(m, dtype=np.float64) + (1.0 - float(nf))).astype(np.float32)
    n_zero = int(np.count_nonzero(d == 0))
    if n_zero:
        logger.warning("%d time point(s) have no motion at all and normalization_factor=1: "
                       "their spectrogram is set to 0", n_zero)
        d[d == 0] = np.inf  # x / inf = 0 (x is 0 there anyway)
    return d


def _one_over_f(freqs: np.ndarray, a: float) -> np.ndarray | None:
    if a == 0:
        return None
    return (np.asarray(freqs, dtype=np.float64) ** float(a)).astype(np.float32)


def _normalize_block_inplace(block: np.ndarray, denom: np.ndarray,
                             fa: np.ndarray | None) -> None:
    """block (..., F, T) /= denom[t]; *= f^a[f] (float32 arithmetic, in place)."""
    block /= denom
    if fa is not None:
        block *= fa[:, None]


# ----------------------------------------------------------------------------- streaming core
def _batches(n: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(s + size, n)) for s in range(0, n, size)]


#: Largest output block (2, batch, F, T_out) held at once; longer videos get smaller batches.
MAX_BLOCK_BYTES = 256 << 20
#: Budget for the VQT's FFT work arrays of one batch (about 3 complex64 (rows, F, n_fft)).
MAX_WORK_BYTES = 768 << 20


def effective_batch_size(batch_size: int, n_freqs: int, n_times: int, itemsize: int,
                         n_points: int | None = None, fft_frames: int = 0) -> int:
    """Points per batch: ``batch_size`` capped by two memory budgets.

    One output block ``2 * b * n_freqs * n_times * itemsize`` stays under
    :data:`MAX_BLOCK_BYTES` and the FFT work ``2 * b * n_freqs * fft_frames * 24`` bytes under
    :data:`MAX_WORK_BYTES` (with the default config and 8192-frame time chunks: 54 points; a
    1-hour 90 fps video's output blocks alone allow 54 points).
    """
    per_point = 2 * n_freqs * n_times * itemsize
    b = min(int(batch_size), MAX_BLOCK_BYTES // max(per_point, 1))
    if fft_frames:
        b = min(b, MAX_WORK_BYTES // max(2 * n_freqs * int(fft_frames) * 24, 1))
    b = max(1, b)
    return min(b, n_points) if n_points else b


def _piece_frames(model, n_frames: int, time_chunk_frames: int | None) -> int:
    """Longest input piece :func:`vqt_rows` gives the VQT, plus the window (FFT length)."""
    win = int(model.filters.shape[-1])
    ds = int(model.downsample_factor)
    if model.padding != "valid" or time_chunk_frames is None:
        return n_frames + win - 1
    n_valid = n_frames - win + 1
    step = max(ds * math.ceil(win / ds), ((int(time_chunk_frames) - win + 1) // ds) * ds)
    return min(n_valid, step) + 2 * (win - 1)


def _batch_for(model, n_frames: int, n_points: int, n_times: int,
               params: SpectralParams) -> int:
    itemsize = np.dtype(np.complex64 if params.return_complex else np.float32).itemsize
    return effective_batch_size(params.batch_size, len(model.freqs), n_times, itemsize,
                                n_points, _piece_frames(model, n_frames,
                                                        params.time_chunk_frames))


def _check_inputs(points_tracked, home: np.ndarray) -> tuple[int, int]:
    shape = tuple(points_tracked.shape)
    if len(shape) != 3 or shape[2] != 2:
        raise SpectralParamsError(f"points_tracked has shape {shape}; expected (T, N, 2)")
    if np.shape(home) != (shape[1], 2):
        raise SpectralParamsError(f"point_positions have shape {np.shape(home)}; expected "
                                  f"({shape[1]}, 2) to match points_tracked {shape}")
    if shape[0] < 1 or shape[1] < 1:
        raise SpectralParamsError(f"points_tracked has shape {shape}: no frames or no points")
    if not np.all(np.isfinite(home)):
        raise SpectralParamsError("point_positions contain NaN or infinite values")
    if isinstance(points_tracked, np.ndarray):
        bad = int(np.size(points_tracked) - np.count_nonzero(np.isfinite(points_tracked)))
        if bad:
            raise SpectralParamsError(f"points_tracked contains {bad} NaN or infinite values")
    return shape[0], shape[1]


def write_spectrograms(sink, points_tracked, home: np.ndarray, model,
                       params: SpectralParams, progress: bool | None = None) -> dict[str, Any]:
    """Compute normalised spectrograms batch by batch into ``sink`` (two exact passes).

    Parameters
    ----------
    sink : (2, N, F, T_out) array-like
        Writable NumPy array or h5py dataset (float32, or complex64 when
        ``params.return_complex``); blocks ``sink[:, p0:p1]`` are written, read back and
        rewritten (see the module docstring).
    points_tracked : (T, N, 2) array-like
        Tracked positions in px (NumPy array, memmap or h5py dataset: only
        ``points_tracked[:, p0:p1, :]`` is read at a time).
    home : (N, 2) array
        Home positions in px.
    model : vqt.VQT
        From :func:`make_vqt`.
    params : SpectralParams
    progress : bool or None
        Progress bar (:func:`face_rhythm.runlog.progress_bar`: ``None`` only on a terminal,
        ``True`` also as log lines in a workflow job).

    Returns
    -------
    dict
        ``mean_power`` (T_out,) float64 = m[t]; ``point_power`` (2, N) float64 = sum over
        f, t of |output| per row; ``seconds_vqt``, ``seconds_normalize``.
    """
    home = np.asarray(home, dtype=np.float64)
    n_frames, n_points = _check_inputs(points_tracked, home)
    freqs = _freqs(model)
    n_t = len(time_axis(model, n_frames))
    expected = (2, n_points, len(freqs), n_t)
    if tuple(sink.shape) != expected:
        raise ValueError(f"sink has shape {tuple(sink.shape)}; expected {expected}")
    batch = _batch_for(model, n_frames, n_points, n_t, params)
    if batch < params.batch_size and batch < n_points:
        logger.info("batches of %d points instead of %d (memory budgets %d + %d MiB)", batch,
                    params.batch_size, MAX_BLOCK_BYTES >> 20, MAX_WORK_BYTES >> 20)
    batches = _batches(n_points, batch)
    acc = np.zeros(n_t, dtype=np.float64)
    ex = float(params.spectrogram_exponent)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for p0, p1 in progress_bar(batches, desc="VQT (batches of points)", unit="batch",
                                   enabled=progress):
            pts = np.asarray(points_tracked[:, p0:p1, :])
            if not np.all(np.isfinite(pts)):
                raise SpectralParamsError(f"points_tracked[:, {p0}:{p1}] contains NaN or "
                                          "infinite values")
            raw = vqt_rows(model, displacements_to_rows(pts, home[p0:p1]),
                           params.time_chunk_frames)
            if raw.shape[-1] != n_t:
                raise RuntimeError(f"VQT gave {raw.shape[-1]} time bins, time axis has {n_t}")
            is_c = torch.is_complex(raw)
            mag = torch.abs(raw) if is_c else raw
            s_exp = mag if ex == 1 else mag ** ex
            acc += torch.sum(s_exp, dim=(0, 1), dtype=torch.float64).cpu().numpy()
            if params.return_complex:
                s_exp = torch.polar(s_exp, torch.angle(raw))
            block = s_exp.reshape(2, p1 - p0, len(freqs), n_t).cpu().numpy()
            sink[:, p0:p1] = block
    t1 = time.perf_counter()
    mean_power = acc / (2 * n_points)
    denom = _denominator(mean_power, params.normalization_factor)
    fa = _one_over_f(freqs, params.one_over_f_exponent)
    point_power = np.zeros((2, n_points), dtype=np.float64)
    for p0, p1 in batches:
        block = np.asarray(sink[:, p0:p1])
        _normalize_block_inplace(block, denom, fa)
        point_power[:, p0:p1] = np.abs(block).sum(axis=(2, 3), dtype=np.float64)
        sink[:, p0:p1] = block
    t2 = time.perf_counter()
    logger.info("spectrograms %s: VQT %.2f s, normalisation %.2f s (%.3g point-frames/s)",
                expected, t1 - t0, t2 - t1, n_points * n_frames / max(t2 - t0, 1e-9))
    return {"mean_power": mean_power, "point_power": point_power,
            "seconds_vqt": t1 - t0, "seconds_normalize": t2 - t1}


def _model_for(points_tracked, frame_rate: float, params: SpectralParams):
    fs = float(params.Fs_sample) if params.Fs_sample is not None else frame_rate
    return make_vqt(fs, params.params_VQT, params.device, n_frames=points_tracked.shape[0]), fs


def compute_spectrograms(points_tracked: np.ndarray, home: np.ndarray, frame_rate: float,
                         cfg: Mapping[str, Any] | SpectralParams | None = None,
                         model=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised spectrograms of all points, in memory.

    Parameters
    ----------
    points_tracked : (T, N, 2) array
        Tracked positions (x, y) in px.
    home : (N, 2) array
        Home positions in px.
    frame_rate : float
        Frame rate in Hz (``cfg['Fs_sample']``, if set, overrides it).
    cfg : mapping or SpectralParams, optional
        The ``vqt:`` config section (defaults: :class:`SpectralParams`).
    model : vqt.VQT, optional
        A prebuilt model (then ``cfg.params_VQT`` and ``frame_rate`` do not rebuild it).

    Returns
    -------
    spectrograms : (2, N, F, T_out) float32 (complex64 if ``return_complex``)
    freqs : (F,) float32, Hz
    x_axis_frames : (T_out,) float64, centre of each time bin in frames
    """
    params = SpectralParams.from_config(cfg)
    home = np.asarray(home, dtype=np.float64)
    n_frames, n_points = _check_inputs(points_tracked, home)
    if model is None:
        model, _ = _model_for(points_tracked, frame_rate, params)
    freqs = _freqs(model)
    x = time_axis(model, n_frames)
    dtype = np.complex64 if params.return_complex else np.float32
    out = np.empty((2, n_points, len(freqs), len(x)), dtype=dtype)
    write_spectrograms(out, points_tracked, home, model, params)
    return out, freqs, x


# ----------------------------------------------------------------------------- HDF5 output
@dataclasses.dataclass(frozen=True)
class SpectrogramSummary:
    """What :func:`write_spectrogram_h5` wrote.

    Attributes
    ----------
    path : Path
    shape : tuple
        (2, N, F, T_out).
    freqs : (F,) float32 Hz
    x_axis_seconds : (T_out,) float64 s
    frame_rate : float
        Sampling rate used (Hz).
    point_power : (2, N) float64
        Sum over frequencies and time of |output| per row.
    seconds : float
        Wall time of the computation.
    """

    path: Path
    shape: tuple[int, ...]
    freqs: np.ndarray
    x_axis_seconds: np.ndarray
    frame_rate: float
    point_power: np.ndarray
    seconds: float


def _chunks(shape: tuple[int, ...], b: int, itemsize: int,
            target_bytes: int = 4 << 20) -> tuple[int, ...]:
    """HDF5 chunks (1, b, F, tc) of about ``target_bytes``: whole chunks per batch."""
    _, _, f, t = shape
    tc = max(1, min(t, target_bytes // max(1, b * f * itemsize)))
    return (1, b, f, tc)


def write_spectrogram_h5(path: str | os.PathLike, points_tracked, home: np.ndarray,
                         frame_rate: float, cfg: Mapping[str, Any] | SpectralParams | None = None,
                         inputs: Iterable[str | os.PathLike] = (),
                         config_for_provenance: Mapping[str, Any] | None = None,
                         extra: Mapping[str, Any] | None = None,
                         progress: bool | None = None) -> SpectrogramSummary:
    """Compute and write ``spectrogram.h5`` atomically, streaming batches into the dataset.

    Keys: ``spectrograms`` (2, N, F, T) float32/complex64; ``frequencies`` (F,) Hz;
    ``x_axis_frames`` (T,); ``x_axis_seconds`` (T,); ``frame_rate`` (Hz used);
    ``point_positions`` (N, 2); ``filters`` (F, win) complex64; ``mean_power_per_timepoint``
    (T,) (= m[t] of the normalisation); ``params`` (JSON); ``run_info/`` (JSON strings).

    Parameters
    ----------
    path : path-like
        Destination (appears only when complete).
    points_tracked : (T, N, 2) array-like
        NumPy array or h5py dataset.
    home : (N, 2) array
    frame_rate : float
        The video's frame rate in Hz (``Fs_sample`` in ``cfg`` overrides it).
    cfg : mapping or SpectralParams
        The ``vqt:`` config section.
    inputs, config_for_provenance, extra
        For :func:`face_rhythm.provenance.run_info`.
    """
    params = SpectralParams.from_config(cfg)
    home = np.asarray(home, dtype=np.float64)
    n_frames, n_points = _check_inputs(points_tracked, home)
    model, fs = _model_for(points_tracked, frame_rate, params)
    if params.Fs_sample is not None and not math.isclose(fs, frame_rate, rel_tol=1e-6):
        logger.warning("vqt.Fs_sample=%g Hz overrides the video frame rate %g Hz", fs,
                       frame_rate)
    freqs = _freqs(model)
    x = time_axis(model, n_frames)
    dtype = np.complex64 if params.return_complex else np.float32
    shape = (2, n_points, len(freqs), len(x))
    eff = params.to_dict()
    eff["params_VQT"] = {**eff["params_VQT"], "Fs_sample": fs,
                         "win_size": int(model.filters.shape[-1])}
    info = run_info(config=config_for_provenance if config_for_provenance is not None
                    else {"vqt": params.to_dict()}, inputs=inputs,
                    extra={"n_frames": n_frames, "n_points": n_points,
                           "frame_rate_video": float(frame_rate), "Fs_sample": fs,
                           "win_size": int(model.filters.shape[-1]),
                           "device": str(_model_device(model)), **dict(extra or {})})
    t0 = time.perf_counter()
    path = Path(path)
    with atomic_h5(path) as f:
        ds = f.create_dataset("spectrograms", shape=shape, dtype=dtype,
                              chunks=_chunks(shape, _batch_for(model, n_frames, n_points,
                                                               len(x), params),
                                             np.dtype(dtype).itemsize))
        ds.attrs["dims"] = json.dumps(["xy", "points", "frequency", "time"])
        res = write_spectrograms(ds, points_tracked, home, model, params, progress)
        f.create_dataset("frequencies", data=freqs)
        f.create_dataset("x_axis_frames", data=x)
        f.create_dataset("x_axis_seconds", data=x / fs)
        f.create_dataset("frame_rate", data=float(fs))
        f.create_dataset("point_positions", data=home.astype(np.float32))
        f.create_dataset("filters", data=model.filters.detach().cpu().numpy())
        f.create_dataset("mean_power_per_timepoint", data=res["mean_power"])
        f.create_dataset("params", data=json.dumps(eff, sort_keys=True, default=str))
        g = f.create_group("run_info")
        for k, v in run_info_to_h5_dict(info).items():
            g.create_dataset(k, data=v)
    seconds = time.perf_counter() - t0
    logger.info("wrote %s %s %s in %.1f s", path, shape, np.dtype(dtype).name, seconds)
    return SpectrogramSummary(path=path, shape=shape, freqs=freqs, x_axis_seconds=x / fs,
                              frame_rate=fs, point_power=res["point_power"], seconds=seconds)


def read_tracking_h5(path: str | os.PathLike, f) -> tuple[Any, np.ndarray, float]:
    """Validated ``(points_tracked, point_positions, frame_rate)`` from an open tracking.h5.

    ``points_tracked`` is read into memory when under 2 GiB, else returned as the h5py
    dataset (read a batch of points at a time).
    """
    for key in ("points_tracked", "point_positions", "frame_rate"):
        if key not in f:
            raise SpectralParamsError(f"{path}: no '{key}' dataset (not a tracking.h5?)")
    pt = f["points_tracked"]
    home = np.asarray(f["point_positions"][()], dtype=np.float32)
    fr = float(np.asarray(f["frame_rate"][()]))
    if not (math.isfinite(fr) and fr > 0):
        raise SpectralParamsError(f"{path}: frame_rate={fr} Hz must be a positive number")
    if pt.ndim != 3 or pt.shape[2] != 2 or home.shape != (pt.shape[1], 2):
        raise SpectralParamsError(f"{path}: points_tracked {pt.shape} and point_positions "
                                  f"{home.shape} must be (T, N, 2) and (N, 2)")
    if pt.size * 4 <= 2 << 30:
        pt = np.asarray(pt[()], dtype=np.float32)
    return pt, home, fr


def spectrogram_from_tracking_file(tracking_path: str | os.PathLike,
                                   spectrogram_path: str | os.PathLike,
                                   cfg: Mapping[str, Any] | SpectralParams | None,
                                   figure_path: str | os.PathLike | None = None,
                                   n_figure_points: int = 3,
                                   progress: bool | None = None) -> SpectrogramSummary:
    """The workflow's ``spectrogram`` step: tracking.h5 -> spectrogram.h5 (+ PNG figure)."""
    import h5py

    tracking_path = Path(tracking_path)
    if not tracking_path.is_file():
        raise FileNotFoundError(f"{tracking_path}: no such tracking file")
    params = SpectralParams.from_config(cfg)
    raw_cfg = params.to_dict() if isinstance(cfg, SpectralParams) else dict(cfg or {})
    with h5py.File(tracking_path, "r") as f:
        pt, home, fr = read_tracking_h5(tracking_path, f)
        try:
            summary = write_spectrogram_h5(spectrogram_path, pt, home, fr, params,
                                           inputs=[tracking_path],
                                           config_for_provenance={"vqt": raw_cfg},
                                           progress=progress)
        except SpectralParamsError as e:
            raise SpectralParamsError(f"{tracking_path}: {e}") from None
    if figure_path is not None:
        idx = representative_points(summary.point_power, n_figure_points)
        with h5py.File(spectrogram_path, "r") as f:
            spec = np.stack([f["spectrograms"][:, int(i)] for i in idx], axis=1)
            home_sel = f["point_positions"][()][idx]
        fig = plot_point_spectrograms(spec, summary.freqs, summary.x_axis_seconds,
                                      point_indices=idx, point_positions=home_sel,
                                      title=f"{tracking_path.parent.parent.name}/"
                                            f"{tracking_path.parent.name}: normalised "
                                            "spectrograms")
        import matplotlib.pyplot as plt

        with atomic_path(figure_path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)
    return summary


# ----------------------------------------------------------------------------- figures
def representative_points(point_power: np.ndarray, n: int = 3) -> np.ndarray:
    """Indices of ``n`` points spanning the motion: the strongest, then lower quantiles.

    Parameters
    ----------
    point_power : (2, N) or (N,) array
        Spectral power per (x/y,) point; x and y are summed.
    n : int
        Number of points (at most N).

    Returns
    -------
    (n,) int array
        Distinct point indices at power quantiles 1.0, 0.9, 0.5, then evenly below.
    """
    p = np.asarray(point_power, dtype=np.float64)
    p = p.sum(axis=0) if p.ndim == 2 else p
    order = np.argsort(p, kind="stable")[::-1]  # strongest first
    n = int(min(max(n, 1), len(p)))
    qs = [0.0, 0.1, 0.5] + list(np.linspace(0.6, 1.0, max(0, n - 3) + 1, endpoint=False)[1:])
    out: list[int] = []
    for q in qs:
        i = int(order[min(len(p) - 1, round(q * (len(p) - 1)))])
        if i not in out:
            out.append(i)
    for i in order:  # fill up if quantiles collided
        if len(out) >= n:
            break
        if int(i) not in out:
            out.append(int(i))
    return np.asarray(out[:n], dtype=np.int64)


def _edges_geometric(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    if len(f) == 1:
        return np.array([f[0] / 1.1, f[0] * 1.1])
    mid = np.sqrt(f[:-1] * f[1:])
    return np.concatenate([[f[0] ** 2 / mid[0]], mid, [f[-1] ** 2 / mid[-1]]])


def _edges_linear(t: np.ndarray, default_step: float = 1.0) -> np.ndarray:
    t = np.asarray(t, dtype=np.float64)
    if len(t) == 1:
        return np.array([t[0] - default_step / 2, t[0] + default_step / 2])
    mid = (t[:-1] + t[1:]) / 2
    return np.concatenate([[2 * t[0] - mid[0]], mid, [2 * t[-1] - mid[-1]]])


def plot_point_spectrograms(spec: np.ndarray, freqs: np.ndarray, x_axis_seconds: np.ndarray,
                            point_indices: Iterable[int] | None = None,
                            point_positions: np.ndarray | None = None,
                            title: str | None = None):
    """Figure of x and y spectrograms of a few points (log-frequency axis in Hz).

    Parameters
    ----------
    spec : (2, n, F, T) array
        Spectrograms of the points to show (magnitude is plotted for complex input).
    freqs : (F,) Hz
    x_axis_seconds : (T,) s
    point_indices : n ints, optional
        Labels (index into the full point list).
    point_positions : (n, 2), optional
        Home positions (x, y) in px, for labels.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    spec = np.abs(np.asarray(spec))
    if spec.ndim == 3:
        spec = spec[:, None]
    n = spec.shape[1]
    idx = list(point_indices) if point_indices is not None else list(range(n))
    fe = _edges_geometric(freqs)
    te = _edges_linear(x_axis_seconds)
    fig = Figure(figsize=(10, 1.0 + 2.2 * n), layout="constrained")
    axs = fig.subplots(n, 2, sharex=True, sharey=True, squeeze=False)
    vmax = float(np.percentile(spec, 99.5)) if spec.size else 1.0
    ticks = [t for t in 2.0 ** np.arange(-4, 12) if fe[0] <= t <= fe[-1]] or list(freqs[[0, -1]])
    for i in range(n):
        for c, name in enumerate(("x", "y")):
            ax = axs[i, c]
            mesh = ax.pcolormesh(te, fe, spec[c, i], cmap="magma", vmin=0,
                                 vmax=vmax if vmax > 0 else None, shading="flat")
            ax.set_yscale("log")
            ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
            ax.yaxis.set_minor_formatter(NullFormatter())
            label = f"point {idx[i]}"
            if point_positions is not None:
                px, py = np.asarray(point_positions)[i]
                label += f" ({px:.0f}, {py:.0f}) px"
            ax.set_title(f"{label}: {name} displacement", fontsize=9)
            if c == 0:
                ax.set_ylabel("frequency (Hz)")
            if i == n - 1:
                ax.set_xlabel("time (s)")
    fig.colorbar(mesh, ax=axs, shrink=0.8, label="normalised magnitude")
    if title:
        fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------- reference API
class VQT_Analyzer:
    """Normalised VQT spectrograms of point displacement traces (reference API).

    Parameters
    ----------
    params_VQT : dict
        ``vqt.VQT`` keyword arguments, including ``Fs_sample`` = the video frame rate in Hz
        (``None``: give ``frame_rate`` to :meth:`transform`). Missing keys take
        :data:`DEFAULT_PARAMS_VQT`. Defaults are the reference class's.
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
    config, run_data : dict
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
        if params_VQT is None:
            params_VQT = {
                "Fs_sample": 90, "Q_lowF": 3, "Q_highF": 20, "F_min": 1, "F_max": 40,
                "n_freq_bins": 55, "window_type": "hann", "symmetry": "center",
                "taper_asymmetric": True, "downsample_factor": 8, "padding": "valid",
                "fft_conv": True, "fast_length": True, "take_abs": True, "filters": None,
                "plot_pref": False,
            }
        pv = dict(params_VQT)
        self._fs = pv.pop("Fs_sample", None)
        take_abs = pv.get("take_abs", True)
        self._params = SpectralParams(
            params_VQT=pv, Fs_sample=None, normalization_factor=normalization_factor,
            spectrogram_exponent=spectrogram_exponent, one_over_f_exponent=one_over_f_exponent,
            batch_size=int(batch_size), device=device,
            return_complex=(not take_abs) if return_complex is None else bool(return_complex))
        self._verbose = int(verbose)
        self.spectrograms: dict | None = None
        self.x_axis: dict | None = None
        self.freqs: dict | None = None
        self.point_positions: np.ndarray | None = None
        self.demo_figure = None
        self.vqt_model = None
        if self._fs is not None:
            self.vqt_model = make_vqt(float(self._fs), pv, device)
        self.config = {"params_VQT": dict(params_VQT), "batch_size": batch_size,
                       "device": device, "normalization_factor": normalization_factor,
                       "spectrogram_exponent": spectrogram_exponent,
                       "one_over_f_exponent": one_over_f_exponent, "verbose": verbose}
        self.run_info: dict = {}
        self.run_data: dict = {}
        if self.vqt_model is not None:
            self._fill_filters()

    def _fill_filters(self) -> None:
        self.run_data["VQT"] = {"filters": self.vqt_model.filters.detach().cpu().numpy(),
                                "wins": np.asarray(self.vqt_model.wins)}
        self.run_data["frequencies"] = _freqs(self.vqt_model)

    def _model(self, frame_rate: float | None, n_frames: int):
        fs = frame_rate if frame_rate is not None else self._fs
        if fs is None:
            raise SpectralParamsError("VQT_Analyzer: no sampling rate; give "
                                      "params_VQT['Fs_sample'] or frame_rate=")
        if (self.vqt_model is None
                or not math.isclose(float(self.vqt_model.Fs_sample), float(fs))):
            self.vqt_model = make_vqt(float(fs), self._params.params_VQT, self._params.device)
            self._fs = float(fs)
            self._fill_filters()
        check_vqt_params(float(fs), self._params.params_VQT, n_frames)
        return self.vqt_model

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
        spec, freqs, x = compute_spectrograms(pt, point_positions, float(model.Fs_sample),
                                              params, model=model)
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
                       point_positions: np.ndarray, idx_point: Iterable[int] = (0,),
                       name_points: str = "0", plot: bool = True,
                       frame_rate: float | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Spectrogram of a few points (normalised among themselves), optionally plotted.

        Returns
        -------
        spec : (2, F, T_out) for one point, (2, n, F, T_out) for several
        x_axis : (T_out,) frames
        freqs : (F,) Hz

        The figure (if ``plot``) is kept as ``self.demo_figure``.
        """
        self._check_inputs(points_tracked, point_positions)
        idx = [int(i) for i in idx_point]
        pt = np.asarray(points_tracked[name_points])[:, idx, :]
        pp = np.asarray(point_positions)[idx]
        spec, x, freqs = self.transform(pt, pp, frame_rate)
        if plot:
            self.demo_figure = plot_point_spectrograms(
                spec, freqs, x / float(self.vqt_model.Fs_sample), point_indices=idx,
                point_positions=pp, title="demo spectrograms")
        n_f = len(freqs)
        total = sum(2 * v.shape[1] * n_f * len(time_axis(self.vqt_model, v.shape[0]))
                    * spec.itemsize for v in points_tracked.values())
        logger.info("demo spectrogram %s; all spectrograms would take %.3g GB", spec.shape,
                    total / 1e9)
        return (spec[:, 0] if len(idx) == 1 else spec), x, freqs

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``VQT_Analyzer.h5`` in the reference layout (atomically)."""
        from .h5_handling import simple_save

        return simple_save({k: v for k, v in self.run_data.items()}, path)

    def cleanup(self) -> None:
        """Drop the stored spectrograms and the model (free memory)."""
        self.spectrograms = self.x_axis = self.freqs = None
        self.vqt_model = None
        self.run_data = {}

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
