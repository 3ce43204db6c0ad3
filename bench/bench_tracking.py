"""Benchmark of point tracking: frames/s, ratio to a bare decode loop, peak memory.

Makes a synthetic face video like the original's benchmark (480x640, 90 fps, ~1138 points on
the face ROI; a 10-s rendered clip looped to the requested durations), then runs, each in its
own subprocess so that peak RSS is per run:

- ``decode``: a bare decode loop over the same file (``face_rhythm.video.iter_chunks``,
  grayscale, as the tracker reads it);
- ``preprocess``: decode + grayscale + mask + CLAHE (no tracking), for the breakdown;
- ``track``: the workflow script ``workflow/scripts/track_points.py`` (streams positions into
  an HDF5 file), with the project's defaults and with the original's exact parameters.

Examples::

    python bench/bench_tracking.py                       # 1-min and 10-min videos
    python bench/bench_tracking.py --durations 10        # a quick run
    python bench/bench_tracking.py --durations 60 --repeats 3 --threads 2
    python bench/bench_tracking.py --profile --durations 10   # where does the time go
    python bench/bench_tracking.py --preset demo --durations 10  # the original's demo size
    python bench/bench_tracking.py --durations 10 --compare /tmp/before   # before/after
    python bench/bench_tracking.py accuracy                   # the table of docs/tracking.md
    python bench/bench_tracking.py accuracy --variant 'w21={"win_size": [21, 21]}'

``--compare DIR`` times a second library side by side in the same run (each measurement
alternates between the two): ``DIR`` holds a copy of the ``face_rhythm`` package from before
a change (``cp -r face_rhythm /tmp/before/``), put first on ``PYTHONPATH`` of its runs; the
table then adds its frames/s and CPU ms/frame and the speed-up. ``--preset demo`` is the
original's demo (784x582 at 120 fps, 347 points) made with the synthetic generator.

Numbers depend on the machine and on what else runs on it: report them with the machine's
load. "CPU ms/frame" (user + system time of the run over its frames) is less sensitive to other
jobs than frames/s; on an otherwise idle machine with ``c`` cores the frame rate cannot exceed
``1000 * c / (CPU ms/frame)``. Videos are cached in ``--workdir`` (default: a ``face-rhythm-bench`` folder in the
system temp dir).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "workflow" / "scripts" / "track_points.py"


# ----------------------------------------------------------------------------- inputs
def _face(height: int, width: int, fps: float, seconds: float):
    from face_rhythm import synthetic
    return synthetic.default_face(height=height, width=width, frame_rate=fps,
                                  duration_s=seconds, noise_std=2.0, seed=0)


def make_video(workdir: Path, height: int, width: int, fps: float, seconds: float) -> Path:
    """A ``seconds``-long mp4 (MPEG-4) of the synthetic face: a 10-s clip, looped."""
    import cv2
    path = workdir / f"face_{height}x{width}_{fps:g}fps_{seconds:g}s.mp4"
    if path.is_file():
        return path
    base_s = min(seconds, 10.0)
    base = workdir / f"face_{height}x{width}_{fps:g}fps_{base_s:g}s.mp4"
    if not base.is_file():
        face = _face(height, width, fps, base_s)
        tmp = base.with_suffix(".tmp.mp4")
        w = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        for frame in face.iter_frames():
            w.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
        w.release()
        tmp.rename(base)
    if base == path:
        return path
    loops = int(np.ceil(seconds / base_s))
    n_frames = round(seconds * fps)
    tmp = path.with_suffix(".tmp.mp4")
    if shutil.which("ffmpeg"):
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i",
                        str(base), "-frames:v", str(n_frames), "-c", "copy", str(tmp)],
                       check=True)
    else:  # re-encode by cycling the base clip's frames
        cap = cv2.VideoCapture(str(base))
        frames = []
        ok, f = cap.read()
        while ok:
            frames.append(f)
            ok, f = cap.read()
        w = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        for i in range(n_frames):
            w.write(frames[i % len(frames)])
        w.release()
    tmp.rename(path)
    return path


def make_rois(workdir: Path, height: int, width: int, fps: float, n_points: int) -> Path:
    """rois.h5 with the synthetic face ROI and the grid spacing closest to ``n_points``."""
    from face_rhythm import rois as fr_rois
    from face_rhythm import synthetic
    path = workdir / f"rois_{height}x{width}_{n_points}.h5"
    if path.is_file():
        return path
    face = _face(height, width, fps, 1.0)
    polygon = np.array(synthetic.demo_rois(face)["face"])
    mask = fr_rois.polygon_to_mask(polygon, height, width)
    best = min(range(2, 64), key=lambda s: abs(len(fr_rois.grid_points(mask, s)) - n_points))
    roiset = fr_rois.RoiSet(polygons={"face": polygon}, frame_height_width=(height, width),
                            point_spacing=best)
    fr_rois.save_rois_h5(roiset, path)
    return path


def tracking_config(which: str) -> dict:
    """The ``tracking`` config section for the project's defaults or the original's."""
    import yaml

    from face_rhythm import point_tracking as fpt
    if which == "project":
        cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["tracking"]
    elif which == "reference":
        cfg = {**fpt.REFERENCE_PARAMS.to_reference(), "contiguous": False, "idx_start": 0,
               "chunk_size": 32, "device": "cpu"}
    else:
        raise ValueError(f"unknown configuration {which!r}")
    return cfg


# ----------------------------------------------------------------------------- one run
def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run_one(args: argparse.Namespace) -> dict:
    """Runs inside the subprocess; returns the measurements."""
    import cv2

    from face_rhythm import point_tracking as fpt
    from face_rhythm import video as fr_video
    cv2.setNumThreads(args.threads)
    video = Path(args.video)
    n_frames = fr_video.probe_video(video).n_frames
    t0, c0 = time.perf_counter(), _cpu_s()
    if args.mode == "decode":
        for _ in fr_video.iter_chunks(video, chunk_size=64, grayscale=True):
            pass
    elif args.mode == "preprocess":
        _, mask = fpt.read_home_and_mask(args.rois)
        params = fpt.TrackingParams.from_config(tracking_config(args.config))
        pre = fpt.Preprocessor.from_params(mask, params)
        chunks = fr_video.iter_chunks(video, chunk_size=64, grayscale=True)
        for _ in fpt.preprocess_chunks(chunks, pre, n_workers=args.threads):
            pass
    else:
        import runpy
        out = Path(args.out)
        smk = types.SimpleNamespace(
            input=types.SimpleNamespace(video=str(video), rois=args.rois),
            params=types.SimpleNamespace(tracking=tracking_config(args.config), fps=None,
                                         video=str(video), previous_video="",
                                         backend="auto"),
            output=types.SimpleNamespace(tracking=str(out)), log=[str(out) + ".log"],
            threads=args.threads)
        if args.lk_threads is not None:  # try another split of LK (default 1)
            import functools

            from face_rhythm.point_tracking import stage as fpt_stage
            fpt_stage.track_video = functools.partial(fpt_stage.track_video,
                                                      lk_threads=args.lk_threads)
        if args.profile:
            import cProfile
            import pstats
            prof = cProfile.Profile()
            prof.enable()
        runpy.run_path(str(SCRIPT), init_globals={"snakemake": smk}, run_name="__main__")
        if args.profile:
            prof.disable()
            pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(15)
        out.unlink(missing_ok=True)
        Path(str(out) + ".log").unlink(missing_ok=True)
    dt, cpu = time.perf_counter() - t0, _cpu_s() - c0
    import face_rhythm
    return {"library": str(Path(face_rhythm.__file__).parent), "mode": args.mode, "config": args.config, "frames": int(n_frames), "seconds": dt,
            "fps": n_frames / dt, "cpu_ms_per_frame": 1e3 * cpu / n_frames,
            "peak_rss_mb": _peak_rss_mb()}


def spawn(mode: str, config: str, video: Path, rois: Path, workdir: Path,
          args: argparse.Namespace, library: Path | None = None) -> dict:
    """One measurement in a subprocess; ``library``: a folder holding another
    ``face_rhythm`` package to time instead (first on ``PYTHONPATH``)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "_run", "--mode", mode, "--config",
           config, "--video", str(video), "--rois", str(rois), "--threads", str(args.threads),
           "--out", str(workdir / f"tracking_{os.getpid()}.h5")]
    if args.profile and mode == "track":
        cmd.append("--profile")
    if args.lk_threads is not None and mode == "track" and library is None:
        cmd += ["--lk-threads", str(args.lk_threads)]
    env = dict(os.environ)
    if library is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(library), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    if args.profile and mode == "track":
        print(proc.stderr[-6000:], file=sys.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- accuracy
DATA = (REPO / ".." / "shared" / "data").resolve()
#: Face polygon of ``mouseflow_face_75fps.mp4`` (x, y): eye to snout tip, above the mouth.
MOUSEFLOW_FACE = [[640, 215], [690, 205], [730, 235], [765, 280], [765, 300], [740, 310],
                  [700, 318], [660, 320], [630, 300], [620, 250]]


def _mouseflow() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gray frames (T, H, W) of the real clip, its face mask and 5-px grid points."""
    from face_rhythm import rois as fr_rois
    from face_rhythm import video as fr_video
    frames = np.concatenate(list(fr_video.iter_chunks(
        DATA / "videos" / "mouseflow_face_75fps.mp4", grayscale=True)))
    mask = fr_rois.polygon_to_mask(np.array(MOUSEFLOW_FACE, float), *frames.shape[1:])
    return frames, mask, fr_rois.grid_points(mask, 5)


def _synthetic_case(real_texture: np.ndarray | None):
    """(video, mask, points, truth): the demo face, or the real clip's first frame deformed
    by three known motions on the snout (2 px at 8 Hz, 1.5 px at 4 Hz and 2 Hz), noise 2."""
    import dataclasses

    from face_rhythm import rois as fr_rois
    from face_rhythm import synthetic
    if real_texture is None:
        face = synthetic.default_face(n_frames=270)
        poly = np.array(synthetic.demo_rois(face)["face"])
        spacing = 10
    else:
        tex = real_texture.astype(np.float32)

        @dataclasses.dataclass(frozen=True)
        class TexturedFace(synthetic.SyntheticFace):
            def base_image(self) -> np.ndarray:
                return tex

        comps = (synthetic.MotionComponent("whisker_pad", (0.93, 0.48), 0.03, (1.0, 0.25), 2.0,
                                           8.0, "bursts", 1.0),
                 synthetic.MotionComponent("nose", (0.96, 0.47), 0.02, (0.0, 1.0), 1.5, 4.0,
                                           "slow", phase=0.7),
                 synthetic.MotionComponent("jaw", (0.88, 0.54), 0.03, (0.2, 1.0), 1.5, 2.0,
                                           "constant", phase=1.9))
        face = TexturedFace(height=tex.shape[0], width=tex.shape[1], frame_rate=75.0,
                            n_frames=270, components=comps, noise_std=2.0)
        poly = np.array(MOUSEFLOW_FACE, float)
        spacing = 6
    mask = fr_rois.polygon_to_mask(poly, face.height, face.width)
    pts = fr_rois.grid_points(mask, spacing)
    video = np.stack(list(face.iter_frames()))
    return video, mask, pts, face.positions(pts, from_frame=0).astype(np.float32)


def _read_flo(path: Path) -> np.ndarray:
    with open(path, "rb") as fh:
        np.fromfile(fh, np.float32, 1)
        w, h = np.fromfile(fh, np.int32, 2)
        return np.fromfile(fh, np.float32, int(w) * int(h) * 2).reshape(h, w, 2)


def _middlebury_epe(name: str, params) -> float:
    import cv2

    from face_rhythm import point_tracking as fpt
    folder = DATA / "optflow" / name
    frames = np.stack([cv2.cvtColor(cv2.imread(str(folder / f)), cv2.COLOR_BGR2RGB)
                       for f in ("frame10.png", "frame11.png")])
    flow = _read_flo(folder / "flow10.flo")
    ys, xs = np.mgrid[0:frames.shape[1]:8, 0:frames.shape[2]:8]
    pts = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
    truth = flow[ys.ravel(), xs.ravel()]
    known = (np.abs(truth) < 1e9).all(1)
    p = params.replace(mesh_rigidity=0.0, relaxation=0.0, mesh_n_neighbors=0)
    r = fpt.track_array(frames, pts, p)
    return float(np.linalg.norm(r.points_tracked[1] - pts - truth, axis=1)[known].mean())


def _template_tracks(frames, mask, pts, clahe, every: int = 50) -> dict[int, np.ndarray]:
    """Drift-free pseudo-truth: LK from frame 0 to frame t, started at the last estimate."""
    import cv2

    from face_rhythm import point_tracking as fpt
    pre = fpt.Preprocessor(mask, clahe, 16)(frames)
    p, out = pts.copy(), {}
    for t in range(1, len(frames)):
        nxt, st, _ = cv2.calcOpticalFlowPyrLK(pre[0], pre[t], pts, p.copy(), winSize=(31, 31),
                                              maxLevel=2, criteria=(3, 30, 0.01),
                                              flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
        ok = st.ravel() == 1
        p[ok] = nxt[ok]
        if t % every == 0:
            out[t] = p.copy()
    return out


def accuracy(variants: dict[str, object]) -> None:
    """Print the accuracy table of docs/tracking.md for each parameter set."""
    import cv2
    import scipy.signal

    from face_rhythm import point_tracking as fpt
    cv2.setNumThreads(1)
    if not DATA.is_dir():
        raise SystemExit(f"shared data not found at {DATA}")
    synth = _synthetic_case(None)
    frames, rmask, rpts = _mouseflow()
    semi = _synthetic_case(frames[0])
    templates = [_template_tracks(frames, rmask, rpts, None),
                 _template_tracks(frames, rmask, rpts, fpt.ClaheParams(40.0, (16, 16)))]
    snout = (rpts[:, 0] >= 745) & (rpts[:, 1] >= 262) & (rpts[:, 1] <= 298)

    def rmse(case, params):
        video, mask, pts, truth = case
        tr = fpt.track_array(video, pts, params, mask=mask).points_tracked
        dt, dg = tr - tr[0], truth - truth[0]
        return (float(np.sqrt(((tr - truth) ** 2).sum(-1).mean())),
                float((dt * dg).sum() / (dg * dg).sum()))

    print("RMSE in px (gain = tracked/true amplitude); EPE in px; drift = median distance to a "
          "drift-free template track (two templates); peak = snout f*PSD peak (Hz)")
    print(f"{'set':>12} {'synth off':>9} {'synth on':>9} {'gain':>5} {'semi on':>8} "
          f"{'RW EPE':>7} {'Dm EPE':>7} {'drift':>11} {'peak':>5} {'LK ms':>6}")
    for name, params in variants.items():
        so, _ = rmse(synth, params.replace(mesh_rigidity=0.0, relaxation=0.0))
        son, gain = rmse(synth, params)
        semi_on, _ = rmse(semi, params)
        tr = fpt.track_array(frames, rpts, params, mask=rmask).points_tracked
        drift = [float(np.median([np.linalg.norm(tr[t] - tpl[t], axis=1) for t in tpl]))
                 for tpl in templates]
        disp = (tr[:, snout] - tr[0, snout]).transpose(1, 2, 0).reshape(-1, len(tr))
        f, psd = scipy.signal.welch(disp, fs=75.0, nperseg=128, detrend="linear")
        band = f >= 1.0
        peak = f[band][np.argmax((psd.mean(0) * f)[band])]
        video, mask, pts, _ = synth
        pre = fpt.Preprocessor.from_params(mask, params)(video[:40])
        c0 = time.process_time()
        for i in range(1, 40):
            cv2.calcOpticalFlowPyrLK(pre[i - 1], pre[i], pts, None, winSize=params.win_size,
                                     maxLevel=params.max_level, criteria=params.criteria)
        lk_ms = (time.process_time() - c0) / 39 * 1e3 * (1133 / len(pts))
        print(f"{name:>12} {so:>9.3f} {son:>9.3f} {gain:>5.2f} {semi_on:>8.3f} "
              f"{_middlebury_epe('RubberWhale', params):>7.3f} "
              f"{_middlebury_epe('Dimetrodon', params):>7.3f} "
              f"{drift[0]:>5.2f}/{drift[1]:<5.2f} {peak:>5.1f} {lk_ms:>6.2f}", flush=True)


def _variants(names: list[str], extra: list[str]) -> dict[str, object]:
    from face_rhythm import point_tracking as fpt
    out: dict[str, object] = {}
    for n in names:
        out[n] = {"project": fpt.PROJECT_PARAMS, "reference": fpt.REFERENCE_PARAMS}[n]
    for item in extra:
        name, _, changes = item.partition("=")
        kw = json.loads(changes)
        if "clahe" in kw and kw["clahe"] is not None:
            kw["clahe"] = fpt.ClaheParams(*kw["clahe"])
        out[name] = fpt.PROJECT_PARAMS.replace(**kw)
    return out


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd")
    inner = sub.add_parser("_run", help=argparse.SUPPRESS)
    inner.add_argument("--mode", choices=["decode", "preprocess", "track"], required=True)
    inner.add_argument("--config", default="project")
    inner.add_argument("--video", required=True)
    inner.add_argument("--rois", required=True)
    inner.add_argument("--out", required=True)
    inner.add_argument("--threads", type=int, default=2)
    inner.add_argument("--profile", action="store_true")
    inner.add_argument("--lk-threads", type=int)
    acc = sub.add_parser("accuracy", help="accuracy table (synthetic, Middlebury, real clip)")
    acc.add_argument("--sets", nargs="*", default=["project", "reference"],
                     choices=["project", "reference"])
    acc.add_argument("--variant", action="append", default=[],
                     help='NAME=JSON changes to the project defaults, e.g. '
                          '\'w21={"win_size": [21, 21]}\' or \'c={"clahe": [2, [8, 8]]}\'')
    ap.add_argument("--durations", type=float, nargs="+", default=[60.0, 600.0],
                    help="video durations in seconds (default: 60 600)")
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--fps", type=float, default=90.0)
    ap.add_argument("--points", type=int, default=1138, help="target number of points")
    ap.add_argument("--preset", choices=["demo"],
                    help="demo: the original's demo size, 784x582 at 120 fps, 347 points")
    ap.add_argument("--compare", type=Path, metavar="DIR",
                    help="a folder with another face_rhythm package (e.g. from before a change) "
                         "to time side by side")
    ap.add_argument("--configs", nargs="+", default=["project", "reference"],
                    choices=["project", "reference"])
    ap.add_argument("--threads", type=int, default=2, help="threads per run (snakemake threads)")
    ap.add_argument("--repeats", type=int, default=1, help="runs per measurement (best kept)")
    ap.add_argument("--no-breakdown", action="store_true", help="skip the preprocess-only runs")
    ap.add_argument("--profile", action="store_true", help="cProfile the tracking runs")
    ap.add_argument("--lk-threads", type=int,
                    help="Lucas-Kanade threads of the tracking runs (default 1: one OpenCV call "
                         "per frame on OpenCV's own thread pool; more: the points split)")
    ap.add_argument("--workdir", type=Path,
                    default=Path(tempfile.gettempdir()) / "face-rhythm-bench")
    args = ap.parse_args(argv)
    if args.cmd == "_run":
        print(json.dumps(run_one(args)))
        return
    if args.cmd == "accuracy":
        accuracy(_variants(args.sets, args.variant))
        return

    if args.preset == "demo":
        args.height, args.width, args.fps, args.points = 582, 784, 120.0, 347
    if args.compare is not None and not (args.compare / "face_rhythm" / "__init__.py").is_file():
        raise SystemExit(f"--compare {args.compare}: no face_rhythm package in it")
    args.workdir.mkdir(parents=True, exist_ok=True)
    rois = make_rois(args.workdir, args.height, args.width, args.fps, args.points)
    from face_rhythm.rois import read_rois_h5
    n_pts = read_rois_h5(rois).n_points
    print(f"# {args.height}x{args.width} at {args.fps:g} fps, {n_pts} points, "
          f"{args.threads} thread(s), {os.cpu_count()} CPU(s), load average "
          f"{os.getloadavg()[0]:.2f}; best of {args.repeats}")
    head = (f"{'video':>8} {'run':>22} {'frames/s':>9} {'x decode':>9} {'CPU ms/frame':>13} "
            f"{'peak RSS MB':>12}")
    if args.compare is not None:
        print(f"# before: {args.compare} (each measurement alternates before/after)")
        head += f" {'before f/s':>10} {'before CPU ms':>13} {'speed-up':>8}"
    print(head)
    for seconds in args.durations:
        t = time.perf_counter()
        video = make_video(args.workdir, args.height, args.width, args.fps, seconds)
        if time.perf_counter() - t > 1:
            print(f"# made {video.name} in {time.perf_counter() - t:.0f} s")
        runs = [("decode", "-")]
        for c in args.configs:
            if not args.no_breakdown:
                runs.append(("preprocess", c))
            runs.append(("track", c))
        decode_fps = None
        for mode, config in runs:
            cfg = config if config != "-" else "project"
            res, old = [], []
            for _ in range(args.repeats):
                res.append(spawn(mode, cfg, video, rois, args.workdir, args))
                if args.compare is not None and mode != "decode":
                    old.append(spawn(mode, cfg, video, rois, args.workdir, args, args.compare))
            best = max(res, key=lambda r: r["fps"])
            rss = max(r["peak_rss_mb"] for r in res)
            if mode == "decode":
                decode_fps = best["fps"]
            label = mode if config == "-" else f"{mode} {config}"
            line = (f"{seconds:>7g}s {label:>22} {best['fps']:>9.1f} "
                    f"{best['fps'] / decode_fps:>9.3f} {best['cpu_ms_per_frame']:>13.2f} "
                    f"{rss:>12.0f}")
            if old:
                b = max(old, key=lambda r: r["fps"])
                line += (f" {b['fps']:>10.1f} {b['cpu_ms_per_frame']:>13.2f} "
                         f"{best['fps'] / b['fps']:>8.2f}")
            print(line, flush=True)


if __name__ == "__main__":
    main()
