"""The tracker's fast paths give the straightforward computation's numbers, to the bit.

- CLAHE computed near the mask only (:class:`MaskedClahe`) equals OpenCV's CLAHE of the
  whole masked frame (OpenCV's padding, tile geometry, clipping and blend weights included);
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
from face_rhythm.point_tracking.clahe import MaskedClahe
from face_rhythm.point_tracking.optical_flow import LucasKanade, lk_thread_count

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


def _frames_of_kind(rng, kind, n, h, w):
    if kind == 0:  # smooth: narrow value ranges per tile
        return _blurred(rng, n, h, w)
    if kind == 1:  # noise: every value, full ranges
        return rng.integers(0, 256, (n, h, w), dtype=np.uint8)
    return (rng.integers(0, 4, (n, h, w)) * 60).astype(np.uint8)  # few values: clipping


def _random_mask(rng, it, h, w):
    mask = np.zeros((h, w), bool)
    if it % 5 == 0:  # in the corner: the LUTs reach into OpenCV's padding
        mask[-3:, -2:] = True
    elif it % 5 == 1:  # a blob
        cv2.circle(mask.view(np.uint8), (int(rng.integers(0, w)), int(rng.integers(0, h))),
                   int(rng.integers(1, max(h, w) // 2)), 1, -1)
    else:
        y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        mask[y0:y0 + int(rng.integers(1, h)), x0:x0 + int(rng.integers(1, w))] = True
    return mask


def test_masked_clahe_equals_whole_frame_opencv_clahe_on_random_geometries():
    rng = np.random.default_rng(1)
    n_masked = 0
    for it in range(200):
        h, w = int(rng.integers(16, 160)), int(rng.integers(16, 160))
        if it % 4 == 0:  # the original's grid: tiles of a few px
            tx, ty = min(150, w), min(150, h)
        else:
            tx, ty = int(rng.integers(1, max(2, w // 2))), int(rng.integers(1, max(2, h // 2)))
        frames = _frames_of_kind(rng, it % 3, 2, h, w)
        mask = _random_mask(rng, it, h, w)
        clahe = fpt.ClaheParams(float(rng.choice([0.5, 2.0, 40.0])), (tx, ty))
        pre = fpt.Preprocessor(mask, clahe)
        n_masked += pre.masked_clahe is not None
        np.testing.assert_array_equal(pre(frames), plain_preprocess(frames, mask, clahe),
                                      err_msg=f"{h}x{w} grid {tx}x{ty}")
    assert n_masked > 120  # the fast path was taken


@pytest.mark.parametrize("grid", [(8, 8), (3, 2), (150, 150), (64, 48)])
def test_masked_clahe_equals_opencv_for_any_tile_size(grid):
    """The class itself, also for tiles of more than 256 px (clipped counts of 256 and more
    spread over every bin), where the preprocessor keeps OpenCV's own CLAHE."""
    rng = np.random.default_rng(sum(grid))
    for it in range(12):
        h, w = int(rng.integers(max(grid[1], 40), 400)), int(rng.integers(max(grid[0], 40), 400))
        mask = _random_mask(rng, it, h, w)
        for frame in _frames_of_kind(rng, it % 3, 1, h, w):
            frame = frame * mask.astype(np.uint8)
            for clip in (0.01, 3.0, 40.0):
                got = MaskedClahe(mask, fpt.ClaheParams(clip, grid)).apply(frame)
                want = cv2.createCLAHE(clip, grid).apply(frame)
                np.testing.assert_array_equal(got, want, err_msg=f"{h}x{w} {grid} {clip}")


def test_masked_clahe_computes_the_luts_near_the_mask_only():
    mask = np.zeros((480, 640), bool)
    mask[200:300, 100:200] = True
    mc = MaskedClahe(mask, fpt.ClaheParams(40.0, (150, 150)))  # tiles 5 x 4 px
    assert mc.tile == (5, 4) and mc.padded == (600, 750)
    # the mask's 25 rows x 20 columns of tiles, grown by two tiles each way
    assert mc.n_luts == (25 + 4) * (20 + 4)
    frame = np.zeros((480, 640), np.uint8)
    frame[mask] = 100
    out = mc.apply(frame)
    np.testing.assert_array_equal(out, cv2.createCLAHE(40.0, (150, 150)).apply(frame))
    assert (out[:150] == mc.fill).all() and (out[200:300, 100:200] != mc.fill).any()
    assert MaskedClahe(np.ones((48, 64), bool), fpt.ClaheParams(2.0, (8, 8))).n_luts == 64


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
    assert fpt.Preprocessor.from_params(mask, fpt.REFERENCE_PARAMS).masked_clahe is not None
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


def test_masked_clahe_refuses_a_frame_of_another_shape_in_one_line():
    mc = MaskedClahe(np.ones((48, 64), bool), fpt.ClaheParams(2.0, (30, 30)))
    with pytest.raises(fpt.TrackingError, match=r"expected \(48, 64\) uint8"):
        mc.apply(np.zeros((64, 48), np.uint8))
    with pytest.raises(fpt.TrackingError, match="out"):
        mc.apply(np.zeros((48, 64), np.uint8), out=np.zeros((48, 64), np.float32))
    frame = np.random.default_rng(0).integers(0, 256, (48, 64), dtype=np.uint8)
    want = cv2.createCLAHE(2.0, (30, 30)).apply(frame)
    mc.apply(frame, out=frame)  # in place
    np.testing.assert_array_equal(frame, want)


@pytest.mark.parametrize("box_fraction", [1.0, 0.0])
@pytest.mark.parametrize("channels", [3, 4, 1])
def test_gray_and_mask_in_the_masks_box_equal_the_whole_frame(channels, box_fraction,
                                                              monkeypatch):
    """Only the mask's bounding box is converted to gray and masked (outside it all is 0):
    the same frames as the whole-frame conversion, for colour, RGBA and one-channel input,
    masks at the frame's edges, OpenCV's CLAHE and the near-mask one."""
    from face_rhythm.point_tracking import preprocess
    from face_rhythm.video import rgb_to_gray

    monkeypatch.setattr(preprocess, "BOX_FRACTION", box_fraction)  # always / never the box
    rng = np.random.default_rng(channels)
    for it in range(30):
        h, w = int(rng.integers(16, 120)), int(rng.integers(16, 120))
        frames = rng.integers(0, 256, (3, h, w, channels), dtype=np.uint8)
        gray = frames[..., 0] if channels == 1 else rgb_to_gray(frames[..., :3])
        mask = _random_mask(rng, it, h, w)
        for clahe in (None, fpt.ClaheParams(2.0, (8, 8)), fpt.ClaheParams(40.0, (w, h))):
            pre = fpt.Preprocessor(mask, clahe)
            assert (pre._box is not None) == (box_fraction == 1.0)
            np.testing.assert_array_equal(pre(frames), plain_preprocess(gray, mask, clahe),
                                          err_msg=f"{h}x{w} {clahe}")
    # gray into a view (a crop of a larger array) equals the whole conversion's crop
    out = np.zeros((3, 40, 50), np.uint8)
    rgb = rng.integers(0, 256, (3, 40, 50, 3), dtype=np.uint8)
    rgb_to_gray(rgb[:, 5:30, 7:44], out=out[:, 5:30, 7:44])
    np.testing.assert_array_equal(out[:, 5:30, 7:44], rgb_to_gray(rgb)[:, 5:30, 7:44])
    assert not out[:, :5].any() and not out[:, :, 44:].any()
