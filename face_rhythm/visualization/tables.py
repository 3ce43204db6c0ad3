"""The workflow's ``run_info_table`` stage: one provenance row per output file of a session.

:func:`run_info_table` reads each file's ``run_info`` (with
:func:`face_rhythm.h5_handling.read_file_run_info`) into a table: versions, creation time,
config and inputs; :func:`write_run_info_table` writes it as a tab-separated file, atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from face_rhythm.atomic import atomic_path
from face_rhythm.h5_handling import read_file_run_info

__all__ = ["RUN_INFO_VERSIONS", "run_info_table", "write_run_info_table"]

#: Packages whose versions get a column of the table (``"?"`` when a file does not say).
RUN_INFO_VERSIONS: tuple[str, ...] = ("numpy", "torch", "opencv-python-headless", "decord2",
                                      "vqt", "tensorly", "python")


def run_info_table(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """One row per file: ``file``, ``face_rhythm``, ``created_utc``, one column per package of
    :data:`RUN_INFO_VERSIONS`, ``config`` (JSON) and ``inputs`` (``path (size B)``, ``; ``
    separated). A file without ``run_info`` gets ``"?"`` / empty cells.
    """
    rows = []
    for path in paths:
        info = read_file_run_info(path) or {}
        versions = info.get("versions", {})
        rows.append({
            "file": str(path),
            "face_rhythm": info.get("face_rhythm_version", "?"),
            "created_utc": info.get("timestamp_utc", "?"),
            **{k: versions.get(k, "?") for k in RUN_INFO_VERSIONS},
            "config": json.dumps(info.get("config", {}), sort_keys=True),
            "inputs": "; ".join(f"{i.get('path')} ({i.get('size_bytes', '?')} B)"
                                for i in info.get("inputs", [])),
        })
    return pd.DataFrame(rows)


def write_run_info_table(paths: Iterable[str | os.PathLike],
                         out_path: str | os.PathLike) -> Path:
    """Write :func:`run_info_table` of ``paths`` to ``out_path`` (TSV), atomically."""
    table = run_info_table(paths)
    with atomic_path(out_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    return Path(out_path)
