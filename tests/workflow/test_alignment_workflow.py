"""The 3-session synthetic demo through the whole workflow with alignment and all-sessions TCA.

The same synthetic face is filmed on three "days" with the camera shifted and rotated; the
workflow makes a reference frame per session, registers days 2 and 3 to day 1, carries day 1's
ROIs and points into them, tracks, computes spectrograms, and fits one TCA over all sessions.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from face_rhythm import synthetic as S

REPO = Path(__file__).resolve().parents[2]
TEST_CONFIG = REPO / ".test" / "config" / "config.yaml"
SESSIONS = ("day1", "day2", "day3")
CAMERA = {"day2": {"shift": [4.0, -3.0], "rotation_deg": 2.0},
          "day3": {"shift": [-3.5, 2.5], "rotation_deg": -2.5}}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("three_sessions")
    rows = ["session\tvideo\tpath"] + [f"{s}\tv1\tdemo_data/{s}/v1.avi" for s in SESSIONS]
    (work / "videos.tsv").write_text("\n".join(rows) + "\n")
    overlay = {
        "demo": {"duration_s": 6.0, "sessions": CAMERA},
        "alignment": {"enabled": True, "ds_factor": 4, "grid_size": 8},
        "tca": {"per_session": False, "all_sessions": True, "rank": 3},
        "outputs": {"overlay_video": False},
    }
    (work / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
           str(work), "--configfile", str(TEST_CONFIG), str(work / "overlay.yaml"),
           "--workflow-profile", "none", "--cores", "2",
           "--config", f"videos={work / 'videos.tsv'}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-5000:]
    return work


def test_points_carried_to_every_session_land_on_the_same_face_location(run):
    cfg = yaml.safe_load(TEST_CONFIG.read_text())["demo"]
    with h5py.File(run / "results" / "day1" / "rois.h5") as f:
        template = f["point_positions"][()]
    for session in SESSIONS[1:]:
        with h5py.File(run / "results" / session / "rois.h5") as f:
            got = f["point_positions"][()]
        face = S.default_face(height=cfg["height"], width=cfg["width"],
                              camera_shift=CAMERA[session]["shift"],
                              camera_rotation_deg=CAMERA[session]["rotation_deg"])
        # day 1's camera is the identity: template pixels are face coordinates
        m = face.camera_matrix()
        truth = template @ m[:, :2].T + m[:, 2]
        rms = float(np.sqrt(np.mean(np.sum((got - truth) ** 2, -1))))
        assert rms < 0.5, (session, rms)
    figures = ["all_sessions/figures/alignment_reference_frames.png",
               "all_sessions/figures/alignment_scores.png"]
    figures += [f"{s}/figures/session_rois.png" for s in SESSIONS]
    for name in figures:
        assert (run / "results" / name).stat().st_size > 1000, name


def test_all_sessions_tca_finds_the_same_components_in_every_session(run):
    with h5py.File(run / "results" / "all_sessions" / "tca.h5") as f:
        pxy = f["factors_points_xy"][()]                    # (2, N, R)
        freqs = f["frequencies"][()]
        freq_factor = f["factors/frequency"][()]            # (F, R)
        time = {s: f[f"time_factors/{s}/v1"][()] for s in SESSIONS}
        points = f["point_positions"][()]
    face = S.default_face(height=120, width=160)
    maps = face.spatial_maps(points)                        # (K, N) true regions
    loading = np.sqrt(np.sum(pxy ** 2, axis=0))             # (N, R)
    for k, comp in enumerate(face.components):
        corr = [np.corrcoef(maps[k], loading[:, r])[0, 1] for r in range(loading.shape[1])]
        r = int(np.argmax(corr))
        assert corr[r] >= 0.9, (comp.name, corr)
        peak = freqs[np.argmax(freq_factor[:, r])]
        nearest = int(np.argmin(np.abs(freqs - comp.frequency_hz)))
        assert abs(int(np.argmax(freq_factor[:, r])) - nearest) <= 1, (comp.name, peak)
        # the component is active in every session with about the same strength
        means = np.array([time[s][:, r].mean() for s in SESSIONS])
        assert means.min() > 0.8 * means.max(), (comp.name, means)


def test_report_of_a_multisession_run_has_the_alignment_category(run):
    """``snakemake --report`` over the 3-session run: an Alignment category holding the
    registered reference frames and the scores, beside the per-session categories."""
    import json
    import re

    report = run / "report.html"
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
           str(run), "--configfile", str(TEST_CONFIG), str(run / "overlay.yaml"),
           "--workflow-profile", "none", "--cores", "2",
           "--config", f"videos={run / 'videos.tsv'}", "--report", str(report)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    html = report.read_text()
    m = re.search(r"var categories = (\{.*?\});\s*\n", html)
    assert m, "no categories table in the report"
    cats = json.loads(m.group(1))
    assert "Alignment" in cats, sorted(cats)
    align = cats["Alignment"]
    files = json.dumps(align)
    assert "results/all_sessions/figures/alignment_reference_frames.png" in files
    for s in SESSIONS[1:]:  # each registered session: its transferred ROIs and points
        assert f"results/{s}/figures/session_rois.png" in files, align
    for cat in ("Spectra", "Components", "Run info"):  # (Tracking: overlays are off here)
        assert cat in cats, sorted(cats)
    assert set(SESSIONS) <= set(cats["Spectra"]), cats["Spectra"].keys()
