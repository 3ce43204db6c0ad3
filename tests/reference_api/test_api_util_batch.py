"""face_rhythm.util.batch_run through Snakemake (local jobs and a real SLURM cluster) and
system_info."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

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
    sh = (tmp_path / "b" / "jobNum_0" / "job.sh").read_text()
    assert '"$@"' not in sh and "--path_params" in sh and "export FOO=1" in sh


def test_batch_run_reports_failing_jobs_and_bad_arguments(scripts, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import sys; sys.exit(3)\n")
    with pytest.raises(ChildProcessError, match="jobs failed: 1 "):
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


def test_batch_run_reruns_only_failed_or_changed_jobs(scripts, tmp_path):
    out = tmp_path / "r"
    util.batch_run(scripts, [{"x": 1}, {"x": 2}], None, dir_save=out, verbose=False)
    first = [(out / f"jobNum_{i}" / n).stat().st_mtime_ns
             for i, n in ((0, "double.txt"), (1, "triple.txt"))]
    util.batch_run(scripts, [{"x": 1}, {"x": 5}], None, dir_save=out, verbose=False)
    assert (out / "jobNum_0" / "double.txt").stat().st_mtime_ns == first[0]  # kept
    assert (out / "jobNum_1" / "triple.txt").read_text() == "15"  # its params changed


def test_sbatch_resources_from_sbatch_lines():
    body = ("#!/bin/bash\n#SBATCH --job-name=fr\n#SBATCH --partition=gpu -A lab\n"
            "#SBATCH --time=1-02:30:00\n#SBATCH --mem=16G\n#SBATCH -c 4\n"
            "#SBATCH --gres=gpu:2\n#SBATCH --qos=short\npython \"$@\"\n")
    assert util.batch.sbatch_resources(body) == {
        "slurm_partition": "gpu", "slurm_account": "lab", "runtime": 26 * 60 + 30,
        "mem_mb": 16 * 1024, "cpus_per_task": 4, "gpu": 2, "slurm_extra": "--qos=short"}
    assert util.batch.sbatch_resources("#SBATCH -t 45\n")["runtime"] == 45
    assert util.batch.sbatch_resources("#SBATCH --time=2:00:00\n")["runtime"] == 120


def _slurm_problem():
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return "no SLURM here (CI starts one with .ci/slurm_up.sh)"
    res = subprocess.run(["sinfo", "-h", "-o", "%R %T"], capture_output=True, text=True,
                         timeout=20, check=False)
    if res.returncode != 0 or "debug" not in res.stdout:
        return f"SLURM partition debug not up (sinfo: {res.stdout.strip()!r} {res.stderr!r})"
    return None


@pytest.mark.slurm
def test_batch_run_submits_sbatch_bodies_to_a_real_slurm_cluster(scripts, tmp_path):
    problem = _slurm_problem()
    if problem:
        pytest.skip(problem)
    body = ('#!/bin/bash\n#SBATCH --job-name=fr\n#SBATCH --partition=debug\n'
            '#SBATCH --time=0:05:00\n#SBATCH --mem=500M\n#SBATCH -c 1\n'
            f'export PATH={shlex.quote(str(Path(sys.executable).parent))}:$PATH\n'
            'python "$@"\n')
    out = tmp_path / "s"
    jobs = util.batch_run(scripts, [{"x": 4}], body, max_n_jobs=2, dir_save=out,
                          verbose=False, snakemake_args=[
                              "--slurm-no-account", "--slurm-status-command", "squeue",
                              "--slurm-init-seconds-before-status-checks", "2",
                              "--latency-wait", "10"])
    assert [j["mode"] for j in jobs] == ["slurm", "slurm"]
    assert (out / "jobNum_0" / "double.txt").read_text() == "8"
    assert (out / "jobNum_1" / "triple.txt").read_text() == "12"
    log = (out / "batch_run.log").read_text()
    assert len(re.findall(r"submitted with SLURM jobid \d+", log)) == 2, log[-2000:]


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
