"""Tests of face_rhythm.remote: the ffmpeg backend, and sftp:// videos against a real sshd.

The SFTP tests start OpenSSH's sshd on 127.0.0.1 (a free port) with a temporary host key and
a temporary user key (``.ci/install_sshd.sh`` installs sshd and ffmpeg); they skip, with the
reason, only when sshd or an ffmpeg with sftp support is not installed.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from face_rhythm import remote as R
from face_rhythm import video as V

WHISKERS = "videos/whiskiwrap_whiskers_10s.mp4"
MOUSEFLOW = "videos/mouseflow_face_75fps.mp4"
SECRET = "s3cret-Pw.42"

HAVE_FFMPEG = shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None
needs_ffmpeg = pytest.mark.skipif(not HAVE_FFMPEG, reason="ffmpeg/ffprobe not installed "
                                                          "(.ci/install_sshd.sh installs them)")


# --------------------------------------------------------------------------------------------
# URL handling and secrets (no server needed)


def test_parse_sftp_url():
    loc = R.parse_sftp_url("sftp://alice@lab.example.org:2222/data/mouse%201.mp4")
    assert (loc.user, loc.host, loc.port, loc.path) == ("alice", "lab.example.org", 2222,
                                                         "/data/mouse 1.mp4")
    assert loc.url() == "sftp://alice@lab.example.org:2222/data/mouse%201.mp4"
    assert R.parse_sftp_url("sftp://host/v.mp4").port == 22
    assert R.is_remote("sftp://host/v.mp4") and not R.is_remote("/data/v.mp4")
    for bad, msg in [("http://host/v.mp4", "not an sftp"), ("sftp:///v.mp4", "no host"),
                     ("sftp://host", "no file path"), ("sftp://host:99999/v.mp4", "port")]:
        with pytest.raises(ValueError, match=msg):
            R.parse_sftp_url(bad)


def test_password_never_in_url_repr_or_error():
    with pytest.raises(ValueError, match="passwords are not accepted") as err:
        R.parse_sftp_url(f"sftp://alice:{SECRET}@host/v.mp4")
    assert SECRET not in str(err.value) and "alice:***@host" in str(err.value)
    with pytest.raises(ValueError, match="passwords are not accepted"):
        V.probe_video(f"sftp://alice:{SECRET}@host/v.mp4")
    ex = R.SFTPVideoFrameExtractor("host", "alice", password=SECRET)
    assert SECRET not in repr(ex) and "***" in repr(ex)
    assert SECRET not in repr(R._Credentials(SECRET))
    assert issubclass(R.RemoteVideoError, RuntimeError) and issubclass(R.RemoteVideoError,
                                                                       V.VideoError)


@needs_ffmpeg
def test_ffmpeg_backend_matches_decord(shared_data):
    path = shared_data / MOUSEFLOW  # its first timestamp is 3.33 s: seeking must allow for it
    info = V.probe_video(path, backend="ffmpeg")
    assert (info.n_frames, info.height, info.width, info.frame_rate) == (502, 582, 782, 75.0)
    ff = np.concatenate(list(V.iter_chunks(path, chunk_size=8, start=250, stop=270,
                                           backend="ffmpeg")))
    dec = V.read_frames(path, slice(250, 270), backend="decord")
    assert int(np.abs(ff.astype(np.int16) - dec).max()) == 0
    idx = [501, 260, 3, 261]
    np.testing.assert_array_equal(V.read_frames(path, idx, backend="ffmpeg"),
                                  V.read_frames(path, idx, backend="decord"))


# --------------------------------------------------------------------------------------------
# a real OpenSSH server on 127.0.0.1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path, kind: str = "rsa") -> Path:
    # RSA user keys: Debian 12's ffmpeg (libssh-gcrypt 0.10) fails with ed25519/ECDSA keys
    extra = ["-b", "2048"] if kind == "rsa" else []
    subprocess.run(["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-f", str(path)],
                   check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A running sshd: dict(user, port, key, other_key, log)."""
    sshd_exe = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd")
                                        else None)
    if sshd_exe is None:
        pytest.skip("OpenSSH server (sshd) is not installed; .ci/install_sshd.sh installs it")
    if not HAVE_FFMPEG:
        pytest.skip("ffmpeg/ffprobe not installed; .ci/install_sshd.sh installs them")
    protocols = subprocess.run(["ffmpeg", "-hide_banner", "-protocols"], capture_output=True,
                               text=True, check=False).stdout.split()
    if "sftp" not in protocols:
        pytest.skip("this ffmpeg was built without libssh (no sftp protocol)")
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen (openssh-client) is not installed")
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation dir
    d = tmp_path_factory.mktemp("sshd")
    os.chmod(d, 0o700)
    host_key = _keygen(d / "host_ed25519", "ed25519")
    user_key = _keygen(d / "user_rsa")
    other_key = _keygen(d / "other_rsa")
    (d / "authorized_keys").write_text(Path(f"{user_key}.pub").read_text())
    port = _free_port()
    user = getpass.getuser()
    sftp_log = d / "sftp.log"
    server_exe = "/usr/lib/openssh/sftp-server"
    # the standalone server can log its transfers ('close "<path>" bytes read N') to a file
    sftp_server = f"{server_exe} -e -l INFO 2>>{sftp_log}" if os.path.exists(server_exe) \
        else "internal-sftp"
    cfg = d / "sshd_config"
    cfg.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
        f"AuthorizedKeysFile {d / 'authorized_keys'}", f"PidFile {d / 'sshd.pid'}",
        "StrictModes no", "UsePAM no", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password", f"AllowUsers {user}",
        f"Subsystem sftp {sftp_server}", "LogLevel INFO", ""]))
    check = subprocess.run([sshd_exe, "-t", "-f", str(cfg)], capture_output=True, text=True,
                           check=False)
    if check.returncode != 0:
        pytest.skip(f"sshd cannot run here: {check.stderr.strip()[:200]}")
    log = d / "sshd.log"
    logf = open(log, "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen([sshd_exe, "-D", "-e", "-f", str(cfg)], stdout=logf,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-"):
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            logf.close()
            pytest.fail(f"sshd did not start: {log.read_text()[-500:]}")
        time.sleep(0.1)
    yield {"user": user, "port": port, "key": str(user_key), "other_key": str(other_key),
           "log": log, "sftp_log": sftp_log}
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    logf.close()


def _url(sshd, path: Path) -> str:
    return f"sftp://{sshd['user']}@127.0.0.1:{sshd['port']}{path}"


def _bytes_read(log: Path, path: Path) -> list[int]:
    """sftp-server's 'close "<path>" bytes read N' log lines for ``path``."""
    if not log.exists():
        return []
    pat = re.compile(r'close "' + re.escape(str(path)) + r'" bytes read (\d+)')
    return [int(m.group(1)) for m in pat.finditer(log.read_text())]


def test_sftp_frames_equal_local_and_are_streamed(sshd, shared_data, monkeypatch):
    monkeypatch.setenv(R.KEY_ENV, sshd["key"])
    path = (shared_data / WHISKERS).resolve()
    url = _url(sshd, path)
    info = V.probe_video(url)
    assert (info.n_frames, info.height, info.width, info.backend) == (300, 480, 640, "ffmpeg")
    assert info.frame_rate == pytest.approx(30.0)
    assert info.path == url
    n_before = len(_bytes_read(sshd["sftp_log"], path))
    remote = np.concatenate(list(V.iter_chunks(url, chunk_size=16, start=150, stop=190)))
    local = V.read_frames(path, slice(150, 190), backend="decord")
    assert remote.shape == (40, 480, 640, 3)
    assert int(np.abs(remote.astype(np.int16) - local).max()) == 0
    # each connection read only part of the 1.2 MB file (index + the needed packets)
    if sshd["sftp_log"].exists():
        reads = _bytes_read(sshd["sftp_log"], path)[n_before:]
        assert reads and max(reads) < 0.6 * path.stat().st_size
    table = V.video_metadata([url, path])
    assert table["n_frames"].tolist() == [300, 300]
    missing = _url(sshd, path.with_name("no_such_video.mp4"))
    with pytest.raises(R.RemoteVideoError, match=r"no_such_video\.mp4: not a readable video"):
        V.probe_video(missing)


def test_point_tracker_streams_an_sftp_url(sshd, shared_data, monkeypatch):
    """The notebook tracker takes an sftp:// URL as it takes a path, and tracks the same."""
    from face_rhythm import point_tracking as fpt

    monkeypatch.setenv(R.KEY_ENV, sshd["key"])
    path = (shared_data / WHISKERS).resolve()
    ys, xs = np.mgrid[120:360:40, 160:480:40]
    pts = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
    got = {}
    for name, src in (("remote", _url(sshd, path)), ("local", str(path))):
        tracker = fpt.PointTracker([src], pts, params_clahe=None, idx_start=260, verbose=0)
        got[name] = tracker.track_points()["0"]
    assert got["remote"].shape == (300, len(pts), 2)
    np.testing.assert_array_equal(got["remote"], got["local"])
    assert not np.array_equal(got["remote"][-1], pts)  # the points moved


def test_extract_frames_reference_api(sshd, shared_data):
    path = (shared_data / MOUSEFLOW).resolve()
    ex = R.SFTPVideoFrameExtractor("127.0.0.1", sshd["user"], port=sshd["port"],
                                   private_key=sshd["key"], verbose=False)
    frames = ex.extract_frames(str(path), time_start=3.4, duration=0.2)  # 15 frames from 255
    assert frames.shape == (15, 582, 782, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames, V.get_frames(path, 3.4, 3.6))


def test_auth_failure_names_the_fix_and_hides_password(sshd, shared_data, monkeypatch,
                                                       caplog):
    caplog.set_level(logging.DEBUG)
    path = (shared_data / WHISKERS).resolve()
    monkeypatch.setenv("HOME", str(Path(sshd["key"]).parent / "nohome"))  # no default keys
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv(R.KEY_ENV, sshd["other_key"])  # a key the server does not know
    monkeypatch.delenv(R.PASSWORD_ENV, raising=False)
    with pytest.raises(R.RemoteVideoError, match=r"SSH authentication failed \(key-based\)"):
        V.probe_video(_url(sshd, path))
    monkeypatch.setenv(R.PASSWORD_ENV, SECRET)  # the server refuses passwords
    with pytest.raises(R.RemoteVideoError, match="key and password") as err:
        V.probe_video(_url(sshd, path))
    assert SECRET not in str(err.value) and SECRET not in caplog.text


def test_password_stays_off_command_lines(sshd, shared_data, monkeypatch):
    """With a password, ffmpeg gets the URL through a private list file, not its argv."""
    argvs: list[list[str]] = []
    listfiles: list[str] = []
    real_run, real_popen = subprocess.run, subprocess.Popen

    def spy(cmd):
        argvs.append(list(cmd))
        if "concat" in cmd:
            lf = cmd[cmd.index("-i") + 1]
            listfiles.append(lf)
            assert os.stat(lf).st_mode & 0o077 == 0  # readable by the owner only
            assert SECRET in Path(lf).read_text()

    def run(cmd, *a, **k):
        spy(cmd)
        return real_run(cmd, *a, **k)

    def popen(cmd, *a, **k):
        spy(cmd)
        return real_popen(cmd, *a, **k)

    monkeypatch.setattr(R.subprocess, "run", run)
    monkeypatch.setattr(R.subprocess, "Popen", popen)
    path = (shared_data / WHISKERS).resolve()
    # the key still authenticates (key-based first); the password is carried along
    ex = R.SFTPVideoFrameExtractor("127.0.0.1", sshd["user"], password=SECRET,
                                   port=sshd["port"], private_key=sshd["key"], verbose=False)
    frames = ex.extract_frames(str(path), time_start=1.0, duration=0.3)
    np.testing.assert_array_equal(frames, V.read_frames(path, slice(30, 39)))
    assert argvs and listfiles
    assert not any(SECRET in arg for cmd in argvs for arg in cmd)
    assert not any(os.path.exists(lf) for lf in listfiles)  # deleted after each call


# --------------------------------------------------------------------------------------------
# the workflow with an sftp:// row in the videos table

def test_workflow_tracks_an_sftp_video_like_the_local_file(sshd, shared_data, monkeypatch,
                                                            tmp_path):
    """A videos-table row may be an sftp:// URL: the workflow validates it up front, streams
    it (nothing downloaded into the work dir), and tracks exactly what it tracks locally."""
    import sys

    import h5py
    import pandas as pd

    monkeypatch.setenv(R.KEY_ENV, sshd["key"])
    repo = Path(__file__).resolve().parents[2]
    path = (shared_data / WHISKERS).resolve()
    results = {}
    for name, location in (("remote", _url(sshd, path)), ("local", str(path))):
        work = tmp_path / name
        work.mkdir()
        (work / "videos.tsv").write_text(f"session\tvideo\tpath\ns1\tv1\t{location}\n")
        # the clip is 30 fps: the test config's F_max (20 Hz, for its 60 fps videos) is above
        # its Nyquist frequency, which video_metadata rightly rejects up front
        (work / "vqt.yaml").write_text("vqt:\n  params_VQT:\n    F_max: 12.0\n")
        cmd = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--directory",
               str(work), "--configfile", str(repo / ".test" / "config" / "config.yaml"),
               str(work / "vqt.yaml"), "--workflow-profile", "none",
               "results/s1/v1/tracking.h5", "--cores", "2",
               "--config", f"videos={work / 'videos.tsv'}"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stderr[-4000:]
        meta = pd.read_csv(work / "results" / "s1" / "videos.tsv", sep="\t")
        assert meta["n_frames"].tolist() == [300]
        with h5py.File(work / "results" / "s1" / "v1" / "tracking.h5") as f:
            results[name] = f["points_tracked"][()]
            inputs = json.loads(f["run_info"]["inputs"][()])
        assert inputs[0]["path"] == location  # the URL as given (no password in it)
    assert meta["backend"].tolist() == ["decord"]  # the local run
    remote_meta = pd.read_csv(tmp_path / "remote" / "results" / "s1" / "videos.tsv", sep="\t")
    assert remote_meta["backend"].tolist() == ["ffmpeg"]
    assert results["remote"].shape == (300, results["remote"].shape[1], 2)
    np.testing.assert_array_equal(results["remote"], results["local"])
    assert not [p for p in (tmp_path / "remote").rglob("*.mp4")]
