"""A snapshot of the machine and environment (:func:`system_info`), e.g. for run_info.json."""

from __future__ import annotations

import datetime as _dt
import getpass
import importlib.metadata as _md
import logging
import os
import platform
import shutil
import subprocess
import sys
from typing import Any

from face_rhythm.provenance import package_versions

logger = logging.getLogger(__name__)

__all__ = ["system_info"]


def _run(cmd: list[str]) -> str | None:
    """stdout of a short command, or None if it is missing or fails."""
    if shutil.which(cmd[0]) is None:
        return None
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _cpu_info() -> dict[str, Any]:
    model = platform.processor() or None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    n_usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {"model": model, "machine": platform.machine(), "n_cores": os.cpu_count(),
            "n_cores_usable": n_usable}


def _ram() -> dict[str, float | None]:
    try:
        import psutil

        vm = psutil.virtual_memory()
        total, available = vm.total, vm.available
    except ImportError:  # pragma: no cover - psutil comes with snakemake
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            total = available = None
    gib = 1024 ** 3
    return {"total_GiB": None if total is None else round(total / gib, 3),
            "available_GiB": None if available is None else round(available / gib, 3)}


def _gpu_info() -> list[dict[str, str]] | None:
    out = _run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                "--format=csv,noheader"])
    if not out:
        return None
    gpus = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        gpus.append(dict(zip(("name", "memory_total", "driver_version"), parts, strict=False)))
    return gpus


def _torch_info() -> dict[str, Any]:
    try:
        import torch  # lazy: heavy
    except ImportError:
        return {"torch": None, "cuda": None, "cudnn": None, "torch_devices": ["cpu"]}
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i} ({torch.cuda.get_device_name(i)})"
                    for i in range(torch.cuda.device_count())]
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {"torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": cudnn,
            "torch_devices": devices}


def _pkgs() -> dict[str, str]:
    out = {}
    for dist in _md.distributions():
        name = dist.metadata["Name"]
        if name:
            out[name] = dist.version
    return dict(sorted(out.items(), key=lambda kv: kv[0].lower()))


def system_info(verbose: bool = False) -> dict[str, Any]:
    """Collect the OS, CPU, RAM, GPU and package versions of this machine.

    Parameters
    ----------
    verbose : bool
        Also write each section to stdout as it is collected.

    Returns
    -------
    versions : dict
        ``datetime`` (local ISO time), ``face_rhythm`` (version), ``operating_system``
        (dict), ``cpu_info`` (dict: model, machine, n_cores, n_cores_usable), ``user``,
        ``ram`` (dict: total_GiB, available_GiB), ``gpu_info`` (list of dicts from
        ``nvidia-smi``, None without one), ``conda_env`` (None outside conda), ``python``,
        ``gcc`` (first line of ``gcc --version``, or the compiler Python was built with),
        ``torch``, ``cuda``, ``cudnn`` (None when absent), ``torch_devices`` (list of str)
        and ``pkgs`` (dict: every installed distribution's version).
    """
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = os.environ.get("USER")
    gcc = _run(["gcc", "--version"])
    info: dict[str, Any] = {
        "datetime": _dt.datetime.now().astimezone().isoformat(),
        "face_rhythm": package_versions()["face-rhythm"],
        "operating_system": {"system": platform.system(), "release": platform.release(),
                             "version": platform.version(), "platform": platform.platform()},
        "cpu_info": _cpu_info(),
        "user": user,
        "ram": _ram(),
        "gpu_info": _gpu_info(),
        "conda_env": os.environ.get("CONDA_DEFAULT_ENV"),
        "python": sys.version,
        "gcc": gcc.splitlines()[0] if gcc else platform.python_compiler(),
        **_torch_info(),
        "pkgs": _pkgs(),
    }
    if verbose:
        for key, value in info.items():
            text = (f"{len(value)} packages" if key == "pkgs" else value)
            sys.stdout.write(f"== {key}: {text}\n")
    return info
