"""Parameters of the spectral stage: :class:`SpectralParams` (the ``vqt:`` config section).

The dataclass is the only place the stage's defaults live; :meth:`SpectralParams.from_config`
converts a config section through :func:`face_rhythm.params.from_mapping` (the one parameter
policy). :func:`check_vqt_params` validates the ``vqt.VQT`` keyword arguments against a
sampling rate (and a trace length) before any work, and :func:`expected_window_length` is the
filter length those arguments give.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
import inspect
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from face_rhythm.errors import SpectralParamsError
from face_rhythm.params import from_mapping, unknown_key_message

__all__ = [
    "DEFAULT_PARAMS_VQT",
    "SpectralParams",
    "check_vqt_params",
    "expected_window_length",
    "n_time_bins",
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


@functools.lru_cache(maxsize=1)
def _vqt_signature() -> dict[str, Any]:
    """``vqt.VQT``'s keyword arguments and their defaults (read from its signature, so a new
    vqt release is followed; arguments without a default map to ``inspect.Parameter.empty``).

    The signature is read from the source of ``vqt.vqt`` without importing it (importing
    vqt imports torch: seconds, in jobs that only check a config, and 220 MB in the
    notebook's ``VQT_Analyzer`` before it needs vqt); if the source cannot be read, or a
    default is not a literal, from the imported class.
    """
    try:
        spec = importlib.util.find_spec("vqt")  # the package's spec only: no import
        source = Path(next(iter(spec.submodule_search_locations))) / "vqt.py"
        tree = ast.parse(source.read_text())
        init = next(f for c in tree.body if isinstance(c, ast.ClassDef) and c.name == "VQT"
                    for f in c.body
                    if isinstance(f, ast.FunctionDef) and f.name == "__init__")
        args = init.args
        positional = args.posonlyargs + args.args
        defaults = [inspect.Parameter.empty] * (len(positional) - len(args.defaults)) + [
            ast.literal_eval(d) for d in args.defaults]
        out = dict(zip((a.arg for a in positional), defaults, strict=True))
        out.update((a.arg, inspect.Parameter.empty if d is None else ast.literal_eval(d))
                   for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True))
        out.pop("self", None)
        if out:
            return out
    except (ImportError, AttributeError, OSError, StopIteration, SyntaxError, TypeError,
            ValueError):
        pass
    import vqt

    return {k: p.default for k, p in inspect.signature(vqt.VQT.__init__).parameters.items()
            if k != "self"}


def _vqt_keys() -> frozenset[str]:
    """Keys ``vqt.VQT`` accepts (:func:`_vqt_signature`)."""
    return frozenset(_vqt_signature())


def _check_keys(mapping: Mapping[str, Any], allowed: Iterable[str], section: str) -> None:
    """Unknown keys of ``mapping``: one error listing them all, with the policy's suggestion.

    The message is ``"<section>: unknown key(s) [...]; <section>: unknown key '<k>' (did you
    mean ...?); allowed: ..."`` (the original's list, then
    :func:`face_rhythm.params.unknown_key_message` for the first one).
    """
    allowed = set(allowed)
    unknown = sorted(set(map(str, mapping)) - allowed)
    if unknown:
        raise SpectralParamsError(f"{section}: unknown key(s) {unknown}; "
                                  f"{unknown_key_message(section, unknown[0], allowed)}")


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and math.isfinite(x)


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
        Approximate frames per time piece with ``padding='valid'`` (see
        :mod:`face_rhythm.spectral_analysis.streaming`); ``None`` processes whole traces.
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
        _check_keys(merged, _vqt_keys(), "vqt.params_VQT")
        if self.return_complex and merged.get("take_abs", True):
            raise SpectralParamsError("vqt.return_complex=true needs "
                                      "vqt.params_VQT.take_abs=false (magnitudes have no phase)")
        object.__setattr__(self, "params_VQT", merged)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | SpectralParams | None) -> SpectralParams:
        """Build from a config mapping (the ``vqt:`` section).

        Absent keys (and ``params_VQT: null``) keep the defaults above.

        Raises
        ------
        SpectralParamsError
            An unknown key (named, with a close-match suggestion) or a value out of range.
        """
        if isinstance(cfg, SpectralParams) or cfg is None:
            return from_mapping(cls, cfg, "vqt", error=SpectralParamsError)
        cfg = dict(cfg)
        _check_keys(cfg, (f.name for f in dataclasses.fields(cls)), "vqt")
        if cfg.get("params_VQT") is None:
            cfg.pop("params_VQT", None)
        return from_mapping(cls, cfg, "vqt", error=SpectralParamsError)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-able) of all parameters."""
        d = dataclasses.asdict(self)
        d["params_VQT"] = dict(self.params_VQT)
        return d


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


def n_time_bins(frame_rate: float, params_VQT: Mapping[str, Any], n_frames: int) -> int:
    """Number of spectrogram time bins ``vqt.VQT`` gives for a trace of ``n_frames``.

    The length of ``len(time_axis(make_vqt(frame_rate, params_VQT), n_frames))`` without
    building the filter bank (or importing torch): the convolution's x-axis over the
    ``padding`` mode, average-pooled by ``downsample_factor`` with ceil rounding. The session
    check counts each video's bins with it. Tested against vqt in tests/spectral_analysis.

    Parameters
    ----------
    frame_rate : float
        Hz.
    params_VQT : mapping
        The ``vqt.params_VQT`` section (defaults from :data:`DEFAULT_PARAMS_VQT`).
    n_frames : int
        Trace length in frames.

    Returns
    -------
    int
        Time bins (0 when the trace gives none).
    """
    p = {**DEFAULT_PARAMS_VQT, **dict(params_VQT)}
    n_k, n_s = expected_window_length(frame_rate, p), int(n_frames)
    axis = n_s + (n_k - 1) // 2 - (-(n_k - 1)) // 2  # vqt's x-axis before the padding mode
    n = n_s + n_k - 1
    if p["padding"] == "full":
        length = axis
    elif p["padding"] == "valid":
        target = max(n_s, n_k) - min(n_s, n_k) + 1
        start = (n - target) // 2
        length = max(0, min(axis, start + target) - start)
    else:  # same
        start = math.ceil((n - n_s) / 2)
        length = max(0, min(axis, start + n_s) - start)
    ds = int(p["downsample_factor"] or 1)
    if ds == 1 or length == 0:
        return length
    out = -(-(length - ds) // ds) + 1  # avg_pool1d, ceil_mode=True, no padding
    if (out - 1) * ds >= length:
        out -= 1
    return max(out, 0)


#: scipy.signal.windows names that take no parameter (valid without importing scipy.signal)
_PLAIN_WINDOWS = frozenset({"hann", "hamming", "blackman", "boxcar", "triang", "bartlett",
                            "flattop", "parzen", "bohman", "blackmanharris", "nuttall",
                            "barthann", "cosine", "lanczos", "tukey"})


def _check_window_type(wt: Any) -> None:
    if not isinstance(wt, str):
        raise SpectralParamsError(f"params_VQT.window_type={wt!r} must be a window name "
                                  "(vqt 0.1 cannot use array windows)")
    if wt != "gaussian" and wt not in _PLAIN_WINDOWS:
        import scipy.signal  # 1 s of import: only for a name outside the common ones

        try:
            scipy.signal.windows.get_window(wt, 16, fftbins=False)
        except (ValueError, TypeError) as e:
            raise SpectralParamsError(f"params_VQT.window_type={wt!r} is not a scipy "
                                      f"window: {e}") from None


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
        F_max above Nyquist, F_min <= 0, F_min >= F_max, unknown keys, bad window,
        padding or symmetry, or a window longer than the trace.
    """
    p = {**DEFAULT_PARAMS_VQT, **dict(params_VQT)}
    _check_keys(p, _vqt_keys(), "params_VQT")
    if not (_is_number(frame_rate) and frame_rate > 0):
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
    if not f_max <= nyq:  # F_max at Nyquist is allowed (the original's own test uses it)
        raise SpectralParamsError(f"params_VQT.F_max={f_max} Hz must not exceed the Nyquist "
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
        _check_window_type(p["window_type"])
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
