"""The synthetic face generator: exact ground truth, determinism, real video files."""

import cv2
import decord
import numpy as np
import pytest

from face_rhythm.synthetic import SyntheticFace, default_face, demo_rois, write_video


def _grid(face, step=10, margin=30):
    ys, xs = np.mgrid[margin:face.height - margin:step, margin:face.width - margin:step]
    return np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)


def test_plain_lk_follows_ground_truth_on_noise_free_frames():
    face = default_face(n_frames=120, noise_std=0.0)
    frames = [face.render(t, noise=False) for t in range(face.n_frames)]
    # a point in the middle of the whisker pad (the largest motion)
    c = face.components[0]
    pt = np.array([[c.center[0] * face.width, c.center[1] * face.height]], np.float32)
    truth = face.positions(pt, from_frame=0)[:, 0]
    assert np.ptp(truth[:, 0]) > 2.5  # it really moves (px)
    p = pt.reshape(-1, 1, 2).copy()
    tracked = [pt[0]]
    for t in range(1, face.n_frames):
        p, status, _ = cv2.calcOpticalFlowPyrLK(frames[t - 1], frames[t], p, None,
                                                winSize=(21, 21), maxLevel=2,
                                                criteria=(3, 30, 0.001))
        assert status.all()
        tracked.append(p.reshape(2).copy())
    err = np.linalg.norm(np.array(tracked) - truth, axis=1)
    assert err.max() < 0.1, err.max()


def test_ground_truth_grid_rmse_small_with_noise():
    face = default_face(n_frames=90, noise_std=2.0)
    frames = [face.render(t) for t in range(face.n_frames)]
    pts = _grid(face)
    truth = face.positions(pts, from_frame=0)
    p = pts.reshape(-1, 1, 2).copy()
    out = [pts]
    for t in range(1, face.n_frames):
        p, _, _ = cv2.calcOpticalFlowPyrLK(frames[t - 1], frames[t], p, None, winSize=(21, 21),
                                           maxLevel=2, criteria=(3, 30, 0.001))
        out.append(p.reshape(-1, 2).copy())
    rmse = np.sqrt(np.mean(np.sum((np.array(out) - truth) ** 2, axis=-1)))
    assert rmse < 0.12, rmse


def test_positions_solve_the_warp_equation_exactly():
    face = default_face(n_frames=30)
    pts = _grid(face, step=23)
    rest = face.positions(pts, frames=[0], from_frame=None)  # rest -> frame 0
    # y - D(y) must equal the rest point
    back = rest[0] - face.displacement_face(rest[0], 0)
    np.testing.assert_allclose(back, pts, atol=1e-8)
    # from_frame=0 at frame 0 gives the points themselves
    np.testing.assert_allclose(face.positions(pts, [0], from_frame=0)[0], pts, atol=1e-8)


def test_components_move_only_their_region_at_their_frequency():
    face = default_face(n_frames=450, frame_rate=90.0)
    maps = face.spatial_maps(_grid(face, step=8))
    assert maps.shape == (3, len(_grid(face, step=8)))
    # each region's bump is near 1 at its centre and the regions barely overlap
    for k in range(3):
        assert maps[k].max() > 0.9
    amp = face.amplitudes()
    freqs = np.fft.rfftfreq(face.n_frames, 1 / face.frame_rate)
    for k, comp in enumerate(face.components):
        spec = np.abs(np.fft.rfft(amp[:, k]))
        assert abs(freqs[np.argmax(spec)] - comp.frequency_hz) <= 0.4


def test_deterministic_and_seeded():
    a = default_face(n_frames=5, seed=3).render(4)
    b = default_face(n_frames=5, seed=3).render(4)
    c = default_face(n_frames=5, seed=4).render(4)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c).mean() > 1


def test_camera_transform_moves_ground_truth():
    moved = default_face(n_frames=10, camera_shift=(5.0, -3.0), camera_rotation_deg=2.0)
    still = default_face(n_frames=10)
    pts = _grid(still, step=40)
    # the face point seen at rest position p in the still camera is seen at M p in the moved one
    m = moved.camera_matrix()
    rest_moved = pts @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(moved.spatial_maps(rest_moved), still.spatial_maps(pts), atol=1e-9)
    assert demo_rois(moved)["face"] != demo_rois(still)["face"]


def test_written_video_is_lossless_and_readable(tmp_path):
    face = default_face(height=120, width=160, n_frames=12, frame_rate=30.0)
    path = write_video(face, tmp_path / "face.avi")
    vr = decord.VideoReader(str(path))
    assert len(vr) == 12 and vr[0].shape == (120, 160, 3)
    assert vr.get_avg_fps() == pytest.approx(30.0)
    np.testing.assert_array_equal(vr[7].asnumpy()[..., 0], face.render(7))
    cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read()
    cap.release()
    assert ok and np.array_equal(frame[..., 0], face.render(0))
    assert not list(tmp_path.glob(".*.tmp"))  # no temp files left


def test_invalid_parameters_are_rejected():
    with pytest.raises(ValueError, match="Nyquist"):
        SyntheticFace(frame_rate=10.0)  # 8 Hz whisking needs > 16 Hz sampling
    with pytest.raises(ValueError, match="too small"):
        SyntheticFace(height=8, width=8)
