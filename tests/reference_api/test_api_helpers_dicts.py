"""The reference's dict helpers (face_rhythm.helpers -> face_rhythm.dicts): known answers."""

from __future__ import annotations

import logging

import pytest

from face_rhythm import helpers
from face_rhythm.errors import ConfigError, FaceRhythmError, ParamsKeyError

DEFAULTS = {
    "general": {"overwrite": True, "verbose": 1},
    "PointTracker": {"params_optical_flow": {"window_size": 21, "max_level": 2},
                     "mesh_rigidity": 0.01, "relaxation": None},
    "TCA": {"rank": 10},
}


def test_deep_update_dict_sets_a_nested_value_in_a_copy():
    out = helpers.deep_update_dict(DEFAULTS, ["PointTracker", "params_optical_flow",
                                              "window_size"], 31)
    assert out["PointTracker"]["params_optical_flow"]["window_size"] == 31
    assert DEFAULTS["PointTracker"]["params_optical_flow"]["window_size"] == 21  # not touched
    assert out["PointTracker"]["params_optical_flow"]["max_level"] == 2


def test_deep_update_dict_in_place_and_rename():
    d = {"a": {"b": 1, "c": 2}}
    assert helpers.deep_update_dict(d, ["a", "b"], new_key="bb", in_place=True) is None
    assert d == {"a": {"c": 2, "bb": 1}}
    helpers.deep_update_dict(d, ["a", "c"], new_val=5, new_key="cc", in_place=True)
    assert d == {"a": {"bb": 1, "cc": 5}}
    assert helpers.deep_update_dict({"x": 1}, "x", 2) == {"x": 2}  # a str key is one level


def test_deep_update_dict_missing_key_names_the_path():
    with pytest.raises(ConfigError, match=r"'nope'.*\['a'\]"):
        helpers.deep_update_dict({"a": {"b": 1}}, ["a", "nope"], 3)
    with pytest.raises(ConfigError, match="new_val or new_key"):
        helpers.deep_update_dict({"a": 1}, ["a"])


def test_flatten_dict_known_answer():
    d = {"a": {"b": 1, "c": {"d": 2}}, "e": 3, 7: {"f": None}, "empty": {}}
    assert helpers.flatten_dict(d) == {"a.b": 1, "a.c.d": 2, "e": 3, "7.f": None,
                                       "empty": {}}
    assert helpers.flatten_dict({"a": {"b": 1}}, sep="/") == {"a/b": 1}
    assert helpers.flatten_dict({"a": {"b": 1}}, parent_key="p") == {"p.a.b": 1}


def test_find_subDict_key_regex_and_depth():
    found = helpers.find_subDict_key(DEFAULTS, r"^(window|max)_")
    assert found == [(["PointTracker", "params_optical_flow", "window_size"], 21),
                     (["PointTracker", "params_optical_flow", "max_level"], 2)]
    assert helpers.find_subDict_key(DEFAULTS, "window", max_depth=2) == []
    top = helpers.find_subDict_key(DEFAULTS, "Tracker", max_depth=1)
    assert top == [(["PointTracker"], DEFAULTS["PointTracker"])]


def test_fill_in_dict_fills_missing_keys_recursively_in_place(caplog):
    d = {"PointTracker": {"params_optical_flow": {"window_size": 41}}, "extra": 1}
    with caplog.at_level(logging.INFO, logger="face_rhythm.dicts"):
        assert helpers.fill_in_dict(d, DEFAULTS) is None
    assert d["PointTracker"]["params_optical_flow"] == {"window_size": 41, "max_level": 2}
    assert d["PointTracker"]["mesh_rigidity"] == 0.01 and d["TCA"] == {"rank": 10}
    assert d["extra"] == 1
    assert "dict.PointTracker.params_optical_flow.max_level" in caplog.text
    d["TCA"]["rank"] = 3  # deep copies: the defaults are not shared
    assert DEFAULTS["TCA"]["rank"] == 10


def test_check_keys_subset_errors_or_warns_on_unknown_keys():
    helpers.check_keys_subset({"TCA": {"rank": 2}}, DEFAULTS)  # fine
    helpers.check_keys_subset({"PointTracker": {"relaxation": {"any": 1}}}, DEFAULTS)
    with pytest.raises(ParamsKeyError, match=r"defaults\.TCA\.rnak.*'rank'") as e:
        helpers.check_keys_subset({"TCA": {"rnak": 2}}, DEFAULTS)
    assert isinstance(e.value, AssertionError) and isinstance(e.value, FaceRhythmError)
    with pytest.warns(UserWarning, match="TCA.rnak"):
        helpers.check_keys_subset({"TCA": {"rnak": 2}}, DEFAULTS, error_on_missing_keys=False)


def test_prepare_params_checks_fills_and_copies():
    params = {"general": {"verbose": 2}, "TCA": {"rank": 4}}
    out = helpers.prepare_params(params, DEFAULTS, verbose=False)
    assert out == {"general": {"verbose": 2, "overwrite": True}, "TCA": {"rank": 4},
                   "PointTracker": DEFAULTS["PointTracker"]}
    assert params == {"general": {"verbose": 2}, "TCA": {"rank": 4}}  # input untouched
    out["PointTracker"]["params_optical_flow"]["window_size"] = 0
    assert DEFAULTS["PointTracker"]["params_optical_flow"]["window_size"] == 21
    with pytest.raises(ParamsKeyError, match="defaults.bogus"):
        helpers.prepare_params({"bogus": 1}, DEFAULTS)
    with pytest.warns(UserWarning):
        kept = helpers.prepare_params({"bogus": 1}, DEFAULTS, error_on_missing_keys=False,
                                      verbose=False)
    assert kept["bogus"] == 1 and kept["TCA"] == {"rank": 10}
    # positional use, as pipeline_basic does it
    assert helpers.prepare_params({}, DEFAULTS, True, False) == DEFAULTS
