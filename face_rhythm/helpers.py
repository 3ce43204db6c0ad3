"""Re-exports for compatibility with the reference package's ``face_rhythm.helpers`` paths.

Nothing is defined here: each name lives in the package that owns it (video readers in
:mod:`face_rhythm.video`; warps, ECC, weight hashing and CLAHE in
:mod:`face_rhythm.registration`). Defaults follow this package, not the reference (e.g.
``remap_images`` uses the cv2 backend, ``hash_file`` SHA-256).
"""

from __future__ import annotations

from .registration import clahe, find_geometric_transformation, hash_file
from .registration.warps import (
    apply_warp_transform,
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
    warp_matrix_to_remappingIdx,
)
from .video import BufferedVideoReader, VideoReaderWrapper

__all__ = [
    "BufferedVideoReader",
    "VideoReaderWrapper",
    "apply_warp_transform",
    "clahe",
    "compose_remappingIdx",
    "compose_transform_matrices",
    "cv2RemappingIdx_to_pytorchFlowField",
    "find_geometric_transformation",
    "flowField_to_remappingIdx",
    "hash_file",
    "invert_remappingIdx",
    "invert_warp_matrix",
    "mask_image_border",
    "remap_images",
    "remap_points",
    "remappingIdx_to_flowField",
    "warp_matrix_to_remappingIdx",
]
