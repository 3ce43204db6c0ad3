"""Tracking through the notebook API, side by side with the original face-rhythm.

The same script, written only against the original's documented API
(``helpers.BufferedVideoReader`` + ``point_tracking.PointTracker``, the issue's measurement:
``buffer_size=1000``; ``backend="decord"``, as the original has no torchcodec here), runs in alternation with this checkout and with the original package
(installed apart, never a dependency of this project), on the synthetic video of
``bench_tracking.py`` with the original's tracking parameters (or the project's), and prints
frames/s, CPU ms per frame, peak RSS and the ratio.

Set-up of the original, in a separate virtual environment beside this one::

    python -m venv --system-site-packages /tmp/origvenv
    /tmp/origvenv/bin/pip install face-rhythm==0.3.3 --no-deps
    /tmp/origvenv/bin/pip install natsort einops GPUtil py-cpuinfo nvidia-ml-py3 \\
        ffmpeg-python scikit-image

Examples::

    python bench/bench_original.py --original-python /tmp/origvenv/bin/python
    python bench/bench_original.py --original-python /tmp/origvenv/bin/python \\
        --params project --original-params reference --repeats 3
    python bench/bench_original.py --original-python /tmp/origvenv/bin/python --pipeline
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def run_child(video: str, points: str, params_json: str) -> dict:
    """Inside the subprocess: the original's notebook calls, timed. ``points`` is a .npz of
    ``home`` (N, 2) and ``mask`` (H, W) (written by this project, read by both)."""
    import numpy as np

    import face_rhythm as fr
    with np.load(points) as z:
        home, mask = z["home"].astype(np.float32), z["mask"].astype(bool)
    params = json.loads(Path(params_json).read_text())
    reader_cls, tracker_cls = fr.helpers.BufferedVideoReader, fr.point_tracking.PointTracker
    t0, c0 = time.perf_counter(), time.process_time()  # imports done (both load torch)
    videos = reader_cls(paths_videos=[video], buffer_size=1000, prefetch=1,
                                            posthold=1, method_getitem="by_video",
                                            backend="decord", verbose=0)
    tracker = tracker_cls(
        buffered_video_reader=videos, point_positions=home, rois_masks=[mask],
        contiguous=False, params_optical_flow=params["params_optical_flow"],
        params_clahe=params["params_clahe"],
        params_outlier_handling=params["params_outlier_handling"], visualize_video=False,
        verbose=0)
    tracker.track_points()
    n = int(sum(np.asarray(v).shape[0] for v in tracker.points_tracked.values()))
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"library": str(Path(fr.__file__).parent), "frames": n, "fps": n / dt,
            "cpu_ms_per_frame": 1e3 * cpu / n,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "points_mean": float(np.mean(np.asarray(tracker.points_tracked["0"])))}


def run_pipeline_child(videos_dir: str, rois_h5: str, project: str) -> dict:
    """Inside the subprocess: ``pipelines.pipeline_basic`` with the library's own defaults
    (the original's parameters), as its notebook runs it; decord instead of torchcodec, CPU."""
    import face_rhythm as fr
    params = fr.util.get_default_parameters(directory_project=project,
                                            directory_videos=videos_dir,
                                            filename_videos_strMatch=r".*\.mp4",
                                            path_ROIs=rois_h5)
    params["project"].update(use_GPU=False, random_seed=0, verbose=0)
    params["BufferedVideoReader"]["backend"] = "decord"
    # the original's pipeline_basic reads this section, which its own defaults lack
    params["TCA"].setdefault("normalize_data", {"mean_subtract": False, "std_divide": False,
                                                "dim_name": "time"})
    t0, c0 = time.perf_counter(), time.process_time()
    fr.pipelines.pipeline_basic(params)
    return {"library": str(Path(fr.__file__).parent), "seconds": time.perf_counter() - t0,
            "cpu_s": time.process_time() - c0,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _spawn(name: str, exe: list[str], env: dict, mode: str, *args: object) -> dict:
    """Run this script's ``mode`` in ``exe`` with ``env`` added; its last stdout line (JSON)."""
    cmd = [*exe, str(Path(__file__).resolve()), mode, *(str(a) for a in args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env={**os.environ, **env}, cwd=tempfile.gettempdir())
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def pipeline_inputs(workdir: Path) -> tuple[Path, Path]:
    """The folder of the original's demo-shape videos (bench_demo.py's, linked) and an
    ``ROIs.h5`` of its polygon (ROI 0: the points, ROI 1: the mask), under ``workdir``."""
    import bench_demo
    import numpy as np

    from face_rhythm.rois import ROIs
    from face_rhythm.video import read_frames
    work = workdir / "pipeline_basic"
    videos = bench_demo.render_videos(Path(tempfile.gettempdir()) / "face-rhythm-bench-demo",
                                      2, 1000)
    (work / "videos").mkdir(parents=True, exist_ok=True)
    for i, v in enumerate(videos, start=1):
        link = work / "videos" / f"video{i:02d}.mp4"
        if not link.exists():
            link.symlink_to(v)
    frame = read_frames(videos[0], 0)
    poly = np.asarray(bench_demo.demo_polygon())
    rois = ROIs(select_mode="custom", exampleImage=frame,
                coords_rois={"points": poly, "mask": poly}, verbose=0)
    rois_h5 = work / "ROIs.h5"
    rois_h5.unlink(missing_ok=True)
    rois.save_run_data(path_run_data=rois_h5, verbose=0)
    return work / "videos", rois_h5


def run_pipeline(name: str, exe: list[str], env: dict, videos: Path, rois_h5: Path) -> dict:
    """``pipeline_basic`` of one library in its own process, from a clean project folder."""
    import shutil

    project = videos.parent / f"project_{name}"
    shutil.rmtree(project, ignore_errors=True)
    return _spawn(name, exe, env, "_pipeline", videos, rois_h5, project)


def pipeline_main(args: argparse.Namespace, sides: dict) -> None:
    """``--pipeline``: the original's demo shape (bench_demo.py's videos) through
    ``pipeline_basic`` of both libraries, alternating."""
    videos, rois_h5 = pipeline_inputs(args.workdir)
    rows: dict[str, list[dict]] = {k: [] for k in sides}
    for _ in range(args.repeats):
        for name, (exe, env, _params) in sides.items():
            r = run_pipeline(name, exe, env, videos, rois_h5)
            rows[name].append(r)
            print(f"{name:>9}: pipeline_basic {r['seconds']:6.1f} s, {r['cpu_s']:6.1f} CPU-s, "
                  f"peak RSS {r['peak_rss_mb']:5.0f} MB ({r['library']})", file=sys.stderr)
    best = {k: min(v, key=lambda r: r["seconds"]) for k, v in rows.items()}
    print(f"\npipeline_basic, 2 videos x 1000 frames, 784x582, 120 fps, the original's "
          f"parameters; best of {args.repeats}; load {os.getloadavg()[0]:.2f}")
    for k, r in best.items():
        print(f"  {k:>9}: {r['seconds']:6.1f} s  {r['cpu_s']:6.1f} CPU-s  peak RSS "
              f"{r['peak_rss_mb']:5.0f} MB")
    print(f"  ratio (original / this): x{best['original']['seconds'] / best['this']['seconds']:.2f}"
          " wall time")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_run":
        print(json.dumps(run_child(*argv[1:4])))
        return
    if argv and argv[0] == "_pipeline":
        print(json.dumps(run_pipeline_child(*argv[1:4])))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--original-python", required=True,
                    help="the Python of the environment where the original is installed")
    ap.add_argument("--original-path", default="",
                    help="a folder to put first on that Python's path (an unpacked wheel)")
    ap.add_argument("--params", choices=["reference", "project"], default="reference",
                    help="tracking parameters of this checkout's runs")
    ap.add_argument("--original-params", choices=["reference", "project"],
                    help="those of the original's runs (default: the same as --params; "
                    "'reference' with --params project: the project's defaults against the "
                    "original as it runs by default)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--pipeline", action="store_true",
                    help="pipelines.pipeline_basic on the original's demo shape instead")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workdir", type=Path,
                    default=Path(tempfile.gettempdir()) / "face-rhythm-bench")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    import bench_tracking

    from face_rhythm import point_tracking as fpt
    args.workdir.mkdir(parents=True, exist_ok=True)
    video = bench_tracking.make_video(args.workdir, 480, 640, 90.0, args.seconds)
    rois = bench_tracking.make_rois(args.workdir, 480, 640, 90.0, 1138)
    jsons = {}
    for which in {args.params, args.original_params or args.params}:
        tp = fpt.TrackingParams.from_config(bench_tracking.tracking_config(which))
        jsons[which] = args.workdir / f"notebook_params_{which}.json"
        jsons[which].write_text(json.dumps(tp.to_reference()))
    import numpy as np
    home, mask = fpt.read_home_and_mask(rois)
    points = args.workdir / "notebook_points_480x640.npz"
    np.savez(points, home=home, mask=mask)
    sides = {"this": ([sys.executable], {"PYTHONPATH": str(REPO)}, jsons[args.params]),
             "original": ([args.original_python], {"PYTHONPATH": args.original_path},
                          jsons[args.original_params or args.params])}
    if args.pipeline:
        pipeline_main(args, sides)
        return
    rows: dict[str, list[dict]] = {k: [] for k in sides}
    for _ in range(args.repeats):
        for name, (exe, env, params_json) in sides.items():
            r = _spawn(name, exe, env, "_run", video, points, params_json)
            rows[name].append(r)
            print(f"{name:>9}: {r['fps']:6.1f} frames/s, {r['cpu_ms_per_frame']:5.1f} CPU ms/"
                  f"frame, peak RSS {r['peak_rss_mb']:5.0f} MB ({r['library']})",
                  file=sys.stderr)
    best = {k: max(v, key=lambda r: r["fps"]) for k, v in rows.items()}
    print(f"\nPointTracker over BufferedVideoReader(buffer_size=1000), 480x640, 90 fps, "
          f"{args.seconds:g} s; parameters: this {args.params}, the original "
          f"{args.original_params or args.params}; best of {args.repeats}; load "
          f"{os.getloadavg()[0]:.2f}")
    for k, r in best.items():
        print(f"  {k:>9}: {r['fps']:6.1f} frames/s  {r['cpu_ms_per_frame']:5.1f} CPU ms/frame  "
              f"peak RSS {r['peak_rss_mb']:5.0f} MB  mean position {r['points_mean']:.3f}")
    print(f"  ratio (this / original): x{best['this']['fps'] / best['original']['fps']:.2f} "
          f"frames/s, x{best['original']['cpu_ms_per_frame'] / best['this']['cpu_ms_per_frame']:.2f}"
          " less CPU per frame")


if __name__ == "__main__":
    main()
