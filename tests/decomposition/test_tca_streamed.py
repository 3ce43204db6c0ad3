"""The streamed TCA (tca.strategy streamed): sample, NNLS time factors, full-data statistics,
and the three stages against the in-memory path on data that fits."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from scipy.optimize import nnls

from face_rhythm.decomposition import (
    TCAError,
    explained_variance_ratios,
    full_fit_statistics,
    mttkrp_time,
    read_tca_file,
    relative_error,
    sample_time_bins,
    solve_time_factors,
    tca_collect_stage,
    tca_fit_stage,
    tca_stage,
    tca_time_factors_stage,
    time_factor_gram,
)
from face_rhythm.decomposition.streamed import chunk_statistics
from face_rhythm.h5_handling import simple_save

RANK = 3


def _planted(path, n_points, n_freqs, n_time, rng, a, b):
    c = rng.random((n_time, a.shape[1]))
    x = np.einsum("ir,fr,tr->ift", a, b, c) + 0.01 * rng.random((2 * n_points, n_freqs, n_time))
    simple_save({"spectrograms": x.reshape(2, n_points, n_freqs, n_time).astype(np.float32),
                 "frequencies": np.geomspace(1, 30, n_freqs),
                 "x_axis_seconds": np.arange(n_time) * 0.2, "frame_rate": 30.0,
                 "point_positions": rng.random((n_points, 2)).astype(np.float32)}, path,
                write_mode="w")
    return path


@pytest.fixture(scope="module")
def two_videos(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("streamed")
    rng = np.random.default_rng(0)
    n, f = 12, 6
    a, b = rng.random((2 * n, RANK)), rng.random((f, RANK))
    specs = [_planted(tmp / f"sp{i}.h5", n, f, t, rng, a, b) for i, t in enumerate([40, 55])]
    rois = tmp / "rois.h5"
    simple_save({"example_image": np.full((40, 50), 90, np.uint8),
                 "point_positions": np.zeros((n, 2), np.float32)}, rois)
    return tmp, specs, rois


def _streamed(tmp, specs, rois, cfg, sessions=("s", "s"), videos=("a", "b")):
    fit = tmp / "parts" / "fit.h5"
    tca_fit_stage(specs, fit, cfg, session="s", videos=list(videos), sessions=list(sessions))
    parts = []
    for p, s, v in zip(specs, sessions, videos):
        parts.append(tmp / "parts" / s / f"{v}.h5")
        tca_time_factors_stage(p, fit, parts[-1], cfg, session=s, video=v)
    return tca_collect_stage(fit, parts, tmp / "streamed.h5", None, cfg, session="s",
                             rois=rois)


def test_sample_takes_blocks_from_every_video_seeded():
    got = sample_time_bins([1000, 100, 3000], time_bins=400, block_bins=20, seed=3)
    assert all(len(g) > 0 for g in got)  # every video, even the short one
    total = sum(len(g) for g in got)
    assert 400 <= total <= 460
    for g, t in zip(got, [1000, 100, 3000]):
        assert np.all(np.diff(g) > 0) and g[-1] < t
        assert set(np.unique(g // 20)) == set(g // 20) and len(g) % 20 == 0  # whole blocks
    assert len(got[2]) > 2 * len(got[0])  # stratified by length
    again = sample_time_bins([1000, 100, 3000], time_bins=400, block_bins=20, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(got, again))
    other = sample_time_bins([1000, 100, 3000], time_bins=400, block_bins=20, seed=4)
    assert not all(np.array_equal(x, y) for x, y in zip(got, other))
    full = sample_time_bins([5, 7], time_bins=12, block_bins=4, seed=0)
    assert [list(g) for g in full] == [list(range(5)), list(range(7))]


def test_time_factors_are_exact_nnls_per_bin():
    rng = np.random.default_rng(1)
    a, b = rng.random((10, 4)), rng.random((5, 4))
    x = rng.standard_normal((10, 5, 30)) + 0.5  # rows with negative parts: active constraints
    m = mttkrp_time(x, [a, b])
    kr = (a[:, None, :] * b[None, :, :]).reshape(-1, 4)
    np.testing.assert_allclose(m, x.reshape(50, 30).T @ kr, rtol=1e-10)
    c = solve_time_factors(time_factor_gram([a, b]), m)
    want = np.stack([nnls(kr, x.reshape(50, 30)[:, t])[0] for t in range(30)])
    assert (want == 0).any()
    np.testing.assert_allclose(c, want, atol=1e-8)
    signed = solve_time_factors(time_factor_gram([a, b]), m, non_negative=False)
    np.testing.assert_allclose(signed, np.linalg.lstsq(kr, x.reshape(50, 30), rcond=None)[0].T,
                               atol=1e-8)


def test_full_fit_statistics_equal_the_whole_tensor_ones():
    rng = np.random.default_rng(2)
    a, b = rng.random((8, 3)), rng.random((4, 3))
    a, b = a / np.linalg.norm(a, axis=0), b / np.linalg.norm(b, axis=0)
    xs = [rng.random((8, 4, t)) for t in (9, 14)]
    cs = [rng.random((t, 3)) for t in (9, 14)]
    stats = [chunk_statistics(x, mttkrp_time(x, [a, b]), c) for x, c in zip(xs, cs)]
    got = full_fit_statistics([a, b], cs, stats)
    x = np.concatenate(xs, axis=2)
    c = np.concatenate(cs)
    w = np.linalg.norm(c, axis=0)
    evr, total = explained_variance_ratios(x, w, [a, b, c / w])
    np.testing.assert_allclose(got["weights"], w, rtol=1e-12)
    np.testing.assert_allclose(got["evr"], evr, rtol=1e-9)
    assert got["evr_total"] == pytest.approx(total, rel=1e-9)
    assert got["relative_error"] == pytest.approx(relative_error(x, w, [a, b, c / w]),
                                                  rel=1e-9)


def test_streamed_with_every_bin_gives_the_in_memory_factors(two_videos):
    tmp, specs, rois = two_videos
    cfg = {"rank": RANK}
    mem = tca_stage(specs, rois, tmp / "mem.h5", tmp / "figm", cfg, session="s",
                    videos=["a", "b"])
    streamed_cfg = {**cfg, "strategy": "streamed", "streamed": {"time_bins": 10**6,
                                                                "chunk_mb": 0.002}}
    _streamed(tmp, specs, rois, streamed_cfg)
    st = read_tca_file(tmp / "streamed.h5")  # the same reader and keys
    mem = read_tca_file(tmp / "mem.h5")
    assert st.dims == mem.dims and st.sessions == mem.sessions and st.videos == mem.videos
    np.testing.assert_array_equal(st.order, mem.order)
    for d in mem.factors:
        np.testing.assert_allclose(st.factors[d], mem.factors[d], atol=2e-5)
    np.testing.assert_allclose(st.factors_points_xy, mem.factors_points_xy, atol=2e-5)
    for v in ("a", "b"):
        np.testing.assert_allclose(st.time_factors["s"][v], mem.time_factors["s"][v], atol=2e-5)
        np.testing.assert_array_equal(st.time_axis_seconds["s"][v], mem.time_axis_seconds["s"][v])
    np.testing.assert_allclose(st.weights, mem.weights, rtol=1e-4)
    np.testing.assert_allclose(st.evr, mem.evr, atol=1e-5)
    assert st.evr_total == pytest.approx(mem.evr_total, abs=1e-6)
    assert st.params["fit"]["strategy"] == "streamed"
    assert 0 < st.params["fit"]["relative_error"] < 0.05


def test_time_factor_job_memory_does_not_hold_the_video(tmp_path):
    rng = np.random.default_rng(4)
    n, f, t = 100, 20, 1200  # 19 MB of float32 (over the 16 MiB that run_info hashes)
    a, b = rng.random((2 * n, RANK)), rng.random((f, RANK))
    spec = _planted(tmp_path / "sp.h5", n, f, t, rng, a, b)
    cfg = {"rank": RANK, "params_method": {"n_iter_max": 20, "init": "svd", "tol": 1e-9},
           "strategy": "streamed", "streamed": {"time_bins": 100, "chunk_mb": 0.5}}
    tca_fit_stage([spec], tmp_path / "fit.h5", cfg, session="s", videos=["a"])
    tracemalloc.start()
    try:
        out = tca_time_factors_stage(spec, tmp_path / "fit.h5", tmp_path / "tf.h5", cfg,
                                     session="s", video="a")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out["time_factors"].shape == (t, RANK)
    assert peak < 5e6, f"peak {peak / 1e6:.1f} MB for a 19 MB video in 0.5 MB chunks"


@pytest.mark.parametrize("cfg, message", [
    ({"normalize": {"std_divide": True}}, "tca.normalize"),
    ({"rearrange": {"combine": "stack"}}, "streamed strategy concatenates"),
    ({"streamed": {"time_bin": 3}}, "unknown key 'time_bin'"),
    ({"streamed": {"chunk_mb": 0}}, "must be positive"),
])
def test_streamed_refuses_what_it_cannot_do_before_reading(tmp_path, cfg, message):
    with pytest.raises(TCAError, match=message):
        tca_fit_stage([tmp_path / "missing.h5"], tmp_path / "fit.h5",
                      {"strategy": "streamed", **cfg}, session="s", videos=["a"])
    assert not (tmp_path / "fit.h5").exists()
