"""The NWB file's descriptive metadata (config ``outputs.nwb_metadata``).

:class:`SessionMetadata` is the only place its defaults live; the schema's defaults are tested
equal to them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from face_rhythm.visualization.params import from_section

__all__ = ["SessionMetadata"]


@dataclasses.dataclass
class SessionMetadata:
    """Descriptive metadata of the NWB file (all optional; DANDI wants subject and species).

    Attributes
    ----------
    session_description, experimenter, institution, lab, experiment_description : str
    keywords : list of str
    subject_id, species, sex, age : str
        ``species`` as a Latin binomial (``"Mus musculus"``), ``age`` ISO 8601 (``"P90D"``),
        ``sex`` one of ``M``, ``F``, ``U``, ``O``. Defaults: subject_id = session id,
        sex ``"U"`` (unknown), age ``"P0D/"`` (unknown: zero days or older).
    session_start_time : str or datetime, optional
        ISO 8601 with time zone; default: first video's modification time.
    """

    session_description: str | None = None
    experimenter: list[str] | None = None
    institution: str | None = None
    lab: str | None = None
    experiment_description: str | None = None
    keywords: list[str] | None = None
    subject_id: str | None = None
    species: str | None = None
    sex: str | None = None
    age: str | None = None
    session_start_time: Any = None

    @classmethod
    def from_config(cls, mapping: Mapping[str, Any] | SessionMetadata | None) -> SessionMetadata:
        """Build from the ``outputs.nwb_metadata`` section; an unknown key is a
        ``ConfigError`` naming it. A single ``experimenter`` string becomes a list."""
        if isinstance(mapping, Mapping) and isinstance(mapping.get("experimenter"), str):
            mapping = {**mapping, "experimenter": [mapping["experimenter"]]}
        return from_section(cls, mapping, "outputs.nwb_metadata", "NWB metadata key")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> SessionMetadata:
        """Build from a config dict (same as :meth:`from_config`)."""
        return cls.from_config(d)
