"""The one device resolver: which torch device a stage runs on.

``"auto"`` means CUDA when torch sees a GPU, else the CPU; an explicit CUDA request on a
machine without CUDA is an error (one line, naming the config key) rather than a silent
fall-back, so a cluster job that was meant for a GPU node does not quietly run on a CPU.
torch is imported only when a CUDA device is asked about.

The original's device helpers live here too (re-exported by :mod:`face_rhythm.helpers`):
``set_device`` (falls back to the CPU with a warning, as the original does),
``NVIDIA_Device_Checker`` (GPU use through NVML, package ``nvidia-ml-py``; without it or
without a GPU, a :class:`~face_rhythm.errors.DeviceError`) and ``CPU_Device_Checker`` (host
use through ``psutil``).
"""

from __future__ import annotations

import logging

from .errors import ConfigError, DeviceError, FaceRhythmError

logger = logging.getLogger(__name__)

__all__ = [
    "CPU_Device_Checker",
    "NVIDIA_Device_Checker",
    "resolve_device",
    "set_device",
]


def _cuda_available() -> bool:
    import torch  # lazy: the CPU-only paths need not import torch

    return bool(torch.cuda.is_available())


def resolve_device(device: object = "auto", *, key: str = "device",
                   error: type[FaceRhythmError] = ConfigError) -> str:
    """The device name to run on: ``"cpu"``, ``"cuda"`` or ``"cuda:<i>"``.

    Parameters
    ----------
    device : str or torch.device, optional
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:<i>"``; ``None`` or ``""`` mean ``"cpu"``.
    key : str, optional
        The config key the value came from, for the error message (e.g. ``"vqt.device"``).
    error : type, optional
        The :class:`~face_rhythm.errors.FaceRhythmError` subclass to raise.

    Returns
    -------
    str
        A canonical device name that ``torch.device`` accepts.

    Raises
    ------
    FaceRhythmError
        An unknown device, or CUDA requested where torch sees none.
    """
    name = "cpu" if device in (None, "") else str(device).strip().lower()
    if name == "auto":
        return "cuda" if _cuda_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not _cuda_available():
            raise error(f"{key}={device!r} but CUDA is not available here (use 'cpu' or 'auto')")
        return name
    raise error(f"{key}={device!r}: expected 'auto', 'cpu', 'cuda' or 'cuda:<index>'")


# --- the reference's device helpers (face_rhythm.helpers.set_device, *_Device_Checker) ---
def set_device(use_GPU: bool = True, device_num: int = 0, verbose: bool = True) -> str:
    """The torch device to use: ``"cuda:<device_num>"`` when asked for and present, else CPU.

    Parameters
    ----------
    use_GPU : bool
        Use a CUDA GPU if torch sees one; a missing GPU falls back to the CPU with a warning
        (as in the reference; :func:`resolve_device` is the strict resolver).
    device_num : int
        Index of the GPU.
    verbose : bool
        Log (INFO) the device chosen.

    Returns
    -------
    str
        ``"cpu"`` or ``"cuda:<device_num>"``.

    Raises
    ------
    DeviceError
        ``device_num`` is not the index of a GPU torch sees.
    """
    import torch

    if use_GPU and torch.cuda.is_available():
        n = torch.cuda.device_count()
        if not 0 <= int(device_num) < n:
            raise DeviceError(f"set_device: device_num={device_num} but torch sees {n} GPU(s)")
        device = f"cuda:{int(device_num)}"
    else:
        if use_GPU:
            logger.warning("set_device: no CUDA GPU available; using the CPU")
        device = "cpu"
    if verbose:
        logger.info("set_device: using %s", device)
    return device


class _Device_Checker_Base:
    """Common part of the resource checkers: verbosity and a record of snapshots.

    Parameters
    ----------
    verbose : int
        0 silent; 1 log each snapshot (INFO).

    Attributes
    ----------
    info_static : dict
        What does not change (set by the subclass).
    info_changing : dict or None
        The last snapshot of :meth:`check_utilization`.
    """

    def __init__(self, verbose: int = 1) -> None:
        self._verbose = int(verbose)
        self.info_static: dict = {}
        self.info_changing: dict | None = None

    def check_utilization(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _record(self, info: dict) -> dict:
        self.info_changing = info
        if self._verbose >= 1:
            logger.info("%s: %s", type(self).__name__, info)
        return info

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.info_static})"


def _nvml():
    """The NVML bindings (package ``nvidia-ml-py``, module ``pynvml``), initialised."""
    try:
        import pynvml
    except ImportError as e:
        raise DeviceError("NVIDIA_Device_Checker needs the nvidia-ml-py package (module "
                          "pynvml): pip install nvidia-ml-py") from e
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as e:
        raise DeviceError(f"NVIDIA_Device_Checker: no NVIDIA driver / GPU here ({e})") from e
    return pynvml


class NVIDIA_Device_Checker(_Device_Checker_Base):
    """Utilisation of one NVIDIA GPU, read through NVML (``nvidia-ml-py``).

    Parameters
    ----------
    device_index : int, optional
        GPU to watch; may be None only when there is exactly one GPU.
    verbose : int
        As for the base class.

    Attributes
    ----------
    info_static : dict
        ``name``, ``index``, ``memory_total`` (bytes), ``power_limit`` (W).
    handle : object
        The NVML handle of the GPU.

    Raises
    ------
    DeviceError
        No ``pynvml`` module, no NVIDIA driver or GPU, or an ambiguous / wrong index.
    """

    def __init__(self, device_index: int | None = None, verbose: int = 1) -> None:
        super().__init__(verbose=verbose)
        self._nvml = _nvml()
        handles = self.get_device_handles()
        if device_index is None:
            if len(handles) != 1:
                raise DeviceError(f"NVIDIA_Device_Checker: {len(handles)} GPUs; give "
                                  "device_index")
            device_index = 0
        if not 0 <= int(device_index) < len(handles):
            raise DeviceError(f"NVIDIA_Device_Checker: device_index={device_index} but there "
                              f"are {len(handles)} GPUs")
        self.handle = handles[int(device_index)]
        nv = self._nvml
        name = nv.nvmlDeviceGetName(self.handle)
        self.info_static = {
            "name": name.decode() if isinstance(name, bytes) else str(name),
            "index": int(device_index),
            "memory_total": int(nv.nvmlDeviceGetMemoryInfo(self.handle).total),
            "power_limit": self._try(nv.nvmlDeviceGetPowerManagementLimit, 1e-3),
        }

    def _try(self, fn, scale: float = 1.0):
        try:
            return fn(self.handle) * scale
        except self._nvml.NVMLError:  # not supported on this GPU (e.g. no fan)
            return None

    def get_device_handles(self) -> list:
        """One NVML handle (``nvmlDeviceGetHandleByIndex``) per GPU NVML sees."""
        nv = self._nvml
        return [nv.nvmlDeviceGetHandleByIndex(i) for i in range(nv.nvmlDeviceGetCount())]

    def check_utilization(self) -> dict:
        """A snapshot of the GPU's use.

        Returns
        -------
        dict
            ``time`` (s since the epoch), ``memory_free``, ``memory_used`` (bytes),
            ``memory_used_percentage``, ``power_used`` (W), ``power_used_percentage``,
            ``processor_used_percentage``, ``temperature`` (degrees C), ``fan_speed`` (%);
            a value the GPU does not report is None.
        """
        import time

        nv = self._nvml
        mem = nv.nvmlDeviceGetMemoryInfo(self.handle)
        power = self._try(nv.nvmlDeviceGetPowerUsage, 1e-3)
        limit = self.info_static["power_limit"]
        util = self._try(nv.nvmlDeviceGetUtilizationRates)
        return self._record({
            "time": time.time(),
            "memory_free": int(mem.free),
            "memory_used": int(mem.used),
            "memory_used_percentage": 100.0 * mem.used / mem.total,
            "power_used": power,
            "power_used_percentage": (None if power is None or not limit
                                      else 100.0 * power / limit),
            "processor_used_percentage": None if util is None else float(util.gpu),
            "temperature": self._try(
                lambda h: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)),
            "fan_speed": self._try(nv.nvmlDeviceGetFanSpeed),
        })


class CPU_Device_Checker(_Device_Checker_Base):
    """Utilisation of the host: CPU, memory, network and disk (``psutil``).

    Parameters
    ----------
    verbose : int
        As for the base class.

    Attributes
    ----------
    info_static : dict
        ``cpu_count``, ``cpu_freq`` (MHz), ``memory_total`` and ``disk_total`` (bytes, of
        the file system of the current folder).
    """

    def __init__(self, verbose: int = 1) -> None:
        import psutil

        super().__init__(verbose=verbose)
        freq = psutil.cpu_freq()
        self.info_static = {
            "cpu_count": psutil.cpu_count(),
            "cpu_freq": None if freq is None else float(freq.max or freq.current),
            "memory_total": int(psutil.virtual_memory().total),
            "disk_total": int(psutil.disk_usage(".").total),
        }
        self._last = None
        psutil.cpu_percent(percpu=True)  # the first call only starts psutil's interval

    def check_utilization(self) -> dict:
        """A snapshot of the host's use.

        Returns
        -------
        dict
            ``time`` (s since the epoch); ``memory_used``, ``memory_free``,
            ``memory_available`` (bytes), ``memory_used_percentage``; ``network_sent``,
            ``network_received`` (bytes since boot); ``disk_free``, ``disk_used`` (bytes);
            ``disk_read_rate``, ``disk_write_rate`` (bytes/s since the previous snapshot, None
            on the first); ``cpu_used_percentage`` and ``cpu_used_percentage_per_core``
            (since the previous snapshot).
        """
        import time

        import psutil

        now = time.time()
        mem, disk = psutil.virtual_memory(), psutil.disk_usage(".")
        net, io = psutil.net_io_counters(), psutil.disk_io_counters()
        per_core = [float(x) for x in psutil.cpu_percent(percpu=True)]
        read_rate = write_rate = None
        if io is not None and self._last is not None:
            t0, r0, w0 = self._last
            dt = max(now - t0, 1e-9)
            read_rate, write_rate = (io.read_bytes - r0) / dt, (io.write_bytes - w0) / dt
        if io is not None:
            self._last = (now, io.read_bytes, io.write_bytes)
        return self._record({
            "time": now,
            "memory_used": int(mem.used),
            "memory_free": int(mem.free),
            "memory_available": int(mem.available),
            "memory_used_percentage": float(mem.percent),
            "network_sent": None if net is None else int(net.bytes_sent),
            "network_received": None if net is None else int(net.bytes_recv),
            "disk_free": int(disk.free),
            "disk_used": int(disk.used),
            "disk_read_rate": read_rate,
            "disk_write_rate": write_rate,
            "cpu_used_percentage": sum(per_core) / max(len(per_core), 1),
            "cpu_used_percentage_per_core": per_core,
        })
