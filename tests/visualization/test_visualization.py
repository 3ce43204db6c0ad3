"""Overlay videos, drawing, FrameVisualizer, contact sheets and figure style (known answers)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from face_rhythm import synthetic
from face_rhythm import visualization as vis

H, W, FPS, N_FRAMES = 120, 160, 60.0, 60


def _decode(path: Path) -> tuple[np.ndarray, float]:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return np.array(frames), fps


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A small synthetic face video and the exact positions of a grid of points."""
    root = tmp_path_factory.mktemp("vis")
    face = synthetic.default_face(height=H, width=W, frame_rate=FPS, n_frames=N_FRAMES,
                                  noise_std=0.0, seed=1)
    video = synthetic.write_video(face, root / "v.avi")
    xs, ys = np.meshgrid(np.arange(24, 140, 16), np.arange(24, 100, 16))
    pts0 = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
    points = face.positions(pts0).astype(np.float32)
    violations = np.zeros(points.shape[:2], dtype=bool)
    violations[10:20, :3] = True
    return {"root": root, "video": video, "points": points, "violations": violations,
            "face": face}


def test_overlay_video_frames_size_and_point_colours(demo):
    out = vis.write_overlay_video(demo["video"], demo["points"], demo["root"] / "o.mp4",
                                  violations=demo["violations"],
                                  params={"point_radius": 3, "show_text": True})
    assert out == demo["root"] / "o.mp4" and out.stat().st_size > 0
    frames, fps = _decode(out)
    assert frames.shape == (N_FRAMES, H, W, 3)
    assert fps == pytest.approx(FPS)
    pts, bad = demo["points"], demo["violations"]
    cyan, magenta = np.array(vis.TRACKED_COLOR), np.array(vis.VIOLATION_COLOR)
    for t in (0, 15, N_FRAMES - 1):
        for k in range(pts.shape[1]):
            x, y = np.round(pts[t, k]).astype(int)
            want = magenta if bad[t, k] else cyan
            got = frames[t, y, x].astype(int)
            # mp4v is lossy: the centre of a 3-px disc keeps its colour within a few levels
            assert np.abs(got - want).max() < 40, (t, k, got, want)
    # far from every point and from the text box the frame is the source image (grey)
    src = demo["face"].render(15)
    assert abs(int(frames[15, H - 3, W - 3].mean()) - int(src[H - 3, W - 3])) < 25
    # no temporary file is left beside the output
    assert [p.name for p in demo["root"].glob(".o.*")] == []


def test_overlay_video_resize_fps_and_step(demo):
    params = vis.OverlayParams(width=320, frame_rate=30.0, step=2, start=4, show_text=False)
    out = vis.write_overlay_video(demo["video"], demo["points"], demo["root"] / "big.mp4",
                                  params=params)
    frames, fps = _decode(out)
    assert frames.shape == (len(range(4, N_FRAMES, 2)), 240, 320, 3)
    assert fps == pytest.approx(30.0)
    # point k of source frame 4 (first written) sits at 2x its position (pixel-centre scaling)
    x, y = np.round((demo["points"][4, 7] + 0.5) * 2 - 0.5).astype(int)
    assert np.abs(frames[0, y, x].astype(int) - vis.TRACKED_COLOR).max() < 40


def test_overlay_video_rejects_bad_input_before_writing(demo, tmp_path):
    with pytest.raises(ValueError, match=r"v\.avi: 60 frames but points_tracked has 59"):
        vis.write_overlay_video(demo["video"], demo["points"][:-1], tmp_path / "x.mp4")
    with pytest.raises(ValueError, match="unknown overlay parameter"):
        vis.write_overlay_video(demo["video"], demo["points"], tmp_path / "x.mp4",
                                params={"widht": 100})
    with pytest.raises(ValueError, match="violations shape"):
        vis.write_overlay_video(demo["video"], demo["points"], tmp_path / "x.mp4",
                                violations=np.zeros((3, 3), bool))
    assert list(tmp_path.iterdir()) == []


def test_writer_falls_back_to_mjpg_avi(tmp_path):
    writer, tmp, final, fourcc = vis.open_video_writer(
        tmp_path / "x.mp4", 25.0, (64, 80), [("XXXX", ".mp4"), ("MJPG", ".avi")])
    try:
        assert (final, fourcc) == (tmp_path / "x.avi", "MJPG")
        assert tmp.suffix == ".avi" and tmp.parent == tmp_path
        for _ in range(3):
            writer.write(np.zeros((64, 80, 3), np.uint8))
    finally:
        writer.release()
    frames, fps = _decode(tmp)
    assert frames.shape == (3, 64, 80, 3) and fps == pytest.approx(25.0)


def test_draw_points_known_pixels():
    img = np.zeros((40, 50), np.uint8)
    out = vis.draw_points(img, np.array([[10.0, 20.0], [np.nan, 5.0]]), "red", radius=2)
    assert out.shape == (40, 50, 3) and img.max() == 0  # a copy, input untouched
    assert tuple(out[20, 10]) == (255, 0, 0)
    assert tuple(out[20, 15]) == (0, 0, 0) and out[:, 30:].max() == 0  # NaN point skipped
    cols = np.array([[0, 255, 0], [0, 0, 255]], np.uint8)
    out = vis.draw_points(img, np.array([[5, 5], [40, 30]]), cols, radius=1)
    assert tuple(out[5, 5]) == (0, 255, 0) and tuple(out[30, 40]) == (0, 0, 255)
    half = vis.draw_points(np.full((20, 20, 3), 100, np.uint8), np.array([[10, 10]]),
                           (255, 255, 255), radius=2, alpha=0.5)
    assert tuple(half[10, 10]) == (178, 178, 178)  # 0.5 * 255 + 0.5 * 100, rounded
    out = vis.draw_points(img, np.array([[-5.0, 100.0]]), "white", radius=1)
    assert out[39, 0].max() == 255  # outside points are clamped to the border
    with pytest.raises(ValueError, match="unknown colour name 'teal'"):
        vis.draw_points(img, np.array([[1, 1]]), "teal")


def test_violations_to_dense_from_sparse_coo():
    coo = {"row": np.array([0, 2, 2]), "col": np.array([1, 0, 3]),
           "data": np.array([True, True, False]), "shape": np.array([3, 4])}
    dense = vis.violations_to_dense(coo, 3, 4)
    want = np.zeros((3, 4), bool)
    want[0, 1] = want[2, 0] = True
    np.testing.assert_array_equal(dense, want)
    assert not vis.violations_to_dense(None, 2, 2).any()
    with pytest.raises(ValueError, match=r"violations shape \(3, 4\)"):
        vis.violations_to_dense(coo, 5, 4)


def test_frame_visualizer_writes_atomically_and_applies_overrides(tmp_path):
    path = tmp_path / "fv.avi"
    fv = vis.FrameVisualizer(path_save=str(path), frame_height_width=(60, 80), frame_rate=20,
                             points_colors=(255, 0, 0), point_sizes=2)
    frame = np.full((60, 80, 3), 50, np.uint8)
    for i in range(4):
        out = fv.visualize_image_with_points(frame, points=np.array([[10 + i, 30]]),
                                             points_colors=(0, 255, 0),
                                             text="hi", text_positions=np.array([[40, 20]]))
        assert tuple(out[30, 10 + i]) == (255, 0, 0)  # constructor override wins
        assert out[10:21, 40:60].max() == 255  # white text drawn
    assert not path.exists()  # appears only when closed
    fv.close()
    frames, fps = _decode(path)
    assert frames.shape == (4, 60, 80, 3) and fps == pytest.approx(20)
    assert frames[0, 30, 10, 0] > 200 and frames[0, 30, 10, 1] < 60  # red survives MJPG
    # batches with their own colours and sizes
    fv2 = vis.FrameVisualizer()
    out = fv2.visualize_image_with_points(
        frame, points=[np.array([[5, 5]]), np.array([[70, 50]])],
        points_colors=[(0, 0, 255), (255, 255, 0)], point_sizes=[1, 3])
    assert tuple(out[5, 5]) == (0, 0, 255) and tuple(out[50, 73]) == (255, 255, 0)
    with pytest.raises(ValueError, match="text_positions is required"):
        fv2.visualize_image_with_points(frame, text="x")


def test_frame_visualizer_context_manager_discards_on_error(tmp_path):
    path = tmp_path / "bad.avi"
    with pytest.raises(RuntimeError), vis.FrameVisualizer(path_save=str(path),
                                                          frame_height_width=(20, 20)) as fv:
        fv.visualize_image_with_points(np.zeros((20, 20, 3), np.uint8))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_play_video_with_points_on_buffered_reader(demo, tmp_path):
    from face_rhythm.video import BufferedVideoReader

    reader = BufferedVideoReader(paths_videos=[str(demo["video"])], buffer_size=32)
    path = tmp_path / "play.avi"
    with vis.FrameVisualizer(path_save=str(path), frame_height_width=(H, W), frame_rate=FPS,
                             point_sizes=2) as fv:
        n = vis.play_video_with_points(reader, fv, points=demo["points"],
                                       idx_frames=range(0, N_FRAMES, 3))
    assert n == 20
    frames, _ = _decode(path)
    assert frames.shape == (20, H, W, 3)
    x, y = np.round(demo["points"][3, 10]).astype(int)
    assert np.abs(frames[1, y, x].astype(int) - (0, 255, 255)).max() < 60
    with pytest.raises(ValueError, match="points has 5 frames but the reader has 60"):
        vis.play_video_with_points(reader, vis.FrameVisualizer(), points=demo["points"][:5])
    with pytest.raises(ValueError, match="needs a FrameVisualizer"):
        vis.play_video_with_points(reader, None)


def test_contact_sheet_and_figures_are_written(demo, tmp_path):
    idx = vis.contact_sheet_indices(N_FRAMES, 6)
    np.testing.assert_array_equal(idx, [0, 12, 24, 35, 47, 59])
    np.testing.assert_array_equal(vis.contact_sheet_indices(3, 6), [0, 1, 2])
    worst = np.zeros((N_FRAMES, 4), bool)
    worst[30, :3] = worst[40, 0] = True  # frame 30 has the most violations
    np.testing.assert_array_equal(vis.contact_sheet_indices(N_FRAMES, 6, worst),
                                  [0, 12, 24, 30, 47, 59])
    frames = np.stack([demo["face"].render(int(i)) for i in idx])
    fig = vis.plot_contact_sheet(frames, idx, demo["points"][idx], FPS,
                                 demo["violations"][idx], title="demo")
    assert [a.get_title() for a in fig.axes[:2]] == ["frame 0, t = 0.00 s",
                                                    "frame 12, t = 0.20 s"]
    written = vis.save_figure(fig, tmp_path / "sheet.png", formats=("png", "svg"))
    assert [p.name for p in written] == ["sheet.png", "sheet.svg"]
    assert all(p.stat().st_size > 1000 for p in written)
    png = cv2.imread(str(written[0]))
    assert png is not None and png.shape[1] > png.shape[0]  # 3 x 2 grid: wider than high
    fig = vis.plot_tracking_summary(demo["points"], FPS, demo["violations"])
    ax_disp, ax_viol = fig.axes[:2]
    assert ax_disp.get_ylabel() == "displacement from frame 0 (px)"
    assert ax_viol.get_xlabel() == "time (s)"
    assert "16.7% of frames" in ax_viol.get_title()  # 10 of 60 frames flagged
    assert vis.save_figure(fig, tmp_path / "track.png")[0].stat().st_size > 1000
    with pytest.raises(ValueError, match="suffix does not match"):
        vis.save_figure(fig, tmp_path / "x.svg", formats=("png",))


def test_figure_style_is_applied_and_restored():
    import matplotlib as mpl

    before = mpl.rcParams["axes.spines.top"]
    with vis.figure_style():
        assert mpl.rcParams["axes.spines.top"] is False
        assert mpl.rcParams["savefig.dpi"] == vis.STYLE["savefig.dpi"]
    assert mpl.rcParams["axes.spines.top"] == before
    fig, axes = vis.new_figure(2, 3, width_in=6)
    assert axes.shape == (2, 3) and tuple(fig.get_size_inches()) == pytest.approx((6, 3))


@pytest.fixture(scope="module")
def tracking_h5(demo):
    """``tracking.h5`` of the demo video, in the documented layout (docs/outputs.md)."""
    import json

    from face_rhythm.h5_handling import simple_save

    pts, bad = demo["points"], demo["violations"]
    row, col = np.nonzero(bad)
    return simple_save({
        "points_tracked": pts, "point_positions": pts[0],
        "neighbors": np.zeros((pts.shape[1], 2), np.int64),
        "violations": {"row": row, "col": col, "data": np.ones(len(row), bool),
                       "shape": np.array(bad.shape)},
        "violation_fraction": float(bad.any(axis=1).mean()), "frame_rate": FPS,
        "params": json.dumps({"idx_start": 0, "contiguous": False})},
        demo["root"] / "s1" / "v" / "tracking.h5")


def test_overlay_stage_writes_video_contact_sheet_and_figure(demo, tracking_h5, tmp_path):
    out = vis.overlay_video_stage(demo["video"], tracking_h5, tmp_path / "overlay.mp4",
                                  tmp_path / "sheet.png", tmp_path / "track.png",
                                  {"contact_sheet_frames": 4, "overlay": {"point_radius": 3}},
                                  label="s1/v")
    assert out == tmp_path / "overlay.mp4"
    frames, fps = _decode(out)
    assert frames.shape == (N_FRAMES, H, W, 3) and fps == pytest.approx(FPS)
    magenta = np.array(vis.VIOLATION_COLOR)
    x, y = np.round(demo["points"][15, 0]).astype(int)  # flagged in frames 10-19
    assert np.abs(frames[15, y, x].astype(int) - magenta).max() < 40
    for png in ("sheet.png", "track.png"):
        img = cv2.imread(str(tmp_path / png))
        assert img is not None and img.std() > 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["overlay.mp4", "sheet.png",
                                                          "track.png"]


def test_overlay_stage_rejects_unknown_keys_before_writing(demo, tracking_h5, tmp_path):
    files = (tmp_path / "o.mp4", tmp_path / "s.png", tmp_path / "t.png")
    with pytest.raises(ValueError, match=r"unknown key 'contact_sheet_frame'"):
        vis.overlay_video_stage(demo["video"], tracking_h5, *files, {"contact_sheet_frame": 4})
    with pytest.raises(ValueError, match="unknown overlay parameter"):
        vis.overlay_video_stage(demo["video"], tracking_h5, *files, {"overlay": {"widht": 4}})
    assert list(tmp_path.iterdir()) == []
