"""One script over many parameter sets: :func:`batch_run` (the original's batch launcher),
run through the workflow engine.

The original wrote ``sbatch`` scripts by hand and submitted them. Here each job becomes a rule
of a small Snakefile written into ``dir_save`` (``batch_run.smk``), and Snakemake runs them:
on this machine (at most ``max_n_jobs`` at a time), or on SLURM through Snakemake's SLURM
executor when the jobs' SBATCH bodies have ``#SBATCH`` lines (their options become the rules'
resources). So a sweep is resumable like the workflow: run the same call again and finished
jobs are kept, failed or changed ones (other parameters, script or body) run again.

Each job gets a folder ``<dir_save>/<name_save><i>/`` holding ``params.json``, ``job.sh`` (what
runs), ``log.txt`` and, when it succeeded, ``.batch_run_done``; the script runs as
``python <script> --path_params <folder>/params.json --directory_save <folder>``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from face_rhythm.atomic import atomic_path
from face_rhythm.errors import ConfigError

from .fr_module import to_plain

logger = logging.getLogger(__name__)

__all__ = ["batch_run", "sbatch_resources"]

_PLACEHOLDER = 'python "$@"'
_DONE = ".batch_run_done"
_MEM_UNITS = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}


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


def _minutes(text: str) -> int:
    """SLURM time (``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``) in minutes."""
    days, _, rest = text.rpartition("-")
    parts = [int(p) for p in rest.split(":")]
    if days:
        h, m, s = (parts + [0, 0])[:3]
    elif len(parts) == 1:
        h, m, s = 0, parts[0], 0
    elif len(parts) == 2:
        h, m, s = 0, parts[0], parts[1]
    else:
        h, m, s = parts[:3]
    return max(1, int((int(days or 0) * 24 + h) * 60 + m + (s > 0)))


def sbatch_resources(body: str) -> dict[str, Any]:
    """Snakemake SLURM resources from the ``#SBATCH`` lines of a job body.

    ``--partition``/``-p`` -> ``slurm_partition``, ``--account``/``-A`` -> ``slurm_account``,
    ``--time``/``-t`` -> ``runtime`` (min), ``--mem`` -> ``mem_mb``, ``--cpus-per-task``/``-c``
    -> ``cpus_per_task``, ``--gpus``/``--gres=gpu:N`` -> ``gpu``; every other option (e.g.
    ``--qos``) goes to ``slurm_extra`` as written. ``--job-name``, ``--output`` and ``--error``
    are dropped (the executor names jobs and keeps their logs).
    """
    keys = {"partition": "slurm_partition", "p": "slurm_partition", "account": "slurm_account",
            "A": "slurm_account", "time": "runtime", "t": "runtime", "mem": "mem_mb",
            "cpus-per-task": "cpus_per_task", "c": "cpus_per_task", "gpus": "gpu",
            "gres": "gpu"}
    out: dict[str, Any] = {}
    extra: list[str] = []
    for line in body.splitlines():
        m = re.match(r"^\s*#SBATCH\s+(.*)$", line)
        if not m:
            continue
        tokens = shlex.split(m.group(1))
        while tokens:
            opt = tokens.pop(0)
            o = re.match(r"^--?([A-Za-z][\w-]*)(?:=(.*))?$", opt)
            if not o:
                raise ConfigError(f"batch_run: cannot read the #SBATCH option {opt!r}")
            name, value = o.group(1), o.group(2)
            if value is None and tokens and not tokens[0].startswith("-"):
                value = tokens.pop(0)  # "-A lab", "-c 4", "--time 10"
                opt = f"{opt} {value}"
            value = value or ""
            if name in ("job-name", "J", "output", "o", "error", "e"):
                continue
            key = keys.get(name)
            if key == "runtime":
                out[key] = _minutes(value)
            elif key == "mem_mb":
                num, unit = re.fullmatch(r"(\d+)([KMGT]?)B?", value.upper()).groups()
                out[key] = int(int(num) * _MEM_UNITS[unit or "M"])
            elif key == "gpu":
                out[key] = int(value.rsplit(":", 1)[-1])
            elif key == "cpus_per_task":
                out[key] = int(value)
            elif key is not None:
                out[key] = value
            else:
                extra.append(opt)
    if extra:
        out["slurm_extra"] = " ".join(extra)
    return out


def _rule(i: int, folder: str, digest: str, resources: Mapping[str, Any], local: bool) -> str:
    res = "".join(f"        {k}={v!r},\n" for k, v in resources.items())
    return (f"rule job_{i}:\n"
            f"    output:\n        touch({folder + '/' + _DONE!r}),\n"
            f"    log:\n        {folder + '/log.txt'!r},\n"
            f"    params:\n        digest={digest!r},\n"
            + (f"    resources:\n{res}" if res else "")
            + f"    shell:\n        {'bash ' + shlex.quote(folder + '/job.sh') + ' > {log} 2>&1'!r}\n"
            + (f"\n\nlocalrules:\n    job_{i},\n" if local else "") + "\n\n")


def batch_run(paths_scripts: str | os.PathLike | Sequence[str | os.PathLike],
              params_list: Mapping[str, Any] | Sequence[Mapping[str, Any]],
              sbatch_config_list: str | Sequence[str | None] | None,
              max_n_jobs: int | None = 2, dir_save: str | os.PathLike | None = None,
              name_save: str | Sequence[str] = "jobNum_", verbose: bool = True, *,
              snakemake_args: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Run scripts over parameter sets through Snakemake, locally or as SLURM jobs.

    ``paths_scripts``, ``params_list`` and ``sbatch_config_list`` each have 1 item (used
    for every job) or ``n_jobs`` items (the longest sets ``n_jobs``). Job ``i`` gets the
    folder ``<dir_save>/<name_save[i]><i>/`` with ``params.json`` (``params_list[i]``) and
    runs ``python <script> --path_params <folder>/params.json --directory_save <folder>``;
    the script reads its parameters from that file (``helpers.json_load``) and writes its
    results into the folder. How a job runs depends on its ``sbatch_config_list`` entry:

    - ``None`` or ``''``: with this Python (``sys.executable``) on this machine;
    - a shell script body with the line ``python "$@"`` (e.g. activating an environment
      first): that line becomes the command above and the body runs with ``bash``;
    - with ``#SBATCH`` lines too: the job goes to SLURM through Snakemake's SLURM executor,
      its options as the rule's resources (:func:`sbatch_resources`).

    ``batch_run`` returns when every job has finished (a SLURM sweep keeps this call
    waiting, as ``snakemake`` does: run it in ``tmux`` on a login node). Calling it again
    with the same arguments reruns only the jobs that failed or whose parameters, script or
    body changed.

    Parameters
    ----------
    paths_scripts : path or list of paths
        Python scripts taking ``--path_params`` and ``--directory_save``.
    params_list : dict or list of dict
        Parameters of each job (JSON-serialisable; numpy values are converted).
    sbatch_config_list : str, list of (str or None), or None
        Job bodies as above; None entries run locally.
    max_n_jobs : int or None
        How many jobs run (or are queued on SLURM) at once; None: the number of CPU cores
        locally, all jobs on SLURM.
    dir_save : path-like
        Folder under which the job folders and ``batch_run.smk`` are made. Required.
    name_save : str or list of str
        Base name of each job's folder; the job index is appended.
    verbose : bool
        Write one status line per job to stdout.
    snakemake_args : sequence of str, keyword-only
        More ``snakemake`` arguments, e.g. ``["--workflow-profile", "profiles/slurm"]`` or
        the SLURM executor's settings for your cluster.

    Returns
    -------
    jobs : list of dict
        Per job: ``index``, ``directory``, ``path_params``, ``mode`` (``'local'``,
        ``'local_shell'`` or ``'slurm'``), ``command`` (the job's ``job.sh`` line),
        ``path_log`` and ``returncode`` (0 when the job succeeded, else 1).

    Raises
    ------
    ConfigError
        Bad arguments: lengths that do not broadcast, no ``dir_save``, a body without
        ``python "$@"``.
    FileNotFoundError
        A script does not exist.
    ChildProcessError
        A job failed (after all jobs have run); the message names the jobs and their logs.
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
    root = Path(dir_save).resolve()
    root.mkdir(parents=True, exist_ok=True)
    on_slurm = "slurm" in modes
    jobs, rules = [], []
    for i in range(n_jobs):
        folder = root / f"{names[i]}{i}"
        folder.mkdir(parents=True, exist_ok=True)
        path_params = folder / "params.json"
        text = json.dumps(to_plain(params[i]), indent=4)
        with atomic_path(path_params) as tmp:
            tmp.write_text(text)
        args = [str(scripts[i]), "--path_params", str(path_params),
                "--directory_save", str(folder)]
        line = (shlex.join([sys.executable, *args]) if modes[i] == "local"
                else "python " + shlex.join(args))
        body = (f"#!/bin/bash\nexec {line}\n" if modes[i] == "local"
                else bodies[i].replace(_PLACEHOLDER, line))
        with atomic_path(folder / "job.sh") as tmp:
            tmp.write_text(body)
        digest = hashlib.sha256((text + body + scripts[i].read_text()).encode()).hexdigest()
        resources = sbatch_resources(body) if modes[i] == "slurm" else {}
        rules.append(_rule(i, folder.name, digest, resources,
                           local=on_slurm and modes[i] != "slurm"))
        jobs.append({"index": i, "directory": str(folder), "path_params": str(path_params),
                     "mode": modes[i], "command": line, "path_log": str(folder / "log.txt")})
    targets = "".join(f"        {j['directory'].rsplit('/', 1)[-1] + '/' + _DONE!r},\n"
                      for j in jobs)
    smk = root / "batch_run.smk"
    with atomic_path(smk) as tmp:
        tmp.write_text("# Written by face_rhythm.util.batch_run: one rule per job.\n\n\n"
                       f"rule all:\n    default_target: True\n    input:\n{targets}\n\n"
                       + "".join(rules))
    n_at_once = str(int(max_n_jobs or (n_jobs if on_slurm else os.cpu_count() or 1)))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(smk), "--directory",
           str(root), "--keep-going", "--rerun-incomplete", "--quiet", "rules"]
    cmd += (["--executor", "slurm", "--jobs", n_at_once, "--local-cores", "1"] if on_slurm
            else ["--cores", n_at_once])
    cmd += list(snakemake_args)
    _say(verbose, f"batch_run: {n_jobs} job(s) through {smk}"
                  + (" on SLURM" if on_slurm else " on this machine"))
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    (root / "batch_run.log").write_text(out.stdout + out.stderr)
    for job in jobs:
        job["returncode"] = 0 if (Path(job["directory"]) / _DONE).is_file() else 1
        state = "done" if job["returncode"] == 0 else "FAILED"
        _say(verbose, f"job {job['index']}: {state}, log {job['path_log']}")
    failed = [j for j in jobs if j["returncode"]]
    if failed:
        raise ChildProcessError("batch_run: jobs failed: " + "; ".join(
            f"{j['index']} (log {j['path_log']})" for j in failed)
            + f"; Snakemake's output: {root / 'batch_run.log'}")
    return jobs
