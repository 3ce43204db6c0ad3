"""Logging set-up for command-line and workflow runs."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from typing import Any

from .errors import FaceRhythmError

__all__ = ["progress_bar", "setup_logging"]


def setup_logging(log_path: str | os.PathLike | None = None, level: int = logging.INFO) -> None:
    """Send log records (and Python warnings) to ``log_path``, or to stderr if ``None``.

    Uncaught exceptions are logged too, so a workflow job's log file says why it failed: a
    :class:`~face_rhythm.errors.FaceRhythmError` (a user's mistake) as its message only, one
    log line per line of it, without a traceback (a traceback means a bug).
    """
    handlers: list[logging.Handler] = [
        logging.FileHandler(log_path, mode="w") if log_path else logging.StreamHandler()
    ]
    logging.basicConfig(level=level, handlers=handlers, force=True,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    logging.captureWarnings(True)
    previous = sys.excepthook

    def _hook(exc_type, exc, tb):
        if issubclass(exc_type, FaceRhythmError):  # a user's mistake: its message, no traceback
            for line in str(exc).splitlines():
                logging.getLogger("face_rhythm").error("%s: %s", exc_type.__name__, line)
            sys.stderr.write(f"{exc_type.__name__}: {exc}\n")
            return
        logging.getLogger("face_rhythm").error("%s: %s", exc_type.__name__, exc,
                                               exc_info=(exc_type, exc, tb))
        previous(exc_type, exc, tb)

    sys.excepthook = _hook


class _LogStream:
    """A file-like object that sends each progress-bar update to the log as one line."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def write(self, text: str) -> None:
        text = text.strip("\r\n ")
        if text:
            self._logger.info("%s", text)

    def flush(self) -> None:
        pass


def progress_bar(iterable: Iterable | None = None, *, total: int | None = None,
                 desc: str = "", unit: str = "it", enabled: bool | None = None,
                 log_interval_s: float = 30.0) -> Any:
    """A tqdm progress bar for long loops, wherever the user is looking.

    Parameters
    ----------
    iterable : iterable, optional
        As ``tqdm(iterable)``; or give ``total`` and call ``update``.
    total : int, optional
    desc, unit : str
    enabled : bool or None
        ``False``: no bar. ``None``: a bar only on a terminal or in a notebook (quiet in CI
        and in batch jobs). ``True``: a bar on a terminal or in a notebook, and otherwise
        (a workflow job, whose stderr is not a terminal) one log line (INFO, logger
        ``face_rhythm.progress``) every ``log_interval_s`` seconds, so that
        ``tail -f logs/<rule>/...`` shows how far a long job is.
    log_interval_s : float
        Seconds between log lines when logging.

    Returns
    -------
    tqdm.tqdm
    """
    from tqdm.auto import tqdm

    if enabled and not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()) \
            and "ipykernel" not in sys.modules:
        return tqdm(iterable, total=total, desc=desc, unit=unit, ascii=True,
                    file=_LogStream(logging.getLogger("face_rhythm.progress")),
                    mininterval=log_interval_s, maxinterval=log_interval_s * 4)
    return tqdm(iterable, total=total, desc=desc, unit=unit,
                disable=None if enabled in (None, True) else True)
