"""Fetched files: hashes, comparing files against known hashes, zip files, downloads.

The reference package's ``face_rhythm.helpers.hash_file``, ``compare_file_hashes``,
``extract_zip`` and ``download_file`` (``hashlib``, ``zipfile``, ``urllib``);
:mod:`face_rhythm.helpers` re-exports them. A download is streamed into a temporary file,
its hash checked, and only then renamed into place, so a corrupted download never replaces a
file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from pathlib import Path
from typing import IO, Any

from .errors import ConfigError, DownloadError
from .files import _open_for_writing, prepare_directory_for_loading, prepare_filepath_for_loading

logger = logging.getLogger(__name__)

__all__ = ["compare_file_hashes", "download_file", "extract_zip", "hash_file"]

#: hashlib names of the reference's hash types
HASH_TYPES = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}


def _hashlib_name(type_hash: str) -> str:
    name = HASH_TYPES.get(str(type_hash).upper().replace("-", ""))
    if name is None:
        raise ConfigError(f"hash type {type_hash!r}: expected one of {sorted(HASH_TYPES)}")
    return name


def hash_file(path: str | os.PathLike, type_hash: str = "MD5", buffer_size: int = 65536) -> str:
    """Hex digest of a file's bytes (``hashlib``), read ``buffer_size`` bytes at a time.

    Parameters
    ----------
    path : path-like
    type_hash : str
        ``'MD5'``, ``'SHA1'``, ``'SHA256'`` or ``'SHA512'``.
    buffer_size : int
        Bytes per read.

    Returns
    -------
    str
        Lower-case hex digest, as ``hashlib.<type>(data).hexdigest()``.
    """
    h = hashlib.new(_hashlib_name(type_hash))
    with open(prepare_filepath_for_loading(path), "rb") as f:
        while chunk := f.read(int(buffer_size)):
            h.update(chunk)
    return h.hexdigest()


def _hash_type_of(hex_digest: str) -> str:
    return {32: "MD5", 40: "SHA1", 64: "SHA256", 128: "SHA512"}.get(len(hex_digest), "MD5")


def compare_file_hashes(hash_dict_true: dict[str, tuple[str, str]],
                        dir_files_test: str | os.PathLike | None = None,
                        paths_files_test: list[str] | None = None,
                        verbose: bool = True) -> tuple[bool, dict[str, bool], dict[str, str]]:
    """Check files against known hashes, finding each file by name.

    Parameters
    ----------
    hash_dict_true : dict
        ``{key: (filename, hex_digest)}``. The hash type follows from the digest's length
        (32 hex digits MD5, 40 SHA1, 64 SHA256, 128 SHA512).
    dir_files_test : path-like, optional
        Folder searched (with its subfolders) for the files; used when
        ``paths_files_test`` is None.
    paths_files_test : list of path-like, optional
        Candidate files.
    verbose : bool
        Log (WARNING) each key with no matching file.

    Returns
    -------
    total_result : bool
        Every key matched.
    individual_results : dict
        ``{key: bool}``.
    paths_matching : dict
        ``{key: path}`` of the file that matched, for the keys that matched.
    """
    if paths_files_test is None:
        if dir_files_test is None:
            raise ConfigError("compare_file_hashes: give dir_files_test or paths_files_test")
        root = Path(prepare_directory_for_loading(dir_files_test))
        paths_files_test = sorted(str(p) for p in root.rglob("*") if p.is_file())
    results: dict[str, bool] = {}
    matching: dict[str, str] = {}
    for key, (filename, digest) in hash_dict_true.items():
        digest = str(digest).lower()
        for p in paths_files_test:
            if Path(p).name == filename and hash_file(p, _hash_type_of(digest)) == digest:
                matching[key] = str(p)
                break
        results[key] = key in matching
        if verbose and not results[key]:
            logger.warning("compare_file_hashes: %s: no file %r with hash %s",
                           key, filename, digest)
    return all(results.values()), results, matching


def extract_zip(path_zip: str | os.PathLike, path_extract: str | os.PathLike | None = None,
                verbose: bool = True) -> list[str]:
    """Extract a zip file (``zipfile``; member paths cannot escape the target folder).

    Parameters
    ----------
    path_zip : path-like
    path_extract : path-like, optional
        Target folder (created if missing); the zip file's own folder if None.
    verbose : bool
        Log (INFO) what was extracted.

    Returns
    -------
    list of str
        Paths of the extracted files (folders not listed), in the zip's order.
    """
    path_zip = Path(prepare_filepath_for_loading(path_zip))
    target = path_zip.parent if path_extract is None else Path(path_extract).resolve()
    target.mkdir(parents=True, exist_ok=True)
    out: list[str] = []
    with zipfile.ZipFile(path_zip, "r") as z:
        for info in z.infolist():
            extracted = z.extract(info, target)
            if not info.is_dir():
                out.append(str(Path(extracted)))
    if verbose:
        logger.info("extracted %d files from %s to %s", len(out), path_zip, target)
    return out


# --------------------------------------------------------------------------- download
def download_file(url: str | None, path_save: str | os.PathLike, check_local_first: bool = True,
                  check_hash: bool = False, hash_type: str = "MD5",
                  hash_hex: str | None = None, mkdir: bool = False,
                  allow_overwrite: bool = True, write_mode: str = "wb", verbose: bool = True,
                  chunk_size: int = 1024) -> None:
    """Download ``url`` to ``path_save`` (``urllib``), optionally checking its hash.

    The file is streamed into a temporary file beside ``path_save``, its hash checked, and
    only then renamed into place: a failed or corrupted download never replaces a file.

    Parameters
    ----------
    url : str or None
        Any URL ``urllib.request.urlopen`` reads (``https://``, ``http://``, ``file://``).
        None: download nothing, only check the local file.
    path_save : path-like
        Where the file goes.
    check_local_first : bool
        If ``path_save`` exists, keep it and skip the download, unless ``check_hash`` and
        its hash differs from ``hash_hex`` (then it is downloaded again).
    check_hash : bool
        Check the local or downloaded file against ``hash_hex``.
    hash_type : str
        ``'MD5'``, ``'SHA1'``, ``'SHA256'`` or ``'SHA512'``.
    hash_hex : str, optional
        Expected hex digest (:func:`hash_file` or ``hashlib``); required with ``check_hash``.
    mkdir : bool
        Create the parent folder of ``path_save`` if missing.
    allow_overwrite : bool
        Replace an existing file with the download.
    write_mode : str
        ``'wb'`` (replace), ``'xb'`` (refuse an existing file) or ``'ab'`` (append to it).
    verbose : bool
        Log (INFO) what is done.
    chunk_size : int
        Bytes read per chunk.

    Raises
    ------
    ConfigError
        ``check_hash`` without ``hash_hex``, or an unknown ``hash_type``.
    DownloadError
        The URL cannot be read, or the downloaded file's hash differs from ``hash_hex``
        (nothing is written then), or ``url`` is None and there is no valid local file.
    """
    if check_hash and not hash_hex:
        raise ConfigError("download_file: check_hash=True needs hash_hex")
    algo = _hashlib_name(hash_type)
    hash_hex = None if hash_hex is None else str(hash_hex).lower()
    path = Path(path_save).expanduser().resolve()
    if check_local_first and path.is_file():
        if not check_hash:
            if verbose:
                logger.info("download_file: %s exists; not downloaded", path)
            return
        if hash_file(path, hash_type) == hash_hex:
            if verbose:
                logger.info("download_file: %s exists with the expected hash", path)
            return
        logger.warning("download_file: %s exists but its %s hash differs; downloading",
                       path, hash_type)
    if url is None:
        raise DownloadError(f"download_file: url is None and {path} is missing or has "
                            "the wrong hash")
    kind = write_mode.replace("b", "").replace("t", "")
    if kind == "a":
        with _open_for_writing(path, "ab", mkdir, allow_overwrite, binary=True) as f:
            _stream(url, f, None, chunk_size, DownloadError)
        return
    h = hashlib.new(algo)
    with _open_for_writing(path, write_mode, mkdir, allow_overwrite, binary=True) as f:
        if verbose:
            logger.info("download_file: %s -> %s", url, path)
        _stream(url, f, h, chunk_size, DownloadError)
        if check_hash and h.hexdigest() != hash_hex:
            raise DownloadError(f"download_file: {url}: {hash_type} hash {h.hexdigest()} "
                                f"differs from the expected {hash_hex}; {path} not written")
    return


def _stream(url: str, f: IO[bytes], h: Any, chunk_size: int, error: type) -> None:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url) as r:
            while chunk := r.read(int(chunk_size)):
                f.write(chunk)
                if h is not None:
                    h.update(chunk)
    except (urllib.error.URLError, OSError) as e:
        raise error(f"download_file: {url}: cannot be read ({e})") from e
