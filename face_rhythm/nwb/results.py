"""Reading an exported NWB file back, and checking it (pynwb schema, nwbinspector)."""

from __future__ import annotations

import logging
import os

import numpy as np

from .build import BEHAVIOR

logger = logging.getLogger(__name__)

__all__ = ["read_nwb_positions", "validate_nwb"]


def read_nwb_positions(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Tracked positions from an exported file: video -> (timestamps (T,) s, (T, N, 2) px)."""
    from pynwb import NWBHDF5IO

    out = {}
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        tracked = nwb.processing[BEHAVIOR]["tracked_points"]
        for name, ts in tracked.time_series.items():
            if name.startswith("points_"):
                out[name[len("points_"):]] = (np.asarray(ts.get_timestamps()),
                                              np.asarray(ts.data[:]))
    return out


def validate_nwb(path: str | os.PathLike) -> list[str]:
    """Problems found in an NWB file: pynwb schema validation errors and nwbinspector
    messages of importance CRITICAL or worse. Empty when the file is valid.

    Needs ``nwbinspector`` for the best-practice checks (skipped, with a log line, if it is
    not installed).
    """
    import pynwb

    problems: list[str] = []
    try:
        result = pynwb.validate(path=str(path))
    except TypeError:  # pynwb < 3: validate(paths=[...]) -> (errors, status)
        result = pynwb.validate(paths=[str(path)])
    errors = result[0] if isinstance(result, tuple) else result
    problems += [f"pynwb: {e}" for e in errors]
    try:
        from nwbinspector import Importance, inspect_nwbfile
    except ImportError:
        logger.info("nwbinspector not installed: best-practice checks skipped")
        return problems
    for msg in inspect_nwbfile(nwbfile_path=str(path)):
        if msg.importance.value >= Importance.CRITICAL.value:
            problems.append(f"nwbinspector {msg.importance.name} {msg.check_function_name}: "
                            f"{msg.location}: {msg.message}")
    return problems
