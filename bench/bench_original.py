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
        --params project --repeats 3 --seconds 10
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


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_run":
        print(json.dumps(run_child(*argv[1:4])))
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
    rows: dict[str, list[dict]] = {k: [] for k in sides}
    for _ in range(args.repeats):
        for name, (exe, env, params_json) in sides.items():
            cmd = [*exe, str(Path(__file__).resolve()), "_run", str(video), str(points),
                   str(params_json)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                                  env={**os.environ, **env}, cwd=tempfile.gettempdir())
            if proc.returncode != 0:
                raise RuntimeError(f"{name} failed:\n{proc.stderr[-3000:]}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
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
