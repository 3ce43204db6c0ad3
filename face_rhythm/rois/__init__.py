"""Regions of interest (ROIs): named polygons -> boolean masks -> a grid of points to track.

The package owns the ROI concept and the ``rois.h5`` result file. Anyone may call it: the
workflow's ``rois`` rule (:func:`face_rhythm.rois.stage.rois_stage`), point tracking
(masks and points), registration (ROIs moved between sessions), NWB export and the notebook.
It imports no other stage package except :mod:`face_rhythm.video` (in :mod:`.stage` only).

Rooms, lowest first (each imports only the ones above it):

* :mod:`.geometry`: polygon filling, the point lattice, mask AND, self-intersection (arrays
  in, arrays out). Pixel centres sit at integer ``(x, y)`` coordinates.
* :mod:`.roiset`: :class:`RoiSet`, the validated ROI set and its masks, tracking mask and
  points.
* :mod:`.results`: ``rois.h5``, one writer (:func:`save_rois_h5`) and one reader
  (:func:`read_rois_h5` -> :class:`RoisFile`); nothing else opens that file.
* :mod:`.files`: ROI files, our YAML and the original package's ``ROIs.h5``
  (:func:`load_rois`, :func:`save_rois_yaml`).
* :mod:`.params`: the config's ``rois`` section (:class:`RoisParams`,
  :func:`rois_from_config`).
* :mod:`.contrast`: :func:`clahe` (also registration's).
* :mod:`.figures`: :func:`plot_rois` (matplotlib), :func:`rois_image` and
  :func:`save_rois_png` (OpenCV, for the workflow).
* :mod:`.frames`, :mod:`.server`: the drawing page of ``face-rhythm rois draw``
  (:class:`RoiDrawingServer`, :func:`draw_rois_blocking`).
* :mod:`.notebook`: :class:`ROIs`, the original package's notebook class.
* :mod:`.stage`: the workflow's ``rois`` rule (not imported here: it needs the video package).

The original also documents ``ROI_Alinger`` and ``Image_Aligner`` here. They register images,
which :mod:`face_rhythm.registration` owns and which sits above this package, so they are
defined there and ``import face_rhythm.registration`` puts them onto this package (this
package imports nothing of registration).
"""

from __future__ import annotations

from ..atomic import atomic_h5, atomic_path
from ..errors import RoiError
from .contrast import clahe
from .figures import plot_rois, rois_image, save_figure, save_rois_png
from .files import load_example_image, load_rois, roiset_from_rois_file, save_rois_yaml
from .frames import IMAGE_SUFFIXES, load_frame
from .geometry import (
    combine_masks,
    grid_points,
    infer_point_spacing,
    polygon_self_intersects,
    polygon_to_mask,
)
from .notebook import ROIs
from .params import RoisParams, rois_from_config
from .results import (
    RoisFile,
    _decode,  # noqa: F401 (an old import path, tests/architecture)
    read_rois_h5,
    save_rois_h5,
)
from .roiset import DEFAULT_POINT_SPACING, YAML_FORMAT_NAME, RoiSet
from .server import RoiDrawingServer, add_rois_parser, draw_rois_blocking, run_draw

__all__ = [
    "DEFAULT_POINT_SPACING",
    "IMAGE_SUFFIXES",
    "YAML_FORMAT_NAME",
    "ROIs",
    "RoiDrawingServer",
    "RoiError",
    "RoiSet",
    "RoisFile",
    "RoisParams",
    "add_rois_parser",
    "atomic_h5",
    "atomic_path",
    "clahe",
    "combine_masks",
    "draw_rois_blocking",
    "grid_points",
    "infer_point_spacing",
    "load_example_image",
    "load_frame",
    "load_rois",
    "plot_rois",
    "polygon_self_intersects",
    "polygon_to_mask",
    "read_rois_h5",
    "rois_from_config",
    "rois_image",
    "roiset_from_rois_file",
    "run_draw",
    "save_figure",
    "save_rois_h5",
    "save_rois_png",
    "save_rois_yaml",
]

_REGISTRATION_NAMES = ("ROI_Alinger", "Image_Aligner")


def __getattr__(name: str):
    """The original documents ``ROI_Alinger`` and ``Image_Aligner`` at ``face_rhythm.rois``;
    they are built on registration (warps, ECC, optical flow), which sits above this package.
    This door imports them on first access, after both packages are initialised (the one
    upward edge the layout test allows, ``DOOR_EDGES`` in tests/architecture/test_layout.py)."""
    if name in _REGISTRATION_NAMES:
        from face_rhythm import registration  # the documented door

        return getattr(registration, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
