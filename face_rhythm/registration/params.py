"""Parameters of the reference frames and of the session alignment: the only place their
defaults live.

* :class:`ReferenceFrameParams`: the still-frame pipeline of one session
  (:mod:`.reference_frame`).
* :class:`AlignmentParams`: the workflow's ``alignment`` config section (reference frame,
  registration backend and strategy). The schema's defaults
  (``workflow/schemas/config.schema.yaml``) are tested equal to these; the rules pass the
  section through as it is and :meth:`AlignmentParams.from_config` applies the one parameter
  policy (:func:`face_rhythm.params.from_mapping`: an unknown key is an
  :class:`~face_rhythm.errors.AlignmentParamsError` naming it, with a suggestion).

The reference-frame fields of :class:`AlignmentParams` take their defaults from
:class:`ReferenceFrameParams`, except ``max_frames_per_video``: the workflow reads at most
3000 frames of each video, the library all of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from face_rhythm.errors import AlignmentParamsError
from face_rhythm.params import from_mapping
from face_rhythm.spectral_analysis.params import _vqt_keys

__all__ = ["DEFAULT_PARAMS_VQT_REFERENCE", "AlignmentParams", "ReferenceFrameParams",
           "_vqt_keys"]

#: VQT parameters for the per-pixel spectral power (``Fs_sample`` is the video frame rate;
#: ``F_max`` is lowered to 0.45 x the frame rate when it would reach Nyquist).
DEFAULT_PARAMS_VQT_REFERENCE: dict[str, Any] = {
    "Q_lowF": 2.0,
    "Q_highF": 6.0,
    "F_min": 1.5,
    "F_max": 30.0,
    "n_freq_bins": 12,
    "window_type": "hann",
    "downsample_factor": 1,
    "padding": "valid",
    "fft_conv": True,
}


@dataclasses.dataclass(frozen=True)
class ReferenceFrameParams:
    """Parameters of the reference-frame pipeline.

    Attributes
    ----------
    ds_factor : int
        Spatial downsampling factor for the spectral analysis (>= 1).
    ptile_specVar_keep : float
        Frames at or below this percentile of spectral power are kept (0 < p <= 100).
    params_vqt : dict
        ``vqt.VQT`` keyword arguments (merged over :data:`DEFAULT_PARAMS_VQT_REFERENCE`).
    clip_limit : float
        CLAHE clip limit.
    grid_size : int
        CLAHE tile grid (grid_size x grid_size tiles).
    max_frames_per_video : int or None
        Use at most this many frames from the start of each video (None: all).
    batch_size : int
        Pixels per VQT batch.
    device : str
        Torch device of the VQT.
    """

    ds_factor: int = 20
    ptile_specVar_keep: float = 10.0
    params_vqt: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    clip_limit: float = 2.0
    grid_size: int = 20
    max_frames_per_video: int | None = None
    batch_size: int = 512
    device: str = "cpu"

    def __post_init__(self):
        if not (isinstance(self.ds_factor, (int, np.integer)) and self.ds_factor >= 1):
            raise AlignmentParamsError(f"ds_factor must be an integer >= 1, got "
                                       f"{self.ds_factor!r}")
        if not 0 < float(self.ptile_specVar_keep) <= 100:
            raise AlignmentParamsError(f"ptile_specVar_keep must be in (0, 100], got "
                                       f"{self.ptile_specVar_keep!r}")
        if not float(self.clip_limit) >= 0 or int(self.grid_size) < 1:
            raise AlignmentParamsError(f"CLAHE clip_limit {self.clip_limit} must be >= 0 and "
                                       f"grid_size {self.grid_size} >= 1")
        if self.max_frames_per_video is not None and int(self.max_frames_per_video) < 2:
            raise AlignmentParamsError(f"max_frames_per_video must be >= 2 or null, got "
                                       f"{self.max_frames_per_video!r}")
        unknown = set(self.params_vqt) - set(_vqt_keys())
        if unknown:
            raise AlignmentParamsError(f"params_vqt: unknown key(s) {sorted(unknown)}")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> ReferenceFrameParams:
        """From the config's ``alignment`` section (see :class:`AlignmentParams`).

        Raises
        ------
        AlignmentParamsError
            A key that is not one of the section's, or a value out of range.
        """
        return AlignmentParams.from_config(cfg).reference_frame_params()


@dataclasses.dataclass(frozen=True)
class AlignmentParams:
    """The workflow's ``alignment`` section (``config/README.md`` documents every key).

    Attributes
    ----------
    enabled : bool
        Register sessions and carry the template's ROIs into them.
    template_session : str or None
        Session whose ROIs are transferred (None: the first session of the videos table).
    template_method : {"fixed", "sequential"}
        Every session onto the template, or a chain of neighbours (warps composed).
    backend : str or None
        ``ECC_cv2``, ``PhaseCorrelation``, ``Null`` / ``NullRegistration`` / None, ``RoMa``.
    mode_transform : str
        Warp family (ECC's ``mode_transform``; RoMa's RANSAC ``constraint``).
    z_threshold : float
        Alignment z-score below which a registration fails.
    use_match_search : bool
        Reroute failing sessions through better-matching ones.
    nonrigid : {None, "farneback", "deepflow"}
        Optional dense refinement.
    ds_factor, ptile_specVar_keep, clip_limit, grid_size, params_vqt, device
        As in :class:`ReferenceFrameParams` (``device`` is also RoMa's torch device).
    max_frames_per_video : int or None
        Frames read from the start of each video for the reference frame (None: all).
    kwargs_backend : dict
        Extra keyword arguments of the backend class.
    """

    enabled: bool = False
    template_session: str | None = None
    template_method: str = "fixed"
    backend: str | None = "ECC_cv2"
    mode_transform: str = "euclidean"
    z_threshold: float = 4.0
    use_match_search: bool = True
    nonrigid: str | None = None
    ds_factor: int = ReferenceFrameParams.ds_factor
    ptile_specVar_keep: float = ReferenceFrameParams.ptile_specVar_keep
    max_frames_per_video: int | None = 3000
    clip_limit: float = ReferenceFrameParams.clip_limit
    grid_size: int = ReferenceFrameParams.grid_size
    params_vqt: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    kwargs_backend: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    device: str = ReferenceFrameParams.device

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | AlignmentParams | None) -> AlignmentParams:
        """From the config's ``alignment`` section; absent keys keep their defaults.

        Raises
        ------
        AlignmentParamsError
            A key that is not one of the section's (named, with a close match).
        """
        return from_mapping(cls, cfg, "alignment", error=AlignmentParamsError)

    def reference_frame_params(self) -> ReferenceFrameParams:
        """The reference-frame part, as :class:`ReferenceFrameParams` (validated)."""
        names = {f.name for f in dataclasses.fields(ReferenceFrameParams)}
        return ReferenceFrameParams(**{k: v for k, v in dataclasses.asdict(self).items()
                                       if k in names})

    def to_dict(self) -> dict[str, Any]:
        """The section as a plain dict (every key, for ``params`` and ``run_info``)."""
        return dataclasses.asdict(self)
