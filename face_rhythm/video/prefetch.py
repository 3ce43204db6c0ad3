"""A generator run in a background thread, a bounded number of items ahead of its consumer.

Exceptions of the producer reach the consumer (:class:`_Failure`); closing the consumer's
iterator stops the producer within 0.1 s.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

logger = logging.getLogger(__name__)


class _End:
    """The producer has no more items."""


class _Failure:
    """An exception of the producer, forwarded to the consumer."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _threaded(gen_factory: Callable[[], Iterator[Any]],
              prefetch: int) -> Iterator[Any]:
    """Run ``gen_factory()`` in a daemon thread; at most ``prefetch`` items in flight."""
    q: queue.Queue = queue.Queue()
    slots = threading.Semaphore(prefetch)
    stop = threading.Event()

    def acquire() -> bool:
        while not stop.is_set():
            if slots.acquire(timeout=0.1):
                return True
        return False

    def worker() -> None:
        gen = None
        try:
            gen = gen_factory()
            while True:
                if not acquire():
                    return
                try:
                    item = next(gen)
                except StopIteration:
                    q.put(_End())
                    return
                q.put(item)
                del item  # the pool may recycle it as soon as the consumer drops it
        except BaseException as exc:  # noqa: BLE001 - forwarded to the consumer
            q.put(_Failure(exc))
        finally:
            if gen is not None:
                gen.close()

    thread = threading.Thread(target=worker, name="face_rhythm-video-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, _End):
                return
            if isinstance(item, _Failure):
                raise item.exc
            slots.release()
            yield item
            del item
    finally:
        stop.set()
        thread.join(timeout=30)
        if thread.is_alive():
            logger.warning("video prefetch thread did not stop within 30 s")
