"""Alignment quality and routes between images.

:class:`ImageAlignmentChecker` scores how well two images are aligned (the z-score of the
phase-correlation peak at zero shift); :func:`best_paths_to_template` finds, from all pairs'
scores, the best chain of registrations from every image to the template.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
import torch

from .phase_correlation import _window_2d, make_2D_frequency_filter, phase_correlation
from .warps import RegistrationError

__all__ = ["ImageAlignmentChecker", "best_paths_to_template", "get_path_between_nodes"]


class ImageAlignmentChecker:
    """Score alignment of image pairs by the phase-correlation peak at zero shift.

    For each pair the phase-correlation surface (images mean-subtracted and Tukey-windowed)
    is weighted by an "in" filter (distance from zero shift below ``radius_in``) and an
    "out" filter (above ``radius_out``). The score ``z_in = (max_in - ptile95_out) /
    std_out``: how far the peak near zero shift stands above the correlation noise
    elsewhere. Aligned pairs of textured images score tens to hundreds; unrelated or
    misaligned pairs score near or below zero.

    Parameters
    ----------
    hw : (H, W)
    radius_in : float or (low, high)
        Upper bound of the "in" band (lower bound 0), px; or an explicit band.
    radius_out : float or (low, high)
        Lower bound of the "out" band (upper bound min(H, W) / 2), px; or an explicit band.
    order : int
        Butterworth order of both filters.
    device : str
        Torch device for the filters and FFTs.
    window : bool
        Tukey-taper images before the FFT.
    """

    def __init__(self, hw: Sequence[int], radius_in: float | Sequence[float],
                 radius_out: float | Sequence[float], order: int = 5, device: str = "cpu",
                 window: bool = True):
        self.hw = tuple(int(v) for v in hw)
        self.order = int(order)
        self.device = str(device)
        self.window = bool(window)
        h, w = self.hw
        b_in = (0.0, float(radius_in)) if np.isscalar(radius_in) else tuple(radius_in)
        b_out = (float(radius_out), min(h, w) / 2) if np.isscalar(radius_out) \
            else tuple(radius_out)
        if not b_in[1] < min(h, w) / 2 or not b_out[0] < min(h, w) / 2:
            raise RegistrationError(f"alignment checker radii {b_in}, {b_out} do not fit images "
                                    f"of {h}x{w}")
        self.filt_in = torch.as_tensor(make_2D_frequency_filter(self.hw, *b_in, order=order),
                                       dtype=torch.float32, device=self.device)
        self.filt_out = torch.as_tensor(make_2D_frequency_filter(self.hw, *b_out, order=order),
                                        dtype=torch.float32, device=self.device)
        self._win = torch.as_tensor(_window_2d(h, w) if self.window else np.ones((h, w)),
                                    dtype=torch.float32, device=self.device)

    def _prep(self, images) -> torch.Tensor:
        if isinstance(images, (list, tuple)):
            images = np.stack([np.asarray(im.detach().cpu() if isinstance(im, torch.Tensor)
                                          else im, dtype=np.float32) for im in images])
        x = torch.as_tensor(images if isinstance(images, torch.Tensor) else
                            np.asarray(images, dtype=np.float32), device=self.device)
        x = x.to(torch.float32)
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3 or tuple(x.shape[-2:]) != self.hw:
            raise RegistrationError(f"images must be (N, {self.hw[0]}, {self.hw[1]}), got "
                                    f"{tuple(x.shape)}")
        x = torch.nan_to_num(x, nan=0.0)
        x = x - x.mean(dim=(-2, -1), keepdim=True)
        return x * self._win

    def score_alignment(self, images, images_ref=None) -> dict[str, Any]:
        """Statistics for every (image, reference) pair.

        Parameters
        ----------
        images : (N, H, W) or (H, W) or list
        images_ref : (M, H, W), optional
            Defaults to ``images`` (N x N scoring).

        Returns
        -------
        dict of numpy arrays, each (N, M) except ``pc`` (N, M, H, W):
            ``pc``, ``mean_in``, ``mean_out``, ``ptile95_out``, ``max_in``, ``std_in``,
            ``std_out``, ``max_diff``, ``z_in`` (the score) and ``r_in`` (max_in / max of
            the out region).
        """
        x = self._prep(images)
        r = x if images_ref is None else self._prep(images_ref)
        pc = phase_correlation(r[None, :, :, :], x[:, None, :, :])
        fi, fo = self.filt_in, self.filt_out
        si, so = fi.sum(), fo.sum()
        mean_in = (pc * fi).sum((-2, -1)) / si
        mean_out = (pc * fo).sum((-2, -1)) / so
        std_in = torch.sqrt(((pc - mean_in[..., None, None]) ** 2 * fi).sum((-2, -1)) / si)
        std_out = torch.sqrt(((pc - mean_out[..., None, None]) ** 2 * fo).sum((-2, -1)) / so)
        max_in = (pc * fi).amax(dim=(-2, -1))
        sel = fo > 0.5
        vals_out = pc[..., sel]
        ptile95_out = torch.quantile(vals_out, 0.95, dim=-1)
        max_out = vals_out.amax(dim=-1)
        max_diff = max_in - ptile95_out
        z_in = max_diff / (std_out + 1e-12)
        r_in = max_in / (max_out.abs() + 1e-12)
        out = {"pc": pc, "mean_in": mean_in, "mean_out": mean_out, "ptile95_out": ptile95_out,
               "max_in": max_in, "std_in": std_in, "std_out": std_out, "max_diff": max_diff,
               "z_in": z_in, "r_in": r_in}
        return {k: v.cpu().numpy() for k, v in out.items()}


def get_path_between_nodes(idx_start: int, idx_end: int, predecessors: np.ndarray,
                           max_length: int = 9999) -> list[int]:
    """Path ``[idx_start, ..., idx_end]`` from a shortest-path predecessor matrix.

    ``predecessors`` is from :func:`scipy.sparse.csgraph.shortest_path` run from
    ``idx_end`` on the *transposed* graph (or on a symmetric graph), so
    ``predecessors[idx_end, k]`` is the node after ``k`` on the way from ``k`` to
    ``idx_end``.

    Raises
    ------
    RegistrationError
        No path (the -9999 placeholder) or a path longer than ``max_length``.
    """
    pred = np.asarray(predecessors)
    if pred.ndim != 2 or pred.shape[0] != pred.shape[1]:
        raise RegistrationError(f"predecessors must be a square matrix, got shape {pred.shape}")
    n = pred.shape[0]
    if not (0 <= int(idx_start) < n and 0 <= int(idx_end) < n):
        raise RegistrationError(f"node indices {idx_start}, {idx_end} outside 0..{n - 1}")
    path = [int(idx_start)]
    cur = int(idx_start)
    while cur != int(idx_end):
        nxt = int(pred[int(idx_end), cur])
        if nxt == -9999:
            raise RegistrationError(f"no path from node {idx_start} to node {idx_end}")
        path.append(nxt)
        cur = nxt
        if len(path) > max_length:
            raise RegistrationError(f"path from {idx_start} to {idx_end} longer than {max_length}")
    return path


def best_paths_to_template(z: np.ndarray, template: int, z_threshold: float
                           ) -> tuple[list[list[int] | None], np.ndarray]:
    """Best registration path from every image to the template through the pair scores.

    Edge ``i -> j`` ("register i onto j") exists when ``z[i, j] >= z_threshold`` and costs
    ``1 - s`` with the bounded score ``s = z / (z + z_threshold)`` (so each hop costs at most
    0.5 and good hops cost little); Dijkstra finds the cheapest route to ``template``.

    Parameters
    ----------
    z : (N, N)
        ``z[i, j]``: alignment score of image i registered onto image j.
    template : int
    z_threshold : float

    Returns
    -------
    paths : list
        ``paths[i] = [i, ..., template]``, or None when no passing route exists.
    cost : (N,) float
        Path costs (inf where none).
    """
    z = np.asarray(z, dtype=np.float64)
    n = z.shape[0]
    good = np.isfinite(z) & (z >= z_threshold)
    np.fill_diagonal(good, False)
    zg = np.where(good, z, 1.0)
    cost = np.where(good, np.maximum(z_threshold / (zg + z_threshold), 1e-9), 0.0)
    graph = scipy.sparse.csr_matrix(cost.T)  # transposed: search from the template
    dist, pred = scipy.sparse.csgraph.shortest_path(graph, method="D", directed=True,
                                                    return_predecessors=True,
                                                    indices=[int(template)])
    pred_full = np.full((n, n), -9999, dtype=np.int64)
    pred_full[int(template)] = pred[0]
    paths: list[list[int] | None] = []
    for i in range(n):
        if i == template:
            paths.append([int(template)])
        elif np.isfinite(dist[0, i]):
            paths.append(get_path_between_nodes(i, int(template), pred_full))
        else:
            paths.append(None)
    return paths, dist[0]

