"""Large results on disk (face_rhythm.disk_arrays): the same numbers as in memory, none of it
resident while it is built, and a read-only map that gives its pages back when streamed."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from face_rhythm import disk_arrays as da
from face_rhythm import point_tracking as fpt
from face_rhythm import synthetic

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self")


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_blocks_along_any_axis_read_back_and_map_as_written(tmp_path):
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(2, 7, 3, 5)).astype(np.float32)
    x = da.DiskArray(ref.shape, np.float32, directory=str(tmp_path))
    for a in range(0, 7, 3):  # the spectrograms' blocks: [:, p0:p1]
        x[:, a:a + 3] = ref[:, a:a + 3]
    np.testing.assert_array_equal(x[:, 2:6], ref[:, 2:6])
    x[:, 1:2] = 0  # rewritten in place, as the normalisation pass does
    ref[:, 1:2] = 0
    assert list(tmp_path.iterdir()) == []  # the file has no name
    out = x.finish()
    assert isinstance(out, np.memmap) and not out.flags.writeable
    np.testing.assert_array_equal(out, ref)
    with pytest.raises(ValueError, match="read-only"):
        out[0, 0, 0, 0] = 1
    y = da.DiskArray((6, 4, 2), np.float32, directory=str(tmp_path))
    y[0:6] = np.arange(48, dtype=np.float32).reshape(6, 4, 2)  # the tracker's: [t0:t1]
    np.testing.assert_array_equal(y.finish()[5], np.arange(40, 48).reshape(4, 2))
    with pytest.raises(IndexError, match="blocks"):
        y[1:3, 0] = 0
    with pytest.raises(TypeError, match="blocks"):
        np.asarray(x)


def test_a_result_goes_to_disk_from_the_threshold_on(monkeypatch):
    assert isinstance(da.new_result((10, 10), np.float32), np.ndarray)
    monkeypatch.setattr(da, "SPILL_BYTES", 400)
    assert isinstance(da.new_result((10, 10), np.float32), da.DiskArray)
    assert isinstance(da.new_result((9, 10), np.float32), np.ndarray)


def test_a_folder_that_cannot_take_the_file_is_named(tmp_path, monkeypatch):
    missing = tmp_path / "no" / "such"
    monkeypatch.setenv(da.SPILL_DIR_ENV, str(missing))
    with pytest.raises(da.DiskArrayError, match=f"{missing}.*FACE_RHYTHM_SPILL_DIR"):
        da.DiskArray((100,), np.float32)


def test_tracking_results_on_disk_equal_those_in_memory(monkeypatch, tmp_path):
    from face_rhythm import rois as fr_rois
    f = synthetic.default_face(n_frames=40)
    mask = fr_rois.polygon_to_mask(np.array(synthetic.demo_rois(f)["face"]), f.height, f.width)
    pts = fr_rois.grid_points(mask, 10)
    video = np.stack(list(f.iter_frames()))
    ref = fpt.track_array(video, pts, fpt.PROJECT_PARAMS, mask=mask).points_tracked
    assert not isinstance(ref, np.memmap)
    monkeypatch.setattr(da, "SPILL_BYTES", 0)
    monkeypatch.setenv(da.SPILL_DIR_ENV, str(tmp_path))
    got = fpt.track_array(video, pts, fpt.PROJECT_PARAMS, mask=mask).points_tracked
    assert isinstance(got, np.memmap) and not got.flags.writeable
    np.testing.assert_array_equal(got, ref)
    assert list(tmp_path.iterdir()) == []


def test_spectrograms_on_disk_and_of_a_mapped_input_equal_those_in_memory(monkeypatch,
                                                                          tmp_path):
    import face_rhythm.spectral_analysis as sa
    rng = np.random.default_rng(3)
    home = rng.uniform(20, 200, (11, 2)).astype(np.float32)
    pt = (home[None] + np.cumsum(rng.normal(0, 0.3, (900, 11, 2)), axis=0)).astype(np.float32)
    cfg = {"params_VQT": {"F_min": 1.0, "F_max": 20.0, "n_freq_bins": 12,
                          "downsample_factor": 10}, "batch_size": 4}
    ref, _, _ = sa.compute_spectrograms(pt, home, 60.0, cfg)
    np.save(tmp_path / "pt.npy", pt)
    mapped = np.load(tmp_path / "pt.npy", mmap_mode="r")
    assert da.is_read_only_map(mapped) and da.is_read_only_map(np.asarray(mapped))
    monkeypatch.setattr(da, "SPILL_BYTES", 0)
    got, _, _ = sa.compute_spectrograms(mapped, home, 60.0, cfg)
    assert isinstance(got, np.memmap)
    np.testing.assert_array_equal(got, ref)
    spectrograms = []
    for tracks in (pt, mapped):  # the notebook class, too
        an = sa.VQT_Analyzer(params_VQT={"Fs_sample": 60.0, **cfg["params_VQT"]},
                             batch_size=4, verbose=0)
        an.transform_all({"0": tracks}, home)
        spectrograms.append(an.spectrograms["0"])
    assert isinstance(spectrograms[1], np.memmap)
    np.testing.assert_array_equal(spectrograms[1], spectrograms[0])
    bad = pt.copy()
    bad[500, 3, 0] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(sa.SpectralParamsError, match="NaN"):
        sa.compute_spectrograms(np.load(tmp_path / "bad.npy", mmap_mode="r"), home, 60.0, cfg)


@linux_only
def test_streaming_through_a_read_only_map_gives_its_pages_back(tmp_path):
    rows, row_bytes = 2048, 64 << 10  # 128 MB
    path = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                    shape=(rows, row_bytes // 4))
    for a in range(0, rows, 256):
        big[a:a + 256] = 1.0
    big.flush()
    del big
    m = np.load(path, mmap_mode="r")
    before = _rss_mb()
    total = 0.0
    for a in range(0, rows, 128):
        total += float(m[a:a + 128].sum())
        assert da.drop_pages(m, a, a + 128)
    assert total == rows * row_bytes // 4
    assert _rss_mb() - before < 40  # without drop_pages: +128 MB
    from face_rhythm.h5_handling import simple_save
    simple_save({"run_data": {"points_tracked": {"0": m}}}, tmp_path / "saved.h5")
    assert _rss_mb() - before < 40  # the notebook classes' save streams it, too
    import h5py
    with h5py.File(tmp_path / "saved.h5", "r") as f:
        d = f["run_data/points_tracked/0"]
        assert d.shape == m.shape and float(d[rows - 1].sum()) == row_bytes // 4
    assert not da.drop_pages(np.ones((4, 4)), 0, 4)  # memory of its own: left alone
    w = np.load(path, mmap_mode="r+")
    assert not da.drop_pages(w, 0, 4)  # writable: its changes could be lost
    os.sync()
