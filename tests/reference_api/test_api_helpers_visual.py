"""The original's visual helpers (``face_rhythm.helpers`` / ``face_rhythm.visualization``):
colour maps at known positions, GIFs read back, tiled layouts, text pixels, headless display
errors, and FrameVisualizer as the notebooks use it (known answers)."""

from __future__ import annotations

import base64
import io

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from face_rhythm import synthetic
from face_rhythm import visualization as vis
from face_rhythm.errors import FaceRhythmError, VisualizationError
from face_rhythm.visualization import colors as vcolors
from face_rhythm.visualization import display as vdisplay
from face_rhythm.visualization import images as vimages

H, W = 120, 160


def _read_video(path) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return np.array(frames)


# -- colour maps

def test_simple_cmap_colours_at_known_positions():
    cmap = vis.simple_cmap([(1, 1, 1), (1, 0, 0)], name="wr")
    np.testing.assert_allclose(cmap(0.0)[:3], (1, 1, 1))
    np.testing.assert_allclose(cmap(1.0)[:3], (1, 0, 0))
    np.testing.assert_allclose(cmap(0.5)[:3], (1, 0.5, 0.5), atol=1 / 255)
    three = vis.simple_cmap(["r", "b", "r"], under=(0, 1, 0), over=(0, 0, 0), bad=(1, 1, 0))
    np.testing.assert_allclose(three(0.5)[:3], (0, 0, 1), atol=1 / 255)  # 256-entry LUT
    np.testing.assert_allclose(three(-0.1)[:3], (0, 1, 0))
    np.testing.assert_allclose(three(1.1)[:3], (0, 0, 0))
    np.testing.assert_allclose(three(np.nan)[:3], (1, 1, 0))
    default = vis.simple_cmap()  # the 12-colour rainbow: red at both ends' neighbourhood
    np.testing.assert_allclose(default(0.0)[:3], (1, 0, 0))
    np.testing.assert_allclose(default(1.0)[:3], (1, 0, 0.6))
    with pytest.raises(FaceRhythmError, match="at least two"):
        vis.simple_cmap(["r"])


def test_cmap_conjunctive_multiplies_channels():
    reds = vis.simple_cmap([(0, 0, 0), (1, 0, 0)])
    whites = vis.simple_cmap([(0, 0, 0), (1, 1, 1)])
    conj = vis.Cmap_conjunctive([reds, whites], dtype_out=int)
    assert conj.n_cmaps == 2
    out = conj(np.array([[1.0, 1.0], [1.0, 0.0], [0.5, 1.0]]))
    assert out.shape == (3, 4) and out.dtype == int
    np.testing.assert_array_equal(out[0], (255, 0, 0, 255))
    np.testing.assert_array_equal(out[1], (0, 0, 0, 255))
    assert abs(out[2, 0] - 127) <= 1 and out[2, 1] == 0
    norm = vis.Cmap_conjunctive([reds, whites], normalize=True, normalization_range=[0, 1],
                                dtype_out=float)
    np.testing.assert_allclose(norm(np.array([[10.0, 5.0], [20.0, 7.0]]))[:, 0], [0, 1],
                               atol=1e-6)
    with pytest.raises(VisualizationError, match=r"\(n_samples, 2\)"):
        conj(np.zeros((4, 3)))


def test_colorwheel_base_colours_and_blends():
    wheel = vis.Colorwheel()
    n = len(wheel.colors)
    angles = 2 * np.pi * np.arange(n) / n
    np.testing.assert_allclose(wheel(angles), wheel.colors * 255, atol=1)  # exact base colours
    mid = wheel(np.array([np.pi / n]))[0]  # half way from red to orange: their mean
    np.testing.assert_allclose(mid, (255, 64, 0), atol=1)
    np.testing.assert_array_equal(wheel(angles[:1], np.array([0.0])), [[0, 0, 0]])
    np.testing.assert_allclose(wheel(angles[2:3], np.array([0.5]))[0], (127.5, 127.5, 0), atol=1)
    rotated = vis.Colorwheel(rotation=np.pi / 2)
    np.testing.assert_array_equal(rotated(np.array([np.pi / 2])), [[255, 0, 0]])
    gray = vis.Colorwheel(saturation=0.0, center=255)
    np.testing.assert_array_equal(gray(np.array([0.0]))[0], (85, 85, 85))
    np.testing.assert_array_equal(gray(np.array([0.0]), np.array([0.0]))[0], (255, 255, 255))
    weights = wheel.fn_interp(np.linspace(0, 2 * np.pi, 50))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    im = wheel.image(400)
    assert im.shape == (20, 20, 3) and im.dtype == np.uint8
    assert (im[0, 0] == 0).all()  # a corner lies outside the wheel: the centre colour
    assert im[10, 17, 0] > 150 and im[10, 17, 1] < 30  # right of the centre (angle ~0): red
    fig = wheel.plot_colorwheel(n_samples=400)
    assert len(fig.axes) == 2


def test_complex_colormap_known_values():
    mags = np.array([[0.0, 1.0], [2.0, 2.0]])
    angles = np.array([[0.0, np.pi / 2], [0.0, -np.pi / 2]])
    rgb = vis.complex_colormap(mags, angles)
    assert rgb.shape == (4, 3)
    np.testing.assert_allclose(rgb[0], 0, atol=1e-12)  # zero magnitude: black
    np.testing.assert_allclose(rgb[1], (127.5, 0, 0), atol=1e-9)  # sin: red, mag 0.5
    np.testing.assert_allclose(rgb[2], (0, 0, 255), atol=1e-9)  # cos: blue, mag 1
    np.testing.assert_allclose(rgb[3], (-255, 0, 0), atol=1e-9)
    raw = vis.complex_colormap(np.array([0.25]), np.array([np.pi / 2]), normalize_mags=False,
                               color_sin=(0, 100, 0))
    np.testing.assert_allclose(raw, [[0, 25, 0]], atol=1e-9)
    with pytest.raises(VisualizationError, match="shape"):
        vis.complex_colormap(np.zeros(3), np.zeros(4))


# -- image arrays

def test_grayscale_to_rgb_numpy_torch_and_lists():
    g = np.arange(12, dtype=np.uint8).reshape(3, 4)
    rgb = vis.grayscale_to_rgb(g)
    assert rgb.shape == (3, 4, 3) and (rgb == g[..., None]).all()
    t = vis.grayscale_to_rgb([torch.ones(2, 2), torch.zeros(2, 2)])
    assert isinstance(t, torch.Tensor) and tuple(t.shape) == (2, 2, 2, 3)
    assert vis.grayscale_to_rgb([g, g]).shape == (2, 3, 4, 3)


def test_save_gif_frames_read_back(tmp_path):
    frames = np.zeros((3, 8, 10, 3), np.uint8)
    frames[0, :, :, 0] = 255  # red, green, blue frames, then a grayscale float movie
    frames[1, :, :, 1] = 255
    frames[2, :, :, 2] = 255
    frames[2, 2:4, 3:6] = 255
    path = tmp_path / "rgb.gif"
    vis.save_gif(frames, path, frameRate=5.0, loop=0)
    with Image.open(path) as im:
        got = np.stack([np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)])
        assert im.info["loop"] == 0 and im.info["duration"] == 200
    np.testing.assert_array_equal(got, frames)
    gray = np.linspace(0, 1, 2 * 4 * 5).reshape(2, 4, 5)
    vis.save_gif(gray, tmp_path / "gray.gif", frameRate=10.0, loop=1)
    with Image.open(tmp_path / "gray.gif") as im:
        g = np.stack([np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)])
        assert "loop" not in im.info  # plays once
        assert im.info["duration"] == 100
    want = np.round(gray * 255).astype(np.uint8)
    assert g.shape == (2, 4, 5, 3)
    np.testing.assert_array_equal(g[..., 0], want)
    vis.save_gif(list(frames), tmp_path / "twice.gif", loop=2)
    with Image.open(tmp_path / "twice.gif") as im:
        assert im.info["loop"] == 1  # one repeat after the first play
    with pytest.raises(VisualizationError, match="backend"):
        vis.save_gif(frames, tmp_path / "x.gif", backend="nope")
    assert not (tmp_path / "x.gif").exists()


def test_make_tiled_video_array_layout():
    vids = [np.full((2 + k, 4 + k, 5, 3), k + 1, np.uint8) for k in range(3)]
    tiled = vis.make_tiled_video_array(vids, verbose=False)  # 3 videos -> 2 rows x 2 cols
    # rows: videos 0 and 2 (heights 4, 6) / video 1 (height 5); cols: 0,1 (width 5) / 2 (5)
    assert tiled.shape == (4, 6 + 5, 5 + 5, 3)
    assert (tiled[:2, 0:4, 0:5] == 1).all() and (tiled[2:, 0:4, 0:5] == 0).all()
    assert (tiled[:3, 6:11, 0:5] == 2).all() and (tiled[3, 6:11, 0:5] == 0).all()
    assert (tiled[:4, 0:6, 5:10] == 3).all()
    assert (tiled[:, 4:6, 0:5] == 0).all() and (tiled[:, 6:11, 5:10] == 0).all()
    row = vis.make_tiled_video_array([np.ones((1, 2, 3)), 2 * np.ones((1, 2, 3))],
                                     shape=(1, 2), verbose=False)
    assert row.shape == (1, 2, 6, 1)
    np.testing.assert_array_equal(row[0, :, :, 0], [[1, 1, 1, 2, 2, 2]] * 2)
    with pytest.raises(VisualizationError, match="cannot hold"):
        vis.make_tiled_video_array(vids, shape=(1, 2))
    with pytest.raises(VisualizationError, match="dtype"):
        vis.make_tiled_video_array([vids[0], vids[1].astype(np.float32)])


def test_add_text_changes_pixels_only_near_the_text():
    images = np.zeros((2, 60, 120, 3), np.uint8)
    out = vis.add_text_to_images(images, [["Hi", "there"], ["x"]], position=(10, 10),
                                 font_size=0.6, color=(255, 0, 0), line_width=1)
    assert out.shape == images.shape and (images == 0).all()  # a copy
    font = cv2.FONT_HERSHEY_SIMPLEX
    for f, lines in enumerate([["Hi", "there"], ["x"]]):
        changed = (out[f] != 0).any(axis=2)
        box = np.zeros_like(changed)
        for line, (x, y) in zip(lines, vimages.text_line_origins(lines, (10, 10), font, 0.6, 1)):
            (tw, th), base = cv2.getTextSize(line, font, 0.6, 1)
            box[max(y - th - 2, 0): y + base + 2, max(x - 2, 0): x + tw + 2] = True
        assert changed.any() and not (changed & ~box).any()
        assert (out[f][..., 1:] == 0).all()  # red text: green and blue untouched
    ys, xs = np.nonzero((out[0] != 0).any(axis=2))
    assert ys.min() >= 10 and xs.min() >= 10  # the block's top-left corner is (10, 10)
    same = vis.add_text_to_images(images, "A", position=(0, 0))
    np.testing.assert_array_equal(same[0], same[1])
    with pytest.raises(VisualizationError, match="texts for 2 frames"):
        vis.add_text_to_images(images, [["a"]])


# -- display (headless here)

def test_headless_display_errors_and_play_video_cv2_writes_file(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert not vis.cv2_display_available()
    assert vis.prepare_cv2_imshow() is False
    frames = np.zeros((4, 32, 48, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(4)[:, None, None] * 60
    with pytest.raises(VisualizationError, match="no display.*path_save"):
        vis.play_video_cv2(frames)
    out = vis.play_video_cv2(frames, frameRate=10, path_save=tmp_path / "p.avi",
                             text=["a", "b", "c", "d"], kwargs_text={"org": (2, 12)})
    assert out == str(tmp_path / "p.avi")
    back = _read_video(out)
    assert back.shape == (4, 32, 48, 3)
    np.testing.assert_allclose(back[:, 20:, 30:, 0].mean(axis=(1, 2)), [0, 60, 120, 180],
                               atol=6)  # RGB order kept (MJPG is lossy)
    assert back[1, :14, :20].max() > 150  # the text
    src = synthetic.write_video(synthetic.default_face(height=H, width=W, n_frames=5),
                                tmp_path / "src.avi")
    again = vis.play_video_cv2(path_video=src, path_save=tmp_path / "again.avi", show=False)
    assert _read_video(again).shape == (5, H, W, 3)
    assert vis.play_video_cv2(frames, show=False) is None  # nothing to do: a warning
    with pytest.raises(VisualizationError, match="Jupyter"):
        vis.display_toggle_image_stack([frames[0]])


def test_image_stack_pngs_scaled_by_clim():
    im = np.array([[0.0, 5.0], [10.0, 20.0]])
    auto, fixed = vdisplay.stack_to_png_base64([im, im], clim=None)[0], \
        vdisplay.stack_to_png_base64([im], clim=(0, 10))[0]
    a = np.asarray(Image.open(io.BytesIO(base64.b64decode(auto))))
    f = np.asarray(Image.open(io.BytesIO(base64.b64decode(fixed))))
    np.testing.assert_array_equal(a, [[0, 64], [128, 255]])
    np.testing.assert_array_equal(f, [[0, 128], [255, 255]])
    big = vdisplay.stack_to_png_base64([torch.tensor(im)], image_size=2.0)[0]
    assert Image.open(io.BytesIO(base64.b64decode(big))).size == (4, 4)
    with pytest.raises(VisualizationError, match="interpolation"):
        vdisplay.stack_to_png_base64([im], interpolation="cubic")


# -- FrameVisualizer as the original's notebooks use it

def test_frame_visualizer_per_point_colours_and_reader_size(tmp_path):
    img = np.zeros((40, 60, 3), np.uint8)
    pts = np.array([[10.0, 10.0], [30.0, 20.0], [50.0, 30.0]])
    cols = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    fv = vis.FrameVisualizer(frame_height_width=[40, 60])  # a list, as readers give it
    assert fv.frame_height_width == (40, 60)
    for colors in ([np.array(cols)], np.array(cols), [cols], cols):
        out = fv.visualize_image_with_points(img, points=[pts], points_colors=colors,
                                             point_sizes=2)
        for (x, y), c in zip(pts.astype(int), cols):
            np.testing.assert_array_equal(out[y, x], c)
    two = fv.visualize_image_with_points(img, points=[pts[:1], pts[1:]],
                                         points_colors=[[255, 255, 0], np.array(cols[1:])])
    np.testing.assert_array_equal(two[10, 10], (255, 255, 0))
    np.testing.assert_array_equal(two[30, 50], (0, 0, 255))
    t = fv.visualize_image_with_points(torch.from_numpy(img)[None], points=pts[None])
    np.testing.assert_array_equal(t[20, 30], (0, 255, 255))
    with pytest.raises(VisualizationError, match=r"per-point colours must be \(2, 3\)"):
        fv.visualize_image_with_points(img, points=[pts[:1], pts[1:]],
                                       points_colors=[(1, 2, 3), np.zeros((3, 3))])
    assert vis.FrameVisualizer(frame_height_width=[[40, 60], [40, 60]]).frame_height_width \
        == (40, 60)
    with pytest.raises(VisualizationError, match="different sizes"):
        vis.FrameVisualizer(frame_height_width=[[40, 60], [20, 60]])


def test_frame_visualizer_file_complete_without_close(tmp_path):
    path = tmp_path / "gc.avi"
    fv = vis.FrameVisualizer(path_save=str(path), frame_height_width=(24, 32), frame_rate=10)
    for _ in range(3):
        fv(np.full((24, 32, 3), 200, np.uint8))
    del fv  # a forgotten close(): the frames written are kept, not discarded
    assert _read_video(path).shape == (3, 24, 32, 3)
    frames = np.zeros((6, 24, 32, 3), np.uint8)
    path2 = tmp_path / "play.avi"
    fv2 = vis.FrameVisualizer(path_save=str(path2), frame_height_width=[24, 32], frame_rate=10)
    assert vis.play_video_with_points(frames, fv2, points=np.full((6, 1, 2), 5.0)) == 6
    back = _read_video(path2)  # complete when play_video_with_points returns
    assert back.shape == (6, 24, 32, 3) and back[3, 5, 5, 1] > 150


def test_colors_module_exports():
    assert vcolors.simple_cmap is vis.simple_cmap
    assert set(vcolors.__all__) <= set(vis.__all__)
