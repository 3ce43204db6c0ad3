"""The demo workflow end to end: figures, overlay video, NWB, provenance and the HTML report.

Runs the small demo (``.test/config``: one 160x120, 4 s synthetic video) in a temporary
folder with overlay videos and NWB export switched on, then ``snakemake --report``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(shutil.which("snakemake") is None,
                                reason="snakemake is not on PATH")

#: Report categories of a single-session run ("Alignment" exists only for multi-session runs).
CATEGORIES = ("Tracking", "Spectra", "Components", "Run info")


def _snakemake(repo: Path, workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = ["snakemake", "-s", str(repo / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(repo / ".test" / "config" / "config.yaml"),
           str(workdir / "outputs.yaml"), "--config", f"videos={workdir / 'videos.tsv'}",
           "--cores", "2", "--workflow-profile", "none", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1200, cwd=workdir,
                          check=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, repo_root):
    work = tmp_path_factory.mktemp("demo_run")
    (work / "videos.tsv").write_text("session\tvideo\tpath\tfps\ns1\tv1\tdemo_data/s1/v1.avi\t\n")
    (work / "outputs.yaml").write_text(
        "outputs:\n  overlay_video: true\n  nwb: true\n")
    run = _snakemake(repo_root, work)
    assert run.returncode == 0, f"workflow failed:\n{run.stderr[-4000:]}"
    rep = _snakemake(repo_root, work, "--report", str(work / "report.html"))
    assert rep.returncode == 0, f"report failed:\n{rep.stderr[-4000:]}"
    return work


def _report_categories(html: str) -> dict:
    m = re.search(r"var categories = (\{.*?\});\s*\n", html)
    assert m, "no categories table in the report"
    return json.loads(m.group(1))


def test_report_has_every_category_with_captions(demo):
    html = (demo / "report.html").read_text()
    cats = _report_categories(html)
    for cat in CATEGORIES:
        assert cat in cats, f"category {cat!r} missing from the report ({sorted(cats)})"
        assert "s1" in cats[cat], f"category {cat!r} has no session s1 ({cats[cat]})"
    tracking = cats["Tracking"]["s1"]
    assert "results/s1/figures/contact_sheet_v1.png" in tracking
    assert "results/s1/figures/tracking_v1.png" in tracking
    assert "How to read this report" in html  # workflow description
    assert "Contact sheet of" in html  # a caption rendered


def test_every_figure_is_written_and_non_empty(demo):
    figs = demo / "results" / "s1" / "figures"
    expected = ["rois.png", "spectrogram_v1.png", "contact_sheet_v1.png", "tracking_v1.png",
                "tca/evr.png"]
    for name in expected:
        assert (figs / name).is_file(), f"{name} not written"
    pngs = sorted(figs.rglob("*.png"))
    assert any(p.parent.name == "tca" and p.name.startswith("component") for p in pngs)
    for p in pngs:
        img = cv2.imread(str(p))
        assert img is not None and min(img.shape[:2]) > 100, f"{p} is empty or unreadable"
        assert img.std() > 5, f"{p} is blank"


def test_overlay_video_of_demo_frames_size_and_colour(demo):
    with h5py.File(demo / "results" / "s1" / "v1" / "tracking.h5", "r") as f:
        pts = f["points_tracked"][()]
    cap = cv2.VideoCapture(str(demo / "results" / "s1" / "v1" / "overlay.mp4"))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr[..., ::-1])
    frames = np.array(frames)
    assert frames.shape == (pts.shape[0], 120, 160, 3)
    from face_rhythm.visualization import TRACKED_COLOR, VIOLATION_COLOR

    t = pts.shape[0] // 2
    x, y = np.round(pts[t, pts.shape[1] // 2]).astype(int)
    got = frames[t, y, x].astype(int)
    assert min(np.abs(got - TRACKED_COLOR).max(), np.abs(got - VIOLATION_COLOR).max()) < 60


def test_nwb_of_demo_round_trips_and_is_valid(demo):
    pytest.importorskip("pynwb")
    from face_rhythm.nwb import read_nwb_positions, validate_nwb

    path = demo / "results" / "s1" / "s1.nwb"
    with h5py.File(demo / "results" / "s1" / "v1" / "tracking.h5", "r") as f:
        pts = f["points_tracked"][()]
    np.testing.assert_array_equal(read_nwb_positions(path)["v1"][1], pts)
    assert validate_nwb(path) == []


def test_face_rhythm_info_prints_provenance_of_every_output(demo):
    outputs = sorted((demo / "results").rglob("*.h5"))
    assert len(outputs) >= 4  # rois, tracking, spectrogram, tca
    exe = shutil.which("face-rhythm")
    cmd = [exe] if exe else [sys.executable, "-m", "face_rhythm.cli"]
    for path in outputs:
        out = subprocess.run([*cmd, "info", str(path)], capture_output=True, text=True,
                             timeout=120, check=False)
        assert out.returncode == 0, out.stderr
        assert "provenance (run_info)" in out.stdout, f"{path}: no provenance printed"
        assert "face_rhythm_version" in out.stdout and "timestamp_utc" in out.stdout
