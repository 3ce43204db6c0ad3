"""RoMa registration backend and verified download of its weights.

:func:`fetch_weights` downloads a weights file once into the torch hub cache and verifies
it by hash (SHA-256 when pinned, else MD5); :class:`RoMa` matches dense keypoints between
two images with the optional ``romatch`` package and fits a warp to them (see
:class:`.base.ImageRegistrationMethod`).

Every name here is also importable from :mod:`face_rhythm.registration`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from face_rhythm.atomic import atomic_path
from face_rhythm.downloads import hash_file as _hash_file

from .base import MULTISESSION_EXTRA_HINT, ImageRegistrationMethod
from .warps import RegistrationError, _as_gray_float

logger = logging.getLogger(__name__)

__all__ = ["RoMa", "fetch_weights", "hash_file"]


def hash_file(path: str | os.PathLike, type_hash: str = "SHA256", buffer_size: int = 1 << 20
              ) -> str:
    """Hex digest of a file (:func:`face_rhythm.downloads.hash_file`, SHA-256 by default here:
    the RoMa weights are pinned by SHA-256)."""
    return _hash_file(path, type_hash, buffer_size)


def _expected_hashes(entry: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for algo in ("sha256", "md5"):
        v = entry.get(algo)
        if v:
            out[algo] = str(v).lower()
    if "hash" in entry and entry.get("hash") and "md5" not in out:  # reference table style
        out[str(entry.get("hash_type", "md5")).lower()] = str(entry["hash"]).lower()
    return out


def _verify(path: Path, expected: Mapping[str, str]) -> tuple[bool, str]:
    algo = "sha256" if "sha256" in expected else next(iter(expected))
    got = hash_file(path, algo)
    return got == expected[algo], f"{algo} {got} (expected {expected[algo]})"


def fetch_weights(entry: Mapping[str, Any], fallback: Mapping[str, Any] | None = None,
                  cache_dir: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Download (once) and verify a weights file; return its local path.

    Parameters
    ----------
    entry : dict
        ``{"url": ..., "filename": ..., "sha256": hex}`` (``"md5"`` accepted when no SHA-256
        is pinned; at least one hash is required).
    fallback : dict, optional
        Same keys; a mirror tried when the primary download fails or does not verify.
    cache_dir : path-like, optional
        Where weights live; default ``torch.hub.get_dir()/checkpoints`` (``TORCH_HOME``).
    progress : bool
        Show the download progress bar.

    Returns
    -------
    Path
        Verified file. A cached file is re-hashed only when its size or mtime changed since
        the last verification (recorded in ``<file>.verified``).

    Raises
    ------
    RuntimeError
        Every source failed (the message names the file, URLs and hashes).
    """
    cache = Path(cache_dir) if cache_dir is not None else Path(torch.hub.get_dir()) / "checkpoints"
    expected = _expected_hashes(entry)
    if not expected:
        raise RegistrationError(f"weights entry {entry.get('filename')!r} has no sha256 or md5 "
                                "hash; refusing to load unverified weights")
    path = cache / str(entry["filename"])
    stamp = path.with_name(path.name + ".verified")
    if path.is_file():
        st = path.stat()
        key = f"{st.st_size} {st.st_mtime_ns}"
        if stamp.is_file() and stamp.read_text().strip() == key:
            return path
        ok, msg = _verify(path, expected)
        if ok:
            stamp.write_text(key)
            return path
        logger.warning("%s: cached weights fail verification (%s); downloading again", path, msg)
        path.unlink()
    errors = []
    for src in [entry] + ([fallback] if fallback else []):
        url = src.get("url")
        if not url:
            continue
        exp = _expected_hashes(src) or expected
        try:
            with atomic_path(path) as tmp:
                logger.info("downloading %s -> %s", url, path)
                torch.hub.download_url_to_file(str(url), str(tmp), progress=progress)
                ok, msg = _verify(tmp, exp)
                if not ok:
                    raise RuntimeError(f"hash mismatch: {msg}")
        except (OSError, RuntimeError, ValueError) as e:  # network, hash: try the next source
            errors.append(f"{url}: {e}")
            logger.warning("weights download from %s failed: %s", url, e)
            continue
        st = path.stat()
        stamp.write_text(f"{st.st_size} {st.st_mtime_ns}")
        return path
    raise RuntimeError(f"could not get verified weights {entry.get('filename')!r} into {cache}: "
                       + "; ".join(errors))


def _import_romatch():
    try:
        import romatch
    except ImportError as e:
        raise ImportError(f"the RoMa registration backend needs the 'romatch' package: "
                          f"{MULTISESSION_EXTRA_HINT}") from e
    return romatch


class RoMa(ImageRegistrationMethod):
    """Dense feature-matching registration with RoMa (optional extra, GPU recommended).

    Requires ``romatch`` (``pip install face-rhythm[multisession]``). On first use the RoMa
    and DINOv2 weights (~1.5 GB) are downloaded by :func:`fetch_weights` into
    ``torch.hub.get_dir()/checkpoints`` (set ``TORCH_HOME`` to move it) and verified by hash
    (SHA-256 when pinned in ``weight_urls``, else the published MD5).

    Parameters
    ----------
    model_type : {"outdoor", "indoor"}
    n_points : int
        Matches sampled per image pair.
    batch_size : int
        Kept for API compatibility.
    device : str
        Torch device (RoMa on CPU takes minutes per pair).
    weight_urls, fallback_weight_urls : dict, optional
        ``{"romatch": {"outdoor": entry, "indoor": entry}, "dinov2": entry}`` with entries
        as in :func:`fetch_weights`.
    cache_dir : path-like, optional
    """

    DEFAULT_WEIGHT_URLS: ClassVar[dict[str, Any]] = {
        "dinov2": {"filename": "dinov2_vitl14_pretrain.pth",
                   "md5": "19a02c10947ed50096ce382b46b15662", "sha256": None,
                   "url": "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/"
                          "dinov2_vitl14_pretrain.pth"},
        "romatch": {
            "indoor": {"filename": "roma_indoor.pth", "md5": "349a17aaa21883bb164b1a5884febb21",
                       "sha256": None,
                       "url": "https://github.com/Parskatt/storage/releases/download/roma/"
                              "roma_indoor.pth"},
            "outdoor": {"filename": "roma_outdoor.pth",
                        "md5": "9a451dfb65745e777bf916db6ea84933", "sha256": None,
                        "url": "https://github.com/Parskatt/storage/releases/download/roma/"
                               "roma_outdoor.pth"},
        },
    }
    DEFAULT_FALLBACK_WEIGHT_URLS: ClassVar[dict[str, Any]] = {
        "dinov2": {"filename": "dinov2_vitl14_pretrain.pth",
                   "md5": "19a02c10947ed50096ce382b46b15662", "sha256": None,
                   "url": "https://osf.io/tmj5c/download"},
        "romatch": {
            "indoor": {"filename": "roma_indoor.pth", "md5": "349a17aaa21883bb164b1a5884febb21",
                       "sha256": None, "url": "https://osf.io/uzx64/download"},
            "outdoor": {"filename": "roma_outdoor.pth",
                        "md5": "9a451dfb65745e777bf916db6ea84933", "sha256": None,
                        "url": "https://osf.io/cmzpa/download"},
        },
    }

    def __init__(self, model_type: str = "outdoor", n_points: int = 10000,
                 batch_size: int = 1000, device: str = "cpu",
                 weight_urls: Mapping[str, Any] | None = None,
                 fallback_weight_urls: Mapping[str, Any] | None = None,
                 verbose: bool = False, *, cache_dir: str | os.PathLike | None = None):
        super().__init__(device=device, verbose=verbose)
        if model_type not in ("outdoor", "indoor"):
            raise RegistrationError(f"RoMa model_type must be 'outdoor' or 'indoor', got "
                                    f"{model_type!r}")
        romatch = _import_romatch()
        self.roma_model_type = model_type
        self.n_points = int(n_points)
        self.batch_size = int(batch_size)
        self.weight_urls = dict(weight_urls or self.DEFAULT_WEIGHT_URLS)
        self.fallback_weight_urls = dict(fallback_weight_urls or self.DEFAULT_FALLBACK_WEIGHT_URLS)
        p_roma = fetch_weights(self.weight_urls["romatch"][model_type],
                               self.fallback_weight_urls.get("romatch", {}).get(model_type),
                               cache_dir=cache_dir, progress=bool(verbose))
        p_dino = fetch_weights(self.weight_urls["dinov2"],
                               self.fallback_weight_urls.get("dinov2"), cache_dir=cache_dir,
                               progress=bool(verbose))
        weights = torch.load(p_roma, map_location=self.device, weights_only=True)
        dinov2_weights = torch.load(p_dino, map_location=self.device, weights_only=True)
        factory = romatch.roma_outdoor if model_type == "outdoor" else romatch.roma_indoor
        self.model = factory(device=self.device, weights=weights, dinov2_weights=dinov2_weights)

    def _forward_rigid(self, im_template, im_moving, **kwargs) -> tuple[np.ndarray, np.ndarray]:
        from PIL import Image

        def to_pil(im):
            a = _as_gray_float(im, "image")
            lo, hi = float(a.min()), float(a.max())
            u8 = np.clip((a - lo) / max(hi - lo, 1e-12) * 255, 0, 255).astype(np.uint8)
            return Image.fromarray(np.stack([u8] * 3, axis=-1))

        ia, ib = to_pil(im_template), to_pil(im_moving)
        (wa, ha), (wb, hb) = ia.size, ib.size
        warp, certainty = self.model.match(ia, ib, device=self.device)
        matches, _ = self.model.sample(warp, certainty, num=self.n_points)
        ka, kb = self.model.to_pixel_coordinates(matches, ha, wa, hb, wb)
        return ka.detach().cpu().numpy(), kb.detach().cpu().numpy()
