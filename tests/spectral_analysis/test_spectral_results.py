"""spectrogram.h5: write_spectrogram_h5 -> read_spectrogram_file / open_spectrogram_file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from face_rhythm.h5_handling import simple_save
from face_rhythm.spectral_analysis import (
    SpectrogramFile,
    SpectrogramFileError,
    compute_spectrograms,
    open_spectrogram_file,
    read_spectrogram_file,
    write_spectrogram_h5,
)

CFG = {"params_VQT": {"F_min": 1.0, "F_max": 25.0, "n_freq_bins": 12, "downsample_factor": 10},
       "batch_size": 2}


def _tracks(n_frames=400, n_points=5, seed=0):
    rng = np.random.default_rng(seed)
    home = rng.uniform(20, 200, (n_points, 2)).astype(np.float32)
    walk = np.cumsum(rng.normal(0, 0.3, (n_frames, n_points, 2)), axis=0)
    return (home[None] + walk).astype(np.float32), home


def test_round_trip(tmp_path):
    pt, home = _tracks()
    path = tmp_path / "spectrogram.h5"
    summary = write_spectrogram_h5(path, pt, home, 60.0, CFG, extra={"note": "x"})
    ref, freqs, x = compute_spectrograms(pt, home, 60.0, CFG)
    got = read_spectrogram_file(path)
    assert isinstance(got, SpectrogramFile) and got.path == path
    assert got.shape == summary.shape == ref.shape
    np.testing.assert_array_equal(got.spectrograms, ref)
    assert got.spectrograms.dtype == np.float32 and got.frequencies.dtype == np.float32
    np.testing.assert_array_equal(got.frequencies, freqs)
    np.testing.assert_array_equal(got.x_axis_frames, x)
    np.testing.assert_allclose(got.x_axis_seconds, x / 60.0)
    assert got.frame_rate == 60.0
    np.testing.assert_array_equal(got.point_positions, home)
    assert got.filters.shape[0] == len(freqs)
    assert got.mean_power_per_timepoint.shape == x.shape
    assert got.params["batch_size"] == 2 and got.params["params_VQT"]["Fs_sample"] == 60.0
    assert got.run_info["extra"]["note"] == "x"
    with open_spectrogram_file(path) as sf:
        assert isinstance(sf.spectrograms, h5py.Dataset)
        np.testing.assert_array_equal(sf.spectrograms[:, 3], ref[:, 3])
        np.testing.assert_array_equal(sf.frequencies, freqs)


def test_minimal_file_and_errors(tmp_path):
    spec = np.ones((2, 3, 4, 5), np.float32)
    simple_save({"spectrograms": spec, "frequencies": np.geomspace(1, 8, 4),
                 "x_axis_seconds": np.arange(5.0)}, tmp_path / "min.h5")
    got = read_spectrogram_file(tmp_path / "min.h5")
    assert got.frame_rate is None and got.point_positions is None and got.params == {}
    assert got.run_info is None and got.shape == (2, 3, 4, 5)
    with pytest.raises(SpectrogramFileError, match="spectrogram file not found"):
        read_spectrogram_file(tmp_path / "none.h5")
    simple_save({"spectrograms": spec}, tmp_path / "other.h5")
    with (pytest.raises(SpectrogramFileError, match="no dataset 'frequencies'"),
          open_spectrogram_file(tmp_path / "other.h5")):
        pass
    simple_save({"spectrograms": spec[0], "frequencies": np.arange(4.0),
                 "x_axis_seconds": np.arange(5.0)}, tmp_path / "bad.h5")
    with pytest.raises(ValueError, match=r"expected \(2, N, F, T\)"):
        read_spectrogram_file(tmp_path / "bad.h5")
