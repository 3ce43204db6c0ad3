"""The ``tca`` section against the tensor it will meet, before any spectrogram exists.

:func:`check_tca_for_data` is called by :mod:`face_rhythm.preflight` with the sizes the run
will produce (points from the ROIs, frequency bins from ``vqt``, time bins per video from
each video's length and the VQT's downsampling); it returns every problem, one line each,
instead of raising on the first (a rank above the smallest dim, an unknown ``init`` or
``params_method`` key, an unknown normalisation dim, a bad rearrangement).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from face_rhythm.errors import FaceRhythmError

from .fit import check_fit_inputs
from .params import TCAParams
from .rearrange import rearrange_data

__all__ = ["check_tca_for_data"]


def _dim_size(name: str, sizes: Mapping[str, int]) -> int:
    """Size of a (possibly concatenated, e.g. ``"(xy points)"``) dim from its base dims."""
    return math.prod(sizes[t] for t in re.findall(r"[A-Za-z_]+", name))


def check_tca_for_data(tca: Mapping[str, Any] | None, n_points: int, n_freqs: int,
                       n_times: Sequence[int], where: str = "config tca") -> list[str]:
    """Problems of the ``tca`` section for the tensor it will decompose.

    Parameters
    ----------
    tca : mapping or None
        The config's ``tca`` section (:meth:`TCAParams.from_config`).
    n_points : int
        Points tracked (``N``).
    n_freqs : int
        Frequency bins of the spectrograms (``F``).
    n_times : sequence of int
        Time bins of each video's spectrogram (``T_v``), in order.
    where : str
        Prefix of each message.

    Returns
    -------
    list of str
        One line per problem (empty: the section fits the data).
    """
    try:
        params = TCAParams.from_config(tca)
    except FaceRhythmError as exc:
        return [f"{where}: {exc}"]
    problems = []
    tiny = {f"v{i}": np.zeros((2, 1, 1, 1), np.float32) for i in range(len(n_times))}
    try:  # the dims' names, from arrays of one element per dim
        _, rearr = rearrange_data(
            tiny, names_dims_concat_array=params.concatenate_dims, concat_complexDim=False,
            name_dim_dictElements="videos", method_handling_dictElements=params.combine,
            name_dim_concat_dictElements="time")
    except (FaceRhythmError, KeyError, IndexError) as exc:
        return [f"{where}.rearrange: {exc}"]
    names = list(rearr.names_dims_preDecomp)
    if (params.mean_subtract or params.std_divide) and params.normalize_dim not in names:
        problems.append(f"{where}.normalize.dim: {params.normalize_dim!r} is not a dim of the "
                        f"tensor {names}; use one of them")
    per_tensor = ([list(n_times)] if params.combine != "separate"
                  else [[t] for t in n_times])
    rank = int(params.rank)
    for times in per_tensor:
        sizes = {"xy": 2, "points": int(n_points), "frequency": int(n_freqs),
                 "time": int(sum(times)) if params.combine == "concatenate" else min(times),
                 "videos": len(times)}
        shape = tuple(_dim_size(n, sizes) for n in names)
        if rank > min(shape):
            problems.append(
                f"{where}.rank: {rank} is above the smallest dim of the tensor {names} of "
                f"shape {shape} ({n_points} points, {n_freqs} frequencies, "
                f"{sum(times)} time bins); use rank <= {min(shape)}")
            break
    try:  # unknown kwargs or init, missing n_samples, ...: on a tiny tensor of the same order
        side = max(1, min(rank, 8))
        check_fit_inputs(np.ones((side,) * len(names), np.float32), params.method,
                         {**params.method_kwargs(), "rank": side}, name="tensor")
    except FaceRhythmError as exc:
        problems.append(f"{where}.params_method: {exc}")
    return problems
