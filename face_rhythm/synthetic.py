"""Synthetic head-fixed "face" videos with exact ground-truth motion.

A smooth random texture with a few face-like shapes (eye, nose, whisker pad, jaw) is
deformed by spatially localised motion components. Component ``k`` displaces the face by

    D_k(q, t) = A_k * e_k(t) * sin(2 pi f_k t + phi_k) * g_k(q) * u_k

where ``g_k`` is a Gaussian bump (centre ``c_k``, width ``sigma_k`` px), ``u_k`` a unit
direction, ``e_k(t)`` in [0, 1] a temporal envelope (bursts, constant, or slow modulation) and
``A_k`` the amplitude in px. Frames are rendered by backward warping, ``frame_t(y) =
base(y - D(y, t))``, so the texture at face location ``p`` appears at the solution ``y`` of
``y - D(y, t) = p``. :meth:`SyntheticFace.positions` solves that equation by fixed-point
iteration (a contraction: |grad D| << 1), which makes the ground truth exact to float
precision rather than a first-order approximation.

Sessions on different days are modelled by a camera transform (shift, rotation, scale about
the image centre) applied after the deformation: a face location ``p`` is seen at
``M @ y(p)`` in the image. Everything is seeded and deterministic.

Example
-------
>>> face = default_face(n_frames=90, seed=0)
>>> frame = face.render(10)            # (H, W) uint8
>>> pos = face.positions(points, [10])  # (1, N, 2) exact (x, y) of those face points
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from .errors import ConfigError
from .h5_handling import atomic_path

logger = logging.getLogger(__name__)

__all__ = [
    "MotionComponent",
    "SyntheticFace",
    "default_components",
    "default_face",
    "demo_rois",
    "write_video",
]


@dataclasses.dataclass(frozen=True)
class MotionComponent:
    """One localised rhythmic motion.

    Attributes
    ----------
    name : str
        Region name, e.g. ``"whisker_pad"``.
    center : (float, float)
        Centre of the Gaussian bump as a fraction of (width, height) of the face image.
    sigma : float
        Width of the bump as a fraction of the image width.
    direction : (float, float)
        Direction of motion (x, y); normalised internally.
    amplitude_px : float
        Peak displacement in pixels.
    frequency_hz : float
        Oscillation frequency in Hz.
    envelope : {"bursts", "constant", "slow"}
        ``bursts``: smooth on/off bursts of ``burst_s`` seconds separated by pauses;
        ``constant``: always on; ``slow``: amplitude modulated at 0.2 Hz between 0.3 and 1.
    burst_s : float
        Burst (and pause) length for ``bursts``, in seconds.
    phase : float
        Phase offset in radians.
    """

    name: str
    center: tuple[float, float]
    sigma: float
    direction: tuple[float, float]
    amplitude_px: float
    frequency_hz: float
    envelope: str = "constant"
    burst_s: float = 1.0
    phase: float = 0.0


def default_components() -> tuple[MotionComponent, ...]:
    """Whisking bursts at 8 Hz, nose at 4 Hz, jaw at 2 Hz."""
    return (
        MotionComponent("whisker_pad", (0.30, 0.56), 0.13, (1.0, 0.25), 1.5, 8.0, "bursts", 1.0),
        MotionComponent("nose", (0.15, 0.34), 0.09, (0.0, 1.0), 1.5, 4.0, "slow", phase=0.7),
        MotionComponent("jaw", (0.60, 0.82), 0.11, (0.2, 1.0), 1.5, 2.0, "constant", phase=1.9),
    )


def _smooth_noise(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    z = rng.standard_normal((h, w)).astype(np.float32)
    z = cv2.GaussianBlur(z, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return z / (z.std() + 1e-12)


@dataclasses.dataclass(frozen=True)
class SyntheticFace:
    """A seeded synthetic face video (see the module docstring for the model).

    Attributes
    ----------
    height, width : int
        Frame size in pixels.
    frame_rate : float
        Frames per second (Hz).
    n_frames : int
        Number of frames.
    components : tuple of MotionComponent
        The motion components.
    noise_std : float
        Standard deviation of additive Gaussian sensor noise, in grey levels (0-255).
    seed : int
        Seed of the face texture (and of the sensor noise unless ``noise_seed`` is given).
    noise_seed : int, optional
        Seed of the sensor noise: videos of one face recorded at different times.
    camera_shift : (float, float)
        Camera translation (x, y) in px (a session offset).
    camera_rotation_deg : float
        Camera rotation about the image centre, degrees counter-clockwise.
    camera_scale : float
        Camera zoom about the image centre.
    """

    height: int = 240
    width: int = 320
    frame_rate: float = 90.0
    n_frames: int = 450
    components: tuple[MotionComponent, ...] = dataclasses.field(default_factory=default_components)
    noise_std: float = 2.0
    seed: int = 0
    noise_seed: int | None = None
    camera_shift: tuple[float, float] = (0.0, 0.0)
    camera_rotation_deg: float = 0.0
    camera_scale: float = 1.0

    def __post_init__(self):
        if self.height < 16 or self.width < 16:
            raise ConfigError(f"synthetic face: frame {self.height}x{self.width} is too small")
        if self.n_frames < 1 or self.frame_rate <= 0:
            raise ConfigError(f"synthetic face: n_frames={self.n_frames}, "
                             f"frame_rate={self.frame_rate} must be positive")
        nyq = self.frame_rate / 2
        for c in self.components:
            if not 0 < c.frequency_hz < nyq:
                raise ConfigError(f"synthetic face: component {c.name!r} frequency "
                                 f"{c.frequency_hz} Hz is not inside (0, Nyquist={nyq} Hz)")

    # ---------------------------------------------------------------- static parts
    def base_image(self) -> np.ndarray:
        """The undeformed face texture in face coordinates, (H, W) float32 in [0, 255]."""
        return _base_image(self.height, self.width, self.seed)

    def bump(self, k: int, xy: np.ndarray) -> np.ndarray:
        """Spatial profile g_k at face points ``xy`` (..., 2) -> (...,) in [0, 1]."""
        c = self.components[k]
        cx, cy = c.center[0] * self.width, c.center[1] * self.height
        s = c.sigma * self.width
        d2 = (xy[..., 0] - cx) ** 2 + (xy[..., 1] - cy) ** 2
        return np.exp(-0.5 * d2 / s**2)

    def directions(self) -> np.ndarray:
        """Unit motion directions, (K, 2) float64 (x, y)."""
        d = np.array([c.direction for c in self.components], dtype=np.float64).reshape(-1, 2)
        return d / np.linalg.norm(d, axis=1, keepdims=True)

    def camera_matrix(self) -> np.ndarray:
        """Face -> image affine transform, (2, 3) float64."""
        centre = ((self.width - 1) / 2, (self.height - 1) / 2)
        m = cv2.getRotationMatrix2D(centre, self.camera_rotation_deg, self.camera_scale)
        m[:, 2] += np.asarray(self.camera_shift, dtype=np.float64)
        return m

    # ---------------------------------------------------------------- time courses
    def envelopes(self, frames: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Temporal envelopes e_k(t), (T, K) float64 in [0, 1]."""
        t = self._times(frames)
        out = np.empty((t.size, len(self.components)))
        for k, c in enumerate(self.components):
            if c.envelope == "constant":
                out[:, k] = 1.0
            elif c.envelope == "slow":
                out[:, k] = 0.65 + 0.35 * np.cos(2 * np.pi * 0.2 * t)
            elif c.envelope == "bursts":
                # on for burst_s, off for burst_s, with raised-cosine edges of 0.15 burst_s
                period = 2 * c.burst_s
                ph = np.mod(t + 0.25 * c.burst_s, period)
                edge = 0.15 * c.burst_s
                rise = np.clip(ph / edge, 0, 1)
                fall = np.clip((c.burst_s - ph) / edge, 0, 1)
                out[:, k] = np.where(ph < c.burst_s,
                                     np.minimum(0.5 - 0.5 * np.cos(np.pi * rise),
                                                0.5 - 0.5 * np.cos(np.pi * fall)), 0.0)
            else:
                raise ConfigError(f"component {c.name!r}: unknown envelope {c.envelope!r}")
        return out

    def amplitudes(self, frames: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Signed amplitudes a_k(t) = A_k e_k(t) sin(2 pi f_k t + phi_k), (T, K) px."""
        t = self._times(frames)
        f = np.array([c.frequency_hz for c in self.components])
        ph = np.array([c.phase for c in self.components])
        amp = np.array([c.amplitude_px for c in self.components])
        return amp * self.envelopes(frames) * np.sin(2 * np.pi * f * t[:, None] + ph)

    def _times(self, frames) -> np.ndarray:
        if frames is None:
            frames = np.arange(self.n_frames)
        return np.asarray(frames, dtype=np.float64).reshape(-1) / self.frame_rate

    # ---------------------------------------------------------------- ground truth
    def displacement_face(self, xy: np.ndarray, frame: int) -> np.ndarray:
        """Deformation D(q, t) at face-coordinate points ``xy`` (..., 2), in px (x, y)."""
        a = self.amplitudes([frame])[0]
        dirs = self.directions()
        d = np.zeros(xy.shape, dtype=np.float64)
        for k in range(len(self.components)):
            d += (a[k] * self.bump(k, xy))[..., None] * dirs[k]
        return d

    def positions(self, points: np.ndarray, frames: Sequence[int] | np.ndarray | None = None,
                  image_coords: bool = True, from_frame: int | None = None) -> np.ndarray:
        """Exact positions of tracked face points in each frame.

        Parameters
        ----------
        points : (N, 2) array
            Points (x, y) at rest. In image coordinates (``image_coords=True``; the camera
            transform is inverted first) or in face coordinates.
        frames : sequence of int, optional
            Frame indices (default: all frames).
        from_frame : int, optional
            If given, ``points`` are positions seen in that frame (e.g. 0, where tracking
            starts) rather than rest positions; they are mapped back to the face exactly
            (``p = y - D(y, t)``).

        Returns
        -------
        (T, N, 2) float64
            Positions (x, y) in the same coordinates as ``points``.
        """
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        m = self.camera_matrix()
        if image_coords:
            minv = cv2.invertAffineTransform(m)
            pts = pts @ minv[:, :2].T + minv[:, 2]
        if from_frame is not None:
            pts = pts - self.displacement_face(pts, int(from_frame))
        frames = np.arange(self.n_frames) if frames is None else np.asarray(frames).reshape(-1)
        out = np.empty((frames.size, pts.shape[0], 2))
        for i, fr in enumerate(frames):
            y = pts.copy()
            for _ in range(50):  # contraction: converges to ~1e-12 px in < 20 steps
                y_new = pts + self.displacement_face(y, int(fr))
                if np.max(np.abs(y_new - y)) < 1e-10:
                    y = y_new
                    break
                y = y_new
            out[i] = y
        if image_coords:
            out = out @ m[:, :2].T + m[:, 2]
        return out

    def displacements(self, points: np.ndarray, frames=None, image_coords: bool = True,
                      from_frame: int | None = None) -> np.ndarray:
        """Ground-truth displacement from ``points``, (T, N, 2) float64 px.

        ``points`` are rest positions, or positions in frame ``from_frame`` if given.
        """
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return self.positions(pts, frames, image_coords, from_frame) - pts[None]

    def spatial_maps(self, points: np.ndarray, image_coords: bool = True) -> np.ndarray:
        """Each component's spatial weight g_k at the rest points, (K, N) float64 in [0, 1]."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if image_coords:
            minv = cv2.invertAffineTransform(self.camera_matrix())
            pts = pts @ minv[:, :2].T + minv[:, 2]
        return np.stack([self.bump(k, pts) for k in range(len(self.components))])

    # ---------------------------------------------------------------- rendering
    def render(self, frame: int, noise: bool = True) -> np.ndarray:
        """Frame ``frame`` as (H, W) uint8 (sensor noise seeded by (seed, frame))."""
        base = self.base_image()
        h, w = self.height, self.width
        grid = _pixel_grid(h, w)
        d = self.displacement_face(grid, frame).astype(np.float32)
        img = cv2.remap(base, grid[..., 0] - d[..., 0], grid[..., 1] - d[..., 1],
                        interpolation=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        if self.camera_rotation_deg != 0 or self.camera_scale != 1 or any(self.camera_shift):
            img = cv2.warpAffine(img, self.camera_matrix(), (w, h), flags=cv2.INTER_CUBIC,
                                 borderMode=cv2.BORDER_REFLECT)
        if noise and self.noise_std > 0:
            noise_seed = self.seed if self.noise_seed is None else self.noise_seed
            rng = np.random.default_rng([noise_seed, 7919, int(frame)])
            img = img + rng.normal(0.0, self.noise_std, img.shape).astype(np.float32)
        return np.clip(np.rint(img), 0, 255).astype(np.uint8)

    def iter_frames(self, noise: bool = True) -> Iterator[np.ndarray]:
        """Yield every frame, (H, W) uint8."""
        for t in range(self.n_frames):
            yield self.render(t, noise=noise)


@functools.lru_cache(maxsize=4)
def _pixel_grid(h: int, w: int) -> np.ndarray:
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    grid = np.stack([xs, ys], axis=-1)
    grid.flags.writeable = False
    return grid


@functools.lru_cache(maxsize=8)
def _base_image(h: int, w: int, seed: int) -> np.ndarray:
    """Face-like texture: smooth multi-scale noise plus dark eye, nose and whisker-pad spots."""
    rng = np.random.default_rng([seed, 104729])
    scale = w / 320.0
    tex = (0.55 * _smooth_noise(rng, h, w, 1.6 * scale)
           + 0.35 * _smooth_noise(rng, h, w, 4.0 * scale)
           + 0.25 * _smooth_noise(rng, h, w, 12.0 * scale))
    img = 120 + 28 * tex
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # head: brighter ellipse; background darker
    head = ((xx - 0.55 * w) / (0.5 * w)) ** 2 + ((yy - 0.5 * h) / (0.48 * h)) ** 2 < 1
    img = np.where(head, img + 25, img - 35)
    # eye, nose tip, whisker pad follicles (a lattice of small dots)
    for cx, cy, r, v in ((0.55, 0.30, 0.045, -70), (0.10, 0.38, 0.035, -45)):
        d2 = (xx - cx * w) ** 2 + (yy - cy * h) ** 2
        img += v * np.exp(-0.5 * d2 / (r * w) ** 2)
    for i in range(5):
        for j in range(4):
            cx, cy = (0.22 + 0.045 * i) * w, (0.47 + 0.05 * j) * h
            d2 = (xx - cx) ** 2 + (yy - cy) ** 2
            img -= 30 * np.exp(-0.5 * d2 / (0.008 * w) ** 2)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 0.7 * max(scale, 0.5))
    img = np.clip(img, 10, 245).astype(np.float32)
    img.flags.writeable = False
    return img


def default_face(height: int = 240, width: int = 320, frame_rate: float = 90.0,
                 duration_s: float | None = None, n_frames: int | None = None,
                 noise_std: float = 2.0, seed: int = 0, noise_seed: int | None = None,
                 camera_shift: tuple[float, float] = (0.0, 0.0),
                 camera_rotation_deg: float = 0.0) -> SyntheticFace:
    """A :class:`SyntheticFace` with the default three components (8, 4 and 2 Hz)."""
    if n_frames is None:
        n_frames = round((duration_s if duration_s is not None else 5.0) * frame_rate)
    return SyntheticFace(height=height, width=width, frame_rate=float(frame_rate),
                         n_frames=int(n_frames), noise_std=noise_std, seed=seed,
                         noise_seed=noise_seed,
                         camera_shift=tuple(camera_shift),
                         camera_rotation_deg=float(camera_rotation_deg))


def demo_rois(face: SyntheticFace) -> dict[str, list[list[float]]]:
    """Face-region polygons (x, y) for a synthetic face, in its image coordinates.

    ``face`` covers the snout, whisker pad and jaw (the moving regions and their
    surroundings), inside the frame.
    """
    w, h = face.width, face.height
    poly = np.array([[0.04, 0.18], [0.70, 0.14], [0.80, 0.60], [0.72, 0.95],
                     [0.30, 0.95], [0.04, 0.65]]) * [w, h]
    m = face.camera_matrix()
    poly = poly @ m[:, :2].T + m[:, 2]
    poly = np.clip(poly, 0, [w - 1, h - 1])
    return {"face": np.round(poly, 1).tolist()}


def write_video(face: SyntheticFace, path: str | os.PathLike, fourcc: str = "FFV1",
                color: bool = True) -> Path:
    """Render every frame of ``face`` and write a video file (atomically).

    Parameters
    ----------
    face : SyntheticFace
    path : path-like
        Destination (``.avi`` for FFV1/MJPG, ``.mp4`` for mp4v).
    fourcc : str
        OpenCV four-character codec code. ``FFV1`` (default) is lossless, so decoded frames
        equal :meth:`SyntheticFace.render` exactly; decord2 and OpenCV both read it.
    color : bool
        Write 3-channel frames (grey replicated), as real cameras' files usually are.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp_v = tmp.with_suffix(path.suffix)  # OpenCV picks the container from the suffix
        writer = cv2.VideoWriter(str(tmp_v), cv2.VideoWriter_fourcc(*fourcc), face.frame_rate,
                                 (face.width, face.height), isColor=color)
        if not writer.isOpened():
            raise OSError(f"{path}: OpenCV cannot open a {fourcc} video writer")
        try:
            for frame in face.iter_frames():
                writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if color else frame)
        finally:
            writer.release()
        os.replace(tmp_v, tmp)
    logger.info("wrote synthetic video %s (%d frames, %dx%d, %.1f Hz)", path, face.n_frames,
                face.width, face.height, face.frame_rate)
    return path
