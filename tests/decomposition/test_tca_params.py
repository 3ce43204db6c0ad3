"""The tca config section -> TCAParams: schema defaults equal the dataclass, unknown keys fail."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from face_rhythm.decomposition import TCAError, TCAParams, TCAWorkflowParams

REPO = Path(__file__).resolve().parents[2]


def _schema_defaults(props: dict) -> dict:
    """The config a user gets from the schema's ``default:`` entries alone (nested)."""
    out = {}
    for key, spec in props.items():
        if "default" in spec:
            out[key] = spec["default"]
        elif spec.get("type") == "object" and "properties" in spec:
            nested = _schema_defaults(spec["properties"])
            if nested:
                out[key] = nested
    return out


def test_schema_defaults_equal_the_dataclass_defaults():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    cfg = _schema_defaults(schema["properties"]["tca"]["properties"])
    # every key the schema gives a default is one the dataclasses hold
    assert set(cfg) >= {"rank", "method", "params_method", "backend", "device", "seed",
                        "normalize", "rearrange", "per_session", "all_sessions"}
    assert TCAParams.from_config(cfg) == TCAParams()
    assert TCAWorkflowParams.from_config(cfg) == TCAWorkflowParams()


def test_absent_keys_keep_the_defaults_and_values_are_converted():
    assert TCAParams.from_config(None) == TCAParams() == TCAParams.from_config({})
    p = TCAParams.from_config({"rank": 3.0, "normalize": {"dim": "frequency"},
                               "rearrange": {"concatenate_dims": [("xy", "points")]},
                               "params_method": None})
    assert p.rank == 3 and isinstance(p.rank, int)
    assert p.normalize_dim == "frequency" and p.mean_subtract is False
    assert p.concatenate_dims == [["xy", "points"]]
    assert p.params_method == TCAParams().params_method
    w = TCAWorkflowParams.from_config({"all_sessions": True})
    assert w == TCAWorkflowParams(per_session=True, all_sessions=True)


@pytest.mark.parametrize("cfg, message", [
    ({"rnak": 3}, r"tca: unknown key 'rnak' \(did you mean 'rank'\?\)"),
    ({"normalize": {"dimm": "time"}}, r"tca\.normalize: unknown key 'dimm' \(did you mean 'dim'\?\)"),
    ({"rearrange": {"combin": "stack"}},
     r"tca\.rearrange: unknown key 'combin' \(did you mean 'combine'\?\)"),
])
def test_unknown_key_names_the_section_and_suggests(cfg, message):
    with pytest.raises(TCAError, match=message):
        TCAParams.from_config(cfg)
    with pytest.raises(TCAError, match=message):
        TCAWorkflowParams.from_config(cfg)


def test_bad_values_raise_before_any_work():
    with pytest.raises(TCAError, match="not one of"):
        TCAParams.from_config({"method": "PCA"})
    with pytest.raises(TCAError, match="needs backend 'pytorch'"):
        TCAParams.from_config({"device": "cuda"})
    with pytest.raises(TCAError, match="combine 'mix'"):
        TCAParams.from_config({"rearrange": {"combine": "mix"}})


def test_method_parameter_table_matches_the_installed_tensorly():
    """The table that spares the session check a tensorly import is tensorly's own."""
    import inspect
    from importlib.metadata import version

    import tensorly
    import tensorly.decomposition as tld

    from face_rhythm.decomposition import fit

    assert version("tensorly") == tensorly.__version__
    for method in fit.METHODS:
        sig = inspect.signature(getattr(tld, method).__init__)
        actual = tuple(p for p in sig.parameters if p != "self")
        assert fit.method_parameters(method) == actual, method
        if tensorly.__version__ == fit._TABLE_TENSORLY:
            assert fit._METHOD_PARAMS[method] == actual, method
    with pytest.raises(TCAError, match="not one of"):
        fit.method_parameters("Tucker")
