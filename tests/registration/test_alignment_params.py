"""The alignment config section -> AlignmentParams / ReferenceFrameParams: the schema's
defaults equal the dataclass's, unknown keys fail with a suggestion."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from face_rhythm.errors import AlignmentParamsError
from face_rhythm.params import defaults
from face_rhythm.registration import AlignmentParams, ReferenceFrameParams

REPO = Path(__file__).resolve().parents[2]


def _schema_section() -> dict:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    return schema["properties"]["alignment"]["properties"]


def test_schema_defaults_equal_the_dataclass_defaults():
    props = _schema_section()
    schema_defaults = {k: spec["default"] for k, spec in props.items() if "default" in spec}
    # every key of the section has a default in the schema, and a field here
    assert set(schema_defaults) == set(props) == set(defaults(AlignmentParams))
    assert schema_defaults == {k: defaults(AlignmentParams)[k] for k in schema_defaults}
    assert AlignmentParams.from_config(schema_defaults) == AlignmentParams()


def test_reference_frame_fields_take_the_library_defaults():
    lib = ReferenceFrameParams()
    wf = AlignmentParams()
    for name in ("ds_factor", "ptile_specVar_keep", "clip_limit", "grid_size", "device"):
        assert getattr(wf, name) == getattr(lib, name), name
    # the workflow reads at most 3000 frames per video; the library all of them
    assert wf.max_frames_per_video == 3000 and lib.max_frames_per_video is None
    rf = wf.reference_frame_params()
    assert rf == ReferenceFrameParams(max_frames_per_video=3000)


def test_absent_keys_keep_the_defaults():
    assert AlignmentParams.from_config(None) == AlignmentParams() == AlignmentParams.from_config({})
    p = ReferenceFrameParams.from_config({"enabled": True, "backend": "RoMa", "ds_factor": 4,
                                          "max_frames_per_video": None})
    assert p == ReferenceFrameParams(ds_factor=4, max_frames_per_video=None)


@pytest.mark.parametrize("cfg, message", [
    ({"ds_facter": 4}, r"alignment: unknown key 'ds_facter' \(did you mean 'ds_factor'\?\)"),
    ({"z_treshold": 3.0}, r"alignment: unknown key 'z_treshold' \(did you mean 'z_threshold'\?\)"),
])
def test_unknown_key_names_the_section_and_suggests(cfg, message):
    with pytest.raises(AlignmentParamsError, match=message):
        AlignmentParams.from_config(cfg)
    with pytest.raises(AlignmentParamsError, match=message):
        ReferenceFrameParams.from_config(cfg)


def test_values_out_of_range_are_alignment_errors():
    with pytest.raises(AlignmentParamsError, match="ds_factor"):
        ReferenceFrameParams.from_config({"ds_factor": 0})
    with pytest.raises(AlignmentParamsError, match="unknown key"):
        ReferenceFrameParams.from_config({"params_vqt": {"F_mni": 1}})
