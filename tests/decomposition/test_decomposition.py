"""Tests of face_rhythm.decomposition (TCA): planted factors, round trips, EVR, errors, demo."""

from __future__ import annotations

import json
import logging
import runpy
import types
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from face_rhythm import decomposition as dec
from face_rhythm.h5_handling import simple_save
from face_rhythm.provenance import read_run_info

REPO = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- helpers
def planted(shape=(40, 12, 30), rank=3, noise=0.01, seed=0, scales=None):
    """Non-negative rank-R tensor from known factors plus uniform noise."""
    rng = np.random.default_rng(seed)
    factors = [rng.random((n, rank)) ** 2 for n in shape]
    w = np.ones(rank) if scales is None else np.asarray(scales, dtype=np.float64)
    x = np.einsum("r,ir,jr,kr->ijk", w, *factors)
    x = x + noise * x.std() * rng.random(x.shape)
    return x, w, factors


def reconstruct(weights, factors):
    return np.einsum("r,ir,jr,kr->ijk", weights, *factors)


# ----------------------------------------------------------------------------- planted recovery
@pytest.mark.parametrize("method", ["CP_NN_HALS", "CP"])
def test_planted_factors_recovered(method):
    x, _, factors = planted()
    w, f, info = dec.fit_cp(x, method, {"rank": 3, "n_iter_max": 300, "init": "random",
                                        "tol": 1e-10}, seed=0)
    score, _ = dec.factor_match_score(factors, f)
    assert score >= 0.95, score
    assert info["n_iter"] > 0
    # unit-norm columns, scale in weights, model reproduces the tensor
    for fi in f:
        np.testing.assert_allclose(np.linalg.norm(fi, axis=0), 1.0, rtol=1e-6)
    rel = np.linalg.norm(x - reconstruct(w, f)) / np.linalg.norm(x)
    assert rel < 0.02


def test_pytorch_backend_recovers_planted_factors():
    x, _, factors = planted(seed=3)
    _, f, info = dec.fit_cp(x, "CP_NN_HALS", {"rank": 3, "n_iter_max": 200, "init": "random"},
                            backend="pytorch", device="auto", seed=0)
    assert dec.factor_match_score(factors, f)[0] >= 0.95
    assert info["device"] in ("cpu", "cuda")


def test_randomized_and_constrained_cp_run():
    x, _, factors = planted(seed=4, noise=0.0)
    _, f, _ = dec.fit_cp(x, "RandomizedCP", {"rank": 3, "n_samples": 200, "n_iter_max": 200},
                         seed=0)
    assert dec.factor_match_score(factors, f)[0] >= 0.9
    _, f, _ = dec.fit_cp(x, "ConstrainedCP", {"rank": 3, "non_negative": True,
                                              "init": "random", "n_iter_max": 100}, seed=0)
    assert all(np.all(fi >= 0) for fi in f)
    assert dec.factor_match_score(factors, f)[0] >= 0.9


@pytest.mark.parametrize("backend", ["numpy", "pytorch"])
def test_same_seed_identical_factors(backend):
    x, _, _ = planted(shape=(20, 8, 15), seed=1, noise=0.05)
    kw = {"rank": 3, "n_iter_max": 10, "init": "random", "tol": 0}
    w1, f1, _ = dec.fit_cp(x, "CP_NN_HALS", kw, backend=backend, seed=7)
    w2, f2, _ = dec.fit_cp(x, "CP_NN_HALS", kw, backend=backend, seed=7)
    assert np.array_equal(w1, w2)
    assert all(np.array_equal(a, b) for a, b in zip(f1, f2))
    if backend == "numpy":  # a different seed gives a different start, hence factors
        _, f3, _ = dec.fit_cp(x, "CP_NN_HALS", kw, backend=backend, seed=8)
        assert not all(np.array_equal(a, b) for a, b in zip(f1, f3))
    # the default SVD init (randomized SVD) is seeded too
    kw = {"rank": 3, "n_iter_max": 10, "init": "svd", "svd": "randomized_svd", "tol": 0}
    _, g1, _ = dec.fit_cp(x, "CP_NN_HALS", kw, backend=backend, seed=7)
    _, g2, _ = dec.fit_cp(x, "CP_NN_HALS", kw, backend=backend, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(g1, g2))


# ----------------------------------------------------------------------------- fast MTTKRP
@pytest.mark.parametrize("backend", ["numpy", "pytorch"])
@pytest.mark.parametrize("shape", [(9, 4, 5), (4, 3, 9), (6, 5, 4, 3), (3, 4, 5, 6)])
def test_mttkrp_equals_tensorly_unfolding_dot_khatri_rao(backend, shape):
    import tensorly as tl
    from tensorly.tenalg.core_tenalg import unfolding_dot_khatri_rao

    rng = np.random.default_rng(len(shape) * 10 + shape[0])
    with tl.backend_context(backend):
        x = tl.tensor(rng.random(shape))
        fs = [tl.tensor(rng.random((n, 3))) for n in shape]
        fast = dec._fast_tenalg_backend()
        for w in (None, tl.tensor(rng.random(3) + 0.5)):
            for mode in range(len(shape)):
                ref = tl.to_numpy(unfolding_dot_khatri_rao(x, (w, fs), mode))
                got = tl.to_numpy(dec.mttkrp(x, w, fs, mode))
                np.testing.assert_allclose(got, ref, rtol=1e-12)
                np.testing.assert_allclose(
                    tl.to_numpy(fast.unfolding_dot_khatri_rao(x, (w, fs), mode)), ref,
                    rtol=1e-12)
        # the cached partial product must follow in-place changes of the contraction factor
        c = 0 if shape[0] >= shape[-1] else len(shape) - 1
        mode = 1
        fast.unfolding_dot_khatri_rao(x, (None, fs), mode)
        fs[c][0, 0] = fs[c][0, 0] + 1.0
        ref = tl.to_numpy(unfolding_dot_khatri_rao(x, (None, fs), mode))
        np.testing.assert_allclose(
            tl.to_numpy(fast.unfolding_dot_khatri_rao(x, (None, fs), mode)), ref, rtol=1e-12)


@pytest.mark.parametrize("method", ["CP_NN_HALS", "CP"])
def test_fast_mttkrp_fit_equals_tensorly_fit(method):
    x, _, _ = planted(shape=(30, 8, 12), seed=2, noise=0.05)
    kw = {"rank": 3, "n_iter_max": 30, "init": "random", "tol": 0}
    w1, f1, i1 = dec.fit_cp(x, method, kw, seed=1, dtype="float64")
    w2, f2, i2 = dec.fit_cp(x, method, kw, seed=1, dtype="float64", fast_mttkrp=False)
    assert (i1["mttkrp"], i2["mttkrp"]) == ("face_rhythm", "tensorly")
    np.testing.assert_allclose(w1, w2, rtol=1e-7)
    for a, b in zip(f1, f2):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)


def test_relative_error_known_answers():
    x, w, factors = planted(shape=(11, 5, 7), seed=3, noise=0.0)
    assert dec.relative_error(x, w, factors) < 1e-12
    # a model at half the scale leaves half the tensor: error 0.5
    assert dec.relative_error(x, 0.5 * w, factors) == pytest.approx(0.5, rel=1e-12)
    # chunking along the first dim does not change the answer
    x2 = x * 1.1
    e = np.linalg.norm(x2 - reconstruct(w, factors)) / np.linalg.norm(x2)
    assert dec.relative_error(x2, w, factors, chunk_elements=7) == pytest.approx(e, rel=1e-10)
    with pytest.raises(dec.TCAError, match="do not match"):
        dec.relative_error(x[:5], w, factors)


# ----------------------------------------------------------------------------- rearrangement
def _elements(rng, n_points=5, n_freq=4, lengths=(6, 3, 8), complex_=False):
    out = {}
    for i, t in enumerate(lengths):
        a = rng.random((2, n_points, n_freq, t))
        if complex_:
            a = a + 1j * rng.random(a.shape)
        out[f"s/v{i}"] = a.astype(np.complex64 if complex_ else np.float32)
    return out


def test_concatenate_dims_and_elements_layout_and_split_round_trip():
    rng = np.random.default_rng(0)
    data = _elements(rng)
    tensors, r = dec.rearrange_data(data, method_handling_dictElements="concatenate",
                                    name_dim_concat_dictElements="time")
    x = tensors["concatenated"]
    assert r.names_dims_preDecomp == ["(xy points)", "frequency", "time"]
    assert x.shape == (10, 4, 17) and r.element_lengths == [6, 3, 8]
    # index xy * N + point; videos end to end in time
    assert x[1 * 5 + 3, 2, 6 + 1] == data["s/v1"][1, 3, 2, 1]
    assert x[0 * 5 + 4, 0, 0] == data["s/v0"][0, 4, 0, 0]
    # factors made from known per-element vectors split back exactly
    R = 2
    pts = rng.random((2, 5, R))
    tpieces = [rng.random((n, R)) for n in (6, 3, 8)]
    freq = rng.random((4, R))
    factors = {"concatenated": {"(xy points)": pts.reshape(10, R), "frequency": freq,
                                "time": np.concatenate(tpieces)}}
    back, names = dec.rearrange_factors(factors, r)
    assert list(back) == list(data)
    for k, piece in zip(data, tpieces):
        assert np.array_equal(back[k]["time"], piece)
        assert np.array_equal(back[k]["(xy points)"], pts)
        assert np.array_equal(back[k]["frequency"], freq)
        assert names[k]["(xy points)"] == ["xy", "points", "rank"]


def test_concatenate_dims_inverse_on_data():
    rng = np.random.default_rng(1)
    a = rng.random((2, 5, 4, 7))
    y, names = dec.concatenate_dims(a, ["xy", "points", "frequency", "time"], "xy", "points")
    assert names == ["(xy points)", "frequency", "time"]
    assert np.array_equal(dec.split_dim(y, 0, 2), a)
    # folding a later dim into an earlier one moves it next to it
    y2, names2 = dec.concatenate_dims(a, ["xy", "points", "frequency", "time"], "time", "points")
    assert names2 == ["xy", "(time points)", "frequency"]
    assert y2[1, 3 * 5 + 2, 1] == a[1, 2, 1, 3]


def test_complex_unfold_and_reform_round_trip():
    rng = np.random.default_rng(2)
    data = _elements(rng, lengths=(4, 5), complex_=True)
    tensors, r = dec.rearrange_data(data, concat_complexDim=True, name_dim_concat_complexDim="time")
    x = tensors["concatenated"]
    assert not np.iscomplexobj(x) and x.shape == (10, 4, 18)
    v0 = data["s/v0"]
    assert x[5 + 1, 2, 2 * 3] == v0[1, 1, 2, 3].real
    assert x[5 + 1, 2, 2 * 3 + 1] == v0[1, 1, 2, 3].imag
    # data level
    u = dec.unfold_complex(v0, axis=3)
    assert np.array_equal(dec.refold_complex(u, axis=3), v0)
    # factor level: complex time factors per element come back exactly
    R = 3
    tc = [rng.random((n, R)) + 1j * rng.random((n, R)) for n in (4, 5)]
    tfac = np.concatenate([dec.unfold_complex(t, 0) for t in tc])
    factors = {"concatenated": {"(xy points)": rng.random((10, R)),
                                "frequency": rng.random((4, R)), "time": tfac}}
    back, _ = dec.rearrange_factors(factors, r)
    for k, t in zip(data, tc):
        assert np.array_equal(back[k]["time"], t)


def test_stack_separate_and_windows():
    rng = np.random.default_rng(3)
    data = _elements(rng, lengths=(6, 6))
    tensors, r = dec.rearrange_data(data, method_handling_dictElements="stack",
                                    name_dim_dictElements="videos")
    assert tensors["stacked"].shape == (2, 10, 4, 6)
    assert r.names_dims_preDecomp == ["videos", "(xy points)", "frequency", "time"]
    tensors, r = dec.rearrange_data(data, method_handling_dictElements="separate",
                                    idx_windows=[(1, 3), (0, 5)])
    assert list(tensors) == ["s/v0", "s/v1"]
    assert tensors["s/v0"].shape == (10, 4, 3)  # inclusive window 1..3
    assert np.array_equal(tensors["s/v0"][:, :, 0], data["s/v0"][:, :, :, 1].reshape(10, 4))
    with pytest.raises(dec.TCAError, match="window"):
        dec.rearrange_data(data, idx_windows=[(0, 6), (0, 5)])


def test_normalize_does_not_touch_input():
    rng = np.random.default_rng(4)
    x = rng.random((6, 5, 20)).astype(np.float32) + 3
    x0 = x.copy()
    y = dec.normalize_tensor(x, axis=2, mean_subtract=True, std_divide=True)
    assert np.array_equal(x, x0)
    np.testing.assert_allclose(y.mean(axis=2), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=2), 1, rtol=1e-4)


# ----------------------------------------------------------------------------- EVR
def test_evr_ordering_puts_planted_large_component_first():
    x, _, factors = planted(rank=3, scales=[1.0, 1.0, 6.0], noise=0.01, seed=5)
    x0 = x.copy()
    w, f, _ = dec.fit_cp(x, "CP_NN_HALS", {"rank": 3, "n_iter_max": 300, "init": "random"},
                         seed=0)
    order, w_o, f_o, evr, total = dec.order_by_evr(x, w, f)
    assert np.array_equal(x, x0)  # no in-place mutation
    assert sorted(order) == [0, 1, 2] and np.array_equal(w_o, w[order])
    assert np.all(np.diff(evr) <= 0)
    # the first component is the planted large one (index 2)
    cos = [abs(np.dot(f_o[0][:, 0], factors[0][:, k]) / np.linalg.norm(factors[0][:, k]))
           for k in range(3)]
    assert int(np.argmax(cos)) == 2 and max(cos) > 0.99
    # EVR against brute force: weights applied exactly once
    rec = reconstruct(w_o, f_o)
    brute_total = 1 - np.var(x - rec) / np.var(x)
    assert total == pytest.approx(brute_total, rel=1e-9)
    for r in range(3):
        rec_r = reconstruct(w_o[r:r + 1], [fi[:, r:r + 1] for fi in f_o])
        assert evr[r] == pytest.approx(1 - np.var(x - rec_r) / np.var(x), rel=1e-9, abs=1e-12)
    assert total > 0.99


# ----------------------------------------------------------------------------- errors
def test_error_cases():
    x, _, _ = planted()
    nn = {"rank": 3, "n_iter_max": 5}
    with pytest.raises(dec.TCAError, match="rank 13"):
        dec.fit_cp(x, "CP_NN_HALS", {**nn, "rank": 13})
    bad = x.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(dec.TCAError, match="NaN"):
        dec.fit_cp(bad, "CP_NN_HALS", nn)
    bad[0, 0, 0] = np.inf
    with pytest.raises(dec.TCAError, match="NaN/Inf"):
        dec.fit_cp(bad, "CP", nn)
    with pytest.raises(dec.TCAError, match="negative"):
        dec.fit_cp(x - x.mean(), "CP_NN_HALS", nn)
    dec.fit_cp(x - x.mean(), "CP", nn)  # signed CP takes negative values
    with pytest.raises(dec.TCAError, match="does not take"):
        dec.fit_cp(x, "CP_NN_HALS", {**nn, "n_iters": 5})
    with pytest.raises(dec.TCAError, match="not one of"):
        dec.fit_cp(x, "PARAFAC2", nn)
    with pytest.raises(dec.TCAError, match="mean_subtract"):
        dec.TCAParams.from_config({"normalize": {"mean_subtract": True}})
    with pytest.raises(dec.TCAError, match="unknown key"):
        dec.TCAParams.from_config({"rnak": 3})
    # sessions with different point counts cannot be combined
    rng = np.random.default_rng(0)
    data = {"a/v": rng.random((2, 5, 4, 6)), "b/v": rng.random((2, 6, 4, 6))}
    with pytest.raises(dec.TCAError, match="'b/v' has 12 along dim"):
        dec.rearrange_data(data)


def _write_spec(path, n_points, n_freq=6, n_time=9, seed=0, freqs=None):
    rng = np.random.default_rng(seed)
    simple_save({"spectrograms": rng.random((2, n_points, n_freq, n_time)).astype(np.float32),
                 "frequencies": np.geomspace(1, 30, n_freq) if freqs is None else freqs,
                 "x_axis_seconds": np.arange(n_time) * 0.2 + 0.1, "frame_rate": 90.0,
                 "point_positions": rng.random((n_points, 2)).astype(np.float32) * 50},
                path)
    return path


def test_load_spectrograms_checks_sessions(tmp_path):
    a = _write_spec(tmp_path / "a.h5", 7)
    b = _write_spec(tmp_path / "b.h5", 8)
    with pytest.raises(dec.TCAError, match="has 8 points but .*a.h5 has 7"):
        dec.load_spectrograms([a, b], ["s1", "s2"], ["v1", "v1"])
    c = _write_spec(tmp_path / "c.h5", 7, freqs=np.geomspace(1, 20, 6))
    with pytest.raises(dec.TCAError, match="frequencies differ"):
        dec.load_spectrograms([a, c], ["s1", "s2"], ["v1", "v1"])
    data, meta, freqs, pts = dec.load_spectrograms([a, a], ["s1", "s2"], ["v1", "v1"])
    assert list(data) == ["s1/v1", "s2/v1"] and set(pts) == {"s1", "s2"}
    assert meta["s2/v1"]["session"] == "s2" and freqs.shape == (6,)
    np.testing.assert_allclose(meta["s2/v1"]["time_axis_seconds"], np.arange(9) * 0.2 + 0.1)


# ----------------------------------------------------------------------------- class API
def test_tca_class_flow():
    rng = np.random.default_rng(6)
    n, f, lengths, R = 6, 5, (10, 14), 2
    pts = rng.random((2, n, R))
    freq = rng.random((f, R))
    data = {f"v{i}": np.einsum("xpr,fr,tr->xpft", pts, freq, rng.random((t, R)))
            for i, t in enumerate(lengths)}
    data0 = {k: v.copy() for k, v in data.items()}
    tca = dec.TCA(verbose=0)
    tca.rearrange_data(data, name_dim_dictElements="videos")
    tca.normalize_data(std_divide=True, dim_name="frequency")
    assert all(np.array_equal(data[k], data0[k]) for k in data)
    tca.fit(params_method={"rank": R, "n_iter_max": 200, "init": "random", "tol": 1e-12},
            backend="numpy", seed=0)
    orders, _, _, evrs = tca.order_factors_by_EVR()
    # the original's layout: one tensor "0"; factors stay (L, R); time split per video
    assert sorted(orders["0"]) == [0, 1]
    assert np.all(np.diff(evrs["0"]) <= 0)
    back = tca.rearrange_factors()
    assert back["0"]["videos"]["time_v1"].shape == (14, R)
    assert back["0"]["(xy points)"].shape == (2 * n, R)
    figs = tca.plot_factors(show_figures=False)
    assert len(figs) == 4


def test_tca_class_on_read_only_mapped_spectrograms(tmp_path, monkeypatch, caplog):
    """VQT_Analyzer returns a long video's spectrograms as read-only maps: the class takes
    them (one video, no normalisation: the tensor is a view) and fits what it fits in memory."""
    rng = np.random.default_rng(7)
    pts, freq, tc = rng.random((2, 6, 2)), rng.random((5, 2)), rng.random((12, 2))
    spec = np.einsum("xpr,fr,tr->xpft", pts, freq, tc).astype(np.float32)
    np.save(tmp_path / "s.npy", spec)
    factors = []
    for data in ({"0": spec}, {"0": np.load(tmp_path / "s.npy", mmap_mode="r")}):
        tca = dec.TCA(verbose=1)
        tca.rearrange_data(data, method_handling_dictElements="separate")
        tca.normalize_data(mean_subtract=False, std_divide=False)
        tca.fit(params_method={"rank": 2, "n_iter_max": 50, "init": "random", "tol": 1e-12},
                backend="numpy", seed=0)
        factors.append(tca.factors)
    monkeypatch.setattr(dec.notebook, "LARGE_TENSOR_GB", spec.nbytes / 2e9)
    with caplog.at_level(logging.WARNING):
        tca.fit(params_method={"rank": 2, "n_iter_max": 5, "init": "random"},
                backend="numpy", seed=0)
    assert "tca.strategy: streamed" in caplog.text  # a large tensor: where the streamed TCA is
    assert set(factors[0]["0"]) == {"(xy points)", "frequency", "time"}
    for name, a in factors[0]["0"].items():
        assert a.shape[1] == 2
        np.testing.assert_array_equal(factors[1]["0"][name], a)


# ----------------------------------------------------------------------------- workflow script
@pytest.mark.parametrize("all_sessions", [False, True])
def test_workflow_script_writes_tca_h5_and_figures(tmp_path, all_sessions):
    specs = [_write_spec(tmp_path / f"sp{i}.h5", 7, n_time=9 + i, seed=i) for i in range(2)]
    rois = tmp_path / "rois.h5"
    simple_save({"example_frame": np.full((60, 80), 100, np.uint8),
                 "point_positions": np.zeros((7, 2), np.float32)}, rois)
    cfg = {"per_session": True, "all_sessions": all_sessions, "rank": 3,
           "method": "CP_NN_HALS",
           "params_method": {"n_iter_max": 10, "init": "svd", "svd": "randomized_svd",
                             "tol": 1e-9},
           "backend": "numpy", "device": "cpu", "seed": 0,
           "normalize": {"mean_subtract": False, "std_divide": False, "dim": "time"},
           "rearrange": {"concatenate_dims": [["xy", "points"]], "combine": "concatenate"}}
    out = tmp_path / "res" / "tca.h5"
    figs = tmp_path / "res" / "figures" / "tca"
    if all_sessions:
        params = types.SimpleNamespace(tca=cfg, videos=["v1", "v1"], session="all_sessions",
                                       sessions=["s1", "s2"])
        s2 = "s2/v1"
    else:
        params = types.SimpleNamespace(tca=cfg, videos=["v1", "v2"], session="s1")
        s2 = "s1/v2"
    smk = types.SimpleNamespace(
        input=types.SimpleNamespace(spectrograms=[str(p) for p in specs],
                                    rois=[str(rois)] if all_sessions else str(rois)),
        output=types.SimpleNamespace(tca=str(out), figures=str(figs)),
        params=params, log=[str(tmp_path / "log.txt")], threads=1)
    runpy.run_path(str(REPO / "workflow" / "scripts" / "tca.py"), init_globals={"snakemake": smk})
    # a second identical run: equal everywhere outside run_info (wall time lives there)
    out2 = tmp_path / "res2" / "tca.h5"
    smk2 = types.SimpleNamespace(**{**vars(smk), "output": types.SimpleNamespace(
        tca=str(out2), figures=str(tmp_path / "res2" / "figures" / "tca"))})
    runpy.run_path(str(REPO / "workflow" / "scripts" / "tca.py"),
                   init_globals={"snakemake": smk2})
    assert _h5_outside_run_info(out) == _h5_outside_run_info(out2)
    with h5py.File(out, "r") as f:
        assert "fit_seconds" not in f
        assert "seconds" not in json.loads(f["params"][()])["fit"]
        extra = read_run_info(f["run_info"])["extra"]
        assert extra["fit_seconds"] > 0 and extra["n_iter"] == f["n_iter"][()]
        assert f["factors/(xy points)"].shape == (14, 3)
        assert f["factors_points_xy"].shape == (2, 7, 3)
        assert f["factors/time"].shape == (19, 3)
        assert f[f"time_factors/{s2}"].shape == (10, 3)
        np.testing.assert_array_equal(f[f"time_factors/{s2}"][()], f["factors/time"][9:])
        np.testing.assert_allclose(f[f"time_axis_seconds/{s2}"][()], np.arange(10) * 0.2 + 0.1)
        assert f["evr"].shape == (3,) and np.all(np.diff(f["evr"][()]) <= 0)
        assert 0 < f["evr_total"][()] <= 1
        assert "run_info" in f and "params" in f
    assert sorted(p.name for p in figs.iterdir()) == [
        "component_01.png", "component_02.png", "component_03.png", "evr.png"]


def test_hz_ticks_known_answers():
    np.testing.assert_array_equal(dec.hz_ticks(1.0, 40.0), [1, 2, 4, 8, 16, 32])
    np.testing.assert_array_equal(dec.hz_ticks(0.3, 8.0), [0.5, 1, 2, 4, 8])
    np.testing.assert_array_equal(dec.hz_ticks(3.0, 5.0), [3.0, 3.9, 5.0])  # narrow range
    with pytest.raises(dec.TCAError, match="positive"):
        dec.hz_ticks(-2.0, 0.0)


def test_component_figure_is_readable():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    pts = rng.uniform(5, 75, (30, 2))
    freqs = np.geomspace(0.9, 45.0, 36)
    tcs = [(f"s1/v{i}", np.arange(50) / 10.0, rng.random(50)) for i in range(2)]
    fig = dec.plot_component(np.full((60, 80), 100, np.uint8), pts, rng.random((2, 30)), freqs,
                             rng.random(36), tcs, title="component 1")
    fig.canvas.draw()
    freq_ax = next(a for a in fig.axes if a.get_xlabel() == "frequency (Hz)")
    labels = [t.get_text() for t in freq_ax.get_xticklabels() if t.get_visible()]
    assert labels == ["1", "2", "4", "8", "16", "32"]
    assert all(t.get_text() == "" for t in freq_ax.get_xticklabels(minor=True))
    # no two tick labels and no label of the colour bar overlap anything else on the figure
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in freq_ax.get_xticklabels()
             if t.get_text()]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    cbar_ax = next(a for a in fig.axes if "spatial loading" in a.get_xlabel())
    cb_label = cbar_ax.xaxis.label.get_window_extent(renderer)
    others = [a.get_tightbbox(renderer) for a in fig.axes if a is not cbar_ax]
    assert not any(cb_label.overlaps(b) for b in others)
    plt.close(fig)


@pytest.mark.parametrize("n_videos, with_frame", [(2, True), (8, False), (1, False)])
def test_updated_component_figure_has_the_pixels_of_a_new_one(n_videos, with_frame):
    """save_tca_figures draws the next component into the figure of the previous one: the
    same pixels as a new figure, through sign changes of the loadings (another colour map),
    scales a thousand times apart, and the one-panel layout of more than 6 videos."""
    import io

    import matplotlib
    from PIL import Image

    from face_rhythm.decomposition.figures import _ComponentFigure

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def pixels(fig):
        buf = io.BytesIO()
        fig.savefig(buf, dpi=50, format="png")
        return np.asarray(Image.open(buf))

    rng = np.random.default_rng(n_videos)
    frame = rng.integers(0, 255, (60, 80), dtype=np.uint8) if with_frame else None
    pts, freqs = rng.uniform(5, 75, (30, 2)), np.geomspace(1.0, 60.0, 12)
    reused = None
    for r in range(4):
        pxy = rng.random((2, 30)) - (0.5 if r % 2 else 0.0)
        ff = rng.random(12) * 10.0 ** r
        tcs = [(f"s/v{k}", np.arange(10 + k) / 5.0, rng.random(10 + k) * (r + 1))
               for k in range(n_videos)]
        new = dec.plot_component(frame, pts, pxy, freqs, ff, tcs, title=f"component {r}")
        if reused is None:
            reused = _ComponentFigure(frame, pts, pxy, freqs, ff, tcs, f"component {r}")
        else:
            reused.update(pxy, ff, tcs, f"component {r}")
        a, b = pixels(new), pixels(reused.fig)
        plt.close(new)
        assert a.shape == b.shape and np.array_equal(a, b), f"component {r}"
    with pytest.raises(dec.TCAError, match="without"):
        reused.update(pxy, ff, tcs, "")
    plt.close(reused.fig)


def _h5_outside_run_info(path):
    """Every dataset of an HDF5 file outside ``run_info``: name -> (dtype, shape, bytes)."""
    out = {}

    def visit(name, obj):
        if "run_info" not in name.split("/") and isinstance(obj, h5py.Dataset):
            v = obj[()]
            if obj.dtype.kind == "O":  # variable-length strings
                v = repr(np.asarray(v).tolist()).encode()
            out[name] = (str(obj.dtype), obj.shape,
                         v if isinstance(v, (bytes, str)) else np.asarray(v).tobytes())

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


def test_config_tca_section_matches_library_defaults():
    import yaml

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["tca"]
    assert dec.TCAParams.from_config(cfg) == dec.TCAParams()


# ----------------------------------------------------------------------------- synthetic demo
def _grid_points(face, spacing=10):
    from face_rhythm.synthetic import demo_rois

    poly = np.asarray(demo_rois(face)["face"], np.float32)
    mask = np.zeros((face.height, face.width), np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    ys, xs = np.nonzero(mask)
    gx, gy = np.meshgrid(np.arange(xs.min(), xs.max(), spacing),
                         np.arange(ys.min(), ys.max(), spacing))
    pts = np.stack([gx.ravel(), gy.ravel()], 1)
    return pts[mask[pts[:, 1], pts[:, 0]] > 0].astype(np.float32)


def _track(face, pts):
    prev = face.render(0)
    p = pts.reshape(-1, 1, 2).copy()
    out = np.empty((face.n_frames, len(pts), 2), np.float32)
    out[0] = pts
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 10, 0.03)
    for t in range(1, face.n_frames):
        cur = face.render(t)
        p, _, _ = cv2.calcOpticalFlowPyrLK(prev, cur, p, None, winSize=(21, 21), maxLevel=2,
                                           criteria=crit)
        out[t] = p[:, 0]
        prev = cur
    return out


def _spectrograms(traces, fs, n_bins=36, ds=10):
    """Displacements -> VQT magnitude -> the analyzer's normalisation, (2, N, F, T)."""
    import torch
    import vqt

    disp = traces - traces[:1]
    rows = np.concatenate([disp[:, :, 0].T, disp[:, :, 1].T], 0)
    m = vqt.VQT(Fs_sample=fs, Q_lowF=4, Q_highF=10, F_min=1.0, F_max=40.0, n_freq_bins=n_bins,
                window_type="hann", symmetry="center", downsample_factor=ds, padding="same",
                fft_conv=True, take_abs=True, verbose=0)
    with torch.no_grad():
        s = m(torch.as_tensor(rows, dtype=torch.float32)).numpy()
    if s.shape[1] != n_bins:
        s = s.transpose(0, 2, 1)
    freqs = np.asarray(m.freqs, dtype=np.float64)
    s = s / (0.95 * s.sum(1).mean(0)[None, None] + 0.05)
    s = s * freqs[None, :, None] ** 0.5
    return s.reshape(2, traces.shape[1], n_bins, -1).astype(np.float32), freqs


@pytest.fixture(scope="module")
def synthetic_spectrogram():
    from face_rhythm.synthetic import default_face

    face = default_face(duration_s=4.0, seed=0)
    pts = _grid_points(face)
    spec, freqs = _spectrograms(_track(face, pts), face.frame_rate)
    return face, pts, spec, freqs


def test_synthetic_demo_regions_recovered_with_rank_6(synthetic_spectrogram):
    face, pts, spec, freqs = synthetic_spectrogram
    params = dec.TCAParams()  # the defaults (mirrors config/config.yaml)
    assert params.rank == 6
    res = dec.run_tca({"demo/video01": spec}, params)["concatenated"]
    pxy = res.rearranged["demo/video01"]["(xy points)"]  # (2, N, R)
    ff = res.factors["frequency"]
    maps, dirs = face.spatial_maps(pts), face.directions()
    for k, comp in enumerate(face.components):
        true = np.concatenate([abs(dirs[k, 0]) * maps[k], abs(dirs[k, 1]) * maps[k]])
        target = int(np.argmin(np.abs(np.log(freqs) - np.log(comp.frequency_hz))))
        found = [(np.corrcoef(true, pxy[:, :, r].ravel())[0, 1], int(np.argmax(ff[:, r])))
                 for r in range(res.weights.size)]
        ok = [c for c, peak in found if c >= 0.9 and abs(peak - target) <= 1]
        assert ok, f"{comp.name}: (corr, peak bin) {found}, target bin {target}"
    assert res.evr_total > 0.95


def test_randomized_svd_init_is_tensorlys_to_the_bit_with_one_copy_less():
    """``svd: randomized_svd`` on the numpy backend runs face_rhythm's copy of tensorly's
    algorithm without the conjugate-transpose copy: identical factors, less memory."""
    import tracemalloc

    from tensorly.decomposition._cp import initialize_cp
    from tensorly.tenalg import svd as tl_svd

    from face_rhythm.decomposition.svd import randomized_svd

    rng = np.random.default_rng(7)
    x = rng.random((300, 12, 200), dtype=np.float32)  # 2.7 MB
    peaks, inits = {}, {}
    for name, fn in (("tensorly", tl_svd.randomized_svd), ("face_rhythm", randomized_svd)):
        tracemalloc.start()
        inits[name] = initialize_cp(x, 5, init="svd", svd=fn, non_negative=True,
                                    random_state=3)
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    for a, b in zip(inits["tensorly"].factors, inits["face_rhythm"].factors):
        np.testing.assert_array_equal(a, b)
    assert peaks["tensorly"] - peaks["face_rhythm"] > 0.8 * x.nbytes, peaks
    kw = {"rank": 5, "n_iter_max": 15, "init": "svd", "tol": 0}
    w1, f1, _ = dec.fit_cp(x, "CP_NN_HALS", {**kw, "svd": "randomized_svd"}, seed=3)
    w2, f2, _ = dec.fit_cp(x, "CP_NN_HALS", {**kw, "svd": tl_svd.randomized_svd}, seed=3)
    np.testing.assert_array_equal(w1, w2)
    for a, b in zip(f1, f2):
        np.testing.assert_array_equal(a, b)
    cplx = (rng.random((40, 30)) + 1j * rng.random((40, 30))).astype(np.complex64)
    for a, b in zip(randomized_svd(cplx, 4, random_state=0),
                    tl_svd.randomized_svd(cplx, 4, random_state=0)):
        np.testing.assert_array_equal(a, b)


def test_tall_range_basis_is_orthonormalised_in_blocks_with_the_same_svd(monkeypatch):
    """A tall range basis goes through the blockwise QR (``tall_q``): an orthonormal basis
    of the same columns, and the randomized SVD's U, S, V equal tensorly's to rounding (up to
    the signs of singular pairs, which tensorly's ``svd_interface`` then fixes)."""
    from tensorly.tenalg import svd as tl_svd

    from face_rhythm.decomposition import svd as fr_svd

    rng = np.random.default_rng(11)
    y = rng.standard_normal((5003, 7)).astype(np.float32)
    q = fr_svd.tall_q(y, block=600)
    assert q.shape == y.shape and q.dtype == np.float32
    np.testing.assert_allclose(q.T.astype(np.float64) @ q, np.eye(7), atol=1e-6)
    np.testing.assert_allclose(q @ (q.T @ y), y, atol=1e-4)
    # its Q spans what numpy's spans: the projections agree
    q_np = np.linalg.qr(y)[0]
    np.testing.assert_allclose(q @ q.T @ q_np, q_np, atol=1e-5)

    calls = []
    real_tall_q = fr_svd.tall_q
    monkeypatch.setattr(fr_svd, "TALL_ROWS", 1000)
    monkeypatch.setattr(fr_svd, "tall_q",
                        lambda m: calls.append(m.shape) or real_tall_q(m, block=700))
    low = rng.random((24, 4)) @ rng.random((4, 6000))
    for a in (low.astype(np.float32), low.T.astype(np.float32)):
        a = a + np.float32(0.01) * rng.random(a.shape, dtype=np.float32)
        u, s_, v = fr_svd.randomized_svd(a, 6, random_state=3)
        ours = (*tl_svd.svd_flip(u, v), s_)  # as tensorly's svd_interface flips both
        u, s_, v = tl_svd.randomized_svd(a, n_eigenvecs=6, random_state=3)
        theirs = (*tl_svd.svd_flip(u, v), s_)
        for x, z in zip(ours, theirs):
            np.testing.assert_allclose(x, z, rtol=1e-4, atol=1e-5 * np.abs(z).max())
    assert len(calls) == 6 and all(c[0] == 6000 for c in calls), calls


def test_one_video_and_no_normalisation_copy_nothing():
    """A single contiguous element is folded and 'concatenated' as a view of the input, and
    normalisation with neither option returns the tensor itself: no copy of the data."""
    rng = np.random.default_rng(2)
    spec = rng.random((2, 5, 4, 30), dtype=np.float32)
    tensors, rearr = dec.rearrange_data({"v": spec}, names_dims_concat_array=[["xy", "points"]],
                                        method_handling_dictElements="concatenate")
    x = tensors["concatenated"]
    assert x.shape == (10, 4, 30) and np.shares_memory(x, spec)
    np.testing.assert_array_equal(x, spec.reshape(10, 4, 30))
    assert rearr.element_lengths == [30]
    assert dec.normalize_tensor(x, 2) is x
    z = dec.normalize_tensor(x, 2, mean_subtract=True)
    assert not np.shares_memory(z, x) and np.allclose(z.mean(axis=2), 0, atol=1e-6)
    np.testing.assert_array_equal(x, spec.reshape(10, 4, 30))  # input untouched
    two, _ = dec.rearrange_data({"a": spec, "b": spec}, method_handling_dictElements="concatenate")
    assert two["concatenated"].shape == (10, 4, 60)
    assert not np.shares_memory(two["concatenated"], spec)


def test_sum_squares_is_numpys_to_the_bit_in_blocks(monkeypatch):
    from face_rhythm.decomposition import fit as dec_fit

    monkeypatch.setattr(dec_fit, "SUM_SQUARES_BLOCK", 1000)
    rng = np.random.default_rng(11)
    for n in (1, 7, 999, 1000, 1001, 8191, 123_457, 2_000_003):
        x = (rng.standard_normal(n) * 10 ** rng.uniform(-3, 3, n)).astype(np.float32)
        assert dec_fit.sum_squares(x) == np.sum(np.abs(x) ** 2), n
        assert dec_fit.sum_squares(x.astype(np.float64)) == np.sum(np.abs(x.astype(float)) ** 2)


def test_fit_norm_needs_no_tensor_sized_temporaries_and_keeps_the_numbers(monkeypatch):
    """tensorly's ``norm`` of the whole tensor (``sqrt(sum(abs(x) ** 2))``: a temporary of
    the tensor's size, which numpy reuses for the square) is computed in blocks during a
    numpy fit: the same factors and errors as with tensorly's own norm, and the fit's peak
    no longer holds a copy of the tensor."""
    import tracemalloc

    import tensorly as tl

    from face_rhythm.decomposition import fit as dec_fit

    rng = np.random.default_rng(5)
    x = rng.random((200, 30, 250), dtype=np.float32)  # 6 MB
    kw = {"rank": 4, "n_iter_max": 12, "init": "random", "tol": 0}
    monkeypatch.setattr(dec_fit, "SUM_SQUARES_BLOCK", 50_000)
    backend = dec_fit._light_numpy_backend()
    assert backend.norm(x) == tl.norm(x) and backend.norm(x[:, ::2]) == tl.norm(x[:, ::2])
    tracemalloc.start()
    w1, f1, i1 = dec.fit_cp(x, "CP_NN_HALS", kw, seed=2)
    light_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    monkeypatch.setattr(dec_fit, "_light_numpy_backend", lambda: "numpy")  # tensorly's own
    tracemalloc.start()
    w2, f2, i2 = dec.fit_cp(x, "CP_NN_HALS", kw, seed=2)
    plain_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(i1["rec_errors"], i2["rec_errors"])
    for a, b in zip(f1, f2):
        np.testing.assert_array_equal(a, b)
    assert plain_peak - light_peak > 0.7 * x.nbytes, (plain_peak, light_peak)
