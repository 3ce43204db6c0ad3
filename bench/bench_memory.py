"""Peak memory (RSS) of every path through the library, at two video lengths.

The target (issue #15): peak RSS <= 500 MB on every path, flat in video length (a 10-minute
video needs no more memory than a 1-minute one). Each path runs in its own subprocess and
reports its ``ru_maxrss`` (the peak resident set of that process, imports included):

- ``track_points``, ``spectrogram``, ``tca``: the workflow's stages (what the rules run);
- ``track_video``: :func:`face_rhythm.point_tracking.track_video` (positions returned in
  memory);
- ``PointTracker``: the notebook API, ``PointTracker`` over a
  ``BufferedVideoReader(buffer_size=1000)`` (the original's notebook);
- ``VQT_Analyzer``: ``transform_all`` on the tracked positions;
- ``TCA``: rearrange + normalise + fit on ``VQT_Analyzer``'s spectrograms.

The video is the synthetic face of ``bench_tracking.py`` (480x640, 90 fps, ~1138 points: the
shape of the issue's measurement), looped to each length. ``baseline`` is a process that
imports numpy, torch and OpenCV and does nothing: the floor of every path that tracks or
computes spectrograms (the TCA job, numpy backend, loads neither torch nor OpenCV).

Examples::

    python bench/bench_memory.py                       # 10 s and 30 s
    python bench/bench_memory.py --durations 60 600    # 1 and 10 minutes (slow)
    python bench/bench_memory.py --paths PointTracker VQT_Analyzer --durations 10

The notebook APIs return whole results: ``track_video`` / ``PointTracker`` positions (T, N,
2) float32 (8 * T * N bytes: 0.49 GB for 10 min at 90 fps and 1138 points), ``VQT_Analyzer``
its spectrograms. From 64 MB on (:mod:`face_rhythm.disk_arrays`) they are built in a
temporary file and returned as read-only memory maps, so they don't count in the process
(the ``result`` column: its size, ``*`` when mapped). ``VQT_Analyzer`` is given the positions
as such a map (``positions.npy``, written from ``tracking.h5`` by this script), as the
tracker returns a long video's. ``TCA`` fits a tensor in memory: it grows with the video
(for long recordings the workflow has ``tca.strategy: streamed``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_tracking  # the benchmark videos and ROIs

PATHS = ("baseline", "track_points", "spectrogram", "tca", "track_video", "PointTracker",
         "VQT_Analyzer", "TCA")
VQT_CONFIG = {"Fs_sample": None, "params_VQT": {"F_min": 1.0, "F_max": 40.0,
                                                "n_freq_bins": 36, "downsample_factor": 20},
              "batch_size": 100}
# the workflow's params_method (config/config.yaml: SVD init by randomized SVD), 50 iterations;
# a params_method without "svd" falls back to tensorly's full truncated SVD, ~3x the memory
TCA_CONFIG = {"rank": 6, "params_method": {"n_iter_max": 50, "init": "svd",
                                           "svd": "randomized_svd", "tol": 1.0e-9}}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _tracking_config() -> dict:
    return bench_tracking.tracking_config("project")


# ----------------------------------------------------------------------------- one path
def run_path(path: str, video: Path, rois: Path, work: Path) -> dict:
    """Runs inside the subprocess; the files of the workflow stages live in ``work``. Each
    path imports only what it loads itself (the workflow's TCA job never loads torch)."""
    if path == "baseline":
        import cv2  # noqa: F401
        import torch  # noqa: F401

    result_mb, mapped = 0.0, False
    tracking, spectrogram = work / "tracking.h5", work / "spectrogram.h5"
    if path == "track_points":
        from face_rhythm.point_tracking import track_points_stage
        track_points_stage(video, rois, tracking, _tracking_config(), threads=2)
    elif path == "spectrogram":
        from face_rhythm.spectral_analysis import spectrogram_from_tracking_file
        spectrogram_from_tracking_file(tracking, spectrogram, VQT_CONFIG, threads=2)
    elif path == "tca":
        from face_rhythm.decomposition import tca_stage
        tca_stage([spectrogram], rois, work / "tca.h5", work / "tca_figures",
                  {"per_session": True, **TCA_CONFIG}, session="s", videos=["v"], threads=2)
    elif path == "track_video":
        from face_rhythm import point_tracking as fpt
        home, mask = fpt.read_home_and_mask(rois)
        params = fpt.TrackingParams.from_config(_tracking_config())
        res = fpt.track_video(video, home, params, mask=mask, n_workers=2)
        result_mb = res.points_tracked.nbytes / 2**20
        mapped = isinstance(res.points_tracked, np.memmap)
    elif path == "PointTracker":
        from face_rhythm import point_tracking as fpt
        from face_rhythm.video import BufferedVideoReader
        home, mask = fpt.read_home_and_mask(rois)
        reader = BufferedVideoReader(paths_videos=[str(video)], buffer_size=1000, prefetch=1,
                                     posthold=1, method_getitem="by_video", verbose=0)
        ref = fpt.PROJECT_PARAMS.to_reference()
        pt = fpt.PointTracker(buffered_video_reader=reader, point_positions=home,
                              rois_masks=[mask], contiguous=False,
                              params_optical_flow=ref["params_optical_flow"],
                              params_clahe=ref["params_clahe"],
                              params_outlier_handling=ref["params_outlier_handling"],
                              verbose=0)
        out = pt.track_points()
        result_mb = sum(np.asarray(v).nbytes for v in out.values()) / 2**20
        mapped = any(isinstance(v, np.memmap) for v in out.values())
    elif path in ("VQT_Analyzer", "TCA"):
        from face_rhythm import point_tracking as fpt
        from face_rhythm.spectral_analysis import VQT_Analyzer
        with fpt.open_tracking_file(tracking) as tf:
            home = np.asarray(tf.point_positions, dtype=np.float32)
            fs = float(tf.frame_rate)
        # the positions as the tracker hands a long video's back: a read-only memory map
        positions = np.load(work / "positions.npy", mmap_mode="r")
        params_vqt = {"Fs_sample": fs, "Q_lowF": 4.0, "Q_highF": 10.0, "window_type": "hann",
                      **VQT_CONFIG["params_VQT"]}
        an = VQT_Analyzer(params_VQT=params_vqt, batch_size=VQT_CONFIG["batch_size"],
                          verbose=0)
        an.transform_all(points_tracked={"0": positions}, point_positions=home)
        result_mb = sum(np.asarray(s).nbytes for s in an.spectrograms.values()) / 2**20
        mapped = any(isinstance(s, np.memmap) for s in an.spectrograms.values())
        if path == "TCA":
            from face_rhythm.decomposition import TCA
            tca = TCA(verbose=0)
            tca.rearrange_data(data=an.spectrograms,
                               names_dims_array=["xy", "points", "frequency", "time"],
                               names_dims_concat_array=[["xy", "points"]],
                               concat_complexDim=False, name_dim_concat_complexDim="time",
                               name_dim_dictElements="session",
                               method_handling_dictElements="separate",
                               name_dim_concat_dictElements="time", idx_windows=None,
                               name_dim_array_window="time")
            tca.normalize_data(mean_subtract=False, std_divide=False, dim_name="time")
            tca.fit(method="CP_NN_HALS",
                    params_method={"rank": TCA_CONFIG["rank"], "n_iter_max": 50,
                                   "init": "random", "tol": 1e-9, "verbose": False},
                    backend="numpy", DEVICE="cpu", verbose=0)
    elif path != "baseline":
        raise ValueError(f"unknown path {path!r}")
    return {"path": path, "peak_rss_mb": _peak_mb(), "result_mb": result_mb, "mapped": mapped}


def _positions_npy(work: Path) -> None:
    """``positions.npy`` from ``tracking.h5``, a few thousand frames at a time.

    Never the whole array in this process: a child's ``ru_maxrss`` starts at the parent's
    peak (Linux keeps the high-water mark of the image it replaces at ``exec``), so a large
    parent would raise every later measurement (it did: 564 MB instead of 439 MB).
    """
    from face_rhythm import point_tracking as fpt
    with fpt.open_tracking_file(work / "tracking.h5") as tf, \
            open(work / "positions.npy", "wb") as f:
        ds = tf.points_tracked
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": tuple(ds.shape)})
        f.writelines(np.ascontiguousarray(ds[a:a + 2048], dtype="<f4").tobytes()
                     for a in range(0, ds.shape[0], 2048))


def spawn(path: str, video: Path, rois: Path, work: Path) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "_run", path, str(video), str(rois),
           str(work)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["seconds"] = time.perf_counter() - t0
    return out


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_run":
        print(json.dumps(run_path(argv[1], Path(argv[2]), Path(argv[3]), Path(argv[4]))))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--durations", type=float, nargs="+", default=[10.0, 30.0],
                    help="video lengths in seconds")
    ap.add_argument("--paths", nargs="+", default=list(PATHS), choices=PATHS)
    ap.add_argument("--points", type=int, default=1138)
    ap.add_argument("--workdir", type=Path,
                    default=Path(tempfile.gettempdir()) / "face-rhythm-bench")
    ap.add_argument("--json", type=Path, help="write the measurements here")
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    h, w, fps = 480, 640, 90.0
    rois = bench_tracking.make_rois(args.workdir, h, w, fps, args.points)
    rows = []
    for seconds in args.durations:
        video = bench_tracking.make_video(args.workdir, h, w, fps, seconds)
        work = Path(tempfile.mkdtemp(prefix=f"mem_{seconds:g}s_", dir=args.workdir))
        needs = {"spectrogram", "tca", "VQT_Analyzer", "TCA"} & set(args.paths)
        order = [p for p in PATHS if p in args.paths or
                 (p == "track_points" and needs) or (p == "spectrogram" and "tca" in needs)]
        for path in order:
            if path in ("VQT_Analyzer", "TCA") and not (work / "positions.npy").exists():
                _positions_npy(work)
            r = spawn(path, video, rois, work)
            r["video_s"] = seconds
            rows.append(r)
            print(f"{seconds:6g} s  {path:<14} peak {r['peak_rss_mb']:7.0f} MB  "
                  f"({r['seconds']:.1f} s)", file=sys.stderr)
    print(f"\npeak RSS (MB) per path; 480x640, {fps:g} fps, {args.points} points; "
          "result = what the API returns (* = a read-only map of a temporary file, not in memory)")
    head = "".join(f"{f'{s:g} s':>10}{'result':>8}" for s in args.durations)
    print(f"{'path':<14}{head}")
    for path in [p for p in PATHS if any(r["path"] == p for r in rows)]:
        cells = ""
        for s in args.durations:
            r = next((r for r in rows if r["path"] == path and r["video_s"] == s), None)
            mark = "*" if r and r.get("mapped") else " "
            cells += f"{r['peak_rss_mb']:10.0f}{r['result_mb']:7.0f}{mark}" if r else " " * 18
        print(f"{path:<14}{cells}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
