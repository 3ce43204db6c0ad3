"""Colour maps of the original package's helpers: :func:`simple_cmap`, :class:`Cmap_conjunctive`,
:class:`Colorwheel` (angle + magnitude -> colour) and :func:`complex_colormap`.

Colours here are RGB. matplotlib is imported only when a matplotlib colormap is built or a
figure drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import VisualizationError

__all__ = ["Cmap_conjunctive", "Colorwheel", "complex_colormap", "simple_cmap"]

_RAINBOW_12 = [[1, 0, 0], [1, 0.6, 0], [0.9, 0.9, 0], [0.6, 1, 0], [0, 1, 0], [0, 1, 0.6],
               [0, 0.8, 0.8], [0, 0.6, 1], [0, 0, 1], [0.6, 0, 1], [0.8, 0, 0.8], [1, 0, 0.6]]
_WHEEL_12 = [[1, 0, 0], [1, 0.5, 0], [1, 1, 0], [0.5, 1, 0], [0, 1, 0], [0, 1, 0.5],
             [0, 1, 1], [0, 0.5, 1], [0, 0, 1], [0.5, 0, 1], [1, 0, 1], [1, 0, 0.5]]


def simple_cmap(colors: Sequence[Any] = tuple(_RAINBOW_12), under: Any = (0, 0, 0),
                over: Any = (0.5, 0.5, 0.5), bad: Any = (0.9, 0.9, 0.9), name: str = "none"):
    """A ``matplotlib.colors.LinearSegmentedColormap`` through ``colors``, evenly spaced.

    Parameters
    ----------
    colors : sequence
        At least two RGB triples in [0, 1] or matplotlib colour names (``'w'``, ``'r'``);
        ``colors[0]`` sits at 0.0, ``colors[-1]`` at 1.0, the others evenly between.
    under, over, bad : colour
        Colours for values below 0, above 1, and masked / NaN values.
    name : str
        Name of the colormap.

    Returns
    -------
    matplotlib.colors.LinearSegmentedColormap
        ``cmap(x)`` -> RGBA in [0, 1]; e.g. ``simple_cmap(['w', 'r'])`` goes white to red.
    """
    from matplotlib.colors import LinearSegmentedColormap, to_rgb

    colors = list(colors)
    if len(colors) < 2:
        raise VisualizationError(f"simple_cmap needs at least two colours, got {len(colors)}")
    try:
        rgb = [to_rgb(c) for c in colors]
    except ValueError as exc:
        raise VisualizationError(f"simple_cmap: {exc}") from None
    return LinearSegmentedColormap.from_list(name, rgb).with_extremes(under=under, over=over,
                                                                      bad=bad)


class Cmap_conjunctive:
    """Several colormaps combined by multiplying their RGBA outputs, one input column each.

    Parameters
    ----------
    cmaps : list of matplotlib colormaps
        One colormap per input column.
    dtype_out : dtype
        Dtype of the returned colours (default int).
    normalize : bool
        Min-max normalise each input column to [0, 1] before applying its colormap.
    normalization_range : [lo, hi]
        The product (in [0, 1]) is mapped linearly onto ``[lo, hi]`` (default [0, 255]).
    name : str
        Name of the combined colormap.

    Attributes
    ----------
    cmaps : list
    n_cmaps : int
    fn_conj_cmap : callable
        ``(n_samples, n_cmaps)`` -> ``(n_samples, 4)`` product of the colormaps' RGBA in [0, 1].
    """

    def __init__(self, cmaps: Sequence[Any], dtype_out: Any = int, normalize: bool = False,
                 normalization_range: Sequence[float] = (0, 255),
                 name: str = "cmap_conjunctive") -> None:
        self.cmaps = list(cmaps)
        if not self.cmaps or not all(callable(c) for c in self.cmaps):
            raise VisualizationError("Cmap_conjunctive needs a list of colormaps")
        self.dtype_out = dtype_out
        self.normalize = bool(normalize)
        self.normalization_range = [float(v) for v in normalization_range]
        self.name = name
        self.n_cmaps = len(self.cmaps)
        self.fn_conj_cmap: Callable[[np.ndarray], np.ndarray] = lambda x: np.prod(
            np.stack([np.asarray(c(col)) for c, col in zip(self.cmaps, x.T)]), axis=0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Colours of ``x`` ``(n_samples, n_cmaps)`` (a 1-D ``x`` is one sample) ->
        ``(n_samples, 4)`` RGBA in ``normalization_range``, dtype ``dtype_out``."""
        x = np.asarray(x, dtype=np.float64)
        x = x[None, :] if x.ndim == 1 else x
        if x.ndim != 2 or x.shape[1] != self.n_cmaps:
            raise VisualizationError(f"Cmap_conjunctive: x must be (n_samples, {self.n_cmaps}), "
                                     f"got {x.shape}")
        if self.normalize:
            lo, hi = x.min(axis=0, keepdims=True), x.max(axis=0, keepdims=True)
            x = (x - lo) / np.where(hi > lo, hi - lo, 1.0)
        lo, hi = self.normalization_range
        return (self.fn_conj_cmap(x) * (hi - lo) + lo).astype(self.dtype_out)


class Colorwheel:
    """A cyclic 2-D colormap: the angle picks the hue, the magnitude the distance from the centre.

    The base ``colors`` sit evenly around the wheel (``colors[k]`` at angle
    ``rotation + 2 pi k / n``, counter-clockwise). Each base colour has a wave
    ``cos(pi d / (2 step)) ** (2 * exponent / 10)`` over the angular distance ``d < step`` to it
    (0 beyond), so at a base angle the colour is exactly that base colour and between two base
    angles it blends their two colours (a larger ``exponent`` narrows the blend).

    Parameters
    ----------
    rotation : float
        Angle (radians) of ``colors[0]``.
    saturation : float
        In [0, 1]: 1 keeps the colours, 0 turns them to their gray level.
    center, radius : int
        Colour value at magnitude 0 (the centre) and scale of the colours at magnitude 1.
    dtype : dtype
        Output dtype (integers are rounded and clipped to their range).
    bit_depth : int
        The wheel is tabulated at ``2 ** bit_depth`` angles (:attr:`fn_interp`).
    exponent : float
        Sharpness of the transitions (10: smooth cosine blends).
    normalize : bool
        Divide the waves by their sum at each angle (uniform intensity around the wheel).
    colors : list of RGB triples
        Base colours in [0, 1] (default: 12-colour rainbow).

    Attributes
    ----------
    fn_interp : callable
        Angle (radians) -> per-base-colour weights ``(n_angles, n_colors)``.
    colors : np.ndarray
        ``(n_colors, 3)`` base colours.
    """

    def __init__(self, rotation: float = 0.0, saturation: float = 1.0, center: int = 0,
                 radius: int = 255, dtype: Any = np.uint8, bit_depth: int = 16,
                 exponent: float = 10, normalize: bool = True,
                 colors: Sequence[Sequence[float]] = tuple(_WHEEL_12)) -> None:
        self.colors = np.asarray(colors, dtype=np.float64)
        if self.colors.ndim != 2 or self.colors.shape[1] != 3 or len(self.colors) < 2:
            raise VisualizationError(f"Colorwheel colors must be (n >= 2, 3), got "
                                     f"{self.colors.shape}")
        if not 0 <= saturation <= 1:
            raise VisualizationError(f"Colorwheel saturation must be in [0, 1], got {saturation}")
        self.rotation, self.saturation = float(rotation), float(saturation)
        self.center, self.radius = center, radius
        self.dtype, self.bit_depth = np.dtype(dtype), int(bit_depth)
        self.exponent, self.normalize = float(exponent), bool(normalize)
        n = len(self.colors)
        step = 2 * np.pi / n
        grid = np.linspace(0, 2 * np.pi, 2 ** self.bit_depth + 1)
        d = np.abs((grid[:, None] - step * np.arange(n)[None, :] + np.pi) % (2 * np.pi) - np.pi)
        waves = np.where(d < step, np.cos(np.pi * np.minimum(d, step) / (2 * step)), 0.0)
        waves = waves ** (2 * self.exponent / 10)
        if self.normalize:
            waves = waves / waves.sum(axis=1, keepdims=True)
        self._grid, self._waves = grid, waves

        def fn_interp(angles: np.ndarray) -> np.ndarray:
            a = (np.asarray(angles, dtype=np.float64).reshape(-1) - self.rotation) % (2 * np.pi)
            idx = np.clip(np.round(a / (2 * np.pi) * 2 ** self.bit_depth).astype(np.int64), 0,
                          2 ** self.bit_depth)
            return self._waves[idx]

        self.fn_interp = fn_interp

    def __call__(self, angles: Any, magnitudes: Any = None,
                 normalize_magnitudes: bool = False) -> np.ndarray:
        """Colours of ``angles`` (radians) at ``magnitudes`` in [0, 1] (default 1) ->
        ``(n, 3)`` RGB of :attr:`dtype`; ``normalize_magnitudes`` min-max scales them first."""
        angles = np.asarray(angles, dtype=np.float64).reshape(-1)
        mags = np.ones_like(angles) if magnitudes is None else \
            np.asarray(magnitudes, dtype=np.float64).reshape(-1)
        if mags.shape != angles.shape:
            raise VisualizationError(f"Colorwheel: {mags.size} magnitudes for {angles.size} "
                                     "angles")
        if normalize_magnitudes and mags.size:
            span = mags.max() - mags.min()
            mags = (mags - mags.min()) / (span if span > 0 else 1.0)
        mags = np.clip(mags, 0, 1)[:, None]
        rgb = self.fn_interp(angles) @ self.colors
        gray = rgb.mean(axis=1, keepdims=True)
        rgb = self.saturation * rgb + (1 - self.saturation) * gray
        out = mags * (rgb * self.radius) + (1 - mags) * self.center
        if np.issubdtype(self.dtype, np.integer):
            info = np.iinfo(self.dtype)
            out = np.clip(np.round(out), info.min, info.max)
        return out.astype(self.dtype)

    def image(self, n_samples: int = 100000) -> np.ndarray:
        """The wheel as an ``(L, L, 3)`` image, ``L = ceil(sqrt(n_samples))``; x right, y up
        (angle 0 at the right edge), outside the unit circle set to ``center``."""
        side = int(np.ceil(np.sqrt(n_samples)))
        x, y = np.meshgrid(np.linspace(-1, 1, side), np.linspace(1, -1, side), indexing="xy")
        mag = np.hypot(x, y)
        im = self(np.arctan2(y, x), np.clip(mag, 0, 1)).reshape(side, side, 3)
        im[mag > 1] = np.asarray(self.center).astype(self.dtype)
        return im

    def plot_colorwheel(self, n_samples: int = 100000):
        """Show the wheel (:meth:`image`) and the base colours' weights against angle.

        Returns the ``matplotlib.figure.Figure`` (displayed inline in notebooks).
        """
        from .figures import plot_colorwheel_figure

        angles = np.linspace(0, 2 * np.pi, 361)
        return plot_colorwheel_figure(self.image(n_samples), angles, self.fn_interp(angles),
                                      self.colors)


def complex_colormap(mags: np.ndarray, angles: np.ndarray, normalize_mags: bool = True,
                     color_sin: tuple[int, int, int] = (255, 0, 0),
                     color_cos: tuple[int, int, int] = (0, 0, 255)) -> np.ndarray:
    """RGB for complex values: ``(sin(angle) color_sin + cos(angle) color_cos) * magnitude``.

    Parameters
    ----------
    mags : np.ndarray
        Magnitudes (any shape, same as ``angles``).
    angles : np.ndarray
        Angles in radians.
    normalize_mags : bool
        Min-max normalise the magnitudes to [0, 1] first (else they are clipped to [0, 1]).
    color_sin, color_cos : (r, g, b)
        Colours contributed in proportion to the sine and the cosine of the angle.

    Returns
    -------
    np.ndarray
        ``(mags.size, 3)`` float64 RGB (negative where sine or cosine is negative).
    """
    mags = np.asarray(mags, dtype=np.float64)
    angles = np.asarray(angles, dtype=np.float64)
    if mags.shape != angles.shape:
        raise VisualizationError(f"complex_colormap: mags {mags.shape} and angles "
                                 f"{angles.shape} differ in shape")
    m = mags.reshape(-1)
    if normalize_mags and m.size:
        span = m.max() - m.min()
        m = (m - m.min()) / (span if span > 0 else 1.0)
    m = np.clip(m, 0, 1)
    a = angles.reshape(-1)
    rgb = (np.sin(a)[:, None] * np.asarray(color_sin, np.float64)[None, :]
           + np.cos(a)[:, None] * np.asarray(color_cos, np.float64)[None, :])
    return rgb * m[:, None]
