"""Saving figures and images into a project's ``visualizations/`` folder (or any folder).

:class:`Figure_Saver` writes matplotlib figures (``savefig``), :class:`Image_Saver` numpy
images and animated GIFs through PIL. Each file is written atomically (temp file, then
rename); an existing file is kept, with a warning, unless ``overwrite``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from face_rhythm.atomic import atomic_path
from face_rhythm.errors import ConfigError, VisualizationError

from .fr_module import load_config_file

logger = logging.getLogger(__name__)

__all__ = ["Figure_Saver", "Image_Saver", "Saver_Viz_Base", "to_uint8_image"]


def _formats(formats: str | Sequence[str]) -> list[str]:
    out = [formats] if isinstance(formats, str) else list(formats)
    return [f.lower().lstrip(".") for f in out]


class Saver_Viz_Base:
    """Where and how visualizations are saved (base of :class:`Figure_Saver`, :class:`Image_Saver`).

    Parameters
    ----------
    path_config : path-like, optional
        The project's config.yaml; files go to ``<paths: project>/visualizations``.
    dir_save : path-like, optional
        Folder for the files; used instead of ``path_config``'s folder when given. One of
        the two is required. The folder is created if missing.
    formats_save : list of str
        File formats (extensions without the dot).
    kwargs_method : dict
        Keyword arguments of the saving method of the subclass.
    overwrite : bool
        Replace existing files (otherwise they are kept, with a warning).
    verbose : int
        0 silent, 1 warnings, 2 also info (logged).

    Attributes
    ----------
    path_config, dir_save, formats_save, kwargs_method, overwrite, verbose
        As given; ``dir_save`` is the resolved folder (str).
    """

    def __init__(self, path_config: str | os.PathLike | None = None,
                 dir_save: str | os.PathLike | None = None,
                 formats_save: Sequence[str] = ("png",),
                 kwargs_method: dict[str, Any] | None = None, overwrite: bool = False,
                 verbose: int = 1) -> None:
        if dir_save is None:
            if path_config is None:
                raise ConfigError(f"{type(self).__name__}: give dir_save or path_config")
            paths = load_config_file(path_config).get("paths") or {}
            project = paths.get("project") or str(Path(path_config).parent)
            dir_save = Path(project) / "visualizations"
        self.path_config = None if path_config is None else str(path_config)
        self.dir_save = str(dir_save)
        self.formats_save = _formats(formats_save)
        self.kwargs_method = dict(kwargs_method or {})
        self.overwrite = bool(overwrite)
        self.verbose = int(verbose)

    def _targets(self, name_save: str, dir_save: str | os.PathLike | None,
                 formats: Sequence[str]) -> list[tuple[str, Path]]:
        """(format, path) pairs to write; existing files dropped unless ``overwrite``."""
        folder = Path(dir_save if dir_save is not None else self.dir_save)
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for fmt in formats:
            path = folder / f"{name_save}.{fmt}"
            if path.exists() and not self.overwrite:
                if self.verbose > 0:
                    logger.warning("%s exists; not overwritten (overwrite=False)", path)
                continue
            out.append((fmt, path))
        return out

    def _done(self, path: Path) -> None:
        if self.verbose > 1:
            logger.info("saved %s", path)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(dir_save={self.dir_save!r}, "
                f"formats_save={self.formats_save!r}, overwrite={self.overwrite})")


class Figure_Saver(Saver_Viz_Base):
    """Save matplotlib figures in one or more formats.

    Parameters
    ----------
    path_config, dir_save, formats_save, overwrite, verbose
        See :class:`Saver_Viz_Base`; formats such as ``'png'``, ``'svg'``, ``'eps'``,
        ``'pdf'``.
    kwargs_savefig : dict
        Keyword arguments of ``matplotlib.figure.Figure.savefig``.

    Attributes
    ----------
    kwargs_savefig : dict
    """

    def __init__(self, path_config: str | os.PathLike | None = None,
                 dir_save: str | os.PathLike | None = None,
                 formats_save: Sequence[str] = ("png",),
                 kwargs_savefig: dict[str, Any] | None = None, overwrite: bool = False,
                 verbose: int = 1) -> None:
        if kwargs_savefig is None:
            kwargs_savefig = {"bbox_inches": "tight", "pad_inches": 0.1, "transparent": True,
                              "dpi": 300}
        super().__init__(path_config=path_config, dir_save=dir_save, formats_save=formats_save,
                         kwargs_method=kwargs_savefig, overwrite=overwrite, verbose=verbose)
        self.kwargs_savefig = self.kwargs_method

    def save_figure(self, fig, name_save: str | None = None,
                    dir_save: str | os.PathLike | None = None,
                    formats_save: str | Sequence[str] | None = None,
                    kwargs_savefig: dict[str, Any] | None = None) -> list[str]:
        """Save one figure as ``<dir_save>/<name_save>.<format>`` for each format.

        Parameters
        ----------
        fig : matplotlib.figure.Figure
        name_save : str, optional
            File name without extension; default: the figure's label (``'figure'`` if none).
        dir_save : path-like, optional
            Default: the instance's folder.
        formats_save : str or list of str, optional
            Default: the instance's formats.
        kwargs_savefig : dict, optional
            Default: the instance's ``kwargs_savefig``.

        Returns
        -------
        paths : list of str
            The files written.
        """
        name = name_save if name_save is not None else (fig.get_label() or "figure")
        kwargs = self.kwargs_savefig if kwargs_savefig is None else kwargs_savefig
        written = []
        for fmt, path in self._targets(name, dir_save, _formats(formats_save or
                                                                 self.formats_save)):
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, **kwargs)
            self._done(path)
            written.append(str(path))
        return written

    __call__ = save_figure


def to_uint8_image(array_image: Any, what: str = "array_image") -> np.ndarray:
    """An image as uint8 ``(H, W)`` or ``(H, W, 3)``.

    Floats must lie in [0, 1] (scaled by 255, rounded); integers in [0, 255]; booleans give
    0 / 255. ``(H, W, 1)`` is squeezed to ``(H, W)``; torch tensors are moved to numpy.
    """
    if hasattr(array_image, "detach") and hasattr(array_image, "cpu"):
        array_image = array_image.detach().cpu().numpy()
    arr = np.asarray(array_image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise VisualizationError(f"{what}: shape {arr.shape}; expected (H, W) or (H, W, 3)")
    if arr.dtype == bool:
        return arr.astype(np.uint8) * np.uint8(255)
    if arr.dtype.kind == "f":
        if arr.size and (np.nanmin(arr) < 0 or np.nanmax(arr) > 1):
            raise VisualizationError(f"{what}: float values must lie in [0, 1] (found "
                                     f"{np.nanmin(arr):g}..{np.nanmax(arr):g})")
        return np.round(np.nan_to_num(arr) * 255).astype(np.uint8)
    if arr.dtype.kind in "iu":
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise VisualizationError(f"{what}: integer values must lie in [0, 255] (found "
                                     f"{arr.min()}..{arr.max()})")
        return arr.astype(np.uint8)
    raise VisualizationError(f"{what}: dtype {arr.dtype} is not an image type")


def _pil_format(fmt: str) -> str:
    from PIL import Image

    name = Image.registered_extensions().get("." + fmt)
    if name is None:
        raise VisualizationError(f"formats_save: PIL cannot write '{fmt}' files")
    return name


class Image_Saver(Saver_Viz_Base):
    """Save numpy images (PNG, JPEG, TIFF, ...) and animated GIFs with PIL.

    Parameters
    ----------
    path_config, dir_save, formats_save, overwrite, verbose
        See :class:`Saver_Viz_Base`; formats such as ``'png'``, ``'jpg'``, ``'tif'``.
    kwargs_PIL_save : dict
        Keyword arguments of ``PIL.Image.Image.save``.

    Attributes
    ----------
    kwargs_PIL_save : dict
    """

    def __init__(self, path_config: str | os.PathLike | None = None,
                 dir_save: str | os.PathLike | None = None,
                 formats_save: Sequence[str] = ("png",),
                 kwargs_PIL_save: dict[str, Any] | None = None, overwrite: bool = False,
                 verbose: int = 1) -> None:
        super().__init__(path_config=path_config, dir_save=dir_save, formats_save=formats_save,
                         kwargs_method=kwargs_PIL_save, overwrite=overwrite, verbose=verbose)
        self.kwargs_PIL_save = self.kwargs_method

    def save_image(self, array_image, name_save: str | None = None,
                   dir_save: str | os.PathLike | None = None,
                   formats_save: str | Sequence[str] | None = None,
                   kwargs_PIL_save: dict[str, Any] | None = None) -> list[str]:
        """Save one image as ``<dir_save>/<name_save>.<format>`` for each format.

        Parameters
        ----------
        array_image : numpy.ndarray
            (H, W) or (H, W, C), C in {1, 3}: floats in [0, 1] or integers in [0, 255].
        name_save : str, optional
            File name without extension; default ``'image'``.
        dir_save : path-like, optional
            Default: the instance's folder.
        formats_save : str or list of str, optional
            Default: the instance's formats.
        kwargs_PIL_save : dict, optional
            Default: the instance's ``kwargs_PIL_save``.

        Returns
        -------
        paths : list of str
            The files written.
        """
        from PIL import Image

        img = Image.fromarray(to_uint8_image(array_image))
        kwargs = self.kwargs_PIL_save if kwargs_PIL_save is None else kwargs_PIL_save
        written = []
        for fmt, path in self._targets(name_save or "image", dir_save,
                                       _formats(formats_save or self.formats_save)):
            pil_format = _pil_format(fmt)
            with atomic_path(path) as tmp:
                out = img.convert("RGB") if pil_format == "JPEG" and img.mode == "RGBA" else img
                out.save(tmp, format=pil_format, **kwargs)
            self._done(path)
            written.append(str(path))
        return written

    def save_gif(self, array_images, name_save: str | None = None,
                 dir_save: str | os.PathLike | None = None, frame_rate: float = 5.0,
                 loop: int | bool = True, optimize: bool = True,
                 kwargs_PIL_save: dict[str, Any] | None = None) -> str | None:
        """Save a sequence of frames as an animated GIF, ``<dir_save>/<name_save>.gif``.

        Parameters
        ----------
        array_images : sequence of numpy.ndarray or numpy.ndarray
            Frames (H, W) or (H, W, C), C in {1, 3}, or one (T, H, W[, C]) array.
        name_save : str, optional
            File name without extension; default ``'image'``.
        dir_save : path-like, optional
            Default: the instance's folder.
        frame_rate : float
            Playback rate in frames per second (each frame lasts 1000 / frame_rate ms).
        loop : int or bool
            True: loop forever; False: play once; an int n: loop n times.
        optimize : bool
            PIL's GIF size optimisation.
        kwargs_PIL_save : dict, optional
            More keyword arguments of ``PIL.Image.Image.save``; default: the instance's.

        Returns
        -------
        path : str or None
            The file written (None if it existed and ``overwrite`` is False).
        """
        from PIL import Image

        if frame_rate is None or not frame_rate > 0:
            raise VisualizationError(f"frame_rate: {frame_rate}; must be > 0 frames/s")
        frames = [Image.fromarray(to_uint8_image(f, f"array_images[{i}]"))
                  for i, f in enumerate(array_images)]
        if not frames:
            raise VisualizationError("array_images: no frames")
        kwargs = dict(self.kwargs_PIL_save if kwargs_PIL_save is None else kwargs_PIL_save)
        if loop is True:
            kwargs.setdefault("loop", 0)
        elif loop is not False and loop is not None:
            kwargs.setdefault("loop", int(loop))
        targets = self._targets(name_save or "image", dir_save, ["gif"])
        if not targets:
            return None
        path = targets[0][1]
        with atomic_path(path) as tmp:
            frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                           duration=1000.0 / float(frame_rate), optimize=optimize, **kwargs)
        self._done(path)
        return str(path)
