"""Parameters of the outputs people look at: the ``outputs`` config section.

:class:`OverlayParams` (``outputs.overlay``) says how an overlay video looks;
:class:`OutputsParams` is the whole ``outputs`` section (which outputs to make, the contact
sheet, the NWB export's options). These dataclasses are the only place the defaults live; the
schema's defaults (``workflow/schemas/config.schema.yaml``) are tested equal to them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from face_rhythm.errors import ConfigError
from face_rhythm.params import check_keys, from_mapping

from .style import TRACKED_COLOR, VIOLATION_COLOR

__all__ = ["OutputsParams", "OverlayParams", "from_section"]

T = TypeVar("T")


def from_section(cls: type[T], mapping: Mapping[str, Any] | T | None, section: str,
                 what: str) -> T:
    """:func:`face_rhythm.params.from_mapping`, with an unknown key reported as
    ``"unknown <what>: <section>: unknown key ..."`` (the original's wording, kept).

    Parameters
    ----------
    cls : dataclass type
    mapping : mapping, instance of ``cls`` or None
    section : str
        Config section, e.g. ``"outputs.overlay"``.
    what : str
        What a key of the section is, e.g. ``"overlay parameter"``.
    """
    if isinstance(mapping, Mapping):
        fields = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
        try:
            check_keys(mapping, fields, section)
        except ConfigError as exc:
            raise ConfigError(f"unknown {what}: {exc}") from None
    return from_mapping(cls, mapping, section)


@dataclasses.dataclass
class OverlayParams:
    """How an overlay video looks (config ``outputs.overlay``).

    Attributes
    ----------
    width, height : int or None
        Output frame size in pixels. One of them alone keeps the aspect ratio; neither keeps
        the source size. Width and height are rounded to even numbers (codecs like them even).
    frame_rate : float or None
        Frame rate of the written file in Hz (None: the source frame rate). A different value
        plays the video slower or faster; it never drops frames (use ``step`` for that).
    start, stop, step : int
        Frames ``range(start, stop, step)`` of the source are drawn (``stop`` None: to the end).
    point_radius : int or None
        Radius of the drawn points in output pixels (None: ``max(1, round(width / 200))``,
        1 px for a 160-px-wide video, 4 px for 782 px).
    color, violation_color : tuple or str
        RGB colours of tracked points and of points flagged as violations in that frame.
    alpha : float
        Opacity of the points.
    show_text : bool
        Draw "frame i  t = s" at the top left.
    fourcc : str
        Preferred codec (``mp4v`` in ``.mp4``); MJPG in ``.avi`` is the fallback.
    chunk_size : int
        Frames decoded per chunk.
    """

    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    start: int = 0
    stop: int | None = None
    step: int = 1
    point_radius: int | None = None
    color: Any = TRACKED_COLOR
    violation_color: Any = VIOLATION_COLOR
    alpha: float = 1.0
    show_text: bool = True
    fourcc: str = "mp4v"
    chunk_size: int = 64

    @classmethod
    def from_config(cls, mapping: Mapping[str, Any] | OverlayParams | None) -> OverlayParams:
        """Build from the ``outputs.overlay`` section; an unknown key is a ``ConfigError``."""
        return from_section(cls, mapping, "outputs.overlay", "overlay parameter")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> OverlayParams:
        """Build from a config dict, rejecting unknown keys (same as :meth:`from_config`)."""
        return cls.from_config(d)

    def radius(self, out_width: int) -> int:
        """Point radius in output pixels for an output ``out_width`` pixels wide."""
        if self.point_radius is not None:
            return int(self.point_radius)
        return max(1, round(out_width / 200))

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Output (height, width) for a source of ``height`` x ``width`` pixels."""
        if self.width and self.height:
            h, w = self.height, self.width
        elif self.width:
            w, h = self.width, self.width * height / width
        elif self.height:
            h, w = self.height, self.height * width / height
        else:
            h, w = height, width
        return max(2, round(h / 2) * 2), max(2, round(w / 2) * 2)


@dataclasses.dataclass(frozen=True)
class OutputsParams:
    """The ``outputs`` config section.

    Attributes
    ----------
    overlay_video : bool
        Write an overlay video, a contact sheet and a tracking figure per video.
    overlay_in_report : bool
        Embed the overlay videos in the HTML report.
    contact_sheet_frames : int
        Frames shown on a contact sheet.
    overlay : OverlayParams
        How the overlay videos look.
    nwb : bool
        Write one NWB file per session.
    nwb_spectrograms : bool
        Store the full spectrograms in the NWB file (large).
    nwb_metadata : dict
        The NWB file's descriptive metadata (checked by
        :meth:`face_rhythm.nwb.SessionMetadata.from_dict`).
    """

    overlay_video: bool = True
    overlay_in_report: bool = False
    contact_sheet_frames: int = 6
    overlay: OverlayParams = dataclasses.field(default_factory=OverlayParams)
    nwb: bool = False
    nwb_spectrograms: bool = False
    nwb_metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_config(cls, mapping: Mapping[str, Any] | OutputsParams | None) -> OutputsParams:
        """Build from the ``outputs`` section; an unknown key is a ``ConfigError``."""
        if isinstance(mapping, Mapping) and "overlay" in mapping:
            mapping = {**mapping, "overlay": OverlayParams.from_config(mapping["overlay"])}
        return from_mapping(cls, mapping, "outputs")
