"""Small signal helpers of the original's ``face_rhythm.helpers``: 2D convolution as a sparse
matrix, a radial cosine kernel, phase-shifted test waves.

:class:`Toeplitz_convolution2d` builds the doubly-blocked Toeplitz matrix of a 2D kernel from
``scipy.linalg.convolution_matrix`` (one block per kernel row) with ``scipy.sparse.kron``, so
one sparse product convolves a whole batch of (possibly sparse) images. Its results equal
``scipy.signal.convolve2d`` for the modes ``full``, ``same`` and ``valid``.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse

from face_rhythm.errors import FaceRhythmError

__all__ = ["Toeplitz_convolution2d", "cosine_kernel_2D", "generate_multiphasic_sinewave"]

_MODES = ("full", "same", "valid")


class Toeplitz_convolution2d:
    """Convolve 2D arrays with a fixed 2D kernel by one sparse matrix product.

    Best when the images are sparse, small (< 1000 x 1000), the kernel small (< 100 x 100)
    and there are many images: the matrix is built once and kept sparse (CSR).

    Parameters
    ----------
    x_shape : (int, int)
        Shape ``(H, W)`` of the arrays to convolve.
    k : (kh, kw) ndarray
        Kernel (dense).
    mode : {"full", "same", "valid"}
        As ``scipy.signal.convolve2d``: ``(H + kh - 1, W + kw - 1)``, ``(H, W)`` or
        ``(H - kh + 1, W - kw + 1)`` outputs (``valid`` needs ``H >= kh`` and ``W >= kw``).
    dtype : numpy dtype, optional
        Of the matrix; default ``k.dtype``.

    Attributes
    ----------
    k : (kh, kw) ndarray
        Copy of the kernel flipped upside down (the original's attribute).
    mode : str
    x_shape : (int, int)
    dtype : numpy dtype
    so : (int, int)
        Full output shape ``(H + kh - 1, W + kw - 1)`` before cropping.
    dt : scipy.sparse.csr_matrix
        ``(so[0] * so[1], H * W)`` matrix: ``dt @ x.ravel()`` is the full convolution,
        raveled (C order).

    Examples
    --------
    >>> conv = Toeplitz_convolution2d(x_shape=x.shape, k=kernel, mode='same')
    >>> y = conv(x, batching=False)
    """

    def __init__(self, x_shape, k, mode: str = "same", dtype=None):
        k = np.asarray(k)
        if k.ndim != 2 or min(k.shape) < 1:
            raise FaceRhythmError(f"Toeplitz_convolution2d: k must be a non-empty 2D array, "
                                  f"got shape {k.shape}")
        h, w = (int(s) for s in x_shape)
        if min(h, w) < 1:
            raise FaceRhythmError(f"Toeplitz_convolution2d: x_shape {tuple(x_shape)} must be "
                                  "two positive sizes")
        self._check_mode(mode, (h, w), k.shape)
        self.k = np.flipud(k).copy()
        self.mode = mode
        self.x_shape = (h, w)
        self.dtype = np.dtype(k.dtype if dtype is None else dtype)
        kh, kw = k.shape
        self.so = (h + kh - 1, w + kw - 1)
        # row i of the kernel convolves each image row into output row (r + i)
        blocks = []
        for i in range(kh):
            shift = scipy.sparse.eye(self.so[0], h, k=-i, dtype=self.dtype, format="csr")
            conv_row = scipy.linalg.convolution_matrix(k[i].astype(self.dtype), w, mode="full")
            blocks.append(scipy.sparse.kron(shift, scipy.sparse.csr_matrix(conv_row),
                                            format="csr"))
        self.dt = sum(blocks[1:], blocks[0]).tocsr()
        self.dt.eliminate_zeros()

    @staticmethod
    def _check_mode(mode, x_shape, k_shape) -> None:
        if mode not in _MODES:
            raise FaceRhythmError(f"Toeplitz_convolution2d: mode={mode!r} must be one of "
                                  f"{_MODES}")
        if mode == "valid" and (x_shape[0] < k_shape[0] or x_shape[1] < k_shape[1]):
            raise FaceRhythmError(f"Toeplitz_convolution2d: mode='valid' needs x_shape "
                                  f"{tuple(x_shape)} at least the kernel's {tuple(k_shape)}")

    def _crop(self, mode: str) -> tuple[slice, slice]:
        kh, kw = self.k.shape
        h, w = self.x_shape
        if mode == "full":
            return slice(0, self.so[0]), slice(0, self.so[1])
        if mode == "same":
            return (slice((kh - 1) // 2, (kh - 1) // 2 + h),
                    slice((kw - 1) // 2, (kw - 1) // 2 + w))
        return slice(kh - 1, h), slice(kw - 1, w)

    def __call__(self, x, batching: bool = True, mode: str | None = None):
        """Convolve one array or a batch of raveled arrays.

        Parameters
        ----------
        x : ndarray or scipy.sparse matrix
            ``batching=False``: one ``x_shape`` array. ``batching=True``: ``(n, H * W)``,
            each row a raveled (C order) array.
        batching : bool
        mode : {"full", "same", "valid"}, optional
            Overrides the mode given to the constructor.

        Returns
        -------
        ndarray or scipy.sparse.csr_matrix (sparse when ``x`` is sparse)
            ``batching=True``: ``(n, out_H * out_W)``; else ``(out_H, out_W)``.
        """
        mode = self.mode if mode is None else mode
        self._check_mode(mode, self.x_shape, self.k.shape)
        sparse = scipy.sparse.issparse(x)
        n_px = self.x_shape[0] * self.x_shape[1]
        if batching:
            if x.ndim != 2 or x.shape[1] != n_px:
                raise FaceRhythmError(f"Toeplitz_convolution2d: with batching, x must be "
                                      f"(n, {n_px}) (raveled {self.x_shape} arrays), got "
                                      f"{x.shape}")
            xv = x.T.tocsc() if sparse else np.asarray(x).T
        else:
            if tuple(x.shape) != self.x_shape:
                raise FaceRhythmError(f"Toeplitz_convolution2d: x has shape {x.shape}, "
                                      f"expected {self.x_shape}")
            xv = x.reshape((n_px, 1)).tocsc() if sparse else np.asarray(x).reshape(n_px, 1)
        out_v = self.dt @ xv
        rows, cols = self._crop(mode)
        keep = np.zeros(self.so, dtype=bool)
        keep[rows, cols] = True
        out = out_v[keep.ravel()]
        shape = (rows.stop - rows.start, cols.stop - cols.start)
        if batching:
            return out.T.tocsr() if sparse else np.ascontiguousarray(out.T)
        return out.reshape(shape).tocsr() if sparse else out.reshape(shape)


def cosine_kernel_2D(center=(5, 5), image_size=(11, 11), width: float = 5) -> np.ndarray:
    """Radial raised-cosine kernel: 1 at ``center``, 0 from ``width / 2`` away.

    ``k = (cos(pi * min(d / (width / 2), 1)) + 1) / 2`` with ``d`` the distance to
    ``center`` in samples.

    Parameters
    ----------
    center : (int, int)
        ``(x, y)`` peak position (x indexes axis 1, y axis 0), zero-indexed.
    image_size : (int, int)
        Output shape ``(image_size[0], image_size[1])``. A second size of 0 gives a 1D
        kernel of length ``image_size[0]`` peaking at ``center[0]``.
    width : float
        Full width of one cosine cycle, in samples.

    Returns
    -------
    ndarray, (image_size[0], image_size[1]) or (image_size[0],) float64
    """
    if width <= 0:
        raise FaceRhythmError(f"cosine_kernel_2D: width={width} must be > 0")
    if int(image_size[1]) == 0:
        dist = np.abs(np.arange(int(image_size[0])) - int(center[0])).astype(np.float64)
    else:
        y, x = np.mgrid[0:int(image_size[0]), 0:int(image_size[1])]
        dist = np.hypot(y - int(center[1]), x - int(center[0]))
    scaled = np.minimum(dist / (width / 2), 1.0) * np.pi
    return (np.cos(scaled) + 1) / 2


def generate_multiphasic_sinewave(n_samples: int = 10000, n_periods: float = 1.0,
                                  n_waves: int = 3, return_x: bool = False,
                                  return_phases: bool = False):
    """``n_waves`` cosines with phases evenly spaced over one cycle.

    ``x = linspace(0, 2 pi n_periods, n_samples)``; wave ``i`` is ``cos(x - 2 pi i / n_waves)``.

    Parameters
    ----------
    n_samples : int
        Samples per wave.
    n_periods : float
        Periods spanned by the samples.
    n_waves : int
        Number of phase-shifted waves.
    return_x, return_phases : bool
        Also return ``x`` and / or the phase of every sample.

    Returns
    -------
    waves : (n_waves, n_samples) ndarray
    x : (n_samples,) ndarray, radians
        If ``return_x``.
    phases : (n_waves, n_samples) ndarray, radians
        If ``return_phases``.
    """
    if int(n_waves) < 1 or int(n_samples) < 1:
        raise FaceRhythmError(f"generate_multiphasic_sinewave: n_waves={n_waves} and "
                              f"n_samples={n_samples} must be >= 1")
    x = np.linspace(0.0, 2 * np.pi * float(n_periods), int(n_samples))
    offsets = 2 * np.pi * np.arange(int(n_waves)) / int(n_waves)
    phases = x[None, :] - offsets[:, None]
    waves = np.cos(phases)
    out = (waves,) + ((x,) if return_x else ()) + ((phases,) if return_phases else ())
    return out[0] if len(out) == 1 else out
