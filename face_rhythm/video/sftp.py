"""``sftp://`` URLs and the credentials to reach them (used by the ffmpeg backend).

A session's video may be given as ``sftp://user@host[:port]/absolute/path.mp4``
(:func:`is_remote` is the one test for that; :func:`parse_sftp_url` splits it).

Authentication
--------------
Key-based first: libssh tries the SSH agent and the default keys (``~/.ssh/id_*``, and
``IdentityFile`` from ``~/.ssh/config``), or the key named by ``FACE_RHYTHM_SFTP_KEY`` /
``private_key=``. Measured with Debian 12's ffmpeg 5.1 (libssh-gcrypt 0.10.6): RSA keys work,
ed25519 and ECDSA key files are silently not offered, so use an RSA key. Only if that fails is
a password used: from the constructor (reference API), the environment variable
``FACE_RHYTHM_SFTP_PASSWORD``, or an interactive prompt (when stdin is a terminal). Passwords
are never accepted inside URLs (URLs end up in configs, logs and ``run_info``) and never
appear in logs, error messages or on a command line: ffmpeg receives the password-bearing URL
through a private (0600) ffconcat list file that is deleted after each call (:class:`_Call`).
It is kept in memory (per user, host and port) for the life of the process.

Security note: ffmpeg's libssh protocol does **not** verify the server's host key (it never
consults ``known_hosts``). Use it on trusted networks, or tunnel (``ssh -L``) through a
verified connection; prefer key-based authentication, which a spoofed server cannot replay.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import sys
import tempfile
import threading
import urllib.parse
from pathlib import Path
from typing import Any

from ..errors import RemoteVideoError

#: Environment variable holding the SFTP password (used only if key-based auth fails).
PASSWORD_ENV = "FACE_RHYTHM_SFTP_PASSWORD"
#: Environment variable naming a private key file for SFTP.
KEY_ENV = "FACE_RHYTHM_SFTP_KEY"


_FORBIDDEN_PASSWORD_CHARS = set(":@/'\\\n\r\t ")


def is_remote(path: Any) -> bool:
    """Whether ``path`` is an ``sftp://`` URL."""
    return isinstance(path, str) and path.lower().startswith("sftp://")


@dataclasses.dataclass(frozen=True)
class SFTPLocation:
    """A file on an SFTP server (no credentials).

    Attributes
    ----------
    host : str
    path : str
        Absolute path on the server.
    user : str or None
        Login name (``None``: libssh's default, the local user or ``~/.ssh/config``).
    port : int
    """

    host: str
    path: str
    user: str | None = None
    port: int = 22

    def url(self, password: str | None = None) -> str:
        """``sftp://user@host:port/path`` (with ``user:password@`` only when given)."""
        cred = ""
        if self.user:
            cred = self.user + (f":{password}" if password else "") + "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"sftp://{cred}{host}:{self.port}{urllib.parse.quote(self.path, safe='/')}"

    def __str__(self) -> str:
        return self.url()


def parse_sftp_url(url: str) -> SFTPLocation:
    """Parse ``sftp://[user@]host[:port]/path``.

    Raises
    ------
    RemoteVideoError
        Not an sftp URL, no host or path, a bad port, or a password inside the URL.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "sftp":
        raise RemoteVideoError(f"{url}: not an sftp:// URL")
    if parts.password is not None:
        shown = urllib.parse.urlunsplit(parts._replace(
            netloc=f"{parts.username}:***@{parts.hostname}" +
                   (f":{parts.port}" if parts.port else "")))
        raise RemoteVideoError(f"{shown}: passwords are not accepted in sftp:// URLs (they would be "
                         f"written to configs and logs); use an SSH key or {PASSWORD_ENV}")
    if not parts.hostname:
        raise RemoteVideoError(f"{url}: no host in the sftp:// URL")
    try:
        port = parts.port or 22
    except ValueError:
        raise RemoteVideoError(f"{url}: invalid port") from None
    path = urllib.parse.unquote(parts.path)
    if not path or path == "/":
        raise RemoteVideoError(f"{url}: no file path in the sftp:// URL")
    return SFTPLocation(host=parts.hostname, path=path, user=parts.username or None, port=port)


class _Credentials:
    """Password and key for one server; the password is never shown."""

    def __init__(self, password: str | None = None, private_key: str | None = None) -> None:
        if password is not None:
            if not password:
                password = None
            elif _FORBIDDEN_PASSWORD_CHARS & set(password):
                raise RemoteVideoError("the SFTP password contains a character that ffmpeg's sftp URL "
                                 "syntax cannot carry (one of : @ / ' \\ or whitespace); use an "
                                 "SSH key instead")
        self._password = password
        self.private_key = private_key

    @property
    def has_password(self) -> bool:
        return self._password is not None

    def __repr__(self) -> str:
        return f"_Credentials(password={'***' if self._password else None}, " \
               f"private_key={self.private_key!r})"


_PASSWORD_CACHE: dict[tuple[str | None, str, int], _Credentials] = {}
_CACHE_LOCK = threading.Lock()


def _default_key() -> str | None:
    key = os.environ.get(KEY_ENV)
    if key:
        p = Path(key).expanduser()
        if not p.is_file():
            raise RemoteVideoError(f"{KEY_ENV}={key}: private key file not found")
        return str(p)
    return None


def _ask_password(loc: SFTPLocation) -> str | None:
    pw = os.environ.get(PASSWORD_ENV)
    if pw:
        return pw
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(f"SFTP password for {loc.user or ''}@{loc.host}:{loc.port}: ")
    return None


class _Input:
    """ffmpeg input arguments for a local path or an SFTP location with credentials."""

    def __init__(self, target: str | SFTPLocation, creds: _Credentials | None) -> None:
        self.target = target
        self.creds = creds
        self.display = str(target)

    def args(self, tmpdir: str | None) -> list[str]:
        """Arguments before and including ``-i``; ``tmpdir`` needed for password auth."""
        if isinstance(self.target, str):
            return ["-i", self.target]
        creds = self.creds or _Credentials()
        key = ["-private_key", creds.private_key] if creds.private_key else []
        if not creds.has_password:
            return [*key, "-i", self.target.url()]
        assert tmpdir is not None
        listfile = Path(tmpdir) / "input.ffconcat"
        lines = ["ffconcat version 1.0", f"file '{self.target.url(creds._password)}'"]
        if creds.private_key:
            lines.append(f"option private_key '{creds.private_key}'")
        lines.append("duration 1000000000")  # lets ffprobe seek to the end through concat
        fd = os.open(listfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        return ["-f", "concat", "-safe", "0", "-protocol_whitelist", "file,sftp", "-i",
                str(listfile)]

    def scrub(self, text: str) -> str:
        """Remove the password from a text (ffmpeg's stderr) before it is shown."""
        pw = self.creds._password if self.creds is not None else None
        return text.replace(pw, "***") if pw else text


class _Call:
    """Context manager: a private temp dir for one ffmpeg/ffprobe call (password list file)."""

    def __init__(self, inp: _Input) -> None:
        self.inp = inp
        self.tmp: tempfile.TemporaryDirectory | None = None

    def __enter__(self) -> list[str]:
        if self.inp.creds is not None and self.inp.creds.has_password:
            self.tmp = tempfile.TemporaryDirectory(prefix="face_rhythm_sftp_")
            os.chmod(self.tmp.name, 0o700)
            return self.inp.args(self.tmp.name)
        return self.inp.args(None)

    def __exit__(self, *exc: object) -> None:
        if self.tmp is not None:
            self.tmp.cleanup()


def _auth_failed(stderr: str) -> bool:
    s = stderr.lower()
    return "authentication failed" in s or "permission denied" in s and "sftp" in s
