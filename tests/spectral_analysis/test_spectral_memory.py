"""Memory bounds of the streaming VQT and the light imports of the workflow's short jobs.

Properties, not timings: the VQT's work per batch stays under its budget for any video
length (so a spectrogram job's peak RSS does not grow with the video, bench/bench_memory.py),
the batches cover every point once, and the modules a light job imports load no torch,
matplotlib, vqt or tensorly.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import face_rhythm.spectral_analysis as sa
from face_rhythm.spectral_analysis import streaming
from face_rhythm.spectral_analysis.vqt_model import _piece_frames


@pytest.mark.parametrize("seconds", [10, 60, 600, 3600])
def test_vqt_work_per_batch_is_bounded_for_any_video_length(seconds):
    fs, n_points = 90.0, 1138
    n_frames = int(seconds * fs)
    model = sa.make_vqt(fs, {"F_min": 1.0, "F_max": 40.0, "n_freq_bins": 36,
                             "downsample_factor": 20}, "cpu", n_frames=n_frames)
    params = sa.SpectralParams.from_config({"batch_size": 100})
    n_t = len(sa.time_axis(model, n_frames))
    batch = streaming._batch_for(model, n_frames, n_points, n_t, params)
    n_fft = _piece_frames(model, n_frames, params.time_chunk_frames)
    n_f = len(model.freqs)
    work = 2 * batch * n_f * n_fft * 24
    block = 2 * batch * n_f * n_t * 4
    assert batch >= 1
    assert work <= max(sa.MAX_WORK_BYTES, 2 * n_f * n_fft * 24)
    assert block <= max(sa.MAX_BLOCK_BYTES, 2 * n_f * n_t * 4)
    # the FFT length is the time piece, not the video: flat beyond one piece
    assert n_fft <= params.time_chunk_frames + 2 * int(model.filters.shape[-1])
    # budgets that keep a job (imports ~300-420 MB) under 500 MB
    assert sa.MAX_WORK_BYTES + sa.MAX_BLOCK_BYTES <= 128 << 20
    covered = np.concatenate([np.arange(a, b) for a, b in streaming._batches(n_points, batch)])
    np.testing.assert_array_equal(covered, np.arange(n_points))


def test_small_batches_give_the_same_spectrograms(monkeypatch):
    rng = np.random.default_rng(3)
    home = rng.uniform(20, 200, (9, 2)).astype(np.float32)
    pt = (home[None] + np.cumsum(rng.normal(0, 0.3, (700, 9, 2)), axis=0)).astype(np.float32)
    cfg = {"params_VQT": {"F_min": 1.0, "F_max": 20.0, "n_freq_bins": 12,
                          "downsample_factor": 10},
           "batch_size": 9}
    ref, _, _ = sa.compute_spectrograms(pt, home, 60.0, cfg)
    monkeypatch.setattr(streaming, "MAX_WORK_BYTES", 1)  # one point per batch
    small, _, _ = sa.compute_spectrograms(pt, home, 60.0, cfg)
    np.testing.assert_allclose(small, ref, rtol=1e-6, atol=1e-9)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_freed_fft_buffers_go_back_to_the_os():
    assert streaming._return_freed_buffers_to_os() is True


def test_light_jobs_import_no_torch_matplotlib_vqt_or_tensorly(heavy_imports):
    """What the video_metadata check of the VQT keys, run_info_table, the readers of
    tracking.h5 / spectrogram.h5 and the TCA job import, in a fresh interpreter (the TCA
    job, numpy backend, never loads torch: about 200 MB of RSS and 2 s)."""
    loaded = heavy_imports(
        "from face_rhythm.spectral_analysis import SpectralParams, check_vqt_params\n"
        "from face_rhythm.spectral_analysis.params import _vqt_keys\n"
        "from face_rhythm.visualization import write_run_info_table\n"
        "import face_rhythm.point_tracking\n"
        "from face_rhythm.spectral_analysis import open_spectrogram_file\n"
        "from face_rhythm.decomposition import tca_stage\n"
        "assert 'F_max' in _vqt_keys() and 'Fs_sample' in _vqt_keys()\n"
        "SpectralParams.from_config({})\n")
    assert loaded == [], f"light imports loaded {loaded}"
