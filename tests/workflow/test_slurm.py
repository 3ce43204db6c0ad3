"""The demo workflow on a real SLURM cluster through Snakemake's SLURM executor.

Runs the demo (2 sessions x 2 small videos) twice, side by side: through
``--executor slurm --workflow-profile profiles/slurm-ci`` and locally (``--cores 2
--workflow-profile none``), then checks that every job went through ``sbatch`` (SLURM job ids
in the output and in ``.snakemake/slurm_logs``), that the GPU rules were submitted with
``--gpus=1`` on the ``gpu`` partition and really got a GPU, and that the numerical results equal
the local run's.

The profiles' dry runs need no SLURM (they hide it) and always run. The rest needs the
single-node cluster of ``.ci/slurm_up.sh`` (``.ci/run`` starts it before
``pytest -m slurm``); skips with the reason when ``sinfo`` is missing or no node is up, and
fails instead when ``FACE_RHYTHM_REQUIRE_SLURM=1`` (set by CI, where skipping would hide a
broken cluster).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from h5compare import compare_results

REPO = Path(__file__).resolve().parents[2]
GPU_RULES = {"spectrogram", "tca", "tca_all_sessions"}
SUBMITTED_RULES = ("demo_video", "video_metadata", "rois", "track_points", "spectrogram", "tca")
SESSIONS = ("s1", "s2")
VIDEOS = ("v1", "v2")
COPIED = ("Snakefile", "workflow", "config", ".test", "profiles")
# Datasets that record how long something took (seconds of wall-clock time): they differ
# between any two runs, so they are not results. (Provenance belongs in run_info.)
TIMEOUT_S = 900

SUBMITTED_RE = re.compile(
    r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)"
)


def cluster_problem() -> str | None:
    """Why the SLURM tests cannot run here, or None when a cluster answers."""
    if shutil.which("sinfo") is None:
        return "sinfo not on PATH: no SLURM here (CI starts one with .ci/slurm_up.sh)"
    if os.environ.get("SLURM_JOB_ID"):
        return "inside a SLURM allocation: the plugin clears SLURM_* variables there"
    try:
        res = subprocess.run(["sinfo", "-h", "-o", "%R %T"], capture_output=True, text=True,
                             timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return "sinfo timed out: slurmctld does not answer (run .ci/slurm_up.sh)"
    if res.returncode != 0:
        return f"SLURM cluster not up (sinfo: {res.stderr.strip()[:200]}); run .ci/slurm_up.sh"
    rows = [line.split() for line in res.stdout.splitlines() if line.strip()]
    usable = {p for p, state in rows if state.rstrip("*~#") in {"idle", "mixed", "allocated"}}
    if not {"debug", "gpu"} <= usable:
        return f"partitions debug and gpu not both up (sinfo: {res.stdout.strip()!r})"
    return None


def prepare_workdir(dest: Path, sessions, videos) -> Path:
    """Copy the workflow to ``dest`` with a test config for ``sessions`` x ``videos``."""
    dest.mkdir(parents=True)
    for name in COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    rows = ["session\tvideo\tpath\tfps"]
    rows += [f"{s}\t{v}\tdemo_data/{s}/{v}.avi\t" for s in sessions for v in videos]
    (dest / "videos_test.tsv").write_text("\n".join(rows) + "\n")
    config = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    config["videos"] = "videos_test.tsv"
    config.setdefault("outputs", {})["overlay_video"] = False  # not needed here; saves jobs
    # device auto: the rules ask SLURM for a GPU (the CI's are fake, so the jobs use the CPU)
    config["vqt"]["device"] = "auto"
    config["tca"]["device"] = "auto"
    (dest / "config_test.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


def snakemake_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--configfile", "config_test.yaml", "--nocolor",
            *args]


def job_stats(output: str) -> Counter:
    """The 'Job stats' table Snakemake prints, as {rule: count} (without 'total')."""
    counts: Counter = Counter()
    match = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\n\s*total\s+\d+", output, re.DOTALL)
    if match:
        for line in match.group(1).splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                counts[parts[0]] = int(parts[1])
    return counts


def rule_of_comment(call: str) -> str | None:
    """The rule name in the ``--comment rule_<rule>[_wildcards_<...>]`` of an sbatch call."""
    match = re.search(r"--comment '?rule_(\S+?)(?:_wildcards_\S*?)?'?\s", call)
    return match.group(1) if match else None


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run the 2x2 demo through SLURM and locally (at the same time); return both."""
    problem = cluster_problem()
    if problem and os.environ.get("FACE_RHYTHM_REQUIRE_SLURM") == "1":
        pytest.fail(f"FACE_RHYTHM_REQUIRE_SLURM=1 but {problem}")
    if problem:
        pytest.skip(problem)
    root = tmp_path_factory.mktemp("slurm_vs_local")
    local = prepare_workdir(root / "local", SESSIONS, VIDEOS)
    slurm = prepare_workdir(root / "slurm", SESSIONS, VIDEOS)
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}

    local_log = (root / "local.out").open("w")
    local_proc = subprocess.Popen(
        snakemake_cmd("--cores", "2", "--workflow-profile", "none"),
        cwd=local, stdout=local_log, stderr=subprocess.STDOUT, env=env,
    )
    try:
        slurm_res = subprocess.run(
            snakemake_cmd("--executor", "slurm", "--workflow-profile", "profiles/slurm-ci",
                          "--verbose"),
            cwd=slurm, capture_output=True, text=True, timeout=TIMEOUT_S, env=env,
            check=False,
        )
        local_rc = local_proc.wait(timeout=TIMEOUT_S)
    finally:
        if local_proc.poll() is None:
            local_proc.kill()
        local_log.close()
    slurm_out = slurm_res.stdout + slurm_res.stderr
    (root / "slurm.out").write_text(slurm_out)
    local_out = (root / "local.out").read_text()
    assert local_rc == 0, f"local run failed (rc {local_rc}):\n{local_out[-4000:]}"
    assert slurm_res.returncode == 0, (
        f"SLURM run failed (rc {slurm_res.returncode}), full output in {root / 'slurm.out'}:\n"
        + "\n".join(line for line in slurm_out.splitlines() if "sbatch call" not in line)[-4000:]
    )
    return SimpleNamespace(local=local, slurm=slurm, local_out=local_out, slurm_out=slurm_out)


@pytest.mark.slurm
def test_every_job_went_through_sbatch(runs):
    submitted = SUBMITTED_RE.findall(runs.slurm_out)
    assert submitted, "no 'submitted with SLURM jobid' line in the Snakemake output"
    slurm_ids = [int(jobid) for _, jobid, _ in submitted]
    assert len(set(slurm_ids)) == len(slurm_ids), "a SLURM job id was reported twice"
    # one SLURM job per job of the local run, rule by rule, for the rules that do the work
    # (target rules, and any small rule the workflow declares local, run in the driver)
    local_jobs = job_stats(runs.local_out)
    assert local_jobs["track_points"] == len(SESSIONS) * len(VIDEOS)
    by_rule = Counter(re.search(r"slurm_logs/rule_([^/]+)/", log).group(1)
                      for _, _, log in submitted)
    for rule in SUBMITTED_RULES:
        assert by_rule[rule] == local_jobs[rule], (rule, by_rule, local_jobs)
    assert set(by_rule) <= set(local_jobs), f"unexpected rules submitted: {by_rule}"
    # each job's SLURM output file is named after its SLURM job id
    logs = {int(p.stem) for p in (runs.slurm / ".snakemake" / "slurm_logs").rglob("*.log")}
    assert set(slurm_ids) <= logs


@pytest.mark.slurm
def test_gpu_rules_were_submitted_with_gpus(runs):
    calls = [line for line in runs.slurm_out.splitlines() if "sbatch call:" in line]
    assert calls, "no 'sbatch call' lines: was --verbose passed?"
    seen = Counter()
    for call in calls:
        rule = rule_of_comment(call)
        assert rule is not None, f"no rule in sbatch call: {call[:300]}"
        head = call.split("--wrap", 1)[0]
        seen[rule] += 1
        if rule in GPU_RULES:
            assert " --gpus=1" in head and " -p gpu " in head, f"{rule}: {head}"
            assert "--cpus-per-gpu=1" in head, f"{rule}: {head}"
        else:
            assert "--gpus" not in head and " -p debug " in head, f"{rule}: {head}"
    assert seen["spectrogram"] == len(SESSIONS) * len(VIDEOS)
    assert seen["tca"] == len(SESSIONS)
    # SLURM really allocated a (fake) GPU: the job's environment names it
    logs = list((runs.slurm / ".snakemake" / "slurm_logs" / "rule_spectrogram").rglob("*.log"))
    assert len(logs) == len(SESSIONS) * len(VIDEOS)
    for log in logs:
        assert re.search(r"'CUDA_VISIBLE_DEVICES': '[01]'", log.read_text()), log


@pytest.mark.slurm
def test_results_equal_local_run(runs):
    for s in SESSIONS:
        assert (runs.slurm / "results" / s / "tca.h5").is_file()
        for v in VIDEOS:
            assert (runs.slurm / "results" / s / v / "spectrogram.h5").is_file()
    n, problems = compare_results(runs.local, runs.slurm)
    assert not problems, "\n".join(problems)
    assert n >= len(SESSIONS) * (2 * len(VIDEOS) + 1)  # at least one dataset per file


SLURM_COMMANDS = {"sinfo", "squeue", "sbatch", "srun", "salloc", "sacct", "sacctmgr", "scontrol",
                  "scancel", "sstat", "sattach", "sbcast", "sprio", "sshare", "sdiag", "sreport"}


def path_without_slurm(bin_dir: Path) -> str:
    """A PATH like the current one in which no SLURM command can be found.

    Folders holding a SLURM command are replaced by ``bin_dir``, filled with links to their
    other executables.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    folders = []
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        d = Path(folder)
        if not d.is_dir():
            continue
        if not any((d / c).exists() for c in SLURM_COMMANDS):
            folders.append(folder)
            continue
        for exe in d.iterdir():
            link = bin_dir / exe.name
            if exe.name not in SLURM_COMMANDS and not link.exists() and not link.is_symlink():
                link.symlink_to(exe)
    return os.pathsep.join([*folders, str(bin_dir)])


@pytest.mark.parametrize("profile", ["slurm", "slurm-ci", "local"])
def test_profile_dry_run_without_slurm(tmp_path, profile):
    """Each profile parses and plans the demo where no SLURM command exists (PATH = Python)."""
    work = prepare_workdir(tmp_path / "work", SESSIONS, VIDEOS)
    env = {**os.environ, "PATH": path_without_slurm(tmp_path / "bin")}
    assert shutil.which("sinfo", path=env["PATH"]) is None
    res = subprocess.run(snakemake_cmd("--workflow-profile", f"profiles/{profile}", "-n"),
                         cwd=work, capture_output=True, text=True, timeout=300, env=env,
                         check=False)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert job_stats(out)["track_points"] == len(SESSIONS) * len(VIDEOS)
    if profile.startswith("slurm"):
        block = re.search(r"rule spectrogram:.*?resources: ([^\n]*)", out, re.DOTALL)
        assert block and "gpu=1" in block.group(1) and "slurm_partition=gpu" in block.group(1)
