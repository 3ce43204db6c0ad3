"""Lazy package exports (face_rhythm.lazy): light jobs load no heavy library, and a lazy name
that would be shadowed by its submodule is refused."""

from __future__ import annotations

import types

import pytest

from face_rhythm.lazy import lazy_exports


def test_session_check_and_workflow_parse_imports_load_no_torch_or_tensorly(heavy_imports):
    """What the workflow's parse (decomposition_common.smk) and the session check import."""
    loaded = heavy_imports(
        "import face_rhythm.preflight\n"
        "from face_rhythm.decomposition import TCAStreamedParams, TCAWorkflowParams\n"
        "from face_rhythm.decomposition.checks import check_tca_for_data\n"
        "from face_rhythm.point_tracking import TrackingParams, mesh_neighbors\n"
        "from face_rhythm.rois import rois_from_config\n"
        "from face_rhythm.spectral_analysis import SpectralParams, check_vqt_params, n_time_bins\n"
        "assert n_time_bins(120.0, {}, 1000) > 1\n")
    assert loaded == [], f"light imports loaded {loaded}"


def test_session_checks_of_tca_and_mesh_run_without_tensorly_or_scipy_spatial(heavy_imports):
    """The checks video_metadata runs (TCA parameters against the tensor's size, the mesh
    against the points) use tables and counts: no tensorly, k-d tree or matplotlib."""
    loaded = heavy_imports(
        "from face_rhythm.decomposition.checks import check_tca_for_data\n"
        "from face_rhythm.point_tracking import TrackingError, check_mesh_size\n"
        "assert check_tca_for_data({'rank': 4}, 50, 10, [100, 80]) == []\n"
        "bad = check_tca_for_data({'rank': 4, 'params_method': {'nope': 1}}, 50, 10, [100])\n"
        "assert len(bad) == 1 and 'nope' in bad[0], bad\n"
        "check_mesh_size(50, 8)\n"
        "try:\n"
        "    check_mesh_size(5, 5)\n"
        "    raise SystemExit('no error for 5 neighbours of 5 points')\n"
        "except TrackingError as exc:\n"
        "    assert 'only 4 neighbour' in str(exc), exc\n", extra=("scipy.spatial",))
    assert loaded == [], f"the checks loaded {loaded}"


def test_lazy_names_load_on_first_access_and_clashes_are_refused():
    import face_rhythm.decomposition as dec

    assert callable(dec.mttkrp)  # the function, not its module of the same name
    assert dec.TCA.__name__ == "TCA" and "read_tca_file" in dir(dec)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = dec.nope
    with pytest.raises(ImportError, match="named like a submodule"):
        lazy_exports("pkg", vars(types.SimpleNamespace()), {"fit": ("fit",)})


def test_tracking_through_the_original_helpers_door_loads_no_torch(heavy_imports):
    """``fr.helpers.BufferedVideoReader`` + ``PointTracker`` (the original's tracking
    notebook) load no torch (250 MB): helpers' names load on first access, and the warps
    import torch only where a tensor is made. A tracking job's imports load no pandas or
    scipy either."""
    loaded = heavy_imports("import face_rhythm as fr\n"
                           "assert fr.helpers.BufferedVideoReader.__name__ == "
                           "'BufferedVideoReader'\n"
                           "assert fr.point_tracking.PointTracker.__name__ == 'PointTracker'\n")
    assert loaded == []
    loaded = heavy_imports("from face_rhythm.point_tracking import track_points_stage\n"
                           "from face_rhythm.runlog import setup_logging\n",
                           extra=("pandas", "scipy", "scipy.sparse"))
    assert loaded == []


def test_every_helpers_name_resolves():
    from face_rhythm import helpers

    missing = [n for n in helpers.__all__ if getattr(helpers, n, None) is None]
    assert not missing
    assert set(helpers.__all__) <= set(dir(helpers))
