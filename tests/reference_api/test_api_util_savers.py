"""face_rhythm.util.Figure_Saver / Image_Saver: files read back with PIL."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from face_rhythm import util
from face_rhythm.errors import ConfigError, VisualizationError
from face_rhythm.project import prepare_project


@pytest.fixture
def path_config(tmp_path):
    return prepare_project(tmp_path / "proj")[0]


def test_saver_folder_from_the_config_or_given(path_config, tmp_path):
    s = util.Image_Saver(path_config=path_config)
    assert s.dir_save == str(tmp_path / "proj" / "visualizations")
    assert s.formats_save == ["png"] and s.overwrite is False and s.verbose == 1
    assert util.Image_Saver(dir_save=tmp_path / "x").dir_save == str(tmp_path / "x")
    with pytest.raises(ConfigError):
        util.Figure_Saver()
    f = util.Figure_Saver(dir_save=tmp_path)
    assert f.kwargs_savefig == {"bbox_inches": "tight", "pad_inches": 0.1, "transparent": True,
                                "dpi": 300}
    assert isinstance(f, util.Saver_Viz_Base)


def test_figure_saver_writes_each_format_and_respects_overwrite(path_config, tmp_path):
    saver = util.Figure_Saver(path_config=path_config, formats_save=["png", "svg"],
                              kwargs_savefig={"dpi": 20}, verbose=0)
    fig = Figure(figsize=(2, 1))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1])
    fig.set_label("my_fig")
    paths = saver.save_figure(fig)
    folder = tmp_path / "proj" / "visualizations"
    assert paths == [str(folder / "my_fig.png"), str(folder / "my_fig.svg")]
    with Image.open(folder / "my_fig.png") as im:
        assert im.size == (40, 20)  # 2 x 1 inches at 20 dpi
    assert (folder / "my_fig.svg").read_text().lstrip().startswith("<?xml")
    before = (folder / "my_fig.png").read_bytes()
    ax.plot([0, 1], [1, 0], lw=5)
    assert saver.save_figure(fig, formats_save="png") == []  # kept: overwrite=False
    assert (folder / "my_fig.png").read_bytes() == before
    saver.overwrite = True
    saver(fig, name_save="my_fig", formats_save="png")
    assert (folder / "my_fig.png").read_bytes() != before
    out = saver.save_figure(fig, name_save="elsewhere", dir_save=tmp_path / "o",
                            formats_save=["pdf"])
    assert out == [str(tmp_path / "o" / "elsewhere.pdf")]
    assert (tmp_path / "o" / "elsewhere.pdf").read_bytes()[:4] == b"%PDF"


def test_image_saver_round_trips_uint8_and_scales_floats(tmp_path):
    saver = util.Image_Saver(dir_save=tmp_path, formats_save=["png", "tif"], verbose=0)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
    paths = saver.save_image(img, name_save="rgb")
    assert paths == [str(tmp_path / "rgb.png"), str(tmp_path / "rgb.tif")]
    for p in paths:
        np.testing.assert_array_equal(np.asarray(Image.open(p)), img)
    saver.save_image(np.array([[0.0, 0.5], [1.0, 0.25]]), formats_save="png")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "image.png")),
                                  [[0, 128], [255, 64]])
    saver.save_image(np.full((3, 4, 1), 7, dtype=np.int64), name_save="one", formats_save="png")
    assert np.asarray(Image.open(tmp_path / "one.png")).shape == (3, 4)
    with pytest.raises(VisualizationError, match=r"\[0, 1\]"):
        saver.save_image(np.array([[0.0, 2.0]]))
    with pytest.raises(VisualizationError, match="255"):
        saver.save_image(np.array([[0, 300]]))
    with pytest.raises(VisualizationError, match="shape"):
        saver.save_image(np.zeros((2, 3, 5)))
    with pytest.raises(VisualizationError, match="cannot write"):
        saver.save_image(img, formats_save="nope")


def test_save_gif_frames_duration_and_loop_read_back(tmp_path):
    saver = util.Image_Saver(dir_save=tmp_path, verbose=0)
    frames = [np.full((8, 10), v, dtype=np.uint8) for v in (0, 80, 160, 240)]
    frames[2][0, 0] = 10
    path = saver.save_gif(frames, name_save="anim", frame_rate=4.0, loop=True)
    assert path == str(tmp_path / "anim.gif")
    with Image.open(path) as im:
        assert im.n_frames == 4
        assert im.info["loop"] == 0
        assert im.info["duration"] == 250
        for i, f in enumerate(frames):
            im.seek(i)
            np.testing.assert_array_equal(np.asarray(im.convert("L")), f)
    # RGB frames, played once
    rgb = np.zeros((3, 6, 6, 3), dtype=np.uint8)
    for i in range(3):
        rgb[i, :, :, i] = 255
    saver.save_gif(rgb, name_save="rgb", frame_rate=10, loop=False)
    with Image.open(tmp_path / "rgb.gif") as im:
        assert im.n_frames == 3 and "loop" not in im.info
        im.seek(1)
        np.testing.assert_array_equal(np.asarray(im.convert("RGB"))[0, 0], [0, 255, 0])
    # an existing file is kept unless overwrite
    assert saver.save_gif(frames, name_save="anim") is None
    with pytest.raises(VisualizationError, match="frame_rate"):
        saver.save_gif(frames, frame_rate=0)
