"""The original package's notebook classes, thin layers over the registration functions.

* :class:`Aligner` registers a list of images (e.g. sessions' reference frames) to a template
  with one of the backends ``"ECC_cv2"``, ``"PhaseCorrelation"``, ``"NullRegistration"`` or
  ``"RoMa"`` (optional: ``pip install face-rhythm[multisession]``), scores each result with
  :class:`~.quality.ImageAlignmentChecker`, searches better routes through other images for
  pairs below ``z_threshold`` (:func:`~.register.register_images`), and exposes one
  remapping index per image (``remappingIdx_geo``; conventions in :mod:`.warps`).
* :class:`Image_preparation_pipeline` makes a reference image from frames (the still-frame
  pipeline of :mod:`.reference_frame`).

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

from face_rhythm.errors import AlignmentParamsError

from .figures import _heatmap_figure, plot_alignment_scores
from .nonrigid import fit_nonrigid
from .params import ReferenceFrameParams
from .quality import ImageAlignmentChecker
from .reference_frame import (
    ReferenceFrame,
    _gray_float,
    clahe,
    downsample_frames,
    select_still_frames,
    spectral_power_per_frame,
)
from .register import RegistrationResult, register_images
from .warps import (
    RegistrationError,
    compose_remappingIdx,
    remap_images,
    transform_points,
    warp_matrix_to_remappingIdx,
)

logger = logging.getLogger(__name__)

__all__ = ["Aligner", "Image_preparation_pipeline"]

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


# ----------------------------------------------------------------------------- reference image


class Image_preparation_pipeline:
    """Reference-image pipeline (the original package's class): downsample -> VQT ->
    keep low-spectral-power frames -> mean -> sqrt -> normalise -> CLAHE.

    Parameters
    ----------
    ds_factor : int
        Spatial downsampling for the spectral analysis.
    ptile_specVar_keep : float
        Percentile of per-frame spectral power at or below which frames are kept.
    ptile_intensity_keep : float
        Kept for compatibility (unused, as in the original).
    params_vqt : dict, optional
        ``vqt.VQT`` kwargs; ``Fs_sample`` is the frame rate (required here or in
        :meth:`apply_pipeline`).
    clip_limit : float
        CLAHE clip limit.
    grid_size : int
        CLAHE tile grid.
    verbose : bool
        Log progress at INFO level.
    """

    def __init__(self, ds_factor: int = ReferenceFrameParams.ds_factor,
                 ptile_specVar_keep: float = ReferenceFrameParams.ptile_specVar_keep,
                 ptile_intensity_keep: float = 90, params_vqt: Mapping[str, Any] | None = None,
                 clip_limit: float = ReferenceFrameParams.clip_limit,
                 grid_size: int = ReferenceFrameParams.grid_size, verbose: bool = True):
        self.ds_factor = int(ds_factor)
        self.ptile_specVar_keep = float(ptile_specVar_keep)
        self.ptile_intensity_keep = float(ptile_intensity_keep)
        self.params_vqt = dict(params_vqt or {})
        self.clip_limit = float(clip_limit)
        self.grid_size = int(grid_size)
        self.verbose = bool(verbose)
        self.result: ReferenceFrame | None = None

    def downsample(self, images: np.ndarray, ds_factor: int | None = None) -> np.ndarray:
        """(n, H, W[, C]) -> (n, H // ds, W // ds) float32."""
        return downsample_frames(images, int(ds_factor or self.ds_factor))

    def _frame_rate(self, params_vqt: Mapping[str, Any]) -> float:
        fs = params_vqt.get("Fs_sample")
        if fs is None:
            raise AlignmentParamsError("params_vqt needs 'Fs_sample' (the video frame rate, Hz)")
        return float(fs)

    def find_low_spectral_variance_idx(self, images_ds: np.ndarray, images: np.ndarray,
                                       ptile_specVar_keep: float | None = None,
                                       ptile_intensity_keep: float | None = None,
                                       params_vqt: Mapping[str, Any] | None = None
                                       ) -> np.ndarray:
        """Square-rooted, max-normalised mean of the low-power frames, (H, W) float32."""
        pv = dict(params_vqt if params_vqt is not None else self.params_vqt)
        fs = self._frame_rate(pv)
        power = spectral_power_per_frame(images_ds, fs, {k: v for k, v in pv.items()
                                                         if k != "Fs_sample"})
        kept, thr = select_still_frames(power, ptile_specVar_keep or self.ptile_specVar_keep)
        if self.verbose:
            logger.info("keeping %d of %d frames (power <= %.4g)", int(kept.sum()), len(kept),
                        thr)
        self.power_, self.kept_ = power, kept
        im = np.sqrt(np.clip(_gray_float(images)[kept].mean(axis=0), 0, None))
        return (im / max(float(im.max()), 1e-12)).astype(np.float32)

    def apply_clahe(self, image: np.ndarray, clip_limit: float | None = None,
                    grid_size: int | None = None) -> np.ndarray:
        """CLAHE, (H, W) float32 in [0, 1]."""
        c = clahe(image, grid_size=grid_size or self.grid_size,
                  clipLimit=self.clip_limit if clip_limit is None else clip_limit)
        return (c / 65535.0).astype(np.float32)

    def apply_pipeline(self, images: np.ndarray, frame_rate: float | None = None) -> np.ndarray:
        """Full pipeline on (n, H, W[, C]) frames -> (H, W) float32 reference image."""
        pv = dict(self.params_vqt)
        if frame_rate is not None:
            pv["Fs_sample"] = float(frame_rate)
        ds = self.downsample(images)
        im = self.find_low_spectral_variance_idx(ds, images, params_vqt=pv)
        return self.apply_clahe(im)
