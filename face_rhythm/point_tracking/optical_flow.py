"""Pyramidal Lucas-Kanade of many points, split over threads.

OpenCV tracks each point on its own (``cv2.calcOpticalFlowPyrLK``: the same pyramids, then
one independent iteration per point), so splitting the points into parts tracked in
parallel gives exactly the result of one call. The parts run in Python threads (OpenCV
releases the GIL), with OpenCV's own thread pool off (``cv2.setNumThreads(1)`` while
tracking, see :func:`single_threaded_opencv`): on a 2-core node the pool competed with the
preprocessing threads (a ``parallel_for_`` started while the pool is busy runs serially)
and spun while idle, so the tracker's critical path, LK, often ran on one core.
Each part builds the two pyramids again (~0.1-0.2 ms for 640 x 480), which is why small
point sets are not split. Measured on a busy 2-core machine (bench/bench_tracking.py
``--lk-threads``), the split was no faster than one call on OpenCV's pool and cost ~10% more
CPU, so the tracker uses it only on request (``lk_threads``).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Self

import cv2
import numpy as np

from .params import TrackingParams

__all__ = ["LucasKanade", "lk_thread_count", "single_threaded_opencv"]

#: Fewest points per part: below this, rebuilding the pyramids costs more than it saves.
MIN_POINTS_PER_PART = 150


def lk_thread_count(n_threads: int, n_points: int) -> int:
    """Parts to split ``n_points`` into with ``n_threads`` threads available (>= 1)."""
    return int(max(1, min(int(n_threads), n_points // MIN_POINTS_PER_PART)))


@contextlib.contextmanager
def single_threaded_opencv() -> Iterator[None]:
    """OpenCV's thread pool off inside the block (restored after it)."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


class _Helper:
    """A thread that runs ``fn(*args)`` for each ``args`` put in :attr:`jobs` and answers
    in :attr:`done` (None, or the exception). Lighter than a ``ThreadPoolExecutor`` (no
    futures: ~10 us per call instead of ~60 us, which counts at 300 frames/s)."""

    def __init__(self, fn: Callable[..., None]):
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.done: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, args=(fn,), name="fr-lk",
                                       daemon=True)
        self.thread.start()

    def _loop(self, fn: Callable[..., None]) -> None:
        while True:
            args = self.jobs.get()
            if args is None:
                return
            try:
                fn(*args)
                self.done.put(None)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                self.done.put(exc)

    def stop(self) -> None:
        self.jobs.put(None)
        self.thread.join()


class LucasKanade:
    """``cv2.calcOpticalFlowPyrLK`` of a fixed number of points, in ``n_parts`` threads.

    Parameters
    ----------
    params : TrackingParams
        ``win_size``, ``max_level``, ``criteria``, ``min_eig_threshold``.
    n_points : int
    n_parts : int
        Threads (this one and ``n_parts - 1`` helpers); 1 = one plain call.

    Notes
    -----
    The result arrays are reused from call to call: copy what must outlive the next call.
    Use as a context manager (or call :meth:`close`) to stop the helper threads.
    """

    def __init__(self, params: TrackingParams, n_points: int, n_parts: int = 1):
        self.kwargs = {"winSize": params.win_size, "maxLevel": params.max_level,
                       "criteria": params.criteria, "minEigThreshold": params.min_eig_threshold}
        self.n_parts = max(1, min(int(n_parts), int(n_points)))
        self.bounds = np.linspace(0, n_points, self.n_parts + 1).round().astype(int)
        self.next_pts = np.empty((n_points, 1, 2), np.float32)  # OpenCV's layout
        self.status = np.empty((n_points, 1), np.uint8)
        self.err = np.empty((n_points, 1), np.float32)
        self._helpers = [_Helper(self._part) for _ in range(self.n_parts - 1)]

    def _part(self, prev_img: np.ndarray, next_img: np.ndarray, pts: np.ndarray,
              i: int) -> None:
        a, b = self.bounds[i], self.bounds[i + 1]
        nxt, st, err = cv2.calcOpticalFlowPyrLK(prev_img, next_img, pts[a:b].reshape(-1, 1, 2),
                                                self.next_pts[a:b],
                                                self.status[a:b], self.err[a:b], **self.kwargs)
        # OpenCV writes into the given arrays; copy in case it had to allocate new ones
        if not np.shares_memory(nxt, self.next_pts):
            self.next_pts[a:b] = nxt.reshape(-1, 1, 2)
            self.status[a:b] = st.reshape(-1, 1)
            self.err[a:b] = err.reshape(-1, 1)

    def __call__(self, prev_img: np.ndarray, next_img: np.ndarray,
                 pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Track ``pts`` (N, 2) float32 from ``prev_img`` to ``next_img`` (uint8 (H, W)).

        Returns
        -------
        next_pts : (N, 2) float32
        lost : (N,) bool
            Points OpenCV could not track (status 0).
        """
        for i, h in enumerate(self._helpers, start=1):
            h.jobs.put((prev_img, next_img, pts, i))
        failure: Any = None
        try:
            self._part(prev_img, next_img, pts, 0)
        finally:  # wait for every part, even if this one failed
            for h in self._helpers:
                failure = h.done.get() or failure
        if failure is not None:
            raise failure
        return self.next_pts.reshape(-1, 2), self.status.reshape(-1) == 0

    def close(self) -> None:
        """Stop the helper threads."""
        for h in self._helpers:
            h.stop()
        self._helpers = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
