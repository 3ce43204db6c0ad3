"""Small array and iteration helpers: batches, a repeated item, equivalence checks, means.

The reference package's ``face_rhythm.helpers.make_batches``, ``Lazy_repeat_item``,
``Equivalence_checker`` and ``rolling_mean``; :mod:`face_rhythm.helpers` re-exports them.
torch is imported only by :func:`rolling_mean` and when a tensor is compared.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from .errors import ConfigError, NotEquivalentError

logger = logging.getLogger(__name__)

__all__ = ["Equivalence_checker", "Lazy_repeat_item", "make_batches", "rolling_mean"]


def make_batches(iterable: Iterable, batch_size: int | None = None,
                 num_batches: int | None = None, min_batch_size: int = 0,
                 return_idx: bool = False, length: int | None = None) -> Iterator:
    """Yield consecutive slices of ``iterable``.

    Parameters
    ----------
    iterable : sequence or iterable
        Sliced with ``iterable[start:end]`` when it supports slicing (lists, arrays, tensors,
        strings), otherwise consumed with ``itertools.islice`` (batches are then lists).
    batch_size : int, optional
        Items per batch (the last batch may be shorter). If None,
        ``ceil(length / num_batches)``.
    num_batches : int, optional
        Number of batches, used when ``batch_size`` is None.
    min_batch_size : int
        Batches shorter than this are skipped (only the last one can be).
    return_idx : bool
        Yield ``(batch, [start, end])`` instead of ``batch``.
    length : int, optional
        Number of items, for an iterable without ``len``; ``len(iterable)`` if None.

    Yields
    ------
    batch or (batch, [start, end])
        ``end`` is exclusive.

    Raises
    ------
    ConfigError
        Neither ``batch_size`` nor ``num_batches``, or a size below 1.

    Examples
    --------
    >>> list(make_batches(list(range(5)), batch_size=2))
    [[0, 1], [2, 3], [4]]
    """
    n = len(iterable) if length is None else int(length)
    if batch_size is None:
        if num_batches is None:
            raise ConfigError("make_batches: give batch_size or num_batches")
        if int(num_batches) < 1:
            raise ConfigError(f"make_batches: num_batches={num_batches} must be >= 1")
        batch_size = max(1, math.ceil(n / int(num_batches)))
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ConfigError(f"make_batches: batch_size={batch_size} must be >= 1")
    sliceable = hasattr(iterable, "__getitem__") and not isinstance(iterable, Mapping)
    it = None if sliceable else iter(iterable)
    for start in range(0, n, batch_size):
        end = min(start + batch_size, n)
        batch = iterable[start:end] if sliceable else list(itertools.islice(it, end - start))
        if end - start < min_batch_size:
            continue
        yield (batch, [start, end]) if return_idx else batch


class Lazy_repeat_item:
    """A sequence-like object whose every item is the same object, stored once.

    Parameters
    ----------
    item : object
        Returned for every index.
    pseudo_length : int, optional
        Its length: indices ``-pseudo_length <= i < pseudo_length`` are valid and iteration
        stops after ``pseudo_length`` items. None: any index is valid, ``len()`` is an
        error and iteration never ends.

    Attributes
    ----------
    item : object
    pseudo_length : int or None

    Examples
    --------
    >>> r = Lazy_repeat_item('a', pseudo_length=3)
    >>> list(r), r[2], len(r)
    (['a', 'a', 'a'], 'a', 3)
    """

    def __init__(self, item: Any, pseudo_length: int | None = None) -> None:
        self.item = item
        self.pseudo_length = None if pseudo_length is None else int(pseudo_length)

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            if self.pseudo_length is None:
                if i.stop is None or i.stop < 0 or (i.start or 0) < 0:
                    raise IndexError("slice of a Lazy_repeat_item without pseudo_length "
                                     "needs non-negative start and stop")
                return [self.item] * len(range(i.start or 0, i.stop, i.step or 1))
            return [self.item] * len(range(*i.indices(self.pseudo_length)))
        i = int(i)
        if self.pseudo_length is not None and not -self.pseudo_length <= i < self.pseudo_length:
            raise IndexError(f"index {i} out of range for pseudo_length {self.pseudo_length}")
        return self.item

    def __len__(self) -> int:
        if self.pseudo_length is None:
            raise TypeError("Lazy_repeat_item without pseudo_length has no length")
        return self.pseudo_length

    def __iter__(self) -> Iterator:
        if self.pseudo_length is None:
            return itertools.repeat(self.item)
        return itertools.repeat(self.item, self.pseudo_length)

    def __repr__(self) -> str:
        return f"Lazy_repeat_item({self.item!r}, pseudo_length={self.pseudo_length})"


def rolling_mean(tensor: Any, dim: int) -> Any:
    """Mean of ``tensor`` along ``dim``, accumulated in float64.

    The reference runs a Welford update along ``dim`` for numerical stability; summing in
    float64 is at least as accurate for float16/32 input and needs no Python loop.

    Parameters
    ----------
    tensor : torch.Tensor or array-like
        Input, any shape.
    dim : int
        Dimension to average over.

    Returns
    -------
    torch.Tensor
        The input's shape without ``dim``; the input's floating dtype (float32 for integer
        input), on its device.
    """
    import torch

    t = torch.as_tensor(tensor)
    out_dtype = t.dtype if t.is_floating_point() or t.is_complex() else torch.float32
    acc = torch.complex128 if t.is_complex() else torch.float64
    if t.device.type == "mps":  # no float64 on Apple GPUs
        acc = out_dtype
    return t.to(acc).mean(dim=dim).to(out_dtype)


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _to_numpy(x: Any) -> Any:
    if _is_tensor(x):
        return x.detach().cpu().numpy()
    if hasattr(x, "toarray") and hasattr(x, "nnz"):  # scipy.sparse
        return x.toarray()
    return x


class Equivalence_checker:
    """Compare two nested structures item by item: equal, or ``numpy.allclose``.

    Dicts are compared key by key (keys of ``true``), lists and tuples item by item (a list
    of numbers as one array), arrays / tensors / sparse matrices / numbers with
    ``numpy.allclose`` (``kwargs_allclose``), strings and other objects with ``==``, objects
    with a ``__dict__`` attribute by attribute (names starting with ``_`` skipped).

    Parameters
    ----------
    kwargs_allclose : dict, optional
        Keyword arguments of ``numpy.allclose``; ``{'rtol': 1e-7, 'equal_nan': True}`` if
        None.
    assert_mode : bool
        Raise :class:`~face_rhythm.errors.NotEquivalentError` (an ``AssertionError``) at the
        first mismatch, naming its path.
    verbose : bool or int
        0: log nothing; 1: log mismatches (WARNING); 2: log every item (INFO).

    Examples
    --------
    >>> checker = Equivalence_checker()
    >>> checker({'a': [1.0, 2.0], 'b': 'x'}, {'a': [1.0, 2.0], 'b': 'y'})
    {'a': (True, 'allclose'), 'b': (False, 'not equal')}
    """

    def __init__(self, kwargs_allclose: dict | None = None, assert_mode: bool = False,
                 verbose: bool | int = False) -> None:
        self._kwargs_allclose = ({"rtol": 1e-7, "equal_nan": True} if kwargs_allclose is None
                                 else dict(kwargs_allclose))
        self._assert_mode = bool(assert_mode)
        self._verbose = int(verbose)

    def _leaf(self, test: Any, true: Any, path: list[str]) -> tuple[bool, str]:
        test, true = _to_numpy(test), _to_numpy(true)
        numeric = (np.ndarray, np.generic, int, float, complex, bool)
        if isinstance(true, numeric) and not isinstance(true, str):
            try:
                a, b = np.asarray(test), np.asarray(true)
            except Exception:  # noqa: BLE001 - anything not array-like is a mismatch
                return False, f"type {type(test).__name__} is not array-like"
            if a.shape != b.shape:
                return False, f"shape {a.shape} != {b.shape}"
            if b.dtype.kind in "biufc" and a.dtype.kind in "biufc":
                ok = bool(np.allclose(a, b, **self._kwargs_allclose))
                return ok, "allclose" if ok else "not allclose"
            ok = bool(np.array_equal(a, b))
            return ok, "equal" if ok else "not equal"
        if true is None:
            return test is None, "equal" if test is None else "not None"
        try:
            ok = bool(test == true)
        except Exception:  # noqa: BLE001 - an ambiguous comparison is a mismatch
            return False, "cannot be compared with =="
        return ok, "equal" if ok else "not equal"

    def _check(self, test: Any, true: Any, path: list[str]) -> Any:
        if test is _Missing:
            return self._report((False, "attribute not found"), path)
        if isinstance(true, Mapping):
            if not isinstance(test, Mapping):
                return self._report((False, f"type {type(test).__name__} is not a dict"), path)
            return {str(k): (self._check(test[k], v, path + [str(k)]) if k in test
                             else self._report((False, "key not found"), path + [str(k)]))
                    for k, v in true.items()}
        if isinstance(true, (list, tuple)):
            if not hasattr(test, "__len__") or len(test) != len(true):
                return self._report((False, "length mismatch"), path)
            if all(isinstance(v, (int, float, complex, np.number)) for v in true):
                return self._report(self._leaf(list(test), np.asarray(true), path), path)
            return {str(i): self._check(a, b, path + [str(i)])
                    for i, (a, b) in enumerate(zip(test, true))}
        if (hasattr(true, "__dict__") and not _is_tensor(true)
                and not isinstance(true, (np.ndarray, np.generic, str, type))
                and not hasattr(true, "nnz")):
            attrs = {k: v for k, v in vars(true).items() if not k.startswith("_")}
            return self._check({k: getattr(test, k) for k in attrs if hasattr(test, k)}
                               | {k: _Missing for k in attrs if not hasattr(test, k)},
                               attrs, path)
        return self._report(self._leaf(test, true, path), path)

    def _report(self, result: tuple[bool, str], path: list[str]) -> tuple[bool, str]:
        where = ".".join(path) or "<root>"
        if not result[0]:
            if self._assert_mode:
                raise NotEquivalentError(f"not equivalent at {where}: {result[1]}")
            if self._verbose >= 1:
                logger.warning("not equivalent at %s: %s", where, result[1])
        elif self._verbose >= 2:
            logger.info("equivalent at %s: %s", where, result[1])
        return result

    def __call__(self, test: Any, true: Any, path: list[str] | None = None) -> Any:
        """Compare ``test`` against ``true``.

        Parameters
        ----------
        test, true : object
            The structures to compare; the structure of ``true`` is walked.
        path : list of str, optional
            Key path of these objects inside a larger structure (for messages).

        Returns
        -------
        tuple or dict
            ``(bool, reason)`` for a leaf, or a dict (nested like ``true``; lists indexed
            by ``'0'``, ``'1'``, ...) of such tuples.
        """
        return self._check(test, true, [] if path is None else list(path))


class _MissingType:
    def __repr__(self) -> str:
        return "<missing>"


_Missing = _MissingType()
