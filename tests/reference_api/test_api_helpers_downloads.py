"""Hashes, hash comparison, zip extraction and downloads (face_rhythm.downloads).

Downloads are tested against ``file://`` URLs and a local ``http.server``; never the internet.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import zipfile

import pytest

from face_rhythm import helpers
from face_rhythm.downloads import hash_file
from face_rhythm.errors import ConfigError, DownloadError, PathExistsError

DATA = bytes(range(256)) * 400 + b"tail"  # 102404 bytes: more than one read buffer


@pytest.fixture
def src(tmp_path):
    p = tmp_path / "src" / "weights.bin"
    p.parent.mkdir()
    p.write_bytes(DATA)
    return p


@pytest.mark.parametrize("kind", ["MD5", "SHA1", "SHA256", "SHA512", "sha256"])
def test_hash_file_equals_hashlib(src, kind):
    want = hashlib.new(kind.lower(), DATA).hexdigest()
    assert hash_file(src, kind) == want
    assert hash_file(src, kind, buffer_size=1000) == want
    assert hash_file(src) == hashlib.md5(DATA).hexdigest()  # the reference's default


def test_hash_file_unknown_type(src):
    with pytest.raises(ConfigError, match="CRC"):
        hash_file(src, "CRC")


def test_compare_file_hashes(src, tmp_path):
    other = src.parent / "deep" / "b.txt"
    other.parent.mkdir()
    other.write_bytes(b"b")
    true = {"w": ("weights.bin", hashlib.md5(DATA).hexdigest()),
            "b": ("b.txt", hashlib.sha256(b"b").hexdigest()),  # type from the digest length
            "bad": ("b.txt", hashlib.md5(b"not b").hexdigest()),
            "gone": ("missing.txt", "0" * 32)}
    total, each, paths = helpers.compare_file_hashes(true, dir_files_test=src.parent)
    assert total is False
    assert each == {"w": True, "b": True, "bad": False, "gone": False}
    assert paths == {"w": str(src), "b": str(other)}
    ok = {k: true[k] for k in ("w", "b")}
    assert helpers.compare_file_hashes(ok, paths_files_test=[str(src), str(other)])[0]
    assert not helpers.compare_file_hashes(ok, paths_files_test=[str(src)])[0]
    with pytest.raises(ConfigError):
        helpers.compare_file_hashes(ok)


def test_extract_zip_known_contents(tmp_path):
    zpath = tmp_path / "pack.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("a.txt", "A")
        z.writestr("dir/", "")
        z.writestr("dir/b.bin", DATA)
    out = helpers.extract_zip(zpath, tmp_path / "out")
    assert out == [str(tmp_path / "out" / "a.txt"), str(tmp_path / "out" / "dir" / "b.bin")]
    assert (tmp_path / "out" / "dir" / "b.bin").read_bytes() == DATA
    assert helpers.extract_zip(zpath) == [str(tmp_path / "a.txt"), str(tmp_path / "dir/b.bin")]
    assert (tmp_path / "a.txt").read_text() == "A"


def test_download_file_url_with_hash_check(src, tmp_path):
    dst = tmp_path / "dl" / "w.bin"
    md5 = hashlib.md5(DATA).hexdigest()
    helpers.download_file(src.as_uri(), dst, check_hash=True, hash_hex=md5, mkdir=True,
                          chunk_size=4096)
    assert dst.read_bytes() == DATA
    # present with the right hash: not downloaded again (the source is gone)
    src.unlink()
    helpers.download_file(src.as_uri(), dst, check_hash=True, hash_hex=md5)
    helpers.download_file(None, dst, check_hash=True, hash_hex=md5)
    assert not [p for p in dst.parent.iterdir() if p.name.endswith(".tmp")]


def test_download_file_wrong_hash_writes_nothing(src, tmp_path):
    dst = tmp_path / "w.bin"
    with pytest.raises(DownloadError, match="differs"):
        helpers.download_file(src.as_uri(), dst, check_hash=True, hash_type="SHA256",
                              hash_hex="0" * 64)
    assert not dst.exists()
    assert list(tmp_path.iterdir()) == [src.parent]  # no temporary left
    # a local file with a wrong hash is replaced by a good download
    dst.write_bytes(b"corrupt")
    sha = hashlib.sha256(DATA).hexdigest()
    helpers.download_file(src.as_uri(), dst, check_hash=True, hash_type="SHA256", hash_hex=sha)
    assert dst.read_bytes() == DATA


def test_download_file_local_file_rules(src, tmp_path):
    dst = tmp_path / "w.bin"
    dst.write_bytes(b"old")
    helpers.download_file(src.as_uri(), dst)  # check_local_first: kept
    assert dst.read_bytes() == b"old"
    with pytest.raises(PathExistsError):
        helpers.download_file(src.as_uri(), dst, check_local_first=False, allow_overwrite=False)
    helpers.download_file(src.as_uri(), dst, check_local_first=False)
    assert dst.read_bytes() == DATA
    with pytest.raises(ConfigError, match="hash_hex"):
        helpers.download_file(src.as_uri(), dst, check_hash=True)
    with pytest.raises(DownloadError, match="url is None"):
        helpers.download_file(None, tmp_path / "absent.bin")
    with pytest.raises(DownloadError, match="cannot be read"):
        helpers.download_file((tmp_path / "nothing.bin").as_uri(), tmp_path / "n.bin")
    assert not (tmp_path / "n.bin").exists()


def test_download_file_over_local_http(src, tmp_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=src.parent)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/weights.bin"
        dst = tmp_path / "http.bin"
        helpers.download_file(url, dst, check_hash=True, hash_type="SHA1",
                              hash_hex=hashlib.sha1(DATA).hexdigest(), verbose=False)
        assert dst.read_bytes() == DATA
        with pytest.raises(DownloadError, match="404"):
            helpers.download_file(url + ".missing", tmp_path / "m.bin")
    finally:
        server.shutdown()
        server.server_close()
