"""ROI files: our YAML (``face-rhythm rois draw``), our ``rois.h5`` and the original ``ROIs.h5``.

* Our YAML file (written by ``face-rhythm rois draw`` or :func:`save_rois_yaml`)::

      format: face-rhythm-rois
      version: 1
      frame_height_width: [582, 782]
      point_spacing: 9
      points_from: [face]        # the grid fills the AND of these masks
      mask_from: [face]          # tracking mask = AND of these masks ([] -> whole frame)
      polygons:
        face: [[120.5, 80.0], [300.0, 95.25], [280.0, 400.0]]
      point_positions: [[x, y], ...]   # only when points were set explicitly

* Our ``rois.h5`` (:mod:`.results`), read through :func:`~.results.read_rois_h5`.
* The original package's ``ROIs.h5`` (``mask_images/mask_{i}``, ``roi_points/ROI_{i}``,
  ``point_positions``, ``exampleImage``): its stored masks and points are kept exactly.

:func:`load_rois` reads any of them into a :class:`~.roiset.RoiSet`;
:func:`load_example_image` gives the frame stored with an HDF5 ROI file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import yaml

from ..atomic import atomic_path
from ..errors import PathNotFoundError, RoiError
from .geometry import infer_point_spacing, polygon_to_mask
from .results import RoisFile, read_rois_h5
from .roiset import DEFAULT_POINT_SPACING, RoiSet

logger = logging.getLogger(__name__)

__all__ = ["load_example_image", "load_rois", "reference_mask_names", "roiset_from_rois_file",
           "save_rois_yaml"]

_H5_SUFFIXES = (".h5", ".hdf5", ".hdf")


def save_rois_yaml(roiset: RoiSet, path: str | os.PathLike) -> Path:
    """Write ``roiset`` as our YAML ROI file, atomically. Returns the path.

    Fixed masks (from an imported ``ROIs.h5`` whose masks differ from the filled polygons)
    cannot be stored in YAML: a warning is logged and the polygons are written.
    """
    path = Path(path)
    if roiset.fixed_masks is not None:
        h, w = roiset.frame_height_width
        differ = [n for n, v in roiset.polygons.items()
                  if not np.array_equal(polygon_to_mask(v, h, w), roiset.fixed_masks[n])]
        if differ:
            logger.warning("%s: masks of ROI(s) %s differ from their filled polygons; the YAML "
                           "file keeps only the polygons (use save_rois_h5 to keep masks)",
                           path, differ)
    d = roiset.to_yaml_dict()

    class _Dumper(yaml.SafeDumper):
        pass

    def _list_repr(dumper, data):  # vertex pairs on one line each
        flow = all(not isinstance(x, (list, dict)) for x in data)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)

    _Dumper.add_representer(list, _list_repr)
    text = "# face-rhythm ROI file: polygons as (x, y) pixel coordinates, pixel centres at " \
           "integers\n" + yaml.dump(d, Dumper=_Dumper, sort_keys=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    logger.info("saved ROIs to %s", path)
    return path


def _check_frame(roiset: RoiSet, frame_height_width: Sequence[int] | None, path: Path) -> None:
    if frame_height_width is None:
        return
    want = tuple(int(s) for s in frame_height_width)
    if tuple(roiset.frame_height_width) != want:
        raise RoiError(f"{path}: ROI file is for frames of {roiset.frame_height_width[1]}x"
                       f"{roiset.frame_height_width[0]} (WxH) but the video frames are "
                       f"{want[1]}x{want[0]}")


def _load_yaml(path: Path) -> RoiSet:
    try:
        d = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise RoiError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(d, dict) or "polygons" not in d:
        raise RoiError(f"{path}: not a face-rhythm ROI file (no 'polygons' key)")
    if "frame_height_width" not in d:
        raise RoiError(f"{path}: ROI file lacks 'frame_height_width'")
    return RoiSet(
        polygons=d["polygons"] or {},
        frame_height_width=tuple(d["frame_height_width"]),
        point_spacing=d.get("point_spacing", DEFAULT_POINT_SPACING),
        points_from=d.get("points_from"),
        mask_from=d.get("mask_from"),
        fixed_points=d.get("point_positions"),
        source=str(path),
    )


def _natural_key(name: str) -> tuple:
    tail = name.rsplit("_", 1)[-1]
    return (0, int(tail), name) if tail.isdigit() else (1, 0, name)


def _attach_stored(rs: RoiSet, masks: dict[str, np.ndarray] | None,
                   points: np.ndarray | None, path: Path) -> RoiSet:
    """Keep stored masks / points where they differ from what we would compute."""
    if masks is not None:
        computed = rs.masks()
        differ = {n: int((computed[n] != masks[n]).sum()) for n in rs.polygons}
        if any(differ.values()):
            logger.warning("%s: stored masks differ from the filled polygons by %s pixels; "
                           "keeping the stored masks", path, differ)
            rs.fixed_masks = masks
    if points is not None:
        p = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        if not np.array_equal(p, rs.grid()):
            rs.fixed_points = p
    return rs


def _load_h5(path: Path) -> RoiSet:
    with h5py.File(path, "r") as f:
        ours = "polygons" in f
        if not ours and ("roi_points" in f or "mask_images" in f):  # the original's ROIs.h5
            return _load_reference_h5(f, path)
    if ours:
        return roiset_from_rois_file(read_rois_h5(path))
    raise RoiError(f"{path}: HDF5 file has neither 'polygons' (face-rhythm rois.h5) nor "
                   "'roi_points' (original ROIs.h5)")


def roiset_from_rois_file(rf: RoisFile) -> RoiSet:
    """The :class:`RoiSet` stored in a ``rois.h5`` (from :func:`read_rois_h5`).

    Stored masks and points are kept where they differ from what the polygons give.
    """
    rs = RoiSet(polygons=rf.polygons, frame_height_width=rf.frame_height_width,
                point_spacing=rf.point_spacing, points_from=rf.points_from,
                mask_from=rf.mask_from, source=str(rf.path))
    return _attach_stored(rs, rf.masks or None, rf.point_positions, rf.path)


def _load_reference_h5(f, path: Path) -> RoiSet:
    if "roi_points" not in f or "mask_images" not in f:
        raise RoiError(f"{path}: original-format ROIs.h5 needs both 'roi_points' and "
                       "'mask_images'")
    roi_keys = sorted(f["roi_points"], key=_natural_key)
    mask_keys = sorted(f["mask_images"], key=_natural_key)
    if len(roi_keys) != len(mask_keys):
        raise RoiError(f"{path}: {len(roi_keys)} polygons in 'roi_points' but "
                       f"{len(mask_keys)} masks in 'mask_images'")
    if not roi_keys:
        raise RoiError(f"{path}: no ROIs in 'roi_points'")
    masks_list = [f["mask_images"][k][()].astype(bool) for k in mask_keys]
    hw = masks_list[0].shape
    if len(hw) != 2 or any(m.shape != hw for m in masks_list):
        raise RoiError(f"{path}: masks in 'mask_images' are not all 2-D of one shape")
    h, w = hw
    polys, masks = {}, {}
    for rk, mk_arr in zip(roi_keys, masks_list, strict=True):
        v = np.asarray(f["roi_points"][rk][()], dtype=np.float64).reshape(-1, 2)
        clipped = np.clip(v, -0.5, [w - 0.5, h - 0.5])
        if not np.array_equal(clipped, v):
            logger.warning("%s: ROI '%s' has vertices outside the %dx%d frame; clipped", path,
                           rk, w, h)
        polys[rk] = clipped
        masks[rk] = mk_arr
    pts = f["point_positions"][()] if "point_positions" in f else None
    spacing = infer_point_spacing(pts) if pts is not None and len(pts) > 1 else None
    rs = RoiSet(polygons=polys, frame_height_width=(h, w),
                point_spacing=spacing or DEFAULT_POINT_SPACING, source=str(path))
    return _attach_stored(rs, masks, pts, path)


def load_rois(path: str | os.PathLike,
              frame_height_width: Sequence[int] | None = None) -> RoiSet:
    """Read an ROI file: our YAML (``.yaml``/``.yml``), our ``rois.h5`` or an original ``ROIs.h5``.

    Parameters
    ----------
    path : path-like
        ROI file; the format is chosen by suffix (``.h5``/``.hdf5`` -> HDF5, else YAML).
    frame_height_width : (H, W), optional
        When given, a file drawn on frames of another size is a RoiError.

    Returns
    -------
    RoiSet
        Validated (masks and points computed once, so bad files fail here).
    """
    path = Path(path)
    if path.is_dir():
        raise RoiError(f"{path}: is a directory, not an ROI file (config rois.file)")
    if not path.is_file():
        raise PathNotFoundError(f"{path}: ROI file not found (config rois.file)")
    if path.stat().st_size == 0:
        raise RoiError(f"{path}: empty ROI file (0 bytes); draw the ROIs again "
                       "(`face-rhythm rois draw`) or point rois.file at another file")
    try:
        rs = _load_h5(path) if path.suffix.lower() in _H5_SUFFIXES else _load_yaml(path)
    except OSError as exc:  # h5py: truncated, not HDF5, unreadable
        raise RoiError(f"{path}: cannot read the ROI file ({str(exc).splitlines()[0]}); is "
                       "it a complete HDF5 file?") from None
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, RoiError):
            raise
        raise RoiError(f"{path}: not a usable ROI file ({type(exc).__name__}: "
                       f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    _check_frame(rs, frame_height_width, path)
    return rs.validate()


def load_example_image(path: str | os.PathLike) -> np.ndarray | None:
    """The frame stored with an ROI file, or None (YAML files store none).

    Parameters
    ----------
    path : path-like
        Our ``rois.h5`` (its ``example_frame``, :func:`~.results.read_rois_h5`) or an original
        ``ROIs.h5`` (its ``exampleImage``).

    Returns
    -------
    np.ndarray or None
        (H, W[, 3]) frame as stored.
    """
    path = Path(path)
    if path.suffix.lower() not in _H5_SUFFIXES:
        return None
    with h5py.File(path, "r") as f:
        if "polygons" not in f:  # the original's ROIs.h5
            return f["exampleImage"][()] if "exampleImage" in f else None
    return read_rois_h5(path).example_frame


def reference_mask_names(path: str | os.PathLike) -> list[str] | None:
    """The keys of ``mask_images`` in an original ``ROIs.h5``, in ROI order; None otherwise.

    Parameters
    ----------
    path : path-like
        Any ROI file; only an original-format ``ROIs.h5`` (``mask_images`` and no
        ``polygons``) has stored mask names (``mask_0``, ``mask_1``, ...).

    Returns
    -------
    list of str or None
        Naturally sorted (``mask_2`` before ``mask_10``), matching :func:`load_rois`'s order.
    """
    path = Path(path)
    if path.suffix.lower() not in _H5_SUFFIXES:
        return None
    with h5py.File(path, "r") as f:
        if "polygons" in f or "mask_images" not in f:
            return None
        return sorted(f["mask_images"], key=_natural_key)
