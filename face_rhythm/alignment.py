"""Door (the original's module path): reference frames and ROI transfer now live in
:mod:`face_rhythm.registration` (:mod:`~face_rhythm.registration.reference_frame`,
:mod:`~face_rhythm.registration.transfer`, :mod:`~face_rhythm.registration.results`).

``get_frames`` and ``SFTPVideoFrameExtractor`` are :mod:`face_rhythm.video`'s (reference
import paths).
"""

from face_rhythm.atomic import atomic_h5
from face_rhythm.errors import AlignmentParamsError
from face_rhythm.h5_handling import load_top_datasets
from face_rhythm.registration import (
    DEFAULT_PARAMS_VQT_REFERENCE,
    AlignmentParams,
    Image_preparation_pipeline,
    ReferenceFrame,
    ReferenceFrameFile,
    ReferenceFrameParams,
    clahe,
    downsample_frames,
    finish_reference_image,
    load_reference_frame_h5,
    plot_reference_frame,
    read_reference_frame_file,
    reference_frame_from_frames,
    reference_frame_from_videos,
    save_reference_frame_h5,
    select_still_frames,
    spectral_power_per_frame,
    to_uint8,
    transfer_rois,
)
from face_rhythm.spectral_analysis import _vqt_keys
from face_rhythm.video import SFTPVideoFrameExtractor, get_frames

__all__ = [
    "DEFAULT_PARAMS_VQT_REFERENCE",
    "AlignmentParams",
    "AlignmentParamsError",
    "Image_preparation_pipeline",
    "ReferenceFrame",
    "ReferenceFrameFile",
    "ReferenceFrameParams",
    "SFTPVideoFrameExtractor",
    "_vqt_keys",
    "atomic_h5",
    "clahe",
    "downsample_frames",
    "finish_reference_image",
    "get_frames",
    "load_reference_frame_h5",
    "load_top_datasets",
    "plot_reference_frame",
    "read_reference_frame_file",
    "reference_frame_from_frames",
    "reference_frame_from_videos",
    "save_reference_frame_h5",
    "select_still_frames",
    "spectral_power_per_frame",
    "to_uint8",
    "transfer_rois",
]
