"""End-to-end benchmark of the workflow on the original's demo dataset shape.

The original's demo: 2 videos of one session, 784x582 px, 120 fps, 1000 frames each, 347
points, run with the original's parameters (CLAHE 40 on a 150x150 tile grid, LK winSize 20,
maxLevel 2, criteria (3, 2, 0.03), contiguous tracking, VQT 36 bins 1-60 Hz, rank-10 TCA).
This script renders videos of that shape with :mod:`face_rhythm.synthetic` (cached in
``--workdir``), writes a config overlay with those parameters and a polygon that gives about
347 points at the original's 9-px spacing, and runs ``snakemake --cores N`` from a clean
results folder to the last output. It prints the wall time, the per-rule times of the
``benchmarks/`` TSVs, and a timeline of the jobs from Snakemake's log (which jobs ran side
by side: e.g. whether the spectrogram of video 1 overlaps the tracking of video 2).

Examples::

    python bench/bench_demo.py                   # 2 x 1000 frames, --cores 2
    python bench/bench_demo.py --frames 300      # a quick run
    python bench/bench_demo.py --no-overlay      # without the overlay videos
    python bench/bench_demo.py --codec FFV1      # lossless videos (4x the decoding cost)
    python bench/bench_demo.py --repeats 2       # best and median of 2 clean runs
    python bench/bench_demo.py --json out.json   # also write the numbers
    python bench/bench_demo.py --no-overlay --original-python /tmp/origvenv/bin/python \\
        --repeats 2                              # side by side with the original's
                                                 # pipeline_basic (see bench_original.py)

Numbers depend on the machine and what else runs on it: report them with the load
(``uptime``) and compare runs made side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

HEIGHT, WIDTH, FPS = 582, 784, 120.0
N_POINTS = 347
SPACING = 9


# ----------------------------------------------------------------------------- inputs
def _face(n_frames: int, index: int):
    from face_rhythm import synthetic
    return synthetic.default_face(height=HEIGHT, width=WIDTH, frame_rate=FPS,
                                  n_frames=n_frames, noise_std=2.0, seed=0,
                                  noise_seed=index)


#: codec -> file suffix. mp4v (MPEG-4 part 2) is lossy and costs about as much to decode as
#: a camera's H.264 file (the real 782x582 clip in ../shared/data: 2.3-3.3 CPU ms a frame);
#: FFV1 is lossless, and on this noisy synthetic face (211 MB per 1000 frames) costs about
#: 11-14 CPU ms a frame to decode, 4x a camera file: it measures the decoder more than us.
CODECS = {"mp4v": ".mp4", "FFV1": ".avi"}


def render_videos(workdir: Path, n_videos: int, n_frames: int, codec: str = "mp4v"
                  ) -> list[Path]:
    """The demo videos, rendered once and cached in ``workdir``."""
    from face_rhythm import synthetic
    paths = []
    for i in range(n_videos):
        path = workdir / f"demo_{WIDTH}x{HEIGHT}_{FPS:g}fps_{n_frames}f_{i + 1}{CODECS[codec]}"
        if not path.is_file():
            t0 = time.perf_counter()
            synthetic.write_video(_face(n_frames, i), path, fourcc=codec)
            print(f"rendered {path.name} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        paths.append(path)
    return paths


def demo_polygon(n_points: int = N_POINTS, spacing: int = SPACING) -> list[list[float]]:
    """The synthetic face polygon, shrunk about its centroid until the grid at ``spacing`` px
    holds about ``n_points`` points (the original's demo ROI: 347 points at 9 px)."""
    from face_rhythm import rois as fr_rois
    from face_rhythm import synthetic
    poly = np.array(synthetic.demo_rois(_face(2, 0))["face"], dtype=np.float64)
    centre = poly.mean(axis=0)

    def count(scale: float) -> int:
        p = centre + (poly - centre) * scale
        return len(fr_rois.grid_points(fr_rois.polygon_to_mask(p, HEIGHT, WIDTH), spacing))

    lo, hi = 0.05, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if count(mid) < n_points else (lo, mid)
    scale = min((lo, hi), key=lambda s: abs(count(s) - n_points))
    return np.round(centre + (poly - centre) * scale, 2).tolist()


def demo_config(videos_tsv: Path, overlay: bool) -> dict:
    """config/config.yaml with the original's parameters for the demo."""
    import yaml

    from face_rhythm import point_tracking as fpt
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["videos"] = str(videos_tsv)
    cfg["rois"].update(polygons={"face": demo_polygon()}, point_spacing=SPACING,
                       points_from=["face"], mask_from=["face"])
    cfg["tracking"].update(fpt.REFERENCE_PARAMS.to_reference())
    cfg["tracking"].update(contiguous=True, idx_start=0)
    cfg["vqt"]["params_VQT"].update(Q_lowF=4.0, Q_highF=10.0, F_min=1.0, F_max=60.0,
                                    n_freq_bins=36, window_type="hann", symmetry="center",
                                    downsample_factor=20, padding="valid", fft_conv=True,
                                    take_abs=True)
    cfg["vqt"].update(normalization_factor=0.95, spectrogram_exponent=1.0,
                      one_over_f_exponent=0.5)
    cfg["tca"].update(rank=10, method="CP_NN_HALS", per_session=True, all_sessions=False)
    cfg["tca"]["params_method"].update(n_iter_max=200, tol=1e-9)
    cfg["outputs"]["overlay_video"] = overlay
    return cfg


# ----------------------------------------------------------------------------- one run
def _num(rec: dict, key: str) -> float:
    try:
        return float(rec.get(key, "nan"))
    except ValueError:
        return float("nan")


def read_benchmarks(workdir: Path) -> list[dict]:
    """Every ``benchmarks/<rule>/...tsv``: rule, job, seconds, max RSS (MB)."""
    rows = []
    for tsv in sorted((workdir / "benchmarks").rglob("*.tsv")):
        lines = tsv.read_text().splitlines()
        if len(lines) < 2:
            continue
        head, vals = lines[0].split("\t"), lines[1].split("\t")
        rec = dict(zip(head, vals))
        rule = tsv.relative_to(workdir / "benchmarks").parts[0]
        job = str(tsv.relative_to(workdir / "benchmarks" / rule).with_suffix(""))

        rows.append({"rule": rule, "job": job, "s": _num(rec, "s"),
                     "max_rss_mb": _num(rec, "max_rss"), "cpu_s": _num(rec, "cpu_time")})
    return rows


_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]")
_RULE = re.compile(r"^(?:local)?rule (\w+):")
_JOBID = re.compile(r"^\s+jobid: (\d+)")
_WILD = re.compile(r"^\s+wildcards: (.*)")
_DONE = re.compile(r"Finished jobid: (\d+)")


def timeline(log_text: str) -> list[dict]:
    """Start and end (s since the first timestamp) of each job, from Snakemake's log."""
    jobs: dict[str, dict] = {}
    t_first = stamp = None
    pending = None
    for line in log_text.splitlines():
        m = _STAMP.match(line)
        if m:
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y").timestamp()
            t_first = stamp if t_first is None else t_first
            continue
        if stamp is None:
            continue
        if (m := _RULE.match(line)):
            pending = {"rule": m.group(1), "start": stamp - t_first, "job": ""}
        elif pending is not None and (m := _WILD.match(line)):
            pending["job"] = m.group(1)
        elif pending is not None and (m := _JOBID.match(line)):
            jobs[m.group(1)] = pending
        elif (m := _DONE.search(line)) and m.group(1) in jobs:
            jobs[m.group(1)]["end"] = stamp - t_first
            pending = None
    return sorted((j for j in jobs.values() if "end" in j), key=lambda j: j["start"])


def run_once(workdir: Path, config: Path, cores: int) -> dict:
    for sub in ("results", "benchmarks", "logs", ".snakemake"):
        shutil.rmtree(workdir / sub, ignore_errors=True)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
           str(workdir), "--configfile", str(config), "--workflow-profile", "none",
           "--cores", str(cores)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    return {"wall_s": wall, "rules": read_benchmarks(workdir),
            "timeline": timeline(proc.stderr + proc.stdout)}


def outputs_digest(workdir: Path) -> dict:
    """A few numbers of the results, to check that a change kept them (to rounding)."""
    import h5py
    out = {}
    res = workdir / "results"
    for path in sorted(res.rglob("*.h5")):
        with h5py.File(path, "r") as f:
            for key in ("points_tracked", "spectrograms", "weights", "evr",
                        "factors_points_xy"):
                if key in f and isinstance(f[key], h5py.Dataset):
                    a = f[key][()]
                    out[f"{path.relative_to(res)}:{key}"] = [list(a.shape),
                                                             float(np.nanmean(a))]
    return out


# ----------------------------------------------------------------------------- report
def print_report(runs: list[dict], cores: int) -> None:
    walls = [r["wall_s"] for r in runs]
    print(f"\nsnakemake --cores {cores}: wall {min(walls):.1f} s best, "
          f"{float(np.median(walls)):.1f} s median of {len(walls)} "
          f"(load before: {os.getloadavg()[0]:.2f})")
    best = runs[int(np.argmin(walls))]
    print("\nper rule (benchmarks/*.tsv of the best run; s = wall of the job incl. start-up):")
    print(f"{'rule':<18} {'job':<28} {'s':>7} {'cpu s':>7} {'max RSS MB':>11}")
    total = 0.0
    for r in best["rules"]:
        total += r["s"]
        print(f"{r['rule']:<18} {r['job']:<28} {r['s']:7.2f} {r['cpu_s']:7.2f} "
              f"{r['max_rss_mb']:11.0f}")
    print(f"{'sum of jobs':<47} {total:7.2f}")
    print("\ntimeline (s from the first log line, 1-s resolution):")
    for j in best["timeline"]:
        print(f"  {j['start']:5.0f} -> {j['end']:5.0f}  {j['rule']:<18} {j['job']}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path,
                    default=Path(tempfile.gettempdir()) / "face-rhythm-bench-demo")
    ap.add_argument("--videos", type=int, default=2)
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--no-overlay", action="store_true", help="outputs.overlay_video: false")
    ap.add_argument("--codec", choices=sorted(CODECS), default="mp4v",
                    help="codec of the rendered videos (default mp4v: lossy, decodes like a "
                         "camera's file; FFV1: lossless, 4x the decoding cost)")
    ap.add_argument("--json", type=Path, help="write the measurements here")
    ap.add_argument("--original-python",
                    help="also run the original's pipeline_basic on the same videos and "
                         "parameters with this Python (bench_original.py), alternating with "
                         "the workflow runs, and print the ratio")
    ap.add_argument("--original-path", default="",
                    help="a folder to put first on that Python's path (an unpacked wheel)")
    args = ap.parse_args(argv)
    import yaml
    args.workdir.mkdir(parents=True, exist_ok=True)
    videos = render_videos(args.workdir, args.videos, args.frames, args.codec)
    run_dir = args.workdir / "run"
    run_dir.mkdir(exist_ok=True)
    table = run_dir / "videos.tsv"
    table.write_text("session\tvideo\tpath\tfps\n" + "".join(
        f"demo\tvideo{i + 1:02d}\t{p}\t\n" for i, p in enumerate(videos)))
    config = run_dir / "config.yaml"
    config.write_text(yaml.safe_dump(demo_config(table, overlay=not args.no_overlay)))
    original = []
    if args.original_python:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import bench_original
        if (args.videos, args.frames, args.codec) != (2, 1000, "mp4v"):
            raise SystemExit("--original-python runs the default demo: 2 videos x 1000 frames")
        originals = bench_original.pipeline_inputs(
            Path(tempfile.gettempdir()) / "face-rhythm-bench")
    runs = []
    for _ in range(args.repeats):
        runs.append(run_once(run_dir, config, args.cores))
        if args.original_python:
            r = bench_original.run_pipeline("original", [args.original_python],
                                            {"PYTHONPATH": args.original_path}, *originals)
            print(f"original pipeline_basic: {r['seconds']:.1f} s ({r['library']}); "
                  f"snakemake: {runs[-1]['wall_s']:.1f} s", file=sys.stderr)
            original.append(r["seconds"])
    print_report(runs, args.cores)
    if original:
        best = min(r["wall_s"] for r in runs)
        print(f"\nthe original's pipeline_basic on the same videos and parameters: "
              f"{min(original):.1f} s best of {len(original)}, alternating with the workflow "
              f"runs\nratio (original pipeline_basic / snakemake --cores {args.cores}): "
              f"x{min(original) / best:.2f} (best against best), per pair "
              + ", ".join(f"x{o / r['wall_s']:.2f}" for o, r in zip(original, runs)))
    digest = outputs_digest(run_dir)
    print("\nresults (shape, mean):")
    for k, v in digest.items():
        print(f"  {k}: {v[0]} {v[1]:.6g}")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "digest": digest,
                                         "original_pipeline_basic_s": original}, indent=1))


if __name__ == "__main__":
    main()
