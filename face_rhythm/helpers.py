"""Re-exports for compatibility with the reference package's ``face_rhythm.helpers`` paths.

Nothing is defined here: each name lives in its topic module (video readers in
:mod:`face_rhythm.video`, warps in :mod:`face_rhythm.warps`, ECC in
:mod:`face_rhythm.registration`, weight hashing in :mod:`face_rhythm.roma`, CLAHE in
:mod:`face_rhythm.alignment`). Defaults follow this package, not the reference (e.g.
``remap_images`` uses the cv2 backend, ``hash_file`` SHA-256).
"""

from __future__ import annotations

from .alignment import clahe
from .registration import find_geometric_transformation
from .roma import hash_file
from .video import BufferedVideoReader, VideoReaderWrapper
from .warps import (
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
