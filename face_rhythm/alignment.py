"""Reference frames per session, and carrying ROIs from a template session to another.

A session's **reference frame** is a clean picture of the face at rest, for registration
across sessions (:mod:`face_rhythm.registration`):

1. downsample the grayscale frames by ``ds_factor`` (area average);
2. VQT (the ``vqt`` package) of every downsampled pixel's intensity over time; a frame's
   spectral power is the mean magnitude over pixels and frequencies at that frame;
3. keep the frames at or below the ``ptile_specVar_keep`` percentile of power (the still
   ones);
4. average the kept full-resolution frames, square-root, normalise to [0, 1], CLAHE.

Videos are streamed twice (:func:`face_rhythm.video.iter_chunks`): once for the small
downsampled stack, once to average the kept full-resolution frames, so memory stays at
``n_frames * (H / ds) * (W / ds)`` floats plus two frames.

:func:`transfer_rois` warps an :class:`face_rhythm.rois.RoiSet` drawn on the template
session into another session with the warp from :func:`registration.register_images`
(polygons and points by the exact warp, masks by inverse remapping); point ``i`` stays
point ``i``.

``get_frames`` is :func:`face_rhythm.video.get_frames` and ``SFTPVideoFrameExtractor`` is
:class:`face_rhythm.remote.SFTPVideoFrameExtractor` (reference import paths).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np
import torch

from . import registration as reg
from .errors import AlignmentParamsError
from .h5_handling import atomic_h5, load_top_datasets
from .remote import SFTPVideoFrameExtractor
from .video import get_frames

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_PARAMS_VQT_REFERENCE",
    "Image_preparation_pipeline",
    "ReferenceFrame",
    "ReferenceFrameParams",
    "SFTPVideoFrameExtractor",
    "clahe",
    "downsample_frames",
    "finish_reference_image",
    "get_frames",
    "load_reference_frame_h5",
    "plot_reference_frame",
    "reference_frame_from_frames",
    "reference_frame_from_videos",
    "save_reference_frame_h5",
    "select_still_frames",
    "spectral_power_per_frame",
    "to_uint8",
    "transfer_rois",
]

#: VQT parameters for the per-pixel spectral power (``Fs_sample`` is the video frame rate;
#: ``F_max`` is lowered to 0.45 x the frame rate when it would reach Nyquist).
DEFAULT_PARAMS_VQT_REFERENCE: dict[str, Any] = {
    "Q_lowF": 2.0,
    "Q_highF": 6.0,
    "F_min": 1.5,
    "F_max": 30.0,
    "n_freq_bins": 12,
    "window_type": "hann",
    "downsample_factor": 1,
    "padding": "valid",
    "fft_conv": True,
}


@dataclasses.dataclass(frozen=True)
class ReferenceFrameParams:
    """Parameters of the reference-frame pipeline.

    Attributes
    ----------
    ds_factor : int
        Spatial downsampling factor for the spectral analysis (>= 1).
    ptile_specVar_keep : float
        Frames at or below this percentile of spectral power are kept (0 < p <= 100).
    params_vqt : dict
        ``vqt.VQT`` keyword arguments (merged over :data:`DEFAULT_PARAMS_VQT_REFERENCE`).
    clip_limit : float
        CLAHE clip limit.
    grid_size : int
        CLAHE tile grid (grid_size x grid_size tiles).
    max_frames_per_video : int or None
        Use at most this many frames from the start of each video (None: all).
    batch_size : int
        Pixels per VQT batch.
    device : str
        Torch device of the VQT.
    """

    ds_factor: int = 20
    ptile_specVar_keep: float = 10.0
    params_vqt: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    clip_limit: float = 2.0
    grid_size: int = 20
    max_frames_per_video: int | None = None
    batch_size: int = 512
    device: str = "cpu"

    def __post_init__(self):
        if not (isinstance(self.ds_factor, (int, np.integer)) and self.ds_factor >= 1):
            raise AlignmentParamsError(f"ds_factor must be an integer >= 1, got "
                                       f"{self.ds_factor!r}")
        if not 0 < float(self.ptile_specVar_keep) <= 100:
            raise AlignmentParamsError(f"ptile_specVar_keep must be in (0, 100], got "
                                       f"{self.ptile_specVar_keep!r}")
        if not float(self.clip_limit) >= 0 or int(self.grid_size) < 1:
            raise AlignmentParamsError(f"CLAHE clip_limit {self.clip_limit} must be >= 0 and "
                                       f"grid_size {self.grid_size} >= 1")
        if self.max_frames_per_video is not None and int(self.max_frames_per_video) < 2:
            raise AlignmentParamsError(f"max_frames_per_video must be >= 2 or null, got "
                                       f"{self.max_frames_per_video!r}")
        unknown = set(self.params_vqt) - set(_vqt_keys())
        if unknown:
            raise AlignmentParamsError(f"params_vqt: unknown key(s) {sorted(unknown)}")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> ReferenceFrameParams:
        """From the config's ``alignment`` section (extra keys ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in dict(cfg or {}).items() if k in names and v is not None}
        return cls(**kw)


def _vqt_keys() -> list[str]:
    import inspect

    import vqt

    return [k for k in inspect.signature(vqt.VQT).parameters if k != "self"]


@dataclasses.dataclass
class ReferenceFrame:
    """A session's reference frame and how it was made.

    Attributes
    ----------
    image : (H, W) float32
        Reference frame in [0, 1] (sqrt of the mean of still frames, normalised, CLAHE).
    mean_still : (H, W) float32
        Mean of the kept (still) frames, grey levels 0-255.
    mean_all : (H, W) float32
        Mean of all frames used, grey levels 0-255 (for comparison).
    power : (n,) float32
        Spectral power per frame (NaN where the VQT window does not fit, at video edges).
    kept : (n,) bool
        Frames averaged into the reference.
    video_index, frame_index : (n,) int64
        Which video and frame each entry of ``power`` / ``kept`` is.
    frame_rate : float
        Hz.
    threshold : float
        Power at the kept percentile.
    params : ReferenceFrameParams
    """

    image: np.ndarray
    mean_still: np.ndarray
    mean_all: np.ndarray
    power: np.ndarray
    kept: np.ndarray
    video_index: np.ndarray
    frame_index: np.ndarray
    frame_rate: float
    threshold: float
    params: ReferenceFrameParams


# ----------------------------------------------------------------------------- steps


def _gray_float(frames: np.ndarray) -> np.ndarray:
    a = np.asarray(frames)
    if a.ndim == 4:
        if a.shape[-1] != 3:
            raise AlignmentParamsError(f"colour frames must be (n, H, W, 3), got {a.shape}")
        a = a.astype(np.float32).mean(axis=-1)
    if a.ndim != 3:
        raise AlignmentParamsError(f"frames must be (n, H, W) or (n, H, W, 3), got {a.shape}")
    return a.astype(np.float32, copy=False)


def downsample_frames(frames: np.ndarray, ds_factor: int) -> np.ndarray:
    """Area-average downsampling by an integer factor.

    Parameters
    ----------
    frames : (n, H, W) or (n, H, W, 3)
        Colour is collapsed by the channel mean.
    ds_factor : int

    Returns
    -------
    (n, H // ds, W // ds) float32
    """
    a = _gray_float(frames)
    n, h, w = a.shape
    hd, wd = h // int(ds_factor), w // int(ds_factor)
    if hd < 2 or wd < 2:
        raise AlignmentParamsError(f"ds_factor {ds_factor} leaves a {hd}x{wd} image from "
                                   f"{h}x{w} frames; use a smaller ds_factor")
    if ds_factor == 1:
        return a.copy()
    out = np.empty((n, hd, wd), dtype=np.float32)
    for i in range(n):
        out[i] = cv2.resize(a[i], (wd, hd), interpolation=cv2.INTER_AREA)
    return out


def _make_vqt(frame_rate: float, params_vqt: Mapping[str, Any], device: str, n_frames: int):
    p = {**DEFAULT_PARAMS_VQT_REFERENCE, **dict(params_vqt or {})}
    p.pop("Fs_sample", None)
    p.pop("plot_pref", None)
    nyq_cap = 0.45 * float(frame_rate)
    if p["F_max"] >= frame_rate / 2:
        logger.info("reference frame: F_max %.3g Hz lowered to %.3g Hz (frame rate %.3g Hz)",
                    p["F_max"], nyq_cap, frame_rate)
        p["F_max"] = nyq_cap
    if p["F_min"] >= p["F_max"]:
        raise AlignmentParamsError(f"reference frame VQT: F_min {p['F_min']} Hz must be below "
                                   f"F_max {p['F_max']:.3g} Hz at {frame_rate:g} fps")
    try:
        from .spectral_analysis import make_vqt
    except ImportError:  # pragma: no cover - spectral module always present in releases
        import vqt

        p["Fs_sample"] = float(frame_rate)
        p.setdefault("verbose", 0)
        return vqt.VQT(**p).to(device)
    return make_vqt(float(frame_rate), p, device=device, n_frames=int(n_frames))


def spectral_power_per_frame(frames_ds: np.ndarray, frame_rate: float,
                             params_vqt: Mapping[str, Any] | None = None,
                             device: str = "cpu", batch_size: int = 512) -> np.ndarray:
    """Mean VQT magnitude over pixels and frequencies at each frame.

    Parameters
    ----------
    frames_ds : (n, h, w)
        Downsampled frames of one video (contiguous in time).
    frame_rate : float
        Hz.
    params_vqt : dict, optional
        Over :data:`DEFAULT_PARAMS_VQT_REFERENCE`.
    device : str
    batch_size : int
        Pixels per VQT call.

    Returns
    -------
    (n,) float32
        Power per frame; NaN at frames without a full VQT window ('valid' padding edges).
        Each pixel's mean is removed first, so a still frame scores near the noise floor.

    Raises
    ------
    face_rhythm.spectral_analysis.SpectralParamsError
        The VQT window is longer than the video.
    """
    x = np.asarray(frames_ds, dtype=np.float32)
    if x.ndim != 3:
        raise AlignmentParamsError(f"frames_ds must be (n, h, w), got {x.shape}")
    n = x.shape[0]
    rows = x.reshape(n, -1).T  # (n_px, n)
    rows = rows - rows.mean(axis=1, keepdims=True)
    model = _make_vqt(frame_rate, params_vqt or {}, device, n)
    acc = None
    with torch.no_grad():
        for s in range(0, rows.shape[0], int(batch_size)):
            r = torch.as_tensor(np.ascontiguousarray(rows[s:s + batch_size]), device=device)
            spec = model(r)  # (b, F, T_out)
            part = spec.abs().sum(dim=(0, 1)).double().cpu().numpy()
            acc = part if acc is None else acc + part
    p_out = acc / (rows.shape[0] * int(model.filters.shape[0]))
    t_axis = np.atleast_1d(model.get_xAxis(n).cpu().numpy()).astype(np.float64)
    power = np.full(n, np.nan, dtype=np.float64)
    if len(t_axis) == n:
        power[:] = p_out
    else:
        ok = (t_axis >= 0) & (t_axis <= n - 1)
        lo, hi = int(np.ceil(t_axis[ok].min())), int(np.floor(t_axis[ok].max()))
        frames = np.arange(lo, hi + 1)
        power[lo:hi + 1] = np.interp(frames, t_axis[ok], p_out[ok])
    return power.astype(np.float32)


def select_still_frames(power: np.ndarray, ptile: float) -> tuple[np.ndarray, float]:
    """Frames at or below the ``ptile`` percentile of (finite) power.

    Returns
    -------
    kept : (n,) bool
    threshold : float
    """
    p = np.asarray(power, dtype=np.float64)
    ok = np.isfinite(p)
    if not ok.any():
        raise AlignmentParamsError("no frame has a spectral power (videos shorter than the VQT "
                                   "window?)")
    thr = float(np.percentile(p[ok], float(ptile)))
    kept = ok & (p <= thr)
    return kept, thr


def clahe(im: np.ndarray, grid_size: int = 50, clipLimit: float = 0,
          normalize: bool = True) -> np.ndarray:
    """CLAHE (OpenCV) of a 2-D image; returns uint16.

    Parameters
    ----------
    im : (H, W)
    grid_size : int
        Tiles per axis (``tileGridSize=(grid_size, grid_size)``).
    clipLimit : float
    normalize : bool
        Stretch the input to the full uint16 range first (else values are cast).
    """
    a = np.asarray(im, dtype=np.float64)
    if normalize:
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        a = (a - lo) / max(hi - lo, 1e-12) * 65535
    a = np.clip(np.nan_to_num(a), 0, 65535).astype(np.uint16)
    c = cv2.createCLAHE(clipLimit=float(clipLimit), tileGridSize=(int(grid_size),
                                                                    int(grid_size)))
    return c.apply(a)


def finish_reference_image(mean_image: np.ndarray, clip_limit: float = 2.0,
                           grid_size: int = 20) -> np.ndarray:
    """sqrt -> normalise to [0, 1] -> CLAHE; (H, W) float32 in [0, 1]."""
    a = np.sqrt(np.clip(np.asarray(mean_image, dtype=np.float64), 0, None))
    a = a / max(float(a.max()), 1e-12)
    return (clahe(a, grid_size=grid_size, clipLimit=clip_limit) / 65535.0).astype(np.float32)


def to_uint8(im: np.ndarray) -> np.ndarray:
    """Stretch an image's [min, max] to uint8 0-255."""
    a = np.asarray(im, dtype=np.float64)
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    return np.clip(np.rint((a - lo) / max(hi - lo, 1e-12) * 255), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- pipelines


def reference_frame_from_frames(frames: np.ndarray | Sequence[np.ndarray], frame_rate: float,
                                params: ReferenceFrameParams | None = None) -> ReferenceFrame:
    """Reference frame of in-memory frames (one array per video, or a single (n, H, W) array).

    Parameters
    ----------
    frames : (n, H, W[, 3]) uint8/float array, or a list of them (videos of a session)
    frame_rate : float
        Hz.
    params : ReferenceFrameParams, optional

    Returns
    -------
    ReferenceFrame
    """
    params = params or ReferenceFrameParams()
    videos = [frames] if isinstance(frames, np.ndarray) else list(frames)
    if params.max_frames_per_video is not None:
        videos = [v[:int(params.max_frames_per_video)] for v in videos]
    powers, vid, fid = [], [], []
    for k, v in enumerate(videos):
        ds = downsample_frames(v, params.ds_factor)
        powers.append(spectral_power_per_frame(ds, frame_rate, params.params_vqt,
                                               params.device, params.batch_size))
        vid.append(np.full(len(v), k, dtype=np.int64))
        fid.append(np.arange(len(v), dtype=np.int64))
    power = np.concatenate(powers)
    kept, thr = select_still_frames(power, params.ptile_specVar_keep)
    grays = [_gray_float(v) for v in videos]
    if len({g.shape[1:] for g in grays}) > 1:
        raise AlignmentParamsError(f"videos of a session differ in frame size: "
                                   f"{sorted({g.shape[1:] for g in grays})}")
    all_frames = np.concatenate(grays)
    mean_still = all_frames[kept].mean(axis=0)
    mean_all = all_frames.mean(axis=0)
    img = finish_reference_image(mean_still, params.clip_limit, params.grid_size)
    return ReferenceFrame(image=img, mean_still=mean_still.astype(np.float32),
                          mean_all=mean_all.astype(np.float32), power=power, kept=kept,
                          video_index=np.concatenate(vid), frame_index=np.concatenate(fid),
                          frame_rate=float(frame_rate), threshold=thr, params=params)


def reference_frame_from_videos(paths: Sequence[str | os.PathLike] | str | os.PathLike,
                                params: ReferenceFrameParams | None = None,
                                fps: float | Sequence[float | None] | None = None,
                                chunk_size: int = 256) -> ReferenceFrame:
    """Reference frame of a session's videos, streamed (two passes over each video).

    Parameters
    ----------
    paths : path-like or sequence
        The session's videos (same frame size and frame rate).
    params : ReferenceFrameParams, optional
    fps : float or sequence, optional
        Frame-rate override(s) in Hz.
    chunk_size : int
        Frames per decoded chunk.

    Returns
    -------
    ReferenceFrame

    Raises
    ------
    face_rhythm.video.VideoError
        A video is missing or unreadable (checked before any decoding).
    AlignmentParamsError
        Videos differ in size or frame rate, or parameters do not fit them.
    """
    from .video import iter_chunks, validate_videos

    params = params or ReferenceFrameParams()
    plist = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not plist:
        raise AlignmentParamsError("no videos given for the reference frame")
    fps_list = fps if isinstance(fps, Sequence) else [fps] * len(plist)
    infos = validate_videos(plist, fps=list(fps_list), same_size=False)
    sizes = {(i.height, i.width) for i in infos}
    rates = {round(i.frame_rate, 6) for i in infos}
    if len(sizes) > 1:
        raise AlignmentParamsError(f"videos {plist} differ in frame size {sorted(sizes)}; a "
                                   "session's reference frame needs one size")
    if len(rates) > 1:
        raise AlignmentParamsError(f"videos {plist} differ in frame rate {sorted(rates)} Hz")
    frame_rate = infos[0].frame_rate
    h, w = infos[0].height, infos[0].width
    n_use = [i.n_frames if params.max_frames_per_video is None
             else min(i.n_frames, int(params.max_frames_per_video)) for i in infos]
    # pass 1: downsampled stacks -> power per frame
    powers = []
    for k, (p, n) in enumerate(zip(plist, n_use, strict=True)):
        ds = np.empty((n, h // params.ds_factor, w // params.ds_factor), dtype=np.float32)
        i0 = 0
        for chunk in iter_chunks(p, chunk_size=chunk_size, stop=n, grayscale=True,
                                 fps=fps_list[k]):
            ds[i0:i0 + len(chunk)] = downsample_frames(chunk, params.ds_factor)
            i0 += len(chunk)
        if i0 != n:
            raise AlignmentParamsError(f"{p}: decoded {i0} frames, expected {n}")
        powers.append(spectral_power_per_frame(ds, frame_rate, params.params_vqt,
                                               params.device, params.batch_size))
        logger.info("%s: spectral power of %d frames", p, n)
    power = np.concatenate(powers)
    kept, thr = select_still_frames(power, params.ptile_specVar_keep)
    # pass 2: average the kept frames (and all frames) at full resolution
    acc_kept = np.zeros((h, w), dtype=np.float64)
    acc_all = np.zeros((h, w), dtype=np.float64)
    offsets = np.concatenate([[0], np.cumsum(n_use)])
    for k, (p, n) in enumerate(zip(plist, n_use, strict=True)):
        sel = kept[offsets[k]:offsets[k + 1]]
        i0 = 0
        for chunk in iter_chunks(p, chunk_size=chunk_size, stop=n, grayscale=True,
                                 fps=fps_list[k]):
            c = chunk.astype(np.float64)
            acc_all += c.sum(axis=0)
            m = sel[i0:i0 + len(chunk)]
            if m.any():
                acc_kept += c[m].sum(axis=0)
            i0 += len(chunk)
    mean_still = acc_kept / int(kept.sum())
    mean_all = acc_all / int(offsets[-1])
    img = finish_reference_image(mean_still, params.clip_limit, params.grid_size)
    vid = np.concatenate([np.full(n, k, dtype=np.int64) for k, n in enumerate(n_use)])
    fid = np.concatenate([np.arange(n, dtype=np.int64) for n in n_use])
    logger.info("reference frame from %d of %d frames (power <= %.4g)", int(kept.sum()),
                len(kept), thr)
    return ReferenceFrame(image=img, mean_still=mean_still.astype(np.float32),
                          mean_all=mean_all.astype(np.float32), power=power, kept=kept,
                          video_index=vid, frame_index=fid, frame_rate=float(frame_rate),
                          threshold=thr, params=params)


def _params_json(params: ReferenceFrameParams) -> str:
    return json.dumps(dataclasses.asdict(params), default=str, sort_keys=True)


def save_reference_frame_h5(ref: ReferenceFrame, path: str | os.PathLike,
                            run_info: Mapping[str, Any] | None = None,
                            videos: Sequence[str] | None = None) -> Path:
    """Write ``reference_frame.h5`` atomically.

    Keys: ``reference_frame`` (H, W) float32 [0, 1]; ``reference_frame_uint8``;
    ``mean_still_frame`` (H, W) uint8; ``mean_frame`` (H, W) float32; ``spectral_power``
    (n,) f32; ``kept`` (n,) bool; ``video_index``, ``frame_index`` (n,) int64;
    ``frame_rate`` (Hz); ``threshold``; ``videos`` (strings); ``params`` (JSON);
    ``run_info/``.
    """
    from .provenance import run_info_to_h5_dict

    with atomic_h5(path) as f:
        f.create_dataset("reference_frame", data=ref.image.astype(np.float32), compression="gzip")
        f.create_dataset("reference_frame_uint8", data=to_uint8(ref.image), compression="gzip")
        f.create_dataset("mean_still_frame",
                         data=np.clip(np.rint(ref.mean_still), 0, 255).astype(np.uint8),
                         compression="gzip")
        f.create_dataset("mean_frame", data=ref.mean_all.astype(np.float32), compression="gzip")
        f.create_dataset("spectral_power", data=ref.power.astype(np.float32))
        f.create_dataset("kept", data=ref.kept.astype(bool))
        f.create_dataset("video_index", data=ref.video_index.astype(np.int64))
        f.create_dataset("frame_index", data=ref.frame_index.astype(np.int64))
        f.create_dataset("frame_rate", data=float(ref.frame_rate))
        f.create_dataset("threshold", data=float(ref.threshold))
        f.create_dataset("params", data=_params_json(ref.params))
        if videos is not None:
            f.create_dataset("videos", data=np.array([str(v) for v in videos], dtype=object),
                             dtype=h5py.string_dtype())
        if run_info is not None:
            g = f.create_group("run_info")
            for k, v in run_info_to_h5_dict(run_info).items():
                g.create_dataset(k, data=v)
    logger.info("saved reference frame to %s", path)
    return Path(path)


def load_reference_frame_h5(path: str | os.PathLike) -> dict[str, Any]:
    """Read ``reference_frame.h5`` into a dict (see :func:`save_reference_frame_h5`)."""
    return load_top_datasets(path, "reference_frame", "reference_frame.h5")


def plot_reference_frame(ref: ReferenceFrame | Mapping[str, Any], title: str = ""):
    """Reference frame, mean of all frames, and spectral power per frame with the kept ones.

    Parameters
    ----------
    ref : ReferenceFrame or the dict from :func:`load_reference_frame_h5`
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    if isinstance(ref, ReferenceFrame):
        image, mean_all, power, kept = ref.image, ref.mean_all, ref.power, ref.kept
        fr, thr = ref.frame_rate, ref.threshold
    else:
        image, mean_all = ref["reference_frame"], ref["mean_frame"]
        power, kept = ref["spectral_power"], ref["kept"].astype(bool)
        fr, thr = float(ref["frame_rate"]), float(ref["threshold"])
    h, w = image.shape
    fig = Figure(figsize=(11, 3.4 * h / w + 2.6), layout="constrained")
    gs = fig.add_gridspec(2, 2, height_ratios=[3.4 * h / w, 2.0])
    ax = fig.add_subplot(gs[0, 0])
    ax.imshow(image, cmap="gray")
    ax.set_title(f"reference frame ({int(kept.sum())} still frames)", fontsize="small")
    ax.set_axis_off()
    ax = fig.add_subplot(gs[0, 1])
    ax.imshow(mean_all, cmap="gray")
    ax.set_title("mean of all frames", fontsize="small")
    ax.set_axis_off()
    ax = fig.add_subplot(gs[1, :])
    t = np.arange(len(power)) / fr
    ax.plot(t, power, lw=0.6, color="0.3", label="spectral power")
    ax.plot(t[kept], power[kept], ".", ms=2, color="#2a9d8f", label="kept (still)")
    ax.axhline(thr, color="#e63946", lw=0.8, ls="--", label="threshold")
    ax.set_xlabel("time (s, videos concatenated)")
    ax.set_ylabel("power (a.u.)")
    ax.legend(fontsize="x-small", loc="upper right")
    if title:
        fig.suptitle(title, fontsize="small")
    return fig


# ----------------------------------------------------------------------------- ROI transfer


def transfer_rois(roiset, warp_matrix: np.ndarray | None = None,
                  remappingIdx: np.ndarray | None = None,
                  frame_height_width: Sequence[int] | None = None, source: str = "transferred"):
    """Warp a template session's ROIs and points into another session.

    Parameters
    ----------
    roiset : face_rhythm.rois.RoiSet
        ROIs drawn on the template session.
    warp_matrix : (2, 3) or (3, 3), optional
        Template -> session coordinates (``RegistrationResult.warp_matrices[i]``).
    remappingIdx : (H, W, 2), optional
        Template grid -> session coordinates (non-rigid registration); used instead of
        ``warp_matrix`` when given.
    frame_height_width : (H, W), optional
        Session frame size (default: the template's).
    source : str
        Name for messages.

    Returns
    -------
    face_rhythm.rois.RoiSet
        Polygons and points warped (point i is the same facial location as the template's
        point i; ``fixed_points`` always set), masks warped by inverse remapping
        (``fixed_masks``). Vertices pushed outside the frame are clipped to it (warning);
        points are never dropped or clipped (warning when outside the frame).
    """
    from .rois import RoiSet

    if (warp_matrix is None) == (remappingIdx is None):
        raise reg.RegistrationError("give exactly one of warp_matrix and remappingIdx")
    h_t, w_t = roiset.frame_height_width
    h, w = (int(v) for v in (frame_height_width or (h_t, w_t)))
    if remappingIdx is not None:
        ri = np.asarray(remappingIdx, dtype=np.float32)
        if ri.shape != (h_t, w_t, 2):
            raise reg.RegistrationError(f"remappingIdx shape {ri.shape} does not match the ROI "
                                        f"frame {(h_t, w_t)}")

        def fwd(p):
            return reg.remap_points(p, ri)

        inv = reg.invert_remappingIdx(ri, fill_value=None)
        if (h, w) != (h_t, w_t):
            raise reg.RegistrationError("non-rigid transfer needs equal frame sizes")
    else:
        m = reg.as_3x3(warp_matrix)
        if not np.all(np.isfinite(m)):
            raise reg.RegistrationError(f"{source}: warp matrix is not finite (registration "
                                        "failed)")

        def fwd(p):
            return reg.transform_points(p, m)

        inv = reg.warp_matrix_to_remappingIdx(reg.invert_warp_matrix(m), w, h)
    polys = {}
    for name, v in roiset.polygons.items():
        wv = fwd(v).astype(np.float64)
        clipped = np.clip(wv, -0.5, [w - 0.5, h - 0.5])
        if not np.allclose(clipped, wv):
            logger.warning("%s: ROI '%s' moves partly outside the %dx%d frame; vertices "
                           "clipped", source, name, w, h)
        polys[name] = clipped.astype(np.float32)
    masks = {}
    for name, mk in roiset.masks().items():
        warped = reg.remap_images(mk.astype(np.float32), inv, border_value=0.0)
        masks[name] = warped > 0.5
    pts = fwd(roiset.points()).astype(np.float32)
    outside = (pts[:, 0] < -0.5) | (pts[:, 0] > w - 0.5) | (pts[:, 1] < -0.5) | \
        (pts[:, 1] > h - 0.5)
    if outside.any():
        logger.warning("%s: %d of %d points fall outside the %dx%d frame after the warp",
                       source, int(outside.sum()), len(pts), w, h)
    return RoiSet(polygons=polys, frame_height_width=(h, w),
                  point_spacing=roiset.point_spacing, points_from=roiset.points_from,
                  mask_from=roiset.mask_from, fixed_points=pts, fixed_masks=masks,
                  source=source)


# ----------------------------------------------------------------------------- reference class


class Image_preparation_pipeline:
    """Reference-image pipeline (the original package's class): downsample -> VQT ->
    keep low-spectral-power frames -> mean -> sqrt -> normalise -> CLAHE.

    Parameters
    ----------
    ds_factor : int
        Spatial downsampling for the spectral analysis.
    ptile_specVar_keep : float
        Percentile of per-frame spectral power at or below which frames are kept.
    ptile_intensity_keep : float
        Kept for compatibility (unused, as in the original).
    params_vqt : dict, optional
        ``vqt.VQT`` kwargs; ``Fs_sample`` is the frame rate (required here or in
        :meth:`apply_pipeline`).
    clip_limit : float
        CLAHE clip limit.
    grid_size : int
        CLAHE tile grid.
    verbose : bool
        Log progress at INFO level.
    """

    def __init__(self, ds_factor: int = 20, ptile_specVar_keep: float = 10,
                 ptile_intensity_keep: float = 90, params_vqt: Mapping[str, Any] | None = None,
                 clip_limit: float = 2.0, grid_size: int = 20, verbose: bool = True):
        self.ds_factor = int(ds_factor)
        self.ptile_specVar_keep = float(ptile_specVar_keep)
        self.ptile_intensity_keep = float(ptile_intensity_keep)
        self.params_vqt = dict(params_vqt or {})
        self.clip_limit = float(clip_limit)
        self.grid_size = int(grid_size)
        self.verbose = bool(verbose)
        self.result: ReferenceFrame | None = None

    def downsample(self, images: np.ndarray, ds_factor: int | None = None) -> np.ndarray:
        """(n, H, W[, C]) -> (n, H // ds, W // ds) float32."""
        return downsample_frames(images, int(ds_factor or self.ds_factor))

    def _frame_rate(self, params_vqt: Mapping[str, Any]) -> float:
        fs = params_vqt.get("Fs_sample")
        if fs is None:
            raise AlignmentParamsError("params_vqt needs 'Fs_sample' (the video frame rate, Hz)")
        return float(fs)

    def find_low_spectral_variance_idx(self, images_ds: np.ndarray, images: np.ndarray,
                                       ptile_specVar_keep: float | None = None,
                                       ptile_intensity_keep: float | None = None,
                                       params_vqt: Mapping[str, Any] | None = None
                                       ) -> np.ndarray:
        """Square-rooted, max-normalised mean of the low-power frames, (H, W) float32."""
        pv = dict(params_vqt if params_vqt is not None else self.params_vqt)
        fs = self._frame_rate(pv)
        power = spectral_power_per_frame(images_ds, fs, {k: v for k, v in pv.items()
                                                         if k != "Fs_sample"})
        kept, thr = select_still_frames(power, ptile_specVar_keep or self.ptile_specVar_keep)
        if self.verbose:
            logger.info("keeping %d of %d frames (power <= %.4g)", int(kept.sum()), len(kept),
                        thr)
        self.power_, self.kept_ = power, kept
        im = np.sqrt(np.clip(_gray_float(images)[kept].mean(axis=0), 0, None))
        return (im / max(float(im.max()), 1e-12)).astype(np.float32)

    def apply_clahe(self, image: np.ndarray, clip_limit: float | None = None,
                    grid_size: int | None = None) -> np.ndarray:
        """CLAHE, (H, W) float32 in [0, 1]."""
        c = clahe(image, grid_size=grid_size or self.grid_size,
                  clipLimit=self.clip_limit if clip_limit is None else clip_limit)
        return (c / 65535.0).astype(np.float32)

    def apply_pipeline(self, images: np.ndarray, frame_rate: float | None = None) -> np.ndarray:
        """Full pipeline on (n, H, W[, C]) frames -> (H, W) float32 reference image."""
        pv = dict(self.params_vqt)
        if frame_rate is not None:
            pv["Fs_sample"] = float(frame_rate)
        ds = self.downsample(images)
        im = self.find_low_spectral_variance_idx(ds, images, params_vqt=pv)
        return self.apply_clahe(im)
