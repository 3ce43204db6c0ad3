"""NWB export: round trip of positions, timing, TCA factors as time series and tables, validity."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

pynwb = pytest.importorskip("pynwb", reason="pynwb not installed (pip install face-rhythm[nwb])")

from face_rhythm import nwb
from face_rhythm.h5_handling import simple_save
from face_rhythm.provenance import run_info, run_info_to_h5_dict

N, F, R = 12, 6, 3
VIDEOS = {"v1": (90, 30.0), "v2": (60, 30.0)}  # frames, Hz
T_SPEC = {"v1": 9, "v2": 6}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """Hand-made workflow outputs of one session with two videos (layouts of the rules)."""
    root = tmp_path_factory.mktemp("nwb")
    rng = np.random.default_rng(0)
    home = np.stack(np.meshgrid(np.arange(4) * 10 + 20, np.arange(3) * 10 + 30),
                    -1).reshape(-1, 2).astype(np.float32)
    files = {"tracking": {}, "spectrograms": {}, "videos": {}}
    truth = {}
    for v, (t, fr) in VIDEOS.items():
        (root / f"{v}.avi").write_bytes(b"not really a video")
        pts = (home + rng.normal(0, 0.5, (t, N, 2))).astype(np.float32)
        truth[v] = pts
        ri = run_info_to_h5_dict(run_info({"tracking": {}}, inputs=[root / f"{v}.avi"]))
        files["tracking"][v] = simple_save(
            {"points_tracked": pts, "frame_rate": fr, "point_positions": home,
             "violations": {"row": np.array([5, 6]), "col": np.array([2, 2]),
                            "data": np.array([True, True]), "shape": np.array([t, N])},
             "run_info": ri}, root / v / "tracking.h5")
        files["spectrograms"][v] = simple_save(
            {"spectrograms": rng.random((2, N, F, T_SPEC[v])).astype(np.float32),
             "frequencies": np.geomspace(1, 12, F),
             "x_axis_seconds": (np.arange(T_SPEC[v]) + 0.5) * (t / fr) / T_SPEC[v]},
            root / v / "spectrogram.h5")
        files["videos"][v] = str(root / f"{v}.avi")
    tca = {"spatial": rng.random((2 * N, R)), "spectral": rng.random((F, R)),
           "time": {v: rng.random((T_SPEC[v], R)) for v in VIDEOS}}
    files["tca"] = simple_save(
        {"factors": {"(xy points)": tca["spatial"].astype(np.float32),
                     "frequency": tca["spectral"].astype(np.float32),
                     "time": np.concatenate(list(tca["time"].values())).astype(np.float32)},
         "evr": np.array([0.5, 0.2, 0.1]), "frequencies": np.geomspace(1, 12, F),
         "time_factors": {"s1": {v: tca["time"][v].astype(np.float32) for v in VIDEOS}}},
        root / "tca.h5")
    files["rois"] = simple_save({"point_positions": home}, root / "rois.h5")
    out = nwb.export_session_nwb(
        root / "s1.nwb", "s1", files["tracking"], files["spectrograms"], files["rois"],
        files["tca"], files["videos"],
        metadata={"species": "Mus musculus", "experimenter": "Doe, Jane"},
        run_info=run_info({"outputs": {"nwb": True}}))
    return {"root": root, "path": out, "truth": truth, "tca": tca, "home": home}


def test_positions_round_trip_with_session_timeline(session):
    back = nwb.read_nwb_positions(session["path"])
    assert sorted(back) == ["v1", "v2"]
    for v, (t, fr) in VIDEOS.items():
        ts, pos = back[v]
        np.testing.assert_array_equal(pos, session["truth"][v])  # bit-exact float32
        assert pos.dtype == np.float32 and ts.shape == (t,)
    # v2 starts where v1 ends: 90 frames / 30 Hz = 3 s; seconds, one frame apart
    np.testing.assert_allclose(back["v1"][0][:3], [0, 1 / 30, 2 / 30])
    np.testing.assert_allclose(back["v2"][0][0], 3.0)
    np.testing.assert_allclose(np.diff(back["v2"][0]), 1 / 30)


def test_file_contents_readable_with_pynwb(session):
    with pynwb.NWBHDF5IO(str(session["path"]), "r") as io:
        f = io.read()
        assert f.session_id == "s1" and f.subject.species == "Mus musculus"
        assert f.subject.sex == "U" and f.subject.age == "P0D/"  # honest unknowns
        assert "face_rhythm_version" in f.notes  # provenance JSON
        beh = f.processing["behavior"]
        viol = beh["tracked_points"]["violations_v1"].data[:]
        assert viol.shape == (90, N) and viol.sum() == 2 and viol[5, 2] == 1
        np.testing.assert_array_equal(beh["points"]["x"].data[:], session["home"][:, 0])
        freqs = beh["spectrogram_frequencies"]["frequency_hz"].data[:]
        np.testing.assert_allclose(freqs, np.geomspace(1, 12, F))
        # TCA: time courses per video on the session timeline, loadings as tables
        tc2 = beh["tca_time_courses"]["tca_time_v2"]
        np.testing.assert_allclose(tc2.data[:], session["tca"]["time"]["v2"], rtol=1e-6)
        assert tc2.get_timestamps()[0] == pytest.approx(3.0 + 0.5 * 2.0 / 6)
        spatial = beh["tca_spatial_loadings"].to_dataframe()
        assert len(spatial) == 2 * N and list(spatial["xy"][:2]) == ["x", "x"]
        assert spatial["xy"].iloc[N] == "y" and spatial["point"].iloc[N] == 0
        np.testing.assert_allclose(spatial["component_1"], session["tca"]["spatial"][:, 1],
                                   rtol=1e-6)
        spectral = beh["tca_spectral_loadings"].to_dataframe()
        np.testing.assert_allclose(spectral["frequency_hz"], freqs)
        np.testing.assert_allclose(spectral["component_2"], session["tca"]["spectral"][:, 2],
                                   rtol=1e-6)
        np.testing.assert_allclose(
            beh["tca_components"]["explained_variance_ratio"].data[:], [0.5, 0.2, 0.1])
        videos = f.intervals["videos"].to_dataframe()
        np.testing.assert_allclose(videos[["start_time", "stop_time"]].to_numpy(),
                                   [[0, 3], [3, 5]])
        ext = f.acquisition["video_v2"]
        assert list(ext.external_file[:]) == ["v2.avi"]  # relative to the NWB file


def test_provenance_is_found_in_the_nwb_file(session):
    import h5py

    from face_rhythm.provenance import find_run_info

    with h5py.File(session["path"], "r") as f:
        info = find_run_info(f)
    assert info["config"] == {"outputs": {"nwb": True}}
    assert info["versions"]["numpy"] == np.__version__


def test_passes_pynwb_validation_and_nwbinspector(session):
    pytest.importorskip("nwbinspector", reason="nwbinspector not installed")
    assert nwb.validate_nwb(session["path"]) == []


def test_bad_inputs_fail_early_with_clear_messages(session, tmp_path):
    root = session["root"]
    with pytest.raises(ValueError, match="unknown NWB metadata key"):
        nwb.SessionMetadata.from_dict({"speceis": "Mus musculus"})
    with pytest.raises(ValueError, match="must end in .nwb"):
        nwb.export_session_nwb(tmp_path / "x.h5", "s1", {"v1": root / "v1" / "tracking.h5"})
    with pytest.raises(ValueError, match=r"spectrograms videos \['v2'\] differ"):
        nwb.export_session_nwb(tmp_path / "x.nwb", "s1", {"v1": root / "v1" / "tracking.h5"},
                               {"v2": root / "v2" / "spectrogram.h5"})
    v = nwb.read_tracking_h5(root / "v1" / "tracking.h5", "v1")
    bad = nwb.TcaFactors(spatial=np.ones((N, R)), spectral=np.ones((F, R)),
                         time={"v1": np.ones((9, R))})
    with pytest.raises(ValueError, match=r"spatial factor \(12, 3\) is not \(2 x 12 points"):
        nwb.build_nwbfile("s1", [v], tca=bad)
    assert list(tmp_path.iterdir()) == []


def test_tca_time_factor_split_by_lengths(tmp_path):
    t = np.arange(10 * R, dtype=np.float32).reshape(10, R)
    path = simple_save({"factors": {"(xy points)": np.ones((4, R)), "frequency": np.ones((F, R)),
                                    "time": t}}, tmp_path / "tca.h5")
    got = nwb.read_tca_h5(path, ["a", "b"], time_lengths=[4, 6])
    np.testing.assert_array_equal(got.time["b"], t[4:])
    with pytest.raises(ValueError, match="cannot be split"):
        nwb.read_tca_h5(path, ["a", "b"], time_lengths=[4, 5])


def test_nwb_export_stage_writes_a_valid_file_with_config_provenance(session, tmp_path):
    root = session["root"]
    outputs = {"nwb": True, "nwb_metadata": {"species": "Mus musculus"}}
    out = tmp_path / "s1.nwb"
    problems = nwb.nwb_export_stage(
        out, "s1", list(VIDEOS), [root / v / "tracking.h5" for v in VIDEOS],
        [root / v / "spectrogram.h5" for v in VIDEOS], root / "rois.h5", [root / "tca.h5"],
        [str(root / f"{v}.avi") for v in VIDEOS], outputs)
    if importlib.util.find_spec("nwbinspector") is not None:
        assert problems == []
    back = nwb.read_nwb_positions(out)
    np.testing.assert_array_equal(back["v2"][1], session["truth"]["v2"])
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        f = io.read()
        assert f.subject.species == "Mus musculus"
        assert "tca_time_courses" in f.processing["behavior"].data_interfaces
        assert json.loads(f.notes)["config"] == {"outputs": outputs}
    with pytest.raises(ValueError, match="unknown NWB metadata key"):
        nwb.nwb_export_stage(tmp_path / "x.nwb", "s1", ["v1"], [root / "v1" / "tracking.h5"],
                             [], root / "rois.h5", None, [], {"nwb_metadata": {"lba": "x"}})
    assert not (tmp_path / "x.nwb").exists()
