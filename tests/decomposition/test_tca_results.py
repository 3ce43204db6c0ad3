"""tca.h5: write_tca_h5 / read_tca_file round trip, older and smaller files, element order."""

from __future__ import annotations

import numpy as np
import pytest

from face_rhythm.decomposition import (
    TCAError,
    TCAFile,
    TCAParams,
    read_tca_file,
    run_tca,
    tca_h5_dict,
    write_tca_h5,
)
from face_rhythm.h5_handling import simple_save
from face_rhythm.provenance import run_info


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(2)
    keys = [("s2", "v10"), ("s2", "v2"), ("s1", "v1")]  # not in sorted order
    lengths = (7, 9, 8)
    data = {f"{s}/{v}": rng.random((2, 5, 4, t)).astype(np.float32)
            for (s, v), t in zip(keys, lengths)}
    params = TCAParams(rank=2, params_method={"n_iter_max": 5, "init": "random", "tol": 0})
    (res,) = run_tca(data, params).values()
    meta = {f"{s}/{v}": {"session": s, "video": v,
                         "time_axis_seconds": np.arange(t) * 0.5 + 0.25}
            for (s, v), t in zip(keys, lengths)}
    freqs = np.geomspace(1.0, 20.0, 4)
    pts = {"s2": rng.random((5, 2)).astype(np.float32),
           "s1": rng.random((5, 2)).astype(np.float32)}
    return res, meta, freqs, pts


def test_round_trip(tmp_path, fitted):
    res, meta, freqs, pts = fitted
    info = run_info(config={"tca": {"rank": 2}}, extra={"fit_seconds": 1.5})
    path = tmp_path / "out" / "tca.h5"
    written = write_tca_h5(path, res, meta, freqs, pts["s2"], run_info=info,
                           extra={"point_positions_per_session": pts})
    got = read_tca_file(path)
    assert isinstance(got, TCAFile) and got.path == path and written.path == path
    assert got.rank == 2 and got.dims == ("(xy points)", "frequency", "time")
    for d, f in res.factors.items():
        np.testing.assert_array_equal(got.factors[d], f.astype(np.float32))
        assert got.factors[d].dtype == np.float32
    np.testing.assert_array_equal(got.weights, res.weights)
    np.testing.assert_array_equal(got.evr, res.evr)
    assert got.evr_total == res.evr_total
    np.testing.assert_array_equal(got.order, res.order)
    assert got.factors_points_xy.shape == (2, 5, 2)
    np.testing.assert_array_equal(got.frequencies, freqs)
    np.testing.assert_array_equal(got.point_positions, pts["s2"])
    assert set(got.point_positions_per_session) == {"s1", "s2"}
    np.testing.assert_array_equal(got.point_positions_per_session["s1"], pts["s1"])
    # per-video time factors come back in element order, whatever order HDF5 gives
    assert got.sessions == ("s2", "s2", "s1") and got.videos == ("v10", "v2", "v1")
    assert list(got.time_factors) == ["s2", "s1"] and list(got.time_factors["s2"]) == [
        "v10", "v2"]
    np.testing.assert_array_equal(got.time_factors["s2"]["v2"],
                                  res.rearranged["s2/v2"]["time"].astype(np.float32))
    np.testing.assert_array_equal(got.time_axis_seconds["s1"]["v1"], np.arange(8) * 0.5 + 0.25)
    assert got.n_iter == res.fit_info["n_iter"] and got.rec_errors.dtype == np.float64
    assert got.params["rank"] == 2 and got.params["rearrangement"]["keys"] == list(meta)
    assert got.run_info["extra"]["fit_seconds"] == 1.5
    # what the writer returns is what the reader reads
    for field in ("rank", "dims", "evr_total", "sessions", "videos", "n_iter", "params"):
        assert getattr(written, field) == getattr(got, field), field
    assert list(written.time_factors) == list(got.time_factors)


def test_from_dict_equals_the_file(tmp_path, fitted):
    res, meta, freqs, pts = fitted
    d = tca_h5_dict(res, meta, freqs, pts["s2"])
    simple_save(d, tmp_path / "tca.h5")
    a, b = TCAFile.from_dict(d), read_tca_file(tmp_path / "tca.h5")
    assert a.run_info is None and b.run_info is None
    np.testing.assert_array_equal(a.factors_points_xy, b.factors_points_xy)
    assert a.params == b.params and a.time_factors.keys() == b.time_factors.keys()
    # groups stored in another order come back in element order
    tf = d["time_factors"]
    shuffled = {**d, "time_factors": {"s1": tf["s1"], "s2": {"v2": tf["s2"]["v2"],
                                                             "v10": tf["s2"]["v10"]}}}
    c = TCAFile.from_dict(shuffled)
    assert [(s, v) for s, vids in c.time_factors.items() for v in vids] == [
        ("s2", "v10"), ("s2", "v2"), ("s1", "v1")]


def test_a_file_with_only_factors_is_read(tmp_path):
    rng = np.random.default_rng(0)
    f = {"(xy points)": rng.random((8, 3)), "frequency": rng.random((5, 3)),
         "time": rng.random((10, 3))}
    simple_save({"factors": f, "explained_variance_ratio": [0.5, 0.2, 0.1]}, tmp_path / "t.h5")
    got = read_tca_file(tmp_path / "t.h5")
    assert got.rank == 3 and set(got.dims) == set(f)
    np.testing.assert_allclose(got.evr, [0.5, 0.2, 0.1])
    assert got.weights is None and got.time_factors == {} and got.run_info is None
    assert got.params == {} and got.n_iter == 0


def test_missing_or_foreign_file(tmp_path):
    with pytest.raises(TCAError, match="TCA file not found"):
        read_tca_file(tmp_path / "none.h5")
    simple_save({"spectrograms": np.zeros((2, 2))}, tmp_path / "other.h5")
    with pytest.raises(TCAError, match="no 'factors' group"):
        read_tca_file(tmp_path / "other.h5")
