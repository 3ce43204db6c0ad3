"""Large results on disk instead of in memory: written block by block, handed back mapped.

The notebook API returns whole arrays, as the original's does: ``PointTracker`` and
``track_video`` the positions (T, N, 2), ``VQT_Analyzer`` the spectrograms (2, N, F, T').
Held in memory they grow with the recording (0.5 GB of positions for 10 minutes of 1,138
points at 90 fps; 6 GB of spectrograms for an hour of 1,000 points). A result of
:data:`SPILL_BYTES` or more is therefore built in a temporary file instead
(:class:`DiskArray`: plain file writes, so none of it is resident in the process) and handed
back as a read-only ``numpy.memmap`` of that file (:func:`finish`): pages are read from disk
when used and can be dropped again by the kernel. The file has no name (it is deleted as
soon as it is created) and disappears with the last array that maps it.

The directory is ``$FACE_RHYTHM_SPILL_DIR``, else the system's temporary directory. Copy a
mapped result (``np.array(x)``) to modify it in place.

:func:`drop_pages` lets a reader that streams through a read-only memory map (its own
``np.load(..., mmap_mode="r")`` file, or one of these results) give the pages it has read
back to the kernel, so that reading a long recording once does not grow the process either.
"""

from __future__ import annotations

import logging
import mmap
import os
import tempfile
from typing import Any

import numpy as np

from .errors import FaceRhythmError

__all__ = ["SPILL_BYTES", "DiskArray", "DiskArrayError", "drop_pages", "finish",
           "is_read_only_map", "new_result", "spill_dir"]

logger = logging.getLogger(__name__)

#: Results of this many bytes or more are built on disk (smaller ones stay in memory).
SPILL_BYTES = 64 << 20

#: Environment variable naming the directory of the temporary files.
SPILL_DIR_ENV = "FACE_RHYTHM_SPILL_DIR"


class DiskArrayError(FaceRhythmError, OSError):
    """A result could not be written to its temporary file (e.g. the disk is full)."""


def spill_dir() -> str:
    """Directory of the temporary files: ``$FACE_RHYTHM_SPILL_DIR`` or the system's temp."""
    return os.environ.get(SPILL_DIR_ENV) or tempfile.gettempdir()


def _block_runs(shape: tuple[int, ...], key: Any) -> tuple[int, int, int, int]:
    """For a block key ``[:, ..., a:b]`` (full slices, then one slice): ``(axis, a, b,
    n_runs)``; the block is ``n_runs`` contiguous runs of the C-ordered array."""
    key = key if isinstance(key, tuple) else (key,)
    if not key or len(key) > len(shape):
        raise IndexError(f"block key {key!r} for shape {shape}")
    *lead, last = key
    if any(k != slice(None) for k in lead) or not isinstance(last, slice) \
            or last.step not in (None, 1):
        raise IndexError(f"DiskArray takes blocks [:, ..., a:b] only, not {key!r}")
    axis = len(key) - 1
    a, b, _ = last.indices(shape[axis])
    return axis, a, max(a, b), int(np.prod(shape[:axis], dtype=np.int64))


class DiskArray:
    """An array of ``shape`` and ``dtype`` built in an unnamed temporary file.

    Supports what the streaming writers do: ``x[:, ..., a:b] = block`` and
    ``x[:, ..., a:b]`` (a new in-memory array), for blocks that are full along every axis
    before the sliced one and everything after it. Writes and reads are ``os.pwrite`` /
    ``os.preadv`` of the block's contiguous runs, so no page of the file is mapped into the
    process. :func:`finish` turns it into a read-only memory map.

    Parameters
    ----------
    shape : tuple of int
    dtype : numpy dtype
    directory : str, optional
        Default :func:`spill_dir`.
    """

    def __init__(self, shape: tuple[int, ...], dtype: Any, directory: str | None = None):
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)
        self.directory = directory or spill_dir()
        self.nbytes = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        try:
            self._file = tempfile.TemporaryFile(  # noqa: SIM115 - open until finish()
                prefix=".face-rhythm-", dir=self.directory)
            os.ftruncate(self._file.fileno(), self.nbytes)
        except OSError as exc:
            raise DiskArrayError(f"{self.directory}: cannot make a {self.nbytes / 2**20:.0f} MB "
                                 f"temporary file for a result ({exc.strerror}); set "
                                 f"{SPILL_DIR_ENV} to a folder with room") from None
        logger.debug("result %s %s (%.0f MB) kept on disk in %s", self.shape, self.dtype,
                     self.nbytes / 2**20, self.directory)

    def __len__(self) -> int:
        return self.shape[0]

    def _runs(self, key: Any) -> tuple[tuple[int, ...], list[int], int]:
        axis, a, b, n_runs = _block_runs(self.shape, key)
        inner = int(np.prod(self.shape[axis + 1:], dtype=np.int64)) * self.dtype.itemsize
        run = (b - a) * inner
        stride = self.shape[axis] * inner
        block_shape = self.shape[:axis] + (b - a,) + self.shape[axis + 1:]
        return block_shape, [i * stride + a * inner for i in range(n_runs)], run

    def __setitem__(self, key: Any, value: Any) -> None:
        block_shape, offsets, run = self._runs(key)
        block = np.ascontiguousarray(np.broadcast_to(np.asarray(value, dtype=self.dtype),
                                                     block_shape))
        data = memoryview(block.reshape(-1)).cast("B")
        fd = self._file.fileno()
        try:
            for i, off in enumerate(offsets):
                chunk = data[i * run:(i + 1) * run]
                while chunk:
                    chunk = chunk[os.pwrite(fd, chunk, off + run - len(chunk)):]
        except OSError as exc:
            raise DiskArrayError(f"{self.directory}: writing a result's temporary file failed "
                                 f"({exc.strerror}); set {SPILL_DIR_ENV} to a folder with "
                                 "room") from None

    def __getitem__(self, key: Any) -> np.ndarray:
        block_shape, offsets, run = self._runs(key)
        out = np.empty(block_shape, dtype=self.dtype)
        data = memoryview(out.reshape(-1)).cast("B")
        fd = self._file.fileno()
        for i, off in enumerate(offsets):
            view = data[i * run:(i + 1) * run]
            done = 0
            while done < run:
                n = os.preadv(fd, [view[done:]], off + done)
                if n <= 0:
                    raise DiskArrayError(f"{self.directory}: short read of a result's "
                                         "temporary file")
                done += n
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError("a DiskArray is read in blocks (x[:, a:b]) or mapped with finish()")

    def finish(self) -> np.memmap:
        """The array as a read-only memory map of the file (which this object lets go of)."""
        if self.nbytes == 0:
            return np.zeros(self.shape, self.dtype)
        with self._file:
            return np.memmap(self._file, dtype=self.dtype, mode="r", shape=self.shape)


def new_result(shape: tuple[int, ...], dtype: Any) -> np.ndarray | DiskArray:
    """An uninitialised result: in memory below :data:`SPILL_BYTES`, else a :class:`DiskArray`."""
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    return np.empty(shape, dtype) if nbytes < SPILL_BYTES else DiskArray(shape, dtype)


def finish(result: np.ndarray | DiskArray) -> np.ndarray:
    """What :func:`new_result` gave, ready to return: the array, or the map of the file."""
    return result.finish() if isinstance(result, DiskArray) else result


def _read_only_map(arr: np.ndarray) -> tuple[mmap.mmap, int] | None:
    """The read-only ``mmap`` under ``arr`` and the address where the map starts, if any."""
    base: Any = arr
    while base is not None:
        if isinstance(base, np.memmap) and getattr(base, "mode", None) == "r" \
                and isinstance(getattr(base, "_mmap", None), mmap.mmap):
            mm = base._mmap
            return mm, np.frombuffer(mm, dtype=np.uint8).ctypes.data
        base = getattr(base, "base", None)
    return None


def is_read_only_map(arr: Any) -> bool:
    """Whether ``arr`` is (a view of) a read-only ``numpy.memmap``."""
    return isinstance(arr, np.ndarray) and _read_only_map(arr) is not None


def drop_pages(arr: np.ndarray, start: int, stop: int) -> bool:
    """Give back to the kernel the pages of rows ``arr[start:stop]`` of a read-only map.

    Only for arrays that are (views of) a read-only ``numpy.memmap``, C-contiguous along
    axis 0: their pages come back from the file when read again, so this loses nothing.
    Anything else is left alone. Returns whether pages were dropped.
    """
    found = _read_only_map(arr) if isinstance(arr, np.ndarray) else None
    if found is None or not arr.flags.c_contiguous or not hasattr(mmap.mmap, "madvise"):
        return False
    mm, map_start = found
    row = arr.strides[0] if arr.ndim else arr.itemsize
    lo = arr.ctypes.data - map_start + start * row
    hi = arr.ctypes.data - map_start + stop * row
    page = mmap.PAGESIZE
    lo, hi = (lo // page) * page, min(-(-hi // page) * page, len(mm))
    if hi <= lo:
        return False
    mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
    return True
