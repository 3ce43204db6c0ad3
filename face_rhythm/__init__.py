"""face-rhythm: rhythmic facial motifs from rodent face videos.

The library holds the science as small functions (tracking, spectra, decomposition,
alignment); the Snakemake workflow in ``workflow/`` and the notebook classes are two doors
onto the same code.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("face-rhythm")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
