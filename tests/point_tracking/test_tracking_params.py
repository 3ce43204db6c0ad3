"""Tracking parameters: the schema's defaults are the dataclasses' defaults; unknown keys."""

from __future__ import annotations

import logging

import pytest
import yaml

from face_rhythm import params as fr_params
from face_rhythm.point_tracking import (
    PROJECT_PARAMS,
    TrackingConfig,
    TrackingError,
    TrackingParams,
    check_device,
)


def _schema_defaults(node: dict, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], object]:
    """(path of keys) -> default, for every property of the schema that states one."""
    out = {}
    for key, sub in (node.get("properties") or {}).items():
        path = prefix + (key,)
        if "default" in sub:
            out[path] = sub["default"]
        out.update(_schema_defaults(sub, path))
    return out


def _get(d: dict, path: tuple[str, ...]):
    for key in path:
        d = d[key]
    return d


def test_schema_defaults_equal_the_dataclass_defaults(repo_root):
    schema = yaml.safe_load((repo_root / "workflow" / "schemas" / "config.schema.yaml")
                            .read_text())["properties"]["tracking"]
    stated = _schema_defaults(schema)
    assert ("chunk_size",) in stated and ("params_optical_flow", "mesh_rigidity") in stated
    section = TrackingConfig().to_config()  # every default, in the config's nested form
    for path, default in stated.items():
        assert _get(section, path) == default, ".".join(path)
    # the flat dataclass agrees with the nested form, and the section's params are its defaults
    flat = fr_params.defaults(TrackingParams)
    assert flat["mesh_rigidity"] == stated[("params_optical_flow", "mesh_rigidity")]
    assert flat["mask_margin"] == stated[("mask_margin",)]
    assert TrackingConfig().params == PROJECT_PARAMS == TrackingParams()


@pytest.mark.parametrize("section, message", [
    ({"contigous": True}, r"tracking: unknown key 'contigous' \(did you mean 'contiguous'\?\)"),
    ({"chunk_sise": 8}, r"tracking: unknown key 'chunk_sise' \(did you mean 'chunk_size'\?\)"),
    ({"params_optical_flow": {"mesh_rigidty": 0.1}},
     r"params_optical_flow: unknown key 'mesh_rigidty' \(did you mean 'mesh_rigidity'\?\)"),
    ({"params_optical_flow": {"kwargs_method": {"winsize": [9, 9]}}},
     r"kwargs_method: unknown key 'winsize' \(did you mean 'winSize'\?\)"),
    ({"params_clahe": {"clip_limit": 2.0}}, r"params_clahe: unknown key 'clip_limit'"),
    ({"params_outlier_handling": {"framesHalted_befor": 3}},
     r"unknown key 'framesHalted_befor' \(did you mean 'framesHalted_before'\?\)"),
])
def test_unknown_key_names_section_key_and_suggestion(section, message):
    with pytest.raises(TrackingError, match=message):
        TrackingConfig.from_config(section)
    with pytest.raises(TrackingError, match=message):
        TrackingParams.from_config(section)


def test_tracking_config_from_section(repo_root):
    cfg = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())["tracking"]
    tc = TrackingConfig.from_config(cfg)
    assert tc == TrackingConfig()  # config.yaml states the defaults
    assert TrackingConfig.from_config(tc) is tc
    assert TrackingConfig.from_config(None) == TrackingConfig()
    assert TrackingConfig.from_config(tc.to_config()) == tc
    custom = TrackingConfig.from_config({"contiguous": True, "chunk_size": 8, "idx_start": 3,
                                         "params_clahe": None})
    assert (custom.contiguous, custom.chunk_size, custom.idx_start) == (True, 8, 3)
    assert custom.params == PROJECT_PARAMS.replace(clahe=None)
    with pytest.raises(TrackingError, match="chunk_size=0"):
        TrackingConfig.from_config({"chunk_size": 0})
    with pytest.raises(TrackingError, match="idx_start=-1"):
        TrackingConfig.from_config({"idx_start": -1})


def test_check_device_always_cpu(caplog):
    caplog.set_level(logging.INFO)
    assert check_device("cpu") == check_device("auto") == check_device("cuda") == "cpu"
    assert "no GPU path" in caplog.text
    with pytest.raises(TrackingError, match=r"tracking.device='tpu': expected 'cpu', 'cuda'"):
        check_device("tpu")
