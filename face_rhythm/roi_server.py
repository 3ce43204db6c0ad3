"""The ROI drawing page of ``face-rhythm rois draw``: a door to :mod:`face_rhythm.rois.server`.

The server, the frame loader and the command line live in the :mod:`face_rhythm.rois`
package; this module keeps the original import path (and ``python -m
face_rhythm.roi_server rois draw ...``).
"""

from __future__ import annotations

import sys

from face_rhythm.rois import (
    DEFAULT_POINT_SPACING,
    RoiSet,
    load_rois,
    polygon_self_intersects,
    save_rois_yaml,
)
from face_rhythm.rois.frames import IMAGE_SUFFIXES, load_frame
from face_rhythm.rois.server import (
    WEB_DIR,
    RoiDrawingServer,
    _announce,
    add_rois_parser,
    draw_rois_blocking,
    main,
    run_draw,
)

__all__ = [
    "DEFAULT_POINT_SPACING",
    "IMAGE_SUFFIXES",
    "WEB_DIR",
    "RoiDrawingServer",
    "RoiSet",
    "_announce",
    "add_rois_parser",
    "draw_rois_blocking",
    "load_frame",
    "load_rois",
    "main",
    "polygon_self_intersects",
    "run_draw",
    "save_rois_yaml",
]

if __name__ == "__main__":
    sys.exit(main())
