"""Atomic output files: a result appears under its name only when it is complete.

Every output is built under a temporary name in the same folder (``.<name>.<random>.tmp``)
and renamed into place (``os.replace``, atomic on one file system) when the writer finishes
without an exception. A killed job therefore leaves at most a hidden ``.tmp`` file, never a
half-written file that looks finished, and Snakemake redoes the job on the next run.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import h5py

__all__ = ["atomic_h5", "atomic_path"]

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; results should be shareable
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike) -> Iterator[h5py.File]:
    """Open a new HDF5 file for writing that appears at ``path`` only when closed cleanly."""
    import h5py  # lazy: writers of text files need not load HDF5

    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=True) as f:
        yield f
