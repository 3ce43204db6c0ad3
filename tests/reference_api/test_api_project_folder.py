"""The original's project folder: ``prepare_project`` and the ``save_config`` /
``save_run_info`` / ``save_run_data`` of ``Dataset_videos``, ``ROIs``, ``PointTracker``,
``VQT_Analyzer`` and ``TCA`` (``FR_Module``), read back with ``util.load_config_file``,
``util.load_run_info_file`` and ``h5_handling.simple_load``, checked against known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from face_rhythm.data_importing import Dataset_videos
from face_rhythm.decomposition import TCA
from face_rhythm.h5_handling import simple_load
from face_rhythm.point_tracking import PointTracker
from face_rhythm.project import prepare_project
from face_rhythm.rois import ROIs
from face_rhythm.spectral_analysis import VQT_Analyzer
from face_rhythm.synthetic import default_face, demo_rois, write_video
from face_rhythm.util import FR_Module, load_config_file, load_run_info_file
from face_rhythm.video import BufferedVideoReader


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("project_folder")
    face = default_face(height=120, width=160, duration_s=1)
    return face, write_video(face, tmp / "demo.avi")


@pytest.fixture
def project(tmp_path):
    path_config, path_run_info, directory = prepare_project(tmp_path / "proj",
                                                            initialize_visualization=False)
    return path_config, path_run_info, directory


def _save_all(module: FR_Module, path_config: str) -> None:
    module.save_config(path_config=path_config, verbose=0)
    module.save_run_info(path_config=path_config, verbose=0)
    module.save_run_data(path_config=path_config, verbose=0)


# --------------------------------------------------------------------------- prepare_project
def test_prepare_project_makes_the_layout(tmp_path):
    path_config, path_run_info, directory = prepare_project(tmp_path / "a" / "proj",
                                                            initialize_visualization=False)
    d = (tmp_path / "a" / "proj").resolve()
    assert (path_config, path_run_info, directory) == (str(d / "config.yaml"),
                                                       str(d / "run_info.json"), str(d))
    assert (d / "analysis_files").is_dir() and (d / "visualizations").is_dir()
    cfg = yaml.safe_load((d / "config.yaml").read_text())
    assert cfg["paths"] == {"project": str(d), "config": path_config,
                            "run_info": path_run_info}
    assert json.loads((d / "run_info.json").read_text()) == {}


def test_prepare_project_keeps_updates_or_overwrites_the_config(tmp_path):
    path_config, _, _ = prepare_project(tmp_path / "p1")
    cfg = load_config_file(path_config)
    cfg["ROIs"] = {"point_spacing": 9}
    (tmp_path / "p1" / "config.yaml").write_text(yaml.safe_dump(cfg))
    prepare_project(tmp_path / "p1")  # kept as it is
    assert load_config_file(path_config)["ROIs"] == {"point_spacing": 9}
    # a moved project: update_project_paths rewrites only 'paths'
    (tmp_path / "p1").rename(tmp_path / "p2")
    new_config, _, d2 = prepare_project(tmp_path / "p2", update_project_paths=True)
    cfg2 = load_config_file(new_config)
    assert cfg2["paths"]["project"] == d2 and cfg2["ROIs"] == {"point_spacing": 9}
    prepare_project(tmp_path / "p2", overwrite_config=True)
    assert "ROIs" not in load_config_file(new_config)


def test_prepare_project_without_mkdir_needs_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="mkdir"):
        prepare_project(tmp_path / "missing", mkdir=False)


# --------------------------------------------------------------------------- Dataset_videos
def test_dataset_videos_saves_frame_rate_and_example_image(video, project):
    face, path = video
    path_config, path_run_info, directory = project
    vr = BufferedVideoReader(paths_videos=[path], buffer_size=100, prefetch=0,
                             method_getitem="by_video")
    data = Dataset_videos(bufferedVideoReader=vr, verbose=0)
    assert isinstance(data, FR_Module)
    _save_all(data, path_config)
    run_info = load_run_info_file(path_run_info)
    assert run_info["Dataset_videos"]["frame_rate"] == pytest.approx(90.0)
    assert run_info["Dataset_videos"]["num_frames_total"] == face.n_frames
    assert run_info["Dataset_videos"]["frame_height_width"] == [120, 160]
    assert load_config_file(path_config)["Dataset_videos"]["paths_videos"] == [str(path)]
    saved = simple_load(f"{directory}/analysis_files/Dataset_videos.h5")
    # FFV1 is lossless: the stored first frame is the rendered one, grey in 3 channels
    np.testing.assert_array_equal(saved["example_image"],
                                  np.repeat(face.render(0)[..., None], 3, axis=2))
    vr.close()


# --------------------------------------------------------------------------- ROIs
def test_rois_save_the_original_layout_and_load_back(video, project):
    face, _ = video
    path_config, path_run_info, directory = project
    frame = np.repeat(face.render(0)[..., None], 3, axis=2)
    poly = demo_rois(face)["face"]
    box = [[20.0, 20.0], [100.0, 20.0], [100.0, 100.0], [20.0, 100.0]]
    rois = ROIs(select_mode="custom", exampleImage=frame,
                coords_rois={"face": poly, "box": box}, verbose=0)
    rois.make_points(rois=[rois[0]], point_spacing=9)
    _save_all(rois, path_config)
    saved = simple_load(f"{directory}/analysis_files/ROIs.h5")
    assert list(saved["mask_images"]) == ["mask_0", "mask_1"]
    assert list(saved["roi_points"]) == ["ROI_0", "ROI_1"]
    np.testing.assert_array_equal(saved["roi_points"]["ROI_1"], box)
    np.testing.assert_array_equal(saved["mask_images"]["mask_0"], rois[0])
    # the box mask: the filled polygon, columns and rows 20..100
    assert saved["mask_images"]["mask_1"][20:101, 20:101].all()
    assert saved["mask_images"]["mask_1"].sum() == 81 * 81
    pts = saved["point_positions"]
    assert pts.dtype == np.float32 and pts.shape == (rois.num_points, 2)
    assert np.all(np.diff(np.unique(pts[:, 0])) % 9 == 0)  # the 9 px lattice
    np.testing.assert_array_equal(saved["exampleImage"], frame)
    assert load_run_info_file(path_run_info)["ROIs"]["num_points"] == rois.num_points
    assert load_config_file(path_config)["ROIs"]["coords_rois"]["box"] == box

    again = ROIs(select_mode="file", path_file=f"{directory}/analysis_files/ROIs.h5",
                 verbose=0)
    np.testing.assert_array_equal(again.point_positions, pts)
    for a, b in zip(again.mask_images.values(), rois.mask_images.values(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(again.exampleImage, frame)


# --------------------------------------------------------------------------- PointTracker
def test_point_tracker_saves_tracks_violations_and_mesh(video, project):
    face, path = video
    path_config, path_run_info, directory = project
    frame = np.repeat(face.render(0)[..., None], 3, axis=2)
    rois = ROIs(select_mode="custom", exampleImage=frame, coords_rois=demo_rois(face),
                verbose=0)
    vr = BufferedVideoReader(paths_videos=[path], buffer_size=100, prefetch=0)
    # a 0.3 px threshold: the planted 1.5 px motion makes violations
    pt = PointTracker(vr, rois.point_positions, rois_masks=None, verbose=0,
                      params_outlier_handling={"threshold_displacement": 0.3,
                                               "framesHalted_before": 2,
                                               "framesHalted_after": 2})
    pt.track_points()
    _save_all(pt, path_config)
    saved = simple_load(f"{directory}/analysis_files/PointTracker.h5")
    n = rois.num_points
    np.testing.assert_array_equal(saved["points_tracked"]["0"], pt.points_tracked["0"])
    assert saved["points_tracked"]["0"].shape == (face.n_frames, n, 2)
    np.testing.assert_array_equal(saved["point_positions"], rois.point_positions)
    assert saved["mask"].shape == (120, 160) and saved["mask"].all()  # no ROI masks given
    # mesh_d0: the mean offset of each point from its neighbours
    nb = saved["neighbors"]
    assert nb.shape == (n, 8) and nb.dtype == np.int64
    p0 = saved["point_positions"].astype(np.float64)
    np.testing.assert_allclose(saved["mesh_d0"], (p0[:, None] - p0[nb]).mean(axis=1),
                               atol=1e-4)
    # violations: COO frames x points, the same as in memory; the fraction is a float
    v = saved["violations"]["0"]
    assert list(v["shape"]) == [face.n_frames, n]
    assert v["row"].size > 0
    dense = np.zeros((face.n_frames, n), dtype=bool)
    dense[v["row"], v["col"]] = v["data"]
    np.testing.assert_array_equal(dense, pt.violations[0].toarray().astype(bool))
    frac = load_run_info_file(path_run_info)["PointTracker"]["violation_fraction"]
    assert frac == [pytest.approx(np.unique(v["row"]).size / face.n_frames)]
    assert 0 < frac[0] < 1
    cfg = load_config_file(path_config)["PointTracker"]
    assert cfg["params_outlier_handling"]["threshold_displacement"] == 0.3
    pt.cleanup()
    assert not vars(pt)
    vr.close()


# --------------------------------------------------------------------------- VQT_Analyzer
def test_vqt_analyzer_saves_spectrograms_at_the_planted_frequency(project):
    path_config, path_run_info, directory = project
    fs, n_frames = 90.0, 900
    t = np.arange(n_frames) / fs
    home = np.array([[10.0, 10.0], [20.0, 10.0], [30.0, 10.0]], dtype=np.float32)
    tracked = np.repeat(home[None], n_frames, axis=0).astype(np.float32)
    tracked[:, 0, 0] += np.sin(2 * np.pi * 5.0 * t)  # point 0 moves in x at 5 Hz
    tracked[:, 2, 1] += np.sin(2 * np.pi * 12.0 * t)  # point 2 moves in y at 12 Hz
    va = VQT_Analyzer(params_VQT={"Fs_sample": fs, "Q_lowF": 3, "Q_highF": 20, "F_min": 1,
                                  "F_max": 40, "n_freq_bins": 55, "window_type": "hann",
                                  "downsample_factor": 8},
                      verbose=0)
    va.transform_all({"0": tracked, "1": tracked[:600]}, home)
    _save_all(va, path_config)
    saved = simple_load(f"{directory}/analysis_files/VQT_Analyzer.h5")
    freqs = saved["frequencies"]
    assert freqs.shape == (55,) and freqs[0] == pytest.approx(1) and freqs[-1] == pytest.approx(40)
    for key in ("0", "1"):
        spec = saved["spectrograms"][key]
        assert spec.shape[:3] == (2, 3, 55) and spec.shape[3] == saved["x_axis"][key].shape[0]
        np.testing.assert_array_equal(spec, va.spectrograms[key])
    spec = saved["spectrograms"]["0"]
    peak = lambda s: freqs[np.argmax(s.mean(axis=-1))]
    assert peak(spec[0, 0]) == pytest.approx(5.0, rel=0.05)
    assert peak(spec[1, 2]) == pytest.approx(12.0, rel=0.05)
    assert "filters" in saved["VQT"]
    info = load_run_info_file(path_run_info)["VQT_Analyzer"]
    assert info["Fs_sample"] == fs and info["spectrogram_shapes"]["1"][:3] == [2, 3, 55]


# --------------------------------------------------------------------------- TCA
def test_tca_saves_factors_that_rebuild_a_planted_tensor(project):
    path_config, path_run_info, directory = project
    rng = np.random.default_rng(0)
    n, f, t, r = 10, 8, 12, 2
    a, b, c = rng.random((2 * n, r)), rng.random((f, r)), rng.random((t, r))
    x = np.einsum("ir,jr,kr->ijk", a, b, c).reshape(2, n, f, t)
    tca = TCA(verbose=0)
    tca.rearrange_data({"0": x}, method_handling_dictElements="separate")
    tca.fit(params_method={"rank": 2, "n_iter_max": 500, "init": "svd", "tol": 1e-12})
    tca.rearrange_factors(undo_concat_dictElements=False)
    _save_all(tca, path_config)
    saved = simple_load(f"{directory}/analysis_files/TCA.h5")
    fac = saved["factors"]["0"]
    assert {k: v.shape for k, v in fac.items()} == {"(xy points)": (2 * n, r),
                                                    "frequency": (f, r), "time": (t, r)}
    rec = np.einsum("r,ir,jr,kr->ijk", saved["factor_weights"]["0"], fac["(xy points)"],
                    fac["frequency"], fac["time"])
    assert np.linalg.norm(rec - x.reshape(2 * n, f, t)) / np.linalg.norm(x) < 1e-2
    assert list(saved["names_dims_array_preDecomp"]) == ["(xy points)", "frequency", "time"]
    assert "factors_rearranged" in saved
    assert load_config_file(path_config)["TCA"]["fit"]["params_method"]["rank"] == 2
    assert "versions" in load_run_info_file(path_run_info)["TCA"]


# --------------------------------------------------------------------------- FR_Module files
def test_sections_of_several_modules_share_the_files(project):
    path_config, _, _ = project
    a, b = TCA(verbose=0), TCA(verbose=2)
    a.save_config(path_config=path_config, verbose=0)
    b.save_config(path_config=path_config, overwrite=False, verbose=0)  # kept
    assert load_config_file(path_config)["TCA"]["verbose"] == 0
    b.save_config(path_config=path_config, overwrite=True, verbose=0)
    assert load_config_file(path_config)["TCA"]["verbose"] == 2
    assert "paths" in load_config_file(path_config)


def test_prepare_project_overwrite_config_also_resets_run_info(project):
    _path_config, path_run_info, directory = project
    tca = TCA(verbose=0)
    tca.save_run_info(path_run_info=path_run_info, verbose=0)
    assert "TCA" in load_run_info_file(path_run_info)
    prepare_project(directory)  # kept
    assert "TCA" in load_run_info_file(path_run_info)
    prepare_project(directory, overwrite_config=True)
    assert load_run_info_file(path_run_info) == {}
