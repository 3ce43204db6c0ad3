"""Known-answer tests of face_rhythm.alignment (reference frames, ROI transfer) and the
notebook layer face_rhythm.alignment_multisession."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from face_rhythm import alignment as A
from face_rhythm import alignment_multisession as AM
from face_rhythm import registration as R
from face_rhythm import synthetic as S
from face_rhythm.rois import RoiSet, grid_points, load_rois, polygon_to_mask, save_rois_h5

FPS = 60.0


def bursty_face(**kw) -> S.SyntheticFace:
    """All three components move in 0.5 s bursts with 0.5 s pauses: still frames exist."""
    comps = (
        S.MotionComponent("whisker_pad", (0.30, 0.55), 0.09, (1.0, 0.25), 3.0, 8.0, "bursts", 0.5),
        S.MotionComponent("nose", (0.14, 0.36), 0.06, (0.0, 1.0), 2.5, 4.0, "bursts", 0.5,
                          phase=0.7),
        S.MotionComponent("jaw", (0.55, 0.82), 0.09, (0.2, 1.0), 2.5, 3.0, "bursts", 0.5,
                          phase=1.9),
    )
    args = {"height": 96, "width": 128, "frame_rate": FPS, "n_frames": 240,
            "components": comps, "noise_std": 2.0, "seed": 1}
    args.update(kw)
    return S.SyntheticFace(**args)


@pytest.fixture(scope="module")
def face() -> S.SyntheticFace:
    return bursty_face()


@pytest.fixture(scope="module")
def frames(face) -> np.ndarray:
    return np.stack(list(face.iter_frames()))


PARAMS = A.ReferenceFrameParams(ds_factor=4, grid_size=8)


def test_reference_frame_keeps_still_frames_and_beats_the_mean(face, frames):
    ref = A.reference_frame_from_frames(frames, FPS, PARAMS)
    assert ref.image.shape == frames.shape[1:] and ref.image.dtype == np.float32
    assert 0 <= ref.image.min() and ref.image.max() <= 1
    n_valid = np.isfinite(ref.power).sum()
    assert ref.kept.sum() == pytest.approx(0.1 * n_valid, abs=2)
    # every kept frame is a still one (all motion envelopes zero)
    assert np.all(face.envelopes()[ref.kept].max(axis=1) == 0)
    # the mean of the kept frames is much closer to the still face than the mean of all
    base = face.base_image()
    yy, xx = np.mgrid[0:face.height, 0:face.width]
    xy = np.stack([xx, yy], -1).astype(np.float64)
    moving = np.any([face.bump(k, xy) > 0.2 for k in range(3)], axis=0)
    err_ref = np.sqrt(np.mean((ref.mean_still - base)[moving] ** 2))
    err_mean = np.sqrt(np.mean((ref.mean_all - base)[moving] ** 2))
    assert err_ref < 0.3 * err_mean
    # and so is the finished reference image, against the same processing of the still face
    fin_base = A.finish_reference_image(base, PARAMS.clip_limit, PARAMS.grid_size)
    fin_mean = A.finish_reference_image(ref.mean_all, PARAMS.clip_limit, PARAMS.grid_size)
    e1 = np.sqrt(np.mean((ref.image - fin_base)[moving] ** 2))
    e2 = np.sqrt(np.mean((fin_mean - fin_base)[moving] ** 2))
    assert e1 < 0.6 * e2


def test_reference_frame_streamed_equals_in_memory(tmp_path, face, frames):
    path = S.write_video(face, tmp_path / "v.avi")
    streamed = A.reference_frame_from_videos([path, path], PARAMS, chunk_size=50)
    in_mem = A.reference_frame_from_frames([frames, frames], FPS, PARAMS)
    assert np.array_equal(streamed.kept, in_mem.kept)
    assert np.allclose(streamed.power, in_mem.power, rtol=1e-4, equal_nan=True)
    assert np.allclose(streamed.mean_still, in_mem.mean_still, atol=1e-3)
    assert np.array_equal(streamed.video_index[[0, -1]], [0, 1])
    out = A.save_reference_frame_h5(streamed, tmp_path / "ref.h5", videos=[str(path)] * 2)
    back = A.load_reference_frame_h5(out)
    assert np.array_equal(back["reference_frame"], streamed.image)
    assert back["mean_still_frame"].dtype == np.uint8
    assert back["frame_rate"] == FPS and back["kept"].sum() == streamed.kept.sum()


def test_reference_frame_errors(frames):
    with pytest.raises(ValueError, match="ds_factor"):
        A.reference_frame_from_frames(frames, FPS, A.ReferenceFrameParams(ds_factor=100))
    with pytest.raises(ValueError, match="ptile_specVar_keep"):
        A.ReferenceFrameParams(ptile_specVar_keep=0)
    with pytest.raises(ValueError, match="longer than the trace"):
        A.reference_frame_from_frames(frames[:30], FPS, PARAMS)
    with pytest.raises(ValueError, match="unknown key"):
        A.ReferenceFrameParams(params_vqt={"F_mni": 1})


def test_image_preparation_pipeline_api(frames):
    pipe = A.Image_preparation_pipeline(ds_factor=4, grid_size=8, params_vqt={"Fs_sample": FPS})
    im = pipe.apply_pipeline(frames)
    assert im.shape == frames.shape[1:] and im.dtype == np.float32
    ref = A.reference_frame_from_frames(frames, FPS, PARAMS)
    assert np.array_equal(pipe.kept_, ref.kept)
    with pytest.raises(ValueError, match="Fs_sample"):
        A.Image_preparation_pipeline(ds_factor=4).apply_pipeline(frames)


def test_get_frames_is_reexported():
    from face_rhythm import video

    assert A.get_frames is video.get_frames


def template_rois(hw) -> RoiSet:
    h, w = hw
    poly = np.array([[0.15, 0.2], [0.8, 0.15], [0.85, 0.8], [0.2, 0.85]]) * [w, h]
    eye = np.array([[0.5, 0.25], [0.62, 0.25], [0.62, 0.38], [0.5, 0.38]]) * [w, h]
    return RoiSet(polygons={"face": poly, "eye": eye}, frame_height_width=(h, w),
                  point_spacing=6, points_from=["face"], mask_from=["face"])


def test_transfer_rois_known_warp(tmp_path):
    hw = (96, 128)
    rs = template_rois(hw)
    m = np.array([[np.cos(0.05), -np.sin(0.05), 4.5], [np.sin(0.05), np.cos(0.05), -3.25]])
    out = A.transfer_rois(rs, warp_matrix=m)
    pts = rs.points()
    assert np.allclose(out.points(), R.transform_points(pts, m), atol=1e-4)  # identity kept
    assert out.points().shape == pts.shape
    for name in rs.polygons:
        v = R.transform_points(rs.polygons[name], m)
        truth = polygon_to_mask(v, *hw)
        got = out.masks()[name]
        perimeter = np.sum(np.linalg.norm(np.diff(np.vstack([v, v[:1]]), axis=0), axis=1))
        assert (truth != got).sum() < 0.5 * perimeter, name  # differences only at the edge
        assert np.allclose(out.polygons[name], v, atol=1e-4)
    # the same through a (non-rigid style) remap field
    ri = R.warp_matrix_to_remappingIdx(m, hw[1], hw[0])
    out2 = A.transfer_rois(rs, remappingIdx=ri)
    assert np.allclose(out2.points(), out.points(), atol=1e-3)
    assert (out2.masks()["face"] != out.masks()["face"]).mean() < 0.01
    # saved with the normal rois.h5 keys, and reloads with the transferred points
    path = save_rois_h5(out, tmp_path / "rois.h5")
    with h5py.File(path) as f:
        for key in ("point_positions", "mask", "masks/face", "polygons/eye", "point_spacing",
                    "frame_height_width"):
            assert key in f, key
        assert f["point_positions"].dtype == np.float32
    assert np.allclose(load_rois(path).points(), out.points())
    with pytest.raises(ValueError, match="not finite"):
        A.transfer_rois(rs, warp_matrix=np.full((3, 3), np.nan))


def test_sessions_registered_and_points_land_on_the_same_face_location():
    """Two synthetic sessions (camera moved): transferred points within 0.5 px of truth."""
    hw = (120, 160)
    f0 = bursty_face(height=hw[0], width=hw[1], n_frames=180)
    f1 = bursty_face(height=hw[0], width=hw[1], n_frames=180, camera_shift=(5.5, -3.0),
                     camera_rotation_deg=3.0)
    params = A.ReferenceFrameParams(ds_factor=4, grid_size=8)
    refs = [A.reference_frame_from_frames(np.stack(list(f.iter_frames())), FPS, params).image
            for f in (f0, f1)]
    aligner = AM.Aligner(z_threshold=4.0, verbose=False)
    remaps = aligner.fit_geometric(template=0, ims_moving=refs, template_method="image",
                                   method="ECC_cv2",
                                   kwargs_method={"ECC_cv2": {"mode_transform": "euclidean",
                                                              "n_iter": 100,
                                                              "termination_eps": 1e-6}})
    assert aligner.result.passed.all()
    pts0 = grid_points(polygon_to_mask(np.array(S.demo_rois(f0)["face"]), *hw), 8)
    # truth: the face location under template point p, seen by session 1's camera
    face_xy = pts0 @ np.linalg.inv(f0.camera_matrix()[:, :2]).T  # f0 camera is the identity
    truth = face_xy @ f1.camera_matrix()[:, :2].T + f1.camera_matrix()[:, 2]
    got = aligner.transform_points(pts0, 1)
    assert np.sqrt(np.mean(np.sum((got - truth) ** 2, -1))) < 0.5
    assert np.allclose(R.remap_points(pts0, remaps[1]), got, atol=1e-3)
    fig_final, fig_direct = aligner.plot_alignment_results_geometric()
    assert fig_final is not None and fig_direct is None
    registered = aligner.transform_images(refs, remaps)
    fig = AM.plot_registered_images(registered, ["s0", "s1"], aligner.result.z_final, 4.0, 0)
    assert len(fig.axes) == 2
