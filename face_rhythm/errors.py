"""The one error family of face-rhythm.

Every error a user can cause (a bad video, a bad config value, an ROI outside the frame)
raises a subclass of :class:`FaceRhythmError`, whose message is one line naming the file or
key and the problem. ``FaceRhythmError`` is a ``ValueError``, so code written against the
original package's ``ValueError`` keeps working. A traceback that is not one of these is a
bug.

=========================  ==========================================================
class                      raised for
=========================  ==========================================================
``ConfigError``            an unknown key or impossible value in a config section
``PreflightError``         every problem the check of a run's inputs found (one per line)
``VideoError``             a video that cannot be used (missing, corrupt, too short)
``RemoteVideoError``       an ``sftp://`` video that cannot be reached
``RoiError``               a polygon, mask, ROI file or point grid that cannot be used
``TrackingError``          tracking parameters or inputs
``SpectralParamsError``    VQT parameters against the data (window, Nyquist, device)
``TCAError``               decomposition parameters or inputs
``RegistrationError``      images, warps or options of a registration
``AlignmentParamsError``   reference-frame and session-alignment parameters
``VisualizationError``     an image, colour, point array or frame range that cannot be drawn
``NWBExportError``         a session's outputs that do not fit into one NWB file
``ParamsKeyError``         a params key the defaults lack (``helpers.prepare_params``)
``PathNotFoundError``      a file or folder that must exist (also a ``FileNotFoundError``)
``PathExistsError``        a file that may not be overwritten (also a ``FileExistsError``)
``DownloadError``          a download that failed or whose hash differs
``NotEquivalentError``     ``Equivalence_checker(assert_mode=True)`` found a difference
``DeviceError``            a GPU or its driver library that is not there
=========================  ==========================================================
"""

from __future__ import annotations

import os

__all__ = [
    "AlignmentParamsError",
    "ConfigError",
    "DeviceError",
    "DownloadError",
    "FaceRhythmError",
    "NWBExportError",
    "NotEquivalentError",
    "ParamsKeyError",
    "PathExistsError",
    "PathNotFoundError",
    "PreflightError",
    "RegistrationError",
    "RemoteVideoError",
    "RoiError",
    "SpectralParamsError",
    "TCAError",
    "TrackingError",
    "VideoError",
    "VisualizationError",
]


class FaceRhythmError(ValueError):
    """Root of every error a user's input can cause; the message is one line."""


class ConfigError(FaceRhythmError):
    """A config section with an unknown key or an impossible value."""


class PreflightError(ConfigError):
    """Every problem the check of a run's inputs found (:mod:`face_rhythm.preflight`).

    Parameters
    ----------
    problems : sequence of str
        One line each, naming the file (and row, column or config key) and what to change.
    what : str
        What was checked, e.g. ``"session s1"``.
    """

    def __init__(self, problems, what: str = "the run's inputs") -> None:
        self.problems = [str(p) for p in problems]
        n = len(self.problems)
        super().__init__("\n".join(self.problems)
                         + f"\n({what}: {n} problem(s) found before any work started; "
                         "fix them and run again)")


class VideoError(FaceRhythmError):
    """A video that cannot be used; the message is ``"<path>: <problem>"``.

    Parameters
    ----------
    path : path-like or str
        The video (file path or URL). With ``problem=None`` it is taken as the whole message.
    problem : str, optional
        What is wrong, one line.
    """

    def __init__(self, path: str | os.PathLike, problem: str | None = None) -> None:
        self.path = None if problem is None else str(path)
        self.problem = str(path) if problem is None else problem
        super().__init__(self.problem if problem is None else f"{path}: {problem}")


class RemoteVideoError(VideoError, RuntimeError):
    """An ``sftp://`` video that cannot be reached or read (network, credentials, ffmpeg)."""


class RoiError(FaceRhythmError):
    """A polygon, mask, ROI file or grid of points that cannot be used."""


class TrackingError(FaceRhythmError):
    """Bad tracking parameter or input."""


class SpectralParamsError(FaceRhythmError):
    """Bad VQT / spectrogram parameter (or one that does not fit the data)."""


class TCAError(FaceRhythmError):
    """Bad decomposition parameter or input."""


class RegistrationError(FaceRhythmError):
    """Bad input to a registration function (shape, dtype, unknown option)."""


class AlignmentParamsError(FaceRhythmError):
    """Bad reference-frame or session-alignment parameter."""


class VisualizationError(FaceRhythmError):
    """An image, colour, point array, figure path or frame range that cannot be drawn."""


class NWBExportError(FaceRhythmError):
    """Outputs of a session that do not fit together (shapes, videos, frequencies, paths)."""


# --- shared helpers (files, dicts, arrays, devices; the reference's face_rhythm.helpers) ---
class ParamsKeyError(ConfigError, AssertionError):
    """A params dict with a key its defaults lack (the reference raised AssertionError)."""


class PathNotFoundError(FaceRhythmError, FileNotFoundError):
    """A file or folder that must exist and does not; the message names the path."""


class PathExistsError(FaceRhythmError, FileExistsError):
    """A file or folder that exists where it may not be overwritten; names the path."""


class DownloadError(FaceRhythmError, OSError):
    """A download that failed or whose hash does not match; names the URL or file."""


class NotEquivalentError(FaceRhythmError, AssertionError):
    """Two structures that ``Equivalence_checker(assert_mode=True)`` found different."""


class DeviceError(FaceRhythmError, RuntimeError):
    """A device (GPU, its driver library) that was asked for and is not there."""
