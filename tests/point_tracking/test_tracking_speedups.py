"""The tracker's fast paths give the straightforward computation's numbers, to the bit.

- CLAHE of the part of the frame the mask reaches (:class:`ClaheCrop`) equals CLAHE of the
  whole masked frame (OpenCV's padding, tile geometry and blend weights included);
- Lucas-Kanade split over threads (:class:`LucasKanade`) equals one OpenCV call;
- tracking with both equals tracking of frames preprocessed the plain way, tracked with one
  LK call per frame (the original's parameters, synthetic face and the real mouse clip).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from face_rhythm import point_tracking as fpt
from face_rhythm import rois as fr_rois
from face_rhythm import synthetic
from face_rhythm import video as fr_video
from face_rhythm.point_tracking.optical_flow import LucasKanade, lk_thread_count
from face_rhythm.point_tracking.preprocess import ClaheCrop

#: Face polygon of mouseflow_face_75fps.mp4 (x, y), as in bench/bench_tracking.py.
MOUSEFLOW_FACE = [[640, 215], [690, 205], [730, 235], [765, 280], [765, 300], [740, 310],
                  [700, 318], [660, 320], [630, 300], [620, 250]]


def plain_preprocess(frames: np.ndarray, mask: np.ndarray | None,
                     clahe: fpt.ClaheParams | None) -> np.ndarray:
    """Gray (T, H, W) -> zero outside ``mask`` -> CLAHE of each whole frame."""
    out = frames if mask is None else frames * mask.astype(np.uint8)
    if clahe is None:
        return out
    c = cv2.createCLAHE(clahe.clip_limit, clahe.tile_grid_size)
    return np.stack([c.apply(np.ascontiguousarray(f)) for f in out])


def _blurred(rng, n, h, w):
    noise = rng.integers(0, 256, (h, w, n), dtype=np.uint8)
    return np.ascontiguousarray(cv2.GaussianBlur(noise, (5, 5), 1.5).reshape(h, w, n)
                                .transpose(2, 0, 1))


def test_clahe_crop_equals_whole_frame_clahe_on_random_geometries():
    rng = np.random.default_rng(1)
    n_cropped = 0
    for it in range(160):
        h, w = int(rng.integers(16, 160)), int(rng.integers(16, 160))
        if it % 4 == 0:  # the original's grid: tiles of a few px, often powers of two
            tx, ty = min(150, w), min(150, h)
        else:
            tx, ty = int(rng.integers(1, max(2, w // 2))), int(rng.integers(1, max(2, h // 2)))
        frames = _blurred(rng, 2, h, w)
        mask = np.zeros((h, w), bool)
        y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        mask[y0:y0 + int(rng.integers(1, h)), x0:x0 + int(rng.integers(1, w))] = True
        if it % 5 == 0:  # in the corner: the crop reaches into OpenCV's padding
            mask[:] = False
            mask[-3:, -2:] = True
        clahe = fpt.ClaheParams(float(rng.choice([0.5, 2.0, 40.0])), (tx, ty))
        pre = fpt.Preprocessor(mask, clahe)
        n_cropped += pre.crop is not None
        np.testing.assert_array_equal(pre(frames), plain_preprocess(frames, mask, clahe),
                                      err_msg=f"{h}x{w} grid {tx}x{ty}")
    assert n_cropped > 100  # the fast path was taken


def test_clahe_crop_saves_tiles_and_keeps_blend_weights():
    mask = np.zeros((480, 640), bool)
    mask[200:300, 100:200] = True
    crop = ClaheCrop(mask, fpt.ClaheParams(40.0, (150, 150)))  # tiles 5 x 4 px
    y0, _, x0, _ = crop.rect
    assert x0 == 0  # tiles 5 px wide: OpenCV's float weights are not shift-invariant
    assert y0 > 0 and y0 % 4 == 0  # 4 px high: shifted by whole tiles, exactly
    assert crop.useful and crop.grid[0] * crop.grid[1] < 150 * 150 / 5
    assert crop.keep[0] <= 200 and crop.keep[1] >= 300 and crop.keep[3] >= 200
    assert not ClaheCrop(np.ones((480, 640), bool), fpt.ClaheParams()).useful


@pytest.mark.parametrize("params", [fpt.REFERENCE_PARAMS, fpt.PROJECT_PARAMS],
                         ids=["reference", "project"])
def test_lucas_kanade_split_equals_one_call(params):
    face = synthetic.default_face(n_frames=3)
    frames = np.stack(list(face.iter_frames()))
    mask = fr_rois.polygon_to_mask(np.array(synthetic.demo_rois(face)["face"]), face.height,
                                   face.width)
    pts = fr_rois.grid_points(mask, 4).astype(np.float32)
    pre = fpt.Preprocessor.from_params(mask, params)(frames)
    nxt, st, _ = cv2.calcOpticalFlowPyrLK(pre[0], pre[1], pts, None, winSize=params.win_size,
                                          maxLevel=params.max_level, criteria=params.criteria,
                                          minEigThreshold=params.min_eig_threshold)
    for n in (1, 2, 3):
        with LucasKanade(params, len(pts), n) as lk:
            got, lost = lk(pre[0], pre[1], pts)
            np.testing.assert_array_equal(got, nxt.reshape(-1, 2))
            np.testing.assert_array_equal(lost, st.ravel() == 0)
    assert lk_thread_count(2, 100) == 1 and lk_thread_count(2, 1134) == 2
    with LucasKanade(params, len(pts), 2) as lk, pytest.raises(cv2.error):
        lk(pre[0], pre[1][:10], pts)  # a helper's failure reaches the caller


def _track_both_ways(frames, mask, pts, params):
    fast = fpt.track_frames(fpt.as_chunks(frames, 32), len(frames), pts, params, mask=mask,
                            n_workers=2, lk_threads=2)
    plain = plain_preprocess(frames, fpt.grow_mask(mask, params.effective_mask_margin),
                             params.clahe)
    slow = fpt.track_frames(fpt.as_chunks(plain, 32), len(frames), pts, params, mask=mask,
                            preprocessed=True, n_workers=0, lk_threads=1)
    return fast.points_tracked, slow.points_tracked


def test_tracking_with_the_fast_paths_equals_the_plain_computation_synthetic():
    face = synthetic.default_face(n_frames=40)
    frames = np.stack(list(face.iter_frames()))
    mask = fr_rois.polygon_to_mask(np.array(synthetic.demo_rois(face)["face"]), face.height,
                                   face.width)
    pts = fr_rois.grid_points(mask, 5)
    assert lk_thread_count(2, len(pts)) == 2  # LK is split
    fast, slow = _track_both_ways(frames, mask, pts, fpt.REFERENCE_PARAMS)
    assert fpt.Preprocessor.from_params(mask, fpt.REFERENCE_PARAMS).crop is not None
    np.testing.assert_array_equal(fast, slow)
    fast, slow = _track_both_ways(frames[:20], mask, pts, fpt.PROJECT_PARAMS)
    np.testing.assert_array_equal(fast, slow)
    assert np.abs(fast[-1] - fast[0]).max() > 0.3  # it tracked something


def test_tracking_with_the_fast_paths_equals_the_plain_computation_mouseflow(shared_data):
    video = shared_data / "videos" / "mouseflow_face_75fps.mp4"
    frames = next(iter(fr_video.iter_chunks(video, chunk_size=30, grayscale=True)))
    mask = fr_rois.polygon_to_mask(np.array(MOUSEFLOW_FACE, float), *frames.shape[1:])
    pts = fr_rois.grid_points(mask, 5)
    fast, slow = _track_both_ways(frames, mask, pts, fpt.REFERENCE_PARAMS)
    np.testing.assert_array_equal(fast, slow)
