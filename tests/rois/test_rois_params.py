"""The rois config section -> RoisParams: schema defaults equal the dataclass, unknown keys fail."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from face_rhythm.params import defaults
from face_rhythm.rois import RoiError, RoisParams, rois_from_config

REPO = Path(__file__).resolve().parents[2]


def test_schema_defaults_equal_the_dataclass_defaults():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    props = schema["properties"]["rois"]["properties"]
    cfg = {k: spec["default"] for k, spec in props.items() if "default" in spec}
    assert set(cfg) == set(defaults(RoisParams))
    assert cfg == defaults(RoisParams)
    assert RoisParams.from_config(cfg) == RoisParams() == RoisParams.from_config(None)


def test_unknown_key_names_the_section_and_suggests():
    msg = r"rois: unknown key 'point_spacin' \(did you mean 'point_spacing'\?\)"
    with pytest.raises(RoiError, match=msg):
        RoisParams.from_config({"point_spacin": 9})
    with pytest.raises(RoiError, match=msg):
        rois_from_config({"polygons": {"face": [[5, 5], [70, 8], [65, 55]]},
                          "point_spacin": 9}, (60, 80))


def test_absent_keys_are_the_schema_defaults():
    face = {"face": [[5, 5], [70, 8], [65, 55], [8, 50]]}
    rs = rois_from_config({"polygons": face}, (60, 80))
    assert rs.point_spacing == 9 and rs.points_from == ["face"]
    assert rs.tracking_mask().all()  # mask_from [] (the schema's default): whole frame
    assert rois_from_config(RoisParams(polygons=face, mask_from=["face"]),
                            (60, 80)).mask_from == ["face"]
