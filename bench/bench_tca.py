"""Benchmark TCA fits (issue 6): CP_NN_HALS on a (2N x F x T) tensor like a session's data.

Sizes: 2276 x 36 x 252 (the reference's measurement: about 15 s on 2 cores for its default
fit, rank 10, 200 iterations) and the same with a 10x longer time axis. The tensor is a
planted non-negative rank-10 tensor plus noise, float32. ``tol=0`` so every run does exactly
``--iters`` iterations (comparable work).

Variants, run interleaved (round-robin, best of ``--repeats``) so that the load of a shared
machine hits them alike:

- ``numpy/fast``, ``pytorch/fast``: :func:`face_rhythm.decomposition.fit_cp` as the workflow
  runs it (copy-free MTTKRP, :func:`face_rhythm.decomposition.mttkrp`);
- ``numpy/tensorly``, ``pytorch/tensorly``: the same fit with tensorly's own MTTKRP
  (``fast_mttkrp=False``), i.e. the library before the speed-up.

``final_rel_error`` is ``||X - Y|| / ||X||`` computed from the returned factors
(:func:`face_rhythm.decomposition.relative_error`); tensorly records no per-iteration errors
when ``tol=0``.

Usage::

    python bench/bench_tca.py                          # both sizes, all variants, 200 iters
    python bench/bench_tca.py --sizes 1 --backends numpy --iters 50
    python bench/bench_tca.py --sizes 10 --iters 20 --variants fast
    python bench/bench_tca.py --workflow               # also the workflow's default params

Prints one line per run and a summary table: seconds, seconds/iteration, ratio to the
reference's 15 s (scaled to iterations and size), and the speed-up of ``fast`` over
``tensorly`` per backend.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

REFERENCE_S = 15.0  # reference: 2276 x 36 x 252, 200 iterations, 2 cores
BASE = (2276, 36, 252)


def planted_tensor(shape, rank=10, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    f = [rng.random((n, rank), dtype=np.float32) for n in shape]
    x = np.einsum("ir,jr,kr->ijk", *f, optimize=True).astype(np.float32)
    x += 0.1 * x.std() * rng.random(x.shape, dtype=np.float32)
    return x


def _workflow_default(dec, x, shape, iters, rank, variant, ref, best) -> None:
    """Time the workflow's default fit (TCAParams(): SVD init, tol 1e-9) at this rank."""
    p = dec.TCAParams(rank=rank)
    kw = {**p.method_kwargs(), "n_iter_max": iters}
    t0 = time.perf_counter()
    w, f, info = dec.fit_cp(x, p.method, kw, backend=p.backend, device=p.device, seed=p.seed,
                            dtype=p.dtype, fast_mttkrp=variant == "fast")
    sec = time.perf_counter() - t0
    key = (f"{p.backend}-wf", variant)
    best[key] = min(sec, best.get(key, np.inf))
    print(f"shape={shape} workflow-default ({p.backend}, init {kw['init']} {kw.get('svd')}, "
          f"tol {kw['tol']}) mttkrp={variant}: fit_s={sec:.2f} iterations_run={info['n_iter']} "
          f"ratio_to_reference={sec / ref:.2f} "
          f"final_rel_error={dec.relative_error(x, w, f):.5f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1,10", help="time-axis multipliers, e.g. 1,10")
    ap.add_argument("--backends", default="numpy,pytorch")
    ap.add_argument("--variants", default="fast,tensorly",
                    help="fast (copy-free MTTKRP, the default) and/or tensorly (its own)")
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--iters-long", type=int, default=None,
                    help="iterations for multipliers > 1 (default: --iters)")
    ap.add_argument("--repeats", type=int, default=1, help="best of N per variant")
    ap.add_argument("--rank", type=int, default=10)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--init", default="random", help="random or svd")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--evr", action="store_true", help="also time EVR ordering")
    ap.add_argument("--workflow", action="store_true",
                    help="also time the workflow default (TCAParams(): SVD init, tol 1e-9; "
                         "numpy; rows 'numpy-wf'; it may stop before --iters)")
    args = ap.parse_args()

    import torch

    from face_rhythm import decomposition as dec

    torch.set_num_threads(args.threads)
    print(f"# host {platform.node()} cpus {os.cpu_count()} load {os.getloadavg()} "
          f"torch threads {torch.get_num_threads()}")
    summary = []
    for mult in [int(m) for m in args.sizes.split(",")]:
        shape = (BASE[0], BASE[1], BASE[2] * mult)
        iters = args.iters if mult == 1 or args.iters_long is None else args.iters_long
        ref = REFERENCE_S * iters / 200 * mult
        t0 = time.perf_counter()
        x = planted_tensor(shape, rank=args.rank)
        print(f"# built {shape} ({x.nbytes / 2**20:.0f} MiB) in {time.perf_counter() - t0:.1f} s")
        variants = [(b, v) for b in args.backends.split(",") for v in args.variants.split(",")]
        best: dict[tuple[str, str], float] = {}
        for rep in range(args.repeats):
            for backend, variant in variants:
                params = {"rank": args.rank, "n_iter_max": iters, "init": args.init, "tol": 0}
                t0 = time.perf_counter()
                w, f, _ = dec.fit_cp(x, "CP_NN_HALS", params, backend=backend,
                                     device="cpu", seed=0, dtype=args.dtype,
                                     fast_mttkrp=variant == "fast")
                sec = time.perf_counter() - t0
                err = dec.relative_error(x, w, f)
                best[(backend, variant)] = min(sec, best.get((backend, variant), np.inf))
                print(f"shape={shape} backend={backend} mttkrp={variant} dtype={args.dtype} "
                      f"iters={iters} repeat={rep} fit_s={sec:.2f} s_per_iter={sec / iters:.4f} "
                      f"ratio_to_reference(15s*iters/200*mult)={sec / ref:.2f} "
                      f"final_rel_error={err:.5f}", flush=True)
                if args.workflow and backend == "numpy":
                    _workflow_default(dec, x, shape, iters, args.rank, variant, ref, best)
                if args.evr and rep == 0:
                    t0 = time.perf_counter()
                    dec.order_by_evr(x, w, f)
                    print(f"shape={shape} evr_order_s={time.perf_counter() - t0:.2f}",
                          flush=True)
        for (backend, variant), sec in best.items():
            slow = best.get((backend, "tensorly"))
            summary.append(f"{shape!s:18s} {backend:8s} {variant:9s} {sec:8.2f} "
                           f"{sec / iters:8.4f} {sec / ref:6.2f} "
                           f"{(slow / sec if slow else float('nan')):8.2f}")
        del x
    print(f"# best of {args.repeats}; ratio = fit_s / (15 s * iters/200 * time multiplier); "
          "speedup = tensorly-MTTKRP time / this time (same backend)")
    print(f"{'shape':18s} {'backend':8s} {'mttkrp':9s} {'fit_s':>8s} {'s/iter':>8s} "
          f"{'ratio':>6s} {'speedup':>8s}")
    print("\n".join(summary))


if __name__ == "__main__":
    main()
