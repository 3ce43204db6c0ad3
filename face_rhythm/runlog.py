"""Logging set-up for command-line and workflow runs."""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["setup_logging"]


def setup_logging(log_path: str | os.PathLike | None = None, level: int = logging.INFO) -> None:
    """Send log records (and Python warnings) to ``log_path``, or to stderr if ``None``.

    Uncaught exceptions are logged too, so a workflow job's log file says why it failed.
    """
    handlers: list[logging.Handler] = [
        logging.FileHandler(log_path, mode="w") if log_path else logging.StreamHandler()
    ]
    logging.basicConfig(level=level, handlers=handlers, force=True,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    logging.captureWarnings(True)
    previous = sys.excepthook

    def _hook(exc_type, exc, tb):
        logging.getLogger("face_rhythm").error("%s: %s", exc_type.__name__, exc,
                                               exc_info=(exc_type, exc, tb))
        previous(exc_type, exc, tb)

    sys.excepthook = _hook
