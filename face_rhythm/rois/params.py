"""The config's ``rois`` section: :class:`RoisParams` (the only place its defaults live) and
:func:`rois_from_config`, which turns it into the session's :class:`~.roiset.RoiSet`.

The section is converted by :meth:`RoisParams.from_config` through
:func:`face_rhythm.params.from_mapping` (the one parameter policy: an unknown key is a
:class:`~face_rhythm.errors.RoiError` naming the section and the key, with a suggestion).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import RoiError
from ..params import from_mapping
from .files import load_rois
from .roiset import DEFAULT_POINT_SPACING, RoiSet

logger = logging.getLogger(__name__)

__all__ = ["RoisParams", "rois_from_config"]

#: Values of ``rois.source`` (``None``: whichever of ``file`` and ``polygons`` is given).
SOURCES = (None, "polygons", "file")

#: Keys an ROI file brings (spacing and ROI lists) that the config may override.
_FILE_KEYS = ("point_spacing", "points_from", "mask_from")


@dataclass(frozen=True)
class RoisParams:
    """The ``rois`` config section.

    Attributes
    ----------
    source : {"polygons", "file"} or None
        Which of ``polygons`` and ``file`` makes the ROIs. ``"file"``: the file is the whole
        definition (its polygons, spacing, ``points_from`` and ``mask_from``; those keys of
        the config are ignored). ``"polygons"``: ``file`` is ignored. ``None``: whichever is
        given (giving both is an error), and with a file the config's spacing and ROI lists
        override the file's. An experiment's own config file (``--configfile
        experiment.yaml``) is merged over ``config/config.yaml`` (whose polygons stay), so it
        switches ROIs to a file with ``source: file``.
    file : str or None
        An ROI file (our YAML, our ``rois.h5`` or the original ``ROIs.h5``); exclusive with
        ``polygons``.
    polygons : dict
        Name -> ``[[x, y], ...]`` vertices, px (``{}``: not given).
    point_spacing : int or None
        Grid spacing, px; None: the file's spacing, or
        :data:`~face_rhythm.rois.roiset.DEFAULT_POINT_SPACING` (9) for inline polygons.
    points_from : list of str or None
        ROIs whose masks are ANDed to hold the grid (None or []: all ROIs; with ``file``:
        the file's choice).
    mask_from : list of str or None
        ROIs whose masks are ANDed into the tracking mask ([]: the whole frame; None: all
        ROIs; with ``file``, None or []: the file's choice).
    """

    source: str | None = None
    file: str | None = None
    polygons: dict[str, Any] | None = field(default_factory=dict)
    point_spacing: int | None = None
    points_from: list[str] | None = field(default_factory=list)
    mask_from: list[str] | None = field(default_factory=list)

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | RoisParams | None) -> RoisParams:
        """Parameters from the config's ``rois`` section (absent keys keep the defaults)."""
        p = from_mapping(cls, section, "rois", error=RoiError)
        if p.source not in SOURCES:
            raise RoiError(f"config rois.source: {p.source!r} is not one of {SOURCES}")
        if p.source == "file":  # the file is the whole definition (see the class docstring)
            if p.polygons or p.point_spacing is not None or p.points_from or p.mask_from:
                logger.info("config rois.source is 'file': polygons, point_spacing, "
                            "points_from and mask_from come from %s, not the config", p.file)
            return dataclasses.replace(p, polygons={}, point_spacing=None, points_from=[],
                                       mask_from=[])
        if p.source == "polygons":
            return dataclasses.replace(p, file=None)
        return p


def rois_from_config(cfg_section: Mapping[str, Any] | RoisParams | None,
                     frame_height_width: Sequence[int]) -> RoiSet:
    """Build the ROIs from the config's ``rois`` section.

    Parameters
    ----------
    cfg_section : dict or RoisParams
        ``{file: null | path, polygons: {name: [[x, y], ...]}, point_spacing: int,
        points_from: [names], mask_from: [names]}`` (see :class:`RoisParams`). Exactly one
        of ``file`` and ``polygons`` must be given (``polygons: {}`` counts as not given).
        With ``file``, the file's spacing / points_from / mask_from are used unless the
        config sets them (not null and not []), which overrides them with a warning.
    frame_height_width : (H, W)
        Frame size of the session's videos; the ROIs must match it.

    Returns
    -------
    RoiSet
        Validated.
    """
    p = RoisParams.from_config(cfg_section)
    if p.file and p.polygons:
        raise RoiError("config rois: give either 'file' or 'polygons', not both (or choose "
                       "one with rois.source: file | polygons)")
    if not p.file and not p.polygons:
        raise RoiError(f"config rois: give 'file' (an ROI file, e.g. from `face-rhythm rois "
                       f"draw`) or inline 'polygons'"
                       f"{' (rois.source is ' + repr(p.source) + ')' if p.source else ''}")
    hw = tuple(int(s) for s in frame_height_width)
    if p.file:
        rs = load_rois(p.file, frame_height_width=hw)
        changes = {}
        for key in _FILE_KEYS:
            val = getattr(p, key)
            if val is not None and val != [] and val != getattr(rs, key):
                logger.warning("config rois: %s=%r overrides %r from %s", key, val,
                               getattr(rs, key), p.file)
                changes[key] = val
        if changes:
            if "point_spacing" in changes or "points_from" in changes:
                changes["fixed_points"] = None
            rs = dataclasses.replace(rs, **changes)
        return rs.validate()
    if not isinstance(p.polygons, Mapping):
        raise RoiError("config rois.polygons: expected a mapping name -> [[x, y], ...]")
    return RoiSet(polygons=dict(p.polygons), frame_height_width=hw,
                  point_spacing=DEFAULT_POINT_SPACING if p.point_spacing is None
                  else p.point_spacing,
                  points_from=p.points_from, mask_from=p.mask_from,
                  source="config rois").validate()
