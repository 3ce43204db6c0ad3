"""Registration and alignment across sessions: reference frames, warps, backends, scores,
routes between sessions, ROI transfer, and their files.

What it owns
------------
* **warps** (:mod:`.warps`, conventions in its docstring) and **phase correlation**
  (:mod:`.phase_correlation`): arrays in, arrays out;
* **backends**, every one returning a (3, 3) template -> moving warp from
  ``fit_rigid(im_template, im_moving)``: :class:`ImageRegistrationMethod` (:mod:`.base`),
  :class:`ECC_cv2` (:mod:`.ecc`), :class:`PhaseCorrelationRegistration`,
  :class:`NullRegistration` and the table :data:`METHODS` (:mod:`.methods`), :class:`RoMa`
  with its verified weights (:mod:`.roma`), dense refinement (:mod:`.nonrigid`);
* **quality and routes**: :class:`ImageAlignmentChecker`, :func:`best_paths_to_template`
  (:mod:`.quality`); :func:`register_images` and :class:`RegistrationResult`
  (:mod:`.register`); the workflow's strategy and config-word translation (:mod:`.strategy`);
* **reference frames** of sessions (:mod:`.reference_frame`) and **ROI transfer**
  (:func:`transfer_rois`, :mod:`.transfer`);
* parameters, the only place their defaults live (:mod:`.params`); the files
  ``reference_frame.h5`` and ``registration.h5`` (:mod:`.results`: one writer and one reader
  each); figures (:mod:`.figures`); the original's notebook classes :class:`Aligner` and
  :class:`Image_preparation_pipeline` (:mod:`.notebook`), :class:`ROI_Alinger`
  (:mod:`.roi_alignment`) and :class:`Image_Aligner` (:mod:`.image_aligner`), which the
  original documents in ``face_rhythm.rois`` and which importing this package puts there;
  the workflow's stages (:mod:`.stage`).

Who may call it
---------------
Anyone: the workflow's alignment scripts (through :mod:`.stage`), notebooks, and other
packages that need the files (through :func:`read_reference_frame_file` and
:func:`read_registration_file`). It depends on :mod:`face_rhythm.video` (frames),
:mod:`face_rhythm.spectral_analysis` (the VQT) and :mod:`face_rhythm.rois` (ROI sets); none
of those imports it. The original's module paths ``face_rhythm.alignment`` and
``face_rhythm.alignment_multisession``, and ``face_rhythm.warps``,
``face_rhythm.phase_correlation`` and ``face_rhythm.roma``, are doors onto this package.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING  # noqa: F401 - importable here before the split

from .base import MULTISESSION_EXTRA_HINT, ImageRegistrationMethod, fit_warp_to_points
from .ecc import ECC_cv2, ecc_correlation, find_geometric_transformation
from .figures import (
    plot_alignment_scores,
    plot_reference_frame,
    plot_registered_images,
    plot_registration_pair,
    save_png,
)
from .image_aligner import Image_Aligner
from .methods import (
    METHODS,
    NullRegistration,
    PhaseCorrelationRegistration,
    make_registration_method,
)
from .nonrigid import fit_nonrigid
from .notebook import Aligner, Image_preparation_pipeline
from .params import DEFAULT_PARAMS_VQT_REFERENCE, AlignmentParams, ReferenceFrameParams
from .phase_correlation import (
    _window_2d,
    design_butter_bandpass,
    make_2D_frequency_filter,
    make_distance_grid,
    phase_correlation,
    phase_correlation_shift,
)
from .quality import ImageAlignmentChecker, best_paths_to_template, get_path_between_nodes
from .reference_frame import (
    ReferenceFrame,
    clahe,
    downsample_frames,
    finish_reference_image,
    reference_frame_from_frames,
    reference_frame_from_videos,
    select_still_frames,
    spectral_power_per_frame,
    to_uint8,
)
from .register import RegistrationResult, register_images
from .results import (
    ReferenceFrameFile,
    RegistrationFile,
    load_reference_frame_h5,
    load_registration_h5,
    read_reference_frame_file,
    read_registration_file,
    save_reference_frame_h5,
    save_registration_h5,
)
from .roi_alignment import ROI_Alinger
from .roma import RoMa, fetch_weights, hash_file
from .stage import (
    alignment_overview_stage,
    reference_frame_stage,
    register_stage,
    session_rois_stage,
)
from .strategy import RegisterOptions, SessionRegistration, library_options, register_session
from .transfer import transfer_rois
from .warps import (
    RegistrationError,
    _as_gray_float,
    _pixel_grid,
    apply_warp_transform,
    as_3x3,
    compose_remappingIdx,
    compose_transform_matrices,
    cv2RemappingIdx_to_pytorchFlowField,
    flowField_to_remappingIdx,
    invert_remappingIdx,
    invert_warp_matrix,
    mask_image_border,
    remap_images,
    remap_points,
    remappingIdx_to_flowField,
    transform_points,
    warp_matrix_to_remappingIdx,
)

logger = logging.getLogger(__name__)


__all__ = [
    "DEFAULT_PARAMS_VQT_REFERENCE",
    "METHODS",
    "MULTISESSION_EXTRA_HINT",
    "Aligner",
    "AlignmentParams",
    "ECC_cv2",
    "ImageAlignmentChecker",
    "ImageRegistrationMethod",
    "Image_Aligner",
    "Image_preparation_pipeline",
    "NullRegistration",
    "PhaseCorrelationRegistration",
    "ROI_Alinger",
    "ReferenceFrame",
    "ReferenceFrameFile",
    "ReferenceFrameParams",
    "RegisterOptions",
    "RegistrationError",
    "RegistrationFile",
    "RegistrationResult",
    "RoMa",
    "SessionRegistration",
    "_as_gray_float",
    "_pixel_grid",
    "_window_2d",
    "alignment_overview_stage",
    "apply_warp_transform",
    "as_3x3",
    "best_paths_to_template",
    "clahe",
    "compose_remappingIdx",
    "compose_transform_matrices",
    "cv2RemappingIdx_to_pytorchFlowField",
    "design_butter_bandpass",
    "downsample_frames",
    "ecc_correlation",
    "fetch_weights",
    "find_geometric_transformation",
    "finish_reference_image",
    "fit_nonrigid",
    "fit_warp_to_points",
    "flowField_to_remappingIdx",
    "get_path_between_nodes",
    "hash_file",
    "invert_remappingIdx",
    "invert_warp_matrix",
    "library_options",
    "load_reference_frame_h5",
    "load_registration_h5",
    "make_2D_frequency_filter",
    "make_distance_grid",
    "make_registration_method",
    "mask_image_border",
    "phase_correlation",
    "phase_correlation_shift",
    "plot_alignment_scores",
    "plot_reference_frame",
    "plot_registered_images",
    "plot_registration_pair",
    "read_reference_frame_file",
    "read_registration_file",
    "reference_frame_from_frames",
    "reference_frame_from_videos",
    "reference_frame_stage",
    "register_images",
    "register_session",
    "register_stage",
    "remap_images",
    "remap_points",
    "remappingIdx_to_flowField",
    "save_png",
    "save_reference_frame_h5",
    "save_registration_h5",
    "select_still_frames",
    "session_rois_stage",
    "spectral_power_per_frame",
    "to_uint8",
    "transfer_rois",
    "transform_points",
    "warp_matrix_to_remappingIdx",
]
