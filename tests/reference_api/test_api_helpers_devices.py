"""set_device and the resource checkers (face_rhythm.devices)."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from face_rhythm import helpers
from face_rhythm.errors import DeviceError, FaceRhythmError


def test_set_device_cpu_and_gpu():
    assert helpers.set_device(use_GPU=False, verbose=False) == "cpu"
    got = helpers.set_device(use_GPU=True, device_num=0, verbose=False)
    assert got == ("cuda:0" if torch.cuda.is_available() else "cpu")
    torch.zeros(1, device=got)  # a device torch accepts


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_set_device_bad_gpu_index():
    with pytest.raises(DeviceError, match="device_num=99"):
        helpers.set_device(device_num=99)


def test_cpu_device_checker_snapshot():
    c = helpers.CPU_Device_Checker(verbose=0)
    assert c.info_static["cpu_count"] >= 1 and c.info_static["memory_total"] > 0
    first, second = c.check_utilization(), c.check_utilization()
    for key in ("time", "memory_used", "memory_free", "memory_used_percentage", "network_sent",
                "disk_free", "disk_used", "disk_read_rate", "cpu_used_percentage",
                "cpu_used_percentage_per_core"):
        assert key in second
    assert 0 <= second["memory_used_percentage"] <= 100
    assert len(second["cpu_used_percentage_per_core"]) == c.info_static["cpu_count"]
    assert second["time"] >= first["time"] and c.info_changing is second
    if first["disk_read_rate"] is None and second["disk_read_rate"] is not None:
        assert second["disk_read_rate"] >= 0


def _nvidia_usable() -> bool:
    if importlib.util.find_spec("pynvml") is None:
        return False
    import pynvml

    try:
        pynvml.nvmlInit()
        return pynvml.nvmlDeviceGetCount() > 0
    except pynvml.NVMLError:
        return False


@pytest.mark.skipif(_nvidia_usable(), reason="an NVIDIA GPU with NVML is here")
def test_nvidia_checker_without_nvml_is_a_clear_error():
    with pytest.raises(DeviceError, match="nvidia-ml-py|NVIDIA driver") as e:
        helpers.NVIDIA_Device_Checker()
    assert isinstance(e.value, FaceRhythmError)


@pytest.mark.gpu
@pytest.mark.skipif(not _nvidia_usable(), reason="needs an NVIDIA GPU and nvidia-ml-py")
def test_nvidia_checker_on_a_gpu():
    c = helpers.NVIDIA_Device_Checker(device_index=0, verbose=0)
    assert len(c.get_device_handles()) >= 1 and c.info_static["memory_total"] > 0
    info = c.check_utilization()
    assert 0 <= info["memory_used_percentage"] <= 100
    assert info["memory_free"] + info["memory_used"] <= c.info_static["memory_total"] * 1.01
    assert set(info) >= {"time", "power_used", "power_used_percentage",
                         "processor_used_percentage", "temperature", "fan_speed"}
