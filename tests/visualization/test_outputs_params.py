"""The ``outputs`` section's parameters: schema defaults equal the dataclass defaults; unknown
keys are errors naming the section and the key, with a suggestion."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from face_rhythm.errors import ConfigError
from face_rhythm.params import defaults
from face_rhythm.visualization import OutputsParams, OverlayParams


def _schema_section(repo_root, *path):
    node = yaml.safe_load((repo_root / "workflow" / "schemas" / "config.schema.yaml").read_text())
    for key in path:
        node = node["properties"][key]
    return node


def _stated_defaults(section: dict) -> dict:
    """Property -> default, for the properties whose schema states a ``default:``."""
    return {k: v["default"] for k, v in section.get("properties", {}).items() if "default" in v}


def test_schema_defaults_equal_outputs_params_defaults(repo_root):
    section = _schema_section(repo_root, "outputs")
    stated = _stated_defaults(section)
    assert stated, "the schema states no outputs defaults"
    ours = defaults(OutputsParams)
    for key, value in stated.items():
        if key == "overlay":  # {} in the schema: every overlay default (none stated there)
            assert value == {}
            continue
        assert ours[key] == value, key
    assert set(ours) == set(section["properties"])  # the same keys


def test_schema_overlay_defaults_equal_overlay_params_defaults(repo_root):
    section = _schema_section(repo_root, "outputs", "overlay")
    ours = defaults(OverlayParams)
    for key, value in _stated_defaults(section).items():
        assert ours[key] == value, key
    # every key the schema allows is a field (colours are library-only)
    assert set(section["properties"]) <= set(ours)


def test_unknown_keys_name_the_section_and_suggest():
    with pytest.raises(ConfigError, match=r"outputs: unknown key 'contact_sheet_frame' "
                                          r"\(did you mean 'contact_sheet_frames'\?\)"):
        OutputsParams.from_config({"contact_sheet_frame": 3})
    with pytest.raises(ConfigError, match=r"unknown overlay parameter: outputs\.overlay: "
                                          r"unknown key 'widht' \(did you mean 'width'\?\)"):
        OutputsParams.from_config({"overlay": {"widht": 100}})
    with pytest.raises(ValueError, match="unknown overlay parameter"):
        OverlayParams.from_dict({"strat": 3})


def test_from_config_builds_nested_overlay_and_keeps_defaults():
    p = OutputsParams.from_config({"contact_sheet_frames": 4, "overlay": {"width": 320}})
    assert p.contact_sheet_frames == 4 and p.overlay == OverlayParams(width=320)
    assert p.overlay_video is True and p.nwb is False and p.nwb_metadata == {}
    assert OutputsParams.from_config(None) == OutputsParams()
    assert OutputsParams.from_config(p) is p
    assert dataclasses.is_dataclass(p.overlay)
    assert OverlayParams.from_config(None) == OverlayParams()
