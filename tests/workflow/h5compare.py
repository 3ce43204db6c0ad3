"""Bit-for-bit comparison of the numerical HDF5 results of two workflow runs (test helper)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np


def numerical_datasets(path: Path) -> dict[str, np.ndarray]:
    """All numerical datasets of an HDF5 file by name, leaving out ``run_info`` groups (the
    only place where wall-clock times and timestamps are stored)."""
    out: dict[str, np.ndarray] = {}

    def visit(name: str, obj) -> None:
        if "run_info" in name.split("/"):
            return
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "biufc":
            out[name] = obj[()]

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


def compare_results(a: Path, b: Path) -> tuple[int, list[str]]:
    """Compare the HDF5 results of two run folders bit for bit; (n datasets, differences)."""
    files_a = sorted(p.relative_to(a) for p in (a / "results").rglob("*.h5"))
    files_b = sorted(p.relative_to(b) for p in (b / "results").rglob("*.h5"))
    problems = []
    if files_a != files_b:
        problems.append(f"different result files: {files_a} vs {files_b}")
    n = 0
    for rel in sorted(set(files_a) & set(files_b)):
        da, db = numerical_datasets(a / rel), numerical_datasets(b / rel)
        if da.keys() != db.keys():
            problems.append(f"{rel}: datasets differ: {sorted(da.keys() ^ db.keys())}")
        for key in sorted(da.keys() & db.keys()):
            x, y = da[key], db[key]
            n += 1
            if x.dtype != y.dtype or x.shape != y.shape:
                problems.append(f"{rel}:{key}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}")
            elif x.tobytes() != y.tobytes():
                problems.append(f"{rel}:{key}: values differ")
    return n, problems
