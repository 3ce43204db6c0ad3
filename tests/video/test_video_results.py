"""Tests of the video package's result file (videos.tsv), its stage function and its names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from face_rhythm import data_importing, remote, video
from face_rhythm.preflight import check_session_videos
from face_rhythm.synthetic import default_face, write_video
from face_rhythm.video import BACKENDS, VideoError, validate_videos
from face_rhythm.video.results import VIDEOS_TSV_COLUMNS, read_videos_tsv, write_videos_tsv

REPO = Path(__file__).resolve().parents[2]
#: A VQT that fits 2 s of 30 Hz video (Nyquist 15 Hz, window ~12 frames).
SMALL_VQT = {"params_VQT": {"F_min": 5.0, "F_max": 10.0, "Q_lowF": 2.0, "Q_highF": 4.0,
                            "n_freq_bins": 4}}


@pytest.fixture(scope="module")
def two_videos(tmp_path_factory) -> list[Path]:
    """Two lossless 48x64 videos at 30 Hz: 60 and 45 frames."""
    d = tmp_path_factory.mktemp("videos")
    out = []
    for i, n in enumerate((60, 45)):
        face = default_face(height=48, width=64, frame_rate=30.0, n_frames=n, seed=0,
                            noise_seed=i)
        out.append(write_video(face, d / f"v{i}.avi"))
    return out


def test_videos_tsv_round_trip(two_videos, tmp_path):
    infos = validate_videos(two_videos)
    path = tmp_path / "videos.tsv"
    written = write_videos_tsv(path, "s1", ["a", "b"], infos)
    assert list(written.columns) == list(VIDEOS_TSV_COLUMNS)
    got = read_videos_tsv(path)
    assert got.session == "s1" and got.video_ids == ("a", "b")
    assert got.infos == tuple(infos)
    assert got.first_frames == (0, 60) and got.n_frames_total == 105
    assert list(got.table.columns) == list(VIDEOS_TSV_COLUMNS)
    with pytest.raises(VideoError, match="2 video names for 1 videos"):
        write_videos_tsv(tmp_path / "x.tsv", "s1", ["a", "b"], infos[:1])


def test_read_videos_tsv_rejects_another_table(tmp_path):
    path = tmp_path / "videos.tsv"
    path.write_text("session\tvideo\tpath\ns1\tv1\ta.avi\n")  # the input table, not the output
    with pytest.raises(VideoError, match="not a videos.tsv"):
        read_videos_tsv(path)


def test_check_session_videos_writes_the_table(two_videos, tmp_path):
    path = tmp_path / "results" / "s1" / "videos.tsv"
    path.parent.mkdir(parents=True)
    table = check_session_videos(path, session="s1", video_ids=["a", "b"],
                                 videos=[str(v) for v in two_videos], fps=[None, None],
                                 backend="auto", vqt=SMALL_VQT, idx_start=0)
    got = read_videos_tsv(path)
    assert got.video_ids == ("a", "b") and got.n_frames_total == 105
    assert table.attrs["n_frames_total"] == 105
    assert [i.frame_rate for i in got.infos] == [30.0, 30.0]


def test_check_session_videos_rejects_a_video_too_slow_for_the_vqt(two_videos, tmp_path):
    """The default VQT (F_max 40 Hz) needs more than 80 Hz: a 30 Hz video stops the run."""
    path = tmp_path / "videos.tsv"
    with pytest.raises(VideoError, match="cannot make its spectrogram"):
        check_session_videos(path, session="s1", video_ids=["a"], videos=[str(two_videos[0])],
                             fps=[None], backend="auto", vqt={}, idx_start=0)
    assert not path.exists()
    # a VQT that fits the video passes
    check_session_videos(path, session="s1", video_ids=["a"], videos=[str(two_videos[0])],
                         fps=[None], backend="auto", vqt=SMALL_VQT, idx_start=0)
    assert path.exists()


def test_schema_video_backend_is_the_libraries_backends():
    """``video_backend`` has no parameter dataclass: its schema enum and default are checked
    against :data:`face_rhythm.video.BACKENDS` instead."""
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    prop = schema["properties"]["video_backend"]
    assert tuple(prop["enum"]) == BACKENDS
    assert prop["default"] == "auto"


def test_sftp_test_is_defined_once():
    assert video.is_remote is video._is_remote is remote.is_remote
    assert video.is_remote("SFTP://u@h/p.mp4") and not video.is_remote("/data/sftp://x")
    assert data_importing.Dataset_videos is video.Dataset_videos
