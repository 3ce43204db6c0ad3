"""rois.h5: the writer and the one reader (RoisFile), and ROI sets read back through it."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from face_rhythm.provenance import run_info
from face_rhythm.rois import (
    RoiError,
    ROIs,
    RoiSet,
    RoisFile,
    load_example_image,
    load_rois,
    read_rois_h5,
    roiset_from_rois_file,
    save_rois_h5,
)


def _roiset() -> RoiSet:
    return RoiSet({"face": [[5, 5], [70, 8], [65, 55], [8, 50]],
                   "pad": [[20, 15], [60, 18], [55, 45], [22, 40]]}, (60, 80),
                  point_spacing=5, points_from=["face", "pad"], mask_from=["face"])


def test_round_trip(tmp_path):
    rs = _roiset()
    frame = np.arange(60 * 80, dtype=np.uint8).reshape(60, 80)
    path = save_rois_h5(rs, tmp_path / "rois.h5", run_info=run_info({"rois": {"a": 1}}),
                        example_image=frame)
    rf = read_rois_h5(path)
    assert isinstance(rf, RoisFile) and rf.path == path
    assert rf.point_positions.dtype == np.float32 and rf.n_points == len(rs.points())
    assert np.array_equal(rf.point_positions, rs.points())
    assert rf.mask.dtype == bool and np.array_equal(rf.mask, rs.tracking_mask())
    assert list(rf.masks) == list(rf.polygons) == ["face", "pad"]
    for n, m in rs.masks().items():
        assert np.array_equal(rf.masks[n], m) and rf.masks[n].dtype == bool
        assert np.array_equal(rf.polygons[n], rs.polygons[n])
        assert rf.polygons[n].dtype == np.float32
    assert rf.point_spacing == 5 and rf.frame_height_width == (60, 80)
    assert rf.points_from == ["face", "pad"] and rf.mask_from == ["face"]
    assert rf.example_frame.dtype == np.uint8 and np.array_equal(rf.example_frame, frame)
    assert rf.run_info["config"] == {"rois": {"a": 1}}
    back = roiset_from_rois_file(rf)
    assert np.array_equal(back.points(), rs.points()) and back.fixed_points is None
    assert back.mask_from == ["face"] and back.source == str(path)
    assert np.array_equal(load_example_image(path), frame)
    assert np.array_equal(ROIs("file", path_file=path).exampleImage, frame)


def test_whole_frame_mask_and_no_example_frame(tmp_path):
    rs = RoiSet({"face": [[5, 5], [70, 8], [65, 55]]}, (60, 80), mask_from=[])
    rf = read_rois_h5(save_rois_h5(rs, tmp_path / "rois.h5"))
    assert rf.mask.all() and rf.mask_from == []
    assert rf.example_frame is None and rf.run_info == {}
    assert load_rois(rf.path).tracking_mask().all()


def test_minimal_file_and_errors(tmp_path):
    path = tmp_path / "rois.h5"
    with h5py.File(path, "w") as f:
        f["point_positions"] = np.array([[1, 2], [3, 4]], np.float64)
    rf = read_rois_h5(path)
    assert rf.point_positions.dtype == np.float32 and rf.n_points == 2
    assert rf.mask is None and rf.masks == {} and rf.polygons == {}
    assert rf.point_spacing is None and rf.frame_height_width is None
    with h5py.File(tmp_path / "empty.h5", "w"):
        pass
    with pytest.raises(RoiError, match="lacks 'point_positions'"):
        read_rois_h5(tmp_path / "empty.h5")
    with pytest.raises(FileNotFoundError):
        read_rois_h5(tmp_path / "nope.h5")
