"""``pipelines.pipeline_basic`` on the synthetic demo: the original's project folder, and the
planted motion regions recovered by its TCA.

The params are the original's documented defaults (``util.get_default_parameters`` checked by
``helpers.prepare_params``) with what a 4 s, 90 fps demo video needs: ``F_min`` 1.5 Hz (a 1 Hz
VQT window is as long as the video), ``F_max`` 40 Hz (below the 45 Hz Nyquist frequency; the
original's 60 Hz is for 120 fps cameras), rank 6 (the six spectrogram time bins bound it) and
100 iterations.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from face_rhythm.errors import ConfigError
from face_rhythm.h5_handling import simple_load
from face_rhythm.helpers import prepare_params
from face_rhythm.pipelines import STEPS, pipeline_basic
from face_rhythm.rois import ROIs
from face_rhythm.synthetic import default_face, demo_rois, write_video
from face_rhythm.util import get_default_parameters, load_config_file, load_run_info_file

CLASSES = ("Dataset_videos", "ROIs", "PointTracker", "VQT_Analyzer", "TCA")


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: torch's thread pool only adds overhead (and the CI machine is shared)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, one_thread):
    """A 4 s synthetic face video, its ROIs saved as an original-format ROIs.h5, and the
    pipeline run on them."""
    tmp = tmp_path_factory.mktemp("pipeline_basic")
    face = default_face(height=120, width=160, duration_s=4)
    (tmp / "videos").mkdir()
    write_video(face, tmp / "videos" / "demo.avi")
    frame = np.repeat(face.render(0)[..., None], 3, axis=2)
    rois = ROIs(select_mode="custom", exampleImage=frame, coords_rois=demo_rois(face),
                verbose=0)
    rois.save_run_data(path_run_data=tmp / "ROIs.h5", verbose=0)

    params = get_default_parameters(directory_project=tmp / "project",
                                    directory_videos=tmp / "videos",
                                    filename_videos_strMatch=r".*\.avi",
                                    path_ROIs=tmp / "ROIs.h5")
    params["project"]["random_seed"] = 0
    params["VQT_Analyzer"]["params_VQT"].update(F_min=1.5, F_max=40.0)
    params["TCA"]["fit"]["params_method"].update(rank=6, n_iter_max=100)
    params["figure_saver"]["kwargs_savefig"]["dpi"] = 40
    params = prepare_params(params, get_default_parameters(), verbose=False)
    results = pipeline_basic(params)
    return face, tmp, results


def test_pipeline_basic_writes_the_original_project_folder(demo):
    face, tmp, results = demo
    project = tmp / "project"
    assert set(results) == {"path_config", "path_run_info", "directory_project", "SEED",
                            "params"}
    assert results["directory_project"] == str(project.resolve())
    assert results["SEED"] == 0
    for name in CLASSES:
        assert (project / "analysis_files" / f"{name}.h5").is_file(), name
    assert sorted(p.suffix for p in (project / "visualizations").iterdir()) == [".png"] * 3

    config = load_config_file(results["path_config"])
    assert set(CLASSES) <= set(config)
    assert config["paths"]["project"] == str(project.resolve())
    assert config["PointTracker"]["params_optical_flow"]["mesh_rigidity"] == 0.025
    assert yaml.safe_load((project / "config.yaml").read_text()) == config  # plain YAML

    run_info = load_run_info_file(results["path_run_info"])
    assert run_info["Dataset_videos"]["frame_rate"] == pytest.approx(90.0)
    assert run_info["Dataset_videos"]["num_frames_total"] == face.n_frames == 360
    n_points = run_info["ROIs"]["num_points"]
    assert run_info["PointTracker"]["num_points"] == n_points > 50
    assert run_info["PointTracker"]["violation_fraction"] == [0.0]
    assert "face-rhythm" in run_info["TCA"]["versions"]
    # the frame rate went into params_VQT (the original fixed it at 120 Hz)
    assert results["params"]["VQT_Analyzer"]["params_VQT"]["Fs_sample"] == pytest.approx(90.0)
    assert run_info["VQT_Analyzer"]["Fs_sample"] == pytest.approx(90.0)


def test_pipeline_basic_files_reload_with_simple_load(demo):
    face, tmp, _ = demo
    af = tmp / "project" / "analysis_files"
    rois = simple_load(af / "ROIs.h5")
    n = rois["point_positions"].shape[0]
    assert list(rois["mask_images"]) == ["mask_0"] and list(rois["roi_points"]) == ["ROI_0"]
    np.testing.assert_allclose(rois["roi_points"]["ROI_0"], demo_rois(face)["face"])

    pt = simple_load(af / "PointTracker.h5")
    tracked = pt["points_tracked"]["0"]
    assert tracked.shape == (face.n_frames, n, 2) and tracked.dtype == np.float32
    np.testing.assert_array_equal(tracked[0], rois["point_positions"])
    assert set(pt["violations"]["0"]) == {"row", "col", "data", "shape"}
    assert list(pt["violations"]["0"]["shape"]) == [face.n_frames, n]
    assert pt["neighbors"].shape == (n, 8) and pt["mask"].shape == (120, 160)
    # the tracker follows the planted motion (its mesh forces shrink it somewhat)
    true = face.displacements(rois["point_positions"], from_frame=0)
    got = tracked - tracked[0]
    moving = np.abs(true).max(axis=(0, 2)) > 0.5
    r = np.corrcoef(true[:, moving].ravel(), got[:, moving].ravel())[0, 1]
    assert r > 0.7  # 0.78 with the original's 2-iteration LK criteria

    vqt = simple_load(af / "VQT_Analyzer.h5")
    spec = vqt["spectrograms"]["0"]
    freqs = vqt["frequencies"]
    assert spec.shape[:3] == (2, n, 36) and spec.shape[3] == vqt["x_axis"]["0"].shape[0]
    assert freqs[0] == pytest.approx(1.5, rel=1e-4) and freqs[-1] == pytest.approx(40, rel=1e-4)

    tca = simple_load(af / "TCA.h5")
    f = tca["factors"]["0"]
    assert f["(xy points)"].shape == (2 * n, 6)
    assert f["frequency"].shape == (36, 6) and f["time"].shape == (spec.shape[3], 6)


def test_pipeline_basic_tca_recovers_each_planted_region(demo):
    """As the README demo test: for each planted region a component whose spatial map
    correlates >= 0.9 with the region's true map and whose frequency profile peaks within one
    bin of its frequency."""
    face, tmp, _ = demo
    af = tmp / "project" / "analysis_files"
    pts = simple_load(af / "ROIs.h5")["point_positions"]
    freqs = simple_load(af / "VQT_Analyzer.h5")["frequencies"]
    f = simple_load(af / "TCA.h5")["factors"]["0"]
    pxy = f["(xy points)"].reshape(2, len(pts), -1)  # index xy * N + point
    ff = f["frequency"]
    maps, dirs = face.spatial_maps(pts), face.directions()
    for k, comp in enumerate(face.components):
        true = np.concatenate([abs(dirs[k, 0]) * maps[k], abs(dirs[k, 1]) * maps[k]])
        target = int(np.argmin(np.abs(np.log(freqs) - np.log(comp.frequency_hz))))
        found = [(float(np.corrcoef(true, pxy[:, :, r].ravel())[0, 1]),
                  int(np.argmax(ff[:, r]))) for r in range(pxy.shape[2])]
        assert any(c >= 0.9 and abs(peak - target) <= 1 for c, peak in found), (
            comp.name, found, target)


def test_pipeline_basic_resumes_from_the_project_folder(demo, tmp_path):
    """Steps read their inputs from analysis_files: TCA alone, on a copy of the project,
    gives the same factors (same seed)."""
    import shutil

    _, tmp, results = demo
    copy = tmp_path / "project"
    shutil.copytree(tmp / "project", copy)
    params = dict(results["params"])
    params["steps"] = ["TCA"]
    params["project"] = {**params["project"], "directory_project": str(copy),
                         "update_project_paths": True}
    pipeline_basic(params)
    a = simple_load(tmp / "project" / "analysis_files" / "TCA.h5")["factors"]["0"]
    b = simple_load(copy / "analysis_files" / "TCA.h5")["factors"]["0"]
    for dim in a:
        np.testing.assert_allclose(a[dim], b[dim], rtol=1e-5, atol=1e-8)
    assert load_config_file(copy / "config.yaml")["paths"]["project"] == str(copy.resolve())


def test_pipeline_basic_refuses_gui_rois_and_unknown_steps(tmp_path):
    params = get_default_parameters(directory_project=tmp_path / "p")
    params["steps"] = ["ROIs"]
    params["ROIs"]["initialize"]["select_mode"] = "gui"
    with pytest.raises(ConfigError, match="display"):
        pipeline_basic(params)
    params["steps"] = ["load_videos", "tracking"]
    with pytest.raises(ConfigError, match="tracking"):
        pipeline_basic(params)
    params["steps"] = ["VQT"]  # nothing tracked in this project yet
    with pytest.raises(ConfigError, match="load_videos"):
        pipeline_basic(params)
    params["steps"] = ["TCA"]
    with pytest.raises(ConfigError, match="VQT_Analyzer.h5: missing"):
        pipeline_basic(params)
    params = get_default_parameters()
    with pytest.raises(ConfigError, match="directory_project"):
        pipeline_basic(params)
    assert STEPS == ("load_videos", "ROIs", "point_tracking", "VQT", "TCA")
