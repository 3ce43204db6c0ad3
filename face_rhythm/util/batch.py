"""One script over many parameter sets: :func:`batch_run` (the original's batch launcher).

Each job gets a folder ``<dir_save>/<name_save><i>/`` holding its ``params.json``; the script
runs as ``python <script> --path_params <folder>/params.json --directory_save <folder>``.
Jobs run on this machine, at most ``max_n_jobs`` at a time, or, when their SBATCH body has
``#SBATCH`` lines, are submitted to SLURM with ``sbatch``. For the face-rhythm pipeline
itself, the Snakemake workflow (``profiles/local``, ``profiles/slurm``) is the resumable way;
this is for sweeps of your own scripts written for the original.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from face_rhythm.atomic import atomic_path
from face_rhythm.errors import ConfigError

from .fr_module import to_plain

logger = logging.getLogger(__name__)

__all__ = ["batch_run"]

_PLACEHOLDER = 'python "$@"'


def _broadcast(values: Any, n: int, what: str) -> list[Any]:
    values = [values] if values is None or isinstance(values, (str, os.PathLike, Mapping)) \
        else list(values)
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise ConfigError(f"batch_run: {what} has {len(values)} items; give 1 or {n}")
    return values


def _mode(body: str | None) -> str:
    if body is None or not str(body).strip():
        return "local"
    return "slurm" if re.search(r"^\s*#SBATCH\b", body, flags=re.MULTILINE) else "local_shell"


def _say(verbose: bool, text: str) -> None:
    logger.info(text)
    if verbose:
        sys.stdout.write(text + "\n")


def _run_local(job: dict[str, Any]) -> int:
    with open(job["path_log"], "w") as log:
        return subprocess.run(job["command"], stdout=log, stderr=subprocess.STDOUT,
                              check=False).returncode


def batch_run(paths_scripts: str | os.PathLike | Sequence[str | os.PathLike],
              params_list: Mapping[str, Any] | Sequence[Mapping[str, Any]],
              sbatch_config_list: str | Sequence[str | None] | None,
              max_n_jobs: int | None = 2, dir_save: str | os.PathLike | None = None,
              name_save: str | Sequence[str] = "jobNum_",
              verbose: bool = True) -> list[dict[str, Any]]:
    """Run scripts over parameter sets, locally in parallel or as SLURM jobs.

    ``paths_scripts``, ``params_list`` and ``sbatch_config_list`` each have 1 item (used
    for every job) or ``n_jobs`` items (the longest sets ``n_jobs``). Job ``i`` gets the
    folder ``<dir_save>/<name_save[i]><i>/`` with ``params.json`` (``params_list[i]``) and
    runs ``python <script> --path_params <folder>/params.json --directory_save <folder>``;
    the script reads its parameters from that file (``helpers.json_load``) and writes its
    results into the folder. How a job runs depends on its ``sbatch_config_list`` entry:

    - ``None`` or ``''``: on this machine with this Python (``sys.executable``); output and
      errors go to ``<folder>/log.txt``. At most ``max_n_jobs`` run at once; ``batch_run``
      returns when all have finished.
    - a shell script body with ``#SBATCH`` lines: written to ``<folder>/sbatch_config.sh``,
      with its ``python "$@"`` line replaced by the command above, and submitted with
      ``sbatch`` (the options are the body's ``#SBATCH`` lines). ``batch_run`` returns
      after submitting; ``max_n_jobs`` caps how many jobs may be submitted (a guard
      against flooding the queue by mistake: more is an error).
    - a shell script body without ``#SBATCH`` lines (e.g. activating an environment, then
      ``python "$@"``): materialised the same way and run locally with ``bash``, as for
      ``None``.

    Parameters
    ----------
    paths_scripts : path or list of paths
        Python scripts taking ``--path_params`` and ``--directory_save``.
    params_list : dict or list of dict
        Parameters of each job (JSON-serialisable; numpy values are converted).
    sbatch_config_list : str, list of (str or None), or None
        SBATCH script bodies, each with the literal ``python "$@"`` on its command line;
        None entries run locally.
    max_n_jobs : int or None
        Local jobs: how many run at once (None: the number of CPU cores). SLURM jobs: the
        most that may be submitted (None: no cap).
    dir_save : path-like
        Folder under which the job folders are made (created if missing). Required.
    name_save : str or list of str
        Base name of each job's folder; the job index is appended.
    verbose : bool
        Write one status line per job to stdout.

    Returns
    -------
    jobs : list of dict
        Per job: ``index``, ``directory``, ``path_params``, ``mode`` (``'local'``,
        ``'local_shell'`` or ``'slurm'``), ``command``, and ``returncode`` and ``path_log``
        (local) or ``job_id`` (SLURM).

    Raises
    ------
    ConfigError
        Bad arguments: lengths that do not broadcast, no ``dir_save``, a body without
        ``python "$@"``, more SLURM jobs than ``max_n_jobs``, no ``sbatch`` on PATH.
    FileNotFoundError
        A script does not exist.
    ChildProcessError
        A local job exited with an error (after all jobs have finished), or ``sbatch``
        refused a job; the message names the jobs and their logs.
    """
    if dir_save is None:
        raise ConfigError("batch_run: give dir_save, the folder for the job folders")
    lengths = [1 if v is None or isinstance(v, (str, os.PathLike, Mapping)) else len(v)
               for v in (paths_scripts, params_list, sbatch_config_list)]
    n_jobs = max(lengths)
    scripts = [Path(p).resolve() for p in _broadcast(paths_scripts, n_jobs, "paths_scripts")]
    params = _broadcast(params_list, n_jobs, "params_list")
    bodies = _broadcast(sbatch_config_list, n_jobs, "sbatch_config_list")
    names = _broadcast(name_save, n_jobs, "name_save")
    for s in scripts:
        if not s.is_file():
            raise FileNotFoundError(f"{s}: no such script")
    modes = [_mode(b) for b in bodies]
    for i, b in enumerate(bodies):
        if modes[i] != "local" and _PLACEHOLDER not in b:
            raise ConfigError(f"batch_run: sbatch_config_list[{i}] has no line "
                              f"'{_PLACEHOLDER}' to run the script")
    n_slurm = modes.count("slurm")
    if n_slurm and max_n_jobs is not None and n_slurm > max_n_jobs:
        raise ConfigError(f"batch_run: {n_slurm} SLURM jobs exceed max_n_jobs={max_n_jobs}; "
                          "raise max_n_jobs (or set it to None) to submit them")
    if n_slurm and shutil.which("sbatch") is None:
        raise ConfigError("batch_run: sbatch_config_list asks for SLURM (#SBATCH lines) but "
                          "there is no 'sbatch' on PATH; give None entries to run locally")

    jobs = []
    for i in range(n_jobs):
        folder = (Path(dir_save) / f"{names[i]}{i}").resolve()
        folder.mkdir(parents=True, exist_ok=True)
        path_params = folder / "params.json"
        with atomic_path(path_params) as tmp:
            tmp.write_text(json.dumps(to_plain(params[i]), indent=4))
        args = [str(scripts[i]), "--path_params", str(path_params),
                "--directory_save", str(folder)]
        job: dict[str, Any] = {"index": i, "directory": str(folder),
                               "path_params": str(path_params), "mode": modes[i]}
        if modes[i] == "local":
            job["command"] = [sys.executable, *args]
        else:
            path_sh = folder / "sbatch_config.sh"
            line = "python " + " ".join(shlex.quote(a) for a in args)
            with atomic_path(path_sh) as tmp:
                tmp.write_text(bodies[i].replace(_PLACEHOLDER, line))
            job["command"] = (["sbatch", str(path_sh)] if modes[i] == "slurm"
                              else ["bash", str(path_sh)])
        if modes[i] != "slurm":
            job["path_log"] = str(folder / "log.txt")
        jobs.append(job)

    for job in (j for j in jobs if j["mode"] == "slurm"):
        out = subprocess.run(job["command"], capture_output=True, text=True, check=False)
        found = re.search(r"Submitted batch job (\d+)", out.stdout)
        if out.returncode != 0 or not found:
            raise ChildProcessError(f"batch_run: sbatch refused job {job['index']} "
                                    f"({job['command'][1]}): {out.stderr.strip()}")
        job["job_id"] = found.group(1)
        _say(verbose, f"job {job['index']}: submitted as SLURM job {job['job_id']} "
                      f"({job['directory']})")

    local = [j for j in jobs if j["mode"] != "slurm"]
    if local:
        workers = max(1, int(max_n_jobs or os.cpu_count() or 1))
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_run_local, j): j for j in local}
            for fut in concurrent.futures.as_completed(futures):
                job = futures[fut]
                job["returncode"] = fut.result()
                state = "done" if job["returncode"] == 0 else f"FAILED ({job['returncode']})"
                _say(verbose, f"job {job['index']}: {state}, log {job['path_log']}")
        failed = [j for j in local if j["returncode"] != 0]
        if failed:
            raise ChildProcessError("batch_run: jobs failed: " + "; ".join(
                f"{j['index']} (exit {j['returncode']}, log {j['path_log']})" for j in failed))
    return jobs
