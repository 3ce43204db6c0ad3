"""Benchmark the TCA over weeks of sessions (issue 16): memory, time and recovery at scale.

Writes planted low-rank spectrograms for S sessions x V videos, runs the workflow's TCA step
on them with the REAL Snakemake rules (``snakemake --allowed-rules`` the TCA rules only, so
the spectrogram files are taken as given), and prints each job's peak RSS and wall time (from
the rules' ``benchmark:`` files, i.e. Snakemake's own measurement), the total wall time, the
full-data relative error and the congruence of the recovered factors with the planted ones
(:func:`face_rhythm.decomposition.factor_match_score`: mean over components of the product
over the three modes of the cosine between planted and recovered columns).

Sizes: ``--scale 1`` is the issue's target, 7 sessions x 1 video of one hour at 120 fps with
1,000 points, 36 frequency bins and VQT downsampling 20: a ``(2, 1000, 36, 21600)`` float32
spectrogram per video (6.2 GB; 43 GB for 7 sessions). ``--scale`` multiplies the length of
every video (``--scale 0.1``: 2,160 bins, 622 MB per video). Targets at ``--scale 1`` with the
streamed strategy on 2 cores: peak RSS <= 8 GB, <= 30 min, congruence >= 0.95.

Planted data (one ``spectrogram.h5`` per video, written in time chunks so memory stays
bounded): ``X[i, f, t] = max(0, sum_r A[i, r] B[f, r] C_v[t, r] + noise * rms * n)`` with

- ``A`` (2N, R): squared Gaussians clipped at 0 (about half the points zero per component),
  the ``(xy points)`` layout of the TCA (x rows, then y);
- ``B`` (F, R): Gaussian bumps over the frequency bins at spread-out centres;
- ``C_v`` (T_v, R): per video, gamma noise smoothed over 20 bins (slow positive envelopes);
- ``n`` standard normal, ``rms`` the planted signal's RMS, ``noise`` = ``--noise`` (0.1).

The files have the keys of the spectrogram stage's ``spectrogram.h5`` (``docs/outputs.md``:
``spectrograms`` (2, N, F, T) float32 with the ``dims`` attribute, ``frequencies`` (F,) Hz
geometrically spaced 1-30 Hz, ``x_axis_frames``, ``x_axis_seconds`` (1/6 s bins: 120 fps,
downsampling 20), ``frame_rate``, ``point_positions`` (N, 2), ``params``, ``run_info``) and
are read through :func:`face_rhythm.spectral_analysis.open_spectrogram_file` (checked after
writing). A ``rois.h5`` per session carries the example frame of the figures, and a
``videos.tsv`` per session stands for the passed session check (the TCA rules wait for it). The planted
factors are saved in ``planted.npz``.

Usage::

    python bench/bench_tca_scale.py --scale 0.1                 # 7 x 6 min, streamed
    python bench/bench_tca_scale.py --scale 0.1 --strategy in_memory   # the old path
    python bench/bench_tca_scale.py --scale 1 --workdir /big/disk/tca_bench   # 43 GB + 1 GB
    python bench/bench_tca_scale.py --scale 0.002 --points 50 --sessions 2   # seconds

Measured (2026-12-02, a 2-core VM shared with 3 other jobs, load 2-9: wall times are
stretched, CPU times are what the jobs cost), rank 6, 200 iterations max, ``time_bins`` 4000:

===========  =========  ======  ========================  ==============  ===========
strategy     scale      data    peak RSS (job, file)      CPU s (jobs)    congruence
===========  =========  ======  ========================  ==============  ===========
in_memory    0.01       0.44GB  1.85 GB                   -               0.9998
in_memory    0.02       0.87GB  5.66 GB                   71              0.9998
streamed     0.01       0.44GB  1.73 GB (fit = all bins)  -               0.9998
streamed     0.1        4.35GB  5.61 GB fit (6.59 GB exact getrusage), 0.8-1.5 GB per video;
                                                          126             0.9998
streamed     0.333      14.5GB  3.0 GB fit (sampled), 1.4-1.5 GB per video;
                                                          120             0.9998
===========  =========  ======  ========================  ==============  ===========

The in-memory job grows ~6.5x the data (5.7 GB for 0.87 GB); the streamed jobs do not grow
with the length: the fit holds the 4000-bin sample (1.13 GB; ~5.8x it at the SVD init's peak),
a time-factor job one 256 MB chunk (~1.5 GB), ~5-8 CPU s per 0.6-2 GB video.

Needs ``--workdir`` with room for ``S x V x 2N x F x T x 4`` bytes (43.5 GB at scale 1) plus
the outputs (small); ``--keep`` keeps it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
TCA_RULES = {"in_memory": ["tca", "tca_all_sessions"],
             "streamed": ["tca_fit", "tca_time_factors", "tca_collect"]}


def planted_factors(n_points: int, n_freqs: int, lengths: list[int], rank: int,
                    seed: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """The planted ``A`` (2N, R), ``B`` (F, R) and per-video ``C_v`` (T_v, R), float64."""
    rng = np.random.default_rng(seed)
    a = np.maximum(rng.standard_normal((2 * n_points, rank)), 0.0) ** 2
    centres = np.linspace(2, n_freqs - 3, rank) + rng.uniform(-1, 1, rank)
    fb = np.arange(n_freqs)[:, None]
    b = np.exp(-0.5 * ((fb - centres[None, :]) / max(1.0, n_freqs / 12)) ** 2)
    cs = []
    k = 20
    for t in lengths:
        g = rng.gamma(1.0, 1.0, (t + k, rank))
        c = (np.cumsum(g, axis=0)[k:] - np.cumsum(g, axis=0)[:-k]) / k
        cs.append(c[:t])
    return a, b, cs


def write_planted_spectrogram(path: Path, a: np.ndarray, b: np.ndarray, c: np.ndarray,
                              noise: float, rms: float, seed: int,
                              chunk_mb: float = 128.0) -> None:
    """One video's ``spectrogram.h5`` (keys of the spectrogram stage), written in chunks."""
    from face_rhythm.atomic import atomic_h5
    from face_rhythm.provenance import run_info, write_run_info

    n2, f = a.shape[0], b.shape[0]
    n, t = n2 // 2, c.shape[0]
    rng = np.random.default_rng(seed)
    ab = (a[:, None, :] * b[None, :, :]).reshape(n2 * f, -1).astype(np.float32)
    step = max(1, int(chunk_mb * 1e6 // (n2 * f * 4)))
    tc = max(1, min(t, (4 << 20) // (n * f * 4)))
    fs, ds = 120.0, 20
    with atomic_h5(path) as h:
        d = h.create_dataset("spectrograms", shape=(2, n, f, t), dtype=np.float32,
                             chunks=(1, n, f, tc))
        d.attrs["dims"] = json.dumps(["xy", "points", "frequency", "time"])
        for t0 in range(0, t, step):
            cc = c[t0:t0 + step].astype(np.float32)
            x = (ab @ cc.T).reshape(n2, f, -1)
            x += (noise * rms) * rng.standard_normal(x.shape, dtype=np.float32)
            np.maximum(x, 0, out=x)
            d[:, :, :, t0:t0 + cc.shape[0]] = x.reshape(2, n, f, -1)
        frames = np.arange(t, dtype=np.float64) * ds + ds / 2
        h.create_dataset("frequencies", data=np.geomspace(1, 30, f).astype(np.float32))
        h.create_dataset("x_axis_frames", data=frames)
        h.create_dataset("x_axis_seconds", data=frames / fs)
        h.create_dataset("frame_rate", data=fs)
        h.create_dataset("point_positions",
                         data=rng.uniform(0, 300, (n, 2)).astype(np.float32))
        h.create_dataset("params", data=json.dumps({"planted": True, "noise": noise}))
        write_run_info(h, run_info(extra={"bench": "bench_tca_scale", "seed": seed}))


def write_inputs(workdir: Path, sessions: int, videos: int, n_points: int, n_freqs: int,
                 n_bins: int, rank: int, noise: float, seed: int) -> dict:
    """Planted spectrograms, rois.h5 per session, the videos table; returns the truth."""
    from face_rhythm.h5_handling import simple_save
    from face_rhythm.spectral_analysis import open_spectrogram_file

    elements = [(f"s{s + 1}", f"v{v + 1}") for s in range(sessions) for v in range(videos)]
    a, b, cs = planted_factors(n_points, n_freqs, [n_bins] * len(elements), rank, seed)
    ab = (a[:, None, :] * b[None, :, :]).reshape(-1, rank)
    rms = float(np.sqrt(np.mean([np.sum((ab.T @ ab) * (c.T @ c)) / (ab.shape[0] * c.shape[0])
                                 for c in cs])))
    rows = ["session\tvideo\tpath\tfps"]
    for i, ((s, v), c) in enumerate(zip(elements, cs)):
        p = workdir / "results" / s / v / "spectrogram.h5"
        p.parent.mkdir(parents=True, exist_ok=True)
        write_planted_spectrogram(p, a, b, c, noise, rms, seed + 1 + i)
        with open_spectrogram_file(p) as spec:
            assert spec.shape == (2, n_points, n_freqs, n_bins), spec.shape
        rows.append(f"{s}\t{v}\tvideos/{s}_{v}.avi\t120")
    for s in dict.fromkeys(s for s, _ in elements):
        simple_save({"example_image": np.full((300, 300), 90, np.uint8),
                     "point_positions": np.zeros((n_points, 2), np.float32)},
                    workdir / "results" / s / "rois.h5", write_mode="w")
    (workdir / "videos.tsv").write_text("\n".join(rows) + "\n")
    for s in dict.fromkeys(s for s, _ in elements):
        # the session check's table (the TCA rules wait for it): there are no videos to
        # probe, the planted spectrograms stand for 120-fps videos of 20 frames per bin
        lines = ["session\tvideo\tn_frames\tframe_rate"]
        lines += [f"{s}\t{v}\t{20 * n_bins}\t120.0" for s2, v in elements if s2 == s]
        (workdir / "results" / s / "videos.tsv").write_text("\n".join(lines) + "\n")
    np.savez(workdir / "planted.npz", a=a, b=b, c=np.concatenate(cs))
    return {"a": a, "b": b, "c": np.concatenate(cs), "elements": elements}


def write_config(workdir: Path, strategy: str, rank: int, time_bins: int, n_iter: int) -> Path:
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["videos"] = str(workdir / "videos.tsv")
    cfg["outputs"] = {**cfg.get("outputs", {}), "overlay_video": False, "nwb": False}
    cfg["tca"].update(per_session=False, all_sessions=True, rank=rank, strategy=strategy)
    cfg["tca"]["params_method"] = {**cfg["tca"]["params_method"], "n_iter_max": n_iter}
    cfg["tca"].setdefault("streamed", {})["time_bins"] = time_bins
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_workflow(workdir: Path, config: Path, strategy: str, cores: int) -> float:
    """The real TCA rules on the planted files; returns the wall time in s."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
           str(workdir), "--configfile", str(config), "--workflow-profile", "none",
           "--cores", str(cores), "--allowed-rules", *TCA_RULES[strategy],
           "--rerun-triggers", "mtime", "--", "results/all_sessions/tca.h5"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return wall


def job_table(workdir: Path, strategy: str) -> pd.DataFrame:
    """One row per job: rule, job, s (wall), cpu_s, max_rss (MB), from the benchmark files
    (a shared machine stretches the wall time; the CPU time says what the job cost)."""
    rows = []
    for rule in TCA_RULES[strategy]:
        for p in sorted((workdir / "benchmarks" / rule).rglob("*.tsv")):
            b = pd.read_csv(p, sep="\t").iloc[-1]
            rows.append({"rule": rule, "job": str(p.relative_to(workdir / "benchmarks" / rule)),
                         "s": float(b["s"]), "cpu_s": float(b["cpu_time"]),
                         "max_rss_mb": float(b["max_rss"])})
    return pd.DataFrame(rows)


def run_benchmark(workdir: Path, *, scale: float = 0.1, sessions: int = 7, videos: int = 1,
                  points: int = 1000, freqs: int = 36, rank: int = 6, noise: float = 0.1,
                  strategy: str = "streamed", time_bins: int = 4000, n_iter: int = 200,
                  cores: int = 2, seed: int = 0) -> dict:
    """Write the planted data, run the workflow's TCA rules, measure; returns the numbers."""
    from face_rhythm.decomposition import factor_match_score, read_tca_file

    n_bins = max(rank + 1, round(21600 * scale))
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    truth = write_inputs(workdir, sessions, videos, points, freqs, n_bins, rank, noise, seed)
    write_s = time.perf_counter() - t0
    config = write_config(workdir, strategy, rank, time_bins, n_iter)
    wall = run_workflow(workdir, config, strategy, cores)
    # the largest RSS of any process the run started (snakemake and every job, exact; the
    # benchmark files sample it every few seconds and can miss a short peak)
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    jobs = job_table(workdir, strategy)
    tca = read_tca_file(workdir / "results" / "all_sessions" / "tca.h5")
    est = [tca.factors["(xy points)"], tca.factors["frequency"], tca.factors["time"]]
    score, _ = factor_match_score([truth["a"], truth["b"], truth["c"]], est)
    per_mode = [factor_match_score([t], [e])[0] for t, e in
                zip([truth["a"], truth["b"], truth["c"]], est)]
    fit = tca.params.get("fit", {})
    return {"strategy": strategy, "scale": scale, "shape_per_video": (2, points, freqs, n_bins),
            "videos": sessions * videos,
            "data_gb": sessions * videos * 2 * points * freqs * n_bins * 4 / 1e9,
            "write_s": write_s, "wall_s": wall, "jobs": jobs,
            "peak_rss_mb": float(jobs["max_rss_mb"].max()),
            "peak_rss_any_process_mb": peak_children, "congruence": score,
            "congruence_per_mode": per_mode, "evr_total": tca.evr_total,
            "relative_error": fit.get("relative_error"), "evr": tca.evr}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=0.1,
                    help="video length relative to one hour (21,600 bins); default 0.1")
    ap.add_argument("--sessions", type=int, default=7)
    ap.add_argument("--videos", type=int, default=1, help="videos per session")
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--freqs", type=int, default=36)
    ap.add_argument("--rank", type=int, default=6)
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--strategy", choices=sorted(TCA_RULES), default="streamed")
    ap.add_argument("--time-bins", type=int, default=4000, help="tca.streamed.time_bins")
    ap.add_argument("--iters", type=int, default=200, help="tca.params_method.n_iter_max")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=None,
                    help="folder for the data (default: a temporary folder, removed)")
    ap.add_argument("--keep", action="store_true", help="keep the workdir")
    args = ap.parse_args(argv)
    tmp = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="tca_scale_")) if tmp else args.workdir
    try:
        r = run_benchmark(workdir, scale=args.scale, sessions=args.sessions,
                          videos=args.videos, points=args.points, freqs=args.freqs,
                          rank=args.rank, noise=args.noise, strategy=args.strategy,
                          time_bins=args.time_bins, n_iter=args.iters, cores=args.cores)
    finally:
        if tmp and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"# {platform.node()} {os.cpu_count()} CPUs, python {platform.python_version()}")
    print(f"strategy {r['strategy']}, scale {r['scale']}: {r['videos']} videos of "
          f"{r['shape_per_video']} float32 = {r['data_gb']:.2f} GB "
          f"(written in {r['write_s']:.0f} s)")
    print(r["jobs"].to_string(index=False))
    print(f"TCA step wall time (snakemake, {args.cores} cores): {r['wall_s']:.1f} s; CPU time "
          f"of its jobs {r['jobs']['cpu_s'].sum():.1f} s")
    print(f"peak RSS of any job: {r['peak_rss_mb']:.0f} MB (benchmark files); of any process "
          f"(getrusage, exact): {r['peak_rss_any_process_mb']:.0f} MB")
    print(f"congruence with the planted factors: {r['congruence']:.4f} (per mode: "
          + ", ".join(f"{s:.4f}" for s in r["congruence_per_mode"]) + ")")
    print(f"full-data relative error {r['relative_error']}, EVR total {r['evr_total']:.4f}, "
          f"per component {np.array2string(r['evr'], precision=3)}")


if __name__ == "__main__":
    main()
