"""Bad input and configuration (issue #17): every mistake is found before the first heavy job,
reported at once, one line each naming the file (line, column) or key, with no traceback.

Each bullet of the issue has a real ``snakemake`` run (the session's check fails; nothing past
it ran; no output is left behind); the fine-grained cases call the same check functions
directly (:func:`face_rhythm.preflight.check_session`, :func:`read_videos_table`).
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from face_rhythm.errors import PreflightError
from face_rhythm.preflight import check_session, read_videos_table

REPO = Path(__file__).resolve().parents[2]
TEST_CONFIG = REPO / ".test" / "config" / "config.yaml"
BASE = yaml.safe_load(TEST_CONFIG.read_text())
N_FRAMES = 150  # 2.5 s at 60 fps: longer than the test config's 2-s VQT window


def _write_video(path: Path, frames: np.ndarray, fps: float = 60.0) -> Path:
    import cv2

    h, w = frames.shape[1:3]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (w, h), True)
    for f in frames:
        out.write(np.repeat(f[..., None], 3, axis=2) if f.ndim == 2 else f)
    out.release()
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A tiny good video (160x120, 60 fps, 150 frames), bad videos, and ROI files."""
    from face_rhythm.rois import rois_from_config, save_rois_yaml
    from face_rhythm.rois.results import save_rois_h5
    from face_rhythm.synthetic import default_face, write_video

    d = tmp_path_factory.mktemp("bad_input")
    face = default_face(height=120, width=160, frame_rate=60, n_frames=N_FRAMES, seed=0)
    good = write_video(face, d / "good.avi")
    raw = good.read_bytes()
    (d / "truncated.avi").write_bytes(raw[: len(raw) // 3])
    middle = bytearray(raw)  # frame 74 of 150 (FFV1: each frame on its own) made garbage
    at = int(len(raw) * 74.2 / N_FRAMES)
    middle[at:at + 5000] = np.random.default_rng(0).bytes(5000)
    (d / "middle.avi").write_bytes(bytes(middle))
    (d / "zero.avi").write_bytes(b"")
    (d / "folder.avi").mkdir()
    (d / "garbage.avi").write_bytes(np.random.default_rng(0).bytes(5000))
    _write_video(d / "black.avi", np.zeros((N_FRAMES, 120, 160), np.uint8))
    _write_video(d / "small.avi", np.random.default_rng(1).integers(
        0, 255, (N_FRAMES, 144, 176), dtype=np.uint8))
    hw = (120, 160)
    rs = rois_from_config(BASE["rois"], hw)
    save_rois_yaml(rs, d / "rois.yaml")
    save_rois_h5(rs, d / "rois.h5", run_info={}, example_image=np.zeros(hw, np.uint8))
    h5 = (d / "rois.h5").read_bytes()
    (d / "cut_short.h5").write_bytes(h5[: len(h5) // 2])
    (d / "corrupt.h5").write_bytes(np.random.default_rng(2).bytes(3000))
    (d / "empty.yaml").write_text("")
    (d / "garbage.yaml").write_text("{{{: ][\n")
    save_rois_yaml(rois_from_config(BASE["rois"], (240, 320)), d / "big.yaml")
    return d


# --- the check functions, case by case ------------------------------------------------------


def _table(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "videos.tsv"
    p.write_text(text)
    return p


@pytest.mark.parametrize(("text", "expected"), [
    ("", ["videos.tsv: the videos table is empty; give a header line"]),
    ("session\tvideo\tpath\tfps\ns1\tv1\ta.avi\tabc\n",
     ["videos.tsv, line 2, column 'fps': 'abc' is not a number"]),
    ("session\tvideo\tpath\tfps\ns1\tv1\ta.avi\t60\textra\n",
     ["videos.tsv, line 2: 5 cells but the header has 4 columns"]),
    ("session,video,path\ns1,v1,a.avi\n", [("lacks column(s) ['session', 'video', 'path'] "
                                           "(is it tab-separated?)")]),
    ("session\tvideo\tpath\tfps\ns1\tv1\ta.avi\t-3\ns 1\tv2\tb.avi\t\ns1\tv3\t\t\n",
     ["line 2, column 'fps': fps must be positive, got -3",
      "line 3, column 'session': session name 's 1' must match",
      "line 4, column 'path': empty"]),
    ("session\tvideo\tpath\ns1\tv1\ta.avi\ns1\tv1\tb.avi\n",
     ["line 3: duplicate row for session 's1', video 'v1' (first on line 2)"]),
    ("# only a comment\nsession\tvideo\tpath\n", ["videos table has no rows"]),
])
def test_videos_table_problems_are_listed_by_line_and_column(tmp_path, text, expected):
    with pytest.raises(PreflightError) as info:
        read_videos_table(_table(tmp_path, text))
    assert len(info.value.problems) == len(expected)
    for line, want in zip(info.value.problems, expected):
        assert want in line and "\n" not in line, line


def test_a_good_videos_table_reads_with_optional_fps(tmp_path):
    t = read_videos_table(_table(tmp_path, "session\tvideo\tpath\tfps\n# c\n"
                                           "s1\tv1\ta.avi\t\ns1\tv2\tb.avi\t120\n"))
    assert t["video"].tolist() == ["v1", "v2"] and np.isnan(t["fps"].iloc[0])
    assert t.loc[("s1", "v2"), "fps"] == 120.0


def _check(tmp_path, videos, fps=None, rois=None, tracking=None, tca=None, vqt=None):
    videos = [str(v) for v in videos]
    return check_session(tmp_path / "videos.tsv", "s1", [f"v{i}" for i in range(len(videos))],
                         videos, fps or [None] * len(videos), "auto",
                         vqt if vqt is not None else BASE["vqt"], 0,
                         rois=BASE["rois"] if rois is None else rois,
                         tracking=tracking or BASE["tracking"], tca=tca or BASE["tca"])


def _problems(tmp_path, **kw):
    with pytest.raises(PreflightError) as info:
        _check(tmp_path, **kw)
    assert not (tmp_path / "videos.tsv").exists()
    return info.value.problems


def test_good_inputs_pass_and_write_the_table(data, tmp_path):
    table = _check(tmp_path, [data / "good.avi"] * 2)
    assert table["n_frames"].tolist() == [N_FRAMES] * 2
    assert (tmp_path / "videos.tsv").exists()


@pytest.mark.parametrize(("name", "expected"), [
    ("zero.avi", "zero.avi: empty file (0 bytes)"),
    ("truncated.avi", "truncated.avi: truncated or corrupt"),
    ("folder.avi", "folder.avi: is a directory, not a video file"),
    ("garbage.avi", "garbage.avi: not a readable video"),
    ("missing.avi", "missing.avi: file not found"),
    ("small.avi", "small.avi: frame size 144x176 (HxW) differs from 120x160"),
    ("black.avi", ("black.avi: the video is blank: 5 frames sampled through it are all grey "
                  "level 0 inside the tracking mask")),
])
def test_each_bad_video_is_one_line(data, tmp_path, name, expected):
    problems = _problems(tmp_path, videos=[data / "good.avi", data / name])
    assert len(problems) == 1 and expected in problems[0], problems


def test_every_bad_video_of_a_session_is_listed_at_once(data, tmp_path):
    names = ["zero.avi", "truncated.avi", "folder.avi", "garbage.avi"]
    problems = _problems(tmp_path, videos=[data / "good.avi", *(data / n for n in names)])
    assert [n for n in names if any(n in p for p in problems)] == names


def test_a_video_corrupt_in_the_middle_is_found_by_the_sampled_frames(data, tmp_path):
    (problem,) = _problems(tmp_path, videos=[data / "good.avi", data / "middle.avi"])
    assert "middle.avi: corrupt: a frame among [0, 37, 74, 112, 149] cannot be decoded" \
        in problem, problem


def _rois(**kw):
    return {**copy.deepcopy(BASE["rois"]), **kw}


@pytest.mark.parametrize(("rois", "expected"), [
    ({"file": "cut_short.h5", "source": "file"}, "cut_short.h5: cannot read the ROI file"),
    ({"file": "corrupt.h5", "source": "file"}, "corrupt.h5: cannot read the ROI file"),
    ({"file": "empty.yaml", "source": "file"}, "empty.yaml: empty ROI file (0 bytes)"),
    ({"file": "garbage.yaml", "source": "file"}, "garbage.yaml: not valid YAML"),
    ({"file": "big.yaml", "source": "file"},
     "big.yaml: ROI file is for frames of 320x240 (WxH) but the video frames are 160x120"),
    ({"file": "nope.yaml", "source": "file"}, "nope.yaml: ROI file not found"),
    ({"file": "rois.yaml"}, "give either 'file' or 'polygons', not both"),
    ({"polygons": {"face": [[1, 1], [float("nan"), 5], [50, 50]]}},
     "ROI 'face': vertices contain NaN or infinity"),
    ({"polygons": {"face": [[1, 1], [20, 20], [40, 40]]}},
     "ROI 'face': the polygon encloses no area"),
    ({"point_spacing": 500}, "point_spacing 500 leaves zero points inside ROI(s) ['face']"),
    ({"polygons": {"a": [[0, 0], [50, 0], [50, 50], [0, 50]],
                   "b": [[100, 60], [150, 60], [150, 110], [100, 110]]},
      "points_from": ["a"], "mask_from": ["b"]},
     "none of the 49 points (points_from ['a']) lies inside the tracking mask"),
    ({"polygons": {"face": [[-10, -10], [500, 0], [500, 500]]}},
     "ROI 'face': vertex 0 (-10, -10) is outside the 160x120 frame"),
])
def test_each_bad_roi_source_is_one_line(data, tmp_path, rois, expected):
    rois = _rois(**rois)
    if rois.get("file"):
        rois["file"] = str(data / rois["file"])
    problems = _problems(tmp_path, videos=[data / "good.avi"], rois=rois)
    assert len(problems) == 1 and expected in problems[0], problems


def test_a_region_without_texture_is_reported(data, tmp_path):
    frames = np.random.default_rng(3).integers(0, 255, (N_FRAMES, 120, 160), dtype=np.uint8)
    frames[:, :60, :80] = 128  # a flat patch where the points are
    video = _write_video(tmp_path / "flat.avi", frames)
    rois = _rois(polygons={"face": [[5, 5], [70, 5], [70, 50], [5, 50]]},
                 points_from=["face"], mask_from=[])
    (problem,) = _problems(tmp_path, videos=[video], rois=rois)
    assert "flat.avi: the video is blank" in problem and "no texture to track" in problem


def _deep(section, **kw):
    out = copy.deepcopy(BASE[section])
    for key, value in kw.items():
        node = out
        *parents, last = key.split(".")
        for p in parents:
            node = node[p]
        node[last] = value
    return out


@pytest.mark.parametrize(("kw", "expected"), [
    ({"tca": {"params_method.foo": 1}}, ("config tca.params_method: params_method has key(s) "
                                        "['foo'] that CP_NN_HALS does not take")),
    ({"tca": {"rank": 40}}, "config tca.rank: 40 is above the smallest dim of the tensor"),
    ({"tca": {"params_method.init": "magic"}},
     "config tca.params_method: params_method.init='magic' is not one of ('svd', 'random')"),
    ({"tca": {"normalize.std_divide": True, "normalize.dim": "space"}},
     "config tca.normalize.dim: 'space' is not a dim of the tensor"),
    ({"vqt": {"params_VQT.downsample_factor": 500}},
     ("good.avi: cannot make its spectrogram: config vqt.params_VQT.downsample_factor=500 "
     "is longer than its 150 frames")),
    ({"vqt": {"params_VQT.F_max": 45.0}}, "must not exceed the Nyquist frequency 30 Hz"),
    ({"vqt": {"params_VQT.F_min": 0.5}}, "VQT window of 481 frames"),
    ({"tracking": {"params_optical_flow.mesh_n_neighbors": 500}},
     "config tracking: mesh_n_neighbors=500: only"),
])
def test_each_impossible_parameter_is_one_line(data, tmp_path, kw, expected):
    sections = {s: _deep(s, **v) for s, v in kw.items()}
    problems = _problems(tmp_path, videos=[data / "good.avi"], **sections)
    assert len(problems) == 1 and expected in problems[0], problems


# --- real snakemake runs, one per bullet of the issue ---------------------------------------


def _snakemake(workdir: Path, config: dict, *args: str, targets: tuple[str, ...] = (),
               overlays: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    workdir.mkdir(exist_ok=True)
    cfg = workdir / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", *targets, "-s", str(REPO / "Snakefile"),
           "--directory", str(workdir), "--workflow-profile", "none", "--cores", "1", *args,
           "--configfile", str(cfg), *overlays]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


def _config(table: Path, **sections) -> dict:
    cfg = copy.deepcopy(BASE)
    cfg["videos"] = str(table)
    cfg["outputs"]["overlay_video"] = False
    cfg.update(sections)
    return cfg


def _assert_stopped_cleanly(workdir: Path, proc, expected: list[str]):
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    for want in expected:
        lines = [ln for ln in out.splitlines() if want in ln]
        assert lines, (want, out[-4000:])
    logs = "".join(p.read_text() for p in (workdir / "logs").rglob("*.log")) \
        if (workdir / "logs").exists() else ""
    assert "Traceback" not in out and "Traceback" not in logs, out[-4000:] + logs[-4000:]
    ran = {p.name for p in (workdir / "logs").iterdir()} if (workdir / "logs").exists() else set()
    assert ran <= {"video_metadata"}, ran  # no job past the check
    left = [p for p in (workdir / "results").rglob("*") if p.is_file()] \
        if (workdir / "results").exists() else []
    assert not left, left


def _tsv(d: Path, rows: list[tuple[str, str, str]], name="videos.tsv", fps="") -> Path:
    p = d / name
    p.write_text("session\tvideo\tpath\tfps\n" + "".join(f"{s}\t{v}\t{path}\t{fps}\n"
                                                           for s, v, path in rows))
    return p


@pytest.mark.parametrize("case", ["table_text_and_extra_cell", "table_empty",
                                  "videos_and_a_black_video", "rois_file", "parameters"])
def test_snakemake_stops_at_the_check_with_one_line_per_problem(data, tmp_path, case):
    good = data / "good.avi"
    args: tuple[str, ...] = ()
    if case == "table_text_and_extra_cell":
        table = tmp_path / "videos.tsv"
        table.write_text(f"session\tvideo\tpath\tfps\ns1\tv1\t{good}\tabc\n"
                         f"s1\tv2\t{good}\t60\t7\n")
        cfg = _config(table)
        expected = ["videos.tsv, line 2, column 'fps': 'abc' is not a number",
                    "videos.tsv, line 3: 5 cells but the header has 4 columns"]
        args = ("-n",)
    elif case == "table_empty":
        table = tmp_path / "videos.tsv"
        table.write_text("")
        cfg = _config(table)
        expected = ["videos.tsv: the videos table is empty"]
        args = ("-n",)
    elif case == "videos_and_a_black_video":
        names = ["zero.avi", "truncated.avi", "folder.avi", "garbage.avi", "middle.avi",
                 "black.avi"]
        table = _tsv(tmp_path, [("s1", "v0", str(good))]
                     + [("s1", f"v{i + 1}", str(data / n)) for i, n in enumerate(names)])
        cfg = _config(table)
        expected = ["zero.avi: empty file (0 bytes)", "truncated.avi: truncated or corrupt",
                    "folder.avi: is a directory", "garbage.avi: not a readable video",
                    "middle.avi: corrupt: a frame among", "black.avi: the video is blank",
                    "(session s1: 6 problem(s) found before any work started"]
    elif case == "rois_file":
        table = _tsv(tmp_path, [("s1", "v1", str(good))])
        cfg = _config(table, rois={**BASE["rois"], "source": "file",
                                   "file": str(data / "cut_short.h5")})
        expected = ["cut_short.h5: cannot read the ROI file"]
    else:  # parameters
        table = _tsv(tmp_path, [("s1", "v1", str(good)), ("s1", "v2", str(good))])
        cfg = _config(table, tca=_deep("tca", **{"rank": 40, "params_method.init": "magic",
                                                 "normalize.std_divide": True,
                                                 "normalize.dim": "space"}),
                      tracking=_deep("tracking",
                                     **{"params_optical_flow.mesh_n_neighbors": 500}))
        expected = ["config tca.rank: 40 is above", "params_method.init='magic'",
                    "config tca.normalize.dim: 'space' is not a dim", "mesh_n_neighbors=500",
                    "(session s1: 4 problem(s)"]
    proc = _snakemake(tmp_path / "run", cfg, *args)
    _assert_stopped_cleanly(tmp_path / "run", proc, expected)


def test_an_experiment_config_switches_rois_to_a_file(data, tmp_path):
    """``--configfile base.yaml experiment.yaml``: the experiment's ``rois: {source: file}``
    wins over the base's polygons; the ROIs come from the file."""
    from face_rhythm.rois import read_rois_h5

    table = _tsv(tmp_path, [("s1", "v1", str(data / "good.avi"))])
    rois = {"polygons": {"eye": [[80, 10], [150, 10], [150, 60], [80, 60]]},
            "points_from": ["eye"], "mask_from": ["eye"], "point_spacing": 10}
    from face_rhythm.rois import rois_from_config, save_rois_yaml

    save_rois_yaml(rois_from_config(rois, (120, 160)), tmp_path / "eye.yaml")
    base = _config(table)
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text(yaml.safe_dump(
        {"rois": {"source": "file", "file": str(tmp_path / "eye.yaml")}}))
    proc = _snakemake(tmp_path / "run", base, targets=("results/s1/rois.h5",),
                      overlays=(str(experiment),))
    assert proc.returncode == 0, proc.stderr[-4000:]
    rf = read_rois_h5(tmp_path / "run" / "results" / "s1" / "rois.h5")
    assert list(rf.polygons) == ["eye"]
    np.testing.assert_array_equal(rf.point_positions,
                                  rois_from_config(rois, (120, 160)).points())


def test_unreadable_video_is_one_line(data, tmp_path):
    video = tmp_path / "locked.avi"
    shutil.copy(data / "good.avi", video)
    video.chmod(0)
    if os.geteuid() != 0:
        (problem,) = _problems(tmp_path, videos=[video])
    else:  # root reads anything: check in a process without the capabilities that allow it
        code = ("import sys; from face_rhythm.errors import PreflightError; "
                "from face_rhythm.preflight import check_session\n"
                "try: check_session(sys.argv[1], 's1', ['v0'], [sys.argv[2]], [None], 'auto', "
                "{}, 0)\nexcept PreflightError as e: print('\\n'.join(e.problems))")
        out = subprocess.run(
            ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", sys.executable,
             "-c", code, str(tmp_path / "videos.tsv"), str(video)],
            capture_output=True, text=True, check=True, cwd=REPO)
        (problem,) = out.stdout.strip().splitlines()
        assert not (tmp_path / "videos.tsv").exists()
    assert "locked.avi: cannot be read (permission denied)" in problem
