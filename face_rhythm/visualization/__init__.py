"""Things people look at: points drawn on frames, overlay videos, figures, provenance tables.

What the package owns
---------------------
- ``style``: colours (RGB, the project's convention), the workflow's matplotlib style,
  :func:`new_figure` / :func:`save_figure` (PNG at 150 dpi, written atomically);
- ``drawing``: points and text drawn on RGB ``uint8`` frames, :func:`violations_to_dense`;
- ``writer``: video files opened on a temporary name, codecs tried in order;
- ``params``: :class:`OverlayParams` (``outputs.overlay``) and :class:`OutputsParams` (the
  ``outputs`` config section), the only place their defaults live;
- ``overlay``: :func:`write_overlay_video`, a video with its tracked points drawn;
- ``figures``: the report's tracking figures (contact sheet, displacement and violations);
- ``frames``: the original package's :class:`FrameVisualizer` and
  :func:`play_video_with_points`;
- ``colors``: the original's colour maps (:func:`simple_cmap`, :class:`Cmap_conjunctive`,
  :class:`Colorwheel`, :func:`complex_colormap`);
- ``images``: text on frames, grayscale to RGB, GIFs, tiled videos (the original's helpers);
- ``display``: OpenCV windows and a Jupyter image slider, with clear errors where there is
  no display (:func:`play_video_cv2`, :func:`prepare_cv2_imshow`,
  :func:`display_toggle_image_stack`);
- ``stage``: :func:`overlay_video_stage` (rule ``overlay_video``); ``tables``:
  :func:`write_run_info_table` (rule ``run_info_table``).

Who may call it
---------------
The workflow scripts, the NWB export (:mod:`face_rhythm.nwb`) and notebook users. It reads
result files only through their owners (``face_rhythm.point_tracking.read_tracking_file``,
``face_rhythm.h5_handling.read_file_run_info``); no stage package imports it.
"""

from __future__ import annotations

from ..errors import VisualizationError
from ..lazy import lazy_exports

# Imported on first access (PEP 562), so that a job that writes a table does not load
# matplotlib, OpenCV or torch (the run_info_table rule imports only ``tables``).
_LAZY = {
    "colors": ("Cmap_conjunctive", "Colorwheel", "complex_colormap", "simple_cmap"),
    "display": ("cv2_display_available", "display_toggle_image_stack", "play_video_cv2",
                "prepare_cv2_imshow"),
    "drawing": ("draw_points", "draw_text", "violations_to_dense"),
    "figures": ("contact_sheet_indices", "plot_contact_sheet", "plot_tracking_summary"),
    "frames": ("FrameVisualizer", "play_video_with_points"),
    "images": ("add_text_to_images", "grayscale_to_rgb", "make_tiled_video_array", "save_gif"),
    "overlay": ("write_overlay_video",),
    "params": ("OutputsParams", "OverlayParams"),
    "stage": ("overlay_video_stage",),
    "style": ("COLOR_NAMES", "COMPONENT_COLORS", "STYLE", "TRACKED_COLOR", "VIOLATION_COLOR",
              "figure_style", "new_figure", "save_figure"),
    "tables": ("run_info_table", "write_run_info_table"),
    "writer": ("open_video_writer",),
}
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)

__all__ = [
    "COLOR_NAMES",
    "COMPONENT_COLORS",
    "STYLE",
    "TRACKED_COLOR",
    "VIOLATION_COLOR",
    "Cmap_conjunctive",
    "Colorwheel",
    "FrameVisualizer",
    "OutputsParams",
    "OverlayParams",
    "VisualizationError",
    "add_text_to_images",
    "complex_colormap",
    "contact_sheet_indices",
    "cv2_display_available",
    "display_toggle_image_stack",
    "draw_points",
    "draw_text",
    "figure_style",
    "grayscale_to_rgb",
    "make_tiled_video_array",
    "new_figure",
    "open_video_writer",
    "overlay_video_stage",
    "play_video_cv2",
    "play_video_with_points",
    "plot_contact_sheet",
    "plot_tracking_summary",
    "prepare_cv2_imshow",
    "run_info_table",
    "save_figure",
    "save_gif",
    "simple_cmap",
    "violations_to_dense",
    "write_overlay_video",
    "write_run_info_table",
]
