"""The one device resolver: which torch device a stage runs on.

``"auto"`` means CUDA when torch sees a GPU, else the CPU; an explicit CUDA request on a
machine without CUDA is an error (one line, naming the config key) rather than a silent
fall-back, so a cluster job that was meant for a GPU node does not quietly run on a CPU.
torch is imported only when a CUDA device is asked about.
"""

from __future__ import annotations

from .errors import ConfigError, FaceRhythmError

__all__ = ["resolve_device"]


def _cuda_available() -> bool:
    import torch  # lazy: the CPU-only paths need not import torch

    return bool(torch.cuda.is_available())


def resolve_device(device: object = "auto", *, key: str = "device",
                   error: type[FaceRhythmError] = ConfigError) -> str:
    """The device name to run on: ``"cpu"``, ``"cuda"`` or ``"cuda:<i>"``.

    Parameters
    ----------
    device : str or torch.device, optional
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:<i>"``; ``None`` or ``""`` mean ``"cpu"``.
    key : str, optional
        The config key the value came from, for the error message (e.g. ``"vqt.device"``).
    error : type, optional
        The :class:`~face_rhythm.errors.FaceRhythmError` subclass to raise.

    Returns
    -------
    str
        A canonical device name that ``torch.device`` accepts.

    Raises
    ------
    FaceRhythmError
        An unknown device, or CUDA requested where torch sees none.
    """
    name = "cpu" if device in (None, "") else str(device).strip().lower()
    if name == "auto":
        return "cuda" if _cuda_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not _cuda_available():
            raise error(f"{key}={device!r} but CUDA is not available here (use 'cpu' or 'auto')")
        return name
    raise error(f"{key}={device!r}: expected 'auto', 'cpu', 'cuda' or 'cuda:<index>'")
