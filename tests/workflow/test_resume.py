"""Kill the workflow in the middle of point tracking, run it again: same results, bit for bit.

A run of the demo (1 session x 2 videos, local executor, ``--cores 1``) is killed with SIGKILL
to its whole process group while a ``track_points`` job is running (its log exists, its
output does not). Then:

- no result file that looks complete is left behind: the killed job's ``tracking.h5`` does not
  exist and every ``*.h5`` present opens and carries ``run_info`` (outputs are written under a
  temporary name and renamed when complete);
- ``snakemake --unlock`` and a rerun with ``--rerun-incomplete`` finish the workflow, redo the
  killed job and keep every file that was finished before the kill (same inode and mtime);
- the numerical results equal those of an uninterrupted run (run at the same time in another
  folder) bit for bit.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import yaml
from h5compare import compare_results

REPO = Path(__file__).resolve().parents[2]
SESSION = "s1"
VIDEOS = ("v1", "v2")
COPIED = ("Snakefile", "workflow", "config", ".test")
# Datasets that record how long something took (seconds of wall-clock time): they differ
# between any two runs, so they are not results. (Provenance belongs in run_info.)
TIMEOUT_S = 600


def prepare_workdir(dest: Path) -> Path:
    """Copy the workflow to ``dest`` with the test config for 1 session x 2 videos."""
    dest.mkdir(parents=True)
    for name in COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    rows = ["session\tvideo\tpath\tfps"]
    rows += [f"{SESSION}\t{v}\tdemo_data/{SESSION}/{v}.avi\t" for v in VIDEOS]
    (dest / "videos_test.tsv").write_text("\n".join(rows) + "\n")
    config = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    config["videos"] = "videos_test.tsv"
    config.setdefault("outputs", {})["overlay_video"] = False  # not needed here; saves jobs
    (dest / "config_test.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


def snakemake_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--cores", "1", "--workflow-profile", "none",
            "--configfile", "config_test.yaml", "--nocolor", *args]


def files_under(root: Path, *folders: str) -> dict[Path, tuple[int, int]]:
    """{relative path: (inode, mtime in ns)} of the visible files under ``folders``."""
    out = {}
    for folder in folders:
        for p in (root / folder).rglob("*"):
            if p.is_file() and not p.name.startswith("."):
                st = p.stat()
                out[p.relative_to(root)] = (st.st_ino, st.st_mtime_ns)
    return out


def wait_for_tracking_in_progress(workdir: Path, proc: subprocess.Popen) -> str:
    """Poll until a track_points job runs (log there, output not); return its video."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        for video in VIDEOS:
            log = workdir / "logs" / "track_points" / SESSION / f"{video}.log"
            out = workdir / "results" / SESSION / video / "tracking.h5"
            if log.exists() and not out.exists():
                return video
        if proc.poll() is not None:
            raise AssertionError(
                f"the run ended (rc {proc.returncode}) before a tracking job could be killed; "
                "tracking finished too fast to catch, or the run failed"
            )
        time.sleep(0.01)
    raise AssertionError("no tracking job started within the time limit")


def test_kill_during_tracking_then_resume(tmp_path):
    reference = prepare_workdir(tmp_path / "reference")
    killed = prepare_workdir(tmp_path / "killed")

    ref_log = (tmp_path / "reference.out").open("w")
    ref_proc = subprocess.Popen(snakemake_cmd(), cwd=reference, stdout=ref_log,
                                stderr=subprocess.STDOUT)
    first_log = (tmp_path / "killed.out").open("w")
    proc = subprocess.Popen(snakemake_cmd(), cwd=killed, stdout=first_log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        video = wait_for_tracking_in_progress(killed, proc)
        os.killpg(proc.pid, signal.SIGKILL)  # snakemake and the job's script with it
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        first_log.close()

    # The killed job left nothing that looks finished.
    victim = Path("results") / SESSION / video / "tracking.h5"
    assert (killed / "logs" / "track_points" / SESSION / f"{video}.log").exists()
    assert not (killed / victim).exists(), "the killed job's output exists"
    for h5 in (killed / "results").rglob("*.h5"):  # temporary files are .<name>.<x>.tmp
        with h5py.File(h5, "r") as f:  # complete: opens, and was closed with its provenance
            assert "run_info" in f, f"{h5} lacks run_info"
    finished = files_under(killed, "results", "demo_data")
    assert Path("results") / SESSION / "rois.h5" in finished  # something was finished before

    # Resume: unlock (the killed driver left its lock), rerun the same command.
    unlock = subprocess.run(snakemake_cmd("--unlock"), cwd=killed, capture_output=True,
                            text=True, timeout=120, check=False)
    assert unlock.returncode == 0, unlock.stdout + unlock.stderr
    rerun = subprocess.run(snakemake_cmd("--rerun-incomplete"), cwd=killed, check=False,
                           capture_output=True, text=True, timeout=TIMEOUT_S)
    out = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, out[-4000:]
    assert (killed / victim).is_file()
    after = files_under(killed, "results", "demo_data")
    redone = sorted(str(p) for p, key in finished.items() if after.get(p) != key)
    assert not redone, f"finished outputs were redone or changed: {redone}"

    try:
        ref_rc = ref_proc.wait(timeout=TIMEOUT_S)
    finally:
        if ref_proc.poll() is None:
            ref_proc.kill()
        ref_log.close()
    assert ref_rc == 0, (tmp_path / "reference.out").read_text()[-4000:]

    n, problems = compare_results(reference, killed)
    assert not problems, "\n".join(problems)
    assert n >= 2 * len(VIDEOS) + 2  # tracking, spectrogram per video; rois, tca per session
