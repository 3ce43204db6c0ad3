"""Reference frames per session: a clean picture of the face at rest.

A session's **reference frame** is what registration across sessions works on
(:func:`~.register.register_images`):

1. downsample the grayscale frames by ``ds_factor`` (area average);
2. VQT (the ``vqt`` package) of every downsampled pixel's intensity over time; a frame's
   spectral power is the mean magnitude over pixels and frequencies at that frame;
3. keep the frames at or below the ``ptile_specVar_keep`` percentile of power (the still
   ones);
4. average the kept full-resolution frames, square-root, normalise to [0, 1], CLAHE.

Videos are streamed twice (:func:`face_rhythm.video.iter_chunks`): once for the small
downsampled stack, once to average the kept full-resolution frames, so memory stays at
``n_frames * (H / ds) * (W / ds)`` floats plus two frames. Parameters:
:class:`~.params.ReferenceFrameParams`; the file: :mod:`.results`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import torch

from face_rhythm.errors import AlignmentParamsError
from face_rhythm.rois import clahe
from face_rhythm.spectral_analysis import make_vqt
from face_rhythm.video import iter_chunks, validate_videos

from .params import DEFAULT_PARAMS_VQT_REFERENCE, ReferenceFrameParams

logger = logging.getLogger(__name__)

__all__ = [
    "ReferenceFrame",
    "clahe",
    "downsample_frames",
    "finish_reference_image",
    "reference_frame_from_frames",
    "reference_frame_from_videos",
    "select_still_frames",
    "spectral_power_per_frame",
    "to_uint8",
]


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

