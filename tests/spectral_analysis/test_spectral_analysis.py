"""Tests of face_rhythm.spectral_analysis: known frequencies, exact normalisation, outputs."""

from __future__ import annotations

import json
import logging
import runpy
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import h5py
import numpy as np
import pytest
import torch

from face_rhythm import spectral_analysis as sa
from face_rhythm.h5_handling import simple_save
from face_rhythm.provenance import read_run_info
from face_rhythm.spectral_analysis import streaming as sa_streaming  # the budgets' module

REPO = Path(__file__).resolve().parents[2]

# small, quick parameters: 6 s windows are not needed, F_min = 1 Hz and Q_lowF = 4 give a
# 4 s window, so traces of 6 s leave 2 s of valid output
FAST = {"F_min": 1.0, "n_freq_bins": 36, "downsample_factor": 10}


def sinusoid_tracks(fs: float, n_frames: int, freqs_x, freqs_y, amp: float = 1.5, seed: int = 0):
    """(T, N, 2) tracks at zero home: point i moves at freqs_x[i] in x and freqs_y[i] in y
    (0 = still)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / fs
    n = len(freqs_x)
    pt = np.zeros((n_frames, n, 2), dtype=np.float32)
    for c, fr in enumerate((freqs_x, freqs_y)):
        for i, f in enumerate(fr):
            if f:
                pt[:, i, c] = amp * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return pt


def random_tracks(n_frames=600, n_points=7, seed=0):
    rng = np.random.default_rng(seed)
    home = rng.uniform(20, 200, (n_points, 2)).astype(np.float32)
    walk = np.cumsum(rng.normal(0, 0.3, (n_frames, n_points, 2)), axis=0)
    return (home[None] + walk).astype(np.float32), home


# ----------------------------------------------------------------------------- basics
def test_displacements_to_rows_order_and_values():
    pt = np.arange(3 * 2 * 2, dtype=np.float32).reshape(3, 2, 2)  # T=3, N=2
    home = np.array([[1, 2], [3, 4]], dtype=np.float32)
    rows = sa.displacements_to_rows(pt, home)
    assert rows.shape == (4, 3) and rows.dtype == np.float32
    np.testing.assert_array_equal(rows[0], pt[:, 0, 0] - 1)  # x of point 0
    np.testing.assert_array_equal(rows[1], pt[:, 1, 0] - 3)  # x of point 1
    np.testing.assert_array_equal(rows[2], pt[:, 0, 1] - 2)  # y of point 0
    np.testing.assert_array_equal(rows[3], pt[:, 1, 1] - 4)  # y of point 1
    with pytest.raises(ValueError, match=r"shape \(1, 2\); expected \(2, 2\)"):
        sa.displacements_to_rows(pt, home[:1])


def test_make_vqt_uses_frame_rate_and_window_rule():
    m = sa.make_vqt(90.0, {"F_min": 1.0, "F_max": 40.0, "Q_lowF": 4.0})
    assert m.Fs_sample == 90.0
    assert m.filters.shape == (36, 361)  # odd number >= 4 * 90 / 1
    assert sa.expected_window_length(90.0, {"Q_lowF": 4.0, "F_min": 1.0}) == 361
    f = sa._freqs(m)
    np.testing.assert_allclose(f[[0, -1]], [1.0, 40.0], rtol=1e-6)
    x = sa.time_axis(m, 1000)
    # valid padding: first output centred on frame (win-1)/2, pooled by 20 -> mean of 20
    assert x[0] == pytest.approx(180 + 9.5)
    assert len(x) == int(np.ceil((1000 - 361 + 1) / 20))


@pytest.mark.parametrize("fs", [30.0, 90.0, 250.0])
def test_sinusoid_peaks_in_nearest_bin(fs):
    f_max = 0.4 * fs
    grid = np.geomspace(1.0, f_max, 36)
    step = np.log(grid[1] / grid[0])
    rng = np.random.default_rng(int(fs))
    k_true = rng.integers(1, 35, 12)
    f_true = grid[k_true] * np.exp(rng.uniform(-0.3, 0.3, 12) * step)  # off-grid
    pt = sinusoid_tracks(fs, int(6 * fs), f_true, np.zeros(12))
    cfg = {"params_VQT": {**FAST, "F_max": f_max}, "normalization_factor": 0.0,
           "one_over_f_exponent": 0.0, "batch_size": 5}
    spec, freqs, _ = sa.compute_spectrograms(pt, np.zeros((12, 2)), fs, cfg)
    np.testing.assert_allclose(freqs, grid, rtol=1e-5)
    mean_x = spec[0].mean(axis=-1)
    nearest = np.abs(np.log(freqs[None] / f_true[:, None])).argmin(axis=1)
    np.testing.assert_array_equal(mean_x.argmax(axis=1), nearest)
    np.testing.assert_array_equal(nearest, k_true)
    assert np.all(spec[1] == 0)  # no y motion, exactly nothing


def test_two_sinusoids_in_two_points_separate():
    fs = 90.0
    grid = np.geomspace(1.0, 40.0, 36)
    k3, k12 = 10, 24  # about 2.9 and 12.6 Hz
    pt = sinusoid_tracks(fs, 540, [grid[k3], 0.0], [0.0, grid[k12]])
    cfg = {"params_VQT": FAST, "normalization_factor": 0.95, "one_over_f_exponent": 0.0}
    spec, freqs, _ = sa.compute_spectrograms(pt, np.zeros((2, 2)), fs, cfg)
    np.testing.assert_allclose(freqs, grid, rtol=1e-5)
    assert spec[0, 0].mean(-1).argmax() == k3
    assert spec[1, 1].mean(-1).argmax() == k12
    assert np.all(spec[1, 0] == 0) and np.all(spec[0, 1] == 0)
    # the 3 Hz point has little power at 12 Hz and vice versa
    assert spec[0, 0, k12].mean() < 0.05 * spec[0, 0, k3].mean()
    assert spec[1, 1, k3].mean() < 0.05 * spec[1, 1, k12].mean()


# ----------------------------------------------------------------------------- normalisation
def numpy_reference(pt, home, fs, pv, nf, ex, a, complex_out):
    """Independent NumPy evaluation of facts.md's formula on the raw VQT of all rows."""
    model = sa.make_vqt(fs, pv)
    rows = np.concatenate([(pt[:, :, 0] - home[None, :, 0]).T,
                           (pt[:, :, 1] - home[None, :, 1]).T]).astype(np.float32)
    with torch.no_grad():
        raw = model(torch.from_numpy(rows)).numpy()
    raw = raw.astype(np.complex128 if np.iscomplexobj(raw) else np.float64)
    s = np.abs(raw) ** ex
    m = s.sum(axis=1).mean(axis=0)  # mean over rows of the sum over frequencies, (T,)
    out = s / (nf * m + (1 - nf))
    if complex_out:
        out = out * np.exp(1j * np.angle(raw))
    out = out * model.freqs.numpy().astype(np.float64)[None, :, None] ** a
    n = pt.shape[1]
    return out.reshape(2, n, out.shape[1], out.shape[2])


@pytest.mark.parametrize("nf, ex, a, cplx", [
    (0.95, 1.0, 0.5, False),
    (0.7, 2.0, 0.0, False),
    (1.0, 0.5, 1.0, True),
    (0.95, 1.0, 0.5, True),
])
def test_normalisation_matches_numpy_formula(nf, ex, a, cplx):
    fs = 60.0
    pt, home = random_tracks(n_frames=500, n_points=7)
    pv = {**FAST, "F_max": 25.0, "take_abs": not cplx}
    cfg = {"params_VQT": pv, "normalization_factor": nf, "spectrogram_exponent": ex,
           "one_over_f_exponent": a, "return_complex": cplx, "batch_size": 3}
    spec, _, _ = sa.compute_spectrograms(pt, home, fs, cfg)
    ref = numpy_reference(pt, home.astype(np.float64), fs, pv, nf, ex, a, cplx)
    assert spec.dtype == (np.complex64 if cplx else np.float32)
    assert spec.shape == ref.shape
    np.testing.assert_allclose(spec, ref, rtol=2e-5, atol=2e-6 * np.abs(ref).max())
    # and the in-memory helper agrees too
    model = sa.make_vqt(fs, pv)
    raw = model(torch.from_numpy(sa.displacements_to_rows(pt, home)))
    direct = sa.normalize_spectrogram(raw, sa._freqs(model), nf, ex, a)
    np.testing.assert_allclose(direct.reshape(ref.shape), ref, rtol=2e-5,
                               atol=2e-6 * np.abs(ref).max())


def test_exponent_and_one_over_f_change_output_as_defined():
    fs = 60.0
    pt, home = random_tracks(n_frames=500, n_points=4, seed=3)
    base = {"params_VQT": {**FAST, "F_max": 25.0}, "batch_size": 2}
    s0, freqs, _ = sa.compute_spectrograms(pt, home, fs, {**base, "normalization_factor": 0.9,
                                                          "one_over_f_exponent": 0.0})
    s1, _, _ = sa.compute_spectrograms(pt, home, fs, {**base, "normalization_factor": 0.9,
                                                      "one_over_f_exponent": 0.7})
    np.testing.assert_allclose(s1, s0 * freqs[:, None].astype(np.float64) ** 0.7, rtol=1e-5)
    # without normalisation, exponent 2 squares the magnitude
    e1, _, _ = sa.compute_spectrograms(pt, home, fs, {**base, "normalization_factor": 0.0,
                                                      "one_over_f_exponent": 0.0})
    e2, _, _ = sa.compute_spectrograms(pt, home, fs, {**base, "normalization_factor": 0.0,
                                                      "one_over_f_exponent": 0.0,
                                                      "spectrogram_exponent": 2.0})
    np.testing.assert_allclose(e2, e1.astype(np.float64) ** 2, rtol=1e-5)
    # full normalisation: mean over rows of the sum over frequencies is 1 at every time
    n1, _, _ = sa.compute_spectrograms(pt, home, fs, {**base, "normalization_factor": 1.0,
                                                      "one_over_f_exponent": 0.0})
    np.testing.assert_allclose(n1.sum(axis=2).mean(axis=(0, 1)), 1.0, rtol=1e-5)


def test_constant_offset_contributes_nothing():
    fs = 90.0
    sig = sinusoid_tracks(fs, 540, [5.0, 0.0, 2.0], [7.0, 0.0, 0.0])
    cfg = {"params_VQT": FAST}
    ref, _, _ = sa.compute_spectrograms(sig, np.zeros((3, 2)), fs, cfg)
    home = np.array([[120.0, 40.0], [17.5, 300.0], [64.0, 64.0]], dtype=np.float32)
    moved, _, _ = sa.compute_spectrograms(sig + home[None], home, fs, cfg)
    np.testing.assert_allclose(moved, ref, rtol=1e-5, atol=1e-6 * ref.max())
    assert np.all(moved[:, 1] == 0)  # a still point gives exactly nothing


def test_time_chunks_equal_whole_traces():
    fs = 90.0
    pt, home = random_tracks(n_frames=3001, n_points=3, seed=5)
    for cplx in (False, True):
        cfg = {"params_VQT": {**FAST, "downsample_factor": 7, "take_abs": not cplx},
               "return_complex": cplx}
        whole, _, _ = sa.compute_spectrograms(pt, home, fs, {**cfg, "time_chunk_frames": None})
        pieces, _, _ = sa.compute_spectrograms(pt, home, fs, {**cfg, "time_chunk_frames": 700})
        # float32 FFTs of different lengths: phases of small values differ more than magnitudes
        np.testing.assert_allclose(np.abs(pieces), np.abs(whole), rtol=1e-4,
                                   atol=1e-5 * np.abs(whole).max())
        np.testing.assert_allclose(pieces, whole, rtol=1e-3, atol=1e-4 * np.abs(whole).max())


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("fs, pv, n_frames, match", [
    (60.0, {"F_max": 30.5}, None, r"F_max=30.5 Hz must not exceed the Nyquist frequency 30 Hz"),
    (60.0, {"F_max": 45.0}, None, r"Nyquist"),
    (90.0, {"F_min": 0.0}, None, r"F_min=0.0 Hz must be > 0"),
    (90.0, {"F_min": -1.0}, None, r"F_min=-1.0"),
    (90.0, {"F_min": 20.0, "F_max": 10.0}, None, r"F_min=20.0 Hz must be below F_max=10.0"),
    (90.0, {"F_min": 1.0, "Q_lowF": 4.0}, 200, r"window of 361 frames.*trace of 200 frames"),
    (90.0, {"window_type": "nonsense"}, None, r"window_type='nonsense'"),
    (90.0, {"padding": "full", "fft_conv": False}, None, r"padding='full'"),
    (90.0, {"Fs_sample": 120}, None, r"Fs_sample=120 Hz differs from the frame rate 90"),
    (90.0, {"bogus": 1}, None, r"unknown key\(s\) \['bogus'\]"),
])
def test_vqt_parameter_errors(fs, pv, n_frames, match):
    with pytest.raises(sa.SpectralParamsError, match=match):
        sa.make_vqt(fs, pv, n_frames=n_frames)


def test_config_and_input_errors():
    with pytest.raises(ValueError, match="take_abs=false"):
        sa.SpectralParams.from_config({"return_complex": True})
    with pytest.raises(ValueError, match=r"normalization_factor=1.5"):
        sa.SpectralParams.from_config({"normalization_factor": 1.5})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['oops'\]"):
        sa.SpectralParams.from_config({"oops": 1})
    pt = np.zeros((300, 2, 2), np.float32)
    with pytest.raises(ValueError, match="window of 361 frames.*300 frames"):
        sa.compute_spectrograms(pt, np.zeros((2, 2)), 90.0, {})
    pt = np.zeros((600, 2, 2), np.float32)
    pt[10, 1, 0] = np.nan
    with pytest.raises(ValueError, match="1 NaN"):
        sa.compute_spectrograms(pt, np.zeros((2, 2)), 90.0, {})
    with pytest.raises(ValueError, match=r"point_positions have shape \(3, 2\)"):
        sa.compute_spectrograms(np.zeros((600, 2, 2)), np.zeros((3, 2)), 90.0, {})
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            sa.make_vqt(90.0, {}, device="cuda")
    assert sa.resolve_device("auto").type in ("cpu", "cuda")


# ----------------------------------------------------------------------------- files
def test_write_spectrogram_h5_streams_exactly(tmp_path):
    fs = 60.0
    pt, home = random_tracks(n_frames=500, n_points=7, seed=2)
    for cplx in (False, True):
        cfg = {"params_VQT": {**FAST, "F_max": 25.0, "take_abs": not cplx},
               "return_complex": cplx, "batch_size": 3, "normalization_factor": 0.95}
        ref, freqs, x = sa.compute_spectrograms(pt, home, fs, cfg)
        path = tmp_path / f"spec_{cplx}.h5"
        summary = sa.write_spectrogram_h5(path, pt, home, fs, cfg, inputs=[])
        assert summary.shape == ref.shape
        with h5py.File(path, "r") as f:
            assert f["spectrograms"].dtype == (np.complex64 if cplx else np.float32)
            np.testing.assert_array_equal(f["spectrograms"][()], ref)
            np.testing.assert_array_equal(f["frequencies"][()], freqs)
            np.testing.assert_array_equal(f["x_axis_frames"][()], x)
            np.testing.assert_allclose(f["x_axis_seconds"][()], x / fs)
            assert float(f["frame_rate"][()]) == fs
            np.testing.assert_array_equal(f["point_positions"][()], home)
            assert f["filters"].shape[0] == len(freqs) and f["filters"].dtype == np.complex64
            params = json.loads(f["params"][()])
            assert params["params_VQT"]["Fs_sample"] == fs
            assert params["params_VQT"]["win_size"] == f["filters"].shape[1]
            info = read_run_info(f["run_info"])
            assert info["extra"]["n_points"] == 7
        np.testing.assert_allclose(summary.point_power,
                                   np.abs(ref).sum(axis=(2, 3)), rtol=1e-5)
    assert not list(tmp_path.glob("*.tmp"))


def test_tracks_from_a_file_are_streamed_through_a_temporary_file_exactly(monkeypatch,
                                                                        tmp_path):
    """A tracking.h5 dataset is rearranged point by point in chunks of frames (several
    chunks here), never loaded whole; the spectrograms equal the in-memory ones bitwise."""
    fs = 60.0
    pt, home = random_tracks(n_frames=700, n_points=9, seed=5)
    cfg = {"params_VQT": {**FAST, "F_max": 25.0}, "batch_size": 4}
    ref, _, _ = sa.compute_spectrograms(pt, home, fs, cfg)
    monkeypatch.setattr(sa_streaming, "TRACK_CHUNK_BYTES", 9 * 8 * 64)  # 64 frames a chunk
    with h5py.File(tmp_path / "tracks.h5", "w") as f:
        f.create_dataset("pt", data=pt, chunks=(32, 9, 2))
    read = []
    with h5py.File(tmp_path / "tracks.h5", "r") as f:
        ds = f["pt"]

        class Spy:  # records what is read from the dataset
            shape, dtype = ds.shape, ds.dtype

            def __getitem__(self, key):
                read.append(key)
                return ds[key]

        out = tmp_path / "out"
        out.mkdir()
        sa.write_spectrogram_h5(out / "s.h5", Spy(), home, fs, cfg)
    # read once, whole frames only, in chunks of 64 frames
    assert read == [slice(t, min(t + 64, 700)) for t in range(0, 700, 64)]
    with h5py.File(out / "s.h5", "r") as f:
        np.testing.assert_array_equal(f["spectrograms"][()], ref)
    assert sorted(p.name for p in out.iterdir()) == ["s.h5"]  # the temporary file is gone
    bad = pt.copy()
    bad[650, 3, 1] = np.inf
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f.create_dataset("pt", data=bad)
    nan_error = r"points_tracked\[640:700\] \(frames\) contains NaN"
    with h5py.File(tmp_path / "bad.h5", "r") as f, pytest.raises(ValueError, match=nan_error):
        sa.write_spectrogram_h5(out / "bad_s.h5", f["pt"], home, fs, cfg)
    assert sorted(p.name for p in out.iterdir()) == ["s.h5"]


def test_block_size_cap_gives_same_result(monkeypatch, tmp_path):
    fs = 60.0
    pt, home = random_tracks(n_frames=500, n_points=5, seed=4)
    cfg = {"params_VQT": {**FAST, "F_max": 25.0}, "batch_size": 4}
    ref, freqs, x = sa.compute_spectrograms(pt, home, fs, cfg)
    per_point = 2 * len(freqs) * len(x) * 4
    assert sa.effective_batch_size(4, len(freqs), len(x), 4) == 4
    assert sa.effective_batch_size(10**6, 36, 1, 4, fft_frames=1000) == (
        sa.MAX_WORK_BYTES // (2 * 36 * 1000 * 24))
    # the CPU filter bank's batches get a quarter of the block budget: 2 points here
    monkeypatch.setattr(sa_streaming, "MAX_BLOCK_BYTES", 8 * per_point)
    assert sa.effective_batch_size(4, len(freqs), len(x), 4, block_bytes=2 * per_point) == 2
    assert sa.effective_batch_size(4, len(freqs), len(x), 4 * 1000) == 1
    sa.write_spectrogram_h5(tmp_path / "s.h5", pt, home, fs, cfg)
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert f["spectrograms"].chunks[:2] == (1, 2)
        np.testing.assert_allclose(f["spectrograms"][()], ref, rtol=1e-6)


def test_representative_points():
    power = np.array([[1, 5, 3, 0, 9, 2.0], [0, 0, 0, 0, 0, 0]])
    idx = sa.representative_points(power, 3)
    assert idx[0] == 4 and len(set(idx.tolist())) == 3
    assert sa.representative_points(power[:, :2], 5).tolist() == [1, 0]


def test_workflow_script_writes_h5_and_png(tmp_path):
    fs = 90.0
    pt = sinusoid_tracks(fs, 540, [4.0, 0.0, 9.0], [0.0, 2.0, 0.0])
    home = np.array([[10, 10], [20, 20], [30, 30]], dtype=np.float32)
    tracking = tmp_path / "results" / "s1" / "v1" / "tracking.h5"
    tracking.parent.mkdir(parents=True)
    simple_save({"points_tracked": pt + home[None], "point_positions": home,
                 "frame_rate": fs}, tracking)
    out = tmp_path / "results" / "s1" / "v1" / "spectrogram.h5"
    fig = tmp_path / "results" / "s1" / "figures" / "spectrogram_v1.png"
    log = tmp_path / "log.txt"
    vqt_cfg = {"Fs_sample": None, "params_VQT": FAST, "batch_size": 2, "device": "cpu",
               "normalization_factor": 0.95, "spectrogram_exponent": 1.0,
               "one_over_f_exponent": 0.5, "return_complex": False}
    smk = SimpleNamespace(input=SimpleNamespace(tracking=str(tracking)),
                          output=SimpleNamespace(spectrogram=str(out), figure=str(fig)),
                          params=SimpleNamespace(vqt=vqt_cfg), log=[str(log)], threads=1)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, sys.excepthook)
    try:
        runpy.run_path(str(REPO / "workflow" / "scripts" / "spectrogram.py"),
                       init_globals={"snakemake": smk})
    finally:
        for h in root.handlers:
            if h not in saved[0]:
                h.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        sys.excepthook = saved[2]
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with h5py.File(out, "r") as f:
        spec = f["spectrograms"][()]
        freqs = f["frequencies"][()]
        assert spec.shape[:2] == (2, 3)
        assert read_run_info(f["run_info"])["config"]["vqt"]["batch_size"] == 2
    assert spec[0, 0].mean(-1).argmax() == np.abs(freqs - 4).argmin()
    assert spec[1, 1].mean(-1).argmax() == np.abs(freqs - 2).argmin()
    assert "spectrograms" in log.read_text()
    # a frame rate whose Nyquist is below F_max: one clear error naming the file
    bad = tmp_path / "bad_tracking.h5"
    simple_save({"points_tracked": pt, "point_positions": home, "frame_rate": 50.0}, bad)
    with pytest.raises(ValueError, match=r"bad_tracking.h5: .*F_max=40.0 Hz .*Nyquist"):
        sa.spectrogram_from_tracking_file(bad, tmp_path / "x.h5", vqt_cfg)
    assert not (tmp_path / "x.h5").exists()


# ----------------------------------------------------------------------------- class API
def test_vqt_analyzer_matches_functions(tmp_path):
    fs = 90.0
    pt = sinusoid_tracks(fs, 540, [4.0, 6.0, 0.0], [0.0, 2.0, 8.0])
    home = np.zeros((3, 2), np.float32)
    # the class fills missing keys with vqt's defaults (gaussian, 'same'): give the workflow's
    pv = {"Fs_sample": fs, **FAST, "F_max": 40.0, "Q_lowF": 4.0, "Q_highF": 10.0,
          "window_type": "hann", "padding": "valid"}
    an = sa.VQT_Analyzer(params_VQT=pv, batch_size=2, normalization_factor=0.95,
                         one_over_f_exponent=0.5)
    spec, x, freqs = an.transform(pt, home)
    cfg = {"params_VQT": {k: v for k, v in pv.items() if k != "Fs_sample"}, "batch_size": 2,
           "normalization_factor": 0.95, "one_over_f_exponent": 0.5}
    ref, rfreqs, rx = sa.compute_spectrograms(pt, home, fs, cfg)
    np.testing.assert_array_equal(spec, ref)
    np.testing.assert_array_equal(freqs, rfreqs)
    np.testing.assert_array_equal(x, rx)
    an.transform_all({"0": pt, "1": pt[:450]}, home)
    assert len(an) == 2 and an["1"].shape[-1] < an["0"].shape[-1]
    np.testing.assert_array_equal(an["0"], ref)
    demo, dx, _ = an.demo_transform({"0": pt}, home, idx_point=[1], plot=True)
    assert demo.shape == (2, len(freqs), len(dx))
    assert an.demo_figure is not None
    an.save(tmp_path / "VQT_Analyzer.h5")
    with h5py.File(tmp_path / "VQT_Analyzer.h5", "r") as f:  # the reference layout
        np.testing.assert_array_equal(f["spectrograms/0"][()], ref)
        np.testing.assert_array_equal(f["x_axis/1"][()], an.x_axis["1"])
        assert f["VQT/filters"].shape[0] == len(freqs)
    # defaults are the reference class's (55 bins, 1-40 Hz, Fs 90)
    assert len(sa._freqs(sa.VQT_Analyzer().vqt_model)) == 55


# ----------------------------------------------------------------------------- synthetic face
@pytest.fixture(scope="module")
def synthetic_face_video():
    """The synthetic face (160x128, 90 fps, 5 s), its frames and a 6-px grid of face points."""
    from matplotlib.path import Path as MPath

    from face_rhythm.synthetic import default_face, demo_rois

    face = default_face(height=128, width=160, frame_rate=90.0, duration_s=5.0, seed=0)
    frames = np.stack([face.render(i) for i in range(face.n_frames)])
    xs, ys = np.meshgrid(np.arange(0, face.width, 6.0), np.arange(0, face.height, 6.0))
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
    pts = grid[MPath(np.array(demo_rois(face)["face"])).contains_points(grid)]
    return face, frames, pts.astype(np.float32)


def track_opencv_lk(frames: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Plain OpenCV pyramidal LK, frame to frame, (T, N, 2) float32."""
    p = pts.reshape(-1, 1, 2).copy()
    out = [pts.copy()]
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 20, 0.01)
    for i in range(1, len(frames)):
        p, _, _ = cv2.calcOpticalFlowPyrLK(frames[i - 1], frames[i], p, None,
                                           winSize=(15, 15), maxLevel=2, criteria=crit)
        out.append(p.reshape(-1, 2).copy())
    return np.stack(out).astype(np.float32)


def track_project_tracker(frames: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """face_rhythm.point_tracking with its project defaults (mesh rigidity, relaxation)."""
    from face_rhythm import point_tracking as ptk

    return np.asarray(ptk.track_array(frames, pts).points_tracked, dtype=np.float32)


@pytest.mark.parametrize("tracker", [track_project_tracker, track_opencv_lk],
                         ids=["point_tracking", "opencv_lk"])
def test_synthetic_face_regions_peak_at_true_frequencies(synthetic_face_video, tracker):
    face, frames, pts = synthetic_face_video
    tracks = tracker(frames, pts)
    truth = face.positions(pts, from_frame=0)
    assert np.sqrt(np.mean((tracks - truth) ** 2)) < 0.3  # the tracking itself is sane
    cfg = {"params_VQT": {"F_min": 1.0, "F_max": 30.0, "n_freq_bins": 30, "Q_lowF": 3.0,
                          "Q_highF": 8.0, "downsample_factor": 10},
           "normalization_factor": 0.95, "one_over_f_exponent": 0.5}
    spec, freqs, _ = sa.compute_spectrograms(tracks, pts, face.frame_rate, cfg)
    maps = face.spatial_maps(pts)
    for k, comp in enumerate(face.components):
        region = (maps[k] > 0.5) & (np.delete(maps, k, axis=0).max(axis=0) < 0.1)
        assert region.sum() >= 3, comp.name
        mean_spectrum = spec[:, region].mean(axis=(0, 1, 3))
        k_true = np.abs(np.log(freqs / comp.frequency_hz)).argmin()
        assert abs(int(mean_spectrum.argmax()) - int(k_true)) <= 1, (
            comp.name, comp.frequency_hz, freqs[mean_spectrum.argmax()])


def test_fs_sample_override_replaces_the_frame_rate():
    """``Fs_sample`` in the config wins over the video's frame rate: a 5 Hz sinusoid sampled at
    60 fps but declared as 120 Hz samples peaks at 10 Hz; left out, it peaks at 5 Hz."""
    t = np.arange(1200) / 60.0
    home = np.array([[10.0, 20.0]])
    pts = home[None] + np.stack([np.sin(2 * np.pi * 5.0 * t), 0 * t], -1)[:, None, :]
    base = {"params_VQT": {"F_min": 2.0, "F_max": 25.0, "n_freq_bins": 40, "Q_lowF": 4.0,
                           "Q_highF": 8.0, "downsample_factor": 10},
            "one_over_f_exponent": 0.0, "normalization_factor": 0.0}
    for fs, f_true in ((None, 5.0), (120.0, 10.0)):
        spec, freqs, _ = sa.compute_spectrograms(pts, home, 60.0, {**base, "Fs_sample": fs})
        k = int(spec[0, 0].mean(-1).argmax())
        assert k == int(np.abs(np.log(freqs / f_true)).argmin()), (fs, freqs[k])


def test_spectrogram_figure_rows_are_bins_and_ticks_sit_at_their_frequencies():
    """One image row per log-spaced bin; a tick at f Hz sits at the row of f (13 bins from
    1 to 64 Hz: two rows per octave, so 8 Hz is row 6), bins outside get none."""
    freqs = np.geomspace(1.0, 64.0, 13)
    spec = np.random.default_rng(0).random((2, 1, 13, 20))
    fig = sa.plot_point_spectrograms(spec, freqs, np.arange(20) * 0.5, point_indices=[4])
    ax = fig.axes[0]
    image = ax.get_images()[0]
    np.testing.assert_array_equal(image.get_array(), spec[0, 0])
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["1", "2", "4", "8", "16", "32", "64"]
    np.testing.assert_allclose(ax.get_yticks(), [0, 2, 4, 6, 8, 10, 12], atol=1e-9)
    assert image.get_extent()[2:] == [-0.5, 12.5]
    assert "point 4" in ax.get_title()
