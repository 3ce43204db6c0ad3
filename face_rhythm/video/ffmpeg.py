"""Videos decoded by an ``ffmpeg`` subprocess: local files, or ``sftp://`` URLs.

Frames are streamed by ``ffmpeg`` (over SFTP by its libssh protocol: only the parts of the
file that the demuxer and decoder need are transferred, the index and the packets from the
keyframe before the first requested frame, never the whole file). Frames equal decord2's for
the same file (both use FFmpeg's swscale for YUV -> RGB; checked in
``tests/video/test_remote.py``). Credentials: see :mod:`face_rhythm.video.sftp`.

:class:`SFTPVideoFrameExtractor` is the reference API (``face_rhythm.alignment``) over it.

Requires the ``ffmpeg`` and ``ffprobe`` executables built with libssh (Debian's are).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
import threading
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import RemoteVideoError, VideoError
from .buffers import alloc_frames
from .sftp import (
    _CACHE_LOCK,
    _PASSWORD_CACHE,
    KEY_ENV,
    PASSWORD_ENV,
    SFTPLocation,
    _ask_password,
    _auth_failed,
    _Call,
    _Credentials,
    _default_key,
    _Input,
    is_remote,
    parse_sftp_url,
)
from .sources import FrameSource

logger = logging.getLogger(__name__)


_PROBE_TIMEOUT_S = 120.0


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise RuntimeError(f"{name}: executable not found on PATH; install ffmpeg (Debian: "
                           "apt-get install ffmpeg) to read videos with the ffmpeg backend or "
                           "over sftp://")
    return exe


def _parse_rate(text: str | None) -> float:
    try:
        r = Fraction(text) if text else None
    except (ValueError, ZeroDivisionError):
        return float("nan")
    return float(r) if r else float("nan")


class FFmpegSource(FrameSource):
    """A video decoded by an ``ffmpeg`` subprocess: a local path or an ``sftp://`` URL.

    Frame ``i`` is found by seeking to its timestamp, ``start_time + (i - 0.5) / rate``
    (``rate`` = the container's frame rate; a constant frame rate is assumed), so only the
    packets from the preceding keyframe on are read.

    Parameters
    ----------
    target : str
        Local path or ``sftp://[user@]host[:port]/path`` URL.
    password : str, optional
        SFTP password (else key-based auth, then :data:`PASSWORD_ENV` or a prompt).
    private_key : str, optional
        SFTP private key file (else :data:`KEY_ENV`, the agent and ``~/.ssh``).
    timeout_s : float
        Limit for metadata probes (frame reads are not limited).
    """

    backend = "ffmpeg"

    def __init__(self, target: str, password: str | None = None,
                 private_key: str | None = None, timeout_s: float = _PROBE_TIMEOUT_S) -> None:
        super().__init__(target)
        self._ffmpeg = _tool("ffmpeg")
        self._ffprobe = _tool("ffprobe")
        self.timeout_s = float(timeout_s)
        if is_remote(target):
            loc = parse_sftp_url(target)
            self.path = loc.url()
            key = private_key or _default_key()
            if password is not None:
                creds = _Credentials(password, key)
            else:
                with _CACHE_LOCK:
                    creds = _PASSWORD_CACHE.get((loc.user, loc.host, loc.port)) or \
                        _Credentials(None, key)
            self._input = _Input(loc, creds)
        else:
            self._input = _Input(str(target), None)
        self._probe()

    # -- metadata
    def _run_probe(self, read_end: bool = True) -> dict[str, Any]:
        """ffprobe's JSON: the video stream header, and (``read_end``) the pts of the packets
        from the last keyframe on."""
        entries = "stream=width,height,avg_frame_rate,r_frame_rate,nb_frames,start_time"
        with _Call(self._input) as in_args:
            cmd = [self._ffprobe, "-v", "error", *in_args, "-select_streams", "v:0"]
            if read_end:
                cmd += ["-read_intervals", "99999999%"]
                entries += ":packet=pts_time"
            cmd += ["-show_entries", entries, "-of", "json"]
            logger.debug("probing %s", self._input.display)
            try:
                res = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout_s,
                                     stdin=subprocess.DEVNULL, check=False)
            except subprocess.TimeoutExpired:
                raise RemoteVideoError(self.path, f"ffprobe timed out after {self.timeout_s:g} s "
                                                  "(server unreachable?)") from None
        err = self._input.scrub(res.stderr.strip())
        try:
            data = json.loads(res.stdout or "{}")
        except json.JSONDecodeError:
            data = {}
        if res.returncode != 0:
            if _auth_failed(err):
                return {"_auth_failed": err}
            if read_end and ("Could not read packets" in err or "Could not seek" in err):
                data = self._run_probe(read_end=False)  # header fine, end unreadable
                data["packets"] = []
                return data
            raise RemoteVideoError(self.path, f"not a readable video (ffprobe: "
                                              f"{_last_line(err)})")
        return data

    def _probe(self) -> None:
        data = self._run_probe()
        if "_auth_failed" in data:
            loc = self._input.target
            assert isinstance(loc, SFTPLocation)
            if self._input.creds is not None and self._input.creds.has_password:
                raise RemoteVideoError(self.path, "SSH authentication failed (key and password)")
            pw = _ask_password(loc)
            if pw is None:
                raise RemoteVideoError(self.path, "SSH authentication failed (key-based); load "
                                                  f"an RSA key (ssh-agent, ~/.ssh, {KEY_ENV}) or "
                                                  f"set {PASSWORD_ENV}")
            creds = _Credentials(pw, self._input.creds.private_key if self._input.creds else None)
            self._input = _Input(loc, creds)
            data = self._run_probe()
            if "_auth_failed" in data:
                raise RemoteVideoError(self.path, "SSH authentication failed (key and password)")
            with _CACHE_LOCK:
                _PASSWORD_CACHE[(loc.user, loc.host, loc.port)] = creds
        streams = data.get("streams") or []
        if not streams:
            raise RemoteVideoError(self.path, "no video stream (not a video, or no frames)")
        st = streams[0]
        self.width = int(st.get("width") or 0)
        self.height = int(st.get("height") or 0)
        rate = _parse_rate(st.get("avg_frame_rate"))
        if not (math.isfinite(rate) and rate > 0):
            rate = _parse_rate(st.get("r_frame_rate"))
        self.frame_rate = rate
        self._ts_rate = rate  # timestamps follow the container's rate, even when it "lies"
        try:
            self._start_time = float(st.get("start_time") or 0.0)
        except ValueError:
            self._start_time = 0.0
        declared = int(st["nb_frames"]) if str(st.get("nb_frames", "")).isdigit() else None
        self._declared = declared if declared else None
        pts = [float(p["pts_time"]) for p in data.get("packets", []) if "pts_time" in p]
        present = None
        if pts and math.isfinite(rate) and rate > 0:
            present = round((max(pts) - self._start_time) * rate) + 1
        if present is None and st.get("nb_frames") in ("0", 0):
            raise VideoError(self.path, "the video has no frames")
        if present is None and self._declared is None:
            raise RemoteVideoError(self.path, "no frames found (no frame count in the header, "
                                              "and no packets at the end of the file)")
        if present is None:
            raise RemoteVideoError(self.path, f"truncated or corrupt: the container declares "
                                              f"{self._declared} frames but its end is unreadable")
        # the header's count when it agrees with the packets present (+-1 for rounding);
        # otherwise the frames present, and validation reports the truncation
        if self._declared is not None and abs(present - self._declared) <= 1:
            self.n_frames = self._declared
        else:
            self.n_frames = present

    def declared_frames(self) -> int | None:
        """Frame count in the header (``None`` when absent)."""
        return self._declared

    # -- decoding
    def _cmd(self, in_args: list[str], start: int, count: int | None) -> list[str]:
        seek: list[str] = []
        vf: list[str] = []
        if start > 0:
            if math.isfinite(self._ts_rate) and self._ts_rate > 0:
                seek = ["-ss", f"{(start - 0.5) / self._ts_rate:.9f}"]
            else:  # no usable timestamps: decode from the start and drop frames
                vf = ["-vf", f"select=gte(n\\,{start})"]
        out = ["-frames:v", str(count)] if count is not None else []
        return [self._ffmpeg, "-nostdin", "-v", "error", *seek, *in_args, "-map", "0:v:0",
                *vf, *out, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]

    def iter_range(self, start: int, stop: int, chunk_size: int) -> Iterator[np.ndarray]:
        """Chunks of ``[start, stop)`` from a single ffmpeg process."""
        self._check_range(start, stop)
        if stop == start:
            return
        frame_bytes = self.height * self.width * 3
        with _Call(self._input) as in_args:
            cmd = self._cmd(in_args, start, stop - start)
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, bufsize=0)
            err_buf: list[bytes] = []
            err_thread = threading.Thread(target=lambda: err_buf.append(proc.stderr.read()),
                                          daemon=True)
            err_thread.start()
            got = 0
            try:
                while got < stop - start:
                    n = min(chunk_size, stop - start - got)
                    buf = alloc_frames((n, self.height, self.width, 3))
                    mv = memoryview(buf).cast("B")
                    filled = 0
                    while filled < n * frame_bytes:
                        k = proc.stdout.readinto(mv[filled:])
                        if not k:
                            break
                        filled += k
                    full = filled // frame_bytes
                    if full:
                        yield buf[:full]
                        got += full
                    if full < n:
                        break
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
                err_thread.join(timeout=5)
                proc.stdout.close()
            if got < stop - start:
                err = self._input.scrub(b"".join(err_buf).decode(errors="replace").strip())
                raise RemoteVideoError(self.path, f"ffmpeg decoded {got} of {stop - start} "
                                                  f"frames from frame {start} (truncated or "
                                                  f"corrupt file?){': ' + _last_line(err) if err else ''}")

    def read_range(self, start: int, stop: int) -> np.ndarray:
        self._check_range(start, stop)
        chunks = list(self.iter_range(start, stop, max(stop - start, 1)))
        if len(chunks) == 1:
            return chunks[0]
        return np.concatenate(chunks) if chunks else self._empty()


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "no message"


class SFTPVideoFrameExtractor:
    """Frames of remote videos over SFTP, streamed through ffmpeg (reference API).

    Parameters
    ----------
    host : str
        Host name or IP address.
    username : str
    password : str, optional
        Used only if key-based authentication fails (else :data:`PASSWORD_ENV` or a prompt).
        Never logged; ``repr`` hides it.
    port : int
    verbose : bool
        Log probes and reads at INFO level (else DEBUG).
    private_key : str, optional
        Private key file for key-based authentication.
    """

    def __init__(self, host: str, username: str, password: str | None = None, port: int = 22,
                 verbose: bool = True, private_key: str | None = None) -> None:
        if not host:
            raise RemoteVideoError("host is empty")
        if not 0 < int(port) < 65536:
            raise RemoteVideoError(f"port {port} outside 1..65535")
        self.host = host
        self.username = username
        self.port = int(port)
        self.verbose = verbose
        self.private_key = private_key
        self._creds = _Credentials(password, private_key) if password else None

    def url(self, remote_video_path: str) -> str:
        """``sftp://`` URL of a path on this server (without password)."""
        if not remote_video_path.startswith("/"):
            raise RemoteVideoError(f"{remote_video_path}: remote path must be absolute")
        return SFTPLocation(self.host, remote_video_path, self.username, self.port).url()

    def open(self, remote_video_path: str) -> FFmpegSource:
        """An :class:`FFmpegSource` on a remote video (probes it)."""
        pw = self._creds._password if self._creds is not None else None
        src = FFmpegSource(self.url(remote_video_path), password=pw,
                           private_key=self.private_key)
        (logger.info if self.verbose else logger.debug)(
            "%s: %d frames, %dx%d, %.3f Hz", src.path, src.n_frames, src.width, src.height,
            src.frame_rate)
        return src

    def extract_frames(self, remote_video_path: str, time_start: float, duration: float,
                       fps: float | None = None) -> np.ndarray:
        """Frames of ``[time_start, time_start + duration)`` seconds.

        Parameters
        ----------
        remote_video_path : str
            Absolute path on the server.
        time_start : float
            Start in seconds (frame ``floor(time_start * fps)``).
        duration : float
            Length in seconds; ``int(fps * duration)`` frames are returned (fewer at the end
            of the file, with a warning).
        fps : float, optional
            True frame rate in Hz (default: the container's).

        Returns
        -------
        np.ndarray
            ``(n_frames, H, W, 3)`` uint8 RGB.
        """
        src = self.open(remote_video_path)
        rate = src.frame_rate if fps is None else float(fps)
        if not (math.isfinite(rate) and rate > 0):
            raise RemoteVideoError(src.path, "no frame rate in the container; pass fps")
        first = max(math.floor(float(time_start) * rate + 1e-6), 0)
        n = int(float(duration) * rate + 1e-6)
        stop = min(first + n, src.n_frames)
        if n <= 0 or stop <= first:
            raise RemoteVideoError(src.path, f"no frames between {time_start} s and "
                                             f"{time_start + duration} s")
        if stop - first < n:
            logger.warning("%s: only %d of %d frames before the end of the video", src.path,
                           stop - first, n)
        (logger.info if self.verbose else logger.debug)(
            "%s: reading frames %d..%d", src.path, first, stop - 1)
        return src.read_range(first, stop)

    def __repr__(self) -> str:
        return (f"SFTPVideoFrameExtractor(host={self.host!r}, username={self.username!r}, "
                f"port={self.port}, password={'***' if self._creds else None})")
