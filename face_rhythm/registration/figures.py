"""Figures of the registration stage (matplotlib is imported only where a figure is drawn).

Every function returns a ``matplotlib.figure.Figure`` that is never registered with pyplot,
so no backend set-up is needed; :func:`save_png` writes one atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from face_rhythm.atomic import atomic_path

from .reference_frame import ReferenceFrame, to_uint8
from .register import RegistrationResult
from .results import ReferenceFrameFile

__all__ = ["plot_alignment_scores", "plot_reference_frame", "plot_registered_images",
           "plot_registration_pair", "save_png"]


def save_png(fig, path: str | os.PathLike, dpi: int = 110, **kwargs: Any) -> None:
    """Write ``fig`` as a PNG at ``path`` atomically (``kwargs`` go to ``savefig``)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, **kwargs)


def plot_reference_frame(ref: ReferenceFrame | ReferenceFrameFile | Mapping[str, Any],
                         title: str = ""):
    """Reference frame, mean of all frames, and spectral power per frame with the kept ones.

    Parameters
    ----------
    ref : ReferenceFrame, ReferenceFrameFile, or the dict from :func:`load_reference_frame_h5`
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    if isinstance(ref, ReferenceFrame):
        image, mean_all, power, kept = ref.image, ref.mean_all, ref.power, ref.kept
        fr, thr = ref.frame_rate, ref.threshold
    elif isinstance(ref, ReferenceFrameFile):
        image, mean_all, power, kept = (ref.reference_frame, ref.mean_frame, ref.spectral_power,
                                        ref.kept)
        fr, thr = ref.frame_rate, ref.threshold
    else:
        image, mean_all = ref["reference_frame"], ref["mean_frame"]
        power, kept = ref["spectral_power"], ref["kept"].astype(bool)
        fr, thr = float(ref["frame_rate"]), float(ref["threshold"])
    h, w = image.shape
    fig = Figure(figsize=(11, 3.4 * h / w + 2.6), layout="constrained")
    gs = fig.add_gridspec(2, 2, height_ratios=[3.4 * h / w, 2.0])
    ax = fig.add_subplot(gs[0, 0])
    ax.imshow(image, cmap="gray")
    ax.set_title(f"reference frame ({int(kept.sum())} still frames)", fontsize="small")
    ax.set_axis_off()
    ax = fig.add_subplot(gs[0, 1])
    ax.imshow(mean_all, cmap="gray")
    ax.set_title("mean of all frames", fontsize="small")
    ax.set_axis_off()
    ax = fig.add_subplot(gs[1, :])
    t = np.arange(len(power)) / fr
    ax.plot(t, power, lw=0.6, color="0.3", label="spectral power")
    ax.plot(t[kept], power[kept], ".", ms=2, color="#2a9d8f", label="kept (still)")
    ax.axhline(thr, color="#e63946", lw=0.8, ls="--", label="threshold")
    ax.set_xlabel("time (s, videos concatenated)")
    ax.set_ylabel("power (a.u.)")
    ax.legend(fontsize="x-small", loc="upper right")
    if title:
        fig.suptitle(title, fontsize="small")
    return fig


def _heatmap_figure(z: np.ndarray, title: str, threshold: float, names=None):
    from matplotlib.figure import Figure

    n = z.shape[0]
    fig = Figure(figsize=(1.2 + 0.6 * n, 1.0 + 0.5 * n), layout="constrained")
    ax = fig.add_subplot()
    zz = np.where(np.isfinite(z), z, np.nan)
    im = ax.imshow(np.log10(np.clip(zz, 0.1, None)), cmap="viridis")
    fig.colorbar(im, ax=ax, label="log10 z")
    for i in range(n):
        for j in range(n):
            if np.isfinite(z[i, j]) and i != j:
                ax.text(j, i, f"{z[i, j]:.0f}", ha="center", va="center", fontsize=7,
                        color="red" if z[i, j] < threshold else "white")
    labels = names or [str(i) for i in range(n)]
    ax.set_xticks(range(n), labels, rotation=90)
    ax.set_yticks(range(n), labels)
    ax.set_title(title, fontsize="small")
    return fig


def plot_alignment_scores(result: RegistrationResult, names: Sequence[str] | None = None,
                          z_pairs: np.ndarray | None = None):
    """Bars of initial/final alignment z-scores per image (log scale) with the threshold,
    plus a heat map of ``z_pairs`` (or of the all-pairs matrix) when given.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    n = len(result.z_final)
    names = list(names) if names is not None else [str(i) for i in range(n)]
    mat = z_pairs if z_pairs is not None else result.z_matrix
    fig = Figure(figsize=(4 + 0.4 * n + (3 + 0.4 * n if mat is not None else 0), 3.5),
                 layout="constrained")
    axes = fig.subplots(1, 2 if mat is not None else 1, squeeze=False)[0]
    ax = axes[0]
    x = np.arange(n)
    zi = np.clip(np.nan_to_num(result.z_initial, neginf=0.1, posinf=np.nan), 0.1, None)
    zf = np.clip(np.nan_to_num(result.z_final, neginf=0.1, posinf=np.nan), 0.1, None)
    if 0 <= result.template_index < n:  # the template needs no score
        zi[result.template_index] = zf[result.template_index] = np.nan
    ax.bar(x - 0.2, zi, 0.4, label="initial", color="#9aa5b1")
    ax.bar(x + 0.2, zf, 0.4, label="final",
           color=["#2a9d8f" if p else "#e63946" for p in result.passed])
    ax.axhline(result.z_threshold, color="k", ls="--", lw=1, label="threshold")
    if 0 <= result.template_index < n:
        ax.text(result.template_index, result.z_threshold * 1.5, "template", ha="center",
                fontsize="small")
    ax.set_yscale("log")
    ax.set_xticks(x, names, rotation=90 if n > 6 else 0)
    ax.set_ylabel("alignment z-score")
    ax.set_title(f"{result.method}: template {names[result.template_index]}"
                 if result.template_index >= 0 else result.method, fontsize="small")
    ax.legend(fontsize="x-small")
    if mat is not None:
        ax2 = axes[1]
        zz = np.where(np.isfinite(mat), mat, np.nan)
        im = ax2.imshow(np.log10(np.clip(zz, 0.1, None)), cmap="viridis")
        fig.colorbar(im, ax=ax2, label="log10 z")
        ax2.set_xticks(range(n), names, rotation=90)
        ax2.set_yticks(range(n), names)
        ax2.set_title("pairwise z-scores", fontsize="small")
    return fig


def plot_registered_images(images: Sequence[np.ndarray], names: Sequence[str] | None = None,
                           z: Sequence[float] | None = None, threshold: float | None = None,
                           template_index: int | None = None):
    """All registered images side by side, each with a grid and its score in the title.

    Parameters
    ----------
    images : sequence of (H, W)
        Images already warped into the template frame.
    names : sequence of str, optional
    z : sequence of float, optional
        Alignment score per image.
    threshold : float, optional
        Titles of images below it are red.
    template_index : int, optional
        Marked "(template)".

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    n = len(images)
    h, w = np.asarray(images[0]).shape[:2]
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(3.2 * cols, 3.2 * rows * h / w + 0.4), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for k, ax in enumerate(axes):
        ax.set_axis_off()
        if k >= n:
            continue
        ax.imshow(images[k], cmap="gray")
        for gx in np.linspace(0, w - 1, 6)[1:-1]:
            ax.axvline(gx, color="#00e5ff", lw=0.4, alpha=0.6)
        for gy in np.linspace(0, h - 1, 6)[1:-1]:
            ax.axhline(gy, color="#00e5ff", lw=0.4, alpha=0.6)
        title = names[k] if names is not None else str(k)
        if template_index is not None and k == template_index:
            title += " (template)"
        color = "k"
        if z is not None:
            title += f"\nz = {z[k]:.1f}"
            if threshold is not None and z[k] < threshold and k != template_index:
                color = "red"
        ax.set_title(title, fontsize="small", color=color)
    return fig


def plot_registration_pair(template: np.ndarray, moving: np.ndarray, registered: np.ndarray,
                           z: float | None = None, title: str = ""):
    """Template, moving image, and a colour overlay before / after registration.

    Overlays put the template in magenta and the other image in green (grey where they
    agree).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    t, m, r = (to_uint8(a) for a in (template, moving, registered))
    h, w = t.shape

    def overlay(a, b):
        return np.stack([a, b, a], axis=-1)

    fig = Figure(figsize=(12, 3.2 * h / w + 0.6), layout="constrained")
    axes = fig.subplots(1, 4)
    for ax, img, name in zip(axes, [t, m, overlay(t, m), overlay(t, r)],
                             ["template", "moving", "before", "after registration"],
                             strict=True):
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
        ax.set_title(name, fontsize="small")
        ax.set_axis_off()
    sup = title + (f"  z = {z:.1f}" if z is not None else "")
    if sup:
        fig.suptitle(sup, fontsize="small")
    return fig
