"""The track_points stage: rois.h5 in, the contiguous hand-over, tracking.h5 out."""

from __future__ import annotations

import numpy as np
import pytest

from face_rhythm import point_tracking as fpt
from face_rhythm import rois as fr_rois
from face_rhythm import synthetic
from face_rhythm.h5_handling import simple_save


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    root = tmp_path_factory.mktemp("stage")
    face = synthetic.default_face(n_frames=40)
    mask = fr_rois.polygon_to_mask(np.array(synthetic.demo_rois(face)["face"]), face.height,
                                   face.width)
    pts = fr_rois.grid_points(mask, 16)
    video = synthetic.write_video(face, root / "v.avi")
    rois = simple_save({"point_positions": pts, "mask": mask}, root / "rois.h5")
    frames = np.stack(list(face.iter_frames()))
    return root, video, rois, pts, mask, frames


def test_read_home_and_mask(session, tmp_path):
    _, _, rois, pts, mask, _ = session
    home, m = fpt.read_home_and_mask(rois)
    assert home.dtype == np.float32 and m.dtype == bool
    np.testing.assert_array_equal(home, pts)
    np.testing.assert_array_equal(m, mask)
    simple_save({"point_positions": pts}, tmp_path / "nomask.h5")
    with pytest.raises(fpt.TrackingError, match=r"nomask.h5: lacks \['mask'\] \(made by rule"):
        fpt.read_home_and_mask(tmp_path / "nomask.h5")


def test_contiguous_start(session, tmp_path):
    _, video, _, pts, _, _ = session
    last = pts + 1.5
    prev = simple_save({"points_tracked": np.stack([pts, last]), "point_positions": pts,
                        "frame_rate": 90.0}, tmp_path / "prev.h5")
    on = fpt.TrackingConfig(contiguous=True, idx_start=7)
    off = fpt.TrackingConfig(contiguous=False, idx_start=7)
    start, pv, idx = fpt.contiguous_start(on, prev, video)
    np.testing.assert_array_equal(start, last)
    assert start.dtype == np.float32 and pv == video and idx == 0
    assert fpt.contiguous_start(off, prev, video) == (None, None, 7)
    assert fpt.contiguous_start(on, None, "") == (None, None, 7)  # the session's first video


def test_stage_writes_what_the_library_tracks(session, tmp_path):
    _, video, rois, pts, mask, frames = session
    cfg = fpt.TrackingConfig(chunk_size=16, idx_start=2)
    out = fpt.track_points_stage(video, rois, tmp_path / "res" / "tracking.h5", cfg,
                                 threads=1)
    direct = fpt.track_array(frames, pts, cfg.params, mask=mask, idx_start=2)
    t = fpt.read_tracking_file(out)
    np.testing.assert_array_equal(t.points_tracked, direct.points_tracked)
    assert t.frame_rate == pytest.approx(90.0) and t.violation_fraction == 0.0
    assert t.params == {**cfg.params.to_reference(), "idx_start": 2, "contiguous": False}
    assert t.run_info["config"]["tracking"] == cfg.to_config()
    assert t.run_info["extra"]["n_rewinds"] == 0
    assert [p.name for p in out.parent.iterdir()] == ["tracking.h5"]
    with pytest.raises(fpt.TrackingError, match="unknown key 'contigous'"):
        fpt.track_points_stage(video, rois, tmp_path / "x.h5", {"contigous": True})
    assert not (tmp_path / "x.h5").exists()
