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


def test_source_chooses_between_file_and_polygons(tmp_path):
    """``rois.source``: an experiment's config, merged over a base with polygons, switches to
    a file (the file's polygons, spacing and ROI lists win); ``polygons`` ignores a file."""
    from face_rhythm.rois import save_rois_yaml

    eye = {"eye": [[40, 5], [75, 5], [75, 30], [40, 30]]}
    save_rois_yaml(rois_from_config({"polygons": eye, "point_spacing": 5,
                                     "mask_from": ["eye"]}, (60, 80)), tmp_path / "eye.yaml")
    base = {"polygons": {"face": [[5, 5], [70, 8], [65, 55], [8, 50]]}, "point_spacing": 8,
            "points_from": ["face"], "mask_from": ["face"]}
    merged = {**base, "source": "file", "file": str(tmp_path / "eye.yaml")}
    rs = rois_from_config(merged, (60, 80))
    assert list(rs.polygons) == ["eye"] and rs.point_spacing == 5
    assert rs.mask_from == ["eye"]
    rs = rois_from_config({**merged, "source": "polygons"}, (60, 80))
    assert list(rs.polygons) == ["face"] and rs.point_spacing == 8
    with pytest.raises(RoiError, match="give either 'file' or 'polygons', not both"):
        rois_from_config({**merged, "source": None}, (60, 80))
    with pytest.raises(RoiError, match=r"rois.source: 'files' is not one of"):
        RoisParams.from_config({"source": "files"})


@pytest.mark.parametrize(("polygons", "lists", "message"), [
    ({"face": [[5, 5], [30, 30], [55, 55]]}, {}, "the polygon encloses no area"),
    ({"a": [[0, 0], [30, 0], [30, 30], [0, 30]], "b": [[45, 30], [75, 30], [75, 55], [45, 55]]},
     {"points_from": ["a"], "mask_from": ["b"]}, "lies inside the tracking mask"),
])
def test_degenerate_rois_raise_one_line(polygons, lists, message):
    with pytest.raises(RoiError, match=message):
        rois_from_config({"polygons": polygons, **lists}, (60, 80))


def test_the_notebook_door_meets_the_same_checks(tmp_path):
    import numpy as np

    from face_rhythm.rois import ROIs

    with pytest.raises(RoiError, match="ROI 'face': the polygon encloses no area"):
        ROIs(select_mode="custom", exampleImage=np.zeros((60, 80), np.uint8),
             coords_rois={"face": [[5, 5], [30, 30], [55, 55]]})
    (tmp_path / "cut.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 50)
    with pytest.raises(RoiError, match="cut.h5: cannot read the ROI file"):
        ROIs(select_mode="file", path_file=tmp_path / "cut.h5")


def test_broken_roi_files_raise_roi_errors(tmp_path):
    from face_rhythm.rois import load_rois

    (tmp_path / "cut.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 50)
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(RoiError, match="cut.h5: cannot read the ROI file"):
        load_rois(tmp_path / "cut.h5")
    with pytest.raises(RoiError, match=r"empty.yaml: empty ROI file \(0 bytes\)"):
        load_rois(tmp_path / "empty.yaml")
    with pytest.raises(RoiError, match="is a directory"):
        load_rois(tmp_path)
