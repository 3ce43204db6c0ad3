"""The workflow's spectrogram step: tracking.h5 -> spectrogram.h5 + PNG, and the old door."""

from __future__ import annotations

import numpy as np
import torch

from face_rhythm.h5_handling import simple_save
from face_rhythm.spectral_analysis import (
    read_spectrogram_file,
    read_tracking_h5,
    spectrogram_from_tracking_file,
)

CFG = {"params_VQT": {"F_min": 1.0, "F_max": 25.0, "n_freq_bins": 12, "downsample_factor": 10},
       "batch_size": 2}


def _tracking(path, fs=60.0, n_frames=400, n_points=4):
    rng = np.random.default_rng(1)
    home = rng.uniform(20, 200, (n_points, 2)).astype(np.float32)
    pt = (home[None] + rng.normal(0, 0.5, (n_frames, n_points, 2))).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    simple_save({"points_tracked": pt, "point_positions": home, "frame_rate": fs}, path)
    return pt, home


def test_read_tracking_h5_is_a_door_over_the_owner(tmp_path):
    pt, home = _tracking(tmp_path / "tracking.h5")
    got_pt, got_home, fr = read_tracking_h5(tmp_path / "tracking.h5")
    assert isinstance(got_pt, np.ndarray) and got_pt.dtype == np.float32
    np.testing.assert_array_equal(got_pt, pt)
    np.testing.assert_array_equal(got_home, home)
    assert fr == 60.0


def test_stage_writes_file_and_figure_and_sets_threads(tmp_path):
    tracking = tmp_path / "results" / "s1" / "v1" / "tracking.h5"
    _tracking(tracking)
    out = tmp_path / "results" / "s1" / "v1" / "spectrogram.h5"
    fig = tmp_path / "results" / "s1" / "figures" / "spectrogram_v1.png"
    summary = spectrogram_from_tracking_file(tracking, out, CFG, figure_path=fig,
                                             n_figure_points=2, threads=1)
    # the rule's threads split the rows of the CPU filter bank: the same numbers
    two = spectrogram_from_tracking_file(tracking, tmp_path / "two.h5", CFG, threads=2)
    np.testing.assert_array_equal(read_spectrogram_file(two.path).spectrograms,
                                  read_spectrogram_file(out).spectrograms)
    # settings that vqt.VQT itself computes ('full' padding) run torch on those threads
    same = {**CFG, "params_VQT": {**CFG.get("params_VQT", {}), "padding": "full"}}
    before = torch.get_num_threads()
    try:
        spectrogram_from_tracking_file(tracking, tmp_path / "same.h5", same, threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    got = read_spectrogram_file(out)
    assert got.shape == summary.shape and got.shape[:2] == (2, 4)
    assert got.run_info["config"]["vqt"] == CFG
    assert got.run_info["inputs"][0]["path"] == str(tracking)
