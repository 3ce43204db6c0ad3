"""Re-exports for compatibility with the reference package's ``face_rhythm.helpers`` paths.

Nothing is defined here: each name lives in the package that owns it (video readers in
:mod:`face_rhythm.video`; warps, ECC, weight hashing and CLAHE in
:mod:`face_rhythm.registration`; files, dicts, arrays and devices in the small shared modules
named for them). Defaults follow the reference where it documents them (``hash_file`` MD5);
``remap_images`` uses the cv2 backend. Each name is imported on first use.
"""

# ruff: noqa: F822 - the names of __all__ are bound on first access, by __getattr__
from __future__ import annotations

from .lazy import lazy_exports

#: module (under face_rhythm) -> the names re-exported from it, loaded on first use: a
#: notebook that takes ``helpers.BufferedVideoReader`` loads neither torch nor tensorly
_LAZY = {
    "registration": (
        "clahe", "find_geometric_transformation",
    ),
    "registration.warps": (
        "apply_warp_transform", "compose_remappingIdx", "compose_transform_matrices",
        "cv2RemappingIdx_to_pytorchFlowField", "flowField_to_remappingIdx",
        "invert_remappingIdx", "invert_warp_matrix", "mask_image_border", "remap_images",
        "remap_points", "remappingIdx_to_flowField", "warp_matrix_to_remappingIdx",
    ),
    "video": (
        "BufferedVideoReader", "VideoReaderWrapper",
    ),
    "arrays": (
        "Equivalence_checker", "Lazy_repeat_item", "make_batches", "rolling_mean",
    ),
    "devices": (
        "CPU_Device_Checker", "NVIDIA_Device_Checker", "set_device",
    ),
    "dicts": (
        "check_keys_subset", "deep_update_dict", "fill_in_dict", "find_subDict_key",
        "flatten_dict", "prepare_params",
    ),
    "downloads": (
        "compare_file_hashes", "download_file", "extract_zip", "hash_file",
    ),
    "files": (
        "find_paths", "get_dir_contents", "json_load", "json_save", "pickle_load",
        "pickle_save", "prepare_directory_for_loading", "prepare_directory_for_saving",
        "prepare_filepath_for_loading", "prepare_filepath_for_saving", "prepare_path",
        "yaml_load", "yaml_save",
    ),
    "decomposition.cp_tools": (
        "cp_reconstruction_EVR", "cp_to_dense", "order_cp_factors_by_EVR",
        "tensorly_cp_to_device",
    ),
    "signals": (
        "Toeplitz_convolution2d", "cosine_kernel_2D", "generate_multiphasic_sinewave",
    ),
    "spectral_analysis.filters": (
        "VQT", "bounded_logspace", "gaussian", "make_VQT_filters", "torch_hilbert",
    ),
    "video.readers": (
        "TorchCodecVideoReader",
    ),
    "visualization": (
        "Cmap_conjunctive", "Colorwheel", "add_text_to_images", "grayscale_to_rgb",
        "make_tiled_video_array", "play_video_cv2", "prepare_cv2_imshow", "save_gif",
        "simple_cmap",
    ),
}
__getattr__, __dir__ = lazy_exports("face_rhythm", globals(), _LAZY)

__all__ = [
    "VQT",
    "BufferedVideoReader",
    "CPU_Device_Checker",
    "Cmap_conjunctive",
    "Colorwheel",
    "Equivalence_checker",
    "Lazy_repeat_item",
    "NVIDIA_Device_Checker",
    "Toeplitz_convolution2d",
    "TorchCodecVideoReader",
    "VideoReaderWrapper",
    "add_text_to_images",
    "apply_warp_transform",
    "bounded_logspace",
    "check_keys_subset",
    "clahe",
    "compare_file_hashes",
    "compose_remappingIdx",
    "compose_transform_matrices",
    "cosine_kernel_2D",
    "cp_reconstruction_EVR",
    "cp_to_dense",
    "cv2RemappingIdx_to_pytorchFlowField",
    "deep_update_dict",
    "download_file",
    "extract_zip",
    "fill_in_dict",
    "find_geometric_transformation",
    "find_paths",
    "find_subDict_key",
    "flatten_dict",
    "flowField_to_remappingIdx",
    "gaussian",
    "generate_multiphasic_sinewave",
    "get_dir_contents",
    "grayscale_to_rgb",
    "hash_file",
    "invert_remappingIdx",
    "invert_warp_matrix",
    "json_load",
    "json_save",
    "make_VQT_filters",
    "make_batches",
    "make_tiled_video_array",
    "mask_image_border",
    "order_cp_factors_by_EVR",
    "pickle_load",
    "pickle_save",
    "play_video_cv2",
    "prepare_cv2_imshow",
    "prepare_directory_for_loading",
    "prepare_directory_for_saving",
    "prepare_filepath_for_loading",
    "prepare_filepath_for_saving",
    "prepare_params",
    "prepare_path",
    "remap_images",
    "remap_points",
    "remappingIdx_to_flowField",
    "rolling_mean",
    "save_gif",
    "set_device",
    "simple_cmap",
    "tensorly_cp_to_device",
    "torch_hilbert",
    "warp_matrix_to_remappingIdx",
    "yaml_load",
    "yaml_save",
]
