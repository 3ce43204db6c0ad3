"""The original's basic notebook, step by step, through the reference API only.

A 4 s, 120 x 160 synthetic face (three planted motion regions at 8, 4 and 2 Hz) goes through
``prepare_project`` -> ``BufferedVideoReader`` -> ``Dataset_videos`` -> ``ROIs`` (custom,
then the saved file) -> ``PointTracker`` -> ``save_run_data`` -> ``simple_load`` of
``analysis_files/*.h5`` -> ``VQT_Analyzer.demo_transform`` / ``transform_all`` -> ``TCA``
rearrange / normalize / fit / rearrange_factors / plot -> ``FrameVisualizer`` images and a
video -> ``Image_Saver.save_gif``, the way a notebook written for the original calls them
(keyword names and nesting of the original's notebook ``interactive_pipeline_basic``).

Each step is a module-scoped fixture that builds on the one before, and each test asserts
what that step must give: so a broken step fails its own test id, and the last test asserts
the science: for every planted region, a TCA component whose spatial map correlates >= 0.9
with the region's true map (``face.spatial_maps(points)``) and whose frequency factor peaks
within one bin of the planted frequency.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import face_rhythm as fr
from face_rhythm.synthetic import default_face, demo_rois, write_video

sys.path.insert(0, str(Path(__file__).resolve().parent))
import spec_parse

SPEC = Path(__file__).resolve().parents[2] / ".." / "shared" / "spec" / "reference-api.txt"

FACE_KW = {"height": 120, "width": 160, "duration_s": 4}
FRAME_RATE = 90.0  # default_face's
# The original's VQT keys, with F_min raised so a 4 s video gives a usable time axis
# (window ~ Q_lowF * Fs / F_min samples) and F_max below Nyquist (45 Hz).
PARAMS_VQT = {
    "Q_lowF": 3.0, "Q_highF": 8.0, "F_min": 1.5, "F_max": 20.0, "n_freq_bins": 24,
    "win_size": None, "symmetry": "center", "taper_asymmetric": True,
    "downsample_factor": 6, "padding": "valid", "fft_conv": True, "fast_length": True,
    "take_abs": True, "filters": None, "plot_pref": False,
}
RANK = 6


def _np(x) -> np.ndarray:
    """A frame as numpy: the original returns torch tensors (notebooks call .cpu().numpy())."""
    if hasattr(x, "cpu"):
        return x.cpu().numpy()
    return x.asnumpy() if hasattr(x, "asnumpy") else np.asarray(x)


@pytest.fixture(scope="module")
def face():
    return default_face(**FACE_KW)


@pytest.fixture(scope="module")
def project(tmp_path_factory, face):
    """``prepare_project`` on a fresh folder beside a folder holding the demo video."""
    root = tmp_path_factory.mktemp("notebook")
    write_video(face, root / "videos" / "demo_0.avi")
    path_config, path_run_info, directory_project = fr.project.prepare_project(
        directory_project=str(root / "project"), overwrite_config=True,
        update_project_paths=True, mkdir=True, initialize_visualization=False, verbose=1)
    figure_saver = fr.util.Figure_Saver(
        path_config=path_config, formats_save=["png"],
        kwargs_savefig={"bbox_inches": "tight", "pad_inches": 0.1, "transparent": True,
                        "dpi": 50}, overwrite=True, verbose=1)
    return {"root": root, "path_config": path_config, "path_run_info": path_run_info,
            "directory_project": directory_project, "figure_saver": figure_saver}


@pytest.fixture(scope="module")
def videos(project):
    """``find_paths`` + ``BufferedVideoReader`` indexed by video, as the notebook builds it."""
    paths_videos = fr.helpers.find_paths(
        dir_outer=str(project["root"] / "videos"), reMatch=r"demo_.*\.avi", depth=0)
    return fr.helpers.BufferedVideoReader(
        paths_videos=paths_videos, buffer_size=1000, prefetch=1, posthold=1,
        method_getitem="by_video", backend="decord", verbose=1)


@pytest.fixture(scope="module")
def data(project, videos):
    """``Dataset_videos`` from the reader, saved into the project."""
    data = fr.data_importing.Dataset_videos(
        bufferedVideoReader=videos, contiguous=False, frame_rate_clamp=None, verbose=1)
    data.save_config(path_config=project["path_config"], overwrite=True, verbose=1)
    data.save_run_info(path_config=project["path_config"], overwrite=True, verbose=1)
    data.save_run_data(path_config=project["path_config"], overwrite=True, verbose=1)
    return data


@pytest.fixture(scope="module")
def rois(project, data, face):
    """ROIs drawn as explicit polygons ('custom'), points on a 9 px grid, saved; then the
    saved ``ROIs.h5`` read back with ``select_mode='file'`` (what the notebook tracks with)."""
    example = _np(data[0][0])
    custom = fr.rois.ROIs(select_mode="custom", exampleImage=example,
                          coords_rois={"ROI_0": demo_rois(face)["face"]}, verbose=1)
    custom.make_points(rois=custom[0], point_spacing=9)
    custom.save_config(path_config=project["path_config"], overwrite=True, verbose=1)
    custom.save_run_info(path_config=project["path_config"], overwrite=True, verbose=1)
    custom.save_run_data(path_config=project["path_config"], overwrite=True, verbose=1)
    path_file = Path(project["directory_project"]) / "analysis_files" / "ROIs.h5"
    loaded = fr.rois.ROIs(select_mode="file", path_file=str(path_file), verbose=1)
    return custom, loaded


@pytest.fixture(scope="module")
def tracker(project, videos, rois):
    """``PointTracker`` with the original's notebook parameters, tracked and saved."""
    _, loaded = rois
    pt = fr.point_tracking.PointTracker(
        buffered_video_reader=videos,
        point_positions=loaded.point_positions,
        rois_masks=[loaded[0]],
        contiguous=False,
        params_optical_flow={
            "method": "lucas_kanade", "mesh_rigidity": 0.025, "mesh_n_neighbors": 8,
            "relaxation": 0.0015,
            "kwargs_method": {"winSize": [15, 15], "maxLevel": 2, "criteria": [3, 2, 0.03]},
        },
        params_clahe={"clipLimit": 40, "tileGridSize": [8, 8]},
        params_outlier_handling={"threshold_displacement": 25, "framesHalted_before": 10,
                                 "framesHalted_after": 10},
        visualize_video=False,
        params_visualization={"alpha": 0.2, "point_sizes": 2},
        verbose=1,
    )
    pt.track_points()
    pt.save_config(path_config=project["path_config"], overwrite=True, verbose=1)
    pt.save_run_info(path_config=project["path_config"], overwrite=True, verbose=1)
    pt.save_run_data(path_config=project["path_config"], overwrite=True, verbose=1)
    return pt


@pytest.fixture(scope="module")
def tracked(project, tracker):
    """``simple_load`` of ``analysis_files/PointTracker.h5``, as the next notebook cell does."""
    path = Path(project["directory_project"]) / "analysis_files" / "PointTracker.h5"
    return fr.h5_handling.simple_load(str(path))


@pytest.fixture(scope="module")
def spec(project, tracked):
    """``VQT_Analyzer`` at the frame rate read from ``run_info.json``, ``transform_all``."""
    Fs = fr.util.load_run_info_file(project["path_run_info"])["Dataset_videos"]["frame_rate"]
    params_VQT = {"Fs_sample": Fs, **PARAMS_VQT}
    spec = fr.spectral_analysis.VQT_Analyzer(
        params_VQT=params_VQT, batch_size=50, device="cpu", normalization_factor=0.95,
        spectrogram_exponent=1.0, one_over_f_exponent=0.5, verbose=1)
    spec.transform_all(points_tracked=tracked["points_tracked"],
                       point_positions=tracked["point_positions"])
    spec.save_config(path_config=project["path_config"], overwrite=True, verbose=1)
    spec.save_run_info(path_config=project["path_config"], overwrite=True, verbose=1)
    spec.save_run_data(path_config=project["path_config"], overwrite=True, verbose=1)
    return spec


@pytest.fixture(scope="module")
def tca(project, spec):
    """``TCA``: rearrange (xy into points, videos separate), normalize, fit, order, unfold."""
    analyzer = spec
    tca = fr.decomposition.TCA(verbose=1)
    tca.rearrange_data(
        data=analyzer.spectrograms, names_dims_array=["xy", "points", "frequency", "time"],
        names_dims_concat_array=[["xy", "points"]], concat_complexDim=False,
        name_dim_concat_complexDim="time", name_dim_dictElements="session",
        method_handling_dictElements="separate", name_dim_concat_dictElements="time",
        idx_windows=None, name_dim_array_window="time")
    tca.normalize_data(mean_subtract=False, std_divide=False, dim_name="time")
    tca.fit(method="CP_NN_HALS",
            params_method={"rank": RANK, "n_iter_max": 200, "init": "svd",
                           "svd": "truncated_svd", "tol": 1e-9, "verbose": False},
            backend="numpy", DEVICE="cpu", verbose=1)  # pytorch: ~5x slower on 2 CPU cores
    tca.order_factors_by_EVR()
    tca.rearrange_factors(undo_concat_complexDim=False, undo_concat_dictElements=True)
    tca.save_config(path_config=project["path_config"], overwrite=True, verbose=1)
    tca.save_run_info(path_config=project["path_config"], overwrite=True, verbose=1)
    tca.save_run_data(path_config=project["path_config"], overwrite=True, verbose=1)
    return tca


# ----------------------------------------------------------------------------- the steps


def test_prepare_project_writes_the_project_folder(project):
    d = Path(project["directory_project"])
    assert Path(project["path_config"]) == d / "config.yaml" and d.joinpath("config.yaml").is_file()
    assert Path(project["path_run_info"]) == d / "run_info.json"
    assert (d / "analysis_files").is_dir() and (d / "visualizations").is_dir()
    cfg = fr.util.load_config_file(project["path_config"])
    assert Path(cfg["paths"]["project"]).resolve() == d.resolve()


def test_buffered_video_reader_gives_torch_frames_by_video(videos, face):
    import torch

    assert videos.num_frames_total == face.n_frames
    assert list(videos.frame_height_width) == [face.height, face.width]  # one [H, W]
    frames = videos[(0, slice(0, 5))]
    assert isinstance(frames, torch.Tensor) and tuple(frames.shape) == (5, 120, 160, 3)
    one = _np(videos[(0, 7)])
    assert one.shape in ((1, 120, 160, 3), (120, 160, 3))
    # lossless FFV1: the decoded frame is the rendered one
    np.testing.assert_array_equal(one.reshape(120, 160, 3)[..., 0], face.render(7))


def test_dataset_videos_metadata_and_run_info(project, data, face):
    assert data.frame_rate == pytest.approx(FRAME_RATE)
    assert list(data.frame_height_width) == [face.height, face.width]
    assert data.num_frames_total == face.n_frames
    assert _np(data[0][0]).shape[-3:] == (120, 160, 3)
    run_info = fr.util.load_run_info_file(project["path_run_info"])
    assert run_info["Dataset_videos"]["frame_rate"] == pytest.approx(FRAME_RATE)
    assert "Dataset_videos" in fr.util.load_config_file(project["path_config"])


def test_rois_custom_then_file_round_trip(project, rois, face):
    custom, loaded = rois
    mask = np.asarray(custom[0], dtype=bool)
    assert mask.shape == (face.height, face.width) and 0.2 < mask.mean() < 0.9
    pts = np.asarray(custom.point_positions)
    assert pts.ndim == 2 and pts.shape[1] == 2 and custom.num_points == len(pts) > 50
    xi, yi = np.round(pts).astype(int).T
    assert mask[yi, xi].all(), "grid points must lie inside the ROI"
    assert np.allclose(np.diff(np.unique(pts[:, 0])) % 9, 0), "9 px grid in x"
    np.testing.assert_array_equal(np.asarray(loaded[0], dtype=bool), mask)
    np.testing.assert_allclose(loaded.point_positions, pts)
    assert "mask_0" in fr.h5_handling.simple_load(
        str(Path(project["directory_project"]) / "analysis_files" / "ROIs.h5"))["mask_images"]


def test_point_tracker_follows_the_planted_motion(project, tracker, tracked, rois, face):
    _, loaded = rois
    pts0 = np.asarray(loaded.point_positions, dtype=np.float64)
    traces = np.asarray(tracked["points_tracked"]["0"], dtype=np.float64)
    assert traces.shape == (face.n_frames, len(pts0), 2)
    np.testing.assert_allclose(tracked["point_positions"], pts0, atol=1e-4)
    true = face.positions(pts0)  # (T, N, 2) image coordinates
    d_est, d_true = traces - pts0, true - pts0
    moving = np.abs(d_true).max(axis=(0, 2)) > 0.5
    assert moving.sum() > 10
    r = np.corrcoef(d_est[:, moving].ravel(), d_true[:, moving].ravel())[0, 1]
    assert r > 0.8, f"tracked vs true displacement r={r:.3f}"
    run_info = fr.util.load_run_info_file(project["path_run_info"])
    assert "PointTracker" in run_info


def test_vqt_demo_transform_and_transform_all(spec, tracked, face):
    analyzer = spec
    spec_demo, x_axis, freqs = analyzer.demo_transform(
        points_tracked=tracked["points_tracked"], point_positions=tracked["point_positions"],
        idx_point=30, name_points="0", plot=False)
    n_freqs = PARAMS_VQT["n_freq_bins"]
    assert np.asarray(spec_demo).shape == (2, n_freqs, len(x_axis))
    assert len(freqs) == n_freqs and freqs[0] == pytest.approx(1.5, rel=1e-3)
    n_points = len(tracked["point_positions"])
    s = np.asarray(analyzer.spectrograms["0"])
    assert s.shape[:3] == (2, n_points, n_freqs) and s.shape[3] == len(analyzer.x_axis["0"])
    assert np.isfinite(s).all() and (s >= 0).all()


def test_analysis_files_load_with_simple_load(project, spec, tca):
    d = Path(project["directory_project"]) / "analysis_files"
    for name in ("Dataset_videos", "ROIs", "PointTracker", "VQT_Analyzer", "TCA"):
        assert (d / f"{name}.h5").is_file(), name
    v = fr.h5_handling.simple_load(str(d / "VQT_Analyzer.h5"))
    assert np.asarray(v["spectrograms"]["0"]).shape[0] == 2
    t = fr.h5_handling.simple_load(str(d / "TCA.h5"))
    assert "factors" in t
    run_info = json.loads(Path(project["path_run_info"]).read_text())
    assert {"Dataset_videos", "ROIs", "PointTracker", "VQT_Analyzer", "TCA"} <= set(run_info)


def test_tca_recovers_each_planted_region(tca, spec, tracked, face):
    """Each planted region: a component with spatial map r >= 0.9 and frequency peak within
    one bin (the README-demo criterion of tests/workflow/test_workflow.py)."""
    analyzer = spec
    pts = np.asarray(tracked["point_positions"], dtype=np.float64)
    n = len(pts)
    f = tca.factors_rearranged["0"]
    pxy = np.asarray(f["(xy points)"]).reshape(2 * n, -1)  # (2N, R) or (2, N, R): x then y
    ff = np.asarray(f["frequency"])
    freqs = np.asarray(analyzer.freqs["0"])
    assert pxy.shape[1] == ff.shape[1] == RANK and ff.shape[0] == len(freqs)
    maps, dirs = face.spatial_maps(pts), face.directions()
    for k, comp in enumerate(face.components):
        true = np.concatenate([abs(dirs[k, 0]) * maps[k], abs(dirs[k, 1]) * maps[k]])
        target = int(np.argmin(np.abs(np.log(freqs) - np.log(comp.frequency_hz))))
        found = [(round(float(np.corrcoef(true, pxy[:, r])[0, 1]), 3), int(np.argmax(ff[:, r])))
                 for r in range(RANK)]
        assert any(c >= 0.9 and abs(peak - target) <= 1 for c, peak in found), (
            comp.name, target, found)


def test_tca_plot_factors_saves_figures(project, tca):
    import matplotlib

    matplotlib.use("Agg")
    tca.plot_factors(figure_saver=project["figure_saver"], show_figures=False)
    pngs = list(Path(project["directory_project"]).joinpath("visualizations").rglob("*.png"))
    assert pngs, "plot_factors with a Figure_Saver wrote no PNG under visualizations/"


def test_frame_visualizer_images_video_and_gif(project, videos, tracked, tca):
    """Overlay the tracked points coloured by one component's weight, write a video with
    ``play_video_with_points`` and a GIF with ``Image_Saver.save_gif``."""
    import cv2

    traces = np.asarray(tracked["points_tracked"]["0"], dtype=np.float32)
    n = traces.shape[1]
    weights = np.asarray(tca.factors_rearranged["0"]["(xy points)"]).reshape(2, n, -1)
    w = np.abs(weights[..., 0]).sum(0)
    colors = (fr.helpers.simple_cmap([[0, 0, 1], [1, 0, 0]])(w / w.max())[:, :3] * 255)
    colors = colors.astype(np.uint8)
    d = Path(project["directory_project"]) / "visualizations"
    path_video = d / "points_demo.avi"
    fv = fr.visualization.FrameVisualizer(
        display=False, path_save=str(path_video), frame_height_width=videos.frame_height_width,
        frame_rate=30, point_sizes=2, points_colors=[colors], alpha=1.0, verbose=1)
    frames = []
    for i in range(0, 20, 4):
        image = _np(videos[(0, i)]).reshape(120, 160, 3)
        out = fv.visualize_image_with_points(image=image, points=[traces[i].astype(np.int64)],
                                             points_colors=[colors], point_sizes=2)
        assert out.shape == (120, 160, 3) and out.dtype == np.uint8
        xi, yi = np.round(traces[i]).astype(int).T  # per-point colours land on the points
        np.testing.assert_array_equal(out[yi, xi], colors)
        frames.append(out)
    fv.close()
    path_video_2 = d / "points_demo_2.avi"
    fv2 = fr.visualization.FrameVisualizer(
        display=False, path_save=str(path_video_2), frame_height_width=videos.frame_height_width,
        frame_rate=30, point_sizes=1, points_colors=(0, 255, 255), verbose=1)
    fr.visualization.play_video_with_points(bufferedVideoReader=videos[0], frameVisualizer=fv2,
                                            points=traces, idx_frames=np.arange(10))
    cap = cv2.VideoCapture(str(path_video_2))
    n_written = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    assert n_written == 10, "the video is complete when play_video_with_points returns"
    saver = fr.util.Image_Saver(path_config=project["path_config"], formats_save=["png"],
                                overwrite=True, verbose=1)
    saver.save_image(frames[0], name_save="points_frame0")
    saver.save_gif(frames, name_save="points_demo", frame_rate=5.0, loop=True, optimize=True)
    from PIL import Image

    (gif,) = list(d.rglob("points_demo.gif"))
    with Image.open(gif) as im:
        assert im.n_frames == len(frames) and im.size == (160, 120)


def test_instances_have_their_documented_attributes(project, videos, data, rois, tracker, spec,
                                                    tca):
    """Every attribute the spec documents for a class (its own and its documented bases')
    is set on the instances this notebook built (after the methods that populate them)."""
    if not SPEC.is_file():
        pytest.skip(f"spec not found at {SPEC} (a fresh clone without ../shared)")
    classes = {e.qualname: e for e in spec_parse.parse_spec(SPEC) if e.kind == "class"}

    def documented(name):
        out, queue = [], [name]
        while queue:
            c = classes.get(queue.pop(0))
            if c is not None:
                out += c.attributes
                queue += c.bases
        return out

    custom, _ = rois
    fv = fr.visualization.FrameVisualizer(display=False, path_save=None,
                                          frame_height_width=videos.frame_height_width)
    saver = fr.util.Image_Saver(path_config=project["path_config"], overwrite=True, verbose=0)
    instances = {"BufferedVideoReader": videos, "Dataset_videos": data, "ROIs": custom,
                 "PointTracker": tracker, "VQT_Analyzer": spec, "TCA": tca,
                 "Figure_Saver": project["figure_saver"], "Image_Saver": saver,
                 "FrameVisualizer": fv}
    missing = {name: [a for a in documented(name) if not hasattr(obj, a)]
               for name, obj in instances.items()}
    missing = {k: v for k, v in missing.items() if v}
    assert not missing, f"documented attributes missing: {missing}"
    assert tracker.module_name == "PointTracker" and tca.module_name == "TCA"
