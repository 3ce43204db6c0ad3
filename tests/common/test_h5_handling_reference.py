"""The documented signatures of h5_handling: write modes, compression, order, trees, closing."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from face_rhythm import h5_handling as H
from face_rhythm.errors import FaceRhythmError, PathExistsError

D = {"z_first": np.arange(5, dtype=np.int16), "a": {"k": np.eye(3, dtype=np.float32),
                                                     "s": "text", "none": None},
     "names": ["x", "yy"], "flag": True}


def _no_tmp(folder):
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_simple_save_positional_documented_order_and_round_trip(tmp_path):
    path = tmp_path / "f.h5"
    out = H.simple_save(D, path, False, True, "w-", False)
    assert out == path
    back = H.simple_load(path)
    np.testing.assert_array_equal(back["z_first"], D["z_first"])
    assert back["z_first"].dtype == np.int16 and back["a"]["k"].dtype == np.float32
    assert back["a"]["s"] == "text" and "none" not in back["a"]
    assert list(back["names"]) == ["x", "yy"] and bool(back["flag"])
    assert list(back) == ["z_first", "a", "names", "flag"]  # track_order keeps insertion order


def test_simple_save_w_dash_refuses_and_w_replaces(tmp_path):
    path = H.simple_save({"x": 1}, tmp_path / "f.h5")
    with pytest.raises(PathExistsError, match="write_mode") as e:
        H.simple_save({"x": 2}, path)
    assert isinstance(e.value, FileExistsError) and isinstance(e.value, FaceRhythmError)
    assert H.simple_load(path)["x"] == 1
    H.simple_save({"y": 2}, path, write_mode="w")
    assert H.simple_load(path) == {"y": 2}
    assert _no_tmp(tmp_path)


def test_simple_save_append_adds_items_atomically(tmp_path):
    path = H.simple_save({"g": {"a": 1}, "x": 1}, tmp_path / "f.h5")
    H.simple_save({"g": {"b": 2}, "y": np.arange(3)}, path, write_mode="a")
    back = H.simple_load(path)
    assert back["g"] == {"a": 1, "b": 2} and back["x"] == 1 and list(back["y"]) == [0, 1, 2]
    with pytest.raises(PathExistsError, match="/g/a"):
        H.simple_save({"g": {"a": 5}}, path, write_mode="a")
    assert H.simple_load(path)["g"]["a"] == 1  # the failed append left the file as it was
    assert _no_tmp(tmp_path)
    H.simple_save({"new": 1}, tmp_path / "fresh.h5", write_mode="a")  # 'a' creates
    assert H.simple_load(tmp_path / "fresh.h5") == {"new": 1}


def test_use_compression_and_track_order(tmp_path):
    big = np.zeros((100, 100))
    p1 = H.simple_save({"big": big, "scalar": 3}, tmp_path / "c.h5", use_compression=True)
    p2 = H.simple_save({"big": big}, tmp_path / "u.h5")
    with h5py.File(p1, "r") as f, h5py.File(p2, "r") as g:
        assert f["big"].compression == "gzip" and f["big"].compression_opts == 9
        assert f["scalar"].compression is None and g["big"].compression is None
    assert p1.stat().st_size < p2.stat().st_size / 10
    keys = ["zz", "aa", "mm"]
    p3 = H.simple_save({k: 1 for k in keys}, tmp_path / "o.h5", track_order=False)
    assert list(H.simple_load(p3)) == sorted(keys)  # without track_order: by name
    p4 = H.simple_save({k: 1 for k in keys}, tmp_path / "o2.h5", track_order=True)
    assert list(H.simple_load(p4)) == keys


def test_write_dict_to_h5_path_first_and_prints_tree(tmp_path, capsys):
    path = tmp_path / "w.h5"
    assert H.write_dict_to_h5(path, D) is None
    printed = capsys.readouterr().out
    assert "a/" in printed and "    k: shape=(3, 3) dtype=float32" in printed
    np.testing.assert_array_equal(H.simple_load(path)["a"]["k"], np.eye(3))
    with pytest.raises(PathExistsError):
        H.write_dict_to_h5(path, D, show_item_tree_pref=False)
    H.write_dict_to_h5(path, {"b": 1}, write_mode="w", show_item_tree_pref=False)
    assert capsys.readouterr().out == "" and H.simple_load(path) == {"b": 1}
    with h5py.File(path, "r+") as f:  # an open file or group is accepted too
        H.write_dict_to_h5(f, {"c": {"d": 2}})
    assert H.simple_load(path) == {"b": 1, "c": {"d": 2}}


def test_make_h5_tree_into_a_group(tmp_path):
    with h5py.File(tmp_path / "t.h5", "w") as f:
        H.make_h5_tree({"x": np.arange(2), "sub": {"y": 1.5}}, f, group_string="/outer")
        H.make_h5_tree({"z": 3}, f, group_string="outer")
        H.make_h5_tree({"top": 0}, f)
        back = H.h5Obj_to_dict(hObj=f)
    assert list(back) == ["outer", "top"]
    assert list(back["outer"]) == ["x", "sub", "z"] and back["outer"]["sub"]["y"] == 1.5


def test_show_item_tree_depth_and_metadata(tmp_path, capsys):
    path = H.simple_save({"g": {"sub": {"k": np.ones((2, 4))}}, "a": 1}, tmp_path / "m.h5")
    with h5py.File(path, "r+") as f:
        f["a"].attrs["units"] = "px"
        f["g"].attrs["n"] = np.arange(3)
    text = H.show_item_tree(path=path)
    assert capsys.readouterr().out == text + "\n"
    assert "g/\n    @n: shape=(3,) dtype=int64\n    sub/\n        k: shape=(2, 4)" in text
    assert "a: shape=() dtype=int64\n    @units: shape=() dtype=<U2" in text
    with_values = H.show_item_tree(path=path, print_metadata=True)
    assert "@units = px" in with_values and "@n = [0 1 2]" in with_values
    assert "@" not in H.show_item_tree(path=path, show_metadata=False)
    assert "sub/" not in H.show_item_tree(path=path, depth=0)
    assert "sub/" in H.show_item_tree(path=path, depth=1)
    assert "k:" not in H.show_item_tree(path=path, depth=1)
    d_text = H.show_item_tree({"x": {"y": np.zeros(2)}})  # a dict works too
    assert d_text == "x/\n    y: shape=(2,) dtype=float64"
    assert H.item_tree(path=path) == text and capsys.readouterr().out.count("g/") == 5


def test_show_group_items(tmp_path, capsys):
    path = H.simple_save({"g": {"x": 1}, "arr": np.zeros((2, 3), np.uint8)}, tmp_path / "s.h5")
    with h5py.File(path, "r") as f:
        text = H.show_group_items(f)
    assert text == "1. g: <group>\n2. arr: shape=(2, 3) dtype=uint8"
    assert capsys.readouterr().out == text + "\n"
    assert H.show_group_items({"d": {}, "v": [1, 2]}) == \
        "1. d: <group>\n2. v: shape=(2,) dtype=int64"


def test_close_all_h5_closes_lost_handles(tmp_path):
    path = H.simple_save({"x": 1}, tmp_path / "open.h5")
    handles = [H.simple_load(path, return_dict=False) for _ in range(2)]
    assert all(h.id.valid for h in handles)
    assert H.close_all_h5() >= 2
    assert not any(h.id.valid for h in handles)
    assert H.close_all_h5() == 0
    H.simple_save({"y": 2}, path, write_mode="w")  # nothing holds the file any more
    assert H.simple_load(path) == {"y": 2}


def test_simple_load_verbose_prints_the_tree(tmp_path, capsys):
    path = H.simple_save({"x": np.ones(2)}, tmp_path / "v.h5")
    assert list(H.simple_load(path, verbose=True)["x"]) == [1.0, 1.0]
    assert "x: shape=(2,) dtype=float64" in capsys.readouterr().out
