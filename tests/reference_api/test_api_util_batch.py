"""face_rhythm.util.batch_run (local jobs run for real, SLURM with a stand-in sbatch) and
system_info."""

from __future__ import annotations

import importlib.metadata
import json
import os
import stat
import sys
import textwrap

import numpy as np
import pytest

from face_rhythm import util
from face_rhythm.errors import ConfigError

SCRIPT = textwrap.dedent("""
    import argparse, json, pathlib
    ap = argparse.ArgumentParser()
    ap.add_argument("--path_params")
    ap.add_argument("--directory_save")
    a = ap.parse_args()
    p = json.loads(pathlib.Path(a.path_params).read_text())
    out = pathlib.Path(a.directory_save) / "{name}.txt"
    out.write_text(str(p["x"] * {factor}))
    print("wrote", out)
""")


@pytest.fixture
def scripts(tmp_path):
    paths = []
    for name, factor in (("double", 2), ("triple", 3)):
        p = tmp_path / f"{name}.py"
        p.write_text(SCRIPT.format(name=name, factor=factor))
        paths.append(p)
    return paths


def test_batch_run_local_runs_each_script_with_its_params(scripts, tmp_path, capsys):
    out = tmp_path / "runs"
    jobs = util.batch_run(scripts, [{"x": 5}, {"x": np.int64(7)}], None, max_n_jobs=2,
                          dir_save=out, name_save="job_")
    assert (out / "job_0" / "double.txt").read_text() == "10"
    assert (out / "job_1" / "triple.txt").read_text() == "21"
    assert json.loads((out / "job_1" / "params.json").read_text()) == {"x": 7}
    assert [j["returncode"] for j in jobs] == [0, 0]
    assert [j["mode"] for j in jobs] == ["local", "local"]
    assert "wrote" in (out / "job_0" / "log.txt").read_text()
    assert capsys.readouterr().out.count("done") == 2


def test_batch_run_broadcasts_one_script_and_a_shell_body(scripts, tmp_path):
    body = '#!/bin/bash\nexport FOO=1\npython "$@"\n'
    jobs = util.batch_run(scripts[0], [{"x": 1}, {"x": 2}, {"x": 3}], [body], max_n_jobs=1,
                          dir_save=tmp_path / "b", verbose=False)
    assert [(tmp_path / "b" / f"jobNum_{i}" / "double.txt").read_text() for i in range(3)] == \
        ["2", "4", "6"]
    assert {j["mode"] for j in jobs} == {"local_shell"}
    sh = (tmp_path / "b" / "jobNum_0" / "sbatch_config.sh").read_text()
    assert '"$@"' not in sh and "--path_params" in sh and "export FOO=1" in sh


def test_batch_run_reports_failing_jobs_and_bad_arguments(scripts, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import sys; sys.exit(3)\n")
    with pytest.raises(ChildProcessError, match="exit 3"):
        util.batch_run([scripts[0], bad], [{"x": 1}], None, dir_save=tmp_path / "f",
                       verbose=False)
    assert (tmp_path / "f" / "jobNum_0" / "double.txt").read_text() == "2"
    with pytest.raises(ConfigError, match="give 1 or 3"):
        util.batch_run(scripts, [{"x": 1}] * 3, None, dir_save=tmp_path)
    with pytest.raises(ConfigError, match="dir_save"):
        util.batch_run(scripts[0], [{"x": 1}], None)
    with pytest.raises(FileNotFoundError):
        util.batch_run(tmp_path / "none.py", [{"x": 1}], None, dir_save=tmp_path)
    with pytest.raises(ConfigError, match='python "\\$@"'):
        util.batch_run(scripts[0], [{"x": 1}], ["#!/bin/bash\n#SBATCH -t 1\n"],
                       dir_save=tmp_path)


def test_batch_run_submits_sbatch_bodies_with_sbatch(scripts, tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "sbatch"
    fake.write_text(f'#!/bin/bash\ncp "$1" {tmp_path}/submitted_$$.sh\n'
                    'echo "Submitted batch job 4242"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    body = '#!/bin/bash\n#SBATCH --job-name=fr\n#SBATCH --time=0:10:00\npython "$@"\n'
    jobs = util.batch_run(scripts, [{"x": 1}], body, max_n_jobs=2, dir_save=tmp_path / "s",
                          verbose=False)
    assert [j["job_id"] for j in jobs] == ["4242", "4242"]
    assert [j["mode"] for j in jobs] == ["slurm", "slurm"]
    submitted = sorted(tmp_path.glob("submitted_*.sh"))
    assert len(submitted) == 2
    text = submitted[0].read_text()
    assert "#SBATCH --job-name=fr" in text and "--directory_save" in text
    assert not (tmp_path / "s" / "jobNum_0" / "double.txt").exists()  # not run here
    with pytest.raises(ConfigError, match="max_n_jobs"):
        util.batch_run(scripts[0], [{"x": 1}] * 3, body, max_n_jobs=2, dir_save=tmp_path)


def test_system_info_keys_and_values():
    info = util.system_info()
    assert set(info) >= {"datetime", "face_rhythm", "operating_system", "cpu_info", "user",
                         "ram", "gpu_info", "conda_env", "python", "gcc", "torch", "cuda",
                         "cudnn", "torch_devices", "pkgs"}
    assert info["python"] == sys.version
    assert info["face_rhythm"] == importlib.metadata.version("face-rhythm")
    assert info["pkgs"]["numpy"] == np.__version__
    assert info["cpu_info"]["n_cores"] == os.cpu_count()
    assert info["ram"]["total_GiB"] > 0
    assert "cpu" in info["torch_devices"]
    import torch

    assert info["torch"] == torch.__version__
    json.dumps(info)
