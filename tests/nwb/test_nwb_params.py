"""NWB metadata parameters: defaults equal the schema's, unknown keys suggest a close one."""

from __future__ import annotations

import pytest
import yaml

from face_rhythm.errors import ConfigError
from face_rhythm.nwb import SessionMetadata
from face_rhythm.params import defaults


def test_schema_nwb_metadata_keys_and_defaults(repo_root):
    schema = yaml.safe_load((repo_root / "workflow" / "schemas" / "config.schema.yaml")
                            .read_text())
    section = schema["properties"]["outputs"]["properties"]["nwb_metadata"]
    assert section["default"] == {}
    ours = defaults(SessionMetadata)
    assert set(section["properties"]) == set(ours)
    for key, prop in section["properties"].items():
        if "default" in prop:
            assert ours[key] == prop["default"], key
    assert all(v is None for v in ours.values())  # everything optional


def test_unknown_metadata_key_names_section_and_suggests():
    with pytest.raises(ConfigError, match=r"unknown NWB metadata key: outputs\.nwb_metadata: "
                                          r"unknown key 'speceis' \(did you mean 'species'\?\)"):
        SessionMetadata.from_config({"speceis": "Mus musculus"})


def test_single_experimenter_becomes_a_list():
    md = SessionMetadata.from_config({"experimenter": "Doe, Jane", "species": "Mus musculus"})
    assert md.experimenter == ["Doe, Jane"] and md.species == "Mus musculus"
    assert SessionMetadata.from_dict(None) == SessionMetadata()
