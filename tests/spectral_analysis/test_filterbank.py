"""The CPU filter bank against vqt: the same filters, the same spectrograms, no torch.

:func:`make_filter_bank` rebuilds ``vqt.helpers.make_VQT_filters`` without vqt, and
:func:`filter_magnitudes` computes ``vqt.VQT.forward`` another way (circular FFT on the trace
length, magnitudes of the valid outputs only). Both are checked against vqt itself and the
spectrograms also against a float64 computation (the ground truth both approximate).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import vqt
import vqt.helpers

from face_rhythm.spectral_analysis import SpectralParams, make_vqt
from face_rhythm.spectral_analysis.filterbank import (
    MOTHER_WINDOWS,
    FilterBank,
    fft_length,
    filter_magnitudes,
    make_filter_bank,
)

BASE = {"Q_lowF": 4.0, "Q_highF": 10.0, "F_min": 1.0, "F_max": 40.0, "n_freq_bins": 36}
CASES = [
    (120.0, {}),
    (90.0, {}),
    (120.0, {"F_max": 60.0}),
    (1000.0, {"Q_lowF": 3, "Q_highF": 20, "F_min": 10, "F_max": 400, "n_freq_bins": 55,
              "window_type": "gaussian"}),
    (75.0, {"Q_lowF": 2, "Q_highF": 8, "F_min": 0.5, "F_max": 30, "n_freq_bins": 20,
            "window_type": "hamming"}),
    (60.0, {"Q_lowF": 4, "Q_highF": 4, "F_min": 2, "F_max": 20, "n_freq_bins": 12,
            "window_type": "blackman", "win_size": 200}),
    (60.0, {"F_max": 25.0, "n_freq_bins": 10, "window_type": "boxcar"}),
    (120.0, {"symmetry": "left"}),
    (120.0, {"symmetry": "right", "taper_asymmetric": False}),
    (30.0, {"Q_lowF": 1, "Q_highF": 3, "F_min": 1, "F_max": 15, "n_freq_bins": 8}),
]


def _params(extra):
    return SpectralParams.from_config({"params_VQT": {**BASE, **extra}}).params_VQT


@pytest.mark.parametrize(("fs", "extra"), CASES)
def test_the_filters_are_vqts_to_float32_rounding(fs, extra):
    p = _params(extra)
    bank = make_filter_bank(fs, p)
    model = make_vqt(fs, p, "cpu")
    ref = model.filters.detach().numpy()
    assert bank.filters.shape == ref.shape and bank.filters.dtype == np.complex64
    # vqt's own float32 FFTs round at ~1e-7 of the largest tap; a wrong window, phase or
    # norm would differ by percents
    assert np.abs(bank.filters - ref).max() <= 2e-6 * np.abs(ref).max()
    np.testing.assert_array_equal(bank.freqs, model.freqs.numpy())
    np.testing.assert_allclose(bank.wins, model.wins.numpy(), rtol=0, atol=1e-7)
    assert bank.downsample_factor == model.downsample_factor


@pytest.mark.parametrize("name", sorted(MOTHER_WINDOWS))
def test_mother_windows_are_scipys(name):
    import scipy.signal

    n = 10000
    want = scipy.signal.windows.get_window(("gaussian", 0.15 * n) if name == "gaussian"
                                           else name, n, fftbins=False)
    x = np.linspace(0, 1, n) - 0.5
    np.testing.assert_allclose(MOTHER_WINDOWS[name](x), want, rtol=0, atol=1e-12)


def _truth(filters, x, ds, padding):
    """The convolution's magnitudes in float64 ('valid' or vqt's 'same' outputs: centred,
    the extra one of an even window at the start), average-pooled (ceil), (R, F, T)."""
    f, xd = filters.astype(np.complex128), x.astype(np.float64)
    n, win = x.shape[-1], f.shape[-1]
    n_full = n + win - 1
    conv = np.fft.ifft(np.fft.fft(xd, n_full)[:, None] * np.fft.fft(f, n_full)[None])
    start = win - 1 if padding == "valid" else -(-(win - 1) // 2)
    mag = np.abs(conv[..., start:start + (n - win + 1 if padding == "valid" else n)])
    return np.stack([mag[..., s:s + ds].mean(-1) for s in range(0, mag.shape[-1], ds)], -1)


@pytest.mark.parametrize(("fs", "n", "ds", "padding"), [
    (120.0, 4096, 20, "valid"), (90.0, 3001, 7, "valid"), (60.0, 700, 10, "valid"),
    (120.0, 500, 20, "valid"), (120.0, 1000, 20, "same"), (60.0, 333, 1, "same")])
def test_filter_magnitudes_are_vqts_and_as_close_to_float64(fs, n, ds, padding):
    model = make_vqt(fs, _params({"F_max": min(40.0, fs / 2), "downsample_factor": ds,
                                  "padding": padding}), "cpu")
    bank = FilterBank.from_model(model)
    rng = np.random.default_rng(int(n))
    x = np.cumsum(rng.standard_normal((9, n)), axis=-1).astype(np.float32)  # drifting traces
    got = filter_magnitudes(bank, x, threads=2)
    ref = model(torch.from_numpy(x)).numpy()
    truth = _truth(bank.filters, x, ds, padding)
    assert got.shape == ref.shape == truth.shape and got.dtype == np.float32
    scale = np.abs(truth).max()
    err_vqt, err_ours = np.abs(ref - truth).max(), np.abs(got - truth).max()
    assert err_vqt <= 1e-5 * scale  # the reference itself is float32
    assert err_ours <= max(2 * err_vqt, 1e-6 * scale)
    # one thread or two, one block of rows or many: the same numbers
    np.testing.assert_array_equal(filter_magnitudes(bank, x, threads=1), got)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("win_size", [241, 240])
def test_time_axis_and_bin_count_are_vqts(win_size, padding):
    model = make_vqt(120.0, _params({"win_size": win_size, "padding": padding}), "cpu")
    bank = FilterBank.from_model(model)
    for n in (win_size + 1, win_size + 19, 1000, 4321, 120 * 60):
        want = np.atleast_1d(model.get_xAxis(n).numpy()).astype(np.float64)
        np.testing.assert_array_equal(bank.x_axis(n), want)
        x = np.random.default_rng(n).standard_normal((1, n)).astype(np.float32)
        assert filter_magnitudes(bank, x).shape[-1] == len(want)


def test_settings_vqt_must_compute_give_no_bank():
    fs = 120.0
    assert make_filter_bank(fs, _params({})) is not None
    assert make_filter_bank(fs, _params({"padding": "same"})).padding == "same"
    assert make_filter_bank(fs, _params({"padding": "full"})) is None
    assert make_filter_bank(fs, _params({"take_abs": False})) is None
    assert make_filter_bank(fs, _params({"window_type": "tukey"})) is None  # a scipy window
    custom = vqt.helpers.make_VQT_filters(Fs_sample=fs, **BASE, window_type="hann")[0]
    assert make_filter_bank(fs, _params({"filters": custom})) is None


def test_fft_length_is_the_next_2_3_5_smooth_length():
    from vqt.vqt import next_fast_len

    for n in [1, 7, 481, 8191, 8192, 8193, 12345, 432000]:
        assert fft_length(n) == next_fast_len(n)


def test_a_spectrogram_job_loads_neither_torch_nor_vqt(tmp_path, heavy_imports):
    code = (
        "import numpy as np\n"
        "from face_rhythm.h5_handling import simple_save\n"
        "from face_rhythm.spectral_analysis import spectrogram_from_tracking_file\n"
        "t = np.arange(600) / 60.0\n"
        "pt = 100 + np.stack([np.sin(2 * np.pi * 5 * t)] * 6, 1)[..., None].repeat(2, -1)\n"
        f"p = r'{tmp_path}'\n"
        "simple_save({'points_tracked': pt.astype(np.float32), 'point_positions':\n"
        "             np.full((6, 2), 100, np.float32), 'frame_rate': 60.0}, p + '/t.h5')\n"
        "cfg = {'params_VQT': {'F_min': 1.0, 'F_max': 25.0, 'n_freq_bins': 12}}\n"
        "spectrogram_from_tracking_file(p + '/t.h5', p + '/s.h5', cfg, p + '/s.png')\n"
    )
    loaded = heavy_imports(code, extra=("scipy.signal",))
    assert not [m for m in loaded if m.split(".")[0] in ("torch", "vqt") or m == "scipy.signal"]
    assert "matplotlib" in loaded  # the figure was drawn in the same process
    assert (tmp_path / "s.h5").is_file() and (tmp_path / "s.png").is_file()


def test_the_notebook_class_computes_without_torch_and_builds_vqt_on_request(heavy_imports):
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from face_rhythm.spectral_analysis import VQT_Analyzer\n"
        "an = VQT_Analyzer(params_VQT={'Fs_sample': 60.0, 'F_min': 1.0, 'F_max': 25.0,\n"
        "                  'n_freq_bins': 12, 'window_type': 'hann', 'padding': 'valid'},\n"
        "                  verbose=0)\n"
        "pt = np.random.default_rng(0).normal(100, 1, (600, 5, 2)).astype(np.float32)\n"
        "spec, x, f = an.transform(pt, np.full((5, 2), 100, np.float32))\n"
        "assert spec.shape[:3] == (2, 5, 12), spec.shape\n"
        "assert an.run_data['VQT']['filters'].shape[0] == 12\n"
        "assert 'torch' not in sys.modules, 'torch loaded to compute on the CPU'\n"
        "import vqt\n"
        "assert isinstance(an.vqt_model, vqt.VQT) and an.vqt_model.Fs_sample == 60.0\n"
    )
    assert "torch" in heavy_imports(code)
