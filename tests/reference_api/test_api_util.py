"""face_rhythm.util: default parameters, FR_Module's project files, loaders, ``import fr``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import yaml

from face_rhythm import util
from face_rhythm.errors import ConfigError
from face_rhythm.h5_handling import simple_load
from face_rhythm.project import prepare_project

#: A params dict as the original's users have it (its scripts/params_pipeline_basic.json).
ORIGINAL_PARAMS = {
    "steps": ["load_videos", "ROIs", "point_tracking", "VQT", "TCA"],
    "project": {"directory_project": "/p", "overwrite_config": False,
                "update_project_paths": True, "initialize_visualization": False,
                "use_GPU": False, "random_seed": 42, "verbose": 2},
    "figure_saver": {"formats_save": ["png"], "kwargs_savefig": {"bbox_inches": "tight",
                     "pad_inches": 0.1, "transparent": True, "dpi": 300},
                     "overwrite": True, "verbose": 2},
    "paths_videos": {"directory_videos": "/v", "filename_videos_strMatch": "demo", "depth": 0},
    "BufferedVideoReader": {"buffer_size": 1000, "prefetch": 1, "posthold": 1,
                            "method_getitem": "by_video", "verbose": 1},
    "Dataset_videos": {"contiguous": False, "frame_rate_clamp": None, "verbose": 2},
    "ROIs": {"initialize": {"select_mode": "file", "path_file": "/r.h5", "verbose": 2},
             "make_rois": {"rois_points_idx": [0], "point_spacing": 9}},
    "PointTracker": {
        "contiguous": False,
        "params_optical_flow": {"method": "lucas_kanade", "mesh_rigidity": 0.025,
                                "mesh_n_neighbors": 8, "relaxation": 0.0015,
                                "kwargs_method": {"winSize": [20, 20], "maxLevel": 2,
                                                  "criteria": [3, 2, 0.03]}},
        "visualize_video": False, "params_visualization": {"alpha": 0.2, "point_sizes": 2},
        "params_outlier_handling": {"threshold_displacement": 150, "framesHalted_before": 10,
                                    "framesHalted_after": 10},
        "verbose": 2},
    "VQT_Analyzer": {"params_VQT": {"Q_lowF": 4, "Q_highF": 10, "F_min": 1.0, "F_max": 60,
                                    "n_freq_bins": 36, "win_size": 301, "plot_pref": False,
                                    "downsample_factor": 20},
                     "normalization_factor": 0.95, "spectrogram_exponent": 1.0,
                     "one_over_f_exponent": 0.5, "verbose": 2},
    "TCA": {"verbose": 2,
            "rearrange_data": {"names_dims_array": ["xy", "points", "frequency", "time"],
                               "names_dims_concat_array": [["xy", "points"]],
                               "concat_complexDim": False, "name_dim_concat_complexDim": "time",
                               "name_dim_dictElements": "session",
                               "method_handling_dictElements": "separate",
                               "name_dim_concat_dictElements": "time", "idx_windows": None,
                               "name_dim_array_window": "time"},
            "fit": {"method": "CP_NN_HALS", "params_method": {"rank": 10, "n_iter_max": 200,
                    "init": "random", "svd": "truncated_svd", "tol": 1e-09, "verbose": False},
                    "DEVICE": "cpu", "verbose": 2},
            "rearrange_factors": {"undo_concat_complexDim": False,
                                  "undo_concat_dictElements": False}},
}


def _missing_keys(d, ref, prefix=""):
    out = []
    for k, v in d.items():
        if k not in ref:
            out.append(prefix + k)
        elif isinstance(v, dict) and isinstance(ref[k], dict):
            out += _missing_keys(v, ref[k], prefix + k + ".")
    return out


# --- get_default_parameters ---------------------------------------------------------------
def test_default_parameters_are_the_original_pipelines():
    p = util.get_default_parameters()
    assert p["steps"] == ["load_videos", "ROIs", "point_tracking", "VQT", "TCA"]
    assert p["BufferedVideoReader"]["buffer_size"] == 1000
    assert p["BufferedVideoReader"]["method_getitem"] == "by_video"
    assert p["ROIs"]["initialize"]["select_mode"] == "file"
    assert p["ROIs"]["make_rois"]["point_spacing"] == 9
    of = p["PointTracker"]["params_optical_flow"]
    assert of["kwargs_method"] == {"winSize": [20, 20], "maxLevel": 2, "criteria": [3, 2, 0.03]}
    assert (of["mesh_rigidity"], of["mesh_n_neighbors"], of["relaxation"]) == (0.025, 8, 0.0015)
    assert p["PointTracker"]["params_outlier_handling"] == {
        "threshold_displacement": 150, "framesHalted_before": 10, "framesHalted_after": 10}
    assert p["PointTracker"]["params_clahe"] == {"clipLimit": 40.0, "tileGridSize": [150, 150]}
    v = p["VQT_Analyzer"]["params_VQT"]
    assert (v["Q_lowF"], v["Q_highF"], v["F_min"], v["F_max"], v["n_freq_bins"]) == \
        (4, 10, 1.0, 60.0, 36)
    assert v["Fs_sample"] is None and v["window_type"] == "hann"
    assert v["downsample_factor"] == 20
    assert p["VQT_Analyzer"]["normalization_factor"] == 0.95
    assert p["VQT_Analyzer"]["one_over_f_exponent"] == 0.5
    fit = p["TCA"]["fit"]
    assert fit["method"] == "CP_NN_HALS" and fit["params_method"]["rank"] == 10
    assert fit["params_method"]["n_iter_max"] == 200 and fit["params_method"]["tol"] == 1e-9
    assert p["TCA"]["rearrange_data"]["method_handling_dictElements"] == "separate"
    json.dumps(p)  # plain JSON, as a params.json file


def test_default_parameters_take_the_paths_and_are_a_fresh_copy(tmp_path):
    p = util.get_default_parameters(directory_project=tmp_path, directory_videos="/videos",
                                    filename_videos_strMatch=r".*\.avi", path_ROIs="/r/ROIs.h5")
    assert p["project"]["directory_project"] == str(tmp_path)
    assert p["paths_videos"] == {"directory_videos": "/videos",
                                 "filename_videos_strMatch": r".*\.avi", "depth": 0}
    assert p["ROIs"]["initialize"]["path_file"] == "/r/ROIs.h5"
    p["PointTracker"]["params_optical_flow"]["mesh_rigidity"] = 99
    assert util.get_default_parameters()["PointTracker"]["params_optical_flow"][
        "mesh_rigidity"] == 0.025


def test_an_original_params_dict_fits_the_defaults():
    assert _missing_keys(ORIGINAL_PARAMS, util.get_default_parameters()) == []


def test_prepare_params_fills_an_original_params_dict():
    dicts = pytest.importorskip("face_rhythm.dicts")
    out = dicts.prepare_params(ORIGINAL_PARAMS, util.get_default_parameters(), verbose=False)
    assert out["PointTracker"]["params_clahe"]["tileGridSize"] == [150, 150]
    assert out["project"]["random_seed"] == 42


def test_default_parameters_from_a_partial_json(tmp_path):
    path = tmp_path / "params.json"
    path.write_text(json.dumps({"ROIs": {"make_rois": {"point_spacing": 12}},
                                "extra": {"a": 1}}))
    p = util.get_default_parameters(path_defaults=path, path_ROIs="x.h5")
    assert p["ROIs"]["make_rois"] == {"rois_points_idx": [0], "point_spacing": 12}
    assert p["ROIs"]["initialize"]["path_file"] == "x.h5"
    assert p["extra"] == {"a": 1}
    assert p["TCA"]["fit"]["params_method"]["rank"] == 10  # missing in the file: built-in
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        util.get_default_parameters(path_defaults=path)


# --- FR_Module ----------------------------------------------------------------------------
class Toy(util.FR_Module):
    def __init__(self, scale=2.0):
        super().__init__()
        self.config = {"scale": scale, "win": (20, 20), "n": np.int64(3),
                       "nested": {"v": np.float32(0.5)}}
        self.run_info = {"frame_rate": 120.0, "num_points": np.int64(7),
                         "shape": np.array([2, 3])}
        self.run_data = {"points_tracked": {"0": np.arange(12, dtype=np.float32).reshape(3, 2, 2),
                                            "1": np.ones((2, 2, 2), np.float32)},
                         "violations": [scipy.sparse.coo_matrix(
                             ([1.0, 1.0], ([0, 2], [1, 0])), shape=(3, 2))],
                         "name": "toy"}


class Other(util.FR_Module):
    def __init__(self):
        super().__init__()
        self.config = {"k": 1}
        self.run_info = {"k": 1}
        self.run_data = {"k": np.zeros(2)}


@pytest.fixture
def project(tmp_path):
    path_config, path_run_info, directory = prepare_project(tmp_path / "proj")
    return path_config, path_run_info, directory


def test_config_and_run_info_round_trip_with_one_key_per_class(project):
    path_config, path_run_info, _ = project
    toy, other = Toy(), Other()
    for m in (toy, other):
        m.save_config(path_config=path_config, verbose=0)
        m.save_run_info(path_config=path_config, verbose=0)
    config = util.load_config_file(path_config)
    assert list(config) == ["paths", "Toy", "Other"]
    assert config["Toy"] == {"scale": 2.0, "win": [20, 20], "n": 3, "nested": {"v": 0.5}}
    assert config["paths"]["run_info"] == path_run_info
    run_info = util.load_run_info_file(path_run_info)
    assert run_info == {"Toy": {"frame_rate": 120.0, "num_points": 7, "shape": [2, 3]},
                        "Other": {"k": 1}}
    assert util.load_run_info_file(path_run_info)["Toy"]["frame_rate"] == 120.0
    # the section is updated in place; overwrite=False keeps it
    Toy(scale=5.0).save_config(path_config=path_config, overwrite=False, verbose=0)
    assert util.load_config_file(path_config)["Toy"]["scale"] == 2.0
    Toy(scale=5.0).save_config(path_config=path_config, verbose=0)
    config = util.load_config_file(path_config)
    assert config["Toy"]["scale"] == 5.0 and list(config) == ["paths", "Toy", "Other"]
    # an explicit run_info path works the same; no temporary files are left behind
    Other().save_run_info(path_run_info=path_run_info, verbose=0)
    assert [p.name for p in Path(project[2]).iterdir() if p.name.startswith(".")] == []


def test_run_data_goes_to_analysis_files_and_loads_back(project):
    path_config, _, directory = project
    toy = Toy()
    path = toy.save_run_data(path_config=path_config, verbose=0)
    assert str(path) == f"{directory}/analysis_files/Toy.h5"
    d = simple_load(f"{directory}/analysis_files/Toy.h5")
    np.testing.assert_array_equal(d["points_tracked"]["0"],
                                  np.arange(12, dtype=np.float32).reshape(3, 2, 2))
    assert d["points_tracked"]["0"].dtype == np.float32
    v = d["violations"]["0"]
    np.testing.assert_array_equal(v["row"], [0, 2])
    np.testing.assert_array_equal(v["col"], [1, 0])
    np.testing.assert_array_equal(v["shape"], [3, 2])
    with pytest.raises(FileExistsError):
        toy.save_run_data(path_config=path_config, overwrite=False, verbose=0)
    toy.run_data = {"other": np.ones(3)}
    toy.save_run_data(path_config=path_config, verbose=0)
    assert list(simple_load(path)) == ["other"]


def test_paths_are_required_and_stored_path_config_is_used(project, tmp_path):
    path_config = project[0]
    toy = Toy()
    with pytest.raises(ConfigError, match="path_config"):
        toy.save_config()
    with pytest.raises(ConfigError, match="not both"):
        toy.save_run_info(path_run_info=tmp_path / "r.json", path_config=path_config)
    toy.path_config = path_config
    toy.save_config(verbose=0)
    toy.save_run_info(verbose=0)
    assert "Toy" in util.load_config_file(path_config)
    assert "Toy" in util.load_run_info_file(project[1])
    toy.run_info = None
    with pytest.raises(ConfigError, match="run_info is None"):
        toy.save_run_info(verbose=0)
    with pytest.raises(FileNotFoundError):
        Toy().save_run_data(path_config=tmp_path / "missing.yaml")


def test_dataset_videos_run_info_has_the_frame_rate(project, tmp_path):
    from face_rhythm.synthetic import default_face, write_video
    from face_rhythm.video import Dataset_videos

    assert issubclass(Dataset_videos, util.FR_Module)
    face = default_face(height=60, width=80, duration_s=0.5)
    path_video = write_video(face, tmp_path / "v.avi")
    ds = Dataset_videos(paths_videos=[str(path_video)], verbose=0)
    ds.save_run_info(path_config=project[0], verbose=0)
    ds.save_config(path_config=project[0], verbose=0)
    fr_saved = util.load_run_info_file(project[1])["Dataset_videos"]["frame_rate"]
    assert fr_saved == pytest.approx(ds.frame_rate)
    assert util.load_config_file(project[0])["Dataset_videos"]["paths_videos"] == \
        ds.paths_videos


# --- loaders ------------------------------------------------------------------------------
def test_load_yaml_safe_reads_python_tags_of_the_original(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.dump({"a": np.arange(3), "b": (1, 2)}, Dumper=yaml.Dumper))
    with pytest.raises(yaml.YAMLError):
        yaml.load(path.read_text(), Loader=yaml.FullLoader)
    d = util.load_yaml_safe(path)
    np.testing.assert_array_equal(d["a"], [0, 1, 2])
    assert d["b"] == (1, 2)
    path.write_text("")
    assert util.load_config_file(path) == {}
    path.write_text("- 1\n")
    with pytest.raises(ConfigError, match="mapping"):
        util.load_config_file(path)
    (tmp_path / "r.json").write_text("{bad")
    with pytest.raises(ConfigError, match="JSON"):
        util.load_run_info_file(tmp_path / "r.json")


# --- import face_rhythm as fr -------------------------------------------------------------
DOCUMENTED = ["alignment", "alignment_multisession", "data_importing", "decomposition",
              "h5_handling", "helpers", "pipelines", "point_tracking", "project", "rois",
              "spectral_analysis", "util", "visualization"]


def _run_fresh(code: str) -> None:
    """Run ``code`` in a fresh interpreter (nothing imported yet); fail with its stderr."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr


def test_import_face_rhythm_is_light_and_gives_submodules_lazily():
    code = (
        "import sys, face_rhythm as fr\n"
        "assert 'torch' not in sys.modules and 'cv2' not in sys.modules\n"
        "assert 'face_rhythm.util' not in sys.modules\n"
        "assert fr.util.FR_Module and fr.project.prepare_project and fr.h5_handling.simple_load\n"
        "assert 'torch' not in sys.modules\n"
        "assert fr.util is sys.modules['face_rhythm.util']\n"
        "assert 'util' in dir(fr)\n"
        "try:\n    fr.no_such_module\nexcept AttributeError:\n    pass\n"
        "else:\n    raise SystemExit('no AttributeError')\n"
    )
    _run_fresh(code)


def test_pipelines_and_the_notebook_classes_load_torch_only_when_they_compute():
    """``pipeline_basic`` runs on the CPU without torch in memory (220 MB): importing the
    pipelines, the notebook classes and seeding the run leave it out; torch is seeded when
    a GPU run loads it."""
    code = (
        "import sys\n"
        "from face_rhythm import pipelines\n"
        "from face_rhythm.spectral_analysis import VQT_Analyzer\n"
        "from face_rhythm.point_tracking import PointTracker\n"
        "seed = pipelines._set_random_seed(5)\n"
        "assert 'torch' not in sys.modules, 'torch loaded'\n"
        "pipelines._seed_torch(seed, load=False)\n"
        "assert 'torch' not in sys.modules, 'torch loaded to be seeded on a CPU run'\n"
        "pipelines._seed_torch(seed, load=True)\n"
        "import torch\n"
        "a = torch.rand(3)\n"
        "torch.manual_seed(5)\n"
        "assert torch.equal(a, torch.rand(3))\n"
    )
    _run_fresh(code)


def test_every_documented_submodule_is_an_attribute():
    import face_rhythm as fr

    for name in DOCUMENTED + ["video", "registration", "errors", "synthetic"]:
        assert getattr(fr, name).__name__ == f"face_rhythm.{name}"
        assert name in dir(fr)
