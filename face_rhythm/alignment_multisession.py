"""Cross-session image alignment for notebook users (the reference's ``Aligner`` API).

A thin layer over :mod:`face_rhythm.registration`: :class:`Aligner` registers a list of
images (e.g. sessions' reference frames, :mod:`face_rhythm.alignment`) to a template with one
of the backends ``"ECC_cv2"``, ``"PhaseCorrelation"``, ``"NullRegistration"`` or ``"RoMa"``
(optional: ``pip install face-rhythm[multisession]``), scores each result with
:class:`ImageAlignmentChecker`, searches better routes through other images for pairs below
``z_threshold``, and exposes one remapping index per image (``remappingIdx_geo``; see the
conventions in :mod:`face_rhythm.registration`). Figures: :meth:`Aligner.
plot_alignment_results_geometric`, :func:`plot_registered_images`,
:func:`plot_registration_pair`.

Example
-------
>>> aligner = Aligner(z_threshold=4.0)
>>> aligner.fit_geometric(template=0, ims_moving=images, method="ECC_cv2",
...                       template_method="image")
>>> registered = aligner.transform_images(images, aligner.remappingIdx_geo)
>>> points_in_session_2 = remap_points(points_template, aligner.remappingIdx_geo[2])
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .registration import (
    ECC_cv2,
    ImageAlignmentChecker,
    ImageRegistrationMethod,
    NullRegistration,
    PhaseCorrelationRegistration,
    RegistrationError,
    RegistrationResult,
    RoMa,
    apply_warp_transform,
    compose_remappingIdx,
    compose_transform_matrices,
    cv2RemappingIdx_to_pytorchFlowField,
    design_butter_bandpass,
    find_geometric_transformation,
    fit_nonrigid,
    get_path_between_nodes,
    hash_file,
    invert_remappingIdx,
    invert_warp_matrix,
    make_2D_frequency_filter,
    make_distance_grid,
    phase_correlation,
    register_images,
    remap_images,
    remap_points,
    transform_points,
    warp_matrix_to_remappingIdx,
)

logger = logging.getLogger(__name__)

__all__ = [
    "Aligner",
    "ECC_cv2",
    "ImageAlignmentChecker",
    "ImageRegistrationMethod",
    "NullRegistration",
    "PhaseCorrelationRegistration",
    "RoMa",
    "apply_warp_transform",
    "compose_remappingIdx",
    "compose_transform_matrices",
    "cv2RemappingIdx_to_pytorchFlowField",
    "design_butter_bandpass",
    "find_geometric_transformation",
    "get_path_between_nodes",
    "hash_file",
    "invert_remappingIdx",
    "invert_warp_matrix",
    "make_2D_frequency_filter",
    "make_distance_grid",
    "phase_correlation",
    "plot_alignment_scores",
    "plot_registered_images",
    "plot_registration_pair",
    "remap_images",
    "remap_points",
    "transform_points",
    "warp_matrix_to_remappingIdx",
]

_METHOD_ALIASES = {"PhaseCorrelationRegistration": "PhaseCorrelation", "Null": "NullRegistration"}

_DEFAULT_KWARGS_METHOD: dict[str, dict[str, Any]] = {
    "RoMa": {"model_type": "outdoor", "n_points": 10000, "batch_size": 1000},
    "ECC_cv2": {"mode_transform": "euclidean", "n_iter": 200, "termination_eps": 1e-9,
                "gaussFiltSize": 1, "auto_fix_gaussFilt_step": 10},
    "PhaseCorrelation": {"bandpass_freqs": None, "order": 5},
    "NullRegistration": {},
}


class Aligner:
    """Register a list of images to a template (reference ``Aligner`` call shape).

    Parameters
    ----------
    use_match_search : bool
        When an image scores below ``z_threshold``, search all image pairs for a better
        route (shortest path) to the template.
    all_to_all : bool
        Always run the all-pairs search (O(N^2) registrations).
    radius_in, radius_out : float
        :class:`ImageAlignmentChecker` radii, in units of ``um_per_pixel`` (px by default).
    order : int
        Butterworth order of the checker's filters.
    z_threshold : float
        Alignment z-score below which a registration fails.
    um_per_pixel : float
        Pixel size; the radii are divided by it.
    device : str
        Torch device for backends that use one (RoMa).
    verbose : bool or int
        Log progress at INFO level.

    Attributes
    ----------
    remappingIdx_geo : list of (H, W, 2) float32 or None
        One remap field per image after :meth:`fit_geometric`.
    warp_matrices : (N, 3, 3) float64 or None
        Template -> image coordinates.
    result : RegistrationResult or None
    """

    def __init__(self, use_match_search: bool = True, all_to_all: bool = False,
                 radius_in: float = 4, radius_out: float = 20, order: int = 5,
                 z_threshold: float = 4.0, um_per_pixel: float = 1.0, device: str = "cpu",
                 verbose: bool | int = True):
        if um_per_pixel <= 0:
            raise RegistrationError(f"um_per_pixel must be > 0, got {um_per_pixel}")
        self.use_match_search = bool(use_match_search)
        self.all_to_all = bool(all_to_all)
        self.radius_in = float(radius_in)
        self.radius_out = float(radius_out)
        self.order = int(order)
        self.z_threshold = float(z_threshold)
        self.um_per_pixel = float(um_per_pixel)
        self.device = str(device)
        self._verbose = verbose
        self.remappingIdx_geo: list[np.ndarray] | None = None
        self.remappingIdx_nonrigid: list[np.ndarray] | None = None
        self.warp_matrices: np.ndarray | None = None
        self.result: RegistrationResult | None = None
        self._images: list[np.ndarray] | None = None

    def fit_geometric(self, template: float | np.ndarray,
                      ims_moving: Sequence[np.ndarray], template_method: str = "sequential",
                      mask_borders: Sequence[int] = (0, 0, 0, 0), method: str = "ECC_cv2",
                      kwargs_method: Mapping[str, Mapping[str, Any]] | None = None,
                      constraint: str = "affine",
                      kwargs_RANSAC: Mapping[str, Any] | None = None,
                      verbose: bool | None = None) -> list[np.ndarray]:
        """Fit geometric warps of ``ims_moving`` to the template and score them.

        Parameters
        ----------
        template : int, float or (H, W) array
            Template index (a fraction in [0, 1] means ``int(N * f)``), or a template image
            (then ``template_method`` must be ``"image"``).
        ims_moving : sequence of (H, W)
        template_method : {"sequential", "image"}
            ``sequential``: register each image to its neighbour toward the template and
            compose; ``image``: register each directly onto the template.
        mask_borders : (top, bottom, left, right)
        method : {"ECC_cv2", "PhaseCorrelation", "NullRegistration", "RoMa"}
            (The reference defaults to RoMa; here ECC_cv2, which needs no extra.)
        kwargs_method : dict of dicts, optional
            Backend kwargs keyed by backend name.
        constraint : str
            Warp family for keypoint backends (RoMa).
        kwargs_RANSAC : dict, optional
            ``inl_thresh``, ``max_iter``, ``confidence`` for keypoint backends.

        Returns
        -------
        list of (H, W, 2) float32
            ``remappingIdx_geo``.
        """
        method = _METHOD_ALIASES.get(method, method)
        if method not in _DEFAULT_KWARGS_METHOD:
            raise RegistrationError(f"method {method!r} not in {sorted(_DEFAULT_KWARGS_METHOD)}")
        kw = dict(_DEFAULT_KWARGS_METHOD[method])
        kw.update(dict((kwargs_method or {}).get(method, {})))
        if method == "RoMa":
            kw.setdefault("device", self.device)
        images = [np.asarray(im, dtype=np.float32) for im in ims_moving]
        extra_template = isinstance(template, np.ndarray) and np.ndim(template) == 2
        if extra_template:
            if template_method != "image":
                raise RegistrationError("a template image needs template_method='image'")
            images = [np.asarray(template, dtype=np.float32)] + images
            t_idx: int | float = 0
        else:
            t_idx = template
        kwargs_fit = {"constraint": constraint,
                      **dict(kwargs_RANSAC or {"inl_thresh": 2.0, "max_iter": 10,
                                               "confidence": 0.99})}
        if method != "RoMa":
            kwargs_fit = {}
        res = register_images(images, template=t_idx, template_method=template_method,
                              method=method, kwargs_method=kw, z_threshold=self.z_threshold,
                              use_match_search=self.use_match_search,
                              all_to_all=self.all_to_all,
                              radius_in=self.radius_in / self.um_per_pixel,
                              radius_out=self.radius_out / self.um_per_pixel, order=self.order,
                              mask_borders=mask_borders, kwargs_fit=kwargs_fit)
        if extra_template:
            res = _drop_first(res)
            images = images[1:]
        h, w = images[0].shape
        self.result = res
        self.warp_matrices = res.warp_matrices
        self.remappingIdx_geo = [warp_matrix_to_remappingIdx(m, w, h) for m in res.warp_matrices]
        self._images = images
        if verbose if verbose is not None else self._verbose:
            logger.info("alignment z-scores %s (threshold %g)",
                        np.array2string(res.z_final, precision=1), self.z_threshold)
        return self.remappingIdx_geo

    def fit_nonrigid(self, template: int | np.ndarray, ims_moving: Sequence[np.ndarray],
                     remappingIdx_init: Sequence[np.ndarray] | None = None,
                     method: str = "farneback",
                     kwargs_method: Mapping[str, Any] | None = None) -> list[np.ndarray]:
        """Dense refinement on top of ``remappingIdx_init`` (default ``remappingIdx_geo``).

        Parameters
        ----------
        template : int or (H, W) array
        ims_moving : sequence of (H, W)
        remappingIdx_init : sequence of (H, W, 2), optional
        method : {"farneback", "deepflow"}
        kwargs_method : dict, optional

        Returns
        -------
        list of (H, W, 2) float32
            Composed remap fields, also ``self.remappingIdx_nonrigid``.
        """
        images = [np.asarray(im, dtype=np.float32) for im in ims_moving]
        tpl = images[int(template)] if np.ndim(template) == 0 else np.asarray(template,
                                                                              np.float32)
        init = remappingIdx_init if remappingIdx_init is not None else self.remappingIdx_geo
        if init is None:
            h, w = images[0].shape
            init = [warp_matrix_to_remappingIdx(np.eye(3), w, h)] * len(images)
        out = []
        for im, r0 in zip(images, init, strict=True):
            geo = remap_images(im, r0, border_value=float(im.mean()))
            r_nr = fit_nonrigid(tpl, geo, method=method, kwargs_method=kwargs_method)
            out.append(compose_remappingIdx(r0, r_nr, fill_value=None))
        self.remappingIdx_nonrigid = out
        return out

    def transform_images(self, ims_moving: Sequence[np.ndarray] | np.ndarray,
                         remappingIdx: Sequence[np.ndarray] | np.ndarray
                         ) -> list[np.ndarray] | np.ndarray:
        """Warp images into the template frame (border filled with each image's mean).

        A single (H, W) array with a single (H, W, 2) field returns an array; lists return
        lists.
        """
        if isinstance(ims_moving, np.ndarray) and ims_moving.ndim == 2:
            return remap_images(ims_moving, np.asarray(remappingIdx),
                                border_value=float(ims_moving.mean()))
        return [remap_images(np.asarray(im), np.asarray(r), border_value=float(np.mean(im)))
                for im, r in zip(ims_moving, remappingIdx, strict=True)]

    def transform_points(self, points: np.ndarray, idx: int) -> np.ndarray:
        """Template points (N, 2) -> points in image ``idx`` (exact geometric warp)."""
        if self.warp_matrices is None:
            raise RuntimeError("call fit_geometric first")
        return transform_points(points, self.warp_matrices[idx])

    def plot_alignment_results_geometric(self, plot_direct: bool = True):
        """Scores of the final registration, and of the direct all-pairs stage if it ran.

        Returns
        -------
        fig_final : matplotlib.figure.Figure
            Bars of initial and final z-scores with the threshold, and a heat map of the
            pairwise scores among the registered images.
        fig_direct : matplotlib.figure.Figure or None
            Heat map of the direct all-pairs scores (rows: moving image, columns: template),
            when the match search ran.
        """
        if self.result is None or self._images is None:
            raise RuntimeError("call fit_geometric first")
        registered = self.transform_images(self._images, self.remappingIdx_geo)
        h, w = registered[0].shape
        checker = ImageAlignmentChecker((h, w), self.radius_in / self.um_per_pixel,
                                        self.radius_out / self.um_per_pixel, order=self.order)
        z_pairs = checker.score_alignment(np.stack(registered))["z_in"]
        fig_final = plot_alignment_scores(self.result, z_pairs=z_pairs)
        fig_direct = None
        if plot_direct and self.result.z_matrix is not None:
            fig_direct = _heatmap_figure(self.result.z_matrix, "direct pairwise z-scores "
                                         "(row onto column)", self.z_threshold)
        return fig_final, fig_direct


def _drop_first(res: RegistrationResult) -> RegistrationResult:
    """Remove an extra template image (index 0) from a result."""
    keep = slice(1, None)
    return RegistrationResult(
        warp_matrices=res.warp_matrices[keep], z_initial=res.z_initial[keep],
        z_final=res.z_final[keep], passed=res.passed[keep],
        paths=[[k - 1 for k in p] for p in res.paths[1:]], template_index=-1,
        method=res.method, z_threshold=res.z_threshold,
        z_matrix=None if res.z_matrix is None else res.z_matrix[1:, 1:],
        remappingIdx_nonrigid=None if res.remappingIdx_nonrigid is None
        else res.remappingIdx_nonrigid[1:])


# ----------------------------------------------------------------------------- figures


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

    from .alignment import to_uint8

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
