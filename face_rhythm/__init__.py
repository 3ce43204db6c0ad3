"""face-rhythm: rhythmic facial motifs from rodent face videos.

The library holds the science as small functions (tracking, spectra, decomposition,
alignment); the Snakemake workflow in ``workflow/`` and the notebook classes are two doors
onto the same code.

``import face_rhythm as fr`` is fast: the submodules (``fr.util``, ``fr.helpers``,
``fr.project``, ``fr.point_tracking``, ...) are imported on first attribute access, so
torch, OpenCV and matplotlib load only when something needs them.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("face-rhythm")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

#: Submodules reachable as attributes (imported lazily): the original package's documented
#: modules first, then this package's own.
_SUBMODULES = (
    # documented modules of the original package
    "alignment", "alignment_multisession", "data_importing", "decomposition", "h5_handling",
    "helpers", "pipelines", "point_tracking", "project", "rois", "spectral_analysis", "util",
    "visualization",
    # this package's packages and shared modules
    "atomic", "cli", "devices", "errors", "nwb", "params", "phase_correlation", "preflight",
    "provenance", "registration", "remote", "roi_server", "roma", "runlog", "synthetic",
    "video", "warps",
)

# The submodules stay out of __all__: ``from face_rhythm import *`` must not import them all.
__all__ = ["__version__"]


def __getattr__(name: str):
    """Import a submodule on first access (``fr.util`` runs ``import face_rhythm.util``)."""
    if name in _SUBMODULES:
        module = import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBMODULES))
