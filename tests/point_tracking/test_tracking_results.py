"""tracking.h5: the one writer and the one reader, round trip."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.sparse

from face_rhythm import point_tracking as fpt
from face_rhythm.h5_handling import simple_save
from face_rhythm.provenance import run_info


def _texture(h=64, w=80, seed=0):
    rng = np.random.default_rng(seed)
    import cv2
    z = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.5)
    return np.clip(128 + 40 * z / z.std(), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def result():
    tex = _texture()
    video = np.stack([np.roll(tex, (0, i // 4), axis=(0, 1)) for i in range(20)])
    ys, xs = np.mgrid[16:48:8, 16:64:8]
    pts = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
    res = fpt.track_array(video, pts, fpt.PROJECT_PARAMS.replace(threshold_displacement=1.5))
    res.frame_rate = 30.0
    assert res.violations["row"].size > 0  # the test needs some flags
    return res


def _check(t: fpt.TrackingFile, res: fpt.TrackingResult, params: dict) -> None:
    np.testing.assert_array_equal(np.asarray(t.points_tracked[()]), res.points_tracked)
    np.testing.assert_array_equal(t.point_positions, res.point_positions)
    np.testing.assert_array_equal(t.neighbors, res.neighbors)
    assert t.point_positions.dtype == np.float32 and t.neighbors.dtype == np.int64
    assert isinstance(t.violations, scipy.sparse.coo_array)
    assert t.violations.shape == (t.n_frames, t.n_points) == res.points_tracked.shape[:2]
    dense = np.zeros(t.violations.shape, bool)
    dense[res.violations["row"], res.violations["col"]] = True
    np.testing.assert_array_equal(t.violations.toarray(), dense)
    assert t.violation_fraction == pytest.approx(res.violation_fraction)
    assert t.frame_rate == 30.0
    assert t.params == params


def test_round_trip_from_a_result(result, tmp_path):
    info = run_info({"tracking": {"chunk_size": 8}}, inputs=[])
    path = fpt.write_tracking_h5(tmp_path / "tracking.h5", result, run_info=info, chunk_size=8)
    t = fpt.read_tracking_file(path)
    assert isinstance(t.points_tracked, np.ndarray) and t.points_tracked.dtype == np.float32
    _check(t, result, fpt.PROJECT_PARAMS.replace(threshold_displacement=1.5).to_reference())
    assert t.run_info["config"] == {"tracking": {"chunk_size": 8}}
    assert t.path == path
    with h5py.File(path) as f:
        assert f["points_tracked"].chunks == (8, result.points_tracked.shape[1], 2)
    assert list(tmp_path.iterdir()) == [path]


def test_streamed_write_and_open_without_reading(result, tmp_path):
    seen = {}

    def track(out):
        seen["out"] = out
        out[...] = result.points_tracked
        return result

    path = fpt.write_tracking_h5(tmp_path / "t.h5", track, params={"idx_start": 0},
                                 run_info=lambda res: {"n_rewinds": res.n_rewinds},
                                 shape=result.points_tracked.shape[:2])
    assert isinstance(seen["out"], h5py.Dataset)
    with fpt.open_tracking_file(path) as t:
        assert isinstance(t.points_tracked, h5py.Dataset)
        np.testing.assert_array_equal(t.points_tracked[-1], result.points_tracked[-1])
        _check(t, result, {"idx_start": 0})
        assert t.run_info == {"n_rewinds": result.n_rewinds}
    with pytest.raises(fpt.TrackingError, match="shape"):
        fpt.write_tracking_h5(tmp_path / "u.h5", track)
    assert not (tmp_path / "u.h5").exists()


def test_minimal_file_and_errors(tmp_path):
    pts = np.zeros((5, 3, 2), np.float32)
    home = np.zeros((3, 2), np.float32)
    simple_save({"points_tracked": pts, "point_positions": home, "frame_rate": 50.0},
                tmp_path / "min.h5")
    t = fpt.read_tracking_file(tmp_path / "min.h5")
    assert (t.n_frames, t.n_points, t.frame_rate) == (5, 3, 50.0)
    assert t.neighbors is t.violations is t.violation_fraction is t.params is t.run_info is None
    simple_save({"points_tracked": pts, "point_positions": home}, tmp_path / "nofr.h5")
    with pytest.raises(fpt.TrackingError, match=r"nofr.h5: no 'frame_rate' dataset"):
        fpt.read_tracking_file(tmp_path / "nofr.h5")
    simple_save({"points_tracked": pts, "point_positions": home[:2], "frame_rate": 5.0},
                tmp_path / "shape.h5")
    with pytest.raises(fpt.TrackingError, match=r"must be \(T, N, 2\) and \(N, 2\)"):
        fpt.read_tracking_file(tmp_path / "shape.h5")
    simple_save({"points_tracked": pts, "point_positions": home, "frame_rate": 0.0},
                tmp_path / "zero.h5")
    with pytest.raises(fpt.TrackingError, match="frame_rate=0.0 Hz"):
        fpt.read_tracking_file(tmp_path / "zero.h5")
    with pytest.raises(fpt.TrackingError, match="no such tracking file"):
        fpt.read_tracking_file(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(fpt.TrackingError, match="not a readable HDF5 file"):
        fpt.read_tracking_file(tmp_path / "junk.h5")
