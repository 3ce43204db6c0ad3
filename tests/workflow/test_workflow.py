"""The Snakemake workflow: DAG shape, config validation, and a real end-to-end demo run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from face_rhythm import point_tracking as fpt

REPO = Path(__file__).resolve().parents[2]
TEST_CONFIG = REPO / ".test" / "config" / "config.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def write_videos_table(path: Path, sessions: int, videos: int) -> Path:
    rows = ["session\tvideo\tpath\tfps"]
    for s in range(1, sessions + 1):
        for v in range(1, videos + 1):
            rows.append(f"s{s}\tv{v}\tdemo_data/s{s}/v{v}.avi\t")
    path.write_text("\n".join(rows) + "\n")
    return path


def run_snakemake(workdir: Path, *args: str, config: Path = TEST_CONFIG,
                  check: bool = True) -> subprocess.CompletedProcess:
    cmd = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(config), "--workflow-profile", "none", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    return proc


def job_counts(stdout: str) -> dict[str, int]:
    """Parse the 'Job stats' table printed by a dry run."""
    counts = {}
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("job "))
    for line in lines[start + 2:]:
        m = re.match(r"^(\S+)\s+(\d+)$", line.strip())
        if not m:
            break
        counts[m.group(1)] = int(m.group(2))
    return counts


def test_dry_run_dag_two_sessions_two_videos(tmp_path):
    table = write_videos_table(tmp_path / "videos.tsv", sessions=2, videos=2)
    proc = run_snakemake(tmp_path, "-n", "--cores", "1", "--config", f"videos={table}")
    counts = job_counts(proc.stdout)
    assert counts["demo_video"] == 4
    assert counts["rois"] == 2
    assert counts["track_points"] == 4
    assert counts["spectrogram"] == 4
    assert counts["tca"] == 2
    assert "tca_all_sessions" not in counts
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    cfg["tca"].update(all_sessions=True, per_session=False)
    both = tmp_path / "all_sessions.yaml"
    both.write_text(yaml.safe_dump(cfg))
    proc = run_snakemake(tmp_path, "-n", "--cores", "1", "--config", f"videos={table}",
                         config=both)
    counts = job_counts(proc.stdout)
    assert counts.get("tca_all_sessions") == 1 and "tca" not in counts


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"tracking": {"params_optical_flow": {"mesh_rigidity": -1.0}}}, "mesh_rigidity"),
        ({"tca": {"method": "PCA"}}, "PCA"),
        ({"tracking": {"not_a_key": 1}}, "not_a_key"),
        ({"rois": {"polygons": {"face": [[0, 0], [1, 1]]}}}, "face"),
    ],
)
def test_config_schema_rejects_bad_config(tmp_path, override, expected):
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    for section, values in override.items():
        if section == "rois":
            cfg[section].update(values)
        else:
            _deep_update(cfg[section], values)
    cfg["videos"] = str(write_videos_table(tmp_path / "videos.tsv", 1, 1))
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    proc = run_snakemake(tmp_path, "-n", "--cores", "1", config=bad, check=False)
    assert proc.returncode != 0
    err = proc.stderr + proc.stdout
    assert "validation" in err.lower() or "schema" in err.lower()
    assert expected in err


def _deep_update(d, u):
    for k, v in u.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            _deep_update(d[k], v)
        else:
            d[k] = v


def test_bad_videos_table_gives_clear_error(tmp_path):
    table = tmp_path / "videos.tsv"
    table.write_text("session\tvideo\tpath\ns1\tv1\ta.avi\ns1\tv1\tb.avi\n")
    proc = run_snakemake(tmp_path, "-n", "--cores", "1", "--config", f"videos={table}",
                         check=False)
    assert proc.returncode != 0
    assert "duplicate row for session 's1', video 'v1'" in proc.stdout + proc.stderr
    table.write_text("session\tpath\ns1\ta.avi\n")
    proc = run_snakemake(tmp_path, "-n", "--cores", "1", "--config", f"videos={table}",
                         check=False)
    assert "lacks column(s) ['video']" in proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """Run the small demo workflow once for real (1 session x 2 videos)."""
    workdir = tmp_path_factory.mktemp("demo")
    table = write_videos_table(workdir / "videos.tsv", sessions=1, videos=2)
    proc = run_snakemake(workdir, "--cores", "2", "--config", f"videos={table}")
    return workdir, proc


def test_demo_end_to_end_outputs(demo_run):
    workdir, proc = demo_run
    assert "results are in" in proc.stdout + proc.stderr
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    res = workdir / "results" / "s1"
    with h5py.File(res / "rois.h5") as f:
        pts = f["point_positions"][()]
        assert pts.dtype == np.float32 and pts.ndim == 2 and pts.shape[1] == 2
        n_points = pts.shape[0]
        assert n_points > 20
        assert f["mask"].shape == (cfg["demo"]["height"], cfg["demo"]["width"])
        assert "run_info" in f
    n_frames = round(cfg["demo"]["duration_s"] * cfg["demo"]["frame_rate"])
    for video in ("v1", "v2"):
        with h5py.File(res / video / "tracking.h5") as f:
            tr = f["points_tracked"]
            assert tr.shape == (n_frames, n_points, 2) and tr.dtype == np.float32
            assert np.isfinite(tr[()]).all()
            assert 0.0 <= float(f["violation_fraction"][()]) <= 1.0
            assert float(f["frame_rate"][()]) == pytest.approx(cfg["demo"]["frame_rate"])
            assert "run_info" in f
        with h5py.File(res / video / "spectrogram.h5") as f:
            s = f["spectrograms"]
            n_freqs = cfg["vqt"]["params_VQT"]["n_freq_bins"]
            assert s.shape[:3] == (2, n_points, n_freqs) and s.dtype == np.float32
            assert f["frequencies"].shape == (n_freqs,)
            assert f["x_axis_seconds"].shape == (s.shape[3],)
            assert "run_info" in f
        assert (res / "figures" / f"spectrogram_{video}.png").stat().st_size > 1000
    rank = cfg["tca"]["rank"]
    with h5py.File(res / "tca.h5") as f:
        assert "run_info" in f
        assert f["weights"].shape == (rank,) and f["evr"].shape == (rank,)
        assert np.all(np.diff(f["evr"][()]) <= 1e-12)  # ordered by explained variance
        assert 0.0 < float(f["evr_total"][()]) <= 1.0
        assert f["factors_points_xy"].shape == (2, n_points, rank)
        assert f["factors/frequency"].shape == (n_freqs, rank)
        n_times = []
        for video in ("v1", "v2"):
            tf = f[f"time_factors/s1/{video}"]
            with h5py.File(res / video / "spectrogram.h5") as g:
                assert tf.shape == (g["spectrograms"].shape[3], rank)
                np.testing.assert_allclose(f[f"time_axis_seconds/s1/{video}"][()],
                                           g["x_axis_seconds"][()])
            n_times.append(tf.shape[0])
        assert f["factors/time"].shape == (sum(n_times), rank)  # videos concatenated
    import cv2
    import pandas as pd

    table = pd.read_csv(res / "videos.tsv", sep="\t")
    assert table["video"].tolist() == ["v1", "v2"]
    assert table["n_frames"].tolist() == [n_frames, n_frames]
    cap = cv2.VideoCapture(str(res / "v1" / "overlay.mp4"))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == n_frames
    cap.release()
    run_info = pd.read_csv(res / "run_info.tsv", sep="\t")
    assert len(run_info) >= 6  # rois, 2 x tracking, 2 x spectrogram, tca
    assert (res / "figures" / "rois.png").stat().st_size > 1000
    assert any((res / "figures" / "tca").glob("*.png"))
    for rule in ("demo_video", "rois", "track_points", "spectrogram", "tca"):
        assert any((workdir / "logs" / rule).rglob("*.log")), rule
        assert any((workdir / "benchmarks" / rule).rglob("*.tsv")), rule
    # long loops report progress in the job's log (tqdm lines through logging)
    log = (workdir / "logs" / "track_points" / "s1" / "v1.log").read_text()
    assert "face_rhythm.progress INFO: tracking: 100%" in log
    leftovers = [p for p in (workdir / "results").rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers


def test_readme_demo_finds_each_motion_region(tmp_path):
    """The README's demo (``snakemake --cores 2`` on config/config.yaml: a 12 s, 90 fps
    synthetic face video, the real tracker, VQT and rank-6 TCA with the shipped defaults) has,
    for each planted motion region, a component whose spatial map correlates >= 0.9 with the
    region's true map and whose frequency profile peaks within one bin of its frequency."""
    from face_rhythm.synthetic import default_face

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    run_snakemake(tmp_path, "--cores", "2", "--config",
                  f"videos={REPO / 'config' / 'videos.tsv'}",
                  config=REPO / "config" / "config.yaml")
    (session,) = [p.name for p in (tmp_path / "results").iterdir() if p.is_dir()]
    d = cfg["demo"]
    face = default_face(height=d["height"], width=d["width"], frame_rate=d["frame_rate"],
                        duration_s=d["duration_s"], seed=d["seed"])
    with h5py.File(tmp_path / "results" / session / "tca.h5") as f:
        pts = f["point_positions"][()]
        pxy = f["factors_points_xy"][()]
        ff = f["factors/frequency"][()]
        freqs = f["frequencies"][()]
        assert f["weights"].shape == (cfg["tca"]["rank"],) == (6,)
    maps, dirs = face.spatial_maps(pts), face.directions()
    for k, comp in enumerate(face.components):
        true = np.concatenate([abs(dirs[k, 0]) * maps[k], abs(dirs[k, 1]) * maps[k]])
        target = int(np.argmin(np.abs(np.log(freqs) - np.log(comp.frequency_hz))))
        found = [(float(np.corrcoef(true, pxy[:, :, r].ravel())[0, 1]), int(np.argmax(ff[:, r])))
                 for r in range(pxy.shape[2])]
        assert any(c >= 0.9 and abs(peak - target) <= 1 for c, peak in found), (
            comp.name, found, target)


def test_demo_second_run_does_nothing(demo_run):
    workdir, _ = demo_run
    table = workdir / "videos.tsv"
    proc = run_snakemake(workdir, "--cores", "2", "--config", f"videos={table}")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_demo_rerun_is_reproducible(demo_run, tmp_path):
    """A fresh run with the same config and seed gives the same numbers."""
    workdir, _ = demo_run
    other = tmp_path / "again"
    other.mkdir()
    table = write_videos_table(other / "videos.tsv", sessions=1, videos=2)
    shutil.copytree(workdir / "demo_data", other / "demo_data")
    run_snakemake(other, "results/s1/tca.h5", "--cores", "2", "--config", f"videos={table}")
    for rel in ("s1/v1/tracking.h5", "s1/v1/spectrogram.h5", "s1/tca.h5"):
        with h5py.File(workdir / "results" / rel) as a, h5py.File(other / "results" / rel) as b:
            _assert_same_numbers(a, b)


def _assert_same_numbers(a, b, prefix=""):
    for key in a:
        if key == "run_info":
            continue
        if isinstance(a[key], h5py.Group):
            _assert_same_numbers(a[key], b[key], f"{prefix}{key}/")
        else:
            x, y = a[key][()], b[key][()]
            if isinstance(x, np.ndarray) and x.dtype.kind in "fciub":
                np.testing.assert_array_equal(x, y, err_msg=f"{prefix}{key}")


def _job_inputs(dry_run_stdout: str, output: str) -> list[str]:
    """The input files of the job that makes ``output``, from a dry run's job listing."""
    blocks = re.split(r"\n(?=(?:local)?rule \w+:)", dry_run_stdout)
    for block in blocks:
        if re.search(r"output: .*" + re.escape(output), block):
            m = re.search(r"input: (.*)", block)
            return [s.strip() for s in m.group(1).split(",")] if m else []
    raise AssertionError(f"no job makes {output}:\n{dry_run_stdout[-3000:]}")


def test_contiguous_tracking_chains_the_videos_of_a_session(demo_run, tmp_path):
    """With tracking.contiguous, video 2 starts from the points where video 1 ended."""
    demo_dir, _ = demo_run
    contiguous = tmp_path / "contiguous.yaml"
    contiguous.write_text("tracking:\n  contiguous: true\n")
    table = write_videos_table(tmp_path / "videos.tsv", sessions=1, videos=2)
    shutil.copytree(demo_dir / "demo_data", tmp_path / "demo_data")
    base = ["--configfile", str(TEST_CONFIG), str(contiguous), "--config", f"videos={table}"]
    dry = run_snakemake(tmp_path, "results/s1/v2/tracking.h5", "-n", "--cores", "1", *base)
    assert "results/s1/v1/tracking.h5" in _job_inputs(dry.stdout, "results/s1/v2/tracking.h5")
    assert "results/s1/v1/tracking.h5" not in _job_inputs(dry.stdout,
                                                         "results/s1/v1/tracking.h5")
    run_snakemake(tmp_path, "results/s1/v2/tracking.h5", "--cores", "2", *base)
    with h5py.File(tmp_path / "results/s1/v1/tracking.h5") as f1, \
            h5py.File(tmp_path / "results/s1/v2/tracking.h5") as f2, \
            h5py.File(tmp_path / "results/s1/rois.h5") as r, \
            h5py.File(demo_dir / "results/s1/v2/tracking.h5") as per_video:
        last_v1 = f1["points_tracked"][-1]
        contiguous_v2 = f2["points_tracked"][()]
        home, mask = r["point_positions"][()], r["mask"][()]
        assert '"contiguous": true' in f2["params"][()].decode()
        # per video, tracking restarts at home; contiguous, it continues from video 1's end
        np.testing.assert_array_equal(per_video["points_tracked"][0], home)
        assert np.abs(contiguous_v2[0] - home).max() > 0.01
    # ... exactly as the library's contiguous call does it
    cfg = yaml.safe_load(TEST_CONFIG.read_text())["tracking"]
    expected = fpt.track_video(tmp_path / "demo_data/s1/v2.avi", home,
                               fpt.TrackingParams.from_config(cfg), mask=mask,
                               start_points=last_v1,
                               previous_video=tmp_path / "demo_data/s1/v1.avi",
                               chunk_size=int(cfg.get("chunk_size", 32)))
    np.testing.assert_array_equal(contiguous_v2, expected.points_tracked)


def test_corrupt_video_stops_the_run_before_tracking(demo_run, tmp_path):
    """A truncated video is reported by name by the up-front check; nothing is tracked."""
    demo_dir, _ = demo_run
    good = demo_dir / "demo_data" / "s1" / "v1.avi"
    bad = tmp_path / "truncated.avi"
    data = good.read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    table = tmp_path / "videos.tsv"
    table.write_text(f"session\tvideo\tpath\ns1\tv1\t{good}\ns1\tv2\t{bad}\n")
    proc = run_snakemake(tmp_path, "--cores", "1", "--config", f"videos={table}", check=False)
    assert proc.returncode != 0
    log = (tmp_path / "logs" / "video_metadata" / "s1.log").read_text()
    error_lines = [line for line in log.splitlines() if "ERROR" in line]
    assert error_lines and "truncated.avi" in error_lines[0], log[-2000:]
    assert not list((tmp_path / "results").rglob("tracking.h5"))


def test_gpu_requested_only_for_rules_whose_device_may_be_cuda(tmp_path):
    """``gpu: 1`` (sbatch --gpus=1 on SLURM) exactly for the rules whose device is auto/cuda."""
    table = write_videos_table(tmp_path / "videos.tsv", sessions=1, videos=1)
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    cfg["vqt"]["device"] = "auto"
    cfg["tca"]["device"] = "cpu"
    cfg["tracking"]["device"] = "auto"  # accepted, but tracking has no GPU path
    config = tmp_path / "devices.yaml"
    config.write_text(yaml.safe_dump(cfg))
    proc = run_snakemake(tmp_path, "-n", "--cores", "1", "--config", f"videos={table}",
                         config=config)
    for output, gpus in (("results/s1/v1/spectrogram.h5", 1), ("results/s1/tca.h5", 0),
                         ("results/s1/v1/tracking.h5", 0)):
        block = next(b for b in re.split(r"\n(?=(?:local)?rule \w+:)", proc.stdout)
                     if re.search(r"output: .*" + re.escape(output), b))
        resources = re.search(r"resources: (.*)", block).group(1).replace(" ", "")
        assert f"gpu={gpus}" in resources or (gpus == 0 and "gpu=" not in resources), (
            output, resources)


def test_video_shorter_than_the_vqt_window_stops_the_run_up_front(tmp_path):
    """1-s videos with a 2-s VQT window: the up-front check names the video and the window."""
    table = write_videos_table(tmp_path / "videos.tsv", sessions=1, videos=1)
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    cfg["demo"]["duration_s"] = 1.0
    config = tmp_path / "short.yaml"
    config.write_text(yaml.safe_dump(cfg))
    proc = run_snakemake(tmp_path, "--cores", "1", "--config", f"videos={table}",
                         config=config, check=False)
    assert proc.returncode != 0
    log = (tmp_path / "logs" / "video_metadata" / "s1.log").read_text()
    error = next(line for line in log.splitlines() if "ERROR" in line)
    assert "v1.avi: cannot make its spectrogram: VQT window of" in error
    assert "longer than the trace of 60 frames" in error
    assert not (tmp_path / "results" / "s1" / "v1" / "tracking.h5").exists()


def test_every_output_carries_provenance(demo_run):
    """Each HDF5 output records the versions of the numerical stack (as installed), the config
    subset it used, its inputs with size, mtime and hash, and a UTC timestamp."""
    import datetime as dt
    import hashlib
    import importlib.metadata as md

    from face_rhythm.provenance import read_run_info

    workdir, _ = demo_run
    res = workdir / "results" / "s1"
    expect_section = {"rois.h5": "rois", "v1/tracking.h5": "tracking",
                      "v1/spectrogram.h5": "vqt", "tca.h5": "tca"}
    for rel, section in expect_section.items():
        with h5py.File(res / rel) as f:
            info = read_run_info(f["run_info"])
        for pkg in ("numpy", "torch", "decord2", "vqt", "tensorly", "h5py"):
            assert info["versions"][pkg] == md.version(pkg), (rel, pkg)
        assert info["versions"]["opencv-python-headless"] != "missing" or \
            info["versions"]["opencv-python"] != "missing"
        assert info["face_rhythm_version"] == md.version("face-rhythm")
        assert section in info["config"], (rel, list(info["config"]))
        stamp = dt.datetime.fromisoformat(info["timestamp_utc"])
        assert stamp.utcoffset() == dt.timedelta(0)
        assert dt.datetime.now(dt.UTC) - stamp < dt.timedelta(hours=2)
        assert info["inputs"], rel
        for entry in info["inputs"]:
            p = Path(entry["path"])
            p = p if p.is_absolute() else workdir / p
            assert entry["size_bytes"] == p.stat().st_size, (rel, entry)
            assert entry["mtime_utc"]
            if "sha256" in entry:
                assert entry["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()


def test_resources_scale_with_the_input(demo_run):
    """track_points' time limit comes from the video's frames x points, the TCA's memory from
    the size of its spectrograms (a dry run over the finished demo prints what would be
    requested)."""
    workdir, _ = demo_run
    table = workdir / "videos.tsv"
    proc = run_snakemake(workdir, "-n", "--forcerun", "track_points", "tca", "--cores", "2",
                         "--config", f"videos={table}")
    jobs = {}
    rule = None
    for line in proc.stdout.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):", line.strip())
        if m:
            rule = m.group(1)
        m = re.match(r"^resources: (.*)$", line.strip())
        if m and rule:
            jobs.setdefault(rule, []).append(dict(
                kv.split("=", 1) for kv in m.group(1).split(", ") if "=" in kv))
    res = workdir / "results" / "s1"
    with h5py.File(res / "v1" / "tracking.h5") as f:
        frames, points = f["points_tracked"].shape[:2]
    minutes = 10 + frames * points * 25e-6 / 60
    assert {int(j["runtime"]) for j in jobs["track_points"]} == {int(np.ceil(minutes))}
    size_mb = sum(p.stat().st_size for p in res.glob("*/spectrogram.h5")) / 2**20
    size_mb += (res / "rois.h5").stat().st_size / 2**20
    (tca,) = jobs["tca"]
    assert abs(int(tca["mem_mb"]) - (4000 + 6 * size_mb)) <= 2


def test_config_readme_documents_every_key():
    """Every key of config/config.yaml has a row in config/README.md (by name or dotted path
    within its section; a parent is documented by its children's rows)."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    doc = (REPO / "config" / "README.md").read_text()
    documented = set(re.findall(r"^## `([^`]+)`", doc, re.MULTILINE))
    for first_cell in re.findall(r"^\|([^|]*)\|", doc, re.MULTILINE):
        documented |= set(re.findall(r"`([^`]+)`", first_cell))
    missing = []

    def walk(d, path):
        for k, v in d.items():
            p = [*path, str(k)]
            rel = ".".join(p[1:]) if len(p) > 1 else p[0]
            if not ({str(k), rel} & documented
                    or any(key.startswith(rel + ".") for key in documented)):
                missing.append(".".join(p))
            if isinstance(v, dict) and p not in (["rois", "polygons"], ["demo", "sessions"]):
                walk(v, p)

    walk(cfg, [])
    assert not missing, f"config/README.md lacks rows for {missing}"
