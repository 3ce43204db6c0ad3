"""The vqt config section -> SpectralParams: schema defaults equal the dataclass, unknown keys fail."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from face_rhythm.devices import resolve_device as resolve_device_name
from face_rhythm.errors import SpectralParamsError
from face_rhythm.params import defaults
from face_rhythm.spectral_analysis import (
    DEFAULT_PARAMS_VQT,
    SpectralParams,
    check_vqt_params,
    resolve_device,
)

REPO = Path(__file__).resolve().parents[2]


def _vqt_schema() -> dict:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    return schema["properties"]["vqt"]["properties"]


def test_schema_defaults_equal_the_dataclass_defaults():
    props = _vqt_schema()
    given = {k: spec["default"] for k, spec in props.items() if "default" in spec}
    assert set(given) >= {"Fs_sample", "normalization_factor", "spectrogram_exponent",
                          "one_over_f_exponent", "batch_size", "return_complex", "device",
                          "time_chunk_frames"}
    dc = defaults(SpectralParams)
    for key, value in given.items():
        assert dc[key] == value, key
    # params_VQT: the schema names the keys, the dataclass holds their defaults
    assert set(props["params_VQT"]["properties"]) >= set(DEFAULT_PARAMS_VQT)
    assert SpectralParams.from_config(given) == SpectralParams()


def test_config_yaml_equals_the_defaults():
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["vqt"]
    assert SpectralParams.from_config(cfg) == SpectralParams()


def test_absent_keys_keep_the_defaults():
    assert SpectralParams.from_config(None) == SpectralParams() == SpectralParams.from_config({})
    p = SpectralParams.from_config({"params_VQT": None, "batch_size": 7})
    assert p.params_VQT == DEFAULT_PARAMS_VQT and p.batch_size == 7
    p = SpectralParams.from_config({"params_VQT": {"F_max": 30.0}})
    assert p.params_VQT == {**DEFAULT_PARAMS_VQT, "F_max": 30.0}
    assert SpectralParams.from_config(p) is p


@pytest.mark.parametrize("cfg, message", [
    ({"batch_sise": 3}, r"vqt: unknown key\(s\) \['batch_sise'\].*did you mean 'batch_size'"),
    ({"normalisation_factor": 0.5},
     r"unknown key 'normalisation_factor' \(did you mean 'normalization_factor'\?\)"),
    ({"params_VQT": {"F_mx": 30.0}},
     r"vqt\.params_VQT: unknown key\(s\) \['F_mx'\].*did you mean 'F_max'"),
])
def test_unknown_key_names_the_section_and_suggests(cfg, message):
    with pytest.raises(SpectralParamsError, match=message):
        SpectralParams.from_config(cfg)


def test_check_vqt_params_unknown_key_suggests():
    with pytest.raises(SpectralParamsError, match=r"did you mean 'Q_lowF'"):
        check_vqt_params(90.0, {"Q_lowf": 3.0})


def test_resolve_device_adapts_the_one_resolver():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device(resolve_device_name("auto"))
    if not torch.cuda.is_available():
        with pytest.raises(SpectralParamsError,
                           match=r"vqt.device='cuda' but CUDA is not available here"):
            resolve_device("cuda")


def test_windows_checked_without_scipy_are_scipy_windows():
    """The window names accepted without importing scipy.signal (a 1-s import in the
    session check) are all windows scipy makes without parameters; others still go to scipy."""
    import scipy.signal

    from face_rhythm.errors import SpectralParamsError
    from face_rhythm.spectral_analysis.params import _PLAIN_WINDOWS, _check_window_type

    for name in sorted(_PLAIN_WINDOWS):
        assert scipy.signal.windows.get_window(name, 16, fftbins=False).shape == (16,)
        _check_window_type(name)
    with pytest.raises(SpectralParamsError, match="not a scipy window"):
        _check_window_type("no_such_window")


@pytest.mark.parametrize("padding", ["valid", "same", "full"])
def test_n_time_bins_equals_the_vqt_time_axis(padding):
    """The session check counts time bins without vqt (no torch in that job): the count equals
    vqt's own time axis for odd and even windows, downsampling 1..50 and traces around the
    window length (where vqt fails on a single bin, the count is 1, which the check rejects)."""
    import itertools
    import warnings

    from face_rhythm.spectral_analysis import make_vqt, n_time_bins, time_axis

    for fs, ds, n, win in itertools.product((90.0, 120.0), (1, 3, 20, 50),
                                            (482, 500, 1234, 5000), (None, 101, 100)):
        p = {"padding": padding, "downsample_factor": ds, **({"win_size": win} if win else {})}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = len(time_axis(make_vqt(fs, p), n))
        assert n_time_bins(fs, p, n) == ref, (fs, ds, n, win)
    assert n_time_bins(120.0, {"padding": "valid"}, 481) == 1  # window 481 frames at 120 Hz
