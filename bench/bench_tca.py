"""Benchmark TCA fits (issue 6): CP_NN_HALS on a (2N x F x T) tensor like a session's data.

Sizes: 2276 x 36 x 252 (the reference's measurement: about 15 s on 2 cores for its default
fit, rank 10, 200 iterations, random init) and the same with a 10x longer time axis.
The tensor is a planted non-negative rank-10 tensor plus noise, float32. ``tol=0`` so every
run does exactly ``--iters`` iterations (comparable work); EVR ordering is timed separately.

Usage::

    python bench/bench_tca.py                      # both sizes, numpy and pytorch, 200 iters
    python bench/bench_tca.py --sizes 1 --backends numpy --iters 50
    python bench/bench_tca.py --threads 2

Prints one line per run: size, backend, dtype, seconds, seconds/iteration, ratio to the
reference's 15 s (for 200 iterations; scaled to --iters).
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1,10", help="time-axis multipliers, e.g. 1,10")
    ap.add_argument("--backends", default="numpy,pytorch")
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--iters-long", type=int, default=None,
                    help="iterations for multipliers > 1 (default: --iters)")
    ap.add_argument("--rank", type=int, default=10)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--threads", type=int, default=None, help="torch threads")
    ap.add_argument("--evr", action="store_true", help="also time EVR ordering")
    args = ap.parse_args()

    from face_rhythm import decomposition as dec

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    print(f"# host {platform.node()} cpus {os.cpu_count()} load {os.getloadavg()}")
    for mult in [int(m) for m in args.sizes.split(",")]:
        shape = (BASE[0], BASE[1], BASE[2] * mult)
        iters = args.iters if mult == 1 or args.iters_long is None else args.iters_long
        t0 = time.perf_counter()
        x = planted_tensor(shape, rank=args.rank)
        print(f"# built {shape} ({x.nbytes / 2**20:.0f} MiB) in {time.perf_counter() - t0:.1f} s")
        for backend in args.backends.split(","):
            params = {"rank": args.rank, "n_iter_max": iters, "init": "random", "tol": 0}
            t0 = time.perf_counter()
            w, f, info = dec.fit_cp(x, "CP_NN_HALS", params, backend=backend, device="cpu",
                                    seed=0, dtype=args.dtype)
            sec = time.perf_counter() - t0
            ref = REFERENCE_S * iters / 200 * mult
            print(f"shape={shape} backend={backend} dtype={args.dtype} iters={iters} "
                  f"fit_s={sec:.2f} s_per_iter={sec / iters:.4f} "
                  f"ratio_to_reference(15s*iters/200*mult)={sec / ref:.2f} "
                  f"final_rel_error={info['rec_errors'][-1] if info['n_iter'] else float('nan'):.4f}",
                  flush=True)
            if args.evr:
                t0 = time.perf_counter()
                dec.order_by_evr(x, w, f)
                print(f"shape={shape} evr_order_s={time.perf_counter() - t0:.2f}", flush=True)


if __name__ == "__main__":
    main()
