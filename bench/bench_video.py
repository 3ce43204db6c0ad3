"""Benchmark of the streaming video reader (face_rhythm.video).

Prints:
1. steady-state decode frames/s of the reader (``iter_info_chunks``: prefetch thread, idle
   consumer) vs a bare decord2 loop, RGB and grayscale (the bare loops then convert each frame
   with the same ``rgb_to_gray``), on the real clip (streamed as a session of ``--copies``
   copies of it, so that it lasts long enough) and on a 480x640 synthetic video
   (``--throughput-minutes``, default 1); target: ratio >= 0.9. Steady state = frames/s after
   the first 5 chunks (every loop has opened its decoder; the reader has paged in its recycled
   chunk buffers); the rate over the whole run and the one-off costs (probe, open) are printed
   too. Bare OpenCV and the reader forced onto decord2 for reference (``backend="auto"``
   probes with decord2 and streams with OpenCV, see face_rhythm/video/backends.py);
2. with a consumer that works on each chunk, the wall time without prefetch (decode + work in
   series) vs with prefetch, and the share of the decode time hidden (target: most of it);
   once with a waiting consumer (I/O or GPU bound: sleep) and once with a CPU-bound one;
3. peak memory (VmHWM of a fresh process) reading a 1-minute vs a 10-minute synthetic
   video (target: equal within 10%), with backend="auto" and with backend="decord".

Usage: python bench/bench_video.py [--video PATH] [--repeats 5] [--minutes 1 10] [--quick]
       [--skip real synthetic overlap memory]
Synthetic videos are cached in bench/out/. The machine may be shared: numbers are noisy, so
each timing is the best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
DEFAULT_VIDEO = REPO.parent / "shared" / "data" / "videos" / "mouseflow_face_75fps.mp4"


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def best_of_interleaved(fns: dict, repeats: int) -> dict:
    """Best wall time of each function, running them round-robin (fair under varying load)."""
    times: dict = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: min(v) for k, v in times.items()}


class Clock:
    """Frame counter of one timed loop: the total rate (start-up included) and the steady-state
    rate after ``warmup`` frames (decoder opened, chunk buffers allocated and paged in)."""

    def __init__(self, warmup: int = 0) -> None:
        self.warmup = warmup
        self.n = 0
        self.n_warm = 0
        self.t0 = time.perf_counter()
        self.t_warm: float | None = None
        self.t1 = self.t0

    def add(self, k: int) -> None:
        self.n += k
        if self.t_warm is None and self.n >= self.warmup:
            self.t_warm, self.n_warm = time.perf_counter(), self.n

    def stop(self) -> Clock:
        self.t1 = time.perf_counter()
        return self

    @property
    def total_rate(self) -> float:
        return self.n / (self.t1 - self.t0)

    @property
    def steady_rate(self) -> float:
        assert self.t_warm is not None and self.n > self.n_warm, "video shorter than warm-up"
        return (self.n - self.n_warm) / (self.t1 - self.t_warm)


def bare_decord(paths: list[Path], gray: bool = False, warmup: int = 0) -> Clock:
    """The baseline: decord2's own sequential loop (``next().asnumpy()``), optionally with the
    library's grayscale conversion of each frame (the same one the reader applies)."""
    import decord

    from face_rhythm.video import rgb_to_gray

    clock = Clock(warmup)
    for path in paths:
        vr = decord.VideoReader(str(path), ctx=decord.cpu(0))
        for _ in range(len(vr)):
            frame = vr.next().asnumpy()
            if gray:
                frame = rgb_to_gray(frame)
            clock.add(frame.shape[0] > 0)
    return clock.stop()


def bare_opencv(paths: list[Path], gray: bool = False, warmup: int = 0) -> Clock:
    from face_rhythm.video import rgb_to_gray

    clock = Clock(warmup)
    for path in paths:
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            if gray:
                frame = rgb_to_gray(frame)
            clock.add(frame.shape[0] > 0)
        cap.release()
    return clock.stop()


def streamed(infos, prefetch: int, backend: str = "auto", chunk_size: int = 64,
             work=None, grayscale: bool = False, warmup: int = 0) -> Clock:
    """Stream already-validated videos (no probe; opening the decoder included, as in the
    bare loops), optionally working on each chunk."""
    from face_rhythm.video import iter_info_chunks

    clock = Clock(warmup)
    for c in iter_info_chunks(infos, chunk_size=chunk_size, prefetch=prefetch, backend=backend,
                              grayscale=grayscale):
        if work is not None:
            work(c.frames)
        clock.add(len(c.frames))
    return clock.stop()


def best_rates(fns: dict, repeats: int) -> dict:
    """Best (steady, total) rates of each loop, run round-robin (fair under varying load)."""
    rates: dict = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            c = fn()
            rates[k].append((c.steady_rate, c.total_rate))
    return {k: (max(r[0] for r in v), max(r[1] for r in v)) for k, v in rates.items()}


def _print_rates(r: dict, base: str) -> None:
    for name, (steady, total) in r.items():
        print(f"  {name:44s} {steady:7.1f} frames/s  ratio {steady / r[base][0]:5.2f}   "
              f"(incl. start-up {total:7.1f}, ratio {total / r[base][1]:4.2f})")


def section_throughput(path: Path, repeats: int, copies: int = 1, chunk_size: int = 64) -> None:
    """Steady-state decode rate, consumer idle, of a session of ``copies`` copies of a video:
    frames/s after a warm-up of 5 chunks (decoders opened, the reader's chunk buffers paged
    in), and over the whole run; validation (probe) and opening are timed apart."""
    import decord

    from face_rhythm.video import open_stream, probe_video

    info = probe_video(path)
    paths, infos = [path] * copies, [info] * copies
    n = info.n_frames * copies
    warm = 5 * chunk_size
    print(f"\n== decode throughput: {path.name} x {copies} ({n} frames, {info.height}x"
          f"{info.width}), best of {repeats}, interleaved; consumer idle; frames/s after the "
          f"first {warm} frames; ratio = to the bare decord2 loop")
    rgb = {
        "bare decord2 loop (VideoReader.next)": lambda: bare_decord(paths, warmup=warm),
        "bare OpenCV loop (read + BGR->RGB)": lambda: bare_opencv(paths, warmup=warm),
        "reader RGB, auto, prefetch=2": lambda: streamed(infos, 2, warmup=warm),
        "reader RGB, auto, prefetch=0": lambda: streamed(infos, 0, warmup=warm),
        "reader RGB, decord, prefetch=2": lambda: streamed(infos, 2, "decord", warmup=warm),
    }
    gray = {
        "bare decord2 loop + rgb_to_gray per frame": lambda: bare_decord(paths, True, warm),
        "bare OpenCV loop + rgb_to_gray per frame": lambda: bare_opencv(paths, True, warm),
        "reader gray, auto, prefetch=2": lambda: streamed(infos, 2, grayscale=True,
                                                          warmup=warm),
        "reader gray, auto, prefetch=0": lambda: streamed(infos, 0, grayscale=True,
                                                          warmup=warm),
        "reader gray, decord, prefetch=2": lambda: streamed(infos, 2, "decord", grayscale=True,
                                                            warmup=warm),
    }
    r = best_rates({**rgb, **gray}, repeats)
    print(" RGB (n, H, W, 3):")
    _print_rates({k: r[k] for k in rgb}, next(iter(rgb)))
    print(" grayscale (n, H, W):")
    _print_rates({k: r[k] for k in gray}, next(iter(gray)))
    once = best_of_interleaved({
        "probe_video (validation)": lambda: probe_video(path),
        "open decord2 VideoReader": lambda: decord.VideoReader(str(path), ctx=decord.cpu(0)),
        "open_stream (auto: OpenCV)": lambda: open_stream(info).close(),
    }, repeats)
    print(" one-off costs: " + "; ".join(f"{k} {1e3 * t:.1f} ms" for k, t in once.items()) +
          " (iter_chunks probes each video once; opening is in the timings above)")


def section_overlap(path: Path, repeats: int) -> None:
    from face_rhythm.video import probe_video

    info = probe_video(path)
    t_decode = best_of(lambda: streamed([info], 0), repeats)  # start-up included
    per_frame = t_decode / info.n_frames
    print(f"\n== consumer at work (decode alone: {t_decode:.2f} s, "
          f"{1e3 * per_frame:.2f} ms/frame), best of {repeats}")

    def sleeper(chunk: np.ndarray) -> None:  # waits as long as decoding took
        time.sleep(per_frame * len(chunk))

    cv2.setNumThreads(1)
    kernel = (15, 15)
    sample = next(reader_chunks(path))  # work alone: on copies of one chunk

    def cpu(chunk: np.ndarray) -> None:  # CPU-bound work (OpenCV releases the GIL)
        for frame in chunk:
            cv2.GaussianBlur(frame, kernel, 3.0)

    for name, work in (("waiting consumer (sleep = decode time)", sleeper),
                       ("CPU-bound consumer (Gaussian blur, 1 thread)", cpu)):
        t = best_of_interleaved({
            "work": lambda work=work: [work(sample[: min(64, info.n_frames - a)])
                                       for a in range(0, info.n_frames, 64)],
            "serial": lambda work=work: streamed([info], 0, work=work),
            "overlap": lambda work=work: streamed([info], 2, work=work),
        }, repeats)
        hidden = (t["serial"] - t["overlap"]) / t_decode
        print(f"  {name}: work alone {t['work']:.2f} s; decode+work without prefetch "
              f"{t['serial']:.2f} s, with prefetch=2 {t['overlap']:.2f} s (ideal "
              f"{max(t_decode, t['work']):.2f} s) -> {100 * hidden:.0f}% of the decode time "
              "hidden")
    cv2.setNumThreads(-1)


def reader_chunks(path: Path):
    from face_rhythm.video import iter_chunks

    return iter_chunks(path, chunk_size=64, prefetch=0)


# -- memory


def make_video(path: Path, seconds: float, fps: float = 30.0, hw=(240, 320)) -> Path:
    """A synthetic moving-texture video (mp4v), cached."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    h, w = hw
    tex = cv2.GaussianBlur(rng.integers(0, 256, (h * 2, w * 2), dtype=np.uint8), (0, 0), 3)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for t in range(round(seconds * fps)):
        dy = int(20 * np.sin(2 * np.pi * 7 * t / fps)) + h // 2
        dx = (t // 3) % w
        frame = tex[dy:dy + h, dx:dx + w]
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()
    os.replace(tmp, path)
    return path


def _proc_status_kb(key: str) -> int:
    """A ``/proc/self/status`` field in KiB (VmRSS: current, VmHWM: peak of this process;
    unlike ru_maxrss, VmHWM is not inherited across fork/exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _memory_child(path: str, prefetch: int, chunk_size: int, backend: str, q) -> None:
    from face_rhythm.video import iter_chunks, probe_video

    info = probe_video(path)
    base = _proc_status_kb("VmRSS")
    t0 = time.perf_counter()
    n = 0
    high = base
    for chunk in iter_chunks(path, chunk_size=chunk_size, prefetch=prefetch, backend=backend):
        n += len(chunk)
        high = max(high, _proc_status_kb("VmRSS"))
    dt = time.perf_counter() - t0
    q.put({"n": n, "expected": info.n_frames, "base_kb": base,
           "peak_kb": max(_proc_status_kb("VmHWM"), high), "s": dt})


def measure_memory(path: Path, prefetch: int = 2, chunk_size: int = 64,
                   backend: str = "auto") -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_memory_child, args=(str(path), prefetch, chunk_size, backend, q))
    p.start()
    res = q.get()
    p.join()
    return res


def section_memory(minutes: list[float]) -> None:
    print("\n== peak memory (VmHWM of a fresh process; chunk 64 frames, prefetch 2)")
    results = {}
    runs = [(m, "auto") for m in minutes] + [(m, "decord") for m in minutes]
    for m, backend in runs:
        path = make_video(OUT / f"synthetic_{m:g}min_240x320.mp4", 60 * m)
        r = measure_memory(path, backend=backend)
        assert r["n"] == r["expected"], r
        results[(m, backend)] = r
        print(f"  {m:5g} min ({r['n']:6d} frames, 240x320), backend={backend:6s}: peak "
              f"{r['peak_kb'] / 1024:7.1f} MiB (after imports and probe "
              f"{r['base_kb'] / 1024:6.1f} MiB; reader +{(r['peak_kb'] - r['base_kb']) / 1024:6.1f}"
              f" MiB), {r['n'] / r['s']:.0f} frames/s")
    if len(minutes) >= 2:
        for backend in ("auto", "decord"):
            a, b = results[(minutes[0], backend)], results[(minutes[-1], backend)]
            print(f"  backend={backend}: peak ratio {minutes[-1]:g} min / {minutes[0]:g} min = "
                  f"{b['peak_kb'] / a['peak_kb']:.3f} (target 0.9..1.1)")
    chunk_mb = 64 * 240 * 320 * 3 / 2**20
    print(f"  (one chunk = {chunk_mb:.1f} MiB; the reader's bound, (prefetch + 2) recycled chunks"
          f" = {4 * chunk_mb:.1f} MiB; backend=auto streams with OpenCV, see video/backends.py)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0],
                    help="durations of the 240x320 videos of the memory test")
    ap.add_argument("--throughput-minutes", type=float, default=1.0,
                    help="duration of the 480x640 synthetic video of the throughput test")
    ap.add_argument("--skip", nargs="*", default=[], choices=["real", "synthetic", "overlap",
                                                              "memory"])
    ap.add_argument("--copies", type=int, default=4,
                    help="the real clip is streamed as a session of this many copies of it")
    ap.add_argument("--quick", action="store_true", help="1 repeat, 0.2 vs 1 minute")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats, args.minutes, args.throughput_minutes = 1, [0.2, 1.0], 0.2
    if not args.video.exists():
        print(f"{args.video}: not found (pass --video)", file=sys.stderr)
        return 2
    print("machine:", os.cpu_count(), "CPUs; load average",
          " ".join(f"{x:.1f}" for x in os.getloadavg()))
    print("versions:", json.dumps({"opencv": cv2.__version__,
                                   "decord": __import__("decord").__version__}))
    if "real" not in args.skip:
        section_throughput(args.video, args.repeats, copies=args.copies)
    if "synthetic" not in args.skip:
        name = f"synthetic_{args.throughput_minutes:g}min_480x640.mp4"
        video = make_video(OUT / name, 60 * args.throughput_minutes, hw=(480, 640))
        section_throughput(video, args.repeats)
    if "overlap" not in args.skip:
        section_overlap(args.video, args.repeats)
    if "memory" not in args.skip:
        section_memory(args.minutes)
    print("load average after:", " ".join(f"{x:.1f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
