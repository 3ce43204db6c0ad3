"""The original's defaults, parameter names and shapes in ``VQT_Analyzer`` and ``TCA``.

``VQT_Analyzer``: missing ``params_VQT`` keys take ``vqt.VQT``'s defaults (gaussian window),
``F_max`` at Nyquist is accepted (refused only above), old keys warn and say where they go,
``demo_transform(idx_point=int)``. ``TCA``: ``factors_rearranged`` in the original's layout
(folded dims stay ``(L, R)``, one tensor ``"0"`` when elements are combined), ``_cleanup``.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
import torch

from face_rhythm.decomposition import TCA
from face_rhythm.errors import SpectralParamsError
from face_rhythm.spectral_analysis import VQT_Analyzer, check_vqt_params

FS = 60.0
BASE = {"Fs_sample": FS, "Q_lowF": 3.0, "Q_highF": 8.0, "F_min": 2.0, "F_max": 20.0,
        "n_freq_bins": 16, "downsample_factor": 6}


def _tracks(n_frames=360, freqs=(4.0, 9.0, 0.0), seed=0):
    """(T, N, 2) tracks around zero: point i moves at freqs[i] Hz in x and 2 freqs[i] in y."""
    t = np.arange(n_frames) / FS
    rng = np.random.default_rng(seed)
    out = 0.01 * rng.standard_normal((n_frames, len(freqs), 2))
    for i, f in enumerate(freqs):
        if f:
            out[:, i, 0] += np.sin(2 * np.pi * f * t)
            out[:, i, 1] += np.sin(2 * np.pi * min(2 * f, 25.0) * t)
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- names
@pytest.mark.parametrize("obj, names", [
    (VQT_Analyzer.__init__, ["params_VQT", "batch_size", "device", "normalization_factor",
                             "spectrogram_exponent", "one_over_f_exponent", "verbose"]),
    (VQT_Analyzer.transform, ["points_tracked", "point_positions"]),
    (VQT_Analyzer.transform_all, ["points_tracked", "point_positions"]),
    (VQT_Analyzer.demo_transform, ["points_tracked", "point_positions", "idx_point",
                                   "name_points", "plot"]),
    (VQT_Analyzer.cleanup, []),
    (TCA.__init__, ["verbose"]),
    (TCA.rearrange_data, ["data", "names_dims_array", "names_dims_concat_array",
                          "concat_complexDim", "name_dim_concat_complexDim",
                          "name_dim_dictElements", "method_handling_dictElements",
                          "name_dim_concat_dictElements", "idx_windows",
                          "name_dim_array_window"]),
    (TCA.normalize_data, ["mean_subtract", "std_divide", "dim_name"]),
    (TCA.fit, ["data", "method", "params_method", "backend", "DEVICE", "verbose"]),
    (TCA.order_factors_by_EVR, ["data", "factors", "weights", "overwrite_factors"]),
    (TCA.rearrange_factors, ["factors", "undo_concat_dictElements", "undo_concat_complexDim"]),
    (TCA.plot_factors, ["factors", "figure_saver", "show_figures"]),
    (TCA._cleanup, []),
])
def test_documented_parameter_names_in_documented_order(obj, names):
    params = [p for p in inspect.signature(obj).parameters if p != "self"]
    assert params[:len(names)] == names


# ----------------------------------------------------------------------------- VQT_Analyzer
def test_missing_window_type_is_vqts_gaussian_not_hann():
    import vqt

    an = VQT_Analyzer(params_VQT=dict(BASE), verbose=0)
    ref = {**BASE, "padding": "same", "verbose": 0}  # vqt's own defaults for the rest
    gauss = vqt.VQT(**ref).filters  # window_type defaults to 'gaussian' in vqt
    hann = vqt.VQT(**ref, window_type="hann").filters
    np.testing.assert_array_equal(an.vqt_model.filters.detach().numpy(), gauss.numpy())
    assert not np.allclose(gauss.numpy(), hann.numpy())
    an_h = VQT_Analyzer(params_VQT={**BASE, "window_type": "hann"}, verbose=0)
    np.testing.assert_array_equal(an_h.vqt_model.filters.detach().numpy(), hann.numpy())
    assert an.config["params_VQT"] == BASE  # the config echoes what was given
    # the documented default dict keeps its hann window
    assert VQT_Analyzer(verbose=0).config["params_VQT"]["window_type"] == "hann"


def test_F_max_at_nyquist_is_accepted_and_above_is_refused():
    pv = {**BASE, "F_max": FS / 2, "padding": "valid"}
    check_vqt_params(FS, pv)  # the workflow's up-front check (preflight) agrees
    an = VQT_Analyzer(params_VQT=pv, verbose=0)
    spec, x, freqs = an.transform(_tracks(), np.zeros((3, 2), np.float32))
    assert freqs[-1] == pytest.approx(FS / 2) and np.isfinite(spec).all()
    assert spec.shape == (2, 3, 16, len(x))
    with pytest.raises(SpectralParamsError, match="must not exceed the Nyquist"):
        VQT_Analyzer(params_VQT={**pv, "F_max": FS / 2 + 0.5}, verbose=0)
    with pytest.raises(SpectralParamsError, match="Nyquist"):
        check_vqt_params(FS, {**pv, "F_max": 31.0})


@pytest.mark.parametrize("key, value, where", [
    ("DEVICE_compute", "cpu", r"device=\.\.\."),
    ("batch_size", 3, r"batch_size=\.\.\."),
    ("return_complex", False, r"return_complex=\.\.\."),
    ("progressBar", True, r"verbose"),
])
def test_old_params_VQT_keys_warn_and_say_where_they_go(key, value, where):
    with pytest.warns(DeprecationWarning, match=rf"params_VQT\['{key}'\].*{where}"):
        an = VQT_Analyzer(params_VQT={**BASE, key: value}, verbose=0)
    assert key not in an._params.params_VQT
    if key == "batch_size":
        assert an._params.batch_size == 3  # honoured: batch_size was left at its default
    spec, _, _ = an.transform(_tracks(), np.zeros((3, 2), np.float32))
    assert np.isfinite(spec).all()


def test_old_keys_do_not_override_given_arguments():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        an = VQT_Analyzer(params_VQT={**BASE, "batch_size": 3}, batch_size=7, verbose=0)
    assert an._params.batch_size == 7


def test_demo_transform_with_an_int_index():
    pts = {"0": _tracks(), "1": _tracks(seed=1)}
    home = np.zeros((3, 2), np.float32)
    an = VQT_Analyzer(params_VQT={**BASE, "padding": "valid"}, verbose=0)
    spec, x, freqs = an.demo_transform(pts, home, idx_point=1, name_points="0", plot=False)
    assert spec.shape == (2, 16, len(x)) and freqs.shape == (16,)
    same, _, _ = an.demo_transform(pts, home, idx_point=[1], name_points="0", plot=False)
    np.testing.assert_array_equal(spec, same)
    assert abs(freqs[spec[0].mean(-1).argmax()] - 9.0) < 1.0  # point 1 moves at 9 Hz in x
    two, _, _ = an.demo_transform(pts, home, idx_point=[0, 2], plot=False)
    assert two.shape == (2, 2, 16, len(x))


def test_cleanup_deletes_every_attribute():
    an = VQT_Analyzer(params_VQT=dict(BASE), verbose=0)
    an.transform_all({"0": _tracks()}, np.zeros((3, 2), np.float32))
    an.cleanup()
    assert vars(an) == {}


# ----------------------------------------------------------------------------- TCA
def _planted_data(lengths=(20, 26), n=5, f=6, R=2, complex_time=False, seed=3):
    rng = np.random.default_rng(seed)
    pts, freq = rng.random((2, n, R)), rng.random((f, R))
    times = {}
    for i, t in enumerate(lengths):
        c = rng.random((t, R))
        times[f"v{i}"] = c * np.exp(1j * rng.uniform(0, 2 * np.pi, (t, R))) if complex_time else c
    data = {k: np.einsum("xpr,fr,tr->xpft", pts, freq, c) for k, c in times.items()}
    return data, pts, freq, times


def _abs_corr(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return abs(np.vdot(a, b)) / (np.linalg.norm(a) * np.linalg.norm(b))


def _best(col_est, cols_true):
    return max(_abs_corr(col_est, cols_true[:, r]) for r in range(cols_true.shape[1]))


def _fit(tca, method="CP_NN_HALS", R=2):
    tca.fit(method=method, params_method={"rank": R, "n_iter_max": 400, "init": "random",
                                          "tol": 1e-12}, backend="numpy", DEVICE="cpu")


def test_factors_rearranged_separate_keeps_folded_shapes():
    data, pts, freq, _ = _planted_data()
    tca = TCA(verbose=0)
    tca.rearrange_data(data, method_handling_dictElements="separate",
                       name_dim_dictElements="session")
    assert set(tca.data) == {"v0", "v1"}
    _fit(tca)
    back = tca.rearrange_factors(undo_concat_complexDim=False, undo_concat_dictElements=True)
    assert back is tca.factors_rearranged and set(back) == {"v0", "v1"}
    assert back["v0"]["(xy points)"].shape == (10, 2)  # (2N, R): x rows, then y rows
    assert back["v1"]["frequency"].shape == (6, 2) and back["v1"]["time"].shape == (26, 2)
    assert tca.names_dims_array_postDecomp == ["(xy points)", "frequency", "time"]
    assert tca.name_dim_dictElements_postDecomp == "session"
    for r in range(2):
        assert _best(back["v0"]["(xy points)"][:, r], pts.reshape(10, 2)) > 0.999
        assert _best(back["v1"]["frequency"][:, r], freq) > 0.999
    tca._cleanup()


def test_factors_rearranged_concatenate_splits_time_per_element():
    data, _, _, times = _planted_data()
    tca = TCA(verbose=0)
    tca.rearrange_data(data, name_dim_dictElements="trials")
    assert list(tca.data) == ["0"] and tca.data["0"].shape == (10, 6, 46)
    _fit(tca)
    tca.order_factors_by_EVR()
    back = tca.rearrange_factors(undo_concat_complexDim=False)
    assert list(back) == ["0"]
    f = back["0"]
    assert set(f) == {"(xy points)", "frequency", "trials"}
    assert f["(xy points)"].shape == (10, 2) and f["frequency"].shape == (6, 2)
    assert set(f["trials"]) == {"time_v0", "time_v1"}
    assert f["trials"]["time_v0"].shape == (20, 2) and f["trials"]["time_v1"].shape == (26, 2)
    for k in ("v0", "v1"):  # the split is at the element boundary
        for r in range(2):
            assert _best(f["trials"][f"time_{k}"][:, r], times[k]) > 0.999
    # without undoing: the concatenated time factor stays
    kept = tca.rearrange_factors(undo_concat_dictElements=False)
    assert kept["0"]["time"].shape == (46, 2)
    assert tca.run_data["factors_rearranged"] is tca.factors_rearranged


def test_factors_rearranged_complex_concatenate_re_forms_complex_time():
    data, _, _, times = _planted_data(R=1, complex_time=True)
    tca = TCA(verbose=0)
    tca.rearrange_data(data, concat_complexDim=True, name_dim_concat_complexDim="time")
    assert tca.data["0"].shape == (10, 6, 92)  # real / imag interleaved along time
    _fit(tca, method="CP", R=1)
    f = tca.rearrange_factors(undo_concat_complexDim=True)["0"]
    t0 = f["trials"]["time_v0"]
    assert np.iscomplexobj(t0) and t0.shape == (20, 1)
    assert f["trials"]["time_v1"].shape == (26, 1) and not np.iscomplexobj(f["frequency"])
    assert _abs_corr(t0[:, 0], times["v0"][:, 0]) > 0.999


def test_factors_rearranged_stack_has_a_leading_element_dim():
    data, _, _, _ = _planted_data(lengths=(20, 20))
    tca = TCA(verbose=0)
    tca.rearrange_data(data, method_handling_dictElements="stack", name_dim_dictElements="videos")
    assert list(tca.data) == ["0"] and tca.data["0"].shape == (2, 10, 6, 20)
    _fit(tca)
    f = tca.rearrange_factors(undo_concat_dictElements=True, undo_concat_complexDim=True)["0"]
    assert f["videos"].shape == (2, 2) and f["(xy points)"].shape == (10, 2)
    assert tca.names_dims_array_postDecomp == ["videos", "(xy points)", "frequency", "time"]


def test_cleanup_empties_the_cuda_cache_only_after_a_cuda_fit(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append(1))
    tca = TCA(verbose=0)
    tca._cleanup()  # before any fit: garbage collection only
    assert calls == []
    tca._DEVICE = "cuda:0"
    tca._cleanup()
    assert calls == [1]
