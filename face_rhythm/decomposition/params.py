"""Parameters of a TCA run: :class:`TCAParams`, the only place their defaults live.

The ``tca`` config section is converted by :meth:`TCAParams.from_config` through
:func:`face_rhythm.params.from_mapping` (the one parameter policy: an unknown key is a
:class:`~face_rhythm.errors.TCAError` naming the section and the key, with a suggestion).
The section also holds the workflow keys ``per_session``, ``all_sessions`` (which
decompositions the workflow makes) and ``strategy`` (how); their defaults live in
:class:`TCAWorkflowParams`. The ``streamed`` subsection (the streamed strategy's sample and
chunks) is :class:`TCAStreamedParams`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from face_rhythm.errors import TCAError
from face_rhythm.params import from_mapping

from .fit import _BACKENDS, _DTYPES, _check_method, _is_non_negative
from .rearrange import _COMBINE

__all__ = ["STRATEGIES", "TCAParams", "TCAStreamedParams", "TCAWorkflowParams"]

#: How a decomposition is computed (``tca.strategy``): the whole tensor in memory, or fit on
#: a sample of time bins and every video's time factors in its own job (docs/tca.md).
STRATEGIES = ("in_memory", "streamed")


@dataclasses.dataclass(frozen=True)
class _NormalizeSection:
    """``tca.normalize`` as written (``None``: absent, the default of :class:`TCAParams`)."""

    mean_subtract: bool | None = None
    std_divide: bool | None = None
    dim: str | None = None


@dataclasses.dataclass(frozen=True)
class _RearrangeSection:
    """``tca.rearrange`` as written (``None``: absent)."""

    concatenate_dims: list[list[str]] | None = None
    combine: str | None = None


@dataclasses.dataclass(frozen=True)
class _StreamedSection:
    """``tca.streamed`` as written (``None``: absent)."""

    time_bins: int | None = None
    block_bins: int | None = None
    chunk_mb: float | None = None


@dataclasses.dataclass(frozen=True)
class _TCASection:
    """The keys a ``tca`` config section may have (``None``: absent). No defaults here."""

    per_session: bool | None = None
    all_sessions: bool | None = None
    rank: int | None = None
    method: str | None = None
    params_method: dict[str, Any] | None = None
    backend: str | None = None
    device: str | None = None
    seed: int | None = None
    normalize: _NormalizeSection | None = None
    rearrange: _RearrangeSection | None = None
    dtype: str | None = None
    strategy: str | None = None
    streamed: _StreamedSection | None = None


def _section(cfg: Mapping[str, Any] | None) -> _TCASection:
    return from_mapping(_TCASection, cfg, "tca", error=TCAError)


@dataclasses.dataclass
class TCAParams:
    """Parameters of one TCA run (the ``tca`` config section).

    Attributes
    ----------
    rank : int
        Number of components.
    method : str
        One of :data:`~face_rhythm.decomposition.fit.METHODS`.
    params_method : dict
        Extra keyword arguments for the tensorly class (``rank`` and ``random_state`` are
        filled from ``rank`` and ``seed``).
    backend : {"numpy", "pytorch"}
    device : {"cpu", "cuda", "auto", ...}
    seed : int
    mean_subtract, std_divide : bool
        Normalisation along ``normalize_dim`` (std division hurts a weak region: keep False).
    normalize_dim : str
        A dim name after rearrangement, e.g. ``"time"`` or ``"(xy points)"``.
    concatenate_dims : list of [str, str]
    combine : {"concatenate", "stack", "separate"}
    dtype : {"float32", "float64"}
    """

    rank: int = 6
    method: str = "CP_NN_HALS"
    params_method: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {"n_iter_max": 200, "init": "svd", "svd": "randomized_svd",
                                 "tol": 1e-9})
    backend: str = "numpy"
    device: str = "cpu"
    seed: int = 0
    mean_subtract: bool = False
    std_divide: bool = False
    normalize_dim: str = "time"
    concatenate_dims: list[list[str]] = dataclasses.field(
        default_factory=lambda: [["xy", "points"]])
    combine: str = "concatenate"
    dtype: str = "float32"

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> TCAParams:
        """Build from the ``tca`` config section (the workflow's keys are checked, not kept).

        Unknown keys, in the section or in ``normalize`` / ``rearrange``, raise
        :class:`TCAError` naming the key (with a close-match suggestion); absent keys keep
        the defaults above. The values are validated (:meth:`validate`).
        """
        section = _section(cfg)
        kw: dict[str, Any] = {}
        for name, convert in (("rank", int), ("method", str), ("backend", str),
                              ("device", str), ("seed", int), ("dtype", str)):
            value = getattr(section, name)
            if value is not None:
                kw[name] = convert(value)
        if section.params_method is not None:
            kw["params_method"] = dict(section.params_method)
        norm = section.normalize or _NormalizeSection()
        for name, field, convert in (("mean_subtract", "mean_subtract", bool),
                                     ("std_divide", "std_divide", bool),
                                     ("dim", "normalize_dim", str)):
            value = getattr(norm, name)
            if value is not None:
                kw[field] = convert(value)
        rearr = section.rearrange or _RearrangeSection()
        if rearr.concatenate_dims is not None:
            kw["concatenate_dims"] = [list(map(str, x)) for x in rearr.concatenate_dims]
        if rearr.combine is not None:
            kw["combine"] = str(rearr.combine)
        p = cls(**kw)
        p.validate()
        return p

    def validate(self) -> None:
        """Raise :class:`TCAError` on a bad value (before any work)."""
        _check_method(self.method)
        if isinstance(self.rank, bool) or int(self.rank) < 1:
            raise TCAError(f"tca rank must be a positive integer, got {self.rank!r}")
        if "rank" in self.params_method and int(self.params_method["rank"]) != int(self.rank):
            raise TCAError(f"tca params_method.rank={self.params_method['rank']} contradicts "
                           f"rank={self.rank}")
        if self.combine not in _COMBINE:
            raise TCAError(f"tca combine {self.combine!r} is not one of {_COMBINE}")
        if self.backend not in _BACKENDS:
            raise TCAError(f"tca backend {self.backend!r} is not 'numpy' or 'pytorch'")
        if self.backend == "numpy" and self.device not in ("cpu", "auto"):
            raise TCAError(f"tca device {self.device!r} needs backend 'pytorch'")
        if self.dtype not in _DTYPES:
            raise TCAError(f"tca dtype {self.dtype!r} is not 'float32' or 'float64'")
        if self.mean_subtract and _is_non_negative(self.method, self.params_method):
            raise TCAError(f"tca normalize.mean_subtract makes negative values, which "
                           f"{self.method} cannot fit: use method 'CP' or drop mean_subtract")

    def method_kwargs(self) -> dict[str, Any]:
        """``params_method`` with ``rank`` filled in."""
        return {**self.params_method, "rank": int(self.rank)}

    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON-friendly dict (stored in ``tca.h5`` as ``params``)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class TCAWorkflowParams:
    """The workflow's keys of the ``tca`` section: which decompositions it makes.

    Attributes
    ----------
    per_session : bool
        One decomposition per session (its videos concatenated in time).
    all_sessions : bool
        One decomposition over every session (points must correspond across sessions).
    strategy : {"in_memory", "streamed"}
        How the workflow computes each decomposition (:data:`STRATEGIES`, ``docs/tca.md``):
        one job holding the whole tensor, or fit on a sample of time bins, one job per video
        for its time factors, then a collect job (same ``tca.h5``).
    """

    per_session: bool = True
    all_sessions: bool = False
    strategy: str = "in_memory"

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> TCAWorkflowParams:
        """Read ``per_session`` / ``all_sessions`` / ``strategy`` of the ``tca`` section
        (keys checked)."""
        section = _section(cfg)
        kw: dict[str, Any] = {k: bool(getattr(section, k)) for k in ("per_session",
                                                                     "all_sessions")
                              if getattr(section, k) is not None}
        if section.strategy is not None:
            kw["strategy"] = str(section.strategy)
        if kw.get("strategy", cls.strategy) not in STRATEGIES:
            raise TCAError(f"tca.strategy {kw['strategy']!r} is not one of {STRATEGIES}")
        return cls(**kw)


@dataclasses.dataclass(frozen=True)
class TCAStreamedParams:
    """``tca.streamed``: the sample and the chunks of the streamed path (docs/tca.md).

    Attributes
    ----------
    time_bins : int
        Time bins (over all videos) the points and frequency factors are fitted on; the
        sample tensor takes ``2N x F x time_bins x 4`` bytes (1.15 GB for 1,000 points, 36
        frequencies, 4,000 bins). At least the total: every bin (the in-memory fit).
    block_bins : int
        The sample is made of blocks of this many contiguous bins (seeded by ``tca.seed``).
    chunk_mb : float
        Time bins read at once by a video's time-factor job, in MB of float32 spectrogram.
    """

    time_bins: int = 4000
    block_bins: int = 50
    chunk_mb: float = 256.0

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> TCAStreamedParams:
        """From the ``tca`` section (its ``streamed`` subsection; keys checked)."""
        section = _section(cfg).streamed or _StreamedSection()
        kw: dict[str, Any] = {}
        for name, convert in (("time_bins", int), ("block_bins", int), ("chunk_mb", float)):
            value = getattr(section, name)
            if value is not None:
                kw[name] = convert(value)
        p = cls(**kw)
        if p.time_bins < 1 or p.block_bins < 1 or not p.chunk_mb > 0:
            raise TCAError(f"tca.streamed: time_bins ({p.time_bins}), block_bins "
                           f"({p.block_bins}) and chunk_mb ({p.chunk_mb}) must be positive")
        return p

    def to_dict(self) -> dict[str, Any]:
        """All fields (stored in the ``params`` JSON of ``tca.h5``)."""
        return dataclasses.asdict(self)
