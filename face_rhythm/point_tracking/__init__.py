"""Point tracking: a grid of face points followed from frame to frame.

The package owns everything between frames and tracked positions: the tracker's parameters,
the mesh of neighbouring points and its forces, preprocessing, the Lucas-Kanade engine with
outlier rewinds, the result file ``tracking.h5`` and the original's notebook class. It reads
frames through :mod:`face_rhythm.video` and masks and ``rois.h5`` through
:mod:`face_rhythm.rois`; the later stages (spectrograms, overlay videos, NWB export, the
report) read ``tracking.h5`` only through :func:`read_tracking_file` /
:func:`open_tracking_file`.

Rooms, lowest first (each imports only the ones above it):

==============  ===============================================================================
``params``      :class:`TrackingParams`, :class:`ClaheParams`, :class:`TrackingConfig` (the
                ``tracking`` config section), :data:`PROJECT_PARAMS`, :data:`REFERENCE_PARAMS`,
                :func:`check_device`
``mesh``        :func:`mesh_neighbors`, :func:`check_mesh_size`, :func:`mesh_operator`,
                :func:`mesh_d0`, :func:`apply_mesh_forces`
``preprocess``  masks, input checks, :class:`Preprocessor` (gray, mask, CLAHE),
                :func:`preprocess_chunks`, :func:`as_chunks`
``engine``      the tracking loop: :func:`track_frames`, :func:`track_array`,
                :func:`track_video`, :class:`TrackingResult`
``results``     ``tracking.h5``: :func:`write_tracking_h5`, :func:`read_tracking_file`,
                :func:`open_tracking_file`, :class:`TrackingFile`
``stage``       the ``track_points`` rule: :func:`track_points_stage`
``notebook``    the original's :class:`PointTracker`
==============  ===============================================================================

Who may call it: the workflow script ``track_points.py`` (:func:`track_points_stage`), the
notebook API (:class:`PointTracker`), and every consumer of ``tracking.h5`` (its reader).
"""

from ..errors import TrackingError
from ..lazy import lazy_exports
from ..runlog import progress_bar as progress_bar  # importable here before the split
from .params import (
    PROJECT_PARAMS,
    REFERENCE_PARAMS,
    ClaheParams,
    TrackingConfig,
    TrackingParams,
    check_device,
)

# Imported on first access (PEP 562): a reader of tracking.h5 (spectrogram, overlay, report
# jobs) loads h5py, not the tracker's torch, OpenCV and SciPy.
_LAZY = {
    "engine": ("TrackingResult", "track_array", "track_frames", "track_video"),
    "mesh": ("apply_mesh_forces", "check_mesh_size", "mesh_d0", "mesh_neighbors",
             "mesh_operator"),
    "notebook": ("PointTracker", "_resolve_videos"),
    "preprocess": ("Preprocessor", "as_chunks", "combine_masks", "grow_mask",
                   "preprocess_chunks", "validate_frames_freeze", "validate_points"),
    "results": ("TrackingFile", "open_tracking_file", "read_tracking_file",
                "write_tracking_h5"),
    "stage": ("contiguous_start", "read_home_and_mask", "track_points_stage"),
}
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)

__all__ = [
    "PROJECT_PARAMS",
    "REFERENCE_PARAMS",
    "ClaheParams",
    "PointTracker",
    "Preprocessor",
    "TrackingConfig",
    "TrackingError",
    "TrackingFile",
    "TrackingParams",
    "TrackingResult",
    "apply_mesh_forces",
    "as_chunks",
    "check_device",
    "check_mesh_size",
    "combine_masks",
    "contiguous_start",
    "grow_mask",
    "mesh_d0",
    "mesh_neighbors",
    "mesh_operator",
    "open_tracking_file",
    "preprocess_chunks",
    "read_home_and_mask",
    "read_tracking_file",
    "track_array",
    "track_frames",
    "track_points_stage",
    "track_video",
    "validate_frames_freeze",
    "validate_points",
    "write_tracking_h5",
]
