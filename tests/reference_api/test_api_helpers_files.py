"""The reference's path and file helpers (face_rhythm.helpers -> face_rhythm.files)."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from face_rhythm import helpers
from face_rhythm.errors import ConfigError, FaceRhythmError, PathExistsError, PathNotFoundError


@pytest.fixture
def tree(tmp_path):
    """tmp/{a.txt, img2.png, img10.png, sub/{img1.png, deeper/{img3.png}}, sub_png/}"""
    for rel in ["a.txt", "img2.png", "img10.png", "sub/img1.png", "sub/deeper/img3.png"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(rel)
    (tmp_path / "sub_png").mkdir()
    return tmp_path


def test_find_paths_depth_regex_and_natural_order(tree):
    top = helpers.find_paths(tree, reMatch=r"\.png$")
    assert top == [str(tree / "img2.png"), str(tree / "img10.png")]  # natural: 2 before 10
    all_png = helpers.find_paths(str(tree), reMatch=r"\.png$", depth=2)
    assert {Path(p).name for p in all_png} == {"img1.png", "img2.png", "img10.png", "img3.png"}
    assert len(helpers.find_paths(tree, reMatch=r"\.png$", depth=1)) == 3
    in_sub = helpers.find_paths(tree, reMatch="png", reMatch_in_path="deeper", depth=5)
    assert in_sub == [str(tree / "sub/deeper/img3.png")]
    folders = helpers.find_paths(tree, reMatch="sub", find_files=False, find_folders=True)
    assert folders == [str(tree / "sub"), str(tree / "sub_png")]
    both = helpers.find_paths([tree, tree / "sub"], reMatch=r"img1\.", depth=0)
    assert both == [str(tree / "sub/img1.png")]
    with pytest.raises(PathNotFoundError, match="nowhere"):
        helpers.find_paths(tree / "nowhere")


def test_get_dir_contents(tree):
    folders, files = helpers.get_dir_contents(tree)
    assert folders == ["sub", "sub_png"]
    assert files == ["a.txt", "img10.png", "img2.png"]


def test_prepare_path_rules(tmp_path):
    f = tmp_path / "x" / "out.h5"
    with pytest.raises(PathNotFoundError, match="mkdir"):
        helpers.prepare_path(f)
    assert helpers.prepare_path(f, mkdir=True) == str(f.resolve())
    assert f.parent.is_dir() and not f.exists()
    d = tmp_path / "newdir"
    assert helpers.prepare_path(d, mkdir=True) == str(d) and d.is_dir()
    f.write_text("1")
    assert helpers.prepare_path(f) == str(f)
    with pytest.raises(PathExistsError):
        helpers.prepare_path(f, exist_ok=False)


def test_prepare_filepath_and_directory(tmp_path):
    f = tmp_path / "a" / "b.json"
    with pytest.raises(PathNotFoundError):
        helpers.prepare_filepath_for_saving(f)
    assert helpers.prepare_filepath_for_saving(f, mkdir=True) == str(f)
    f.write_text("{}")
    with pytest.raises(PathExistsError) as e:
        helpers.prepare_filepath_for_saving(f, allow_overwrite=False)
    assert isinstance(e.value, FileExistsError) and isinstance(e.value, FaceRhythmError)
    with pytest.raises(PathExistsError, match="folder"):
        helpers.prepare_filepath_for_saving(tmp_path)
    assert helpers.prepare_filepath_for_loading(f) == str(f)
    with pytest.raises(FileNotFoundError):
        helpers.prepare_filepath_for_loading(tmp_path / "none.json")
    assert helpers.prepare_filepath_for_loading(tmp_path / "none.json", must_exist=False)
    assert helpers.prepare_directory_for_loading(tmp_path) == str(tmp_path)
    with pytest.raises(PathNotFoundError):
        helpers.prepare_directory_for_loading(tmp_path / "none")
    with pytest.raises(PathNotFoundError):
        helpers.prepare_directory_for_saving(tmp_path / "n1")
    assert helpers.prepare_directory_for_saving(tmp_path / "n1", mkdir=True)
    with pytest.raises(PathExistsError):
        helpers.prepare_directory_for_saving(tmp_path / "n1", exist_ok=False)


OBJ = {"a": [1, 2.5, "x"], "b": {"c": None, "d": True}, "e": "é"}


@pytest.mark.parametrize("zipped", [False, True])
def test_pickle_round_trip(tmp_path, zipped):
    obj = {"arr": np.arange(1000.0).reshape(10, 100), **OBJ}
    path = tmp_path / "o.pkl"
    helpers.pickle_save(obj, path, zipCompress=zipped)
    back = helpers.pickle_load(path, zipCompressed=zipped)
    np.testing.assert_array_equal(back["arr"], obj["arr"])
    assert back["b"] == OBJ["b"] and back["e"] == "é"
    if zipped:
        with zipfile.ZipFile(path) as z:
            (info,) = z.infolist()
            assert info.compress_type == zipfile.ZIP_DEFLATED
            assert pickle.loads(z.read(info))["a"] == OBJ["a"]
    else:
        assert pickle.loads(path.read_bytes())["a"] == OBJ["a"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_pickle_modes(tmp_path):
    path = tmp_path / "o.pkl"
    helpers.pickle_save(1, path)
    with pytest.raises(FileExistsError):
        helpers.pickle_save(2, path, mode="xb")
    with pytest.raises(PathExistsError):
        helpers.pickle_save(2, path, allow_overwrite=False)
    helpers.pickle_save(3, path, mode="ab")  # a second pickle appended
    with open(path, "rb") as f:
        assert [pickle.load(f), pickle.load(f)] == [1, 3]
    with pytest.raises(ConfigError, match="mode"):
        helpers.pickle_save(1, path, mode="rb")
    with pytest.raises(PathNotFoundError):
        helpers.pickle_save(1, tmp_path / "no" / "x.pkl")
    helpers.pickle_save(1, tmp_path / "no" / "x.pkl", mkdir=True)
    assert helpers.pickle_load(tmp_path / "no" / "x.pkl") == 1


def test_json_round_trip_numpy_and_indent(tmp_path):
    path = tmp_path / "run_info.json"
    obj = {**OBJ, "n": np.int64(7), "f": np.float32(0.5), "arr": np.arange(3), "p": tmp_path}
    helpers.json_save(obj, path, indent=2)
    text = path.read_text()
    assert text.startswith('{\n  "a"')  # indent 2
    back = helpers.json_load(path)
    assert back == {**OBJ, "n": 7, "f": 0.5, "arr": [0, 1, 2], "p": str(tmp_path)}
    assert json.loads(text) == back
    with pytest.raises(FileExistsError):
        helpers.json_save(obj, path, mode="x")


def test_yaml_round_trip_keeps_order_and_numpy(tmp_path):
    path = tmp_path / "config.yaml"
    obj = {"z": 1, "m": {"tuple": (1, 2), "np": np.float64(2.5), "arr": np.eye(2)}, **OBJ}
    helpers.yaml_save(obj, path)
    back = helpers.yaml_load(path)
    assert list(back) == ["z", "m", "a", "b", "e"]  # insertion order, not sorted
    assert back["m"] == {"tuple": (1, 2), "np": 2.5, "arr": [[1.0, 0.0], [0.0, 1.0]]}
    assert back["b"] == OBJ["b"] and back["e"] == "é"
    assert "    np: 2.5" in path.read_text()  # indent 4
    assert helpers.yaml_load(path, loader=yaml.BaseLoader)["z"] == "1"
    with pytest.raises(yaml.constructor.ConstructorError):
        helpers.yaml_load(path, loader=yaml.SafeLoader)  # the tuple tag is not safe
