"""Re-exports for compatibility with the reference package's ``face_rhythm.helpers`` paths.

Nothing is defined here: each name lives in the package that owns it (video readers in
:mod:`face_rhythm.video`; warps, ECC, weight hashing and CLAHE in
:mod:`face_rhythm.registration`; files, dicts, arrays and devices in the small shared modules
named for them). Defaults follow the reference where it documents them (``hash_file`` MD5);
``remap_images`` uses the cv2 backend.
"""

from __future__ import annotations

from .registration import clahe, find_geometric_transformation
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

# isort: split
# --- shared helpers: face_rhythm.dicts, files, downloads, arrays, devices ---
from .arrays import Equivalence_checker, Lazy_repeat_item, make_batches, rolling_mean
from .devices import CPU_Device_Checker, NVIDIA_Device_Checker, set_device
from .dicts import (
    check_keys_subset,
    deep_update_dict,
    fill_in_dict,
    find_subDict_key,
    flatten_dict,
    prepare_params,
)
from .downloads import compare_file_hashes, download_file, extract_zip, hash_file
from .files import (
    find_paths,
    get_dir_contents,
    json_load,
    json_save,
    pickle_load,
    pickle_save,
    prepare_directory_for_loading,
    prepare_directory_for_saving,
    prepare_filepath_for_loading,
    prepare_filepath_for_saving,
    prepare_path,
    yaml_load,
    yaml_save,
)

# isort: split
# --- numerical helpers: face_rhythm.signals, spectral_analysis.filters, decomposition.cp_tools ---
from .decomposition.cp_tools import (
    cp_reconstruction_EVR,
    cp_to_dense,
    order_cp_factors_by_EVR,
    tensorly_cp_to_device,
)
from .signals import Toeplitz_convolution2d, cosine_kernel_2D, generate_multiphasic_sinewave
from .spectral_analysis.filters import (
    VQT,
    bounded_logspace,
    gaussian,
    make_VQT_filters,
    torch_hilbert,
)

# isort: split
# --- visual/video helpers: face_rhythm.visualization (colors, images, display), video.readers ---
from .video.readers import TorchCodecVideoReader
from .visualization import (
    Cmap_conjunctive,
    Colorwheel,
    add_text_to_images,
    grayscale_to_rgb,
    make_tiled_video_array,
    play_video_cv2,
    prepare_cv2_imshow,
    save_gif,
    simple_cmap,
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

# --- shared helpers: face_rhythm.dicts, files, downloads, arrays, devices ---
__all__ += [
    "CPU_Device_Checker",
    "Equivalence_checker",
    "Lazy_repeat_item",
    "NVIDIA_Device_Checker",
    "check_keys_subset",
    "compare_file_hashes",
    "deep_update_dict",
    "download_file",
    "extract_zip",
    "fill_in_dict",
    "find_paths",
    "find_subDict_key",
    "flatten_dict",
    "get_dir_contents",
    "json_load",
    "json_save",
    "make_batches",
    "pickle_load",
    "pickle_save",
    "prepare_directory_for_loading",
    "prepare_directory_for_saving",
    "prepare_filepath_for_loading",
    "prepare_filepath_for_saving",
    "prepare_params",
    "prepare_path",
    "rolling_mean",
    "set_device",
    "yaml_load",
    "yaml_save",
]

# --- numerical helpers: face_rhythm.signals, spectral_analysis.filters, decomposition.cp_tools ---
__all__ += [
    "VQT",
    "Toeplitz_convolution2d",
    "bounded_logspace",
    "cosine_kernel_2D",
    "cp_reconstruction_EVR",
    "cp_to_dense",
    "gaussian",
    "generate_multiphasic_sinewave",
    "make_VQT_filters",
    "order_cp_factors_by_EVR",
    "tensorly_cp_to_device",
    "torch_hilbert",
]

# --- visual/video helpers: face_rhythm.visualization (colors, images, display), video.readers ---
__all__ += [
    "Cmap_conjunctive",
    "Colorwheel",
    "TorchCodecVideoReader",
    "add_text_to_images",
    "grayscale_to_rgb",
    "make_tiled_video_array",
    "play_video_cv2",
    "prepare_cv2_imshow",
    "save_gif",
    "simple_cmap",
]
