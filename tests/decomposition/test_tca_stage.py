"""tca_stage (the workflow's step, called by workflow/scripts/tca.py) and resolve_device."""

from __future__ import annotations

import numpy as np
import pytest

from face_rhythm.decomposition import TCAError, TCAFile, read_tca_file, resolve_device, tca_stage
from face_rhythm.h5_handling import simple_save

CFG = {"rank": 2, "params_method": {"n_iter_max": 5, "init": "svd", "svd": "randomized_svd",
                                    "tol": 1e-9}}


def _spec(path, n_points=6, n_time=8, seed=0):
    rng = np.random.default_rng(seed)
    simple_save({"spectrograms": rng.random((2, n_points, 5, n_time)).astype(np.float32),
                 "frequencies": np.geomspace(1, 30, 5),
                 "x_axis_seconds": np.arange(n_time) * 0.2, "frame_rate": 30.0,
                 "point_positions": rng.random((n_points, 2)).astype(np.float32) * 40}, path)
    return path


def _rois(path):
    simple_save({"example_image": np.full((40, 50), 90, np.uint8),
                 "point_positions": np.zeros((6, 2), np.float32)}, path)
    return path


def test_stage_writes_tca_h5_and_figures(tmp_path):
    specs = [_spec(tmp_path / f"sp{i}.h5", n_time=8 + i, seed=i) for i in range(2)]
    out, figs = tmp_path / "r" / "tca.h5", tmp_path / "r" / "figures" / "tca"
    got = tca_stage(specs, [_rois(tmp_path / "rois.h5")], out, figs, CFG, session="s1",
                    videos=["a", "b"], threads=1)
    assert isinstance(got, TCAFile)
    back = read_tca_file(out)
    assert back.sessions == ("s1", "s1") and back.videos == ("a", "b")
    assert back.time_factors["s1"]["b"].shape == (9, 2)
    np.testing.assert_array_equal(back.factors["time"], got.factors["time"])
    assert back.run_info["extra"]["session"] == "s1"
    assert back.run_info["config"] == {"tca": CFG}
    assert sorted(p.name for p in figs.iterdir()) == ["component_01.png", "component_02.png",
                                                      "evr.png"]


def test_stage_refuses_separate_and_bad_keys_before_reading(tmp_path):
    kw = {"session": "s1", "videos": ["a"]}
    missing = [tmp_path / "missing.h5"]
    with pytest.raises(TCAError, match="'separate' gives one decomposition per video"):
        tca_stage(missing, tmp_path / "r.h5", tmp_path / "t.h5", tmp_path / "f",
                  {"rearrange": {"combine": "separate"}}, **kw)
    with pytest.raises(TCAError, match="unknown key 'rnak'"):
        tca_stage(missing, tmp_path / "r.h5", tmp_path / "t.h5", tmp_path / "f",
                  {"rnak": 2}, **kw)
    with pytest.raises(ValueError, match="spectrogram file not found"):
        tca_stage(missing, tmp_path / "r.h5", tmp_path / "t.h5", tmp_path / "f", CFG, **kw)
    assert not (tmp_path / "t.h5").exists()


def test_resolve_device_adapter():
    assert resolve_device("numpy", None) == "cpu" == resolve_device("numpy", "auto")
    assert resolve_device("pytorch", "cpu") == "cpu"
    assert resolve_device("pytorch", "auto") in ("cpu", "cuda")
    with pytest.raises(TCAError, match="needs backend 'pytorch'"):
        resolve_device("numpy", "cuda")
    with pytest.raises(TCAError, match="is not 'numpy' or 'pytorch'"):
        resolve_device("jax", "cpu")
    with pytest.raises(TCAError, match="expected 'auto', 'cpu', 'cuda'"):
        resolve_device("pytorch", "tpu")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(TCAError, match="'cuda' requested but torch sees no CUDA device"):
            resolve_device("pytorch", "cuda")


def test_figures_drawn_in_worker_processes_equal_the_serial_ones(tmp_path):
    """save_tca_figures(n_workers=2) forks the component figures out, into processes of its
    own or forked ahead (figure_workers): the same PNG files, byte for byte, as drawing them
    all in this process."""
    from face_rhythm.decomposition import save_tca_figures
    from face_rhythm.decomposition.figures import figure_workers

    specs = [_spec(tmp_path / f"sp{i}.h5", n_time=8 + i, seed=i) for i in range(2)]
    tca = tca_stage(specs, [_rois(tmp_path / "rois.h5")], tmp_path / "tca.h5",
                    tmp_path / "f0", {**CFG, "rank": 3}, session="s1", videos=["a", "b"])
    frame = np.full((40, 50), 90, np.uint8)
    serial = save_tca_figures(tca, tmp_path / "f1", example_frame=frame, n_workers=1)
    forked = save_tca_figures(tca, tmp_path / "f2", example_frame=frame, n_workers=2)
    with figure_workers(2) as pool:  # forked and warmed up ahead, as tca_stage does
        assert pool is not None
        ahead = save_tca_figures(tca, tmp_path / "f3", example_frame=frame, n_workers=2,
                                 pool=pool)
    assert [p.name for p in serial] == [p.name for p in forked] == [p.name for p in ahead] == [
        "component_01.png", "component_02.png", "component_03.png", "evr.png"]
    for a, b, c in zip(serial, forked, ahead):
        assert a.read_bytes() == b.read_bytes() == c.read_bytes(), a.name
    assert sorted(p.name for p in (tmp_path).iterdir() if p.name.startswith(".f")) == []
