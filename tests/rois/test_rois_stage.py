"""The workflow's rois stage: first video (+ ROI file) -> rois.h5 and its figure."""

from __future__ import annotations

import cv2
import numpy as np

from face_rhythm.rois import read_rois_h5, rois_from_config, save_rois_yaml
from face_rhythm.rois.stage import rois_stage

FACE = {"face": [[5, 5], [70, 8], [65, 55], [8, 50]]}


def _video(path, n=3, h=60, w=80):
    rng = np.random.default_rng(0)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (w, h))
    for _ in range(n):
        vw.write(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    vw.release()
    return path


def test_rois_stage_inline_polygons(tmp_path):
    video = _video(tmp_path / "v.avi")
    cfg = {"file": None, "polygons": FACE, "point_spacing": 7, "points_from": [],
           "mask_from": ["face"]}
    out = rois_stage(video, [], tmp_path / "rois.h5", tmp_path / "fig" / "rois.png", cfg,
                     backend="opencv")
    rf = read_rois_h5(out)
    want = rois_from_config(cfg, (60, 80))
    assert np.array_equal(rf.point_positions, want.points())
    assert rf.example_frame.shape == (60, 80) and rf.example_frame.dtype == np.uint8
    assert rf.run_info["config"] == {"rois": cfg}
    assert rf.run_info["inputs"][0]["path"] == str(video)
    assert (tmp_path / "fig" / "rois.png").stat().st_size > 1000


def test_rois_stage_from_file(tmp_path):
    video = _video(tmp_path / "v.avi")
    roi_file = save_rois_yaml(rois_from_config({"polygons": FACE}, (60, 80)),
                              tmp_path / "rois.yaml")
    rois_stage(video, [roi_file], tmp_path / "rois.h5", tmp_path / "rois.png",
               {"file": str(roi_file)}, backend="opencv")
    rf = read_rois_h5(tmp_path / "rois.h5")
    assert rf.point_spacing == 9 and [i["path"] for i in rf.run_info["inputs"]] == \
        [str(video), str(roi_file)]
