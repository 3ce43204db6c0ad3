"""The reference's HDF5 helpers: save/load round trip, recursive merge, item tree."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from face_rhythm import h5_handling as H


def _tree(tmp_path):
    d = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "name": "demo",
         "group": {"x": np.ones(3), "sub": {"k": 7}}}
    return H.simple_save(d, tmp_path / "f.h5"), d


def test_simple_save_load_round_trip(tmp_path):
    path, d = _tree(tmp_path)
    back = H.simple_load(path)
    np.testing.assert_array_equal(back["a"], d["a"])
    assert back["a"].dtype == np.float32
    assert back["group"]["sub"]["k"] == 7
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("how", ["filepath", "h5Obj"])
def test_merge_is_recursive_and_replaces_only_what_it_names(tmp_path, how):
    path, d = _tree(tmp_path)
    new = {"group": {"sub": {"k": 8, "extra": np.zeros(2)}, "y": 3.5}, "b": np.int64(1)}
    if how == "filepath":
        H.merge_dict_into_h5_file(new, filepath=path)
    else:
        with h5py.File(path, "r+") as f:
            H.merge_dict_into_h5_file(new, h5Obj=f)
    back = H.simple_load(path)
    np.testing.assert_array_equal(back["a"], d["a"])  # untouched
    np.testing.assert_array_equal(back["group"]["x"], d["group"]["x"])  # kept beside the merge
    assert back["group"]["sub"]["k"] == 8  # replaced
    assert back["group"]["sub"]["extra"].shape == (2,) and back["group"]["y"] == 3.5
    assert back["b"] == 1
    # a non-dict value replaces a group of the same name
    H.merge_dict_into_h5_file({"group": np.arange(4)}, filepath=path)
    np.testing.assert_array_equal(H.simple_load(path)["group"], np.arange(4))


def test_merge_errors_leave_the_file_intact(tmp_path):
    path, _ = _tree(tmp_path)
    with pytest.raises(ValueError, match="exactly one"):
        H.merge_dict_into_h5_file({"b": 1})
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        H.merge_dict_into_h5_file({"b": 1}, filepath=tmp_path / "missing.h5")
    with pytest.raises(TypeError):
        H.merge_dict_into_h5_file({"bad": object()}, filepath=path)
    back = H.simple_load(path)
    assert "bad" not in back and back["name"] in ("demo", b"demo")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_show_item_tree_lists_groups_and_shapes(tmp_path):
    path, _ = _tree(tmp_path)
    text = H.show_item_tree(path=path)
    assert "a: shape=(2, 3) dtype=float32" in text
    assert "group/" in text and "        k: shape=() dtype=int64" in text
    assert "sub/" not in H.show_item_tree(path=path, depth=0)
