"""Export a session's results to one NWB file (Neurodata Without Borders, via ``pynwb``).

What the package owns
---------------------
- ``params``: :class:`SessionMetadata` (config ``outputs.nwb_metadata``);
- ``inputs``: the workflow's files as the export needs them (:class:`VideoTracking`,
  :class:`TcaFactors`), read only through their owners' readers
  (``point_tracking.read_tracking_file``, ``spectral_analysis.open_spectrogram_file``,
  ``decomposition.read_tca_file``, ``rois.read_rois_h5``);
- ``build``: :func:`build_nwbfile`, the in-memory ``NWBFile`` (its layout is described there);
- ``export``: :func:`export_session_nwb`, files in, one ``.nwb`` out, atomically;
- ``results``: reading an exported file back (:func:`read_nwb_positions`) and checking it
  (:func:`validate_nwb`);
- ``stage``: :func:`nwb_export_stage`, what the workflow's ``nwb_export`` rule runs.

Who may call it
---------------
The workflow script ``nwb_export.py``, tests and users. Nothing in the library imports it;
``pynwb`` is imported only where a file is built, written or read.
"""

from __future__ import annotations

from face_rhythm.atomic import atomic_path
from face_rhythm.h5_handling import h5Obj_to_dict

from ..errors import NWBExportError
from .build import BEHAVIOR, build_nwbfile
from .export import export_session_nwb, write_nwbfile
from .inputs import (
    TcaFactors,
    VideoTracking,
    read_home_positions,
    read_spectrogram_h5,
    read_tca_h5,
    read_tracking_h5,
    session_start_from_run_info,
)
from .params import SessionMetadata
from .results import read_nwb_positions, validate_nwb
from .stage import nwb_export_stage

__all__ = [
    "BEHAVIOR",
    "NWBExportError",
    "SessionMetadata",
    "TcaFactors",
    "VideoTracking",
    "atomic_path",
    "build_nwbfile",
    "export_session_nwb",
    "h5Obj_to_dict",
    "nwb_export_stage",
    "read_home_positions",
    "read_nwb_positions",
    "read_spectrogram_h5",
    "read_tca_h5",
    "read_tracking_h5",
    "session_start_from_run_info",
    "validate_nwb",
    "write_nwbfile",
]
