"""Benchmark of the spectral stage: spectrogram throughput in point-frames per second.

Main case (issue 5): 2000 points x 1 minute at 90 fps on CPU with the workflow's ``vqt:``
config (config/config.yaml), through the full workflow stage (VQT in batches of points,
two-pass normalisation streamed into an HDF5 file written atomically). Also: the in-memory
:func:`compute_spectrograms`, other batch sizes, and a long trace (10 minutes) with and
without time chunks. Each case runs in its own process so that its peak memory (max RSS) is
its own. Prints throughput, the equivalent time for a 1-hour video and ratios.

Usage::

    python bench/bench_spectral.py [--points 2000] [--seconds 60] [--fps 90] [--threads N]
                                   [--quick]

Numbers depend on the machine and its load; they are printed, never asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def load_config():
    import yaml

    from face_rhythm import spectral_analysis as sa

    path = REPO / "config" / "config.yaml"
    if path.is_file():
        cfg = (yaml.safe_load(path.read_text()) or {}).get("vqt")
        if cfg:
            return sa.SpectralParams.from_config(cfg)
    return sa.SpectralParams()


def make_tracks(n_points: int, n_frames: int, fps: float, seed: int = 0):
    """Rhythms plus jitter around random homes, (T, N, 2) float32 and (N, 2)."""
    rng = np.random.default_rng(seed)
    home = rng.uniform(0, 500, (n_points, 2)).astype(np.float32)
    t = np.arange(n_frames, dtype=np.float32) / fps
    f = rng.choice([2.0, 4.0, 8.0, 12.0], n_points).astype(np.float32)
    pt = np.empty((n_frames, n_points, 2), dtype=np.float32)
    for c in range(2):
        pt[:, :, c] = home[None, :, c] + 1.5 * np.sin(2 * np.pi * f[None] * t[:, None])
        pt[:, :, c] += rng.normal(0, 0.05, (n_frames, n_points)).astype(np.float32)
    return pt, home


def run_case(case: dict) -> dict:
    """Run one case in this process; return timings and peak RSS."""
    from face_rhythm import spectral_analysis as sa
    from face_rhythm.spectral_analysis.filterbank import cpu_threads

    threads = case.get("threads") or cpu_threads()
    params = dataclasses.replace(load_config(), device="cpu", **case.get("overrides", {}))
    n_frames = round(case["seconds"] * case["fps"])
    pt, home = make_tracks(case["points"], n_frames, case["fps"])
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    t0 = time.perf_counter()
    if case["kind"] == "stage":
        with tempfile.TemporaryDirectory() as tmp:
            sa.write_spectrogram_h5(Path(tmp) / "spectrogram.h5", pt, home, case["fps"], params,
                                    progress=False, threads=threads)
    else:
        sa.compute_spectrograms(pt, home, case["fps"], params, threads=threads)
    dt = time.perf_counter() - t0
    return {"seconds": dt, "point_frames": case["points"] * n_frames,
            "rss_before_gb": rss0,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
            "threads": threads}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--fps", type=float, default=90.0)
    ap.add_argument("--threads", type=int, default=None, help="VQT threads (default: the CPUs this process may use)")
    ap.add_argument("--quick", action="store_true", help="only the main case")
    ap.add_argument("--case", help=argparse.SUPPRESS)  # internal: JSON of one case
    args = ap.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return 0

    params = load_config()
    base = {"points": args.points, "seconds": args.seconds, "fps": args.fps,
            "threads": args.threads}
    cases = [("workflow stage -> spectrogram.h5 (config)", {**base, "kind": "stage"})]
    if not args.quick:
        cases.append(("in memory compute_spectrograms (config)", {**base, "kind": "memory"}))
        for bs in sorted({10, 300} - {params.batch_size}):
            cases.append((f"stage, batch_size={bs}",
                          {**base, "kind": "stage", "overrides": {"batch_size": bs}}))
        long = {**base, "points": max(1, args.points // 10), "seconds": args.seconds * 10,
                "kind": "stage"}
        cases.append((f"long: {long['points']} pts x {long['seconds']:g} s, time chunks",
                      long))
        cases.append((f"long: {long['points']} pts x {long['seconds']:g} s, whole traces",
                      {**long, "overrides": {"time_chunk_frames": None}}))
    print(f"spectral benchmark ({args.fps:g} fps, CPU); config: batch_size="
          f"{params.batch_size}, time_chunk_frames={params.time_chunk_frames}, "
          f"params_VQT={dict(params.params_VQT)}", flush=True)
    rates = {}
    for label, case in cases:
        proc = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)],
                              capture_output=True, text=True, check=False)
        if proc.returncode:
            print(f"  {label}: FAILED\n{proc.stderr[-2000:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rate = r["point_frames"] / r["seconds"]
        rates[label] = rate
        hour = case["points"] * case["fps"] * 3600 / rate / 60
        print(f"  {label:<44s} {r['seconds']:7.2f} s {rate / 1e6:6.3f} M point-frames/s; "
              f"1-hour video of these points: {hour:6.1f} min; peak RSS {r['peak_rss_gb']:.2f} GB "
              f"(inputs {r['rss_before_gb']:.2f} GB); {r['threads']} threads", flush=True)
    if rates:
        ref = next(iter(rates.values()))
        print("throughput ratios to the main case:")
        for k, v in rates.items():
            print(f"  {k:<44s} x{v / ref:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
